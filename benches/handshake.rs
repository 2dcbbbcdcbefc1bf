//! The server side of the opening handshake (RFC 6455 §4.2): parse the client's request and build
//! the 101 response, in memory.
//!
//! - `handshake/rfc6455/CASE`: `ServerHandshake::receive` + `Request::answer` (the 101 and the
//!   small `Accepted`);
//! - `handshake/rfc6455-connection/CASE`: the same, plus `Accepted::into_connection` fed the leftover bytes,
//!   which is what the peers' calls below also build;
//! - `handshake/tungstenite/CASE`: `tungstenite::accept` over an in-memory stream (request in, response
//!   out), which returns a ready `WebSocket`;
//! - `handshake/tokio-websockets/CASE`: `ServerBuilder::accept` over `tokio::io::join` of the
//!   request bytes and a `Vec`, polled once with a no-op waker (in-memory I/O is always ready).
//!
//! fastwebsockets does its server handshake through hyper (`upgrade` feature): it is measured by the
//! load test (`loadtest/`, handshakes/s) rather than here.
//!
//! CASE is `rfc-example` (the §1.2 request: 6 header fields) or `browser` (a Chrome-like request:
//! 14 header fields with cookies and an extension offer).
//!
//! `cargo bench --bench handshake`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::io::{self, Cursor, Read, Write};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rfc6455::handshake::{Accept, HandshakeLimits, ServerHandshake};
use rfc6455::{Config, Connection, Status};

const RFC_EXAMPLE: &str = "GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

const BROWSER: &str = "GET /socket?room=lobby HTTP/1.1\r\n\
Host: chat.example.com\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: https://chat.example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n\
Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

const CASES: [(&str, &str); 2] = [("rfc-example", RFC_EXAMPLE), ("browser", BROWSER)];

fn ours(request: &[u8]) -> Vec<u8> {
    let mut hs = ServerHandshake::new(HandshakeLimits::default());
    match hs.receive(request) {
        Ok(Status::Complete(req)) => {
            let answer = req.answer(Config::default(), |_| Ok(Accept::new()));
            assert!(answer.result.is_ok(), "valid request");
            answer.response
        }
        other => panic!("handshake: {other:?}"),
    }
}

fn ours_with_connection(request: &[u8]) -> (Vec<u8>, Connection) {
    let mut hs = ServerHandshake::new(HandshakeLimits::default());
    match hs.receive(request) {
        Ok(Status::Complete(req)) => {
            let answer = req.answer(Config::default(), |_| Ok(Accept::new()));
            let accepted = answer.result.expect("valid request");
            (
                answer.response,
                accepted.into_connection(&hs.take_leftover()),
            )
        }
        other => panic!("handshake: {other:?}"),
    }
}

/// A client that has sent `request` and collects what the server writes.
struct InMemory<'a> {
    input: Cursor<&'a [u8]>,
    output: Vec<u8>,
}

impl Read for InMemory<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for InMemory<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite_accept(request: &[u8]) -> usize {
    let stream = InMemory {
        input: Cursor::new(request),
        output: Vec::with_capacity(256),
    };
    let ws = tungstenite::accept(stream).expect("valid request");
    ws.get_ref().output.len()
}

fn tokio_websockets_accept(request: &[u8]) -> usize {
    let stream = tokio::io::join(request, Vec::with_capacity(256));
    let builder = tokio_websockets::ServerBuilder::new();
    let mut fut = pin!(builder.accept(stream));
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok((_request, ws))) => ws.get_ref().writer().len(),
        Poll::Ready(Err(e)) => panic!("handshake: {e}"),
        Poll::Pending => panic!("in-memory handshake did not complete in one poll"),
    }
}

fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Elements(1));
    for (name, request) in CASES {
        let request = request.as_bytes();
        assert!(ours(request).starts_with(b"HTTP/1.1 101"));
        assert!(tungstenite_accept(request) > 0);
        assert!(tokio_websockets_accept(request) > 0);
        group.bench_with_input(BenchmarkId::new("rfc6455", name), request, |b, r| {
            b.iter(|| ours(black_box(r)));
        });
        group.bench_with_input(
            BenchmarkId::new("rfc6455-connection", name),
            request,
            |b, r| {
                b.iter(|| ours_with_connection(black_box(r)));
            },
        );
        group.bench_with_input(BenchmarkId::new("tungstenite", name), request, |b, r| {
            b.iter(|| tungstenite_accept(black_box(r)));
        });
        group.bench_with_input(
            BenchmarkId::new("tokio-websockets", name),
            request,
            |b, r| {
                b.iter(|| tokio_websockets_accept(black_box(r)));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
