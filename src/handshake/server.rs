//! Server side: read the client's opening handshake (§4.2.1), answer it (§4.2.2).

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;

use super::extensions::{self, Extension};
use super::http::{self, HeadReader, Parsed};
use super::{accept_key, header_contains_token, HandshakeError, HandshakeLimits};
use crate::config::Config;
use crate::Status;

/// Incremental parser for a client's opening handshake request.
///
/// Feed bytes as they arrive (even one at a time) to [`ServerHandshake::receive`]; it answers
/// [`Status::Partial`] until the blank line ending the header block, then [`Status::Complete`] with the
/// [`Request`]. Work is linear in the input, and at most [`HandshakeLimits::max_bytes`] are ever buffered.
///
/// Typical use: `receive` until `Complete(request)` (on error, write `error.response()` and close); then
/// [`Request::answer`] and write its response; then, on a 101, [`Accepted::into_connection`] with
/// `take_leftover()`.
///
/// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1).
#[derive(Debug)]
pub struct ServerHandshake {
    reader: HeadReader,
}

impl ServerHandshake {
    /// A parser that enforces `limits`.
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1).
    #[must_use]
    pub fn new(limits: HandshakeLimits) -> Self {
        Self {
            reader: HeadReader::new(limits),
        }
    }

    /// Feeds bytes read from the client.
    ///
    /// Returns `Ok(Complete(request))` once the header block is complete; bytes after it (in `data` or already
    /// buffered) are kept for [`ServerHandshake::take_leftover`]. Errors are HTTP-level only
    /// ([`HandshakeError::TooLarge`], [`HandshakeError::TooManyHeaders`], [`HandshakeError::Malformed`]): the
    /// WebSocket rules are checked by [`Request::validate`], so a plain HTTP request can still be served as HTTP.
    /// On error, answer with [`HandshakeError::response`] and close.
    ///
    /// After `Complete`, further calls return [`HandshakeError::Finished`] and ignore `data`; after an error, they
    /// return the same error again and ignore `data`.
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1).
    pub fn receive(&mut self, data: &[u8]) -> Result<Status<Request>, HandshakeError> {
        self.reader.receive(data, parse_request)
    }

    /// Takes the bytes that followed the header block: frames the client sent right behind its request, or the
    /// start of an HTTP body. Empty before `Complete`; a second call returns what arrived since (nothing).
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    pub fn take_leftover(&mut self) -> Vec<u8> {
        self.reader.take_leftover()
    }
}

fn parse_request(
    block: &[u8],
    limits: &HandshakeLimits,
) -> Result<Parsed<Request>, HandshakeError> {
    // §4.2.1: "If the server, while reading the handshake, finds that the client did not send a handshake that
    // matches the description below ..., including but not limited to any violations of the ABNF grammar specified
    // for the components of the handshake, the server MUST stop processing the client's handshake and return an
    // HTTP response with an appropriate error code (such as 400 Bad Request)."
    let parsed = http::with_header_scratch(block, limits, |headers| {
        let mut req = httparse::Request::new(headers);
        Ok(match req.parse(block)? {
            httparse::Status::Complete(len) => Some((
                len,
                req.method,
                req.path,
                req.version,
                http::Fields::own(req.headers),
            )),
            httparse::Status::Partial => None,
        })
    });
    let Some((len, method, target, version, headers)) = parsed? else {
        return Ok(None);
    };
    let incomplete = HandshakeError::Malformed("incomplete request line");
    let request = Request {
        method: String::from(method.ok_or_else(|| incomplete.clone())?),
        target: String::from(target.ok_or_else(|| incomplete.clone())?),
        version: version.ok_or(incomplete)?,
        headers,
    };
    Ok(Some((len, Ok(request))))
}

/// Decodes base64 per RFC 4648 §4 with padding, but tolerates non-zero unused bits in the last character: the
/// RFC 6455 §4.1 example key "AQIDBAUGBwgJCgsMDQ4PEC==" has them.
const KEY_ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// A parsed HTTP request (owned; header values kept as bytes, names as sent).
///
/// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    version: u8,
    headers: http::Fields,
}

