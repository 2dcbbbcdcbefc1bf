//! The blocking adapter: a [`Connection`] driven over any `std::io::Read + Write`.
//!
//! It only moves bytes: every protocol decision (replies to pings and closes, close codes,
//! limits, when to shut the socket) is the core's. One thread owns one connection.
//!
//! ```no_run
//! use rfc6455::blocking;
//!
//! # fn main() -> Result<(), rfc6455::Error> {
//! let (mut ws, _response) = blocking::connect("ws://127.0.0.1:9001/chat")?;
//! ws.send_text("hello")?;
//! while let Some(msg) = ws.recv()? {
//!     println!("{msg:?}");
//! }
//! # Ok(()) }
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
#[cfg(feature = "rustls")]
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::close::CloseCode;
use crate::connection::{Connection, Event, State};
use crate::error::{is_timeout_kind, Error, SendError};
use crate::handshake::{
    Accept, ClientHandshake, ClientRequest, HandshakeError, Reject, Request, Response,
    ServerHandshake,
};
use crate::message::{DataKind, Message};
use crate::{Config, Role, Status};

/// Bytes read from the socket per call, on the stack, so an idle connection holds no read buffer.
/// When at least this much of a frame is expected, the read goes straight into the receive
/// buffer instead ([`Connection::read_with`]), up to [`MAX_DIRECT_READ`] bytes.
const READ_CHUNK: usize = 32 * 1024;

/// The most one read straight into the receive buffer asks for (all of it is zeroed first): a
/// 64 KiB frame with the next frame's header.
const MAX_DIRECT_READ: usize = 64 * 1024 + crate::frame::FrameHeader::MAX_LEN;

/// How early a socket's read timeout may fire and still count as the application's timeout:
/// the kernel keeps it in clock ticks (4 ms at 250 Hz, 10 ms at 100 Hz).
const TIMER_SLACK: Duration = Duration::from_millis(10);

/// Slices per vectored write: a burst of frames with shared payloads leaves in one `writev`.
const WRITE_SLICES: usize = 16;

