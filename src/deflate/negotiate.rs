//! Negotiation of permessage-deflate parameters (RFC 7692 §5, §7.1).

use alloc::string::{String, ToString};

use super::{DeflateError, EXTENSION_NAME};
use crate::handshake::Extension;
use crate::Role;

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// The largest window, 2^15 = 32,768 bytes: what an absent `*_max_window_bits` means (§7.1.2.1, §7.1.2.2).
pub(crate) const MAX_WINDOW_BITS: u8 = 15;
/// The smallest window we compress or inflate with, and propose (see "Window bits 8" in the module docs).
pub(crate) const MIN_OWN_WINDOW_BITS: u8 = 9;

/// Configuration of permessage-deflate, for either role; off unless the application enables it.
///
/// The same fields mean, for a client, what to ask for in its offer and, for a server, what to impose in its
/// response:
///
/// | field | client | server |
/// | --- | --- | --- |
/// | `server_no_context_takeover` | ask the server to reset its compressor after each message; fail if it does not agree | reset our compressor after each message, and say so |
/// | `client_no_context_takeover` | promise to reset our compressor after each message | require the client to reset its compressor |
/// | `server_max_window_bits` | ask the server to compress with at most this window | compress with at most this window, and say so |
/// | `client_max_window_bits` | `None`: accept any limit the server sets; `Some(n)`: promise at most `n` | limit the client's window, if it supports the parameter |
///
/// Window bits are clamped to 9..=15 (a configured 8 is sent as 9, see "Window bits 8" in the
/// [module docs](super)). Defaults: no parameter (the RFC defaults: context takeover, 15 bits),
/// `compression_level` 6, `threshold` 64.
///
/// See [RFC 7692 §7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// `server_no_context_takeover` (§7.1.1.1): the server's compressor starts afresh for each message.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover` (§7.1.1.2): the client's compressor starts afresh for each message.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits` (§7.1.2.1): base-2 logarithm of the server's LZ77 window, 8..=15.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` (§7.1.2.2): base-2 logarithm of the client's LZ77 window, 8..=15.
    pub client_max_window_bits: Option<u8>,
    /// DEFLATE level for what we send, 0 (stored) to 9 (best); larger values mean 9. Default 6.
    pub compression_level: u32,
    /// Messages shorter than this many bytes are sent uncompressed (default 64): below that, the DEFLATE
    /// overhead and the CPU cost outweigh the savings.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The parameters of one offer or response, after the §7 checks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `None`: absent; `Some(None)`: without a value (offers only); `Some(Some(n))`: with a value.
    client_max_window_bits: Option<Option<u8>>,
}

impl Params {
    fn to_extension(self) -> Extension {
        let mut extension = Extension::new(EXTENSION_NAME);
        if self.server_no_context_takeover {
            extension = extension.param(SERVER_NO_CONTEXT_TAKEOVER, None);
        }
        if self.client_no_context_takeover {
            extension = extension.param(CLIENT_NO_CONTEXT_TAKEOVER, None);
        }
        if let Some(bits) = self.server_max_window_bits {
            extension = extension.param(SERVER_MAX_WINDOW_BITS, Some(&bits.to_string()));
        }
        if let Some(bits) = self.client_max_window_bits {
            let value = bits.map(|bits| bits.to_string());
            extension = extension.param(CLIENT_MAX_WINDOW_BITS, value.as_deref());
        }
        extension
    }
}

/// Whether [`parse_params`] reads an offer (from a client) or a response (from a server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

