//! What the adapters owe the application beyond moving bytes, each in both adapters: nothing
//! the connection delivers is dropped by a reading call (data frames in `stream_frames` mode,
//! pings with `auto_pong` off, §5.5.2), a streamed message and a hand-made Pong go out through
//! the adapter, `into_inner` loses nothing buffered, and a read timeout the application sets on
//! the socket ends a blocking read while keepalive goes on.
//!
//! Every wait is bounded, so a bug fails a test instead of hanging it.

use crate::net;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rfc6455::blocking::MaybeTlsStream;
use rfc6455::handshake::Accept;
use rfc6455::{blocking, Config, DataKind, Error, Event, Message, ProtocolError, SendError};

use net::{join_by, on, runtime, STEP};

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// Accepts one connection with the blocking adapter and `config`; every read bounded by
/// [`STEP`] unless the test sets its own timeout.
fn blocking_server(listener: &TcpListener, config: Config) -> blocking::WebSocket<TcpStream> {
    let (stream, _) = listener.accept().expect("accept");
    stream.set_write_timeout(Some(STEP)).expect("timeout");
    blocking::accept_with(stream, config, |_| Ok(Accept::new())).expect("server handshake")
}

fn blocking_client(addr: SocketAddr, config: Config) -> blocking::WebSocket<MaybeTlsStream> {
    let url = format!("ws://{addr}/");
    let request = rfc6455::handshake::ClientRequest::new(&url).expect("url");
    let (mut ws, _) = blocking::connect_with(&request, config).expect("client handshake");
    ws.set_read_timeout(Some(STEP));
    ws
}

/// A message of `len` bytes sent as `parts` fragments with `send_frame`, by a blocking client.
fn stream_message<S: blocking::Stream>(
    ws: &mut blocking::WebSocket<S>,
    len: usize,
    parts: usize,
) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let chunk = len.div_ceil(parts);
    let mut chunks = data.chunks(chunk).peekable();
    while let Some(part) = chunks.next() {
        ws.send_frame(DataKind::Binary, part, chunks.peek().is_none())
            .expect("send_frame");
    }
    data
}

fn frames_config() -> Config {
    Config::default().with_stream_frames(true)
}

/// Reads frames until one has `fin`; gives their bytes joined.
fn collect_frames(mut next: impl FnMut() -> Result<Option<Event>, Error>) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        match next().expect("recv_event") {
            Some(Event::Frame(frame)) => {
                got.extend_from_slice(&frame.data);
                if frame.fin {
                    return got;
                }
            }
            Some(_) => {}
            None => panic!("connection ended inside the message"),
        }
    }
}

/// A client that completes the opening handshake by hand, then answers nothing (no Pong, no
/// Close) and reads until the server closes the connection (at most [`STEP`]).
fn silent_client(addr: SocketAddr) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("request");
    tcp.set_read_timeout(Some(STEP)).expect("timeout");
    let mut sink = [0u8; 1024];
    while matches!(tcp.read(&mut sink), Ok(n) if n > 0) {}
}

// ------------------------------------------------------------------ nothing dropped by recv

/// In `stream_frames` mode `recv` (whole messages only) refuses before reading anything, and
/// names `recv_event`; the frames are all still there for `recv_event`.
#[test]
fn blocking_recv_refuses_frames_mode_and_loses_no_frame() {
    let (listener, addr) = listener();
    let client = thread::spawn(move || {
        let mut ws = blocking_client(addr, Config::default());
        let sent = stream_message(&mut ws, 3 << 20, 7);
        ws.recv_event().ok(); // wait for the server's close
        sent
    });
    let mut ws = blocking_server(&listener, frames_config());
    ws.set_read_timeout(Some(STEP));
    let error = ws.recv().expect_err("recv in frames mode");
    assert!(
        matches!(&error, Error::Usage(why) if why.contains("recv_event")),
        "{error:?}"
    );
    assert!(!error.is_closed());
    let got = collect_frames(|| ws.recv_event());
    ws.close(rfc6455::CloseCode::NORMAL, "").expect("close");
    let sent = join_by(client, Instant::now() + STEP, "client");
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "frames differ from what was sent");
}