/// What a blocking WebSocket needs from its byte stream beyond `Read + Write`: a way to bound a
/// read in time (for the handshake, close and keepalive timeouts) and to half-close.
///
/// Implemented for [`TcpStream`], Unix sockets, `&mut` and `Box` of a `Stream`, and, with the
/// feature `rustls`, for rustls's `StreamOwned` and `Stream` over any of these (timeouts reach
/// the socket underneath; the half-close sends `close_notify` first), so a TLS stream is used
/// as it is:
///
/// ```
/// # #[cfg(feature = "rustls")]
/// fn serve(
///     tls: rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>,
/// ) -> Result<(), rfc6455::Error> {
///     let mut ws = rfc6455::blocking::accept(tls)?;
///     while let Some(message) = ws.recv()? {
///         ws.send(message)?;
///     }
///     Ok(())
/// }
/// ```
///
/// For a stream type of your own (a test double, an in-memory pipe) every method has a default,
/// so `impl Stream for MyStream {}` is enough: the adapter still runs, but without timeouts a
/// peer that stops answering can only be dropped by the socket's own.
pub trait Stream: Read + Write {
    /// Bounds the next reads; `None` blocks without limit.
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    /// The read timeout set on the stream, by the adapter or by the application (which the
    /// adapter then honours). The default, `Unsupported`, is for streams without timeouts.
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Half-closes the stream: no more writes (TCP FIN).
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Self::read_timeout(self)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl Stream for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Self::read_timeout(self)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl<S: Stream + ?Sized> Stream for &mut S {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        (**self).read_timeout()
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

impl<S: Stream + ?Sized> Stream for Box<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        (**self).read_timeout()
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

/// rustls's blocking TLS streams over any [`Stream`] (feature `rustls`): timeouts go to the
/// socket underneath, and the half-close sends TLS's `close_notify` before the TCP FIN.
#[cfg(feature = "rustls")]
macro_rules! tls_stream {
    ($($stream:tt)*) => {
        impl<C, T, D> Stream for $($stream)*
        where
            C: core::ops::DerefMut + core::ops::Deref<Target = rustls::ConnectionCommon<D>>,
            T: Stream,
            D: rustls::SideData,
        {
            fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
                self.sock.set_read_timeout(timeout)
            }
            fn read_timeout(&self) -> io::Result<Option<Duration>> {
                self.sock.read_timeout()
            }
            fn shutdown_write(&mut self) -> io::Result<()> {
                self.conn.send_close_notify();
                self.flush()?;
                self.sock.shutdown_write()
            }
        }
    };
}
#[cfg(feature = "rustls")]
tls_stream!(rustls::StreamOwned<C, T>);
#[cfg(feature = "rustls")]
tls_stream!(rustls::Stream<'_, C, T>);

/// Connects to a `ws://` or `wss://` URL and performs the client handshake with the default
/// [`Config`]: TCP (with `TCP_NODELAY`), TLS for `wss://` (feature `rustls`, with
/// [`tls::client_config`](crate::tls::client_config)), then the HTTP upgrade.
///
/// ```no_run
/// # fn main() -> Result<(), rfc6455::Error> {
/// let (mut ws, _response) = rfc6455::blocking::connect("wss://example.com/chat")?;
/// ws.send_text("hello")?;
/// # Ok(()) }
/// ```
pub fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    connect_with(&ClientRequest::new(url)?, Config::default())
}

/// Connects as [`connect`] does, with a prepared request (origin, subprotocols, headers) and
/// a configuration. A server that refuses the upgrade shows as
/// [`HandshakeError::BadStatus`] with its status code.
///
/// [`Config::handshake_timeout`] bounds the whole: the TCP connect, the TLS handshake and the
/// HTTP upgrade (not the name lookup, which the system does without a timeout). Each step
/// fails with its own error: [`Error::Connect`], then `Error::Tls` or `Error::TlsIo` (feature
/// `rustls`), then the handshake's errors. Without the feature `rustls`, a `wss://` request
/// fails with [`HandshakeError::InvalidUrl`] before anything is sent.
pub fn connect_with(
    request: &ClientRequest,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    #[cfg(feature = "rustls")]
    if request.is_tls() {
        return connect_tls_with(request, config, crate::tls::client_config()?);
    }
    #[cfg(not(feature = "rustls"))]
    if request.is_tls() {
        return Err(crate::error::wss_without_rustls());
    }
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    let tcp = connect_tcp(request, deadline)?;
    client_until(MaybeTlsStream::Plain(tcp), request, config, deadline)
}

/// Connects as [`connect_with`] does, with a TLS configuration of your own for a `wss://` URL
/// (feature `rustls`): your roots (a private CA:
/// [`tls::client_config_with_ca_pem`](crate::tls::client_config_with_ca_pem)), client
/// certificates, a verifier that pins. A `ws://` URL connects without TLS. The server's
/// certificate is checked against the URL's host.
///
/// ```no_run
/// # fn main() -> Result<(), rfc6455::Error> {
/// use rfc6455::{blocking, handshake::ClientRequest, tls, Config};
///
/// let tls = tls::client_config_with_ca_pem(&std::fs::read("ca.pem")?)?;
/// let request = ClientRequest::new("wss://localhost:9443/")?;
/// let (mut ws, _response) = blocking::connect_tls_with(&request, Config::default(), tls)?;
/// # Ok(()) }
/// ```
#[cfg(feature = "rustls")]
pub fn connect_tls_with(
    request: &ClientRequest,
    config: Config,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    let tcp = connect_tcp(request, deadline)?;
    let stream = if request.is_tls() {
        let tls = crate::tls::client_blocking(tcp, request, tls, deadline)?;
        MaybeTlsStream::Rustls(Box::new(tls))
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    client_until(stream, request, config, deadline)
}

/// The TCP connection of a client, to each address of the host in turn, within `deadline`.
fn connect_tcp(request: &ClientRequest, deadline: Option<Instant>) -> Result<TcpStream, Error> {
    let addrs = request
        .authority()
        .to_socket_addrs()
        .map_err(Error::Connect)?;
    let mut last = None;
    for addr in addrs {
        let attempt = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(crate::error::connect_timed_out());
                }
                TcpStream::connect_timeout(&addr, left)
            }
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(Error::Connect)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Connect(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the host has no address")
    })))
}

