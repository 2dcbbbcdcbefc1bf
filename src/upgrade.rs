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
    let connection = answer.result.map(|()| {
        #[allow(unused_mut)]
        let mut connection = Connection::new(Role::Server, config);
        #[cfg(feature = "deflate")]
        if let (Some(negotiated), Some(d)) = (negotiated, connection.config().deflate.clone()) {
            let codec = crate::deflate::DeflateCodec::new(negotiated, Role::Server, &d);
            connection = connection.with_deflate(codec);
        }
        connection
    });
    (answer.response, connection)
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
