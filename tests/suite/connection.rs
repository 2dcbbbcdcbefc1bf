//! The rules of RFC 6455 §5.1-§5.6, §6, §7 and §8.1 as the `Connection` state machine applies
//! them, one test per rule, named after it. Failures are checked the way the peer sees them: the
//! exact `ProtocolError` in `Event::Failed`, and the status code of the Close frame the failing
//! side writes (decoded from `data_to_send` by the test harness's own parser).

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use rfc6455::{
    Bytes, CloseCode, CloseFrame, Config, Connection, DataFrame, DataKind, Event, Message,
    ProtocolError, Role, SendError, State,
};

const BOTH: [Role; 2] = [Role::Client, Role::Server];

fn ping_event(payload: &[u8]) -> Event {
    Event::Ping(Bytes::copy_from_slice(payload))
}

fn pong_event(payload: &[u8]) -> Event {
    Event::Pong(Bytes::copy_from_slice(payload))
}

fn text_event(text: &str) -> Event {
    Event::Message(Message::text(text))
}

fn close_event(code: u16, reason: &str) -> Event {
    Event::Close(Some(CloseFrame::new(CloseCode(code), reason)))
}

/// (opcode, fin, payload) of each frame, for compact comparisons.
fn summary(frames: &[WireFrame]) -> Vec<(u8, bool, Vec<u8>)> {
    frames
        .iter()
        .map(|f| (f.opcode, f.fin, f.payload.clone()))
        .collect()
}

fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    edit(&mut c);
    c
}

/// §5.1, §5.3: who masks.
mod masking {
    use super::*;

    #[test]
    fn server_fails_on_unmasked_client_frame() {
        // §5.1: "The server MUST close the connection upon receiving a frame that is not masked.
        // In this case, a server MAY send a Close frame with a status code of 1002."
        for frame in [
            Raw::text("hi"),
            Raw::binary([1]),
            Raw::ping("p"),
            Raw::close(1000, ""),
        ] {
            assert_fails(
                Role::Server,
                &frame.bytes(),
                ProtocolError::UnmaskedClientFrame,
                1002,
            );
        }
    }

    #[test]
    fn client_fails_on_masked_server_frame() {
        // §5.1: "A client MUST close a connection if it detects a masked frame. In this case, it
        // MAY use the status code 1002."
        for key in [TEST_KEY, [0; 4]] {
            for frame in [Raw::text("hi"), Raw::pong(""), Raw::close(1000, "")] {
                assert_fails(
                    Role::Client,
                    &frame.masked(key).bytes(),
                    ProtocolError::MaskedServerFrame,
                    1002,
                );
            }
        }
    }

    #[test]
    fn client_masks_every_frame_with_a_fresh_key() {
        // §5.3: "When preparing a masked frame, the client MUST pick a fresh masking key from the
        // set of allowed 32-bit values."
        let mut c = client();
        for i in 0..500 {
            c.send_text(&format!("message {i}")).unwrap();
        }
        c.send_frame(DataKind::Binary, b"part", false).unwrap();
        c.ping(b"ping").unwrap();
        c.send_frame(DataKind::Binary, b"end", true).unwrap();
        c.pong(b"pong").unwrap();
        c.close(CloseCode::NORMAL, "bye").unwrap();
        let frames = drain_frames(&mut c);
        assert_eq!(frames.len(), 505);
        let keys: HashSet<[u8; 4]> = frames
            .iter()
            .map(|f| f.mask.expect("a client frame went out unmasked"))
            .collect();
        assert_eq!(keys.len(), frames.len(), "a masking key was used twice");
        // The payloads were really XORed with the key in the header.
        let texts: Vec<_> = frames.iter().filter(|f| f.opcode == 0x1).collect();
        assert_eq!(texts.len(), 500);
        for (i, f) in texts.iter().enumerate() {
            assert_eq!(f.payload, format!("message {i}").as_bytes());
        }
        let others: Vec<_> = summary(&frames)
            .into_iter()
            .filter(|f| f.0 != 0x1)
            .collect();
        assert!(others.contains(&(0x9, true, b"ping".to_vec())));
        assert!(others.contains(&(0xA, true, b"pong".to_vec())));
        assert_eq!(frames.last().unwrap().close_code(), Some(1000));
    }

    #[test]
    fn server_never_masks_its_frames() {
        // §5.1: "A server MUST NOT mask any frames that it sends to the client."
        let mut s = server();
        s.send_text("t").unwrap();
        s.send_binary(b"b").unwrap();
        s.send_frame(DataKind::Text, b"f", false).unwrap();
        s.send_frame(DataKind::Text, b"g", true).unwrap();
        s.ping(b"p").unwrap();
        s.pong(b"q").unwrap();
        s.close(CloseCode::NORMAL, "").unwrap();
        let bytes = drain(&mut s);
        let frames = parse_frames(&bytes);
        assert_eq!(frames.len(), 7);
        assert!(frames.iter().all(|f| f.mask.is_none()), "{frames:?}");
        // And a client accepts all of it.
        let events = feed(&mut client(), &bytes);
        assert!(
            !events.iter().any(|e| matches!(e, Event::Failed(_))),
            "{events:?}"
        );
        assert_eq!(events.len(), 6, "{events:?}");
    }
}

/// §5.2: the base framing rules.
mod framing {
    use super::*;

    #[test]
    fn reserved_bits_without_extension_fail_with_1002() {
        // §5.2: "If a nonzero value is received and none of the negotiated extensions defines
        // the meaning of such a nonzero value, the receiving endpoint MUST _Fail the WebSocket
        // Connection_."
        for role in BOTH {
            for rsv in 1..8 {
                let frame = Raw::text("x").rsv(rsv).to(role).bytes();
                assert_fails(role, &frame, ProtocolError::ReservedBits(rsv), 1002);
                let frame = Raw::ping("x").rsv(rsv).to(role).bytes();
                assert_fails(role, &frame, ProtocolError::ReservedBits(rsv), 1002);
            }
        }
    }

    #[test]
    fn reserved_opcodes_fail_with_1002() {
        // §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the
        // WebSocket Connection_."
        for role in BOTH {
            for op in (0x3..=0x7).chain(0xB..=0xF) {
                let frame = Raw::new(op, "x").to(role).bytes();
                assert_fails(role, &frame, ProtocolError::ReservedOpcode(op), 1002);
            }
        }
    }

    #[test]
    fn length_with_the_most_significant_bit_set_fails_with_1002() {
        // §5.2: 64-bit length, "the most significant bit MUST be 0".
        for len in [1 << 63, u64::MAX] {
            let header = Raw::binary([]).declared_len(len).to(Role::Server).header();
            assert_fails(Role::Server, &header, ProtocolError::LengthTopBitSet, 1002);
        }
    }

    #[test]
    fn sent_lengths_use_the_minimal_encoding() {
        // §5.2: "in all cases, the minimal number of bytes MUST be used to encode the length"
        let cases = [
            (0, LenForm::Short),
            (125, LenForm::Short),
            (126, LenForm::Medium),
            (65535, LenForm::Medium),
            (65536, LenForm::Long),
        ];
        for role in BOTH {
            for (len, form) in cases {
                let mut c = conn(role, Config::default());
                c.send_binary(&vec![7; len]).unwrap();
                let frames = drain_frames(&mut c);
                assert_eq!(frames.len(), 1);
                assert_eq!(frames[0].len_form, form, "{len} bytes");
                assert_eq!(frames[0].payload.len(), len);
            }
        }
    }

    #[test]
    fn non_minimal_length_encoding_is_accepted() {
        // A documented choice (FrameHeader::decode): the minimal-length rule binds the sender.
        for form in [LenForm::Medium, LenForm::Long] {
            let frame = Raw::text("Hello").len_form(form).to(Role::Server).bytes();
            assert_eq!(feed(&mut server(), &frame), vec![text_event("Hello")]);
        }
    }

    #[test]
    fn buffered_incoming_counts_bytes_received_but_not_yet_turned_into_events() {
        // §5.2: a frame is its header, then its payload; a frame becomes an event once whole.
        let frame = Raw::text("hello").to(Role::Server).bytes(); // 2 + 4 bytes of header
        let mut s = server();
        assert_eq!(s.buffered_incoming(), 0);
        s.receive(&frame[..8]);
        assert_eq!(s.buffered_incoming(), 8);
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.buffered_incoming(), 2, "the header was read");
        s.receive(&frame[8..]);
        s.receive(&frame);
        assert_eq!(s.buffered_incoming(), 5 + frame.len());
        assert_eq!(s.poll_event(), Some(text_event("hello")));
        assert_eq!(s.buffered_incoming(), frame.len());
        assert_eq!(s.poll_event(), Some(text_event("hello")));
        assert_eq!(s.buffered_incoming(), 0);
    }

    #[test]
    fn text_is_sent_with_opcode_1_and_binary_with_opcode_2() {
        // §5.6 / §6.1: the opcode names the data's interpretation.
        let mut s = server();
        s.send_text("t").unwrap();
        s.send_binary(b"b").unwrap();
        s.send(&Message::text("u")).unwrap();
        s.send(&Message::binary(&b"c"[..])).unwrap();
        assert_eq!(
            summary(&drain_frames(&mut s)),
            vec![
                (0x1, true, b"t".to_vec()),
                (0x2, true, b"b".to_vec()),
                (0x1, true, b"u".to_vec()),
                (0x2, true, b"c".to_vec()),
            ]
        );
    }
}

