//! Line client: `client URL [--blocking] [--ca FILE]`.
//!
//! Connects to URL (`ws://`, or `wss://` with the feature `rustls`), sends each line of standard input as a text message, and prints each text
//! message it receives on its own line (binary ones as `binary:` and lowercase hex). At the end
//! of input it closes with 1000, waits for the server's Close, and exits 0. If the server closes
//! first, the client answers and exits 0 even while standard input is still open. A failed
//! handshake or a protocol error is printed to stderr and exits non-zero.
//!
//! `--ca FILE` (PEM, feature `rustls`): certificates a `wss://` server's may chain to, trusted
//! in addition to the default roots (a private CA, a self-signed test server).

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use rfc6455::handshake::ClientRequest;
use rfc6455::{CloseCode, Config, Error, Message};

/// The TLS configuration for `wss://`: the default one, or with `--ca`'s certificates too.
#[cfg(feature = "rustls")]
type Tls = Option<std::sync::Arc<rfc6455::tls::rustls::ClientConfig>>;
#[cfg(not(feature = "rustls"))]
type Tls = Option<std::convert::Infallible>;

fn usage() -> ExitCode {
    eprintln!("usage: client URL [--blocking] [--ca FILE]");
    ExitCode::from(2)
}

#[cfg(feature = "rustls")]
fn tls_config(ca: Option<String>) -> Result<Tls, String> {
    let Some(ca) = ca else { return Ok(None) };
    let pem = std::fs::read(&ca).map_err(|e| format!("{ca}: {e}"))?;
    let config = rfc6455::tls::client_config_with_ca_pem(&pem);
    config.map(Some).map_err(|e| format!("{ca}: {e}"))
}

#[cfg(not(feature = "rustls"))]
fn tls_config(ca: Option<String>) -> Result<Tls, String> {
    match ca {
        None => Ok(None),
        Some(_) => Err("--ca needs the feature rustls (cargo run --features rustls ...)".into()),
    }
}

fn main() -> ExitCode {
    let mut blocking_mode = false;
    let mut url = None;
    let mut ca = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--blocking" => blocking_mode = true,
            "--ca" => match args.next() {
                Some(file) => ca = Some(file),
                None => return usage(),
            },
            "-h" | "--help" => return usage(),
            other if url.is_none() => url = Some(other.to_owned()),
            _ => return usage(),
        }
    }
    let Some(url) = url else { return usage() };
    let tls = match tls_config(ca) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if blocking_mode {
        run_blocking(&url, tls)
    } else {
        run_async(&url, tls)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_message(msg: &Message) {
    let mut out = std::io::stdout().lock();
    let _ = match msg {
        Message::Text(t) => writeln!(out, "{t}"),
        Message::Binary(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            writeln!(out, "binary:{hex}")
        }
    };
    let _ = out.flush();
}

/// Standard input, line by line, on a thread of its own: `None` marks the end of input.
fn stdin_lines() -> mpsc::Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) => {
                    if tx.send(Some(line)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(None);
    });
    rx
}

fn run_blocking(url: &str, tls: Tls) -> Result<(), Error> {
    let request = ClientRequest::new(url)?;
    let (mut ws, _) = match tls {
        None => rfc6455::blocking::connect_with(&request, Config::default())?,
        #[cfg(feature = "rustls")]
        Some(tls) => rfc6455::blocking::connect_tls_with(&request, Config::default(), tls)?,
        #[cfg(not(feature = "rustls"))]
        Some(never) => match never {},
    };
    let lines = stdin_lines();
    let mut input_open = true;
    // Wake up regularly to look at standard input; the socket timeout passes through as an
    // I/O error and leaves the connection usable.
    ws.set_read_timeout(Some(Duration::from_millis(20)));
    loop {
        while input_open {
            match lines.try_recv() {
                Ok(Some(line)) => ws.send_text(&line)?,
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => {
                    input_open = false;
                    if ws.connection().state() == rfc6455::State::Open {
                        ws.close(CloseCode::NORMAL, "")?;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        match ws.recv() {
            Ok(Some(msg)) => print_message(&msg),
            Ok(None) => return Ok(()),
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(feature = "tokio")]
fn run_async(url: &str, tls: Tls) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let request = ClientRequest::new(url)?;
        let (ws, _) = match tls {
            None => rfc6455::tokio::connect_with(&request, Config::default()).await?,
            #[cfg(feature = "rustls")]
            Some(tls) => rfc6455::tokio::connect_tls_with(&request, Config::default(), tls).await?,
            #[cfg(not(feature = "rustls"))]
            Some(never) => match never {},
        };
        let (mut reader, mut writer) = ws.split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let std_rx = stdin_lines();
        std::thread::spawn(move || {
            while let Ok(line) = std_rx.recv() {
                let end = line.is_none();
                if tx.send(line).is_err() || end {
                    return;
                }
            }
        });
        let sender = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                match line {
                    Some(line) => writer.send(Message::text(line)).await?,
                    None => break,
                }
            }
            match writer.close(CloseCode::NORMAL, "").await {
                // The server closed first: nothing left to do.
                Err(Error::Send(rfc6455::SendError::Closed)) => Ok(()),
                other => other,
            }
        });
        let result = loop {
            match reader.recv().await {
                Ok(Some(msg)) => print_message(&msg),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        sender.abort();
        result
    })
}

#[cfg(not(feature = "tokio"))]
fn run_async(url: &str, tls: Tls) -> Result<(), Error> {
    run_blocking(url, tls)
}
