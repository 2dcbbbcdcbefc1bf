//! Every example of RFC 6455 §5.7, byte for byte, in both directions: what our connection
//! decodes from the RFC's bytes, and what it encodes (with the RFC's masking key injected for the
//! masked examples).

#[path = "suite/common/mod.rs"]
mod common;

use common::{client, client_with_keys, drain, feed, server};
use rfc6455::frame::{FrameHeader, Opcode};
use rfc6455::{Event, Message, Status};

/// §5.7: the masking key of the masked examples.
const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// "A single-frame unmasked text message ... (contains "Hello")"
const UNMASKED_HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// "A single-frame masked text message ... (contains "Hello")"
const MASKED_HELLO: &[u8] = &[
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
/// "A fragmented unmasked text message": "Hel", then "lo".
const FRAGMENT_HEL: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c];
const FRAGMENT_LO: &[u8] = &[0x80, 0x02, 0x6c, 0x6f];
/// "Unmasked Ping request and masked Ping response"
const UNMASKED_PING: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const MASKED_PONG: &[u8] = &[
    0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

/// "256 bytes binary message in a single unmasked frame": 0x82 0x7E 0x0100 [256 bytes]
fn binary_256() -> (Vec<u8>, Vec<u8>) {
    let data: Vec<u8> = (0..=255u8).collect();
    let mut frame = vec![0x82, 0x7E, 0x01, 0x00];
    frame.extend_from_slice(&data);
    (data, frame)
}

/// "64KiB binary message in a single unmasked frame": 0x82 0x7F 0x0000000000010000 [65536 bytes]
fn binary_64k() -> (Vec<u8>, Vec<u8>) {
    let data: Vec<u8> = (0..65536u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let mut frame = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0, 0];
    frame.extend_from_slice(&data);
    (data, frame)
}

/// Feeds `bytes` whole and then one byte at a time to fresh connections made by `make`, and
/// checks both give `expected`.
#[track_caller]
fn decodes_to(make: fn() -> rfc6455::Connection, bytes: &[u8], expected: &[Event]) {
    let mut whole = make();
    assert_eq!(feed(&mut whole, bytes), expected, "fed whole");
    let mut bytewise = make();
    let mut events = Vec::new();
    for b in bytes {
        events.extend(feed(&mut bytewise, std::slice::from_ref(b)));
    }
    assert_eq!(events, expected, "fed byte by byte");
}

// ---------------------------------------------------------------- the codec on its own

#[test]
fn frame_headers_of_every_example_decode_and_reencode_exactly() {
    let (_, b256) = binary_256();
    let (_, b64k) = binary_64k();
    /// The frame's bytes, then its header: FIN, opcode, masking key, payload length, header length.
    type Row<'a> = (&'a [u8], bool, Opcode, Option<[u8; 4]>, u64, usize);
    #[rustfmt::skip]
    let table: [Row<'_>; 8] = [
        (UNMASKED_HELLO, true, Opcode::Text, None, 5, 2),
        (MASKED_HELLO, true, Opcode::Text, Some(RFC_KEY), 5, 6),
        (FRAGMENT_HEL, false, Opcode::Text, None, 3, 2),
        (FRAGMENT_LO, true, Opcode::Continuation, None, 2, 2),
        (UNMASKED_PING, true, Opcode::Ping, None, 5, 2),
        (MASKED_PONG, true, Opcode::Pong, Some(RFC_KEY), 5, 6),
        (&b256, true, Opcode::Binary, None, 256, 4),
        (&b64k, true, Opcode::Binary, None, 65536, 10),
    ];
    for (bytes, fin, opcode, mask, payload_len, header_len) in table {
        let expected = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len,
        };
        assert_eq!(
            FrameHeader::decode(bytes),
            Ok(Status::Complete((expected, header_len))),
            "{:02x?}",
            &bytes[..header_len]
        );
        assert_eq!(bytes.len() as u64, header_len as u64 + payload_len);
        let mut encoded = Vec::new();
        expected.encode_to_vec(&mut encoded);
        assert_eq!(encoded, &bytes[..header_len]);
    }
}

// ---------------------------------------------------------------- single-frame text

#[test]
fn unmasked_hello_is_decoded_by_a_client() {
    decodes_to(
        client,
        UNMASKED_HELLO,
        &[Event::Message(Message::text("Hello"))],
    );
}

