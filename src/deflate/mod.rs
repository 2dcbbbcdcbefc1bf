//! permessage-deflate, the compression extension of [RFC 7692](https://www.rfc-editor.org/rfc/rfc7692)
//! (feature `deflate`), off unless the application enables it.
//!
//! Two halves, both without I/O:
//! - negotiation ([`DeflateConfig`] → [`Negotiated`]), run during the opening handshake:
//!   - a client sends [`DeflateConfig::client_offer`] in `Sec-WebSocket-Extensions`, then checks what the
//!     server accepted with [`DeflateConfig::client_accept_extensions`] (or
//!     [`DeflateConfig::client_accept_response`] for one element); an error means *Fail the WebSocket
//!     Connection* (RFC 7692 §7);
//!   - a server passes the client's offers to [`DeflateConfig::server_accept_offers`], which declines the
//!     malformed ones and returns the response element to send plus the [`Negotiated`] parameters, or `None`
//!     (no compression).
//! - per-message compression ([`DeflateCodec`]), one per connection: [`DeflateCodec::compress`] turns a
//!   whole message payload into the payload of a message sent with RSV1 on its first frame;
//!   [`DeflateCodec::decompress`] inflates a received compressed message frame by frame, with a limit on the
//!   decompressed size that is enforced while inflating.
//!
//! # Window bits 8
//!
//! RFC 7692 §7.1.2 allows windows of 2^8 to 2^15 bytes, as a limit on the sender: §7.1.2.1, *"By including
//! this parameter in an extension negotiation offer, a client limits the LZ77 sliding window size that the
//! server will use to compress messages."* zlib, and so zlib-rs and `flate2`, cannot *compress* raw DEFLATE
//! with a 256-byte window: zlib up to 1.2.8 silently used 512 bytes (which breaks a peer that really inflates
//! with 256), later versions reject it, and `flate2` panics for any window outside 9..=15, to compress or to
//! decompress. What others do: Python `websockets` passes 8 to `zlib.compressobj(wbits=-8)`, which raises
//! (its server then fails the handshake); Boost.Beast answers 9 to an offer of 8 (larger than asked, which
//! §7.1.2.1 forbids: "the same or smaller value as the offer"); Node's `DeflateRaw` (under `ws`) and Bun turn
//! 8 into 9 and so compress with a larger window than agreed; a `flate2`-based Rust implementation declines
//! offers of 8. Autobahn|Testsuite 25.10.1 switched its 13.* cases from 8 to 9.
//!
//! Our rule never exceeds the negotiated window and never fails a handshake over it:
//! - **Where we inflate** (the peer's window): a larger window inflates anything compressed with a smaller
//!   one, since the window only bounds how far back the *sender's* <length, backward distance> pairs reach
//!   (RFC 1951 §2). We accept 8 and inflate with 9 (zlib-rs in fact keeps a 32 KiB window in any case).
//! - **Where we deflate** (our window) and the peer limited us to 8 (`server_max_window_bits=8` in an
//!   offer, `client_max_window_bits=8` in a response): we accept, then send that direction uncompressed
//!   ([`DeflateCodec::should_compress`] is false). RFC 7692 §6: RSV1 *"is set for compressed messages and
//!   unset for uncompressed messages"*, so an endpoint may send any message uncompressed, and a sender that
//!   never compresses uses no window at all. If [`DeflateCodec::compress`] is called anyway it writes stored
//!   DEFLATE blocks, which hold no back-references and so respect any window.
//! - **What we ask for ourselves**: we never propose 8; a configured 8 is sent as 9 (it would not shrink our
//!   inflater, and zlib-based peers cannot compress with 8).
//!
//! # Memory
//!
//! Each direction allocates its state on first use (a connection that never sends or receives a compressed
//! message costs nothing) and keeps it for the connection's lifetime (reset, not freed, between messages
//! under `*_no_context_takeover`). Measured with a counting allocator (`tests/deflate_memory.rs`), zlib-rs
//! 0.6 through `flate2` 1.1 (memLevel 8, which `flate2` does not let us change):
//!
//! | window bits | compressor | decompressor |
//! | --- | --- | --- |
//! | 15 (32 KiB, the RFC default) | 371 KiB | 46 KiB |
//! | 12 | 259 KiB | 46 KiB |
//! | 9 | 245 KiB | 46 KiB |
//!
//! The compressor is its window (2 × 2^bits bytes), its chain table (2 × 2^bits) and fixed costs of about
//! 240 KiB (a 128 KiB hash table and the pending buffers); the decompressor always has a 32 KiB window, whatever
//! the peer's window bits. So `server_max_window_bits` (on a server) or a limit from the server (on a client)
//! saves up to a third of our compressor; `client_max_window_bits` on a server saves the *client's* memory,
//! not ours. The `threshold` keeps connections that only send small messages from allocating a compressor.
//!
//! See [RFC 7692 §7](https://www.rfc-editor.org/rfc/rfc7692#section-7).

