//! Per-message compression and decompression (RFC 7692 §7.2).

use alloc::vec::Vec;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::negotiate::{MAX_WINDOW_BITS, MIN_OWN_WINDOW_BITS};
use super::{DeflateConfig, DeflateError, Negotiated};
use crate::Role;

/// The empty stored block that ends every flushed message, removed by the sender and appended again by the
/// receiver: §7.2.1 step 3, §7.2.2 step 1.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output space per inflate call, at first (1 KiB) and at most (64 KiB): it grows while calls fill it.
const MIN_STEP: usize = 1 << 10;
const MAX_STEP: usize = 1 << 16;

/// The largest stored DEFLATE block (RFC 1951 §3.2.4: `LEN` is 16 bits).
const MAX_STORED: usize = 0xffff;

/// The per-connection compression state of one endpoint: a compressor for what it sends, a decompressor for
/// what it receives, each allocated on first use and kept for the connection's lifetime.
///
/// Costs (see the [module docs](super)): the compressor about 371 KiB at 15 window bits and 245 KiB at 9; the
/// decompressor 46 KiB whatever the window.
///
/// See [RFC 7692 §7.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.2).
#[derive(Debug)]
pub struct DeflateCodec {
    negotiated: Negotiated,
    role: Role,
    level: Compression,
    threshold: usize,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
    /// Decompressed bytes of the message being received, checked against the limit.
    inflated: usize,
    /// The received DEFLATE stream ended (BFINAL) exactly at the end of the data fed so far.
    stream_ended: bool,
}

impl DeflateCodec {
    /// The state for `role` on a connection with the `negotiated` parameters; `config` gives the compression level
    /// and the threshold. Nothing is allocated until the first message.
    ///
    /// See [RFC 7692 §7.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.2).
    #[must_use]
    pub fn new(negotiated: Negotiated, role: Role, config: &DeflateConfig) -> Self {
        Self {
            negotiated,
            role,
            level: Compression::new(config.compression_level.min(9)),
            threshold: config.threshold,
            compressor: None,
            decompressor: None,
            inflated: 0,
            stream_ended: false,
        }
    }

    /// The parameters this codec applies.
    ///
    /// See [RFC 7692 §7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1).
    #[must_use]
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    fn peer(&self) -> Role {
        match self.role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }

    /// Should a message of `len` bytes be sent compressed? False below the configured threshold, and always when
    /// the peer limited our window to 8 bits, which zlib cannot compress with (RFC 7692 §6: RSV1 *"is set for
    /// compressed messages and unset for uncompressed messages"*, so sending uncompressed is always allowed).
    ///
    /// See [RFC 7692 §6](https://www.rfc-editor.org/rfc/rfc7692#section-6) and
    /// [§7.1.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.1.2).
    #[must_use]
    pub fn should_compress(&self, len: usize) -> bool {
        self.negotiated.max_window_bits(self.role) >= MIN_OWN_WINDOW_BITS && len >= self.threshold
    }

