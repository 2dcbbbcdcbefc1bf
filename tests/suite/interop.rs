//! Interoperability with WebSocket implementations nobody here wrote: Python's `websockets`
//! and Node's `ws`, in both roles, against our blocking and tokio adapters, over 127.0.0.1.
//! Each exchange covers echo of text and binary, unicode, 1 MiB messages, a Ping each way
//! answered by a Pong (§5.5.2, §5.5.3), and the closing handshake started by either side
//! (§7.1.2), with its code and reason checked on the far side. Without `Config::deflate` no
//! compression is negotiated, although both peers offer or accept it.
//!
//! The `*_compressed*` tests do the same with permessage-deflate
//! ([RFC 7692](https://www.rfc-editor.org/rfc/rfc7692)) on both sides: negotiation is checked on
//! our side (`Connection::is_compressed`, the headers) and on theirs (what they report), and the
//! peer counts the bytes on its socket, which shows that each side really compressed: 100 KiB of
//! repetitive text crosses in a few hundred bytes each way, and 50 similar messages of 1.5 KiB
//! cross in about 1.5 KiB in all with context takeover (§7.1.1), or in about 1 KiB each under
//! `server_no_context_takeover` and `client_no_context_takeover`. Payloads: that text, 1 MiB of
//! repetitive and of random binary, unicode, the 50 messages, and a Ping each way between them.
//!
//! The peers are small programs written inline below and run as child processes. These tests
//! are `#[ignore]`d: `.ci/run` installs the peers with `scripts/install-peers.sh`, sources
//! `target/peers/env.sh` (`RFC6455_PEER_PYTHON`, `RFC6455_PEER_NODE`, `NODE_PATH`) and runs
//! them with `--ignored`. A missing peer fails the test with a message saying how to install
//! it; it never passes silently. Every child is bounded in time and killed (by its own
//! handle) if it overstays.

use crate::net;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::deflate::DeflateConfig;
use rfc6455::handshake::Accept;
use rfc6455::{Bytes, CloseCode, CloseFrame, Config, Message};

use net::{
    accept, connect, connect_with_response, echo_server, join_by, one_mib_binary, one_mib_text,
    Kind, Ws, STEP,
};

/// The longest a peer process or one of our endpoints may run.
const RUN: Duration = Duration::from_secs(60);

const INSTALL_HINT: &str = "run `bash scripts/install-peers.sh && source target/peers/env.sh` \
                            (what .ci/run does) before `cargo test --all-features -- --ignored`";

// ------------------------------------------------------------------ the peer programs

/// Python `websockets` echo server, with permessage-deflate accepted as `websockets` does by
/// default (`server_max_window_bits=12`, and `client_max_window_bits=12` if the client offers
/// it). Prints `PORT <n>` once listening and `CLOSE <code> <reason>` (the Close frame it
/// received) when a connection ends. Commands: "close-please" closes with 4002 "peer bye";
/// "ping-me" sends a Ping "from peer" and, once its Pong is back, the text "pong received: from
/// peer"; "wire?" answers `wire <bytes in> <bytes out>` on this connection since the handshake;
/// "extensions?" answers `names=<extensions in use> response=<its Sec-WebSocket-Extensions>`.
const PYTHON_SERVER: &str = r#"
import asyncio
from websockets.asyncio.server import serve

def count_wire(ws):
    # Bytes in and out, counted where the sans-I/O protocol meets the socket.
    wire = [0, 0]
    receive_data, data_to_send = ws.protocol.receive_data, ws.protocol.data_to_send
    def counted_receive_data(data):
        wire[0] += len(data)
        return receive_data(data)
    def counted_data_to_send():
        chunks = data_to_send()
        wire[1] += sum(len(c) for c in chunks)
        return chunks
    ws.protocol.receive_data, ws.protocol.data_to_send = counted_receive_data, counted_data_to_send
    return wire

