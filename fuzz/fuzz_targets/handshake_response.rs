//! `ClientHandshake` (RFC 6455 §4.1) fed an arbitrary server response in arbitrary chunks: never
//! panics, same answer and leftover for any chunking, at most `max_bytes` buffered; a response it
//! accepts is a 101 with the exact `Sec-WebSocket-Accept` for its key, `Upgrade: websocket`,
//! `Connection: Upgrade`, and only the subprotocol and extensions it offered. The key is the
//! §1.3 nonce ("the sample nonce"). Input: a limits byte (`limits_from`), three chunk-size bytes,
//! then the response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::handshake::{ClientHandshake, ClientRequest, Extension};
use rfc6455::{Config, Status};
use rfc6455_fuzz::{feed_whole_and_chunked, limits_from, split_spec};

/// §1.3: the accept value for the key "dGhlIHNhbXBsZSBub25jZQ==".
const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &v[start..end]
}

fuzz_target!(|data: &[u8]| {
    let [limits, rest @ ..] = data else { return };
    let limits = limits_from(*limits);
    let Some((sizes, input)) = split_spec(rest, 3) else {
        return;
    };
    let request = ClientRequest::new("ws://server.example.com/chat")
        .unwrap()
        .protocol("chat")
        .protocol("superchat")
        .extension(Extension::new("permessage-deflate").param("client_max_window_bits", None));
    let mut config = Config::default();
    config.handshake_limits = limits;
    let make = || {
        let (client, bytes) =
            ClientHandshake::with_key(&request, *b"the sample nonce", config.clone());
        debug_assert!(bytes.windows(24).any(|w| w == b"dGhlIHNhbXBsZSBub25jZQ=="));
        client
    };
    let (result, _) = feed_whole_and_chunked(make, limits, input, &sizes);
    let Ok(Status::Complete(response)) = result else {
        return;
    };
    assert_eq!(response.status(), 101);
    let accepts: Vec<&[u8]> = response
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Sec-WebSocket-Accept"))
        .map(|(_, v)| trim(v))
        .collect();
    assert_eq!(
        accepts,
        [ACCEPT],
        "accepted without the one right Sec-WebSocket-Accept"
    );
    let upgrade = response.header("Upgrade").map(trim).unwrap_or_default();
    assert!(upgrade.eq_ignore_ascii_case(b"websocket"));
    assert!(response.header("Connection").is_some());
    assert!(matches!(
        response.protocol(),
        None | Some("chat" | "superchat")
    ));
    for e in response.extensions() {
        assert!(
            e.name.eq_ignore_ascii_case("permessage-deflate"),
            "unoffered {e:?}"
        );
    }
});
