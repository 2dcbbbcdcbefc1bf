//! The full in-memory path of 100,000 text messages of 14 bytes: the client sends, the server
//! echoes, the client receives, 100 messages in flight at a time (the client queues 100, the
//! server echoes what it has, the client reads the 100 echoes, and so on, 1,000 times). No
//! sockets: the two ends are joined by in-memory pipes, so this is the libraries' own cost
//! (framing, masking, UTF-8 validation, buffering, allocation).
//!
//! Blocking / sans-IO, on one thread:
//! - `roundtrip/rfc6455/100k-14B`: two `rfc6455::Connection`s, bytes moved by hand;
//! - `roundtrip/tungstenite/100k-14B`: two `tungstenite::WebSocket`s over an in-memory pipe that
//!   answers `WouldBlock` when empty.
//!
//! Async, on a current-thread tokio runtime over `tokio::io::duplex` (client and server joined in
//! one task), each server echoing the way the crate's own echo example does:
//! - `roundtrip/rfc6455-tokio/100k-14B`: `rfc6455::tokio::WebSocketStream` (`recv`, `send`);
//! - `roundtrip/tokio-tungstenite/100k-14B`: read half `forward`ed into the write half;
//! - `roundtrip/fastwebsockets/100k-14B`: `FragmentCollector::read_frame`, `write_frame`;
//! - `roundtrip/tokio-websockets/100k-14B`: `next`, `send`.
//!
//! `cargo bench --bench roundtrip`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use rfc6455::{Config, Connection, Event, Message, Role};
use tokio::io::DuplexStream;
use tokio::runtime::Runtime;

const TEXT: &str = "Hello, world!!";
const MESSAGES: usize = 100_000;
const IN_FLIGHT: usize = 100;
const PARAM: &str = "100k-14B";
const DUPLEX_CAPACITY: usize = 1 << 20;

fn check(len: usize, is_text: bool) {
    assert!(is_text && len == TEXT.len(), "bad echo");
}

// ------------------------------------------------------------------ sans-IO / blocking

fn ours_sans_io() -> usize {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut server = Connection::new(Role::Server, Config::default());
    let mut received = 0;
    for _ in 0..MESSAGES / IN_FLIGHT {
        for _ in 0..IN_FLIGHT {
            client.send_text(TEXT).expect("send");
        }
        let wire = client.data_to_send();
        let n = wire.len();
        server.receive(wire);
        client.mark_sent(n);
        while let Some(event) = server.poll_event() {
            if let Event::Message(msg) = event {
                server.send(&msg).expect("echo");
            }
        }
        let wire = server.data_to_send();
        let n = wire.len();
        client.receive(wire);
        server.mark_sent(n);
        while let Some(event) = client.poll_event() {
            if let Event::Message(msg) = event {
                check(msg.len(), msg.as_text().is_some());
                received += 1;
            }
        }
    }
    assert_eq!(received, MESSAGES);
    received
}

/// One direction of an in-memory pipe.
#[derive(Default)]
struct Queue {
    buf: Vec<u8>,
    head: usize,
}

/// One end of an in-memory duplex pipe: reads answer `WouldBlock` when nothing is queued, as a
/// non-blocking socket would.
struct PipeEnd {
    rx: Rc<RefCell<Queue>>,
    tx: Rc<RefCell<Queue>>,
}

fn pipe() -> (PipeEnd, PipeEnd) {
    let a = Rc::new(RefCell::new(Queue::default()));
    let b = Rc::new(RefCell::new(Queue::default()));
    (
        PipeEnd {
            rx: Rc::clone(&a),
            tx: Rc::clone(&b),
        },
        PipeEnd { rx: b, tx: a },
    )
}

impl Read for PipeEnd {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut q = self.rx.borrow_mut();
        let avail = q.buf.len() - q.head;
        if avail == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = avail.min(out.len());
        out[..n].copy_from_slice(&q.buf[q.head..q.head + n]);
        q.head += n;
        if q.head == q.buf.len() {
            q.buf.clear();
            q.head = 0;
        }
        Ok(n)
    }
}

