//! Opening handshake (RFC 6455 §4): validation, limits, leftover bytes after the header block, client side.

use proptest::prelude::*;
use rfc6455::handshake::{
    accept_key, header_contains_token, http_response, parse_extensions, Accept, ClientHandshake,
    ClientRequest, Extension, HandshakeError, HandshakeLimits, Reject, Request, Response,
    ServerHandshake,
};
use rfc6455::{Config, Role, Status};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn text(lines: &[&str]) -> Vec<u8> {
    let mut s = String::new();
    for line in lines {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn base() -> Vec<&'static str> {
    vec![
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
}

/// `base()` with the line starting with `prefix` replaced by `line` (or removed if `line` is empty).
fn with(prefix: &str, line: &'static str) -> Vec<&'static str> {
    base()
        .into_iter()
        .filter_map(|l| {
            if l.starts_with(prefix) {
                (!line.is_empty()).then_some(line)
            } else {
                Some(l)
            }
        })
        .collect()
}

fn parse(bytes: &[u8]) -> Request {
    match ServerHandshake::new(HandshakeLimits::default()).receive(bytes) {
        Ok(Status::Complete(request)) => request,
        other => panic!("expected a complete request, got {other:?}"),
    }
}

/// `config` with `limits`.
fn config(limits: HandshakeLimits) -> Config {
    let mut config = Config::default();
    config.handshake_limits = limits;
    config
}

/// The server's one path, [`Request::answer`], accepting with `accept`: the 101 if the request
/// and `accept` are valid, else the error (whose response the answer holds instead).
fn answer_101(request: &Request, accept: &Accept) -> Result<Vec<u8>, HandshakeError> {
    let answer = request.answer(Config::default(), |_| Ok(accept.clone()));
    match answer.result {
        Ok(_) => Ok(answer.response),
        Err(e) => {
            assert_eq!(Some(answer.response), e.response());
            Err(e)
        }
    }
}

fn assert_rejected(lines: &[&str], expected: HandshakeError, status: u16) {
    let request = parse(&text(lines));
    assert_eq!(request.validate(), Err(expected.clone()));
    assert_eq!(answer_101(&request, &Accept::new()), Err(expected.clone()));
    assert_eq!(expected.status(), Some(status));
    let response = expected
        .response()
        .expect("server-side errors have a response");
    let response = String::from_utf8(response).unwrap();
    assert!(
        response.starts_with(&format!("HTTP/1.1 {status} ")),
        "{response}"
    );
    assert!(response.contains("Connection: close\r\n"), "{response}");
    assert!(response.contains("\r\n\r\n"), "{response}");
}

// §1.3 ---------------------------------------------------------------------------------------------------------

#[test]
fn accept_key_matches_rfc_section_1_3_vector() {
    assert_eq!(accept_key(KEY.as_bytes()), ACCEPT);
}

#[test]
fn rfc_section_1_3_example_request_parses_validates_and_is_accepted() {
    let request = parse(&text(&[
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Version: 13",
    ]));
    assert_eq!(request.method(), "GET");
    assert_eq!(request.target(), "/chat");
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), None);
    assert_eq!(request.http_version(), 1);
    assert_eq!(request.host(), Some("server.example.com"));
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.protocols(), ["chat", "superchat"]);
    assert!(request.is_upgrade());
    assert_eq!(request.validate(), Ok(KEY));
    let response =
        String::from_utf8(answer_101(&request, &Accept::new().protocol("chat")).unwrap()).unwrap();
    assert_eq!(
        response,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

// §4.2.1, one test per MUST -----------------------------------------------------------------------------------

#[test]
fn server_rejects_method_other_than_get() {
    assert_rejected(
        &with("GET", "POST /chat HTTP/1.1"),
        HandshakeError::MethodNotGet,
        400,
    );
}

#[test]
fn server_rejects_http_1_0() {
    assert_rejected(
        &with("GET", "GET /chat HTTP/1.0"),
        HandshakeError::BadHttpVersion,
        400,
    );
}

#[test]
fn server_rejects_missing_host() {
    assert_rejected(&with("Host", ""), HandshakeError::MissingHost, 400);
}

#[test]
fn server_rejects_duplicate_host() {
    let mut lines = base();
    lines.push("Host: evil.example.com");
    assert_rejected(&lines, HandshakeError::DuplicateHeader("Host"), 400);
}

#[test]
fn server_rejects_missing_upgrade() {
    assert_rejected(&with("Upgrade", ""), HandshakeError::MissingUpgrade, 400);
}

#[test]
fn server_rejects_upgrade_that_is_not_websocket() {
    assert_rejected(
        &with("Upgrade", "Upgrade: h2c"),
        HandshakeError::MissingUpgrade,
        400,
    );
}

#[test]
fn server_accepts_upgrade_and_connection_case_insensitively() {
    let lines = [
        "GET / HTTP/1.1",
        "host: a",
        "UPGRADE: WebSocket",
        "connection: UPGRADE",
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
        "SEC-WEBSOCKET-VERSION: 13",
    ];
    assert_eq!(parse(&text(&lines)).validate(), Ok(KEY));
}

#[test]
fn server_accepts_connection_keep_alive_upgrade() {
    let request = parse(&text(&with(
        "Connection",
        "Connection: keep-alive, Upgrade",
    )));
    assert_eq!(request.validate(), Ok(KEY));
}

#[test]
fn server_rejects_connection_without_upgrade_token() {
    assert_rejected(
        &with("Connection", "Connection: keep-alive"),
        HandshakeError::MissingConnectionUpgrade,
        400,
    );
    assert_rejected(
        &with("Connection", "Connection: keep-alive, upgraded"),
        HandshakeError::MissingConnectionUpgrade,
        400,
    );
}

#[test]
fn server_rejects_missing_key() {
    assert_rejected(
        &with("Sec-WebSocket-Key", ""),
        HandshakeError::MissingKey,
        400,
    );
}

#[test]
fn server_rejects_key_decoding_to_15_bytes() {
    assert_rejected(
        &with(
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0O",
        ),
        HandshakeError::BadKey,
        400,
    );
}

#[test]
fn server_rejects_key_decoding_to_17_bytes() {
    assert_rejected(
        &with(
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODxA=",
        ),
        HandshakeError::BadKey,
        400,
    );
}

#[test]
fn server_rejects_key_that_is_not_base64() {
    assert_rejected(
        &with(
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!!",
        ),
        HandshakeError::BadKey,
        400,
    );
}

#[test]
fn server_accepts_rfc_section_4_1_example_key_with_trailing_bits() {
    let request = parse(&text(&with(
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEC==",
    )));
    assert_eq!(request.validate(), Ok("AQIDBAUGBwgJCgsMDQ4PEC=="));
}

#[test]
fn server_rejects_duplicate_key() {
    let mut lines = base();
    lines.push("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==");
    assert_rejected(
        &lines,
        HandshakeError::DuplicateHeader("Sec-WebSocket-Key"),
        400,
    );
}

#[test]
fn server_answers_version_8_with_426_and_version_13() {
    let lines = with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8");
    assert_rejected(&lines, HandshakeError::UnsupportedVersion, 426);
    let response =
        String::from_utf8(HandshakeError::UnsupportedVersion.response().unwrap()).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{response}"
    );
    assert!(
        response.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{response}"
    );
}

#[test]
fn server_answers_missing_version_with_426() {
    assert_rejected(
        &with("Sec-WebSocket-Version", ""),
        HandshakeError::UnsupportedVersion,
        426,
    );
}

#[test]
fn server_rejects_malformed_extension_header() {
    let mut lines = base();
    lines.push("Sec-WebSocket-Extensions: permessage-deflate; =1");
    assert_rejected(&lines, HandshakeError::BadExtensionHeader, 400);
}

#[test]
fn error_response_is_complete_http() {
    let response = HandshakeError::MissingKey.response().unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(head.contains("\r\nContent-Type: text/plain"));
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    assert!(body.contains("Sec-WebSocket-Key"), "{body}");
    assert!(body.contains("4.2.1"), "{body}");
    assert_eq!(HandshakeError::BadAccept.response(), None);
    assert_eq!(HandshakeError::BadStatus(404).status(), None);
}

// Incremental parsing, leftover bytes ---------------------------------------------------------------------------

#[test]
fn one_byte_at_a_time_is_partial_until_the_last_byte() {
    let bytes = text(&base());
    let whole = parse(&bytes);
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    let (last, init) = bytes.split_last().unwrap();
    for byte in init {
        assert_eq!(server.receive(&[*byte]), Ok(Status::Partial));
    }
    assert_eq!(server.receive(&[*last]), Ok(Status::Complete(whole)));
    assert!(server.take_leftover().is_empty());
    assert_eq!(server.receive(b"x"), Err(HandshakeError::Finished));
}

#[test]
fn leftover_in_the_same_chunk_as_the_end_is_kept_exactly() {
    let mut bytes = text(&base());
    let frame = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    bytes.extend_from_slice(&frame);
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    assert!(matches!(server.receive(&bytes), Ok(Status::Complete(_))));
    assert_eq!(server.take_leftover(), frame);
    assert!(server.take_leftover().is_empty());
}

#[test]
fn leftover_is_kept_when_the_end_is_split_across_chunks() {
    let head = text(&base());
    let (a, b) = head.split_at(head.len() - 2); // "...\r\n\r" | "\n"
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    assert_eq!(server.receive(a), Ok(Status::Partial));
    let mut rest = b.to_vec();
    rest.extend_from_slice(b"\x81\x00tail");
    assert!(matches!(server.receive(&rest), Ok(Status::Complete(_))));
    assert_eq!(server.take_leftover(), b"\x81\x00tail");
}

#[test]
fn leftover_beyond_max_bytes_is_kept() {
    let mut bytes = text(&base());
    let frames = vec![0x82; 100_000];
    bytes.extend_from_slice(&frames);
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    assert!(matches!(server.receive(&bytes), Ok(Status::Complete(_))));
    assert_eq!(server.take_leftover(), frames);
}

#[test]
fn plain_http_post_is_served_with_its_body_as_leftover() {
    let bytes = b"POST /push?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    let Ok(Status::Complete(request)) = server.receive(bytes) else {
        panic!("expected a complete request")
    };
    assert!(!request.is_upgrade());
    assert_eq!(request.method(), "POST");
    assert_eq!(request.path(), "/push");
    assert_eq!(request.query(), Some("x=1"));
    assert_eq!(request.content_length(), Some(5));
    assert_eq!(request.header("content-length"), Some(&b"5"[..]));
    assert_eq!(server.take_leftover(), b"hello");
}