/// The same for the async adapter: `recv`, and the `Stream` of messages, refuse; `recv_event`
/// sees every frame.
#[test]
fn tokio_recv_and_stream_refuse_frames_mode_and_lose_no_frame() {
    let (listener, addr) = listener();
    let client = thread::spawn(move || {
        let mut ws = blocking_client(addr, Config::default());
        let sent = stream_message(&mut ws, 3 << 20, 5);
        ws.recv_event().ok();
        sent
    });
    let rt = runtime();
    let got = on(&rt, async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stream, _) = listener.accept().await?;
        let mut ws =
            rfc6455::tokio::accept_with(stream, frames_config(), |_| Ok(Accept::new())).await?;
        let error = ws.recv().await.expect_err("recv in frames mode");
        assert!(matches!(&error, Error::Usage(why) if why.contains("recv_event")));
        let item = ws.next().await.expect("an item");
        assert!(matches!(item, Err(Error::Usage(_))), "{item:?}");
        let mut got = Vec::new();
        loop {
            match ws.recv_event().await? {
                Some(Event::Frame(frame)) => {
                    got.extend_from_slice(&frame.data);
                    if frame.fin {
                        break;
                    }
                }
                Some(_) => {}
                None => panic!("ended inside the message"),
            }
        }
        ws.close(rfc6455::CloseCode::NORMAL, "").await?;
        Ok(got)
    })
    .expect("server");
    let sent = join_by(client, Instant::now() + STEP, "client");
    assert!(got == sent, "frames differ from what was sent");
}

// ------------------------------------------------------------------ §5.5.2 by hand

/// §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response".
/// With `auto_pong` off the application answers with the adapter's `pong`, and `recv`, which
/// would drop the Ping, refuses.
#[test]
fn a_ping_is_answered_by_hand_through_each_adapter_with_auto_pong_off() {
    for tokio_server in [false, true] {
        let (listener, addr) = listener();
        let client = thread::spawn(move || {
            let mut ws = blocking_client(addr, Config::default());
            ws.ping(b"by hand").expect("ping");
            let pong = loop {
                match ws.recv_event().expect("event") {
                    Some(Event::Pong(payload)) => break payload,
                    Some(_) => {}
                    None => panic!("closed before the pong"),
                }
            };
            ws.close(rfc6455::CloseCode::NORMAL, "").expect("close");
            while ws.recv().expect("close").is_some() {}
            pong
        });
        let config = Config::default().with_auto_pong(false);
        if tokio_server {
            let rt = runtime();
            on(&rt, async {
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let (stream, _) = listener.accept().await?;
                let ws = rfc6455::tokio::accept_with(stream, config, |_| Ok(Accept::new())).await?;
                let (mut read, mut write) = ws.split();
                assert!(matches!(read.recv().await, Err(Error::Usage(_))));
                let Some(Event::Ping(payload)) = read.recv_event().await? else {
                    panic!("expected the ping");
                };
                write.pong(&payload).await?;
                while read.recv_event().await?.is_some() {}
                Ok(())
            })
            .expect("tokio server");
        } else {
            let mut ws = blocking_server(&listener, config);
            ws.set_read_timeout(Some(STEP));
            assert!(matches!(ws.recv(), Err(Error::Usage(_))));
            let Some(Event::Ping(payload)) = ws.recv_event().expect("event") else {
                panic!("expected the ping");
            };
            ws.pong(&payload).expect("pong");
            while ws.recv_event().expect("close").is_some() {}
        }
        let pong = join_by(client, Instant::now() + STEP, "client");
        assert_eq!(&pong[..], b"by hand", "tokio server: {tokio_server}");
    }
}

// ------------------------------------------------------------------ streamed sends

