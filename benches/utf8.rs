//! UTF-8 validation of text payloads (RFC 6455 §8.1): ours beside `core::str::from_utf8`
//! (what tungstenite uses) and `simdutf8` (what fastwebsockets and tokio-websockets use:
//! `basic` for whole frames, `compat` where they need the error position, across fragments).
//!
//! Names are `utf8/IMPL/TEXT-SIZE`, TEXT one of `ascii`, `cjk` (3-byte sequences), `emoji`
//! (4-byte emoji between ASCII and 2-byte Latin), SIZE one of `14B`, `1KiB`, `64KiB`.
//! `rfc6455-64pieces` feeds the payload to `Utf8Validator` in 64 pieces, as a message that came
//! in 64 fragments would be.
//!
//! `cargo bench --bench utf8`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rfc6455::utf8::{validate, Utf8Validator};

const TEXTS: [(&str, &str); 3] = [
    (
        "ascii",
        "The quick brown fox jumps over the lazy dog; WebSocket text frames are mostly ASCII. ",
    ),
    (
        "cjk",
        "敏捷的棕色狐狸跳过了懒狗。ウェブソケットのテキストフレームを検証します。",
    ),
    (
        "emoji",
        "chat 😀 message 🎉 with ünïcödé 👍🏽 and 🚀 rockets, café ☕ naïve 🙂 ",
    ),
];

const SIZES: [(usize, &str); 3] = [(14, "14B"), (1 << 10, "1KiB"), (64 << 10, "64KiB")];

/// `sample` repeated to at most `len` bytes, cut at a character boundary.
fn payload(sample: &str, len: usize) -> Vec<u8> {
    let mut s = String::with_capacity(len + sample.len());
    while s.len() < len {
        s.push_str(sample);
    }
    let mut end = len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.into_bytes()
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for (text, sample) in TEXTS {
        for (size, size_name) in SIZES {
            let data = payload(sample, size);
            let param = format!("{text}-{size_name}");
            group.throughput(Throughput::Bytes(data.len() as u64));
            group.bench_with_input(BenchmarkId::new("rfc6455", &param), &data, |b, d| {
                b.iter(|| validate(black_box(d)).is_ok());
            });
            group.bench_with_input(BenchmarkId::new("std", &param), &data, |b, d| {
                b.iter(|| core::str::from_utf8(black_box(d)).is_ok());
            });
            group.bench_with_input(BenchmarkId::new("simdutf8-basic", &param), &data, |b, d| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(d)).is_ok());
            });
            group.bench_with_input(
                BenchmarkId::new("simdutf8-compat", &param),
                &data,
                |b, d| {
                    b.iter(|| simdutf8::compat::from_utf8(black_box(d)).is_ok());
                },
            );
            if size >= 1 << 10 {
                let piece = data.len().div_ceil(64);
                group.bench_with_input(
                    BenchmarkId::new("rfc6455-64pieces", &param),
                    &data,
                    |b, d| {
                        b.iter(|| {
                            let mut v = Utf8Validator::new();
                            for chunk in black_box(d).chunks(piece) {
                                if v.feed(chunk).is_err() {
                                    return false;
                                }
                            }
                            v.finish().is_ok()
                        });
                    },
                );
            }
        }
    }
    group.finish();
}

criterion_group!(benches, utf8);
criterion_main!(benches);
