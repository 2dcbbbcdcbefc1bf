//! The opening handshake, without I/O.
//!
//! See [RFC 6455 §4](https://www.rfc-editor.org/rfc/rfc6455#section-4).
//!
//! Bytes go in, bytes come out, along one path per side:
//! - a server feeds what it reads to [`ServerHandshake::receive`] until it gets a [`Request`] (on error it writes
//!   [`HandshakeError::response`] and closes), may serve it as plain HTTP ([`Request::is_upgrade`],
//!   [`http_response`]), and otherwise calls [`Request::answer`] with its [`Config`](crate::Config) and a decision
//!   callback returning [`Accept`] or [`Reject`]; it writes [`Answer::response`], and on a 101 makes the connection
//!   with [`Accepted::into_connection`], passing [`ServerHandshake::take_leftover`];
//! - a client writes the bytes from [`ClientHandshake::new`] (given a [`ClientRequest`] and its `Config`; or
//!   [`ClientHandshake::with_rng`], [`ClientHandshake::with_key`]), feeds what it reads to
//!   [`ClientHandshake::receive`] until it gets a validated [`Response`], then makes the connection with
//!   [`ClientHandshake::into_connection`].
//!
//! Bytes that arrived behind either header block are already frame data: `into_connection` hands them on.
//! [`Request::validate`] is the server's checks alone, for drivers that parse HTTP elsewhere.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use sha1::Digest as _;

mod client;
mod extensions;
mod http;
mod server;

pub use client::{ClientHandshake, ClientRequest, Response};
pub use extensions::{parse_extensions, Extension};
pub use http::http_response;
pub use server::{Accept, Accepted, Answer, Reject, Request, ServerHandshake};

/// The GUID appended to `Sec-WebSocket-Key` before hashing.
///
/// See [RFC 6455 §1.3](https://www.rfc-editor.org/rfc/rfc6455#section-1.3) and
/// [§4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`: base64(SHA-1(key ++ [`GUID`])).
///
/// `key` is the header value as sent (the base64 text, not the decoded nonce).
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2) and
/// [§1.3](https://www.rfc-editor.org/rfc/rfc6455#section-1.3).
///
/// The §1.3 vector: `accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="`.
#[must_use]
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = sha1::Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Limits on the opening handshake, enforced while bytes are buffered.
///
/// An attacker can send an endless header block; these caps bound the memory and work spent on one handshake
/// (httparse: *"avoid retry loops on a growing buffer without size/time limits"*).
///
/// - `max_bytes` (default 16 KiB = 16384): the whole header block, request/status line included. Browser handshakes
///   are well under 2 KiB even with cookies; 16 KiB is the common server default (Node.js `maxHeaderSize`), so
///   legitimate clients never hit it, while a peer can make us buffer at most this much.
/// - `max_headers` (default 64): header fields. Browsers send about 15-20; httparse needs a fixed-size array of
///   this length, so it also bounds the parser's scratch space.
///
/// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) and
/// [§10.4](https://www.rfc-editor.org/rfc/rfc6455#section-10.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeLimits {
    /// Maximum size of the header block in bytes (default 16384).
    pub max_bytes: usize,
    /// Maximum number of header fields (default 64).
    pub max_headers: usize,
}

impl HandshakeLimits {
    /// The defaults: 16 KiB, 64 headers.
    ///
    /// See [RFC 6455 §10.4](https://www.rfc-editor.org/rfc/rfc6455#section-10.4).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_bytes: 16 * 1024,
            max_headers: 64,
        }
    }

    /// Sets `max_bytes` (the struct is `#[non_exhaustive]`, so it cannot be built literally).
    ///
    /// See [RFC 6455 §10.4](https://www.rfc-editor.org/rfc/rfc6455#section-10.4).
    #[must_use]
    pub const fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets `max_headers`.
    ///
    /// See [RFC 6455 §10.4](https://www.rfc-editor.org/rfc/rfc6455#section-10.4).
    #[must_use]
    pub const fn with_max_headers(mut self, max_headers: usize) -> Self {
        self.max_headers = max_headers;
        self
    }
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// Does a comma-separated header value (`1#token`) contain `token`, compared ASCII case-insensitively?
///
/// Elements are trimmed of spaces and tabs; empty elements are ignored. Used for `Connection: keep-alive, Upgrade`.
///
/// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) (items 3 and 4).
#[must_use]
pub fn header_contains_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|element| http::trim(element).eq_ignore_ascii_case(token.as_bytes()))
}

