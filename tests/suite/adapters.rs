//! The blocking and tokio adapters over real TCP on 127.0.0.1, in both roles and against each
//! other: every pairing (blocking/tokio client x blocking/tokio server) exchanges text, binary,
//! unicode and 1 MiB messages, pings, and closes from either side (RFC 6455 §5.5, §5.6, §7).
//! Then what only one adapter has: the tokio halves from two tasks, `Stream`/`Sink`, and
//! backpressure; and what the server side of the opening handshake owes a bad client (§4.2.1,
//! §4.2.2): a timeout, the application's rejection, the core's 400.
//!
//! Every read, write, accept and join is bounded in time, so a bug fails a test instead of
//! hanging it.

use crate::net;

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rfc6455::handshake::{
    Accept, HandshakeError, HandshakeLimits, Reject, Request, ServerHandshake,
};
use rfc6455::{Bytes, CloseCode, CloseFrame, Config, Error, Message, Status};

use net::{
    accept, connect, echo_server, join_by, on, one_mib_binary, one_mib_text, runtime, Kind,
    ServerReport, Ws, SERVER_CLOSE, STEP,
};

/// The longest a whole client/server exchange may take.
const EXCHANGE: Duration = Duration::from_secs(60);

/// The client's own close (the echo server answers "close-please" with [`SERVER_CLOSE`]).
const CLIENT_CLOSE: CloseCode = CloseCode(4001);

// ------------------------------------------------------------------ both adapters, one thread each

/// Runs `client` (on a connection made by `client_kind`'s adapter) against the
/// [`echo_server`] (on a connection accepted by `server_kind`'s adapter), each on its own
/// thread, over 127.0.0.1; gives what `client` returned and the server's report.
fn exchange<C, R>(client_kind: Kind, server_kind: Kind, client: C) -> (R, ServerReport)
where
    C: FnOnce(&mut Ws) -> R + Send + 'static,
    R: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let deadline = Instant::now() + EXCHANGE;
    let server = thread::spawn(move || {
        let mut ws = accept(server_kind, listener, Config::default(), |_| {
            Ok(Accept::new())
        })
        .expect("server handshake");
        echo_server(&mut ws)
    });
    let client = thread::spawn(move || {
        let mut ws = connect(client_kind, addr, Config::default()).expect("client handshake");
        client(&mut ws)
    });
    let client_result = join_by(client, deadline, "client");
    let server_result = join_by(server, deadline, "server");
    (client_result, server_result)
}

/// Checks that the server ended cleanly (`Ok(None)`) after a complete closing handshake.
fn assert_clean_end(report: &ServerReport) {
    assert_eq!(report.end, Some(Ok(())), "server did not end cleanly");
    assert!(
        report.closing_handshake_complete,
        "server: closing handshake incomplete"
    );
}

// ------------------------------------------------------------------ the exchanges

/// Round-trips each of `messages` through the echo server in order (each must come back with
/// its type and payload), then closes normally; the server must have echoed every one and
/// ended cleanly. Gives the server's report.
fn echoes_all(client: Kind, server: Kind, messages: Vec<Message>) -> ServerReport {
    let sent = messages.len();
    let (_, report) = exchange(client, server, move |ws| {
        for message in messages {
            ws.round_trip(message);
        }
        ws.close_normally();
    });
    assert_eq!(report.echoed, sent);
    assert_clean_end(&report);
    report
}

/// §5.6: text and binary messages come back with their type and payload, empty ones too.
fn echoes_text_and_binary(client: Kind, server: Kind) {
    let mut messages = vec![
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 127, 128, 254, 255]),
        Message::text(""),
        Message::binary(Vec::new()),
    ];
    // 125 and 126 bytes, 65535 and 65536 bytes: each side of the 7-bit, 16-bit and 64-bit
    // payload length forms (§5.2).
    for len in [125, 126, 65_535, 65_536] {
        messages.push(Message::binary(vec![0xa5; len]));
        messages.push(Message::text("t".repeat(len)));
    }
    let report = echoes_all(client, server, messages);
    assert_eq!(
        report.close,
        Some(Some(CloseFrame::new(CloseCode::NORMAL, "")))
    );
}