async def handler(ws):
    wire = count_wire(ws)
    try:
        async for msg in ws:
            if msg == "wire?":
                await ws.send(f"wire {wire[0]} {wire[1]}")
                continue
            if msg == "extensions?":
                names = ",".join(e.name for e in ws.protocol.extensions)
                response = ws.response.headers.get("Sec-WebSocket-Extensions", "")
                await ws.send(f"names={names} response={response}")
                continue
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
/// `perMessageDeflate: true` accepts a client's permessage-deflate offer with `ws`'s defaults:
/// context takeover and the window sizes the client asks for; messages under 1024 bytes (its
/// `threshold`) are sent uncompressed.
const NODE_SERVER: &str = r#"
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
wss.on('listening', () => console.log('PORT ' + wss.address().port));
wss.on('headers', (headers, req) => {
  const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  req.extensionsResponse = line ? line.replace(/^[^:]*:\s*/, '') : '';
});
wss.on('connection', (ws, req) => {
  const socket = ws._socket;
  const base = [socket.bytesRead, socket.bytesWritten];
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text === 'wire?') {
      return ws.send(`wire ${socket.bytesRead - base[0]} ${socket.bytesWritten - base[1]}`);
    }
    if (text === 'extensions?') {
      return ws.send(`names=${ws.extensions} response=${req.extensionsResponse}`);
    }
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

/// Python `websockets` client with permessage-deflate for `$PEER_URL`. `$PEER_DEFLATE` =
/// `default`: what `websockets` offers by default (`permessage-deflate; client_max_window_bits`);
/// `no-context-takeover`: `server_no_context_takeover`, `client_no_context_takeover` and
/// `client_max_window_bits=10`. Prints `EXT names=<extensions in use> response=<the server's
/// Sec-WebSocket-Extensions>`, then checks the echoes of the payloads the module docs list,
/// printing `WIRE <part> <bytes in> <bytes out>` for the 100 KiB text (`big`) and the
/// `$PEER_BATCH` similar messages (`batch`); pings, closes with 1000, prints `PASS`. Exits 1 with
/// `FAIL <why>` on the first difference.
const PYTHON_DEFLATE_CLIENT: &str = r#"
import asyncio, os, random, string
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

URL = os.environ["PEER_URL"]
DEFLATE = os.environ["PEER_DEFLATE"]
BATCH = int(os.environ["PEER_BATCH"])
LINE = "permessage-deflate squeezes repeated text: the quick brown fox jumps over the lazy dog ✓\n"
BIG = LINE * (100 * 1024 // len(LINE.encode()) + 1)
UNICODE = ["héllo wörld", "日本語のテキスト", "🦀 crab, 🎉 party, 👩‍👩‍👧 family",
           "e\u0301 combining, \ufeff bom, \U0010ffff last scalar", "a" + "🦀€é" * 20000]

def fail(why):
    print("FAIL " + why, flush=True)
    os._exit(1)

def count_wire(ws):
    # Bytes in and out, counted where the sans-I/O protocol meets the socket.
    wire = [0, 0]
    receive_data, data_to_send = ws.protocol.receive_data, ws.protocol.data_to_send
    def counted_receive_data(data):
        wire[0] += len(data)
        return receive_data(data)
    def counted_data_to_send():
        chunks = data_to_send()
        wire[1] += sum(len(c) for c in chunks)
        return chunks
    ws.protocol.receive_data, ws.protocol.data_to_send = counted_receive_data, counted_data_to_send
    return wire

async def echo(ws, payload, what):
    await ws.send(payload)
    got = await ws.recv()
    if type(got) is not type(payload):
        fail(f"{what}: sent {type(payload).__name__}, got {type(got).__name__}")
    if got != payload:
        fail(f"{what}: payload differs ({len(got)} vs {len(payload)})")

async def main():
    extensions = None
    if DEFLATE == "no-context-takeover":
        extensions = [ClientPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True,
            client_max_window_bits=10)]
    async with connect(URL, max_size=None, ping_interval=None, close_timeout=10,
                       extensions=extensions) as ws:
        wire = count_wire(ws)
        names = ",".join(e.name for e in ws.protocol.extensions)
        response = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        print(f"EXT names={names} response={response}", flush=True)
        await echo(ws, "hello", "text")
        before = list(wire)
        await echo(ws, BIG, "100 KiB text")
        print(f"WIRE big {wire[0] - before[0]} {wire[1] - before[1]}", flush=True)
        await echo(ws, bytes(i * 31 % 251 for i in range(1 << 20)), "1 MiB binary")
        await echo(ws, random.Random(5).randbytes(1 << 20), "1 MiB random binary")
        for i, s in enumerate(UNICODE):
            await echo(ws, s, f"unicode {i}")
        rng = random.Random(7)
        base = "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(1536))
        before = list(wire)
        for i in range(BATCH):
            await echo(ws, f"{i:04} {base}", f"batch {i}")
        print(f"WIRE batch {wire[0] - before[0]} {wire[1] - before[1]}", flush=True)
        pong = await ws.ping(b"peer ping")
        await asyncio.wait_for(pong, 10)
        await echo(ws, BIG, "100 KiB text after the ping")
        await ws.close(1000, "peer client bye")
        if ws.close_code != 1000:
            fail(f"our close echoed as {ws.close_code} {ws.close_reason!r}")
    print("PASS", flush=True)

asyncio.run(asyncio.wait_for(main(), 40))
"#;

/// Node `ws` client with permessage-deflate, doing what [`PYTHON_DEFLATE_CLIENT`] does. `ws`
/// clients offer `permessage-deflate; client_max_window_bits` by default and send messages under
/// 1024 bytes uncompressed; the bytes are counted on its socket.
const NODE_DEFLATE_CLIENT: &str = r#"
const WebSocket = require('ws');
const crypto = require('crypto');
const url = process.env.PEER_URL;
const batch = Number(process.env.PEER_BATCH);
const fail = (why) => { console.log('FAIL ' + why); process.exit(1); };
setTimeout(() => fail('timed out'), 40000).unref();

const perMessageDeflate = process.env.PEER_DEFLATE === 'no-context-takeover'
  ? { serverNoContextTakeover: true, clientNoContextTakeover: true, clientMaxWindowBits: 10 }
  : true;
const ws = new WebSocket(url, { perMessageDeflate });
let response = '';
ws.on('upgrade', (res) => { response = res.headers['sec-websocket-extensions'] || ''; });
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
}
const wire = () => [ws._socket.bytesRead, ws._socket.bytesWritten];
const report = (what, before) => {
  const now = wire();
  console.log(`WIRE ${what} ${now[0] - before[0]} ${now[1] - before[1]}`);
};

