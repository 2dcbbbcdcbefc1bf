//! Push server: web pages that update themselves the moment the back end has news, without polling.
//!
//! Run: `cargo run --release --example push_server` (options: `--addr ADDR`, default
//! `127.0.0.1:8080`; `--allow-origin ORIGIN`, repeatable; `--queue N`, default 64), then open the
//! printed URL, `http://127.0.0.1:8080/?user=alice`, in one or more browser windows and push:
//!
//! ```text
//! curl -d 'Deploy finished' http://127.0.0.1:8080/push                  # to every page
//! curl -d 'Your report is ready' 'http://127.0.0.1:8080/push?user=alice' # to alice's pages only
//! curl http://127.0.0.1:8080/stats
//! ```
//!
//! One port serves everything; the crate's core parses every request (`ServerHandshake`) and
//! writes every response (`http_response` for plain HTTP; `accept_request`, whose decision
//! callback refuses with a `Reject`, for the upgrade):
//! - `GET /`: one self-contained HTML page whose script is the classic browser client.
//! - `GET /ws`: the WebSocket upgrade ([RFC 6455 §4.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2)).
//!   A browser's `Origin` must be this server's own (`http://<address it was reached on>`, plus
//!   `http://localhost:<port>` on loopback) or one given with `--allow-origin`; others get 403
//!   ([§10.2](https://www.rfc-editor.org/rfc/rfc6455#section-10.2)). Requests without `Origin` come
//!   from non-browser clients and are accepted. A request to `/ws` that is not a valid upgrade gets
//!   the core's answer (400, or 426 with `Sec-WebSocket-Version: 13`).
//! - `POST /push` (body: UTF-8 text, at most 64 KiB) pushes to every registered connection,
//!   `POST /push?user=ID` to that user's connections only; the answer is JSON, for example
//!   `{"connections":2,"user":"alice","dropped_slow":0}`.
//! - `GET /stats`: `{"connections":..,"compressed":..,"users":..,"dropped_slow":..,"pushes":..,"chats":..}`,
//!   where `compressed` counts the open connections that negotiated permessage-deflate
//!   ([RFC 7692](https://www.rfc-editor.org/rfc/rfc7692)).
//! - Anything else: 404 (405 for a known path with the wrong method).
//!
//! The WebSocket conversation, all text messages:
//! - the page's first message is its user id (1-32 of `A-Z a-z 0-9 _ . -`), answered with
//!   `{"type":"welcome","user":"alice","connections":2}` (the user's open connections);
//! - the server pushes `{"type":"push","to":null|"alice","text":".."}`;
//! - every later message from a page is chat, sent to everyone as
//!   `{"type":"chat","from":"alice","text":".."}`.
//!
//! A slow or dead client cannot slow the others: each connection has a queue of `--queue`
//! messages that is filled without waiting; a client whose queue is full is closed with 1008
//! (policy violation) and a reason, and counted in `dropped_slow`. Ctrl-C sends every client a
//! Close frame with 1001 (going away), waits up to 6 s for the closing handshakes, and exits.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rfc6455::handshake::{
    http_response, Accept, HandshakeLimits, Reject, Request, ServerHandshake,
};
use rfc6455::tokio::{accept_request, WebSocketStream};
use rfc6455::{CloseCode, Config, Message, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, Instant};

const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Messages waiting for one connection before it counts as too slow.
const DEFAULT_QUEUE: usize = 64;
/// The largest `POST /push` body.
const MAX_BODY: usize = 64 * 1024;
/// The largest message a page may send (user id or chat line); larger ones fail with 1009.
const MAX_INCOMING: usize = 4 * 1024;
/// Time to send a complete HTTP request (headers and body).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a new WebSocket connection has to send its user id.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a closing handshake may take before the TCP connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time Ctrl-C waits for all connections to finish.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(6);
const MAX_USER_LEN: usize = 32;
/// The close reason (at most 123 bytes, §5.5.1) for a first message that is not a user id.
const BAD_USER_REASON: &str = "the first message must be a user id: 1-32 of A-Z a-z 0-9 _ . -";

const USAGE: &str = "usage: push_server [--addr ADDR] [--allow-origin ORIGIN]... [--queue N]\n\
    \n  --addr ADDR            listen on ADDR (default 127.0.0.1:8080; port 0 picks a free one)\
    \n  --allow-origin ORIGIN  also accept WebSocket upgrades from pages at ORIGIN\
    \n                         (for example http://app.example:3000); repeatable\
    \n  --queue N              messages queued per connection before it is closed as too slow\
    \n                         (default 64)";

// ---------------------------------------------------------------------------------------------
// Command line

#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    addr: SocketAddr,
    allow_origins: Vec<String>,
    queue: usize,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        addr: DEFAULT_ADDR.parse().map_err(|_| "bad default address")?,
        allow_origins: Vec::new(),
        queue: DEFAULT_QUEUE,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--addr" => {
                let v = value()?;
                options.addr = v.parse().map_err(|_| format!("not an address: {v}"))?;
            }
            "--allow-origin" => {
                let v = value()?;
                let origin = v.trim_end_matches('/').to_owned();
                if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                    return Err(format!("an origin looks like http://host:port, not {v}"));
                }
                options.allow_origins.push(origin);
            }
            "--queue" => {
                let v = value()?;
                options.queue = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--queue needs a positive number, not {v}")),
                };
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------
// Routing, query strings, JSON

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Page,
    /// Every request for `/ws` goes to the core, which accepts it or answers 400/426.
    WebSocket,
    Push,
    Stats,
    /// A known path with the wrong method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
    NotFound,
}