/// §5.6, §8.1: multi-byte UTF-8 arrives intact, including text long enough that its 4-byte
/// sequences straddle the adapters' read chunks.
fn echoes_unicode_text(client: Kind, server: Kind) {
    let mut messages: Vec<Message> = [
        "héllo wörld",
        "日本語のテキスト",
        "Ελληνικά, русский, עברית, العربية",
        "🦀 crab, 🎉 party, 👩‍👩‍👧 family",
        "e\u{301} combining, \u{feff} bom, \u{10ffff} last scalar",
        "nul \u{0} and del \u{7f}",
    ]
    .into_iter()
    .map(Message::text)
    .collect();
    messages.push(Message::text(format!("a{}", "🦀€é".repeat(20_000))));
    echoes_all(client, server, messages);
}

/// A 1 MiB binary message and a 1 MiB text message (of multi-byte characters) cross intact.
fn echoes_1_mib_messages(client: Kind, server: Kind) {
    let text = one_mib_text();
    assert_eq!(text.len(), 1 << 20);
    let messages = vec![Message::binary(one_mib_binary()), Message::text(text)];
    echoes_all(client, server, messages);
}

/// Messages are delivered in the order they were sent (§5.4 forbids interleaving; TCP keeps
/// order): 1000 sent one by one, then 1000 queued and flushed at once.
fn many_small_messages_arrive_in_order(client: Kind, server: Kind) {
    let (_, report) = exchange(client, server, |ws| {
        for i in 0..1000 {
            ws.send(Message::text(format!("sent {i}"))).expect("send");
        }
        for i in 0..1000 {
            assert_eq!(ws.expect_message(), Message::text(format!("sent {i}")));
        }
        for i in 0u32..1000 {
            ws.feed(Message::binary(i.to_be_bytes().to_vec()))
                .expect("feed");
        }
        ws.flush().expect("flush");
        for i in 0u32..1000 {
            assert_eq!(
                ws.expect_message(),
                Message::binary(i.to_be_bytes().to_vec())
            );
        }
        ws.close_normally();
    });
    assert_eq!(report.echoed, 2000);
    assert_clean_end(&report);
}

/// §5.5.2, §5.5.3: a Ping from either side is answered with a Pong carrying its payload, and
/// both show up as events.
fn ping_is_answered_with_pong(client: Kind, server: Kind) {
    let (_, report) = exchange(client, server, |ws| {
        ws.ping_each_way(b"from client", "from server");
        ws.close_normally();
    });
    assert_eq!(report.pings, [Bytes::from_static(b"from client")]);
    assert_eq!(report.pongs, [Bytes::from_static(b"from server")]);
    assert_clean_end(&report);
}

/// §7.1.2, §5.5.1: the client closes; the server sees its code and reason and echoes the code;
/// both ends then finish cleanly (`Ok(None)`).
fn close_initiated_by_client(client: Kind, server: Kind) {
    let (_, report) = exchange(client, server, |ws| {
        ws.round_trip(Message::text("before close"));
        ws.close(CLIENT_CLOSE, "client done ✓").expect("close");
        // §5.5.1: "the endpoint typically echos the status code it received".
        ws.expect_close_then_end(CLIENT_CLOSE, Some(""));
    });
    assert_eq!(
        report.close,
        Some(Some(CloseFrame::new(CLIENT_CLOSE, "client done ✓")))
    );
    assert_clean_end(&report);
}

/// §7.1.2, §7.1.1: the server closes; the client sees its code and reason, echoes the code, and
/// ends cleanly once the server has closed the TCP connection, long before the close timeout.
fn close_initiated_by_server(client: Kind, server: Kind) {
    let (elapsed, report) = exchange(client, server, |ws| {
        ws.round_trip(Message::binary(vec![9u8; 10]));
        let start = Instant::now();
        ws.send(Message::text("close-please")).expect("send");
        ws.expect_close_then_end(SERVER_CLOSE, Some("server bye"));
        start.elapsed()
    });
    // The default close timeout is 5 s; a clean end comes from the server's FIN, not the timer.
    assert!(
        elapsed < Config::default().close_timeout / 2,
        "client took {elapsed:?} to finish after the server's close"
    );
    assert_eq!(report.close, Some(Some(CloseFrame::new(SERVER_CLOSE, ""))));
    assert_clean_end(&report);
}

