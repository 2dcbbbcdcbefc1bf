//! The connection state machine (RFC 6455 §5.4-§5.6, §6, §7, §8): bytes in, events out;
//! application messages in, bytes out. No I/O, no clock, no hidden randomness.
//!
//! This file reads top to bottom: the types, then [`Connection`]'s getters, the network input
//! and the events it yields, the application's commands, the network output, and time. How
//! the connection ends (§7) is one type of its own, in `closing.rs`; how much the adapters read
//! into the receive buffer at once (performance, not protocol) is in `receive_buffer.rs`.

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rand::RngCore;

use crate::close::{CloseCode, CloseFrame, MAX_REASON_LEN};
use crate::config::Config;
use crate::error::{ProtocolError, SendError};
use crate::frame::{apply_mask, FrameHeader, MaskKey, Opcode, MAX_CONTROL_PAYLOAD, RSV1};
use crate::message::{DataFrame, DataKind, Message, Text};
use crate::outgoing::{encode_frame, frame_len_at, OutQueue, SHARE_MIN};
use crate::utf8::Utf8Validator;
use crate::{Role, Status};

mod closing;
mod receive_buffer;

use closing::Closing;

/// Where the connection is in its life (RFC 6455 §4.1 "_The WebSocket Connection is
/// Established_", §7.1.3 "_The WebSocket Closing Handshake is Started_", §7.1.4 "_The WebSocket
/// Connection is Closed_").
///
/// See [RFC 6455 §7](https://www.rfc-editor.org/rfc/rfc6455#section-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// A Close frame was sent and the peer's is awaited (§7.1.3). Incoming data is still delivered.
    Closing,
    /// Both Close frames were exchanged, the connection failed, the close timed out, or the TCP
    /// connection ended. Nothing more is received or sent, apart from draining
    /// [`data_to_send`](Connection::data_to_send).
    Closed,
}

/// Something that happened on the connection, returned by [`Connection::poll_event`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete data message (§5.6), reassembled from its fragments (§5.4).
    Message(Message),
    /// One data frame, in [`Config::stream_frames`] mode only.
    Frame(DataFrame),
    /// A Ping arrived (§5.5.2). With [`Config::auto_pong`] the Pong is already queued.
    Ping(Bytes),
    /// A Pong arrived (§5.5.3).
    Pong(Bytes),
    /// The peer's Close frame arrived (§5.5.1); `None` when it carried no status code (1005).
    /// If we had not sent a Close frame yet, the reply is already queued (§5.5.1: "If an
    /// endpoint receives a Close frame and did not previously send a Close frame, the endpoint
    /// MUST send a Close frame in response").
    Close(Option<CloseFrame>),
    /// The connection failed (§7.1.7): the peer broke a rule, or went away without a closing
    /// handshake ([`ProtocolError::UnexpectedEof`]). A Close frame with
    /// [`ProtocolError::close_code`] is queued where the RFC asks for one. This is the last event.
    Failed(ProtocolError),
}

/// A timer that is off, due to be started at the next [`Connection::handle_timeout`], or set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Off,
    Unarmed,
    At(Duration),
}

impl Timer {
    fn deadline(self) -> Option<Duration> {
        match self {
            Self::Off => None,
            Self::Unarmed => Some(Duration::ZERO),
            Self::At(t) => Some(t),
        }
    }

    fn arm(&mut self, now: Duration, after: Duration) {
        if *self == Self::Unarmed {
            *self = Self::At(now.saturating_add(after));
        }
    }

    fn expired(self, now: Duration) -> bool {
        matches!(self, Self::At(t) if now >= t)
    }
}

/// The message being received.
#[derive(Debug)]
struct Incoming {
    kind: DataKind,
    utf8: Utf8Validator,
    /// Sum of the declared payload lengths of its frames so far.
    size: u64,
    /// Number of its frames whose header has been read.
    fragments: usize,
    /// The payloads of its completed frames (messages mode, fragmented messages only).
    buf: BytesMut,
    /// Sent with RSV1 on its first frame: compressed with permessage-deflate (RFC 7692 §6).
    compressed: bool,
    /// The inflated payload so far (compressed messages, messages mode).
    #[cfg(feature = "deflate")]
    inflated: Vec<u8>,
}

/// What the reader expects next.
#[derive(Debug, Clone, Copy)]
enum ReadState {
    Header,
    /// Inside a frame's payload: the next `len` bytes of the read buffer; the first `done` of
    /// them are already unmasked and validated.
    Payload {
        header: FrameHeader,
        len: usize,
        done: usize,
    },
}

