//! Shared harness code for the fuzz targets in `fuzz_targets/`: chunking of the input, a strict
//! parser for the bytes a [`Connection`] writes, the connection driver with its invariants, and
//! a reference model of RFC 6455 §5 that says which events (and which error) each input must give.
//!
//! Everything here panics on a broken invariant: that is how libFuzzer learns about it.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rfc6455::frame::apply_mask;
use rfc6455::{
    Bytes, CloseCode, CloseFrame, Config, Connection, DataFrame, DataKind, Event, FrameHeader,
    Message, Opcode, ProtocolError, Role, State, Status,
};

// ------------------------------------------------------------------------------------ chunking

/// The size of a chunk, from one input byte: 0-127 give 1-128 bytes, 128-254 give 64-8128 bytes
/// in steps of 64, 255 gives "everything that is left".
pub fn chunk_size(b: u8) -> usize {
    match b {
        0..=127 => usize::from(b) + 1,
        128..=254 => usize::from(b - 127) * 64,
        255 => usize::MAX,
    }
}

/// Splits `data` into chunks whose sizes cycle through `sizes` (each at least 1).
pub fn chunks<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    assert!(!sizes.is_empty() && sizes.iter().all(|&s| s > 0));
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
        i += 1;
    }
    out
}

/// Takes `n` leading bytes as a chunk-size spec (see [`chunk_size`]); `None` if `data` is shorter.
pub fn split_spec(data: &[u8], n: usize) -> Option<(Vec<usize>, &[u8])> {
    if data.len() < n {
        return None;
    }
    let (spec, rest) = data.split_at(n);
    Some((spec.iter().map(|&b| chunk_size(b)).collect(), rest))
}

// ----------------------------------------------------------------------------- output parsing

/// One frame that a connection wrote, payload unmasked.
#[derive(Debug, Clone)]
pub struct WireFrame {
    /// Its header, as decoded.
    pub header: FrameHeader,
    /// The unmasked payload.
    pub payload: Vec<u8>,
}

/// Parses what a connection of role `sender` wrote, asserting that it is a sequence of complete,
/// well-formed frames: minimal length form (§5.2), RSV bits clear, masked exactly when a client
/// sent it (§5.1, §5.3), nothing torn or left over.
pub fn parse_wire(wire: &[u8], sender: Role) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < wire.len() {
        let (header, n) = match FrameHeader::decode(&wire[pos..]) {
            Ok(Status::Complete(h)) => h,
            other => panic!(
                "output is not a frame at byte {pos} of {}: {other:?}",
                wire.len()
            ),
        };
        assert_eq!(
            n,
            header.encoded_len(),
            "output header not in minimal form: {header:?}"
        );
        assert_eq!(header.rsv, 0, "output frame with RSV bits: {header:?}");
        match sender {
            Role::Client => assert!(header.mask.is_some(), "client frame not masked"),
            Role::Server => assert!(header.mask.is_none(), "server frame masked"),
        }
        let len = usize::try_from(header.payload_len).expect("payload length fits usize");
        let start = pos + n;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= wire.len())
            .unwrap_or_else(|| panic!("torn output frame at byte {pos}: {header:?}"));
        let mut payload = wire[start..end].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        frames.push(WireFrame { header, payload });
        pos = end;
    }
    frames
}

