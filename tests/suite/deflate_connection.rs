//! permessage-deflate on a live [`Connection`] (RFC 7692 §6, §7.2): RSV1 only on the first frame
//! of a compressed message, inflating within the message limit, 1007 for bad data.
#![cfg(feature = "deflate")]

use crate::common;

use common::{assert_fails_on, conn, drain, drain_frames, feed, parse_frames, Raw};
use rfc6455::deflate::{DeflateCodec, DeflateConfig, Negotiated};
use rfc6455::{Config, Connection, Event, Message, ProtocolError, Role};

fn with_deflate(role: Role, config: Config) -> Connection {
    let codec = DeflateCodec::new(Negotiated::default(), role, &DeflateConfig::default());
    conn(role, config).with_deflate(codec)
}

/// The compressed payload of `text` (a message on its own, fresh context).
fn compressed(payload: &[u8]) -> Vec<u8> {
    let mut codec = DeflateCodec::new(
        Negotiated::default(),
        Role::Client,
        &DeflateConfig::default(),
    );
    let mut out = Vec::new();
    codec.compress(payload, &mut out);
    out
}

fn roles() -> [Role; 2] {
    [Role::Client, Role::Server]
}

#[test]
fn a_compressed_message_is_inflated_and_delivered() {
    for role in roles() {
        let mut c = with_deflate(role, Config::default());
        let text = "Hello, compressed world! ".repeat(20);
        let frame = Raw::text(compressed(text.as_bytes()))
            .rsv(0b100)
            .to(role)
            .bytes();
        assert_eq!(
            feed(&mut c, &frame),
            vec![Event::Message(Message::text(text.as_str()))]
        );
    }
}

#[test]
fn rfc7692_7_2_3_1_hello_example_is_inflated() {
    // RFC 7692 §7.2.3.1: "Hello" compressed is 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00.
    let mut c = with_deflate(Role::Client, Config::default());
    let frame = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(
        feed(&mut c, &frame),
        vec![Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn a_compressed_message_split_across_fragments_is_inflated() {
    for role in roles() {
        let mut c = with_deflate(role, Config::default());
        let data: Vec<u8> = (0..5000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let z = compressed(&data);
        let (a, b) = z.split_at(z.len() / 2);
        let mut wire = Raw::binary(a).rsv(0b100).fin(false).to(role).bytes();
        wire.extend(Raw::cont(b).to(role).bytes());
        assert_eq!(
            feed(&mut c, &wire),
            vec![Event::Message(Message::binary(data))]
        );
    }
}

#[test]
fn rsv1_on_a_continuation_frame_fails_with_1002() {
    // RFC 7692 §6.1: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control frames
    // and non-first fragments of a data message."
    for role in roles() {
        let mut c = with_deflate(role, Config::default());
        let mut wire = Raw::binary(compressed(b"abc"))
            .rsv(0b100)
            .fin(false)
            .to(role)
            .bytes();
        wire.extend(Raw::cont([0u8]).rsv(0b100).to(role).bytes());
        assert_fails_on(&mut c, &wire, ProtocolError::ReservedBits(0b100), 1002);
    }
}

#[test]
fn rsv1_on_a_control_frame_fails_with_1002() {
    for role in roles() {
        let mut c = with_deflate(role, Config::default());
        let wire = Raw::ping(b"x").rsv(0b100).to(role).bytes();
        assert_fails_on(&mut c, &wire, ProtocolError::ReservedBits(0b100), 1002);
    }
}

#[test]
fn rsv1_without_the_extension_fails_with_1002() {
    for role in roles() {
        let mut c = conn(role, Config::default());
        let wire = Raw::text(compressed(b"hi")).rsv(0b100).to(role).bytes();
        assert_fails_on(&mut c, &wire, ProtocolError::ReservedBits(0b100), 1002);
    }
}

#[test]
fn data_that_does_not_inflate_fails_with_1007() {
    for role in roles() {
        let mut c = with_deflate(role, Config::default());
        // BTYPE 11 is reserved (RFC 1951 §3.2.3): an error.
        let wire = Raw::binary([0xff, 0xff, 0xff]).rsv(0b100).to(role).bytes();
        assert_fails_on(&mut c, &wire, ProtocolError::InvalidCompressedData, 1007);
    }
}

#[test]
fn compressed_text_that_inflates_to_invalid_utf8_fails_with_1007() {
    for role in roles() {
        let mut c = with_deflate(role, Config::default());
        let wire = Raw::text(compressed(b"ok \xff not ok"))
            .rsv(0b100)
            .to(role)
            .bytes();
        assert_fails_on(&mut c, &wire, ProtocolError::InvalidUtf8, 1007);
    }
}

#[test]
fn a_bomb_fails_with_1009_at_the_message_limit_not_at_its_inflated_size() {
    // 16 MiB of zeros compresses to a few KiB; with a 64 KiB message limit the connection fails
    // with 1009 once the limit is passed, without inflating the rest.
    let zeros = vec![0u8; 16 << 20];
    let z = compressed(&zeros);
    assert!(z.len() < 64 << 10, "{} bytes", z.len());
    for role in roles() {
        let mut config = Config::default();
        config.max_message_size = 64 << 10;
        let mut c = with_deflate(role, config);
        let wire = Raw::binary(&z).rsv(0b100).to(role).bytes();
        // Inflating stops one byte past the limit: that is the size reported.
        let error = ProtocolError::MessageTooBig {
            len: (64 << 10) + 1,
            max: 64 << 10,
        };
        assert_eq!(feed(&mut c, &wire), vec![Event::Failed(error)]);
        let frames = drain_frames(&mut c);
        assert_eq!(frames.last().and_then(|f| f.close_code()), Some(1009));
    }
}

#[test]
fn messages_at_or_over_the_threshold_are_sent_compressed_and_small_ones_not() {
    for role in roles() {
        let mut c = with_deflate(role, Config::default());
        let big = "x".repeat(1000);
        c.send_text(&big).unwrap();
        c.send_text("tiny").unwrap();
        let frames = drain_frames(&mut c);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].rsv, 0b100, "a 1000-byte message goes compressed");
        assert!(frames[0].payload.len() < 100);
        assert_eq!(
            frames[1].rsv, 0,
            "a 4-byte message stays below the threshold"
        );
    }
}

#[test]
fn buffered_amount_counts_a_compressed_message_queued_behind_another() {
    for role in roles() {
        let mut c = with_deflate(role, Config::default());
        c.send_text("tiny").unwrap();
        c.send_text(&"x".repeat(1000)).unwrap();
        let queued = c.buffered_amount();
        let out = drain(&mut c);
        assert_eq!(queued, out.len(), "{role:?}");
        assert_eq!(c.buffered_amount(), 0);
        let frames = parse_frames(&out);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].rsv, 0b100);
    }
}

