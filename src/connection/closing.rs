//! How a connection ends (RFC 6455 §7): the Close frames sent and received, a failure, the end
//! of the TCP connection, and the close timeout. Every question the connection asks about its
//! end (its [`State`], whether it may still read or send, whether the driver should shut the
//! socket down or drop it) is answered here, once.

use core::time::Duration;

use super::{State, Timer};
use alloc::boxed::Box;

use crate::close::CloseFrame;
use crate::error::ProtocolError;
use crate::Role;

/// The connection's way to "_The WebSocket Connection is Closed_" (§7.1.4).
#[derive(Debug)]
pub(super) struct Closing {
    /// Our Close frame is queued: to _Start the WebSocket Closing Handshake_ (§7.1.2), in
    /// answer to the peer's (§5.5.1), or on a failure (§7.1.7).
    close_sent: bool,
    /// The peer's Close frame, once received; inside, `None` when it carried no status code
    /// (§7.1.5: "considered to be 1005").
    close_received: Option<Option<CloseFrame>>,
    /// _Fail the WebSocket Connection_ (§7.1.7): the peer broke a rule, a keepalive went
    /// unanswered, the peer went away without a Close, or the application failed the
    /// connection.
    failed: bool,
    /// The [`ProtocolError`] of a failure that had one (all but the application's), kept so
    /// that a driver can report it again. Boxed: failures are rare, and a `Connection` stays
    /// the size it was.
    failure: Option<Box<ProtocolError>>,
    /// The peer closed its side of the TCP connection (a read returned 0).
    tcp_closed: bool,
    /// The close timeout ([`Config::close_timeout`](crate::Config::close_timeout)): started when
    /// the closing handshake is started or the connection fails, it bounds the wait for the
    /// peer's Close frame and for its TCP close.
    timer: Timer,
    /// The close timeout ran out.
    timed_out: bool,
}

impl Closing {
    pub(super) const fn new() -> Self {
        Self {
            close_sent: false,
            close_received: None,
            failed: false,
            failure: None,
            tcp_closed: false,
            timer: Timer::Off,
            timed_out: false,
        }
    }

    // ---------------------------------------------------------------- questions

    /// §7.1.3: "Upon either sending or receiving a Close control frame, it is said that _The
    /// WebSocket Closing Handshake is Started_ and that the WebSocket connection is in the
    /// CLOSING state." Closed once both were, or the connection failed, the close timed out or
    /// the TCP connection ended.
    pub(super) fn state(&self) -> State {
        if self.failed || self.tcp_closed || self.timed_out || self.both_closes_exchanged() {
            State::Closed
        } else if self.close_sent || self.close_received.is_some() {
            State::Closing
        } else {
            State::Open
        }
    }

    fn both_closes_exchanged(&self) -> bool {
        self.close_sent && self.close_received.is_some()
    }

    /// Whether the closing handshake completed: both Close frames were exchanged, and the
    /// connection did not fail.
    pub(super) fn is_handshake_complete(&self) -> bool {
        self.both_closes_exchanged() && !self.failed
    }

    /// Whether our Close frame is queued: no other Close follows it.
    pub(super) fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// The peer's Close frame, once it arrived and carried a status code.
    pub(super) fn peer_close_frame(&self) -> Option<&CloseFrame> {
        self.close_received.as_ref()?.as_ref()
    }

    /// Whether the application may still queue frames: not after our Close frame (§5.5.1:
    /// "After sending a Close frame, the endpoint MUST NOT send any further data frames"), nor
    /// after a failure.
    pub(super) fn may_send(&self) -> bool {
        !(self.close_sent || self.failed)
    }

    /// Whether frames are still read from the bytes received: not after the peer's Close frame,
    /// nor after a failure (§7.1.7: "An endpoint MUST NOT continue to attempt to process data
    /// ... after being instructed to _Fail the WebSocket Connection_").
    pub(super) fn reads_frames(&self) -> bool {
        !(self.close_received.is_some() || self.failed)
    }

    /// Whether bytes from the socket are still taken: while frames are read and the peer has
    /// not closed its side of the TCP connection.
    pub(super) fn takes_bytes(&self) -> bool {
        self.reads_frames() && !self.tcp_closed
    }

    /// Whether the TCP connection ended with frames still to be read: no Close frame will come,
    /// the close code is 1006 (§7.1.5: "If _The WebSocket Connection is Closed_ and no Close
    /// control frame was received by the endpoint ... considered to be 1006").
    pub(super) fn ended_without_close(&self) -> bool {
        self.tcp_closed && self.reads_frames()
    }

    /// Whether the driver should shut down the write side of the TCP connection, once
    /// everything queued is written: a server as soon as the connection is closed, a client
    /// only when it failed, timed out or the server closed first (see
    /// [`Connection::wants_shutdown`](super::Connection::wants_shutdown) for §7.1.1).
    pub(super) fn wants_shutdown(&self, role: Role) -> bool {
        self.state() == State::Closed
            && (role == Role::Server || self.failed || self.timed_out || self.tcp_closed)
    }

    /// Whether the driver can drop the TCP connection, once everything queued is written: the
    /// peer closed its side, or the close timeout ran out, or we are the server and the closing
    /// handshake is complete (see [`Connection::is_finished`](super::Connection::is_finished)
    /// for §7.1.1 and §5.5.1).
    pub(super) fn is_finished(&self, role: Role) -> bool {
        self.state() == State::Closed
            && (self.tcp_closed
                || self.timed_out
                || (role == Role::Server && self.is_handshake_complete()))
    }

    /// When the close timeout wants [`handle_timeout`](Self::handle_timeout), if it is running.
    pub(super) fn deadline(&self) -> Option<Duration> {
        self.timer.deadline()
    }

    // ---------------------------------------------------------------- what happens

    /// Our Close frame was queued: the closing handshake is started (§7.1.3).
    pub(super) fn sent_close(&mut self) {
        self.close_sent = true;
        self.start_timer();
    }

    /// The peer's Close frame arrived: the closing handshake is started (§7.1.3), or complete.
    pub(super) fn received_close(&mut self, frame: Option<CloseFrame>) {
        self.close_received = Some(frame);
        self.start_timer();
    }

    /// _Fail the WebSocket Connection_ (§7.1.7), for the rule the peer broke, or (`None`) on
    /// the application's behalf. The first failure is the one kept.
    pub(super) fn fail(&mut self, error: Option<ProtocolError>) {
        if !self.failed {
            self.failed = true;
            self.failure = error.map(Box::new);
        }
        self.start_timer();
    }

    /// The rule the peer broke, if the connection failed for one.
    pub(super) fn failure(&self) -> Option<&ProtocolError> {
        self.failure.as_deref()
    }

    /// The peer closed its side of the TCP connection.
    pub(super) fn tcp_closed(&mut self) {
        self.tcp_closed = true;
    }

    /// Advances the close timeout to `now`: started `after` from the first call once due.
    pub(super) fn handle_timeout(&mut self, now: Duration, after: Duration) {
        self.timer.arm(now, after);
        if self.timer.expired(now) {
            self.timed_out = true;
            self.timer = Timer::Off;
        }
    }

    fn start_timer(&mut self) {
        if self.timer == Timer::Off {
            self.timer = Timer::Unarmed;
        }
    }
}
