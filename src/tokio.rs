//! The async adapter: a [`Connection`] driven over tokio's `AsyncRead + AsyncWrite`
//! (feature `tokio`).
//!
//! [`WebSocketStream`] is a `futures` [`Stream`](futures_core::Stream) of incoming messages and a
//! [`Sink`](futures_sink::Sink) of outgoing ones, with `async fn` shortcuts, and
//! [`split`](WebSocketStream::split)s into a read half and a write half that two tasks can own.
//! Like the blocking adapter it only moves bytes; the core makes every protocol decision.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rfc6455::Error> {
//! let (mut ws, _response) = rfc6455::tokio::connect("ws://127.0.0.1:9001/").await?;
//! ws.send(rfc6455::Message::text("hello")).await?;
//! while let Some(msg) = ws.recv().await? {
//!     println!("{msg:?}");
//! }
//! # Ok(()) }
//! ```

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::{sleep_until, timeout_at, Instant, Sleep};

use crate::close::CloseCode;
use crate::connection::{Connection, Event, State};
use crate::error::Error;
use crate::handshake::{
    Accept, ClientHandshake, ClientRequest, HandshakeError, Reject, Request, Response,
    ServerHandshake,
};
use crate::message::{DataKind, Message};
use crate::{Config, Role, Status};

/// Bytes read per call, into a buffer on the stack: an idle connection holds no read buffer.
/// When more than this is expected (inside a large frame, or after one), reads go straight into
/// the receive buffer ([`Connection::read_buffer`]).
const READ_CHUNK: usize = 16 * 1024;

/// Slices per vectored write: a burst of frames with shared payloads leaves in one `writev`.
const WRITE_SLICES: usize = 16;

/// Connects to a `ws://` or `wss://` URL with the default [`Config`]: TCP (with
/// `TCP_NODELAY`), TLS for `wss://` (feature `rustls`, with
/// [`tls::client_config`](crate::tls::client_config)), then the HTTP upgrade.
///
/// ```no_run
/// # async fn demo() -> Result<(), rfc6455::Error> {
/// let (mut ws, _response) = rfc6455::tokio::connect("wss://example.com/chat").await?;
/// ws.send_text("hello").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocketStream<MaybeTlsStream>, Response), Error> {
    connect_with(&ClientRequest::new(url)?, Config::default()).await
}

/// Connects with a prepared request (origin, subprotocols, headers) and a configuration. A
/// server that refuses the upgrade shows as [`HandshakeError::BadStatus`] with its status code.
///
/// [`Config::handshake_timeout`] bounds the whole: the TCP connect (name lookup included), the
/// TLS handshake and the HTTP upgrade. Each step fails with its own error:
/// [`Error::Connect`], then `Error::Tls` or `Error::TlsIo` (feature `rustls`), then the
/// handshake's errors. Without the feature `rustls`, a `wss://` request fails with
/// [`HandshakeError::InvalidUrl`] before anything is sent.
pub async fn connect_with(
    request: &ClientRequest,
    config: Config,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response), Error> {
    #[cfg(feature = "rustls")]
    if request.is_tls() {
        return connect_tls_with(request, config, crate::tls::client_config()?).await;
    }
    #[cfg(not(feature = "rustls"))]
    if request.is_tls() {
        return Err(crate::error::wss_without_rustls());
    }
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    let tcp = connect_tcp(request, deadline).await?;
    Box::pin(client_inline(
        MaybeTlsStream::Plain(tcp),
        request,
        config,
        deadline,
    ))
    .await
}