#[test]
fn absolute_form_target_yields_the_path() {
    let request = parse(&text(&with(
        "GET",
        "GET http://server.example.com/chat?a=b HTTP/1.1",
    )));
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), Some("a=b"));
    assert_eq!(request.validate(), Ok(KEY));
}

#[test]
fn malformed_request_line_is_malformed_and_sticky() {
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    let error = server.receive(b"GET / HTTP/9.9\r\n\r\n").unwrap_err();
    assert!(matches!(error, HandshakeError::Malformed(_)), "{error:?}");
    assert_eq!(error.status(), Some(400));
    assert_eq!(server.receive(&text(&base())), Err(error));
}

#[test]
fn leading_blank_lines_are_skipped() {
    let mut bytes = b"\r\n\r\n\r\n".to_vec();
    bytes.extend_from_slice(&text(&base()));
    assert_eq!(parse(&bytes).validate(), Ok(KEY));
}

// Limits -----------------------------------------------------------------------------------------------------------

#[test]
fn headers_of_100_kb_are_rejected_at_16_kib() {
    let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
    while bytes.len() < 100_000 {
        bytes.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    assert_eq!(
        server.receive(&bytes),
        Err(HandshakeError::TooLarge { limit: 16384 })
    );

    // Fed in 1 KiB chunks, the error comes with the chunk that fills the buffer to the limit, not later.
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    let mut failed_at = None;
    for (i, chunk) in bytes.chunks(1024).enumerate() {
        match server.receive(chunk) {
            Ok(Status::Partial) => {}
            Err(HandshakeError::TooLarge { limit: 16384 }) => {
                failed_at = Some(i);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(failed_at, Some(15));
    assert_eq!(
        HandshakeError::TooLarge { limit: 16384 }.status(),
        Some(431)
    );
}

/// httparse first gets 32 header entries on the stack; a head with more fields, under the limit (64), is parsed again
/// with room for all of them, by the server and by the client.
#[test]
fn heads_with_more_fields_than_the_first_try_holds_are_parsed_whole() {
    let names: Vec<String> = (0..50).map(|i| format!("X-Field-{i}")).collect();
    let extra: Vec<String> = names.iter().map(|n| format!("{n}: value")).collect();
    let mut lines = base();
    lines.extend(extra.iter().map(String::as_str));
    let request = parse(&text(&lines));
    assert_eq!(request.headers().count(), 55);
    assert_eq!(request.header("x-field-49"), Some(b"value".as_slice()));
    assert_eq!(request.validate(), Ok("dGhlIHNhbXBsZSBub25jZQ=="));

    let client_request = ClientRequest::new("ws://h/").unwrap();
    let (mut client, bytes) =
        ClientHandshake::with_key(&client_request, key16(), Config::default());
    let accept = names
        .iter()
        .fold(Accept::new(), |accept, name| accept.header(name, "value"));
    let answer = server_answer(&bytes, &accept);
    let Ok(Status::Complete(response)) = client.receive(&answer) else {
        panic!("client rejected the server's response")
    };
    assert_eq!(response.header("X-Field-49"), Some(b"value".as_slice()));
}

#[test]
fn ten_thousand_small_headers_are_rejected() {
    let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
    for _ in 0..10_000 {
        bytes.extend_from_slice(b"a: b\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    assert_eq!(
        server.receive(&bytes),
        Err(HandshakeError::TooLarge { limit: 16384 })
    );

    let limits = HandshakeLimits::default().with_max_bytes(1 << 20);
    let mut server = ServerHandshake::new(limits);
    assert_eq!(
        server.receive(&bytes),
        Err(HandshakeError::TooManyHeaders { limit: 64 })
    );
    assert_eq!(
        HandshakeError::TooManyHeaders { limit: 64 }.status(),
        Some(431)
    );
}

#[test]
fn header_line_that_never_ends_is_rejected_at_the_limit_byte_by_byte() {
    let mut server = ServerHandshake::new(HandshakeLimits::default());
    let mut line = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    line.resize(100_000, b'a');
    for (i, byte) in line.iter().enumerate() {
        match server.receive(&[*byte]) {
            Ok(Status::Partial) => assert!(i < 16383, "still partial at byte {i}"),
            Err(HandshakeError::TooLarge { limit: 16384 }) => {
                assert_eq!(i, 16383);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        server.receive(b"\r\n\r\n"),
        Err(HandshakeError::TooLarge { limit: 16384 })
    );
}

#[test]
fn feeding_100_kb_of_header_lines_one_byte_at_a_time_stays_partial() {
    // Many line ends but no blank line: the incremental search must not rescan the buffer (this would be
    // quadratic); nothing is asserted about time, it just has to run.
    let limits = HandshakeLimits::default()
        .with_max_bytes(200_000)
        .with_max_headers(10_000);
    let mut server = ServerHandshake::new(limits);
    let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
    while bytes.len() < 100_000 {
        bytes.extend_from_slice(b"X-A: b\r\n");
    }
    for byte in &bytes {
        assert_eq!(server.receive(&[*byte]), Ok(Status::Partial));
    }
}

// Server accept ----------------------------------------------------------------------------------------------------

#[test]
fn accept_rejects_protocol_not_offered() {
    let request = parse(&text(&base()));
    assert_eq!(
        answer_101(&request, &Accept::new().protocol("chat")),
        Err(HandshakeError::ProtocolNotOffered("chat".into()))
    );
}

#[test]
fn accept_rejects_extension_not_offered() {
    let request = parse(&text(&base()));
    assert_eq!(
        answer_101(
            &request,
            &Accept::new().extension(Extension::new("permessage-deflate"))
        ),
        Err(HandshakeError::ExtensionNotOffered(
            "permessage-deflate".into()
        ))
    );
}

#[test]
fn accept_rejects_header_injection() {
    let request = parse(&text(&base()));
    for accept in [
        Accept::new().header("X-A", "b\r\nX-Evil: 1"),
        Accept::new().header("X A", "b"),
        Accept::new().header("", "b"),
        Accept::new().header("Sec-WebSocket-Accept", "forged"),
    ] {
        assert_eq!(
            answer_101(&request, &accept),
            Err(HandshakeError::InvalidHeader)
        );
    }
    assert_eq!(HandshakeError::InvalidHeader.status(), Some(500));
}

#[test]
fn accept_writes_extensions_and_extra_headers() {
    let mut lines = base();
    lines.push("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits");
    lines.push("Sec-WebSocket-Extensions: x-foo");
    let request = parse(&text(&lines));
    assert_eq!(request.extensions().unwrap().len(), 2);
    let accept = Accept::new()
        .extension(Extension::new("permessage-deflate").param("client_max_window_bits", Some("10")))
        .header("Set-Cookie", "a=b");
    let response = String::from_utf8(answer_101(&request, &accept).unwrap()).unwrap();
    assert!(response.contains(
        "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\nSet-Cookie: a=b\r\n\r\n"
    ));
}

#[test]
fn http_response_writes_status_headers_length_and_body() {
    let response = http_response(
        404,
        &[("Content-Type", "text/html"), ("X-Bad", "a\r\nb")],
        b"<h1>no</h1>",
    );
    assert_eq!(
        response,
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n<h1>no</h1>"
    );
    assert!(http_response(299, &[], b"").starts_with(b"HTTP/1.1 299 \r\n"));
    assert!(http_response(7, &[], b"").starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
}

// Extensions -------------------------------------------------------------------------------------------------------

#[test]
fn extension_header_parses_names_params_and_quoted_values() {
    let parsed = parse_extensions(
        "permessage-deflate; client_max_window_bits, x-foo; a=\"b\"; c = 1 ,, mux",
    )
    .unwrap();
    assert_eq!(
        parsed,
        [
            Extension::new("permessage-deflate").param("client_max_window_bits", None),
            Extension::new("x-foo")
                .param("a", Some("b"))
                .param("c", Some("1")),
            Extension::new("mux"),
        ]
    );
    assert_eq!(
        parse_extensions("x; a=\"\\b\"").unwrap(),
        [Extension::new("x").param("a", Some("b"))]
    );
}

#[test]
fn extension_quoted_value_must_be_a_token_after_unescaping() {
    // §9.1: "the value after quoted-string unescaping MUST conform to the 'token' ABNF."
    assert_eq!(
        parse_extensions("x-foo; a=\"b c\""),
        Err(HandshakeError::BadExtensionHeader)
    );
}

#[test]
fn malformed_extension_headers_are_errors() {
    for bad in [
        "",
        ",",
        " , ",
        "a;",
        "a; =1",
        "a b",
        "a; b=",
        "a; b=\"open",
        "a;; b",
        "=1",
        "a=1",
        "a; b=c d",
        "a, ;b",
        "é",
        "a; b=\"\u{7f}\"",
    ] {
        assert_eq!(
            parse_extensions(bad),
            Err(HandshakeError::BadExtensionHeader),
            "{bad:?}"
        );
    }
}

#[test]
fn extension_display_round_trips() {
    let e = Extension::new("permessage-deflate").param("client_max_window_bits", Some("10"));
    assert_eq!(
        e.to_string(),
        "permessage-deflate; client_max_window_bits=10"
    );
    let bare = Extension::new("x")
        .param("flag", None)
        .param("q", Some("a b"));
    assert_eq!(bare.to_string(), "x; flag; q=\"a b\"");
    assert_eq!(parse_extensions(&e.to_string()).unwrap(), [e]);
}

#[test]
fn header_contains_token_splits_and_ignores_case() {
    assert!(header_contains_token(b"keep-alive, Upgrade", "upgrade"));
    assert!(header_contains_token(b"  UPGRADE\t", "upgrade"));
    assert!(!header_contains_token(b"keep-alive, upgraded", "upgrade"));
    assert!(!header_contains_token(b"", "upgrade"));
}

// Client -----------------------------------------------------------------------------------------------------------

fn key16() -> [u8; 16] {
    core::array::from_fn(|i| i as u8 + 1)
}

#[test]
fn client_request_bytes_for_port_path_query_origin_protocols() {
    let request = ClientRequest::new("ws://example.com:8080/chat?room=1")
        .unwrap()
        .origin("http://example.com")
        .protocol("chat")
        .protocol("superchat")
        .protocol("chat")
        .protocol("bad token")
        .header("X-Token", "abc")
        .header("X-Evil", "a\r\nb")
        .header("Host", "other");
    assert_eq!(request.host(), "example.com");
    assert_eq!(request.port(), 8080);
    assert_eq!(request.resource(), "/chat?room=1");
    assert_eq!(request.authority(), "example.com:8080");
    let (_, bytes) = ClientHandshake::with_key(&request, key16(), Config::default());
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nX-Token: abc\r\n\r\n"
    );
}

#[test]
fn client_request_defaults_port_80_and_path_slash() {
    let request = ClientRequest::new("ws://example.com").unwrap();
    assert_eq!((request.port(), request.resource()), (80, "/"));
    let (_, bytes) = ClientHandshake::with_key(&request, key16(), Config::default());
    assert!(bytes.starts_with(b"GET / HTTP/1.1\r\nHost: example.com\r\n"));
    assert_eq!(ClientRequest::new("WS://h?q").unwrap().resource(), "/?q");
    assert_eq!(ClientRequest::new("ws://h/p?").unwrap().resource(), "/p");
}

#[test]
fn client_request_accepts_ipv6_literal() {
    let request = ClientRequest::new("ws://[::1]:9001/x").unwrap();
    assert_eq!(request.host(), "::1");
    assert_eq!(request.port(), 9001);
    assert_eq!(request.resource(), "/x");
    assert_eq!(request.authority(), "[::1]:9001");
    let (_, bytes) = ClientHandshake::with_key(&request, key16(), Config::default());
    assert!(bytes.starts_with(b"GET /x HTTP/1.1\r\nHost: [::1]:9001\r\n"));
    assert_eq!(
        ClientRequest::new("ws://[::1]/").unwrap().authority(),
        "[::1]:80"
    );
}

/// §3: "the default for "wss" is port 443"; the Host header leaves the default port out (§4.1
/// item 4), and the core marks the request for TLS without doing any.
#[test]
fn client_accepts_wss_urls_with_port_443_by_default() {
    let request = ClientRequest::new("WSS://example.com/chat?room=1").unwrap();
    assert!(request.is_tls());
    assert_eq!(request.scheme(), "wss");
    assert_eq!(request.port(), 443);
    assert_eq!(request.authority(), "example.com:443");
    assert_eq!(request.resource(), "/chat?room=1");
    let (_, bytes) = ClientHandshake::with_key(&request, key16(), Config::default());
    assert!(bytes.starts_with(b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n"));

    let request = ClientRequest::new("wss://example.com:8443").unwrap();
    assert_eq!(request.port(), 8443);
    let (_, bytes) = ClientHandshake::with_key(&request, key16(), Config::default());
    assert!(bytes.starts_with(b"GET / HTTP/1.1\r\nHost: example.com:8443\r\n"));
    // 80 is not the default of wss, nor 443 of ws.
    let (_, bytes) = ClientHandshake::with_key(
        &ClientRequest::new("wss://example.com:80/").unwrap(),
        key16(),
        Config::default(),
    );
    assert!(bytes.starts_with(b"GET / HTTP/1.1\r\nHost: example.com:80\r\n"));
    let plain = ClientRequest::new("ws://example.com:443/").unwrap();
    assert!(!plain.is_tls());
    assert_eq!(plain.scheme(), "ws");
    let (_, bytes) = ClientHandshake::with_key(&plain, key16(), Config::default());
    assert!(bytes.starts_with(b"GET / HTTP/1.1\r\nHost: example.com:443\r\n"));
}

#[test]
fn client_rejects_invalid_urls() {
    assert_eq!(
        ClientRequest::new("https://example.com/").unwrap_err(),
        HandshakeError::InvalidUrl("scheme must be ws or wss")
    );
    for bad in [
        "http://example.com/",
        "example.com",
        "ws:/example.com",
        "ws://example.com/#frag",
        "ws:///path",
        "ws://:80/",
        "ws://h:99999/",
        "ws://h:0/",
        "ws://h:8a/",
        "ws://user@h/",
        "ws://h/a b",
        "ws://h/\u{e9}",
        "ws://[::1/",
        "ws://[zz]/",
        "ws://[::1]x/",
        "ws://h o/",
    ] {
        let error = ClientRequest::new(bad).unwrap_err();
        assert!(
            matches!(error, HandshakeError::InvalidUrl(_)),
            "{bad}: {error:?}"
        );
        assert_eq!(error.status(), None);
    }
}

fn server_answer(request_bytes: &[u8], accept: &Accept) -> Vec<u8> {
    let request = parse(request_bytes);
    answer_101(&request, accept).unwrap()
}

fn client_receive(
    handshake: &mut ClientHandshake,
    bytes: &[u8],
) -> Result<Status<Response>, HandshakeError> {
    handshake.receive(bytes)
}

#[test]
fn round_trip_with_protocol_chat() {
    let request = ClientRequest::new("ws://localhost:9001/echo")
        .unwrap()
        .protocol("superchat")
        .protocol("chat");
    let (mut client, bytes) = ClientHandshake::new(&request, Config::default());
    let server_request = parse(&bytes);
    assert_eq!(server_request.host(), Some("localhost:9001"));
    assert_eq!(server_request.protocols(), ["superchat", "chat"]);
    let response = server_request
        .answer(Config::default(), |_| Ok(Accept::new().protocol("chat")))
        .response;
    let Ok(Status::Complete(response)) = client_receive(&mut client, &response) else {
        panic!("client rejected the server's response")
    };
    assert_eq!(response.status(), 101);
    assert_eq!(response.protocol(), Some("chat"));
    assert!(response.extensions().is_empty());
    assert!(client.take_leftover().is_empty());
}

#[test]
fn round_trip_with_extension() {
    let request = ClientRequest::new("ws://h/")
        .unwrap()
        .extension(Extension::new("permessage-deflate").param("client_max_window_bits", None));
    let (mut client, bytes) = ClientHandshake::with_key(&request, key16(), Config::default());
    let accepted = Extension::new("permessage-deflate").param("server_no_context_takeover", None);
    let answer = server_answer(&bytes, &Accept::new().extension(accepted.clone()));
    let Ok(Status::Complete(response)) = client.receive(&answer) else {
        panic!("client rejected the server's response")
    };
    assert_eq!(response.extensions(), [accepted]);
    assert_eq!(response.protocol(), None);
}

#[test]
fn client_uses_the_rng_for_the_nonce() {
    struct Counter(u8);
    impl rand::RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            unimplemented!()
        }
        fn next_u64(&mut self) -> u64 {
            unimplemented!()
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for b in dst {
                self.0 += 1;
                *b = self.0;
            }
        }
    }
    let request = ClientRequest::new("ws://h/").unwrap();
    let (_, bytes) = ClientHandshake::with_rng(&request, &mut Counter(0), Config::default());
    assert!(String::from_utf8(bytes)
        .unwrap()
        .contains("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"));
    let (_, a) = ClientHandshake::new(&request, Config::default());
    let (_, b) = ClientHandshake::new(&request, Config::default());
    assert_ne!(
        a, b,
        "§4.1: the nonce MUST be selected randomly for each connection"
    );
}

fn fixed_client() -> (ClientHandshake, String) {
    let request = ClientRequest::new("ws://h/").unwrap().protocol("chat");
    let (client, _) = ClientHandshake::with_key(&request, key16(), Config::default());
    (client, accept_key(b"AQIDBAUGBwgJCgsMDQ4PEA=="))
}

fn response_text(lines: &[&str]) -> Vec<u8> {
    text(lines)
}

#[test]
fn client_rejects_wrong_accept() {
    let (mut client, _) = fixed_client();
    let bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    ]);
    assert_eq!(client.receive(&bytes), Err(HandshakeError::BadAccept));
    assert_eq!(client.receive(b""), Err(HandshakeError::BadAccept));
}

#[test]
fn client_rejects_missing_accept() {
    let (mut client, _) = fixed_client();
    let bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
    ]);
    assert_eq!(client.receive(&bytes), Err(HandshakeError::BadAccept));
}

#[test]
fn client_rejects_missing_upgrade_and_connection() {
    let (mut client, accept) = fixed_client();
    let accept_line = format!("Sec-WebSocket-Accept: {accept}");
    let bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Connection: Upgrade",
        &accept_line,
    ]);
    assert_eq!(client.receive(&bytes), Err(HandshakeError::MissingUpgrade));
    let (mut client, _) = fixed_client();
    let bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket, h2c",
        "Connection: Upgrade",
        &accept_line,
    ]);
    assert_eq!(client.receive(&bytes), Err(HandshakeError::MissingUpgrade));
    let (mut client, _) = fixed_client();
    let bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        &accept_line,
    ]);
    assert_eq!(
        client.receive(&bytes),
        Err(HandshakeError::MissingConnectionUpgrade)
    );
}