#[test]
fn server_encodes_hello_as_the_unmasked_example() {
    let mut s = server();
    s.send_text("Hello").unwrap();
    assert_eq!(drain(&mut s), UNMASKED_HELLO);
}

#[test]
fn masked_hello_is_decoded_by_a_server() {
    decodes_to(
        server,
        MASKED_HELLO,
        &[Event::Message(Message::text("Hello"))],
    );
}

#[test]
fn client_encodes_hello_as_the_masked_example_with_its_key() {
    let mut c = client_with_keys(&[RFC_KEY]);
    c.send_text("Hello").unwrap();
    assert_eq!(drain(&mut c), MASKED_HELLO);
}

// ---------------------------------------------------------------- fragmented text

#[test]
fn fragmented_hel_lo_is_decoded_as_one_message() {
    let bytes = [FRAGMENT_HEL, FRAGMENT_LO].concat();
    decodes_to(client, &bytes, &[Event::Message(Message::text("Hello"))]);
}

#[test]
fn fragmented_hel_lo_is_not_delivered_before_its_last_fragment() {
    let mut c = client();
    assert_eq!(feed(&mut c, FRAGMENT_HEL), vec![]);
    assert_eq!(
        feed(&mut c, FRAGMENT_LO),
        vec![Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn server_encodes_fragmented_hel_lo_as_the_example() {
    let mut s = server();
    s.send_frame(rfc6455::DataKind::Text, b"Hel", false)
        .unwrap();
    assert_eq!(drain(&mut s), FRAGMENT_HEL);
    s.send_frame(rfc6455::DataKind::Text, b"lo", true).unwrap();
    assert_eq!(drain(&mut s), FRAGMENT_LO);
}

// ---------------------------------------------------------------- ping and pong

#[test]
fn unmasked_ping_is_decoded_by_a_client() {
    decodes_to(
        client,
        UNMASKED_PING,
        &[Event::Ping(rfc6455::Bytes::from_static(b"Hello"))],
    );
}

#[test]
fn server_encodes_ping_hello_as_the_example() {
    let mut s = server();
    s.ping(b"Hello").unwrap();
    assert_eq!(drain(&mut s), UNMASKED_PING);
}

#[test]
fn client_answers_the_example_ping_with_the_example_pong() {
    let mut c = client_with_keys(&[RFC_KEY]);
    assert_eq!(
        feed(&mut c, UNMASKED_PING),
        vec![Event::Ping(rfc6455::Bytes::from_static(b"Hello"))]
    );
    assert_eq!(drain(&mut c), MASKED_PONG);
}

#[test]
fn masked_pong_is_decoded_by_a_server() {
    decodes_to(
        server,
        MASKED_PONG,
        &[Event::Pong(rfc6455::Bytes::from_static(b"Hello"))],
    );
}

// ---------------------------------------------------------------- length encodings

#[test]
fn binary_256_bytes_is_decoded_with_a_16_bit_length() {
    let (data, frame) = binary_256();
    decodes_to(client, &frame, &[Event::Message(Message::binary(data))]);
}

#[test]
fn server_encodes_256_bytes_with_a_16_bit_length() {
    let (data, frame) = binary_256();
    let mut s = server();
    s.send_binary(&data).unwrap();
    assert_eq!(drain(&mut s), frame);
}

#[test]
fn binary_64_kib_is_decoded_with_a_64_bit_length() {
    let (data, frame) = binary_64k();
    let mut c = client();
    assert_eq!(
        feed(&mut c, &frame),
        vec![Event::Message(Message::binary(data.clone()))]
    );
    // In two pieces split inside the 64-bit length, and inside the payload.
    let mut c = client();
    assert_eq!(feed(&mut c, &frame[..5]), vec![]);
    assert_eq!(feed(&mut c, &frame[5..40_000]), vec![]);
    assert_eq!(
        feed(&mut c, &frame[40_000..]),
        vec![Event::Message(Message::binary(data))]
    );
}

#[test]
fn server_encodes_64_kib_with_a_64_bit_length() {
    let (data, frame) = binary_64k();
    let mut s = server();
    s.send_binary(&data).unwrap();
    assert_eq!(drain(&mut s), frame);
}