/// Connects as [`connect_with`] does, with a TLS configuration of your own for a `wss://` URL
/// (feature `rustls`): your roots (a private CA:
/// [`tls::client_config_with_ca_pem`](crate::tls::client_config_with_ca_pem)), client
/// certificates, a verifier that pins. A `ws://` URL connects without TLS. The server's
/// certificate is checked against the URL's host.
#[cfg(feature = "rustls")]
pub async fn connect_tls_with(
    request: &ClientRequest,
    config: Config,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response), Error> {
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    let tcp = connect_tcp(request, deadline).await?;
    let stream = if request.is_tls() {
        let name = crate::tls::server_name(request)?;
        let handshake = tokio_rustls::TlsConnector::from(tls).connect(name, tcp);
        let tls = within(deadline, handshake)
            .await
            .ok_or_else(crate::tls::handshake_timed_out)?
            .map_err(crate::tls::handshake_error)?;
        MaybeTlsStream::Rustls(Box::new(tls))
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    Box::pin(client_inline(stream, request, config, deadline)).await
}

/// The TCP connection of a client, within `deadline`.
async fn connect_tcp(
    request: &ClientRequest,
    deadline: Option<Instant>,
) -> Result<TcpStream, Error> {
    let stream = within(deadline, TcpStream::connect(request.authority()))
        .await
        .ok_or_else(crate::error::connect_timed_out)?
        .map_err(Error::Connect)?;
    stream.set_nodelay(true).map_err(Error::Connect)?;
    Ok(stream)
}

/// `fut`'s output, or `None` if `deadline` passed first.
async fn within<T>(deadline: Option<Instant>, fut: impl Future<Output = T>) -> Option<T> {
    match deadline {
        Some(deadline) => timeout_at(deadline, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// What [`connect`] connects over: a TCP stream, or (feature `rustls`, `wss://`) a
/// tokio-rustls client stream over one. [`tcp`](Self::tcp) reaches the socket.
#[non_exhaustive]
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// `ws://`: the TCP stream.
    Plain(TcpStream),
    /// `wss://`: rustls over the TCP stream.
    #[cfg(feature = "rustls")]
    Rustls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            #[cfg(feature = "rustls")]
            Self::Rustls(s) => s.get_ref().0,
        }
    }

    /// Whether the stream is TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }
}

/// Dispatches one poll to the stream inside.
macro_rules! each_stream {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            MaybeTlsStream::Plain($s) => $call,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls($s) => $call,
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "rustls")]
            Self::Rustls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// Performs the client handshake (§4.1) over a connected stream, within
/// [`Config::handshake_timeout`].
///
/// As for [`accept_with`], the handshake's state is on the heap while it runs, so a task that
/// connects and then serves the connection stays small.
pub fn client<'a, S>(
    stream: S,
    request: &'a ClientRequest,
    config: Config,
) -> impl Future<Output = Result<(WebSocketStream<S>, Response), Error>> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
{
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    Box::pin(client_inline(stream, request, config, deadline))
}

async fn client_inline<S>(
    mut stream: S,
    request: &ClientRequest,
    config: Config,
    deadline: Option<Instant>,
) -> Result<(WebSocketStream<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut handshake, bytes) = ClientHandshake::new(request, config);
    let exchange = async {
        stream.write_all(&bytes).await?;
        stream.flush().await?;
        read_handshake(&mut stream, |data| handshake.receive(data)).await
    };
    let response = within(deadline, exchange)
        .await
        .unwrap_or(Err(Error::HandshakeTimeout))?;
    let conn = handshake.into_connection(&response)?;
    Ok((WebSocketStream::from_connection(stream, conn), response))
}

/// Accepts a WebSocket connection with the default [`Config`] (§4.2).
pub async fn accept<S>(stream: S) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, Config::default(), |_| Ok(Accept::new())).await
}

/// Accepts as [`accept`] does, letting `callback` see the request first: it may choose a
/// subprotocol and add headers ([`Accept`]), or refuse with a [`Reject`] (any redirect or error
/// status, headers, a body), which is sent and returned as [`HandshakeError::Rejected`]. Invalid
/// requests get the core's error response (400, or 426) without `callback` being asked.
///
/// With a [`Config`] and nothing to decide: `accept_with(stream, config, |_| Ok(Accept::new()))`.
///
/// Reads the request within [`Config::handshake_timeout`], then finishes as [`accept_request`].
///
/// The handshake's state (about 1 KB: the request, the timeout, the response being written) is
/// on the heap for the handshake's duration, not in the caller's future: a task that accepts
/// and then serves a connection is as large as its largest state for the connection's whole
/// life, so an inline handshake would about double an idle connection's memory.
///
/// See [RFC 6455 §4.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2).
pub fn accept_with<S, F>(
    stream: S,
    config: Config,
    callback: F,
) -> impl Future<Output = Result<WebSocketStream<S>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    Box::pin(accept_inline(stream, config, callback, deadline))
}

