//! Attacks on the sans-IO core (issue 4, "Limits and attacks"), each test named after one: a
//! handshake of 100 KB of headers, of 10,000 headers, or a header line that never ends; bytes
//! dripped into the handshake (work linear in the bytes read); a flood of 100,000 pings; and the
//! malformed frames a hostile peer sends to find a crash or a wrong answer: invalid UTF-8 split
//! across fragments (1007), bad close codes, 1-byte close payloads, 126-byte control frames and
//! reserved opcodes (1002). Every failure is checked the way the peer sees it, the status code of
//! the Close frame on the wire, for both roles, whether the bytes arrive whole, one at a time, or
//! in odd-sized pieces.
//!
//! Memory is proven with a counting allocator in `tests/attacks_alloc.rs`; the adapters'
//! timeouts and backpressure are attacked over TCP in `attacks_net`.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use rfc6455::handshake::{
    ClientHandshake, ClientRequest, HandshakeError, HandshakeLimits, ServerHandshake,
};
use rfc6455::{Bytes, Config, Event, ProtocolError, Role, State, Status};

const BOTH: [Role; 2] = [Role::Client, Role::Server];

// ------------------------------------------------------------------ the right close code, every time

/// How the attacker's bytes are cut into reads: whole, one byte at a time, or in pieces of a
/// few odd sizes (so that every header field and payload straddles a boundary somewhere).
const CUTS: [usize; 6] = [usize::MAX, 1, 2, 3, 5, 7];

/// Feeds `input` to fresh connections of `role`, cut in each of [`CUTS`], and checks the same
/// thing every time: the events are `before` then `Failed(error)`, the error maps to `code`,
/// the last frame written is a Close with `code` (masked exactly when we are the client), the
/// frames written are the same whatever the cut, and nothing is processed afterwards.
#[track_caller]
fn fails_every_time(role: Role, input: &[u8], before: &[Event], error: ProtocolError, code: u16) {
    assert_eq!(
        error.close_code().0,
        code,
        "{error:?} maps to the wrong code"
    );
    let mut first_output = None;
    for cut in CUTS {
        let what = format!(
            "{role:?}, input {:02x?}, cut {cut}",
            &input[..input.len().min(40)]
        );
        let mut c = conn(role, Config::default());
        let mut events = Vec::new();
        for piece in input.chunks(cut.min(input.len()).max(1)) {
            events.extend(feed(&mut c, piece));
        }
        let mut expected = before.to_vec();
        expected.push(Event::Failed(error.clone()));
        assert_eq!(events, expected, "{what}");
        let frames = drain_frames(&mut c);
        let last = frames
            .last()
            .unwrap_or_else(|| panic!("{what}: no Close frame sent"));
        assert_eq!(last.opcode, 0x8, "{what}: {frames:?}");
        assert_eq!(last.close_code(), Some(code), "{what}: {frames:?}");
        assert!(
            frames
                .iter()
                .all(|f| f.mask.is_some() == (role == Role::Client)),
            "{what}: {frames:?}"
        );
        assert_eq!(
            frames.iter().filter(|f| f.opcode == 0x8).count(),
            1,
            "{what}: {frames:?}"
        );
        assert_eq!(c.state(), State::Closed, "{what}");
        // §7.1.7: nothing more is processed, nothing more is sent.
        assert_eq!(
            feed(&mut c, &Raw::text("more").to(role).bytes()),
            vec![],
            "{what}"
        );
        assert!(c.data_to_send().is_empty(), "{what}");
        let output = summary(&frames);
        match &first_output {
            None => first_output = Some(output),
            Some(first) => assert_eq!(&output, first, "{what}: output depends on the cut"),
        }
    }
}

/// (opcode, fin, payload) of each frame.
fn summary(frames: &[WireFrame]) -> Vec<(u8, bool, Vec<u8>)> {
    frames
        .iter()
        .map(|f| (f.opcode, f.fin, f.payload.clone()))
        .collect()
}

/// Frames as the peer of `role` sends them.
fn frames_to(role: Role, frames: &[Raw]) -> Vec<u8> {
    let masked: Vec<Raw> = frames.iter().cloned().map(|f| f.to(role)).collect();
    wire(&masked)
}