use alloc::string::String;
use core::fmt;

mod codec;
mod negotiate;

pub use codec::DeflateCodec;
pub use negotiate::{DeflateConfig, Negotiated};

/// The extension token, compared ASCII case-insensitively as the handshake does.
///
/// See [RFC 7692 §7](https://www.rfc-editor.org/rfc/rfc7692#section-7).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// What can go wrong in negotiation (the client must then *Fail the WebSocket Connection*) or while inflating
/// (the connection closes with [`DeflateError::close_code`]).
///
/// See [RFC 7692 §7](https://www.rfc-editor.org/rfc/rfc7692#section-7) and
/// [§7.2.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeflateError {
    /// §7: the element is not `permessage-deflate`.
    NotPermessageDeflate(String),
    /// §7: the server accepted `permessage-deflate` more than once.
    DuplicateExtension,
    /// §7: "an extension parameter not defined for use in a response".
    UnknownParameter(String),
    /// §7: "multiple extension parameters with the same name".
    DuplicateParameter(String),
    /// §7: "an extension parameter with an invalid value": a value where none is allowed, none where one is
    /// required, or not a window size from 8 to 15 without leading zeros (§7.1.2).
    InvalidValue {
        /// The parameter's name.
        name: String,
        /// Its value, `None` when it had none.
        value: Option<String>,
    },
    /// §7: "the client does not support the configuration that the response represents" (the rule it breaks).
    Unsupported(&'static str),
    /// The decompressed message would be larger than the limit given to [`DeflateCodec::decompress`] (1009).
    TooBig {
        /// The limit, in decompressed bytes per message.
        limit: usize,
    },
    /// The compressed data is not valid DEFLATE (1007).
    Corrupt,
}

impl DeflateError {
    /// The close code for errors found while inflating a message: 1009 (Message Too Big) for
    /// [`DeflateError::TooBig`], 1007 (Invalid Frame Payload Data) for [`DeflateError::Corrupt`]; `None` for
    /// negotiation errors, which fail the handshake instead.
    ///
    /// See [RFC 6455 §7.4.1](https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1).
    #[must_use]
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Self::TooBig { .. } => Some(1009),
            Self::Corrupt => Some(1007),
            Self::NotPermessageDeflate(_)
            | Self::DuplicateExtension
            | Self::UnknownParameter(_)
            | Self::DuplicateParameter(_)
            | Self::InvalidValue { .. }
            | Self::Unsupported(_) => None,
        }
    }
}

impl fmt::Display for DeflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPermessageDeflate(name) => {
                write!(f, "extension {name:?} is not permessage-deflate")
            }
            Self::DuplicateExtension => f.write_str("permessage-deflate accepted more than once"),
            Self::UnknownParameter(name) => {
                write!(f, "unknown permessage-deflate parameter {name:?}")
            }
            Self::DuplicateParameter(name) => {
                write!(f, "duplicate permessage-deflate parameter {name:?}")
            }
            Self::InvalidValue {
                name,
                value: Some(value),
            } => write!(
                f,
                "invalid value {value:?} for permessage-deflate parameter {name:?}"
            ),
            Self::InvalidValue { name, value: None } => {
                write!(f, "permessage-deflate parameter {name:?} needs a value")
            }
            Self::Unsupported(why) => write!(f, "unsupported permessage-deflate response: {why}"),
            Self::TooBig { limit } => {
                write!(f, "decompressed message exceeds {limit} bytes")
            }
            Self::Corrupt => f.write_str("invalid compressed data"),
        }
    }
}

impl std::error::Error for DeflateError {}