/// Checks the rules a sequence of frames we sent must follow: fragmentation (§5.4), control
/// frames (§5.5), text is UTF-8 (§5.6), Close payloads are valid (§5.5.1, §7.4) and no data
/// frame follows a Close (§5.5.1). Returns the index of the Close frame, if any.
pub fn check_sent_frames(frames: &[WireFrame]) -> Option<usize> {
    let mut in_message: Option<(Opcode, Vec<u8>)> = None;
    let mut close_at = None;
    for (i, f) in frames.iter().enumerate() {
        let h = &f.header;
        if h.opcode.is_control() {
            assert!(h.fin, "fragmented control frame sent");
            assert!(f.payload.len() <= 125, "control frame over 125 bytes sent");
        } else {
            assert!(close_at.is_none(), "data frame sent after a Close (§5.5.1)");
        }
        match h.opcode {
            Opcode::Text | Opcode::Binary => {
                assert!(in_message.is_none(), "new message inside a fragmented one");
                in_message = Some((h.opcode, f.payload.clone()));
            }
            Opcode::Continuation => {
                let msg = in_message.as_mut().expect("continuation without a message");
                msg.1.extend_from_slice(&f.payload);
            }
            Opcode::Close => {
                assert!(close_at.is_none(), "two Close frames sent");
                close_at = Some(i);
                CloseFrame::decode(&f.payload)
                    .unwrap_or_else(|e| panic!("invalid Close payload sent: {e}"));
            }
            Opcode::Ping | Opcode::Pong => {}
        }
        if h.fin && !h.opcode.is_control() {
            if let Some((Opcode::Text, bytes)) = in_message.take() {
                assert!(std::str::from_utf8(&bytes).is_ok(), "invalid utf-8 sent");
            }
        }
    }
    close_at
}

