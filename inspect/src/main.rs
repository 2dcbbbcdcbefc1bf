//! Protocol inspector: `inspect [--file PATH | --hex STRING] [--from client|server] [--key KEY]`.
//!
//! For people studying RFC 6455: reads the bytes of an opening handshake and/or of frames, in
//! either direction, and prints every field with its meaning and the RFC section that defines
//! it. Everything is decided by the crate's own code: the handshake by [`ServerHandshake`] and
//! [`Request::validate`] (requests) or [`ClientHandshake`] (responses), frame headers by
//! [`FrameHeader::decode`], payloads by [`apply_mask`], [`Utf8Validator`] and
//! [`CloseFrame::decode`]. Each frame is also fed to a real [`Connection`] of the receiving role,
//! whose verdict (an event, or `Event::Failed` with the close code it sends) is printed under
//! the frame, along with any frame it queues in reply (a Pong, a Close).
//!
//! [`Request::validate`]: rfc6455::handshake::Request::validate
//!
//! Input, one of:
//! - `--hex STRING`: hex digits; whitespace, `0x` prefixes, commas and `:` are ignored, and
//!   `#` starts a comment that runs to the end of the line;
//! - `--file PATH`: the raw bytes of a file (`--file -` reads raw bytes from standard input);
//! - nothing: hex on standard input, or raw bytes if standard input starts with an HTTP
//!   request or status line.
//!
//! What the bytes are is detected: an HTTP request line (`GET / HTTP/1.1`) starts a client
//! handshake, `HTTP/1.1 101` a server handshake, and the bytes after the header block are frames
//! from the same side. Otherwise the input is frames; `--from` names the side that sent them
//! (default: inferred from the MASK bit of the first frame, since only clients mask, §5.1).
//! `--key KEY` gives the client's `Sec-WebSocket-Key`, so that a response's
//! `Sec-WebSocket-Accept` can be checked (§4.1).
//!
//! Bad hex, an unreadable file or bad arguments exit with status 2. A protocol violation in the
//! input is not an error of the tool: it is explained, and the exit status is 0.
//!
//! The examples of RFC 6455 §5.7:
//!
//! ```text
//! cargo run -p rfc6455-inspect -- --hex "81 05 48 65 6c 6c 6f"                 # unmasked text "Hello"
//! cargo run -p rfc6455-inspect -- --hex "81 85 37 fa 21 3d 7f 9f 4d 51 58"     # masked text "Hello"
//! cargo run -p rfc6455-inspect -- --hex "01 03 48 65 6c  80 02 6c 6f"          # "Hel" + "lo"
//! cargo run -p rfc6455-inspect -- --hex "89 05 48 65 6c 6c 6f"                 # unmasked Ping
//! cargo run -p rfc6455-inspect -- --hex "8a 85 37 fa 21 3d 7f 9f 4d 51 58"     # masked Pong
//! cargo run -p rfc6455-inspect -- --hex "82 7E 0100"                           # 256 bytes, header only
//! cargo run -p rfc6455-inspect -- --hex "82 7F 0000000000010000"               # 64 KiB, header only
//! echo '0x88, 0x82, 0x01, 0x02, 0x03, 0x04, 0x02, 0xea  # masked Close 1000' \
//!     | cargo run --example inspect
//! ```
//!
//! The opening handshake of RFC 6455 §1.3, request then response:
//!
//! ```text
//! printf 'GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n' \
//!     | cargo run --example inspect
//! printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n' \
//!     | cargo run -p rfc6455-inspect -- --key dGhlIHNhbXBsZSBub25jZQ==
//! ```
//!
//! Output for the masked "Hello" (the server's Connection delivers the message):
//!
//! ```text
//! frames from the client, inferred from the MASK bit of frame 1 (§5.1: only clients mask); --from overrides
//! each frame is also fed to Connection::new(Role::Server, Config::default()), the receiver
//!
//! frame 1 (client -> server), 11 bytes at offset 0
//!   header  81 85 37 fa 21 3d  2 bytes + 4-byte masking key (§5.2)
//!   FIN     1        final fragment (§5.2)
//!   RSV     0 0 0    no extension bits (§5.2)
//!   opcode  0x1      text frame (§5.2, §11.8)
//!   MASK    1        masked, key 37 fa 21 3d (§5.3: clients MUST mask)
//!   length  5        7-bit form (§5.2)
//!   masked  7f 9f 4d 51 58  as sent; octet i XOR key octet i mod 4 unmasks it (§5.3)
//!   payload "Hello"  (unmasked) valid UTF-8 text (§5.6, §8.1)
//!   event   Message  the server's Connection delivers a text message of 5 bytes: "Hello" (§5.6)
//!
//! end of input at offset 11, after 1 frame
//!   state   Open     the server's Connection is open: no Close frame was exchanged; more frames may follow (§7)
//! ```

use std::io::{IsTerminal as _, Read as _};
use std::process::ExitCode;

use base64::Engine as _;
use rfc6455::frame::{apply_mask, FrameHeader, Opcode};
use rfc6455::handshake::{
    accept_key, header_contains_token, parse_extensions, Accept, ClientHandshake, ClientRequest,
    Extension, HandshakeError, HandshakeLimits, ServerHandshake, GUID,
};
use rfc6455::utf8::Utf8Validator;
use rfc6455::{
    CloseCode, CloseFrame, Config, Connection, DataKind, Event, Message, ProtocolError, Role,
    State, Status,
};

const USAGE: &str = "\
usage: inspect [--file PATH | --hex STRING] [--from client|server] [--key KEY]
  --hex STRING   the bytes as hex (whitespace, 0x, commas and : ignored; # comments)
  --file PATH    the raw bytes of a file; --file - reads raw bytes from standard input
                 (without either: hex on standard input, or raw bytes if it starts with HTTP)
  --from SIDE    who sent the frames: client or server (default: from the MASK bit)
  --key KEY      the client's Sec-WebSocket-Key, to check a response's Sec-WebSocket-Accept
";

/// Where the bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `--file PATH`: raw bytes (`-` for standard input).
    File(String),
    /// `--hex STRING`.
    Hex(String),
    /// Standard input: hex, or raw bytes if it starts like an HTTP message.
    Stdin,
}

/// How to read the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// The side that sent the frames (`--from`); inferred when `None`.
    pub(crate) from: Option<Role>,
    /// The client's `Sec-WebSocket-Key` (`--key`), as sent.
    pub(crate) key: Option<String>,
}

#[cfg(test)]
mod tests;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut stdin = || {
        if std::io::stdin().is_terminal() {
            eprintln!("inspect: reading standard input; end it with Ctrl-D");
        }
        let mut raw = Vec::new();
        std::io::stdin().read_to_end(&mut raw).map(|_| raw)
    };
    match run(&args, &mut stdin) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("inspect: {e}");
            ExitCode::from(2)
        }
    }
}

