//! Attacks on memory, measured by a counting global allocator rather than argued from the code
//! (issue 4, "Limits and attacks"): a declared frame length of 2^62, 2^63-1 or one over the limit
//! fails with 1009 (the top bit: 1002) before any allocation of that size; a million 1-byte
//! fragments end at the fragment cap with 1009, or, with the cap raised, reassemble in memory
//! proportional to the message; empty fragments cost no allocation each; a handshake header
//! that never ends and a flood of pings never drained stay within a few KiB.
//!
//! The allocator is this test binary's alone (`#[global_allocator]` applies to the whole binary,
//! so it lives in its own file). It counts per thread, and only inside [`measure`], so tests
//! running in parallel on other threads do not disturb each other's numbers.

// A `GlobalAlloc` impl is unsafe by definition; it forwards every call to `System` unchanged.
#![allow(unsafe_code)]

#[path = "suite/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use common::*;
use rfc6455::handshake::{ClientHandshake, ClientRequest, HandshakeError, ServerHandshake};
use rfc6455::{Config, Connection, Event, Message, ProtocolError, Role, Status};

// ------------------------------------------------------------------ the counting allocator

/// What one thread allocated while [`measure`] ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stats {
    /// Whether this thread is being measured.
    armed: bool,
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    count: usize,
    /// The largest single allocation (or reallocation's new size), in bytes.
    largest: usize,
    /// The sum of all allocation (and reallocation) sizes: the volume of memory handed out,
    /// which grows quadratically if a growing buffer is copied anew for every piece.
    total: usize,
    /// Bytes allocated minus bytes freed since measuring began (negative when older memory is
    /// freed).
    current: isize,
    /// The highest `current` reached, counting a moving `realloc` as holding both blocks.
    peak: isize,
}

thread_local! {
    // `const` and `Copy`: no lazy initialisation and no destructor, so touching it from inside
    // the allocator never allocates and never fails.
    static STATS: Cell<Stats> = const {
        Cell::new(Stats { armed: false, count: 0, largest: 0, total: 0, current: 0, peak: 0 })
    };
}

/// Forwards to [`System`], recording each call made by a thread inside [`measure`].
struct Counting;

fn record(grow: usize, shrink: usize) {
    let _ = STATS.try_with(|cell| {
        let mut s = cell.get();
        if s.armed {
            s.count += 1;
            s.largest = s.largest.max(grow);
            s.total += grow;
            s.peak = s.peak.max(s.current + grow as isize);
            s.current += grow as isize - shrink as isize;
            cell.set(s);
        }
    });
}

fn record_free(size: usize) {
    let _ = STATS.try_with(|cell| {
        let mut s = cell.get();
        if s.armed {
            s.current -= size as isize;
            cell.set(s);
        }
    });
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping touches only a thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), 0);
        // SAFETY: forwarded from our caller, who upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), 0);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_free(layout.size());
        // SAFETY: as above; `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size, layout.size());
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning what it allocated on this thread.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Stats) {
    STATS.with(|c| {
        c.set(Stats {
            armed: true,
            ..Stats::default()
        })
    });
    let out = f();
    let stats = STATS.with(|c| {
        let s = c.get();
        c.set(Stats::default());
        s
    });
    (out, stats)
}

/// The allocator must see what we think it sees, or every "no allocation" below proves nothing.
#[test]
fn the_counting_allocator_sees_allocations_on_this_thread() {
    let (v, stats) = measure(|| vec![0u8; 100_000]);
    assert_eq!(v.len(), 100_000);
    assert!(stats.count >= 1 && stats.largest >= 100_000, "{stats:?}");
    let ((), stats) = measure(|| {
        let mut v = Vec::with_capacity(1000);
        v.extend_from_slice(&[1u8; 1000]);
        v.reserve(10_000);
        drop(v);
    });
    assert_eq!(stats.current, 0, "{stats:?}");
    assert!(stats.peak >= 11_000, "{stats:?}");
    let ((), stats) = measure(|| ());
    assert_eq!(stats.count, 0, "{stats:?}");
}