ws.on('open', async () => {
  console.log(`EXT names=${ws.extensions} response=${response}`);
  await echo('hello', 'text');
  const line = 'permessage-deflate squeezes repeated text: the quick brown fox jumps over the lazy dog ✓\n';
  const big = line.repeat(Math.floor(100 * 1024 / Buffer.byteLength(line)) + 1);
  let before = wire();
  await echo(big, '100 KiB text');
  report('big', before);
  const pattern = Buffer.alloc(1 << 20);
  for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 31) % 251;
  await echo(pattern, '1 MiB binary');
  await echo(crypto.randomBytes(1 << 20), '1 MiB random binary');
  const unicode = ['héllo wörld', '日本語のテキスト', '🦀 crab, 🎉 party, 👩‍👩‍👧 family',
                   'e\u0301 combining, \ufeff bom, \u{10ffff} last scalar', 'a' + '🦀€é'.repeat(20000)];
  for (let i = 0; i < unicode.length; i++) await echo(unicode[i], 'unicode ' + i);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let base = '';
  for (let i = 0; i < 1536; i++) base += alphabet[crypto.randomInt(64)];
  before = wire();
  for (let i = 0; i < batch; i++) await echo(String(i).padStart(4, '0') + ' ' + base, 'batch ' + i);
  report('batch', before);
  await new Promise((resolve) => {
    ws.once('pong', (p) => {
      if (p.toString('utf8') !== 'peer ping') fail('pong payload ' + p.toString('utf8'));
      resolve();
    });
    ws.ping('peer ping');
  });
  await echo(big, '100 KiB text after the ping');
  ws.close(1000, 'peer client bye');
  const close = await closed;
  if (close.code !== 1000) fail('our close echoed as ' + close.code + ' ' + close.reason);
  if (inbox.length) fail('unexpected messages: ' + inbox.length);
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
        // `Config::deflate` is `None`: no offer, so no compression, although the peer accepts it.
        assert!(!ws.connection().is_compressed());
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
        // The peer offered permessage-deflate (both do by default); `Config::deflate` is `None`.
        assert!(
            !report.compressed,
            "compression negotiated without Config::deflate"
        );
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

// ------------------------------------------------------------------ with permessage-deflate

/// How many similar messages the context-takeover part sends.
const BATCH: usize = 50;
/// Length of the shared part of those messages (random letters: about 6 bits per byte).
const BATCH_BASE: usize = 1536;

/// What the client offers in the compression tests (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// The client's defaults: context takeover both ways.
    Default,
    /// `server_no_context_takeover`, `client_no_context_takeover` and `client_max_window_bits=10`.
    NoContextTakeover,
}

