//! How much to read into the receive buffer, and when to make room for it: performance code
//! for the adapters, not protocol. Nothing here changes which events a connection produces,
//! only how many system calls, allocations and copies the bytes cost on their way in (the
//! measurements are in BENCHMARKS.md). The state machine in the parent module calls one thing
//! here, [`reserve_for_payload`](Connection::reserve_for_payload), before it appends bytes.

#[cfg(feature = "std")]
use bytes::BytesMut;
#[cfg(feature = "tokio")]
use bytes::{buf::Limit, BufMut};

use super::{Connection, ReadState};
use crate::frame::FrameHeader;

/// Room reserved, and read, past the end of a frame being received: the read that ends a frame
/// takes the next frame's header too, so the next frame's payload can be read straight into
/// its buffer. No more: what follows the frame stays in the receive buffer when the frame's
/// payload is handed out, and is copied when the buffer regrows for the next payload.
const READ_SLACK: usize = FrameHeader::MAX_LEN;

/// The most reserved for a frame whose header has not arrived yet, on the guess that it is as
/// large as the last one (see `read_room`).
#[cfg(feature = "std")]
const NEXT_FRAME_AHEAD: usize = 64 * 1024;

/// The most one read into the receive buffer takes, when it takes whole frames after the one
/// being received (see `read_room`).
#[cfg(feature = "std")]
const READ_AHEAD: usize = 256 * 1024;

/// Spare room below which the buffer of a frame larger than [`RESERVE_AHEAD`] doubles.
const REGROW_BELOW: usize = 16 * 1024;

/// The most reserved at once for a frame's payload before its bytes arrive (see
/// `reserve_payload`).
const RESERVE_AHEAD: usize = 1 << 20;

impl Connection {
    /// For the adapters: how many bytes to read straight into the receive buffer (no copy
    /// through a small buffer on the stack), when at least `min_read` bytes are expected: inside
    /// the payload of a data frame with that much still to come, or between frames when the last
    /// data frame was at least that large (a peer that sends large messages tends to go on).
    /// `None`: read into a small buffer and pass it to [`receive`](Self::receive).
    ///
    /// A read stops just past a frame boundary: the end of the frame being received, or of as
    /// many more frames of the same size as fit in [`READ_AHEAD`] (or in `max_read`, the most
    /// the adapter reads at once, if less), plus the longest header ([`READ_SLACK`]). A peer
    /// that pipelines messages of one size has several read with one system call (their echoes
    /// then leave with one), and what follows the last one, copied if the buffer regrows for
    /// the next payload, is at most a header. Between frames the guess is the last frame's
    /// size, or, above `READ_AHEAD`, [`NEXT_FRAME_AHEAD`] of it.
    ///
    /// Room for the read is reserved first ([`reserve_payload`](Self::reserve_payload)); the
    /// frames after the current one only get room when the buffer is being made anyway, so a
    /// frame that is still arriving is never copied to make room for guesses.
    #[cfg(feature = "std")]
    fn read_room(&mut self, min_read: usize, max_read: usize) -> Option<usize> {
        if !self.closing.takes_bytes() {
            return None;
        }
        let frame = self.last_frame_len as usize;
        let want = match (self.read, self.data_payload_len()) {
            (_, Some(len)) => {
                let missing = len.saturating_sub(self.rbuf.len());
                if missing < min_read {
                    return None;
                }
                let after = missing.saturating_add(READ_SLACK);
                let ahead = whole_frames(READ_AHEAD.min(max_read).saturating_sub(after), frame);
                self.reserve_payload(len, ahead);
                // The frames ahead only where there is room already: not worth a new buffer.
                let spare = self.rbuf.capacity() - self.rbuf.len();
                missing + whole_frames(spare.saturating_sub(after), frame).min(ahead)
            }
            (ReadState::Header, None) if frame >= min_read => {
                let want = match whole_frames(READ_AHEAD.min(max_read), frame) {
                    0 => frame.min(NEXT_FRAME_AHEAD),
                    n => n,
                };
                self.rbuf.reserve(want + READ_SLACK);
                want
            }
            _ => return None,
        };
        Some(want + READ_SLACK)
    }

