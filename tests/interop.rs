//! Interoperability with WebSocket implementations nobody here wrote: Python's `websockets`
//! and Node's `ws`, in both roles, against our blocking and tokio adapters, over 127.0.0.1.
//! Each exchange covers echo of text and binary, unicode, 1 MiB messages, a Ping each way
//! answered by a Pong (§5.5.2, §5.5.3), and the closing handshake started by either side
//! (§7.1.2), with its code and reason checked on the far side.
//!
//! The peers are small programs written inline below and run as child processes. These tests
//! are `#[ignore]`d: `.ci/run` installs the peers with `scripts/install-peers.sh`, sources
//! `target/peers/env.sh` (`RFC6455_PEER_PYTHON`, `RFC6455_PEER_NODE`, `NODE_PATH`) and runs
//! them with `--ignored`. A missing peer fails the test with a message saying how to install
//! it; it never passes silently. Every child is bounded in time and killed (by its own
//! handle) if it overstays.

mod net;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::handshake::Accept;
use rfc6455::{Bytes, CloseCode, CloseFrame, Config, Message};

use net::{accept, connect, echo_server, join_by, one_mib_binary, one_mib_text, Kind, STEP};

/// The longest a peer process or one of our endpoints may run.
const RUN: Duration = Duration::from_secs(60);

const INSTALL_HINT: &str = "run `bash scripts/install-peers.sh && source target/peers/env.sh` \
                            (what .ci/run does) before `cargo test --all-features -- --ignored`";

// ------------------------------------------------------------------ the peer programs

/// Python `websockets` echo server. Prints `PORT <n>` once listening and `CLOSE <code> <reason>`
/// (the Close frame it received) when a connection ends. Commands: "close-please" closes with
/// 4002 "peer bye"; "ping-me" sends a Ping "from peer" and, once its Pong is back, the text
/// "pong received: from peer".
const PYTHON_SERVER: &str = r#"
import asyncio
from websockets.asyncio.server import serve

async def handler(ws):
    try:
        async for msg in ws:
            if msg == "close-please":
                await ws.close(4002, "peer bye")
                break
            if msg == "ping-me":
                pong = await ws.ping(b"from peer")
                await asyncio.wait_for(pong, 10)
                await ws.send("pong received: from peer")
                continue
            await ws.send(msg)
    finally:
        await ws.wait_closed()
        print(f"CLOSE {ws.close_code} {ws.close_reason}", flush=True)

async def main():
    async with serve(handler, "127.0.0.1", 0, max_size=None, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"PORT {port}", flush=True)
        await server.serve_forever()

asyncio.run(main())
"#;

/// Node `ws` echo server, with the same output and commands as [`PYTHON_SERVER`].
const NODE_SERVER: &str = r#"
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('listening', () => console.log('PORT ' + wss.address().port));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text === 'close-please') return ws.close(4002, 'peer bye');
    if (text === 'ping-me') {
      ws.once('pong', (p) => ws.send('pong received: ' + p.toString('utf8')));
      return ws.ping('from peer');
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => console.log('CLOSE ' + code + ' ' + reason.toString('utf8')));
});
"#;

/// Python `websockets` client for `$PEER_URL`: checks the echoes, pings, asks our server to
/// ping it, then closes (`$PEER_MODE` = `client-close`: with 4001 "peer client bye") or asks
/// our server to close (`server-close`: expects 4002 "server bye"). Prints `ok <step>` lines and
/// `PASS`; exits 1 with `FAIL <why>` on the first difference.
const PYTHON_CLIENT: &str = r#"
import asyncio, os, sys, time
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

URL = os.environ["PEER_URL"]
MODE = os.environ["PEER_MODE"]
UNICODE = ["héllo wörld", "日本語のテキスト", "🦀 crab, 🎉 party, 👩‍👩‍👧 family",
           "e\u0301 combining, \ufeff bom, \U0010ffff last scalar", "a" + "🦀€é" * 20000]

def fail(why):
    print("FAIL " + why, flush=True)
    os._exit(1)