impl Offer {
    /// `$PEER_DEFLATE` for the peer clients.
    fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::NoContextTakeover => "no-context-takeover",
        }
    }

    /// Our client's configuration for this offer.
    fn client_config(self) -> Config {
        let mut deflate = DeflateConfig::default();
        if self == Self::NoContextTakeover {
            deflate.server_no_context_takeover = true;
            deflate.client_no_context_takeover = true;
            deflate.client_max_window_bits = Some(10);
        }
        let mut config = Config::default();
        config.deflate = Some(deflate);
        config
    }

    /// Checks a `Sec-WebSocket-Extensions` value, offer or response, for this offer's parameters.
    fn check_header(self, what: &str, value: &str) {
        assert!(
            value.starts_with("permessage-deflate"),
            "{what}: {value:?} is not permessage-deflate"
        );
        if self == Self::NoContextTakeover {
            for param in ["server_no_context_takeover", "client_no_context_takeover"] {
                assert!(value.contains(param), "{what}: {value:?} lacks {param}");
            }
        }
    }
}

/// At least 100 KiB of one line repeated, as the peer clients build it.
fn compressible_text() -> String {
    let line = "permessage-deflate squeezes repeated text: the quick brown fox jumps over the lazy dog ✓\n";
    line.repeat(100 * 1024 / line.len() + 1)
}

/// 1 MiB that DEFLATE cannot shrink (xorshift64*).
fn random_mib() -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..1usize << 20)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// [`BATCH`] messages that share [`BATCH_BASE`] random letters and differ in a counter.
fn batch_messages() -> Vec<Message> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let base: String = random_mib()[..BATCH_BASE]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 64)]))
        .collect();
    (0..BATCH)
        .map(|i| Message::text(format!("{i:04} {base}")))
        .collect()
}

/// Checks the bytes the peer counted on its socket (frame headers included) while one part of
/// the exchange crossed it: `ours` is what our side sent, `theirs` what the peer sent.
fn check_wire(part: &str, offer: Offer, peer: PeerKind, ours: u64, theirs: u64) {
    let (payload, low, high) = if part == "big" {
        // 100 KiB of one repeated line: any DEFLATE brings it under 5 KiB.
        let len = compressible_text().len() as u64;
        (len, 0, len / 20)
    } else {
        let len = (BATCH * (BATCH_BASE + 5)) as u64;
        match offer {
            // Context takeover: each message after the first is a back-reference to the one
            // before, a few bytes.
            Offer::Default => (len, 0, len / 10),
            // No context takeover: each message is compressed alone, and random letters do
            // not shrink below about 6/8 of their size.
            Offer::NoContextTakeover => (len, len / 2, len),
        }
    };
    println!(
        "{peer:?} {offer:?} {part}: {payload} bytes of payload each way; on the wire we sent \
         {ours}, the peer sent {theirs}"
    );
    for (who, bytes) in [("we", ours), ("the peer", theirs)] {
        assert!(
            (low..=high).contains(&bytes),
            "{part} with {offer:?} ({payload} bytes of payload): {who} sent {bytes} bytes on the \
             wire to/from {peer:?}, expected {low}..={high}"
        );
    }
}

/// Parses `<prefix> <a> <b>` (numbers) from a peer's line.
fn two_numbers(line: &str) -> (u64, u64) {
    let mut numbers = line.split_whitespace().map(|n| n.parse::<u64>());
    match (numbers.next(), numbers.next(), numbers.next()) {
        (Some(Ok(a)), Some(Ok(b)), None) => (a, b),
        _ => panic!("expected two numbers, got {line:?}"),
    }
}

/// Asks the peer server what crossed its socket so far: (bytes in, bytes out).
fn peer_wire(ws: &mut Ws) -> (u64, u64) {
    ws.send(Message::text("wire?")).expect("send");
    let reply = ws.expect_message();
    let text = reply.as_text().expect("a text answer to wire?");
    two_numbers(text.strip_prefix("wire ").expect("wire <in> <out>"))
}

