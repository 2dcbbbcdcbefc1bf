//! Properties that must hold for any input: the frame codec round-trips, masking is its own
//! inverse at any offset, UTF-8 validation agrees with `std` however the input is cut, and
//! messages survive any fragmentation, any masking keys and any way
//! the byte stream is cut into reads, in both directions, and through both adapters' read paths.

use crate::common;

use common::{conn, conn_seeded, drain, feed, masked, Raw};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use rfc6455::frame::{apply_mask, apply_mask_naive, FrameHeader, Opcode};
use rfc6455::utf8::Utf8Validator;
use rfc6455::{Config, Connection, DataKind, Event, Message, ProtocolError, Role, Status};

// ---------------------------------------------------------------- frame header codec

fn opcode() -> impl Strategy<Value = Opcode> {
    prop_oneof![
        Just(Opcode::Continuation),
        Just(Opcode::Text),
        Just(Opcode::Binary),
        Just(Opcode::Close),
        Just(Opcode::Ping),
        Just(Opcode::Pong),
    ]
}

/// Payload lengths, with every boundary of the 7/16/64-bit forms (§5.2) drawn often.
fn payload_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![0, 1, 125, 126, 127, 0xFFFF, 0x1_0000, (1 << 63) - 1]),
        0..=125u64,
        126..=0xFFFFu64,
        0x1_0000..=(1u64 << 63) - 1,
    ]
}

/// Any header `decode` accepts: control frames are final and at most 125 bytes (§5.5).
fn header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<bool>(),
        0u8..8,
        opcode(),
        any::<Option<[u8; 4]>>(),
        payload_len(),
    )
        .prop_map(|(fin, rsv, opcode, mask, len)| {
            let (fin, payload_len) = if opcode.is_control() {
                (true, len % 126)
            } else {
                (fin, len)
            };
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            }
        })
}

proptest! {
    #[test]
    fn header_decode_inverts_encode(h in header(), trailing in vec(any::<u8>(), 0..16)) {
        let mut bytes = Vec::new();
        h.encode_to_vec(&mut bytes);
        prop_assert_eq!(bytes.len(), h.encoded_len());
        prop_assert!(bytes.len() <= FrameHeader::MAX_LEN);
        // Whatever follows the header (the payload) does not change it.
        let n = bytes.len();
        bytes.extend_from_slice(&trailing);
        prop_assert_eq!(FrameHeader::decode(&bytes), Ok(Status::Complete((h, n))));
        for cut in 0..n {
            prop_assert_eq!(FrameHeader::decode(&bytes[..cut]), Ok(Status::Partial));
        }
    }

    #[test]
    fn header_encoding_matches_the_rfc_layout(h in header()) {
        // The test harness's byte-by-byte builder follows §5.2 independently of the crate.
        let raw = Raw {
            fin: h.fin,
            rsv: h.rsv,
            opcode: h.opcode.as_u8(),
            mask: h.mask,
            payload: Vec::new(),
            declared_len: Some(h.payload_len),
            len_form: None,
        };
        let mut bytes = Vec::new();
        h.encode_to_vec(&mut bytes);
        prop_assert_eq!(bytes, raw.header());
    }

    #[test]
    fn control_headers_breaking_5_5_are_rejected(
        op in prop::sample::select(vec![Opcode::Close, Opcode::Ping, Opcode::Pong]),
        fin in any::<bool>(),
        len in payload_len(),
    ) {
        let raw = Raw::new(op.as_u8(), []).fin(fin).declared_len(len);
        let expected = if len > 125 {
            Err(ProtocolError::ControlFrameTooLong(len))
        } else if !fin {
            Err(ProtocolError::FragmentedControlFrame)
        } else {
            Ok(Status::Complete((
                FrameHeader { fin, rsv: 0, opcode: op, mask: None, payload_len: len },
                2,
            )))
        };
        prop_assert_eq!(FrameHeader::decode(&raw.header()), expected);
    }
}

// ---------------------------------------------------------------- masking