/// §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream
/// is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_",
/// with 1007 (§7.4.1). The invalid sequence is split across fragments every way that matters: a
/// lead byte in one fragment and a bad continuation byte in the next, a 4-byte sequence over
/// four fragments, a surrogate, a code point over U+10FFFF, an overlong form, a message that ends
/// inside a sequence, a Ping between the two halves.
#[test]
fn invalid_utf8_split_across_fragments_fails_with_1007() {
    let t = |p: &[u8]| Raw::text(p).fin(false);
    let c = |p: &[u8], fin: bool| Raw::cont(p).fin(fin);
    let cases: Vec<(&str, Vec<Raw>, Vec<Event>)> = vec![
        (
            "lead byte, then ASCII",
            vec![t(b"\xce"), c(b"A", true)],
            vec![],
        ),
        (
            "4-byte sequence over four fragments, bad last byte",
            vec![
                t(b"\xf0"),
                c(b"\x9f", false),
                c(b"\x98", false),
                c(b"A", true),
            ],
            vec![],
        ),
        (
            "surrogate U+D800",
            vec![t(b"\xed"), c(b"\xa0\x80", true)],
            vec![],
        ),
        (
            "over U+10FFFF",
            vec![t(b"\xf4"), c(b"\x90\x80\x80", true)],
            vec![],
        ),
        ("overlong NUL", vec![t(b"\xc0"), c(b"\x80", true)], vec![]),
        (
            "ends inside a sequence (empty final fragment)",
            vec![t(b"ok \xe2\x82"), c(b"", true)],
            vec![],
        ),
        (
            "ends inside a sequence (lead byte in the final fragment)",
            vec![t(b"ok"), c(b" \xf0\x9f\x98", true)],
            vec![],
        ),
        (
            "valid then invalid in a later fragment",
            vec![t(b"h\xc3"), c(b"\xa9llo", false), c(b" \xff", true)],
            vec![],
        ),
        (
            "a Ping between the halves",
            vec![t(b"\xe2"), Raw::ping(b"x"), c(b"\x28\xa1", true)],
            vec![Event::Ping(Bytes::from_static(b"x"))],
        ),
        (
            "the bad byte in a fragment that never ends",
            vec![t(b"fine"), c(b"\xe2\x82\x28", false)],
            vec![],
        ),
    ];
    for role in BOTH {
        for (name, frames, before) in &cases {
            let input = frames_to(role, frames);
            eprintln!("{role:?}: {name}");
            fails_every_time(role, &input, before, ProtocolError::InvalidUtf8, 1007);
        }
        // The control: the same splits of valid UTF-8 are a message.
        let input = frames_to(role, &[t(b"\xf0"), c(b"\x9f", false), c(b"\x98\x80", true)]);
        let mut conn = conn(role, Config::default());
        assert_eq!(
            feed(&mut conn, &input),
            vec![Event::Message(rfc6455::Message::text("\u{1f600}"))]
        );
    }
}

/// §7.4: a status code the peer may not send (0-999, 1004-1006, 1015, unassigned 1016-2999,
/// 5000 and above) fails the connection with 1002, with or without a reason; the codes it may
/// send are echoed (the control that shows the check is not "reject everything").
#[test]
fn bad_close_codes_fail_with_1002() {
    let bad = [
        0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 0xFFFF,
    ];
    for role in BOTH {
        for code in bad {
            for reason in [&b""[..], b"bye"] {
                let input = Raw::close(code, reason).to(role).bytes();
                fails_every_time(
                    role,
                    &input,
                    &[],
                    ProtocolError::InvalidCloseCode(code),
                    1002,
                );
            }
        }
        for code in [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            let mut c = conn(role, Config::default());
            let events = feed(&mut c, &Raw::close(code, "ok").to(role).bytes());
            assert!(
                matches!(&events[..], [Event::Close(Some(f))] if f.code.0 == code),
                "{events:?}"
            );
            let frames = drain_frames(&mut c);
            assert_eq!(frames.len(), 1);
            assert_eq!(
                frames[0].close_code(),
                Some(code),
                "{role:?}: echo of {code}"
            );
        }
        // And a reason that is not UTF-8 is 1007 (§5.5.1, §8.1).
        let input = Raw::close(1000, b"\xff").to(role).bytes();
        fails_every_time(role, &input, &[], ProtocolError::InvalidUtf8, 1007);
    }
}

