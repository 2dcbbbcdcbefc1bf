//! Shared by the `adapters`, `adapter_api` and `interop` modules of the suite: a connected WebSocket of either adapter
//! behind one synchronous interface ([`Ws`]), the accept and connect that make one over
//! 127.0.0.1, an echo server written against it, and the bounded join both files use.
//!
//! Every read, write, accept and handshake is bounded by [`STEP`], so a bug fails a test
//! instead of hanging it.

// Each test binary uses a different subset of these helpers (only adapters.rs feeds, flushes
// or closes normally; only interop.rs looks at single events).
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::blocking::{self, MaybeTlsStream};
use rfc6455::handshake::{Accept, ClientRequest, Reject, Request, Response};
use rfc6455::{Bytes, CloseCode, CloseFrame, Config, Connection, Error, Event, Message};

/// The longest any one step (a read, a send, a handshake) may take before the test fails.
pub(crate) const STEP: Duration = Duration::from_secs(10);

/// The close code of the [`echo_server`]'s answer to "close-please".
pub(crate) const SERVER_CLOSE: CloseCode = CloseCode(4002);

// ------------------------------------------------------------------ one interface, two adapters

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Blocking,
    Tokio,
}

/// A connected WebSocket of either adapter behind one synchronous interface, so that each
/// exchange is written once and run with both. The tokio side runs every call to completion
/// on its own current-thread runtime (each endpoint lives on its own thread).
pub(crate) enum Ws {
    // Accepted streams too are wrapped in the clients' `MaybeTlsStream` (plain), so that both
    // ends of an exchange have one type.
    Blocking(blocking::WebSocket<MaybeTlsStream>),
    // `ws` is declared first so that it is dropped before its runtime.
    Tokio {
        ws: rfc6455::tokio::WebSocketStream<rfc6455::tokio::MaybeTlsStream>,
        rt: tokio::runtime::Runtime,
    },
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub(crate) fn step_timed_out() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("step did not complete within {STEP:?}"),
    ))
}

/// Runs one adapter call on `rt`, failing it after [`STEP`].
pub(crate) fn on<T>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    rt.block_on(async {
        tokio::time::timeout(STEP, fut)
            .await
            .unwrap_or_else(|_| Err(step_timed_out()))
    })
}

/// Bounds the blocking adapter's socket: reads through the adapter's own timeout (it keeps
/// setting the socket's), writes on the socket.
pub(crate) fn bound_blocking(mut ws: blocking::WebSocket<MaybeTlsStream>) -> io::Result<Ws> {
    ws.get_ref().tcp().set_write_timeout(Some(STEP))?;
    ws.set_read_timeout(Some(STEP));
    Ok(Ws::Blocking(ws))
}

/// Accepts one TCP connection on `listener` within [`STEP`] and performs the server handshake
/// with `kind`'s adapter.
pub(crate) fn accept<F>(
    kind: Kind,
    listener: TcpListener,
    config: Config,
    callback: F,
) -> Result<Ws, Error>
where
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    match kind {
        Kind::Blocking => {
            listener.set_nonblocking(true)?;
            let deadline = Instant::now() + STEP;
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            return Err(step_timed_out());
                        }
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            stream.set_nonblocking(false)?;
            stream.set_nodelay(true)?;
            stream.set_write_timeout(Some(STEP))?;
            let ws = blocking::accept_with(MaybeTlsStream::Plain(stream), config, callback)?;
            Ok(bound_blocking(ws)?)
        }
        Kind::Tokio => {
            let rt = runtime();
            let ws = on(&rt, async {
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let stream = rfc6455::tokio::MaybeTlsStream::Plain(stream);
                rfc6455::tokio::accept_with(stream, config, callback).await
            })?;
            Ok(Ws::Tokio { ws, rt })
        }
    }
}

/// Connects to `ws://addr/<test binary>` (`/adapters`, `/interop`) with `kind`'s adapter.
pub(crate) fn connect(kind: Kind, addr: SocketAddr, config: Config) -> Result<Ws, Error> {
    connect_with_response(kind, addr, config).map(|(ws, _)| ws)
}