#[test]
fn client_rejects_404_with_bad_status_and_keeps_the_body() {
    let (mut client, _) = fixed_client();
    assert_eq!(
        client.receive(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n"),
        Ok(Status::Partial)
    );
    assert_eq!(
        client.receive(b"\r\nnop"),
        Err(HandshakeError::BadStatus(404))
    );
    assert_eq!(client.take_leftover(), b"nop");
    assert_eq!(
        HandshakeError::BadStatus(404).to_string(),
        "server answered with status 404 instead of 101"
    );
}

#[test]
fn client_rejects_unrequested_protocol() {
    let (mut client, accept) = fixed_client();
    let accept_line = format!("Sec-WebSocket-Accept: {accept}");
    let bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &accept_line,
        "Sec-WebSocket-Protocol: superchat",
    ]);
    assert_eq!(
        client.receive(&bytes),
        Err(HandshakeError::UnrequestedProtocol("superchat".into()))
    );
}

#[test]
fn client_rejects_unrequested_extension() {
    let (mut client, accept) = fixed_client();
    let accept_line = format!("Sec-WebSocket-Accept: {accept}");
    let bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &accept_line,
        "Sec-WebSocket-Extensions: permessage-deflate",
    ]);
    assert_eq!(
        client.receive(&bytes),
        Err(HandshakeError::UnrequestedExtension(
            "permessage-deflate".into()
        ))
    );
}