fn route(method: &str, path: &str) -> Route {
    match (path, method) {
        ("/ws", _) => Route::WebSocket,
        ("/", "GET") => Route::Page,
        ("/push", "POST") => Route::Push,
        ("/stats", "GET") => Route::Stats,
        ("/" | "/stats", _) => Route::MethodNotAllowed("GET"),
        ("/push", _) => Route::MethodNotAllowed("POST"),
        _ => Route::NotFound,
    }
}

/// The first value of `name` in an `application/x-www-form-urlencoded` query, decoded.
/// `Some(Err(()))` if it is not valid percent-encoded UTF-8.
fn query_param(query: Option<&str>, name: &str) -> Option<Result<String, ()>> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key).as_deref() == Ok(name)).then(|| percent_decode(value))
    })
}

fn percent_decode(s: &str) -> Result<String, ()> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: Option<u8>| b.and_then(|b| char::from(b).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(bytes.next()), hex(bytes.next())) else {
                    return Err(());
                };
                out.push(u8::try_from(hi * 16 + lo).map_err(|_| ())?);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// A user id: 1 to 32 ASCII letters, digits, `_`, `.` or `-`.
fn is_valid_user(user: &str) -> bool {
    (1..=MAX_USER_LEN).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `s` as a JSON string literal (RFC 8259 §7), quotes included.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_owned(), json_string)
}

/// The origins whose pages may open a WebSocket: this server as the browser reached it (the
/// address the connection came in on; `localhost` too when that is a loopback address), plus
/// the `--allow-origin` list.
fn allowed_origins(local: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut origins = vec![format!("http://{local}")];
    if local.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", local.port()));
    }
    origins.extend(extra.iter().cloned());
    origins
}

/// The accept callback's Origin check (§10.2: "servers ... MAY use the Origin header to refuse
/// connections from pages they do not expect"). No `Origin` means a non-browser client.
fn check_origin(origin: Option<&str>, allowed: &[String]) -> Result<Accept, Reject> {
    match origin {
        None => Ok(Accept::new()),
        Some(o) if allowed.iter().any(|a| a.eq_ignore_ascii_case(o)) => Ok(Accept::new()),
        Some(o) => Err(Reject::new(403)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(format!(
                "origin {o} may not open a WebSocket here (RFC 6455 section 10.2)\n"
            ))),
    }
}

fn text_response(status: u16, body: &str) -> Vec<u8> {
    http_response(
        status,
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Connection", "close"),
        ],
        body.as_bytes(),
    )
}

fn json_response(status: u16, body: &str) -> Vec<u8> {
    http_response(
        status,
        &[
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ],
        body.as_bytes(),
    )
}

// ---------------------------------------------------------------------------------------------
// The hub: who is connected, and delivery without waiting

/// Why the hub tells a connection to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Ctrl-C: 1001.
    GoingAway,
    /// The connection's queue was full: 1008.
    TooSlow,
}

#[derive(Debug)]
struct Client {
    user: Option<String>,
    /// permessage-deflate was negotiated (RFC 7692).
    compressed: bool,
    tx: mpsc::Sender<Message>,
    stop: oneshot::Sender<Stop>,
}

#[derive(Debug, Default)]
struct HubState {
    next_id: u64,
    clients: HashMap<u64, Client>,
    users: HashMap<String, HashSet<u64>>,
    shutting_down: bool,
    dropped_slow: u64,
    pushes: u64,
    chats: u64,
}

/// What one delivery did: connections that got the message queued, and those closed as too slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delivery {
    connections: usize,
    dropped_slow: usize,
}

#[derive(Debug)]
struct Hub {
    queue: usize,
    state: Mutex<HubState>,
}

/// A connection's end of the hub.
#[derive(Debug)]
struct Membership {
    id: u64,
    rx: mpsc::Receiver<Message>,
    stop: oneshot::Receiver<Stop>,
}