/// Reads the parameters of one `permessage-deflate` element, applying the checks that §7 lists for both offers
/// (the server declines) and responses (the client fails the connection):
///
/// §7: "A server MUST decline an extension negotiation offer for this extension if any of the following
/// conditions are met: o The negotiation offer contains an extension parameter not defined for use in an offer.
/// o The negotiation offer contains an extension parameter with an invalid value. o The negotiation offer
/// contains multiple extension parameters with the same name. o The server doesn't support the offered
/// configuration."
///
/// §7: "A client MUST _Fail the WebSocket Connection_ if the peer server accepted an extension negotiation offer
/// for this extension with an extension negotiation response meeting any of the following conditions: o The
/// negotiation response contains an extension parameter not defined for use in a response. o The negotiation
/// response contains an extension parameter with an invalid value. o The negotiation response contains multiple
/// extension parameters with the same name. o The client does not support the configuration that the response
/// represents."
fn parse_params(extension: &Extension, side: Side) -> Result<Params, DeflateError> {
    let mut params = Params::default();
    let mut seen = [false; 4];
    for (name, value) in &extension.params {
        // Parameter names are matched exactly, as RFC 7692 spells them.
        let index = match name.as_str() {
            SERVER_NO_CONTEXT_TAKEOVER => 0,
            CLIENT_NO_CONTEXT_TAKEOVER => 1,
            SERVER_MAX_WINDOW_BITS => 2,
            CLIENT_MAX_WINDOW_BITS => 3,
            _ => return Err(DeflateError::UnknownParameter(name.clone())),
        };
        if core::mem::replace(&mut seen[index], true) {
            return Err(DeflateError::DuplicateParameter(name.clone()));
        }
        match index {
            // §7.1.1.1, §7.1.1.2: the no_context_takeover parameters have no value.
            0 | 1 => {
                if value.is_some() {
                    return Err(invalid(name, value));
                }
                if index == 0 {
                    params.server_no_context_takeover = true;
                } else {
                    params.client_no_context_takeover = true;
                }
            }
            // §7.1.2.1: server_max_window_bits always has a value.
            2 => {
                let bits = value.as_deref().and_then(window_bits);
                params.server_max_window_bits = Some(bits.ok_or_else(|| invalid(name, value))?);
            }
            // §7.1.2.2: "This parameter has no value or a decimal integer value ..." in an offer; a response that
            // limits the client's window gives the limit.
            _ => {
                params.client_max_window_bits = Some(match value.as_deref() {
                    None if side == Side::Offer => None,
                    Some(text) => Some(window_bits(text).ok_or_else(|| invalid(name, value))?),
                    None => return Err(invalid(name, value)),
                });
            }
        }
    }
    Ok(params)
}

fn invalid(name: &str, value: &Option<String>) -> DeflateError {
    DeflateError::InvalidValue {
        name: String::from(name),
        value: value.clone(),
    }
}

/// A window size as §7.1.2.1 and §7.1.2.2 allow it: "a decimal integer value without leading zeroes between 8 to
/// 15, inclusive" (`server-max-window-bits = 1*DIGIT`). Quoted values arrive unescaped from the header parser.
fn window_bits(text: &str) -> Option<u8> {
    let bits = match text.as_bytes() {
        [digit @ b'8'..=b'9'] => digit - b'0',
        [b'1', digit @ b'0'..=b'5'] => 10 + (digit - b'0'),
        _ => return None,
    };
    Some(bits)
}

/// A configured window as we use and propose it: 9..=15 (see "Window bits 8" in the module docs).
fn own_window(bits: Option<u8>) -> Option<u8> {
    bits.map(|bits| bits.clamp(MIN_OWN_WINDOW_BITS, MAX_WINDOW_BITS))
}