/// A WebSocket connection, client or server, after the opening handshake: a sans-IO state
/// machine that never touches a socket or a clock.
///
/// The driver (an adapter, or your own event loop) does four things, in any order:
///
/// - **network input**: [`receive`](Self::receive) the bytes it read, [`receive_eof`](Self::receive_eof)
///   when the peer closed the TCP connection;
/// - **events**: call [`poll_event`](Self::poll_event) until it returns `None` after each input;
/// - **network output**: write [`data_to_send`](Self::data_to_send) to the socket and report how
///   much was written with [`mark_sent`](Self::mark_sent) (partial writes are fine; with
///   [`data_to_send_vectored`](Self::data_to_send_vectored), a large payload a server sends goes
///   out beside its header in one `writev`, without being copied); half-close the
///   socket when [`wants_shutdown`](Self::wants_shutdown) says so, and drop it once
///   [`is_finished`](Self::is_finished);
/// - **time**: call [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout)'s
///   deadline passes. Time is a `Duration` since any fixed origin the driver picks.
///
/// The application's commands ([`send_text`](Self::send_text), [`send`](Self::send),
/// [`ping`](Self::ping), [`close`](Self::close), ...) append frames to the outgoing queue.
///
/// ```
/// use rfc6455::{Connection, Config, Event, Message, Role};
///
/// let mut client = Connection::new(Role::Client, Config::default());
/// let mut server = Connection::new(Role::Server, Config::default());
/// client.send_text("hello").unwrap();
/// // "write" the client's bytes into the server
/// let n = client.data_to_send().len();
/// server.receive(client.data_to_send());
/// client.mark_sent(n);
/// assert_eq!(server.poll_event(), Some(Event::Message(Message::text("hello"))));
/// ```
///
/// See [RFC 6455 §5](https://www.rfc-editor.org/rfc/rfc6455#section-5) and
/// [§7](https://www.rfc-editor.org/rfc/rfc6455#section-7).
pub struct Connection {
    role: Role,
    config: Config,
    /// Source of client masking keys; `None` for servers, which never mask.
    rng: Option<Box<dyn RngCore + Send>>,

    // Input.
    rbuf: BytesMut,
    read: ReadState,
    /// Length on the wire (header and payload) of the last data frame whose header arrived: the
    /// likely size of the next one, for reading it straight into its buffer (`read_room`).
    /// Four bytes, saturating: `read_room` only weighs it against sizes far below 4 GiB
    /// (`READ_AHEAD`, `NEXT_FRAME_AHEAD`, the adapters' `min_read`).
    last_frame_len: u32,
    incoming: Option<Incoming>,
    pending: Option<Event>,

    // Output: data frames (and Close) in order in `out`; Ping and Pong in `ctrl`, which goes out
    // ahead of queued data frames but never inside one.
    out: OutQueue,
    ctrl: Vec<u8>,
    ctrl_head: usize,
    /// Start, in `ctrl`, of a Pong that has not begun to go out (for coalescing, §5.5.3).
    ctrl_pong: Option<usize>,
    /// The kind of a fragmented message we are sending.
    outgoing: Option<DataKind>,

    /// The Close frames exchanged, a failure, the TCP close, the close timeout (§7).
    closing: Closing,

    /// permessage-deflate state, when negotiated (RFC 7692). Boxed: it is most of a
    /// `Connection`'s size, and most connections do without it.
    #[cfg(feature = "deflate")]
    deflate: Option<Box<crate::deflate::DeflateCodec>>,

    // Keepalive.
    ping_timer: Timer,
    pong_deadline: Option<Duration>,
    /// A whole frame arrived since the last keepalive check. Whole frames, not bytes: a peer that
    /// drips a frame one byte at a time (slowloris) is idle as far as keepalive is concerned.
    rx_activity: bool,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state())
            .field("buffered_in", &self.rbuf.len())
            .field("buffered_out", &self.buffered_amount())
            .finish_non_exhaustive()
    }
}

/// Queued Ping/Pong bytes beyond which pongs coalesce (§5.5.3): about 30 full-size pongs.
const CTRL_QUEUE_LIMIT: usize = 4096;

impl Connection {
    /// A connection for `role`, its client masks drawn from a CSPRNG seeded by the OS
    /// (§5.3: the masking key "MUST be derived from a strong source of entropy").
    #[cfg(feature = "std")]
    pub fn new(role: Role, config: Config) -> Self {
        let rng: Option<Box<dyn RngCore + Send>> = match role {
            Role::Client => {
                use rand::SeedableRng;
                Some(Box::new(rand::rngs::StdRng::from_rng(&mut rand::rng())))
            }
            Role::Server => None,
        };
        Self::build(role, config, rng)
    }

    /// A connection whose client masking keys come from `rng` (deterministic tests, or `no_std`
    /// targets with their own entropy source): each frame's key is `rng.next_u32().to_ne_bytes()`.
    /// A server ignores it.
    pub fn with_rng(role: Role, config: Config, rng: Box<dyn RngCore + Send>) -> Self {
        let rng = match role {
            Role::Client => Some(rng),
            Role::Server => None,
        };
        Self::build(role, config, rng)
    }

    /// A server connection, which never masks and so needs no randomness (the handshake's
    /// [`Accepted::into_connection`](crate::handshake::Accepted::into_connection), also without `std`).
    pub(crate) fn server(config: Config) -> Self {
        Self::build(Role::Server, config, None)
    }

    fn build(role: Role, config: Config, rng: Option<Box<dyn RngCore + Send>>) -> Self {
        let ping_timer = if config.keepalive_interval.is_some() {
            Timer::Unarmed
        } else {
            Timer::Off
        };
        Self {
            role,
            config,
            rng,
            rbuf: BytesMut::new(),
            last_frame_len: 0,
            read: ReadState::Header,
            incoming: None,
            pending: None,
            out: OutQueue::new(),
            ctrl: Vec::new(),
            ctrl_head: 0,
            ctrl_pong: None,
            outgoing: None,
            closing: Closing::new(),
            #[cfg(feature = "deflate")]
            deflate: None,
            ping_timer,
            pong_deadline: None,
            rx_activity: false,
        }
    }