proptest! {
    #[test]
    fn apply_mask_is_an_involution_and_matches_the_naive_loop(
        data in vec(any::<u8>(), 0..300),
        key in any::<[u8; 4]>(),
        offset in 0usize..4096,
    ) {
        let mut fast = data.clone();
        apply_mask(&mut fast, key, offset);
        let mut naive = data.clone();
        apply_mask_naive(&mut naive, key, offset);
        prop_assert_eq!(&fast, &naive);
        // §5.3, independently: octet i XOR key[(offset + i) % 4].
        let expected: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(offset + i) % 4])
            .collect();
        prop_assert_eq!(&fast, &expected);
        apply_mask(&mut fast, key, offset);
        prop_assert_eq!(fast, data);
    }

    #[test]
    fn masking_in_pieces_equals_masking_whole(
        data in vec(any::<u8>(), 0..300),
        key in any::<[u8; 4]>(),
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = data.clone();
        let mut start = 0;
        for end in cuts.into_iter().chain([data.len()]) {
            apply_mask(&mut pieces[start..end], key, start);
            start = end;
        }
        prop_assert_eq!(&pieces, &whole);
        prop_assert_eq!(whole, masked(&data, Some(key)));
    }
}

// ---------------------------------------------------------------- UTF-8 (§8.1)

/// Bytes that are often UTF-8 and often nearly so: text, random bytes, or text with a byte
/// flipped or cut.
fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<String>().prop_map(String::into_bytes),
        vec(any::<u8>(), 0..64),
        (any::<String>(), any::<Index>(), any::<u8>()).prop_map(|(s, at, b)| {
            let mut v = s.into_bytes();
            if !v.is_empty() {
                let i = at.index(v.len());
                v[i] = b;
            }
            v
        }),
        (any::<String>(), any::<Index>()).prop_map(|(s, at)| {
            let v = s.into_bytes();
            let end = at.index(v.len() + 1);
            v[..end].to_vec()
        }),
    ]
}

proptest! {
    /// The validator (SIMD for whole pieces) agrees with `std` for any input cut anywhere, and
    /// fails on the first piece after which the input can no longer be UTF-8, never later.
    #[test]
    fn the_utf8_validator_agrees_with_std_however_the_input_is_cut(
        bytes in utf8ish(),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        let (mut i, mut j) = (a.index(bytes.len() + 1), b.index(bytes.len() + 1));
        if i > j {
            core::mem::swap(&mut i, &mut j);
        }
        let mut v = Utf8Validator::new();
        for (start, end) in [(0, i), (i, j), (j, bytes.len())] {
            let fed = v.feed(&bytes[start..end]).is_ok();
            let certain_error = matches!(
                core::str::from_utf8(&bytes[..end]),
                Err(e) if e.error_len().is_some()
            );
            prop_assert_eq!(fed, !certain_error, "prefix of {} bytes", end);
            if !fed {
                return Ok(());
            }
        }
        prop_assert_eq!(v.finish().is_ok(), core::str::from_utf8(&bytes).is_ok());
    }
}

// ---------------------------------------------------------------- messages end to end

#[derive(Debug, Clone)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

impl Msg {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Text(s) => s.as_bytes(),
            Self::Binary(b) => b,
        }
    }

    fn kind(&self) -> DataKind {
        match self {
            Self::Text(_) => DataKind::Text,
            Self::Binary(_) => DataKind::Binary,
        }
    }

    fn message(&self) -> Message {
        match self {
            Self::Text(s) => Message::text(s.as_str()),
            Self::Binary(b) => Message::binary(b.clone()),
        }
    }
}

/// Text of any Unicode scalar values (multi-byte sequences included), or any bytes.
fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        vec(any::<char>(), 0..80).prop_map(|c| Msg::Text(c.into_iter().collect())),
        vec(any::<u8>(), 0..400).prop_map(Msg::Binary),
    ]
}

/// A message, where to cut it into fragments (anywhere, UTF-8 sequences included; repeated cuts
/// make empty fragments), and whether to send a Ping after its first fragment.
fn plan() -> impl Strategy<Value = Vec<(Msg, Vec<Index>, bool)>> {
    vec((msg(), vec(any::<Index>(), 0..5), any::<bool>()), 0..8)
}

