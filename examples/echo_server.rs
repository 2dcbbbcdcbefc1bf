//! Echo server: `echo_server ADDR [--blocking] [--tls-cert FILE --tls-key FILE]`.
//!
//! Listens on ADDR (for example `127.0.0.1:9001`) and sends every text and binary message back
//! with the same type. Tokio (current-thread runtime) by default, one thread per connection with
//! `--blocking`. Prints `listening on ADDR` once it accepts connections. This is the server the
//! Autobahn|Testsuite runs against (`scripts/autobahn.sh`).
//!
//! With `--tls-cert FILE --tls-key FILE` (PEM: the certificate chain, leaf first, and its
//! private key) it serves `wss://` instead, with either adapter; that needs the feature
//! `rustls`.
//!
//! Run: `cargo run --release --features tokio --example echo_server -- 127.0.0.1:9001`
//! or, over TLS: `cargo run --release --features rustls --example echo_server -- 127.0.0.1:9443
//! --tls-cert cert.pem --tls-key key.pem`

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use rfc6455::{blocking, Config};

/// What the server serves over: TCP, or TLS with this configuration (feature `rustls`).
#[cfg(feature = "rustls")]
type Tls = Option<std::sync::Arc<rfc6455::tls::rustls::ServerConfig>>;
#[cfg(not(feature = "rustls"))]
type Tls = Option<std::convert::Infallible>;

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
    eprintln!("usage: echo_server ADDR [--blocking] [--tls-cert FILE --tls-key FILE]");
    ExitCode::from(2)
}

/// The TLS configuration from the PEM files, if both were given.
#[cfg(feature = "rustls")]
fn tls_config(cert: Option<String>, key: Option<String>) -> Result<Tls, String> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let cert = std::fs::read(&cert).map_err(|e| format!("{cert}: {e}"))?;
            let key = std::fs::read(&key).map_err(|e| format!("{key}: {e}"))?;
            let config = rfc6455::tls::server_config_from_pem(&cert, &key);
            config.map(Some).map_err(|e| e.to_string())
        }
        _ => Err("--tls-cert and --tls-key go together".to_owned()),
    }
}

#[cfg(not(feature = "rustls"))]
fn tls_config(cert: Option<String>, key: Option<String>) -> Result<Tls, String> {
    match (cert, key) {
        (None, None) => Ok(None),
        _ => Err("TLS needs the feature rustls (cargo run --features rustls ...)".to_owned()),
    }
}

fn main() -> ExitCode {
    let mut blocking_mode = false;
    let mut addr = None;
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--blocking" => blocking_mode = true,
            "--tls-cert" => match args.next() {
                Some(file) => cert = Some(file),
                None => return usage(),
            },
            "--tls-key" => match args.next() {
                Some(file) => key = Some(file),
                None => return usage(),
            },
            "-h" | "--help" => return usage(),
            other if addr.is_none() => addr = Some(other.to_owned()),
            _ => return usage(),
        }
    }
    let Some(addr) = addr.and_then(|a| a.parse::<SocketAddr>().ok()) else {
        return usage();
    };
    let tls = match tls_config(cert, key) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("echo_server: {e}");
            return ExitCode::from(2);
        }
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
        serve_blocking(listener, tls);
        ExitCode::SUCCESS
    } else {
        serve_async(listener, tls)
    }
}

fn serve_blocking(listener: TcpListener, tls: Tls) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        std::thread::spawn(move || {
            let accept = |_: &_| Ok(Default::default());
            match tls {
                None => match blocking::accept_with(stream, config(), accept) {
                    Ok(ws) => echo_blocking(ws),
                    Err(e) => eprintln!("handshake: {e}"),
                },
                #[cfg(feature = "rustls")]
                Some(tls) => match blocking::accept_tls_with(stream, tls, config(), accept) {
                    Ok(ws) => echo_blocking(ws),
                    Err(e) => eprintln!("handshake: {e}"),
                },
                #[cfg(not(feature = "rustls"))]
                Some(never) => match never {},
            }
        });
    }
}

fn echo_blocking<S: blocking::Stream>(mut ws: blocking::WebSocket<S>) {
    loop {
        match ws.recv() {
            // `feed` queues; the next `recv` flushes before it blocks, so a burst of
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
}

#[cfg(feature = "tokio")]
fn serve_async(listener: TcpListener, tls: Tls) -> ExitCode {
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
            let tls = tls.clone();
            tokio::spawn(async move {
                let accept = |_: &_| Ok(Default::default());
                match tls {
                    None => match accept_with(stream, config(), accept).await {
                        Ok(ws) => echo_async(ws).await,
                        Err(e) => eprintln!("handshake: {e}"),
                    },
                    #[cfg(feature = "rustls")]
                    Some(tls) => {
                        match rfc6455::tokio::accept_tls_with(stream, tls, config(), accept).await {
                            Ok(ws) => echo_async(ws).await,
                            Err(e) => eprintln!("handshake: {e}"),
                        }
                    }
                    #[cfg(not(feature = "rustls"))]
                    Some(never) => match never {},
                }
            });
        }
    })
}

#[cfg(feature = "tokio")]
async fn echo_async<S>(mut ws: rfc6455::tokio::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
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
}

#[cfg(not(feature = "tokio"))]
fn serve_async(listener: TcpListener, tls: Tls) -> ExitCode {
    eprintln!("echo_server: built without the `tokio` feature; serving with --blocking");
    serve_blocking(listener, tls);
    ExitCode::SUCCESS
}
