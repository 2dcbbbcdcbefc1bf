//! Echo server: `echo_server ADDR [--blocking]`.
//!
//! Listens on ADDR (for example `127.0.0.1:9001`) and sends every text and binary message back
//! with the same type. Tokio (current-thread runtime) by default, one thread per connection with
//! `--blocking`. Prints `listening on ADDR` once it accepts connections. This is the server the
//! Autobahn|Testsuite runs against (`scripts/autobahn.sh`).
//!
//! Run: `cargo run --release --features tokio --example echo_server -- 127.0.0.1:9001`

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use rfc6455::{blocking, Config};

/// The server's configuration: the defaults, with permessage-deflate accepted when the crate is
/// built with the `deflate` feature (the Autobahn run uses it for cases 12.* and 13.*).
fn config() -> Config {
    #[allow(unused_mut)]
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate = Some(rfc6455::deflate::DeflateConfig::default());
    }
    config
}

fn usage() -> ExitCode {
    eprintln!("usage: echo_server ADDR [--blocking]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut blocking_mode = false;
    let mut addr = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--blocking" => blocking_mode = true,
            "-h" | "--help" => return usage(),
            other if addr.is_none() => addr = Some(other.to_owned()),
            _ => return usage(),
        }
    }
    let Some(addr) = addr.and_then(|a| a.parse::<SocketAddr>().ok()) else {
        return usage();
    };
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().map_or(addr, |a| a);
    println!("listening on {local}");
    if blocking_mode {
        serve_blocking(listener);
        ExitCode::SUCCESS
    } else {
        serve_async(listener)
    }
}

fn serve_blocking(listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        std::thread::spawn(move || {
            let mut ws = match blocking::accept_with(stream, config(), |_| Ok(Default::default())) {
                Ok(ws) => ws,
                Err(e) => return eprintln!("handshake: {e}"),
            };
            loop {
                match ws.recv() {
                    // `write` queues; the next `read` flushes before it blocks, so a burst of
                    // messages is echoed with one write call.
                    Ok(Some(msg)) => {
                        if let Err(e) = ws.feed(msg) {
                            eprintln!("send: {e}");
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("connection: {e}");
                        break;
                    }
                }
            }
        });
    }
}

#[cfg(feature = "tokio")]
fn serve_async(listener: TcpListener) -> ExitCode {
    use rfc6455::tokio::accept_with;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo_server: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let _ = listener.set_nonblocking(true);
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("echo_server: {e}");
                return ExitCode::FAILURE;
            }
        };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut ws = match accept_with(stream, config(), |_| Ok(Default::default())).await {
                    Ok(ws) => ws,
                    Err(e) => return eprintln!("handshake: {e}"),
                };
                loop {
                    match ws.recv().await {
                        // `feed` queues; the next `recv` flushes before it waits, so a burst
                        // of messages is echoed with one write call.
                        Ok(Some(msg)) => {
                            if let Err(e) = ws.feed(msg).await {
                                eprintln!("send: {e}");
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            eprintln!("connection: {e}");
                            break;
                        }
                    }
                }
            });
        }
    })
}

#[cfg(not(feature = "tokio"))]
fn serve_async(listener: TcpListener) -> ExitCode {
    eprintln!("echo_server: built without the `tokio` feature; serving with --blocking");
    serve_blocking(listener);
    ExitCode::SUCCESS
}
