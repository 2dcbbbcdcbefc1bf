//! The load generator: raw TCP, its own handshake and its own masked client frames (RFC 6455
//! §5.2, §5.3), so that every server is measured with the same client.
//!
//! ```text
//! loadgen ADDR [--mode echo|handshake|idle] [--conns N] [--depth D] [--size BYTES]
//!              [--text] [--frags F] [--duration SECS] [--warmup SECS] [--threads T]
//!              [--server-pid PID]
//! ```
//!
//! - `echo` (default): N connections, each keeping D messages of SIZE bytes in flight (text with
//!   `--text`, else binary), each message sent as F frames; measures echoed messages/s and the
//!   latency from queueing a message to receiving its echo (p50, p99). Echoes are checked: type,
//!   length, and a sequence number in the first 16 bytes. With messages over 8 KiB, the rest of
//!   an echo's payload is discarded by the kernel unread (`recv` with `MSG_TRUNC`), which keeps
//!   the generator from being the bottleneck.
//! - `handshake`: N concurrent loops of connect, opening handshake (checking
//!   `Sec-WebSocket-Accept`), closing handshake, until the server closes; measures handshakes/s.
//! - `idle`: opens N connections, prints `READY n=N`, waits for a line (or EOF) on stdin, then
//!   closes them all. The runner measures the server's memory meanwhile.
//!
//! Prints one line `RESULT key=value ...` on stdout (the runner parses it), including the
//! generator's own CPU use in the measured window (`gen_cpu`, in cores: 1.0 is one core fully
//! busy, which means the generator is the bottleneck) and, with `--server-pid`, the server's
//! (`server_cpu`). Exits 1 on any error: a refused connection, a bad echo, a stalled server.

use std::collections::VecDeque;
use std::io::{self, BufRead as _};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use rfc6455_loadtest::{process_cpu_time, raise_open_files_limit, self_cpu_time, Histogram};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// Templates up to this size are copied into a write buffer per message (so that many small
/// messages go out in one write); larger ones are written straight from the template.
const SMALL_TEMPLATE: usize = 8 * 1024;
/// With large messages, what is read between two payloads: the longest frame header a server
/// sends (unmasked, with a 64-bit length: 10 bytes, RFC 6455 §5.2) and the 16 bytes of the
/// sequence number.
const HEAD_READ: usize = 10 + 16;
/// How long after the end of the window the server may take to echo what is still in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for the server to close after our Close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Echo,
    Handshake,
    Idle,
}

#[derive(Clone, Debug)]
struct Args {
    addr: SocketAddr,
    mode: Mode,
    conns: usize,
    depth: usize,
    size: usize,
    text: bool,
    frags: usize,
    duration: Duration,
    warmup: Duration,
    threads: usize,
    server_pid: Option<u32>,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen ADDR [--mode echo|handshake|idle] [--conns N] [--depth D] [--size BYTES] \
         [--text] [--frags F] [--duration SECS] [--warmup SECS] [--threads T] [--server-pid PID]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        mode: Mode::Echo,
        conns: 1,
        depth: 1,
        size: 16,
        text: false,
        frags: 1,
        duration: Duration::from_secs(5),
        warmup: Duration::ZERO,
        threads: 1,
        server_pid: None,
    };
    let mut warmup = None;
    fn value<T: std::str::FromStr>(v: Option<String>) -> T {
        v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())
    }
    let secs = |v: Option<String>| Duration::from_secs_f64(value::<f64>(v));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mode" => {
                a.mode = match args.next().as_deref() {
                    Some("echo") => Mode::Echo,
                    Some("handshake") => Mode::Handshake,
                    Some("idle") => Mode::Idle,
                    _ => usage(),
                }
            }
            "--conns" => a.conns = value(args.next()),
            "--depth" => a.depth = value(args.next()),
            "--size" => a.size = value(args.next()),
            "--text" => a.text = true,
            "--binary" => a.text = false,
            "--frags" => a.frags = value(args.next()),
            "--duration" => a.duration = secs(args.next()),
            "--warmup" => warmup = Some(secs(args.next())),
            "--threads" => a.threads = value(args.next()),
            "--server-pid" => a.server_pid = Some(value(args.next())),
            "-h" | "--help" => usage(),
            other if addr.is_none() => addr = other.parse().ok().or_else(|| usage()),
            _ => usage(),
        }
    }
    a.addr = addr.unwrap_or_else(|| usage());
    a.warmup = warmup.unwrap_or_else(|| a.duration.mul_f64(0.2).min(Duration::from_secs(1)));
    if a.conns == 0 || a.depth == 0 || a.frags == 0 || a.threads == 0 {
        usage();
    }
    a.threads = a.threads.min(a.conns);
    a
}

