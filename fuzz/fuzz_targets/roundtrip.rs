//! Structured round trip (RFC 6455 §5.3, §5.4, §5.6, §7): arbitrary text and binary messages (some
//! grown past 4096 bytes, where a server's `send` shares the payload instead of copying it), each
//! cut into arbitrary fragments with Pings between them and sent with `send_frame`, or sent whole
//! with `send`, by a client (masking keys from a seeded `StdRng`), read by a server in arbitrary
//! chunks, echoed back the same way (unmasked; whole messages as the `Message` received) and read
//! by the client; both sides get exactly the messages and pings that were sent, then the closing
//! handshake completes with the chosen code and reason. Output is written with `data_to_send` or
//! `data_to_send_vectored`, in writes of any size.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
const MAX_REASON_LEN: usize = rfc6455::CloseFrame::MAX_REASON_LEN;
use rfc6455::{CloseCode, CloseFrame, Config, Connection, Event, Message, Role, State};
use rfc6455_fuzz::{check_sent_frames, chunk_size, chunks, parse_wire, write_once};

#[derive(Debug, Arbitrary)]
enum Payload {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Msg {
    payload: Payload,
    /// Fragment sizes, cycled (0 gives an empty fragment).
    fragments: Vec<u8>,
    /// A Ping with this payload (cut to 125 bytes) after the first fragment.
    ping: Option<Vec<u8>>,
    /// Sent whole with `send(&Message)` (the Ping after it) instead of in fragments.
    whole: bool,
    /// For a message sent whole: 224-254 grow the payload (by repeating it) to at least
    /// `(boost - 223) * 256` bytes (256-7936; 4096 from 239 up), 255 to 65543 (a 64-bit length);
    /// lower values leave it as is. Rare, since large messages read in small chunks are slow; see
    /// also [`GROWTH_BUDGET`].
    boost: u8,
}

#[derive(Debug, Arbitrary)]
struct Input {
    mask_seed: u64,
    messages: Vec<Msg>,
    /// Read chunk sizes (see `chunk_size`), cycled.
    chunking: [u8; 3],
    close: Option<(u16, String)>,
    /// Bit `i`: the `i`-th drain (client's messages, server's pongs, server's echo, client's
    /// pongs, client's Close, server's Close) writes with `data_to_send_vectored`.
    vectored: u8,
    /// Bytes a socket takes per write: 0-127 all that is offered, else `(write_size - 127) * 17`
    /// (17-2176).
    write_size: u8,
}

/// How many bytes `boost` may add over all messages, so that the queue stays well under
/// `Config::write_buffer_limit` (1 MiB), where `send` would fail.
const GROWTH_BUDGET: usize = 256 * 1024;

/// How `conn`'s output is written: vectored or not, at most this many bytes per write.
#[derive(Clone, Copy)]
struct Socket {
    vectored: bool,
    write_max: usize,
}

/// Everything `conn` has queued, as `socket` writes it.
fn drain(conn: &mut Connection, socket: Socket) -> Vec<u8> {
    let mut wire = Vec::new();
    while write_once(conn, &mut wire, socket.write_max, socket.vectored) > 0 {}
    wire
}

/// The messages to send: each payload grown as its `boost` asks, while the budget lasts.
fn messages(msgs: &[Msg]) -> Vec<Message> {
    let mut budget = GROWTH_BUDGET;
    msgs.iter()
        .map(|m| {
            let min = match m.boost {
                _ if !m.whole => 0,
                255 => 65543,
                b @ 224.. => usize::from(b - 223) * 256,
                _ => 0,
            };
            match &m.payload {
                Payload::Text(s) => {
                    let piece = if s.is_empty() { "\u{e4}" } else { s.as_str() };
                    let mut text = s.clone();
                    while text.len() < min && budget >= piece.len() {
                        text.push_str(piece);
                        budget -= piece.len();
                    }
                    Message::text(text)
                }
                Payload::Binary(b) => {
                    let grow = min.saturating_sub(b.len()).min(budget);
                    budget -= grow;
                    let mut bytes = b.clone();
                    if b.is_empty() {
                        bytes.resize(grow, m.boost);
                    } else {
                        bytes.extend(b.iter().copied().cycle().take(grow));
                    }
                    Message::binary(bytes)
                }
            }
        })
        .collect()
}

/// Cuts `bytes` into fragments of the sizes in `sizes` (cycled; 0 is an empty fragment), at most
/// 256 of them; an empty message is one empty fragment.
fn fragments<'a>(bytes: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for i in 0.. {
        if out.len() == 255 || sizes.is_empty() {
            out.push(rest);
            break;
        }
        let n = usize::from(sizes[i % sizes.len()]).min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
        if rest.is_empty() {
            break;
        }
    }
    out
}

/// Sends `msgs` from `conn` (payloads `payloads`) whole or as fragments, a Ping after the message
/// or its first fragment; returns the wire bytes.
fn send_all(conn: &mut Connection, msgs: &[Msg], payloads: &[Message], socket: Socket) -> Vec<u8> {
    for (m, payload) in msgs.iter().zip(payloads) {
        let ping = |conn: &mut Connection| {
            if let Some(p) = &m.ping {
                conn.ping(&p[..p.len().min(125)]).unwrap();
            }
        };
        if m.whole {
            conn.send(payload).unwrap();
            ping(conn);
            continue;
        }
        let frags = fragments(payload.as_bytes(), &m.fragments);
        for (i, frag) in frags.iter().enumerate() {
            conn.send_frame(payload.kind(), frag, i + 1 == frags.len())
                .unwrap();
            if i == 0 {
                ping(conn);
            }
        }
    }
    drain(conn, socket)
}

