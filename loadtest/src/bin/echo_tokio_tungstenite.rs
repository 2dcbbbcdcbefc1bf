//! Echo server on tokio-tungstenite: `echo-tokio-tungstenite ADDR|PORT`.
//!
//! Configured like `examples/echo_server.rs` of the root crate: a current-thread tokio runtime,
//! `TCP_NODELAY`, `listening on ADDR` once bound. Each connection is echoed the way the crate's
//! own echo example does it: the read half, text and binary messages only, `forward`ed into the
//! write half (which flushes when the read side has nothing more for now).

use futures_util::{StreamExt, TryStreamExt};
use rfc6455_loadtest::{bind_and_announce, current_thread_runtime, listen_addr_from_args};

fn main() {
    let addr = listen_addr_from_args("echo-tokio-tungstenite");
    let listener = bind_and_announce(addr).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    current_thread_runtime().block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let ws = match tokio_tungstenite::accept_async(stream).await {
                    Ok(ws) => ws,
                    Err(e) => return eprintln!("handshake: {e}"),
                };
                let (write, read) = ws.split();
                if let Err(e) = read
                    .try_filter(|m| std::future::ready(m.is_text() || m.is_binary()))
                    .forward(write)
                    .await
                {
                    eprintln!("connection: {e}");
                }
            });
        }
    });
}
