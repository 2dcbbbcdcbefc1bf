//! Limits and behaviour of a [`Connection`](crate::Connection), each with a safe default.

use core::time::Duration;

use crate::handshake::HandshakeLimits;

/// Configuration of a [`Connection`](crate::Connection).
///
/// Every limit protects the endpoint from a peer that sends more than the application is ready
/// for: a frame or message over a limit fails the connection with 1009 (§7.4.1) as soon as its
/// header declares the size, before any memory is set aside for it.
///
/// Built in one expression with the `with_*` setters (the struct is `#[non_exhaustive]`, so
/// `..Default::default()` is not available outside the crate):
///
/// ```
/// use std::time::Duration;
/// use rfc6455::Config;
///
/// let config = Config::default()
///     .with_max_message_size(1 << 20)
///     .with_keepalive_interval(Some(Duration::from_secs(30)))
///     .with_auto_pong(true);
/// assert_eq!(config.max_message_size, 1 << 20);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The largest payload of a single frame. Default 16 MiB: a frame is buffered whole before
    /// it is handed out, so this bounds the read buffer. Room for a data frame is made as its
    /// bytes arrive, at most 1 MiB ahead of them, so a peer that declares a large frame and
    /// sends nothing costs nothing. A larger frame fails with 1009 (§7.4.1) as soon as its
    /// header arrives.
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

    /// Sets [`max_frame_size`](Self::max_frame_size): the largest payload of one frame (§5.2), over which the connection fails with 1009 (§7.4.1). Default 16 MiB.
    #[must_use]
    pub const fn with_max_frame_size(mut self, max_frame_size: usize) -> Self {
        self.max_frame_size = max_frame_size;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size): the largest reassembled message (§5.4), over which the connection fails with 1009. Default 64 MiB.
    #[must_use]
    pub const fn with_max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }

    /// Sets [`max_fragments`](Self::max_fragments): the most frames one message may be split into (§5.4). Default 131,072.
    #[must_use]
    pub const fn with_max_fragments(mut self, max_fragments: usize) -> Self {
        self.max_fragments = max_fragments;
        self
    }

    /// Sets [`write_buffer_limit`](Self::write_buffer_limit): queued outgoing bytes above which sending waits (adapters) or is refused (core). Default 1 MiB.
    #[must_use]
    pub const fn with_write_buffer_limit(mut self, write_buffer_limit: usize) -> Self {
        self.write_buffer_limit = write_buffer_limit;
        self
    }

    /// Sets [`auto_pong`](Self::auto_pong): answer each Ping with a Pong (§5.5.2). Default `true`; with `false`, read with `recv_event` and answer with `pong`.
    #[must_use]
    pub const fn with_auto_pong(mut self, auto_pong: bool) -> Self {
        self.auto_pong = auto_pong;
        self
    }

    /// Sets [`stream_frames`](Self::stream_frames): deliver data frames one by one ([`Event::Frame`](crate::Event::Frame)), read with `recv_event`. Default `false`.
    #[must_use]
    pub const fn with_stream_frames(mut self, stream_frames: bool) -> Self {
        self.stream_frames = stream_frames;
        self
    }

    /// Sets [`keepalive_interval`](Self::keepalive_interval): send a Ping after this long without a whole frame (§5.5.2); `None` turns keepalive off. Default 20 s.
    #[must_use]
    pub const fn with_keepalive_interval(mut self, keepalive_interval: Option<Duration>) -> Self {
        self.keepalive_interval = keepalive_interval;
        self
    }

    /// Sets [`keepalive_timeout`](Self::keepalive_timeout): how long a keepalive Ping waits for any frame before the connection fails with 1011. Default 20 s.
    #[must_use]
    pub const fn with_keepalive_timeout(mut self, keepalive_timeout: Duration) -> Self {
        self.keepalive_timeout = keepalive_timeout;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout): how long the closing handshake may take (§7.1.1) before the TCP connection is dropped. Default 5 s.
    #[must_use]
    pub const fn with_close_timeout(mut self, close_timeout: Duration) -> Self {
        self.close_timeout = close_timeout;
        self
    }

    /// Sets [`handshake_limits`](Self::handshake_limits): size limits of the opening handshake (§4, §10.4). Default 16 KiB, 64 headers.
    #[must_use]
    pub const fn with_handshake_limits(mut self, handshake_limits: HandshakeLimits) -> Self {
        self.handshake_limits = handshake_limits;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout): how long the adapters give the opening handshake (§4); `None` waits forever. Default 10 s.
    #[must_use]
    pub const fn with_handshake_timeout(mut self, handshake_timeout: Option<Duration>) -> Self {
        self.handshake_timeout = handshake_timeout;
        self
    }

    /// Sets [`deflate`](Self::deflate): permessage-deflate (RFC 7692), offered by clients and
    /// accepted by servers when `Some`. Default `None` (off).
    #[cfg(feature = "deflate")]
    #[must_use]
    pub fn with_deflate(mut self, deflate: Option<crate::deflate::DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each setter sets its own field and no other.
    #[test]
    fn each_setter_sets_its_field() {
        let d = Config::DEFAULT;
        let limits = HandshakeLimits::new().with_max_bytes(1);
        let c = Config::DEFAULT
            .with_max_frame_size(1)
            .with_max_message_size(2)
            .with_max_fragments(3)
            .with_write_buffer_limit(4)
            .with_auto_pong(!d.auto_pong)
            .with_stream_frames(!d.stream_frames)
            .with_keepalive_interval(None)
            .with_keepalive_timeout(Duration::from_millis(5))
            .with_close_timeout(Duration::from_millis(6))
            .with_handshake_limits(limits)
            .with_handshake_timeout(Some(Duration::from_millis(7)));
        assert_eq!(
            (
                c.max_frame_size,
                c.max_message_size,
                c.max_fragments,
                c.write_buffer_limit
            ),
            (1, 2, 3, 4)
        );
        assert_eq!(
            (c.auto_pong, c.stream_frames),
            (!d.auto_pong, !d.stream_frames)
        );
        assert_eq!(c.keepalive_interval, None);
        assert_eq!(c.keepalive_timeout, Duration::from_millis(5));
        assert_eq!(c.close_timeout, Duration::from_millis(6));
        assert_eq!(c.handshake_limits, limits);
        assert_eq!(c.handshake_timeout, Some(Duration::from_millis(7)));
        #[cfg(feature = "deflate")]
        {
            assert_eq!(d.deflate, None);
            let on = Some(crate::deflate::DeflateConfig::default());
            assert_eq!(Config::DEFAULT.with_deflate(on.clone()).deflate, on);
        }
    }
}