/// One `#[test]` per named function, each calling the function of that name in the parent
/// module with `$args` (a parenthesized argument list).
macro_rules! tests_calling {
    ($args:tt: $($test:ident),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                super::$test $args;
            }
        )+
    };
}

macro_rules! pairing {
    ($name:ident, $client:expr, $server:expr) => {
        /// One pairing of client and server adapters running every exchange.
        mod $name {
            use super::Kind::*;

            tests_calling!(
                ($client, $server):
                echoes_text_and_binary,
                echoes_unicode_text,
                echoes_1_mib_messages,
                many_small_messages_arrive_in_order,
                ping_is_answered_with_pong,
                close_initiated_by_client,
                close_initiated_by_server,
            );
        }
    };
}

pairing!(blocking_client_blocking_server, Blocking, Blocking);
pairing!(tokio_client_tokio_server, Tokio, Tokio);
pairing!(blocking_client_tokio_server, Blocking, Tokio);
pairing!(tokio_client_blocking_server, Tokio, Blocking);

// ------------------------------------------------------------------ tokio only, one runtime

/// Runs `fut` with the whole-test bound.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(EXCHANGE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {EXCHANGE:?}"))
}

/// A tokio server on 127.0.0.1 for one connection: `serve` runs on the accepted WebSocket in
/// its own task.
async fn tokio_server<F, Fut>(serve: F) -> (SocketAddr, tokio::task::JoinHandle<Fut::Output>)
where
    F: FnOnce(rfc6455::tokio::WebSocketStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: Future + Send,
    Fut::Output: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let ws = rfc6455::tokio::accept(stream)
            .await
            .expect("server handshake");
        serve(ws).await
    });
    (addr, task)
}

/// A tokio echo server built with plain `recv`/`send`; the task gives how many messages it
/// echoed and the peer's Close frame.
async fn tokio_echo_server() -> (
    SocketAddr,
    tokio::task::JoinHandle<(usize, Option<CloseFrame>)>,
) {
    tokio_server(|mut ws| async move {
        let mut echoed = 0;
        while let Some(m) = ws.recv().await.expect("server recv") {
            ws.send(m).await.expect("echo");
            echoed += 1;
        }
        (echoed, ws.connection().peer_close_frame().cloned())
    })
    .await
}

fn split_message(i: usize) -> Message {
    // Mostly small, every 50th one 64 KiB: the writer is often mid-frame while the reader reads.
    if i % 50 == 49 {
        Message::binary(vec![(i % 256) as u8; 64 << 10])
    } else {
        Message::text(format!("message {i} {}", "x".repeat(i % 300)))
    }
}

/// The halves of a split stream work from two tasks at once: one sends 1000 messages and then
/// closes, the other receives all 1000 echoes in order and then the end of the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_send_and_receive_from_two_tasks() {
    bounded("split exchange", async {
        let (addr, server) = tokio_echo_server().await;
        let (ws, _) = rfc6455::tokio::connect(&format!("ws://{addr}/"))
            .await
            .expect("client handshake");
        let (mut rx, mut tx) = ws.split();
        let writer = tokio::spawn(async move {
            for i in 0..1000 {
                tx.send(split_message(i)).await.expect("send");
            }
            tx.close(CloseCode::NORMAL, "writer done")
                .await
                .expect("close");
            tx
        });
        let reader = tokio::spawn(async move {
            let mut received = 0;
            while let Some(m) = rx.recv().await.expect("recv") {
                assert_eq!(m, split_message(received), "message {received}");
                received += 1;
            }
            (received, rx)
        });
        let tx = writer.await.expect("writer task");
        let (received, rx) = reader.await.expect("reader task");
        assert_eq!(received, 1000);
        let ws = rx.reunite(tx).expect("halves of one stream");
        assert!(ws.connection().is_closing_handshake_complete());
        let (echoed, close) = server.await.expect("server task");
        assert_eq!(echoed, 1000);
        assert_eq!(
            close,
            Some(CloseFrame::new(CloseCode::NORMAL, "writer done"))
        );
    })
    .await;
}