#[test]
fn client_rejects_duplicate_accept() {
    let (mut client, accept) = fixed_client();
    let accept_line = format!("Sec-WebSocket-Accept: {accept}");
    let bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &accept_line,
        &accept_line,
    ]);
    assert_eq!(
        client.receive(&bytes),
        Err(HandshakeError::DuplicateHeader("Sec-WebSocket-Accept"))
    );
}

#[test]
fn client_keeps_frame_bytes_after_the_101() {
    let (mut client, accept) = fixed_client();
    let accept_line = format!("Sec-WebSocket-Accept:   {accept}  ");
    let mut bytes = response_text(&[
        "HTTP/1.1 101 Switching Protocols",
        "upgrade: WebSocket",
        "connection: upgrade",
        &accept_line,
        "Sec-WebSocket-Protocol: chat",
    ]);
    bytes.extend_from_slice(b"\x81\x05Hello");
    let Ok(Status::Complete(response)) = client.receive(&bytes) else {
        panic!("client rejected the server's response")
    };
    assert_eq!(response.protocol(), Some("chat"));
    assert_eq!(
        response.header("Sec-WebSocket-Protocol"),
        Some(&b"chat"[..])
    );
    assert_eq!(client.take_leftover(), b"\x81\x05Hello");

    // Same bytes one at a time.
    let (mut client, _) = fixed_client();
    let mut result = Ok(Status::Partial);
    let mut rest = Vec::new();
    for byte in &bytes {
        if matches!(result, Ok(Status::Partial)) {
            result = client.receive(&[*byte]);
        } else {
            rest.push(*byte);
        }
    }
    assert_eq!(result, Ok(Status::Complete(response)));
    let mut leftover = client.take_leftover();
    leftover.extend(rest);
    assert_eq!(leftover, b"\x81\x05Hello");
}

