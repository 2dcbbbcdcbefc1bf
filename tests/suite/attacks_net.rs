//! Attacks on the adapters over real TCP on 127.0.0.1 (issue 4, "Limits and attacks"), each test
//! named after one, against the tokio and the blocking server with small timeouts: a client that
//! drips its handshake (slowloris) is dropped by the handshake timeout; one that sends half a
//! frame and stalls, or drips a frame one byte at a time, is dropped by keepalive (which counts
//! whole frames only) with a Close 1011; meanwhile another client is served as usual. A peer
//! that never reads makes our sends wait instead of buffering without bound.
//!
//! Every loop is bounded in count and in time, every socket read and write has a timeout, and
//! every thread is joined with a deadline: a bug fails a test, it does not hang it.

use crate::common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{parse_frame, Raw, WireFrame};
use rfc6455::blocking;
use rfc6455::handshake::{Accept, ClientRequest};
use rfc6455::{CloseCode, Config, Error, Message, ProtocolError, Role};

/// The server's limits under attack: small, so that the tests are quick.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(300);
const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(200);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_millis(300);
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// The longest any one step (a connect, a handshake, a read) may take before the test fails.
const STEP: Duration = Duration::from_secs(5);
/// How soon an attacker must be dropped once its attack starts: the timeout it runs into plus
/// generous slack for a busy machine.
const DROP_BOUND: Duration = Duration::from_secs(2);
/// The attackers' pace: one byte per this long.
const DRIP: Duration = Duration::from_millis(50);

fn server_config() -> Config {
    let mut config = Config::default();
    config.handshake_timeout = Some(HANDSHAKE_TIMEOUT);
    config.keepalive_interval = Some(KEEPALIVE_INTERVAL);
    config.keepalive_timeout = KEEPALIVE_TIMEOUT;
    config.close_timeout = CLOSE_TIMEOUT;
    config
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Waits for `handle` until `within` has passed; panics (naming `what`) if it has not finished.
fn join_within<T>(handle: JoinHandle<T>, within: Duration, what: &str) -> T {
    let deadline = Instant::now() + within;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what} did not finish within {within:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
    match handle.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

// ------------------------------------------------------------------ the servers under attack

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tokio,
    Blocking,
}

/// How the server's side of one connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Closed cleanly after echoing this many messages.
    Clean(usize),
    HandshakeTimeout,
    KeepaliveTimeout,
    Other(String),
}

impl End {
    fn of(result: Result<usize, Error>) -> Self {
        match result {
            Ok(echoed) => Self::Clean(echoed),
            Err(Error::HandshakeTimeout) => Self::HandshakeTimeout,
            Err(Error::Protocol(ProtocolError::KeepaliveTimeout)) => Self::KeepaliveTimeout,
            Err(e) => Self::Other(e.to_string()),
        }
    }
}

/// An echo server of either adapter on 127.0.0.1:0, configured with [`server_config`]; it
/// reports how each connection ended, by the peer's address.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    ends: mpsc::Receiver<(SocketAddr, End)>,
    seen: Vec<(SocketAddr, End)>,
    acceptor: Option<JoinHandle<()>>,
}

/// Most messages one connection echoes, and longest an acceptor runs: bounds on the servers.
const MAX_ECHOES: usize = 10_000;
const SERVER_LIFETIME: Duration = Duration::from_secs(60);