/// `WebSocketStream` is a futures `Stream` and `Sink`: the server is a `forward` from its read
/// half into its write half; the client uses `send_all`, `feed`/`flush`, `next` and `close`.
#[tokio::test]
async fn stream_and_sink_forward_echo() {
    bounded("stream/sink exchange", async {
        let (addr, server) = tokio_server(|ws| async move {
            let (read, write) = ws.split();
            read.forward(write).await
        })
        .await;
        let (mut ws, _) = rfc6455::tokio::connect(&format!("ws://{addr}/"))
            .await
            .expect("client handshake");
        let messages: Vec<Message> = (0..100)
            .map(|i| match i % 3 {
                0 => Message::text(format!("text {i} ✓")),
                1 => Message::binary(vec![i as u8; i * 100]),
                _ => Message::text(""),
            })
            .collect();
        let mut items = futures_util::stream::iter(messages.clone().into_iter().map(Ok));
        ws.send_all(&mut items).await.expect("send_all");
        SinkExt::feed(&mut ws, Message::text("fed"))
            .await
            .expect("feed");
        SinkExt::flush(&mut ws).await.expect("flush");
        for expected in messages.iter().chain([&Message::text("fed")]) {
            let got = ws.next().await.expect("a message").expect("recv");
            assert_eq!(&got, expected);
        }
        // Sink::close starts the closing handshake with 1000; the stream then ends.
        SinkExt::close(&mut ws).await.expect("sink close");
        assert!(
            ws.next().await.is_none(),
            "stream did not end after the close"
        );
        assert!(ws.connection().is_closing_handshake_complete());
        server
            .await
            .expect("server task")
            .expect("forward ended with an error");
    })
    .await;
}

/// The write queue's size after each of a run of sends to a peer that does not read: never
/// over `bound`, over `limit` by the end, and unchanged from index `settled` on (it stopped
/// growing).
fn assert_queue_stopped_growing(queued: &[usize], settled: usize, limit: usize, bound: usize) {
    let last = queued[queued.len() - 1];
    assert!(
        queued.iter().all(|&n| n <= bound),
        "queue over {bound}: {queued:?}"
    );
    assert!(
        last > limit,
        "the queue never reached the limit: {queued:?}"
    );
    assert!(
        queued[settled..].iter().all(|&n| n == last),
        "queue still growing: {queued:?}"
    );
}

/// A raw TCP client that completes the opening handshake and then never reads: the tokio
/// server's `send` stops completing once the kernel buffers and the adapter's queue are full,
/// and the queue stays bounded by `write_buffer_limit` (plus the one message that crossed it)
/// however many more sends are attempted. Once the peer reads, sending resumes.
#[tokio::test]
async fn send_pends_when_the_peer_does_not_read_and_memory_stays_bounded() {
    const LIMIT: usize = 64 << 10;
    const MESSAGE: usize = 16 << 10;
    const MAX_SENDS: usize = 4096; // 64 MiB: far more than any loopback socket buffers
    let bound = LIMIT + MESSAGE + 14; // the queue, one message over it, and its frame header
    bounded("backpressure", async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let (client, accepted) = tokio::join!(socket.connect(addr), listener.accept());
        let mut client = client.expect("connect");
        let (stream, _) = accepted.expect("accept");
        tokio::io::AsyncWriteExt::write_all(&mut client, RAW_UPGRADE.as_bytes())
            .await
            .expect("write request");
        let mut config = Config::default();
        config.write_buffer_limit = LIMIT;
        let mut ws = rfc6455::tokio::accept_with(stream, config, |_| Ok(Accept::new()))
            .await
            .expect("server handshake");

        let message = Message::binary(vec![0x5a; MESSAGE]);
        let mut completed = 0;
        let mut max_buffered = 0;
        let pending = loop {
            assert!(
                completed < MAX_SENDS,
                "{completed} sends of {MESSAGE} bytes completed to a peer that never reads"
            );
            let sent =
                tokio::time::timeout(Duration::from_millis(300), ws.send(message.clone())).await;
            match sent {
                Ok(Ok(())) => completed += 1,
                Ok(Err(e)) => panic!("send failed instead of waiting: {e}"),
                Err(_) => break ws.connection().buffered_amount(),
            }
            max_buffered = max_buffered.max(ws.connection().buffered_amount());
        };
        eprintln!(
            "tokio backpressure: {completed} sends completed, then pending with {pending} bytes \
             queued (max {max_buffered}, bound {bound})"
        );
        assert!(pending <= bound, "{pending} bytes queued, bound {bound}");
        assert!(
            max_buffered <= bound,
            "{max_buffered} bytes queued, bound {bound}"
        );
        // More attempts keep waiting. Each queues its message while the queue is under the
        // limit; once it is over, they wait before queueing: the queue stops growing.
        let mut queued = Vec::new();
        for _ in 0..20 {
            let sent =
                tokio::time::timeout(Duration::from_millis(50), ws.send(message.clone())).await;
            assert!(
                sent.is_err(),
                "a send completed while the peer still does not read"
            );
            queued.push(ws.connection().buffered_amount());
        }
        eprintln!("tokio backpressure: queue after each further attempt: {queued:?}");
        assert_queue_stopped_growing(&queued, 10, LIMIT, bound);
        // The peer starts reading: sending completes again.
        let drain = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 << 10];
            while tokio::io::AsyncReadExt::read(&mut client, &mut buf)
                .await
                .is_ok_and(|n| n > 0)
            {}
        });
        tokio::time::timeout(STEP, ws.send(message.clone()))
            .await
            .expect("send did not resume once the peer read")
            .expect("send");
        drop(ws);
        tokio::time::timeout(STEP, drain)
            .await
            .expect("drain did not end after the server dropped the connection")
            .expect("drain task");
    })
    .await;
}