    /// Compresses one whole message payload, appending the result to `out`; send it with RSV1 set on the first
    /// frame (and only there), fragmented or not.
    ///
    /// §7.2.1: "1. Compress all the octets of the payload of the message using DEFLATE. 2. If the resulting data
    /// does not end with an empty DEFLATE block with no compression (the "BTYPE" bits are set to 00), append an
    /// empty DEFLATE block with no compression to the tail end. 3. Remove 4 octets (that are 0x00 0x00 0xff 0xff)
    /// from the tail end." The compressor is then reset if our side has no context takeover. The empty message
    /// gives `[0x00]` (§7.2.3.6).
    ///
    /// When our window was limited to 8 bits (see [`DeflateCodec::should_compress`]) the output is stored
    /// DEFLATE blocks, which hold no back-references and so respect any window.
    ///
    /// See [RFC 7692 §7.2.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.2.1).
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let bits = self.negotiated.max_window_bits(self.role);
        if bits < MIN_OWN_WINDOW_BITS || !self.deflate(payload, out, bits) {
            store(payload, out);
        }
    }

    /// Compresses with zlib; false (with `out` as it was and the compressor dropped) if zlib fails, which
    /// its API allows but a valid stream never does.
    fn deflate(&mut self, payload: &[u8], out: &mut Vec<u8>, bits: u8) -> bool {
        let start = out.len();
        let level = self.level;
        let compressor = self.compressor.get_or_insert_with(|| {
            Compress::new_with_window_bits(level, false, bits.min(MAX_WINDOW_BITS))
        });
        let mut input = payload;
        loop {
            // Room for the output: incompressible data grows by 5 bytes per stored block, plus the flush.
            out.reserve(input.len() + input.len() / 1024 + 64);
            let (in_before, out_before) = (compressor.total_in(), compressor.total_out());
            if compressor
                .compress_vec(input, out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            if (compressor.total_in(), compressor.total_out()) == (in_before, out_before)
                && !input.is_empty()
            {
                // No progress with input and room left: never for a sane zlib.
                break;
            }
            let consumed = usize::try_from(compressor.total_in() - in_before).unwrap_or(usize::MAX);
            input = input.get(consumed..).unwrap_or_default();
            // zlib returns with output space left only once all input is consumed and the flush is complete.
            if input.is_empty() && out.len() < out.capacity() {
                if !out[start..].ends_with(&TAIL) {
                    // A sync flush always ends with the empty stored block; anything else is a zlib failure.
                    break;
                }
                out.truncate(out.len() - TAIL.len());
                if self.negotiated.no_context_takeover(self.role) {
                    compressor.reset();
                }
                return true;
            }
        }
        // Start over with stored blocks and a fresh compressor: the peer's window holds the payload either way,
        // and a compressor without history never refers to it.
        out.truncate(start);
        self.compressor = None;
        false
    }

    /// Inflates one frame's payload of a compressed message (the first frame had RSV1), appending the data to
    /// `out`. Call it for every frame of the message, `fin` set on the last one, so that a message can be
    /// consumed frame by frame.
    ///
    /// `limit` is the largest decompressed size of the whole message (counted from its first frame, whatever
    /// `out` held): inflating proceeds in bounded steps and stops with [`DeflateError::TooBig`] (1009) as soon as
    /// the message would exceed it, so a small frame that would inflate to gigabytes costs at most `limit` + 1
    /// bytes of `out` (its capacity never grows past that for this message) and the work to produce them, in
    /// steps of at most 64 KiB. Invalid DEFLATE data is
    /// [`DeflateError::Corrupt`] (1007). After an error the connection must be failed; the codec drops its
    /// decompressor.
    ///
    /// §7.2.2: "1. Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload of the message. 2.
    /// Decompress the resulting data using DEFLATE." That happens at `fin`; then the decompressor is reset if the
    /// peer has no context takeover. A block with BFINAL set (§7.2.3.4) ends the DEFLATE stream; what follows
    /// starts a new one.
    ///
    /// See [RFC 7692 §7.2.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.2.2).
    pub fn decompress(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), DeflateError> {
        let mut result = self.inflate(input, out, limit);
        // A stream that ended with BFINAL exactly at the end of the data takes no tail: it would start a new,
        // unfinished stream.
        if fin && result.is_ok() && !self.stream_ended {
            result = self.inflate(&TAIL, out, limit);
        }
        if result.is_err() {
            self.decompressor = None;
            self.inflated = 0;
            self.stream_ended = false;
        } else if fin {
            self.inflated = 0;
            self.stream_ended = false;
            if self.negotiated.no_context_takeover(self.peer()) {
                if let Some(decompressor) = &mut self.decompressor {
                    decompressor.reset(false);
                }
            }
        }
        result
    }

    /// Feeds `input` (a frame's payload, or the §7.2.2 tail) to the decompressor.
    fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), DeflateError> {
        if input.is_empty() {
            return Ok(());
        }
        self.stream_ended = false;
        // The peer's window, at least 9 bits: a larger window inflates anything a smaller one produced (see
        // "Window bits 8" in the module docs).
        let bits = self
            .negotiated
            .max_window_bits(self.peer())
            .clamp(MIN_OWN_WINDOW_BITS, MAX_WINDOW_BITS);
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut step = input.len().saturating_mul(4).clamp(MIN_STEP, MAX_STEP);
        loop {
            // Room for at most one byte past the limit, to tell "exactly the limit" from "more".
            let allowed = limit
                .checked_sub(self.inflated)
                .ok_or(DeflateError::TooBig { limit })?;
            let space = step.min(allowed.saturating_add(1));
            let len = out.len();
            grow(out, space, allowed);
            out.resize(len + space, 0);
            let (in_before, out_before) = (decompressor.total_in(), decompressor.total_out());
            let status = decompressor.decompress(input, &mut out[len..], FlushDecompress::None);
            let consumed =
                usize::try_from(decompressor.total_in() - in_before).unwrap_or(usize::MAX);
            let produced = usize::try_from(decompressor.total_out() - out_before)
                .unwrap_or(usize::MAX)
                .min(space);
            out.truncate(len + produced);
            input = input.get(consumed..).unwrap_or_default();
            self.inflated = self.inflated.saturating_add(produced);
            if self.inflated > limit {
                return Err(DeflateError::TooBig { limit });
            }
            match status {
                Err(_) => return Err(DeflateError::Corrupt),
                Ok(Status::StreamEnd) => {
                    // §7.2.3.4: the sender ended the DEFLATE stream with BFINAL (all its output is written);
                    // what follows starts a new stream.
                    decompressor.reset(false);
                    if input.is_empty() {
                        self.stream_ended = true;
                        return Ok(());
                    }
                }
                Ok(Status::Ok | Status::BufError) => {
                    if input.is_empty() && produced < space {
                        // All input consumed and nothing pending: zlib stops early only for lack of input.
                        return Ok(());
                    }
                    if consumed == 0 && produced == 0 {
                        // No progress with both input and room: never for valid data.
                        return Err(DeflateError::Corrupt);
                    }
                }
            }
            if produced == space {
                step = (step * 2).min(MAX_STEP);
            }
        }
    }
}

/// Makes room for `space` more bytes in `out`, doubling its capacity as `Vec` does but never past what the rest
/// of the message may use (`allowed` + 1 bytes), so that a message stopped at its limit holds at most that much.
fn grow(out: &mut Vec<u8>, space: usize, allowed: usize) {
    let len = out.len();
    if out.capacity() - len >= space {
        return;
    }
    let ceiling = len.saturating_add(allowed).saturating_add(1);
    let target = out
        .capacity()
        .saturating_mul(2)
        .min(ceiling)
        .max(len + space);
    out.reserve_exact(target - len);
}

/// Writes `payload` as stored DEFLATE blocks (RFC 1951 §3.2.4: a 3-bit header with BTYPE 00 padded to a byte,
/// `LEN`, `NLEN`, the bytes), then the header byte of the empty stored block that §7.2.1 step 3 leaves: the
/// output is exactly what §7.2.1 gives for a compressor that never compresses.
fn store(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + payload.len() / MAX_STORED * 5 + 6);
    for chunk in payload.chunks(MAX_STORED) {
        // BFINAL 0, BTYPE 00; `chunks` never yields more than 0xffff bytes.
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(0x00);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.push(0x00);
}