impl Server {
    fn start(kind: Kind) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, ends) = mpsc::channel();
        let stopped = Arc::clone(&stop);
        let acceptor = match kind {
            Kind::Tokio => thread::spawn(move || tokio_acceptor(listener, stopped, tx)),
            Kind::Blocking => thread::spawn(move || blocking_acceptor(listener, stopped, tx)),
        };
        Self {
            addr,
            stop,
            ends,
            seen: Vec::new(),
            acceptor: Some(acceptor),
        }
    }

    /// How the connection from `peer` ended, waiting up to `within`.
    fn end_of(&mut self, peer: SocketAddr, within: Duration) -> End {
        let deadline = Instant::now() + within;
        loop {
            if let Some(i) = self.seen.iter().position(|(p, _)| *p == peer) {
                return self.seen.remove(i).1;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ends.recv_timeout(left) {
                Ok(end) => self.seen.push(end),
                Err(_) => {
                    panic!("the server did not end the connection from {peer} within {within:?}")
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let deadline = Instant::now() + STEP;
            while !acceptor.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if acceptor.is_finished() {
                let _ = acceptor.join();
            } else if !thread::panicking() {
                panic!("the acceptor did not stop within {STEP:?}");
            }
        }
    }
}

fn tokio_acceptor(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    tx: mpsc::Sender<(SocketAddr, End)>,
) {
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let deadline = Instant::now() + SERVER_LIFETIME;
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            let Ok(accepted) =
                tokio::time::timeout(Duration::from_millis(20), listener.accept()).await
            else {
                continue;
            };
            let (stream, peer) = accepted.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            let tx = tx.clone();
            tokio::spawn(async move {
                let serve = async {
                    let mut ws =
                        rfc6455::tokio::accept_with(stream, server_config(), |_| Ok(Accept::new()))
                            .await?;
                    let mut echoed = 0;
                    while let Some(message) = ws.recv().await? {
                        ws.send(message).await?;
                        echoed += 1;
                        if echoed == MAX_ECHOES {
                            break;
                        }
                    }
                    Ok(echoed)
                };
                let end = match tokio::time::timeout(SERVER_LIFETIME, serve).await {
                    Ok(result) => End::of(result),
                    Err(_) => End::Other("connection outlived the server".into()),
                };
                let _ = tx.send((peer, end));
            });
        }
    });
}

fn blocking_acceptor(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    tx: mpsc::Sender<(SocketAddr, End)>,
) {
    let deadline = Instant::now() + SERVER_LIFETIME;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => panic!("accept: {e}"),
        };
        let tx = tx.clone();
        // One thread per connection, each bounded by the server's timeouts and a write timeout.
        thread::spawn(move || {
            let serve = || -> Result<usize, Error> {
                stream.set_nonblocking(false)?;
                stream.set_nodelay(true)?;
                stream.set_write_timeout(Some(STEP))?;
                let mut ws = blocking::accept_with(stream, server_config(), |_| Ok(Accept::new()))?;
                let mut echoed = 0;
                while let Some(message) = ws.recv()? {
                    ws.send(message)?;
                    echoed += 1;
                    if echoed == MAX_ECHOES {
                        break;
                    }
                }
                Ok(echoed)
            };
            let _ = tx.send((peer, End::of(serve())));
        });
    }
}

// ------------------------------------------------------------------ the client that should be served

/// What a well-behaved client saw.
#[derive(Debug)]
struct Served {
    echoed: usize,
    /// When its first echo came back.
    first_echo: Instant,
    slowest: Duration,
    local: SocketAddr,
}

const GOOD_MESSAGES: usize = 20;
const GOOD_PAUSE: Duration = Duration::from_millis(40);

/// Connects with the blocking client, has [`GOOD_MESSAGES`] messages echoed [`GOOD_PAUSE`]
/// apart (so that the exchange spans the attack), and closes.
fn good_client(addr: SocketAddr) -> Result<Served, Error> {
    let mut config = Config::default();
    config.handshake_timeout = Some(STEP);
    let request = ClientRequest::new(&format!("ws://{addr}/good"))?;
    let (mut ws, _) = blocking::connect_with(&request, config)?;
    ws.get_ref().tcp().set_write_timeout(Some(STEP))?;
    ws.set_read_timeout(Some(STEP));
    let local = ws.get_ref().tcp().local_addr()?;
    let mut first_echo = None;
    let mut slowest = Duration::ZERO;
    for i in 0..GOOD_MESSAGES {
        let message = Message::text(format!("good {i}"));
        let sent = Instant::now();
        ws.send(message.clone())?;
        let echo = ws.recv()?;
        slowest = slowest.max(sent.elapsed());
        assert_eq!(echo, Some(message), "echo {i}");
        first_echo.get_or_insert_with(Instant::now);
        thread::sleep(GOOD_PAUSE);
    }
    ws.close(CloseCode::NORMAL, "done")?;
    for _ in 0..100 {
        if ws.recv()?.is_none() {
            return Ok(Served {
                echoed: GOOD_MESSAGES,
                first_echo: first_echo.expect("echoes"),
                slowest,
                local,
            });
        }
    }
    panic!("the closing handshake did not end");
}