// ------------------------------------------------------------------ helpers

const BOTH: [Role; 2] = [Role::Client, Role::Server];

/// "Small": far below any of the sizes an attack asks for.
const SMALL: usize = 64 << 10;

/// One frame as the peer of `receiver` would send it (masked with [`TEST_KEY`] towards a
/// server), appended to `out`. A fast path for building millions of frames; checked against
/// the harness's [`Raw`] in [`fragment_encoder_matches_the_harness`].
fn push_frame(out: &mut Vec<u8>, receiver: Role, opcode: u8, fin: bool, payload: &[u8]) {
    assert!(payload.len() <= 125);
    out.push(u8::from(fin) << 7 | opcode);
    match receiver {
        Role::Server => {
            out.push(0x80 | payload.len() as u8);
            out.extend_from_slice(&TEST_KEY);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ TEST_KEY[i % 4]));
        }
        Role::Client => {
            out.push(payload.len() as u8);
            out.extend_from_slice(payload);
        }
    }
}

#[test]
fn fragment_encoder_matches_the_harness() {
    for role in BOTH {
        for (opcode, fin, payload) in [
            (0x0, false, &b""[..]),
            (0x1, true, b"x"),
            (0x2, false, b"abcdef"),
        ] {
            let mut ours = Vec::new();
            push_frame(&mut ours, role, opcode, fin, payload);
            let raw = Raw::new(opcode, payload).fin(fin).to(role).bytes();
            assert_eq!(ours, raw, "{role:?} {opcode} {fin} {payload:?}");
        }
    }
}

/// A message of `n` fragments of one byte each (`byte(i)` for fragment `i`), the last with FIN.
fn one_byte_fragments(receiver: Role, opcode: u8, n: usize, byte: impl Fn(usize) -> u8) -> Vec<u8> {
    let per = if receiver == Role::Server { 7 } else { 3 };
    let mut out = Vec::with_capacity(n * per);
    for i in 0..n {
        let op = if i == 0 { opcode } else { 0x0 };
        push_frame(&mut out, receiver, op, i + 1 == n, &[byte(i)]);
    }
    out
}

/// Feeds `wire` in `chunk`-byte reads, as an adapter would, polling after each; stops at the
/// first `Failed` (the connection discards the rest anyway). Returns the events and the bytes
/// fed.
fn feed_chunked(conn: &mut Connection, wire: &[u8], chunk: usize) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut fed = 0;
    for piece in wire.chunks(chunk) {
        conn.receive(piece);
        fed += piece.len();
        while let Some(event) = conn.poll_event() {
            let failed = matches!(event, Event::Failed(_));
            events.push(event);
            if failed {
                return (events, fed);
            }
        }
    }
    (events, fed)
}

/// The status code of the one Close frame `conn` wrote (after any other frames).
#[track_caller]
fn close_code_sent(conn: &mut Connection) -> Option<u16> {
    let frames = drain_frames(conn);
    let last = frames.last()?;
    assert_eq!(last.opcode, 0x8, "last frame is not a Close: {frames:?}");
    assert_eq!(
        last.mask.is_some(),
        conn.role() == Role::Client,
        "{frames:?}"
    );
    last.close_code()
}

// ------------------------------------------------------------------ huge declared lengths

/// The error a declared length must produce.
type ExpectedError = fn(u64) -> ProtocolError;