/// Accepts a WebSocket connection over TLS (features `rustls` and `tokio`) with the default
/// [`Config`]: the TLS handshake with `tls` (for example from
/// [`tls::server_config_from_pem`](crate::tls::server_config_from_pem)), then the WebSocket
/// handshake as in [`accept`], both within [`Config::handshake_timeout`].
///
/// A client that fails the TLS handshake gives `Error::Tls` (rustls's verdict: it does not
/// speak TLS, or sent an alert) or `Error::TlsIo` (it closed the connection, or the timeout ran
/// out).
#[cfg(feature = "rustls")]
pub fn accept_tls<S>(
    stream: S,
    tls: Arc<rustls::ServerConfig>,
) -> impl Future<Output = Result<WebSocketStream<tokio_rustls::server::TlsStream<S>>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_tls_with(stream, tls, Config::default(), |_| Ok(Accept::new()))
}

/// Accepts over TLS as [`accept_tls`] does, with a [`Config`] and a `callback` as in
/// [`accept_with`]. The handshake timeout covers the TLS handshake and the WebSocket one
/// together.
#[cfg(feature = "rustls")]
pub fn accept_tls_with<S, F>(
    stream: S,
    tls: Arc<rustls::ServerConfig>,
    config: Config,
    callback: F,
) -> impl Future<Output = Result<WebSocketStream<tokio_rustls::server::TlsStream<S>>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    Box::pin(async move {
        let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
        let stream = within(deadline, handshake)
            .await
            .ok_or_else(crate::tls::handshake_timed_out)?
            .map_err(crate::tls::handshake_error)?;
        accept_inline(stream, config, callback, deadline).await
    })
}

async fn accept_inline<S, F>(
    stream: S,
    config: Config,
    callback: F,
    deadline: Option<Instant>,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let mut stream = stream;
    let mut handshake = ServerHandshake::new(config.handshake_limits);
    let read = read_handshake(&mut stream, |data| handshake.receive(data));
    let request = match within(deadline, read)
        .await
        .unwrap_or(Err(Error::HandshakeTimeout))
    {
        Ok(request) => request,
        Err(Error::Handshake(e)) => {
            if let Some(response) = e.response() {
                let _ = stream.write_all(&response).await;
            }
            return Err(Error::Handshake(e));
        }
        Err(e) => return Err(e),
    };
    let leftover = handshake.take_leftover();
    accept_request(stream, &request, &leftover, config, callback).await
}

/// Finishes the server handshake for a request already read, for example by a server that also
/// serves plain HTTP on the port ([`ServerHandshake`], [`Request::is_upgrade`]): answers it with
/// [`Request::answer`] (checks, `callback`, extensions), writes the response, and on a 101
/// starts the connection with `leftover`, the bytes that followed the request
/// ([`ServerHandshake::take_leftover`]).
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
pub async fn accept_request<S, F>(
    mut stream: S,
    request: &Request,
    leftover: &[u8],
    config: Config,
    callback: F,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    // The connection is made once the response is out: only the small `Accepted` is held across
    // the write, so the task future (live as long as the connection) stays small.
    let answer = request.answer(config, callback);
    stream.write_all(&answer.response).await?;
    stream.flush().await?;
    let conn = answer.result?.into_connection(leftover);
    Ok(WebSocketStream::from_connection(stream, conn))
}