    /// Turns on permessage-deflate with parameters negotiated in the opening handshake (RFC 7692);
    /// [`Accepted::into_connection`](crate::handshake::Accepted::into_connection) and
    /// [`ClientHandshake::into_connection`](crate::handshake::ClientHandshake::into_connection)
    /// do this for you. Messages of at least the configured threshold are sent compressed (RSV1 on
    /// their first frame); compressed messages are inflated as their frames arrive, within
    /// [`Config::max_message_size`].
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, codec: crate::deflate::DeflateCodec) -> Self {
        self.deflate = Some(Box::new(codec));
        self
    }

    /// Whether a compression extension is in use on this connection.
    pub fn is_compressed(&self) -> bool {
        #[cfg(feature = "deflate")]
        {
            self.deflate.is_some()
        }
        #[cfg(not(feature = "deflate"))]
        {
            false
        }
    }

    // ---------------------------------------------------------------- A. getters

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Open, closing or closed.
    pub fn state(&self) -> State {
        self.closing.state()
    }

    /// The peer's Close frame, once it arrived and carried a status code.
    pub fn peer_close_frame(&self) -> Option<&CloseFrame> {
        self.closing.peer_close_frame()
    }

    /// Why the connection failed (§7.1.7), once it did for a rule the peer broke, a keepalive
    /// that went unanswered or a TCP close without a closing handshake: the error
    /// [`Event::Failed`] reported, kept so that a driver can report it again. `None` while the
    /// connection has not failed, and after [`fail_with`](Self::fail_with) (the application's
    /// own decision).
    pub fn failure(&self) -> Option<&ProtocolError> {
        self.closing.failure()
    }

    /// Whether the closing handshake completed: both Close frames were exchanged (§7.1.3).
    pub fn is_closing_handshake_complete(&self) -> bool {
        self.closing.is_handshake_complete()
    }

    /// Bytes queued for the socket.
    pub fn buffered_amount(&self) -> usize {
        self.out.len() + (self.ctrl.len() - self.ctrl_head)
    }

    /// Whether nothing is waiting to be written.
    pub fn is_flushed(&self) -> bool {
        self.buffered_amount() == 0
    }

    /// Whether `send_*` would refuse data now because the outgoing queue is over
    /// [`Config::write_buffer_limit`] (backpressure: drain first).
    pub fn is_write_buffer_full(&self) -> bool {
        self.buffered_amount() > self.config.write_buffer_limit
    }

    /// Bytes received but not yet turned into events.
    pub fn buffered_incoming(&self) -> usize {
        self.rbuf.len()
    }

    /// Whether the driver should half-close (shut down the write side of) the TCP connection,
    /// once [`data_to_send`](Self::data_to_send) is empty.
    ///
    /// §7.1.1: "the underlying TCP connection, in most normal cases, SHOULD be closed first by
    /// the server". So a server wants it as soon as the connection is closed; a client waits for
    /// the server to close, and wants it only when the connection failed or the server did not
    /// close within [`Config::close_timeout`].
    pub fn wants_shutdown(&self) -> bool {
        self.is_flushed() && self.closing.wants_shutdown(self.role)
    }

    /// Whether the driver can drop the TCP connection: the connection is closed, everything is
    /// flushed, and either the peer closed its side, or the close timeout ran out, or we are the
    /// server and the closing handshake is complete (§7.1.1: "After both sending and receiving
    /// a Close message ... The server MUST close the underlying TCP connection immediately").
    /// After a failure a server still waits for the client (bounded by the close timeout), so
    /// that our Close frame is not lost to a reset.
    pub fn is_finished(&self) -> bool {
        self.is_flushed() && self.closing.is_finished(self.role)
    }

    // ---------------------------------------------------------------- B. network input

    /// Feeds bytes read from the socket. Never fails: a violation shows up as
    /// [`Event::Failed`] from [`poll_event`](Self::poll_event). Call `poll_event` next.
    ///
    /// After the peer's Close frame, a failure or the end of input, bytes are discarded
    /// (§7.1.7: "An endpoint MUST NOT continue to attempt to process data ... after being
    /// instructed to _Fail the WebSocket Connection_").
    pub fn receive(&mut self, data: &[u8]) {
        if !self.closing.takes_bytes() {
            return;
        }
        self.reserve_for_payload();
        self.rbuf.extend_from_slice(data);
    }

    /// The peer closed its side of the TCP connection (a read returned 0). Call
    /// [`poll_event`](Self::poll_event) next: complete frames still buffered are delivered, then
    /// [`Event::Failed`] with [`ProtocolError::UnexpectedEof`] unless the peer's Close frame came.
    pub fn receive_eof(&mut self) {
        self.closing.tcp_closed();
    }

    // ---------------------------------------------------------------- B. events: frames in, events out

    /// The next event, or `None` when more input is needed. Call it until `None` after every
    /// [`receive`](Self::receive), [`receive_eof`](Self::receive_eof) and
    /// [`handle_timeout`](Self::handle_timeout); then write [`data_to_send`](Self::data_to_send),
    /// since events may have queued replies.
    #[must_use = "events carry the messages; poll until None"]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.pending.take() {
            return Some(event);
        }
        loop {
            if !self.closing.reads_frames() {
                return None;
            }
            match self.read {
                ReadState::Header => {
                    let (header, n) = match FrameHeader::decode(&self.rbuf) {
                        Ok(Status::Complete(h)) => h,
                        Ok(Status::Partial) => return self.need_more(),
                        Err(e) => return Some(self.fail(e)),
                    };
                    let len = match self.accept_header(&header) {
                        Ok(len) => len,
                        Err(e) => return Some(self.fail(e)),
                    };
                    self.rbuf.advance(n);
                    if !header.opcode.is_control() {
                        let wire_len = len.saturating_add(n);
                        self.last_frame_len = u32::try_from(wire_len).unwrap_or(u32::MAX);
                    }
                    self.read = ReadState::Payload {
                        header,
                        len,
                        done: 0,
                    };
                }
                ReadState::Payload { header, len, done } => {
                    let avail = self.rbuf.len().min(len);
                    if header.opcode.is_control() {
                        if avail < len {
                            return self.need_more();
                        }
                        let mut payload = self.rbuf.split_to(len);
                        if let Some(key) = header.mask {
                            apply_mask(&mut payload, key, 0);
                        }
                        self.read = ReadState::Header;
                        self.rx_activity = true;
                        if let Some(event) = self.on_control(header.opcode, payload.freeze()) {
                            return Some(event);
                        }
                        continue;
                    }
                    if avail > done {
                        if let Err(e) = self.unmask_and_check(header.mask, done, avail) {
                            return Some(self.fail(e));
                        }
                        self.read = ReadState::Payload {
                            header,
                            len,
                            done: avail,
                        };
                    }
                    if avail < len {
                        return self.need_more();
                    }
                    let payload = self.rbuf.split_to(len).freeze();
                    self.read = ReadState::Header;
                    self.rx_activity = true;
                    if let Some(event) = self.on_data(header.fin, payload) {
                        return Some(event);
                    }
                }
            }
        }
    }

    /// Out of complete input: at the end of the stream this is an abnormal closure.
    fn need_more(&mut self) -> Option<Event> {
        if self.closing.ended_without_close() {
            self.closing.fail(Some(ProtocolError::UnexpectedEof));
            return Some(Event::Failed(ProtocolError::UnexpectedEof));
        }
        None
    }

    /// Checks the rules a header must follow on this connection, and starts or extends the
    /// incoming message. Returns the payload length as a `usize` within the limits.
    fn accept_header(&mut self, h: &FrameHeader) -> Result<usize, ProtocolError> {
        // §5.2: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an extension is negotiated that
        // defines meanings for non-zero values. If a nonzero value is received and none of the
        // negotiated extensions defines the meaning of such a nonzero value, the receiving
        // endpoint MUST _Fail the WebSocket Connection_."
        // RFC 7692 §6: with permessage-deflate, RSV1 marks a compressed message on its first
        // frame; §6.1: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control frames
        // and non-first fragments of a data message. An endpoint receiving such a frame MUST _Fail
        // the WebSocket Connection_."
        let allowed = if self.is_compressed() && matches!(h.opcode, Opcode::Text | Opcode::Binary) {
            RSV1
        } else {
            0
        };
        if h.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBits(h.rsv));
        }
        // §5.1: "a client MUST mask all frames that it sends to the server ... The server MUST
        // close the connection upon receiving a frame that is not masked", and "A server MUST NOT
        // mask any frames that it sends to the client. A client MUST close a connection if it
        // detects a masked frame."
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        if h.opcode.is_control() {
            // decode() already held it to 125 bytes.
            return Ok(h.payload_len as usize);
        }
        if h.payload_len > self.config.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooBig {
                len: h.payload_len,
                max: self.config.max_frame_size,
            });
        }
        let len = h.payload_len as usize;
        let max_message = self.config.max_message_size;
        match (h.opcode, self.incoming.as_mut()) {
            // §5.4: "fragments of one message MUST NOT be interleaved between the fragments of
            // another message"
            (Opcode::Text | Opcode::Binary, Some(_)) => Err(ProtocolError::ExpectedContinuation),
            (Opcode::Continuation, None) => Err(ProtocolError::UnexpectedContinuation),
            (Opcode::Continuation, Some(msg)) => {
                let size = msg.size + h.payload_len;
                if size > max_message as u64 {
                    return Err(ProtocolError::MessageTooBig {
                        len: size,
                        max: max_message,
                    });
                }
                if msg.fragments >= self.config.max_fragments {
                    return Err(ProtocolError::TooManyFragments {
                        max: self.config.max_fragments,
                    });
                }
                msg.size = size;
                msg.fragments += 1;
                Ok(len)
            }
            (opcode, None) => {
                if h.payload_len > max_message as u64 {
                    return Err(ProtocolError::MessageTooBig {
                        len: h.payload_len,
                        max: max_message,
                    });
                }
                let kind = if opcode == Opcode::Text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                self.incoming = Some(Incoming {
                    kind,
                    utf8: Utf8Validator::new(),
                    size: h.payload_len,
                    fragments: 1,
                    buf: BytesMut::new(),
                    compressed: h.rsv & RSV1 != 0,
                    #[cfg(feature = "deflate")]
                    inflated: Vec::new(),
                });
                Ok(len)
            }
            (Opcode::Close | Opcode::Ping | Opcode::Pong, Some(_)) => Ok(len),
        }
    }

    /// Unmasks `rbuf[from..to]` of the current data frame and validates it if it is text, so
    /// that invalid UTF-8 fails the connection as soon as it arrives (§8.1), not at the end of
    /// the frame.
    fn unmask_and_check(
        &mut self,
        mask: Option<MaskKey>,
        from: usize,
        to: usize,
    ) -> Result<(), ProtocolError> {
        let chunk = &mut self.rbuf[from..to];
        if let Some(key) = mask {
            apply_mask(chunk, key, from);
        }
        match self.incoming.as_mut() {
            // Compressed text is validated once inflated.
            Some(msg) if msg.kind == DataKind::Text && !msg.compressed => {
                msg.utf8.feed(chunk).map_err(|_| ProtocolError::InvalidUtf8)
            }
            _ => Ok(()),
        }
    }

    /// A data frame's payload arrived whole, unmasked, its text validated so far: hands out
    /// the frame ([`Config::stream_frames`]), or keeps it until the message's last frame and
    /// hands out the message (§5.4, §5.6). A compressed message's frames are inflated first.
    fn on_data(&mut self, fin: bool, payload: Bytes) -> Option<Event> {
        #[cfg(feature = "deflate")]
        let payload = if self.incoming.as_ref()?.compressed {
            match self.inflate(fin, &payload) {
                Ok(inflated) => inflated,
                Err(e) => return Some(self.fail(e)),
            }
        } else {
            payload
        };
        let msg = self.incoming.as_mut()?;
        if fin && msg.utf8.finish().is_err() {
            // §8.1, and §5.6: a text message that ends inside a UTF-8 sequence.
            return Some(self.fail(ProtocolError::InvalidUtf8));
        }
        if self.config.stream_frames {
            let frame = DataFrame {
                kind: msg.kind,
                first: msg.fragments == 1,
                fin,
                data: payload,
            };
            if fin {
                self.incoming = None;
            }
            return Some(Event::Frame(frame));
        }
        if !fin {
            msg.buf.extend_from_slice(&payload);
            return None;
        }
        let msg = self.incoming.take()?;
        let data = if msg.buf.is_empty() {
            payload // the common case: a message in one frame, handed out without a copy
        } else {
            let mut buf = msg.buf;
            buf.extend_from_slice(&payload);
            buf.freeze()
        };
        Some(Event::Message(match msg.kind {
            DataKind::Text => Message::Text(Text::from_validated(data)),
            DataKind::Binary => Message::Binary(data),
        }))
    }

    /// Inflates a frame of a compressed message (RFC 7692 §7.2.2) within the message limit,
    /// checked while inflating so that a small frame cannot make us inflate gigabytes, and
    /// validates the text it yields (§8.1). Returns what [`on_data`](Self::on_data) hands out
    /// for the frame: in [`Config::stream_frames`] mode its inflated bytes; otherwise nothing
    /// until `fin`, then the whole inflated message (kept in `Incoming::inflated` meanwhile, so
    /// that it is not copied).
    #[cfg(feature = "deflate")]
    fn inflate(&mut self, fin: bool, payload: &[u8]) -> Result<Bytes, ProtocolError> {
        let limit = self.config.max_message_size;
        let stream = self.config.stream_frames;
        // accept_header lets RSV1 through only with a codec, and on_data only with a message.
        let (Some(msg), Some(codec)) = (self.incoming.as_mut(), self.deflate.as_mut()) else {
            return Ok(Bytes::new());
        };
        let mut fresh = Vec::new();
        let out = if stream {
            &mut fresh
        } else {
            &mut msg.inflated
        };
        let start = out.len();
        codec
            .decompress(payload, fin, out, limit)
            .map_err(|e| match e {
                crate::deflate::DeflateError::TooBig { limit } => ProtocolError::MessageTooBig {
                    len: limit as u64 + 1,
                    max: limit,
                },
                _ => ProtocolError::InvalidCompressedData,
            })?;
        if msg.kind == DataKind::Text && msg.utf8.feed(&out[start..]).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(if stream {
            Bytes::from(fresh)
        } else if fin {
            Bytes::from(core::mem::take(&mut msg.inflated))
        } else {
            Bytes::new()
        })
    }

    fn on_control(&mut self, opcode: Opcode, payload: Bytes) -> Option<Event> {
        match opcode {
            Opcode::Ping => {
                // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
                // response, unless it already received a Close frame." (We stop reading at a
                // Close frame, and send nothing after our own.)
                if self.config.auto_pong && !self.closing.close_sent() {
                    self.queue_pong(&payload);
                }
                Some(Event::Ping(payload))
            }
            Opcode::Pong => {
                self.pong_deadline = None;
                Some(Event::Pong(payload))
            }
            Opcode::Close => match CloseFrame::decode(&payload) {
                Err(e) => Some(self.fail(e)),
                Ok(frame) => {
                    self.closing.received_close(frame.clone());
                    self.rbuf.clear();
                    self.incoming = None;
                    if !self.closing.close_sent() {
                        // §5.5.1: "When sending a Close frame in response, the endpoint
                        // typically echos the status code it received."
                        let code = frame.as_ref().map(|f| f.code);
                        self.queue_close(code, "");
                    }
                    Some(Event::Close(frame))
                }
            },
            // accept_header only lets control opcodes reach here.
            Opcode::Continuation | Opcode::Text | Opcode::Binary => None,
        }
    }

    /// _Fail the WebSocket Connection_ (§7.1.7) for a rule the peer broke: a Close frame with
    /// the error's code and text, and the event to report.
    fn fail(&mut self, error: ProtocolError) -> Event {
        self.fail_connection(
            error.close_code(),
            || format!("{error}"),
            Some(error.clone()),
        );
        Event::Failed(error)
    }

    /// _Fail the WebSocket Connection_ (§7.1.7): queue a Close frame with `code` and `reason()`
    /// behind what is queued, unless one was sent already or `code` may not go on the wire
    /// (§7.4.1: 1005, 1006, 1015); stop reading; keep `error`, the rule the peer broke (`None`:
    /// the application's decision). `reason` is only called for a Close.
    fn fail_connection<R: AsRef<str>>(
        &mut self,
        code: CloseCode,
        reason: impl FnOnce() -> R,
        error: Option<ProtocolError>,
    ) {
        if !self.closing.close_sent() && code.is_valid_on_wire() {
            // What the application queued before the violation still goes out, ahead of the
            // Close: replies to the peer's valid messages are not lost (Autobahn 3.2, 5.15).
            let reason = reason();
            let reason = truncate_to_char_boundary(reason.as_ref(), MAX_REASON_LEN);
            self.queue_close(Some(code), reason);
        }
        self.closing.fail(error);
        self.rbuf.clear();
        self.incoming = None;
    }

    // ---------------------------------------------------------------- C. application commands

    fn check_send_data(&self) -> Result<(), SendError> {
        if !self.closing.may_send() {
            return Err(SendError::Closed);
        }
        if self.is_write_buffer_full() {
            return Err(SendError::BufferFull);
        }
        Ok(())
    }

    /// Queues a text message in one frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_whole(Opcode::Text, text.as_bytes(), None)
    }

    /// Queues a binary message in one frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_whole(Opcode::Binary, data, None)
    }

    /// Queues a message in one frame. A server queues a large payload without copying it (the
    /// message's [`Bytes`] are shared, and written beside the frame header with one vectored
    /// write); a client copies it, to mask it (§5.3).
    pub fn send(&mut self, message: &Message) -> Result<(), SendError> {
        let (opcode, data) = match message {
            Message::Text(t) => (Opcode::Text, t.as_bytes()),
            Message::Binary(b) => (Opcode::Binary, b),
        };
        self.send_whole(opcode, data, Some(data))
    }

    /// Queues a message in one frame: compressed if negotiated and worth it; else, for a server
    /// given the payload as `shared` [`Bytes`] of at least [`SHARE_MIN`], without a copy.
    fn send_whole(
        &mut self,
        opcode: Opcode,
        data: &[u8],
        shared: Option<&Bytes>,
    ) -> Result<(), SendError> {
        self.check_send_data()?;
        if self.outgoing.is_some() {
            return Err(SendError::MessageInProgress);
        }
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.deflate.as_mut() {
            if codec.should_compress(data.len()) {
                // RFC 7692 §7.2.1, with RSV1 on the (only) frame (§6). The compressed bytes are
                // ours: masked in place and queued without another copy.
                let mut compressed = Vec::new();
                codec.compress(data, &mut compressed);
                let mask = self.next_mask();
                if let Some(key) = mask {
                    apply_mask(&mut compressed, key, 0);
                }
                let header = frame_header(opcode, true, RSV1, compressed.len(), mask);
                self.out.push_frame_shared(&header, Bytes::from(compressed));
                return Ok(());
            }
        }
        match shared {
            Some(bytes) if self.rng.is_none() && bytes.len() >= SHARE_MIN => {
                let header = frame_header(opcode, true, 0, bytes.len(), None);
                self.out.push_frame_shared(&header, bytes.clone());
            }
            _ => self.queue_data_frame(opcode, true, data),
        }
        Ok(())
    }

    /// Queues one frame of a message sent in fragments (§5.4), for messages too large to hold
    /// whole or produced piece by piece. The first call starts a message of `kind`; later calls
    /// continue it (their `kind` must match) until one with `fin` set ends it. Pings and Pongs
    /// may be sent between fragments; other messages may not (§5.4).
    ///
    /// Text fragments may split a UTF-8 sequence; the message as a whole must be UTF-8.
    /// Messages sent this way are not compressed (RFC 7692 §6 lets any message go uncompressed).
    pub fn send_frame(&mut self, kind: DataKind, data: &[u8], fin: bool) -> Result<(), SendError> {
        self.check_send_data()?;
        let opcode = match self.outgoing {
            None => match kind {
                DataKind::Text => Opcode::Text,
                DataKind::Binary => Opcode::Binary,
            },
            Some(k) if k == kind => Opcode::Continuation,
            Some(_) => return Err(SendError::MessageInProgress),
        };
        self.outgoing = if fin { None } else { Some(kind) };
        self.queue_data_frame(opcode, fin, data);
        Ok(())
    }

    /// Queues a Ping (§5.5.2), ahead of queued data frames. At most 125 bytes.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.check_control(payload)?;
        self.push_ctrl(Opcode::Ping, payload);
        Ok(())
    }

    /// Queues an unsolicited Pong (§5.5.3: "A Pong frame MAY be sent unsolicited. This serves
    /// as a unidirectional heartbeat"), or a reply to a Ping when [`Config::auto_pong`] is off.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.check_control(payload)?;
        self.queue_pong(payload);
        Ok(())
    }

    fn check_control(&self, payload: &[u8]) -> Result<(), SendError> {
        if !self.closing.may_send() {
            return Err(SendError::Closed);
        }
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlFrameTooLong);
        }
        Ok(())
    }

    /// Starts the closing handshake (§7.1.2): queues a Close frame with `code` and `reason`
    /// behind the data already queued. Incoming messages are still delivered until the peer's
    /// Close frame arrives; then the connection is [`State::Closed`].
    ///
    /// `code` must be valid on the wire (§7.4): not 1005, 1006 or 1015.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        check_close(code, reason)?;
        if !self.closing.may_send() {
            return Err(SendError::Closed);
        }
        self.queue_close(Some(code), reason);
        Ok(())
    }

    /// Fails the connection on the application's behalf (§7.1.7), e.g. when a message breaks a
    /// rule of the application's protocol: sends a Close frame with `code` and `reason` unless
    /// one was sent, and stops reading. No further events follow.
    pub fn fail_with(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        check_close(code, reason)?;
        self.fail_connection(code, || reason, None);
        Ok(())
    }

    // ---------------------------------------------------------------- C. frames queued for output

    fn next_mask(&mut self) -> Option<MaskKey> {
        // §5.3: "The masking key is a 32-bit value chosen at random by the client. When
        // preparing a masked frame, the client MUST pick a fresh masking key from the set of
        // allowed 32-bit values."
        self.rng.as_mut().map(|rng| rng.next_u32().to_ne_bytes())
    }

    /// Queues a frame in the outgoing queue (data and Close), copying `payload`.
    fn queue_frame(&mut self, opcode: Opcode, fin: bool, payload: &[&[u8]]) {
        let len = payload.iter().map(|p| p.len()).sum();
        let mask = self.next_mask();
        let header = frame_header(opcode, fin, 0, len, mask);
        self.out.push_frame(&header, payload);
    }

    fn queue_data_frame(&mut self, opcode: Opcode, fin: bool, data: &[u8]) {
        self.queue_frame(opcode, fin, &[data]);
    }

    fn push_ctrl(&mut self, opcode: Opcode, payload: &[u8]) {
        let mask = self.next_mask();
        let header = frame_header(opcode, true, 0, payload.len(), mask);
        encode_frame(&mut self.ctrl, &header, &[payload]);
    }

    /// §5.5.3: "If an endpoint receives a Ping frame and has not yet sent Pong frame(s) in
    /// response to previous Ping frame(s), the endpoint MAY elect to send a Pong frame for only
    /// the most recently processed Ping frame." Every ping gets its pong while the control queue
    /// is short; once it holds [`CTRL_QUEUE_LIMIT`] bytes, a new pong replaces the last one that
    /// has not started to go out, so a flood of pings costs a bounded queue.
    fn queue_pong(&mut self, payload: &[u8]) {
        if self.ctrl.len() - self.ctrl_head >= CTRL_QUEUE_LIMIT {
            if let Some(start) = self.ctrl_pong.take() {
                if start >= self.ctrl_head && start < self.ctrl.len() {
                    let end = start + frame_len_at(&self.ctrl[start..]);
                    self.ctrl.drain(start..end.min(self.ctrl.len()));
                }
            }
        }
        self.ctrl_pong = Some(self.ctrl.len());
        self.push_ctrl(Opcode::Pong, payload);
    }

    fn queue_close(&mut self, code: Option<CloseCode>, reason: &str) {
        let code_bytes = code.map(|c| c.0.to_be_bytes());
        let parts: [&[u8]; 2] = match &code_bytes {
            Some(c) => [c, reason.as_bytes()],
            None => [&[], &[]],
        };
        // §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any further data
        // frames": the Close goes behind the queued data and nothing is queued after it.
        self.queue_frame(Opcode::Close, true, &parts);
        self.closing.sent_close();
    }

    // ---------------------------------------------------------------- D. network output

    fn ctrl_goes_first(&self) -> bool {
        self.ctrl_head < self.ctrl.len() && (self.ctrl_head > 0 || self.out.at_frame_boundary())
    }

    /// Bytes to write to the socket next. Write as many as the socket takes, then call
    /// [`mark_sent`](Self::mark_sent) with that count; repeat until empty. Pings and Pongs come
    /// out between data frames, never inside one, and no frame is ever torn.
    #[must_use]
    pub fn data_to_send(&self) -> &[u8] {
        if self.ctrl_goes_first() {
            &self.ctrl[self.ctrl_head..]
        } else if self.ctrl_head < self.ctrl.len() {
            // Control frames are waiting for the data frame on the wire to end: hand out only
            // the rest of that frame, so they go next (and ahead of a queued Close).
            self.out.front_in_frame()
        } else {
            self.out.front()
        }
    }

    /// Like [`data_to_send`](Self::data_to_send), as several slices for one vectored write
    /// (`writev`): a queued frame's header and its shared payload, and the frames after it. Fills
    /// `dst` from the start and returns how many slices it filled (0: nothing to send). Call
    /// [`mark_sent`](Self::mark_sent) with the number of bytes written, across all slices.
    pub fn data_to_send_vectored<'a>(&'a self, dst: &mut [&'a [u8]]) -> usize {
        if dst.is_empty() {
            return 0;
        }
        if self.ctrl_head < self.ctrl.len() {
            // Control frames first, or the rest of the data frame they wait for: one slice.
            let data = self.data_to_send();
            dst[0] = data;
            return usize::from(!data.is_empty());
        }
        self.out.slices(dst)
    }

    /// Records that the first `n` bytes of [`data_to_send`](Self::data_to_send) were written.
    /// `n` larger than that slice is clamped.
    pub fn mark_sent(&mut self, n: usize) {
        if self.ctrl_goes_first() {
            self.ctrl_head = (self.ctrl_head + n).min(self.ctrl.len());
            if self.ctrl_head == self.ctrl.len() {
                self.ctrl.clear();
                self.ctrl_head = 0;
                self.ctrl_pong = None;
            } else if matches!(self.ctrl_pong, Some(p) if p < self.ctrl_head) {
                self.ctrl_pong = None; // that pong has started to go out
            }
        } else if self.ctrl_head < self.ctrl.len() {
            // Only the rest of the frame in flight was handed out.
            let n = n.min(self.out.front_in_frame().len());
            self.out.advance(n);
        } else {
            self.out.advance(n);
        }
    }

    // ---------------------------------------------------------------- E. time

    /// The next time [`handle_timeout`](Self::handle_timeout) should be called, if any.
    /// `Duration::ZERO` means "now" (a timer waits to learn the current time).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_finished() {
            return None;
        }
        let close = self.closing.deadline();
        let keepalive = if self.state() == State::Open {
            match (self.ping_timer.deadline(), self.pong_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        } else {
            None
        };
        match (close, keepalive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances the connection's timers to `now` (a `Duration` since the driver's fixed origin):
    /// keepalive pings, their timeout, and the close timeout. Call [`poll_event`](Self::poll_event)
    /// and write [`data_to_send`](Self::data_to_send) afterwards.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.closing.handle_timeout(now, self.config.close_timeout);
        let Some(interval) = self.config.keepalive_interval else {
            return;
        };
        if self.state() != State::Open {
            return;
        }
        self.ping_timer.arm(now, interval);
        if core::mem::take(&mut self.rx_activity) {
            // Something arrived since the last check: the peer is alive.
            self.pong_deadline = None;
            self.ping_timer = Timer::At(now.saturating_add(interval));
            return;
        }
        if matches!(self.pong_deadline, Some(d) if now >= d) {
            self.pong_deadline = None;
            let event = self.fail(ProtocolError::KeepaliveTimeout);
            self.pending = Some(event);
            return;
        }
        if self.ping_timer.expired(now) {
            self.ping_timer = Timer::At(now.saturating_add(interval));
            if self.pong_deadline.is_none() {
                self.push_ctrl(Opcode::Ping, b"");
                self.pong_deadline = Some(now.saturating_add(self.config.keepalive_timeout));
            }
        }
    }
}

