//! Incremental UTF-8 validation across frames (RFC 6455 §5.6, §8.1).

/// Validates a text message piece by piece, as its bytes arrive.
///
/// §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream
/// is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_."
/// [`feed`](Self::feed) fails as soon as the bytes seen so far can no longer be the start of valid
/// UTF-8, so a bad byte in the middle of a large frame is reported before the rest arrives.
/// A sequence split between two pieces (or two frames) is carried over in at most 3 bytes.
///
/// See [RFC 6455 §8.1](https://www.rfc-editor.org/rfc/rfc6455#section-8.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

/// The bytes given to a [`Utf8Validator`] are not UTF-8 (RFC 6455 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl core::fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("invalid utf-8")
    }
}

/// Length of the sequence a valid leading byte starts (only called on bytes `from_utf8` accepted
/// as the start of an incomplete sequence, so 2, 3 or 4).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Self {
            pending: [0; 4],
            pending_len: 0,
        }
    }

    /// Validates the next piece of the message.
    ///
    /// Fails as soon as the bytes seen so far cannot begin any valid UTF-8 string.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let need = sequence_len(self.pending[0]) - have;
            let take = need.min(input.len());
            self.pending[have..have + take].copy_from_slice(&input[..take]);
            let len = have + take;
            input = &input[take..];
            match core::str::from_utf8(&self.pending[..len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; `input` is exhausted.
                    self.pending_len = len as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        // simdutf8's `compat` flavour reports `valid_up_to` and `error_len` as `std` does.
        match simdutf8::compat::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &input[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the message: fails if it stopped in the middle of a sequence (RFC 6455 §8.1).
    pub fn finish(&self) -> Result<(), InvalidUtf8> {
        if self.pending_len == 0 {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Whether the bytes seen so far end in the middle of a sequence.
    pub fn is_incomplete(&self) -> bool {
        self.pending_len != 0
    }
}

/// Validates `input` in one piece: a convenience over [`Utf8Validator`].
pub fn validate(input: &[u8]) -> Result<(), InvalidUtf8> {
    let mut v = Utf8Validator::new();
    v.feed(input)?;
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_everywhere(bytes: &[u8]) -> bool {
        let whole = core::str::from_utf8(bytes).is_ok();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut v = Utf8Validator::new();
                let ok = v.feed(&bytes[..i]).is_ok()
                    && v.feed(&bytes[i..j]).is_ok()
                    && v.feed(&bytes[j..]).is_ok()
                    && v.finish().is_ok();
                assert_eq!(ok, whole, "{bytes:02x?} split at {i},{j}");
            }
        }
        whole
    }

    #[test]
    fn agrees_with_std_for_any_split() {
        assert!(split_everywhere("κόσμε".as_bytes()));
        assert!(split_everywhere("Hello-µ@ßöäüàá-UTF-8!!".as_bytes()));
        assert!(split_everywhere("\u{10FFFF}\u{10000}a\u{7FF}".as_bytes()));
        // A 3-byte sequence completed by a piece that goes on with more sequences.
        assert!(split_everywhere("€ü\u{800}\u{10000}".as_bytes()));
        assert!(!split_everywhere(
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"
        ));
        assert!(!split_everywhere(b"\xf4\x90\x80\x80"));
        assert!(!split_everywhere(b"\xc0\xaf"));
        assert!(!split_everywhere(b"ab\xe2\x82"));
    }

    #[test]
    fn fails_fast_on_a_prefix_that_cannot_become_valid() {
        // §8.1 with Autobahn 6.4.x in mind: 0xF4 0x90 is already beyond U+10FFFF.
        let mut v = Utf8Validator::new();
        assert!(v
            .feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
            .is_ok());
        assert_eq!(v.feed(b"\xf4\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn a_message_ending_inside_a_sequence_is_invalid() {
        let mut v = Utf8Validator::new();
        assert!(!v.is_incomplete());
        assert!(v.feed(b"a\xe2\x82").is_ok());
        assert!(v.is_incomplete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
        assert!(v.feed(b"\xac").is_ok());
        assert!(!v.is_incomplete());
    }

    #[test]
    fn invalid_utf8_displays_as_such() {
        assert_eq!(alloc::format!("{InvalidUtf8}"), "invalid utf-8");
    }
}