/// Sends `plan` from `sender`, returning the bytes it wrote and how many Pings it sent. The
/// output is taken after each message, as a driver would write it, so a plan larger than the
/// write buffer limit is never refused with `BufferFull`.
fn send_plan(sender: &mut Connection, plan: &[(Msg, Vec<Index>, bool)]) -> (Vec<u8>, usize) {
    let mut pings = 0;
    let mut wire = Vec::new();
    for (msg, cuts, ping) in plan {
        wire.extend(drain(sender));
        let bytes = msg.bytes();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        if cuts.is_empty() {
            sender.send(&msg.message()).unwrap();
            continue;
        }
        let ends: Vec<usize> = cuts.into_iter().chain([bytes.len()]).collect();
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate() {
            let fin = i == ends.len() - 1;
            sender
                .send_frame(msg.kind(), &bytes[start..end], fin)
                .unwrap();
            if i == 0 && *ping && !fin {
                sender.ping(b"p").unwrap();
                pings += 1;
            }
            start = end;
            wire.extend(drain(sender));
        }
    }
    wire.extend(drain(sender));
    (wire, pings)
}

/// Feeds `bytes` to `receiver` in reads of the given sizes (cycled), collecting the events.
fn receive_in_chunks(receiver: &mut Connection, bytes: &[u8], sizes: &[usize]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut rest = bytes;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = rest.len().min(*size);
        events.extend(feed(receiver, &rest[..n]));
        rest = &rest[n..];
    }
    events
}

fn check_roundtrip(
    sender_role: Role,
    plan: &[(Msg, Vec<Index>, bool)],
    seed: u64,
    sizes: &[usize],
) -> Result<(), TestCaseError> {
    let receiver_role = match sender_role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let mut sender = conn_seeded(sender_role, Config::default(), seed);
    let mut receiver = conn(receiver_role, Config::default());
    let (bytes, pings) = send_plan(&mut sender, plan);
    let events = receive_in_chunks(&mut receiver, &bytes, sizes);
    let mut messages = Vec::new();
    let mut pings_seen = 0;
    for event in events {
        match event {
            Event::Message(m) => messages.push(m),
            Event::Ping(p) => {
                prop_assert_eq!(&p[..], b"p");
                pings_seen += 1;
            }
            other => prop_assert!(false, "unexpected event {:?}", other),
        }
    }
    let expected: Vec<Message> = plan.iter().map(|(m, _, _)| m.message()).collect();
    prop_assert_eq!(messages, expected);
    prop_assert_eq!(pings_seen, pings);
    Ok(())
}

/// Read sizes (cycled): tiny (under `small`), up to `large`, or everything at once.
fn read_sizes(small: usize, large: usize) -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        vec(1usize..small, 1..10),
        vec(1usize..large, 1..10),
        Just(vec![usize::MAX]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_messages_from_a_client_reach_the_server_intact(
        plan in plan(),
        seed in any::<u64>(),
        sizes in read_sizes(16, 600),
    ) {
        check_roundtrip(Role::Client, &plan, seed, &sizes)?;
    }

    #[test]
    fn any_messages_from_a_server_reach_the_client_intact(
        plan in plan(),
        sizes in read_sizes(16, 600),
    ) {
        check_roundtrip(Role::Server, &plan, 0, &sizes)?;
    }
}

// ---------------------------------------------------------------- the outgoing queue

/// What the application and the socket do to a sender, in some order.
#[derive(Debug, Clone)]
enum Step {
    Send(Msg),
    Ping,
    /// The socket takes at most `n` bytes, through `data_to_send_vectored` or `data_to_send`.
    Write {
        n: usize,
        vectored: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        msg().prop_map(Step::Send),
        // Large enough that a server queues the payload shared, not copied.
        (4096usize..20_000, any::<u8>(), any::<bool>()).prop_map(|(len, b, text)| {
            Step::Send(if text {
                Msg::Text("é".repeat(len / 2))
            } else {
                Msg::Binary((0..len).map(|i| (i as u8) ^ b).collect())
            })
        }),
        Just(Step::Ping),
        (1usize..30_000, any::<bool>()).prop_map(|(n, vectored)| Step::Write { n, vectored }),
    ]
}