/// The blocking adapter's backpressure: with a write timeout on the socket, `send` to a peer
/// that never reads fails with the timeout instead of queueing without bound.
#[test]
fn blocking_send_to_a_peer_that_does_not_read_times_out_with_a_bounded_queue() {
    const LIMIT: usize = 64 << 10;
    const MESSAGE: usize = 16 << 10;
    const MAX_SENDS: usize = 4096;
    let bound = LIMIT + MESSAGE + 14;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut client = raw_client(addr);
    client
        .write_all(RAW_UPGRADE.as_bytes())
        .expect("write request");
    let server = thread::spawn(move || {
        let mut config = Config::default();
        config.write_buffer_limit = LIMIT;
        let Ws::Blocking(mut ws) =
            accept(Kind::Blocking, listener, config, |_| Ok(Accept::new())).expect("handshake")
        else {
            unreachable!()
        };
        ws.get_ref()
            .tcp()
            .set_write_timeout(Some(Duration::from_millis(100)))
            .expect("write timeout");
        let message = Message::binary(vec![0x5a; MESSAGE]);
        let mut completed = 0;
        let mut max_buffered = 0;
        let error = loop {
            assert!(completed < MAX_SENDS, "{completed} sends completed");
            let sent = ws.send(message.clone());
            max_buffered = max_buffered.max(ws.connection().buffered_amount());
            match sent {
                Ok(()) => completed += 1,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(&error, Error::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)),
            "expected the write timeout, got {error:?}"
        );
        let mut queued = Vec::new();
        for _ in 0..10 {
            assert!(
                ws.send(message.clone()).is_err(),
                "a send completed to a non-reader"
            );
            queued.push(ws.connection().buffered_amount());
        }
        eprintln!(
            "blocking backpressure: {completed} sends completed (max {max_buffered} bytes queued), \
             then {error}; queue after each further attempt: {queued:?}"
        );
        (queued, max_buffered)
    });
    let (queued, max_buffered) = join_by(server, Instant::now() + EXCHANGE, "blocking server");
    assert!(
        max_buffered <= bound,
        "{max_buffered} bytes queued, bound {bound}"
    );
    assert_queue_stopped_growing(&queued, 5, LIMIT, bound);
    drop(client);
}

// ------------------------------------------------------------------ the opening handshake, server side

const RAW_UPGRADE: &str = "GET /secret HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
     Sec-WebSocket-Version: 13\r\n\r\n";

fn raw_client(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(STEP)).expect("read timeout");
    stream.set_write_timeout(Some(STEP)).expect("write timeout");
    stream
}