// Properties -------------------------------------------------------------------------------------------------------

/// Feeds `bytes` split at `cuts`; stops at the first non-Partial answer. Returns that answer and every byte not
/// consumed by the header block (leftover plus chunks never fed).
fn drive<T>(
    bytes: &[u8],
    cuts: &[usize],
    mut receive: impl FnMut(&[u8]) -> Result<Status<T>, HandshakeError>,
    mut take_leftover: impl FnMut() -> Vec<u8>,
) -> (Result<Status<T>, HandshakeError>, Vec<u8>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut result = Ok(Status::Partial);
    let mut rest = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([bytes.len()]) {
        let chunk = &bytes[start..end];
        start = end;
        if matches!(result, Ok(Status::Partial)) {
            result = receive(chunk);
        } else {
            rest.extend_from_slice(chunk);
        }
    }
    // After a framing-level failure no block was found, so there is nothing to compare past the error.
    if let Err(
        HandshakeError::TooLarge { .. }
        | HandshakeError::TooManyHeaders { .. }
        | HandshakeError::Malformed(_),
    ) = result
    {
        assert!(take_leftover().is_empty());
        return (result, Vec::new());
    }
    let mut leftover = take_leftover();
    leftover.extend(rest);
    (result, leftover)
}

fn server_outcome(
    bytes: &[u8],
    cuts: &[usize],
    limits: HandshakeLimits,
) -> (Result<Status<Request>, HandshakeError>, Vec<u8>) {
    let server = std::cell::RefCell::new(ServerHandshake::new(limits));
    drive(
        bytes,
        cuts,
        |c| server.borrow_mut().receive(c),
        || server.borrow_mut().take_leftover(),
    )
}