async def echo(ws, payload, what):
    await ws.send(payload)
    got = await ws.recv()
    if type(got) is not type(payload):
        fail(f"{what}: sent {type(payload).__name__}, got {type(got).__name__}")
    if got != payload:
        fail(f"{what}: payload differs ({len(got)} vs {len(payload)})")
    print("ok " + what, flush=True)

async def main():
    async with connect(URL, max_size=None, ping_interval=None, close_timeout=10) as ws:
        await echo(ws, "hello", "text")
        await echo(ws, b"\x00\x01\x7f\x80\xfe\xff", "binary")
        await echo(ws, "", "empty text")
        for i, s in enumerate(UNICODE):
            await echo(ws, s, f"unicode {i}")
        await echo(ws, bytes(i * 31 % 251 for i in range(1 << 20)), "1 MiB binary")
        await echo(ws, "aé日🦀" * ((1 << 20) // 10) + "z" * ((1 << 20) % 10), "1 MiB text")
        pong = await ws.ping(b"peer ping")
        await asyncio.wait_for(pong, 10)
        print("ok pong", flush=True)
        await ws.send("ping-me")
        got = await ws.recv()
        if got != "pong received: from server":
            fail(f"after ping-me: {got!r}")
        print("ok ping from server", flush=True)
        start = time.monotonic()
        if MODE == "client-close":
            await ws.close(4001, "peer client bye")
            if ws.close_code != 4001:
                fail(f"our close echoed as {ws.close_code} {ws.close_reason!r}")
        else:
            await ws.send("close-please")
            try:
                extra = await ws.recv()
                fail(f"message after close-please: {extra!r}")
            except ConnectionClosed as e:
                if e.rcvd is None or (e.rcvd.code, e.rcvd.reason) != (4002, "server bye"):
                    fail(f"server's close frame: {e.rcvd}")
            await ws.wait_closed()
        elapsed = time.monotonic() - start
        if elapsed > 3:
            fail(f"closing took {elapsed:.1f} s: the server did not close the TCP connection")
        print(f"ok {MODE}", flush=True)
    print("PASS", flush=True)

asyncio.run(asyncio.wait_for(main(), 30))
"#;

/// Node `ws` client, doing what [`PYTHON_CLIENT`] does.
const NODE_CLIENT: &str = r#"
const WebSocket = require('ws');
const url = process.env.PEER_URL;
const mode = process.env.PEER_MODE;
const fail = (why) => { console.log('FAIL ' + why); process.exit(1); };
setTimeout(() => fail('timed out'), 30000).unref();

const ws = new WebSocket(url);
const inbox = [];
const waiting = [];
ws.on('message', (data, isBinary) => {
  const m = { data, isBinary };
  const w = waiting.shift();
  if (w) w(m); else inbox.push(m);
});
const next = () => new Promise((resolve) => {
  const m = inbox.shift();
  if (m) resolve(m); else waiting.push(resolve);
});
const closed = new Promise((resolve) =>
  ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
ws.on('error', (e) => fail('error: ' + e.message));

async function echo(payload, what) {
  const binary = Buffer.isBuffer(payload);
  ws.send(payload, { binary });
  const m = await next();
  if (m.isBinary !== binary) fail(what + ': type changed');
  const same = binary ? payload.equals(m.data) : m.data.toString('utf8') === payload;
  if (!same) fail(what + ': payload differs');
  console.log('ok ' + what);
}

ws.on('open', async () => {
  await echo('hello', 'text');
  await echo(Buffer.from([0, 1, 0x7f, 0x80, 0xfe, 0xff]), 'binary');
  await echo('', 'empty text');
  const unicode = ['héllo wörld', '日本語のテキスト', '🦀 crab, 🎉 party, 👩‍👩‍👧 family',
                   'e\u0301 combining, \ufeff bom, \u{10ffff} last scalar', 'a' + '🦀€é'.repeat(20000)];
  for (let i = 0; i < unicode.length; i++) await echo(unicode[i], 'unicode ' + i);
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
  await echo(big, '1 MiB binary');
  await echo('aé日🦀'.repeat((1 << 20) / 10 | 0) + 'z'.repeat((1 << 20) % 10), '1 MiB text');
  await new Promise((resolve) => {
    ws.once('pong', (p) => {
      if (p.toString('utf8') !== 'peer ping') fail('pong payload ' + p.toString('utf8'));
      resolve();
    });
    ws.ping('peer ping');
  });
  console.log('ok pong');
  ws.send('ping-me');
  const got = (await next()).data.toString('utf8');
  if (got !== 'pong received: from server') fail('after ping-me: ' + got);
  console.log('ok ping from server');
  const start = Date.now();
  let close;
  if (mode === 'client-close') {
    ws.close(4001, 'peer client bye');
    close = await closed;
    if (close.code !== 4001) fail('our close echoed as ' + close.code + ' ' + close.reason);
  } else {
    ws.send('close-please');
    close = await closed;
    if (close.code !== 4002 || close.reason !== 'server bye')
      fail('server close ' + close.code + ' ' + JSON.stringify(close.reason));
  }
  if (inbox.length) fail('unexpected messages: ' + inbox.length);
  const elapsed = Date.now() - start;
  if (elapsed > 3000) fail('closing took ' + elapsed + ' ms: the server did not close the TCP connection');
  console.log('ok ' + mode);
  console.log('PASS');
  process.exit(0);
});
"#;

// ------------------------------------------------------------------ child processes

/// A peer program we started; killed (by its own handle) when dropped while still running.
struct Peer {
    name: String,
    child: Child,
    lines: Receiver<String>,
    stdout: Vec<String>,
    readers: Vec<JoinHandle<String>>,
}

impl Peer {
    fn spawn(name: &str, mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}; {INSTALL_HINT}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let out_reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
            String::new()
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let err_reader = thread::spawn(move || {
            let mut all = Vec::new();
            let _ = stderr.read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        });
        Self {
            name: name.to_owned(),
            child,
            lines,
            stdout: Vec::new(),
            readers: vec![out_reader, err_reader],
        }
    }

    /// The next stdout line that starts with `prefix`, within [`STEP`]; other lines are kept.
    fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no line starting with {prefix:?} within {STEP:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("exited before printing {prefix:?}"))
                }
            }
        }
    }

    /// Waits for the program to exit within [`RUN`]; gives its status, stdout and stderr.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + RUN;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => self.fail(&format!("still running after {RUN:?}")),
                Err(e) => self.fail(&format!("cannot wait for it: {e}")),
            }
        };
        let (stdout, stderr) = self.collect_output();
        (status, stdout, stderr)
    }

    /// Kills the program (a server that would run forever) and gives its stdout and stderr.
    fn stop(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.collect_output()
    }

    fn collect_output(&mut self) -> (String, String) {
        let deadline = Instant::now() + STEP;
        let mut stderr = String::new();
        for reader in self.readers.drain(..) {
            while !reader.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                stderr.push_str(&reader.join().unwrap_or_default());
            }
        }
        self.stdout.extend(self.lines.try_iter());
        (self.stdout.join("\n"), stderr)
    }

    /// Kills the program and fails the test with everything it printed.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (stdout, stderr) = self.collect_output();
        panic!(
            "{}: {why}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            self.name
        );
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a short check program to completion within [`STEP`]: whether it exited 0.
fn check_succeeds(program: &str, args: &[&str]) -> bool {
    let mut command = Command::new(program);
    command.args(args);
    let Ok(child) = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let mut peer = Peer {
        name: program.to_owned(),
        child,
        lines: mpsc::channel().1,
        stdout: Vec::new(),
        readers: Vec::new(),
    };
    let deadline = Instant::now() + STEP;
    loop {
        match peer.child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => return false, // dropping `peer` kills it
        }
    }
}

