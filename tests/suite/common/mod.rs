//! Shared test harness: an in-memory client/server [`Pair`], a deterministic mask source,
//! a raw frame builder that writes headers byte by byte (so tests can send frames our own
//! encoder would refuse to make), and an independent frame parser for what a `Connection` sends.
//!
//! Nothing here uses the crate's codec: the builder and the parser follow RFC 6455 §5.2
//! directly, so a bug in `FrameHeader` cannot hide itself.

// Each test file uses a different subset of the helpers, and `pub` here means "for the test
// files", which `unreachable_pub` cannot know.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::time::Duration;

use rand::RngCore;
use rfc6455::{Config, Connection, Event, ProtocolError, Role, State};

// ------------------------------------------------------------------ mask source

/// A deterministic stand-in for the client's CSPRNG (§5.3), passed with `Connection::with_rng`.
///
/// It hands out a byte stream: first the bytes of the keys given to [`with_keys`](Self::with_keys),
/// in order, then a splitmix64 stream. `next_u32` takes the next 4 bytes in native order, so a
/// connection that turns a `u32` into a key with `to_ne_bytes` (or uses `fill_bytes`) gets
/// exactly the keys listed.
pub struct MaskSource {
    queued: VecDeque<u8>,
    state: u64,
}

impl MaskSource {
    pub fn seeded(seed: u64) -> Self {
        Self {
            queued: VecDeque::new(),
            state: seed,
        }
    }

    /// Hands out `keys` first, in order, then seeded pseudo-random keys.
    pub fn with_keys(keys: &[[u8; 4]], seed: u64) -> Self {
        Self {
            queued: keys.iter().flatten().copied().collect(),
            state: seed,
        }
    }

    fn next_byte(&mut self) -> u8 {
        if let Some(b) = self.queued.pop_front() {
            return b;
        }
        // splitmix64, one output word refilling eight bytes.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        self.queued.extend(z.to_le_bytes());
        self.queued.pop_front().unwrap_or(0)
    }
}

impl RngCore for MaskSource {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_ne_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_ne_bytes(b)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_byte();
        }
    }
}

// ------------------------------------------------------------------ connections

/// The key [`Raw::to`] masks client frames with.
pub const TEST_KEY: [u8; 4] = [0xA1, 0x5C, 0x00, 0xFF];

/// A connection with deterministic masks (seed 0).
pub fn conn(role: Role, config: Config) -> Connection {
    conn_seeded(role, config, 0)
}

pub fn conn_seeded(role: Role, config: Config, seed: u64) -> Connection {
    Connection::with_rng(role, config, Box::new(MaskSource::seeded(seed)))
}

pub fn client() -> Connection {
    conn(Role::Client, Config::default())
}

pub fn server() -> Connection {
    conn(Role::Server, Config::default())
}

/// A client whose first masking keys are `keys`.
pub fn client_with_keys(keys: &[[u8; 4]]) -> Connection {
    Connection::with_rng(
        Role::Client,
        Config::default(),
        Box::new(MaskSource::with_keys(keys, 0)),
    )
}

/// Every event currently available.
pub fn poll_all(conn: &mut Connection) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = conn.poll_event() {
        events.push(event);
        assert!(events.len() < 10_000_000, "poll_event never returns None");
    }
    events
}

/// `receive(bytes)`, then every event.
pub fn feed(conn: &mut Connection, bytes: &[u8]) -> Vec<Event> {
    conn.receive(bytes);
    poll_all(conn)
}

/// Takes everything the connection wants to write, each write taking all of `data_to_send`.
pub fn drain(conn: &mut Connection) -> Vec<u8> {
    drain_in_chunks(conn, usize::MAX)
}

/// Takes everything the connection wants to write, in writes of at most `chunk` bytes.
pub fn drain_in_chunks(conn: &mut Connection, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let data = conn.data_to_send();
        if data.is_empty() {
            return out;
        }
        let n = data.len().min(chunk);
        out.extend_from_slice(&data[..n]);
        conn.mark_sent(n);
    }
}

/// Takes everything the connection wants to write and parses it into frames.
pub fn drain_frames(conn: &mut Connection) -> Vec<WireFrame> {
    parse_frames(&drain(conn))
}

/// Feeds `input` to a fresh connection of `role` and checks that it fails the connection the
/// RFC's way (§7.1.7): the last event is `Failed(error)`, nothing else is reported, the one frame
/// sent is a Close with status `code` (masked exactly when we are the client), and the
/// connection is closed and ignores further input.
#[track_caller]
pub fn assert_fails(role: Role, input: &[u8], error: ProtocolError, code: u16) {
    let mut c = conn(role, Config::default());
    assert_fails_on(&mut c, input, error, code);
}

/// [`assert_fails`] on a given connection (which must not have queued anything yet).
#[track_caller]
pub fn assert_fails_on(c: &mut Connection, input: &[u8], error: ProtocolError, code: u16) {
    assert_fails_after(c, input, &[], error, code);
}