/// §5.4: fragmentation.
mod fragmentation {
    use super::*;

    #[test]
    fn fragmented_message_is_reassembled() {
        let input = wire(&[
            Raw::text("Hel").fin(false).to(Role::Server),
            Raw::cont("").fin(false).to(Role::Server),
            Raw::cont("lo").fin(false).to(Role::Server),
            Raw::cont("!").to(Role::Server),
            Raw::binary([1, 2]).fin(false).to(Role::Server),
            Raw::cont([3]).to(Role::Server),
        ]);
        assert_eq!(
            feed(&mut server(), &input),
            vec![
                text_event("Hello!"),
                Event::Message(Message::binary(vec![1, 2, 3]))
            ]
        );
    }

    #[test]
    fn continuation_without_start_fails() {
        // §5.4: a continuation frame (opcode 0) only continues a message started with FIN clear.
        for role in BOTH {
            for fin in [true, false] {
                let frame = Raw::cont("x").fin(fin).to(role).bytes();
                assert_fails(role, &frame, ProtocolError::UnexpectedContinuation, 1002);
            }
            // Also right after a complete message.
            let input = wire(&[Raw::text("done").to(role), Raw::cont("x").to(role)]);
            assert_fails_after(
                &mut conn(role, Config::default()),
                &input,
                &[text_event("done")],
                ProtocolError::UnexpectedContinuation,
                1002,
            );
        }
    }

    #[test]
    fn new_data_frame_inside_fragmented_message_fails() {
        // §5.4: "The fragments of one message MUST NOT be interleaved between the fragments of
        // another message unless an extension has been negotiated that can interpret the
        // interleaving."
        for role in BOTH {
            for first in [0x1, 0x2] {
                for second in [0x1, 0x2] {
                    for fin in [true, false] {
                        let input = wire(&[
                            Raw::new(first, "a").fin(false).to(role),
                            Raw::new(second, "b").fin(fin).to(role),
                        ]);
                        assert_fails(role, &input, ProtocolError::ExpectedContinuation, 1002);
                    }
                }
            }
        }
    }

    #[test]
    fn control_frames_may_be_interleaved_with_fragments() {
        // §5.4: "Control frames (see Section 5.5) MAY be injected in the middle of a fragmented
        // message."
        for role in BOTH {
            let input = wire(&[
                Raw::text("Hel").fin(false).to(role),
                Raw::ping("p1").to(role),
                Raw::cont("").fin(false).to(role),
                Raw::pong("p2").to(role),
                Raw::cont("lo").to(role),
            ]);
            let mut c = conn(role, Config::default());
            assert_eq!(
                feed(&mut c, &input),
                vec![ping_event(b"p1"), pong_event(b"p2"), text_event("Hello")]
            );
            assert_eq!(
                summary(&drain_frames(&mut c)),
                vec![(0xA, true, b"p1".to_vec())]
            );
        }
    }

    #[test]
    fn sent_fragments_use_continuation_opcodes_and_fin_on_the_last() {
        // §5.4: "a single frame with the FIN bit clear and an opcode other than 0, followed by
        // zero or more frames with the FIN bit clear and the opcode set to 0, and terminated by a
        // single frame with the FIN bit set and an opcode of 0."
        for (kind, opcode) in [(DataKind::Text, 0x1), (DataKind::Binary, 0x2)] {
            let mut s = server();
            s.send_frame(kind, b"a", false).unwrap();
            s.send_frame(kind, b"b", false).unwrap();
            s.send_frame(kind, b"c", true).unwrap();
            assert_eq!(
                summary(&drain_frames(&mut s)),
                vec![
                    (opcode, false, b"a".to_vec()),
                    (0x0, false, b"b".to_vec()),
                    (0x0, true, b"c".to_vec()),
                ]
            );
        }
    }

    #[test]
    fn no_message_is_sent_inside_a_fragmented_one() {
        // §5.4: "The fragments of one message MUST NOT be interleaved between the fragments of
        // another message"; control frames may be.
        let mut s = server();
        s.send_frame(DataKind::Text, b"a", false).unwrap();
        let queued = s.buffered_amount();
        assert_eq!(s.send_text("x"), Err(SendError::MessageInProgress));
        assert_eq!(s.send_binary(b"x"), Err(SendError::MessageInProgress));
        assert_eq!(
            s.send(&Message::text("x")),
            Err(SendError::MessageInProgress)
        );
        assert_eq!(
            s.send_frame(DataKind::Binary, b"x", true),
            Err(SendError::MessageInProgress)
        );
        assert_eq!(s.buffered_amount(), queued, "a refused send queued bytes");
        s.ping(b"p").unwrap();
        s.send_frame(DataKind::Text, b"b", true).unwrap();
        s.send_text("next").unwrap();
        let frames = summary(&drain_frames(&mut s));
        let data: Vec<_> = frames.iter().filter(|f| f.0 != 0x9).cloned().collect();
        assert_eq!(
            data,
            vec![
                (0x1, false, b"a".to_vec()),
                (0x0, true, b"b".to_vec()),
                (0x1, true, b"next".to_vec()),
            ]
        );
        assert!(frames.contains(&(0x9, true, b"p".to_vec())));
    }
}

/// §5.5: control frames.
mod control {
    use super::*;

    #[test]
    fn control_frame_over_125_bytes_fails_with_1002() {
        // §5.5: "All control frames MUST have a payload length of 125 bytes or less"
        for role in BOTH {
            for frame in [
                Raw::ping([0; 126]),
                Raw::pong([0; 126]),
                Raw::close(1000, [b'a'; 124]),
            ] {
                let bytes = frame.to(role).bytes();
                assert_fails(role, &bytes, ProtocolError::ControlFrameTooLong(126), 1002);
            }
            // A huge declared length fails on the header alone.
            let header = Raw::ping("").declared_len(1 << 40).to(role).header();
            assert_fails(
                role,
                &header,
                ProtocolError::ControlFrameTooLong(1 << 40),
                1002,
            );
            // 125 is fine.
            let frame = Raw::ping([9; 125]).to(role).bytes();
            assert_eq!(
                feed(&mut conn(role, Config::default()), &frame),
                vec![ping_event(&[9; 125])]
            );
        }
    }

    #[test]
    fn fragmented_control_frame_fails_with_1002() {
        // §5.5: "All control frames ... MUST NOT be fragmented."
        for role in BOTH {
            for frame in [Raw::ping("p"), Raw::pong("p"), Raw::close(1000, "")] {
                let bytes = frame.fin(false).to(role).bytes();
                assert_fails(role, &bytes, ProtocolError::FragmentedControlFrame, 1002);
            }
        }
    }

    #[test]
    fn ping_is_answered_with_pong_of_same_payload() {
        // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response";
        // §5.5.3: "A Pong frame sent in response to a Ping frame must have identical
        // 'Application data' as found in the message body of the Ping frame being replied to."
        let long: Vec<u8> = (0..125).collect();
        for role in BOTH {
            for payload in [&b""[..], b"Hello", &long] {
                let mut c = conn(role, Config::default());
                let frame = Raw::ping(payload).to(role).bytes();
                assert_eq!(feed(&mut c, &frame), vec![ping_event(payload)]);
                let frames = drain_frames(&mut c);
                assert_eq!(summary(&frames), vec![(0xA, true, payload.to_vec())]);
                assert_eq!(frames[0].mask.is_some(), role == Role::Client);
            }
        }
    }

