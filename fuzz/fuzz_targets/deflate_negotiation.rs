//! The `Sec-WebSocket-Extensions` parser and permessage-deflate negotiation (RFC 6455 §9.1,
//! RFC 7692 §5, §7.1) on arbitrary header values: never a panic; whatever parses serializes
//! back to something that parses to the same extensions; a server's accepted response is always
//! one that a client with the same configuration accepts, with the same parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::deflate::DeflateConfig;
use rfc6455::handshake::parse_extensions;

fn config(flags: u8) -> DeflateConfig {
    let mut c = DeflateConfig::default();
    c.server_no_context_takeover = flags & 1 != 0;
    c.client_no_context_takeover = flags & 2 != 0;
    c.server_max_window_bits = (flags & 4 != 0).then_some(8 + (flags >> 5));
    c.client_max_window_bits = (flags & 8 != 0).then_some(8 + (flags >> 5));
    c
}

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else { return };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(offers) = parse_extensions(value) else {
        return;
    };
    // Display round trip: what we would write parses back to the same extensions.
    let written: Vec<String> = offers.iter().map(ToString::to_string).collect();
    assert_eq!(
        parse_extensions(&written.join(", ")).as_ref(),
        Ok(&offers),
        "{value:?}"
    );

    let server = config(*flags);
    if let Some((response, negotiated)) = server.server_accept_offers(&offers) {
        // The response we would send must be one a client accepts: any client whose offer
        // allowed it (here, a default client, which accepts any valid response).
        let reparsed = parse_extensions(&response.to_string()).expect("our response parses");
        assert_eq!(reparsed, vec![response.clone()]);
        let client = DeflateConfig::default();
        match client.client_accept_response(&response) {
            Ok(agreed) => assert_eq!(
                agreed, negotiated,
                "client and server disagree on {response}"
            ),
            Err(e) => panic!("a default client refuses our response {response}: {e}"),
        }
    }
    // The client side on arbitrary responses: an answer or an error, never a panic.
    let client = config(flags.rotate_left(4));
    let _ = client.client_accept_extensions(&offers);
});
