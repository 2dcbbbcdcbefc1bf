//! Masking (RFC 6455 §5.3) beside `memcpy` of the same size, the physical limit of a pass over
//! the payload, and beside the byte-at-a-time definition.
//!
//! `client_send/rfc6455/SIZE`: a client's whole path for one binary message of SIZE bytes
//! (`Connection::send`, then `data_to_send` and `mark_sent` until drained): the payload is copied
//! into the outgoing queue and masked, beside `client_send/memcpy/SIZE`, one copy of it.
//!
//! `mask/apply_mask_at_8/SIZE` masks a payload that starts 8 bytes into its allocation, as one
//! read with its frame header does.
//!
//! `cargo bench --bench mask`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rfc6455::frame::{apply_mask, apply_mask_naive};
use rfc6455::{Config, Connection, Message, Role};

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
        // Where a payload sits in a receive buffer: after a client's 8-byte header (2 + 2 + 4
        // for 126..=65535 bytes), so 8 bytes past the allocation's alignment.
        let mut framed = vec![0x5au8; size + 8];
        group.bench_with_input(BenchmarkId::new("apply_mask_at_8", name), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut framed[8..]), key, 0));
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

fn client_send(c: &mut Criterion) {
    let mut group = c.benchmark_group("client_send");
    for (size, name) in [SIZES[1], SIZES[2], SIZES[3]] {
        group.throughput(Throughput::Bytes(size as u64));
        let message = Message::binary(vec![0x5au8; size]);
        let mut client = Connection::new(Role::Client, Config::default());
        group.bench_with_input(BenchmarkId::new("rfc6455", name), &size, |b, _| {
            b.iter(|| {
                client.send(black_box(&message)).unwrap();
                loop {
                    let n = black_box(client.data_to_send()).len();
                    if n == 0 {
                        break;
                    }
                    client.mark_sent(n);
                }
            });
        });
        let src = vec![0xa5u8; size];
        let mut dst = Vec::with_capacity(size + 14);
        group.bench_with_input(BenchmarkId::new("memcpy", name), &size, |b, _| {
            b.iter(|| {
                dst.clear();
                dst.extend_from_slice(black_box(&src));
                black_box(&dst);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, mask, client_send);
criterion_main!(benches);
