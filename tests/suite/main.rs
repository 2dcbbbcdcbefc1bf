//! The ordinary tests, in one binary (one link, one run): a module per concern, named as the
//! test files were, so `RFC_NOTES.md` cites a test as `module::test_name`
//! (`cargo test --test suite connection::masking::` runs one module's).
//!
//! Apart, each its own binary: `attacks_alloc` and `deflate_memory` install a counting global
//! allocator (it applies to a whole binary), `rfc_vectors` is what Miri runs (no network, no
//! tokio), and `push_server` drives the push server example's binary (it moves with that
//! example).

mod common;
mod net;

mod adapter_api;
mod adapters;
mod attacks;
mod attacks_net;
mod connection;
mod deflate;
mod deflate_connection;
mod examples;
mod handshake;
mod interop;
mod proptests;
mod tls;