/// A program from `var`, else `fallback`, that passes `check`; panics with the install hint
/// when there is none.
fn find_peer(var: &str, fallback: &str, check: &[&str], what: &str) -> String {
    let configured = std::env::var(var).ok().filter(|v| !v.is_empty());
    let program = configured.clone().unwrap_or_else(|| fallback.to_owned());
    if check_succeeds(&program, check) {
        return program;
    }
    match configured {
        Some(p) => panic!("peer missing: {var}={p} cannot load {what}; {INSTALL_HINT}"),
        None => panic!(
            "peer missing: {var} is not set and `{fallback}` cannot load {what}; {INSTALL_HINT}"
        ),
    }
}

fn python() -> String {
    find_peer(
        "RFC6455_PEER_PYTHON",
        "python3",
        &[
            "-c",
            "import websockets.asyncio.server, websockets.asyncio.client",
        ],
        "Python websockets (>= 13, for websockets.asyncio)",
    )
}

fn node() -> String {
    find_peer(
        "RFC6455_PEER_NODE",
        "node",
        &["-e", "require('ws').WebSocketServer || process.exit(1)"],
        "Node ws (>= 8) through NODE_PATH",
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerKind {
    Python,
    Node,
}

fn peer_command(peer: PeerKind, script: &str) -> Command {
    let (program, flag) = match peer {
        PeerKind::Python => (python(), "-c"),
        PeerKind::Node => (node(), "-e"),
    };
    let mut command = Command::new(program);
    command.arg(flag).arg(script);
    command
}

// ------------------------------------------------------------------ our clients, their servers

fn unicode_samples() -> Vec<String> {
    vec![
        "héllo wörld".to_owned(),
        "日本語のテキスト".to_owned(),
        "🦀 crab, 🎉 party, 👩‍👩‍👧 family".to_owned(),
        "e\u{301} combining, \u{feff} bom, \u{10ffff} last scalar".to_owned(),
        format!("a{}", "🦀€é".repeat(20_000)),
    ]
}

/// Our client (`kind`) against the peer's echo server: one connection that exchanges
/// everything and closes from our side, one where the peer closes.
fn our_client_against_their_server(kind: Kind, peer: PeerKind) {
    let script = match peer {
        PeerKind::Python => PYTHON_SERVER,
        PeerKind::Node => NODE_SERVER,
    };
    let mut server = Peer::spawn(&format!("{peer:?} server"), peer_command(peer, script));
    let port: u16 = server
        .expect_line("PORT ")
        .trim()
        .parse()
        .expect("a port number");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let client = thread::spawn(move || {
        let mut ws = connect(kind, addr, Config::default()).expect("handshake with the peer");
        ws.round_trip(Message::text("hello"));
        ws.round_trip(Message::binary(vec![0u8, 1, 0x7f, 0x80, 0xfe, 0xff]));
        ws.round_trip(Message::text(""));
        ws.round_trip(Message::binary(Vec::new()));
        for s in unicode_samples() {
            ws.round_trip(Message::text(s));
        }
        ws.round_trip(Message::binary(one_mib_binary()));
        ws.round_trip(Message::text(one_mib_text()));
        // §5.5.2: the peer answers our Ping with a Pong carrying its payload; it pings us and
        // our automatic Pong reaches it.
        ws.ping_each_way(b"our ping", "from peer");
        ws.close(CloseCode(4001), "our client bye ✓")
            .expect("close");
        ws.expect_close_then_end(CloseCode(4001), None);

        // Second connection: the peer closes.
        let mut ws =
            connect(kind, addr, Config::default()).expect("second handshake with the peer");
        ws.round_trip(Message::text("before close"));
        let start = Instant::now();
        ws.send(Message::text("close-please")).expect("send");
        ws.expect_close_then_end(CloseCode(4002), Some("peer bye"));
        start.elapsed()
    });
    let deadline = Instant::now() + RUN;
    while !client.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    if !client.is_finished() {
        server.fail("our client did not finish in time");
    }
    let elapsed = match client.join() {
        Ok(elapsed) => elapsed,
        Err(panic) => {
            let (stdout, stderr) = server.stop();
            eprintln!("--- peer stdout ---\n{stdout}\n--- peer stderr ---\n{stderr}");
            std::panic::resume_unwind(panic);
        }
    };
    // What the peer received: our Close frames, code and reason, and our echo of its own.
    let first = server.expect_line("CLOSE ");
    let second = server.expect_line("CLOSE ");
    let (stdout, stderr) = server.stop();
    assert_eq!(
        first, "4001 our client bye ✓",
        "peer output:\n{stdout}\n{stderr}"
    );
    assert!(
        second.starts_with("4002"),
        "peer saw {second:?}; output:\n{stdout}\n{stderr}"
    );
    assert!(
        elapsed < Config::default().close_timeout / 2,
        "took {elapsed:?} to end after the peer's close"
    );
}

// ------------------------------------------------------------------ their clients, our servers

/// The peer's client against our server (`kind`), once for each side closing.
fn their_client_against_our_server(kind: Kind, peer: PeerKind) {
    let script = match peer {
        PeerKind::Python => PYTHON_CLIENT,
        PeerKind::Node => NODE_CLIENT,
    };
    for mode in ["client-close", "server-close"] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let ours = thread::spawn(move || {
            let mut ws = accept(kind, listener, Config::default(), |_| Ok(Accept::new()))
                .expect("handshake with the peer");
            echo_server(&mut ws)
        });
        let mut command = peer_command(peer, script);
        command
            .env("PEER_URL", format!("ws://{addr}/"))
            .env("PEER_MODE", mode);
        let client = Peer::spawn(&format!("{peer:?} client ({mode})"), command);
        let (status, stdout, stderr) = client.finish();
        let output = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
        assert!(
            status.success() && stdout.lines().any(|l| l == "PASS"),
            "{peer:?} client ({mode}) failed with {status}\n{output}"
        );
        let report = join_by(ours, Instant::now() + RUN, "our server");
        assert_eq!(
            report.end,
            Some(Ok(())),
            "our server did not end cleanly\n{output}"
        );
        assert!(report.closing_handshake_complete);
        // text, binary, empty text, 5 unicode, 1 MiB binary and text
        assert_eq!(report.echoed, 10);
        assert_eq!(report.pings, [Bytes::from_static(b"peer ping")]);
        assert_eq!(report.pongs, [Bytes::from_static(b"from server")]);
        let close = report
            .close
            .flatten()
            .expect("the peer's Close frame with a code");
        if mode == "client-close" {
            assert_eq!(close, CloseFrame::new(CloseCode(4001), "peer client bye"));
        } else {
            assert_eq!(close.code, CloseCode(4002), "the peer's echo of our close");
        }
    }
}

/// One ignored `#[test]` per row, each running `$run(Kind::$kind, PeerKind::$peer)`; `$needs`
/// says which peer it needs.
macro_rules! peer_tests {
    ($peer:ident, $needs:literal: $($test:ident: $run:ident($kind:ident)),+ $(,)?) => {
        $(
            #[test]
            #[ignore = $needs]
            fn $test() {
                $run(Kind::$kind, PeerKind::$peer);
            }
        )+
    };
}

peer_tests!(
    Python,
    "needs Python websockets: scripts/install-peers.sh, then source target/peers/env.sh":
    blocking_client_against_python_websockets_server: our_client_against_their_server(Blocking),
    tokio_client_against_python_websockets_server: our_client_against_their_server(Tokio),
    python_websockets_client_against_blocking_server: their_client_against_our_server(Blocking),
    python_websockets_client_against_tokio_server: their_client_against_our_server(Tokio),
);

peer_tests!(
    Node,
    "needs Node ws: scripts/install-peers.sh, then source target/peers/env.sh":
    blocking_client_against_node_ws_server: our_client_against_their_server(Blocking),
    tokio_client_against_node_ws_server: our_client_against_their_server(Tokio),
    node_ws_client_against_blocking_server: their_client_against_our_server(Blocking),
    node_ws_client_against_tokio_server: their_client_against_our_server(Tokio),
);
