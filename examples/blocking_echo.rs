//! An echo server on the blocking adapter, a thread per connection:
//! `cargo run --example blocking_echo [-- ADDR]` (default 127.0.0.1:9002).

use std::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr)?;
    println!("listening on ws://{addr}/");
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || -> Result<(), rfc6455::Error> {
            let mut ws = rfc6455::blocking::accept(stream)?;
            // Ok(None): the closing handshake is done. Pings are answered on the way.
            while let Some(message) = ws.recv()? {
                ws.send(message)?;
            }
            Ok(())
        });
    }
    Ok(())
}
