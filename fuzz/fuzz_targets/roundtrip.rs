//! Structured round trip (RFC 6455 §5.3, §5.4, §5.6, §7): arbitrary text and binary messages,
//! each cut into arbitrary fragments with Pings between them, are sent by a client (masking keys
//! from a seeded `StdRng`) with `send_frame`, read by a server in arbitrary chunks, echoed back the
//! same way (unmasked) and read by the client; both sides get exactly the messages and pings that
//! were sent, then the closing handshake completes with the chosen code and reason.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rfc6455::close::MAX_REASON_LEN;
use rfc6455::{CloseCode, CloseFrame, Config, Connection, DataKind, Event, Message, Role, State};
use rfc6455_fuzz::{check_sent_frames, chunk_size, chunks, parse_wire};

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
}

#[derive(Debug, Arbitrary)]
struct Input {
    mask_seed: u64,
    messages: Vec<Msg>,
    /// Read chunk sizes (see `chunk_size`), cycled.
    chunking: [u8; 3],
    close: Option<(u16, String)>,
}

/// Everything `conn` has queued, as a socket that takes it all would see it.
fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut wire = Vec::new();
    loop {
        let out = conn.data_to_send();
        if out.is_empty() {
            return wire;
        }
        wire.extend_from_slice(out);
        let n = out.len();
        conn.mark_sent(n);
    }
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

/// Sends `msgs` from `conn` as fragments (a Ping after the first), returns the wire bytes.
fn send_all(conn: &mut Connection, msgs: &[Msg]) -> Vec<u8> {
    for m in msgs {
        let (kind, bytes) = match &m.payload {
            Payload::Text(s) => (DataKind::Text, s.as_bytes()),
            Payload::Binary(b) => (DataKind::Binary, b.as_slice()),
        };
        let frags = fragments(bytes, &m.fragments);
        for (i, frag) in frags.iter().enumerate() {
            conn.send_frame(kind, frag, i + 1 == frags.len()).unwrap();
            if i == 0 {
                if let Some(p) = &m.ping {
                    conn.ping(&p[..p.len().min(125)]).unwrap();
                }
            }
        }
    }
    drain(conn)
}

/// Reads `wire` in chunks, returns the events.
fn read_all(conn: &mut Connection, wire: &[u8], sizes: &[usize]) -> Vec<Event> {
    let mut events = Vec::new();
    for chunk in chunks(wire, sizes) {
        conn.receive(chunk);
        while let Some(e) = conn.poll_event() {
            events.push(e);
        }
    }
    events
}

fn expected(msgs: &[Msg]) -> Vec<Event> {
    let mut out = Vec::new();
    for m in msgs {
        if let Some(p) = &m.ping {
            out.push(Event::Ping(p[..p.len().min(125)].to_vec().into()));
        }
        out.push(Event::Message(match &m.payload {
            Payload::Text(s) => Message::text(s.as_str()),
            Payload::Binary(b) => Message::binary(b.clone()),
        }));
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
    let want = split(expected(&input.messages));

    // Client to server.
    let wire = send_all(&mut client, &input.messages);
    check_sent_frames(&parse_wire(&wire, Role::Client));
    let got = split(read_all(&mut server, &wire, &sizes));
    assert_eq!(got, want, "server received something else");
    // Server echoes, client reads. Auto-pongs to the client's pings come first.
    let pongs = drain(&mut server);
    let wire = send_all(&mut server, &input.messages);
    check_sent_frames(&parse_wire(&wire, Role::Server));
    let (_, pong_events) = split(read_all(&mut client, &pongs, &sizes));
    check_pongs(&pong_events, &want.1);
    let got = split(read_all(&mut client, &wire, &sizes));
    assert_eq!(got, want, "client received something else");

    // The client's pongs to the server's pings.
    let pongs = drain(&mut client);
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
    let wire = drain(&mut client);
    let events = read_all(&mut server, &wire, &sizes);
    assert_eq!(events, [Event::Close(Some(CloseFrame::new(code, reason)))]);
    let wire = drain(&mut server);
    let events = read_all(&mut client, &wire, &sizes);
    assert_eq!(events, [Event::Close(Some(CloseFrame::new(code, "")))]);
    assert!(client.is_closing_handshake_complete() && server.is_closing_handshake_complete());
    assert_eq!(
        (client.state(), server.state()),
        (State::Closed, State::Closed)
    );
    assert!(server.wants_shutdown());
});