#[test]
fn compressed_messages_round_trip_between_two_connections_with_context_takeover() {
    let mut client = with_deflate(Role::Client, Config::default());
    let mut server = with_deflate(Role::Server, Config::default());
    let messages: Vec<String> = (0..20)
        .map(|i| format!("message number {i} ").repeat(10))
        .collect();
    for m in &messages {
        client.send_text(m).unwrap();
    }
    let wire = common::drain(&mut client);
    let got = feed(&mut server, &wire);
    let expected: Vec<Event> = messages
        .iter()
        .map(|m| Event::Message(Message::text(m.as_str())))
        .collect();
    assert_eq!(got, expected);
    for m in &messages {
        server.send_text(m).unwrap();
    }
    let wire = common::drain(&mut server);
    assert_eq!(feed(&mut client, &wire), expected);
}

#[test]
fn stream_frames_mode_delivers_each_frame_inflated() {
    let mut config = Config::default();
    config.stream_frames = true;
    let mut c = with_deflate(Role::Server, config);
    let data = b"abcdefghij".repeat(300);
    let z = compressed(&data);
    let (a, b) = z.split_at(z.len() / 3);
    let mut wire = Raw::binary(a)
        .rsv(0b100)
        .fin(false)
        .to(Role::Server)
        .bytes();
    wire.extend(Raw::cont(b).to(Role::Server).bytes());
    let mut inflated = Vec::new();
    let events = feed(&mut c, &wire);
    assert_eq!(events.len(), 2, "{events:?}");
    for (i, event) in events.into_iter().enumerate() {
        let Event::Frame(frame) = event else {
            panic!("{event:?}")
        };
        assert_eq!(frame.first, i == 0);
        assert_eq!(frame.fin, i == 1);
        inflated.extend_from_slice(&frame.data);
    }
    assert_eq!(inflated, data);
}