    /// For the async adapter: the receive buffer itself, limited to [`read_room`], to read
    /// socket bytes into its spare capacity. Only appending is allowed; what the buffer holds
    /// must be left alone. When the read would block, call
    /// [`release_read_buffer`](Self::release_read_buffer).
    ///
    /// [`read_room`]: Self::read_room
    #[cfg(feature = "tokio")]
    pub(crate) fn read_buffer(&mut self, min_read: usize) -> Option<Limit<&mut BytesMut>> {
        let room = self.read_room(min_read, usize::MAX)?;
        Some((&mut self.rbuf).limit(room))
    }

    /// For the blocking adapter: when [`read_room`] says so, calls `read` once with that many
    /// zeroed bytes, at most `max_read`, at the end of the receive buffer, and keeps the bytes
    /// it reports. `None`: `read` was not called. A read that fails, or reports more than it
    /// was given, adds nothing.
    ///
    /// A `std::io::Read` wants initialized memory, zeroed again for every read: `max_read` bounds
    /// that cost (BENCHMARKS.md, "The blocking adapter reads a large frame straight into ...").
    ///
    /// [`read_room`]: Self::read_room
    #[cfg(feature = "std")]
    pub(crate) fn read_with<E>(
        &mut self,
        min_read: usize,
        max_read: usize,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Option<Result<usize, E>> {
        let room = self.read_room(min_read, max_read)?.min(max_read);
        let start = self.rbuf.len();
        self.rbuf.resize(start + room, 0);
        let result = read(&mut self.rbuf[start..]);
        let kept = match &result {
            Ok(n) if *n <= room => *n,
            _ => 0,
        };
        self.rbuf.truncate(start + kept);
        Some(result)
    }

    /// For the adapters: a read into the receive buffer would block (or timed out). Between
    /// frames with nothing buffered, the room reserved for the next frame is given back, so an
    /// idle connection holds no receive buffer, whatever it received before.
    #[cfg(feature = "std")]
    pub(crate) fn release_read_buffer(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
    }

    /// Inside the payload of a data frame, makes room for it ([`reserve_payload`]) before more
    /// of its bytes are appended.
    ///
    /// Room is made when bytes arrive, not when the header is decoded: by then the payload of
    /// the frame before, which shares the buffer's allocation until it is dropped, is often
    /// gone (an echo has written it), and the allocation is reused in place instead of a new
    /// one being made for every message.
    ///
    /// [`reserve_payload`]: Self::reserve_payload
    pub(super) fn reserve_for_payload(&mut self) {
        if let Some(len) = self.data_payload_len() {
            self.reserve_payload(len, 0);
        }
    }

    /// The payload length of the data frame being received, if inside one's payload.
    fn data_payload_len(&self) -> Option<usize> {
        match self.read {
            ReadState::Payload { header, len, .. } if !header.opcode.is_control() => Some(len),
            _ => None,
        }
    }

    /// Makes room in the receive buffer (which starts with the payload of a data frame of `len`
    /// bytes) for what is still to come, so the buffer does not regrow by small steps, copying
    /// what it holds each time. The rest of the frame at once (with a little slack for the next
    /// frame's start, and `then` bytes for the frames a read may take after it, see
    /// [`read_room`](Self::read_room)) when it is at most [`RESERVE_AHEAD`] or what already
    /// arrived; otherwise the buffer doubles, when it is nearly full. A peer that declares a
    /// large frame and sends nothing makes us reserve nothing beyond `then`; one that sends a
    /// little, at most `RESERVE_AHEAD`.
    fn reserve_payload(&mut self, len: usize, then: usize) {
        let have = self.rbuf.len();
        let missing = len.saturating_sub(have);
        if missing == 0 {
            return;
        }
        let spare = self.rbuf.capacity() - have;
        let ahead = RESERVE_AHEAD.max(have);
        if missing <= ahead {
            if spare < missing {
                self.rbuf.reserve(missing + READ_SLACK + then);
            }
        } else if spare < REGROW_BELOW {
            self.rbuf.reserve(ahead);
        }
    }
}

/// The bytes of as many whole frames of `frame` bytes as fit in `room` (none if `frame` is 0).
#[cfg(feature = "std")]
fn whole_frames(room: usize, frame: usize) -> usize {
    room.checked_div(frame).map_or(0, |n| n * frame)
}

#[cfg(all(test, feature = "std"))]
mod read_buffer_tests {
    use super::super::{frame_header, Event};
    use super::*;
    use crate::frame::Opcode;
    use crate::message::Message;
    use crate::{Config, Role};
    use alloc::vec;
    use alloc::vec::Vec;

