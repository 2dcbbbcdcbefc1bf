//! Limits and behaviour of a [`Connection`](crate::Connection), each with a safe default.

use core::time::Duration;

use crate::handshake::HandshakeLimits;

/// Configuration of a [`Connection`](crate::Connection).
///
/// Every limit protects the endpoint from a peer that sends more than the application is ready
/// for: a frame or message over a limit fails the connection with 1009 (§7.4.1) as soon as its
/// header declares the size, before any memory is set aside for it.
///
/// ```
/// let mut config = rfc6455::Config::default();
/// config.max_message_size = 1 << 20;
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The largest payload of a single frame. Default 16 MiB: a frame is buffered whole before
    /// it is handed out, so this bounds the read buffer. Room for a data frame is reserved when
    /// its header arrives (so the payload is read straight into it, without regrowing); the
    /// memory is address space until the bytes arrive. A larger frame fails with 1009 (§7.4.1).
    pub max_frame_size: usize,
    /// The largest reassembled message. Default 64 MiB: big enough for ordinary applications,
    /// small enough that a malicious peer cannot make us reserve gigabytes. It also applies in
    /// [`stream_frames`](Self::stream_frames) mode, where it bounds what the peer may send as one
    /// message.
    pub max_message_size: usize,
    /// The most frames one message may be split into. Default 131,072: twice the number Autobahn's
    /// largest fragmented test uses (4 MiB in 64-byte frames), and enough that a flood of empty or
    /// 1-byte fragments ends with 1009 quickly. Each fragment costs O(1); none costs a buffer.
    pub max_fragments: usize,
    /// Above this many queued outgoing bytes, `send_*` refuses new data with
    /// [`SendError::BufferFull`](crate::SendError::BufferFull) until the driver drains the queue:
    /// backpressure against a peer that does not read. A single message larger than the limit is
    /// still accepted when the queue is below it. Default 1 MiB.
    pub write_buffer_limit: usize,
    /// Answer each Ping with a Pong automatically (§5.5.2: "Upon receipt of a Ping frame, an
    /// endpoint MUST send a Pong frame in response"). Default `true`; turn off only to answer
    /// pings yourself with [`Connection::pong`](crate::Connection::pong).
    pub auto_pong: bool,
    /// Deliver data frames one by one ([`Event::Frame`](crate::Event::Frame)) instead of whole
    /// messages, for applications that consume large messages as they arrive. Default `false`.
    pub stream_frames: bool,
    /// Send a Ping after this long without receiving a whole frame. Default 20 s; `None` turns
    /// keepalive off.
    ///
    /// Keepalive is also the defence against a peer that opens a connection and then sends
    /// nothing, or half a frame, or one byte at a time (slowloris): only complete frames count
    /// as activity.
    pub keepalive_interval: Option<Duration>,
    /// With keepalive on: fail the connection (1011) when no whole frame arrives within this long
    /// after a keepalive ping. Default 20 s. It must cover the time the peer needs to send the
    /// largest frame you accept, since the Pong queues behind it.
    pub keepalive_timeout: Duration,
    /// How long to wait, once the closing handshake has started, for the peer to complete it
    /// (its Close frame, or for a client the server's TCP close, §7.1.1) before giving up and
    /// closing the TCP connection. Default 5 s.
    pub close_timeout: Duration,
    /// Limits on the opening handshake (§4): 16 KiB of header bytes and 64 headers by default.
    pub handshake_limits: HandshakeLimits,
    /// How long the adapters give a peer to complete the opening handshake, so that a client
    /// that never finishes its request cannot hold a connection forever. Default 10 s; `None`
    /// waits forever.
    pub handshake_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692), feature `deflate`: offered by clients and accepted by servers
    /// when `Some`. Default `None` (off). Costs up to about 420 KiB per connection while in use
    /// (see [`deflate`](crate::deflate)).
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateConfig>,
}

impl Config {
    /// The defaults, as a constant.
    pub const DEFAULT: Self = Self {
        max_frame_size: 16 << 20,
        max_message_size: 64 << 20,
        max_fragments: 1 << 17,
        write_buffer_limit: 1 << 20,
        auto_pong: true,
        stream_frames: false,
        keepalive_interval: Some(Duration::from_secs(20)),
        keepalive_timeout: Duration::from_secs(20),
        close_timeout: Duration::from_secs(5),
        handshake_limits: HandshakeLimits::new(),
        handshake_timeout: Some(Duration::from_secs(10)),
        #[cfg(feature = "deflate")]
        deflate: None,
    };
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}