/// §5.4: a message sent in fragments through the adapter, each fragment larger than the write
/// buffer limit (so the core alone would refuse the second with `BufferFull`), arrives whole.
#[test]
fn send_frame_streams_a_message_through_each_adapter_with_backpressure() {
    let config = Config::default().with_write_buffer_limit(64 * 1024);
    for tokio_client in [false, true] {
        let (listener, addr) = listener();
        let server = thread::spawn(move || {
            let mut ws = blocking_server(&listener, Config::default());
            ws.set_read_timeout(Some(STEP));
            let got = ws.recv().expect("recv").expect("a message");
            while ws.recv().expect("close").is_some() {}
            got
        });
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        if tokio_client {
            let rt = runtime();
            let url = format!("ws://{addr}/");
            let request = rfc6455::handshake::ClientRequest::new(&url).expect("url");
            on(&rt, async {
                let (mut ws, _) = rfc6455::tokio::connect_with(&request, config.clone()).await?;
                let mut chunks = data.chunks(200_000).peekable();
                while let Some(part) = chunks.next() {
                    ws.send_frame(DataKind::Binary, part, chunks.peek().is_none())
                        .await?;
                }
                ws.close(rfc6455::CloseCode::NORMAL, "").await?;
                while ws.recv().await?.is_some() {}
                Ok(())
            })
            .expect("tokio client");
        } else {
            let mut ws = blocking_client(addr, config.clone());
            let mut chunks = data.chunks(200_000).peekable();
            while let Some(part) = chunks.next() {
                ws.send_frame(DataKind::Binary, part, chunks.peek().is_none())
                    .expect("send_frame");
            }
            ws.close(rfc6455::CloseCode::NORMAL, "").expect("close");
            while ws.recv().expect("close").is_some() {}
        }
        let got = join_by(server, Instant::now() + STEP, "server");
        assert!(got == Message::binary(data), "tokio client: {tokio_client}");
    }
}

// ------------------------------------------------------------------ into_inner

/// `into_inner` gives back the stream and the connection with what it had received but not yet
/// delivered: the second of two messages that arrived in one read is not lost.
#[test]
fn into_inner_keeps_what_was_received_and_not_yet_delivered() {
    let (listener, addr) = listener();
    let client = thread::spawn(move || {
        let mut ws = blocking_client(addr, Config::default());
        ws.feed(Message::text("first")).expect("feed");
        ws.feed(Message::text("second")).expect("feed");
        ws.flush().expect("flush"); // one write: both arrive in one read
        while ws.recv().expect("close").is_some() {}
    });
    let mut ws = blocking_server(&listener, Config::default());
    ws.set_read_timeout(Some(STEP));
    assert_eq!(ws.recv().expect("recv"), Some(Message::text("first")));
    let (stream, conn) = ws.into_inner();
    assert!(
        conn.buffered_incoming() > 0,
        "the second message is buffered"
    );
    let mut ws = blocking::WebSocket::from_connection(stream, conn);
    assert_eq!(ws.recv().expect("recv"), Some(Message::text("second")));
    ws.close(rfc6455::CloseCode::NORMAL, "").expect("close");
    while ws.recv().expect("close").is_some() {}
    join_by(client, Instant::now() + STEP, "client");
}

/// The same for the async adapter.
#[test]
fn tokio_into_inner_keeps_what_was_received_and_not_yet_delivered() {
    let (listener, addr) = listener();
    let client = thread::spawn(move || {
        let mut ws = blocking_client(addr, Config::default());
        ws.feed(Message::text("first")).expect("feed");
        ws.feed(Message::text("second")).expect("feed");
        ws.flush().expect("flush");
        while ws.recv().expect("close").is_some() {}
    });
    let rt = runtime();
    on(&rt, async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stream, _) = listener.accept().await?;
        let mut ws = rfc6455::tokio::accept(stream).await?;
        assert_eq!(ws.recv().await?, Some(Message::text("first")));
        let (stream, conn) = ws.into_inner();
        assert!(
            conn.buffered_incoming() > 0,
            "the second message is buffered"
        );
        let mut ws = rfc6455::tokio::WebSocketStream::from_connection(stream, conn);
        assert_eq!(ws.recv().await?, Some(Message::text("second")));
        ws.close(rfc6455::CloseCode::NORMAL, "").await?;
        while ws.recv().await?.is_some() {}
        Ok(())
    })
    .expect("tokio server");
    join_by(client, Instant::now() + STEP, "client");
}

// ------------------------------------------------------------------ the application's timeouts