/// The whole tool but the process: the report (or the help text) to print, or the error that
/// exits with status 2. `stdin` reads standard input to its end.
pub(crate) fn run(
    args: &[String],
    stdin: &mut dyn FnMut() -> std::io::Result<Vec<u8>>,
) -> Result<String, String> {
    let (source, options) = match parse_args(args) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Ok(USAGE.to_owned()),
        Err(e) => return Err(format!("{e}\n{USAGE}")),
    };
    let mut stdin = || stdin().map_err(|e| format!("cannot read standard input: {e}"));
    let bytes = match source {
        Source::Hex(text) => parse_hex(&text)?,
        Source::File(path) if path == "-" => stdin()?,
        Source::File(path) => {
            std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
        Source::Stdin => decode_stdin(stdin()?)?,
    };
    if bytes.is_empty() {
        return Err("no input bytes".to_owned());
    }
    Ok(inspect(&bytes, &options))
}

/// Parses the command line; `Ok(None)` asks for the help text.
pub(crate) fn parse_args(args: &[String]) -> Result<Option<(Source, Options)>, String> {
    let mut source = None;
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let next = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--file" => Source::File(value("--file")?),
            "--hex" => Source::Hex(value("--hex")?),
            "--from" => {
                options.from = Some(match value("--from")?.as_str() {
                    "client" => Role::Client,
                    "server" => Role::Server,
                    other => return Err(format!("--from takes client or server, not {other:?}")),
                });
                continue;
            }
            "--key" => {
                let key = value("--key")?;
                if decode_key(&key).is_none() {
                    return Err(format!(
                        "--key {key:?} is not the base64 of 16 bytes (§4.1: a Sec-WebSocket-Key)"
                    ));
                }
                options.key = Some(key);
                continue;
            }
            other => return Err(format!("unexpected argument {other:?}")),
        };
        if source.replace(next).is_some() {
            return Err("give at most one of --file and --hex".to_owned());
        }
    }
    Ok(Some((source.unwrap_or(Source::Stdin), options)))
}

/// Standard input without `--file -`: an HTTP message as it is, anything else as hex.
pub(crate) fn decode_stdin(raw: Vec<u8>) -> Result<Vec<u8>, String> {
    if is_request_start(&raw) || raw.starts_with(b"HTTP/") {
        return Ok(raw);
    }
    let text = String::from_utf8(raw).map_err(|_| {
        "standard input is neither hex nor an HTTP message (use --file - for raw bytes)".to_owned()
    })?;
    parse_hex(&text)
}

/// Hex to bytes. Whitespace, commas and `:` separate; a `0x` prefix is dropped; `#` comments
/// run to the end of the line. Each group must have an even number of digits.
pub(crate) fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let groups = line.split(|c: char| c.is_whitespace() || c == ',' || c == ':');
        for group in groups.filter(|g| !g.is_empty()) {
            let digits = group
                .strip_prefix("0x")
                .or_else(|| group.strip_prefix("0X"))
                .unwrap_or(group);
            let at = format!("bad hex on line {}: {group:?}", number + 1);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{at} is not hex digits"));
            }
            if digits.len() % 2 != 0 {
                return Err(format!("{at} has an odd number of digits"));
            }
            for pair in digits.as_bytes().chunks(2) {
                let pair = std::str::from_utf8(pair).map_err(|_| at.clone())?;
                bytes.push(u8::from_str_radix(pair, 16).map_err(|_| at.clone())?);
            }
        }
    }
    Ok(bytes)
}