    #[test]
    fn pong_coalesces_for_a_flood_of_pings() {
        // §5.5.3: "If an endpoint receives a Ping frame and has not yet sent Pong frame(s) in
        // response to previous Ping frame(s), the endpoint MAY elect to send a Pong frame for only
        // the most recently processed Ping frame." A peer that pings without reading must not
        // make our output queue grow.
        let mut s = server();
        let mut pings = 0;
        let mut most_queued = 0;
        let mut chunk = Vec::new();
        for i in 0..100_000u32 {
            chunk.extend(Raw::ping(i.to_be_bytes()).to(Role::Server).bytes());
            if chunk.len() >= 10_000 || i == 99_999 {
                for event in feed(&mut s, &chunk) {
                    assert!(matches!(event, Event::Ping(_)), "{event:?}");
                    pings += 1;
                }
                chunk.clear();
                most_queued = most_queued.max(s.buffered_amount());
            }
        }
        assert_eq!(pings, 100_000);
        // One Pong each would be 600,000 bytes; a bounded queue stays far below.
        assert!(
            most_queued <= 16 << 10,
            "output grew to {most_queued} bytes"
        );
        let frames = drain_frames(&mut s);
        assert!(frames.iter().all(|f| f.opcode == 0xA), "{frames:?}");
        assert_eq!(
            frames.last().map(|f| f.payload.clone()),
            Some(99_999u32.to_be_bytes().to_vec()),
            "the last Pong answers the last Ping"
        );
    }

    #[test]
    fn a_pong_partly_written_is_completed_not_replaced() {
        let mut s = server();
        let _ = feed(&mut s, &Raw::ping("aaaa").to(Role::Server).bytes());
        let mut out = s.data_to_send()[..3].to_vec();
        s.mark_sent(3);
        let _ = feed(&mut s, &Raw::ping("bbbb").to(Role::Server).bytes());
        let _ = feed(&mut s, &Raw::ping("cccc").to(Role::Server).bytes());
        out.extend(drain(&mut s));
        let frames = summary(&parse_frames(&out));
        assert_eq!(frames.first(), Some(&(0xA, true, b"aaaa".to_vec())));
        assert_eq!(frames.last(), Some(&(0xA, true, b"cccc".to_vec())));
        assert!(frames.len() <= 3, "{frames:?}");
    }

    #[test]
    fn pongs_coalesce_only_once_4_kib_wait_unsent() {
        // §5.5.3 lets a Pong answer only the latest Ping; we use that only once 4 KiB of
        // control frames wait. What already went out does not count.
        let mut s = server();
        let pings = |range: core::ops::Range<u8>| {
            wire(
                &range
                    .map(|i| Raw::ping([i; 125]).to(Role::Server))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(feed(&mut s, &pings(0..20)).len(), 20);
        let mut out = s.data_to_send()[..2000].to_vec();
        s.mark_sent(2000);
        // 540 bytes of the first 20 Pongs wait, and 20 more Pongs of 127 bytes: 3,080.
        assert_eq!(feed(&mut s, &pings(20..40)).len(), 20);
        out.extend(drain(&mut s));
        let frames = summary(&parse_frames(&out));
        let expected: Vec<_> = (0..40).map(|i| (0xA, true, vec![i; 125])).collect();
        assert_eq!(frames, expected);
    }

    #[test]
    fn a_coalesced_pong_replaces_only_itself_not_a_ping_queued_after_it() {
        let mut s = server();
        let pings: Vec<_> = (0..40u8)
            .map(|i| Raw::ping([i; 125]).to(Role::Server))
            .collect();
        assert_eq!(feed(&mut s, &wire(&pings)).len(), 40);
        s.ping(b"mine").unwrap();
        let last = Raw::ping("last").to(Role::Server).bytes();
        assert_eq!(feed(&mut s, &last), vec![ping_event(b"last")]);
        let frames = summary(&drain_frames(&mut s));
        assert_eq!(
            frames[frames.len() - 2..],
            [(0x9, true, b"mine".to_vec()), (0xA, true, b"last".to_vec())]
        );
    }

    #[test]
    fn unsolicited_pong_is_delivered_and_not_answered() {
        // §5.5.3: "A Pong frame MAY be sent unsolicited. ... A response to an unsolicited Pong
        // frame is not expected."
        for role in BOTH {
            let mut c = conn(role, Config::default());
            let frame = Raw::pong("heartbeat").to(role).bytes();
            assert_eq!(feed(&mut c, &frame), vec![pong_event(b"heartbeat")]);
            assert!(c.data_to_send().is_empty());
        }
    }

    #[test]
    fn without_auto_pong_the_application_answers() {
        let mut s = conn(Role::Server, config(|c| c.auto_pong = false));
        let frame = Raw::ping("p").to(Role::Server).bytes();
        assert_eq!(feed(&mut s, &frame), vec![ping_event(b"p")]);
        assert!(s.data_to_send().is_empty());
        s.pong(b"p").unwrap();
        assert_eq!(
            summary(&drain_frames(&mut s)),
            vec![(0xA, true, b"p".to_vec())]
        );
    }

    #[test]
    fn control_payload_over_125_bytes_is_refused_on_send() {
        // §5.5 binds us too.
        let mut c = client();
        assert_eq!(c.ping(&[0; 126]), Err(SendError::ControlFrameTooLong));
        assert_eq!(c.pong(&[0; 126]), Err(SendError::ControlFrameTooLong));
        let reason = "r".repeat(124);
        assert_eq!(
            c.close(CloseCode::NORMAL, &reason),
            Err(SendError::CloseReasonTooLong)
        );
        assert!(c.data_to_send().is_empty());
        assert_eq!(c.state(), State::Open);
        c.ping(&[0; 125]).unwrap();
        c.close(CloseCode::NORMAL, &reason[..123]).unwrap();
        let frames = drain_frames(&mut c);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].payload.len(), 125);
    }
}

/// §5.6, §8.1: text must be UTF-8.
mod utf8 {
    use super::*;

    #[test]
    fn invalid_utf8_fails_with_1007_as_soon_as_it_arrives() {
        // §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte
        // stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
        // Connection_." A 1 MiB text frame with a bad byte at 5000 fails by byte 6000.
        let mut payload = vec![b'a'; 1 << 20];
        payload[5000] = 0xFF;
        let frame = Raw::text(&payload).to(Role::Server);
        let header_len = frame.header().len();
        let bytes = frame.bytes();
        let mut s = server();
        assert_eq!(feed(&mut s, &bytes[..header_len + 4000]), vec![]);
        assert_fails_on(
            &mut s,
            &bytes[header_len + 4000..header_len + 6000],
            ProtocolError::InvalidUtf8,
            1007,
        );
    }

    #[test]
    fn a_prefix_that_cannot_become_utf8_fails_before_its_sequence_ends() {
        // F4 90 is already above U+10FFFF; ED A0 a surrogate; E0 80 an overlong form.
        for bad in [&b"\xf4\x90"[..], b"\xed\xa0", b"\xe0\x80"] {
            let mut payload = b"ok".to_vec();
            payload.extend_from_slice(bad);
            payload.extend_from_slice(b"\x80 and much more text");
            let frame = Raw::text(&payload).to(Role::Server);
            let cut = frame.header().len() + 2 + bad.len();
            let bytes = frame.bytes();
            assert_fails_on(
                &mut server(),
                &bytes[..cut],
                ProtocolError::InvalidUtf8,
                1007,
            );
        }
    }

    #[test]
    fn text_ending_mid_sequence_fails_with_1007() {
        // §8.1; "€" is E2 82 AC.
        for role in BOTH {
            let frame = Raw::text(b"a\xe2\x82").to(role).bytes();
            assert_fails(role, &frame, ProtocolError::InvalidUtf8, 1007);
            let input = wire(&[
                Raw::text(b"a\xe2").fin(false).to(role),
                Raw::cont(b"\x82").to(role),
            ]);
            assert_fails(role, &input, ProtocolError::InvalidUtf8, 1007);
        }
    }

    #[test]
    fn utf8_sequence_split_across_fragments_is_valid() {
        // §5.6: only the whole message must be UTF-8; a fragment may end inside a character.
        for role in BOTH {
            let input = wire(&[
                Raw::text(b"\xe2").fin(false).to(role),
                Raw::cont(b"\x82").fin(false).to(role),
                Raw::cont(b"\xac \xf0\x9d\x84").fin(false).to(role),
                Raw::ping("").to(role),
                Raw::cont(b"\x9e").to(role),
            ]);
            assert_eq!(
                feed(&mut conn(role, Config::default()), &input),
                vec![ping_event(b""), text_event("€ 𝄞")]
            );
        }
    }

    #[test]
    fn invalid_utf8_in_a_later_fragment_fails_at_that_fragment() {
        let mut s = server();
        let first = Raw::text("κόσμε").fin(false).to(Role::Server).bytes();
        assert_eq!(feed(&mut s, &first), vec![]);
        let second = Raw::cont(b"\xed\xa0\x80edited").to(Role::Server).bytes();
        assert_fails_on(&mut s, &second, ProtocolError::InvalidUtf8, 1007);
    }

    #[test]
    fn binary_messages_are_not_checked() {
        let frame = Raw::binary(b"\xff\xfe\xed\xa0").to(Role::Server).bytes();
        assert_eq!(
            feed(&mut server(), &frame),
            vec![Event::Message(Message::binary(&b"\xff\xfe\xed\xa0"[..]))]
        );
    }
}