/// A read timeout set on the socket itself (the tungstenite habit) ends a blocking read with an
/// error for which `is_timeout` is true; the connection stays usable, and once the timeout is
/// removed a read waits for the next message again.
#[test]
fn a_read_timeout_set_on_the_socket_ends_a_blocking_read() {
    let (listener, addr) = listener();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let client = thread::spawn(move || {
        let mut ws = blocking_client(addr, Config::default());
        wait.recv_timeout(STEP).expect("go");
        ws.send_text("after the timeout").expect("send");
        wait.recv_timeout(STEP).expect("go");
        thread::sleep(Duration::from_millis(400));
        ws.send_text("after a wait longer than the old timeout")
            .expect("send");
        while ws.recv().expect("close").is_some() {}
    });
    let mut ws = blocking_server(&listener, Config::default());
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(150)))
        .expect("timeout");
    let started = Instant::now();
    let error = ws.recv().expect_err("the read times out");
    let waited = started.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert!(!error.is_closed(), "{error:?}");
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    go.send(()).expect("go");
    assert_eq!(
        ws.recv().expect("usable after the timeout"),
        Some(Message::text("after the timeout"))
    );
    // Removed: the read waits past the old 150 ms for the message sent 400 ms later.
    ws.get_ref().set_read_timeout(None).expect("timeout");
    go.send(()).expect("go");
    assert_eq!(
        ws.recv().expect("no timeout any more"),
        Some(Message::text("after a wait longer than the old timeout"))
    );
    ws.close(rfc6455::CloseCode::NORMAL, "").expect("close");
    while ws.recv().expect("close").is_some() {}
    join_by(client, Instant::now() + STEP, "client");
}

/// With a long read timeout of the application's on the socket, the core's shorter deadlines
/// still bound the reads: a peer that never answers the keepalive Ping fails the connection
/// (1011) after the keepalive timeout (and the close timeout, since the peer does not close
/// either), not after the application's timeout.
#[test]
fn keepalive_goes_on_under_a_longer_read_timeout_set_on_the_socket() {
    let (listener, addr) = listener();
    let silent = thread::spawn(move || silent_client(addr));
    let config = Config::default()
        .with_keepalive_interval(Some(Duration::from_millis(100)))
        .with_keepalive_timeout(Duration::from_millis(200))
        .with_close_timeout(Duration::from_millis(200));
    let mut ws = blocking_server(&listener, config);
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let started = Instant::now();
    let error = ws.recv().expect_err("keepalive fails the connection");
    assert!(
        matches!(error, Error::Protocol(ProtocolError::KeepaliveTimeout)),
        "{error:?}"
    );
    assert!(error.is_closed() && error.is_timeout());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    silent.join().expect("silent client");
}

// ------------------------------------------------------------------ error kinds

/// After the closing handshake a send fails with an error for which `is_closed` is true, so a
/// reconnect loop needs no `io::ErrorKind`.
#[test]
fn a_send_after_the_close_is_an_error_that_is_closed() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let mut ws = blocking_server(&listener, Config::default());
        ws.set_read_timeout(Some(STEP));
        while ws.recv().expect("recv").is_some() {}
    });
    let mut ws = blocking_client(addr, Config::default());
    ws.close(rfc6455::CloseCode::NORMAL, "").expect("close");
    let error = ws.send_text("late").expect_err("send after close");
    assert!(matches!(error, Error::Send(SendError::Closed)), "{error:?}");
    assert!(error.is_closed() && !error.is_timeout());
    while ws.recv().expect("close").is_some() {}
    join_by(server, Instant::now() + STEP, "server");
}

/// rustls's blocking streams are adapter streams as they are (feature `rustls`): no newtype.
#[cfg(feature = "rustls")]
#[test]
fn rustls_streams_are_adapter_streams() {
    fn usable<S: blocking::Stream>() {}
    usable::<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>();
    usable::<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>();
    usable::<rustls::Stream<'static, rustls::ClientConnection, TcpStream>>();
    usable::<rustls::StreamOwned<rustls::ServerConnection, std::os::unix::net::UnixStream>>();
}

