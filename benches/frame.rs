//! Frame header decode and encode (RFC 6455 §5.2), ours beside the peers that expose the same
//! operation: tungstenite (`FrameHeader::parse` / `FrameHeader::format`) and fastwebsockets
//! (`Frame::fmt_head`, encode only). tokio-websockets keeps its frame codec private.
//!
//! Names are `frame_decode/IMPL/CASE` and `frame_encode/IMPL/CASE`, where CASE is
//! - `masked7`: a client frame with a 14-byte payload (2-byte header + mask),
//! - `masked16`: a client frame of 1000 bytes (16-bit length),
//! - `masked64`: a client frame of 1 MiB (64-bit length),
//! - `unmasked7`: a server frame of 14 bytes,
//! - `mixed64`: 64 headers of all of the above back to back, decoded in sequence (throughput is
//!   per header).
//!
//! `cargo bench --bench frame`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::io::Cursor;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rfc6455::{FrameHeader, Opcode, Status};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// (name, opcode, masked, payload length)
const CASES: [(&str, Opcode, bool, u64); 4] = [
    ("masked7", Opcode::Text, true, 14),
    ("masked16", Opcode::Binary, true, 1000),
    ("masked64", Opcode::Binary, true, 1 << 20),
    ("unmasked7", Opcode::Text, false, 14),
];

fn ours(opcode: Opcode, masked: bool, len: u64) -> FrameHeader {
    FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: masked.then_some(KEY),
        payload_len: len,
    }
}

fn encoded(opcode: Opcode, masked: bool, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ours(opcode, masked, len).encode_to_vec(&mut out);
    out
}

fn tungstenite_header(opcode: Opcode, masked: bool) -> tungstenite::protocol::frame::FrameHeader {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let opcode = match opcode {
        Opcode::Text => OpCode::Data(Data::Text),
        _ => OpCode::Data(Data::Binary),
    };
    tungstenite::protocol::frame::FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: masked.then_some(KEY),
    }
}

/// 64 headers, cycling through the cases.
fn mixed() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..64 {
        let (_, opcode, masked, len) = CASES[i % CASES.len()];
        ours(opcode, masked, len).encode_to_vec(&mut out);
    }
    out
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_decode");
    for (name, opcode, masked, len) in CASES {
        let bytes = encoded(opcode, masked, len);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("rfc6455", name), &bytes, |b, bytes| {
            b.iter(|| FrameHeader::decode(black_box(bytes)));
        });
        group.bench_with_input(BenchmarkId::new("tungstenite", name), &bytes, |b, bytes| {
            b.iter(|| {
                let mut cursor = Cursor::new(black_box(bytes.as_slice()));
                tungstenite::protocol::frame::FrameHeader::parse(&mut cursor)
            });
        });
    }
    let stream = mixed();
    group.throughput(Throughput::Elements(64));
    group.bench_with_input(BenchmarkId::new("rfc6455", "mixed64"), &stream, |b, s| {
        b.iter(|| {
            let mut pos = 0;
            let mut total = 0u64;
            while pos < s.len() {
                match FrameHeader::decode(black_box(&s[pos..])) {
                    Ok(Status::Complete((h, n))) => {
                        total += h.payload_len;
                        pos += n;
                    }
                    _ => unreachable!("the stream holds complete, valid headers"),
                }
            }
            total
        });
    });
    group.bench_with_input(
        BenchmarkId::new("tungstenite", "mixed64"),
        &stream,
        |b, s| {
            b.iter(|| {
                let mut cursor = Cursor::new(black_box(s.as_slice()));
                let mut total = 0u64;
                while (cursor.position() as usize) < s.len() {
                    match tungstenite::protocol::frame::FrameHeader::parse(&mut cursor) {
                        Ok(Some((_, len))) => total += len,
                        _ => unreachable!("the stream holds complete, valid headers"),
                    }
                }
                total
            });
        },
    );
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_encode");
    group.throughput(Throughput::Elements(1));
    // fastwebsockets encodes the header of a `Frame` that holds its payload.
    let payload = vec![b'a'; 1 << 20];
    for (name, opcode, masked, len) in CASES {
        let header = ours(opcode, masked, len);
        group.bench_with_input(BenchmarkId::new("rfc6455", name), &header, |b, h| {
            let mut buf = [0u8; FrameHeader::MAX_LEN];
            b.iter(|| {
                let n = black_box(h).encode(&mut buf).unwrap_or(0);
                black_box(&buf[..n]);
            });
        });
        let theader = tungstenite_header(opcode, masked);
        group.bench_with_input(BenchmarkId::new("tungstenite", name), &theader, |b, h| {
            let mut buf = [0u8; 14];
            b.iter(|| {
                let mut out: &mut [u8] = &mut buf;
                black_box(h).format(black_box(len), &mut out).unwrap();
                let n = 14 - out.len();
                black_box(&buf[..n]);
            });
        });
        let fopcode = match opcode {
            Opcode::Text => fastwebsockets::OpCode::Text,
            _ => fastwebsockets::OpCode::Binary,
        };
        let body = &payload[..len as usize];
        group.bench_function(BenchmarkId::new("fastwebsockets", name), |b| {
            let mut frame = fastwebsockets::Frame::new(
                true,
                fopcode,
                masked.then_some(KEY),
                fastwebsockets::Payload::Borrowed(body),
            );
            let mut buf = [0u8; 16];
            b.iter(|| {
                let n = black_box(&mut frame).fmt_head(&mut buf);
                black_box(&buf[..n]);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