/// §5.5.1, §7: the closing handshake.
mod close {
    use super::*;

    #[test]
    fn close_codes_invalid_on_wire_fail_with_1002() {
        // §7.4.1/§7.4.2: 1004 reserved; 1005, 1006, 1015 "MUST NOT be set as a status code in a
        // Close control frame by an endpoint"; 0-999 unused; 1016-2999 reserved for the RFC and
        // its extensions; 5000+ undefined.
        for role in BOTH {
            for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
                let frame = Raw::close(code, "").to(role).bytes();
                assert_fails(role, &frame, ProtocolError::InvalidCloseCode(code), 1002);
            }
        }
    }

    #[test]
    fn valid_close_codes_are_echoed() {
        // §5.5.1: "When sending a Close frame in response, the endpoint typically echos the status
        // code it received."
        let codes = (1000..=1003)
            .chain(1007..=1014)
            .chain([3000, 3999, 4000, 4999]);
        for code in codes {
            for role in BOTH {
                let mut c = conn(role, Config::default());
                let frame = Raw::close(code, "why").to(role).bytes();
                assert_eq!(feed(&mut c, &frame), vec![close_event(code, "why")]);
                let frames = drain_frames(&mut c);
                assert_eq!(frames.len(), 1, "{frames:?}");
                assert_eq!(frames[0].close_code(), Some(code));
                assert_eq!(frames[0].mask.is_some(), role == Role::Client);
                assert_eq!(c.state(), State::Closed);
                assert_eq!(
                    c.peer_close_frame(),
                    Some(&CloseFrame::new(CloseCode(code), "why"))
                );
            }
        }
    }

    #[test]
    fn close_payload_of_one_byte_fails_with_1002() {
        // §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned
        // integer (in network byte order) representing a status code"
        for role in BOTH {
            let frame = Raw::new(0x8, [0x03]).to(role).bytes();
            assert_fails(role, &frame, ProtocolError::CloseTooShort, 1002);
        }
    }

    #[test]
    fn close_reason_must_be_utf8_1007() {
        // §5.5.1: the body after the code "MAY contain UTF-8-encoded data"; §8.1 applies.
        for role in BOTH {
            for reason in [&b"\xff"[..], b"ok\xe2\x82", b"\xed\xa0\x80"] {
                let frame = Raw::close(1000, reason).to(role).bytes();
                assert_fails(role, &frame, ProtocolError::InvalidUtf8, 1007);
            }
        }
    }

    #[test]
    fn empty_close_is_answered_with_an_empty_close() {
        // §7.1.5: without a status code the close code "is considered to be 1005", which §7.4.1
        // forbids sending: the answer carries no code either.
        for role in BOTH {
            let mut c = conn(role, Config::default());
            let frame = Raw::close_empty().to(role).bytes();
            assert_eq!(feed(&mut c, &frame), vec![Event::Close(None)]);
            assert_eq!(summary(&drain_frames(&mut c)), vec![(0x8, true, vec![])]);
            assert_eq!(c.peer_close_frame(), None);
            assert_eq!(c.state(), State::Closed);
        }
    }

    #[test]
    fn close_is_answered_with_close() {
        // §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close
        // frame, the endpoint MUST send a Close frame in response."
        let mut pair = Pair::default();
        pair.client.close(CloseCode::GOING_AWAY, "bye").unwrap();
        assert_eq!(pair.client.state(), State::Closing);
        let driven = pair.drive();
        assert_eq!(driven.server, vec![close_event(1001, "bye")]);
        assert_eq!(driven.client, vec![close_event(1001, "")]);
        let answer = parse_frames(&pair.to_client);
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0].close_code(), Some(1001));
        for c in [&pair.client, &pair.server] {
            assert!(c.is_closing_handshake_complete());
            assert_eq!(c.state(), State::Closed);
        }
    }

    #[test]
    fn close_sends_its_code_and_reason() {
        // §5.5.1: code in network byte order, then the reason.
        let mut s = server();
        s.close(CloseCode(4000), "bye").unwrap();
        assert_eq!(s.state(), State::Closing);
        assert_eq!(
            summary(&drain_frames(&mut s)),
            vec![(0x8, true, b"\x0f\xa0bye".to_vec())]
        );
    }

    #[test]
    fn codes_that_must_not_be_sent_are_refused() {
        // §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control frame
        // by an endpoint"; the other codes outside §7.4.2's ranges are not ours to send either.
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let mut c = client();
            assert_eq!(
                c.close(CloseCode(code), ""),
                Err(SendError::InvalidCloseCode(code))
            );
            assert_eq!(
                c.fail_with(CloseCode(code), ""),
                Err(SendError::InvalidCloseCode(code))
            );
            assert!(c.data_to_send().is_empty());
            assert_eq!(c.state(), State::Open);
        }
    }

    #[test]
    fn closing_handshake_is_incomplete_while_only_one_close_was_exchanged() {
        // §7.1.3: the closing handshake is started when a Close is sent or received; it is
        // complete once both were (§7.1.1: "After both sending and receiving a Close message").
        for role in BOTH {
            let mut c = conn(role, Config::default());
            assert!(!c.is_closing_handshake_complete());
            c.close(CloseCode::NORMAL, "").unwrap();
            let _ = drain(&mut c);
            assert_eq!(c.state(), State::Closing);
            assert!(!c.is_closing_handshake_complete(), "only ours was sent");
            let frame = Raw::close(1000, "").to(role).bytes();
            assert_eq!(feed(&mut c, &frame), vec![close_event(1000, "")]);
            assert!(c.is_closing_handshake_complete());
        }
    }

    #[test]
    fn close_code_converts_to_its_u16() {
        // §7.4: a status code is a 2-byte unsigned integer; the conversions keep it as it is.
        for code in [1000, 1001, 1011, 3000, 4999, 0, 65535] {
            assert_eq!(u16::from(CloseCode(code)), code);
            assert_eq!(u16::from(CloseCode::from(code)), code);
        }
        let going_away: u16 = CloseCode::GOING_AWAY.into();
        assert_eq!(going_away, 1001);
    }

    #[test]
    fn a_close_is_not_answered_twice() {
        for role in BOTH {
            let mut c = conn(role, Config::default());
            c.close(CloseCode::NORMAL, "").unwrap();
            assert_eq!(drain_frames(&mut c).len(), 1);
            let frame = Raw::close(1000, "").to(role).bytes();
            assert_eq!(feed(&mut c, &frame), vec![close_event(1000, "")]);
            assert!(c.data_to_send().is_empty());
            assert!(c.is_closing_handshake_complete());
        }
    }

    #[test]
    fn data_still_arrives_while_closing() {
        // §7.1.3: the closing handshake is started, not finished; we read until the peer's Close.
        let mut s = server();
        s.close(CloseCode::NORMAL, "").unwrap();
        let _ = drain(&mut s);
        let input = wire(&[
            Raw::text("late").to(Role::Server),
            Raw::close(1000, "").to(Role::Server),
        ]);
        assert_eq!(
            feed(&mut s, &input),
            vec![text_event("late"), close_event(1000, "")]
        );
    }

    #[test]
    fn frames_after_the_peers_close_are_ignored() {
        // §1.4: "after receiving a control frame indicating the connection should be closed, a
        // peer discards any further data received"; and a Ping after it is not answered
        // (§5.5.2: "unless it already received a Close frame").
        for role in BOTH {
            let mut c = conn(role, Config::default());
            let input = wire(&[
                Raw::close(1000, "").to(role),
                Raw::text("x").to(role),
                Raw::ping("p").to(role),
            ]);
            assert_eq!(feed(&mut c, &input), vec![close_event(1000, "")]);
            let more = Raw::ping("q").to(role).bytes();
            assert_eq!(feed(&mut c, &more), vec![]);
            let frames = drain_frames(&mut c);
            assert_eq!(frames.len(), 1, "{frames:?}");
            assert_eq!(frames[0].opcode, 0x8);
        }
    }

    #[test]
    fn nothing_is_sent_after_close() {
        // §5.5.1: "The application MUST NOT send any more data frames after sending a Close
        // frame." This crate sends no frame at all after its Close (the connection's docs), so a
        // Ping that arrives while we wait for the peer's Close is not answered: a deliberate
        // reading of §5.5.2 ("MUST send a Pong ... unless it already received a Close frame").
        for role in BOTH {
            let mut c = conn(role, Config::default());
            c.close(CloseCode::NORMAL, "").unwrap();
            assert_eq!(c.send_text("x"), Err(SendError::Closed));
            assert_eq!(c.send_binary(b"x"), Err(SendError::Closed));
            assert_eq!(c.send(&Message::text("x")), Err(SendError::Closed));
            assert_eq!(
                c.send_frame(DataKind::Text, b"x", true),
                Err(SendError::Closed)
            );
            assert_eq!(c.ping(b"x"), Err(SendError::Closed));
            assert_eq!(c.pong(b"x"), Err(SendError::Closed));
            assert_eq!(c.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
            // A Ping from the peer while we wait for its Close is delivered, not answered.
            let ping = Raw::ping("p").to(role).bytes();
            assert_eq!(feed(&mut c, &ping), vec![ping_event(b"p")]);
            let frames = drain_frames(&mut c);
            assert_eq!(summary(&frames), vec![(0x8, true, vec![0x03, 0xe8])]);
        }
    }

    #[test]
    fn control_frames_queued_before_close_never_follow_it() {
        // The Close must be the last frame on the wire, even for a Ping or Pong queued earlier
        // while a data frame was half written.
        for role in BOTH {
            let mut c = conn(role, Config::default());
            c.send_binary(&[0; 10_000]).unwrap();
            let mut out = c.data_to_send()[..100].to_vec();
            c.mark_sent(100);
            c.ping(b"p").unwrap();
            let _ = feed(&mut c, &Raw::ping("q").to(role).bytes());
            c.close(CloseCode::NORMAL, "").unwrap();
            out.extend(drain(&mut c));
            let frames = parse_frames(&out);
            let opcodes: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
            assert_eq!(opcodes.len(), 4, "{opcodes:x?}");
            assert_eq!(
                opcodes.last(),
                Some(&0x8),
                "a frame follows the Close: {opcodes:x?}"
            );
        }
    }

    #[test]
    fn server_wants_shutdown_after_closing_handshake() {
        // §7.1.1: "The underlying TCP connection, in most normal cases, SHOULD be closed first by
        // the server". Client-initiated: once the answer is flushed.
        let mut s = server();
        let _ = feed(&mut s, &Raw::close(1000, "").to(Role::Server).bytes());
        assert!(!s.wants_shutdown(), "the Close answer is not written yet");
        let _ = drain(&mut s);
        assert!(s.wants_shutdown());
        // §7.1.1: "The server MUST close the underlying TCP connection immediately": it does not
        // wait for the client's TCP close.
        assert!(s.is_finished());
        // Server-initiated: once the client's answer arrives.
        let mut s = server();
        s.close(CloseCode::NORMAL, "").unwrap();
        let _ = drain(&mut s);
        assert!(!s.wants_shutdown(), "the client has not answered");
        let _ = feed(&mut s, &Raw::close(1000, "").to(Role::Server).bytes());
        assert!(s.wants_shutdown());
        assert!(s.is_finished());
        // Through the pair: the client then sees the server's TCP close, without a failure.
        let mut pair = Pair::default();
        pair.client.close(CloseCode::NORMAL, "").unwrap();
        let driven = pair.drive();
        assert!(pair.server_shut);
        assert!(pair.client.is_finished());
        assert_eq!(driven.client, vec![close_event(1000, "")]);
    }

    #[test]
    fn client_waits_for_server_to_close_tcp() {
        // §5.5.1: "the client SHOULD wait for the server to close the connection but MAY close
        // the connection at any time after sending and receiving a Close message, e.g., if it has
        // not received a TCP Close from the server in a reasonable time period."
        let start = Duration::from_secs(100);
        let timeout = Duration::from_secs(5);
        let mut c = conn(Role::Client, config(|c| c.close_timeout = timeout));
        c.close(CloseCode::NORMAL, "").unwrap();
        let _ = drain(&mut c);
        assert_eq!(
            c.poll_timeout(),
            Some(Duration::ZERO),
            "the timer wants to start"
        );
        assert_eq!(tick(&mut c, start), vec![]);
        let _ = feed(&mut c, &Raw::close(1000, "").to(Role::Client).bytes());
        assert!(c.is_closing_handshake_complete());
        assert!(
            !c.wants_shutdown(),
            "a client waits for the server's TCP close"
        );
        assert!(!c.is_finished());
        assert_eq!(c.poll_timeout(), Some(start + timeout));
        assert_eq!(
            tick(&mut c, start + timeout - Duration::from_millis(1)),
            vec![]
        );
        assert!(!c.wants_shutdown());
        assert_eq!(tick(&mut c, start + timeout), vec![]);
        assert!(c.wants_shutdown(), "after close_timeout the client closes");
        assert!(c.is_finished());
        assert_eq!(c.poll_timeout(), None);

        // The usual end: the server's TCP close, no failure.
        let mut c = client();
        c.close(CloseCode::NORMAL, "").unwrap();
        let _ = drain(&mut c);
        let _ = feed(&mut c, &Raw::close(1000, "").to(Role::Client).bytes());
        c.receive_eof();
        assert_eq!(poll_all(&mut c), vec![]);
        assert!(c.wants_shutdown());
        assert!(c.is_finished());
    }

    #[test]
    fn closing_handshake_times_out_without_the_peers_close() {
        let timeout = Duration::from_secs(5);
        for role in BOTH {
            let mut c = conn(role, config(|c| c.close_timeout = timeout));
            c.close(CloseCode::NORMAL, "").unwrap();
            let _ = drain(&mut c);
            let _ = tick(&mut c, Duration::ZERO);
            assert_eq!(c.state(), State::Closing);
            let _ = tick(&mut c, timeout - Duration::from_nanos(1));
            assert_eq!(c.state(), State::Closing);
            let _ = tick(&mut c, timeout);
            assert_eq!(c.state(), State::Closed);
            assert!(c.wants_shutdown());
        }
    }
}

