//! Echo server on tokio-websockets: `echo-tokio-websockets ADDR|PORT`.
//!
//! Configured like `examples/echo_server.rs` of the root crate: a current-thread tokio runtime,
//! `TCP_NODELAY`, `listening on ADDR` once bound; each connection reads a message and `send`s it
//! back, text and binary only, as the crate's own echo example does.

use futures_util::{SinkExt, StreamExt};
use rfc6455_loadtest::{bind_and_announce, current_thread_runtime, listen_addr_from_args};
use tokio_websockets::ServerBuilder;

fn main() {
    let addr = listen_addr_from_args("echo-tokio-websockets");
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
                let mut ws = match ServerBuilder::new().accept(stream).await {
                    Ok((_request, ws)) => ws,
                    Err(e) => return eprintln!("handshake: {e}"),
                };
                while let Some(msg) = ws.next().await {
                    match msg {
                        Ok(msg) if msg.is_text() || msg.is_binary() => {
                            if let Err(e) = ws.send(msg).await {
                                eprintln!("send: {e}");
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("connection: {e}");
                            break;
                        }
                    }
                }
            });
        }
    });
}