/// A read timeout set on the socket before the handshake survives it (the handshake bounds its
/// own reads with the handshake timeout, then puts the application's back) and bounds the reads
/// after it.
#[test]
fn a_read_timeout_set_before_the_handshake_survives_it() {
    let (listener, addr) = listener();
    let client = thread::spawn(move || {
        let mut ws = blocking_client(addr, Config::default());
        while ws.recv().expect("close").is_some() {}
    });
    let (stream, _) = listener.accept().expect("accept");
    stream
        .set_read_timeout(Some(Duration::from_millis(150)))
        .expect("timeout");
    let mut ws = blocking::accept(stream).expect("server handshake");
    // As the kernel keeps it: rounded to its clock ticks.
    let kept = ws.get_ref().read_timeout().expect("timeout");
    assert!(
        kept.is_some_and(|t| t.abs_diff(Duration::from_millis(150)) < Duration::from_millis(20)),
        "{kept:?}"
    );
    let started = Instant::now();
    let error = ws.recv().expect_err("the read times out");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    ws.close(rfc6455::CloseCode::NORMAL, "").expect("close");
    ws.set_read_timeout(Some(STEP));
    while ws.recv().expect("close").is_some() {}
    join_by(client, Instant::now() + STEP, "client");
}

/// After a failure every later `recv` returns the same error, never `Ok(None)`, which means the
/// connection ended without one: a keepalive timeout is not mistaken for a clean close.
#[test]
fn after_a_failure_every_recv_returns_the_same_error() {
    for tokio_server in [false, true] {
        let (listener, addr) = listener();
        let silent = thread::spawn(move || silent_client(addr));
        let config = Config::default()
            .with_keepalive_interval(Some(Duration::from_millis(50)))
            .with_keepalive_timeout(Duration::from_millis(100))
            .with_close_timeout(Duration::from_millis(100));
        let errors: Vec<Result<Option<Message>, Error>> = if tokio_server {
            let rt = runtime();
            on(&rt, async {
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let (stream, _) = listener.accept().await?;
                let mut ws =
                    rfc6455::tokio::accept_with(stream, config, |_| Ok(Accept::new())).await?;
                let mut results = Vec::new();
                for _ in 0..3 {
                    results.push(ws.recv().await);
                }
                Ok(results)
            })
            .expect("tokio server")
        } else {
            let mut ws = blocking_server(&listener, config);
            (0..3).map(|_| ws.recv()).collect()
        };
        for result in errors {
            assert!(
                matches!(
                    result,
                    Err(Error::Protocol(ProtocolError::KeepaliveTimeout))
                ),
                "tokio server: {tokio_server}: {result:?}"
            );
        }
        silent.join().expect("silent client");
    }
}

/// `recv` is cancel safe: a `tokio::select!` that drops it again and again (a timer that keeps
/// winning) loses no message and no byte of one, large messages arriving in many reads included.
#[test]
fn recv_dropped_by_select_loses_no_message() {
    const MESSAGES: usize = 200;
    let (listener, addr) = listener();
    let client = thread::spawn(move || {
        let mut ws = blocking_client(addr, Config::default());
        for i in 0..MESSAGES {
            // Every tenth message is 200 KB: it takes many reads, any of which may be dropped.
            let len = if i % 10 == 0 { 200_000 } else { 16 };
            ws.send(Message::binary(vec![i as u8; len])).expect("send");
            if i % 20 == 0 {
                thread::sleep(Duration::from_millis(2));
            }
        }
        ws.close(rfc6455::CloseCode::NORMAL, "").expect("close");
        while ws.recv().expect("close").is_some() {}
    });
    let rt = runtime();
    let (received, cancelled) = on(&rt, async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stream, _) = listener.accept().await?;
        let mut ws = rfc6455::tokio::accept(stream).await?;
        let (mut received, mut cancelled) = (Vec::new(), 0u32);
        loop {
            tokio::select! {
                message = ws.recv() => match message? {
                    Some(message) => received.push(message),
                    None => break,
                },
                () = tokio::time::sleep(Duration::from_micros(200)) => cancelled += 1,
            }
        }
        Ok((received, cancelled))
    })
    .expect("tokio server");
    join_by(client, Instant::now() + STEP, "client");
    assert!(cancelled > 0, "the timer never won: nothing was cancelled");
    assert_eq!(received.len(), MESSAGES);
    for (i, message) in received.iter().enumerate() {
        let len = if i % 10 == 0 { 200_000 } else { 16 };
        assert_eq!(message, &Message::binary(vec![i as u8; len]), "message {i}");
    }
}