/// At most about this many chunks per read: a large message read byte by byte would take most of
/// the time (the connection targets cover tiny reads of large frames).
const MAX_CHUNKS: usize = 1024;

/// Reads `wire` in chunks of `sizes` (at least `wire.len() / MAX_CHUNKS` bytes each), returns the
/// events.
fn read_all(conn: &mut Connection, wire: &[u8], sizes: &[usize; 3]) -> Vec<Event> {
    let floor = wire.len() / MAX_CHUNKS;
    let sizes = sizes.map(|s| s.max(floor));
    let mut events = Vec::new();
    for chunk in chunks(wire, &sizes) {
        conn.receive(chunk);
        while let Some(e) = conn.poll_event() {
            events.push(e);
        }
    }
    events
}

fn expected(msgs: &[Msg], payloads: &[Message]) -> Vec<Event> {
    let mut out = Vec::new();
    for (m, payload) in msgs.iter().zip(payloads) {
        if let Some(p) = &m.ping {
            out.push(Event::Ping(p[..p.len().min(125)].to_vec().into()));
        }
        out.push(Event::Message(payload.clone()));
    }
    out
}

/// Pings go ahead of queued data frames (never inside one): compare messages and pings apart.
fn split(events: Vec<Event>) -> (Vec<Event>, Vec<Event>) {
    events
        .into_iter()
        .partition(|e| matches!(e, Event::Message(_)))
}

/// Every ping is answered in order, or (past the control queue limit, §5.5.3) at least the most
/// recent one is.
fn check_pongs(pongs: &[Event], pings: &[Event]) {
    let payload = |e: &Event| match e {
        Event::Ping(p) | Event::Pong(p) => p.clone(),
        other => panic!("{other:?} among pings and pongs"),
    };
    let pongs: Vec<_> = pongs.iter().map(payload).collect();
    let pings: Vec<_> = pings.iter().map(payload).collect();
    let mut rest = pings.iter();
    for pong in &pongs {
        assert!(rest.any(|p| p == pong), "pong {pong:?} out of order");
    }
    assert_eq!(pongs.last(), pings.last(), "the last ping got no pong");
}

fuzz_target!(|input: Input| {
    let config = Config::default();
    let rng = Box::new(StdRng::seed_from_u64(input.mask_seed));
    let mut client = Connection::with_rng(Role::Client, config.clone(), rng);
    let mut server = Connection::new(Role::Server, config);
    let sizes = input.chunking.map(chunk_size);
    let socket = |i: u32| Socket {
        vectored: input.vectored & (1 << i) != 0,
        write_max: match input.write_size {
            0..=127 => usize::MAX,
            n => usize::from(n - 127) * 17,
        },
    };
    let payloads = messages(&input.messages);
    let want = split(expected(&input.messages, &payloads));

    // Client to server.
    let wire = send_all(&mut client, &input.messages, &payloads, socket(0));
    check_sent_frames(&parse_wire(&wire, Role::Client));
    let got = split(read_all(&mut server, &wire, &sizes));
    assert_eq!(got, want, "server received something else");
    // Server echoes what it received (whole messages as the `Message` itself, shared), client
    // reads. Auto-pongs to the client's pings come first.
    let received: Vec<Message> = got
        .0
        .into_iter()
        .map(|e| match e {
            Event::Message(m) => m,
            other => unreachable!("{other:?} among messages"),
        })
        .collect();
    let pongs = drain(&mut server, socket(1));
    let wire = send_all(&mut server, &input.messages, &received, socket(2));
    check_sent_frames(&parse_wire(&wire, Role::Server));
    let (_, pong_events) = split(read_all(&mut client, &pongs, &sizes));
    check_pongs(&pong_events, &want.1);
    let got = split(read_all(&mut client, &wire, &sizes));
    assert_eq!(got, want, "client received something else");

    // The client's pongs to the server's pings.
    let pongs = drain(&mut client, socket(3));
    check_pongs(&read_all(&mut server, &pongs, &sizes), &want.1);

    // Closing handshake (§7): the client closes, the server echoes the code.
    let (code, reason) = match &input.close {
        Some((code, reason)) => {
            let code = CloseCode(*code);
            let code = if code.is_valid_on_wire() {
                code
            } else {
                CloseCode::NORMAL
            };
            let mut end = reason.len().min(MAX_REASON_LEN);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            (code, &reason[..end])
        }
        None => (CloseCode::NORMAL, ""),
    };
    client.close(code, reason).unwrap();
    let wire = drain(&mut client, socket(4));
    let events = read_all(&mut server, &wire, &sizes);
    assert_eq!(events, [Event::Close(Some(CloseFrame::new(code, reason)))]);
    let wire = drain(&mut server, socket(5));
    let events = read_all(&mut client, &wire, &sizes);
    assert_eq!(events, [Event::Close(Some(CloseFrame::new(code, "")))]);
    assert!(client.is_closing_handshake_complete() && server.is_closing_handshake_complete());
    assert_eq!(
        (client.state(), server.state()),
        (State::Closed, State::Closed)
    );
    assert!(server.wants_shutdown());
});
