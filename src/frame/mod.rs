//! The base framing protocol (RFC 6455 §5.2): opcodes, frame headers, masking.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```

mod mask;

pub use mask::{apply_mask, apply_mask_naive, MaskKey};

use crate::error::ProtocolError;
use crate::Status;

/// The frame's opcode (RFC 6455 §5.2, §11.8). Reserved opcodes (0x3-0x7, 0xB-0xF) never become
/// an `Opcode`: decoding them is [`ProtocolError::ReservedOpcode`].
///
/// See [RFC 6455 §5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0: a continuation frame of a fragmented message (§5.4).
    Continuation,
    /// 0x1: the first frame of a text message (§5.6).
    Text,
    /// 0x2: the first frame of a binary message (§5.6).
    Binary,
    /// 0x8: a Close control frame (§5.5.1).
    Close,
    /// 0x9: a Ping control frame (§5.5.2).
    Ping,
    /// 0xA: a Pong control frame (§5.5.3).
    Pong,
}

impl Opcode {
    /// Parses the 4-bit opcode; reserved values are an error (§5.2: "If an unknown opcode is
    /// received, the receiving endpoint MUST _Fail the WebSocket Connection_").
    pub fn from_u8(value: u8) -> Result<Self, ProtocolError> {
        Ok(match value {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Control frames have opcodes whose most significant bit is 1 (§5.5).
    pub const fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// The RSV1 bit (0x4 in [`FrameHeader::rsv`]), used by permessage-deflate (RFC 7692).
pub const RSV1: u8 = 0b100;
/// The RSV2 bit (0x2 in [`FrameHeader::rsv`]).
pub const RSV2: u8 = 0b010;
/// The RSV3 bit (0x1 in [`FrameHeader::rsv`]).
pub const RSV3: u8 = 0b001;

/// The largest payload a control frame may carry (§5.5: "All control frames MUST have a
/// payload length of 125 bytes or less").
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A decoded frame header: everything before the payload (RFC 6455 §5.2).
///
/// See [RFC 6455 §5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message (§5.4).
    pub fin: bool,
    /// RSV1, RSV2 and RSV3 as the three low bits (RSV1 = 0b100). Nonzero only with an extension.
    pub rsv: u8,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key, present exactly when the MASK bit is set (§5.3).
    pub mask: Option<MaskKey>,
    /// The payload length in bytes (the 7-, 16- or 64-bit form decoded).
    pub payload_len: u64,
}

/// The caller's buffer is too small for [`FrameHeader::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsufficientSpace {
    /// How many bytes the header needs.
    pub required: usize,
}

impl FrameHeader {
    /// The longest a header can be: 2 + 8 (64-bit length) + 4 (masking key).
    pub const MAX_LEN: usize = 14;

    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(Status::Partial)` without consuming anything when `buf` holds only part of a
    /// header (call again with more bytes), or the header and its encoded length.
    ///
    /// Checks the rules that need nothing but the header: reserved opcodes, the most
    /// significant bit of a 64-bit length (§5.2: "the most significant bit MUST be 0"), and
    /// control frames that are fragmented or longer than 125 bytes (§5.5). Rules that depend
    /// on the connection (masking by role, RSV bits and extensions, fragmentation order, size
    /// limits) are checked by [`Connection`](crate::Connection).
    ///
    /// Non-minimal length encodings (§5.2: "the minimal number of bytes MUST be used") are
    /// accepted, as most implementations do: the rule binds the sender, and the length is
    /// unambiguous either way.
    pub fn decode(buf: &[u8]) -> Result<Status<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(Status::Partial);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode = Opcode::from_u8(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut pos) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(Status::Partial),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(b);
                    let len = u64::from_be_bytes(be);
                    if len >> 63 != 0 {
                        return Err(ProtocolError::LengthTopBitSet);
                    }
                    (len, 10)
                }
                None => return Ok(Status::Partial),
            },
            n => (u64::from(n), 2),
        };
        if opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125 bytes or less and
            // MUST NOT be fragmented."
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(payload_len));
            }
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
        }
        let mask = if masked {
            match buf.get(pos..pos + 4) {
                Some(k) => {
                    pos += 4;
                    Some([k[0], k[1], k[2], k[3]])
                }
                None => return Ok(Status::Partial),
            }
        } else {
            None
        };
        Ok(Status::Complete((
            Self {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// How long the header that starts `buf` is, as far as `buf` tells: 2 until the second byte
    /// is there, then the full length its length and mask bits announce. When
    /// [`decode`](Self::decode) says `Partial`, `needed(buf) - buf.len()` more bytes are needed
    /// (at least; with fewer than 2 bytes the length form is still unknown).
    pub fn needed(buf: &[u8]) -> usize {
        let Some(&b1) = buf.get(1) else {
            return 2;
        };
        let len = match b1 & 0x7F {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        if b1 & 0x80 != 0 {
            len + 4
        } else {
            len
        }
    }

    /// How many bytes [`encode`](Self::encode) writes: 2, 4 or 10, plus 4 with a mask.
    pub const fn encoded_len(&self) -> usize {
        let len = if self.payload_len < 126 {
            2
        } else if self.payload_len <= 0xFFFF {
            4
        } else {
            10
        };
        if self.mask.is_some() {
            len + 4
        } else {
            len
        }
    }

    /// Encodes the header into the start of `dst`, with the minimal length form (§5.2), and
    /// returns how many bytes it wrote.
    ///
    /// Fails, writing nothing, if `dst` is shorter than [`encoded_len`](Self::encoded_len).
    /// A `payload_len` with its top bit set is encoded as-is; it is the caller's to avoid.
    pub fn encode(&self, dst: &mut [u8]) -> Result<usize, InsufficientSpace> {
        let required = self.encoded_len();
        let Some(dst) = dst.get_mut(..required) else {
            return Err(InsufficientSpace { required });
        };
        dst[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = 2;
        if self.payload_len < 126 {
            dst[1] = mask_bit | self.payload_len as u8;
        } else if self.payload_len <= 0xFFFF {
            dst[1] = mask_bit | 126;
            dst[2..4].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
            pos = 4;
        } else {
            dst[1] = mask_bit | 127;
            dst[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
            pos = 10;
        }
        if let Some(key) = self.mask {
            dst[pos..pos + 4].copy_from_slice(&key);
        }
        Ok(required)
    }

    /// Appends the encoded header to `out`.
    pub fn encode_to_vec(&self, out: &mut alloc::vec::Vec<u8>) {
        let mut buf = [0u8; Self::MAX_LEN];
        // A [u8; MAX_LEN] always fits: encoded_len() <= MAX_LEN.
        let n = self.encode(&mut buf).unwrap_or(0);
        out.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn roundtrip(h: FrameHeader) {
        let mut out = Vec::new();
        h.encode_to_vec(&mut out);
        assert_eq!(out.len(), h.encoded_len());
        assert_eq!(
            FrameHeader::decode(&out),
            Ok(Status::Complete((h, out.len())))
        );
        for cut in 0..out.len() {
            assert_eq!(FrameHeader::decode(&out[..cut]), Ok(Status::Partial));
        }
    }

    #[test]
    fn lengths_use_the_minimal_form_and_round_trip() {
        for len in [0, 1, 125, 126, 127, 0xFFFF, 0x1_0000, (1 << 63) - 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                roundtrip(FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: Opcode::Binary,
                    mask,
                    payload_len: len,
                });
            }
        }
    }

    #[test]
    fn rsv_bits_are_sent_in_bits_4_to_6_of_the_first_byte() {
        // §5.2: "RSV1, RSV2, RSV3: 1 bit each", between FIN and the opcode.
        for (rsv, b0) in [(RSV1, 0xC1), (RSV2, 0xA1), (RSV3, 0x91), (0b111, 0xF1)] {
            let h = FrameHeader {
                fin: true,
                rsv,
                opcode: Opcode::Text,
                mask: None,
                payload_len: 0,
            };
            let mut out = Vec::new();
            h.encode_to_vec(&mut out);
            assert_eq!(out, [b0, 0], "rsv {rsv:#05b}");
            roundtrip(h);
        }
    }

    #[test]
    fn a_64_bit_length_with_the_top_bit_set_is_an_error() {
        let mut b = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::decode(&b), Err(ProtocolError::LengthTopBitSet));
        b[2] = 0x7F;
        assert!(matches!(FrameHeader::decode(&b), Ok(Status::Complete(_))));
    }

    #[test]
    fn needed_tells_how_long_a_partial_header_is() {
        assert_eq!(FrameHeader::needed(&[]), 2);
        assert_eq!(FrameHeader::needed(&[0x81]), 2);
        assert_eq!(FrameHeader::needed(&[0x81, 0x05]), 2);
        assert_eq!(FrameHeader::needed(&[0x81, 0x85]), 6);
        assert_eq!(FrameHeader::needed(&[0x82, 0x7E, 0x01]), 4);
        assert_eq!(FrameHeader::needed(&[0x82, 0xFF]), 14);
    }

    #[test]
    fn encode_refuses_a_short_buffer() {
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: Opcode::Text,
            mask: Some([0; 4]),
            payload_len: 300,
        };
        assert_eq!(
            h.encode(&mut [0u8; 7]),
            Err(InsufficientSpace { required: 8 })
        );
    }
}