/// §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned
/// integer": a Close payload of one byte is a protocol error (1002).
#[test]
fn close_payloads_of_one_byte_fail_with_1002() {
    for role in BOTH {
        for byte in [0x00, 0x03, 0xE8, 0xFF] {
            let input = Raw::new(0x8, [byte]).to(role).bytes();
            fails_every_time(role, &input, &[], ProtocolError::CloseTooShort, 1002);
        }
    }
}

/// §5.5: "All control frames MUST have a payload length of 125 bytes or less". 126 bytes (in
/// the 16-bit form, and in the 64-bit form), 65,535 and 2^40 declared without the payload: all
/// 1002, as soon as the header is read. 125 bytes is fine (the control).
#[test]
fn control_frames_of_126_bytes_fail_with_1002() {
    for role in BOTH {
        for opcode in [0x8, 0x9, 0xA] {
            // A valid status code first, so that only the length is wrong.
            let mut payload = vec![0x03, 0xE8];
            payload.resize(126, b'x');
            for form in [LenForm::Medium, LenForm::Long] {
                let input = Raw::new(opcode, &payload).len_form(form).to(role).bytes();
                fails_every_time(
                    role,
                    &input,
                    &[],
                    ProtocolError::ControlFrameTooLong(126),
                    1002,
                );
            }
            for declared in [0xFFFF, 1 << 40] {
                let input = Raw::new(opcode, [])
                    .declared_len(declared)
                    .to(role)
                    .header();
                fails_every_time(
                    role,
                    &input,
                    &[],
                    ProtocolError::ControlFrameTooLong(declared),
                    1002,
                );
            }
        }
        let mut c = conn(role, Config::default());
        let big = vec![b'p'; 125];
        assert_eq!(
            feed(&mut c, &Raw::ping(&big).to(role).bytes()),
            vec![Event::Ping(Bytes::from(big.clone()))]
        );
        let frames = drain_frames(&mut c);
        assert_eq!(summary(&frames), vec![(0xA, true, big)]);
    }
}

/// §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
/// Connection_." Opcodes 0x3-0x7 and 0xB-0xF, with and without a payload and FIN, alone or in
/// the middle of a fragmented message: 1002.
#[test]
fn reserved_opcodes_fail_with_1002() {
    for role in BOTH {
        for opcode in (0x3..=0x7).chain(0xB..=0xF) {
            for fin in [true, false] {
                for payload in [&b""[..], b"abc"] {
                    let frame = Raw::new(opcode, payload).fin(fin);
                    let input = frames_to(role, std::slice::from_ref(&frame));
                    fails_every_time(
                        role,
                        &input,
                        &[],
                        ProtocolError::ReservedOpcode(opcode),
                        1002,
                    );
                    let input = frames_to(role, &[Raw::text("par").fin(false), frame]);
                    fails_every_time(
                        role,
                        &input,
                        &[],
                        ProtocolError::ReservedOpcode(opcode),
                        1002,
                    );
                }
            }
        }
    }
}

// ------------------------------------------------------------------ ping flood

const PINGS: usize = 100_000;
/// "A few KiB": the control queue's coalescing threshold (4 KiB) plus one Pong.
const PONG_QUEUE_BOUND: usize = 8 << 10;

fn ping_payload(i: usize) -> Vec<u8> {
    format!("ping {i}").into_bytes()
}