// ------------------------------------------------------------------ randomness, handshake

/// xorshift64*: masking keys and handshake nonces. The RFC wants a strong source for masking keys
/// (§5.3) to protect intermediaries; a load generator talking to 127.0.0.1 does not need one.
struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self(
            (t ^ u64::from(std::process::id()).rotate_left(32)
                ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                | 1,
        )
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn key(&mut self) -> [u8; 4] {
        (self.next() as u32).to_ne_bytes()
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Connects and performs the opening handshake (§4.1); returns the stream and any bytes that
/// came after the response's header block.
async fn connect(addr: SocketAddr, rng: &mut Rng) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&rng.next().to_ne_bytes());
    nonce[8..].copy_from_slice(&rng.next().to_ne_bytes());
    let key = base64(&nonce);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            return Err(err("handshake response too long"));
        }
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(err("server closed during the handshake"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    if !head.starts_with("HTTP/1.1 101") {
        let line = head.lines().next().unwrap_or("");
        return Err(err(format!("handshake refused: {line}")));
    }
    let expected = rfc6455::handshake::accept_key(key.as_bytes());
    let accept = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-accept")
            .then(|| value.trim().to_owned())
    });
    if accept.as_deref() != Some(expected.as_str()) {
        return Err(err(format!("bad Sec-WebSocket-Accept: {accept:?}")));
    }
    Ok((stream, buf[end..].to_vec()))
}

/// A masked Close frame with status 1000 (§5.5.1).
fn close_frame(key: [u8; 4]) -> [u8; 8] {
    let code = 1000u16.to_be_bytes();
    [
        0x88,
        0x82,
        key[0],
        key[1],
        key[2],
        key[3],
        code[0] ^ key[0],
        code[1] ^ key[1],
    ]
}

/// Sends a Close frame and waits (bounded) for the server to close the TCP connection.
async fn close(mut stream: TcpStream, rng: &mut Rng) {
    if stream.write_all(&close_frame(rng.key())).await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}

// ------------------------------------------------------------------ client frames

/// One message's frames, masked, ready to write; and where its sequence number goes.
struct Template {
    bytes: Vec<u8>,
    /// For each of the first `min(16, size)` payload bytes: its offset in `bytes` and mask byte.
    seq_slots: Vec<(usize, u8)>,
    opcode: u8,
    size: usize,
}

fn frame_header(out: &mut Vec<u8>, fin: bool, opcode: u8, len: usize, key: [u8; 4]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
}

impl Template {
    fn new(size: usize, frags: usize, text: bool, key: [u8; 4]) -> Self {
        let opcode = if text { 0x1 } else { 0x2 };
        let frags = frags.min(size.max(1));
        let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let mut bytes = Vec::with_capacity(size + frags * 14);
        let mut seq_slots = Vec::new();
        let seq_len = size.min(16);
        let (base, extra) = (size / frags, size % frags);
        let mut at = 0;
        for i in 0..frags {
            let len = base + usize::from(i < extra);
            let op = if i == 0 { opcode } else { 0x0 };
            frame_header(&mut bytes, i == frags - 1, op, len, key);
            let start = bytes.len();
            for j in 0..len {
                bytes.push(payload[at + j] ^ key[j % 4]);
                if at + j < seq_len {
                    seq_slots.push((start + j, key[j % 4]));
                }
            }
            at += len;
        }
        Self {
            bytes,
            seq_slots,
            opcode,
            size,
        }
    }
}

/// Writes sequence number `seq` (its last `min(16, size)` hex digits) into `dst`, a copy of the
/// template whose `slots` these are.
fn stamp(slots: &[(usize, u8)], dst: &mut [u8], seq: u64) {
    let digits = seq_digits(seq);
    for (&(off, m), d) in slots.iter().zip(&digits[16 - slots.len()..]) {
        dst[off] = d ^ m;
    }
}

/// `seq` as 16 hex digits.
fn seq_digits(seq: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut d = [0u8; 16];
    for (i, digit) in d.iter_mut().enumerate() {
        *digit = HEX[((seq >> (60 - 4 * i)) & 0xF) as usize];
    }
    d
}

// ------------------------------------------------------------------ reading server frames

/// A complete message from the server.
struct Echo {
    opcode: u8,
    len: u64,
    head: [u8; 16],
    head_len: usize,
}

/// Incremental parser of the server's frames, which skips payloads but keeps each message's
/// first 16 bytes.
#[derive(Default)]
struct Reader {
    /// Payload bytes of the current frame still to come.
    left: u64,
    opcode: u8,
    fin: bool,
    in_message: bool,
    msg_opcode: u8,
    msg_len: u64,
    head: [u8; 16],
    head_len: usize,
    pings: u64,
    closed: bool,
}