/// [`assert_fails_on`], where `input` first produces the events `before`.
#[track_caller]
pub fn assert_fails_after(
    c: &mut Connection,
    input: &[u8],
    before: &[Event],
    error: ProtocolError,
    code: u16,
) {
    let role = c.role();
    let events = feed(c, input);
    let mut expected = before.to_vec();
    expected.push(Event::Failed(error));
    assert_eq!(
        events,
        expected,
        "events for {:02x?}",
        &input[..input.len().min(64)]
    );
    let frames = drain_frames(c);
    assert_eq!(frames.len(), 1, "exactly one Close frame, got {frames:?}");
    assert_eq!(frames[0].opcode, 0x8, "{frames:?}");
    assert_eq!(frames[0].close_code(), Some(code), "{frames:?}");
    assert_eq!(frames[0].mask.is_some(), role == Role::Client, "{frames:?}");
    assert_eq!(c.state(), State::Closed);
    // §7.1.7: "An endpoint MUST NOT continue to attempt to process data ... after being
    // instructed to _Fail the WebSocket Connection_"
    let later = Raw::text("after").to(role).bytes();
    assert_eq!(feed(c, &later), vec![], "input processed after failing");
    assert!(c.data_to_send().is_empty(), "sent something after failing");
}

// ------------------------------------------------------------------ the pair

/// What one [`Pair::drive`] produced on each side.
#[derive(Debug, Default)]
pub struct Driven {
    pub client: Vec<Event>,
    pub server: Vec<Event>,
}

/// A client and a server joined by an in-memory "TCP connection" (quinn's test `Pair`).
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    /// The most bytes the simulated socket takes per write, to exercise partial writes.
    pub max_write: usize,
    /// Everything that went over the wire, each direction.
    pub to_server: Vec<u8>,
    pub to_client: Vec<u8>,
    /// Whether each side has half-closed its TCP write side (after `wants_shutdown`).
    pub client_shut: bool,
    pub server_shut: bool,
}

impl Default for Pair {
    fn default() -> Self {
        Self::new(Config::default(), Config::default(), 0)
    }
}

impl Pair {
    pub fn new(client: Config, server: Config, mask_seed: u64) -> Self {
        Self {
            client: conn_seeded(Role::Client, client, mask_seed),
            server: conn_seeded(Role::Server, server, mask_seed),
            max_write: usize::MAX,
            to_server: Vec::new(),
            to_client: Vec::new(),
            client_shut: false,
            server_shut: false,
        }
    }

    /// Makes the simulated socket take at most `n` bytes per write.
    pub fn with_max_write(mut self, n: usize) -> Self {
        self.max_write = n;
        self
    }

    /// Moves bytes both ways, polls events and delivers half-closes (a side that
    /// `wants_shutdown` makes the other side `receive_eof`), until nothing more happens.
    pub fn drive(&mut self) -> Driven {
        let mut driven = Driven::default();
        for _ in 0..10_000_000 {
            let mut progress = false;
            progress |= poll_into(&mut self.client, &mut driven.client);
            progress |= poll_into(&mut self.server, &mut driven.server);
            progress |= transmit(
                &mut self.client,
                &mut self.server,
                &mut self.to_server,
                self.max_write,
            );
            progress |= transmit(
                &mut self.server,
                &mut self.client,
                &mut self.to_client,
                self.max_write,
            );
            if !self.client_shut && self.client.wants_shutdown() {
                self.client_shut = true;
                self.server.receive_eof();
                progress = true;
            }
            if !self.server_shut && self.server.wants_shutdown() {
                self.server_shut = true;
                self.client.receive_eof();
                progress = true;
            }
            if !progress {
                return driven;
            }
        }
        panic!("the pair never went idle");
    }
}

fn poll_into(conn: &mut Connection, events: &mut Vec<Event>) -> bool {
    let before = events.len();
    while let Some(event) = conn.poll_event() {
        events.push(event);
    }
    events.len() > before
}

fn transmit(from: &mut Connection, to: &mut Connection, wire: &mut Vec<u8>, max: usize) -> bool {
    let data = from.data_to_send();
    if data.is_empty() {
        return false;
    }
    let n = data.len().min(max);
    to.receive(&data[..n]);
    wire.extend_from_slice(&data[..n]);
    from.mark_sent(n);
    true
}

/// Advances a connection's clock to `now` through `handle_timeout` and returns the events.
pub fn tick(conn: &mut Connection, now: Duration) -> Vec<Event> {
    conn.handle_timeout(now);
    poll_all(conn)
}

// ------------------------------------------------------------------ raw frames

/// How a [`Raw`] frame writes its payload length (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenForm {
    /// 7 bits (0-125).
    Short,
    /// 126, then 16 bits.
    Medium,
    /// 127, then 64 bits.
    Long,
}

/// A frame built byte by byte, any bits we like: reserved bits, reserved opcodes, wrong masking,
/// lying or non-minimal lengths.
#[derive(Debug, Clone)]
pub struct Raw {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
    /// The length the header claims; the payload's own length if `None`.
    pub declared_len: Option<u64>,
    /// The length form; the minimal one if `None`.
    pub len_form: Option<LenForm>,
}