/// Everything that can go wrong in the opening handshake, one variant per broken rule.
///
/// Server-side variants map to an HTTP status ([`HandshakeError::status`]) and a ready response
/// ([`HandshakeError::response`]); client-side ones mean *Fail the WebSocket Connection* (§4.1).
///
/// See [RFC 6455 §4](https://www.rfc-editor.org/rfc/rfc6455#section-4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The header block is larger than [`HandshakeLimits::max_bytes`] (431).
    TooLarge {
        /// The limit that was hit.
        limit: usize,
    },
    /// More header fields than [`HandshakeLimits::max_headers`] (431).
    TooManyHeaders {
        /// The limit that was hit.
        limit: usize,
    },
    /// Not a valid HTTP/1.x message (httparse's description of the problem) (400).
    Malformed(&'static str),
    /// §4.2.1 (1): the method is not GET (400).
    MethodNotGet,
    /// §4.2.1 (1): the HTTP version is lower than 1.1 (400).
    BadHttpVersion,
    /// §4.2.1 (2): no (or an empty) `Host` header (400).
    MissingHost,
    /// §4.2.1 (3) / §4.1 (2): no `Upgrade` header with `websocket` (400).
    MissingUpgrade,
    /// §4.2.1 (4) / §4.1 (3): no `Connection` header with the `Upgrade` token (400).
    MissingConnectionUpgrade,
    /// §4.2.1 (5): no `Sec-WebSocket-Key` header (400).
    MissingKey,
    /// §4.2.1 (5): `Sec-WebSocket-Key` is not base64 of exactly 16 bytes (400).
    BadKey,
    /// §4.2.1 (6): `Sec-WebSocket-Version` missing or not 13 (426 with `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// §11.3: a header that must appear at most once appeared more than once (400).
    DuplicateHeader(&'static str),
    /// §9.1: a `Sec-WebSocket-Extensions` value does not match the grammar (400).
    BadExtensionHeader,
    /// §4.1 (1): the server answered with a status other than 101 (client side).
    BadStatus(u16),
    /// §4.1 (4): `Sec-WebSocket-Accept` missing or wrong (client side).
    BadAccept,
    /// §4.1 (6): the server chose a subprotocol the client did not offer (client side).
    UnrequestedProtocol(String),
    /// §4.1 (5): the server accepted an extension the client did not offer (client side).
    UnrequestedExtension(String),
    /// §3: the URL given to [`ClientRequest::new`] is not a usable `ws://` URL (client side).
    InvalidUrl(&'static str),
    /// §4.2.2: an [`Accept`] chose a subprotocol the client did not offer (caller bug, 500).
    ProtocolNotOffered(String),
    /// §4.2.2: an [`Accept`] accepted an extension the client did not offer (caller bug, 500).
    ExtensionNotOffered(String),
    /// A header name that is not a token, a value with CR, LF or another control byte, or a header the handshake
    /// writes itself, was given to [`Accept`] or [`Reject`] (caller bug, 500).
    InvalidHeader,
    /// A [`Reject`] with a status that is not a redirect or an error (300-599, not 304), such as 101 or 200
    /// (caller bug, 500).
    InvalidStatus(u16),
    /// `receive` was called again after it had returned `Complete`.
    Finished,
    /// The application refused the request with a [`Reject`] (the decision callback of
    /// [`Request::answer`] and of the adapters' `accept_with`), which was sent.
    Rejected,
    /// The server's answer to an extension we offered breaks the extension's rules (for
    /// permessage-deflate, RFC 7692 §7: "the client MUST _Fail the WebSocket Connection_").
    ExtensionResponse(String),
}

impl HandshakeError {
    /// The HTTP status this error deserves as a server response (400, 426, 431, 500), `None` for client-side errors.
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) and
    /// [§4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            // RFC 6585 §5: 431 Request Header Fields Too Large.
            Self::TooLarge { .. } | Self::TooManyHeaders { .. } => Some(431),
            // §4.2.1: "the server MUST stop processing the client's handshake and return an HTTP response with an
            // appropriate error code (such as 400 Bad Request)". 400 also for a wrong method: 405 would need an
            // `Allow` header and suggests the resource exists for other methods.
            Self::Malformed(_)
            | Self::MethodNotGet
            | Self::BadHttpVersion
            | Self::MissingHost
            | Self::MissingUpgrade
            | Self::MissingConnectionUpgrade
            | Self::MissingKey
            | Self::BadKey
            | Self::DuplicateHeader(_)
            | Self::BadExtensionHeader => Some(400),
            // §4.2.2: "send an appropriate HTTP error code (such as 426 Upgrade Required) and a
            // |Sec-WebSocket-Version| header field indicating the version(s) the server is capable of understanding"
            Self::UnsupportedVersion => Some(426),
            Self::ProtocolNotOffered(_)
            | Self::ExtensionNotOffered(_)
            | Self::InvalidHeader
            | Self::InvalidStatus(_) => Some(500),
            Self::BadStatus(_)
            | Self::BadAccept
            | Self::UnrequestedProtocol(_)
            | Self::UnrequestedExtension(_)
            | Self::InvalidUrl(_)
            | Self::Finished
            | Self::Rejected
            | Self::ExtensionResponse(_) => None,
        }
    }

    /// The RFC 6455 section of the broken rule, e.g. `"4.2.1"` (named in [`HandshakeError::response`]'s body).
    ///
    /// See [RFC 6455 §4](https://www.rfc-editor.org/rfc/rfc6455#section-4).
    #[must_use]
    pub fn section(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } | Self::TooManyHeaders { .. } => "10.4",
            Self::Malformed(_)
            | Self::MethodNotGet
            | Self::BadHttpVersion
            | Self::MissingHost
            | Self::MissingUpgrade
            | Self::MissingConnectionUpgrade
            | Self::MissingKey
            | Self::BadKey
            | Self::UnsupportedVersion => "4.2.1",
            Self::DuplicateHeader(_) => "11.3",
            Self::BadExtensionHeader => "9.1",
            Self::BadStatus(_)
            | Self::BadAccept
            | Self::UnrequestedProtocol(_)
            | Self::UnrequestedExtension(_) => "4.1",
            Self::InvalidUrl(_) => "3",
            Self::ProtocolNotOffered(_)
            | Self::ExtensionNotOffered(_)
            | Self::InvalidHeader
            | Self::InvalidStatus(_) => "4.2.2",
            Self::Finished | Self::Rejected => "4",
            Self::ExtensionResponse(_) => "9.1",
        }
    }

    /// A complete HTTP/1.1 error response for server-side errors, `None` for client-side ones.
    ///
    /// A [`Reject`] with this error's [`status`](Self::status), `Content-Type: text/plain; charset=utf-8`,
    /// `Sec-WebSocket-Version: 13` on 426, and a one-line body naming the rule, written as every `Reject` is
    /// (with `Connection: close` and `Content-Length`). Send it, then close the connection.
    ///
    /// See [RFC 6455 §4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) and
    /// [§4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    #[must_use]
    pub fn response(&self) -> Option<Vec<u8>> {
        let status = self.status()?;
        let body = alloc::format!("{self} (RFC 6455 section {})\n", self.section());
        let mut reject = Reject::new(status).header("Content-Type", "text/plain; charset=utf-8");
        if status == 426 {
            // §4.2.2: "... and a |Sec-WebSocket-Version| header field indicating the version(s) the server is
            // capable of understanding"
            reject = reject.header("Sec-WebSocket-Version", "13");
        }
        Some(reject.body(body).render())
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "handshake header block exceeds {limit} bytes"),
            Self::TooManyHeaders { limit } => {
                write!(f, "handshake has more than {limit} header fields")
            }
            Self::Malformed(why) => write!(f, "malformed http message: {why}"),
            Self::MethodNotGet => f.write_str("request method must be GET"),
            Self::BadHttpVersion => f.write_str("http version must be at least 1.1"),
            Self::MissingHost => f.write_str("missing Host header"),
            Self::MissingUpgrade => f.write_str("missing Upgrade: websocket header"),
            Self::MissingConnectionUpgrade => f.write_str("missing Connection: Upgrade header"),
            Self::MissingKey => f.write_str("missing Sec-WebSocket-Key header"),
            Self::BadKey => f.write_str("Sec-WebSocket-Key is not 16 base64-encoded bytes"),
            Self::UnsupportedVersion => {
                f.write_str("unsupported Sec-WebSocket-Version, only 13 is supported")
            }
            Self::DuplicateHeader(name) => write!(f, "duplicate {name} header"),
            Self::BadExtensionHeader => f.write_str("malformed Sec-WebSocket-Extensions header"),
            Self::BadStatus(code) => write!(f, "server answered with status {code} instead of 101"),
            Self::BadAccept => f.write_str("missing or wrong Sec-WebSocket-Accept header"),
            Self::UnrequestedProtocol(p) => {
                write!(f, "server chose subprotocol {p:?} that was not offered")
            }
            Self::UnrequestedExtension(e) => {
                write!(f, "server accepted extension {e:?} that was not offered")
            }
            Self::InvalidUrl(why) => write!(f, "invalid websocket url: {why}"),
            Self::ProtocolNotOffered(p) => {
                write!(f, "subprotocol {p:?} was not offered by the client")
            }
            Self::ExtensionNotOffered(e) => {
                write!(f, "extension {e:?} was not offered by the client")
            }
            Self::InvalidHeader => f.write_str("invalid header name or value"),
            Self::InvalidStatus(status) => {
                write!(f, "status {status} is not a redirect or an error")
            }
            Self::Finished => f.write_str("handshake already finished"),
            Self::Rejected => f.write_str("request rejected by the application"),
            Self::ExtensionResponse(why) => write!(f, "invalid extension response: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HandshakeError {}
