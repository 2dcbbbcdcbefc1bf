//! Inflating arbitrary compressed data (RFC 7692 §7.2.2) with a message limit: never a panic,
//! never more than `limit` + 1 bytes of output for a message, `TooBig` exactly when the inflated
//! message would pass the limit; and anything we compress inflates back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::deflate::{DeflateCodec, DeflateConfig, DeflateError, Negotiated};
use rfc6455::Role;

fuzz_target!(|data: &[u8]| {
    let [limit_byte, split, rest @ ..] = data else {
        return;
    };
    let limit = usize::from(*limit_byte) * 97;
    let config = DeflateConfig::default();

    // Arbitrary bytes as one compressed message in two frames.
    let mut codec = DeflateCodec::new(Negotiated::default(), Role::Server, &config);
    let cut = usize::from(*split).min(rest.len());
    let mut out = Vec::new();
    let first = codec.decompress(&rest[..cut], false, &mut out, limit);
    assert!(
        out.len() <= limit + 1,
        "{} bytes out for a limit of {limit}",
        out.len()
    );
    if first.is_ok() {
        let second = codec.decompress(&rest[cut..], true, &mut out, limit);
        assert!(
            out.len() <= limit + 1,
            "{} bytes out for a limit of {limit}",
            out.len()
        );
        match second {
            Ok(()) => assert!(
                out.len() <= limit,
                "{} bytes accepted over {limit}",
                out.len()
            ),
            Err(DeflateError::TooBig { .. } | DeflateError::Corrupt) => {}
            Err(other) => panic!("inflating gave a negotiation error: {other:?}"),
        }
    }

    // What we compress comes back, whatever the payload.
    let mut sender = DeflateCodec::new(Negotiated::default(), Role::Client, &config);
    let mut receiver = DeflateCodec::new(Negotiated::default(), Role::Server, &config);
    let mut compressed = Vec::new();
    sender.compress(rest, &mut compressed);
    let mut back = Vec::new();
    receiver
        .decompress(&compressed, true, &mut back, rest.len())
        .expect("our own output inflates within its size");
    assert_eq!(back, rest);
});
