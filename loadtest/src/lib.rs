//! Shared pieces of the load test: the echo servers' command line, process measurements
//! (`/proc/PID/stat`, `VmRSS`, `getrusage`), and a latency histogram.
//!
//! Binaries:
//! - `loadgen`: the load generator (raw TCP, builds its own masked client frames);
//! - `runner`: starts each echo server, runs every scenario against each, prints the table;
//! - `echo-fastwebsockets`, `echo-tokio-websockets`, `echo-tokio-tungstenite`,
//!   `echo-tungstenite`: the peers' echo servers, configured like ours (`examples/echo_server.rs`
//!   of the root crate): current-thread tokio runtime (threads for tungstenite), `TCP_NODELAY`,
//!   `ADDR` (or a port) from argv, `listening on ADDR` on stdout once bound.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// Parses an echo server's command line: one argument, `ADDR` (`127.0.0.1:9001`, port 0 for any)
/// or a bare port (bound on 127.0.0.1). Exits with a usage message otherwise.
pub fn listen_addr_from_args(program: &str) -> SocketAddr {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [a] => a.parse::<SocketAddr>().ok().or_else(|| {
            a.parse::<u16>()
                .ok()
                .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        }),
        _ => None,
    };
    match parsed {
        Some(addr) => addr,
        None => {
            eprintln!("usage: {program} ADDR|PORT");
            std::process::exit(2);
        }
    }
}

/// Binds `addr` and prints `listening on ADDR` (the bound address) on stdout.
pub fn bind_and_announce(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {local}")?;
    out.flush()?;
    Ok(listener)
}

/// A current-thread tokio runtime with I/O and timers, as the servers use.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// CPU time (user + system) this process has used so far, all threads, from `getrusage`.
pub fn self_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer we pass, which points to enough
    // zeroed, writable memory for one; RUSAGE_SELF is a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and it was zeroed before anyway).
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// CPU time (utime + stime, all threads) of process `pid`, from `/proc/PID/stat`. Resolution is
/// one clock tick (10 ms on Linux).
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = clock_ticks_per_second();
    Some(Duration::from_micros((utime + stime) * 1_000_000 / ticks))
}

/// Resident memory of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn process_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Raises the soft limit on open files to the hard limit (children inherit it): 1000 idle
/// connections need more than the usual 1024 descriptors between generator and server.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read or write one `rlimit` through a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A latency histogram in nanoseconds with about 3% precision: exact below 32 ns, then 32
/// sub-buckets per power of two.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * SUB) as usize;

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let e = 63 - u64::from(v.leading_zeros()); // >= SUB_BITS
        let mantissa = (v >> (e - u64::from(SUB_BITS))) & (SUB - 1);
        (SUB + (e - u64::from(SUB_BITS)) * SUB + mantissa) as usize
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let e = (i - SUB) / SUB + u64::from(SUB_BITS);
        let mantissa = (i - SUB) % SUB;
        let low = (SUB + mantissa) << (e - u64::from(SUB_BITS));
        let width = 1u64 << (e - u64::from(SUB_BITS));
        low + width / 2
    }

    /// Records one value (nanoseconds).
    pub fn record(&mut self, nanos: u64) {
        self.counts[Self::index(nanos)] += 1;
        self.total += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0.0 to 1.0), in nanoseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i);
            }
        }
        Self::value(BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_few_percent() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [(0.5, 50_000_000f64), (0.99, 99_000_000f64)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.04, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn histogram_buckets_cover_the_whole_u64_range() {
        let mut h = Histogram::new();
        h.record(u64::MAX);
        h.record(0);
        assert_eq!(h.quantile(0.0), 0);
        assert!(h.quantile(1.0) > u64::MAX / 2);
    }

    #[test]
    fn proc_readers_see_this_process() {
        let pid = std::process::id();
        assert!(process_rss_kib(pid).unwrap() > 0);
        assert!(process_cpu_time(pid).is_some());
    }
}