/// Checks the good client's report and the server's view of it.
fn assert_served(
    server: &mut Server,
    served: Result<Served, Error>,
    attacker_dropped: Instant,
    what: &str,
) {
    let served = served.unwrap_or_else(|e| panic!("{what}: the good client failed: {e}"));
    assert_eq!(served.echoed, GOOD_MESSAGES, "{what}");
    assert!(
        served.first_echo < attacker_dropped,
        "{what}: the good client got no echo before the attacker was dropped"
    );
    assert!(
        served.slowest < Duration::from_secs(1),
        "{what}: an echo took {:?}",
        served.slowest
    );
    assert_eq!(
        server.end_of(served.local, STEP),
        End::Clean(GOOD_MESSAGES),
        "{what}"
    );
    eprintln!(
        "{what}: good client served, slowest echo {:?}",
        served.slowest
    );
}

// ------------------------------------------------------------------ raw attackers

const RAW_UPGRADE: &[u8] = b"GET /attack HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fn raw_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.set_read_timeout(Some(STEP)).expect("read timeout");
    stream.set_write_timeout(Some(STEP)).expect("write timeout");
    stream
}

/// Completes the opening handshake by hand; returns the bytes that followed the 101 response.
fn raw_upgrade(stream: &mut TcpStream) -> Vec<u8> {
    stream.write_all(RAW_UPGRADE).expect("write request");
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        assert!(response.len() < 16 << 10, "endless response");
        let n = stream.read(&mut buf).expect("read response");
        assert!(n > 0, "server closed during the handshake");
        response.extend_from_slice(&buf[..n]);
    };
    assert!(
        response.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&response)
    );
    response.split_off(end)
}

/// How the server got rid of an attacker, as the attacker saw it.
#[derive(Debug, PartialEq, Eq)]
enum Dropped {
    /// A Close frame with this status code.
    Close(Option<u16>),
    /// The TCP connection ended (FIN) without a Close frame.
    Eof,
    /// The socket failed (RST).
    Reset(io::ErrorKind),
}

/// What an attacker reads from the server after the handshake: frames, until it is dropped.
struct Watch {
    buf: Vec<u8>,
    frames: Vec<WireFrame>,
}

impl Watch {
    fn new(leftover: Vec<u8>) -> Self {
        Self {
            buf: leftover,
            frames: Vec::new(),
        }
    }

    /// One read with the stream's timeout: `Some` once the server has closed or failed the
    /// connection.
    fn poll(&mut self, stream: &mut TcpStream) -> Option<Dropped> {
        if let Some(dropped) = self.parse() {
            return Some(dropped);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => Some(Dropped::Eof),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.parse()
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => Some(Dropped::Reset(e.kind())),
        }
    }

    fn parse(&mut self) -> Option<Dropped> {
        while let Some((frame, n)) = parse_frame(&self.buf) {
            self.buf.drain(..n);
            assert!(frame.mask.is_none(), "the server masked a frame: {frame:?}");
            let close = (frame.opcode == 0x8).then(|| frame.close_code());
            self.frames.push(frame);
            if let Some(code) = close {
                return Some(Dropped::Close(code));
            }
        }
        None
    }

    fn opcodes(&self) -> Vec<u8> {
        self.frames.iter().map(|f| f.opcode).collect()
    }
}

// ------------------------------------------------------------------ slowloris in the handshake

/// Slowloris: a client that sends its opening handshake one byte every 50 ms (8 s for the
/// whole request) is dropped when the 300 ms handshake timeout runs out, and before it could
/// finish; a client that connects at the same time is served normally.
fn slowloris_in_the_handshake_is_dropped_by_the_handshake_timeout(kind: Kind) {
    let what = format!("{kind:?} server, slowloris handshake");
    let mut server = Server::start(kind);
    let addr = server.addr;
    let mut attacker = raw_connect(addr);
    attacker.set_read_timeout(Some(DRIP)).expect("read timeout");
    let attacker_addr = attacker.local_addr().expect("local addr");
    let started = Instant::now();
    let good = thread::spawn(move || good_client(addr));

    let mut sent = 0;
    let mut answer = Vec::new();
    let dropped = loop {
        assert!(
            started.elapsed() < STEP,
            "{what}: still connected after {STEP:?}"
        );
        if sent < RAW_UPGRADE.len() {
            if let Err(e) = attacker.write_all(&RAW_UPGRADE[sent..=sent]) {
                break Dropped::Reset(e.kind());
            }
            sent += 1;
        }
        let mut buf = [0u8; 1024];
        match attacker.read(&mut buf) {
            Ok(0) => break Dropped::Eof,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => break Dropped::Reset(e.kind()),
        }
    };
    let after = started.elapsed();
    let dropped_at = Instant::now();
    eprintln!(
        "{what}: dropped ({dropped:?}) after {after:?}, {sent} of {} request bytes sent, \
         answer {:?}",
        RAW_UPGRADE.len(),
        String::from_utf8_lossy(&answer)
    );
    assert!(
        sent < RAW_UPGRADE.len(),
        "{what}: the whole request went through"
    );
    assert!(
        !answer.starts_with(b"HTTP/1.1 101"),
        "{what}: the server accepted"
    );
    assert!(
        after >= HANDSHAKE_TIMEOUT - Duration::from_millis(50),
        "{what}: dropped after {after:?}, before the handshake timeout"
    );
    assert!(after < DROP_BOUND, "{what}: dropped only after {after:?}");
    assert_eq!(
        server.end_of(attacker_addr, STEP),
        End::HandshakeTimeout,
        "{what}"
    );
    drop(attacker);
    let served = join_within(good, 2 * STEP, "the good client");
    assert_served(&mut server, served, dropped_at, &what);
}

