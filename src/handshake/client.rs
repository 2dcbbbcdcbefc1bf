//! Client side: send the opening handshake (§4.1), validate the server's response.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use base64::Engine as _;

use super::extensions::{self, Extension};
use super::http::{self, HeadReader, Parsed};
use super::{accept_key, header_contains_token, HandshakeError, HandshakeLimits};
use crate::config::Config;
use crate::Status;

/// Header names the handshake writes itself; [`ClientRequest::header`] ignores them.
const RESERVED: [&str; 8] = [
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
];

/// What a client asks for: the parsed `ws://` or `wss://` URL plus `Origin`, subprotocols, extensions and extra headers.
///
/// Builder methods never fail; input that would produce a malformed request (a header name that is not a token, a
/// value with CR/LF or other control bytes, a subprotocol that is not a token or is already listed, a header the
/// handshake writes itself, an extension that cannot be serialized) is ignored, so the request bytes are always
/// well-formed.
///
/// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3) and
/// [§4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// `wss`: the adapters connect over TLS (feature `rustls`); the core only changes the default port.
    tls: bool,
    host: String,
    ipv6: bool,
    port: u16,
    resource: String,
    origin: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<Extension>,
    headers: Vec<(String, String)>,
}

/// §3: the default port of `ws` (80) or `wss` (443).
fn default_port(tls: bool) -> u16 {
    if tls {
        443
    } else {
        80
    }
}

/// `reg-name` / IPv4 characters of RFC 3986 §3.2.2 (unreserved, pct-encoded, sub-delims).
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

impl ClientRequest {
    /// Parses `ws://host[:port][/path][?query]` or `wss://...`. IPv6 literals go in brackets (`ws://[::1]:9001/`);
    /// the port defaults to 80 for `ws` and 443 for `wss`, and the path to `/`.
    ///
    /// The request itself is the same for both schemes: TLS is the adapters' (feature `rustls`), which connect
    /// to a `wss://` URL over TLS when [`is_tls`](Self::is_tls) is true.
    ///
    /// Errors ([`HandshakeError::InvalidUrl`]): another scheme; a fragment;
    /// userinfo; an empty or invalid host; a port that is not 1-65535; a space, control or non-ASCII byte in the
    /// path or query (percent-encode them).
    ///
    /// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3).
    pub fn new(url: &str) -> Result<Self, HandshakeError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(HandshakeError::InvalidUrl("expected ws://host/path"))?;
        let tls = if scheme.eq_ignore_ascii_case("wss") {
            true
        } else if scheme.eq_ignore_ascii_case("ws") {
            false
        } else {
            return Err(HandshakeError::InvalidUrl("scheme must be ws or wss"));
        };
        // §3: "Fragment identifiers are meaningless in the context of WebSocket URIs and MUST NOT be used on these
        // URIs."
        if rest.contains('#') {
            return Err(HandshakeError::InvalidUrl(
                "fragments must not be used (section 3)",
            ));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(HandshakeError::InvalidUrl("userinfo is not allowed"));
        }