/// [`connect`], also giving the server's 101 response (its headers say which extensions it
/// accepted).
pub(crate) fn connect_with_response(
    kind: Kind,
    addr: SocketAddr,
    config: Config,
) -> Result<(Ws, Response), Error> {
    let url = format!("ws://{addr}/{}", env!("CARGO_CRATE_NAME"));
    let request = ClientRequest::new(&url)?;
    match kind {
        Kind::Blocking => {
            let (ws, response) = blocking::connect_with(&request, config)?;
            assert_eq!(response.status(), 101);
            Ok((bound_blocking(ws)?, response))
        }
        Kind::Tokio => {
            let rt = runtime();
            let (ws, response) = on(&rt, rfc6455::tokio::connect_with(&request, config))?;
            assert_eq!(response.status(), 101);
            Ok((Ws::Tokio { ws, rt }, response))
        }
    }
}

impl Ws {
    pub(crate) fn recv_event(&mut self) -> Result<Option<Event>, Error> {
        match self {
            Self::Blocking(ws) => ws.recv_event(),
            Self::Tokio { ws, rt } => on(rt, ws.recv_event()),
        }
    }

    pub(crate) fn send(&mut self, message: Message) -> Result<(), Error> {
        match self {
            Self::Blocking(ws) => ws.send(message),
            Self::Tokio { ws, rt } => on(rt, ws.send(message)),
        }
    }