impl Reader {
    /// Consumes what it can of `buf` (all but a partial header); calls `on_echo` per message.
    fn feed(
        &mut self,
        buf: &[u8],
        on_echo: &mut impl FnMut(Echo) -> io::Result<()>,
    ) -> io::Result<usize> {
        let mut pos = 0;
        loop {
            if self.left > 0 {
                let take = (buf.len() - pos).min(self.left as usize);
                if self.opcode < 0x8 && self.head_len < 16 {
                    let n = take.min(16 - self.head_len);
                    self.head[self.head_len..self.head_len + n].copy_from_slice(&buf[pos..pos + n]);
                    self.head_len += n;
                }
                pos += take;
                self.left -= take as u64;
                if self.left > 0 {
                    return Ok(pos);
                }
                self.end_frame(on_echo)?;
                continue;
            }
            let rest = &buf[pos..];
            let [b0, b1, ..] = *rest else {
                return Ok(pos);
            };
            if b1 & 0x80 != 0 {
                return Err(err("the server sent a masked frame"));
            }
            let (len, hlen) = match b1 & 0x7F {
                126 => match rest.get(2..4) {
                    Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                    None => return Ok(pos),
                },
                127 => match rest.get(2..10) {
                    Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
                    None => return Ok(pos),
                },
                n => (u64::from(n), 2),
            };
            if b0 & 0x70 != 0 {
                return Err(err("the server set RSV bits"));
            }
            pos += hlen;
            self.fin = b0 & 0x80 != 0;
            self.opcode = b0 & 0x0F;
            self.left = len;
            match self.opcode {
                0x1 | 0x2 => {
                    if self.in_message {
                        return Err(err("the server interleaved messages"));
                    }
                    self.in_message = true;
                    self.msg_opcode = self.opcode;
                    self.msg_len = 0;
                    self.head_len = 0;
                }
                0x0 if !self.in_message => return Err(err("unexpected continuation frame")),
                0x0 | 0x8 | 0x9 | 0xA => {}
                op => return Err(err(format!("reserved opcode {op:#x}"))),
            }
            if self.opcode < 0x8 {
                self.msg_len += len;
            }
            if len == 0 {
                self.end_frame(on_echo)?;
            }
        }
    }

    /// How many payload bytes can be discarded unread: the rest of a data frame once the first
    /// 16 bytes of its message (the sequence number) are in `head`.
    fn skippable(&self) -> u64 {
        if self.opcode < 0x8 && self.head_len == self.head.len() {
            self.left
        } else {
            0
        }
    }

    /// Accounts for `n <= skippable()` payload bytes discarded unread.
    fn skipped(
        &mut self,
        n: u64,
        on_echo: &mut impl FnMut(Echo) -> io::Result<()>,
    ) -> io::Result<()> {
        debug_assert!(n <= self.skippable());
        self.left -= n;
        if self.left == 0 {
            self.end_frame(on_echo)?;
        }
        Ok(())
    }