/// What [`connect`] connects over: a TCP stream, or (feature `rustls`, `wss://`) a rustls
/// client stream over one. A [`Stream`] like any other; [`tcp`](Self::tcp) reaches the socket
/// (its address, its write timeout).
#[non_exhaustive]
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// `ws://`: the TCP stream.
    Plain(TcpStream),
    /// `wss://`: rustls over the TCP stream.
    #[cfg(feature = "rustls")]
    Rustls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            #[cfg(feature = "rustls")]
            Self::Rustls(s) => &s.sock,
        }
    }

    /// Whether the stream is TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }
}

/// Dispatches one call to the stream inside.
macro_rules! each_stream {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            MaybeTlsStream::Plain($s) => $call,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls($s) => $call,
        }
    };
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each_stream!(self, s => s.read(buf))
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each_stream!(self, s => s.write(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        each_stream!(self, s => s.write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        each_stream!(self, s => s.flush())
    }
}

impl Stream for MaybeTlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        each_stream!(self, s => Stream::set_read_timeout(s, timeout))
    }
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        each_stream!(self, s => Stream::read_timeout(s))
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        each_stream!(self, s => s.shutdown_write())
    }
}

/// Performs the client handshake (§4.1) over an already connected stream, within
/// [`Config::handshake_timeout`]: [`ClientHandshake`]'s request, response and connection.
pub fn client<S: Stream>(
    stream: S,
    request: &ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, Response), Error> {
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    client_until(stream, request, config, deadline)
}

/// [`client`], within `deadline`.
fn client_until<S: Stream>(
    mut stream: S,
    request: &ClientRequest,
    config: Config,
    deadline: Option<Instant>,
) -> Result<(WebSocket<S>, Response), Error> {
    let (mut handshake, bytes) = ClientHandshake::new(request, config);
    stream.write_all(&bytes)?;
    stream.flush()?;
    let response = read_handshake(&mut stream, deadline, |data| handshake.receive(data))?;
    let conn = handshake.into_connection(&response)?;
    Ok((WebSocket::from_connection(stream, conn), response))
}

/// Accepts a WebSocket connection: reads the client's request, checks every rule of §4.2.1 and
/// answers 101 (or the error response, returning the error).
pub fn accept<S: Stream>(stream: S) -> Result<WebSocket<S>, Error> {
    accept_with(stream, Config::default(), |_| Ok(Accept::new()))
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
/// See [RFC 6455 §4.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2).
pub fn accept_with<S, F>(stream: S, config: Config, callback: F) -> Result<WebSocket<S>, Error>
where
    S: Stream,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    accept_until(stream, config, callback, deadline)
}

/// Accepts a WebSocket connection over TLS (feature `rustls`) with the default [`Config`]: the
/// TLS handshake with `tls` (for example from
/// [`tls::server_config_from_pem`](crate::tls::server_config_from_pem)), then the WebSocket
/// handshake as in [`accept`], both within [`Config::handshake_timeout`].
///
/// A client that fails the TLS handshake gives `Error::Tls` (rustls's verdict: it does not
/// speak TLS, or sent an alert) or `Error::TlsIo` (it closed the connection, or the timeout ran
/// out).
#[cfg(feature = "rustls")]
pub fn accept_tls<S: Stream>(
    stream: S,
    tls: Arc<rustls::ServerConfig>,
) -> Result<WebSocket<rustls::StreamOwned<rustls::ServerConnection, S>>, Error> {
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
) -> Result<WebSocket<rustls::StreamOwned<rustls::ServerConnection, S>>, Error>
where
    S: Stream,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    let stream = crate::tls::server_blocking(stream, tls, deadline)?;
    accept_until(stream, config, callback, deadline)
}

