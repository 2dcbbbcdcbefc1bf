//! `ServerHandshake` (RFC 6455 §4.2.1) fed an arbitrary request in arbitrary chunks: never panics,
//! gives the same answer and leftover for any chunking, buffers at most `max_bytes`. A request
//! that validates is answered by `Request::answer` with a 101 that a `ClientHandshake` using that
//! key (and offering the chosen subprotocol and extension) accepts; every error's HTTP response,
//! and an application's `Reject`, is a well-formed response with the chosen status. Input: a limits byte (`limits_from`), three
//! chunk-size bytes, then the request.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use rfc6455::handshake::{
    accept_key, Accept, ClientHandshake, ClientRequest, HandshakeError, HandshakeLimits, Reject,
    Request, ServerHandshake,
};
use rfc6455::{Config, Status};
use rfc6455_fuzz::{feed_whole_and_chunked, is_token, limits_from, split_spec};

/// The server's one path, accepting with `accept`: the 101, or the error (whose response the
/// answer holds instead).
fn answer_101(req: &Request, accept: &Accept) -> Result<Vec<u8>, HandshakeError> {
    let answer = req.answer(Config::default(), |_| Ok(accept.clone()));
    match answer.result {
        Ok(_) => Ok(answer.response),
        Err(e) => {
            assert_eq!(Some(answer.response), e.response());
            Err(e)
        }
    }
}

/// An error response must be one HTTP response with the error's status and a body of exactly
/// Content-Length bytes (checked by parsing it as a client would).
fn check_error_response(e: &HandshakeError) {
    let Some(status) = e.status() else { return };
    let response = e.response().expect("a server error has a response");
    check_response(&response, status);
}

/// `response` is one HTTP response with `status` and a body of exactly Content-Length bytes.
fn check_response(response: &[u8], status: u16) {
    let request = ClientRequest::new("ws://example.com/").unwrap();
    let (mut client, _) = ClientHandshake::with_key(&request, [0; 16], Config::default());
    assert_eq!(
        client.receive(response),
        Err(HandshakeError::BadStatus(status))
    );
    let body = client.take_leftover();
    let text = String::from_utf8(response.to_vec()).expect("error responses are text");
    assert!(text.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
    assert!(text.contains("\r\nConnection: close\r\n"));
    assert!(text.ends_with('\n') && body.ends_with(b"\n"));
}

fn check_request(req: &Request, limits: &HandshakeLimits) {
    // The accessors never panic and agree with each other.
    assert!(req.headers().count() <= limits.max_headers);
    assert!(req.target().contains(req.path()) || req.path() == "/");
    if let Some(q) = req.query() {
        assert!(req.target().ends_with(q));
    }
    let _ = (req.method(), req.http_version(), req.host(), req.origin());
    let _ = (
        req.content_length(),
        req.is_upgrade(),
        req.header_str("Upgrade"),
    );
    let protocols = req.protocols();
    let extensions = req.extensions();

    let key = match req.validate() {
        Ok(key) => key.to_owned(),
        Err(e) => {
            assert_eq!(answer_101(req, &Accept::new()), Err(e.clone()));
            return check_error_response(&e);
        }
    };
    // An application's refusal, with a header taken from the request, is written as chosen or
    // refused as a whole (a 500).
    let (name, value) = req.headers().next().unwrap_or(("X-A", b"b"));
    let value = String::from_utf8_lossy(value);
    let answer = req.answer(Config::default(), |_| {
        Err(Reject::new(403).header(name, &value).body("no\n"))
    });
    match answer.result {
        Err(HandshakeError::Rejected) => check_response(&answer.response, 403),
        Err(HandshakeError::InvalidHeader) => check_response(&answer.response, 500),
        other => panic!("a Reject answered with {other:?}"),
    }
    assert_eq!(key.len(), 24, "Sec-WebSocket-Key of 24 characters");
    let extensions = extensions.expect("validate() checked the extensions");

    // Choose what a server would: the first token subprotocol, the first extension offered.
    let protocol = protocols.iter().find(|p| is_token(p)).cloned();
    let extension = extensions.first().cloned();
    let mut accept = Accept::new();
    if let Some(p) = &protocol {
        accept = accept.protocol(p);
    }
    let (response, extension) = match &extension {
        Some(ext) => match answer_101(req, &accept.clone().extension(ext.clone())) {
            Ok(r) => (r, Some(ext.clone())),
            // An offered extension whose parameters cannot be written back.
            Err(HandshakeError::InvalidHeader) => (answer_101(req, &accept).unwrap(), None),
            Err(e) => panic!("answer() with an offered extension failed: {e}"),
        },
        None => (answer_101(req, &accept).unwrap(), None),
    };
    let expected = format!(
        "\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key.as_bytes())
    );
    assert!(
        response
            .windows(expected.len())
            .any(|w| w == expected.as_bytes()),
        "no {expected:?} in the 101"
    );

    // A client whose key is this one (when the key is base64 as a client writes it) accepts it.
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(nonce) = b64.decode(&key) else { return };
    let Ok(nonce) = <[u8; 16]>::try_from(nonce) else {
        return;
    };
    if b64.encode(nonce) != key {
        return;
    }
    let mut client_request = ClientRequest::new("ws://example.com/").unwrap();
    if let Some(p) = &protocol {
        client_request = client_request.protocol(p);
    }
    if let Some(e) = &extension {
        client_request = client_request.extension(e.clone());
    }
    let (mut client, _) = ClientHandshake::with_key(&client_request, nonce, Config::default());
    match client.receive(&response) {
        Ok(Status::Complete(r)) => {
            assert_eq!(r.status(), 101);
            assert_eq!(r.protocol(), protocol.as_deref());
            assert_eq!(r.extensions(), extension.as_slice(), "extension round trip");
        }
        other => panic!(
            "client rejected our 101: {other:?}\n{}",
            String::from_utf8_lossy(&response)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let [limits, rest @ ..] = data else { return };
    let limits = limits_from(*limits);
    let Some((sizes, input)) = split_spec(rest, 3) else {
        return;
    };
    let (result, _) =
        feed_whole_and_chunked(|| ServerHandshake::new(limits), limits, input, &sizes);
    match result {
        Ok(Status::Complete(req)) => check_request(&req, &limits),
        Ok(Status::Partial) => {}
        Err(e) => {
            assert!(
                e.status().is_some(),
                "server-side error without a status: {e:?}"
            );
            check_error_response(&e);
        }
    }
});