        let (host, ipv6, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (literal, after) = bracketed
                .split_once(']')
                .ok_or(HandshakeError::InvalidUrl("unterminated ipv6 literal"))?;
            if literal.parse::<Ipv6Addr>().is_err() {
                return Err(HandshakeError::InvalidUrl("invalid ipv6 address"));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or(HandshakeError::InvalidUrl("invalid port"))?,
                ),
            };
            (literal, true, port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if host.is_empty() {
                return Err(HandshakeError::InvalidUrl("missing host"));
            }
            if !host.bytes().all(is_host_byte) {
                return Err(HandshakeError::InvalidUrl("invalid host"));
            }
            (host, false, port)
        };
        let port = match port {
            // §3: "The port component is OPTIONAL; the default for "ws" is port 80, while the default for "wss" is
            // port 443." RFC 3986 allows an empty port.
            None | Some("") => default_port(tls),
            Some(digits) => {
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HandshakeError::InvalidUrl("invalid port"));
                }
                match digits.parse::<u16>() {
                    Ok(port) if port != 0 => port,
                    _ => return Err(HandshakeError::InvalidUrl("invalid port")),
                }
            }
        };

        if !tail.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HandshakeError::InvalidUrl(
                "invalid character in path or query",
            ));
        }
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        // §3: the resource name is "/" if the path component is empty, the path, then "?" and the query if the
        // query is non-empty.
        let mut resource = String::from(if path.is_empty() { "/" } else { path });
        if !query.is_empty() {
            resource.push('?');
            resource.push_str(query);
        }
        Ok(Self {
            tls,
            host: String::from(host),
            ipv6,
            port,
            resource,
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
        })
    }

    /// The host, without brackets for IPv6 (`::1`).
    ///
    /// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (unless given, 80 for `ws` and 443 for `wss`).
    ///
    /// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The /resource name/: path and query, e.g. `/chat?room=1`.
    ///
    /// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3).
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Whether the URL is `wss://`: the connection is to run over TLS (§3: "the "wss" scheme ... is secure").
    ///
    /// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The URL's scheme, lowercase: `"ws"` or `"wss"`.
    ///
    /// See [RFC 6455 §3](https://www.rfc-editor.org/rfc/rfc6455#section-3).
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "wss"
        } else {
            "ws"
        }
    }

    /// `host:port` to connect a socket to (IPv6 in brackets: `[::1]:9001`).
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    #[must_use]
    pub fn authority(&self) -> String {
        if self.ipv6 {
            alloc::format!("[{}]:{}", self.host, self.port)
        } else {
            alloc::format!("{}:{}", self.host, self.port)
        }
    }

    /// The `Host` header value: host (bracketed if IPv6) plus `:port` unless it is the scheme's default (80, 443).
    fn host_header(&self) -> String {
        let host = if self.ipv6 {
            alloc::format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port(self.tls) {
            host
        } else {
            alloc::format!("{host}:{}", self.port)
        }
    }

    /// Sends `Origin` (browsers must; other clients may). Ignored if empty or containing control bytes.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) (item 8).
    #[must_use]
    pub fn origin(mut self, origin: &str) -> Self {
        if !origin.is_empty() && http::is_field_value(origin) {
            self.origin = Some(String::from(origin));
        }
        self
    }

    /// Offers a subprotocol (in preference order). Ignored unless it is a token not offered yet.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) (item 10).
    #[must_use]
    pub fn protocol(mut self, protocol: &str) -> Self {
        // §4.1 (10): "The elements that comprise this value MUST be non-empty strings with characters in the range
        // U+0021 to U+007E not including separator characters as defined in [RFC2616] and MUST all be unique
        // strings."
        if http::is_token(protocol) && !self.protocols.iter().any(|p| p == protocol) {
            self.protocols.push(String::from(protocol));
        }
        self
    }

    /// Adds an extra request header (cookies, authorization ...). Ignored if the name is not a token, the value
    /// has control bytes, or the handshake writes that header itself.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) (item 12).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if http::is_token(name)
            && http::is_field_value(value)
            && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
        {
            self.headers.push((String::from(name), String::from(value)));
        }
        self
    }

    /// Offers an extension. Ignored if it cannot be serialized (name or parameter name not a token, control bytes).
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) (item 11) and
    /// [§9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1).
    #[must_use]
    pub fn extension(mut self, extension: Extension) -> Self {
        if extension.is_writable() {
            self.extensions.push(extension);
        }
        self
    }
}

/// Client side of the handshake, the one way through it: builds the request bytes, validates the server's response
/// incrementally, then makes the [`Connection`](crate::Connection).
///
/// Write the bytes returned by the constructor ([`ClientHandshake::new`]), then feed what the server sends to
/// [`ClientHandshake::receive`] until `Complete(response)`; then [`ClientHandshake::into_connection`], which hands
/// the connection the bytes that followed the 101.
///
/// ```
/// use rfc6455::handshake::{ClientHandshake, ClientRequest};
/// use rfc6455::{Config, Status};
///
/// let request = ClientRequest::new("ws://example.com/chat").unwrap();
/// let (mut handshake, bytes) = ClientHandshake::with_key(&request, *b"the sample nonce", Config::default());
/// assert!(bytes.starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
/// // ... write bytes, read the server's answer:
/// let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///                Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/// let Ok(Status::Complete(response)) = handshake.receive(answer) else { panic!() };
/// # #[cfg(feature = "std")]
/// let connection = handshake.into_connection(&response).unwrap();
/// # #[cfg(feature = "std")]
/// assert_eq!(connection.role(), rfc6455::Role::Client);
/// ```
///
/// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
#[derive(Debug)]
pub struct ClientHandshake {
    reader: HeadReader,
    expected_accept: String,
    protocols: Vec<String>,
    extensions: Vec<String>,
    config: Config,
}