/// [`accept_with`], within `deadline`.
fn accept_until<S, F>(
    mut stream: S,
    config: Config,
    callback: F,
    deadline: Option<Instant>,
) -> Result<WebSocket<S>, Error>
where
    S: Stream,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let mut handshake = ServerHandshake::new(config.handshake_limits);
    let request = match read_handshake(&mut stream, deadline, |data| handshake.receive(data)) {
        Ok(request) => request,
        Err(Error::Handshake(e)) => {
            if let Some(response) = e.response() {
                let _ = stream.write_all(&response);
            }
            return Err(Error::Handshake(e));
        }
        Err(e) => return Err(e),
    };
    accept_request(
        stream,
        &request,
        &handshake.take_leftover(),
        config,
        callback,
    )
}

/// Finishes the server handshake for a request already read, for example by a server that also
/// serves plain HTTP on the port ([`ServerHandshake`], [`Request::is_upgrade`]): answers it with
/// [`Request::answer`] (checks, `callback`, extensions), writes the response, and on a 101
/// starts the connection with `leftover`, the bytes that followed the request
/// ([`ServerHandshake::take_leftover`]).
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
pub fn accept_request<S, F>(
    mut stream: S,
    request: &Request,
    leftover: &[u8],
    config: Config,
    callback: F,
) -> Result<WebSocket<S>, Error>
where
    S: Stream,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let answer = request.answer(config, callback);
    stream.write_all(&answer.response)?;
    stream.flush()?;
    let conn = answer.result?.into_connection(leftover);
    Ok(WebSocket::from_connection(stream, conn))
}

/// Reads until `feed` completes, within `deadline`.
fn read_handshake<S: Stream, T>(
    stream: &mut S,
    deadline: Option<Instant>,
    mut feed: impl FnMut(&[u8]) -> Result<Status<T>, HandshakeError>,
) -> Result<T, Error> {
    // A read timeout the application set on the socket is put back afterwards: the adapter
    // honours it once the connection is open.
    let theirs = stream.read_timeout().ok().flatten();
    let mut buf = [0u8; 4096];
    let result = loop {
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(Error::HandshakeTimeout);
            }
            stream.set_read_timeout(Some(left))?;
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => break Err(Error::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout_kind(e.kind()) && deadline.is_some() => continue,
            Err(e) => break Err(Error::Io(e)),
        };
        match feed(&buf[..n]) {
            Ok(Status::Complete(done)) => break Ok(done),
            Ok(Status::Partial) => {}
            Err(e) => break Err(Error::Handshake(e)),
        }
    };
    if deadline.is_some() {
        stream.set_read_timeout(theirs)?;
    }
    result
}

