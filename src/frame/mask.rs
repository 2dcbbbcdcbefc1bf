//! Masking and unmasking payloads in place (RFC 6455 §5.3).

/// A 4-byte masking key (RFC 6455 §5.3).
///
/// See [RFC 6455 §5.3](https://www.rfc-editor.org/rfc/rfc6455#section-5.3).
pub type MaskKey = [u8; 4];

/// XORs `buf` with the masking key, in place. Masking and unmasking are the same operation.
///
/// `offset` is the position of `buf[0]` within the frame's payload, so a payload can be unmasked
/// chunk by chunk as it arrives: §5.3, "octet i of the transformed data is the XOR of octet i of
/// the original data with octet at index i modulo 4 of the masking key".
///
/// The work is done eight bytes at a time on native words; the compiler turns the loop into
/// vector instructions (see `benches/mask.rs`, which compares it with `memcpy`). A long buffer is
/// first masked byte by byte up to a cache-line boundary, so that no vector load or store spans
/// two lines (a payload read with its frame header starts a few bytes past its allocation's
/// alignment; BENCHMARKS.md, "masking", has what split stores cost).
///
/// See [RFC 6455 §5.3](https://www.rfc-editor.org/rfc/rfc6455#section-5.3).
pub fn apply_mask(buf: &mut [u8], key: MaskKey, offset: usize) {
    let mut k = key;
    k.rotate_left(offset % 4);
    let head_len = if buf.len() >= ALIGN_FROM {
        // `align_offset` may answer "cannot" (usize::MAX): then the whole buffer goes bytewise.
        buf.as_ptr().align_offset(ALIGN).min(buf.len())
    } else {
        0
    };
    let (head, body) = buf.split_at_mut(head_len);
    mask_bytes(head, k);
    k.rotate_left(head_len % 4);
    mask_words(body, k);
}

/// The alignment [`apply_mask`] brings long buffers to: a cache line, which is also a multiple of
/// every vector width the loop may be compiled to.
const ALIGN: usize = 64;

/// Buffers shorter than this are masked from their first byte, aligned or not: the unaligned
/// head would cost more than the split accesses it saves.
const ALIGN_FROM: usize = 256;

/// `buf[i] ^= k[i % 4]`, eight bytes at a time.
fn mask_words(buf: &mut [u8], k: MaskKey) {
    let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, hence of 4: the key phase is `k` again.
    mask_bytes(chunks.into_remainder(), k);
}

/// `buf[i] ^= k[i % 4]`.
fn mask_bytes(buf: &mut [u8], k: MaskKey) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
}

/// The byte-at-a-time definition of §5.3, kept as the reference the fast path is tested against.
#[doc(hidden)]
pub fn apply_mask_naive(buf: &mut [u8], key: MaskKey, offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn fast_mask_matches_naive_at_every_offset_and_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..70 {
            for offset in 0..8 {
                let data: Vec<u8> = (0..len as u8).map(|x| x.wrapping_mul(31)).collect();
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast, key, offset);
                apply_mask_naive(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn fast_mask_matches_naive_wherever_a_long_buffer_starts() {
        // Long buffers are masked bytewise up to a cache line, then by words: every start within
        // a line, every key phase, lengths around the threshold and with ragged ends.
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..1200u32).map(|x| (x * 7 + 3) as u8).collect();
        for start in 0..ALIGN + 1 {
            for len in [ALIGN_FROM - 1, ALIGN_FROM, ALIGN_FROM + 5, 1031] {
                for offset in 0..4 {
                    let mut fast = data.clone();
                    let mut slow = data.clone();
                    apply_mask(&mut fast[start..start + len], key, offset);
                    apply_mask_naive(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn masking_in_chunks_equals_masking_whole() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut parts = data;
        let (a, rest) = parts.split_at_mut(7);
        let (b, c) = rest.split_at_mut(13);
        apply_mask(a, key, 0);
        apply_mask(b, key, 7);
        apply_mask(c, key, 20);
        assert_eq!(whole, parts);
    }
}