impl DeflateConfig {
    /// The defaults: no parameter requested (context takeover and 15-bit windows both ways), level 6,
    /// threshold 64.
    ///
    /// See [RFC 7692 §7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            compression_level: 6,
            threshold: 64,
        }
    }

    /// Client: what our offer asks for (also what [`DeflateConfig::client_accept_response`] checks against).
    fn offer(&self) -> Params {
        Params {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: own_window(self.server_max_window_bits),
            // §7.1.2.2: "By including this parameter in an extension negotiation offer, a client informs the peer
            // server that the client supports the "client_max_window_bits" extension parameter in an extension
            // negotiation response and, optionally, a hint by attaching a value to the parameter." We always
            // include it: we can honour any limit (see "Window bits 8" in the module docs).
            client_max_window_bits: Some(own_window(self.client_max_window_bits)),
        }
    }

    /// Client: the offer to send in `Sec-WebSocket-Extensions`, e.g. `permessage-deflate; client_max_window_bits`.
    ///
    /// It always has `client_max_window_bits` (without a value unless `client_max_window_bits` is set), so that
    /// the server may limit our window to save its memory, as browsers offer.
    ///
    /// See [RFC 7692 §5](https://www.rfc-editor.org/rfc/rfc7692#section-5) and
    /// [§7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1).
    #[must_use]
    pub fn client_offer(&self) -> Extension {
        self.offer().to_extension()
    }

    /// Client: checks all the extensions the server accepted (the handshake's `Response::extensions`):
    /// `Ok(None)` when permessage-deflate is not among them (no compression), `Ok(Some(..))` with the agreed
    /// parameters, or an error meaning *Fail the WebSocket Connection*.
    ///
    /// Accepting permessage-deflate twice is an error: both would claim RSV1 (RFC 7692 §6).
    ///
    /// See [RFC 7692 §7](https://www.rfc-editor.org/rfc/rfc7692#section-7).
    pub fn client_accept_extensions(
        &self,
        accepted: &[Extension],
    ) -> Result<Option<Negotiated>, DeflateError> {
        let mut ours = accepted
            .iter()
            .filter(|extension| extension.name.eq_ignore_ascii_case(EXTENSION_NAME));
        let Some(response) = ours.next() else {
            return Ok(None);
        };
        if ours.next().is_some() {
            return Err(DeflateError::DuplicateExtension);
        }
        self.client_accept_response(response).map(Some)
    }

    /// Client: validates the server's `permessage-deflate` response to [`DeflateConfig::client_offer`] and
    /// returns the agreed parameters; any error means the client must *Fail the WebSocket Connection*.
    ///
    /// Errors: an unknown or duplicated parameter, a value out of range or where none is allowed
    /// (`client_max_window_bits` without a value, too), `server_max_window_bits` missing or larger than we asked,
    /// `server_no_context_takeover` missing when we asked for it, `client_max_window_bits` when we did not offer
    /// it or larger than our hint.
    ///
    /// See [RFC 7692 §7](https://www.rfc-editor.org/rfc/rfc7692#section-7) and
    /// [§7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1).
    pub fn client_accept_response(&self, response: &Extension) -> Result<Negotiated, DeflateError> {
        if !response.name.eq_ignore_ascii_case(EXTENSION_NAME) {
            return Err(DeflateError::NotPermessageDeflate(response.name.clone()));
        }
        let offer = self.offer();
        let answer = parse_params(response, Side::Response)?;

        // §7.1.1.1: "A server accepts an extension negotiation offer that includes the
        // "server_no_context_takeover" extension parameter by including the "server_no_context_takeover" extension
        // parameter in the corresponding extension negotiation response to send back to the client." Without it,
        // the server answered some other offer. (It MAY add it unasked: "A server MAY include the
        // "server_no_context_takeover" extension parameter in an extension negotiation response even if the
        // extension negotiation offer being accepted by the extension negotiation response didn't include the
        // "server_no_context_takeover" extension parameter.")
        if offer.server_no_context_takeover && !answer.server_no_context_takeover {
            return Err(DeflateError::Unsupported(
                "server_no_context_takeover was asked for but not accepted",
            ));
        }

        // §7.1.2.1: "A server accepts an extension negotiation offer with this parameter by including the
        // "server_max_window_bits" extension parameter in the extension negotiation response to send back to the
        // client with the same or smaller value as the offer." and "A server MAY include the
        // "server_max_window_bits" extension parameter in an extension negotiation response even if the extension
        // negotiation offer being accepted by the response didn't include the "server_max_window_bits" extension
        // parameter."
        let server_max_window_bits =
            match (offer.server_max_window_bits, answer.server_max_window_bits) {
                (None, None) => MAX_WINDOW_BITS,
                (None, Some(bits)) => bits,
                (Some(asked), Some(bits)) if bits <= asked => bits,
                (Some(_), Some(_)) => {
                    return Err(DeflateError::Unsupported(
                        "server_max_window_bits is larger than asked for",
                    ))
                }
                (Some(_), None) => {
                    return Err(DeflateError::Unsupported(
                        "server_max_window_bits was asked for but not accepted",
                    ))
                }
            };

        // §7.1.2.2: "If a received extension negotiation offer doesn't have the "client_max_window_bits" extension
        // parameter, the corresponding extension negotiation response to the offer MUST NOT include the
        // "client_max_window_bits" extension parameter." A value in our offer is a promise: "the client is not
        // going to use an LZ77 sliding window size greater than the size specified by the value in the extension
        // negotiation offer", with or without the parameter in the response.
        let response_bits = answer.client_max_window_bits.flatten();
        let client_max_window_bits = match (offer.client_max_window_bits, response_bits) {
            (None, None) => MAX_WINDOW_BITS,
            (None, Some(_)) => {
                return Err(DeflateError::Unsupported(
                    "client_max_window_bits was not offered",
                ))
            }
            (Some(hint), None) => hint.unwrap_or(MAX_WINDOW_BITS),
            (Some(Some(hint)), Some(bits)) if bits > hint => {
                return Err(DeflateError::Unsupported(
                    "client_max_window_bits is larger than offered",
                ))
            }
            (Some(_), Some(bits)) => bits,
        };

        Ok(Negotiated {
            server_no_context_takeover: answer.server_no_context_takeover,
            // §7.1.1.2: with this parameter in the response "a server prevents the peer client from using context
            // takeover"; in our offer, it is our own promise.
            client_no_context_takeover: offer.client_no_context_takeover
                || answer.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })
    }

    /// Server: accepts the first acceptable `permessage-deflate` offer among the client's extensions (the
    /// handshake's `Request::extensions`, in the client's order of preference) and returns the response element
    /// to send with the agreed parameters; `None` when there is no acceptable offer (then no compression).
    ///
    /// Malformed offers (unknown or duplicated parameter, invalid value) are declined, that is skipped, as §7
    /// requires; every well-formed offer is supported. Elements with other names are ignored.
    ///
    /// See [RFC 7692 §5](https://www.rfc-editor.org/rfc/rfc7692#section-5) and
    /// [§7](https://www.rfc-editor.org/rfc/rfc7692#section-7).
    #[must_use]
    pub fn server_accept_offers(&self, offers: &[Extension]) -> Option<(Extension, Negotiated)> {
        // §5: "The order of elements is important as it specifies the client's preference. An element preceding
        // another element has higher preference. It is recommended that a server accepts PMCEs with higher
        // preference if the server supports them."
        offers
            .iter()
            .filter(|offer| offer.name.eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|offer| parse_params(offer, Side::Offer).ok())
            .map(|offer| self.server_accept(offer))
    }

    /// Server: the response to one well-formed offer.
    fn server_accept(&self, offer: Params) -> (Extension, Negotiated) {
        let own_window_bits = own_window(self.server_max_window_bits).unwrap_or(MAX_WINDOW_BITS);
        // §7.1.2.1, quoted in `client_accept_response`: same or smaller than asked, and we MAY add it unasked. An
        // offer of 8 is answered with 8: we then send uncompressed (see "Window bits 8" in the module docs).
        let server_max_window_bits = match offer.server_max_window_bits {
            Some(asked) => Some(asked.min(own_window_bits)),
            None => (own_window_bits < MAX_WINDOW_BITS).then_some(own_window_bits),
        };
        // §7.1.2.2: "If a received extension negotiation offer has the "client_max_window_bits" extension parameter,
        // the server MAY include the "client_max_window_bits" extension parameter in the corresponding extension
        // negotiation response to the offer." With a value in the offer (a promise by the client), we echo the
        // smaller of it and ours; without the parameter in the offer we MUST NOT limit the client.
        let client_max_window_bits = match (
            offer.client_max_window_bits,
            own_window(self.client_max_window_bits),
        ) {
            (None, _) | (Some(None), None) => None,
            (Some(None), Some(ours)) => Some(ours),
            (Some(Some(hint)), None) => Some(hint),
            (Some(Some(hint)), Some(ours)) => Some(hint.min(ours)),
        };
        let response = Params {
            // §7.1.1.1: we accept the client's request, or add the parameter ourselves.
            server_no_context_takeover: offer.server_no_context_takeover
                || self.server_no_context_takeover,
            // §7.1.1.2: "A server MAY include the "client_no_context_takeover" extension parameter in an extension
            // negotiation response." We echo the client's own promise too, so that both ends state the same.
            client_no_context_takeover: offer.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits: client_max_window_bits.map(Some),
        };
        let negotiated = Negotiated {
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover,
            server_max_window_bits: server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
            client_max_window_bits: client_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        };
        (response.to_extension(), negotiated)
    }
}

/// The agreed permessage-deflate parameters of one connection, for both directions.
///
/// Absent parameters have their RFC defaults: context takeover, windows of 15 bits (32,768 bytes). The window
/// bits are what the negotiation agreed (8..=15); [`DeflateCodec`](super::DeflateCodec) maps them to what
/// zlib can do (see "Window bits 8" in the [module docs](super)).
///
/// See [RFC 7692 §7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Negotiated {
    /// The server resets its compressor after each message (§7.1.1.1).
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message (§7.1.1.2).
    pub client_no_context_takeover: bool,
    /// The server compresses with at most 2^this bytes of window (§7.1.2.1).
    pub server_max_window_bits: u8,
    /// The client compresses with at most 2^this bytes of window (§7.1.2.2).
    pub client_max_window_bits: u8,
}

impl Default for Negotiated {
    /// The RFC defaults: context takeover and 15-bit windows in both directions.
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

impl Negotiated {
    /// The window bits that `role` compresses with at most.
    ///
    /// See [RFC 7692 §7.1.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.1.2).
    #[must_use]
    pub fn max_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
    }

    /// Whether `role` resets its compressor after each message.
    ///
    /// See [RFC 7692 §7.1.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1.1).
    #[must_use]
    pub fn no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }
}
