//! The sans-IO core driven by hand: a WebSocket echo server whose whole I/O is the loop below,
//! over a plain blocking `TcpStream`, with no adapter. Copy this loop to drive the core from
//! your own event loop (mio, io_uring, a game loop, an embedded network stack).
//!
//! `cargo run --example sans_io` starts the server on 127.0.0.1, has the blocking adapter's
//! client exchange three messages with it, and exits.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rfc6455::handshake::{Accept, ServerHandshake};
use rfc6455::{CloseCode, Config, Event, Status};

fn serve(mut tcp: TcpStream) -> std::io::Result<()> {
    let config = Config::default();
    let mut buf = [0u8; 16 * 1024];

    // 1. The opening handshake (RFC 6455 §4.2): read until the request is complete, answer it.
    let mut handshake = ServerHandshake::new(config.handshake_limits);
    let request = loop {
        let n = tcp.read(&mut buf)?;
        match handshake.receive(&buf[..n]) {
            Ok(Status::Complete(request)) => break request,
            Ok(Status::Partial) if n > 0 => continue,
            _ => return Ok(()), // a bad request or EOF (write `e.response()` to be polite)
        }
    };
    let answer = request.answer(config, |_request| Ok(Accept::new()));
    tcp.write_all(&answer.response)?; // the 101, or the error response
    let Ok(accepted) = answer.result else {
        return Ok(());
    };
    let mut conn = accepted.into_connection(&handshake.take_leftover());

    // 2. The connection: bytes in, events out; messages in, bytes out; time in.
    let origin = Instant::now();
    loop {
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Message(message) => conn.send(&message).expect("echo"),
                Event::Failed(error) => eprintln!("failed: {error}"),
                _ => {} // pongs and the Close echo are queued by the core
            }
        }
        while !conn.data_to_send().is_empty() {
            let n = tcp.write(conn.data_to_send())?;
            conn.mark_sent(n);
        }
        if conn.wants_shutdown() {
            let _ = tcp.shutdown(Shutdown::Write); // §7.1.1: the server closes TCP first
        }
        if conn.is_finished() {
            return Ok(());
        }
        // Read, but no longer than the core's next deadline (keepalive, close timeout).
        let deadline = conn
            .poll_timeout()
            .map(|d| d.saturating_sub(origin.elapsed()));
        tcp.set_read_timeout(deadline.map(|d| d.max(Duration::from_millis(1))))?;
        match tcp.read(&mut buf) {
            Ok(0) => conn.receive_eof(),
            Ok(n) => conn.receive(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                conn.handle_timeout(origin.elapsed());
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("ws://{}/", listener.local_addr()?);
    let server = std::thread::spawn(move || serve(listener.accept()?.0));

    let (mut ws, _response) = rfc6455::blocking::connect(&url)?;
    for text in ["one", "two", "three"] {
        ws.send_text(text)?;
        println!("echoed: {:?}", ws.recv()?);
    }
    ws.close(CloseCode::NORMAL, "done")?;
    while ws.recv()?.is_some() {}
    server.join().expect("server thread")?;
    println!("closed cleanly");
    Ok(())
}