/// The ping index a Pong answers.
fn pong_index(frame: &WireFrame) -> usize {
    assert_eq!(frame.opcode, 0xA, "not a Pong: {frame:?}");
    std::str::from_utf8(&frame.payload)
        .ok()
        .and_then(|s| s.strip_prefix("ping "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not one of our payloads: {frame:?}"))
}

/// What the Pongs in `output` say: they answer pings in increasing order, the last answers the
/// last ping, and every ping before coalescing began got its own. Returns the number of Pongs.
#[track_caller]
fn check_pongs(output: &[u8], what: &str) -> usize {
    let frames = parse_frames(output); // panics on a torn frame
    let indices: Vec<usize> = frames.iter().map(pong_index).collect();
    assert!(
        indices.windows(2).all(|w| w[0] < w[1]),
        "{what}: pongs out of order"
    );
    assert_eq!(indices.last(), Some(&(PINGS - 1)), "{what}: the last pong");
    assert_eq!(indices[0], 0, "{what}: the first ping's pong");
    indices.len()
}

/// A flood of 100,000 Pings. §5.5.2 wants a Pong for each; §5.5.3 lets a Pong answer only the most
/// recent Ping when earlier ones are still unanswered. Whether the application never writes,
/// writes a few bytes at a time, or reads the whole flood at once: the Pongs go out in order,
/// never torn, the last one carries the last Ping's payload, and the queue
/// (`buffered_amount()`) stays under a few KiB.
#[test]
fn a_ping_flood_of_100000_gets_pongs_in_order_with_a_bounded_queue() {
    for role in BOTH {
        let pings: Vec<Vec<u8>> = (0..PINGS)
            .map(|i| Raw::ping(ping_payload(i)).to(role).bytes())
            .collect();

        // The application never writes while the flood lasts.
        let mut c = conn(role, Config::default());
        let mut max_queued = 0;
        for (i, ping) in pings.iter().enumerate() {
            c.receive(ping);
            assert_eq!(
                c.poll_event(),
                Some(Event::Ping(Bytes::from(ping_payload(i))))
            );
            assert_eq!(c.poll_event(), None);
            max_queued = max_queued.max(c.buffered_amount());
        }
        let what = format!("{role:?}, never drained");
        let pongs = check_pongs(&drain(&mut c), &what);
        eprintln!("{what}: at most {max_queued} B queued; {pongs} pongs");
        assert!(
            max_queued < PONG_QUEUE_BOUND,
            "{what}: {max_queued} B queued"
        );

        // The application writes 5 bytes after each Ping: Pongs start and stop mid-frame.
        let mut c = conn(role, Config::default());
        let mut output = Vec::new();
        let mut max_queued = 0;
        for ping in &pings {
            c.receive(ping);
            while c.poll_event().is_some() {}
            max_queued = max_queued.max(c.buffered_amount());
            let n = c.data_to_send().len().min(5);
            output.extend_from_slice(&c.data_to_send()[..n]);
            c.mark_sent(n);
        }
        output.extend(drain(&mut c));
        let what = format!("{role:?}, 5 bytes written per ping");
        let pongs = check_pongs(&output, &what);
        eprintln!("{what}: at most {max_queued} B queued; {pongs} pongs");
        assert!(
            max_queued < PONG_QUEUE_BOUND,
            "{what}: {max_queued} B queued"
        );

        // The whole flood in one read.
        let mut c = conn(role, Config::default());
        let flood: Vec<u8> = pings.concat();
        c.receive(&flood);
        let mut seen = 0;
        while let Some(event) = c.poll_event() {
            assert_eq!(event, Event::Ping(Bytes::from(ping_payload(seen))));
            seen += 1;
            assert!(c.buffered_amount() < PONG_QUEUE_BOUND, "{role:?}");
        }
        assert_eq!(seen, PINGS);
        let what = format!("{role:?}, one read");
        let pongs = check_pongs(&drain(&mut c), &what);
        eprintln!("{what}: {pongs} pongs");
    }
}

/// The flood does not starve data: a message the application queued goes out whole, the
/// Pongs go around it (between frames, never inside one, §5.4), and the peer's data messages
/// mixed into the flood are delivered in order.
#[test]
fn a_ping_flood_mixed_with_messages_keeps_both_in_order() {
    for role in BOTH {
        let mut c = conn(role, Config::default());
        c.send_binary(&vec![0x42; 100_000]).expect("send");
        let mut output = Vec::new();
        let mut delivered = Vec::new();
        for i in 0..20_000 {
            let mut input = Raw::ping(ping_payload(i)).to(role).bytes();
            if i % 1000 == 999 {
                input.extend(Raw::text(format!("m{i}")).to(role).bytes());
            }
            c.receive(&input);
            while let Some(event) = c.poll_event() {
                if let Event::Message(m) = event {
                    delivered.push(m.as_text().expect("text").to_owned());
                }
            }
            let n = c.data_to_send().len().min(64);
            output.extend_from_slice(&c.data_to_send()[..n]);
            c.mark_sent(n);
        }
        output.extend(drain(&mut c));
        let frames = parse_frames(&output);
        let data: Vec<&WireFrame> = frames.iter().filter(|f| f.opcode == 0x2).collect();
        assert_eq!(data.len(), 1, "{role:?}");
        assert_eq!(data[0].payload, vec![0x42; 100_000], "{role:?}");
        let pongs: Vec<usize> = frames
            .iter()
            .filter(|f| f.opcode == 0xA)
            .map(pong_index)
            .collect();
        assert!(pongs.windows(2).all(|w| w[0] < w[1]), "{role:?}");
        assert_eq!(pongs.last(), Some(&19_999), "{role:?}");
        let expected: Vec<String> = (0..20).map(|k| format!("m{}", k * 1000 + 999)).collect();
        assert_eq!(delivered, expected, "{role:?}");
    }
}

// ------------------------------------------------------------------ the opening handshake

const REQUEST_LINE: &[u8] = b"GET /chat HTTP/1.1\r\n";
const STATUS_LINE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n";

/// A handshake's `receive`, answering whether it completed.
type Receive = Box<dyn FnMut(&[u8]) -> Result<bool, HandshakeError>>;

/// One side of the opening handshake behind one interface: the server reads a request, the
/// client a response.
struct Side {
    name: &'static str,
    receive: Receive,
    first_line: &'static [u8],
}

fn server_side(limits: HandshakeLimits) -> Side {
    let mut h = ServerHandshake::new(limits);
    Side {
        name: "ServerHandshake",
        receive: Box::new(move |d| h.receive(d).map(|s| matches!(s, Status::Complete(_)))),
        first_line: REQUEST_LINE,
    }
}

fn client_side(limits: HandshakeLimits) -> Side {
    let request = ClientRequest::new("ws://127.0.0.1/chat").expect("url");
    let mut config = Config::default();
    config.handshake_limits = limits;
    let (mut h, _bytes) = ClientHandshake::with_key(&request, [0x5A; 16], config);
    Side {
        name: "ClientHandshake",
        receive: Box::new(move |d| h.receive(d).map(|s| matches!(s, Status::Complete(_)))),
        first_line: STATUS_LINE,
    }
}

fn sides(limits: HandshakeLimits) -> [Side; 2] {
    [server_side(limits), client_side(limits)]
}

/// Feeds `input` in `cut`-byte reads until the handshake answers something other than
/// `Partial`; returns that answer and how many bytes it had read.
fn feed_handshake(
    side: &mut Side,
    input: &[u8],
    cut: usize,
) -> (Result<bool, HandshakeError>, usize) {
    let mut fed = 0;
    for piece in input.chunks(cut) {
        fed += piece.len();
        match (side.receive)(piece) {
            Ok(false) => {}
            other => return (other, fed),
        }
    }
    (Ok(false), fed)
}

/// 100 KB of plausible headers (`X-Header-N: value`), whole or one byte at a time: rejected
/// with `TooLarge` (431 on the server) when the 16 KiB limit is reached, not after reading the
/// rest; later calls give the same error without reading anything.
#[test]
fn a_handshake_with_100_kb_of_headers_is_rejected_at_the_limit() {
    let limits = HandshakeLimits::new();
    for cut in [usize::MAX, 1, 1000] {
        for mut side in sides(limits) {
            let mut input = side.first_line.to_vec();
            let mut n = 0;
            while input.len() < 100_000 {
                input.extend(format!("X-Header-{n}: {}\r\n", "v".repeat(40)).bytes());
                n += 1;
            }
            input.extend_from_slice(b"\r\n");
            let (result, fed) = feed_handshake(&mut side, &input, cut);
            let what = format!("{}, {} B of headers, cut {cut}", side.name, input.len());
            assert_eq!(
                result,
                Err(HandshakeError::TooLarge { limit: 16 << 10 }),
                "{what}"
            );
            assert!(
                fed <= (16 << 10) + cut.min(input.len()),
                "{what}: read {fed}"
            );
            if cut == 1 {
                assert_eq!(fed, 16 << 10, "{what}: rejected at the limit exactly");
            }
            assert_eq!(
                (side.receive)(b"\r\n\r\n"),
                Err(HandshakeError::TooLarge { limit: 16 << 10 }),
                "{what}: after the error"
            );
        }
    }
    let error = HandshakeError::TooLarge { limit: 16 << 10 };
    assert_eq!(error.status(), Some(431));
    let response = error.response().expect("a server response");
    assert!(
        response.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&response)
    );
}

/// 10,000 header fields: with the default limits they do not even fit in 16 KiB (`TooLarge`);
/// with room for the bytes they are still over the 64 fields the limit allows
/// (`TooManyHeaders`). Both are 431 on the server.
#[test]
fn a_handshake_with_10000_headers_is_rejected() {
    for cut in [usize::MAX, 1] {
        for (limits, expected) in [
            (
                HandshakeLimits::new(),
                HandshakeError::TooLarge { limit: 16 << 10 },
            ),
            (
                HandshakeLimits::new().with_max_bytes(1 << 20),
                HandshakeError::TooManyHeaders { limit: 64 },
            ),
        ] {
            for mut side in sides(limits) {
                let mut input = side.first_line.to_vec();
                for n in 0..10_000 {
                    input.extend(format!("X-{n}: v\r\n").bytes());
                }
                input.extend_from_slice(b"\r\n");
                let (result, fed) = feed_handshake(&mut side, &input, cut);
                let what = format!("{}, {limits:?}, cut {cut}", side.name);
                assert_eq!(result, Err(expected.clone()), "{what}");
                assert_eq!(expected.status(), Some(431));
                eprintln!("{what}: {expected} after {fed} of {} bytes", input.len());
            }
        }
    }
}

/// A header line that never ends (1 MB of one header value, no line end): rejected with
/// `TooLarge` once 16 KiB are buffered, whether it arrives in one read or one byte at a time.
#[test]
fn a_handshake_header_line_that_never_ends_is_rejected_at_the_limit() {
    for cut in [usize::MAX, 4096, 1] {
        for mut side in sides(HandshakeLimits::new()) {
            let mut input = side.first_line.to_vec();
            input.extend_from_slice(b"X-Never-Ends: ");
            input.resize(1_000_000, b'z');
            let (result, fed) = feed_handshake(&mut side, &input, cut);
            let what = format!("{}, cut {cut}", side.name);
            assert_eq!(
                result,
                Err(HandshakeError::TooLarge { limit: 16 << 10 }),
                "{what}"
            );
            assert!(
                fed <= (16 << 10) + cut.min(input.len()),
                "{what}: read {fed}"
            );
        }
        // A request line that never ends, too.
        let mut side = server_side(HandshakeLimits::new());
        let mut input = b"GET /".to_vec();
        input.resize(1_000_000, b'a');
        let (result, _) = feed_handshake(&mut side, &input, cut);
        assert_eq!(
            result,
            Err(HandshakeError::TooLarge { limit: 16 << 10 }),
            "cut {cut}"
        );
    }
}

/// Builds handshake input of about `n` bytes (after the first line).
type Shape = fn(usize) -> Vec<u8>;
/// Builds one side of the handshake.
type MakeSide = fn(HandshakeLimits) -> Side;

/// Feeds `input` one byte at a time to a fresh side until it answers; `None` if `budget` ran
/// out first (so that a quadratic parser fails the test instead of hanging it).
fn drip(
    make: &dyn Fn() -> Side,
    input: &[u8],
    budget: Duration,
) -> Option<Result<bool, HandshakeError>> {
    let mut side = make();
    let started = Instant::now();
    for (i, byte) in input.iter().enumerate() {
        if i % 1024 == 0 && started.elapsed() > budget {
            return None;
        }
        match (side.receive)(std::slice::from_ref(byte)) {
            Ok(false) => {}
            other => return Some(other),
        }
    }
    Some(Ok(false))
}

/// The time one byte-by-byte feed of `small` takes and the time one of `large` takes, and the
/// answer to `large`. Each small time is the mean of as many back-to-back runs as it takes to
/// feed as many bytes as one large run, so that both windows are equally long and a busy
/// machine slows both alike; the best of 3 interleaved rounds is kept. The large run gets
/// `ratio_budget` times the small time before it is cut short.
fn time_small_and_large(
    make: &dyn Fn() -> Side,
    small: &[u8],
    large: &[u8],
    ratio_budget: u32,
) -> (Duration, Duration, Option<Result<bool, HandshakeError>>) {
    let repeat = (large.len() / small.len()).max(1) as u32;
    let mut best_small = Duration::MAX;
    let mut best_large = (Duration::MAX, None);
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..repeat {
            let answer = drip(make, small, Duration::from_secs(20));
            assert!(answer.is_some(), "{} bytes took over 20 s", small.len());
        }
        best_small = best_small.min(started.elapsed() / repeat);
        let started = Instant::now();
        let answer = drip(make, large, best_small * ratio_budget);
        let elapsed = started.elapsed();
        if elapsed < best_large.0 {
            best_large = (elapsed, answer);
        }
    }
    (best_small, best_large.0, best_large.1)
}