impl ClientHandshake {
    /// Uses a caller-chosen 16-byte nonce (tests, or randomness from elsewhere). Returns the handshake and the
    /// request bytes: `GET {resource} HTTP/1.1`, `Host`, `Upgrade: websocket`, `Connection: Upgrade`,
    /// `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`, then `Origin`, `Sec-WebSocket-Protocol`,
    /// `Sec-WebSocket-Extensions` if set, then the extra headers.
    ///
    /// `config` gives the response's [`HandshakeLimits`] and the connection's settings; the extensions it enables
    /// (permessage-deflate, feature `deflate`) are offered after the request's own.
    ///
    /// The nonce MUST be random for each connection (§4.1 item 7): outside tests use
    /// [`ClientHandshake::new`] or [`ClientHandshake::with_rng`].
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    #[must_use]
    pub fn with_key(request: &ClientRequest, key: [u8; 16], config: Config) -> (Self, Vec<u8>) {
        #[cfg(feature = "deflate")]
        if let Some(d) = &config.deflate {
            let request = request.clone().extension(d.client_offer());
            return Self::build(&request, key, config);
        }
        Self::build(request, key, config)
    }

    fn build(request: &ClientRequest, key: [u8; 16], config: Config) -> (Self, Vec<u8>) {
        // §4.1 (7): "The value of this header field MUST be a nonce consisting of a randomly selected 16-byte value
        // that has been base64-encoded (see Section 4 of [RFC4648])."
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let mut out = Vec::with_capacity(256);
        // §4.1 (2): "The method of the request MUST be GET, and the HTTP version MUST be at least 1.1."
        out.extend_from_slice(alloc::format!("GET {} HTTP/1.1\r\n", request.resource).as_bytes());
        // §4.1 (4): "The request MUST contain a |Host| header field whose value contains /host/ plus optionally ":"
        // followed by /port/ (when not using the default port)."
        http::push_header(&mut out, "Host", &request.host_header());
        // §4.1 (5): "The request MUST contain an |Upgrade| header field whose value MUST include the "websocket"
        // keyword."
        http::push_header(&mut out, "Upgrade", "websocket");
        // §4.1 (6): "The request MUST contain a |Connection| header field whose value MUST include the "Upgrade"
        // token."
        http::push_header(&mut out, "Connection", "Upgrade");
        http::push_header(&mut out, "Sec-WebSocket-Key", &key);
        // §4.1 (9): "The request MUST include a header field with the name |Sec-WebSocket-Version|. The value of
        // this header field MUST be 13."
        http::push_header(&mut out, "Sec-WebSocket-Version", "13");
        if let Some(origin) = &request.origin {
            http::push_header(&mut out, "Origin", origin);
        }
        if !request.protocols.is_empty() {
            http::push_header(
                &mut out,
                "Sec-WebSocket-Protocol",
                &request.protocols.join(", "),
            );
        }
        if !request.extensions.is_empty() {
            http::push_header(
                &mut out,
                "Sec-WebSocket-Extensions",
                &extensions::join(&request.extensions),
            );
        }
        for (name, value) in &request.headers {
            http::push_header(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        let handshake = Self {
            reader: HeadReader::new(config.handshake_limits),
            expected_accept: accept_key(key.as_bytes()),
            protocols: request.protocols.clone(),
            extensions: request.extensions.iter().map(|e| e.name.clone()).collect(),
            config,
        };
        (handshake, out)
    }

    /// Draws the nonce from `rng` (which should be a CSPRNG), then as [`ClientHandshake::with_key`].
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    #[must_use]
    pub fn with_rng<R: rand::RngCore + ?Sized>(
        request: &ClientRequest,
        rng: &mut R,
        config: Config,
    ) -> (Self, Vec<u8>) {
        // §4.1: "The request MUST include ... a nonce consisting of a randomly selected 16-byte value"; "The nonce
        // MUST be selected randomly for each connection."
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        Self::with_key(request, key, config)
    }

    /// The client's opening handshake for `request` under `config`, the nonce drawn from the thread-local CSPRNG
    /// (`rand::rng()`): the handshake and the request bytes to write (see [`ClientHandshake::with_key`]).
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    #[cfg(feature = "std")]
    #[must_use]
    pub fn new(request: &ClientRequest, config: Config) -> (Self, Vec<u8>) {
        Self::with_rng(request, &mut rand::rng(), config)
    }

    /// Feeds response bytes from the server.
    ///
    /// Returns `Ok(Complete(response))` once the header block is complete and valid per §4.1: status 101 (any other
    /// status is [`HandshakeError::BadStatus`] as soon as its header block is complete; its body, if any, is in
    /// [`ClientHandshake::take_leftover`]), `Upgrade: websocket`, `Connection: Upgrade`, the exact
    /// `Sec-WebSocket-Accept`, extensions only if offered (by name), a subprotocol only if offered. Any error means
    /// *Fail the WebSocket Connection*. Same buffering limits and after-the-end rules as
    /// [`super::ServerHandshake::receive`].
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    pub fn receive(&mut self, data: &[u8]) -> Result<Status<Response>, HandshakeError> {
        let (accept, protocols, extensions) =
            (&self.expected_accept, &self.protocols, &self.extensions);
        self.reader.receive(data, |block, limits| {
            parse_response(block, limits, accept, protocols, extensions)
        })
    }

    /// Takes the bytes that followed the response's header block (frames the server sent right behind its 101, or
    /// the start of a refusal's body). [`ClientHandshake::into_connection`] does this itself.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    pub fn take_leftover(&mut self) -> Vec<u8> {
        self.reader.take_leftover()
    }

    /// The client's connection after `response`, the validated 101 [`ClientHandshake::receive`] returned: with the
    /// configuration given to the constructor, the extensions the server accepted (§9.1), and the bytes that
    /// followed the 101 already fed to it.
    ///
    /// An extension response that breaks the extension's rules is [`HandshakeError::ExtensionResponse`] (RFC 7692
    /// §7: "the client MUST _Fail the WebSocket Connection_").
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) ("_The WebSocket Connection is
    /// Established_").
    #[cfg(feature = "std")]
    pub fn into_connection(self, response: &Response) -> Result<crate::Connection, HandshakeError> {
        self.finish(response, |config| {
            crate::Connection::new(crate::Role::Client, config)
        })
    }

    /// As [`ClientHandshake::into_connection`], the connection's masking keys drawn from `rng` (see
    /// [`Connection::with_rng`](crate::Connection::with_rng): deterministic tests, or `no_std` targets with their
    /// own entropy source).
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) and
    /// [§5.3](https://www.rfc-editor.org/rfc/rfc6455#section-5.3).
    pub fn into_connection_with_rng(
        self,
        response: &Response,
        rng: alloc::boxed::Box<dyn rand::RngCore + Send>,
    ) -> Result<crate::Connection, HandshakeError> {
        self.finish(response, |config| {
            crate::Connection::with_rng(crate::Role::Client, config, rng)
        })
    }

