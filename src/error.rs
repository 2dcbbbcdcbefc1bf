//! Typed errors of the core: one variant per rule of RFC 6455 that a peer or a caller broke.

use crate::close::CloseCode;

/// A rule of RFC 6455 that the peer broke, or another reason the connection failed.
///
/// Each variant names the rule; [`close_code`](Self::close_code) picks, in one place, the
/// status code the connection is failed with (§7.1.7, §7.4.1): 1002 for framing violations,
/// 1007 for data inconsistent with its type, 1009 for data over a configured limit.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings for
    /// non-zero values". Holds the three bits (RSV1 = 0b100).
    ReservedBits(u8),
    /// §5.2: an opcode from the reserved ranges 0x3-0x7 or 0xB-0xF.
    ReservedOpcode(u8),
    /// §5.2: a 64-bit payload length whose most significant bit is 1.
    LengthTopBitSet,
    /// §5.5: "All control frames ... MUST NOT be fragmented."
    FragmentedControlFrame,
    /// §5.5: "All control frames MUST have a payload length of 125 bytes or less."
    ControlFrameTooLong(u64),
    /// §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
    UnmaskedClientFrame,
    /// §5.1: "A client MUST close a connection if it detects a masked frame."
    MaskedServerFrame,
    /// §5.4: a continuation frame with no fragmented message in progress.
    UnexpectedContinuation,
    /// §5.4: a new text or binary frame while a fragmented message is still in progress.
    ExpectedContinuation,
    /// §8.1: text (a message or a close reason) that is not valid UTF-8 (1007).
    InvalidUtf8,
    /// §5.5.1: a Close frame whose payload is a single byte (a status code needs two).
    CloseTooShort,
    /// §7.4: a Close frame with a status code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// A frame's declared payload length is over [`Config::max_frame_size`](crate::Config) (1009).
    FrameTooBig {
        /// The declared length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message's total size is over [`Config::max_message_size`](crate::Config) (1009).
    MessageTooBig {
        /// The size the message would reach with this frame.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message has more fragments than [`Config::max_fragments`](crate::Config) (1009).
    TooManyFragments {
        /// The configured limit.
        max: usize,
    },
    /// RFC 7692 §7.2.2: a compressed message whose data does not inflate (1007).
    InvalidCompressedData,
    /// The peer did not answer a keepalive ping within the configured time (1011).
    KeepaliveTimeout,
    /// The peer closed the TCP connection without a closing handshake (§7.1.5: the close code is
    /// considered to be 1006, which is never sent).
    UnexpectedEof,
}

impl ProtocolError {
    /// The status code the connection is failed with for this error (§7.4.1).
    pub const fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooBig { .. }
            | Self::MessageTooBig { .. }
            | Self::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::KeepaliveTimeout => CloseCode::INTERNAL_ERROR,
            Self::UnexpectedEof => CloseCode::ABNORMAL,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ReservedBits(bits) => {
                write!(f, "reserved bits set without an extension: {bits:#05b}")
            }
            Self::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            Self::LengthTopBitSet => f.write_str("64-bit payload length with the top bit set"),
            Self::FragmentedControlFrame => f.write_str("fragmented control frame"),
            Self::ControlFrameTooLong(len) => {
                write!(f, "control frame payload of {len} bytes (max 125)")
            }
            Self::UnmaskedClientFrame => f.write_str("unmasked frame from client"),
            Self::MaskedServerFrame => f.write_str("masked frame from server"),
            Self::UnexpectedContinuation => {
                f.write_str("continuation frame without a message to continue")
            }
            Self::ExpectedContinuation => f.write_str("new data frame inside a fragmented message"),
            Self::InvalidUtf8 => f.write_str("invalid utf-8 in text"),
            Self::CloseTooShort => f.write_str("close frame payload of 1 byte"),
            Self::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            Self::FrameTooBig { len, max } => {
                write!(f, "frame of {len} bytes over the limit of {max}")
            }
            Self::MessageTooBig { len, max } => {
                write!(f, "message of {len} bytes over the limit of {max}")
            }
            Self::TooManyFragments { max } => write!(f, "message of more than {max} fragments"),
            Self::InvalidCompressedData => f.write_str("compressed message does not inflate"),
            Self::KeepaliveTimeout => f.write_str("keepalive ping timeout"),
            Self::UnexpectedEof => f.write_str("connection closed without a closing handshake"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}

/// Why the connection refused something the application asked to send.
///
/// These are local errors: nothing was queued and the connection is unchanged.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// A Close frame was already sent (§5.5.1: "The application MUST NOT send any more data
    /// frames after sending a Close frame"), or the connection failed.
    Closed,
    /// The outgoing queue is over [`Config::write_buffer_limit`](crate::Config): drain
    /// [`Connection::data_to_send`](crate::Connection::data_to_send) and try again.
    BufferFull,
    /// A control frame payload over 125 bytes (§5.5).
    ControlFrameTooLong,
    /// A close code that may not be sent (§7.4.1: 1005, 1006, 1015 and others).
    InvalidCloseCode(u16),
    /// A close reason over 123 bytes (§5.5: the whole payload is at most 125).
    CloseReasonTooLong,
    /// A whole message was sent while a fragmented one is in progress (§5.4: "the fragments of
    /// one message MUST NOT be interleaved between the fragments of another message").
    MessageInProgress,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Closed => "connection is closing or closed",
            Self::BufferFull => "write buffer full",
            Self::ControlFrameTooLong => "control frame payload over 125 bytes",
            Self::InvalidCloseCode(_) => "close code may not be sent",
            Self::CloseReasonTooLong => "close reason over 123 bytes",
            Self::MessageInProgress => "a fragmented message is in progress",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}

/// Errors of the blocking and async adapters: the core's typed errors, plus I/O.
///
/// A client's `connect` says which step failed: [`Connect`](Self::Connect) (TCP),
/// `Tls`/`TlsIo` (the TLS handshake, feature `rustls`), then [`Handshake`](Self::Handshake),
/// [`HandshakeTimeout`](Self::HandshakeTimeout) or [`Io`](Self::Io) (the HTTP upgrade). A
/// server's `accept_tls` fails in the TLS step with `Tls`/`TlsIo` as well.
#[cfg(feature = "std")]
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The socket failed (including a read or write timeout set on it).
    Io(std::io::Error),
    /// A client could not open the TCP connection: the name did not resolve, the peer refused
    /// or was unreachable, or [`handshake_timeout`](crate::Config::handshake_timeout) ran out
    /// while connecting (kind `TimedOut`: [`is_timeout`](Self::is_timeout) is true).
    Connect(std::io::Error),
    /// The TLS handshake failed with rustls's verdict (feature `rustls`): a certificate the
    /// peer's roots do not trust ([`rustls::Error::InvalidCertificate`] with
    /// [`rustls::CertificateError::UnknownIssuer`]), one for another name (`NotValidForName`)
    /// or out of its validity (`Expired`), a peer that does not speak TLS
    /// ([`rustls::Error::InvalidMessage`]), or the peer's alert
    /// ([`rustls::Error::AlertReceived`]: it refused our certificate).
    #[cfg(feature = "rustls")]
    Tls(rustls::Error),
    /// The socket failed during the TLS handshake (feature `rustls`): the peer closed it
    /// (`UnexpectedEof`), or [`handshake_timeout`](crate::Config::handshake_timeout) ran out
    /// before the TLS handshake completed (kind `TimedOut`: [`is_timeout`](Self::is_timeout) is
    /// true).
    #[cfg(feature = "rustls")]
    TlsIo(std::io::Error),
    /// The opening handshake failed (§4); on the server side the error response was sent.
    Handshake(crate::handshake::HandshakeError),
    /// The opening handshake did not complete within the configured time.
    HandshakeTimeout,
    /// The connection failed (§7.1.7): the peer broke a rule, or went away without closing.
    Protocol(ProtocolError),
    /// The connection refused to send (it is closing or closed, or the message was invalid).
    Send(SendError),
    /// A call that would lose what the [`Config`](crate::Config) asked to see, refused before
    /// anything was read: `recv` (whole messages only) with
    /// [`stream_frames`](crate::Config::stream_frames) on, where data arrives as
    /// [`Event::Frame`](crate::Event::Frame), or with [`auto_pong`](crate::Config::auto_pong)
    /// off, where each [`Event::Ping`](crate::Event::Ping) must be answered with `pong`
    /// (§5.5.2). The text names the call to use instead (`recv_event`). The connection is
    /// unchanged.
    Usage(&'static str),
}

#[cfg(feature = "std")]
impl Error {
    /// Whether time ran out: a read timeout the application set (on the adapter or on the
    /// socket itself; the connection stays usable, read again), the opening handshake's
    /// [`handshake_timeout`](crate::Config::handshake_timeout), or the peer's silence after a
    /// keepalive Ping ([`ProtocolError::KeepaliveTimeout`]; the connection has failed, and
    /// [`is_closed`](Self::is_closed) says so too).
    ///
    /// ```
    /// use std::io;
    /// use rfc6455::Error;
    ///
    /// assert!(Error::Io(io::ErrorKind::WouldBlock.into()).is_timeout());
    /// assert!(Error::HandshakeTimeout.is_timeout());
    /// assert!(!Error::Io(io::ErrorKind::ConnectionReset.into()).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Io(e) | Self::Connect(e) => is_timeout_kind(e.kind()),
            #[cfg(feature = "rustls")]
            Self::TlsIo(e) => is_timeout_kind(e.kind()),
            Self::HandshakeTimeout | Self::Protocol(ProtocolError::KeepaliveTimeout) => true,
            _ => false,
        }
    }

    /// Whether the connection is over (or never opened): nothing more can be received or sent
    /// on it, and a client that wants to go on must connect again. True for a failed
    /// connection ([`Error::Protocol`], §7.1.7), a failed connect (TCP or TLS) or opening
    /// handshake, a send after the
    /// Close frame ([`SendError::Closed`], §5.5.1) and a broken socket; false for a read
    /// timeout the application set, a send refused for its own reasons (too long, buffer
    /// full, a fragmented message in progress) and [`Error::Usage`], after which the
    /// connection is unchanged.
    ///
    /// A clean close is not an error: `recv` returns `Ok(None)`.
    ///
    /// ```
    /// use std::io;
    /// use rfc6455::{Error, ProtocolError, SendError};
    ///
    /// assert!(Error::Protocol(ProtocolError::InvalidUtf8).is_closed());
    /// assert!(Error::Send(SendError::Closed).is_closed());
    /// assert!(Error::Io(io::ErrorKind::ConnectionReset.into()).is_closed());
    /// assert!(!Error::Io(io::ErrorKind::TimedOut.into()).is_closed());
    /// assert!(!Error::Send(SendError::ControlFrameTooLong).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        match self {
            Self::Io(e) => {
                !is_timeout_kind(e.kind()) && e.kind() != std::io::ErrorKind::Interrupted
            }
            Self::Handshake(_) | Self::HandshakeTimeout | Self::Protocol(_) => true,
            // The connection never opened, whatever the kind.
            Self::Connect(_) => true,
            #[cfg(feature = "rustls")]
            Self::Tls(_) | Self::TlsIo(_) => true,
            Self::Send(e) => *e == SendError::Closed,
            Self::Usage(_) => false,
        }
    }
}