/// §7.1.7: _Fail the WebSocket Connection_.
mod failing {
    use super::*;

    #[test]
    fn failing_stops_processing_further_input() {
        // §7.1.7: "An endpoint MUST NOT continue to attempt to process data (including a
        // responding Close frame) from the remote endpoint after being instructed to _Fail the
        // WebSocket Connection_."
        let input = wire(&[
            Raw::text("ok").to(Role::Server),
            Raw::new(0x3, "").to(Role::Server),
            Raw::text("never").to(Role::Server),
            Raw::ping("never").to(Role::Server),
        ]);
        assert_fails_after(
            &mut server(),
            &input,
            &[text_event("ok")],
            ProtocolError::ReservedOpcode(3),
            1002,
        );
    }

    #[test]
    fn the_failure_is_kept_for_the_driver_to_report_again() {
        // §7.1.7: the rule the peer broke stays readable after Event::Failed, the first one
        // only; the application's own fail_with is not a rule the peer broke.
        let mut s = server();
        assert_eq!(s.failure(), None);
        s.receive(&wire(&[
            Raw::new(0x3, "").to(Role::Server),
            Raw::new(0x4, "").to(Role::Server),
        ]));
        assert_eq!(
            s.poll_event(),
            Some(Event::Failed(ProtocolError::ReservedOpcode(3)))
        );
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.failure(), Some(&ProtocolError::ReservedOpcode(3)));
        s.receive_eof();
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.failure(), Some(&ProtocolError::ReservedOpcode(3)));

        let mut s = server();
        s.fail_with(CloseCode::POLICY_VIOLATION, "no").unwrap();
        assert_eq!(s.state(), State::Closed);
        assert_eq!(s.failure(), None);
    }

    #[test]
    fn the_failing_close_frame_gives_the_broken_rule_as_its_reason() {
        // §7.1.7: the endpoint "MAY" send a Close frame; ours carries the status code of
        // §7.4.1 and, as its reason, what the peer did wrong.
        let mut s = server();
        feed(&mut s, &Raw::new(0x3, "").to(Role::Server).bytes());
        assert_eq!(
            summary(&drain_frames(&mut s)),
            vec![(0x8, true, b"\x03\xeareserved opcode 0x3".to_vec())]
        );
    }

    #[test]
    fn a_violation_after_our_close_fails_without_a_second_close() {
        // §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any further data
        // frames": failing while we wait for the peer's Close sends nothing more.
        for role in BOTH {
            let mut c = conn(role, Config::default());
            c.close(CloseCode::NORMAL, "").unwrap();
            let frames = drain_frames(&mut c);
            assert_eq!(summary(&frames), vec![(0x8, true, vec![0x03, 0xe8])]);
            assert_eq!(
                feed(&mut c, &Raw::new(0x3, "").to(role).bytes()),
                vec![Event::Failed(ProtocolError::ReservedOpcode(3))]
            );
            assert_eq!(c.state(), State::Closed);
            assert!(c.data_to_send().is_empty(), "{role:?} sent a second Close");
        }
    }

    #[test]
    fn fail_with_sends_the_applications_code() {
        let mut s = server();
        s.fail_with(CloseCode::POLICY_VIOLATION, "no").unwrap();
        assert_eq!(
            summary(&drain_frames(&mut s)),
            vec![(0x8, true, b"\x03\xf0no".to_vec())]
        );
        assert_eq!(s.state(), State::Closed);
        assert_eq!(
            feed(&mut s, &Raw::text("x").to(Role::Server).bytes()),
            vec![]
        );
        assert_eq!(s.send_text("x"), Err(SendError::Closed));
    }

    #[test]
    fn failing_completes_a_frame_already_on_the_wire() {
        // The Close that fails the connection must not tear a half-written frame, and is the
        // last frame. (Whether data queued but not started still goes out ahead of it is the
        // connection's choice; both are accepted here.)
        let mut s = server();
        s.send_binary(&[1; 10_000]).unwrap();
        s.send_text("queued").unwrap();
        let mut out = s.data_to_send()[..100].to_vec();
        s.mark_sent(100);
        let events = feed(&mut s, &Raw::text("x").bytes());
        assert_eq!(
            events,
            vec![Event::Failed(ProtocolError::UnmaskedClientFrame)]
        );
        out.extend(drain(&mut s));
        let frames = parse_frames(&out);
        assert_eq!(frames[0].payload, vec![1; 10_000]);
        let middle = summary(&frames[1..frames.len() - 1]);
        assert!(
            middle.is_empty() || middle == [(0x1, true, b"queued".to_vec())],
            "{middle:?}"
        );
        assert_eq!(frames.last().and_then(WireFrame::close_code), Some(1002));
    }
}