/// Writes at most `n` bytes of `sender`'s output to `wire`, the way an adapter does.
fn write_some(sender: &mut Connection, n: usize, vectored: bool, wire: &mut Vec<u8>) -> usize {
    let before = sender.buffered_amount();
    let taken = if vectored {
        let mut parts: [&[u8]; 3] = [&[]; 3];
        let k = sender.data_to_send_vectored(&mut parts);
        let mut taken = 0;
        for part in &parts[..k] {
            let m = part.len().min(n - taken);
            wire.extend_from_slice(&part[..m]);
            taken += m;
        }
        taken
    } else {
        let data = sender.data_to_send();
        let m = data.len().min(n);
        wire.extend_from_slice(&data[..m]);
        m
    };
    sender.mark_sent(taken);
    assert_eq!(sender.buffered_amount(), before - taken);
    taken
}

fn check_outgoing_queue(role: Role, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut sender = conn_seeded(role, Config::default(), 7);
    let peer = match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    let mut pings = 0;
    for step in steps {
        match step {
            Step::Send(m) => {
                sender.send(&m.message()).unwrap();
                sent.push(m.message());
            }
            Step::Ping => {
                sender.ping(b"p").unwrap();
                pings += 1;
            }
            Step::Write { n, vectored } => {
                write_some(&mut sender, *n, *vectored, &mut wire);
            }
        }
    }
    let mut vectored = false;
    while write_some(&mut sender, usize::MAX, vectored, &mut wire) > 0 {
        vectored = !vectored;
    }
    prop_assert_eq!(sender.buffered_amount(), 0);
    // The peer parses every frame: a torn frame or a Ping inside a data frame would fail it.
    let mut receiver = conn(peer, Config::default());
    let mut messages = Vec::new();
    let mut pings_seen = 0;
    for event in feed(&mut receiver, &wire) {
        match event {
            Event::Message(m) => messages.push(m),
            Event::Ping(_) => pings_seen += 1,
            other => prop_assert!(false, "unexpected event {:?}", other),
        }
    }
    prop_assert_eq!(messages, sent);
    prop_assert_eq!(pings_seen, pings);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever is queued, and however the socket takes it (a few bytes at a time, whole
    /// vectored writes), the peer gets every message in order and every Ping, between frames.
    #[test]
    fn the_outgoing_queue_writes_every_frame_whole_and_in_order(
        steps in vec(step(), 0..24),
        server in any::<bool>(),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        check_outgoing_queue(role, &steps)?;
    }
}

// ---------------------------------------------------------------- chunking invariance

/// Frames a misbehaving or honest peer of `receiver` might send: reserved opcodes and bits,
/// wrong masking, oversized or fragmented control frames, text that is or is not UTF-8.
fn hostile_frame(receiver: Role) -> impl Strategy<Value = Raw> {
    let opcode = prop::sample::select(vec![0x0, 0x1, 0x1, 0x2, 0x2, 0x8, 0x9, 0x9, 0xA, 0x3, 0xB]);
    let payload = prop_oneof![
        vec(any::<char>(), 0..20).prop_map(|c| c.into_iter().collect::<String>().into_bytes()),
        vec(any::<u8>(), 0..8),
        vec(any::<u8>(), 120..130),
        Just(vec![0x03, 0xE8, b'o', b'k']),
    ];
    (
        opcode,
        payload,
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.95),
    )
        .prop_map(move |(op, payload, fin, rsv, honest_mask)| {
            let mut raw = Raw::new(op, payload).fin(fin).rsv(u8::from(rsv) << 2);
            raw = raw.to(receiver);
            if !honest_mask {
                raw.mask = match raw.mask {
                    Some(_) => None,
                    None => Some([1, 2, 3, 4]),
                };
            }
            raw
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_byte_stream_gives_the_same_events_however_it_is_cut(
        (receiver, frames) in prop::sample::select(vec![Role::Client, Role::Server])
            .prop_flat_map(|r| (Just(r), vec(hostile_frame(r), 0..12))),
        sizes in read_sizes(16, 600),
    ) {
        let bytes: Vec<u8> = frames.iter().flat_map(Raw::bytes).collect();
        let mut whole = conn(receiver, Config::default());
        let expected = feed(&mut whole, &bytes);
        let mut cut = conn(receiver, Config::default());
        let events = receive_in_chunks(&mut cut, &bytes, &sizes);
        prop_assert_eq!(events, expected);
        prop_assert_eq!(drain(&mut cut), drain(&mut whole));
        prop_assert_eq!(cut.state(), whole.state());
    }
}

// ---------------------------------------------------------------- adapters, large messages

/// A stream over `data` whose reads return at most the next of `sizes` (cycled) bytes, then end
/// of stream; writes go nowhere. What a socket does when a peer's bytes arrive in any pieces.
struct Pieces {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl Pieces {
    fn new(data: Vec<u8>, sizes: Vec<usize>) -> Self {
        Self {
            data,
            at: 0,
            sizes,
            next: 0,
        }
    }

    /// How many bytes the next read may return, for a buffer of `room` bytes.
    fn take(&mut self, room: usize) -> usize {
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        size.min(room).min(self.data.len() - self.at)
    }
}

impl std::io::Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.take(buf.len());
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl std::io::Write for Pieces {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl rfc6455::blocking::Stream for Pieces {}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for Pieces {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = self.take(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncWrite for Pieces {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Binary messages from a few bytes to a few hundred KiB (the adapters read large frames straight
/// into the receive buffer, small ones through a buffer of their own), each cut into up to 3
/// fragments anywhere; no Pings.
fn large_plan() -> impl Strategy<Value = Vec<(Msg, Vec<Index>, bool)>> {
    let len = prop_oneof![0usize..100, 16_000usize..70_000, 100_000usize..300_000];
    let payload = (len, any::<u8>()).prop_map(|(len, seed)| {
        Msg::Binary(
            (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed)
                .collect(),
        )
    });
    vec((payload, vec(any::<Index>(), 0..3), Just(false)), 1..6)
}

/// A client's bytes for `plan` (with masking keys from `seed`), and the messages a server
/// must deliver.
fn client_bytes(plan: &[(Msg, Vec<Index>, bool)], seed: u64) -> (Vec<u8>, Vec<Message>) {
    let mut client = conn_seeded(Role::Client, Config::default(), seed);
    let (bytes, _) = send_plan(&mut client, plan);
    (bytes, plan.iter().map(|(m, _, _)| m.message()).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The blocking adapter delivers every message whole, however the socket cuts the bytes.
    #[test]
    fn large_messages_reach_a_blocking_server_intact_however_its_reads_are_cut(
        plan in large_plan(),
        seed in any::<u64>(),
        sizes in read_sizes(2_000, 100_000),
    ) {
        let (bytes, expected) = client_bytes(&plan, seed);
        let conn = conn(Role::Server, Config::default());
        let mut ws = rfc6455::blocking::WebSocket::from_connection(Pieces::new(bytes, sizes), conn);
        let mut got = Vec::new();
        // The stream ends without a Close: the read after the last message fails.
        while let Ok(Some(m)) = ws.recv() {
            got.push(m);
        }
        prop_assert_eq!(got, expected);
    }

    /// The async adapter, likewise.
    #[cfg(feature = "tokio")]
    #[test]
    fn large_messages_reach_an_async_server_intact_however_its_reads_are_cut(
        plan in large_plan(),
        seed in any::<u64>(),
        sizes in read_sizes(2_000, 100_000),
    ) {
        let (bytes, expected) = client_bytes(&plan, seed);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let got = rt.block_on(async move {
            let conn = conn(Role::Server, Config::default());
            let mut ws = rfc6455::tokio::WebSocketStream::from_connection(Pieces::new(bytes, sizes), conn);
            let mut got = Vec::new();
            while let Ok(Some(m)) = ws.recv().await {
                got.push(m);
            }
            got
        });
        prop_assert_eq!(got, expected);
    }
}