    /// Binary `messages`, each in one masked frame, as a client puts them on the wire.
    fn client_wire(messages: &[Message]) -> Vec<u8> {
        let mut wire = Vec::new();
        for m in messages {
            let payload = m.as_bytes();
            let header = frame_header(Opcode::Binary, true, 0, payload.len(), Some([1, 2, 3, 4]));
            crate::outgoing::encode_frame(&mut wire, &header, &[payload]);
        }
        wire
    }

    /// Three of these fit in [`READ_AHEAD`] with their headers.
    fn large() -> Message {
        Message::binary(vec![7u8; 64 * 1024])
    }

    /// No second one fits in [`READ_AHEAD`] beside it.
    fn larger() -> Message {
        Message::binary(vec![8u8; 160 * 1024])
    }

    /// One read as the async adapter makes it: as much of `wire` as the room it is given takes.
    #[cfg(feature = "tokio")]
    fn read_into(server: &mut Connection, wire: &[u8]) -> Option<usize> {
        let mut buf = server.read_buffer(16 * 1024)?;
        let n = buf.remaining_mut().min(wire.len());
        buf.put_slice(&wire[..n]);
        Some(n)
    }

    /// Every message the server has complete.
    fn drain(server: &mut Connection) -> Vec<Message> {
        core::iter::from_fn(|| match server.poll_event() {
            Some(Event::Message(m)) => Some(m),
            Some(other) => panic!("unexpected {other:?}"),
            None => None,
        })
        .collect()
    }

    #[test]
    #[cfg(feature = "tokio")]
    fn a_read_into_a_payload_stops_at_the_frame_end_and_the_next_header() {
        let wire = client_wire(&[larger(), larger()]);
        let one = wire.len() / 2;
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&wire[..100]);
        assert_eq!(server.poll_event(), None);
        let buf = server.read_buffer(16 * 1024).expect("inside a large frame");
        assert_eq!(buf.remaining_mut(), one - 100 + READ_SLACK);
        assert!(buf.get_ref().capacity() - buf.get_ref().len() >= one - 100);
        // Under `min_read` to go: the adapter reads through its own small buffer.
        server.receive(&wire[100..one - 1000]);
        assert_eq!(server.poll_event(), None);
        assert!(server.read_buffer(16 * 1024).is_none());
    }

