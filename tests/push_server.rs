//! The push server example (`examples/push_server.rs`) seen from outside: HTTP routes, the Origin
//! check, targeted pushes, chat, permessage-deflate (RFC 7692) and its `/stats` count, slow
//! clients, Ctrl-C, and a 1,000-client fan-out.
//!
//! Every test starts its own server process on `127.0.0.1:0`, so these tests are `#[ignore]`d:
//! they need the example binary, `$PUSH_SERVER_BIN` or else `target/<profile>/examples/push_server`
//! next to this test binary (`cargo test` builds examples; so does `scripts/push-e2e.sh`, which
//! runs them against the release build):
//!
//! ```text
//! cargo build --release --example push_server
//! PUSH_SERVER_BIN=target/release/examples/push_server \
//!     cargo test --release --test push_server -- --ignored --nocapture
//! ```
//!
//! The fan-out test prints the time from the POST to the last delivery and the server's memory
//! per connection (VmRSS from `/proc/<pid>/status`); `$PUSH_FANOUT_CLIENTS` changes the count.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use rfc6455::handshake::ClientRequest;
use rfc6455::tokio::{connect_with, WebSocketStream};
use rfc6455::{CloseCode, Config, Event, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<rfc6455::tokio::MaybeTlsStream>;

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PUSH_SERVER_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/push_server-<hash> -> target/<profile>/examples/push_server
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps");
    profile_dir.join("examples").join("push_server")
}