async fn read_handshake<S, T>(
    stream: &mut S,
    mut feed: impl FnMut(&[u8]) -> Result<Status<T>, HandshakeError>,
) -> Result<T, Error>
where
    S: AsyncRead + Unpin,
{
    // Read into a buffer on the stack of each poll, not of the future: an array held across an
    // await would live inside every connection's task future for the connection's whole life (a
    // future is as large as its largest state), and a heap buffer costs an allocation.
    poll_fn(|cx| loop {
        let mut storage = [const { MaybeUninit::<u8>::uninit() }; 4096];
        let mut buf = ReadBuf::uninit(&mut storage);
        ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf))?;
        if buf.filled().is_empty() {
            return Poll::Ready(Err(Error::Io(io::ErrorKind::UnexpectedEof.into())));
        }
        if let Status::Complete(done) = feed(buf.filled())? {
            return Poll::Ready(Ok(done));
        }
    })
    .await
}

/// The sending methods, written once for [`WebSocketStream`] and [`WriteHalf`]: each type has
/// `drive` (poll the engine) and `with_conn` (act on the connection at once).
macro_rules! sending_methods {
    () => {
        /// Queues with `op` (waiting while the outgoing queue is over its limit), then flushes.
        async fn queue_and_flush(
            &mut self,
            mut op: impl FnMut(&mut Connection) -> Result<(), crate::SendError>,
        ) -> Result<(), Error> {
            poll_fn(|cx| self.drive(cx, |inner, cx| inner.poll_queue(cx, &mut op))).await?;
            self.flush().await
        }

        /// Sends a message in one frame and flushes it, waiting while the socket is slow. A server
        /// sends a large payload without copying it.
        ///
        /// **Not cancel safe**: dropped while it waits for room in the queue, the message was not
        /// queued; dropped while it flushes, the message is queued and goes out with the next
        /// flush or receive. Use [`feed`](Self::feed) and [`flush`](Self::flush) to tell the two
        /// apart.
        pub async fn send(&mut self, message: Message) -> Result<(), Error> {
            self.queue_and_flush(|conn| conn.send(&message)).await
        }

        /// Sends a text message; as [`send`](Self::send), not cancel safe.
        pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
            self.queue_and_flush(|conn| conn.send_text(text)).await
        }

        /// Sends a binary message; as [`send`](Self::send), not cancel safe.
        pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
            self.queue_and_flush(|conn| conn.send_binary(data)).await
        }

        /// Sends one frame of a message streamed in fragments (§5.4), with the same backpressure
        /// as [`send`](Self::send): the first call starts a message of `kind`, the next continue it
        /// (same `kind`), and the one with `fin` ends it. See [`Connection::send_frame`]. As `send`,
        /// not cancel safe.
        pub async fn send_frame(
            &mut self,
            kind: DataKind,
            data: &[u8],
            fin: bool,
        ) -> Result<(), Error> {
            self.queue_and_flush(|conn| conn.send_frame(kind, data, fin))
                .await
        }

        /// Queues a message without flushing, waiting only if the queue is over its limit. It goes
        /// out with the next [`flush`](Self::flush), or before the next [`recv`](WebSocketStream::recv) waits
        /// on the socket: an echo loop of `recv` and `feed` answers a burst with one write call.
        ///
        /// **Cancel safe**: once it completes the message is queued; dropped before, it was not.
        pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
            poll_fn(|cx| {
                self.drive(cx, |inner, cx| {
                    inner.poll_queue(cx, &mut |conn| conn.send(&message))
                })
            })
            .await
        }

        /// Writes everything queued.
        ///
        /// **Cancel safe**: dropped early, what it did not write stays queued.
        pub async fn flush(&mut self) -> Result<(), Error> {
            poll_fn(|cx| self.drive(cx, Inner::poll_flush)).await
        }

        /// Sends a Ping (§5.5.2); its Pong arrives as [`Event::Pong`] from
        /// [`recv_event`](WebSocketStream::recv_event). The Ping is queued at once; the rest is a
        /// [`flush`](Self::flush) (cancel safe as it is).
        pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
            self.with_conn(|conn| conn.ping(payload))?;
            self.flush().await
        }

        /// Sends a Pong (§5.5.3): the answer to an [`Event::Ping`] when [`Config::auto_pong`] is
        /// off (§5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
        /// response"; echo its payload), or an unsolicited heartbeat. Queued at once, then flushed
        /// (cancel safe as [`flush`](Self::flush)).
        pub async fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
            self.with_conn(|conn| conn.pong(payload))?;
            self.flush().await
        }

        /// Starts the closing handshake (§7.1.2) and sends the Close frame. Keep receiving until
        /// [`recv`](WebSocketStream::recv) returns `Ok(None)` to complete it. The Close is queued at once,
        /// then flushed (cancel safe as [`flush`](Self::flush)).
        pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
            self.with_conn(|conn| conn.close(code, reason))?;
            self.flush().await
        }
    };
}