impl Hub {
    fn new(queue: usize) -> Self {
        Self {
            queue,
            state: Mutex::new(HubState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new WebSocket connection (`compressed`: it negotiated permessage-deflate); `None` once
    /// shutting down.
    fn join(&self, compressed: bool) -> Option<Membership> {
        let mut state = self.lock();
        if state.shutting_down {
            return None;
        }
        let (tx, rx) = mpsc::channel(self.queue);
        let (stop_tx, stop) = oneshot::channel();
        let id = state.next_id;
        state.next_id += 1;
        state.clients.insert(
            id,
            Client {
                user: None,
                compressed,
                tx,
                stop: stop_tx,
            },
        );
        Some(Membership { id, rx, stop })
    }

    /// Registers connection `id` as `user`; returns how many connections that user has now
    /// (0 if the connection is gone, for example already closed as too slow).
    fn register(&self, id: u64, user: &str) -> usize {
        let mut state = self.lock();
        let Some(client) = state.clients.get_mut(&id) else {
            return 0;
        };
        client.user = Some(user.to_owned());
        let ids = state.users.entry(user.to_owned()).or_default();
        ids.insert(id);
        ids.len()
    }

    fn leave(&self, id: u64) {
        Self::remove(&mut self.lock(), id);
    }

    fn remove(state: &mut HubState, id: u64) -> Option<Client> {
        let client = state.clients.remove(&id)?;
        if let Some(user) = &client.user {
            if let Some(ids) = state.users.get_mut(user) {
                ids.remove(&id);
                if ids.is_empty() {
                    state.users.remove(user);
                }
            }
        }
        Some(client)
    }

    /// Queues `message` for `user`'s connections, or every registered one; never waits. A
    /// connection whose queue is full is removed and told to close.
    fn deliver(state: &mut HubState, user: Option<&str>, message: &Message) -> Delivery {
        let targets: Vec<u64> = match user {
            Some(user) => state
                .users
                .get(user)
                .map(|ids| ids.iter().copied().collect())
                .unwrap_or_default(),
            None => state
                .clients
                .iter()
                .filter(|(_, c)| c.user.is_some())
                .map(|(&id, _)| id)
                .collect(),
        };
        let mut delivery = Delivery {
            connections: 0,
            dropped_slow: 0,
        };
        for id in targets {
            let Some(client) = state.clients.get(&id) else {
                continue;
            };
            match client.tx.try_send(message.clone()) {
                Ok(()) => delivery.connections += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if let Some(client) = Self::remove(state, id) {
                        let _ = client.stop.send(Stop::TooSlow);
                    }
                    state.dropped_slow += 1;
                    delivery.dropped_slow += 1;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    Self::remove(state, id);
                }
            }
        }
        delivery
    }

    /// `POST /push`.
    fn push(&self, user: Option<&str>, text: &str) -> Delivery {
        let json = format!(
            r#"{{"type":"push","to":{},"text":{}}}"#,
            json_opt(user),
            json_string(text)
        );
        let message = Message::text(json);
        let mut state = self.lock();
        state.pushes += 1;
        Self::deliver(&mut state, user, &message)
    }

    /// A chat line from a registered page, to everyone.
    fn chat(&self, from: &str, text: &str) -> Delivery {
        let json = format!(
            r#"{{"type":"chat","from":{},"text":{}}}"#,
            json_string(from),
            json_string(text)
        );
        let message = Message::text(json);
        let mut state = self.lock();
        state.chats += 1;
        Self::deliver(&mut state, None, &message)
    }

    /// Ctrl-C: no new members; every connection is told to close with 1001. Returns how many.
    fn shutdown(&self) -> usize {
        let mut state = self.lock();
        state.shutting_down = true;
        state.users.clear();
        let clients: Vec<Client> = state.clients.drain().map(|(_, c)| c).collect();
        drop(state);
        let n = clients.len();
        for client in clients {
            let _ = client.stop.send(Stop::GoingAway);
        }
        n
    }

    fn stats_json(&self) -> String {
        let state = self.lock();
        format!(
            r#"{{"connections":{},"compressed":{},"users":{},"dropped_slow":{},"pushes":{},"chats":{},"queue":{}}}"#,
            state.clients.len(),
            state.clients.values().filter(|c| c.compressed).count(),
            state.users.len(),
            state.dropped_slow,
            state.pushes,
            state.chats,
            self.queue
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Serving

#[derive(Debug)]
struct Server {
    hub: Hub,
    allow_origins: Vec<String>,
}

/// Held by every connection task; the main task knows all are done when every clone is dropped.
type Guard = mpsc::Sender<()>;

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("push_server: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("push_server: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(options))
}

async fn run(options: Options) -> ExitCode {
    let listener = match TcpListener::bind(options.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("push_server: cannot listen on {}: {e}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(options.addr);
    println!("push_server: listening on http://{local}/");
    println!("open http://{local}/?user=alice in a browser, then push to it:");
    println!("  curl -d 'hello everyone' http://{local}/push");
    println!("  curl -d 'hello alice' 'http://{local}/push?user=alice'");
    let server = Arc::new(Server {
        hub: Hub::new(options.queue),
        allow_origins: options.allow_origins,
    });
    let (guard, mut all_done) = mpsc::channel::<()>(1);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(handle(stream, Arc::clone(&server), guard.clone()));
                }
                // Out of file descriptors, for example: wait a little instead of spinning.
                Err(e) => {
                    eprintln!("push_server: accept: {e}");
                    sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let n = server.hub.shutdown();
    println!(
        "push_server: shutting down, closing {n} WebSocket connections with 1001 (going away)"
    );
    drop(guard);
    tokio::select! {
        _ = all_done.recv() => {}
        _ = sleep(SHUTDOWN_TIMEOUT) => {
            eprintln!("push_server: some connections did not close in time");
        }
        _ = tokio::signal::ctrl_c() => eprintln!("push_server: second Ctrl-C, exiting now"),
    }
    ExitCode::SUCCESS
}

/// One TCP connection: one HTTP request, answered, or upgraded to a WebSocket.
async fn handle(mut stream: TcpStream, server: Arc<Server>, _guard: Guard) {
    let _ = stream.set_nodelay(true);
    let mut handshake = ServerHandshake::new(HandshakeLimits::default());
    let request = match timeout(REQUEST_TIMEOUT, read_request(&mut stream, &mut handshake)).await {
        Ok(Ok(request)) => request,
        Ok(Err(Some(response))) => return finish(stream, &response).await,
        Ok(Err(None)) | Err(_) => return,
    };
    let leftover = handshake.take_leftover();
    let response = match route(request.method(), request.path()) {
        Route::WebSocket => return upgrade(stream, &request, &leftover, &server).await,
        Route::Page => http_response(
            200,
            &[
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
                ("Connection", "close"),
            ],
            PAGE.as_bytes(),
        ),
        Route::Push => {
            match timeout(
                REQUEST_TIMEOUT,
                push(&mut stream, &request, leftover, &server),
            )
            .await
            {
                Ok(response) => response,
                Err(_) => return,
            }
        }
        Route::Stats => json_response(200, &server.hub.stats_json()),
        Route::MethodNotAllowed(allow) => http_response(
            405,
            &[
                ("Allow", allow),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Connection", "close"),
            ],
            format!("use {allow}\n").as_bytes(),
        ),
        Route::NotFound => text_response(404, "not found: try / or /ws or POST /push\n"),
    };
    finish(stream, &response).await;
}

/// Reads one request head with the core's parser; `Err(Some(response))` for a bad request.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    handshake: &mut ServerHandshake,
) -> Result<Request, Option<Vec<u8>>> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.map_err(|_| None)?;
        if n == 0 {
            return Err(None);
        }
        match handshake.receive(&buf[..n]) {
            Ok(Status::Complete(request)) => return Ok(request),
            Ok(Status::Partial) => {}
            Err(e) => return Err(e.response()),
        }
    }
}

async fn finish(mut stream: TcpStream, response: &[u8]) {
    if stream.write_all(response).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

/// `POST /push[?user=ID]`: reads the body (after the `leftover` bytes that came with the head).
async fn push<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &Request,
    leftover: Vec<u8>,
    server: &Server,
) -> Vec<u8> {
    let user = match query_param(request.query(), "user") {
        None => None,
        Some(Ok(user)) if is_valid_user(&user) => Some(user),
        Some(_) => return text_response(400, "user must be 1-32 of A-Z a-z 0-9 _ . -\n"),
    };
    let body = match read_body(stream, request, leftover).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Ok(text) = String::from_utf8(body) else {
        return text_response(400, "the body must be UTF-8 text\n");
    };
    if text.is_empty() {
        return text_response(400, "nothing to push: send the text as the body\n");
    }
    let delivery = server.hub.push(user.as_deref(), &text);
    json_response(
        200,
        &format!(
            r#"{{"connections":{},"user":{},"dropped_slow":{}}}"#,
            delivery.connections,
            json_opt(user.as_deref()),
            delivery.dropped_slow
        ),
    )
}

/// The request body, `Content-Length` bytes of it, at most [`MAX_BODY`].
async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &Request,
    mut body: Vec<u8>,
) -> Result<Vec<u8>, Vec<u8>> {
    if request.header("Transfer-Encoding").is_some() {
        return Err(text_response(411, "send a Content-Length, not chunks\n"));
    }
    let length = match request.content_length() {
        Some(n) => n,
        None if request.header("Content-Length").is_some() => {
            return Err(text_response(400, "bad Content-Length\n"));
        }
        None => 0,
    };
    if length > MAX_BODY {
        return Err(text_response(413, "push at most 64 KiB at a time\n"));
    }
    if body.len() < length
        && request
            .header_str("Expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let _ = stream.write_all(&http_response(100, &[], b"")).await;
    }
    let mut buf = [0u8; 4096];
    while body.len() < length {
        let n = stream.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return Err(text_response(400, "the body ended early\n"));
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(length);
    Ok(body)
}

fn websocket_config() -> Config {
    let mut config = Config::default();
    // Pages send user ids and chat lines: anything bigger fails with 1009 (the core's check).
    config.max_message_size = MAX_INCOMING;
    config.max_frame_size = MAX_INCOMING;
    // Notice dead peers (no FIN, e.g. a laptop that went to sleep) within about a minute.
    config.keepalive_interval = Some(Duration::from_secs(30));
    config.close_timeout = CLOSE_TIMEOUT;
    // Browsers offer permessage-deflate on every connection: accept it (RFC 7692). Updates below
    // the default threshold (64 bytes) still go uncompressed.
    #[cfg(feature = "deflate")]
    {
        config.deflate = Some(rfc6455::deflate::DeflateConfig::default());
    }
    config
}

/// `/ws`: the core validates and answers the handshake; we only check the Origin.
async fn upgrade(stream: TcpStream, request: &Request, leftover: &[u8], server: &Server) {
    let allowed = match stream.local_addr() {
        Ok(local) => allowed_origins(local, &server.allow_origins),
        Err(_) => server.allow_origins.clone(),
    };
    let accepted = accept_request(stream, request, leftover, websocket_config(), |request| {
        check_origin(request.origin(), &allowed)
    })
    .await;
    // A rejected or invalid request was answered (403, 400, 426) by `accept_request`.
    if let Ok(ws) = accepted {
        serve_websocket(ws, &server.hub).await;
    }
}

/// One WebSocket connection: registration, chat, and pushes from the hub's queue.
async fn serve_websocket<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocketStream<S>, hub: &Hub) {
    let Some(Membership {
        id,
        mut rx,
        mut stop,
    }) = hub.join(ws.connection().is_compressed())
    else {
        return close(&mut ws, CloseCode::GOING_AWAY, "server shutting down").await;
    };
    let register_by = Instant::now() + REGISTER_TIMEOUT;
    let mut user: Option<String> = None;
    let (code, reason): (CloseCode, &str) = loop {
        tokio::select! {
            biased;
            why = &mut stop => break stop_frame(why),
            incoming = ws.recv() => match incoming {
                Ok(Some(Message::Text(text))) => match &user {
                    Some(from) => {
                        hub.chat(from, &text);
                    }
                    None if is_valid_user(&text) => {
                        let connections = hub.register(id, &text);
                        let welcome = format!(
                            r#"{{"type":"welcome","user":{},"connections":{connections}}}"#,
                            json_string(&text)
                        );
                        user = Some(text.as_str().to_owned());
                        if ws.send(Message::text(welcome)).await.is_err() {
                            break (CloseCode::GOING_AWAY, "");
                        }
                    }
                    None => break (CloseCode::POLICY_VIOLATION, BAD_USER_REASON),
                },
                Ok(Some(Message::Binary(_))) => {
                    break (CloseCode::UNSUPPORTED_DATA, "text messages only");
                }
                // The peer closed (the core answered its Close), or the connection failed (the
                // core sent the Close frame it needed): nothing left to do.
                Ok(None) | Err(_) => {
                    hub.leave(id);
                    return;
                }
            },
            Some(first) = rx.recv() => {
                // Hand the queued messages to the connection; a slow socket makes this wait,
                // and while it waits the hub may decide this client is too slow.
                let forward = async {
                    ws.feed(first).await?;
                    for _ in 0..hub.queue {
                        let Ok(next) = rx.try_recv() else { break };
                        ws.feed(next).await?;
                    }
                    ws.flush().await
                };
                tokio::select! {
                    biased;
                    why = &mut stop => break stop_frame(why),
                    sent = forward => if sent.is_err() {
                        hub.leave(id);
                        return;
                    },
                }
            }
            () = sleep_until(register_by), if user.is_none() => {
                break (CloseCode::POLICY_VIOLATION, "no user id within 10 s");
            }
        }
    };
    hub.leave(id);
    drop(rx);
    close(&mut ws, code, reason).await;
}

fn stop_frame(why: Result<Stop, oneshot::error::RecvError>) -> (CloseCode, &'static str) {
    match why {
        Ok(Stop::TooSlow) => (
            CloseCode::POLICY_VIOLATION,
            "too slow: the outgoing queue is full, reconnect to catch up",
        ),
        Ok(Stop::GoingAway) | Err(_) => (CloseCode::GOING_AWAY, "server shutting down"),
    }
}

/// Starts the closing handshake (§7.1.2) and reads until the peer's Close completes it, for at
/// most [`CLOSE_TIMEOUT`]; then the TCP connection is dropped.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    code: CloseCode,
    reason: &str,
) {
    let _ = timeout(CLOSE_TIMEOUT, async {
        if ws.close(code, reason).await.is_ok() {
            while let Ok(Some(_)) = ws.recv().await {}
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The page

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live updates: rfc6455 push demo</title>
<link rel="icon" href="data:,">
<style>
  :root { --fg: #1c2230; --muted: #5a6375; --line: #dfe3ea; --bg: #f4f6f9; --card: #ffffff; --accent: #2356d1; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
         color: var(--fg); background: var(--bg); }
  main { max-width: 780px; margin: 0 auto; padding: 24px 16px 40px; }
  h1 { font-size: 1.6rem; margin: 0 0 2px; }
  h2 { font-size: 1.05rem; margin: 0 0 10px; }
  .sub { color: var(--muted); margin: 0 0 18px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; margin-bottom: 16px; }
  .status { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: center; }
  .pill { display: inline-block; min-width: 7.5em; text-align: center; padding: 1px 12px; border-radius: 999px;
          font-weight: 600; color: #fff; background: #8a93a3; }
  .pill.connecting { background: #a86a0c; } .pill.open { background: #1d7f46; }
  .pill.closing { background: #b4521d; } .pill.closed { background: #b42f2f; }
  .mono, code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
  .muted { color: var(--muted); }
  #updates { list-style: none; margin: 0; padding: 0; }
  #updates li { display: flex; gap: 12px; padding: 8px 0; border-top: 1px solid var(--line); }
  #updates li:first-child { border-top: 0; }
  .time { color: var(--muted); min-width: 5.2em; font-variant-numeric: tabular-nums; }
  .tag { align-self: flex-start; margin-top: 2px; padding: 0 8px; border-radius: 6px; font-size: 0.78rem;
         font-weight: 600; white-space: nowrap; }
  .tag.push-all { background: #e2ebfd; color: #1c45a8; } .tag.push-user { background: #fde6d4; color: #93400d; }
  .tag.chat { background: #dff3e6; color: #16663a; }
  .text { white-space: pre-wrap; overflow-wrap: anywhere; }
  form { display: flex; gap: 8px; }
  input[type=text] { flex: 1; font: inherit; padding: 7px 10px; border: 1px solid #c5ccd8; border-radius: 8px; }
  button { font: inherit; padding: 7px 18px; border: 0; border-radius: 8px; background: var(--accent); color: #fff; }
  button:disabled { background: #9aa4b6; }
  pre { background: #f0f2f6; padding: 10px 12px; border-radius: 8px; margin: 0; overflow-x: auto; }
  #log { margin: 0; padding-left: 1.4em; max-height: 10em; overflow-y: auto; color: var(--muted); font-size: 0.85rem; }
</style>
</head>
<body>
<main>
  <h1>Live updates</h1>
  <p class="sub">The server pushes to this page over one WebSocket the moment something happens; the page never polls.</p>

  <section class="card status" aria-live="polite">
    <span>Connection: <span id="state" class="pill" data-history="">-</span></span>
    <span>User: <strong id="user" class="mono"></strong></span>
    <span class="muted mono" id="url"></span>
  </section>

  <section class="card">
    <h2>Updates</h2>
    <ul id="updates"><li id="empty" class="muted">Nothing yet: push something (see below), or chat.</li></ul>
  </section>

  <section class="card">
    <h2>Chat with everyone on this page</h2>
    <form id="chat">
      <input id="chat-input" type="text" maxlength="500" autocomplete="off" placeholder="Type a message, press Enter">
      <button id="chat-send" type="submit" disabled>Send</button>
    </form>
  </section>

  <section class="card">
    <h2>Push from the back end</h2>
    <pre id="hint"></pre>
  </section>

  <section class="card">
    <h2>Connection log</h2>
    <ol id="log"></ol>
  </section>
</main>
<script>
"use strict";
(function () {
  // WebSocket.readyState: 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED.
  var STATES = ["connecting", "open", "closing", "closed"];
  var params = new URLSearchParams(location.search);
  var user = params.get("user") || "guest-" + Math.random().toString(36).slice(2, 8);
  var wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  var $ = function (id) { return document.getElementById(id); };
  var ws = null;
  var attempt = 0;
  var registered = false;

  $("user").textContent = user;
  $("url").textContent = wsUrl;
  var here = location.origin;
  $("hint").textContent =
    "curl -d 'Deploy finished' " + here + "/push\n" +
    "curl -d 'Your report is ready' '" + here + "/push?user=" + user + "'\n" +
    "curl " + here + "/stats";

  function showState() {
    var name = ws ? STATES[ws.readyState] : "closed";
    var el = $("state");
    if (el.textContent !== name) {
      el.textContent = name;
      el.className = "pill " + name;
      el.dataset.history += (el.dataset.history ? " " : "") + name;
    }
  }
  // The CLOSING state has no event of its own: poll readyState as well.
  setInterval(showState, 200);

  function log(text) {
    var li = document.createElement("li");
    li.textContent = new Date().toLocaleTimeString() + "  " + text;
    var list = $("log");
    list.appendChild(li);
    while (list.children.length > 50) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  function addUpdate(kind, label, text) {
    var empty = $("empty");
    if (empty) empty.remove();
    var li = document.createElement("li");
    li.dataset.kind = kind;
    var time = document.createElement("span");
    time.className = "time";
    time.textContent = new Date().toLocaleTimeString();
    var tag = document.createElement("span");
    tag.className = "tag " + kind;
    tag.textContent = label;
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(time, tag, body);
    var list = $("updates");
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 100) list.removeChild(list.lastChild);
  }

  function connect() {
    ws = new WebSocket(wsUrl);
    showState();
    log("connecting to " + wsUrl);
    ws.onopen = function () {
      attempt = 0;
      showState();
      log("open; registering as " + user);
      ws.send(user);
    };
    ws.onmessage = function (event) {
      var m;
      try { m = JSON.parse(event.data); } catch (e) { log("not JSON: " + event.data); return; }
      if (m.type === "welcome") {
        registered = true;
        $("chat-send").disabled = false;
        log("registered as " + m.user + " (" + m.connections + " open for this user)");
      } else if (m.type === "push") {
        if (m.to === null) addUpdate("push-all", "to everyone", m.text);
        else addUpdate("push-user", "to " + m.to, m.text);
      } else if (m.type === "chat") {
        addUpdate("chat", m.from === user ? "you said" : m.from + " said", m.text);
      }
    };
    ws.onerror = function () {
      showState();
      log("error (the close event below says more)");
    };
    ws.onclose = function (event) {
      registered = false;
      $("chat-send").disabled = true;
      showState();
      log("closed: code " + event.code + (event.reason ? " (" + event.reason + ")" : "") +
          (event.wasClean ? "" : ", not clean"));
      // Reconnect with exponential backoff and jitter: 1, 2, 4 ... 30 s.
      var base = Math.min(30000, 1000 * Math.pow(2, attempt));
      attempt += 1;
      var delay = Math.round(base / 2 + Math.random() * base / 2);
      log("reconnecting in " + (delay / 1000).toFixed(1) + " s");
      setTimeout(connect, delay);
    };
  }

  $("chat").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("chat-input");
    if (registered && ws.readyState === WebSocket.OPEN && input.value.trim() !== "") {
      ws.send(input.value);
      input.value = "";
    }
  });

  connect();
})();
</script>
</body>
</html>
"##;

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn default_address_is_localhost_8080() {
        let options = parse_args(args(&[])).unwrap();
        assert_eq!(options.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(options.queue, DEFAULT_QUEUE);
        assert!(options.allow_origins.is_empty());
    }

    #[test]
    fn options_take_separate_or_inline_values() {
        let options = parse_args(args(&[
            "--addr",
            "0.0.0.0:0",
            "--allow-origin=http://app.example:3000/",
            "--allow-origin",
            "https://b.example",
            "--queue=5",
        ]))
        .unwrap();
        assert_eq!(options.addr, "0.0.0.0:0".parse().unwrap());
        assert_eq!(
            options.allow_origins,
            ["http://app.example:3000", "https://b.example"]
        );
        assert_eq!(options.queue, 5);
    }

    #[test]
    fn bad_options_are_errors() {
        for bad in [
            &["--addr"][..],
            &["--addr", "localhost"],
            &["--queue", "0"],
            &["--allow-origin", "app.example"],
            &["--frobnicate"],
        ] {
            assert!(parse_args(args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routes_by_path_then_method() {
        assert_eq!(route("GET", "/"), Route::Page);
        assert_eq!(route("GET", "/ws"), Route::WebSocket);
        // The core answers a POST to /ws (400: the method must be GET, §4.2.1).
        assert_eq!(route("POST", "/ws"), Route::WebSocket);
        assert_eq!(route("POST", "/push"), Route::Push);
        assert_eq!(route("GET", "/push"), Route::MethodNotAllowed("POST"));
        assert_eq!(route("GET", "/stats"), Route::Stats);
        assert_eq!(route("DELETE", "/"), Route::MethodNotAllowed("GET"));
        assert_eq!(route("GET", "/index.html"), Route::NotFound);
        assert_eq!(route("GET", "/ws/"), Route::NotFound);
    }

    #[test]
    fn query_param_decodes_the_first_match() {
        assert_eq!(
            query_param(Some("user=alice"), "user"),
            Some(Ok("alice".into()))
        );
        assert_eq!(
            query_param(Some("a=1&user=b%6Fb&user=carol"), "user"),
            Some(Ok("bob".into()))
        );
        assert_eq!(
            query_param(Some("u%73er=x+y"), "user"),
            Some(Ok("x y".into()))
        );
        assert_eq!(query_param(Some("user="), "user"), Some(Ok(String::new())));
        assert_eq!(query_param(Some("username=alice"), "user"), None);
        assert_eq!(query_param(None, "user"), None);
        assert_eq!(query_param(Some("user=%zz"), "user"), Some(Err(())));
        assert_eq!(query_param(Some("user=%ff"), "user"), Some(Err(())));
        assert_eq!(query_param(Some("user=%4"), "user"), Some(Err(())));
    }

    #[test]
    fn user_ids_are_short_and_plain() {
        assert!(is_valid_user("alice"));
        assert!(is_valid_user("guest-x1.y_2"));
        assert!(is_valid_user(&"a".repeat(32)));
        assert!(!is_valid_user(""));
        assert!(!is_valid_user(&"a".repeat(33)));
        assert!(!is_valid_user("al ice"));
        assert!(!is_valid_user("<script>"));
        assert!(!is_valid_user("é"));
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(json_string("plain"), r#""plain""#);
        assert_eq!(json_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json_string("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(json_string("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(json_string("héllo €"), "\"héllo €\"");
        assert_eq!(json_opt(None), "null");
        assert_eq!(json_opt(Some("x")), r#""x""#);
    }

    #[test]
    fn origin_must_be_this_server_or_allowed() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let allowed = allowed_origins(local, &["https://app.example".to_owned()]);
        assert_eq!(
            allowed,
            [
                "http://127.0.0.1:8080",
                "http://localhost:8080",
                "https://app.example"
            ]
        );
        assert!(check_origin(None, &allowed).is_ok());
        assert!(check_origin(Some("http://127.0.0.1:8080"), &allowed).is_ok());
        assert!(check_origin(Some("http://LOCALHOST:8080"), &allowed).is_ok());
        assert!(check_origin(Some("https://app.example"), &allowed).is_ok());
        for foreign in ["http://127.0.0.1:8081", "http://evil.example", "null"] {
            let response = check_origin(Some(foreign), &allowed).unwrap_err();
            assert!(response.starts_with(b"HTTP/1.1 403 "), "{foreign}");
        }
        let public: SocketAddr = "192.0.2.7:80".parse().unwrap();
        assert_eq!(allowed_origins(public, &[]), ["http://192.0.2.7:80"]);
    }

    fn drain(rx: &mut mpsc::Receiver<Message>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(m.as_text().unwrap_or_default().to_owned());
        }
        out
    }

    #[test]
    fn push_reaches_everyone_or_only_the_named_user() {
        let hub = Hub::new(8);
        let mut a1 = hub.join(true).unwrap();
        let mut a2 = hub.join(true).unwrap();
        let mut b = hub.join(false).unwrap();
        let mut unregistered = hub.join(false).unwrap();
        assert_eq!(hub.register(a1.id, "alice"), 1);
        assert_eq!(hub.register(a2.id, "alice"), 2);
        assert_eq!(hub.register(b.id, "bob"), 1);

        let all = hub.push(None, "to all");
        assert_eq!(all.connections, 3);
        let only_alice = hub.push(Some("alice"), "for \"alice\"");
        assert_eq!(only_alice.connections, 2);
        assert_eq!(hub.push(Some("carol"), "nobody").connections, 0);

        let to_all = r#"{"type":"push","to":null,"text":"to all"}"#;
        let to_alice = r#"{"type":"push","to":"alice","text":"for \"alice\""}"#;
        assert_eq!(drain(&mut a1.rx), [to_all, to_alice]);
        assert_eq!(drain(&mut a2.rx), [to_all, to_alice]);
        assert_eq!(drain(&mut b.rx), [to_all]);
        assert!(drain(&mut unregistered.rx).is_empty());

        hub.leave(a1.id);
        assert_eq!(hub.push(Some("alice"), "again").connections, 1);
        assert!(hub.stats_json().starts_with(
            r#"{"connections":3,"compressed":1,"users":2,"dropped_slow":0,"pushes":4,"#
        ));
    }

    #[test]
    fn chat_goes_to_every_registered_connection() {
        let hub = Hub::new(8);
        let mut a = hub.join(false).unwrap();
        let mut b = hub.join(false).unwrap();
        hub.register(a.id, "alice");
        hub.register(b.id, "bob");
        assert_eq!(hub.chat("alice", "hi bob").connections, 2);
        let line = r#"{"type":"chat","from":"alice","text":"hi bob"}"#;
        assert_eq!(drain(&mut a.rx), [line]);
        assert_eq!(drain(&mut b.rx), [line]);
    }

    #[test]
    fn full_queue_closes_the_slow_client_and_counts_it() {
        let hub = Hub::new(2);
        let mut slow = hub.join(false).unwrap();
        let mut fast = hub.join(false).unwrap();
        hub.register(slow.id, "slow");
        hub.register(fast.id, "fast");
        for i in 0..2 {
            assert_eq!(hub.push(None, &format!("m{i}")).connections, 2);
            drain(&mut fast.rx);
        }
        let third = hub.push(None, "m2");
        assert_eq!(
            third,
            Delivery {
                connections: 1,
                dropped_slow: 1
            }
        );
        assert_eq!(slow.stop.try_recv(), Ok(Stop::TooSlow));
        assert_eq!(drain(&mut fast.rx).len(), 1);
        // Removed: later pushes skip it and do not count it again.
        assert_eq!(hub.push(None, "m3").connections, 1);
        assert!(hub
            .stats_json()
            .contains(r#""connections":1,"compressed":0,"users":1,"dropped_slow":1,"#));
    }

    #[test]
    fn shutdown_tells_every_connection_to_go_away() {
        let hub = Hub::new(2);
        let mut a = hub.join(false).unwrap();
        let mut pending = hub.join(false).unwrap();
        hub.register(a.id, "alice");
        assert_eq!(hub.shutdown(), 2);
        assert_eq!(a.stop.try_recv(), Ok(Stop::GoingAway));
        assert_eq!(pending.stop.try_recv(), Ok(Stop::GoingAway));
        assert!(hub.join(false).is_none());
        assert_eq!(hub.push(None, "late").connections, 0);
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let reasons = [
            BAD_USER_REASON,
            stop_frame(Ok(Stop::TooSlow)).1,
            stop_frame(Ok(Stop::GoingAway)).1,
        ];
        for reason in reasons {
            assert!(
                reason.len() <= rfc6455::CloseFrame::MAX_REASON_LEN,
                "{reason}"
            );
        }
        assert_eq!(stop_frame(Ok(Stop::TooSlow)).0, CloseCode::POLICY_VIOLATION);
        assert_eq!(stop_frame(Ok(Stop::GoingAway)).0, CloseCode::GOING_AWAY);
    }

    #[test]
    fn page_is_self_contained_with_the_classic_client() {
        for needle in [
            "new WebSocket(",
            ".onopen",
            ".onmessage",
            ".onclose",
            ".onerror",
            "readyState",
        ] {
            assert!(PAGE.contains(needle), "{needle}");
        }
        for external in [
            "src=\"http",
            "href=\"http",
            "@import",
            "url(",
            "<script src",
        ] {
            assert!(!PAGE.contains(external), "{external}");
        }
    }
}