fn check_close(code: CloseCode, reason: &str) -> Result<(), SendError> {
    if !code.is_valid_on_wire() {
        return Err(SendError::InvalidCloseCode(code.0));
    }
    if reason.len() > MAX_REASON_LEN {
        return Err(SendError::CloseReasonTooLong);
    }
    Ok(())
}

fn frame_header(
    opcode: Opcode,
    fin: bool,
    rsv: u8,
    len: usize,
    mask: Option<MaskKey>,
) -> FrameHeader {
    FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: len as u64,
    }
}

fn truncate_to_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reason_is_cut_to_123_bytes_at_a_char_boundary() {
        // §5.5: a control frame's payload is at most 125 bytes, 2 of them the code; the reason
        // is UTF-8 (§5.5.1), so it is never cut inside a character.
        assert_eq!(truncate_to_char_boundary("short", MAX_REASON_LEN), "short");
        let exact = "a".repeat(123);
        assert_eq!(truncate_to_char_boundary(&exact, MAX_REASON_LEN), exact);
        let long = "é".repeat(100); // 200 bytes; byte 123 is inside the 62nd "é"
        assert_eq!(
            truncate_to_char_boundary(&long, MAX_REASON_LEN),
            "é".repeat(61)
        );
    }
}

#[cfg(all(test, feature = "std"))]
mod size {
    /// Every connection pays this, idle or not (`cargo test --lib size -- --nocapture` prints
    /// it): 592 bytes since the failure is kept (584 before). A guard against growing by
    /// accident; raise it on purpose, with the reason, if a field is worth it.
    #[test]
    fn a_connection_is_at_most_592_bytes() {
        let size = core::mem::size_of::<super::Connection>();
        std::eprintln!("size_of::<Connection>() = {size}");
        assert!(size <= 592, "Connection grew to {size} bytes");
    }
}