/// The shared engine of [`WebSocketStream`] and its halves.
#[derive(Debug)]
struct Inner<S> {
    stream: S,
    conn: Connection,
    origin: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    shut_down: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Writes queued bytes until done or the socket is full; then half-closes if asked (§7.1.1).
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut wrote = false;
        let vectored = self.stream.is_write_vectored();
        loop {
            let mut parts: [&[u8]; WRITE_SLICES] = [&[]; WRITE_SLICES];
            let n = self.conn.data_to_send_vectored(&mut parts);
            if n == 0 {
                break;
            }
            let stream = Pin::new(&mut self.stream);
            let written = if vectored && n > 1 {
                stream.poll_write_vectored(cx, &parts.map(IoSlice::new)[..n])
            } else {
                stream.poll_write(cx, parts[0])
            };
            match written {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.conn.mark_sent(n);
                    wrote = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if wrote {
            ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
        }
        if self.conn.wants_shutdown() && !self.shut_down {
            // The peer may be gone already; the connection is over either way.
            let _ = ready!(Pin::new(&mut self.stream).poll_shutdown(cx));
            self.shut_down = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Drives the connection until an event is ready, or the connection is finished (`None`).
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Event>, Error>> {
        let mut started_timers = false;
        loop {
            if let Some(event) = self.conn.poll_event() {
                // A failure is reported once the Close is out and the socket is shut: the core
                // keeps it until then (`Connection::failure`).
                if !matches!(event, Event::Failed(_)) {
                    return Poll::Ready(Ok(Some(event)));
                }
            }
            // Replies (pongs, close) go out before we read on; a slow socket does not stop
            // reading unless the queue is over its limit.
            let write = self.poll_write_out(cx);
            let write_pending = write.is_pending();
            if let Poll::Ready(Err(e)) = write {
                if self.conn.state() != State::Closed {
                    return Poll::Ready(Err(Error::Io(e)));
                }
                self.conn.receive_eof();
            }
            if self.conn.is_finished() {
                return Poll::Ready(crate::error::finished(&self.conn).map(|()| None));
            }
            if write_pending && self.conn.is_write_buffer_full() {
                return Poll::Pending;
            }
            if let Some(deadline) = self.conn.poll_timeout() {
                if deadline.is_zero() && !started_timers {
                    // A timer waits to learn the current time: tell it now, rather than through a
                    // sleep that would only fire at the timer driver's next tick.
                    started_timers = true;
                    let now = self.now();
                    self.conn.handle_timeout(now);
                    continue;
                }
                let at = self.origin + deadline;
                match &mut self.timer {
                    Some(t) if t.deadline() == at => {}
                    Some(t) => t.as_mut().reset(at),
                    None => self.timer = Some(Box::pin(sleep_until(at))),
                }
                if let Some(t) = &mut self.timer {
                    if t.as_mut().poll(cx).is_ready() {
                        let now = self.now();
                        self.conn.handle_timeout(now);
                        continue;
                    }
                }
            }
            // `Ok(true)`: the peer closed its side.
            let read = if let Some(mut buf) = self.conn.read_buffer(READ_CHUNK) {
                // A large frame is arriving, or likely next: read straight into its buffer.
                let read = std::pin::pin!(self.stream.read_buf(&mut buf)).poll(cx);
                if read.is_pending() {
                    self.conn.release_read_buffer();
                }
                read.map_ok(|n| n == 0)
            } else {
                let mut storage = [const { MaybeUninit::<u8>::uninit() }; READ_CHUNK];
                let mut buf = ReadBuf::uninit(&mut storage);
                let conn = &mut self.conn;
                Pin::new(&mut self.stream)
                    .poll_read(cx, &mut buf)
                    .map_ok(|()| {
                        conn.receive(buf.filled());
                        buf.filled().is_empty()
                    })
            };
            match read {
                Poll::Ready(Ok(eof)) => {
                    if eof {
                        self.conn.receive_eof();
                    }
                }
                Poll::Ready(Err(e)) => {
                    if self.conn.state() == State::Closed {
                        self.conn.receive_eof();
                    } else {
                        return Poll::Ready(Err(Error::Io(e)));
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        crate::error::check_messages_only(&self.conn)?;
        loop {
            match ready!(self.poll_event(cx))? {
                Some(Event::Message(m)) => return Poll::Ready(Ok(Some(m))),
                Some(_) => {}
                None => return Poll::Ready(Ok(None)),
            }
        }
    }

    /// Ready to accept a message: the outgoing queue is under its limit (backpressure).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while self.conn.is_write_buffer_full() {
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_write_out(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Sink close: start the closing handshake with 1000 if nobody has, and flush.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.state() == State::Open {
            self.conn.close(CloseCode::NORMAL, "")?;
        }
        self.poll_flush(cx)
    }

    /// Ready for `op` to queue (the outgoing queue is under its limit), then queues with it.
    /// Another queuer may fill the queue between the two (the read half's automatic replies):
    /// then it waits again.
    fn poll_queue(
        &mut self,
        cx: &mut Context<'_>,
        op: &mut impl FnMut(&mut Connection) -> Result<(), crate::SendError>,
    ) -> Poll<Result<(), Error>> {
        loop {
            ready!(self.poll_ready(cx))?;
            match op(&mut self.conn) {
                Err(crate::SendError::BufferFull) => {}
                other => return Poll::Ready(Ok(other?)),
            }
        }
    }
}

/// A WebSocket over an async byte stream: `Stream<Item = Result<Message, Error>>` and
/// `Sink<Message>`.
///
/// The methods, the same as on the blocking [`WebSocket`](crate::blocking::WebSocket):
///
/// | receive | send | control | the parts |
/// |---|---|---|---|
/// | [`recv`](WebSocketStream::recv), [`recv_event`](WebSocketStream::recv_event) | [`send`](Self::send), [`send_text`](Self::send_text), [`send_binary`](Self::send_binary), [`feed`](Self::feed), [`flush`](Self::flush), [`send_frame`](Self::send_frame) | [`ping`](Self::ping), [`pong`](Self::pong), [`close`](Self::close) | [`get_ref`](Self::get_ref), [`get_mut`](Self::get_mut), [`connection`](Self::connection), [`connection_mut`](Self::connection_mut), [`into_inner`](Self::into_inner), [`split`](Self::split) |
///
/// Cancel safety (for `tokio::select!`): `recv`, `recv_event`, `feed` and `flush` are cancel
/// safe; `send`, `send_text`, `send_binary` and `send_frame` are not (dropped while flushing,
/// the message is queued and still goes out); `ping`, `pong` and `close` queue at once and then
/// flush, cancel safe as `flush` is. Each method's doc says which.
///
/// Sending waits while the outgoing queue is over [`Config::write_buffer_limit`], so a peer
/// that never reads cannot make us buffer without bound. The stream ends (`None`) when the
/// connection is over without a failure.
///
/// Dropping it (or both halves) drops the stream: the socket closes without a Close frame (the
/// peer sees an abnormal closure, 1006). To close cleanly, [`close`](Self::close), then
/// [`recv`](Self::recv) until `Ok(None)`.
#[derive(Debug)]
pub struct WebSocketStream<S> {
    inner: Inner<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Wraps a stream whose opening handshake is already done (here, or by another server such
    /// as hyper), feeding the core the bytes that followed the handshake.
    pub fn from_handshake(stream: S, role: Role, config: Config, leftover: &[u8]) -> Self {
        let mut conn = Connection::new(role, config);
        conn.receive(leftover);
        Self::from_connection(stream, conn)
    }

    /// Wraps a stream and a core connection (the reverse of [`into_inner`](Self::into_inner)).
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        Self {
            inner: Inner {
                stream,
                conn,
                origin: Instant::now(),
                timer: None,
                shut_down: false,
            },
        }
    }

    /// The core connection: state, buffered amounts, the peer's Close frame.
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// The core connection, to call what the adapter has no method for. Queue frames with it
    /// freely (they go out with the next [`flush`](Self::flush) or before the next receive
    /// waits), but leave the input and output sides to the adapter: feeding it bytes, polling
    /// its events or taking its output here would corrupt the connection.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.inner.conn
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.inner.stream
    }

    /// The underlying stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.stream
    }

    /// Takes the WebSocket apart: the stream and the core connection, which holds every byte
    /// received but not yet turned into events and every byte queued but not yet written.
    /// [`from_connection`](Self::from_connection) puts them back together.
    pub fn into_inner(self) -> (S, Connection) {
        (self.inner.stream, self.inner.conn)
    }

    /// Receives the next message. `Ok(None)`: the connection is over and did not fail (the
    /// closing handshake completed, or our Close went unanswered within
    /// [`Config::close_timeout`]; [`Connection::is_closing_handshake_complete`] tells which),
    /// and every later call says so again. An error: the connection failed
    /// ([`Error::is_closed`]), and every later call returns the same error. Pings are answered
    /// and the peer's Close is echoed on the way; what else happens arrives through
    /// [`recv_event`](WebSocketStream::recv_event).
    ///
    /// With [`Config::stream_frames`] or without [`Config::auto_pong`] the connection delivers
    /// what `recv` would have to drop (data frames, pings to answer): `recv` then reads nothing
    /// and returns [`Error::Usage`]; use `recv_event`.
    ///
    /// **Cancel safe**: dropped before it completes (a branch of `tokio::select!` that lost),
    /// it has taken no message; bytes it read stay in the connection for the next call.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.inner.poll_next_message(cx)).await
    }

    /// Receives the next event of any kind (messages, frames, pings, pongs, the peer's Close);
    /// `Ok(None)` once finished. [`Event::Failed`] comes back as [`Error::Protocol`].
    ///
    /// **Cancel safe**, as [`recv`](WebSocketStream::recv).
    pub async fn recv_event(&mut self) -> Result<Option<Event>, Error> {
        poll_fn(|cx| self.inner.poll_event(cx)).await
    }

    /// Runs `f` on the engine, with `cx`.
    fn drive<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Inner<S>, &mut Context<'_>) -> T,
    ) -> T {
        f(&mut self.inner, cx)
    }

    /// Runs `f` on the connection now.
    fn with_conn<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.inner.conn)
    }

    sending_methods!();

    /// Splits into a read half and a write half that two tasks can own. They share the
    /// connection behind a mutex that is never held across an `.await`.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        let wakers = Arc::new(BothWakers::default());
        let shared = Arc::new(Shared {
            inner: Mutex::new(self.inner),
            proxy: Waker::from(Arc::clone(&wakers)),
            wakers,
        });
        (
            ReadHalf {
                shared: Arc::clone(&shared),
            },
            WriteHalf { shared },
        )
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .inner
            .poll_next_message(cx)
            .map(Result::transpose)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_ready(cx)
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Ok(self.get_mut().inner.conn.send(&item)?)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_close(cx)
    }
}

