//! Masking (RFC 6455 §5.3) beside `memcpy` of the same size, the physical limit of a pass over
//! the payload, and beside the byte-at-a-time definition.
//!
//! `cargo bench --bench mask`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rfc6455::frame::{apply_mask, apply_mask_naive};

const SIZES: [(usize, &str); 5] = [
    (16, "16B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (16 << 20, "16MiB"),
];

fn mask(c: &mut Criterion) {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut group = c.benchmark_group("mask");
    for (size, name) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        if size >= 16 << 20 {
            group.sample_size(10);
        }
        let mut buf = vec![0x5au8; size];
        group.bench_with_input(BenchmarkId::new("apply_mask", name), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), key, 0));
        });
        let src = vec![0xa5u8; size];
        let mut dst = vec![0u8; size];
        group.bench_with_input(BenchmarkId::new("memcpy", name), &size, |b, _| {
            b.iter(|| dst.copy_from_slice(black_box(&src)));
        });
        if size <= 64 << 10 {
            group.bench_with_input(BenchmarkId::new("naive", name), &size, |b, _| {
                b.iter(|| apply_mask_naive(black_box(&mut buf), key, 0));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, mask);
criterion_main!(benches);