fn client_outcome(
    bytes: &[u8],
    cuts: &[usize],
    limits: HandshakeLimits,
) -> (Result<Status<Response>, HandshakeError>, Vec<u8>) {
    let request = ClientRequest::new("ws://h/")
        .unwrap()
        .protocol("chat")
        .extension(Extension::new("x"));
    let (client, _) = ClientHandshake::with_key(&request, key16(), config(limits));
    let client = std::cell::RefCell::new(client);
    drive(
        bytes,
        cuts,
        |c| client.borrow_mut().receive(c),
        || client.borrow_mut().take_leftover(),
    )
}

fn valid_response() -> Vec<u8> {
    let accept = accept_key(b"AQIDBAUGBwgJCgsMDQ4PEA==");
    let mut bytes = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: x; y=1\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(b"\x81\x02hi");
    bytes
}

fn valid_request() -> Vec<u8> {
    let mut bytes = text(&[
        "GET /chat?x=1 HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: chat",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ]);
    bytes.extend_from_slice(b"\x81\x82abcdef");
    bytes
}

/// A valid message with a few bytes overwritten, truncated or extended.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        prop::collection::vec((0..len, any::<u8>()), 0..4),
        0..=len,
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(move |(edits, keep, tail)| {
            let mut bytes = base.clone();
            for (i, b) in edits {
                bytes[i] = b;
            }
            bytes.truncate(keep.max(len / 2));
            bytes.extend(tail);
            bytes
        })
}

fn limits() -> impl Strategy<Value = HandshakeLimits> {
    prop_oneof![
        Just(HandshakeLimits::default()),
        (0usize..300, 0usize..8)
            .prop_map(|(b, h)| HandshakeLimits::new().with_max_bytes(b).with_max_headers(h)),
    ]
}