/// The halves of a split stream share one socket, whose readiness wakes only the waker that
/// polled it last. Each half therefore polls with this proxy, which wakes both halves' tasks
/// (a spurious wake-up costs one poll; a lost one would hang a task).
#[derive(Debug, Default)]
struct BothWakers {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl BothWakers {
    fn register(&self, slot: usize, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        match &slots[slot] {
            Some(w) if w.will_wake(waker) => {}
            _ => slots[slot] = Some(waker.clone()),
        }
    }
}

impl Wake for BothWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let taken = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            [slots[0].take(), slots[1].take()]
        };
        for waker in taken.into_iter().flatten() {
            waker.wake();
        }
    }
}

#[derive(Debug)]
struct Shared<S> {
    inner: Mutex<Inner<S>>,
    wakers: Arc<BothWakers>,
    proxy: Waker,
}

const READ_SLOT: usize = 0;
const WRITE_SLOT: usize = 1;

impl<S> Shared<S> {
    /// Runs `f` on the connection with a context whose waker wakes both halves.
    fn with<T>(
        &self,
        slot: usize,
        cx: &Context<'_>,
        f: impl FnOnce(&mut Inner<S>, &mut Context<'_>) -> T,
    ) -> T {
        self.wakers.register(slot, cx.waker());
        let mut proxy_cx = Context::from_waker(&self.proxy);
        // A panic while holding the lock leaves the connection in a consistent state (each
        // change is one step of the core), so a poisoned lock is still usable.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner, &mut proxy_cx)
    }

    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The read half of a split [`WebSocketStream`]: a `Stream` of messages. It also sends the
/// core's automatic replies (Pongs, the Close echo).
#[derive(Debug)]
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
}

/// The write half of a split [`WebSocketStream`]: a `Sink` of messages.
#[derive(Debug)]
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// Receives the next message; `Ok(None)` once the connection is over without a failure. As
    /// [`WebSocketStream::recv`], cancel safe.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.shared.with(READ_SLOT, cx, Inner::poll_next_message)).await
    }

    /// Receives the next event of any kind; `Ok(None)` once finished. As
    /// [`WebSocketStream::recv_event`], cancel safe.
    pub async fn recv_event(&mut self) -> Result<Option<Event>, Error> {
        poll_fn(|cx| self.shared.with(READ_SLOT, cx, Inner::poll_event)).await
    }

    /// Runs `f` on the core connection (state, buffered amounts, the peer's Close frame), under
    /// the lock the halves share.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.lock().conn)
    }

    /// Puts the halves back together; gives them back if they come from different streams.
    pub fn reunite(self, other: WriteHalf<S>) -> Result<WebSocketStream<S>, (Self, WriteHalf<S>)> {
        if !Arc::ptr_eq(&self.shared, &other.shared) {
            return Err((self, other));
        }
        drop(other);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => Ok(WebSocketStream {
                inner: shared.inner.into_inner().unwrap_or_else(|p| p.into_inner()),
            }),
            Err(shared) => Err((
                Self {
                    shared: Arc::clone(&shared),
                },
                WriteHalf { shared },
            )),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Runs `f` on the engine, under the lock, with a context that wakes both halves.
    fn drive<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Inner<S>, &mut Context<'_>) -> T,
    ) -> T {
        self.shared.with(WRITE_SLOT, cx, f)
    }

    /// Runs `f` on the connection now, under the lock.
    fn with_conn<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.lock().conn)
    }

    sending_methods!();

    /// Runs `f` on the core connection, under the lock the halves share.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.shared.lock().conn)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for ReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared
            .with(READ_SLOT, cx, Inner::poll_next_message)
            .map(Result::transpose)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.with(WRITE_SLOT, cx, Inner::poll_ready)
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Ok(self.shared.lock().conn.send(&item)?)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.with(WRITE_SLOT, cx, Inner::poll_flush)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.with(WRITE_SLOT, cx, Inner::poll_close)
    }
}