    fn finish(
        mut self,
        response: &Response,
        connect: impl FnOnce(Config) -> crate::Connection,
    ) -> Result<crate::Connection, HandshakeError> {
        let leftover = self.take_leftover();
        #[allow(unused_mut)]
        let mut connection = connect(self.config);
        #[cfg(feature = "deflate")]
        if let Some(d) = connection.config().deflate.clone() {
            match d.client_accept_extensions(response.extensions()) {
                Ok(Some(negotiated)) => {
                    let codec =
                        crate::deflate::DeflateCodec::new(negotiated, crate::Role::Client, &d);
                    connection = connection.with_deflate(codec);
                }
                Ok(None) => {}
                Err(e) => return Err(HandshakeError::ExtensionResponse(alloc::format!("{e}"))),
            }
        }
        let _ = response;
        connection.receive(&leftover);
        Ok(connection)
    }
}

fn parse_response(
    block: &[u8],
    limits: &HandshakeLimits,
    expected_accept: &str,
    protocols: &[String],
    extensions: &[String],
) -> Result<Parsed<Response>, HandshakeError> {
    let parsed = http::with_header_scratch(block, limits, |headers| {
        let mut resp = httparse::Response::new(headers);
        Ok(match resp.parse(block)? {
            httparse::Status::Complete(len) => Some((
                len,
                resp.code,
                resp.version,
                http::Fields::own(resp.headers),
            )),
            httparse::Status::Partial => None,
        })
    });
    let Some((len, status, version, headers)) = parsed? else {
        return Ok(None);
    };
    let incomplete = HandshakeError::Malformed("incomplete status line");
    let response = Response {
        status: status.ok_or_else(|| incomplete.clone())?,
        version: version.ok_or(incomplete)?,
        headers,
        protocol: None,
        extensions: Vec::new(),
    };
    Ok(Some((
        len,
        check_response(response, expected_accept, protocols, extensions),
    )))
}