/// §5.2 lets a header declare up to 2^63-1 payload bytes in 8 bytes. Each such header, alone or
/// followed by the start of its payload, fed whole or byte by byte, to either role, as the
/// first frame of a text or binary message or as a continuation: `Failed(FrameTooBig)` and a
/// Close 1009 (§7.4.1: "a message that is too big for it to process"), with no allocation
/// larger than [`SMALL`] on the way. With the top bit set (§5.2: "the most significant bit MUST
/// be 0") it is `LengthTopBitSet` and 1002, just as cheaply.
#[test]
fn declared_frame_lengths_of_2_62_and_2_63_minus_1_and_over_the_limit_fail_before_allocating() {
    let max = Config::default().max_frame_size;
    let cases: [(u64, ExpectedError, u16); 5] = [
        (
            1 << 62,
            |len| ProtocolError::FrameTooBig { len, max: 16 << 20 },
            1009,
        ),
        (
            (1 << 63) - 1,
            |len| ProtocolError::FrameTooBig { len, max: 16 << 20 },
            1009,
        ),
        (
            max as u64 + 1,
            |len| ProtocolError::FrameTooBig { len, max: 16 << 20 },
            1009,
        ),
        (1 << 63, |_| ProtocolError::LengthTopBitSet, 1002),
        (u64::MAX, |_| ProtocolError::LengthTopBitSet, 1002),
    ];
    let mut worst = Stats::default();
    let mut runs = 0;
    for role in BOTH {
        for &(len, error, code) in &cases {
            // (opcode of the huge frame, a first fragment to send before it)
            for (opcode, before) in [(0x1, None), (0x2, None), (0x0, Some(0x2)), (0x0, Some(0x1))] {
                for tail in [0usize, 8 << 10] {
                    for byte_by_byte in [false, true] {
                        let mut c = conn(role, Config::default());
                        if let Some(first) = before {
                            let start = Raw::new(first, b"a").fin(false).to(role).bytes();
                            assert_eq!(feed(&mut c, &start), vec![]);
                        }
                        let mut wire = Raw::new(opcode, [])
                            .declared_len(len)
                            .len_form(LenForm::Long)
                            .to(role)
                            .bytes();
                        wire.extend(std::iter::repeat_n(0x41, tail));
                        let (events, stats) = measure(|| {
                            if byte_by_byte {
                                let mut events = Vec::new();
                                for b in &wire {
                                    events.extend(feed(&mut c, std::slice::from_ref(b)));
                                }
                                events
                            } else {
                                feed(&mut c, &wire)
                            }
                        });
                        let what = format!(
                            "{role:?}, length {len:#x}, opcode {opcode} after {before:?}, \
                             {tail} payload bytes, byte by byte: {byte_by_byte}"
                        );
                        assert_eq!(events, vec![Event::Failed(error(len))], "{what}");
                        assert_eq!(close_code_sent(&mut c), Some(code), "{what}");
                        assert!(
                            stats.largest < SMALL && stats.peak < SMALL as isize,
                            "{what}: allocated {stats:?}"
                        );
                        worst.largest = worst.largest.max(stats.largest);
                        worst.peak = worst.peak.max(stats.peak);
                        worst.count = worst.count.max(stats.count);
                        runs += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "huge declared lengths: {runs} runs, largest single allocation {} B, peak {} B, \
         at most {} allocations per run",
        worst.largest, worst.peak, worst.count
    );
}

/// A frame under the frame limit that would take the message over the message limit fails with
/// `MessageTooBig` (1009) when its header arrives, also before any allocation of that size.
#[test]
fn a_declared_length_over_the_message_limit_fails_before_allocating() {
    let mut config = Config::default();
    config.max_message_size = 1 << 20;
    for role in BOTH {
        for before in [None, Some(b"abc".as_slice())] {
            let mut c = conn(role, config.clone());
            let opcode = if let Some(first) = before {
                assert_eq!(
                    feed(&mut c, &Raw::binary(first).fin(false).to(role).bytes()),
                    vec![]
                );
                0x0
            } else {
                0x2
            };
            let declared = 8u64 << 20; // under max_frame_size (16 MiB), over max_message_size
            let wire = Raw::new(opcode, [])
                .declared_len(declared)
                .len_form(LenForm::Long)
                .to(role)
                .bytes();
            let (events, stats) = measure(|| feed(&mut c, &wire));
            let len = declared + before.map_or(0, |b| b.len() as u64);
            assert_eq!(
                events,
                vec![Event::Failed(ProtocolError::MessageTooBig {
                    len,
                    max: 1 << 20
                })],
                "{role:?} {before:?}"
            );
            assert_eq!(close_code_sent(&mut c), Some(1009));
            assert!(stats.largest < SMALL, "{role:?}: {stats:?}");
        }
    }
}

/// A frame within the limits whose header declares 16 MiB (the default `max_frame_size`) and
/// whose bytes then trickle in: the receive buffer reserves at most 1 MiB ahead of what arrived
/// (room for the whole rest only once it is that close), so 14 bytes cannot make us reserve
/// 16 MiB; and it grows by doubling, not per piece.
#[test]
fn a_large_declared_frame_reserves_little_until_its_bytes_arrive() {
    for role in BOTH {
        let mut c = conn(role, Config::default());
        let declared = 16usize << 20;
        let wire = Raw::binary(vec![7u8; declared]).to(role).bytes();
        let header = wire.len() - declared;
        let (events, stats) = measure(|| feed(&mut c, &wire[..header + 100]));
        assert_eq!(events, vec![]);
        assert!(
            stats.largest <= (1 << 20) + (64 << 10),
            "{role:?}: the header alone reserved {stats:?}"
        );
        // The next 3 MiB, as an adapter would read them: at most about twice what arrived.
        let (_, stats) = measure(|| {
            for piece in wire[header + 100..header + (3 << 20)].chunks(64 << 10) {
                assert_eq!(feed(&mut c, piece), vec![]);
            }
        });
        assert!(
            stats.largest <= 2 * (3 << 20) + (64 << 10),
            "{role:?}: {stats:?}"
        );
        assert!(
            stats.count < 40,
            "{role:?}: the buffer grew piece by piece: {stats:?}"
        );
        // And the frame comes out whole.
        let (events, _) = measure(|| feed(&mut c, &wire[header + (3 << 20)..]));
        match events.as_slice() {
            [Event::Message(m)] => assert_eq!(m.len(), declared, "{role:?}"),
            other => panic!("{role:?}: {:?}", other.len()),
        }
    }
}

// ------------------------------------------------------------------ fragment floods

/// A message of a million 1-byte fragments, read in 64 KiB chunks as an adapter reads: the
/// first [`Config::max_fragments`] (131,072) fragments are taken, the next one fails the
/// connection with `TooManyFragments` and a Close 1009; the rest of the attack is discarded
/// without work. Each fragment costs O(1), checked three ways: the whole run takes well under
/// 10 s, also when the 7 MB arrive in one read (a read buffer shifted after every frame would
/// take hours); the reassembly buffer is allocated a few dozen times, not once per fragment;
/// and the volume allocated is a small multiple of what was taken (a buffer copied anew for
/// each fragment would hand out 131,072^2/2 = 8.6 GB). Memory stays proportional to what was
/// taken, not to what the peer announced or sent.
#[test]
fn a_million_one_byte_fragments_fail_with_1009_at_the_fragment_cap_quickly() {
    const N: usize = 1_000_000;
    let cap = Config::default().max_fragments;
    assert_eq!(cap, 131_072);
    for role in BOTH {
        for opcode in [0x1, 0x2] {
            let wire = one_byte_fragments(role, opcode, N, |i| b'a' + (i % 26) as u8);
            let per = wire.len() / N;
            let what = format!("{role:?}, opcode {opcode}");
            let expected = vec![Event::Failed(ProtocolError::TooManyFragments { max: cap })];

            // In 64 KiB reads.
            let mut c = conn(role, Config::default());
            let started = Instant::now();
            let ((taken, rest), stats) = measure(|| {
                // Exactly the cap is fine...
                let (events, fed) = feed_chunked(&mut c, &wire[..cap * per], 64 << 10);
                assert_eq!(events, vec![], "{what}: within the cap");
                assert_eq!(fed, cap * per);
                // ... one more fragment is not.
                feed_chunked(&mut c, &wire[cap * per..], 64 << 10)
            });
            let elapsed = started.elapsed();
            assert_eq!(taken, expected, "{what}");
            assert!(rest <= 64 << 10, "{what}: fed {rest} bytes past the cap");
            assert_eq!(close_code_sent(&mut c), Some(1009), "{what}");
            let ignored = Instant::now();
            c.receive(&wire[cap * per + rest..]);
            assert_eq!(poll_all(&mut c), vec![]);
            let ignored = ignored.elapsed();

            // In one read of all 7 MB (3 MB to a client).
            let mut c = conn(role, Config::default());
            let started_whole = Instant::now();
            let (events, whole) = measure(|| feed(&mut c, &wire));
            let elapsed_whole = started_whole.elapsed();
            assert_eq!(events, expected, "{what}, one read");
            assert_eq!(close_code_sent(&mut c), Some(1009), "{what}, one read");

            eprintln!(
                "{what}: {cap} fragments taken, failed at the next; 64 KiB reads: {elapsed:?}, \
                 {} allocations, {} B allocated in all, largest {} B, peak {} B; rest of the \
                 attack discarded in {ignored:?}; one read: {elapsed_whole:?}, {} allocations, \
                 {} B in all, peak {} B",
                stats.count,
                stats.total,
                stats.largest,
                stats.peak,
                whole.count,
                whole.total,
                whole.peak
            );
            for (how, time) in [("64 KiB reads", elapsed), ("one read", elapsed_whole)] {
                assert!(time < Duration::from_secs(10), "{what}, {how}: {time:?}");
            }
            assert!(ignored < Duration::from_secs(1), "{what}: {ignored:?}");
            // 131,072 payload bytes in a buffer that grows by doubling, plus the reads.
            assert!(stats.count < 1000, "{what}: {stats:?}");
            assert!(stats.total < 4 << 20, "{what}: {stats:?}");
            assert!(stats.peak < (2 << 20) as isize, "{what}: {stats:?}");
            assert!(stats.largest < (1 << 20), "{what}: {stats:?}");
            assert!(whole.count < 1000, "{what}, one read: {whole:?}");
            assert!(
                whole.total < wire.len() + (4 << 20),
                "{what}, one read: {whole:?}"
            );
        }
    }
}

/// With the cap raised to 2,000,000 and a message limit of 1,000,000 bytes, a message of
/// 1,000,000 1-byte fragments (exactly at the limit) is reassembled correctly, in linear time,
/// and the peak memory is a small multiple of the message (the reassembly buffer grows by
/// doubling), never proportional to the number of frames times anything.
#[test]
fn a_million_one_byte_fragments_reassemble_within_the_limits_in_linear_memory() {
    const N: usize = 1_000_000;
    let mut config = Config::default();
    config.max_fragments = 2_000_000;
    config.max_message_size = N;
    for role in BOTH {
        for opcode in [0x1, 0x2] {
            let byte = |i: usize| b'a' + (i % 26) as u8;
            let wire = one_byte_fragments(role, opcode, N, byte);
            let mut c = conn(role, config.clone());
            let started = Instant::now();
            let ((events, fed), stats) = measure(|| feed_chunked(&mut c, &wire, 64 << 10));
            let elapsed = started.elapsed();
            let what = format!("{role:?}, opcode {opcode}");
            assert_eq!(fed, wire.len(), "{what}");
            assert_eq!(
                events.len(),
                1,
                "{what}: {:?}",
                &events[..events.len().min(3)]
            );
            let expected: Vec<u8> = (0..N).map(byte).collect();
            let data: &[u8] = match &events[0] {
                Event::Message(Message::Text(t)) if opcode == 0x1 => t.as_bytes(),
                Event::Message(Message::Binary(b)) if opcode == 0x2 => b,
                other => panic!("{what}: {other:?}"),
            };
            assert!(data == expected.as_slice(), "{what}: message differs");
            eprintln!(
                "{what}: {N} fragments reassembled in {elapsed:?} ({} B on the wire); \
                 {} allocations, {} B allocated in all, largest {} B, peak {} B",
                wire.len(),
                stats.count,
                stats.total,
                stats.largest,
                stats.peak
            );
            assert!(elapsed < Duration::from_secs(60), "{what}: {elapsed:?}");
            // The message (1 MB, held in a buffer that grows by doubling: at most 1 MiB, plus
            // the 512 KiB it grew from during the copy) and one 64 KiB read.
            assert!(stats.peak < (4 << 20) as isize, "{what}: {stats:?}");
            assert!(stats.largest <= (2 << 20), "{what}: {stats:?}");
            // No copy per fragment: a few dozen allocations, a few MB handed out in all.
            assert!(stats.count < 1000, "{what}: {stats:?}");
            assert!(stats.total < 8 << 20, "{what}: {stats:?}");
        }
    }
}

/// Empty continuation frames are legal (§5.4 puts no lower bound on a fragment) and each costs
/// O(1) and no allocation: 100,000 of them cost as many allocations as 10,000. Counted for the
/// whole exchange (the read buffer holds the whole input: one allocation however many frames),
/// for the polling alone (which must allocate nothing per fragment), and for 4 KiB reads (whose
/// memory must not grow with the number of fragments either).
#[test]
fn empty_fragments_cost_no_allocation_each() {
    for role in BOTH {
        for opcode in [0x1, 0x2] {
            let mut results = Vec::new();
            for n in [10_000usize, 100_000] {
                let mut wire = Vec::new();
                push_frame(&mut wire, role, opcode, false, b"abc");
                for _ in 0..n {
                    push_frame(&mut wire, role, 0x0, false, b"");
                }
                push_frame(&mut wire, role, 0x0, true, b"de");

                // Whole: receive then poll.
                let mut c = conn(role, Config::default());
                let (events, whole) = measure(|| feed(&mut c, &wire));
                check_abcde(&events, opcode, role);

                // Polling alone.
                let mut c = conn(role, Config::default());
                c.receive(&wire);
                let (events, poll) = measure(|| poll_all(&mut c));
                check_abcde(&events, opcode, role);

                // In 4 KiB reads.
                let mut c = conn(role, Config::default());
                let ((events, _), chunked) = measure(|| feed_chunked(&mut c, &wire, 4096));
                check_abcde(&events, opcode, role);

                eprintln!(
                    "{role:?} opcode {opcode}: {n} empty fragments: allocations whole {} \
                     (peak {} B), polling {} (peak {} B), in 4 KiB reads {} (peak {} B)",
                    whole.count, whole.peak, poll.count, poll.peak, chunked.count, chunked.peak
                );
                results.push((whole, poll, chunked));
            }
            let (small, big) = (results[0], results[1]);
            let what = format!("{role:?} opcode {opcode}: 10,000 vs 100,000 empty fragments");
            assert!(
                big.0.count <= small.0.count + 2,
                "{what}, whole: {small:?} {big:?}"
            );
            assert!(
                big.1.count <= small.1.count + 2,
                "{what}, polling: {small:?} {big:?}"
            );
            assert!(
                big.2.count <= small.2.count + 2,
                "{what}, 4 KiB reads: {small:?} {big:?}"
            );
            assert!(
                big.1.peak <= small.1.peak + 1024,
                "{what}, polling: {small:?} {big:?}"
            );
            assert!(
                big.2.peak <= small.2.peak + 1024,
                "{what}, 4 KiB reads: {small:?} {big:?}"
            );
        }
    }
}

#[track_caller]
fn check_abcde(events: &[Event], opcode: u8, role: Role) {
    let expected = if opcode == 0x1 {
        Message::text("abcde")
    } else {
        Message::binary(b"abcde".to_vec())
    };
    assert_eq!(events, [Event::Message(expected)], "{role:?}");
}

// ------------------------------------------------------------------ the opening handshake

/// A handshake's `receive`, answering whether it completed.
type Receive = Box<dyn FnMut(&[u8]) -> Result<bool, HandshakeError>>;

/// A header line that never ends, 1 MB of it, read in 4 KiB chunks or one byte at a time: the
/// handshake fails with `TooLarge` at the limit (16 KiB) and never holds more than about that
/// much, on the server (reading a request) and on the client (reading a response).
#[test]
fn an_endless_handshake_header_line_never_buffers_more_than_the_limit() {
    let limits = Config::default().handshake_limits;
    let mut endless = b"X-Endless: ".to_vec();
    endless.resize(1_000_000, b'a');
    for side in ["server", "client"] {
        for chunk in [4096, 1] {
            let (prefix, mut receive): (&[u8], Receive) = if side == "server" {
                let mut h = ServerHandshake::new(limits);
                (
                    b"GET / HTTP/1.1\r\n",
                    Box::new(move |d| h.receive(d).map(|s| matches!(s, Status::Complete(_)))),
                )
            } else {
                let request = ClientRequest::new("ws://127.0.0.1/").expect("url");
                let mut config = Config::default();
                config.handshake_limits = limits;
                let (mut h, _) = ClientHandshake::with_key(&request, [7; 16], config);
                (
                    b"HTTP/1.1 101 Switching Protocols\r\n",
                    Box::new(move |d| h.receive(d).map(|s| matches!(s, Status::Complete(_)))),
                )
            };
            let mut input = prefix.to_vec();
            input.extend_from_slice(&endless);
            let ((result, fed), stats) = measure(|| {
                let mut fed = 0;
                for piece in input.chunks(chunk) {
                    fed += piece.len();
                    match receive(piece) {
                        Ok(false) => {}
                        other => return (other, fed),
                    }
                }
                (Ok(false), fed)
            });
            let what = format!("{side}, {chunk}-byte reads");
            assert_eq!(
                result,
                Err(HandshakeError::TooLarge {
                    limit: limits.max_bytes
                }),
                "{what}"
            );
            assert!(fed <= limits.max_bytes + chunk, "{what}: read {fed} bytes");
            eprintln!(
                "endless header line, {what}: rejected after {fed} bytes; {} allocations, \
                 largest {} B, peak {} B",
                stats.count, stats.largest, stats.peak
            );
            assert!(stats.largest <= 2 * limits.max_bytes, "{what}: {stats:?}");
            assert!(
                stats.peak <= (4 * limits.max_bytes) as isize,
                "{what}: {stats:?}"
            );
        }
    }
}

// ------------------------------------------------------------------ ping flood

/// 100,000 Pings read in 4 KiB chunks by an application that never writes: the queued Pongs
/// coalesce (§5.5.3), so memory stays within a few KiB however long the flood lasts.
#[test]
fn a_ping_flood_never_drained_keeps_memory_bounded() {
    const PINGS: usize = 100_000;
    for role in BOTH {
        let mut wire = Vec::new();
        for i in 0..PINGS {
            push_frame(&mut wire, role, 0x9, true, format!("ping {i}").as_bytes());
        }
        let mut c = conn(role, Config::default());
        let ((pings, max_queued), stats) = measure(|| {
            let mut pings = 0;
            let mut max_queued = 0;
            for piece in wire.chunks(4096) {
                c.receive(piece);
                while let Some(event) = c.poll_event() {
                    assert!(matches!(event, Event::Ping(_)), "{event:?}");
                    pings += 1;
                }
                max_queued = max_queued.max(c.buffered_amount());
            }
            (pings, max_queued)
        });
        assert_eq!(pings, PINGS);
        let frames = drain_frames(&mut c);
        assert_eq!(
            frames.last().map(|f| f.payload.clone()),
            Some(format!("ping {}", PINGS - 1).into_bytes()),
            "{role:?}: the last pong answers the last ping"
        );
        eprintln!(
            "{role:?}: {PINGS} pings, never drained: at most {max_queued} B queued; {} \
             allocations, largest {} B, peak {} B",
            stats.count, stats.largest, stats.peak
        );
        assert!(max_queued < 8 << 10, "{role:?}: {max_queued} B queued");
        assert!(stats.peak < SMALL as isize, "{role:?}: {stats:?}");
    }
}
