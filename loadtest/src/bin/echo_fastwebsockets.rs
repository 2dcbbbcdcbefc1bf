//! Echo server on fastwebsockets: `echo-fastwebsockets ADDR|PORT`.
//!
//! Configured like `examples/echo_server.rs` of the root crate: a current-thread tokio runtime,
//! `TCP_NODELAY`, `listening on ADDR` once bound. The handshake goes through hyper (the crate's
//! `upgrade` feature, its only server handshake); each connection is then wrapped in a
//! `FragmentCollector` (whole messages, like the other servers) and echoes text and binary
//! messages with `write_frame`, as the crate's own echo example does.

use fastwebsockets::upgrade::{upgrade, UpgradeFut};
use fastwebsockets::{FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rfc6455_loadtest::{bind_and_announce, current_thread_runtime, listen_addr_from_args};

async fn echo(fut: UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn on_request(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade(&mut req)?;
    tokio::spawn(async move {
        if let Err(e) = echo(fut).await {
            eprintln!("connection: {e}");
        }
    });
    Ok(response)
}

fn main() {
    let addr = listen_addr_from_args("echo-fastwebsockets");
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
                let served = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(on_request))
                    .with_upgrades()
                    .await;
                if let Err(e) = served {
                    eprintln!("http: {e}");
                }
            });
        }
    });
}
