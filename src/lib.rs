//! A sans-IO implementation of the WebSocket protocol,
//! [RFC 6455](https://www.rfc-editor.org/rfc/rfc6455), with thin blocking and tokio adapters.
//!
//! The core never touches a socket or a clock: you hand it the bytes you read and it hands you
//! events; you hand it messages and it hands you the bytes to write.
//!
//! ```text
//!            bytes read ──► receive() ─┐               ┌─► poll_event() ──► Message, Ping, Close...
//!   socket                             │  Connection   │
//!            bytes to write ◄─ data_to_send() ◄────────┴─◄ send_text(), ping(), close()...
//! ```
//!
//! # Where to start
//!
//! - **A server or client on tokio**: [`tokio::accept`] / [`tokio::connect`] give a
//!   [`tokio::WebSocketStream`]; call `recv()` and `send()` on it.
//! - **Blocking, a thread per connection**: [`blocking::accept`] / [`blocking::connect`] give a
//!   [`blocking::WebSocket`], with the same methods.
//! - **Your own event loop** (mio, io_uring, an embedded stack): a [`handshake::ServerHandshake`]
//!   or [`handshake::ClientHandshake`] for the opening handshake, then a [`Connection`];
//!   `examples/sans_io.rs` is the whole driver loop.
//! - **Settings and limits**: [`Config`], built with its `with_*` setters. **Errors**:
//!   [`Error`] (`is_timeout()`, `is_closed()`), whose [`ProtocolError`] names the rule the peer
//!   broke.
//! - **The pieces on their own**: [`handshake`] (§4, HTTP/1.1 Upgrade, both roles), [`frame`]
//!   (the codec, §5.2-§5.3), [`utf8`] (incremental validation, §8.1), `deflate` (RFC 7692).
//! - **Coming from tungstenite**: `docs/coming-from-tungstenite.md` in the repository maps each
//!   habit; `ARCHITECTURE.md` says how the crate is built and what to read first.
//!
//! For a glob import use [`prelude`]: `use rfc6455::*;` would bring the [`tokio`] module in
//! under the name of the tokio crate.
//!
//! A complete sans-IO exchange, client to server and back:
//!
//! ```
//! use rfc6455::{Config, Connection, Event, Message, Role};
//!
//! let mut client = Connection::new(Role::Client, Config::default());
//! let mut server = Connection::new(Role::Server, Config::default());
//!
//! client.send_text("ping me").unwrap();
//! let wire = client.data_to_send().to_vec();
//! client.mark_sent(wire.len());
//!
//! server.receive(&wire);
//! while let Some(event) = server.poll_event() {
//!     if let Event::Message(msg) = event {
//!         server.send(&msg).unwrap(); // echo
//!     }
//! }
//! let wire = server.data_to_send().to_vec();
//! server.mark_sent(wire.len());
//!
//! client.receive(&wire);
//! assert_eq!(client.poll_event(), Some(Event::Message(Message::text("ping me"))));
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

// The modules whose types are all re-exported here stay private, so that rustdoc shows each
// type once, at the root.
mod close;
mod config;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
pub mod frame;
pub mod handshake;
mod message;
mod outgoing;
mod unchecked;
pub mod utf8;

pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, Event, State};
pub use error::{ProtocolError, SendError};
#[doc(no_inline)]
pub use frame::{FrameHeader, Opcode};
pub use message::{DataFrame, DataKind, Message, Text};

/// The result of feeding bytes to an incremental parser (the handshake, a frame header).
///
/// As in `httparse`, incomplete input is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// Parsed.
    Complete(T),
    /// More bytes are needed; nothing was consumed.
    Partial,
}

/// Which end of the connection we are (RFC 6455 §1.3, §5.1): the client masks what it sends,
/// the server does not, and each fails the connection when the other breaks that rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the opening handshake request.
    Client,
    /// The end that accepted it.
    Server,
}

#[cfg(feature = "std")]
pub mod blocking;
#[cfg(feature = "rustls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;

#[cfg(feature = "std")]
pub use error::Error;

/// The names most programs use, for a glob import: `use rfc6455::prelude::*;`.
///
/// Glob-import this rather than the crate root: the root has a module named `tokio` (the async
/// adapter, `rfc6455::tokio::WebSocketStream`), and `use rfc6455::*;` would bring it in under
/// the name of the tokio crate, breaking `#[tokio::main]` and `tokio::spawn` in that file. The
/// prelude has no modules, only types, so it leaves `tokio` alone.
///
/// ```
/// use rfc6455::prelude::*;
///
/// # #[cfg(feature = "tokio")]
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     let config = Config::default().with_max_message_size(1 << 20);
///     tokio::spawn(async move { drop(config) }).await.unwrap();
/// }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
pub mod prelude {
    pub use crate::{
        Bytes, CloseCode, CloseFrame, Config, Connection, DataFrame, DataKind, Event, Message,
        Opcode, ProtocolError, Role, SendError, State, Text,
    };

    #[cfg(feature = "std")]
    pub use crate::{blocking::WebSocket, Error};

    #[cfg(feature = "tokio")]
    pub use crate::tokio::WebSocketStream;
}

/// The README's code blocks, compiled and run as doctests so that they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The code blocks of "Coming from tungstenite", likewise.
#[cfg(doctest)]
#[doc = include_str!("../docs/coming-from-tungstenite.md")]
pub struct ComingFromTungsteniteDoctests;