    #[test]
    #[cfg(feature = "tokio")]
    fn a_read_takes_whole_frames_of_the_same_size_up_to_read_ahead() {
        let wire = client_wire(&[large(), large(), large(), large(), large()]);
        let one = wire.len() / 5;
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&wire[..100]);
        assert_eq!(server.poll_event(), None);
        // The rest of this frame, as many more like it as fit in READ_AHEAD (three), and the
        // header of the next.
        let n = read_into(&mut server, &wire[100..]).expect("inside a large frame");
        assert_eq!(n, one - 100 + 3 * one + READ_SLACK);
        assert!(n <= READ_AHEAD + READ_SLACK);
        assert_eq!(drain(&mut server), vec![large(); 4]);
        // Nothing of the fifth frame is left to copy: its header is decoded, its payload next.
        assert!(server.rbuf.is_empty());
        assert_eq!(
            read_into(&mut server, &wire[100 + n..]),
            Some(one - READ_SLACK)
        );
        assert_eq!(drain(&mut server), vec![large()]);
    }

    #[test]
    #[cfg(feature = "tokio")]
    fn after_a_large_frame_the_next_are_read_into_the_buffer_and_it_is_released_when_idle() {
        let wire = client_wire(&[large()]);
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&wire);
        assert_eq!(drain(&mut server), vec![large()]);
        let buf = server
            .read_buffer(16 * 1024)
            .expect("a large frame came last");
        assert_eq!(buf.remaining_mut(), 3 * wire.len() + READ_SLACK);
        // The read would block: an idle connection keeps no receive buffer.
        server.release_read_buffer();
        assert_eq!(server.rbuf.capacity(), 0);
    }

    #[test]
    #[cfg(feature = "tokio")]
    fn the_next_payloads_reuse_the_buffer_of_payloads_already_dropped() {
        let wire = client_wire(&[large(), large(), large(), large(), large()]);
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&wire[..100]);
        assert_eq!(server.poll_event(), None);
        let n = 100 + read_into(&mut server, &wire[100..]).expect("inside a large frame");
        let payloads = drain(&mut server);
        assert_eq!(payloads.len(), 4);
        let start = payloads[0].as_bytes().as_ptr() as usize;
        drop(payloads); // as an echo does once it has written the messages
        let buf = server.read_buffer(16 * 1024).expect("inside a large frame");
        let next = buf.get_ref().as_ptr() as usize;
        // The allocation began with the first frame's header, just before its payload.
        assert!((start - FrameHeader::MAX_LEN..=start).contains(&next));
        server.receive(&wire[n..]);
        assert_eq!(drain(&mut server), vec![large()]);
    }

    #[test]
    fn a_payload_still_held_is_never_overwritten_by_the_next_frames() {
        let messages: Vec<Message> = (1..=7u8)
            .map(|b| Message::binary(vec![b; 64 * 1024]))
            .collect();
        let wire = client_wire(&messages);
        let mut server = Connection::new(Role::Server, Config::default());
        let mut held = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            // Reads into the receive buffer where the adapters would, else 1000 bytes.
            let n = match server.read_with(16 * 1024, usize::MAX, |buf| {
                let n = buf.len().min(wire.len() - at);
                buf[..n].copy_from_slice(&wire[at..at + n]);
                Ok::<_, ()>(n)
            }) {
                Some(Ok(n)) => n,
                _ => {
                    let n = 1000.min(wire.len() - at);
                    server.receive(&wire[at..at + n]);
                    n
                }
            };
            at += n;
            held.extend(drain(&mut server));
        }
        assert_eq!(held, messages);
    }

    #[test]
    #[cfg(feature = "tokio")]
    fn the_guess_for_the_next_frame_is_bounded_and_small_frames_read_through_the_adapter() {
        let huge = Message::binary(vec![1u8; 1 << 20]);
        let small = Message::binary(vec![2u8; 16]);
        let wire = client_wire(&[huge.clone(), small.clone()]);
        let mut server = Connection::new(Role::Server, Config::default());
        let split = wire.len() - 22; // the 16-byte frame: 2 + 4 bytes of header
        server.receive(&wire[..split]);
        assert_eq!(server.poll_event(), Some(Event::Message(huge)));
        let buf = server
            .read_buffer(16 * 1024)
            .expect("a large frame came last");
        assert_eq!(buf.remaining_mut(), NEXT_FRAME_AHEAD + READ_SLACK);
        server.receive(&wire[split..]);
        assert_eq!(server.poll_event(), Some(Event::Message(small)));
        assert!(server.read_buffer(16 * 1024).is_none());
    }

    #[test]
    fn a_blocking_read_gets_zeroed_room_to_the_frame_end_and_the_next_header() {
        let wire = client_wire(&[larger(), larger()]);
        let one = wire.len() / 2;
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&wire[..100]);
        assert_eq!(server.poll_event(), None);
        let read = server.read_with(32 * 1024, 1 << 20, |buf| {
            assert_eq!(buf.len(), one - 100 + READ_SLACK);
            assert!(buf.iter().all(|&b| b == 0));
            buf.copy_from_slice(&wire[100..one + READ_SLACK]);
            Ok::<_, ()>(buf.len())
        });
        assert_eq!(read, Some(Ok(one - 100 + READ_SLACK)));
        assert_eq!(server.poll_event(), Some(Event::Message(larger())));
        assert_eq!(server.poll_event(), None);
        // Inside the second frame, whose header came with the first read: the rest of it
        // (`one - READ_SLACK` bytes), and room for the header of a third.
        let read = server.read_with(32 * 1024, 1 << 20, |buf| {
            assert_eq!(buf.len(), one);
            buf[..one - READ_SLACK].copy_from_slice(&wire[one + READ_SLACK..]);
            Ok::<_, ()>(one - READ_SLACK)
        });
        assert_eq!(read, Some(Ok(one - READ_SLACK)));
        assert_eq!(server.poll_event(), Some(Event::Message(larger())));
        // Between frames, after a large one: read into the buffer; given back when idle.
        assert!(server
            .read_with(32 * 1024, 1 << 20, |_| Ok::<_, ()>(0))
            .is_some());
        server.release_read_buffer();
        assert_eq!(server.rbuf.capacity(), 0);
    }

    #[test]
    fn a_blocking_read_stops_at_a_frame_boundary_within_max_read() {
        let message = Message::binary(vec![4u8; 40 * 1024]);
        let wire = client_wire(&vec![message.clone(); 6]);
        let one = wire.len() / 6;
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&wire[..100]);
        assert_eq!(server.poll_event(), None);
        // Room for the rest of this frame and two more would exceed `max_read`: the read takes
        // one more and the header after it, not the start of a third frame.
        let max_read = one - 100 + 2 * one;
        let read = server.read_with(32 * 1024, max_read, |buf| {
            assert_eq!(buf.len(), one - 100 + one + READ_SLACK);
            buf.copy_from_slice(&wire[100..100 + buf.len()]);
            Ok::<_, ()>(buf.len())
        });
        assert_eq!(read, Some(Ok(one - 100 + one + READ_SLACK)));
        assert_eq!(drain(&mut server), vec![message; 2]);
        // Past the third frame's header (8 bytes), at most the rest of the slack.
        assert!(server.rbuf.len() <= READ_SLACK - 8);
    }

    #[test]
    fn a_blocking_read_that_fails_or_overreports_adds_nothing() {
        let wire = client_wire(&[large()]);
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&wire[..100]);
        assert_eq!(server.poll_event(), None);
        let held = server.rbuf.len();
        let failed = server.read_with(32 * 1024, 1 << 20, |buf| {
            buf.fill(0xee);
            Err("timed out")
        });
        assert_eq!(failed, Some(Err("timed out")));
        let over = server.read_with(32 * 1024, 1 << 20, |buf| {
            buf.fill(0xee);
            Ok::<_, ()>(buf.len() + 1)
        });
        assert!(matches!(over, Some(Ok(_))));
        assert_eq!(server.rbuf.len(), held);
        server.receive(&wire[100..]);
        assert_eq!(server.poll_event(), Some(Event::Message(large())));
    }

    #[test]
    fn a_blocking_read_zeroes_at_most_max_read() {
        let huge = Message::binary(vec![5u8; 1 << 20]);
        let wire = client_wire(core::slice::from_ref(&huge));
        let mut server = Connection::new(Role::Server, Config::default());
        server.receive(&wire[..100]);
        assert_eq!(server.poll_event(), None);
        let mut at = 100;
        while at < wire.len() {
            let read = server.read_with(32 * 1024, 64 * 1024, |buf| {
                assert!(buf.len() <= 64 * 1024);
                let n = buf.len().min(wire.len() - at);
                buf[..n].copy_from_slice(&wire[at..at + n]);
                Ok::<_, ()>(n)
            });
            match read {
                Some(Ok(n)) => at += n,
                // Under 32 KiB to go: through the adapter's own buffer.
                _ => {
                    server.receive(&wire[at..]);
                    at = wire.len();
                }
            }
        }
        assert_eq!(server.poll_event(), Some(Event::Message(huge)));
    }

    #[test]
    fn small_frames_are_read_by_the_blocking_adapter_through_its_own_buffer() {
        let mut server = Connection::new(Role::Server, Config::default());
        assert!(server
            .read_with(32 * 1024, 1 << 20, |_| Ok::<_, ()>(0))
            .is_none());
        let wire = client_wire(&[Message::binary(vec![3u8; 40 * 1024])]);
        server.receive(&wire[..wire.len() - 1000]);
        assert!(server
            .read_with(32 * 1024, 1 << 20, |_| Ok::<_, ()>(0))
            .is_none());
    }
}
