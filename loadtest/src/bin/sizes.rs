//! Sizes behind the memory figures in BENCHMARKS.md: `cargo run --release --manifest-path
//! loadtest/Cargo.toml --target-dir target --bin sizes`.
//!
//! An idle connection of an async server is mostly its task, which is as large as its future's
//! largest state for the connection's whole life. Prints the core types, the handshake futures
//! and a task shaped like `examples/echo_server.rs` (accept, then `recv` / `feed` in a loop).

use std::mem::{size_of, size_of_val};

use rfc6455::handshake::ClientRequest;
use rfc6455::tokio::{accept_with, client, WebSocketStream};
use rfc6455::{Config, Connection};
use rfc6455_loadtest::current_thread_runtime;
use tokio::net::{TcpListener, TcpStream};

fn main() {
    println!(
        "Connection                   {:>5} bytes",
        size_of::<Connection>()
    );
    println!(
        "WebSocketStream<TcpStream>   {:>5} bytes",
        size_of::<WebSocketStream<TcpStream>>()
    );
    current_thread_runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        let _other = TcpStream::connect(addr).await.expect("connect");
        let (other, _) = listener.accept().await.expect("accept");
        let handshake = accept_with(other, Config::default(), |_| Ok(Default::default()));
        println!(
            "accept_with future           {:>5} bytes",
            size_of_val(&handshake)
        );
        drop(handshake);
        let request = ClientRequest::new(&format!("ws://{addr}/")).expect("url");
        let connecting = client(stream, &request, Config::default());
        println!(
            "client future                {:>5} bytes",
            size_of_val(&connecting)
        );
        let task = async move {
            let accept = accept_with(accepted, Config::default(), |_| Ok(Default::default()));
            let Ok(mut ws) = accept.await else { return };
            while let Ok(Some(msg)) = ws.recv().await {
                if ws.feed(msg).await.is_err() {
                    break;
                }
            }
        };
        println!(
            "echo task (echo_server.rs)   {:>5} bytes",
            size_of_val(&task)
        );
    });
}