/// Starts `kind`'s server for one connection; the thread returns how the handshake ended.
fn serve_handshake<F>(
    kind: Kind,
    config: Config,
    callback: F,
) -> (SocketAddr, JoinHandle<Result<(), Error>>)
where
    F: FnOnce(&Request) -> Result<Accept, Reject> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let handle = thread::spawn(move || accept(kind, listener, config, callback).map(drop));
    (addr, handle)
}

/// A raw client sends `request` to `kind`'s server (whose handshake callback is `callback`):
/// the server must answer with exactly `expected`, which starts with `status_line`, and then
/// close the connection. Gives how `accept` ended.
fn raw_request_gets_response<F>(
    kind: Kind,
    request: &[u8],
    status_line: &[u8],
    expected: &[u8],
    callback: F,
) -> Result<(), Error>
where
    F: FnOnce(&Request) -> Result<Accept, Reject> + Send + 'static,
{
    let (addr, server) = serve_handshake(kind, Config::default(), callback);
    let mut client = raw_client(addr);
    client.write_all(request).expect("write request");
    let mut response = Vec::new();
    client
        .read_to_end(&mut response)
        .expect("the server did not close the connection after its response");
    assert!(response.starts_with(status_line));
    assert_eq!(
        String::from_utf8_lossy(&response),
        String::from_utf8_lossy(expected)
    );
    join_by(server, Instant::now() + EXCHANGE, "accept")
}

/// Runs `handshake` with `Config::handshake_timeout` set to 300 ms: it must give up with
/// `HandshakeTimeout` once the timeout has passed, not before, not much after.
fn assert_handshake_times_out(handshake: impl FnOnce(Config) -> Result<(), Error>) {
    let timeout = Duration::from_millis(300);
    let mut config = Config::default();
    config.handshake_timeout = Some(timeout);
    let start = Instant::now();
    let result = handshake(config);
    let elapsed = start.elapsed();
    assert!(
        matches!(result, Err(Error::HandshakeTimeout)),
        "expected HandshakeTimeout, got {result:?}"
    );
    assert!(elapsed >= timeout, "gave up after {elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_secs(3),
        "gave up after {elapsed:?}"
    );
}

/// A client that sends half a request and then nothing: `accept` gives up with
/// `HandshakeTimeout` once `Config::handshake_timeout` has passed, not before, not much after.
fn handshake_timeout_fails_accept(kind: Kind) {
    assert_handshake_times_out(|config| {
        let (addr, server) = serve_handshake(kind, config, |_| Ok(Accept::new()));
        let mut client = raw_client(addr);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
            .expect("write half a request");
        let result = join_by(server, Instant::now() + EXCHANGE, "accept");
        // The client stays connected until the server has given up.
        drop(client);
        result
    });
}

/// §4.2.2: the application may refuse the handshake with a [`Reject`] (here 403), which the
/// client receives with the status, headers and body chosen, `Connection: close` and
/// `Content-Length`; `accept_with` returns `Rejected`.
fn accept_with_rejection_sends_the_applications_response(kind: Kind) {
    let forbidden = Reject::new(403)
        .header("Content-Type", "text/plain")
        .body("not for you\n");
    let result = raw_request_gets_response(
        kind,
        RAW_UPGRADE.as_bytes(),
        b"HTTP/1.1 403 Forbidden\r\n",
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\
          Content-Length: 12\r\n\r\nnot for you\n",
        move |request| {
            assert_eq!(request.path(), "/secret");
            Err(forbidden)
        },
    );
    assert!(
        matches!(result, Err(Error::Handshake(HandshakeError::Rejected))),
        "expected Rejected, got {result:?}"
    );
}

/// §4.2.1: a plain HTTP GET without `Upgrade: websocket` gets the core's 400 response, and
/// `accept` returns the error.
fn plain_http_get_gets_the_cores_400(kind: Kind) {
    let expected = HandshakeError::MissingUpgrade
        .response()
        .expect("a 400 response");
    let result = raw_request_gets_response(
        kind,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\n",
        &expected,
        |_| panic!("the callback must not see an invalid request"),
    );
    assert!(
        matches!(
            result,
            Err(Error::Handshake(HandshakeError::MissingUpgrade))
        ),
        "expected MissingUpgrade, got {result:?}"
    );
}

