//! The crate's only `unsafe` code, kept in one small module.
#![allow(unsafe_code)]

/// `&str` over bytes that were validated as UTF-8 when the [`Text`](crate::Text) was made.
///
/// Checking again on every access would cost a full pass over the payload each time the
/// application looks at a text message.
pub(crate) fn str_from_validated_utf8(bytes: &[u8]) -> &str {
    debug_assert!(core::str::from_utf8(bytes).is_ok());
    // SAFETY: every `Text` is built from bytes that passed `core::str::from_utf8`
    // (`Text::from_utf8`, `From<String>`, `From<&str>`, `from_static`) or the connection's
    // `Utf8Validator` (simdutf8's `compat::from_utf8`, plus `core::str::from_utf8` for sequences
    // split between pieces), which accepts exactly what `core::str::from_utf8` accepts (tested
    // against it for every split point, in the proptests and by the `utf8` fuzz target). `Text`
    // has no API that mutates its bytes.
    unsafe { core::str::from_utf8_unchecked(bytes) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn validated_text_reads_back() {
        assert_eq!(super::str_from_validated_utf8("héllo".as_bytes()), "héllo");
    }
}