    /// Queues without flushing.
    pub(crate) fn feed(&mut self, message: Message) -> Result<(), Error> {
        match self {
            Self::Blocking(ws) => ws.feed(message),
            Self::Tokio { ws, rt } => on(rt, ws.feed(message)),
        }
    }

    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        match self {
            Self::Blocking(ws) => ws.flush(),
            Self::Tokio { ws, rt } => on(rt, ws.flush()),
        }
    }

    pub(crate) fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        match self {
            Self::Blocking(ws) => ws.ping(payload),
            Self::Tokio { ws, rt } => on(rt, ws.ping(payload)),
        }
    }

    pub(crate) fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        match self {
            Self::Blocking(ws) => ws.close(code, reason),
            Self::Tokio { ws, rt } => on(rt, ws.close(code, reason)),
        }
    }

    pub(crate) fn connection(&self) -> &Connection {
        match self {
            Self::Blocking(ws) => ws.connection(),
            Self::Tokio { ws, .. } => ws.connection(),
        }
    }

    /// The next event; `what` names it in the failure.
    pub(crate) fn expect_event(&mut self, what: &str) -> Event {
        match self.recv_event() {
            Ok(Some(event)) => event,
            other => panic!("expected {what}, got {other:?}"),
        }
    }

    /// The next event, which must be a message.
    pub(crate) fn expect_message(&mut self) -> Message {
        match self.expect_event("a message") {
            Event::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// A Ping each way (§5.5.2, §5.5.3), with a peer that obeys "ping-me" as [`echo_server`]
    /// does: our Ping carrying `ours` comes back as a Pong with the same payload; then the
    /// peer's Ping carrying `theirs` arrives, and our automatic Pong reaches the peer, which
    /// says so with the text "pong received: <theirs>".
    pub(crate) fn ping_each_way(&mut self, ours: &[u8], theirs: &str) {
        self.ping(ours).expect("ping");
        match self.expect_event("the Pong") {
            Event::Pong(p) => assert_eq!(&p[..], ours),
            other => panic!("expected the Pong, got {other:?}"),
        }
        self.send(Message::text("ping-me")).expect("send");
        match self.expect_event("the peer's Ping") {
            Event::Ping(p) => assert_eq!(&p[..], theirs.as_bytes()),
            other => panic!("expected the peer's Ping, got {other:?}"),
        }
        assert_eq!(
            self.expect_message(),
            Message::text(format!("pong received: {theirs}"))
        );
    }

    /// Sends `message` and checks that the same message (kind and payload) comes back.
    pub(crate) fn round_trip(&mut self, message: Message) {
        self.send(message.clone()).expect("send");
        let echo = self.expect_message();
        assert_eq!(echo.kind(), message.kind(), "echo changed the message type");
        assert!(
            echo == message,
            "echo of a {}-byte message differs",
            message.len()
        );
    }

    /// Starts the closing handshake with 1000 and reads until the connection is finished:
    /// the peer's echo of the code, then `Ok(None)`.
    pub(crate) fn close_normally(&mut self) {
        self.close(CloseCode::NORMAL, "").expect("close");
        self.expect_close_then_end(CloseCode::NORMAL, Some(""));
    }

    /// The next event is the peer's Close with `code` and, if given, exactly `reason` (`None`:
    /// any reason); then the connection ends cleanly (`Ok(None)`) with the closing handshake
    /// complete.
    pub(crate) fn expect_close_then_end(&mut self, code: CloseCode, reason: Option<&str>) {
        match self.expect_event("the peer's Close") {
            Event::Close(Some(frame)) => match reason {
                Some(reason) => assert_eq!(frame, CloseFrame::new(code, reason)),
                None => assert_eq!(frame.code, code),
            },
            other => panic!("expected the peer's Close {code}, got {other:?}"),
        }
        match self.recv_event() {
            Ok(None) => {}
            other => panic!("expected the end of the connection, got {other:?}"),
        }
        assert!(self.connection().is_closing_handshake_complete());
    }
}

// ------------------------------------------------------------------ the echo server

/// What the [`echo_server`] saw, checked by the test once both sides are done.
#[derive(Debug, Default)]
pub(crate) struct ServerReport {
    /// Whether permessage-deflate was negotiated (RFC 7692).
    pub(crate) compressed: bool,
    pub(crate) echoed: usize,
    pub(crate) pings: Vec<Bytes>,
    pub(crate) pongs: Vec<Bytes>,
    /// The peer's Close event, if one came (`Some(None)`: a Close without a status code).
    pub(crate) close: Option<Option<CloseFrame>>,
    /// How the connection ended: `Ok(())` for `Ok(None)`, else the error.
    pub(crate) end: Option<Result<(), String>>,
    pub(crate) closing_handshake_complete: bool,
}

/// Echoes every message with its type until the connection ends, and obeys two commands:
/// "close-please" (close with [`SERVER_CLOSE`] "server bye") and "ping-me" (send a Ping
/// "from server"; its Pong is answered with the text "pong received: from server").
pub(crate) fn echo_server(ws: &mut Ws) -> ServerReport {
    let mut report = ServerReport {
        compressed: ws.connection().is_compressed(),
        ..ServerReport::default()
    };
    loop {
        match ws.recv_event() {
            Ok(Some(Event::Message(m))) => match m.as_text() {
                Some("close-please") => ws.close(SERVER_CLOSE, "server bye").expect("close"),
                Some("ping-me") => ws.ping(b"from server").expect("ping"),
                _ => {
                    ws.send(m).expect("echo");
                    report.echoed += 1;
                }
            },
            Ok(Some(Event::Ping(p))) => report.pings.push(p),
            Ok(Some(Event::Pong(p))) => {
                let reply = format!("pong received: {}", String::from_utf8_lossy(&p));
                report.pongs.push(p);
                ws.send(Message::text(reply)).expect("send");
            }
            Ok(Some(Event::Close(frame))) => report.close = Some(frame),
            Ok(Some(other)) => panic!("echo server: unexpected event {other:?}"),
            Ok(None) => {
                report.end = Some(Ok(()));
                break;
            }
            Err(e) => {
                report.end = Some(Err(e.to_string()));
                break;
            }
        }
    }
    report.closing_handshake_complete = ws.connection().is_closing_handshake_complete();
    report
}

// ------------------------------------------------------------------ payloads and threads

/// 1 MiB of binary that is not one repeated byte.
pub(crate) fn one_mib_binary() -> Vec<u8> {
    (0..1usize << 20).map(|i| (i * 31 % 251) as u8).collect()
}

/// Exactly 1 MiB of text, mostly multi-byte characters.
pub(crate) fn one_mib_text() -> String {
    let mut text = "aé日🦀".repeat((1 << 20) / 10);
    while text.len() < 1 << 20 {
        text.push('z');
    }
    text
}

/// Waits for `handle` until `deadline`, then gives back its result or re-raises its panic.
pub(crate) fn join_by<T>(handle: JoinHandle<T>, deadline: Instant, what: &str) -> T {
    let start = Instant::now();
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what} did not finish by its deadline (waited {:?})",
            start.elapsed()
        );
        thread::sleep(Duration::from_millis(5));
    }
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