proptest! {
    #[test]
    fn server_any_bytes_any_chunking_never_panics_and_gives_the_same_result(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limits in limits(),
    ) {
        let whole = server_outcome(&bytes, &[], limits);
        let chunked = server_outcome(&bytes, &cuts, limits);
        prop_assert_eq!(&whole, &chunked);
        if let (Ok(Status::Complete(request)), _) = &whole {
            let _ = request.validate();
            let _ = answer_101(request, &Accept::new());
            let _ = (request.path(), request.query(), request.protocols(), request.extensions());
            let _ = (request.content_length(), request.host(), request.origin());
        }
    }

    #[test]
    fn server_mutated_requests_any_chunking_never_panic_and_give_the_same_result(
        bytes in mutated(valid_request()),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limits in limits(),
    ) {
        let whole = server_outcome(&bytes, &[], limits);
        let chunked = server_outcome(&bytes, &cuts, limits);
        prop_assert_eq!(&whole, &chunked);
        if let (Ok(Status::Complete(request)), _) = &whole {
            if let Ok(response) = answer_101(request, &Accept::new()) {
                prop_assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            }
        }
    }

    #[test]
    fn valid_request_any_chunking_is_accepted_with_exact_leftover(
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let (result, leftover) = server_outcome(&valid_request(), &cuts, HandshakeLimits::default());
        let Ok(Status::Complete(request)) = result else { panic!("{result:?}") };
        prop_assert_eq!(request.validate(), Ok(KEY));
        prop_assert_eq!(leftover, b"\x81\x82abcdef");
    }

    #[test]
    fn client_any_bytes_any_chunking_never_panics_and_gives_the_same_result(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limits in limits(),
    ) {
        prop_assert_eq!(client_outcome(&bytes, &[], limits), client_outcome(&bytes, &cuts, limits));
    }

    #[test]
    fn client_mutated_responses_any_chunking_never_panic_and_give_the_same_result(
        bytes in mutated(valid_response()),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limits in limits(),
    ) {
        prop_assert_eq!(client_outcome(&bytes, &[], limits), client_outcome(&bytes, &cuts, limits));
    }

    #[test]
    fn valid_response_any_chunking_is_accepted_with_exact_leftover(
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let (result, leftover) = client_outcome(&valid_response(), &cuts, HandshakeLimits::default());
        let Ok(Status::Complete(response)) = result else { panic!("{result:?}") };
        prop_assert_eq!(response.protocol(), Some("chat"));
        prop_assert_eq!(leftover, b"\x81\x02hi");
    }

    #[test]
    fn parse_extensions_never_panics_and_display_round_trips(value in "\\PC{0,40}|[a-z;=, \"\\\\]{0,40}") {
        if let Ok(extensions) = parse_extensions(&value) {
            for e in extensions {
                prop_assert_eq!(parse_extensions(&e.to_string()), Ok(vec![e]));
            }
        }
    }

    #[test]
    fn client_request_new_never_panics(url in "ws://\\PC{0,30}|\\PC{0,30}") {
        if let Ok(request) = ClientRequest::new(&url) {
            let (_, bytes) = ClientHandshake::with_key(&request, [0; 16], Config::default());
            // Whatever the URL, our own request parses and validates on the server side.
            let parsed = parse(&bytes);
            prop_assert_eq!(parsed.validate(), Ok("AAAAAAAAAAAAAAAAAAAAAA=="));
        }
    }
}

// ---------------------------------------------------------------- Request::answer, the server's one path (§4.2.2)

#[test]
fn answer_to_a_valid_request_is_the_101_and_the_server_connection_after_it() {
    let request = parse(&text(&base()));
    let answer = request.answer(Config::default(), |_| Ok(Accept::new()));
    // §4.2.2: the accept key of the RFC's own example.
    assert_eq!(
        answer.response,
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        )
        .as_bytes()
    );
    // Frames the client sent right behind its request reach the connection.
    let mut conn = answer
        .result
        .expect("accepted")
        .into_connection(b"\x81\x82abcd\x09\x0b");
    assert_eq!(conn.role(), Role::Server);
    assert!(!conn.is_compressed());
    assert_eq!(
        conn.poll_event(),
        Some(rfc6455::Event::Message(rfc6455::Message::text("hi")))
    );
}

#[test]
fn answer_writes_the_applications_reject_with_its_status_length_and_close() {
    let request = parse(&text(&base()));
    let answer = request.answer(Config::default(), |request| {
        assert_eq!(request.path(), "/chat");
        Err(Reject::new(401)
            .header("WWW-Authenticate", "Basic realm=\"chat\"")
            .body("log in first\n"))
    });
    assert!(matches!(answer.result, Err(HandshakeError::Rejected)));
    assert_eq!(
        String::from_utf8(answer.response).unwrap(),
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"chat\"\r\n\
         Connection: close\r\nContent-Length: 13\r\n\r\nlog in first\n"
    );
    // A redirect (§4.2.2 item 3) without a body.
    let answer = request.answer(Config::default(), |_| {
        Err(Reject::new(307).header("Location", "/elsewhere"))
    });
    assert_eq!(
        answer.response,
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /elsewhere\r\nConnection: close\r\n\
          Content-Length: 0\r\n\r\n"
    );
}

#[test]
fn a_reject_with_a_bad_header_or_status_is_refused_and_answered_with_a_500() {
    let request = parse(&text(&base()));
    for (reject, error) in [
        (
            Reject::new(403).header("X A", "b"),
            HandshakeError::InvalidHeader,
        ),
        (
            Reject::new(403).header("", "b"),
            HandshakeError::InvalidHeader,
        ),
        (
            Reject::new(403).header("X-A", "b\r\nX-Evil: 1"),
            HandshakeError::InvalidHeader,
        ),
        // The renderer writes these itself.
        (
            Reject::new(403).header("content-length", "0"),
            HandshakeError::InvalidHeader,
        ),
        (
            Reject::new(403).header("Connection", "keep-alive"),
            HandshakeError::InvalidHeader,
        ),
        (
            Reject::new(403).header("Transfer-Encoding", "chunked"),
            HandshakeError::InvalidHeader,
        ),
        // Not a redirect or an error: a 101 would claim the upgrade, a 200 is no refusal.
        (Reject::new(101), HandshakeError::InvalidStatus(101)),
        (Reject::new(200), HandshakeError::InvalidStatus(200)),
        (Reject::new(304), HandshakeError::InvalidStatus(304)),
        (Reject::new(600), HandshakeError::InvalidStatus(600)),
    ] {
        assert_eq!(reject.to_bytes(), Err(error.clone()));
        assert_eq!(error.status(), Some(500));
        let answer = request.answer(Config::default(), |_| Err(reject));
        assert_eq!(answer.result.unwrap_err(), error);
        assert_eq!(Some(answer.response), error.response());
    }
    assert!(Reject::new(599).to_bytes().is_ok());
    assert!(Reject::new(300).to_bytes().is_ok());
}