impl Request {
    /// The request method, e.g. `GET` (case-sensitive, as sent).
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) (item 1).
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The raw request-target, e.g. `/chat?room=1`.
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) (item 1).
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path: the request-target before `?`. For an absolute target (`http://host/chat?x`, which §4.2.1
    /// allows), the scheme and authority are dropped (`/chat`; `/` if the path is empty).
    ///
    /// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3) (/resource name/).
    #[must_use]
    pub fn path(&self) -> &str {
        let before_query = self.target.split('?').next().unwrap_or("");
        let lower = |s: &str, prefix: &str| {
            s.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        let rest = if lower(before_query, "http://") {
            before_query.get(7..)
        } else if lower(before_query, "https://") {
            before_query.get(8..)
        } else {
            return before_query;
        };
        match rest.and_then(|r| r.find('/').and_then(|i| r.get(i..))) {
            Some(path) => path,
            None => "/",
        }
    }

    /// The query: the request-target after the first `?`, if any.
    ///
    /// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3).
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The HTTP minor version as httparse reports it: 1 for HTTP/1.1, 0 for HTTP/1.0.
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) (item 1).
    #[must_use]
    pub fn http_version(&self) -> u8 {
        self.version
    }

    /// All header fields in order, as (name as sent, raw value).
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter()
    }

    /// The first header named `name` (ASCII case-insensitive), raw.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) ("all header field names in both
    /// HTTP requests and HTTP responses are case-insensitive").
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.first(name)
    }

    /// The first header named `name`, trimmed, if it is UTF-8.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        core::str::from_utf8(http::trim(self.header(name)?)).ok()
    }

    /// The `Host` header (trimmed).
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) (item 2).
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        self.header_str("Host")
    }

    /// The `Origin` header (trimmed). Browsers always send it; check it against an allow-list to stop
    /// cross-site WebSocket hijacking (§10.2), refusing with a [`Reject`] (403) if it is not allowed.
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2) (/origin/).
    #[must_use]
    pub fn origin(&self) -> Option<&str> {
        self.header_str("Origin")
    }

    /// The offered subprotocols: every `Sec-WebSocket-Protocol` header, comma-split, trimmed, in order (empty and
    /// non-UTF-8 elements skipped).
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) (item 8) and
    /// [§11.3.4](https://www.rfc-editor.org/rfc/rfc6455#section-11.3.4).
    #[must_use]
    pub fn protocols(&self) -> Vec<String> {
        self.headers
            .all("Sec-WebSocket-Protocol")
            .flat_map(|value| value.split(|&b| b == b','))
            .map(http::trim)
            .filter(|p| !p.is_empty())
            .filter_map(|p| core::str::from_utf8(p).ok())
            .map(String::from)
            .collect()
    }

    /// The offered extensions, from every `Sec-WebSocket-Extensions` header in order.
    ///
    /// See [RFC 6455 §9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1) and
    /// [§11.3.2](https://www.rfc-editor.org/rfc/rfc6455#section-11.3.2).
    pub fn extensions(&self) -> Result<Vec<Extension>, HandshakeError> {
        extensions::parse_all(self.headers.all("Sec-WebSocket-Extensions"))
    }

    /// `Content-Length` as a number; `None` if absent, not all digits, too big, or given twice with different values.
    ///
    /// See [RFC 6455 §1.7](https://www.rfc-editor.org/rfc/rfc6455#section-1.7) (plain HTTP on the same port).
    #[must_use]
    pub fn content_length(&self) -> Option<usize> {
        let mut found = None;
        for value in self.headers.all("Content-Length") {
            let value = http::trim(value);
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n: usize = core::str::from_utf8(value).ok()?.parse().ok()?;
            if found.is_some_and(|f| f != n) {
                return None;
            }
            found = Some(n);
        }
        found
    }

    /// Is this an attempt to upgrade to WebSocket at all (an `Upgrade` header containing `websocket`)? Lets an
    /// application serve plain HTTP on the same port: if false, answer it as HTTP instead of calling `validate`.
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) (item 3).
    #[must_use]
    pub fn is_upgrade(&self) -> bool {
        self.headers
            .all("Upgrade")
            .any(|v| header_contains_token(v, "websocket"))
    }

    /// Checks every MUST of §4.2.1, in order: GET, HTTP/1.1+, `Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version`; then that any `Sec-WebSocket-Extensions` header parses (§9.1).
    ///
    /// Returns the `Sec-WebSocket-Key` value as sent (trimmed), ready for [`accept_key`]. On error, answer with
    /// [`HandshakeError::response`] (400, or 426 for the version).
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1).
    pub fn validate(&self) -> Result<&str, HandshakeError> {
        // §4.2.1 (1): "An HTTP/1.1 or higher GET request"
        if self.method != "GET" {
            return Err(HandshakeError::MethodNotGet);
        }
        if self.version < 1 {
            return Err(HandshakeError::BadHttpVersion);
        }
        // §4.2.1 (2): "A |Host| header field containing the server's authority."
        match self.headers.single("Host")? {
            Some(host) if !http::trim(host).is_empty() => {}
            _ => return Err(HandshakeError::MissingHost),
        }
        // §4.2.1 (3): "An |Upgrade| header field containing the value "websocket", treated as an ASCII
        // case-insensitive value."
        if !self.is_upgrade() {
            return Err(HandshakeError::MissingUpgrade);
        }
        // §4.2.1 (4): "A |Connection| header field that includes the token "Upgrade", treated as an ASCII
        // case-insensitive value."
        if !self
            .headers
            .all("Connection")
            .any(|v| header_contains_token(v, "upgrade"))
        {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        // §11.3.1: "The |Sec-WebSocket-Key| header field MUST NOT appear more than once in an HTTP request."
        let key = self
            .headers
            .single("Sec-WebSocket-Key")?
            .ok_or(HandshakeError::MissingKey)?;
        let key = core::str::from_utf8(http::trim(key)).map_err(|_| HandshakeError::BadKey)?;
        // §4.2.1 (5): "A |Sec-WebSocket-Key| header field with a base64-encoded (see Section 4 of [RFC4648]) value
        // that, when decoded, is 16 bytes in length."
        let mut nonce = [0u8; 18];
        if key.len() != 24 || KEY_ENGINE.decode_slice(key, &mut nonce) != Ok(16) {
            return Err(HandshakeError::BadKey);
        }
        // §11.3.5: "the |Sec-WebSocket-Version| header field MUST NOT appear more than once in an HTTP request."
        let version = self.headers.single("Sec-WebSocket-Version")?;
        // §4.2.1 (6): "A |Sec-WebSocket-Version| header field, with a value of 13."
        if version.map(http::trim) != Some(b"13".as_slice()) {
            return Err(HandshakeError::UnsupportedVersion);
        }
        // §9.1: "If a value is received by either the client or the server during negotiation that does not
        // conform to the ABNF below, the recipient of such malformed data MUST immediately _Fail the WebSocket
        // Connection_."
        self.extensions()?;
        Ok(key)
    }

    /// The server's side of the opening handshake, the one way to answer a parsed request: what
    /// to write back, and either what the [`Connection`](crate::Connection) needs or why there is
    /// none.
    ///
    /// In order: checks every MUST of §4.2.1 ([`Request::validate`]); asks `decide`, which sees
    /// only valid requests, to accept ([`Accept`]: subprotocol, extra headers) or refuse
    /// ([`Reject`]: any redirect or error status, §4.2.2 items 2-4); negotiates the extensions
    /// `config` enables (permessage-deflate, feature `deflate`); builds the response:
    /// - the 101 (§4.2.2 item 5), with [`Answer::result`] `Ok(`[`Accepted`]`)`;
    /// - the application's [`Reject`], with `Err(`[`HandshakeError::Rejected`]`)`;
    /// - the core's error response (400, or 426 with `Sec-WebSocket-Version: 13`, rendered as a
    ///   [`Reject`] too, see [`HandshakeError::response`]), with that error; or a 500 for an
    ///   [`Accept`] or [`Reject`] the request or HTTP does not allow (a subprotocol the client did
    ///   not offer, a header that is not a token, ...).
    ///
    /// Write [`Answer::response`] in every case, then, if it was a 101, make the connection with
    /// [`Accepted::into_connection`], giving it the bytes that followed the request
    /// ([`ServerHandshake::take_leftover`]); otherwise close. The adapters' `accept_with` and
    /// `accept_request` do exactly this.
    ///
    /// ```
    /// use rfc6455::handshake::{Accept, HandshakeLimits, Reject, ServerHandshake};
    /// use rfc6455::{Config, Status};
    ///
    /// let mut handshake = ServerHandshake::new(HandshakeLimits::default());
    /// let Ok(Status::Complete(request)) = handshake.receive(
    ///     b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    ///       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///       Sec-WebSocket-Version: 13\r\n\r\n",
    /// ) else { panic!() };
    /// let answer = request.answer(Config::default(), |request| match request.path() {
    ///     "/chat" => Ok(Accept::new()),
    ///     _ => Err(Reject::new(404).body("no such service\n")),
    /// });
    /// assert!(answer.response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    /// // ... write answer.response, then:
    /// let connection = answer.result.unwrap().into_connection(&handshake.take_leftover());
    /// ```
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) and
    /// [§4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    pub fn answer<F>(&self, config: Config, decide: F) -> Answer
    where
        F: FnOnce(&Self) -> Result<Accept, Reject>,
    {
        let key = match self.validate() {
            Ok(key) => key,
            Err(e) => return Answer::refused(e),
        };
        #[allow(unused_mut)]
        let mut accept = match decide(self) {
            Ok(accept) => accept,
            Err(reject) => {
                return match reject.to_bytes() {
                    Ok(response) => Answer {
                        response,
                        result: Err(HandshakeError::Rejected),
                    },
                    Err(e) => Answer::refused(e),
                }
            }
        };
        // RFC 7692 §5: the server accepts at most one of the client's offers, in its order.
        #[cfg(feature = "deflate")]
        let deflate = config.deflate.as_ref().and_then(|d| {
            let offers = self.extensions().ok()?;
            d.server_accept_offers(&offers)
        });
        #[cfg(feature = "deflate")]
        let negotiated = match deflate {
            Some((response, negotiated)) => {
                accept = accept.extension(response);
                Some(negotiated)
            }
            None => None,
        };
        match self.respond(key, &accept) {
            Ok(response) => Answer {
                response,
                result: Ok(Accepted {
                    config,
                    #[cfg(feature = "deflate")]
                    negotiated,
                }),
            },
            Err(e) => Answer::refused(e),
        }
    }

    /// The 101 for a request already validated, whose key is `key`: status line,
    /// `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Accept`,
    /// `Sec-WebSocket-Protocol` if one was chosen, `Sec-WebSocket-Extensions` if any, the extra
    /// headers, blank line; or the caller bug in `accept` ([`HandshakeError::ProtocolNotOffered`],
    /// [`HandshakeError::ExtensionNotOffered`], [`HandshakeError::InvalidHeader`]).
    fn respond(&self, key: &str, accept: &Accept) -> Result<Vec<u8>, HandshakeError> {
        if let Some(protocol) = &accept.protocol {
            // §4.2.2: "The value chosen MUST be derived from the client's handshake, specifically by selecting one
            // of the values from the |Sec-WebSocket-Protocol| field that the server is willing to use"
            if !self.protocols().iter().any(|p| p == protocol) {
                return Err(HandshakeError::ProtocolNotOffered(protocol.clone()));
            }
        }
        if !accept.extensions.is_empty() {
            let offered = self.extensions()?;
            for extension in &accept.extensions {
                // §4.2.2: "Extensions not listed by the client MUST NOT be listed."
                if !offered
                    .iter()
                    .any(|o| o.name.eq_ignore_ascii_case(&extension.name))
                {
                    return Err(HandshakeError::ExtensionNotOffered(extension.name.clone()));
                }
                if !extension.is_writable() {
                    return Err(HandshakeError::InvalidHeader);
                }
            }
        }
        const OURS: [&str; 5] = [
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Accept",
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Extensions",
        ];
        for (name, value) in &accept.headers {
            if !http::is_token(name)
                || !http::is_field_value(value)
                || OURS.iter().any(|o| o.eq_ignore_ascii_case(name))
            {
                return Err(HandshakeError::InvalidHeader);
            }
        }

        let mut out = Vec::with_capacity(160);
        // §4.2.2 (5.1): "A Status-Line with a 101 response code as per RFC 2616 [RFC2616]."
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
        // §4.2.2 (5.2): "An |Upgrade| header field with value "websocket""
        http::push_header(&mut out, "Upgrade", "websocket");
        // §4.2.2 (5.3): "A |Connection| header field with value "Upgrade"."
        http::push_header(&mut out, "Connection", "Upgrade");
        // §4.2.2 (5.4): "A |Sec-WebSocket-Accept| header field."
        http::push_header(
            &mut out,
            "Sec-WebSocket-Accept",
            &accept_key(key.as_bytes()),
        );
        if let Some(protocol) = &accept.protocol {
            http::push_header(&mut out, "Sec-WebSocket-Protocol", protocol);
        }
        if !accept.extensions.is_empty() {
            // One header: §11.3.2 "the |Sec-WebSocket-Extensions| header field MUST NOT appear more than once in
            // an HTTP response."
            http::push_header(
                &mut out,
                "Sec-WebSocket-Extensions",
                &extensions::join(&accept.extensions),
            );
        }
        for (name, value) in &accept.headers {
            http::push_header(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        Ok(out)
    }
}

/// What the application answers to an upgrade request: the chosen subprotocol, accepted extensions and extra
/// headers (e.g. `Set-Cookie`).
///
/// Builder: `Accept::new().protocol("chat").extension(ext).header("X-A", "b")`, returned from the decision
/// callback of [`Request::answer`] (and of the adapters' `accept_with`). Checked there: a subprotocol or extension
/// the client did not offer, or a header that is not valid or that the handshake writes itself, makes the answer a
/// 500 instead of a 101 ([`HandshakeError::ProtocolNotOffered`], [`HandshakeError::ExtensionNotOffered`],
/// [`HandshakeError::InvalidHeader`]).
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    protocol: Option<String>,
    extensions: Vec<Extension>,
    headers: Vec<(String, String)>,
}