/// Checks the peer's report of what it negotiated: `names=<extensions in use> response=<header>`.
fn check_peer_extensions(offer: Offer, report: &str) {
    println!("{offer:?}: the peer reports {report}");
    let (names, response) = report
        .strip_prefix("names=")
        .and_then(|r| r.split_once(" response="))
        .unwrap_or_else(|| panic!("peer's extensions: {report:?}"));
    assert_eq!(names, "permessage-deflate", "the peer's extensions in use");
    offer.check_header("the server's response, as the peer reports it", response);
}

/// Our client (`kind`), offering permessage-deflate as `offer` says, against the peer's echo
/// server, which accepts it: negotiation on both sides, then the compressed exchange.
fn our_compressing_client_against_their_server(kind: Kind, peer: PeerKind, offer: Offer) {
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
        let (mut ws, response) =
            connect_with_response(kind, addr, offer.client_config()).expect("handshake");
        let accepted: Vec<String> = response
            .extensions()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(accepted.len(), 1, "the server's extensions: {accepted:?}");
        offer.check_header("the server's response", &accepted[0]);
        assert!(
            ws.connection().is_compressed(),
            "not compressed: {accepted:?}"
        );
        ws.send(Message::text("extensions?")).expect("send");
        check_peer_extensions(offer, ws.expect_message().as_text().expect("text"));

        ws.round_trip(Message::text("hello"));
        let before = peer_wire(&mut ws);
        ws.round_trip(Message::text(compressible_text()));
        let after = peer_wire(&mut ws);
        check_wire("big", offer, peer, after.0 - before.0, after.1 - before.1);
        ws.round_trip(Message::binary(one_mib_binary()));
        ws.round_trip(Message::binary(random_mib()));
        for s in unicode_samples() {
            ws.round_trip(Message::text(s));
        }
        let before = peer_wire(&mut ws);
        for message in batch_messages() {
            ws.round_trip(message);
        }
        let after = peer_wire(&mut ws);
        check_wire("batch", offer, peer, after.0 - before.0, after.1 - before.1);
        // Control frames between compressed messages are never compressed (RFC 7692 §6.1).
        ws.ping_each_way(b"our ping", "from peer");
        ws.round_trip(Message::text(compressible_text()));
        ws.close(CloseCode::NORMAL, "compressed bye")
            .expect("close");
        ws.expect_close_then_end(CloseCode::NORMAL, None);
    });
    let deadline = Instant::now() + RUN;
    while !client.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    if !client.is_finished() {
        server.fail("our client did not finish in time");
    }
    if let Err(panic) = client.join() {
        let (stdout, stderr) = server.stop();
        eprintln!("--- peer stdout ---\n{stdout}\n--- peer stderr ---\n{stderr}");
        std::panic::resume_unwind(panic);
    }
    let close = server.expect_line("CLOSE ");
    let (stdout, stderr) = server.stop();
    assert_eq!(
        close, "1000 compressed bye",
        "peer output:\n{stdout}\n{stderr}"
    );
}