    fn end_frame(&mut self, on_echo: &mut impl FnMut(Echo) -> io::Result<()>) -> io::Result<()> {
        match self.opcode {
            0x8 => self.closed = true,
            0x9 => self.pings += 1,
            0xA => {}
            _ if self.fin => {
                self.in_message = false;
                on_echo(Echo {
                    opcode: self.msg_opcode,
                    len: self.msg_len,
                    head: self.head,
                    head_len: self.head_len,
                })?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// What the echo loop does next with its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NextRead {
    /// Discard this many payload bytes unread (at most; fewer may have arrived).
    Discard(usize),
    /// Read into the receive buffer, from what it holds (`rlen`) up to this index.
    Into(usize),
}

/// Small messages: fill the receive buffer (`cap` bytes, `rlen` of them held). Large ones
/// (`big`): discard what is left of a payload once its message's sequence number is in, else
/// read a header's worth.
fn next_read(reader: &Reader, big: bool, rlen: usize, cap: usize) -> NextRead {
    if !big {
        return NextRead::Into(cap);
    }
    match reader.skippable() {
        0 => NextRead::Into((rlen + HEAD_READ).min(cap)),
        skip => {
            // Inside a payload `feed` has consumed everything: what it leaves is only ever a
            // partial header.
            debug_assert_eq!(rlen, 0);
            NextRead::Discard(usize::try_from(skip).unwrap_or(usize::MAX))
        }
    }
}

// ------------------------------------------------------------------ the echo scenario

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

#[derive(Default)]
struct Stats {
    messages: u64,
    latency: Histogram,
    pings: u64,
}

async fn echo_connection(
    mut stream: TcpStream,
    leftover: Vec<u8>,
    args: Arc<Args>,
    window: Window,
    mut rng: Rng,
) -> io::Result<Stats> {
    let mut template = Template::new(args.size, args.frags, args.text, rng.key());
    let big = template.bytes.len() > SMALL_TEMPLATE;
    let mut stats = Stats::default();
    let mut out: Vec<u8> = Vec::with_capacity(if big {
        64
    } else {
        template.bytes.len() * args.depth
    });
    let mut out_pos = 0;
    // Big messages: how many are queued, how far into the current one we are, and its number.
    let (mut big_queued, mut big_pos, mut big_seq) = (0usize, 0usize, 0u64);
    let mut in_flight: VecDeque<Instant> = VecDeque::with_capacity(args.depth);
    let (mut next_seq, mut recv_seq) = (0u64, 0u64);
    let mut reader = Reader::default();
    let mut rbuf = vec![0u8; if big { 256 * 1024 } else { 64 * 1024 }];
    let mut rlen = leftover.len();
    rbuf[..rlen].copy_from_slice(&leftover);
    let mut stopping = false;
    loop {
        let now = Instant::now();
        if !stopping && now >= window.end {
            stopping = true;
        }
        if !stopping {
            while in_flight.len() < args.depth {
                if big {
                    big_queued += 1;
                } else {
                    let at = out.len();
                    out.extend_from_slice(&template.bytes);
                    stamp(&template.seq_slots, &mut out[at..], next_seq);
                }
                next_seq += 1;
                in_flight.push_back(now);
            }
        } else if in_flight.is_empty() {
            break;
        }
        let want_write = out_pos < out.len() || big_queued > 0;
        let interest = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let deadline = if stopping {
            window.end + DRAIN_GRACE
        } else {
            window.end
        };
        let ready = match tokio::time::timeout_at(deadline.into(), stream.ready(interest)).await {
            Ok(ready) => ready?,
            Err(_) if stopping => {
                return Err(err(format!(
                    "{} echoes still missing {DRAIN_GRACE:?} after the end",
                    in_flight.len()
                )))
            }
            Err(_) => continue,
        };
        if ready.is_writable() {
            loop {
                if out_pos < out.len() {
                    match stream.try_write(&out[out_pos..]) {
                        Ok(n) => out_pos += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                    if out_pos == out.len() {
                        out.clear();
                        out_pos = 0;
                    }
                } else if big_queued > 0 {
                    if big_pos == 0 {
                        // The kernel has copied the previous message: stamp the next one in place.
                        stamp(&template.seq_slots, &mut template.bytes, big_seq);
                    }
                    match stream.try_write(&template.bytes[big_pos..]) {
                        Ok(n) => big_pos += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                    if big_pos == template.bytes.len() {
                        big_pos = 0;
                        big_queued -= 1;
                        big_seq += 1;
                    }
                } else {
                    break;
                }
            }
        }
        if ready.is_readable() {
            // Bytes that came behind the handshake response (`leftover`) are parsed with the
            // first read: they cannot be echoes, since nothing was sent before.
            loop {
                // Large echoes: the rest of a payload whose first 16 bytes (the sequence number)
                // are checked is discarded in the kernel, not copied (`MSG_TRUNC`), and between
                // payloads only a header and those 16 bytes are read. Copying echoes out was a
                // quarter (1 MiB) to a third (64 KiB) of the generator's time, and the generator
                // was the busier process.
                let next = next_read(&reader, big, rlen, rbuf.len());
                let read = match next {
                    NextRead::Discard(len) => {
                        stream.try_io(Interest::READABLE, || discard(&stream, len))
                    }
                    NextRead::Into(end) => stream.try_read(&mut rbuf[rlen..end]),
                };
                let n = match read {
                    Ok(0) => return Err(err("the server closed the connection")),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                let now = Instant::now();
                let in_window = now >= window.start && now < window.end;
                let size = template.size as u64;
                let opcode = template.opcode;
                let seq_len = template.seq_slots.len();
                let mut on_echo = |echo: Echo| -> io::Result<()> {
                    let Some(sent) = in_flight.pop_front() else {
                        return Err(err("an echo of a message we did not send"));
                    };
                    if echo.opcode != opcode || echo.len != size {
                        return Err(err(format!(
                            "bad echo: opcode {:#x} length {} (sent {opcode:#x}, {size})",
                            echo.opcode, echo.len
                        )));
                    }
                    let digits = seq_digits(recv_seq);
                    let k = echo.head_len.min(seq_len);
                    if echo.head[..k] != digits[16 - seq_len..16 - seq_len + k] {
                        return Err(err(format!("echo {recv_seq} out of order or corrupted")));
                    }
                    recv_seq += 1;
                    if in_window {
                        stats.messages += 1;
                        stats
                            .latency
                            .record(now.saturating_duration_since(sent).as_nanos() as u64);
                    }
                    Ok(())
                };
                let used = match next {
                    NextRead::Discard(_) => {
                        reader.skipped(n as u64, &mut on_echo)?;
                        0
                    }
                    NextRead::Into(_) => {
                        rlen += n;
                        reader.feed(&rbuf[..rlen], &mut on_echo)?
                    }
                };
                if reader.closed {
                    return Err(err("the server sent a Close frame"));
                }
                rbuf.copy_within(used..rlen, 0);
                rlen -= used;
                if rlen == rbuf.len() {
                    return Err(err("frame header larger than the read buffer"));
                }
            }
        }
    }
    stats.pings = reader.pings;
    // Drain our writes (the last ones may still be queued), then close.
    while out_pos < out.len() {
        out_pos += stream.write(&out[out_pos..]).await?;
    }
    close(stream, &mut rng).await;
    Ok(stats)
}

// ------------------------------------------------------------------ the handshake scenario

#[derive(Default)]
struct HandshakeStats {
    handshakes: u64,
    latency: Histogram,
}

async fn handshake_loop(
    addr: SocketAddr,
    window: Window,
    mut rng: Rng,
) -> io::Result<HandshakeStats> {
    let mut stats = HandshakeStats::default();
    loop {
        let t0 = Instant::now();
        if t0 >= window.end {
            return Ok(stats);
        }
        let (stream, _) = connect(addr, &mut rng).await?;
        let t1 = Instant::now();
        if t1 >= window.start && t1 < window.end {
            stats.handshakes += 1;
            stats.latency.record((t1 - t0).as_nanos() as u64);
        }
        close(stream, &mut rng).await;
    }
}

// ------------------------------------------------------------------ driver

enum WorkerResult {
    Echo(Stats),
    Handshake(HandshakeStats),
}

/// Runs one worker thread's share of the connections on its own current-thread runtime.
fn worker(
    index: usize,
    args: Arc<Args>,
    barriers: Arc<(Barrier, Barrier)>,
    window: Arc<OnceLock<Window>>,
) -> io::Result<WorkerResult> {
    let rt = rfc6455_loadtest::current_thread_runtime();
    let share = args.conns / args.threads + usize::from(index < args.conns % args.threads);
    rt.block_on(async move {
        let mut rng = Rng::new(index as u64 + 1);
        match args.mode {
            Mode::Echo => {
                let mut conns = Vec::with_capacity(share);
                let mut setup = Ok(());
                for _ in 0..share {
                    match connect(args.addr, &mut rng).await {
                        Ok(c) => conns.push(c),
                        Err(e) => {
                            setup = Err(e);
                            break;
                        }
                    }
                }
                barriers.0.wait();
                barriers.1.wait();
                setup?;
                let window = *window.get().expect("window set between the barriers");
                let mut tasks = tokio::task::JoinSet::new();
                for (i, (stream, leftover)) in conns.into_iter().enumerate() {
                    let rng = Rng::new(rng.next() ^ i as u64);
                    tasks.spawn(echo_connection(
                        stream,
                        leftover,
                        Arc::clone(&args),
                        window,
                        rng,
                    ));
                }
                let mut total = Stats::default();
                let mut first_error = None;
                while let Some(r) = tasks.join_next().await {
                    match r.map_err(|e| err(e.to_string())).and_then(|r| r) {
                        Ok(s) => {
                            total.messages += s.messages;
                            total.latency.merge(&s.latency);
                            total.pings += s.pings;
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                match first_error {
                    Some(e) => Err(e),
                    None => Ok(WorkerResult::Echo(total)),
                }
            }
            Mode::Handshake => {
                barriers.0.wait();
                barriers.1.wait();
                let window = *window.get().expect("window set between the barriers");
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..share {
                    let rng = Rng::new(rng.next());
                    tasks.spawn(handshake_loop(args.addr, window, rng));
                }
                let mut total = HandshakeStats::default();
                let mut first_error = None;
                while let Some(r) = tasks.join_next().await {
                    match r.map_err(|e| err(e.to_string())).and_then(|r| r) {
                        Ok(s) => {
                            total.handshakes += s.handshakes;
                            total.latency.merge(&s.latency);
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                match first_error {
                    Some(e) => Err(e),
                    None => Ok(WorkerResult::Handshake(total)),
                }
            }
            Mode::Idle => unreachable!("idle runs on the main thread"),
        }
    })
}

fn idle(args: &Args) -> io::Result<()> {
    let rt = rfc6455_loadtest::current_thread_runtime();
    let mut rng = Rng::new(7);
    let conns = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        let mut conns = Vec::with_capacity(args.conns);
        // At most 64 handshakes at a time: a burst of 1000 SYNs could overflow a small backlog.
        for _ in 0..args.conns {
            if tasks.len() >= 64 {
                if let Some(r) = tasks.join_next().await {
                    conns.push(r.map_err(|e| err(e.to_string()))??);
                }
            }
            let addr = args.addr;
            let mut rng = Rng::new(rng.next());
            tasks.spawn(async move { connect(addr, &mut rng).await.map(|(s, _)| s) });
        }
        while let Some(r) = tasks.join_next().await {
            conns.push(r.map_err(|e| err(e.to_string()))??);
        }
        Ok::<_, io::Error>(conns)
    })?;
    println!("READY n={}", conns.len());
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for stream in conns {
            let mut rng = Rng::new(rng.next());
            tasks.spawn(async move { close(stream, &mut rng).await });
        }
        while tasks.join_next().await.is_some() {}
    });
    println!("RESULT mode=idle conns={}", args.conns);
    Ok(())
}

fn main() {
    let args = parse_args();
    raise_open_files_limit();
    if args.mode == Mode::Idle {
        if let Err(e) = idle(&args) {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = Arc::new(args);
    let barriers = Arc::new((
        Barrier::new(args.threads + 1),
        Barrier::new(args.threads + 1),
    ));
    let window_cell = Arc::new(OnceLock::new());
    let workers: Vec<_> = (0..args.threads)
        .map(|i| {
            let (args, barriers, window) = (
                Arc::clone(&args),
                Arc::clone(&barriers),
                Arc::clone(&window_cell),
            );
            std::thread::spawn(move || worker(i, args, barriers, window))
        })
        .collect();
    barriers.0.wait(); // every connection is open (echo mode)
    let start = Instant::now() + args.warmup;
    let window = Window {
        start,
        end: start + args.duration,
    };
    let _ = window_cell.set(window);
    barriers.1.wait();
    std::thread::sleep(window.start.saturating_duration_since(Instant::now()));
    let (cpu0, srv0, t0) = (
        self_cpu_time(),
        args.server_pid.and_then(process_cpu_time),
        Instant::now(),
    );
    std::thread::sleep(window.end.saturating_duration_since(Instant::now()));
    let (cpu1, srv1, t1) = (
        self_cpu_time(),
        args.server_pid.and_then(process_cpu_time),
        Instant::now(),
    );
    let elapsed = (t1 - t0).as_secs_f64();
    let gen_cpu = (cpu1 - cpu0).as_secs_f64() / elapsed;
    let server_cpu = match (srv0, srv1) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
        _ => None,
    };
    let mut echo = Stats::default();
    let mut hs = HandshakeStats::default();
    let mut failed = false;
    for w in workers {
        match w.join() {
            Ok(Ok(WorkerResult::Echo(s))) => {
                echo.messages += s.messages;
                echo.latency.merge(&s.latency);
                echo.pings += s.pings;
            }
            Ok(Ok(WorkerResult::Handshake(s))) => {
                hs.handshakes += s.handshakes;
                hs.latency.merge(&s.latency);
            }
            Ok(Err(e)) => {
                eprintln!("loadgen: {e}");
                failed = true;
            }
            Err(_) => {
                eprintln!("loadgen: a worker panicked");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
    let window_s = args.duration.as_secs_f64();
    let us = |nanos: u64| nanos as f64 / 1000.0;
    let mut line = match args.mode {
        Mode::Echo => {
            if echo.messages == 0 {
                eprintln!("loadgen: no echo in the measured window");
                std::process::exit(1);
            }
            let rate = echo.messages as f64 / window_s;
            format!(
                "RESULT mode=echo conns={} depth={} size={} kind={} frags={} threads={} window_s={window_s:.3} \
                 msgs={} msgs_per_s={rate:.0} mb_per_s={:.1} p50_us={:.1} p99_us={:.1} gen_cpu={gen_cpu:.3} pings={}",
                args.conns,
                args.depth,
                args.size,
                if args.text { "text" } else { "binary" },
                args.frags,
                args.threads,
                echo.messages,
                rate * args.size as f64 / 1e6,
                us(echo.latency.quantile(0.5)),
                us(echo.latency.quantile(0.99)),
                echo.pings,
            )
        }
        Mode::Handshake => {
            if hs.handshakes == 0 {
                eprintln!("loadgen: no handshake completed in the measured window");
                std::process::exit(1);
            }
            format!(
                "RESULT mode=handshake conns={} threads={} window_s={window_s:.3} handshakes={} \
                 handshakes_per_s={:.0} p50_us={:.1} p99_us={:.1} gen_cpu={gen_cpu:.3}",
                args.conns,
                args.threads,
                hs.handshakes,
                hs.handshakes as f64 / window_s,
                us(hs.latency.quantile(0.5)),
                us(hs.latency.quantile(0.99)),
            )
        }
        Mode::Idle => unreachable!(),
    };
    if let Some(cpu) = server_cpu {
        line.push_str(&format!(" server_cpu={:.3}", cpu / elapsed));
        let per = match args.mode {
            Mode::Echo => echo.messages,
            _ => hs.handshakes,
        };
        line.push_str(&format!(
            " server_cpu_us_per_op={:.2}",
            cpu * 1e6 / per as f64
        ));
    }
    println!("{line}");
}

/// Receives and discards up to `len` bytes of `stream` without copying them (`recv(2)` with
/// `MSG_TRUNC`, which TCP sockets on Linux take as "drop this many bytes").
fn discard(stream: &TcpStream, len: usize) -> io::Result<usize> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: on a TCP socket, Linux's recv(2) with MSG_TRUNC discards the bytes instead of
    // copying them to the caller (tcp(7)): no buffer is written, so none is passed. (The load
    // test runs on Linux only: it reads /proc.)
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::MSG_TRUNC,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_example_nonce() {
        // RFC 6455 §1.3: the nonce "the sample nonce" is sent as "dGhlIHNhbXBsZSBub25jZQ==".
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    /// Decodes a template with the library's decoder and unmasks it: the frames must carry the
    /// message, fragmented as asked, with the sequence number in front.
    fn unmasked_frames(t: &Template) -> Vec<(rfc6455::FrameHeader, Vec<u8>)> {
        let mut frames = Vec::new();
        let mut rest = t.bytes.as_slice();
        while !rest.is_empty() {
            let Ok(rfc6455::Status::Complete((h, n))) = rfc6455::FrameHeader::decode(rest) else {
                panic!("bad header");
            };
            let len = h.payload_len as usize;
            let mut payload = rest[n..n + len].to_vec();
            rfc6455::frame::apply_mask(&mut payload, h.mask.expect("client frames are masked"), 0);
            frames.push((h, payload));
            rest = &rest[n + len..];
        }
        frames
    }

    #[test]
    fn templates_are_masked_fragmented_and_stamped() {
        for (size, frags, text) in [
            (16, 1, false),
            (16, 64, true),
            (1024, 64, false),
            (70_000, 1, true),
        ] {
            let mut t = Template::new(size, frags, text, [1, 2, 3, 4]);
            let mut bytes = t.bytes.clone();
            stamp(&t.seq_slots, &mut bytes, 0xabc);
            t.bytes = bytes;
            let frames = unmasked_frames(&t);
            assert_eq!(frames.len(), frags.min(size));
            let payload: Vec<u8> = frames.iter().flat_map(|(_, p)| p.clone()).collect();
            assert_eq!(payload.len(), size);
            assert_eq!(&payload[..16], b"0000000000000abc");
            let op = if text {
                rfc6455::Opcode::Text
            } else {
                rfc6455::Opcode::Binary
            };
            assert_eq!(frames[0].0.opcode, op);
            assert!(frames[1..]
                .iter()
                .all(|(h, _)| h.opcode == rfc6455::Opcode::Continuation));
            assert!(frames
                .iter()
                .enumerate()
                .all(|(i, (h, _))| h.fin == (i == frames.len() - 1)));
        }
    }

    /// The large-message read loop, driven by `next_read` over a socket that delivers at most
    /// `avail` bytes per call: the echoes seen must be those of reading everything.
    #[test]
    fn discarding_payloads_after_the_sequence_number_sees_the_same_echoes() {
        // A 1000-byte binary message in 3 frames with a ping between the first two; a 16-byte
        // head split over a 5-byte first frame, a ping and the next frame; then a 70,000-byte
        // text message (64-bit length).
        let mut wire = vec![0x02, 126, 0x01, 0x90];
        wire.extend(std::iter::repeat_n(b'a', 400));
        wire.extend_from_slice(&[0x89, 0x03, b'p', b'n', b'g']);
        wire.extend_from_slice(&[0x00, 126, 0x01, 0x2C]);
        wire.extend(std::iter::repeat_n(b'b', 300));
        wire.extend_from_slice(&[0x80, 126, 0x01, 0x2C]);
        wire.extend(std::iter::repeat_n(b'c', 300));
        wire.extend_from_slice(&[0x02, 0x05]);
        wire.extend_from_slice(b"01234");
        wire.extend_from_slice(&[0x89, 0x00]);
        wire.extend_from_slice(&[0x80, 126, 0x01, 0x2C]);
        wire.extend(std::iter::repeat_n(b'x', 300));
        wire.extend_from_slice(&[0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);
        wire.extend(std::iter::repeat_n(b'd', 70_000));
        let cap = 4096;
        for avail in [1, 7, HEAD_READ, 1000, usize::MAX] {
            let mut reader = Reader::default();
            let mut echoes = Vec::new();
            let mut on_echo = |e: Echo| {
                echoes.push((e.opcode, e.len, e.head[..e.head_len].to_vec()));
                Ok(())
            };
            let (mut pos, mut rbuf, mut rlen) = (0, vec![0u8; cap], 0);
            let (mut discarded, mut copied, mut largest_read) = (0, 0, 0);
            while pos < wire.len() {
                match next_read(&reader, true, rlen, cap) {
                    NextRead::Discard(len) => {
                        let n = len.min(avail).min(wire.len() - pos);
                        reader.skipped(n as u64, &mut on_echo).unwrap();
                        discarded += n;
                        pos += n;
                    }
                    NextRead::Into(end) => {
                        let n = (end - rlen).min(avail).min(wire.len() - pos);
                        rbuf[rlen..rlen + n].copy_from_slice(&wire[pos..pos + n]);
                        largest_read = largest_read.max(n);
                        copied += n;
                        pos += n;
                        rlen += n;
                        let used = reader.feed(&rbuf[..rlen], &mut on_echo).unwrap();
                        rbuf.copy_within(used..rlen, 0);
                        rlen -= used;
                    }
                }
            }
            assert_eq!(rlen, 0);
            assert_eq!(reader.pings, 2);
            assert!(largest_read <= HEAD_READ, "read {largest_read} at once");
            // Each of the 8 frames costs at most one header's worth of copying; the rest of the
            // bytes are discarded.
            assert_eq!(copied + discarded, wire.len());
            assert!(
                copied <= 8 * HEAD_READ,
                "{copied} bytes copied, {avail} per read"
            );
            let mut split_head = b"01234".to_vec();
            split_head.extend_from_slice(&[b'x'; 11]);
            assert_eq!(
                echoes,
                vec![
                    (0x2, 1000, vec![b'a'; 16]),
                    (0x2, 305, split_head),
                    (0x1, 70_000, vec![b'd'; 16])
                ],
                "{avail} bytes per read"
            );
        }
    }

    #[test]
    fn small_messages_fill_the_receive_buffer() {
        let reader = Reader::default();
        assert_eq!(next_read(&reader, false, 0, 100), NextRead::Into(100));
        assert_eq!(next_read(&reader, false, 7, 100), NextRead::Into(100));
    }

    #[test]
    fn the_reader_reassembles_server_frames_split_anywhere() {
        // A ping, then "0123456789abcdef!" as a 3-frame text message, then a 300-byte binary one.
        let mut wire = vec![0x89, 0x00, 0x01, 0x05];
        wire.extend_from_slice(b"01234");
        wire.extend_from_slice(&[0x00, 0x05]);
        wire.extend_from_slice(b"56789");
        wire.extend_from_slice(&[0x80, 0x07]);
        wire.extend_from_slice(b"abcdef!");
        wire.extend_from_slice(&[0x82, 126, 0x01, 0x2C]);
        wire.extend(std::iter::repeat_n(b'x', 300));
        for cut in 0..wire.len() {
            let mut reader = Reader::default();
            let mut echoes = Vec::new();
            let mut on_echo = |e: Echo| {
                echoes.push((e.opcode, e.len, e.head[..e.head_len].to_vec()));
                Ok(())
            };
            let used = reader.feed(&wire[..cut], &mut on_echo).unwrap();
            let mut rest = wire[used..cut].to_vec();
            rest.extend_from_slice(&wire[cut..]);
            let used2 = reader.feed(&rest, &mut on_echo).unwrap();
            assert_eq!(used2, rest.len(), "cut at {cut}");
            assert_eq!(reader.pings, 1);
            assert_eq!(
                echoes,
                vec![
                    (0x1, 17, b"0123456789abcdef".to_vec()),
                    (0x2, 300, vec![b'x'; 16])
                ],
                "cut at {cut}"
            );
        }
    }
}
