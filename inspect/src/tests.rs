//! The inspector's explanations of the RFC 6455 §5.7 frames, the §1.3 handshake and rule
//! violations, and its input handling.

use super::{decode_stdin, inspect, parse_args, parse_hex, run, Options, Source};
use rfc6455::Role;

fn explain(hex: &str) -> String {
    inspect(&parse_hex(hex).unwrap(), &Options::default())
}

fn explain_from(hex: &str, from: Role) -> String {
    let options = Options {
        from: Some(from),
        ..Options::default()
    };
    inspect(&parse_hex(hex).unwrap(), &options)
}

#[track_caller]
fn assert_lines(report: &str, expected: &[&str]) {
    for line in expected {
        assert!(
            report.lines().any(|l| l == *line),
            "missing line {line:?} in:\n{report}"
        );
    }
}

#[track_caller]
fn assert_has(report: &str, expected: &[&str]) {
    for part in expected {
        assert!(report.contains(part), "missing {part:?} in:\n{report}");
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

const REQUEST_1_3: &str =
    "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

const RESPONSE_1_3: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: chat\r\n\r\n";

#[test]
fn hex_input_ignores_separators_prefixes_and_comments() {
    assert_eq!(
        parse_hex("0x81, 0x05:48\n65 6C # a comment 00 11\n  6c6f"),
        Ok(vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
    );
}

#[test]
fn hex_input_rejects_odd_digit_groups_and_non_hex() {
    assert!(parse_hex("81 0")
        .unwrap_err()
        .contains("odd number of digits"));
    assert!(parse_hex("81 0g").unwrap_err().contains("not hex"));
    assert!(parse_hex("0x").is_err());
    assert!(parse_hex("+f").is_err());
}

#[test]
fn tool_errors_are_errors_and_protocol_errors_are_not() {
    let mut no_stdin = || -> std::io::Result<Vec<u8>> { panic!("stdin not expected") };
    assert!(run(&args(&["--hex", "81 0"]), &mut no_stdin).is_err());
    assert!(run(
        &args(&["--file", "/nonexistent/inspect-input"]),
        &mut no_stdin
    )
    .is_err());
    assert!(run(&args(&["--from", "middle"]), &mut no_stdin).is_err());
    assert!(run(&args(&["--key", "short"]), &mut no_stdin).is_err());
    assert!(run(&args(&["--hex", "81 00", "--hex", "81 00"]), &mut no_stdin).is_err());
    assert!(run(&args(&["--hex", ""]), &mut no_stdin).is_err());
    // An unmasked client frame breaks §5.1, but explaining it is a success.
    let report = run(
        &args(&["--from", "client", "--hex", "81 00"]),
        &mut no_stdin,
    )
    .unwrap();
    assert_has(&report, &["Failed", "close code 1002"]);
}

#[test]
fn arguments_choose_the_source_the_direction_and_the_key() {
    let parsed = parse_args(&args(&[
        "--file",
        "x.bin",
        "--from",
        "server",
        "--key",
        "dGhlIHNhbXBsZSBub25jZQ==",
    ]));
    let (source, options) = parsed.unwrap().unwrap();
    assert_eq!(source, Source::File("x.bin".to_owned()));
    assert_eq!(options.from, Some(Role::Server));
    assert_eq!(options.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    let (source, _) = parse_args(&[]).unwrap().unwrap();
    assert_eq!(source, Source::Stdin);
    assert_eq!(parse_args(&args(&["--help"])), Ok(None));
}

#[test]
fn standard_input_is_hex_unless_it_starts_like_http() {
    assert_eq!(decode_stdin(b"81 00\n".to_vec()), Ok(vec![0x81, 0x00]));
    let request = REQUEST_1_3.as_bytes().to_vec();
    assert_eq!(decode_stdin(request.clone()), Ok(request));
    let response = RESPONSE_1_3.as_bytes().to_vec();
    assert_eq!(decode_stdin(response.clone()), Ok(response));
    assert!(decode_stdin(vec![0x81, 0xff]).is_err());
    let mut stdin = || Ok(b"0x89 0x00".to_vec());
    assert_has(&run(&[], &mut stdin).unwrap(), &["opcode  0x9      ping"]);
}

#[test]
fn rfc_5_7_masked_hello_is_explained_field_by_field() {
    let report = explain("81 85 37 fa 21 3d 7f 9f 4d 51 58");
    assert_lines(
        &report,
        &[
            "frame 1 (client -> server), 11 bytes at offset 0",
            "  FIN     1        final fragment (§5.2)",
            "  RSV     0 0 0    no extension bits (§5.2)",
            "  opcode  0x1      text frame (§5.2, §11.8)",
            "  MASK    1        masked, key 37 fa 21 3d (§5.3: clients MUST mask)",
            "  length  5        7-bit form (§5.2)",
            "  masked  7f 9f 4d 51 58  as sent; octet i XOR key octet i mod 4 unmasks it (§5.3)",
            "  payload \"Hello\"  (unmasked) valid UTF-8 text (§5.6, §8.1)",
            "  event   Message  the server's Connection delivers a text message of 5 bytes: \"Hello\" (§5.6)",
        ],
    );
    assert_has(
        &report,
        &["Connection::new(Role::Server, Config::default())"],
    );
}

#[test]
fn rfc_5_7_unmasked_hello_comes_from_the_server() {
    let report = explain("81 05 48 65 6c 6c 6f");
    assert_lines(
        &report,
        &[
            "frame 1 (server -> client), 7 bytes at offset 0",
            "  MASK    0        not masked (§5.1: servers MUST NOT mask)",
            "  payload \"Hello\"  valid UTF-8 text (§5.6, §8.1)",
        ],
    );
    assert_has(
        &report,
        &["the client's Connection delivers a text message"],
    );
}

#[test]
fn rfc_5_7_fragments_make_one_message_at_the_final_frame() {
    let report = explain("01 03 48 65 6c 80 02 6c 6f");
    assert_lines(
        &report,
        &[
            "  FIN     0        not the final fragment: more follow (§5.2, §5.4)",
            "  opcode  0x0      continuation frame (§5.2, §5.4, §11.8)",
            "  payload \"Hel\"    fragment 1 of a Text message; valid UTF-8 text (§5.6, §8.1)",
            "  event   (none)   the client's Connection buffers the fragment; the message comes with its final fragment (§5.4)",
        ],
    );
    assert_has(
        &report,
        &["\"Hello\", reassembled from 2 fragments (§5.4, §5.6)"],
    );
}

#[test]
fn rfc_5_7_ping_is_answered_with_a_pong() {
    let report = explain("89 05 48 65 6c 6c 6f");
    assert_has(
        &report,
        &[
            "  opcode  0x9      ping, a control frame (§5.5.2, §11.8)",
            "  event   Ping",
            "  reply   Pong     the client's Connection answers with a Pong carrying the Ping's 5 bytes (§5.5.2), masked",
        ],
    );
    let report = explain("8a 85 37 fa 21 3d 7f 9f 4d 51 58");
    assert_has(&report, &["  event   Pong", "\"Hello\""]);
}

#[test]
fn rfc_5_7_long_lengths_name_their_form_and_what_is_missing() {
    let report = explain("82 7E 0100");
    assert_lines(
        &report,
        &[
            "  length  256      16-bit form: 126, then 01 00 (§5.2)",
            "  missing 256      more payload bytes: the header declares 256, the input holds 0 (§5.2)",
            "  event   (none)   the client's Connection waits for the 256 missing payload bytes",
        ],
    );
    let report = explain("82 7F 0000000000010000");
    assert_has(
        &report,
        &["  length  65536    64-bit form: 127, then 00 00 00 00 00 01 00 00 (§5.2)"],
    );
}

#[test]
fn a_non_minimal_length_is_flagged_but_decoded() {
    let report = explain("82 7e 00 03 61 62 63");
    assert_has(
        &report,
        &["NOT minimal", "delivers a binary message of 3 bytes"],
    );
    assert!(!explain("82 7e 00 7e").contains("NOT minimal"));
}

#[test]
fn a_truncated_header_says_how_many_bytes_it_needs() {
    assert_has(
        &explain("81 fe 00"),
        &["  missing 5        more header bytes: this header is 8 bytes"],
    );
    assert_has(&explain("81"), &["truncated header", "  missing 1+"]);
}

#[test]
fn an_unmasked_client_frame_fails_with_1002_and_later_frames_are_ignored() {
    let report = explain_from("81 05 48 65 6c 6c 6f 81 00", Role::Client);
    assert_has(
        &report,
        &[
            "not masked: a client MUST mask every frame (§5.1)",
            "unmasked frame from client; §5.1",
            "close code 1002 (protocol error)",
            "  reply   Close    the server's Connection sends Close 1002 (protocol error)",
            "frame 2 (client -> server)",
            "reads no more: it failed the connection before (§7.1.7",
        ],
    );
}

#[test]
fn a_masked_server_frame_fails_with_1002() {
    let report = explain_from("81 80 01 02 03 04", Role::Server);
    assert_has(
        &report,
        &["a server MUST NOT mask (§5.1)", "masked frame from server"],
    );
}

#[test]
fn invalid_utf8_fails_with_1007() {
    let report = explain("81 02 ce ff");
    assert_has(
        &report,
        &[
            "NOT valid UTF-8: the receiver fails with 1007 (§8.1)",
            "close code 1007 (invalid frame payload data)",
        ],
    );
}

#[test]
fn reserved_bits_and_opcodes_fail_with_1002() {
    let report = explain("c1 80 00 00 00 00");
    assert_has(
        &report,
        &["  RSV     1 0 0", "reserved bits set", "close code 1002"],
    );
    let report = explain("83 00");
    assert_has(
        &report,
        &[
            "reserved for further non-control frames",
            "FrameHeader::decode: reserved opcode 0x3",
            "close code 1002",
        ],
    );
}

#[test]
fn control_frame_rules_come_from_the_decoder() {
    assert_has(
        &explain("09 00"),
        &["FrameHeader::decode: fragmented control frame"],
    );
    assert_has(
        &explain("89 7e 00 80"),
        &[
            "a control frame carries 125 bytes or less (§5.5)",
            "control frame payload of 128 bytes",
        ],
    );
    assert_has(
        &explain("82 7f 80 00 00 00 00 00 00 00 aa bb"),
        &[
            "invalid length",
            "the most significant bit MUST be 0 (§5.2)",
            "the 2 bytes after this header",
        ],
    );
}

#[test]
fn close_frames_show_code_reason_and_the_echo() {
    let report = explain("88 82 01 02 03 04 02 ea");
    assert_lines(
        &report,
        &[
            "  code    1000     normal closure; may be sent (§7.4.1)",
            "  reply   Close    the server's Connection echoes Close 1000 (normal closure) (§5.5.1: answer a Close with a Close)",
        ],
    );
    let report = explain("88 02 03 ed 81 00");
    assert_has(
        &report,
        &[
            "  code    1005     no status received; MUST NOT be sent in a Close frame (§7.4.1)",
            "CloseFrame::decode: invalid close code 1005",
        ],
    );
    let report = explain("88 05 03 e8 62 79 65 81 00");
    assert_has(
        &report,
        &[
            "  reason  \"bye\"",
            "reads no more: a Close frame arrived before",
        ],
    );
}

#[test]
fn a_continuation_without_a_message_fails() {
    assert_has(
        &explain("80 00"),
        &[
            "no fragmented message is in progress",
            "continuation frame without a message",
        ],
    );
}

#[test]
fn rfc_1_3_request_gets_its_accept_value_and_answer() {
    let report = inspect(REQUEST_1_3.as_bytes(), &Options::default());
    assert_has(
        &report,
        &[
            "client handshake (request), 230 bytes at offset 0",
            "ok    5. Sec-WebSocket-Key: base64 of 16 random bytes",
            "Request::validate: accepted",
            "Sec-WebSocket-Accept the server must send: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "  | Sec-WebSocket-Protocol: chat",
            "no bytes follow the header block: no frames",
        ],
    );
    assert!(!report.contains("FAIL"), "{report}");
}

#[test]
fn a_bad_request_is_answered_with_its_error_status() {
    let request = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let report = inspect(request.as_bytes(), &Options::default());
    assert_has(
        &report,
        &[
            "FAIL  6. Sec-WebSocket-Version: 13",
            "Request::validate: rejected",
            "HTTP/1.1 426 Upgrade Required",
        ],
    );
}

#[test]
fn frames_after_a_request_are_the_clients() {
    let mut input = REQUEST_1_3.as_bytes().to_vec();
    input.extend_from_slice(&parse_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58").unwrap());
    let report = inspect(&input, &Options::default());
    assert_has(
        &report,
        &[
            "frame 1 (client -> server), 11 bytes at offset 230",
            "delivers a text message of 5 bytes: \"Hello\"",
        ],
    );
}

#[test]
fn rfc_1_3_response_checks_the_accept_against_the_key() {
    let key = Options {
        key: Some("dGhlIHNhbXBsZSBub25jZQ==".to_owned()),
        ..Options::default()
    };
    let report = inspect(RESPONSE_1_3.as_bytes(), &key);
    assert_has(
        &report,
        &[
            "ok    4. Sec-WebSocket-Accept = accept_key(--key)",
            "ClientHandshake::receive: accepted",
        ],
    );
    let wrong = Options {
        key: Some("AQIDBAUGBwgJCgsMDQ4PEA==".to_owned()),
        ..Options::default()
    };
    let report = inspect(RESPONSE_1_3.as_bytes(), &wrong);
    assert_has(
        &report,
        &[
            "FAIL  4. Sec-WebSocket-Accept",
            "missing or wrong Sec-WebSocket-Accept",
        ],
    );
    let report = inspect(RESPONSE_1_3.as_bytes(), &Options::default());
    assert_has(
        &report,
        &["(give --key KEY to check it)", "checks 1-3 pass"],
    );
}

#[test]
fn frames_after_a_response_are_the_servers() {
    let mut input = RESPONSE_1_3.as_bytes().to_vec();
    input.extend_from_slice(&parse_hex("89 00").unwrap());
    let report = inspect(&input, &Options::default());
    assert_has(&report, &["frame 1 (server -> client)", "  event   Ping"]);
}

#[test]
fn a_refused_upgrade_has_a_body_not_frames() {
    let report = inspect(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc",
        &Options::default(),
    );
    assert_has(&report, &["status 404, not 101", "HTTP body, not frames"]);
    assert!(!report.contains("frame 1"), "{report}");
}

#[test]
fn the_documented_output_is_the_real_output() {
    let source = include_str!("main.rs");
    let start = source
        .find("//! Output for the masked \"Hello\"")
        .expect("the doc comment shows an output");
    let documented: String = source[start..]
        .lines()
        .skip_while(|l| *l != "//! ```text")
        .skip(1)
        .take_while(|l| *l != "//! ```")
        .map(|l| {
            format!(
                "{}\n",
                l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")
            )
        })
        .collect();
    assert_eq!(documented, explain("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
}

#[test]
fn a_key_with_unused_bits_set_is_checked_as_written() {
    // The §4.1 example key ends in "C==": its unused low bits are not zero, so its Accept is
    // that of the string as sent, not of the canonical "EA==" that ClientHandshake would send.
    let key = Options {
        key: Some("AQIDBAUGBwgJCgsMDQ4PEC==".to_owned()),
        ..Options::default()
    };
    let response = |accept: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    };
    let right = rfc6455::handshake::accept_key(b"AQIDBAUGBwgJCgsMDQ4PEC==");
    let report = inspect(response(&right).as_bytes(), &key);
    assert_has(
        &report,
        &["ok    4.", "checked above with accept_key alone"],
    );
    let wrong = rfc6455::handshake::accept_key(b"AQIDBAUGBwgJCgsMDQ4PEA==");
    let report = inspect(response(&wrong).as_bytes(), &key);
    assert_has(&report, &["FAIL  4.", "ClientHandshake::receive: rejected"]);
}