/// The kinds a socket read timeout comes back as: `WouldBlock` on Unix, `TimedOut` on Windows.
#[cfg(feature = "std")]
pub(crate) fn is_timeout_kind(kind: std::io::ErrorKind) -> bool {
    matches!(
        kind,
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

#[cfg(feature = "std")]
impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Io(e) if is_timeout_kind(e.kind()) => write!(f, "timed out: {e}"),
            Self::Io(e) => write!(f, "i/o error: {e}"),
            Self::Connect(e) => write!(f, "tcp connect failed: {e}"),
            #[cfg(feature = "rustls")]
            Self::Tls(e) => write!(f, "tls handshake failed: {e}"),
            #[cfg(feature = "rustls")]
            Self::TlsIo(e) => write!(f, "tls handshake failed: {e}"),
            Self::Handshake(e) => write!(f, "handshake failed: {e}"),
            Self::HandshakeTimeout => f.write_str("handshake timed out"),
            Self::Protocol(e) => write!(f, "connection failed: {e}"),
            Self::Send(e) => write!(f, "cannot send: {e}"),
            Self::Usage(e) => f.write_str(e),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) | Self::Connect(e) => Some(e),
            #[cfg(feature = "rustls")]
            Self::TlsIo(e) => Some(e),
            #[cfg(feature = "rustls")]
            Self::Tls(e) => Some(e),
            Self::Handshake(e) => Some(e),
            Self::Protocol(e) => Some(e),
            Self::Send(e) => Some(e),
            Self::HandshakeTimeout | Self::Usage(_) => None,
        }
    }
}

