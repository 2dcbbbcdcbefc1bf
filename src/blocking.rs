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
//! while let Some(msg) = ws.read()? {
//!     println!("{msg:?}");
//! }
//! # Ok(()) }
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::close::CloseCode;
use crate::connection::{Connection, Event, State};
use crate::error::{Error, SendError};
use crate::handshake::{
    Accept, ClientHandshake, ClientRequest, HandshakeError, Reject, Request, Response,
    ServerHandshake,
};
use crate::message::Message;
use crate::{Config, Role, Status};

/// Bytes read from the socket per call, on the stack, so an idle connection holds no read buffer.
/// When at least this much of a frame is expected, the read goes straight into the receive
/// buffer instead ([`Connection::read_with`]), up to [`MAX_DIRECT_READ`] bytes.
const READ_CHUNK: usize = 32 * 1024;

/// The most one read straight into the receive buffer asks for (all of it is zeroed first): a
/// 64 KiB frame with the next frame's header.
const MAX_DIRECT_READ: usize = 64 * 1024 + crate::frame::FrameHeader::MAX_LEN;

/// Slices per vectored write: a burst of frames with shared payloads leaves in one `writev`.
const WRITE_SLICES: usize = 16;

/// What a blocking WebSocket needs from its byte stream beyond `Read + Write`: a way to bound a
/// read in time (for the handshake, close and keepalive timeouts) and to half-close.
///
/// Implemented for [`TcpStream`] and Unix sockets. For another stream (a TLS stream, a test
/// double) `impl Stream for MyStream {}` works: without timeouts the adapter still runs, but a
/// peer that stops answering can then only be dropped by the socket's own timeouts.
pub trait Stream: Read + Write {
    /// Bounds the next reads; `None` blocks without limit.
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
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
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl Stream for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl<S: Stream + ?Sized> Stream for &mut S {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

impl<S: Stream + ?Sized> Stream for Box<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

/// Connects to a `ws://` URL over TCP (with `TCP_NODELAY`) and performs the client handshake
/// with the default [`Config`].
pub fn connect(url: &str) -> Result<(WebSocket<TcpStream>, Response), Error> {
    connect_with(&ClientRequest::new(url)?, Config::default())
}

/// Connects as [`connect`] does, with a prepared request (origin, subprotocols, headers) and
/// a configuration.
pub fn connect_with(
    request: &ClientRequest,
    config: Config,
) -> Result<(WebSocket<TcpStream>, Response), Error> {
    let stream = TcpStream::connect(request.authority())?;
    stream.set_nodelay(true)?;
    client(stream, request, config)
}

/// Performs the client handshake (§4.1) over an already connected stream, within
/// [`Config::handshake_timeout`]: [`ClientHandshake`]'s request, response and connection.
pub fn client<S: Stream>(
    mut stream: S,
    request: &ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, Response), Error> {
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
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
/// Reads the request within [`Config::handshake_timeout`], then finishes as [`accept_request`].
///
/// See [RFC 6455 §4.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2).
pub fn accept_with<S, F>(mut stream: S, config: Config, callback: F) -> Result<WebSocket<S>, Error>
where
    S: Stream,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let mut handshake = ServerHandshake::new(config.handshake_limits);
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
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
            Err(e) if is_timeout(&e) && deadline.is_some() => continue,
            Err(e) => break Err(Error::Io(e)),
        };
        match feed(&buf[..n]) {
            Ok(Status::Complete(done)) => break Ok(done),
            Ok(Status::Partial) => {}
            Err(e) => break Err(Error::Handshake(e)),
        }
    };
    if deadline.is_some() {
        stream.set_read_timeout(None)?;
    }
    result
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A WebSocket over a blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    origin: Instant,
    /// The read timeout the application asked for (passed through).
    user_timeout: Option<Duration>,
    /// The core deadline and application timeout the stream's read timeout was last set for.
    armed: (Option<Duration>, Option<Duration>),
    shut_down: bool,
}

impl<S: Stream> WebSocket<S> {
    /// Wraps a stream whose opening handshake is already done (elsewhere, or by this module),
    /// feeding the core whatever bytes followed the handshake.
    pub fn from_handshake(
        stream: S,
        role: Role,
        config: Config,
        leftover: &[u8],
    ) -> Result<Self, Error> {
        let mut conn = Connection::new(role, config);
        conn.receive(leftover);
        Ok(Self::from_connection(stream, conn))
    }

    /// Wraps a stream and a core connection.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        Self {
            stream,
            conn,
            origin: Instant::now(),
            user_timeout: None,
            armed: (None, None),
            shut_down: false,
        }
    }

    /// The core connection (state, buffered amounts, peer's close frame).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Bounds every blocking read: a read that waits longer returns the stream's timeout error
    /// (`WouldBlock` or `TimedOut`) as [`Error::Io`]; the connection stays usable.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.user_timeout = timeout;
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Reads the next message. `Ok(None)` means the connection closed cleanly (closing
    /// handshake done, TCP closed); [`Error::Protocol`] that it failed. Pings are answered and
    /// the peer's Close is echoed on the way.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        loop {
            match self.read_event()? {
                Some(Event::Message(m)) => return Ok(Some(m)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// Reads the next event of any kind ([`Event::Ping`], [`Event::Close`], ...); `Ok(None)` once
    /// the connection is finished. [`Event::Failed`] comes back as [`Error::Protocol`], after the
    /// Close frame was sent and the socket shut down.
    pub fn read_event(&mut self) -> Result<Option<Event>, Error> {
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
            // `write` while reading a burst leave in one write call.
            self.flush()?;
            if self.conn.is_finished() {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// One read from the stream into the core, bounded by the core's next deadline.
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
        let wanted = (deadline, self.user_timeout);
        if wanted != self.armed {
            let core_wait = deadline.map(|d| d - now);
            let wait = match (core_wait, self.user_timeout) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.stream.set_read_timeout(wait)?;
            self.armed = wanted;
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
            Err(e) if is_timeout(&e) => {
                self.conn.release_read_buffer();
                let now = self.now();
                if deadline.is_some_and(|d| d <= now) {
                    self.conn.handle_timeout(now);
                } else if self.user_timeout.is_some() {
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

    /// Queues a message without writing it unless the outgoing queue is over its limit
    /// (then it writes first: backpressure). It goes out with the next [`flush`](Self::flush),
    /// or before the next [`read`](Self::read) blocks on the socket: an echo loop of `read` and
    /// `write` answers a burst of messages with one write call.
    pub fn write(&mut self, message: &Message) -> Result<(), Error> {
        loop {
            match self.conn.send(message) {
                Err(SendError::BufferFull) => self.flush_bytes()?,
                other => return Ok(other?),
            }
        }
    }

    /// Sends a message: queues it and writes it out.
    pub fn send(&mut self, message: &Message) -> Result<(), Error> {
        self.write(message)?;
        self.flush()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        loop {
            match self.conn.send_text(text) {
                Err(SendError::BufferFull) => self.flush_bytes()?,
                other => break other?,
            }
        }
        self.flush()
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        loop {
            match self.conn.send_binary(data) {
                Err(SendError::BufferFull) => self.flush_bytes()?,
                other => break other?,
            }
        }
        self.flush()
    }

    /// Sends a Ping (§5.5.2); its Pong arrives as [`Event::Pong`] from [`read_event`](Self::read_event).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.conn.ping(payload)?;
        self.flush()
    }

    /// Starts the closing handshake (§7.1.2) and sends the Close frame. Keep calling
    /// [`read`](Self::read) until it returns `Ok(None)` to complete it.
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