impl Accept {
    /// No subprotocol, no extensions, no extra headers.
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses a subprotocol; it must be one the client offered ([`Request::protocols`]).
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2) (/subprotocol/).
    #[must_use]
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.protocol = Some(String::from(protocol));
        self
    }

    /// Accepts an extension; its name must be one the client offered ([`Request::extensions`]).
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2) (/extensions/) and
    /// [§9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1).
    #[must_use]
    pub fn extension(mut self, extension: Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Adds an extra response header (not one of those the handshake writes itself).
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((String::from(name), String::from(value)));
        self
    }
}

/// What a server writes back to an opening handshake request, and whether a WebSocket
/// connection follows: the result of [`Request::answer`].
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
#[derive(Debug, Clone)]
#[must_use = "the response must be written to the client"]
pub struct Answer {
    /// The complete HTTP response to write, in every case: the 101, the application's
    /// [`Reject`], or the core's error response.
    pub response: Vec<u8>,
    /// `Ok` when the response is a 101 and frames follow it; otherwise why not
    /// ([`HandshakeError::Rejected`] for the application's [`Reject`]).
    pub result: Result<Accepted, HandshakeError>,
}

impl Answer {
    fn refused(error: HandshakeError) -> Self {
        Self {
            response: error.response().unwrap_or_default(),
            result: Err(error),
        }
    }
}