/// `GET ...`, or a first line of the form `METHOD target HTTP/1.x`.
fn is_request_start(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"GET ") {
        return true;
    }
    let Some(end) = bytes.iter().take(8192).position(|&b| b == b'\n') else {
        return false;
    };
    let line = &bytes[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.first().is_some_and(u8::is_ascii_uppercase)
        && (line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
}

/// Decodes a `Sec-WebSocket-Key` as §4.2.1 item 5 reads it: base64 of exactly 16 bytes (unused
/// low bits of the last character tolerated, as in the §4.1 example key).
fn decode_key(key: &str) -> Option<[u8; 16]> {
    const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let decoded = ENGINE.decode(key.trim()).ok()?;
    decoded.try_into().ok()
}

/// Explains `bytes`: a handshake and/or frames. Never fails: problems in the input are part of
/// the explanation.
pub(crate) fn inspect(bytes: &[u8], options: &Options) -> String {
    let mut out = Report::default();
    let mut start = 0;
    let mut implied = None;
    if is_request_start(bytes) {
        match request(bytes, &mut out) {
            Some(end) => start = end,
            None => return out.text,
        }
        implied = Some(Role::Client);
    } else if bytes.starts_with(b"HTTP/") {
        match response(bytes, options, &mut out) {
            Some(end) => start = end,
            None => return out.text,
        }
        implied = Some(Role::Server);
    }
    if start == bytes.len() {
        out.say("");
        out.say("no bytes follow the header block: no frames");
        return out.text;
    }
    if implied.is_some() {
        out.say("");
    }
    let sender = match (options.from, implied) {
        (Some(from), Some(implied)) if from != implied => {
            out.say(format!(
                "frames from the {} (--from), although they follow the {}'s handshake",
                side(from),
                side(implied)
            ));
            from
        }
        (Some(from), _) => {
            out.say(format!("frames from the {} (--from)", side(from)));
            from
        }
        (None, Some(implied)) => {
            out.say(format!(
                "frames from the {0}: they follow the {0}'s handshake (§4.1, §4.2.2)",
                side(implied)
            ));
            implied
        }
        (None, None) => match bytes.get(start + 1) {
            Some(b1) => {
                let from = if b1 & 0x80 != 0 {
                    Role::Client
                } else {
                    Role::Server
                };
                out.say(format!(
                    "frames from the {}, inferred from the MASK bit of frame 1 (§5.1: only \
                     clients mask); --from overrides",
                    side(from)
                ));
                from
            }
            None => {
                out.say("frames from the client, by default (one byte: no MASK bit to go by)");
                Role::Client
            }
        },
    };
    let mut frames = Frames::new(bytes, sender, out);
    frames.run(start);
    frames.out.text
}

/// The report being written.
#[derive(Debug, Default)]
struct Report {
    text: String,
}

impl Report {
    fn say(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    /// One field: `  LABEL   VALUE    MEANING`, the value padded to 8 columns, and at least two
    /// spaces before the meaning.
    fn field(&mut self, label: &str, value: &str, meaning: &str) {
        let pad = 9usize.saturating_sub(value.chars().count()).max(2);
        let line = format!("  {label:<7} {value}{:pad$}{meaning}", "");
        self.say(line.trim_end());
    }

    /// One row of a handshake check list: `  MARK  RULE  SEEN`.
    fn check(&mut self, mark: &str, rule: &str, seen: &str) {
        let line = format!("  {mark:<5} {rule:<50} {seen}");
        self.say(line.trim_end());
    }
}

fn side(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        Role::Server => "server",
    }
}

fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// Lowercase hex, space-separated, at most `max` bytes and then how many more.
fn hex(bytes: &[u8], max: usize) -> String {
    let mut s = bytes
        .iter()
        .take(max)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    if bytes.len() > max {
        s.push_str(&format!(" … (+{} bytes)", bytes.len() - max));
    }
    s
}

/// A payload as hex, `(empty)`, or `(none yet)` when its bytes are still to come.
fn shown_bytes(bytes: &[u8], missing: u64) -> String {
    match (bytes.is_empty(), missing > 0) {
        (true, true) => "(none yet)".to_owned(),
        (true, false) => "(empty)".to_owned(),
        (false, _) => hex(bytes, 16),
    }
}

/// `1 byte`, `2 bytes`.
fn bytes_n(n: usize) -> String {
    if n == 1 {
        "1 byte".to_owned()
    } else {
        format!("{n} bytes")
    }
}

/// A string as a Rust literal, cut after 60 characters.
fn quote(s: &str) -> String {
    let head: String = s.chars().take(60).collect();
    if head.len() < s.len() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// The lines of a header block, without line ends and the final empty line.
fn head_lines(head: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(head)
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

/// Every value of the header `name` (ASCII case-insensitive) in a block's lines, trimmed.
fn header_values(lines: &[String], name: &str) -> Vec<String> {
    lines
        .iter()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

fn show_head(out: &mut Report, head: &[u8]) {
    for line in head_lines(head) {
        out.say(format!("  | {line}"));
    }
}

// ------------------------------------------------------------------------- handshake: request

/// Explains a client's opening handshake; returns where the frames after it start, or `None`
/// when the server would not go on to read frames.
fn request(bytes: &[u8], out: &mut Report) -> Option<usize> {
    let mut handshake = ServerHandshake::new(HandshakeLimits::new());
    let request = match handshake.receive(bytes) {
        Ok(Status::Complete(request)) => request,
        Ok(Status::Partial) => {
            out.say(format!(
                "client handshake (request), {} bytes at offset 0: incomplete",
                bytes.len()
            ));
            show_head(out, bytes);
            out.say(
                "  the header block ends with an empty line (CRLF CRLF), which is not in the \
                 input (§4.1, §4.2.1)",
            );
            return None;
        }
        Err(e) => {
            out.say(format!(
                "client handshake (request), {} bytes at offset 0",
                bytes.len()
            ));
            show_head(out, bytes);
            http_error(out, "ServerHandshake::receive", &e);
            return None;
        }
    };
    let head = bytes.len() - handshake.take_leftover().len();
    out.say(format!(
        "client handshake (request), {head} bytes at offset 0 (§1.3, §4.1)"
    ));
    show_head(out, &bytes[..head]);
    out.say("checks the server makes (§4.2.1):");
    let all = |name: &str| -> Vec<String> {
        request
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_owned())
            .collect()
    };
    let shown = |values: &[String]| {
        if values.is_empty() {
            "(missing)".to_owned()
        } else {
            values.join(", ")
        }
    };
    let mark = |ok: bool| if ok { "ok" } else { "FAIL" };
    let version = format!("HTTP/1.{}", request.http_version());
    out.check(
        mark(request.method() == "GET" && request.http_version() >= 1),
        "1. method GET, HTTP/1.1 or higher",
        &format!("{} {} {version}", request.method(), request.target()),
    );
    out.check(
        mark(request.host().is_some_and(|h| !h.is_empty())),
        "2. Host: the server's authority",
        &shown(&all("Host")),
    );
    out.check(
        mark(request.is_upgrade()),
        "3. Upgrade: websocket",
        &shown(&all("Upgrade")),
    );
    let connection = all("Connection");
    out.check(
        mark(
            connection
                .iter()
                .any(|v| header_contains_token(v.as_bytes(), "upgrade")),
        ),
        "4. Connection: includes the token Upgrade",
        &shown(&connection),
    );
    let keys = all("Sec-WebSocket-Key");
    let key_seen = match keys.as_slice() {
        [key] => match decode_key(key) {
            Some(_) => format!("{key} (16 bytes when decoded)"),
            None => format!("{key} (not base64 of 16 bytes)"),
        },
        other => shown(other),
    };
    out.check(
        mark(keys.len() == 1 && decode_key(&keys[0]).is_some()),
        "5. Sec-WebSocket-Key: base64 of 16 random bytes",
        &key_seen,
    );
    let versions = all("Sec-WebSocket-Version");
    out.check(
        mark(versions.len() == 1 && versions[0] == "13"),
        "6. Sec-WebSocket-Version: 13",
        &shown(&versions),
    );
    let optional = |values: &[String]| if values.is_empty() { "-" } else { "info" };
    let origins = all("Origin");
    out.check(
        optional(&origins),
        "7. Origin (optional; browsers send it, §10.2)",
        &shown(&origins),
    );
    let protocols = request.protocols();
    out.check(
        optional(&protocols),
        "8. Sec-WebSocket-Protocol (optional, §1.9)",
        &shown(&protocols),
    );
    match request.extensions() {
        Ok(extensions) => {
            let names: Vec<String> = extensions.iter().map(ToString::to_string).collect();
            out.check(
                optional(&names),
                "9. Sec-WebSocket-Extensions (optional, §9.1)",
                &shown(&names),
            );
        }
        Err(e) => out.check(
            "FAIL",
            "9. Sec-WebSocket-Extensions (optional, §9.1)",
            &format!("{} ({e})", shown(&all("Sec-WebSocket-Extensions"))),
        ),
    }
    let key = match request.validate() {
        Ok(key) => key.to_owned(),
        Err(e) => {
            http_error(out, "Request::validate", &e);
            return None;
        }
    };
    out.say("Request::validate: accepted, a valid opening handshake");
    out.say(format!(
        "  Sec-WebSocket-Accept the server must send: {}",
        accept_key(key.as_bytes())
    ));
    out.say(format!(
        "    = base64(SHA-1(\"{key}\" ++ \"{GUID}\")) (§4.2.2, §1.3)"
    ));
    let mut accept = Accept::new();
    let chosen = protocols.first();
    if let Some(protocol) = chosen {
        accept = accept.protocol(protocol);
    }
    let answer = request.answer(Config::default(), |_| Ok(accept));
    if answer.result.is_ok() {
        out.say(match chosen {
            Some(p) => format!(
                "the server's answer, from Request::answer choosing the subprotocol {p:?} \
                 (§4.2.2):"
            ),
            None => "the server's answer, from Request::answer (§4.2.2):".to_owned(),
        });
        show_head(out, &answer.response);
    }
    Some(head)
}

/// A handshake error on the server's side: its status, response and rule.
fn http_error(out: &mut Report, what: &str, e: &HandshakeError) {
    out.say(format!("{what}: rejected: {e} (§{})", e.section()));
    if let Some(status) = e.status() {
        out.say(format!(
            "  the server MUST stop processing the handshake and answers with status {status} \
             (§4.2.1, §4.2.2):"
        ));
        if let Some(response) = e.response() {
            show_head(out, &response);
        }
    }
    out.say("  no frames are read after a failed handshake");
}

// ------------------------------------------------------------------------ handshake: response

/// Explains a server's opening handshake; returns where the frames after it start, or `None`
/// when the client would not go on to read frames.
fn response(bytes: &[u8], options: &Options, out: &mut Report) -> Option<usize> {
    // The client's side of the exchange, rebuilt: the key from --key (or a stand-in), offering
    // whatever subprotocol and extensions the response picked.
    let rough = head_lines(bytes);
    let mut client = match ClientRequest::new("ws://inspect.invalid/") {
        Ok(client) => client,
        Err(e) => {
            out.say(format!("internal error: {e}"));
            return None;
        }
    };
    for protocol in header_values(&rough, "Sec-WebSocket-Protocol") {
        client = client.protocol(&protocol);
    }
    for value in header_values(&rough, "Sec-WebSocket-Extensions") {
        for extension in parse_extensions(&value).unwrap_or_default() {
            client = client.extension(Extension::new(&extension.name));
        }
    }
    let nonce = options
        .key
        .as_deref()
        .and_then(decode_key)
        .unwrap_or_default();
    // ClientHandshake sends its nonce in canonical base64; a key with non-zero unused bits in
    // its last character (the §4.1 example key has them) is a different string, with a
    // different Accept, so ClientHandshake can only check the Accept of canonical keys.
    let canonical = base64::engine::general_purpose::STANDARD.encode(nonce);
    let checked_key = options.key.as_deref().filter(|k| k.trim() == canonical);
    let (mut handshake, _request) = ClientHandshake::with_key(&client, nonce, Config::default());
    let result = handshake.receive(bytes);
    let leftover = handshake.take_leftover();
    match &result {
        Ok(Status::Partial) => {
            out.say(format!(
                "server handshake (response), {} bytes at offset 0: incomplete",
                bytes.len()
            ));
            show_head(out, bytes);
            out.say(
                "  the header block ends with an empty line (CRLF CRLF), which is not in the \
                 input (§4.1)",
            );
            return None;
        }
        Err(
            e @ (HandshakeError::Malformed(_)
            | HandshakeError::TooLarge { .. }
            | HandshakeError::TooManyHeaders { .. }),
        ) => {
            out.say(format!(
                "server handshake (response), {} bytes at offset 0",
                bytes.len()
            ));
            show_head(out, bytes);
            out.say(format!(
                "ClientHandshake::receive: {e}; the client MUST _Fail the WebSocket Connection_ \
                 (§4.1)"
            ));
            return None;
        }
        _ => {}
    }
    let head = bytes.len() - leftover.len();
    let lines = head_lines(&bytes[..head]);
    out.say(format!(
        "server handshake (response), {head} bytes at offset 0 (§1.3, §4.2.2)"
    ));
    show_head(out, &bytes[..head]);
    out.say("checks the client makes (§4.1):");
    let shown = |values: &[String]| {
        if values.is_empty() {
            "(missing)".to_owned()
        } else {
            values.join(", ")
        }
    };
    let mark = |ok: bool| if ok { "ok" } else { "FAIL" };
    let status_line = lines.first().cloned().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    out.check(mark(status == "101"), "1. status 101", &status_line);
    let upgrade = header_values(&lines, "Upgrade");
    out.check(
        mark(!upgrade.is_empty() && upgrade.iter().all(|v| v.eq_ignore_ascii_case("websocket"))),
        "2. Upgrade: websocket",
        &shown(&upgrade),
    );
    let connection = header_values(&lines, "Connection");
    out.check(
        mark(
            connection
                .iter()
                .any(|v| header_contains_token(v.as_bytes(), "upgrade")),
        ),
        "3. Connection: includes the token Upgrade",
        &shown(&connection),
    );
    let accepts = header_values(&lines, "Sec-WebSocket-Accept");
    match &options.key {
        Some(key) => {
            let expected = accept_key(key.trim().as_bytes());
            out.check(
                mark(accepts.len() == 1 && accepts[0] == expected),
                "4. Sec-WebSocket-Accept = accept_key(--key)",
                &shown(&accepts),
            );
            out.say(format!(
                "        expected base64(SHA-1(\"{key}\" ++ \"{GUID}\")) = {expected}"
            ));
        }
        None => out.check(
            "?",
            "4. Sec-WebSocket-Accept = accept_key(client key)",
            &format!("{} (give --key KEY to check it)", shown(&accepts)),
        ),
    }
    let extensions = header_values(&lines, "Sec-WebSocket-Extensions");
    let optional = |values: &[String]| if values.is_empty() { "-" } else { "info" };
    out.check(
        optional(&extensions),
        "5. Sec-WebSocket-Extensions: only ones offered",
        &shown(&extensions),
    );
    let protocols = header_values(&lines, "Sec-WebSocket-Protocol");
    out.check(
        optional(&protocols),
        "6. Sec-WebSocket-Protocol: one that was offered",
        &shown(&protocols),
    );
    if !extensions.is_empty() || !protocols.is_empty() {
        out.say(
            "        (5 and 6 assume the client offered them: its request is not in the input)",
        );
    }
    let result = match result {
        // With a non-canonical key, ClientHandshake compared the Accept of another string:
        // its verdict on check 4 does not count, the accept_key comparison above does.
        Ok(_) if options.key.is_some() && checked_key.is_none() => Err(HandshakeError::BadAccept),
        other => other,
    };
    match (result, checked_key) {
        (Ok(_), _) => {
            out.say("ClientHandshake::receive: accepted; _The WebSocket Connection is Established_ (§4.1)");
            if !extensions.is_empty() {
                out.say(
                    "  note: this crate implements no extension, so its Connection fails frames \
                     with RSV bits set (§5.2)",
                );
            }
            Some(head)
        }
        (Err(HandshakeError::BadAccept), None)
            if accepts.len() == 1
                && options
                    .key
                    .as_deref()
                    .is_none_or(|k| accepts[0] == accept_key(k.trim().as_bytes())) =>
        {
            out.say(match &options.key {
                None => "ClientHandshake::receive: checks 1-3 pass; 4 needs the client's key \
                         (--key), 5-6 follow it"
                    .to_owned(),
                Some(_) => format!(
                    "ClientHandshake::receive: checks 1-3 pass; it cannot do 4 with this key, \
                     which it would send as {canonical} (canonical base64), so 4 is checked \
                     above with accept_key alone"
                ),
            });
            Some(head)
        }
        (Err(HandshakeError::BadStatus(code)), _) => {
            out.say(format!(
                "ClientHandshake::receive: status {code}, not 101: no WebSocket connection; the \
                 client handles the response per HTTP (§4.1)"
            ));
            if !leftover.is_empty() {
                out.say(format!(
                    "  the {} bytes after the header block are an HTTP body, not frames",
                    leftover.len()
                ));
            }
            None
        }
        (Err(e), _) => {
            out.say(format!(
                "ClientHandshake::receive: rejected: {e} (§{}); the client MUST _Fail the \
                 WebSocket Connection_ (§4.1)",
                e.section()
            ));
            out.say("  no frames are read after a failed handshake");
            None
        }
    }
}

// ---------------------------------------------------------------------------------- frames

/// The fields of a frame header, from [`FrameHeader::decode`] or, when it refuses the header,
/// from the raw bits.
#[derive(Debug, Clone, Copy)]
struct View {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    key: Option<[u8; 4]>,
    /// The 7-bit length field: the length itself, or 126 / 127 for the longer forms.
    len7: u8,
    /// The decoded length, once its bytes are present.
    payload_len: Option<u64>,
    /// The header's full length (as its second byte announces).
    header_len: usize,
}

impl View {
    fn decoded(header: &FrameHeader, buf: &[u8], header_len: usize) -> Self {
        Self {
            fin: header.fin,
            rsv: header.rsv,
            opcode: header.opcode.as_u8(),
            masked: header.mask.is_some(),
            key: header.mask,
            len7: buf[1] & 0x7F,
            payload_len: Some(header.payload_len),
            header_len,
        }
    }

    /// From the raw bits of a header of at least 2 bytes.
    fn raw(buf: &[u8]) -> Self {
        let (b0, b1) = (buf[0], buf[1]);
        let len7 = b1 & 0x7F;
        let ext = ext_len(len7);
        let payload_len = match len7 {
            126 => buf
                .get(2..4)
                .map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
            127 => buf.get(2..10).map(|b| {
                let mut be = [0u8; 8];
                be.copy_from_slice(b);
                u64::from_be_bytes(be)
            }),
            n => Some(u64::from(n)),
        };
        let masked = b1 & 0x80 != 0;
        let key = if masked {
            buf.get(2 + ext..6 + ext).map(|k| [k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        Self {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: b0 & 0x0F,
            masked,
            key,
            len7,
            payload_len,
            header_len: FrameHeader::needed(buf),
        }
    }
}

/// Bytes of extended length after the 7-bit field.
fn ext_len(len7: u8) -> usize {
    match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// The opcode's name and section (§5.2, §11.8); reserved opcodes are no [`Opcode`].
fn opcode_meaning(opcode: u8) -> String {
    match Opcode::from_u8(opcode) {
        Ok(Opcode::Continuation) => "continuation frame (§5.2, §5.4, §11.8)".to_owned(),
        Ok(Opcode::Text) => "text frame (§5.2, §11.8)".to_owned(),
        Ok(Opcode::Binary) => "binary frame (§5.2, §11.8)".to_owned(),
        Ok(Opcode::Close) => "connection close, a control frame (§5.5.1, §11.8)".to_owned(),
        Ok(Opcode::Ping) => "ping, a control frame (§5.5.2, §11.8)".to_owned(),
        Ok(Opcode::Pong) => "pong, a control frame (§5.5.3, §11.8)".to_owned(),
        Err(_) if opcode < 0x8 => {
            "reserved for further non-control frames: MUST fail (§5.2, §11.8)".to_owned()
        }
        Err(_) => "reserved for further control frames: MUST fail (§5.2, §11.8)".to_owned(),
    }
}

fn opcode_name(opcode: Opcode) -> &'static str {
    match opcode {
        Opcode::Continuation => "Continuation",
        Opcode::Text => "Text",
        Opcode::Binary => "Binary",
        Opcode::Close => "Close",
        Opcode::Ping => "Ping",
        Opcode::Pong => "Pong",
    }
}

/// The rule a [`ProtocolError`] names, with its section.
fn rule(error: &ProtocolError) -> &'static str {
    match error {
        ProtocolError::ReservedBits(_) => {
            "§5.2: RSV1-3 MUST be 0 unless a negotiated extension defines them"
        }
        ProtocolError::ReservedOpcode(_) => {
            "§5.2: an unknown opcode MUST _Fail the WebSocket Connection_"
        }
        ProtocolError::LengthTopBitSet => {
            "§5.2: the most significant bit of a 64-bit length MUST be 0"
        }
        ProtocolError::FragmentedControlFrame => "§5.5: control frames MUST NOT be fragmented",
        ProtocolError::ControlFrameTooLong(_) => {
            "§5.5: control frames MUST have a payload of 125 bytes or less"
        }
        ProtocolError::UnmaskedClientFrame => {
            "§5.1: the server MUST close the connection upon an unmasked frame"
        }
        ProtocolError::MaskedServerFrame => {
            "§5.1: a client MUST close the connection if it detects a masked frame"
        }
        ProtocolError::UnexpectedContinuation => {
            "§5.4: a continuation frame needs a fragmented message to continue"
        }
        ProtocolError::ExpectedContinuation => {
            "§5.4: fragments of one message MUST NOT be interleaved with another message"
        }
        ProtocolError::InvalidUtf8 => "§8.1: text that is not valid UTF-8 MUST fail the connection",
        ProtocolError::CloseTooShort => "§5.5.1: a Close body starts with a 2-byte status code",
        ProtocolError::InvalidCloseCode(_) => {
            "§7.4.1, §7.4.2: this status code may not be sent in a Close frame"
        }
        ProtocolError::FrameTooBig { .. }
        | ProtocolError::MessageTooBig { .. }
        | ProtocolError::TooManyFragments { .. } => {
            "§10.4: over the receiver's configured limit (Config)"
        }
        ProtocolError::UnexpectedEof => {
            "§7.1.5: the TCP connection ended without a closing handshake"
        }
        _ => "see the error",
    }
}

/// What a close code means and whether it may be sent (§7.4).
fn code_meaning(code: u16) -> String {
    let close = CloseCode(code);
    let name = match close.name() {
        Some(name) => name,
        None => match code {
            0..=999 => "not used",
            1000..=2999 => "reserved for this protocol and its extensions (§7.4.2)",
            3000..=3999 => "for libraries and frameworks, registered with IANA (§7.4.2)",
            4000..=4999 => "for private use (§7.4.2)",
            _ => "out of range (§7.4.2)",
        },
    };
    if close.is_valid_on_wire() {
        format!("{name}; may be sent (§7.4.1)")
    } else {
        format!("{name}; MUST NOT be sent in a Close frame (§7.4.1)")
    }
}

/// Walks the frames, printing each and what the receiving [`Connection`] makes of it.
struct Frames<'a> {
    bytes: &'a [u8],
    sender: Role,
    receiver: Connection,
    out: Report,
    /// The data message in progress as far as the walk can tell: kind, UTF-8 state, fragments.
    message: Option<(DataKind, Utf8Validator, usize)>,
    /// Fragments of the message that the last final frame completed.
    completed: usize,
    /// Why the receiver reads no more, once it stopped.
    stopped: Option<&'static str>,
}

impl<'a> Frames<'a> {
    fn new(bytes: &'a [u8], sender: Role, mut out: Report) -> Self {
        let role = peer(sender);
        out.say(format!(
            "each frame is also fed to Connection::new(Role::{role:?}, Config::default()), the \
             receiver"
        ));
        Self {
            bytes,
            sender,
            receiver: Connection::new(role, Config::default()),
            out,
            message: None,
            completed: 0,
            stopped: None,
        }
    }

    fn receiver_side(&self) -> &'static str {
        side(peer(self.sender))
    }

    fn run(&mut self, start: usize) {
        let mut pos = start;
        let mut index = 0;
        while pos < self.bytes.len() {
            index += 1;
            self.out.say("");
            match self.frame(index, pos) {
                Some(next) => pos = next,
                None => break,
            }
        }
        self.out.say("");
        self.out.say(format!(
            "end of input at offset {}, after {index} frame{}",
            self.bytes.len(),
            if index == 1 { "" } else { "s" }
        ));
        let state = self.receiver.state();
        let meaning = match state {
            State::Open => "open: no Close frame was exchanged; more frames may follow (§7)",
            State::Closing => {
                "closing: one Close frame was exchanged, the other is awaited (§7.1.3)"
            }
            State::Closed => "closed: it failed, or both Close frames were exchanged (§7.1.4)",
        };
        self.out.field(
            "state",
            &format!("{state:?}"),
            &format!("the {}'s Connection is {meaning}", self.receiver_side()),
        );
        if let (Some((kind, _, fragments)), None) = (&self.message, self.stopped) {
            self.out.field(
                "pending",
                &format!("{kind:?}"),
                &format!(
                    "a message is unfinished: {fragments} frame{} so far, and no complete \
                     final one (FIN) yet (§5.4)",
                    if *fragments == 1 { "" } else { "s" }
                ),
            );
        }
    }

    /// Explains the frame at `pos`; returns where the next one starts, or `None` to stop.
    fn frame(&mut self, index: usize, pos: usize) -> Option<usize> {
        let buf = &self.bytes[pos..];
        let direction = format!("{} -> {}", side(self.sender), self.receiver_side());
        let (view, decoded) = match FrameHeader::decode(buf) {
            Ok(Status::Complete((header, n))) => (View::decoded(&header, buf, n), Ok(header)),
            Ok(Status::Partial) => {
                self.out.say(format!(
                    "frame {index} ({direction}), {} at offset {pos}: truncated header",
                    bytes_n(buf.len())
                ));
                self.partial_header(buf);
                self.verdict(buf, None, 0);
                return None;
            }
            Err(e) => (View::raw(buf), Err(e)),
        };
        let declared = view.payload_len.unwrap_or(0);
        let present = buf.len().saturating_sub(view.header_len);
        let avail = usize::try_from(declared).map_or(present, |d| d.min(present));
        let total = view.header_len + avail;
        let missing = declared - avail as u64;
        let top_bit = decoded == Err(ProtocolError::LengthTopBitSet);
        let title = format!("frame {index} ({direction}), ");
        self.out.say(if top_bit {
            format!("{title}at offset {pos}: invalid length")
        } else if missing == 0 && view.header_len <= buf.len() {
            format!("{title}{} at offset {pos}", bytes_n(total))
        } else {
            format!(
                "{title}{} at offset {pos}: truncated",
                bytes_n(total.min(buf.len()))
            )
        });
        self.header_fields(&view, &buf[..view.header_len.min(buf.len())]);
        if let Err(e) = &decoded {
            self.out.field(
                "decoder",
                "error",
                &format!(
                    "FrameHeader::decode: {e}; {}; close {}",
                    rule(e),
                    e.close_code()
                ),
            );
        }
        if top_bit || view.header_len > buf.len() {
            if view.header_len > buf.len() {
                self.out.field(
                    "missing",
                    &(view.header_len - buf.len()).to_string(),
                    "more header bytes",
                );
            }
            self.verdict(buf, Some(&view), 0);
            if buf.len() > view.header_len {
                self.out.say(format!(
                    "  the {} after this header cannot be framed without a valid length",
                    bytes_n(buf.len() - view.header_len)
                ));
            }
            return None;
        }
        let mut payload = buf[view.header_len..total].to_vec();
        if let Some(key) = view.key {
            if !payload.is_empty() {
                self.out.field(
                    "masked",
                    &hex(&payload, 16),
                    "as sent; octet i XOR key octet i mod 4 unmasks it (§5.3)",
                );
            }
            apply_mask(&mut payload, key, 0);
        }
        self.payload_fields(&view, &payload, decoded.is_ok(), missing);
        if missing > 0 {
            self.out.field(
                "missing",
                &missing.to_string(),
                &format!(
                    "more payload bytes: the header declares {declared}, the input holds {avail} \
                     (§5.2)"
                ),
            );
        }
        self.verdict(&buf[..total], Some(&view), missing);
        if missing > 0 {
            return None;
        }
        Some(pos + total)
    }

    /// The fields of a header that is not all there.
    fn partial_header(&mut self, buf: &[u8]) {
        let needed = FrameHeader::needed(buf);
        if buf.len() >= 2 {
            let view = View::raw(buf);
            self.header_fields(&view, buf);
            self.out.field(
                "missing",
                &(needed - buf.len()).to_string(),
                &format!(
                    "more header bytes: this header is {needed} bytes (2, +2 or +8 for the \
                     length, +4 for the masking key, §5.2)"
                ),
            );
        } else {
            let b0 = buf[0];
            self.out.field(
                "byte 0",
                &format!("{b0:02x}"),
                "FIN, RSV1-3 and opcode (§5.2)",
            );
            self.fin_rsv_opcode(b0 & 0x80 != 0, (b0 >> 4) & 7, b0 & 0x0F);
            self.out.field(
                "missing",
                "1+",
                "more header bytes: byte 1 holds MASK and the length, which tell the rest (§5.2)",
            );
        }
    }

    fn fin_rsv_opcode(&mut self, fin: bool, rsv: u8, opcode: u8) {
        self.out.field(
            "FIN",
            if fin { "1" } else { "0" },
            if fin {
                "final fragment (§5.2)"
            } else {
                "not the final fragment: more follow (§5.2, §5.4)"
            },
        );
        let bits = format!("{} {} {}", rsv >> 2, (rsv >> 1) & 1, rsv & 1);
        self.out.field(
            "RSV",
            &bits,
            if rsv == 0 {
                "no extension bits (§5.2)"
            } else {
                "extension bits: MUST be 0 unless an extension defines them, and none was \
                 negotiated here (§5.2)"
            },
        );
        self.out
            .field("opcode", &format!("{opcode:#x}"), &opcode_meaning(opcode));
    }

    fn header_fields(&mut self, view: &View, header: &[u8]) {
        let layout = match (ext_len(view.len7), view.masked) {
            (0, false) => "2 bytes (§5.2)".to_owned(),
            (0, true) => "2 bytes + 4-byte masking key (§5.2)".to_owned(),
            (n, false) => format!("2 bytes + {n}-byte length (§5.2)"),
            (n, true) => format!("2 bytes + {n}-byte length + 4-byte masking key (§5.2)"),
        };
        self.out.field("header", &hex(header, 14), &layout);
        self.fin_rsv_opcode(view.fin, view.rsv, view.opcode);
        let key = view.key.map(|k| hex(&k, 4));
        let mask = match (self.sender, view.masked, key) {
            (Role::Client, true, Some(key)) => {
                format!("masked, key {key} (§5.3: clients MUST mask)")
            }
            (Role::Server, true, Some(key)) => {
                format!("masked, key {key}: a server MUST NOT mask (§5.1)")
            }
            (_, true, None) => "masked, but the key is not in the input (§5.3)".to_owned(),
            (Role::Client, false, _) => {
                "not masked: a client MUST mask every frame (§5.1)".to_owned()
            }
            (Role::Server, false, _) => "not masked (§5.1: servers MUST NOT mask)".to_owned(),
        };
        self.out
            .field("MASK", if view.masked { "1" } else { "0" }, &mask);
        let ext = header.get(2..2 + ext_len(view.len7)).map(|b| hex(b, 8));
        let Some(len) = view.payload_len else {
            self.out.field(
                "length",
                &format!("{}", view.len7),
                &format!(
                    "{}-bit form, but its bytes are not in the input (§5.2)",
                    if view.len7 == 126 { 16 } else { 64 }
                ),
            );
            return;
        };
        let mut meaning = match view.len7 {
            126 => format!("16-bit form: 126, then {} (§5.2)", ext.unwrap_or_default()),
            127 => format!("64-bit form: 127, then {} (§5.2)", ext.unwrap_or_default()),
            _ => "7-bit form (§5.2)".to_owned(),
        };
        let minimal = match view.len7 {
            126 => len >= 126,
            127 => len > 0xFFFF,
            _ => true,
        };
        if !minimal {
            meaning.push_str(
                "; NOT minimal, a shorter form fits (§5.2: the minimal number of bytes MUST be \
                 used; FrameHeader::decode accepts it)",
            );
        }
        if len >> 63 != 0 {
            meaning.push_str("; the most significant bit MUST be 0 (§5.2)");
        }
        if Opcode::from_u8(view.opcode).is_ok_and(Opcode::is_control) && len > 125 {
            meaning.push_str("; a control frame carries 125 bytes or less (§5.5)");
        }
        self.out.field("length", &len.to_string(), &meaning);
    }

    /// The (unmasked, possibly partial) payload, by opcode. `missing` payload bytes are not in
    /// the input.
    fn payload_fields(&mut self, view: &View, payload: &[u8], decoded: bool, missing: u64) {
        let unmasked = if view.masked { "(unmasked) " } else { "" };
        let opcode = Opcode::from_u8(view.opcode).ok().filter(|_| decoded);
        match opcode {
            Some(Opcode::Text) => {
                self.message = Some((DataKind::Text, Utf8Validator::new(), 0));
            }
            Some(Opcode::Binary) => {
                self.message = Some((DataKind::Binary, Utf8Validator::new(), 0));
            }
            Some(Opcode::Continuation) if self.message.is_none() => {
                self.out.field(
                    "payload",
                    &shown_bytes(payload, missing),
                    &format!("{unmasked}no fragmented message is in progress to continue (§5.4)"),
                );
                return;
            }
            _ => {}
        }
        match opcode {
            Some(Opcode::Text | Opcode::Binary | Opcode::Continuation) => {
                self.data_fields(view, payload, unmasked, missing);
            }
            Some(Opcode::Close) => self.close_fields(payload, unmasked, missing),
            Some(Opcode::Ping | Opcode::Pong) => {
                let what = match std::str::from_utf8(payload) {
                    Ok(text) if !text.is_empty() => quote(text),
                    _ => shown_bytes(payload, missing),
                };
                let role = if view.opcode == 0x9 {
                    "application data; the Pong in reply carries it back (§5.5.2)"
                } else {
                    "application data, echoed from the Ping it answers (§5.5.3)"
                };
                self.out
                    .field("payload", &what, &format!("{unmasked}{role}"));
            }
            None => self.out.field(
                "payload",
                &shown_bytes(payload, missing),
                &format!("{unmasked}not interpreted: the header is invalid"),
            ),
        }
    }

    /// A text, binary or continuation frame's payload, as part of its message (§5.4, §5.6).
    fn data_fields(&mut self, view: &View, payload: &[u8], unmasked: &str, missing: u64) {
        let Some((kind, utf8, fragments)) = self.message.as_mut() else {
            return;
        };
        *fragments += 1;
        // A truncated frame does not end its message, whatever its FIN bit says.
        let last = view.fin && missing == 0;
        let of_message = if view.fin && *fragments == 1 {
            String::new()
        } else {
            format!("fragment {} of a {kind:?} message; ", *fragments)
        };
        if *kind == DataKind::Binary {
            self.out.field(
                "payload",
                &shown_bytes(payload, missing),
                &format!("{unmasked}{of_message}binary data (§5.6)"),
            );
        } else {
            let verdict = match utf8.feed(payload) {
                Err(_) => "NOT valid UTF-8: the receiver fails with 1007 (§8.1)",
                Ok(()) if last && utf8.finish().is_err() => {
                    "ends inside a UTF-8 sequence: the receiver fails with 1007 (§8.1)"
                }
                Ok(()) if utf8.is_incomplete() => {
                    "valid UTF-8 so far; a character continues in the next bytes (§5.6, §8.1)"
                }
                Ok(()) => "valid UTF-8 text (§5.6, §8.1)",
            };
            let what = match std::str::from_utf8(payload) {
                Ok(text) if !(text.is_empty() && missing > 0) => quote(text),
                _ => shown_bytes(payload, missing),
            };
            self.out.field(
                "payload",
                &what,
                &format!("{unmasked}{of_message}{verdict}"),
            );
        }
        if last {
            self.completed = *fragments;
            self.message = None;
        }
    }

    /// A Close frame's body: status code and reason (§5.5.1, §7.4).
    fn close_fields(&mut self, payload: &[u8], unmasked: &str, missing: u64) {
        if missing > 0 {
            self.out.field(
                "payload",
                &shown_bytes(payload, missing),
                &format!("{unmasked}the start of a status code and reason (§5.5.1)"),
            );
            return;
        }
        if payload.is_empty() {
            self.out.field(
                "payload",
                "(empty)",
                "no status code: the receiver reports 1005, no status received (§5.5.1, §7.1.5)",
            );
            return;
        }
        self.out.field(
            "payload",
            &hex(payload, 16),
            &format!("{unmasked}a 2-byte status code, then a UTF-8 reason (§5.5.1)"),
        );
        match CloseFrame::decode(payload) {
            Ok(Some(close)) => {
                self.out.field(
                    "code",
                    &close.code.0.to_string(),
                    &code_meaning(close.code.0),
                );
                if close.reason.is_empty() {
                    self.out
                        .field("reason", "(none)", "the body is just the code (§5.5.1)");
                } else {
                    self.out.field(
                        "reason",
                        &quote(&close.reason),
                        "valid UTF-8, for debugging, not for users (§5.5.1, §7.1.6)",
                    );
                }
            }
            Ok(None) => {}
            Err(e) => {
                if let [hi, lo, reason @ ..] = payload {
                    let code = u16::from_be_bytes([*hi, *lo]);
                    self.out
                        .field("code", &code.to_string(), &code_meaning(code));
                    if std::str::from_utf8(reason).is_err() {
                        self.out.field(
                            "reason",
                            &hex(reason, 16),
                            "NOT valid UTF-8 (§5.5.1, §8.1)",
                        );
                    }
                }
                self.out.field(
                    "decoder",
                    "error",
                    &format!(
                        "CloseFrame::decode: {e}; {}; close {}",
                        rule(&e),
                        e.close_code()
                    ),
                );
            }
        }
    }

    /// Feeds the frame's bytes to the receiving connection and prints what it makes of them.
    fn verdict(&mut self, bytes: &[u8], view: Option<&View>, missing: u64) {
        let who = format!("the {}'s Connection", self.receiver_side());
        if let Some(why) = self.stopped {
            self.out
                .field("event", "(none)", &format!("{who} reads no more: {why}"));
            return;
        }
        self.receiver.receive(bytes);
        let mut failed = false;
        let mut any = false;
        // One frame yields at most one event; the bound only guards the loop.
        for _ in 0..8 {
            let Some(event) = self.receiver.poll_event() else {
                break;
            };
            any = true;
            match event {
                Event::Message(message) => {
                    let parts = if self.completed > 1 {
                        format!(
                            ", reassembled from {} fragments (§5.4, §5.6)",
                            self.completed
                        )
                    } else {
                        " (§5.6)".to_owned()
                    };
                    let what = match &message {
                        Message::Text(text) => format!(
                            "a text message of {} bytes: {}",
                            text.len(),
                            quote(text.as_str())
                        ),
                        Message::Binary(data) => {
                            format!(
                                "a binary message of {} bytes: {}",
                                data.len(),
                                hex(data, 16)
                            )
                        }
                    };
                    self.out
                        .field("event", "Message", &format!("{who} delivers {what}{parts}"));
                }
                Event::Ping(data) => self.out.field(
                    "event",
                    "Ping",
                    &format!(
                        "{who} reports a Ping of {} bytes and MUST answer it with a Pong (§5.5.2)",
                        data.len()
                    ),
                ),
                Event::Pong(data) => self.out.field(
                    "event",
                    "Pong",
                    &format!(
                        "{who} reports a Pong of {} bytes; unsolicited ones are allowed, as a \
                         heartbeat (§5.5.3)",
                        data.len()
                    ),
                ),
                Event::Close(close) => {
                    let what = match close {
                        Some(close) => format!("status {close}"),
                        None => "no status code (reported as 1005)".to_owned(),
                    };
                    self.out.field(
                        "event",
                        "Close",
                        &format!(
                            "{who} received the peer's Close, {what}; it replies with a Close \
                             and reads nothing more (§5.5.1, §7.1.2)"
                        ),
                    );
                    self.stopped =
                        Some("a Close frame arrived before (§5.5.1: no data after Close)");
                }
                Event::Failed(error) => {
                    failed = true;
                    self.out.field(
                        "event",
                        "Failed",
                        &format!(
                            "{who} fails the connection (§7.1.7): {error}; {}; close code {}",
                            rule(&error),
                            error.close_code()
                        ),
                    );
                    self.stopped = Some(
                        "it failed the connection before (§7.1.7: MUST NOT process more data)",
                    );
                    self.message = None;
                }
                other => self.out.field("event", "other", &format!("{other:?}")),
            }
        }
        if !any {
            let why = match view {
                _ if missing > 0 => format!("{who} waits for the {missing} missing payload bytes"),
                None => format!("{who} waits for the rest of the header"),
                Some(v) if !v.fin && v.opcode < 0x8 => format!(
                    "{who} buffers the fragment; the message comes with its final fragment (§5.4)"
                ),
                Some(_) => format!("{who} reports nothing"),
            };
            self.out.field("event", "(none)", &why);
        }
        self.replies(&who, failed);
    }

    /// Frames the receiver queued in answer (a Pong, a Close), decoded.
    fn replies(&mut self, who: &str, failed: bool) {
        let mut queued = Vec::new();
        for _ in 0..8 {
            let chunk = self.receiver.data_to_send();
            if chunk.is_empty() {
                break;
            }
            queued.extend_from_slice(chunk);
            let n = chunk.len();
            self.receiver.mark_sent(n);
        }
        let mut pos = 0;
        while let Ok(Status::Complete((header, n))) = FrameHeader::decode(&queued[pos..]) {
            let end = (pos + n)
                .saturating_add(usize::try_from(header.payload_len).unwrap_or(usize::MAX))
                .min(queued.len());
            let wire = &queued[pos..end];
            let mut payload = queued[pos + n..end].to_vec();
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key, 0);
            }
            let masked = match header.mask {
                Some(key) => format!(", masked with a fresh key {} (§5.3)", hex(&key, 4)),
                None => String::new(),
            };
            let meaning = match header.opcode {
                Opcode::Pong => format!(
                    "{who} answers with a Pong carrying the Ping's {} bytes (§5.5.2){masked}",
                    payload.len()
                ),
                Opcode::Close => {
                    let status = match CloseFrame::decode(&payload) {
                        Ok(Some(close)) => close.to_string(),
                        Ok(None) => "no status code".to_owned(),
                        Err(e) => format!("undecodable ({e})"),
                    };
                    if failed {
                        format!(
                            "{who} sends Close {status}: _Fail the WebSocket Connection_ \
                             (§7.1.7){masked}"
                        )
                    } else {
                        format!(
                            "{who} echoes Close {status} (§5.5.1: answer a Close with a \
                             Close){masked}"
                        )
                    }
                }
                other => format!("{who} sends a {} frame{masked}", opcode_name(other)),
            };
            self.out
                .field("reply", opcode_name(header.opcode), &meaning);
            self.out
                .field("", "", &format!("on the wire: {}", hex(wire, 24)));
            pos = end;
            if pos >= queued.len() {
                break;
            }
        }
    }
}