#[test]
fn slowloris_in_the_handshake_is_dropped_by_the_handshake_timeout_tokio() {
    slowloris_in_the_handshake_is_dropped_by_the_handshake_timeout(Kind::Tokio);
}

#[test]
fn slowloris_in_the_handshake_is_dropped_by_the_handshake_timeout_blocking() {
    slowloris_in_the_handshake_is_dropped_by_the_handshake_timeout(Kind::Blocking);
}

// ------------------------------------------------------------------ slowloris after the handshake

/// A 100-byte binary frame as a client sends it (masked): 106 bytes.
fn attack_frame() -> Vec<u8> {
    Raw::binary(vec![0x41; 100]).to(Role::Server).bytes()
}

/// Checks how a keepalive victim was dropped: a keepalive Ping, then a Close 1011 (or the end
/// of the connection), after the interval and the timeout have run out and within
/// [`DROP_BOUND`] of the handshake.
fn assert_dropped_by_keepalive(watch: &Watch, dropped: &Dropped, after: Duration, what: &str) {
    eprintln!(
        "{what}: dropped ({dropped:?}) {after:?} after the handshake; frames seen {:?}",
        watch.opcodes()
    );
    assert!(
        matches!(dropped, Dropped::Close(Some(1011)) | Dropped::Eof),
        "{what}: {dropped:?}"
    );
    assert!(
        watch.opcodes().contains(&0x9),
        "{what}: no keepalive Ping before the drop"
    );
    let earliest = KEEPALIVE_INTERVAL + KEEPALIVE_TIMEOUT - Duration::from_millis(100);
    assert!(
        after >= earliest,
        "{what}: dropped after {after:?}, before keepalive could"
    );
    assert!(after < DROP_BOUND, "{what}: dropped only after {after:?}");
}

/// Half a frame, then nothing: keepalive pings after 200 ms without a whole frame, and 300 ms
/// later fails the connection with a Close 1011 (§7.4.1: "an unexpected condition that
/// prevented it from fulfilling the request"); the attacker cannot answer the Ping, being
/// in the middle of a frame. Meanwhile another client is served.
fn half_a_frame_then_stall_is_dropped_by_keepalive(kind: Kind) {
    let what = format!("{kind:?} server, half a frame then stall");
    let mut server = Server::start(kind);
    let addr = server.addr;
    let mut attacker = raw_connect(addr);
    let attacker_addr = attacker.local_addr().expect("local addr");
    let mut watch = Watch::new(raw_upgrade(&mut attacker));
    // The server's keepalive clock starts as it sends the 101: about now.
    let upgraded = Instant::now();
    let good = thread::spawn(move || good_client(addr));
    let frame = attack_frame();
    attacker
        .write_all(&frame[..frame.len() / 2])
        .expect("half a frame");
    attacker.set_read_timeout(Some(DRIP)).expect("read timeout");
    let dropped = loop {
        assert!(
            upgraded.elapsed() < STEP,
            "{what}: still connected after {STEP:?}"
        );
        if let Some(dropped) = watch.poll(&mut attacker) {
            break dropped;
        }
    };
    let after = upgraded.elapsed();
    let dropped_at = Instant::now();
    assert_dropped_by_keepalive(&watch, &dropped, after, &what);
    drop(attacker);
    assert_eq!(
        server.end_of(attacker_addr, STEP),
        End::KeepaliveTimeout,
        "{what}"
    );
    let served = join_within(good, 2 * STEP, "the good client");
    assert_served(&mut server, served, dropped_at, &what);
}