fn check_response(
    mut response: Response,
    expected_accept: &str,
    protocols: &[String],
    extensions: &[String],
) -> Result<Response, HandshakeError> {
    // §4.1 (1): "If the status code received from the server is not 101, the client handles the response per HTTP
    // [RFC2616] procedures."
    if response.status != 101 {
        return Err(HandshakeError::BadStatus(response.status));
    }
    if response.version < 1 {
        return Err(HandshakeError::BadHttpVersion);
    }
    // §4.1 (2): "If the response lacks an |Upgrade| header field or the |Upgrade| header field contains a value
    // that is not an ASCII case-insensitive match for the value "websocket", the client MUST _Fail the WebSocket
    // Connection_."
    let upgrade_ok = response.headers.all("Upgrade").next().is_some()
        && response
            .headers
            .all("Upgrade")
            .all(|v| http::trim(v).eq_ignore_ascii_case(b"websocket"));
    if !upgrade_ok {
        return Err(HandshakeError::MissingUpgrade);
    }
    // §4.1 (3): "If the response lacks a |Connection| header field or the |Connection| header field doesn't
    // contain a token that is an ASCII case-insensitive match for the value "Upgrade", the client MUST _Fail the
    // WebSocket Connection_."
    if !response
        .headers
        .all("Connection")
        .any(|v| header_contains_token(v, "upgrade"))
    {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    // §11.3.3: "The |Sec-WebSocket-Accept| header MUST NOT appear more than once in an HTTP response."
    let accept = response
        .headers
        .single("Sec-WebSocket-Accept")?
        .ok_or(HandshakeError::BadAccept)?;
    // §4.1 (4): "If the response lacks a |Sec-WebSocket-Accept| header field or the |Sec-WebSocket-Accept| contains
    // a value other than the base64-encoded SHA-1 of the concatenation of the |Sec-WebSocket-Key| (as a string, not
    // base64-decoded) with the string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" but ignoring any leading and trailing
    // whitespace, the client MUST _Fail the WebSocket Connection_."
    if http::trim(accept) != expected_accept.as_bytes() {
        return Err(HandshakeError::BadAccept);
    }
    // §4.1 (5): "If the response includes a |Sec-WebSocket-Extensions| header field and this header field indicates
    // the use of an extension that was not present in the client's handshake (...), the client MUST _Fail the
    // WebSocket Connection_."
    let accepted = extensions::parse_all(response.headers.all("Sec-WebSocket-Extensions"))?;
    if let Some(unrequested) = accepted
        .iter()
        .find(|a| !extensions.iter().any(|o| o.eq_ignore_ascii_case(&a.name)))
    {
        return Err(HandshakeError::UnrequestedExtension(
            unrequested.name.clone(),
        ));
    }
    // §11.3.4: "the |Sec-WebSocket-Protocol| header field MUST NOT appear more than once in an HTTP response."
    if let Some(protocol) = response.headers.single("Sec-WebSocket-Protocol")? {
        let protocol = String::from_utf8_lossy(http::trim(protocol)).into_owned();
        // §4.1 (6): "If the response includes a |Sec-WebSocket-Protocol| header field and this header field
        // indicates the use of a subprotocol that was not present in the client's handshake (...), the client MUST
        // _Fail the WebSocket Connection_."
        if !protocols.contains(&protocol) {
            return Err(HandshakeError::UnrequestedProtocol(protocol));
        }
        response.protocol = Some(protocol);
    }
    response.extensions = accepted;
    Ok(response)
}

/// The server's validated 101 response.
///
/// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) and
/// [§4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    version: u8,
    headers: http::Fields,
    protocol: Option<String>,
    extensions: Vec<Extension>,
}

impl Response {
    /// The status code (always 101 once validated).
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// All header fields in order, as (name as sent, raw value); e.g. for cookies set during the handshake.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter()
    }

    /// The first header named `name` (ASCII case-insensitive), raw.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.first(name)
    }

    /// The _Subprotocol In Use_: the server's `Sec-WebSocket-Protocol`, if any.
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
    #[must_use]
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The _Extensions In Use_, in the server's order (the order they apply to data, §9.1).
    ///
    /// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) and
    /// [§9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1).
    #[must_use]
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
}