/// A server that accepts the TCP connection, reads the request and never answers: the client
/// gives up with `HandshakeTimeout`.
fn handshake_timeout_fails_connect(kind: Kind) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let silent = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(STEP)).expect("read timeout");
        let mut buf = [0u8; 4096];
        // Read until the client gives up and closes (or the read times out).
        while stream.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    assert_handshake_times_out(|config| connect(kind, addr, config).map(drop));
    join_by(silent, Instant::now() + EXCHANGE, "silent server");
}

/// A server that read the request itself (with `ServerHandshake`, as one that also serves plain
/// HTTP does) finishes the upgrade with `accept_request`: the 101 goes out, and the frame the
/// client sent right behind its request (the leftover) is the connection's first message.
fn accept_request_finishes_an_upgrade_read_elsewhere(kind: Kind) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = thread::spawn(move || -> Result<(), Error> {
        let (mut stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(STEP))?;
        let mut handshake = ServerHandshake::new(HandshakeLimits::default());
        let mut buf = [0u8; 4096];
        let request = loop {
            let n = stream.read(&mut buf)?;
            assert!(n > 0, "the client closed before its request was complete");
            if let Status::Complete(request) = handshake.receive(&buf[..n])? {
                break request;
            }
        };
        let leftover = handshake.take_leftover();
        let accept = |_: &Request| Ok(Accept::new());
        let message = match kind {
            Kind::Blocking => {
                let mut ws = rfc6455::blocking::accept_request(
                    stream,
                    &request,
                    &leftover,
                    Config::default(),
                    accept,
                )?;
                ws.recv()?
            }
            Kind::Tokio => {
                let rt = runtime();
                on(&rt, async {
                    stream.set_nonblocking(true)?;
                    let stream = tokio::net::TcpStream::from_std(stream)?;
                    let mut ws = rfc6455::tokio::accept_request(
                        stream,
                        &request,
                        &leftover,
                        Config::default(),
                        accept,
                    )
                    .await?;
                    ws.recv().await
                })?
            }
        };
        assert_eq!(message, Some(Message::text("hi")));
        Ok(())
    });
    let mut client = raw_client(addr);
    let mut bytes = RAW_UPGRADE.as_bytes().to_vec();
    bytes.extend_from_slice(b"\x81\x82abcd\x09\x0b");
    client.write_all(&bytes).expect("write request and frame");
    let mut response = [0u8; 512];
    let n = client.read(&mut response).expect("read the 101");
    assert!(response[..n].starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    join_by(server, Instant::now() + EXCHANGE, "accept_request").expect("server");
}

macro_rules! handshake_tests {
    ($name:ident, $kind:expr) => {
        /// The server side of the opening handshake with one adapter.
        mod $name {
            use super::Kind::*;

            tests_calling!(
                ($kind):
                handshake_timeout_fails_accept,
                handshake_timeout_fails_connect,
                accept_with_rejection_sends_the_applications_response,
                plain_http_get_gets_the_cores_400,
                accept_request_finishes_an_upgrade_read_elsewhere,
            );
        }
    };
}

handshake_tests!(blocking_handshake, Blocking);
handshake_tests!(tokio_handshake, Tokio);

/// A server task accepts and then serves its connection for the connection's whole life, and
/// a future is as large as its largest state: the handshake futures keep their state on the
/// heap, so they add a pointer to such a task, not a kilobyte. They can be spawned (`Send`).
#[test]
fn the_async_handshake_futures_are_send_and_hold_their_state_on_the_heap() {
    fn send_and_small<T: Send>(future: &T) {
        assert!(
            std::mem::size_of_val(future) <= 16,
            "{} bytes",
            std::mem::size_of_val(future)
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        send_and_small(&rfc6455::tokio::accept_with(
            server,
            Config::default(),
            |_| Ok(Accept::new()),
        ));
        let request =
            rfc6455::handshake::ClientRequest::new(&format!("ws://{addr}/")).expect("url");
        send_and_small(&rfc6455::tokio::client(client, &request, Config::default()));
    });
}