impl Write for PipeEnd {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.tx.borrow_mut().buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

fn tungstenite_sync() -> usize {
    use tungstenite::protocol::{Role as TRole, WebSocket};
    use tungstenite::{Message as TMessage, Utf8Bytes};
    let (a, b) = pipe();
    let mut client = WebSocket::from_raw_socket(a, TRole::Client, None);
    let mut server = WebSocket::from_raw_socket(b, TRole::Server, None);
    let text = Utf8Bytes::from_static(TEXT);
    let mut received = 0;
    for _ in 0..MESSAGES / IN_FLIGHT {
        for _ in 0..IN_FLIGHT {
            client.write(TMessage::Text(text.clone())).expect("send");
        }
        client.flush().expect("flush");
        loop {
            match server.read() {
                Ok(msg @ (TMessage::Text(_) | TMessage::Binary(_))) => {
                    server.write(msg).expect("echo");
                }
                Ok(_) => {}
                Err(e) if would_block(&e) => break,
                Err(e) => panic!("server: {e}"),
            }
        }
        server.flush().expect("flush");
        loop {
            match client.read() {
                Ok(TMessage::Text(t)) => {
                    check(t.len(), true);
                    received += 1;
                }
                Ok(_) => panic!("bad echo"),
                Err(e) if would_block(&e) => break,
                Err(e) => panic!("client: {e}"),
            }
        }
    }
    assert_eq!(received, MESSAGES);
    received
}

// ------------------------------------------------------------------ async, over tokio::io::duplex

async fn ours_tokio() -> usize {
    use rfc6455::tokio::WebSocketStream;
    let (a, b) = tokio::io::duplex(DUPLEX_CAPACITY);
    let server = async move {
        let mut ws = WebSocketStream::from_handshake(b, Role::Server, Config::default(), &[]);
        while let Ok(Some(msg)) = ws.recv().await {
            if ws.send(msg).await.is_err() {
                break;
            }
        }
    };
    let client = async move {
        let mut ws = WebSocketStream::from_handshake(a, Role::Client, Config::default(), &[]);
        let msg = Message::text(rfc6455::Text::from_static(TEXT));
        let mut received = 0;
        for _ in 0..MESSAGES / IN_FLIGHT {
            for _ in 0..IN_FLIGHT {
                ws.feed(msg.clone()).await.expect("send");
            }
            ws.flush().await.expect("flush");
            for _ in 0..IN_FLIGHT {
                let echo = ws.recv().await.expect("recv").expect("open");
                check(echo.len(), echo.as_text().is_some());
                received += 1;
            }
        }
        received
    };
    let ((), received) = tokio::join!(server, client);
    received
}

async fn tokio_tungstenite_echo() -> usize {
    use tokio_tungstenite::tungstenite::protocol::Role as TRole;
    use tokio_tungstenite::tungstenite::{Message as TMessage, Utf8Bytes};
    use tokio_tungstenite::WebSocketStream;
    let (a, b) = tokio::io::duplex(DUPLEX_CAPACITY);
    let server = async move {
        let ws = WebSocketStream::from_raw_socket(b, TRole::Server, None).await;
        let (write, read) = ws.split();
        let _ = read
            .try_filter(|m| std::future::ready(m.is_text() || m.is_binary()))
            .forward(write)
            .await;
    };
    let client = async move {
        let mut ws = WebSocketStream::from_raw_socket(a, TRole::Client, None).await;
        let text = Utf8Bytes::from_static(TEXT);
        let mut received = 0;
        for _ in 0..MESSAGES / IN_FLIGHT {
            for _ in 0..IN_FLIGHT {
                ws.feed(TMessage::Text(text.clone())).await.expect("send");
            }
            ws.flush().await.expect("flush");
            for _ in 0..IN_FLIGHT {
                let echo = ws.next().await.expect("open").expect("recv");
                check(echo.len(), echo.is_text());
                received += 1;
            }
        }
        received
    };
    let ((), received) = tokio::join!(server, client);
    received
}

async fn fastwebsockets_echo() -> usize {
    use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, Role as FRole, WebSocket};
    let (a, b): (DuplexStream, DuplexStream) = tokio::io::duplex(DUPLEX_CAPACITY);
    let server = async move {
        let mut ws = FragmentCollector::new(WebSocket::after_handshake(b, FRole::Server));
        while let Ok(frame) = ws.read_frame().await {
            let echo = match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await,
                _ => Ok(()),
            };
            if echo.is_err() {
                break;
            }
        }
    };
    let client = async move {
        let mut ws = WebSocket::after_handshake(a, FRole::Client);
        let mut received = 0;
        for _ in 0..MESSAGES / IN_FLIGHT {
            for _ in 0..IN_FLIGHT {
                let frame = Frame::text(Payload::Borrowed(TEXT.as_bytes()));
                ws.write_frame(frame).await.expect("send");
            }
            for _ in 0..IN_FLIGHT {
                let echo = ws.read_frame().await.expect("recv");
                check(echo.payload.len(), echo.opcode == OpCode::Text);
                received += 1;
            }
        }
        received
    };
    let ((), received) = tokio::join!(server, client);
    received
}

async fn tokio_websockets_echo() -> usize {
    use tokio_websockets::{ClientBuilder, Message as WMessage, ServerBuilder};
    let (a, b) = tokio::io::duplex(DUPLEX_CAPACITY);
    let server = async move {
        let mut ws = ServerBuilder::new().serve(b);
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    };
    let client = async move {
        let mut ws = ClientBuilder::new().take_over(a);
        let msg = WMessage::text(TEXT);
        let mut received = 0;
        for _ in 0..MESSAGES / IN_FLIGHT {
            for _ in 0..IN_FLIGHT {
                ws.feed(msg.clone()).await.expect("send");
            }
            ws.flush().await.expect("flush");
            for _ in 0..IN_FLIGHT {
                let echo = ws.next().await.expect("open").expect("recv");
                check(echo.as_payload().len(), echo.is_text());
                received += 1;
            }
        }
        received
    };
    let ((), received) = tokio::join!(server, client);
    received
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn roundtrip(c: &mut Criterion) {
    let mut group = c.benchmark_group("roundtrip");
    group.sample_size(10);
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function(BenchmarkId::new("rfc6455", PARAM), |b| b.iter(ours_sans_io));
    group.bench_function(BenchmarkId::new("tungstenite", PARAM), |b| {
        b.iter(tungstenite_sync);
    });
    let rt = runtime();
    group.bench_function(BenchmarkId::new("rfc6455-tokio", PARAM), |b| {
        b.iter(|| rt.block_on(ours_tokio()));
    });
    group.bench_function(BenchmarkId::new("tokio-tungstenite", PARAM), |b| {
        b.iter(|| rt.block_on(tokio_tungstenite_echo()));
    });
    group.bench_function(BenchmarkId::new("fastwebsockets", PARAM), |b| {
        b.iter(|| rt.block_on(fastwebsockets_echo()));
    });
    group.bench_function(BenchmarkId::new("tokio-websockets", PARAM), |b| {
        b.iter(|| rt.block_on(tokio_websockets_echo()));
    });
    group.finish();
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
