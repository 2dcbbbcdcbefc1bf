//! Memory per connection of permessage-deflate state, measured with a counting global allocator.
//!
//! Prints a table (`cargo test --all-features --test deflate_memory -- --nocapture`) and checks the bounds that
//! the `deflate` module documents.
#![cfg(feature = "deflate")]
// A global allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System` and counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rfc6455::deflate::{DeflateCodec, DeflateConfig, Negotiated};
use rfc6455::Role;

/// Counts the bytes live on the current thread (tests run on several threads at once).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(layout: Layout) -> isize {
    isize::try_from(layout.size()).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the `GlobalAlloc` contract; the counters
// are plain thread-local cells with const initialisers, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(size(layout));
        // SAFETY: same layout as given to us.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(size(layout));
        // SAFETY: same layout as given to us.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-size(layout));
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(isize::try_from(new_size).unwrap_or(isize::MAX) - size(layout));
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Bytes held by `value` once `work` ran on it, excluding what `work` freed again.
fn held<T>(make: impl FnOnce() -> T, work: impl FnOnce(&mut T)) -> (isize, T) {
    let before = live();
    let mut value = make();
    work(&mut value);
    (live() - before, value)
}

fn negotiated(bits: u8) -> Negotiated {
    let mut n = Negotiated::default();
    n.server_max_window_bits = bits;
    n.client_max_window_bits = bits;
    n
}

/// A 64 KiB JSON-like message.
fn message() -> Vec<u8> {
    (0..)
        .flat_map(|i: u32| {
            format!(
                "{{\"id\":{i},\"name\":\"item {}\",\"ok\":true}},",
                i * 7919 % 1000
            )
            .into_bytes()
        })
        .take(64 << 10)
        .collect()
}

struct Row {
    bits: u8,
    compressor: isize,
    decompressor: isize,
    idle: isize,
}

fn measure(bits: u8) -> Row {
    let config = DeflateConfig::default();
    let message = message();
    let (idle, _) = held(
        || DeflateCodec::new(negotiated(bits), Role::Server, &config),
        |_| {},
    );

    // The output buffers belong to the connection, not to the codec: their growth is not counted.
    let capacity = |buffers: &[Vec<u8>]| -> isize {
        buffers
            .iter()
            .map(|b| isize::try_from(b.capacity()).unwrap())
            .sum()
    };
    let mut wires = vec![Vec::new(), Vec::new()];
    let (compressor, _sender) = held(
        || DeflateCodec::new(negotiated(bits), Role::Server, &config),
        |codec| {
            for wire in &mut wires {
                codec.compress(&message, wire);
            }
        },
    );
    let compressor = compressor - capacity(&wires);
    let mut out = vec![Vec::new()];
    let (decompressor, _receiver) = held(
        || DeflateCodec::new(negotiated(bits), Role::Client, &config),
        |codec| {
            for wire in &wires {
                codec
                    .decompress(wire, true, &mut out[0], usize::MAX)
                    .unwrap();
            }
        },
    );
    let decompressor = decompressor - capacity(&out);
    assert_eq!(out[0].len(), 2 * message.len());
    Row {
        bits,
        compressor,
        decompressor,
        idle,
    }
}

#[test]
fn memory_per_codec_is_bounded_and_documented() {
    let rows: Vec<Row> = [15, 12, 9, 8].into_iter().map(measure).collect();
    println!("window bits | compressor | decompressor | idle codec (bytes)");
    for row in &rows {
        println!(
            "{:>11} | {:>10} | {:>12} | {:>4}",
            row.bits, row.compressor, row.decompressor, row.idle
        );
    }
    // A window of 8 bits is sent uncompressed, as stored blocks: no compressor at all.
    assert_eq!(rows[3].compressor, 0);
    for row in &rows {
        // Nothing is allocated before the first compressed message.
        assert_eq!(row.idle, 0, "window bits {}", row.bits);
        assert!(
            row.compressor <= 400 << 10,
            "window bits {}: {}",
            row.bits,
            row.compressor
        );
        assert!(
            row.decompressor <= 64 << 10,
            "window bits {}: {}",
            row.bits,
            row.decompressor
        );
    }
    // A smaller window shrinks the compressor (its window and chain table), not the decompressor: zlib-rs
    // allocates a 32 KiB inflate window whatever the window bits.
    assert!(rows[2].compressor + (100 << 10) < rows[0].compressor);
}
