//! Line client: `client URL [--blocking]`.
//!
//! Connects to URL, sends each line of standard input as a text message, and prints each text
//! message it receives on its own line (binary ones as `binary:` and lowercase hex). At the end
//! of input it closes with 1000, waits for the server's Close, and exits 0. If the server closes
//! first, the client answers and exits 0 even while standard input is still open. A failed
//! handshake or a protocol error is printed to stderr and exits non-zero.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use rfc6455::{CloseCode, Error, Message};

fn usage() -> ExitCode {
    eprintln!("usage: client URL [--blocking]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut blocking_mode = false;
    let mut url = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--blocking" => blocking_mode = true,
            "-h" | "--help" => return usage(),
            other if url.is_none() => url = Some(other.to_owned()),
            _ => return usage(),
        }
    }
    let Some(url) = url else { return usage() };
    let result = if blocking_mode {
        run_blocking(&url)
    } else {
        run_async(&url)
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

fn run_blocking(url: &str) -> Result<(), Error> {
    let (mut ws, _) = rfc6455::blocking::connect(url)?;
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
fn run_async(url: &str) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (ws, _) = rfc6455::tokio::connect(url).await?;
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
fn run_async(url: &str) -> Result<(), Error> {
    run_blocking(url)
}