#[test]
fn half_a_frame_then_stall_is_dropped_by_keepalive_tokio() {
    half_a_frame_then_stall_is_dropped_by_keepalive(Kind::Tokio);
}

#[test]
fn half_a_frame_then_stall_is_dropped_by_keepalive_blocking() {
    half_a_frame_then_stall_is_dropped_by_keepalive(Kind::Blocking);
}

/// A frame dripped one byte every 50 ms (5.3 s for 106 bytes): bytes keep arriving, but
/// keepalive counts whole frames only, so the attacker is dropped as if it were silent.
fn one_byte_per_50ms_inside_a_frame_is_dropped_by_keepalive(kind: Kind) {
    let what = format!("{kind:?} server, one byte per 50 ms inside a frame");
    let mut server = Server::start(kind);
    let addr = server.addr;
    let mut attacker = raw_connect(addr);
    let attacker_addr = attacker.local_addr().expect("local addr");
    let mut watch = Watch::new(raw_upgrade(&mut attacker));
    let started = Instant::now(); // as in the test above
    let good = thread::spawn(move || good_client(addr));
    let frame = attack_frame();
    attacker.set_read_timeout(Some(DRIP)).expect("read timeout");
    let mut sent = 0;
    let dropped = loop {
        assert!(
            started.elapsed() < STEP,
            "{what}: still connected after {STEP:?}"
        );
        if sent < frame.len() {
            if let Err(e) = attacker.write_all(&frame[sent..=sent]) {
                break Dropped::Reset(e.kind());
            }
            sent += 1;
        }
        if let Some(dropped) = watch.poll(&mut attacker) {
            break dropped;
        }
    };
    let after = started.elapsed();
    let dropped_at = Instant::now();
    eprintln!("{what}: {sent} of {} frame bytes sent", frame.len());
    assert!(sent < frame.len(), "{what}: the whole frame went through");
    assert_dropped_by_keepalive(&watch, &dropped, after, &what);
    drop(attacker);
    assert_eq!(
        server.end_of(attacker_addr, STEP),
        End::KeepaliveTimeout,
        "{what}"
    );
    let served = join_within(good, 2 * STEP, "the good client");
    assert_served(&mut server, served, dropped_at, &what);
}

#[test]
fn one_byte_per_50ms_inside_a_frame_is_dropped_by_keepalive_tokio() {
    one_byte_per_50ms_inside_a_frame_is_dropped_by_keepalive(Kind::Tokio);
}

#[test]
fn one_byte_per_50ms_inside_a_frame_is_dropped_by_keepalive_blocking() {
    one_byte_per_50ms_inside_a_frame_is_dropped_by_keepalive(Kind::Blocking);
}

// ------------------------------------------------------------------ a peer that never reads

/// The configured write buffer limit, and the size of each message pushed at the attacker.
const WRITE_LIMIT: usize = 64 << 10;
const PUSHED: usize = 16 << 10;
/// The queue may exceed the limit by the one message that crossed it and its header.
const QUEUE_BOUND: usize = WRITE_LIMIT + PUSHED + 14;
/// Sends a non-reader can absorb before the test calls it unbounded: 64 MiB.
const MAX_PUSHES: usize = 4096;

/// A listener and an attacker socket with small kernel buffers, so that the kernel stops
/// taking bytes after a few KiB instead of a few MiB (accepted sockets inherit the listener's
/// send buffer size). Built with tokio's `TcpSocket`, which can set them.
async fn small_buffer_pair() -> (tokio::net::TcpListener, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(16 << 10).expect("SO_SNDBUF");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(16).expect("listen");
    let attacker = tokio::net::TcpSocket::new_v4().expect("socket");
    attacker.set_recv_buffer_size(4 << 10).expect("SO_RCVBUF");
    (listener, attacker)
}

fn pushed_message() -> Message {
    Message::binary(vec![0x5A; PUSHED])
}

