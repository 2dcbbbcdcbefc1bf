#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (deterministic; run from anywhere).

Seeds are named descriptively (the repository ignores libFuzzer's hash-named files). Input
layouts are those of the targets: connection_*: flags byte, 3 chunk-size bytes, peer bytes;
handshake_*: limits byte, 3 chunk-size bytes, HTTP bytes; utf8: 2 piece-size bytes, bytes;
frame_header: raw bytes; roundtrip: arbitrary bytes (interpreted by the `arbitrary` crate).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 §5.7


def frame(opcode, payload=b"", fin=True, rsv=0, key=None, length=None, form=None):
    """One frame. `length` overrides the declared length; `form` forces 7/16/64-bit length."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if key is not None else 0
    if form is None:
        form = 7 if n < 126 else 16 if n <= 0xFFFF else 64
    if form == 7:
        head = bytes([b0, mask_bit | n])
    elif form == 16:
        head = bytes([b0, mask_bit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mask_bit | 127]) + struct.pack(">Q", n)
    if key is None:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close(code=None, reason=b"", **kw):
    payload = b"" if code is None else struct.pack(">H", code) + reason
    return frame(0x8, payload, **kw)


# Peer byte streams for the connection targets, written unmasked; masked for the server target.
def streams(key):
    m = {"key": key}
    bad_utf8 = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")  # Autobahn 6.3.1
    s = {
        "rfc_5_7_hello": frame(0x1, b"Hello", **m),
        "rfc_5_7_fragmented_hel_lo": frame(0x1, b"Hel", fin=False, **m) + frame(0x0, b"lo", **m),
        "rfc_5_7_ping_hello": frame(0x9, b"Hello", **m),
        "rfc_5_7_pong_hello": frame(0xA, b"Hello", **m),
        "rfc_5_7_binary_256": frame(0x2, bytes(range(256)), **m),
        "binary_4096_at_the_limit": frame(0x2, b"\xab" * 4096, **m),
        "binary_4097_over_the_limit": frame(0x2, length=4097, **m) + b"\x00" * 8,
        "len64_65536_header_only": frame(0x2, length=65536, **m),
        "len64_2pow63_minus_1": frame(0x2, length=(1 << 63) - 1, **m),
        "len64_top_bit_set": frame(0x2, length=1 << 63, **m),
        "len64_nonminimal_5": frame(0x1, b"hello", form=64, **m),
        "len16_nonminimal_ping": frame(0x9, b"p", form=16, **m),
        "fragmented_text_with_ping_between": frame(0x1, b"fragment1 ", fin=False, **m)
        + frame(0x9, b"in between", **m)
        + frame(0x0, b"fragment2 ", fin=False, **m)
        + frame(0x0, b"end", **m),
        "fragmented_utf8_split_in_sequence": frame(0x1, "κό".encode()[:3], fin=False, **m)
        + frame(0x0, "κόσμε".encode()[3:], **m),
        "bad_utf8_autobahn_6_3_1": frame(0x1, bad_utf8, **m),
        "bad_utf8_split_across_fragments": frame(0x1, bad_utf8[:12], fin=False, **m)
        + frame(0x0, bad_utf8[12:], **m),
        "utf8_truncated_at_fin": frame(0x1, b"ab\xe2\x82", **m),
        "utf8_beyond_10ffff": frame(0x1, b"\xf4\x90\x80\x80", **m),
        "close_1000_normal": close(1000, **m),
        "close_1000_with_reason": close(1000, "bye ✓".encode(), **m),
        "close_empty": close(None, **m),
        "close_one_byte": frame(0x8, b"\x03", **m),
        "close_code_999": close(999, **m),
        "close_code_1005": close(1005, **m),
        "close_code_1006": close(1006, **m),
        "close_code_1015": close(1015, **m),
        "close_code_3000": close(3000, **m),
        "close_code_4999": close(4999, **m),
        "close_code_5000": close(5000, **m),
        "close_reason_bad_utf8": close(1000, b"\xff\xfe", **m),
        "close_then_more_data": close(1001, **m) + frame(0x1, b"ignored", **m),
        "ping_flood_125_bytes": b"".join(frame(0x9, bytes([i]) * 125, **m) for i in range(32)),
        # Big enough to pass the 4096-byte control queue, where pongs coalesce (§5.5.3); the
        # largest seed also sets libFuzzer's -max_len.
        "ping_flood_40x125_coalesced_pongs": b"".join(frame(0x9, bytes([i]) * 125, **m) for i in range(40)),
        # 4 x 4096 + 1 bytes in 5 fragments: over max_message_size (16384), 1009.
        "message_16385_in_5_fragments": b"".join(frame(0x2 if i == 0 else 0x0, b"m" * 4096, fin=False, **m) for i in range(4))
        + frame(0x0, b"!", **m),
        "ping_flood_empty": b"".join(frame(0x9, b"", **m) for _ in range(200)),
        "ping_126_bytes": frame(0x9, b"x" * 126, **m),
        "ping_fragmented": frame(0x9, b"x", fin=False, **m),
        "reserved_opcode_3": frame(0x3, b"", **m),
        "reserved_opcode_b": frame(0xB, b"", **m),
        "rsv1_set": frame(0x1, b"deflate?", rsv=4, **m),
        "rsv3_set_on_ping": frame(0x9, b"", rsv=1, **m),
        "continuation_without_start": frame(0x0, b"orphan", **m),
        "text_inside_fragmented_message": frame(0x1, b"a", fin=False, **m) + frame(0x1, b"b", **m),
        "empty_frames": frame(0x1, b"", **m) + frame(0x2, b"", **m) + frame(0x1, b"", fin=False, **m)
        + frame(0x0, b"", **m),
        "many_1_byte_fragments": frame(0x2, b"a", fin=False, **m)
        + b"".join(frame(0x0, b"b", fin=False, **m) for _ in range(70))
        + frame(0x0, b"c", **m),
        "truncated_header": frame(0x2, b"x" * 300, **m)[:3],
        "hello_then_close": frame(0x1, b"Hello", **m) + close(1000, b"done", **m),
    }
    return s


# flags byte, then three chunk-size bytes (see rfc6455_fuzz::chunk_size)
CHUNKINGS = {
    "all": bytes([0x00, 0xFF, 0xFF, 0xFF]),
    "1byte": bytes([0x00, 0x00, 0x00, 0x00]),
    "mixed_eof": bytes([0x01, 0x02, 0x06, 0x80]),
}


def connection_seeds(role_key):
    out = {}
    for name, data in streams(role_key).items():
        out[name + "_whole"] = CHUNKINGS["all"] + data
    # A few with other chunkings and flags (eof, streaming, partial writes, sending, closing).
    picks = ["rfc_5_7_fragmented_hel_lo", "ping_flood_125_bytes", "bad_utf8_split_across_fragments",
             "close_1000_with_reason", "many_1_byte_fragments", "hello_then_close"]
    s = streams(role_key)
    for name in picks:
        out[name + "_1byte_chunks"] = CHUNKINGS["1byte"] + s[name]
        out[name + "_mixed_chunks_eof"] = CHUNKINGS["mixed_eof"] + s[name]
        out[name + "_stream_partial_writes_sending"] = bytes([0x2A, 0x05, 0x90, 0x03]) + s[name]
        out[name + "_closing_first_ping_first"] = bytes([0x51, 0x10, 0x20, 0xFF]) + s[name]
    return out


RFC_1_3_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

RFC_1_3_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)


def request_seeds():
    r = RFC_1_3_REQUEST
    reqs = {
        "rfc_1_3_request": r,
        "rfc_1_3_request_with_frame_after": r + frame(0x1, b"Hello", key=KEY),
        "rfc_4_1_key_with_trailing_bits": r.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"AQIDBAUGBwgJCgsMDQ4PEC=="),
        "extensions_offered": r.replace(
            b"\r\n\r\n",
            b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, "
            b'x-foo; a="quoted \\" value"; b=1\r\n\r\n',
        ),
        "bare_lf_line_ends": r.replace(b"\r\n", b"\n"),
        "absolute_target_with_query": r.replace(b"GET /chat", b"GET http://server.example.com/chat?room=1"),
        "http_1_0": r.replace(b"HTTP/1.1", b"HTTP/1.0"),
        "post_method": r.replace(b"GET", b"POST"),
        "version_8": r.replace(b"Version: 13", b"Version: 8"),
        "missing_key": r.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""),
        "duplicate_key": r.replace(b"Origin", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin"),
        "plain_http_get": b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "header_without_colon": b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
        "leading_blank_lines": b"\r\n\r\n" + r,
        "many_headers": b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(70)) + b"\r\n",
        "never_ending_header_line": b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 2000,
    }
    out = {}
    for name, data in reqs.items():
        out[name + "_whole"] = bytes([0x00, 0xFF, 0xFF, 0xFF]) + data
    out["rfc_1_3_request_1byte_chunks"] = bytes([0x00, 0x00, 0x00, 0x00]) + r
    out["rfc_1_3_request_small_limits"] = bytes([0xC5, 0x07, 0x03, 0x80]) + r
    out["rfc_1_3_request_limit_fits"] = bytes([0x8F, 0x10, 0x11, 0x12]) + r
    return out


def response_seeds():
    r = RFC_1_3_RESPONSE
    resps = {
        "rfc_1_3_response": r,
        "rfc_1_3_response_with_frame_after": r + frame(0x1, b"Hello"),
        "no_protocol": r.replace(b"Sec-WebSocket-Protocol: chat\r\n", b""),
        "extension_accepted": r.replace(
            b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n\r\n"
        ),
        "extension_not_offered": r.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: x-foo\r\n\r\n"),
        "protocol_not_offered": r.replace(b"chat\r\n", b"other\r\n"),
        "wrong_accept": r.replace(b"s3pPLMBi", b"s3pPLMBj"),
        "duplicate_accept": r.replace(b"Sec-WebSocket-Protocol", b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol"),
        "status_400_with_body": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nnope\n",
        "status_200": b"HTTP/1.1 200 OK\r\n\r\n",
        "http_1_0_101": r.replace(b"HTTP/1.1", b"HTTP/1.0"),
        "lowercase_headers": r.lower().replace(b"s3pplmbitxaq9kygzzhzrbk+xoo=", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "bare_lf_line_ends": r.replace(b"\r\n", b"\n"),
    }
    out = {}
    for name, data in resps.items():
        out[name + "_whole"] = bytes([0x00, 0xFF, 0xFF, 0xFF]) + data
    out["rfc_1_3_response_1byte_chunks"] = bytes([0x00, 0x00, 0x00, 0x00]) + r
    out["rfc_1_3_response_small_limits"] = bytes([0xC6, 0x03, 0x05, 0x40]) + r
    return out


def frame_header_seeds():
    return {
        "rfc_5_7_unmasked_hello": frame(0x1, b"Hello"),
        "rfc_5_7_masked_hello": frame(0x1, b"Hello", key=KEY),
        "rfc_5_7_fragment_hel": frame(0x1, b"Hel", fin=False),
        "rfc_5_7_ping": frame(0x9, b"Hello"),
        "rfc_5_7_masked_pong": frame(0xA, b"Hello", key=KEY),
        "rfc_5_7_len16_256": frame(0x2, length=256),
        "rfc_5_7_len64_65536": frame(0x2, length=65536),
        "len64_masked_max": frame(0x2, length=(1 << 63) - 1, key=KEY),
        "len64_top_bit": frame(0x2, length=1 << 63),
        "len16_nonminimal": frame(0x2, length=5, form=16),
        "len64_nonminimal": frame(0x2, length=300, form=64, key=KEY),
        "control_126": frame(0x9, length=126, form=16),
        "control_fragmented": frame(0x8, fin=False),
        "reserved_opcode": frame(0x7),
        "rsv_all": frame(0x1, b"", rsv=7),
        "partial_1_byte": b"\x81",
    }


def utf8_seeds():
    samples = {
        "kosme": "κόσμε".encode(),
        "hello_mixed": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
        "max_code_points": "\U0010FFFF\U00010000a\u07FF".encode(),
        "autobahn_6_3_1_surrogate": bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564"),
        "beyond_10ffff": b"\xf4\x90\x80\x80",
        "overlong_slash": b"\xc0\xaf",
        "truncated_euro": b"ab\xe2\x82",
        "lone_continuation": b"a\x80b",
        "fe_ff": b"\xfe\xff",
        "overlong_3_byte": b"\xe0\x80\xaf",
        "emoji_run": "😀😁😂🤣".encode(),
    }
    out = {}
    for name, data in samples.items():
        out[name + "_1byte"] = bytes([0x00, 0x00]) + data
        out[name + "_mixed"] = bytes([0x02, 0x05]) + data
    return out


def roundtrip_seeds():
    # The `arbitrary` crate reads these as an Input; any bytes are a valid input.
    return {
        "small_text_and_binary": b"\x07" * 8 + b"\x02\x00hello\x03\x01\x02\x01\x00\x05world" + b"\x10\x20\x30",
        "ascii_words": b"seed0001" + b"the quick brown fox jumps over the lazy dog " * 4,
        "utf8_mix": "κόσμε😀µ@ßöäüàá".encode() * 6,
        "bytes_ramp": bytes(range(256)),
    }


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        # .gitignore drops libFuzzer's hash-named files, `/fuzz/corpus/*/[0-9a-f]*`: a seed whose
        # name starts with a hex digit (bad_utf8..., close_...) would be silently left out.
        if name[0] in "0123456789abcdef":
            name = "seed_" + name
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(data)


def main():
    write("connection_server", connection_seeds(KEY))
    write("connection_client", connection_seeds(None))
    write("handshake_request", request_seeds())
    write("handshake_response", response_seeds())
    write("frame_header", frame_header_seeds())
    write("utf8", utf8_seeds())
    write("roundtrip", roundtrip_seeds())


if __name__ == "__main__":
    main()