#[test]
fn answer_to_an_invalid_request_is_the_cores_400_or_426_without_asking() {
    for (lines, error, status) in [
        (
            with("Upgrade", ""),
            HandshakeError::MissingUpgrade,
            "400 Bad Request",
        ),
        (
            with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"),
            HandshakeError::UnsupportedVersion,
            "426 Upgrade Required",
        ),
    ] {
        let request = parse(&text(&lines));
        let answer = request.answer(Config::default(), |_| {
            panic!("the application is not asked about an invalid request")
        });
        assert_eq!(answer.result.unwrap_err(), error);
        assert_eq!(Some(answer.response.clone()), error.response());
        let response = String::from_utf8(answer.response).unwrap();
        let body = format!("{error} (RFC 6455 section 4.2.1)\n");
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{response}"
        );
        assert!(response.contains("Connection: close\r\n"), "{response}");
        assert!(
            response.ends_with(&format!("Content-Length: {}\r\n\r\n{body}", body.len())),
            "{response}"
        );
        assert_eq!(
            response.contains("\r\nSec-WebSocket-Version: 13\r\n"),
            error == HandshakeError::UnsupportedVersion
        );
    }
}

#[test]
fn answer_with_a_protocol_the_client_did_not_offer_is_a_500() {
    let request = parse(&text(&base()));
    let answer = request.answer(Config::default(), |_| Ok(Accept::new().protocol("chat")));
    assert_eq!(
        answer.result.unwrap_err(),
        HandshakeError::ProtocolNotOffered("chat".into())
    );
    assert!(answer.response.starts_with(b"HTTP/1.1 500 "));
}

#[cfg(feature = "deflate")]
fn deflate_config() -> Config {
    let mut config = Config::default();
    config.deflate = Some(rfc6455::deflate::DeflateConfig::default());
    config
}

#[cfg(feature = "deflate")]
#[test]
fn permessage_deflate_offered_and_enabled_is_on_in_the_connection_made_after_the_101() {
    let mut lines = base();
    lines.push("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits");
    let request = parse(&text(&lines));
    let answer = request.answer(deflate_config(), |_| Ok(Accept::new()));
    let text = String::from_utf8(answer.response)
        .unwrap()
        .to_ascii_lowercase();
    assert!(text.contains("sec-websocket-extensions: permessage-deflate"));
    assert!(answer.result.unwrap().into_connection(&[]).is_compressed());
    // Not enabled in our config: the offer is declined.
    let answer = request.answer(Config::default(), |_| Ok(Accept::new()));
    assert!(!String::from_utf8(answer.response)
        .unwrap()
        .contains("deflate"));
    assert!(!answer.result.unwrap().into_connection(&[]).is_compressed());
}

// ---------------------------------------------------------------- ClientHandshake, the client's one path (§4.1)

#[test]
fn client_path_makes_the_client_connection_with_the_frames_after_the_101() {
    let request = ClientRequest::new("ws://h/").unwrap();
    let (mut client, bytes) = ClientHandshake::new(&request, Config::default());
    let server_request = parse(&bytes);
    let mut response = server_request
        .answer(Config::default(), |_| Ok(Accept::new()))
        .response;
    response.extend_from_slice(b"\x81\x02hi");
    let Ok(Status::Complete(response)) = client.receive(&response) else {
        panic!("client rejected the server's response")
    };
    let mut conn = client.into_connection(&response).unwrap();
    assert_eq!(conn.role(), Role::Client);
    assert_eq!(
        conn.poll_event(),
        Some(rfc6455::Event::Message(rfc6455::Message::text("hi")))
    );
}

#[test]
fn client_path_with_rng_masks_with_that_rng() {
    let request = ClientRequest::new("ws://h/").unwrap();
    let (mut client, bytes) = ClientHandshake::with_key(&request, key16(), Config::default());
    let response = answer_101(&parse(&bytes), &Accept::new()).unwrap();
    let Ok(Status::Complete(response)) = client.receive(&response) else {
        panic!("client rejected the server's response")
    };
    let rng = Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7));
    let mut conn = client.into_connection_with_rng(&response, rng).unwrap();
    conn.send_text("x").unwrap();
    let mut expected = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let key = rand::RngCore::next_u32(&mut expected).to_ne_bytes();
    assert_eq!(conn.data_to_send()[2..6], key);
}

#[cfg(feature = "deflate")]
#[test]
fn client_path_offers_deflate_from_the_config_and_refuses_a_bad_extension_response() {
    let request = ClientRequest::new("ws://h/").unwrap();
    let (mut client, bytes) = ClientHandshake::with_key(&request, key16(), deflate_config());
    let server_request = parse(&bytes);
    assert_eq!(
        server_request.extensions().unwrap()[0].name,
        "permessage-deflate"
    );
    let answer = server_request.answer(deflate_config(), |_| Ok(Accept::new()));
    let Ok(Status::Complete(response)) = client.receive(&answer.response) else {
        panic!("client rejected the server's response")
    };
    assert!(client.into_connection(&response).unwrap().is_compressed());

    // RFC 7692 §7: a parameter the client cannot honour fails the connection.
    let (mut client, _) = ClientHandshake::with_key(&request, key16(), deflate_config());
    let bad = text(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &format!(
            "Sec-WebSocket-Accept: {}",
            accept_key(b"AQIDBAUGBwgJCgsMDQ4PEA==")
        ),
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99",
    ]);
    let Ok(Status::Complete(response)) = client.receive(&bad) else {
        panic!("the 101 itself is valid")
    };
    assert!(matches!(
        client.into_connection(&response),
        Err(HandshakeError::ExtensionResponse(_))
    ));
}