/// A request the server answered with 101 ([`Request::answer`]): what the
/// [`Connection`](crate::Connection) that follows needs, until it is made with
/// [`into_connection`](Self::into_connection) once the 101 is written.
///
/// It is the configuration and the negotiated extension parameters (about 150 bytes), where a
/// `Connection` is about 600: an async driver holds this across the write of the response, so
/// that each connection's task, as large as its largest state for the connection's whole life,
/// stays that much smaller.
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
#[derive(Debug, Clone)]
pub struct Accepted {
    config: Config,
    /// The permessage-deflate parameters agreed on (RFC 7692), if any.
    #[cfg(feature = "deflate")]
    negotiated: Option<crate::deflate::Negotiated>,
}

impl Accepted {
    /// The server's connection, with the extensions agreed on (§9.1), fed `leftover`: the bytes
    /// that followed the request's header block ([`ServerHandshake::take_leftover`]), which are
    /// already frames (§4.2.2: once the 101 is sent, "the server considers the WebSocket
    /// connection to be established").
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn into_connection(self, leftover: &[u8]) -> crate::Connection {
        #[allow(unused_mut)]
        let mut connection = crate::Connection::server(self.config);
        #[cfg(feature = "deflate")]
        if let (Some(negotiated), Some(d)) = (self.negotiated, connection.config().deflate.clone())
        {
            let codec = crate::deflate::DeflateCodec::new(negotiated, crate::Role::Server, &d);
            connection = connection.with_deflate(codec);
        }
        connection.receive(leftover);
        connection
    }
}

