//! Echo server on tungstenite, one thread per connection: `echo-tungstenite ADDR|PORT`.
//!
//! Configured like `examples/echo_server.rs --blocking` of the root crate: `TCP_NODELAY`,
//! `listening on ADDR` once bound, a thread per connection that reads a message and `send`s
//! (writes and flushes) it back, text and binary only, as tungstenite's own server example does.

use rfc6455_loadtest::{bind_and_announce, listen_addr_from_args};

fn main() {
    let addr = listen_addr_from_args("echo-tungstenite");
    let listener = bind_and_announce(addr).expect("bind");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        std::thread::spawn(move || {
            let mut ws = match tungstenite::accept(stream) {
                Ok(ws) => ws,
                Err(e) => return eprintln!("handshake: {e}"),
            };
            loop {
                match ws.read() {
                    Ok(msg) if msg.is_text() || msg.is_binary() => {
                        if let Err(e) = ws.send(msg) {
                            eprintln!("send: {e}");
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::ConnectionClosed) => break,
                    Err(e) => {
                        eprintln!("connection: {e}");
                        break;
                    }
                }
            }
        });
    }
}