/// A peer that completes the handshake and never reads again, while the tokio server pushes
/// 16 KiB messages at it: `send` stops completing (it stays pending) once the kernel buffers
/// and the 64 KiB `write_buffer_limit` are full, `buffered_amount()` sits just over the
/// limit and stops growing however many more sends are tried, and the same single-threaded
/// runtime meanwhile serves another client normally.
#[test]
fn a_peer_that_never_reads_makes_tokio_send_wait_with_a_bounded_queue() {
    let what = "tokio server, a peer that never reads";
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            let (listener, attacker) = small_buffer_pair().await;
            let addr = listener.local_addr().expect("local addr");
            let (attacker, accepted) = tokio::join!(attacker.connect(addr), listener.accept());
            let attacker = attacker.expect("connect");
            let (stream, _) = accepted.expect("accept");
            // The attacker's handshake, on a std socket, and then it never reads again.
            let mut attacker = attacker.into_std().expect("into_std");
            attacker.set_nonblocking(false).expect("blocking");
            attacker.set_read_timeout(Some(STEP)).expect("read timeout");
            attacker
                .set_write_timeout(Some(STEP))
                .expect("write timeout");
            let handshake = thread::spawn(move || {
                raw_upgrade(&mut attacker);
                attacker
            });
            let mut config = server_config();
            config.keepalive_interval = None; // the non-reader is not idle: it is slow
            config.write_buffer_limit = WRITE_LIMIT;
            let mut ws = rfc6455::tokio::accept_with(stream, config, |_| Ok(Accept::new()))
                .await
                .expect("server handshake");
            let attacker = join_within(handshake, STEP, "the attacker's handshake");

            // Push until a send stops completing.
            let message = pushed_message();
            let mut completed = 0;
            let mut max_queued = 0;
            let pending_at = loop {
                assert!(
                    completed < MAX_PUSHES,
                    "{what}: {completed} sends completed"
                );
                let send = ws.send(message.clone());
                match tokio::time::timeout(Duration::from_millis(300), send).await {
                    Ok(Ok(())) => completed += 1,
                    Ok(Err(e)) => panic!("{what}: send failed instead of waiting: {e}"),
                    Err(_) => break ws.connection().buffered_amount(),
                }
                max_queued = max_queued.max(ws.connection().buffered_amount());
            };

            // Stuck. A good client connects now and is served by the same runtime, while
            // further sends keep waiting.
            let good = thread::spawn(move || good_client(addr));
            let (stream, _) = tokio::time::timeout(STEP, listener.accept())
                .await
                .expect("the good client connects")
                .expect("accept");
            let echo = tokio::spawn(async move {
                let mut ws =
                    rfc6455::tokio::accept_with(stream, server_config(), |_| Ok(Accept::new()))
                        .await?;
                let mut echoed = 0;
                while let Some(message) = ws.recv().await? {
                    ws.send(message).await?;
                    echoed += 1;
                    if echoed == MAX_ECHOES {
                        break;
                    }
                }
                Ok::<usize, Error>(echoed)
            });
            let mut queued = Vec::new();
            for _ in 0..20 {
                let send = ws.send(message.clone());
                let sent = tokio::time::timeout(Duration::from_millis(50), send).await;
                assert!(
                    sent.is_err(),
                    "{what}: a send completed while the peer does not read"
                );
                queued.push(ws.connection().buffered_amount());
            }
            let still_stuck = Instant::now();
            let deadline = Instant::now() + 2 * STEP;
            while !good.is_finished() {
                assert!(
                    Instant::now() < deadline,
                    "{what}: the good client did not finish"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let served = good.join().expect("good client thread");
            let served = served.unwrap_or_else(|e| panic!("{what}: the good client failed: {e}"));
            assert_eq!(served.echoed, GOOD_MESSAGES);
            assert!(
                served.slowest < Duration::from_secs(1),
                "{what}: {:?}",
                served.slowest
            );
            let echoed = tokio::time::timeout(STEP, echo)
                .await
                .expect("echo task ends")
                .expect("echo task")
                .expect("echo");
            assert_eq!(echoed, GOOD_MESSAGES);
            // And sending to the attacker is still stuck after all that.
            let send = ws.send(message.clone());
            assert!(
                tokio::time::timeout(Duration::from_millis(50), send)
                    .await
                    .is_err(),
                "{what}: a send completed while the peer does not read"
            );
            let last = ws.connection().buffered_amount();

            eprintln!(
                "{what}: {completed} sends of {PUSHED} B completed ({} KiB in kernel buffers and \
                 the queue), then pending with {pending_at} B queued; queue after each further \
                 attempt: {queued:?}; after serving a client for {:?}: {last} B (limit \
                 {WRITE_LIMIT}, bound {QUEUE_BOUND}); good client's slowest echo {:?}",
                (completed * PUSHED) >> 10,
                still_stuck.elapsed(),
                served.slowest
            );
            assert!(max_queued <= QUEUE_BOUND, "{what}: {max_queued} B queued");
            assert!(
                queued.iter().all(|&n| n <= QUEUE_BOUND),
                "{what}: {queued:?}"
            );
            assert!(
                queued[10..].iter().all(|&n| n == queued[19]) && last == queued[19],
                "{what}: the queue is still growing: {queued:?}, then {last}"
            );
            assert!(
                queued[19] > WRITE_LIMIT,
                "{what}: the queue never reached the limit: {queued:?}"
            );
            drop(attacker);
        })
        .await
        .expect("the test took over 60 s");
    });
}