/// Headers a [`Reject`] cannot set: its renderer writes them itself.
const REJECT_WRITES: [&str; 3] = ["Connection", "Content-Length", "Transfer-Encoding"];

/// The application's refusal of an upgrade request: a redirect or error status, headers and a body, which
/// [`Request::answer`] (and the adapters' `accept_with`) write as the complete HTTP/1.1 response.
///
/// Builder: `Reject::new(403).header("Content-Type", "text/plain").body("origin not allowed\n")`. Checked when it
/// is written ([`Reject::to_bytes`]), as [`Accept`] is: the status must be a redirect or an error, 300 to 599 but
/// not 304 ([`HandshakeError::InvalidStatus`]); header names must be tokens and values free of control bytes other
/// than HTAB (so no CR/LF injection), and `Connection`, `Content-Length` and `Transfer-Encoding` are the
/// renderer's ([`HandshakeError::InvalidHeader`]). [`Request::answer`] answers a refused `Reject` with a 500.
///
/// The response is the status line with the standard reason phrase, the headers in order, `Connection: close`,
/// `Content-Length`, a blank line and the body; the core's own error responses (400, 426, ...,
/// [`HandshakeError::response`]) are written the same way.
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2) (items 2-4: "the server can perform
/// additional client authentication, for example, by returning a 401 status code"; "The server MAY redirect the
/// client using a 3xx status code"; "If the server does not wish to accept this connection, it MUST return an
/// appropriate HTTP error code (e.g., 403 Forbidden)") and [§10.2](https://www.rfc-editor.org/rfc/rfc6455#section-10.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reject {
    /// A refusal with `status`, no headers and an empty body.
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a response header, e.g. `WWW-Authenticate` with a 401 or `Location` with a 3xx (§4.2.2 items 2, 3).
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((String::from(name), String::from(value)));
        self
    }

    /// Sets the body (its `Content-Length` is computed).
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Checks the status and headers (see [`Reject`]), then renders the complete HTTP/1.1 response.
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    pub fn to_bytes(&self) -> Result<Vec<u8>, HandshakeError> {
        if !(300..=599).contains(&self.status) || self.status == 304 {
            return Err(HandshakeError::InvalidStatus(self.status));
        }
        for (name, value) in &self.headers {
            if !http::is_token(name)
                || !http::is_field_value(value)
                || REJECT_WRITES.iter().any(|w| w.eq_ignore_ascii_case(name))
            {
                return Err(HandshakeError::InvalidHeader);
            }
        }
        Ok(self.render())
    }

    /// Renders without checking (the core's own, known-good refusals).
    pub(super) fn render(&self) -> Vec<u8> {
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(self.headers.len() + 1);
        headers.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        // The connection ends with the refusal: no request can follow on it.
        headers.push(("Connection", "close"));
        http::http_response(self.status, &headers, &self.body)
    }
}