/// §7.1.5: the TCP connection ends.
mod eof {
    use super::*;

    #[test]
    fn eof_without_close_is_abnormal() {
        // §7.1.5: with no Close frame received, the close code "is considered to be 1006";
        // §7.4.1: 1006 "MUST NOT be set as a status code in a Close control frame".
        for role in BOTH {
            for partial in [&[][..], &Raw::text("cut short").to(role).bytes()[..4]] {
                let mut c = conn(role, Config::default());
                c.receive(partial);
                c.receive_eof();
                assert_eq!(
                    poll_all(&mut c),
                    vec![Event::Failed(ProtocolError::UnexpectedEof)]
                );
                assert_eq!(
                    ProtocolError::UnexpectedEof.close_code(),
                    CloseCode::ABNORMAL
                );
                assert!(c.data_to_send().is_empty(), "nothing may carry 1006");
                assert_eq!(c.state(), State::Closed);
                assert!(c.is_finished());
            }
        }
    }

    #[test]
    fn eof_delivers_complete_frames_first() {
        let mut c = client();
        c.receive(&wire(&[Raw::text("a"), Raw::text("b")]));
        c.receive(&Raw::text("c").bytes()[..2]);
        c.receive_eof();
        assert_eq!(
            poll_all(&mut c),
            vec![
                text_event("a"),
                text_event("b"),
                Event::Failed(ProtocolError::UnexpectedEof)
            ]
        );
    }

    #[test]
    fn eof_while_waiting_for_the_peers_close_is_abnormal() {
        let mut c = client();
        c.close(CloseCode::NORMAL, "").unwrap();
        let _ = drain(&mut c);
        c.receive_eof();
        assert_eq!(
            poll_all(&mut c),
            vec![Event::Failed(ProtocolError::UnexpectedEof)]
        );
        assert!(!c.is_closing_handshake_complete());
        assert!(c.is_finished());
    }
}

/// Limits: 1009 (§7.4.1: "a message that is too big for it to process").
mod limits {
    use super::*;

    #[test]
    fn frame_over_limit_fails_with_1009_before_allocation() {
        let limited = config(|c| c.max_frame_size = 1000);
        // A header that declares 2^40 bytes, and none of them: failed on the header alone.
        let header = Raw::binary([])
            .declared_len(1 << 40)
            .to(Role::Server)
            .header();
        let mut s = conn(Role::Server, limited.clone());
        let error = ProtocolError::FrameTooBig {
            len: 1 << 40,
            max: 1000,
        };
        assert_fails_on(&mut s, &header, error, 1009);
        assert_eq!(s.buffered_incoming(), 0);
        // 1001 bytes as a continuation fails too.
        let mut s = conn(Role::Server, limited.clone());
        let input = wire(&[
            Raw::text("a").fin(false).to(Role::Server),
            Raw::cont([b'b'; 1001]).to(Role::Server),
        ]);
        let error = ProtocolError::FrameTooBig {
            len: 1001,
            max: 1000,
        };
        assert_fails_on(&mut s, &input, error, 1009);
        // At the limit is fine.
        let frame = Raw::binary([5; 1000]).to(Role::Server).bytes();
        assert_eq!(
            feed(&mut conn(Role::Server, limited), &frame),
            vec![Event::Message(Message::binary(vec![5; 1000]))]
        );
    }

    #[test]
    fn message_over_limit_fails_with_1009() {
        let limited = config(|c| c.max_message_size = 1000);
        // One frame: failed on its header.
        let header = Raw::binary([]).declared_len(1001).to(Role::Server).header();
        let error = ProtocolError::MessageTooBig {
            len: 1001,
            max: 1000,
        };
        assert_fails_on(
            &mut conn(Role::Server, limited.clone()),
            &header,
            error,
            1009,
        );
        // Fragments: failed on the header of the one that goes over.
        let mut s = conn(Role::Server, limited.clone());
        let first = Raw::text([b'a'; 600]).fin(false).to(Role::Server).bytes();
        assert_eq!(feed(&mut s, &first), vec![]);
        let second = Raw::cont([]).declared_len(600).to(Role::Server).header();
        let error = ProtocolError::MessageTooBig {
            len: 1200,
            max: 1000,
        };
        assert_fails_on(&mut s, &second, error, 1009);
        // Exactly at the limit, in fragments, is fine.
        let input = wire(&[
            Raw::binary([1; 600]).fin(false).to(Role::Server),
            Raw::cont([2; 400]).to(Role::Server),
        ]);
        let events = feed(&mut conn(Role::Server, limited), &input);
        assert!(
            matches!(&events[..], [Event::Message(m)] if m.len() == 1000),
            "{events:?}"
        );
    }

    #[test]
    fn a_message_of_exactly_the_limit_in_one_frame_is_accepted() {
        let limited = config(|c| c.max_message_size = 1000);
        let frame = Raw::binary([7; 1000]).to(Role::Server).bytes();
        assert_eq!(
            feed(&mut conn(Role::Server, limited), &frame),
            vec![Event::Message(Message::binary(vec![7; 1000]))]
        );
    }

    #[test]
    fn too_many_fragments_fail_with_1009() {
        let limited = config(|c| c.max_fragments = 4);
        let mut s = conn(Role::Server, limited.clone());
        let first_four = wire(&[
            Raw::binary("").fin(false).to(Role::Server),
            Raw::cont("").fin(false).to(Role::Server),
            Raw::cont("").fin(false).to(Role::Server),
            Raw::cont("").fin(false).to(Role::Server),
        ]);
        assert_eq!(feed(&mut s, &first_four), vec![]);
        let fifth = Raw::cont("").fin(false).to(Role::Server).bytes();
        assert_fails_on(
            &mut s,
            &fifth,
            ProtocolError::TooManyFragments { max: 4 },
            1009,
        );
        // Four fragments are fine, and the count starts again with each message.
        let mut s = conn(Role::Server, limited);
        let message = wire(&[
            Raw::text("a").fin(false).to(Role::Server),
            Raw::cont("b").fin(false).to(Role::Server),
            Raw::cont("c").fin(false).to(Role::Server),
            Raw::cont("d").to(Role::Server),
        ]);
        assert_eq!(feed(&mut s, &message), vec![text_event("abcd")]);
        assert_eq!(feed(&mut s, &message), vec![text_event("abcd")]);
    }

    #[test]
    fn message_limit_holds_in_stream_frames_mode() {
        let limited = config(|c| {
            c.stream_frames = true;
            c.max_message_size = 100;
        });
        let mut s = conn(Role::Server, limited);
        let first = Raw::binary([1; 60]).fin(false).to(Role::Server).bytes();
        assert_eq!(feed(&mut s, &first).len(), 1);
        let second = Raw::cont([2; 60]).to(Role::Server).bytes();
        let error = ProtocolError::MessageTooBig { len: 120, max: 100 };
        assert_fails_on(&mut s, &second, error, 1009);
    }
}

/// How frames leave: ordering, partial writes, backpressure.
mod output {
    use super::*;

