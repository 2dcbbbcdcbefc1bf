//! `rfc6455::utf8::Utf8Validator` (RFC 6455 §8.1) fed arbitrary bytes in arbitrary pieces agrees
//! with `std::str::from_utf8`: it fails on exactly the first piece after which the bytes seen so
//! far can no longer begin valid UTF-8 (std reports an `error_len`), never earlier, never later;
//! `is_incomplete` tells a valid prefix that ends inside a sequence; `finish` accepts exactly
//! valid UTF-8. Input: two piece-size bytes, then the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::utf8::{validate, Utf8Validator};

/// 0x00-0xEF: pieces of 1-16 bytes (splits inside sequences); 0xF0-0xFF: the rest at once.
fn piece_size(b: u8) -> usize {
    if b < 0xF0 {
        1 + usize::from(b & 0x0F)
    } else {
        usize::MAX
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, bytes @ ..] = data else { return };
    let sizes = [piece_size(*a), piece_size(*b)];
    let whole = std::str::from_utf8(bytes);
    assert_eq!(validate(bytes).is_ok(), whole.is_ok());

    let mut v = Utf8Validator::new();
    let mut end = 0;
    for piece in rfc6455_fuzz::chunks(bytes, &sizes) {
        end += piece.len();
        let seen = std::str::from_utf8(&bytes[..end]);
        // std: error_len() == None means "valid so far, ends inside a sequence".
        let broken = matches!(seen, Err(e) if e.error_len().is_some());
        match v.feed(piece) {
            Ok(()) => {
                assert!(!broken, "accepted {:02x?} ({seen:?})", &bytes[..end]);
                assert_eq!(v.is_incomplete(), seen.is_err(), "is_incomplete at {end}");
            }
            Err(_) => {
                assert!(broken, "rejected a valid prefix {:02x?}", &bytes[..end]);
                return;
            }
        }
    }
    assert_eq!(v.finish().is_ok(), whole.is_ok());
});