#[cfg(feature = "std")]
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

#[cfg(feature = "std")]
impl From<crate::handshake::HandshakeError> for Error {
    fn from(e: crate::handshake::HandshakeError) -> Self {
        Self::Handshake(e)
    }
}

#[cfg(feature = "std")]
impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(e)
    }
}

#[cfg(feature = "std")]
impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

/// For code that speaks `io::Result`: I/O errors pass through (those of the TCP connect and the
/// TLS handshake too), the rest become `InvalidData` (or `TimedOut` for the handshake timeout).
#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) | Error::Connect(e) => e,
            #[cfg(feature = "rustls")]
            Error::TlsIo(e) => e,
            Error::HandshakeTimeout => Self::new(std::io::ErrorKind::TimedOut, e),
            other => Self::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

// ---------------------------------------------------------------- rules both adapters apply

/// The end of a finished connection: the failure the core kept (§7.1.7), returned again on every
/// call, or `Ok` when it did not fail.
#[cfg(feature = "std")]
pub(crate) fn finished(conn: &crate::Connection) -> Result<(), Error> {
    match conn.failure() {
        Some(e) => Err(Error::Protocol(e.clone())),
        None => Ok(()),
    }
}

/// `recv` hands out whole messages only: refuse it where the connection delivers what it would
/// drop, before anything is read.
#[cfg(feature = "std")]
pub(crate) fn check_messages_only(conn: &crate::Connection) -> Result<(), Error> {
    let config = conn.config();
    if config.stream_frames {
        return Err(Error::Usage(
            "Config::stream_frames is on: data arrives as Event::Frame, which recv() would drop; \
             read with recv_event()",
        ));
    }
    if !config.auto_pong {
        return Err(Error::Usage(
            "Config::auto_pong is off: each Event::Ping must be answered with pong() (RFC 6455 \
             5.5.2), and recv() would drop it; read with recv_event()",
        ));
    }
    Ok(())
}

