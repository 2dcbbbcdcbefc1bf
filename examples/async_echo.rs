//! An echo server on the tokio adapter, a task per connection:
//! `cargo run --example async_echo [-- ADDR]` (default 127.0.0.1:9003).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{addr}/");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut ws = rfc6455::tokio::accept(stream).await?;
            // Ok(None): the closing handshake is done. Pings are answered on the way.
            while let Some(message) = ws.recv().await? {
                ws.send(message).await?;
            }
            Ok::<_, rfc6455::Error>(())
        });
    }
}
