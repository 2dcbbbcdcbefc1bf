//! From an opening handshake to a [`Connection`]: what both adapters (and any other driver) do
//! once the HTTP part is parsed, including the negotiation of the extensions the [`Config`]
//! enables (permessage-deflate, feature `deflate`).
//!
//! The handshake ([`handshake`](crate::handshake)) and the framing state machine
//! ([`Connection`]) stay separate; this module joins them, so that a driver that did the
//! handshake elsewhere (hyper, axum, HTTP/2) can still build a connection by hand with
//! [`Connection::new`].
#![cfg(feature = "std")]

use alloc::vec::Vec;

use crate::config::Config;
use crate::connection::Connection;
use crate::handshake::{Accept, ClientHandshake, ClientRequest, HandshakeError, Request, Response};
use crate::Role;

/// Server side: answers `request` (§4.2.1 checks, the application's `decide`, the extensions
/// `config` enables) and, when the answer is a 101, the connection that follows it.
///
/// Write the returned response in every case; feed the connection the bytes that followed the
/// request ([`ServerHandshake::take_leftover`](crate::handshake::ServerHandshake::take_leftover)).
/// A driver that waits for the response to be written before it starts the connection can
/// call [`answer`] instead and keep only the small [`Accepted`] meanwhile.
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
pub fn accept<F>(
    request: &Request,
    config: Config,
    decide: F,
) -> (Vec<u8>, Result<Connection, HandshakeError>)
where
    F: FnOnce(&Request) -> Result<Accept, Vec<u8>>,
{
    let (response, accepted) = answer(request, config, decide);
    (response, accepted.map(Accepted::into_connection))
}

/// Server side, as [`accept`], but the 101 comes with what the connection needs rather than the
/// connection itself: an [`Accepted`] is the configuration and the negotiated extension
/// parameters (about 150 bytes), a [`Connection`] about 600. An async driver holds it across
/// the write of the response, so every connection's task is that much smaller for its whole
/// life (a future is as large as its largest state).
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
pub fn answer<F>(
    request: &Request,
    config: Config,
    decide: F,
) -> (Vec<u8>, Result<Accepted, HandshakeError>)
where
    F: FnOnce(&Request) -> Result<Accept, Vec<u8>>,
{
    #[cfg(feature = "deflate")]
    let deflate = config.deflate.as_ref().and_then(|d| {
        let offers = request.extensions().ok()?;
        d.server_accept_offers(&offers)
    });
    #[cfg(feature = "deflate")]
    let negotiated = deflate.as_ref().map(|(_, n)| *n);
    let answer = request.answer(|request| {
        #[allow(unused_mut)]
        let mut accept = decide(request)?;
        #[cfg(feature = "deflate")]
        if let Some((response, _)) = deflate {
            accept = accept.extension(response);
        }
        Ok(accept)
    });
    let accepted = answer.result.map(|()| Accepted {
        config,
        #[cfg(feature = "deflate")]
        negotiated,
    });
    (answer.response, accepted)
}

/// A request the server answered with 101 ([`answer`]): what the [`Connection`] that follows
/// needs, until it is made with [`into_connection`](Self::into_connection).
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
    /// The server's connection, with the extensions agreed on (§9).
    ///
    /// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
    pub fn into_connection(self) -> Connection {
        #[allow(unused_mut)]
        let mut connection = Connection::new(Role::Server, self.config);
        #[cfg(feature = "deflate")]
        if let (Some(negotiated), Some(d)) = (self.negotiated, connection.config().deflate.clone())
        {
            let codec = crate::deflate::DeflateCodec::new(negotiated, Role::Server, &d);
            connection = connection.with_deflate(codec);
        }
        connection
    }
}

/// Client side, first half: the handshake and the request bytes to send for `request`, with the
/// offers of the extensions `config` enables.
///
/// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
pub fn client_handshake(request: &ClientRequest, config: &Config) -> (ClientHandshake, Vec<u8>) {
    #[cfg(feature = "deflate")]
    if let Some(d) = &config.deflate {
        let request = request.clone().extension(d.client_offer());
        return ClientHandshake::new(&request, config.handshake_limits);
    }
    ClientHandshake::new(request, config.handshake_limits)
}

/// Client side, second half: the connection for the server's validated 101 `response`, with the
/// extensions it accepted. An extension response that breaks the extension's rules fails the
/// connection (RFC 7692 §7: "the client MUST _Fail the WebSocket Connection_").
///
/// See [RFC 6455 §4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1).
pub fn client_connection(
    response: &Response,
    config: Config,
) -> Result<Connection, HandshakeError> {
    #[allow(unused_mut)]
    let mut connection = Connection::new(Role::Client, config);
    #[cfg(feature = "deflate")]
    if let Some(d) = connection.config().deflate.clone() {
        match d.client_accept_extensions(response.extensions()) {
            Ok(Some(negotiated)) => {
                let codec = crate::deflate::DeflateCodec::new(negotiated, Role::Client, &d);
                connection = connection.with_deflate(codec);
            }
            Ok(None) => {}
            Err(e) => return Err(HandshakeError::ExtensionResponse(alloc::format!("{e}"))),
        }
    }
    let _ = response;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{HandshakeLimits, ServerHandshake};
    use crate::Status;

    /// The request of RFC 6455 §1.3, with `extra` headers.
    fn request(extra: &str) -> Request {
        let text = alloc::format!(
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        let mut handshake = ServerHandshake::new(HandshakeLimits::default());
        match handshake.receive(text.as_bytes()) {
            Ok(Status::Complete(request)) => request,
            other => panic!("request not parsed: {other:?}"),
        }
    }

    #[test]
    fn an_accepted_request_gets_a_101_and_the_server_connection_after_it() {
        let (response, accepted) = answer(&request(""), Config::default(), |_| Ok(Accept::new()));
        assert!(response.starts_with(b"HTTP/1.1 101"));
        // §4.2.2: the accept key of the RFC's own example.
        let text = core::str::from_utf8(&response).unwrap();
        assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        let conn = accepted.expect("accepted").into_connection();
        assert_eq!(conn.role(), Role::Server);
        assert!(!conn.is_compressed());
    }

    #[test]
    fn a_request_the_application_rejects_gets_its_response_and_no_connection() {
        let refusal = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n".to_vec();
        let (response, accepted) =
            answer(&request(""), Config::default(), |_| Err(refusal.clone()));
        assert_eq!(response, refusal);
        assert!(accepted.is_err());
        let (response, conn) = accept(&request(""), Config::default(), |_| Err(refusal.clone()));
        assert_eq!(response, refusal);
        assert!(conn.is_err());
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn permessage_deflate_offered_and_enabled_is_on_in_the_connection_made_after_the_101() {
        let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
        let config = Config {
            deflate: Some(crate::deflate::DeflateConfig::default()),
            ..Config::default()
        };
        let (response, accepted) = answer(&request(offer), config, |_| Ok(Accept::new()));
        let text = core::str::from_utf8(&response)
            .unwrap()
            .to_ascii_lowercase();
        assert!(text.contains("sec-websocket-extensions: permessage-deflate"));
        assert!(accepted.unwrap().into_connection().is_compressed());
        // Not enabled in our config: the offer is declined.
        let (_, conn) = accept(&request(offer), Config::default(), |_| Ok(Accept::new()));
        assert!(!conn.unwrap().is_compressed());
    }
}