/// The close code a Close payload carries (`None` for an empty payload).
fn close_code_of(payload: &[u8]) -> Option<u16> {
    match payload {
        [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

// ---------------------------------------------------------------------- the connection driver

/// The small limits of the connection targets: frames, messages and fragment counts that a fuzzer
/// can reach in a few kilobytes.
pub fn small_config() -> Config {
    let mut config = Config::default();
    config.max_frame_size = 4096;
    config.max_message_size = 16384;
    config.max_fragments = 64;
    config
}

/// What the first input byte of a connection target turns on.
#[derive(Debug, Clone, Copy)]
pub struct Flags(u8);

impl Flags {
    fn eof_at_end(self) -> bool {
        self.0 & 0x01 != 0
    }
    fn stream_frames(self) -> bool {
        self.0 & 0x02 != 0
    }
    fn no_auto_pong(self) -> bool {
        self.0 & 0x04 != 0
    }
    /// Send a fragment of an outgoing binary message after each chunk (and, after a chunk of odd
    /// length, first try to `send` a whole [`large_message`]; at most 4 tries).
    fn send_between_chunks(self) -> bool {
        self.0 & 0x08 != 0
    }
    /// Start the closing handshake (1000) before any input.
    fn close_first(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// Write only a few bytes of our output after each chunk (a slow socket), and the rest at the
    /// end in writes of at most [`SLOW_FINAL_STEP`] bytes.
    fn partial_writes(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// Queue a Ping and a text message before any input (and a whole [`large_message`] when the
    /// first chunk-size byte is odd).
    fn send_first(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// Also feed an empty slice between chunks.
    fn empty_receives(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// How many slices a vectored write offers (an adapter's small `IoSlice` array).
pub const WRITE_SLICES: usize = 3;

/// Payloads at least this long are queued shared, not copied, by a server's `send` (the crate's
/// `outgoing::SHARE_MIN`).
pub const SHARE_MIN: usize = 4096;

/// One write call of at most `max` bytes of `conn`'s output into `wire`, the way an adapter makes
/// it: from `data_to_send()`, or (`vectored`) across the [`WRITE_SLICES`] slices of
/// `data_to_send_vectored()` in order; then `mark_sent` with the count. Asserts that the slices
/// begin with `data_to_send()` (nothing to send exactly when it is empty) and that `mark_sent`
/// releases exactly the bytes written. Returns that count (0: nothing to send).
pub fn write_once(conn: &mut Connection, wire: &mut Vec<u8>, max: usize, vectored: bool) -> usize {
    let before = conn.buffered_amount();
    let start = wire.len();
    {
        let plain = conn.data_to_send();
        if vectored {
            let mut dst: [&[u8]; WRITE_SLICES] = [&[]; WRITE_SLICES];
            let n = conn.data_to_send_vectored(&mut dst);
            assert!(n <= WRITE_SLICES, "{n} slices filled of {WRITE_SLICES}");
            assert_eq!(
                n == 0,
                plain.is_empty(),
                "vectored and plain output disagree"
            );
            let slices = &dst[..n];
            let total: usize = slices.iter().map(|s| s.len()).sum();
            assert!(total <= before, "{total} bytes offered, {before} queued");
            // The slices continue what `data_to_send()` offers.
            let mut rest = plain;
            for s in slices {
                let k = s.len().min(rest.len());
                if s.as_ptr() != rest.as_ptr() {
                    assert_eq!(&s[..k], &rest[..k], "vectored output differs from plain");
                }
                rest = &rest[k..];
            }
            assert!(rest.is_empty(), "vectored output shorter than plain");
            let mut left = max;
            for s in slices {
                let k = s.len().min(left);
                wire.extend_from_slice(&s[..k]);
                left -= k;
                if left == 0 {
                    break;
                }
            }
        } else {
            wire.extend_from_slice(&plain[..plain.len().min(max)]);
        }
    }
    let taken = wire.len() - start;
    conn.mark_sent(taken);
    assert_eq!(
        conn.buffered_amount(),
        before - taken,
        "mark_sent({taken}) did not release exactly the bytes written"
    );
    taken
}

/// Moves up to `budget` bytes of `conn`'s output into `wire`, the way a socket that accepts
/// `step` bytes per write would; write `k` is vectored when bit `k % 8` of `pattern` is set.
fn drain(conn: &mut Connection, wire: &mut Vec<u8>, step: usize, budget: usize, pattern: u8) {
    let mut moved = 0;
    let mut k = 0;
    while moved < budget {
        let vectored = (pattern >> (k % 8)) & 1 != 0;
        let n = write_once(conn, wire, step.min(budget - moved), vectored);
        if n == 0 {
            break;
        }
        moved += n;
        k += 1;
    }
}

/// A whole message of at least [`SHARE_MIN`] bytes (up to 1020 more) made from `seed`: text
/// (`seed` as lossy UTF-8, repeated) when `seed`'s first byte is odd, else binary (`seed`
/// cycled); an empty seed gives zeros.
pub fn large_message(seed: &[u8]) -> Message {
    let first = seed.first().copied().unwrap_or(0);
    let len = SHARE_MIN + usize::from(first) * 4;
    if first & 1 == 1 {
        let piece = String::from_utf8_lossy(seed);
        let mut text = String::with_capacity(len + piece.len());
        while text.len() < len {
            text.push_str(&piece);
        }
        Message::text(text)
    } else if seed.is_empty() {
        Message::binary(vec![0; len])
    } else {
        Message::binary(seed.iter().copied().cycle().take(len).collect::<Vec<u8>>())
    }
}

/// Polls until `None`, checking each event against the limits, and that nothing follows a final
/// event (`Failed`, `Close`) and that the loop ends (each event but the last consumes a header).
fn poll_all(conn: &mut Connection, config: &Config, events: &mut Vec<Event>) {
    let bound = conn.buffered_incoming() / 2 + 2;
    let mut n = 0;
    while let Some(event) = conn.poll_event() {
        n += 1;
        assert!(n <= bound, "poll_event loop does not end: {n} events");
        if let Some(last @ (Event::Failed(_) | Event::Close(_))) = events.last() {
            panic!("{event:?} after the final event {last:?}");
        }
        match &event {
            Event::Message(m) => {
                assert!(m.len() <= config.max_message_size, "message over the limit");
                if let Message::Text(t) = m {
                    assert!(std::str::from_utf8(t.as_bytes()).is_ok(), "text not utf-8");
                }
            }
            Event::Frame(f) => assert!(f.data.len() <= config.max_frame_size),
            Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
            Event::Failed(_) => assert_eq!(conn.state(), State::Closed),
            _ => {}
        }
        events.push(event);
    }
    assert_eq!(conn.poll_event(), None, "poll_event after None");
}

/// The write size of the final drain with [`Flags::partial_writes`]: odd, so that writes end
/// anywhere in a frame or a slice.
pub const SLOW_FINAL_STEP: usize = 1021;

/// Feeds `data` to a connection of `role` and checks every invariant. Input layout: one flags byte
/// ([`Flags`]), three chunk-size bytes ([`chunk_size`]), then the bytes from the peer.
///
/// Our output is written with `data_to_send()` or `data_to_send_vectored()` (see [`write_once`]):
/// after each chunk, write `k` is vectored when bit `k % 8` of the chunk's last byte is set; in the
/// final drain, of the input's last byte.
pub fn fuzz_connection(role: Role, data: &[u8]) {
    let [flags, spec @ ..] = data else { return };
    let flags = Flags(*flags);
    let first_size_odd = spec.first().is_some_and(|b| b & 1 == 1);
    let Some((sizes, input)) = split_spec(spec, 3) else {
        return;
    };
    let mut config = small_config();
    config.stream_frames = flags.stream_frames();
    config.auto_pong = !flags.no_auto_pong();
    let limit_in = config.max_frame_size + FrameHeader::MAX_LEN;
    let rng = Box::new(StdRng::seed_from_u64(u64::from(flags.0)));
    let mut conn = Connection::with_rng(role, config.clone(), rng);

    // Where the output was when a Ping or Pong was queued: the next frame to start there or later
    // must be a control frame (they go right after the data frame in flight, §5.4, §5.5).
    let mut ctrl_marks = Vec::new();
    if flags.send_first() {
        conn.ping(b"are you there").unwrap();
        ctrl_marks.push(0);
        conn.send_text("hello \u{1F600}").unwrap();
        if first_size_odd {
            conn.send(&large_message(input)).unwrap();
        }
    }
    if flags.close_first() {
        conn.close(CloseCode::NORMAL, "bye").unwrap();
    }
    let step = if flags.partial_writes() {
        3
    } else {
        usize::MAX
    };
    let budget = if flags.partial_writes() {
        7
    } else {
        usize::MAX
    };

    // With auto_pong, each Ping event queued a Pong (none after our Close: close_first).
    let pongs_queued = config.auto_pong && !flags.close_first();
    let any_ping = |events: &[Event]| events.iter().any(|e| matches!(e, Event::Ping(_)));

    let mut events = Vec::new();
    let mut wire = Vec::new();
    let mut large_tries = 0;
    for (i, chunk) in chunks(input, &sizes).into_iter().enumerate() {
        let seen = events.len();
        conn.receive(chunk);
        assert!(
            conn.buffered_incoming() <= limit_in + chunk.len(),
            "read buffer {} over max_frame_size + 14 + chunk {}",
            conn.buffered_incoming(),
            chunk.len()
        );
        poll_all(&mut conn, &config, &mut events);
        assert!(
            conn.buffered_incoming() <= limit_in,
            "read buffer {} over max_frame_size + 14 after polling",
            conn.buffered_incoming()
        );
        if flags.empty_receives() {
            conn.receive(&[]);
            poll_all(&mut conn, &config, &mut events);
        }
        if pongs_queued && any_ping(&events[seen..]) {
            ctrl_marks.push(wire.len());
        }
        if flags.send_between_chunks() {
            // Errors are fine here (closed, buffer full, a fragmented message in progress); the
            // output checks catch a bad frame.
            if chunk.len() % 2 == 1 && large_tries < 4 {
                large_tries += 1;
                let _ = conn.send(&large_message(chunk));
            }
            let _ = conn.send_frame(DataKind::Binary, &[i as u8; 5], i % 3 == 2);
        }
        let pattern = chunk.last().copied().unwrap_or(0);
        drain(&mut conn, &mut wire, step, budget, pattern);
    }
    let eof = flags.eof_at_end();
    if eof {
        let seen = events.len();
        conn.receive_eof();
        poll_all(&mut conn, &config, &mut events);
        assert_eq!(conn.state(), State::Closed, "open after the end of input");
        if pongs_queued && any_ping(&events[seen..]) {
            ctrl_marks.push(wire.len());
        }
    }
    let final_step = if flags.partial_writes() {
        SLOW_FINAL_STEP
    } else {
        usize::MAX
    };
    let pattern = input.last().copied().unwrap_or(0);
    drain(&mut conn, &mut wire, final_step, usize::MAX, pattern);
    assert!(conn.data_to_send().is_empty() && conn.is_flushed());
    assert_eq!(conn.data_to_send_vectored(&mut [&[][..]; WRITE_SLICES]), 0);

    // The events are exactly those the reference model derives from the whole input.
    let expected = model(role, &config, input, eof);
    assert_eq!(events, expected, "events differ from the model of RFC 6455");

    // The output is well-formed frames, and ends the way the last event requires.
    let frames = parse_wire(&wire, role);
    let close_at = check_sent_frames(&frames);
    let mut starts = Vec::with_capacity(frames.len());
    let mut pos = 0;
    for f in &frames {
        starts.push(pos);
        pos += f.header.encoded_len() + f.payload.len();
    }
    for &mark in &ctrl_marks {
        // The first frame that starts at or after `mark`: the one after the frame in flight.
        let next = starts.partition_point(|&s| s < mark);
        let frame = frames.get(next).unwrap_or_else(|| {
            panic!("a control frame queued at output byte {mark} was never sent")
        });
        assert!(
            matches!(frame.header.opcode, Opcode::Ping | Opcode::Pong),
            "a control frame queued at output byte {mark} did not go right after the frame in \
             flight: the next frame, at byte {}, is {:?}",
            starts[next],
            frame.header
        );
    }
    let close_payload = close_at.map(|i| frames[i].payload.as_slice());
    if flags.close_first() {
        assert_eq!(close_payload.and_then(close_code_of), Some(1000));
    }
    match events.last() {
        Some(Event::Failed(e)) if !flags.close_first() => {
            let code = e.close_code();
            if code.is_valid_on_wire() {
                // §7.1.7: Fail the WebSocket Connection sends a Close with the error's code, last.
                let last = frames.last().expect("no Close frame after a failure");
                assert_eq!(last.header.opcode, Opcode::Close, "last frame is not Close");
                assert_eq!(
                    close_code_of(&last.payload),
                    Some(code.0),
                    "wrong close code"
                );
            } else {
                assert_eq!(close_at, None, "a Close frame with code {code} was sent");
            }
        }
        Some(Event::Close(frame)) if !flags.close_first() => {
            // §5.5.1: the reply echoes the status code.
            let last = frames.last().expect("no Close frame in reply");
            assert_eq!(last.header.opcode, Opcode::Close, "last frame is not Close");
            assert_eq!(
                close_code_of(&last.payload),
                frame.as_ref().map(|f| f.code.0),
                "close reply does not echo the code"
            );
        }
        _ => {}
    }

    // Pongs answer pings, in order (possibly coalesced, §5.5.3), and only with auto_pong.
    let pings: Vec<&[u8]> = events
        .iter()
        .filter_map(|e| match e {
            Event::Ping(p) => Some(p.as_ref()),
            _ => None,
        })
        .collect();
    let pongs: Vec<&[u8]> = frames
        .iter()
        .filter(|f| f.header.opcode == Opcode::Pong)
        .map(|f| f.payload.as_slice())
        .collect();
    if !config.auto_pong {
        assert!(pongs.is_empty(), "pong sent with auto_pong off");
    }
    let mut rest = pings.iter();
    for pong in &pongs {
        assert!(
            rest.any(|p| p == pong),
            "pong {pong:02x?} answers no ping, or is out of order"
        );
    }
    let failed = matches!(events.last(), Some(Event::Failed(_)));
    if config.auto_pong && !flags.close_first() && !failed {
        // A pong answers the most recent ping.
        assert_eq!(pongs.last(), pings.last(), "the last ping got no pong");
    }
}

// ----------------------------------------------------------------------- the reference model

/// The message being received, in the model.
struct ModelMessage {
    text: bool,
    size: u64,
    fragments: usize,
    bytes: Vec<u8>,
}

/// §8.1: can `bytes` no longer be the start of valid UTF-8? (std's own answer)
fn utf8_broken(bytes: &[u8]) -> bool {
    matches!(std::str::from_utf8(bytes), Err(e) if e.error_len().is_some())
}

/// The events RFC 6455 says a connection of `role` with `config` must report for the peer bytes
/// `input` (followed by the end of the stream if `eof`), written straight from §5 and §7 over the
/// whole input at once: the order in which rules are checked matches the crate's documented order
/// (header rules of §5.2/§5.5 first, then RSV, masking, limits and fragmentation), and invalid
/// UTF-8 fails as soon as the bytes received prove it (§8.1).
pub fn model(role: Role, config: &Config, input: &[u8], eof: bool) -> Vec<Event> {
    let mut events = Vec::new();
    let mut msg: Option<ModelMessage> = None;
    let mut pos = 0;
    let fail = |events: &mut Vec<Event>, e: ProtocolError| {
        events.push(Event::Failed(e));
    };
    loop {
        let rest = &input[pos..];
        let need_more = |events: &mut Vec<Event>| {
            if eof {
                events.push(Event::Failed(ProtocolError::UnexpectedEof));
            }
        };
        let [b0, b1, ..] = *rest else {
            need_more(&mut events);
            return events;
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 7;
        let op = b0 & 0x0F;
        let opcode = match op {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => {
                fail(&mut events, ProtocolError::ReservedOpcode(op));
                return events;
            }
        };
        let control = op & 8 != 0;
        let masked = b1 & 0x80 != 0;
        let (len, mut hlen) = match b1 & 0x7F {
            126 if rest.len() < 4 => {
                need_more(&mut events);
                return events;
            }
            126 => (u64::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            127 if rest.len() < 10 => {
                need_more(&mut events);
                return events;
            }
            127 => {
                let len = u64::from_be_bytes(rest[2..10].try_into().unwrap());
                if len >= 1 << 63 {
                    fail(&mut events, ProtocolError::LengthTopBitSet);
                    return events;
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        if control && len > 125 {
            fail(&mut events, ProtocolError::ControlFrameTooLong(len));
            return events;
        }
        if control && !fin {
            fail(&mut events, ProtocolError::FragmentedControlFrame);
            return events;
        }
        let key = if masked {
            if rest.len() < hlen + 4 {
                need_more(&mut events);
                return events;
            }
            hlen += 4;
            Some([
                rest[hlen - 4],
                rest[hlen - 3],
                rest[hlen - 2],
                rest[hlen - 1],
            ])
        } else {
            None
        };
        if rsv != 0 {
            fail(&mut events, ProtocolError::ReservedBits(rsv));
            return events;
        }
        match (role, masked) {
            (Role::Server, false) => {
                fail(&mut events, ProtocolError::UnmaskedClientFrame);
                return events;
            }
            (Role::Client, true) => {
                fail(&mut events, ProtocolError::MaskedServerFrame);
                return events;
            }
            _ => {}
        }
        if !control {
            if len > config.max_frame_size as u64 {
                let max = config.max_frame_size;
                fail(&mut events, ProtocolError::FrameTooBig { len, max });
                return events;
            }
            let max = config.max_message_size;
            match (opcode, msg.as_mut()) {
                (Opcode::Text | Opcode::Binary, Some(_)) => {
                    fail(&mut events, ProtocolError::ExpectedContinuation);
                    return events;
                }
                (Opcode::Continuation, None) => {
                    fail(&mut events, ProtocolError::UnexpectedContinuation);
                    return events;
                }
                (Opcode::Continuation, Some(m)) => {
                    let size = m.size + len;
                    if size > max as u64 {
                        fail(&mut events, ProtocolError::MessageTooBig { len: size, max });
                        return events;
                    }
                    if m.fragments >= config.max_fragments {
                        let max = config.max_fragments;
                        fail(&mut events, ProtocolError::TooManyFragments { max });
                        return events;
                    }
                    m.size = size;
                    m.fragments += 1;
                }
                (Opcode::Text | Opcode::Binary, None) => {
                    if len > max as u64 {
                        fail(&mut events, ProtocolError::MessageTooBig { len, max });
                        return events;
                    }
                    msg = Some(ModelMessage {
                        text: opcode == Opcode::Text,
                        size: len,
                        fragments: 1,
                        bytes: Vec::new(),
                    });
                }
                (Opcode::Close | Opcode::Ping | Opcode::Pong, _) => unreachable!("control"),
            }
        }
        // Payload: what has arrived of it, unmasked.
        let len = len as usize;
        let start = pos + hlen;
        let avail = len.min(input.len() - start);
        let mut payload = input[start..start + avail].to_vec();
        if let Some(key) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        if control {
            if avail < len {
                need_more(&mut events);
                return events;
            }
            match opcode {
                Opcode::Ping => events.push(Event::Ping(Bytes::from(payload))),
                Opcode::Pong => events.push(Event::Pong(Bytes::from(payload))),
                _ => {
                    // Close (§5.5.1, §7.4): empty, or a valid code and a UTF-8 reason.
                    let frame = match payload.as_slice() {
                        [] => None,
                        [_] => {
                            fail(&mut events, ProtocolError::CloseTooShort);
                            return events;
                        }
                        [hi, lo, reason @ ..] => {
                            let code = u16::from_be_bytes([*hi, *lo]);
                            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                                fail(&mut events, ProtocolError::InvalidCloseCode(code));
                                return events;
                            }
                            let Ok(reason) = std::str::from_utf8(reason) else {
                                fail(&mut events, ProtocolError::InvalidUtf8);
                                return events;
                            };
                            Some(CloseFrame::new(CloseCode(code), reason))
                        }
                    };
                    events.push(Event::Close(frame));
                    return events; // nothing is read after the peer's Close
                }
            }
        } else {
            let m = msg.as_mut().expect("a data frame has a message");
            let mut so_far = m.bytes.clone();
            so_far.extend_from_slice(&payload);
            if m.text && utf8_broken(&so_far) {
                fail(&mut events, ProtocolError::InvalidUtf8);
                return events;
            }
            if avail < len {
                need_more(&mut events);
                return events;
            }
            if fin && m.text && std::str::from_utf8(&so_far).is_err() {
                fail(&mut events, ProtocolError::InvalidUtf8);
                return events;
            }
            let kind = if m.text {
                DataKind::Text
            } else {
                DataKind::Binary
            };
            if config.stream_frames {
                events.push(Event::Frame(DataFrame {
                    kind,
                    first: m.fragments == 1,
                    fin,
                    data: Bytes::from(payload),
                }));
            } else if fin {
                events.push(Event::Message(match kind {
                    DataKind::Text => Message::text(String::from_utf8(so_far.clone()).unwrap()),
                    DataKind::Binary => Message::binary(so_far.clone()),
                }));
            }
            m.bytes = so_far;
            if fin {
                msg = None;
            }
        }
        pos = start + len;
    }
}

// -------------------------------------------------------------------------------- handshakes

use rfc6455::handshake::{ClientHandshake, HandshakeError, HandshakeLimits, ServerHandshake};

/// Both sides of the opening handshake parse incrementally the same way.
pub trait Incremental {
    /// What a complete header block gives.
    type Output: PartialEq + std::fmt::Debug;
    /// `receive` of the handshake.
    fn receive(&mut self, data: &[u8]) -> Result<Status<Self::Output>, HandshakeError>;
    /// `take_leftover` of the handshake.
    fn take_leftover(&mut self) -> Vec<u8>;
}

impl Incremental for ServerHandshake {
    type Output = rfc6455::handshake::Request;
    fn receive(&mut self, data: &[u8]) -> Result<Status<Self::Output>, HandshakeError> {
        ServerHandshake::receive(self, data)
    }
    fn take_leftover(&mut self) -> Vec<u8> {
        ServerHandshake::take_leftover(self)
    }
}

impl Incremental for ClientHandshake {
    type Output = rfc6455::handshake::Response;
    fn receive(&mut self, data: &[u8]) -> Result<Status<Self::Output>, HandshakeError> {
        ClientHandshake::receive(self, data)
    }
    fn take_leftover(&mut self) -> Vec<u8> {
        ClientHandshake::take_leftover(self)
    }
}

/// Handshake limits from one input byte: bit 7 clear gives the defaults; set, `max_bytes` is
/// 32-1040 (bits 0-5) and, with bit 6, `max_headers` is 0-15 (bits 0-3).
pub fn limits_from(b: u8) -> HandshakeLimits {
    if b & 0x80 == 0 {
        return HandshakeLimits::new();
    }
    let mut limits = HandshakeLimits::new().with_max_bytes(32 + usize::from(b & 0x3F) * 16);
    if b & 0x40 != 0 {
        limits = limits.with_max_headers(usize::from(b & 0x0F));
    }
    limits
}

/// Errors after which the bytes behind the header block are still kept as leftover (the block was
/// complete and well-formed HTTP, but broke a WebSocket rule).
fn keeps_leftover(e: &HandshakeError) -> bool {
    !matches!(
        e,
        HandshakeError::Malformed(_)
            | HandshakeError::TooManyHeaders { .. }
            | HandshakeError::TooLarge { .. }
    )
}

/// Feeds `input` to one handshake at once and to another in chunks of `sizes`; asserts that both
/// give the same answer and the same leftover, that calls after the end repeat it (or say
/// `Finished`), and that no more than the limit is buffered. Returns the answer and the leftover.
pub fn feed_whole_and_chunked<H: Incremental>(
    mut make: impl FnMut() -> H,
    limits: HandshakeLimits,
    input: &[u8],
    sizes: &[usize],
) -> (Result<Status<H::Output>, HandshakeError>, Vec<u8>) {
    let mut whole = make();
    let result = whole.receive(input);
    let leftover = whole.take_leftover();
    match &result {
        Ok(Status::Partial) => {
            assert!(leftover.is_empty());
            assert!(input.len() < limits.max_bytes, "partial beyond max_bytes");
        }
        Ok(Status::Complete(_)) => {
            assert!(leftover.len() <= input.len());
            assert_eq!(&input[input.len() - leftover.len()..], &leftover[..]);
            assert!(
                input.len() - leftover.len() <= limits.max_bytes,
                "header block over max_bytes accepted"
            );
            assert_eq!(whole.receive(b"x"), Err(HandshakeError::Finished));
        }
        Err(e) => assert_eq!(whole.receive(b"x").as_ref(), Err(e)),
    }

    let mut chunked = make();
    let mut got: Result<Status<H::Output>, HandshakeError> = Ok(Status::Partial);
    let mut got_leftover = Vec::new();
    for chunk in chunks(input, sizes) {
        match &got {
            Ok(Status::Partial) => {
                got = chunked.receive(chunk);
                got_leftover = chunked.take_leftover();
            }
            Ok(Status::Complete(_)) => {
                assert_eq!(chunked.receive(chunk), Err(HandshakeError::Finished));
                got_leftover.extend_from_slice(chunk);
            }
            Err(e) => {
                assert_eq!(chunked.receive(chunk).as_ref(), Err(e));
                got_leftover.extend_from_slice(chunk);
            }
        }
    }
    assert_eq!(got, result, "chunking changed the answer");
    let compare_leftover = match &result {
        Ok(_) => true,
        Err(e) => keeps_leftover(e),
    };
    if compare_leftover {
        assert_eq!(got_leftover, leftover, "chunking changed the leftover");
    }
    (result, leftover)
}

/// `token` of RFC 7230 §3.2.6, as RFC 6455 uses it for subprotocols (§4.1 item 10).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