impl Raw {
    pub fn new(opcode: u8, payload: impl AsRef<[u8]>) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload: payload.as_ref().to_vec(),
            declared_len: None,
            len_form: None,
        }
    }

    pub fn cont(payload: impl AsRef<[u8]>) -> Self {
        Self::new(0x0, payload)
    }

    pub fn text(payload: impl AsRef<[u8]>) -> Self {
        Self::new(0x1, payload)
    }

    pub fn binary(payload: impl AsRef<[u8]>) -> Self {
        Self::new(0x2, payload)
    }

    pub fn close_empty() -> Self {
        Self::new(0x8, [])
    }

    /// A Close frame with a status code and a reason (bytes, so it may be invalid UTF-8).
    pub fn close(code: u16, reason: impl AsRef<[u8]>) -> Self {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_ref());
        Self::new(0x8, payload)
    }

    pub fn ping(payload: impl AsRef<[u8]>) -> Self {
        Self::new(0x9, payload)
    }

    pub fn pong(payload: impl AsRef<[u8]>) -> Self {
        Self::new(0xA, payload)
    }

    pub fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    pub fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv;
        self
    }

    pub fn masked(mut self, key: [u8; 4]) -> Self {
        self.mask = Some(key);
        self
    }

    /// Masked with [`TEST_KEY`] when sent to a server, unmasked when sent to a client: a
    /// well-behaved peer of `receiver`.
    pub fn to(mut self, receiver: Role) -> Self {
        self.mask = (receiver == Role::Server).then_some(TEST_KEY);
        self
    }

    pub fn declared_len(mut self, len: u64) -> Self {
        self.declared_len = Some(len);
        self
    }

    pub fn len_form(mut self, form: LenForm) -> Self {
        self.len_form = Some(form);
        self
    }

    /// The header alone.
    pub fn header(&self) -> Vec<u8> {
        let len = self.declared_len.unwrap_or(self.payload.len() as u64);
        let form = self.len_form.unwrap_or(if len <= 125 {
            LenForm::Short
        } else if len <= 0xFFFF {
            LenForm::Medium
        } else {
            LenForm::Long
        });
        let mut out = vec![(u8::from(self.fin) << 7) | ((self.rsv & 7) << 4) | (self.opcode & 0xF)];
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        match form {
            LenForm::Short => out.push(mask_bit | len as u8),
            LenForm::Medium => {
                out.push(mask_bit | 126);
                out.push((len >> 8) as u8);
                out.push(len as u8);
            }
            LenForm::Long => {
                out.push(mask_bit | 127);
                for shift in (0..8).rev() {
                    out.push((len >> (shift * 8)) as u8);
                }
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
        out
    }

    /// Header and (masked) payload.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        out.extend(masked(&self.payload, self.mask));
        out
    }
}

/// XOR with the key, byte by byte (§5.3), or a copy when unmasked.
pub fn masked(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    match mask {
        Some(key) => payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect(),
        None => payload.to_vec(),
    }
}

/// Concatenates frames into one byte string.
pub fn wire(frames: &[Raw]) -> Vec<u8> {
    frames.iter().flat_map(Raw::bytes).collect()
}

// ------------------------------------------------------------------ parsing what was sent

/// A frame parsed from a connection's output, payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// The length form the sender used.
    pub len_form: LenForm,
    pub payload: Vec<u8>,
}

impl WireFrame {
    /// The status code of a Close frame with a payload.
    pub fn close_code(&self) -> Option<u16> {
        match (self.opcode, self.payload.as_slice()) {
            (0x8, [hi, lo, ..]) => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        }
    }
}

/// Parses one frame from the start of `buf`: the frame and its length, or `None` if `buf` holds
/// only part of one.
pub fn parse_frame(buf: &[u8]) -> Option<(WireFrame, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, form, mut pos) = match b1 & 0x7F {
        126 => {
            let b = buf.get(2..4)?;
            (u64::from(b[0]) << 8 | u64::from(b[1]), LenForm::Medium, 4)
        }
        127 => {
            let b = buf.get(2..10)?;
            let len = b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
            (len, LenForm::Long, 10)
        }
        n => (u64::from(n), LenForm::Short, 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let k = buf.get(pos..pos + 4)?;
        pos += 4;
        Some([k[0], k[1], k[2], k[3]])
    } else {
        None
    };
    let end = pos + usize::try_from(len).ok()?;
    let payload = masked(buf.get(pos..end)?, mask);
    let frame = WireFrame {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 7,
        opcode: b0 & 0xF,
        mask,
        len_form: form,
        payload,
    };
    Some((frame, end))
}

/// Parses a whole byte stream into frames; panics if it ends inside a frame (a torn frame).
#[track_caller]
pub fn parse_frames(mut buf: &[u8]) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    while !buf.is_empty() {
        let Some((frame, n)) = parse_frame(buf) else {
            panic!(
                "output ends inside a frame after {} frames: {:02x?}",
                frames.len(),
                &buf[..buf.len().min(32)]
            );
        };
        frames.push(frame);
        buf = &buf[n..];
    }
    frames
}