/// A WebSocket over a blocking stream: one thread owns it and calls [`recv`](Self::recv) in a
/// loop, sending in between.
///
/// The methods, the same as on the async [`WebSocketStream`](crate::tokio::WebSocketStream):
///
/// | receive | send | control | the parts |
/// |---|---|---|---|
/// | [`recv`](Self::recv), [`recv_event`](Self::recv_event) | [`send`](Self::send), [`send_text`](Self::send_text), [`send_binary`](Self::send_binary), [`feed`](Self::feed), [`flush`](Self::flush), [`send_frame`](Self::send_frame) | [`ping`](Self::ping), [`pong`](Self::pong), [`close`](Self::close) | [`get_ref`](Self::get_ref), [`get_mut`](Self::get_mut), [`connection`](Self::connection), [`connection_mut`](Self::connection_mut), [`into_inner`](Self::into_inner) |
///
/// Timeouts: the adapter bounds its reads by the core's deadlines (keepalive, close timeout)
/// through the stream's read timeout. A read timeout of the application's own, set with
/// [`set_read_timeout`](Self::set_read_timeout) or on the socket itself
/// (`ws.get_ref().set_read_timeout(..)`), ends a read that waits longer with an error for
/// which [`Error::is_timeout`] is true; the connection stays usable and keepalive goes on.
///
/// Dropping it drops the stream: the socket closes without a Close frame (the peer sees an
/// abnormal closure, 1006). To close cleanly, [`close`](Self::close), then
/// [`recv`](Self::recv) until `Ok(None)`.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    origin: Instant,
    /// The read timeout the application asked for, on the adapter or on the socket.
    user_timeout: Option<Duration>,
    /// The core deadline and application timeout the stream's read timeout was last set for;
    /// `None`: to be set at the next read.
    armed: Option<(Option<Duration>, Option<Duration>)>,
    /// The read timeout the adapter last set on the stream: a different one there was set by
    /// the application.
    set: Option<Duration>,
    shut_down: bool,
}

impl<S: Stream> WebSocket<S> {
    /// Wraps a stream whose opening handshake is already done (elsewhere, or by this module),
    /// feeding the core whatever bytes followed the handshake.
    pub fn from_handshake(stream: S, role: Role, config: Config, leftover: &[u8]) -> Self {
        let mut conn = Connection::new(role, config);
        conn.receive(leftover);
        Self::from_connection(stream, conn)
    }