/// A push_server process on a free port; killed (by its PID) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let bin = server_binary();
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build --example push_server` or set PUSH_SERVER_BIN",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn push_server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std_mpsc::channel();
        // Reads the banner, then keeps draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("push_server: listening on http://") {
                    let _ = tx.send(rest.trim_end_matches('/').to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(STEP) {
            Ok(addr) => addr.parse().expect("address in banner"),
            Err(_) => {
                let _ = child.kill();
                panic!("push_server printed no `listening on` line within {STEP:?}");
            }
        };
        Self { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Sends SIGINT (what Ctrl-C sends) to this server's PID.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits (bounded) for the process to exit; returns whether it exited with success.
    fn wait_exit(&mut self, limit: Duration) -> Option<bool> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The server's resident memory in KiB (Linux `/proc/<pid>/status`, `VmRSS`).
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct HttpResponse {
    status: u16,
    head: String,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends raw request bytes and reads the whole answer (the server closes after one response).
async fn http_raw(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await?;
        std::io::Result::Ok(bytes)
    };
    let bytes = timeout(STEP, exchange)
        .await
        .expect("http exchange timed out")
        .expect("http exchange");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    HttpResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    http_raw(addr, request.as_bytes()).await
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http_raw(addr, request.as_bytes()).await
}

/// A number field of a flat JSON object, e.g. `"connections":3`.
fn json_number(json: &str, field: &str) -> u64 {
    let key = format!("\"{field}\":");
    let rest = &json[json
        .find(&key)
        .unwrap_or_else(|| panic!("{field} in {json}"))
        + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{field} in {json}"))
}

async fn push(server: &Server, user: Option<&str>, text: &str) -> u64 {
    let path = user.map_or_else(|| "/push".to_owned(), |u| format!("/push?user={u}"));
    let response = post(server.addr, &path, text).await;
    assert_eq!(response.status, 200, "{}", response.body);
    json_number(&response.body, "connections")
}

async fn stats(server: &Server, field: &str) -> u64 {
    json_number(&get(server.addr, "/stats").await.body, field)
}

async fn connect(server: &Server, origin: Option<&str>) -> Result<Ws, rfc6455::Error> {
    connect_config(server, origin, Config::default()).await
}

async fn connect_config(
    server: &Server,
    origin: Option<&str>,
    config: Config,
) -> Result<Ws, rfc6455::Error> {
    let mut request = ClientRequest::new(&server.ws_url()).expect("url");
    if let Some(origin) = origin {
        request = request.origin(origin);
    }
    let (ws, _response) = timeout(STEP, connect_with(&request, config))
        .await
        .expect("connect timed out")?;
    Ok(ws)
}

async fn next_text(ws: &mut Ws) -> String {
    match timeout(STEP, ws.recv()).await {
        Ok(Ok(Some(Message::Text(text)))) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Connects and registers as `user`; returns after the welcome.
async fn register(server: &Server, user: &str) -> Ws {
    register_config(server, user, Config::default()).await
}

async fn register_config(server: &Server, user: &str, config: Config) -> Ws {
    let mut ws = connect_config(server, None, config).await.expect("connect");
    ws.send(Message::text(user)).await.expect("send user id");
    let welcome = next_text(&mut ws).await;
    assert!(
        welcome.starts_with(&format!(r#"{{"type":"welcome","user":"{user}","#)),
        "{welcome}"
    );
    ws
}

/// Reads until the peer's Close frame; returns its code and reason.
async fn close_frame(ws: &mut Ws) -> (CloseCode, String) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match tokio::time::timeout_at(deadline, ws.recv_event()).await {
            Ok(Ok(Some(Event::Close(Some(frame))))) => return (frame.code, frame.reason),
            Ok(Ok(Some(Event::Close(None)))) => panic!("close frame without a code"),
            Ok(Ok(Some(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
#[ignore = "starts the push_server example binary: scripts/push-e2e.sh"]
async fn routes_page_404_405_and_the_cores_answer_on_ws() {
    let server = Server::start(&[]);
    let page = get(server.addr, "/?user=alice").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("new WebSocket("));

    assert_eq!(get(server.addr, "/favicon.ico").await.status, 404);
    assert_eq!(get(server.addr, "/ws/extra").await.status, 404);
    let wrong_method = get(server.addr, "/push").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("Allow"), Some("POST"));

    // A plain HTTP request to /ws: the core decides (400 for a missing Upgrade, §4.2.1).
    let plain = get(server.addr, "/ws").await;
    assert!(
        [400, 426].contains(&plain.status),
        "{} {}",
        plain.status,
        plain.body
    );
    if plain.status == 426 {
        assert_eq!(plain.header("Sec-WebSocket-Version"), Some("13"));
    }
    // Another version: 426 with the version we speak (§4.2.2).
    let v8 = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        server.addr
    );
    let v8 = http_raw(server.addr, v8.as_bytes()).await;
    assert_eq!(v8.status, 426);
    assert_eq!(v8.header("Sec-WebSocket-Version"), Some("13"));

    let bad_user = post(server.addr, "/push?user=a%20b", "x").await;
    assert_eq!(bad_user.status, 400);
    let empty = post(server.addr, "/push", "").await;
    assert_eq!(empty.status, 400);
    let too_big = post(server.addr, "/push", &"x".repeat(64 * 1024 + 1)).await;
    assert_eq!(too_big.status, 413);
    let stats_body = get(server.addr, "/stats").await.body;
    assert_eq!(json_number(&stats_body, "pushes"), 0, "{stats_body}");
}

#[tokio::test]
#[ignore = "starts the push_server example binary: scripts/push-e2e.sh"]
async fn foreign_origin_gets_403_own_and_allowed_origins_upgrade() {
    let server = Server::start(&["--allow-origin", "http://app.example:3000"]);
    let own = format!("http://{}", server.addr);
    let localhost = format!("http://localhost:{}", server.addr.port());
    for origin in [own.as_str(), localhost.as_str(), "http://app.example:3000"] {
        assert!(
            connect(&server, Some(origin)).await.is_ok(),
            "origin {origin} refused"
        );
    }
    for origin in ["http://evil.example", "http://127.0.0.1:1", "null"] {
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: {origin}\r\n\r\n",
            server.addr
        );
        let response = http_raw(server.addr, request.as_bytes()).await;
        assert_eq!(response.status, 403, "origin {origin}: {}", response.body);
    }
}

#[tokio::test]
#[ignore = "starts the push_server example binary: scripts/push-e2e.sh"]
async fn push_reaches_everyone_or_only_the_named_users_connections() {
    let server = Server::start(&[]);
    let mut alice1 = register(&server, "alice").await;
    let mut alice2 = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    assert_eq!(stats(&server, "connections").await, 3);
    assert_eq!(stats(&server, "users").await, 2);

    assert_eq!(push(&server, None, "deploy finished").await, 3);
    let to_all = r#"{"type":"push","to":null,"text":"deploy finished"}"#;
    for ws in [&mut alice1, &mut alice2, &mut bob] {
        assert_eq!(next_text(ws).await, to_all);
    }
    assert_eq!(push(&server, Some("alice"), "report \"Q3\" ready").await, 2);
    let to_alice = r#"{"type":"push","to":"alice","text":"report \"Q3\" ready"}"#;
    assert_eq!(next_text(&mut alice1).await, to_alice);
    assert_eq!(next_text(&mut alice2).await, to_alice);
    // Bob's next message is the next broadcast, not alice's push.
    assert_eq!(push(&server, None, "marker").await, 3);
    assert_eq!(
        next_text(&mut bob).await,
        r#"{"type":"push","to":null,"text":"marker"}"#
    );
    assert_eq!(push(&server, Some("carol"), "nobody home").await, 0);
    assert_eq!(stats(&server, "pushes").await, 4);
}

#[tokio::test]
#[ignore = "starts the push_server example binary: scripts/push-e2e.sh"]
async fn chat_after_registering_is_broadcast_to_all_users() {
    let server = Server::start(&[]);
    let mut alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    alice.send(Message::text("hi bob")).await.expect("send");
    let line = r#"{"type":"chat","from":"alice","text":"hi bob"}"#;
    assert_eq!(next_text(&mut bob).await, line);
    assert_eq!(next_text(&mut alice).await, line);
    // A first message that is not a user id is refused with 1008.
    let mut stranger = connect(&server, None).await.expect("connect");
    stranger
        .send(Message::text("not a user id!"))
        .await
        .expect("send");
    assert_eq!(
        close_frame(&mut stranger).await.0,
        CloseCode::POLICY_VIOLATION
    );
}

/// RFC 7692: the server accepts permessage-deflate from clients that offer it (browsers always do)
/// and `/stats` counts those connections; clients that do not offer it stay uncompressed. A push
/// above the 64-byte threshold reaches both kinds intact.
#[tokio::test]
#[ignore = "starts the push_server example binary: scripts/push-e2e.sh"]
async fn permessage_deflate_is_accepted_when_offered_and_counted_in_stats() {
    let server = Server::start(&[]);
    let mut config = Config::default();
    config.deflate = Some(rfc6455::deflate::DeflateConfig::default());
    let mut deflate = register_config(&server, "alice", config).await;
    let mut plain = register(&server, "bob").await;
    assert!(deflate.connection().is_compressed());
    assert!(!plain.connection().is_compressed());
    let body = get(server.addr, "/stats").await.body;
    assert_eq!(json_number(&body, "connections"), 2, "{body}");
    assert_eq!(json_number(&body, "compressed"), 1, "{body}");

    let text = "Build #4711 passed: 1,204 tests, 0 failures. ".repeat(48);
    assert!(text.len() > 2048);
    assert_eq!(push(&server, None, &text).await, 2);
    let expected = format!(r#"{{"type":"push","to":null,"text":"{text}"}}"#);
    assert_eq!(next_text(&mut deflate).await, expected);
    assert_eq!(next_text(&mut plain).await, expected);

    drop(deflate);
    let deadline = Instant::now() + STEP;
    while stats(&server, "compressed").await != 0 {
        assert!(Instant::now() < deadline, "closed connection still counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats(&server, "connections").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the push_server example binary: scripts/push-e2e.sh"]
async fn slow_client_is_closed_with_1008_and_counted_without_slowing_others() {
    let server = Server::start(&["--queue", "16"]);
    let mut slow = register(&server, "slow").await;
    let mut fast = register(&server, "fast").await;
    // The fast client reads everything, on its own task; it ends the count when its connection ends.
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0u64);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while let Ok(Some(_)) = fast.recv().await {
            n += 1;
            let _ = count_tx.send(n);
        }
        fast.connection().peer_close_frame().cloned()
    });
    // `slow` never reads: its socket buffers fill, then its queue of 16, then it is dropped.
    let chunk = "x".repeat(32 * 1024);
    let mut pushes = 0u64;
    let started = Instant::now();
    while stats(&server, "dropped_slow").await == 0 {
        assert!(
            pushes < 2000 && started.elapsed() < Duration::from_secs(60),
            "slow client not dropped after {pushes} pushes of 32 KiB"
        );
        push(&server, None, &chunk).await;
        pushes += 1;
    }
    assert_eq!(stats(&server, "dropped_slow").await, 1);
    // The fast client got every push while the slow one fell behind, and is still connected.
    let got_all = matches!(
        timeout(STEP, count_rx.wait_for(|&n| n == pushes)).await,
        Ok(Ok(_))
    );
    assert!(
        got_all,
        "fast client got {} of {pushes} pushes (closed: {:?})",
        *count_rx.borrow(),
        reader.is_finished()
    );
    assert_eq!(stats(&server, "connections").await, 1);
    assert_eq!(push(&server, Some("fast"), "still here").await, 1);
    // The slow client, reading at last, finds the backlog and then the Close frame.
    let (code, reason) = close_frame(&mut slow).await;
    assert_eq!(code, CloseCode::POLICY_VIOLATION);
    assert!(reason.contains("too slow"), "{reason}");
    println!("slow client dropped after {pushes} pushes of 32 KiB: {code} {reason:?}");
    reader.abort();
}

#[tokio::test]
#[ignore = "starts the push_server example binary: scripts/push-e2e.sh"]
async fn ctrl_c_sends_every_client_1001_then_exits() {
    let mut server = Server::start(&[]);
    let mut alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    let mut unregistered = connect(&server, None).await.expect("connect");
    server.interrupt();
    for ws in [&mut alice, &mut bob, &mut unregistered] {
        let (code, reason) = close_frame(ws).await;
        assert_eq!(code, CloseCode::GOING_AWAY, "{reason}");
        // Complete the closing handshake so the server need not wait for its timeout.
        let _ = timeout(STEP, ws.recv()).await;
    }
    assert_eq!(
        server.wait_exit(Duration::from_secs(10)),
        Some(true),
        "server did not exit cleanly within 10 s of SIGINT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the push_server example binary: scripts/push-e2e.sh"]
async fn fan_out_one_post_reaches_1000_clients() {
    let clients: usize = std::env::var("PUSH_FANOUT_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let server = Server::start(&[]);
    // Warm up (runtime threads, first allocations) before the baseline.
    drop(register(&server, "warmup").await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = server.rss_kib();

    let connect_started = Instant::now();
    let mut connections = Vec::with_capacity(clients);
    let mut batch = tokio::task::JoinSet::new();
    for i in 0..clients {
        let url = server.ws_url();
        batch.spawn(async move {
            let request = ClientRequest::new(&url).expect("url");
            let (mut ws, _) = connect_with(&request, Config::default()).await?;
            ws.send(Message::text(format!("fan-{i:04}"))).await?;
            match ws.recv().await? {
                Some(Message::Text(t)) if t.contains("\"welcome\"") => Ok(ws),
                other => panic!("expected a welcome, got {other:?}"),
            }
        });
        // At most 100 handshakes in flight, well under the listen backlog.
        if batch.len() == 100 || i + 1 == clients {
            while let Some(joined) = timeout(STEP, batch.join_next())
                .await
                .expect("handshakes timed out")
            {
                let ws: Result<Ws, rfc6455::Error> = joined.expect("task");
                connections.push(ws.expect("connect and register"));
            }
        }
    }
    let connect_time = connect_started.elapsed();
    assert_eq!(stats(&server, "connections").await, clients as u64);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_after = server.rss_kib();

    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(clients);
    let mut readers = tokio::task::JoinSet::new();
    for mut ws in connections {
        let ready = ready_tx.clone();
        readers.spawn(async move {
            drop(ready);
            let msg = ws.recv().await;
            let at = Instant::now();
            match msg {
                Ok(Some(Message::Text(t))) if t.contains("fan-out now") => at,
                other => panic!("expected the push, got {other:?}"),
            }
        });
    }
    drop(ready_tx);
    // Every reader task has started (dropped its sender) before the clock starts.
    assert!(timeout(STEP, ready_rx.recv()).await.is_ok());

    let posted = Instant::now();
    let delivered = push(&server, None, "fan-out now").await;
    let answered = posted.elapsed();
    assert_eq!(delivered, clients as u64);
    let mut last = posted;
    let mut received = 0;
    while let Some(joined) = timeout(Duration::from_secs(30), readers.join_next())
        .await
        .expect("deliveries timed out")
    {
        last = last.max(joined.expect("reader"));
        received += 1;
    }
    assert_eq!(received, clients);
    let per_connection = (rss_after.saturating_sub(rss_before)) as f64 / clients as f64;
    println!(
        "fan-out: {clients} clients connected and registered in {connect_time:.2?}; POST /push answered \
         in {answered:.2?}, last of {clients} deliveries {:.2?} after the POST",
        last - posted
    );
    println!(
        "fan-out: server VmRSS {rss_before} KiB before, {rss_after} KiB with {clients} connections: \
         {per_connection:.1} KiB per connection"
    );
}