    #[test]
    fn control_frames_go_between_data_frames_never_inside() {
        for role in BOTH {
            let mut c = conn(role, Config::default());
            c.send_binary(&[0x5A; 100_000]).unwrap();
            c.send_text("after").unwrap();
            let mut out = c.data_to_send()[..1000].to_vec();
            c.mark_sent(1000);
            c.ping(b"ping").unwrap();
            // Writes that end exactly at the end of the binary frame: the Ping is next.
            let header_len = if role == Role::Client { 14 } else { 10 };
            let mut remaining = header_len + 100_000 - 1000;
            while remaining > 0 {
                let data = c.data_to_send();
                let n = data.len().min(remaining).min(7_777);
                out.extend_from_slice(&data[..n]);
                c.mark_sent(n);
                remaining -= n;
            }
            let frames = parse_frames(&out);
            assert_eq!(frames.len(), 1, "the Ping went inside the data frame");
            assert_eq!(frames[0].payload, vec![0x5A; 100_000]);
            let next = parse_frame(c.data_to_send())
                .expect("a whole frame is next")
                .0;
            assert_eq!((next.opcode, next.payload.as_slice()), (0x9, &b"ping"[..]));
            out.extend(drain(&mut c));
            assert_eq!(
                summary(&parse_frames(&out))
                    .into_iter()
                    .map(|(op, _, p)| (op, p.len()))
                    .collect::<Vec<_>>(),
                vec![(0x2, 100_000), (0x9, 4), (0x1, 5)]
            );
        }
    }

    #[test]
    fn a_waiting_ping_goes_out_right_after_the_frame_in_flight() {
        // Whole writes of whatever is offered, plain or vectored, copied or shared payloads:
        // what is offered mid-frame ends with that frame, so the Ping is not held behind the
        // frames queued after it.
        for role in BOTH {
            for vectored in [false, true] {
                let mut c = conn(role, Config::default());
                c.send(&Message::binary(vec![0x5A; 100_000])).unwrap();
                c.send_text("after").unwrap();
                let mut out = Vec::new();
                while out.len() < 1000 {
                    let data = c.data_to_send();
                    let n = data.len().min(1000 - out.len());
                    out.extend_from_slice(&data[..n]);
                    c.mark_sent(n);
                }
                c.ping(b"ping").unwrap();
                let header_len = if role == Role::Client { 14 } else { 10 };
                while out.len() < header_len + 100_000 {
                    let mut parts: [&[u8]; 4] = [&[]; 4];
                    let k = if vectored {
                        c.data_to_send_vectored(&mut parts)
                    } else {
                        parts[0] = c.data_to_send();
                        1
                    };
                    let n: usize = parts[..k].iter().map(|p| p.len()).sum();
                    assert!(n > 0, "{role:?} vectored {vectored}: nothing offered");
                    parts[..k].iter().for_each(|p| out.extend_from_slice(p));
                    c.mark_sent(n);
                }
                let frames = parse_frames(&out);
                assert_eq!(frames.len(), 1, "{role:?} vectored {vectored}: {frames:?}");
                assert_eq!(frames[0].payload.len(), 100_000);
                let next = parse_frame(c.data_to_send()).expect("a whole frame").0;
                assert_eq!(next.opcode, 0x9, "{role:?} vectored {vectored}");
            }
        }
    }

    #[test]
    fn control_frames_never_tear_a_data_frame_under_any_write_size() {
        for role in BOTH {
            for write in [1, 3, 100, 4096, 65_537] {
                let mut c = conn(role, Config::default());
                c.send_binary(&[1; 70_000]).unwrap();
                c.send_text("two").unwrap();
                let mut out = Vec::new();
                let mut step = 0;
                while !c.data_to_send().is_empty() {
                    let data = c.data_to_send();
                    let n = data.len().min(write);
                    out.extend_from_slice(&data[..n]);
                    c.mark_sent(n);
                    step += 1;
                    if step % 5 == 1 && step < 200 {
                        let _ = feed(&mut c, &Raw::ping([step as u8]).to(role).bytes());
                    }
                    if step == 2 {
                        c.ping(b"app").unwrap();
                    }
                }
                let frames = parse_frames(&out);
                let data: Vec<_> = frames.iter().filter(|f| f.opcode < 8).collect();
                assert_eq!(data.len(), 2, "write size {write}");
                assert_eq!(data[0].payload, vec![1; 70_000]);
                assert_eq!(data[1].payload, b"two");
                assert!(frames.iter().any(|f| f.opcode == 0x9), "write size {write}");
                assert!(frames.iter().any(|f| f.opcode == 0xA), "write size {write}");
            }
        }
    }

    #[test]
    fn control_frames_jump_ahead_of_unsent_data() {
        // The connection's documented order: a Ping goes ahead of data not yet started.
        let mut s = server();
        s.send_binary(&[0; 50_000]).unwrap();
        s.ping(b"now").unwrap();
        assert_eq!(
            summary(&drain_frames(&mut s))
                .into_iter()
                .map(|(op, _, p)| (op, p.len()))
                .collect::<Vec<_>>(),
            vec![(0x9, 3), (0x2, 50_000)]
        );
    }

    #[test]
    fn a_server_writes_a_large_message_beside_its_header_without_copying_it() {
        // `Connection::send`: a server queues a large payload as the message's own `Bytes`,
        // offered as the second slice of a vectored write; a client masks (§5.3), so copies.
        let message = Message::binary(vec![0x5A; 100_000]);
        let payload = message.as_bytes().as_ptr();
        let mut s = server();
        s.send(&message).unwrap();
        {
            let mut parts: [&[u8]; 4] = [&[]; 4];
            assert_eq!(s.data_to_send_vectored(&mut parts), 2);
            assert_eq!(parts[0], [0x82, 127, 0, 0, 0, 0, 0, 1, 0x86, 0xA0]);
            assert_eq!(parts[1].as_ptr(), payload);
            assert_eq!(parts[1].len(), 100_000);
        }
        // After part of the header went out: the rest of it, then the whole payload.
        s.mark_sent(4);
        let mut parts: [&[u8]; 4] = [&[]; 4];
        assert_eq!(s.data_to_send_vectored(&mut parts), 2);
        assert_eq!(parts[0], [0, 0, 0, 1, 0x86, 0xA0]);
        assert_eq!(parts[1].len(), 100_000);
        let mut c = client();
        c.send(&message).unwrap();
        let mut parts: [&[u8]; 4] = [&[]; 4];
        assert_eq!(c.data_to_send_vectored(&mut parts), 1);
        assert_ne!(parts[0].as_ptr(), payload);
    }

    #[test]
    fn buffered_amount_counts_a_large_message_queued_behind_another() {
        let mut s = server();
        s.send_text("a").unwrap();
        s.send(&Message::binary(vec![0; 100_000])).unwrap();
        assert_eq!(s.buffered_amount(), 3 + 10 + 100_000);
        assert_eq!(drain(&mut s).len(), 3 + 10 + 100_000);
        assert_eq!(s.buffered_amount(), 0);
    }

    #[test]
    fn mark_sent_beyond_the_bytes_offered_is_clamped_to_them() {
        // `mark_sent`: "`n` larger than that slice is clamped", also when a Ping waits for the
        // data frame in flight and only the rest of that frame was offered.
        let mut s = server();
        s.send_binary(&[1; 1000]).unwrap();
        s.send_text("after").unwrap();
        s.mark_sent(100);
        s.ping(b"p").unwrap();
        assert_eq!(s.data_to_send().len(), 904);
        s.mark_sent(usize::MAX);
        assert_eq!(
            summary(&drain_frames(&mut s)),
            vec![(0x9, true, b"p".to_vec()), (0x1, true, b"after".to_vec())]
        );
    }

    #[test]
    fn partial_writes_resume_at_the_exact_byte() {
        fn queue(c: &mut Connection) {
            c.send_text("hello").unwrap();
            c.send_binary(&(0..70_000).map(|i| i as u8).collect::<Vec<_>>())
                .unwrap();
            c.send_frame(DataKind::Text, "ünï".as_bytes(), false)
                .unwrap();
            c.send_frame(DataKind::Text, "cødé".as_bytes(), true)
                .unwrap();
            c.close(CloseCode::NORMAL, "done").unwrap();
        }
        for role in BOTH {
            let mut whole = conn_seeded(role, Config::default(), 7);
            queue(&mut whole);
            let expected = drain(&mut whole);
            let sizes = [1, 2, 3, 5, 8, 13, 1000, 4096];
            let mut pieces = conn_seeded(role, Config::default(), 7);
            queue(&mut pieces);
            let mut out = Vec::new();
            for size in sizes.iter().cycle() {
                let data = pieces.data_to_send();
                if data.is_empty() {
                    break;
                }
                let n = data.len().min(*size);
                out.extend_from_slice(&data[..n]);
                pieces.mark_sent(n);
            }
            assert_eq!(out.len(), expected.len());
            assert!(out == expected, "byte streams differ");
            assert_eq!(parse_frames(&out).len(), 5);
        }
    }