/// The peer's client, offering permessage-deflate as `offer` says, against our server (`kind`)
/// with permessage-deflate enabled.
fn their_compressing_client_against_our_server(kind: Kind, peer: PeerKind, offer: Offer) {
    let script = match peer {
        PeerKind::Python => PYTHON_DEFLATE_CLIENT,
        PeerKind::Node => NODE_DEFLATE_CLIENT,
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let ours = thread::spawn(move || {
        let mut config = Config::default();
        config.deflate = Some(DeflateConfig::default());
        let mut offered = String::new();
        let mut ws = accept(kind, listener, config, |request| {
            offered = request
                .header_str("Sec-WebSocket-Extensions")
                .unwrap_or_default()
                .to_owned();
            Ok(Accept::new())
        })
        .expect("handshake with the peer");
        (echo_server(&mut ws), offered)
    });
    let mut command = peer_command(peer, script);
    command
        .env("PEER_URL", format!("ws://{addr}/"))
        .env("PEER_DEFLATE", offer.name())
        .env("PEER_BATCH", BATCH.to_string());
    let client = Peer::spawn(&format!("{peer:?} client ({})", offer.name()), command);
    let (status, stdout, stderr) = client.finish();
    let output = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(
        status.success() && stdout.lines().any(|l| l == "PASS"),
        "{peer:?} client ({}) failed with {status}\n{output}",
        offer.name()
    );
    let (report, offered) = join_by(ours, Instant::now() + RUN, "our server");

    // What the peer offered, as we received it, and what it says was negotiated.
    println!("{peer:?} {offer:?}: the peer offered {offered}");
    offer.check_header("the peer's offer", &offered);
    if offer == Offer::NoContextTakeover {
        assert!(
            offered.contains("client_max_window_bits=10"),
            "the peer's offer {offered:?}"
        );
    }
    assert!(
        report.compressed,
        "our server did not negotiate {offered:?}\n{output}"
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line\n{output}"))
    };
    check_peer_extensions(offer, line("EXT "));
    // The peer's counts: "in" is what our server sent, "out" what the peer sent.
    for part in ["big", "batch"] {
        let (peer_in, peer_out) = two_numbers(line(&format!("WIRE {part} ")));
        check_wire(part, offer, peer, peer_in, peer_out);
    }

    assert_eq!(
        report.end,
        Some(Ok(())),
        "our server did not end cleanly\n{output}"
    );
    assert!(report.closing_handshake_complete);
    // text, 100 KiB text twice, 2 x 1 MiB binary, 5 unicode, the batch
    assert_eq!(report.echoed, 10 + BATCH);
    assert_eq!(report.pings, [Bytes::from_static(b"peer ping")]);
    assert_eq!(
        report.close.flatten(),
        Some(CloseFrame::new(CloseCode::NORMAL, "peer client bye"))
    );
}

/// One ignored `#[test]` per row, each running `$run(Kind::$kind, PeerKind::$peer)`, or
/// `$run(Kind::$kind, PeerKind::$peer, Offer::$offer)` for rows with an offer; `$needs` says
/// which peer it needs.
macro_rules! peer_tests {
    ($peer:ident, $needs:literal:
     $($test:ident: $run:ident($kind:ident $(, $offer:ident)?)),+ $(,)?) => {
        $(
            #[test]
            #[ignore = $needs]
            fn $test() {
                $run(Kind::$kind, PeerKind::$peer $(, Offer::$offer)?);
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
    blocking_client_against_python_websockets_server_compressed:
        our_compressing_client_against_their_server(Blocking, Default),
    tokio_client_against_python_websockets_server_compressed:
        our_compressing_client_against_their_server(Tokio, Default),
    blocking_client_against_python_websockets_server_compressed_no_context_takeover:
        our_compressing_client_against_their_server(Blocking, NoContextTakeover),
    tokio_client_against_python_websockets_server_compressed_no_context_takeover:
        our_compressing_client_against_their_server(Tokio, NoContextTakeover),
    python_websockets_client_against_blocking_server_compressed:
        their_compressing_client_against_our_server(Blocking, Default),
    python_websockets_client_against_tokio_server_compressed:
        their_compressing_client_against_our_server(Tokio, Default),
    python_websockets_client_against_blocking_server_compressed_no_context_takeover:
        their_compressing_client_against_our_server(Blocking, NoContextTakeover),
    python_websockets_client_against_tokio_server_compressed_no_context_takeover:
        their_compressing_client_against_our_server(Tokio, NoContextTakeover),
);

peer_tests!(
    Node,
    "needs Node ws: scripts/install-peers.sh, then source target/peers/env.sh":
    blocking_client_against_node_ws_server: our_client_against_their_server(Blocking),
    tokio_client_against_node_ws_server: our_client_against_their_server(Tokio),
    node_ws_client_against_blocking_server: their_client_against_our_server(Blocking),
    node_ws_client_against_tokio_server: their_client_against_our_server(Tokio),
    blocking_client_against_node_ws_server_compressed:
        our_compressing_client_against_their_server(Blocking, Default),
    tokio_client_against_node_ws_server_compressed:
        our_compressing_client_against_their_server(Tokio, Default),
    blocking_client_against_node_ws_server_compressed_no_context_takeover:
        our_compressing_client_against_their_server(Blocking, NoContextTakeover),
    tokio_client_against_node_ws_server_compressed_no_context_takeover:
        our_compressing_client_against_their_server(Tokio, NoContextTakeover),
    node_ws_client_against_blocking_server_compressed:
        their_compressing_client_against_our_server(Blocking, Default),
    node_ws_client_against_tokio_server_compressed:
        their_compressing_client_against_our_server(Tokio, Default),
    node_ws_client_against_blocking_server_compressed_no_context_takeover:
        their_compressing_client_against_our_server(Blocking, NoContextTakeover),
    node_ws_client_against_tokio_server_compressed_no_context_takeover:
        their_compressing_client_against_our_server(Tokio, NoContextTakeover),
);