/// Handshake bytes dripped one at a time cost time linear in the bytes read: with the limits
/// raised out of the way (2 MiB, 200,000 headers), feeding 1 MB takes about 10 times as long as
/// feeding 100 KB, not 100 times (quadratic: rescanning or reparsing the buffer on every
/// byte). Checked for a header line that never ends, for many headers with no end of the
/// block, and for a complete block of about 100,000 headers (httparse runs once, at the end),
/// on both sides. The bound is 30x, loose enough for a debug build on a busy machine, and the
/// 1 MB feed is cut short (failing the test) once it has taken 30 times the 100 KB one. At the
/// default limits the drip is rejected after 16 KiB, in the same time however much the
/// attacker still has to send.
#[test]
fn handshake_bytes_fed_one_at_a_time_cost_linear_time() {
    let raised = HandshakeLimits::new()
        .with_max_bytes(2 << 20)
        .with_max_headers(200_000);
    let shapes: [(&str, Shape); 3] = [
        ("a header line that never ends", |n| {
            let mut v = b"X-Never-Ends: ".to_vec();
            v.resize(n, b'z');
            v
        }),
        ("headers without an end", |n| {
            let mut v = Vec::with_capacity(n + 16);
            let mut i = 0;
            while v.len() < n {
                v.extend(format!("X-{i}: v\r\n").bytes());
                i += 1;
            }
            v
        }),
        ("a complete block of many headers", |n| {
            let mut v = Vec::with_capacity(n + 16);
            let mut i = 0;
            while v.len() + 2 < n {
                v.extend(format!("X-{i}: v\r\n").bytes());
                i += 1;
            }
            v.extend_from_slice(b"\r\n");
            v
        }),
    ];
    let makers: [(&str, MakeSide); 2] = [
        ("ServerHandshake", server_side),
        ("ClientHandshake", client_side),
    ];
    for (side_name, make) in makers {
        for (shape, body) in shapes {
            let first = make(raised).first_line;
            let input = |n: usize| [first, &body(n)].concat();
            let (small, large, large_result) =
                time_small_and_large(&|| make(raised), &input(100_000), &input(1_000_000), 30);
            let ratio = large.as_secs_f64() / small.as_secs_f64();
            eprintln!(
                "{side_name}, {shape}, byte by byte: 100 KB in {small:?}, 1 MB in {large:?} \
                 (ratio {ratio:.1}); answer {large_result:?}"
            );
            assert!(
                ratio < 30.0,
                "{side_name}, {shape}: 100 KB in {small:?}, 1 MB in {large:?}: ratio {ratio:.1}"
            );
            // Not rejected for size: the work was really done on all the bytes.
            assert!(
                !matches!(large_result, Some(Err(HandshakeError::TooLarge { .. }))),
                "{side_name}, {shape}: {large_result:?}"
            );
        }
        // Default limits: the drip ends at 16 KiB whatever its length.
        let defaults = HandshakeLimits::new();
        let endless = |n: usize| [make(defaults).first_line, &vec![b'a'; n]].concat();
        let (small, large, answer) = time_small_and_large(
            &|| make(defaults),
            &endless(100_000),
            &endless(1_000_000),
            30,
        );
        eprintln!(
            "{side_name}, default limits, byte by byte: rejected in {small:?} (100 KB sent) and \
             {large:?} (1 MB sent)"
        );
        assert_eq!(
            answer,
            Some(Err(HandshakeError::TooLarge { limit: 16 << 10 }))
        );
        assert!(
            large < small * 5 + Duration::from_millis(50),
            "{small:?} vs {large:?}"
        );
    }
}

// ------------------------------------------------------------------ the control for the harness

/// The checks above can fail: a well-formed exchange does not satisfy [`fails_every_time`]'s
/// first assertion (it delivers a message instead of failing).
#[test]
#[should_panic(expected = "cut")]
fn the_close_code_check_rejects_a_valid_exchange() {
    let input = Raw::text("fine").to(Role::Server).bytes();
    fails_every_time(Role::Server, &input, &[], ProtocolError::InvalidUtf8, 1007);
}