    #[test]
    fn send_refuses_when_write_buffer_full() {
        let mut s = conn(Role::Server, config(|c| c.write_buffer_limit = 1000));
        // Below the limit a message larger than it is still taken whole.
        s.send_binary(&[0; 1500]).unwrap();
        assert!(s.is_write_buffer_full());
        let queued = s.buffered_amount();
        assert_eq!(s.send_text("x"), Err(SendError::BufferFull));
        assert_eq!(s.send_binary(b"x"), Err(SendError::BufferFull));
        assert_eq!(
            s.send_frame(DataKind::Text, b"x", true),
            Err(SendError::BufferFull)
        );
        assert_eq!(s.buffered_amount(), queued, "a refused send queued bytes");
        let mut out = s.data_to_send()[..600].to_vec();
        s.mark_sent(600);
        assert!(!s.is_write_buffer_full());
        s.send_text("y").unwrap();
        out.extend(drain(&mut s));
        assert_eq!(
            summary(&parse_frames(&out)),
            vec![(0x2, true, vec![0; 1500]), (0x1, true, b"y".to_vec())]
        );
    }

    #[test]
    fn write_buffer_limit_refuses_only_above_the_limit() {
        // Config::write_buffer_limit: sends are refused while more than the limit is queued.
        let mut s = conn(Role::Server, config(|c| c.write_buffer_limit = 1000));
        s.send_binary(&[0; 996]).unwrap(); // 4 bytes of header: exactly the limit
        assert_eq!(s.buffered_amount(), 1000);
        assert!(!s.is_write_buffer_full());
        s.send_text("x").unwrap(); // 3 bytes: one byte over after two are written
        s.mark_sent(2);
        assert_eq!(s.buffered_amount(), 1001);
        assert!(s.is_write_buffer_full());
        assert_eq!(s.send_text("y"), Err(SendError::BufferFull));
        s.mark_sent(1);
        assert_eq!(s.buffered_amount(), 1000);
        assert!(!s.is_write_buffer_full());
        s.send_text("y").unwrap();
    }

    #[test]
    fn stream_frames_mode_delivers_each_frame() {
        let mut s = conn(Role::Server, config(|c| c.stream_frames = true));
        let input = wire(&[
            Raw::text(b"H\xc3").fin(false).to(Role::Server),
            Raw::ping("p").to(Role::Server),
            Raw::cont(b"\xa9l").fin(false).to(Role::Server),
            Raw::cont("lo").to(Role::Server),
            Raw::binary([7]).to(Role::Server),
        ]);
        let frame = |kind, first, fin, data: &[u8]| {
            Event::Frame(DataFrame {
                kind,
                first,
                fin,
                data: Bytes::copy_from_slice(data),
            })
        };
        assert_eq!(
            feed(&mut s, &input),
            vec![
                frame(DataKind::Text, true, false, b"H\xc3"),
                ping_event(b"p"),
                frame(DataKind::Text, false, false, b"\xa9l"),
                frame(DataKind::Text, false, true, b"lo"),
                frame(DataKind::Binary, true, true, &[7]),
            ]
        );
        // Text is still validated frame by frame.
        let bad = wire(&[
            Raw::text("ok").fin(false).to(Role::Server),
            Raw::cont(b"\xff").to(Role::Server),
        ]);
        let mut s = conn(Role::Server, config(|c| c.stream_frames = true));
        let first = frame(DataKind::Text, true, false, b"ok");
        assert_fails_after(&mut s, &bad, &[first], ProtocolError::InvalidUtf8, 1007);
    }
}

/// Keepalive: Pings when idle, failure (1011) when nothing comes back.
mod keepalive {
    use super::*;

    fn keepalive_config() -> Config {
        config(|c| {
            c.keepalive_interval = Some(Duration::from_secs(10));
            c.keepalive_timeout = Duration::from_secs(5);
        })
    }

    #[test]
    fn keepalive_pings_when_idle_and_fails_when_pong_late() {
        let s = |secs: u64| Duration::from_secs(secs);
        for role in BOTH {
            let mut c = conn(role, keepalive_config());
            assert_eq!(c.poll_timeout(), Some(Duration::ZERO));
            assert_eq!(tick(&mut c, s(0)), vec![]);
            assert_eq!(c.poll_timeout(), Some(s(10)));
            assert_eq!(tick(&mut c, s(9)), vec![]);
            assert!(c.data_to_send().is_empty(), "pinged before the interval");
            assert_eq!(tick(&mut c, s(10)), vec![]);
            assert_eq!(summary(&drain_frames(&mut c)), vec![(0x9, true, vec![])]);
            // The Pong comes back in time: no failure, and the next Ping waits for idleness.
            assert_eq!(c.poll_timeout(), Some(s(15)));
            let pong = Raw::pong("").to(role).bytes();
            assert_eq!(feed(&mut c, &pong), vec![pong_event(b"")]);
            assert_eq!(tick(&mut c, s(15)), vec![]);
            assert_eq!(c.state(), State::Open);
            assert!(c.data_to_send().is_empty());
            assert_eq!(tick(&mut c, s(25)), vec![]);
            assert_eq!(summary(&drain_frames(&mut c)), vec![(0x9, true, vec![])]);
            // This time nothing comes back: fail with 1011 at the deadline.
            assert_eq!(tick(&mut c, s(29)), vec![]);
            assert_eq!(
                tick(&mut c, s(30)),
                vec![Event::Failed(ProtocolError::KeepaliveTimeout)]
            );
            let frames = drain_frames(&mut c);
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].close_code(), Some(1011));
            assert_eq!(c.state(), State::Closed);
        }
    }

    #[test]
    fn keepalive_stays_quiet_while_data_arrives() {
        let mut c = conn(Role::Client, keepalive_config());
        let _ = tick(&mut c, Duration::ZERO);
        for secs in (5..100).step_by(5) {
            let _ = feed(&mut c, &Raw::text("tick").bytes());
            assert_eq!(tick(&mut c, Duration::from_secs(secs)), vec![]);
            assert!(
                c.data_to_send().is_empty(),
                "pinged a busy peer at {secs} s"
            );
        }
    }

    #[test]
    fn keepalive_is_on_by_default_and_can_be_turned_off() {
        let mut c = client();
        assert_eq!(c.poll_timeout(), Some(Duration::ZERO));
        let _ = tick(&mut c, Duration::ZERO);
        let interval = Config::default().keepalive_interval.expect("on by default");
        assert_eq!(c.poll_timeout(), Some(interval));
        let _ = tick(&mut c, interval);
        assert_eq!(summary(&drain_frames(&mut c)), vec![(0x9, true, vec![])]);

        let mut c = conn(Role::Client, config(|c| c.keepalive_interval = None));
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(tick(&mut c, Duration::from_secs(1_000_000)), vec![]);
        assert!(c.data_to_send().is_empty());
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn keepalive_counts_whole_frames_not_bytes() {
        // A peer that drips a frame one byte at a time is idle (the connection's documented
        // defence against slowloris).
        let s = |secs: u64| Duration::from_secs(secs);
        let mut c = conn(Role::Server, keepalive_config());
        let _ = tick(&mut c, s(0));
        let frame = Raw::binary([0; 1000]).to(Role::Server).bytes();
        let mut drip = frame.iter();
        let mut secs = 0;
        let mut events = Vec::new();
        let mut out = Vec::new();
        while events.is_empty() {
            secs += 1;
            assert!(secs <= 40, "never failed a dripping peer");
            let byte = drip.next().expect("the frame outlasts the test");
            events.extend(feed(&mut c, std::slice::from_ref(byte)));
            events.extend(tick(&mut c, s(secs)));
            out.extend(drain(&mut c));
        }
        // A Ping at 10 s, unanswered by a whole frame until 15 s.
        assert_eq!(secs, 15);
        assert_eq!(events, vec![Event::Failed(ProtocolError::KeepaliveTimeout)]);
        let frames = parse_frames(&out);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!((frames[0].opcode, frames[0].payload.len()), (0x9, 0));
        assert_eq!(frames[1].close_code(), Some(1011));
    }
}

/// End to end through the pair.
mod pair {
    use super::*;

    #[test]
    fn messages_flow_both_ways_with_partial_writes() {
        let mut pair = Pair::default().with_max_write(3);
        pair.client.send_text("from client").unwrap();
        pair.server.send_binary(&[9; 300]).unwrap();
        pair.client.ping(b"c").unwrap();
        let driven = pair.drive();
        assert_eq!(
            driven.server,
            vec![ping_event(b"c"), text_event("from client")]
        );
        assert_eq!(
            driven.client,
            vec![
                Event::Message(Message::binary(vec![9; 300])),
                pong_event(b"c")
            ]
        );
    }
}