/// The blocking adapter's `write` to a peer that never reads, with no write timeout: it blocks
/// (in the kernel's `write`, once the 64 KiB queue is over the limit and must be flushed)
/// instead of queueing more. Run on a thread, it is still stuck a second later having taken a
/// bounded number of messages; dropping the attacker's socket (a reset, since it left data
/// unread) unblocks it with an I/O error, and the thread ends promptly.
#[test]
fn a_peer_that_never_reads_blocks_the_blocking_write_with_a_bounded_queue() {
    let what = "blocking server, a peer that never reads";
    let (stream, mut attacker) = runtime().block_on(async {
        let (listener, attacker) = small_buffer_pair().await;
        let addr = listener.local_addr().expect("local addr");
        let (attacker, accepted) = tokio::join!(attacker.connect(addr), listener.accept());
        let (stream, _) = accepted.expect("accept");
        let attacker = attacker.expect("connect");
        (
            stream.into_std().expect("into_std"),
            attacker.into_std().expect("into_std"),
        )
    });
    attacker.set_nonblocking(false).expect("blocking");
    attacker.set_read_timeout(Some(STEP)).expect("read timeout");
    attacker
        .set_write_timeout(Some(STEP))
        .expect("write timeout");
    // No timeouts on the server's socket: its write must block, not time out.
    stream.set_nonblocking(false).expect("blocking");

    let writes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&writes);
    let writer = thread::spawn(move || {
        let mut config = server_config();
        config.keepalive_interval = None;
        config.write_buffer_limit = WRITE_LIMIT;
        let mut ws =
            blocking::accept_with(stream, config, |_| Ok(Accept::new())).expect("server handshake");
        let message = pushed_message();
        let error = loop {
            if counter.load(Ordering::SeqCst) == MAX_PUSHES {
                return (None, ws.connection().buffered_amount());
            }
            match ws.feed(message.clone()) {
                Ok(()) => counter.fetch_add(1, Ordering::SeqCst),
                Err(e) => break e,
            };
        };
        (Some(error), ws.connection().buffered_amount())
    });
    raw_upgrade(&mut attacker);

    // Wait until the count has not moved for 500 ms: the writer is blocked.
    let started = Instant::now();
    let mut last = (writes.load(Ordering::SeqCst), Instant::now());
    loop {
        thread::sleep(Duration::from_millis(50));
        assert!(
            started.elapsed() < 2 * STEP,
            "{what}: the writer never blocked"
        );
        assert!(
            !writer.is_finished(),
            "{what}: the writer ended without blocking"
        );
        let now = writes.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= Duration::from_millis(500) {
            break;
        }
    }
    let blocked_after = writes.load(Ordering::SeqCst);
    thread::sleep(Duration::from_secs(1));
    assert_eq!(
        writes.load(Ordering::SeqCst),
        blocked_after,
        "{what}: writes resumed"
    );
    assert!(!writer.is_finished(), "{what}: the writer is not blocked");

    drop(attacker);
    let (error, queued) = join_within(writer, STEP, "the blocked writer after the reset");
    eprintln!(
        "{what}: blocked after {blocked_after} writes of {PUSHED} B ({} KiB taken), still \
         blocked 1 s later; unblocked by the reset with {error:?}, {queued} B queued (bound \
         {QUEUE_BOUND})",
        (blocked_after * PUSHED) >> 10
    );
    assert!(blocked_after < MAX_PUSHES, "{what}: {blocked_after} writes");
    assert!(matches!(error, Some(Error::Io(_))), "{what}: {error:?}");
    assert!(queued <= QUEUE_BOUND, "{what}: {queued} B queued");
}
