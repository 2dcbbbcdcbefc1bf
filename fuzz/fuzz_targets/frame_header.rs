//! `FrameHeader::decode` (RFC 6455 §5.2) on arbitrary bytes: never panics; a decoded header
//! re-encodes (minimal form) to bytes that decode to the same header; the consumed length is at
//! most the input and equals `encoded_len()` when the input used the minimal length form; every
//! shorter prefix is `Partial` or the same answer; errors are framing errors (1002).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::frame::InsufficientSpace;
use rfc6455::{CloseCode, FrameHeader, ProtocolError, Status};

fuzz_target!(|data: &[u8]| {
    let result = FrameHeader::decode(data);
    // Monotonic: a prefix either needs more bytes or already gives the same answer.
    for k in 0..data.len().min(FrameHeader::MAX_LEN + 1) {
        let prefix = FrameHeader::decode(&data[..k]);
        assert!(
            prefix == Ok(Status::Partial) || prefix == result,
            "prefix of {k} bytes: {prefix:?}, whole: {result:?}"
        );
    }
    match result {
        Ok(Status::Partial) => assert!(data.len() < FrameHeader::MAX_LEN),
        Ok(Status::Complete((header, n))) => {
            assert!((2..=FrameHeader::MAX_LEN).contains(&n) && n <= data.len());
            assert!(header.rsv <= 7);
            assert_eq!(header.mask.is_some(), data[1] & 0x80 != 0);
            assert!(header.payload_len < 1 << 63);
            if header.opcode.is_control() {
                assert!(header.fin && header.payload_len <= 125);
            }
            // Only the header's own bytes matter.
            assert_eq!(
                FrameHeader::decode(&data[..n]),
                Ok(Status::Complete((header, n)))
            );
            let minimal = match data[1] & 0x7F {
                126 => header.payload_len >= 126,
                127 => header.payload_len > 0xFFFF,
                _ => true,
            };
            if minimal {
                assert_eq!(n, header.encoded_len());
            } else {
                assert!(n > header.encoded_len());
            }
            // Re-encoding gives the same header; in minimal form, the same bytes.
            let mut buf = [0u8; FrameHeader::MAX_LEN];
            let m = header.encode(&mut buf).unwrap();
            assert_eq!(m, header.encoded_len());
            assert_eq!(
                FrameHeader::decode(&buf[..m]),
                Ok(Status::Complete((header, m)))
            );
            if minimal {
                assert_eq!(&buf[..m], &data[..n]);
            }
            let mut vec = Vec::new();
            header.encode_to_vec(&mut vec);
            assert_eq!(vec, &buf[..m]);
            assert_eq!(
                header.encode(&mut buf[..m - 1]),
                Err(InsufficientSpace { required: m })
            );
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    ProtocolError::ReservedOpcode(_)
                        | ProtocolError::LengthTopBitSet
                        | ProtocolError::ControlFrameTooLong(_)
                        | ProtocolError::FragmentedControlFrame
                ),
                "unexpected header error {e:?}"
            );
            assert_eq!(e.close_code(), CloseCode::PROTOCOL_ERROR);
        }
    }
});