/// The adapters' error for a TCP connect that outlived [`Config::handshake_timeout`](crate::Config::handshake_timeout).
#[cfg(feature = "std")]
pub(crate) fn connect_timed_out() -> Error {
    Error::Connect(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the TCP connect did not complete within the handshake timeout",
    ))
}

/// The adapters' error for a `wss://` URL in a build without the feature `rustls`.
#[cfg(all(feature = "std", not(feature = "rustls")))]
pub(crate) fn wss_without_rustls() -> Error {
    Error::Handshake(crate::handshake::HandshakeError::InvalidUrl(
        "wss needs the feature rustls",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn a_protocol_error_displays_the_rule_broken() {
        // The text is also the reason of the Close frame that fails the connection (§7.1.7).
        assert_eq!(
            format!("{}", ProtocolError::ReservedOpcode(0x3)),
            "reserved opcode 0x3"
        );
        assert_eq!(
            format!("{}", ProtocolError::ReservedBits(0b100)),
            "reserved bits set without an extension: 0b100"
        );
        assert_eq!(
            format!("{}", ProtocolError::FrameTooBig { len: 10, max: 5 }),
            "frame of 10 bytes over the limit of 5"
        );
    }

    #[test]
    fn a_send_error_displays_why_nothing_was_queued() {
        assert_eq!(
            format!("{}", SendError::Closed),
            "connection is closing or closed"
        );
        assert_eq!(
            format!("{}", SendError::CloseReasonTooLong),
            "close reason over 123 bytes"
        );
    }

    #[cfg(feature = "std")]
    mod adapters {
        use super::*;
        use crate::handshake::HandshakeError;
        use std::error::Error as _;
        use std::io::{self, ErrorKind};

        fn io(kind: ErrorKind) -> Error {
            Error::Io(kind.into())
        }

        #[test]
        fn timeouts_and_closed_connections_are_told_apart() {
            // Timed out: a socket timeout, the handshake timeout, the keepalive timeout. Over:
            // §7.1.7 failures, a failed handshake, a send after our Close (§5.5.1), a broken
            // socket; not a read timeout, an interrupted call, a send refused for its own
            // reasons or a usage error.
            let cases = [
                (io(ErrorKind::WouldBlock), true, false),
                (io(ErrorKind::TimedOut), true, false),
                (io(ErrorKind::Interrupted), false, false),
                (io(ErrorKind::ConnectionReset), false, true),
                (io(ErrorKind::UnexpectedEof), false, true),
                (Error::HandshakeTimeout, true, true),
                (Error::Handshake(HandshakeError::MissingKey), false, true),
                (Error::Protocol(ProtocolError::KeepaliveTimeout), true, true),
                (Error::Protocol(ProtocolError::InvalidUtf8), false, true),
                (Error::Send(SendError::Closed), false, true),
                (Error::Send(SendError::BufferFull), false, false),
                (Error::Send(SendError::ControlFrameTooLong), false, false),
                (Error::Usage("recv_event"), false, false),
            ];
            for (error, timeout, closed) in cases {
                assert_eq!(
                    (error.is_timeout(), error.is_closed()),
                    (timeout, closed),
                    "{error:?}"
                );
            }
        }

        #[test]
        fn an_adapter_error_displays_its_cause() {
            assert_eq!(
                Error::Protocol(ProtocolError::InvalidUtf8).to_string(),
                "connection failed: invalid utf-8 in text"
            );
            assert_eq!(
                Error::Send(SendError::BufferFull).to_string(),
                "cannot send: write buffer full"
            );
            assert_eq!(Error::HandshakeTimeout.to_string(), "handshake timed out");
            assert_eq!(Error::Usage("use recv_event").to_string(), "use recv_event");
        }

        #[test]
        fn an_adapter_error_has_the_core_error_as_its_source() {
            let source = |e: &Error| e.source().map(ToString::to_string);
            assert_eq!(
                source(&Error::Protocol(ProtocolError::InvalidUtf8)),
                Some("invalid utf-8 in text".into())
            );
            assert_eq!(
                source(&Error::Send(SendError::Closed)),
                Some("connection is closing or closed".into())
            );
            assert_eq!(
                source(&Error::Handshake(HandshakeError::MissingKey)),
                Some(HandshakeError::MissingKey.to_string())
            );
            assert_eq!(
                source(&Error::Io(io::Error::other("boom"))),
                Some("boom".into())
            );
            assert_eq!(source(&Error::HandshakeTimeout), None);
            assert_eq!(source(&Error::Usage("x")), None);
        }
    }
}
