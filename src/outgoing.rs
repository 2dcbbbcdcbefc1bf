//! The outgoing queue of a [`Connection`](crate::Connection): data frames and the Close frame, in
//! the order they were queued, as one byte stream for the socket.
//!
//! Frames are encoded into an owned buffer, so a burst of small messages leaves in one write
//! call. A large payload the application hands over as [`Bytes`] (a server's echo, a compressed
//! message) is not copied: its header goes into the owned buffer and the payload is queued
//! beside it, shared, for a vectored write (`writev`) of both.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::frame::{apply_mask, FrameHeader};
use crate::Status;

/// Payloads at least this long are queued shared rather than copied: below it, a copy into the
/// owned buffer is cheaper than a segment of its own (and keeps a burst in one slice).
pub(crate) const SHARE_MIN: usize = 4096;

/// An emptied owned buffer up to this capacity is kept for the next frames; a larger one (after
/// a large message) is freed, so an idle connection does not hold it.
const KEEP_CAPACITY: usize = 128 * 1024;

enum Segment {
    /// Frames encoded by us (every frame's header is in one of these, whole).
    Owned(Vec<u8>),
    /// A payload shared with the application; its header ends the owned segment before it.
    Shared(Bytes),
}

impl Segment {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Shared(b) => b,
        }
    }
}

pub(crate) struct OutQueue {
    segs: VecDeque<Segment>,
    /// Bytes of the front segment already written.
    head: usize,
    /// Unwritten bytes, in all segments.
    len: usize,
    /// Unwritten bytes of the frame being written; 0 at a frame boundary.
    frame_left: usize,
    /// An emptied owned buffer, kept for reuse.
    spare: Vec<u8>,
}

impl OutQueue {
    pub(crate) const fn new() -> Self {
        Self {
            segs: VecDeque::new(),
            head: 0,
            len: 0,
            frame_left: 0,
            spare: Vec::new(),
        }
    }

    /// Unwritten bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the next byte to write starts a frame (or nothing is queued): the only place a
    /// control frame from the other queue may go out (§5.4: control frames MAY be injected in
    /// the middle of a fragmented message, but never inside a frame).
    pub(crate) fn at_frame_boundary(&self) -> bool {
        self.frame_left == 0
    }

    fn owned_tail(&mut self) -> &mut Vec<u8> {
        if !matches!(self.segs.back(), Some(Segment::Owned(_))) {
            let mut buf = core::mem::take(&mut self.spare);
            buf.clear();
            self.segs.push_back(Segment::Owned(buf));
        }
        match self.segs.back_mut() {
            Some(Segment::Owned(v)) => v,
            _ => unreachable!("an owned segment was just pushed"),
        }
    }

    /// Queues a frame, copying (and masking, if `header.mask` is set) the payload `parts`.
    pub(crate) fn push_frame(&mut self, header: &FrameHeader, parts: &[&[u8]]) {
        let tail = self.owned_tail();
        let before = tail.len();
        encode_frame(tail, header, parts);
        self.len += tail.len() - before;
    }

    /// Queues a frame whose payload is `payload`, already masked with `header.mask` if any,
    /// without copying it when it is long enough to be worth a segment of its own.
    pub(crate) fn push_frame_shared(&mut self, header: &FrameHeader, payload: Bytes) {
        debug_assert_eq!(header.payload_len, payload.len() as u64);
        if payload.len() < SHARE_MIN {
            let tail = self.owned_tail();
            let before = tail.len();
            header.encode_to_vec(tail);
            tail.extend_from_slice(&payload);
            self.len += tail.len() - before;
            return;
        }
        let tail = self.owned_tail();
        let before = tail.len();
        header.encode_to_vec(tail);
        self.len += tail.len() - before + payload.len();
        self.segs.push_back(Segment::Shared(payload));
    }

    /// The unwritten bytes of the front segment.
    pub(crate) fn front(&self) -> &[u8] {
        match self.segs.front() {
            Some(seg) => &seg.bytes()[self.head..],
            None => &[],
        }
    }

    /// The rest of the frame being written, as far as the front segment holds it; empty at a
    /// frame boundary.
    pub(crate) fn front_in_frame(&self) -> &[u8] {
        let front = self.front();
        &front[..front.len().min(self.frame_left)]
    }

    /// Fills `dst` with the unwritten bytes, segment by segment; returns how many slices.
    pub(crate) fn slices<'a>(&'a self, dst: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        for (i, seg) in self.segs.iter().enumerate() {
            if n == dst.len() {
                break;
            }
            let bytes = if i == 0 {
                &seg.bytes()[self.head..]
            } else {
                seg.bytes()
            };
            if !bytes.is_empty() {
                dst[n] = bytes;
                n += 1;
            }
        }
        n
    }

    /// Records that `n` more bytes were written (clamped to what is queued).
    pub(crate) fn advance(&mut self, n: usize) {
        let mut n = n.min(self.len);
        while n > 0 {
            let Some(front) = self.segs.front() else {
                break;
            };
            let bytes = &front.bytes()[self.head..];
            if self.frame_left == 0 {
                // A frame starts here, and its header is whole in this (owned) segment.
                self.frame_left = frame_len_at(bytes);
            }
            let step = n.min(bytes.len()).min(self.frame_left);
            self.head += step;
            self.len -= step;
            self.frame_left -= step;
            n -= step;
            if self.head == front.bytes().len() {
                self.pop_front();
            } else if step == 0 {
                break; // unreachable for frames we encoded; never spin
            }
        }
        if self.len == 0 {
            self.frame_left = 0;
        }
    }

    fn pop_front(&mut self) {
        self.head = 0;
        if let Some(Segment::Owned(buf)) = self.segs.pop_front() {
            if buf.capacity() <= KEEP_CAPACITY && buf.capacity() > self.spare.capacity() {
                self.spare = buf;
            }
        }
    }
}

/// Bytes of payload copied, then masked, at a time: small enough that the masking pass finds
/// them still in the L1 cache, so a client's payload is read from memory once, not twice.
const MASK_STEP: usize = 8 * 1024;

/// Encodes a frame into `buf`: its header, then the payload `parts`, masked if `header.mask`
/// is set (§5.3).
pub(crate) fn encode_frame(buf: &mut Vec<u8>, header: &FrameHeader, parts: &[&[u8]]) {
    buf.reserve(header.encoded_len() + header.payload_len as usize);
    header.encode_to_vec(buf);
    let Some(key) = header.mask else {
        for part in parts {
            buf.extend_from_slice(part);
        }
        return;
    };
    let mut offset = 0;
    for piece in parts.iter().flat_map(|part| part.chunks(MASK_STEP)) {
        let at = buf.len();
        buf.extend_from_slice(piece);
        apply_mask(&mut buf[at..], key, offset);
        offset += piece.len();
    }
}

/// The length of the frame that starts `buf` (header and payload), for frames we encoded:
/// the header is whole in `buf`, the payload may continue in the next segment.
pub(crate) fn frame_len_at(buf: &[u8]) -> usize {
    match FrameHeader::decode(buf) {
        Ok(Status::Complete((h, n))) => n.saturating_add(h.payload_len as usize),
        _ => buf.len(),
    }
}