    /// Wraps a stream and a core connection (the reverse of [`into_inner`](Self::into_inner)).
    ///
    /// A read timeout already set on the stream is the application's: reads that wait longer
    /// end with a timeout error.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        let user_timeout = stream.read_timeout().ok().flatten();
        Self {
            stream,
            conn,
            origin: Instant::now(),
            user_timeout,
            // A stream without a read timeout is as the adapter wants it while no deadline is set.
            armed: user_timeout.is_none().then_some((None, None)),
            set: user_timeout,
            shut_down: false,
        }
    }

    /// The core connection: state, buffered amounts, the peer's Close frame.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The core connection, to call what the adapter has no method for. Queue frames with it
    /// freely (they go out with the next [`flush`](Self::flush) or before the next read
    /// blocks), but leave the input and output sides to the adapter: feeding it bytes, polling
    /// its events or taking its output here would corrupt the connection.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Takes the WebSocket apart: the stream and the core connection, which holds every byte
    /// received but not yet turned into events and every byte queued but not yet written.
    /// [`from_connection`](Self::from_connection) puts them back together.
    pub fn into_inner(self) -> (S, Connection) {
        (self.stream, self.conn)
    }

    /// Bounds every blocking read: a read that waits longer returns an error for which
    /// [`Error::is_timeout`] is true; the connection stays usable. Setting the timeout on the
    /// socket (`ws.get_ref().set_read_timeout(..)`) does the same.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.user_timeout = timeout;
        self.armed = None;
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Receives the next message. `Ok(None)`: the connection is over and did not fail (the
    /// closing handshake completed, or our Close went unanswered within
    /// [`Config::close_timeout`]; [`Connection::is_closing_handshake_complete`] tells which),
    /// and every later call says so again. An error for which [`Error::is_closed`] is true: the
    /// connection failed, and every later call returns the same error. An error for which only
    /// [`Error::is_timeout`] is true: a read timeout of the application's ran out, and the
    /// connection goes on. Pings are answered and the peer's Close is echoed on the way; what
    /// else happens arrives through [`recv_event`](Self::recv_event).
    ///
    /// With [`Config::stream_frames`] or without [`Config::auto_pong`] the connection delivers
    /// what `recv` would have to drop (data frames, pings to answer): `recv` then reads nothing
    /// and returns [`Error::Usage`]; use `recv_event`.
    pub fn recv(&mut self) -> Result<Option<Message>, Error> {
        crate::error::check_messages_only(&self.conn)?;
        loop {
            match self.recv_event()? {
                Some(Event::Message(m)) => return Ok(Some(m)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// Receives the next event of any kind ([`Event::Ping`], [`Event::Close`],
    /// [`Event::Frame`], ...); `Ok(None)` once the connection is over, as for
    /// [`recv`](Self::recv). [`Event::Failed`] comes back as [`Error::Protocol`], after the
    /// Close frame was sent and the socket shut down, and again from every later call.
    pub fn recv_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            if let Some(event) = self.conn.poll_event() {
                if let Event::Failed(e) = event {
                    self.finish_after_failure();
                    return Err(Error::Protocol(e));
                }
                if !matches!(event, Event::Message(_) | Event::Frame(_)) {
                    // Replies the core queued (a Pong, the Close echo) go out now.
                    self.flush()?;
                }
                return Ok(Some(event));
            }
            // Everything queued goes out before we block on the socket: messages queued with
            // `feed` while reading a burst leave in one write call.
            self.flush()?;
            if self.conn.is_finished() {
                return crate::error::finished(&self.conn).map(|()| None);
            }
            self.fill()?;
        }
    }

    /// One read from the stream into the core, bounded by the core's next deadline and the
    /// application's read timeout.
    ///
    /// The stream's read timeout is only changed when the deadline (or the application's
    /// timeout) changes, not before every read, so a read may end up to one timeout late.
    fn fill(&mut self) -> Result<(), Error> {
        let now = self.now();
        let deadline = self.conn.poll_timeout();
        if deadline.is_some_and(|d| d <= now) {
            self.conn.handle_timeout(now);
            return Ok(());
        }
        let mut wanted = (deadline, self.user_timeout);
        if self.user_timeout.is_some() || self.armed != Some(wanted) {
            // Before the adapter sets the socket's timeout, and before every read of an
            // application that manages timeouts (one `getsockopt`, for those only): notice a
            // timeout the application set, changed or removed on the socket itself.
            self.adopt_socket_timeout();
            wanted = (deadline, self.user_timeout);
        }
        if self.armed != Some(wanted) {
            let core_wait = deadline.map(|d| d - now);
            let wait = match (core_wait, self.user_timeout) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.stream.set_read_timeout(wait)?;
            // As the stream reports it: the kernel rounds it (to its clock ticks).
            self.set = self.stream.read_timeout().unwrap_or(wait);
            self.armed = Some(wanted);
        }
        let stream = &mut self.stream;
        // A large frame is arriving, or likely next: read straight into its buffer.
        let read = match self
            .conn
            .read_with(READ_CHUNK, MAX_DIRECT_READ, |buf| stream.read(buf))
        {
            Some(read) => read,
            None => {
                let mut buf = [0u8; READ_CHUNK];
                let read = stream.read(&mut buf);
                if let Ok(n) = read {
                    self.conn.receive(&buf[..n]);
                }
                read
            }
        };
        match read {
            Ok(0) => self.conn.receive_eof(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout_kind(e.kind()) => {
                self.conn.release_read_buffer();
                self.adopt_socket_timeout();
                let waited = self.now() - now;
                if deadline.is_some_and(|d| d <= now + waited) {
                    self.conn.handle_timeout(now + waited);
                }
                // The application's timeout ran out (not only the core's deadline). A read that
                // ended before both (the kernel keeps timeouts in clock ticks, and may wake a tick
                // early) is read again, with what is left.
                if self.user_timeout.is_some_and(|t| waited + TIMER_SLACK >= t) {
                    return Err(Error::Io(e));
                }
            }
            Err(e) => {
                if self.conn.state() == State::Closed {
                    // The peer reset the connection after the close: nothing left to read.
                    self.conn.receive_eof();
                    return Ok(());
                }
                return Err(Error::Io(e));
            }
        }
        Ok(())
    }

    /// A read timeout on the stream other than the one the adapter set was set by the
    /// application: it becomes the application's timeout (`None` removes it).
    fn adopt_socket_timeout(&mut self) {
        if let Ok(on_socket) = self.stream.read_timeout() {
            if on_socket != self.set {
                self.user_timeout = on_socket;
                self.set = on_socket;
                // The socket no longer has the core's deadline: set it again at the next read.
                self.armed = None;
            }
        }
    }

    /// After a failure: send our Close, shut down, and let the peer close (bounded by the close
    /// timeout) so the Close is not lost to a TCP reset. Errors no longer matter here.
    fn finish_after_failure(&mut self) {
        for _ in 0..1024 {
            if self.flush().is_err() || self.conn.is_finished() || self.fill().is_err() {
                break;
            }
            while self.conn.poll_event().is_some() {}
        }
    }

    /// Queues with `op`, writing first while the outgoing queue is over
    /// [`Config::write_buffer_limit`] (backpressure).
    fn queue(
        &mut self,
        mut op: impl FnMut(&mut Connection) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        loop {
            match op(&mut self.conn) {
                Err(SendError::BufferFull) => self.flush_bytes()?,
                other => return Ok(other?),
            }
        }
    }

    /// Queues a message without writing it, unless the outgoing queue is over its limit (then
    /// it writes first: backpressure). It goes out with the next [`flush`](Self::flush), or
    /// before the next [`recv`](Self::recv) blocks on the socket: an echo loop of `recv` and
    /// `feed` answers a burst of messages with one write call.
    pub fn feed(&mut self, message: Message) -> Result<(), Error> {
        self.queue(|conn| conn.send(&message))
    }

    /// Sends a message in one frame: queues it and writes everything queued. A server sends a
    /// large payload without copying it.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message)?;
        self.flush()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.queue(|conn| conn.send_text(text))?;
        self.flush()
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.queue(|conn| conn.send_binary(data))?;
        self.flush()
    }

    /// Sends one frame of a message streamed in fragments (§5.4), with the same backpressure
    /// as [`send`](Self::send): the first call starts a message of `kind`, the next continue it
    /// (same `kind`), and the one with `fin` ends it. See [`Connection::send_frame`].
    pub fn send_frame(&mut self, kind: DataKind, data: &[u8], fin: bool) -> Result<(), Error> {
        self.queue(|conn| conn.send_frame(kind, data, fin))?;
        self.flush()
    }

    /// Sends a Ping (§5.5.2); its Pong arrives as [`Event::Pong`] from
    /// [`recv_event`](Self::recv_event).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.conn.ping(payload)?;
        self.flush()
    }

    /// Sends a Pong (§5.5.3): the answer to an [`Event::Ping`] when [`Config::auto_pong`] is
    /// off (§5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
    /// response"; echo its payload), or an unsolicited heartbeat.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.conn.pong(payload)?;
        self.flush()
    }

    /// Starts the closing handshake (§7.1.2) and sends the Close frame. Keep calling
    /// [`recv`](Self::recv) until it returns `Ok(None)` to complete it.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(code, reason)?;
        self.flush()
    }

    /// Writes everything queued, then half-closes the socket if the core says so (§7.1.1).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.flush_bytes()?;
        if self.conn.wants_shutdown() && !self.shut_down {
            self.shut_down = true;
            // The peer may be gone already; the connection is over either way.
            let _ = self.stream.shutdown_write();
        }
        Ok(())
    }

    fn flush_bytes(&mut self) -> Result<(), Error> {
        let mut wrote = false;
        loop {
            let mut parts: [&[u8]; WRITE_SLICES] = [&[]; WRITE_SLICES];
            let n = self.conn.data_to_send_vectored(&mut parts);
            if n == 0 {
                break;
            }
            // One slice, or a frame header beside its shared payload and the frames after it.
            match self.stream.write_vectored(&parts.map(IoSlice::new)[..n]) {
                Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.conn.mark_sent(n);
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        if wrote {
            self.stream.flush()?;
        }
        Ok(())
    }
}
