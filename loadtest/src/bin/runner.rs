//! The runner: starts each echo server, runs the same scenarios against each with `loadgen`, in
//! one run, interleaved over several rounds, and prints a markdown table of the medians with the
//! ratio of ours to the best peer.
//!
//! ```text
//! runner --loadgen PATH --server NAME=COMMAND [--server NAME=COMMAND ...] [--ours NAME]
//!        [--out FILE] [--log-dir DIR]
//! ```
//!
//! Each COMMAND is split on spaces and run with `127.0.0.1:0` appended; the server must print
//! `listening on ADDR`. A fresh server process serves each (scenario, server, round), so that one
//! run cannot leave state behind for the next, and idle memory is measured from a clean start.
//! Servers whose NAME starts with `rfc6455` are ours; `--ours` (default `rfc6455`) is the one
//! compared with the best peer, and with the best peer that, like it, serves all connections
//! from one thread (every peer but `tungstenite`, which runs a thread per connection);
//! `rfc6455-blocking` is compared with `tungstenite`.
//!
//! Environment: `ROUNDS` (default 3), `DURATION` seconds per scenario (default 5), `SMOKE=1`
//! (defaults become 1 round of 0.5 s), `SCENARIOS` and `SERVERS` (comma-separated subsets),
//! `IDLE_CONNS` (default 1000), `GEN_THREADS` (load generator threads, default 1),
//! `LOADTEST_LABEL` (a line printed above the table: machine, commit).
//!
//! Exits 1 if any run failed (the table shows `ERR` there).
//!
//! Every run's results go to `LOG_DIR/runs.csv`; `runner --from-csv runs.csv` prints the table of
//! an earlier run again (for example after adding a row) without measuring anything.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rfc6455_loadtest::{process_rss_kib, raise_open_files_limit};

/// Servers that serve each connection from its own thread (the others run on one thread, as our
/// `rfc6455` server does): the table also compares ours, when it is one of the others, with the
/// best peer among the others.
const THREAD_PER_CONNECTION: &[&str] = &["tungstenite", "rfc6455-blocking"];

struct Server {
    name: String,
    program: String,
    args: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Load,
    Idle,
}

struct Scenario {
    id: &'static str,
    kind: Kind,
    args: &'static [&'static str],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "small-binary",
        kind: Kind::Load,
        args: &["--conns", "100", "--depth", "16", "--size", "16"],
    },
    Scenario {
        id: "small-text",
        kind: Kind::Load,
        args: &["--conns", "100", "--depth", "16", "--size", "16", "--text"],
    },
    Scenario {
        id: "small-frag64",
        kind: Kind::Load,
        args: &[
            "--conns", "100", "--depth", "16", "--size", "1024", "--frags", "64",
        ],
    },
    Scenario {
        id: "64KiB",
        kind: Kind::Load,
        args: &["--conns", "10", "--depth", "4", "--size", "65536"],
    },
    Scenario {
        id: "1MiB",
        kind: Kind::Load,
        args: &["--conns", "4", "--depth", "1", "--size", "1048576"],
    },
    Scenario {
        id: "latency",
        kind: Kind::Load,
        args: &["--conns", "1", "--depth", "1", "--size", "16"],
    },
    Scenario {
        id: "handshake",
        kind: Kind::Load,
        args: &["--mode", "handshake", "--conns", "32"],
    },
    Scenario {
        id: "idle",
        kind: Kind::Idle,
        args: &[],
    },
];

/// A row of the table: which scenario, which result key, which way is better.
struct Row {
    label: &'static str,
    scenario: &'static str,
    key: &'static str,
    higher_is_better: bool,
}

const ROWS: &[Row] = &[
    Row {
        label: "100 conns x 16 in flight, 16 B binary, msgs/s",
        scenario: "small-binary",
        key: "msgs_per_s",
        higher_is_better: true,
    },
    Row {
        label: "100 conns x 16 in flight, 16 B text, msgs/s",
        scenario: "small-text",
        key: "msgs_per_s",
        higher_is_better: true,
    },
    Row {
        label: "100 conns x 16 in flight, 1 KiB in 64 frames of 16 B, msgs/s",
        scenario: "small-frag64",
        key: "msgs_per_s",
        higher_is_better: true,
    },
    Row {
        label: "10 conns x 4 in flight, 64 KiB binary, msgs/s",
        scenario: "64KiB",
        key: "msgs_per_s",
        higher_is_better: true,
    },
    Row {
        label: "4 conns x 1 in flight, 1 MiB binary, msgs/s",
        scenario: "1MiB",
        key: "msgs_per_s",
        higher_is_better: true,
    },
    Row {
        label: "server CPU per message, 16 B binary, us",
        scenario: "small-binary",
        key: "server_cpu_us_per_op",
        higher_is_better: false,
    },
    Row {
        label: "server CPU per message, 16 B text, us",
        scenario: "small-text",
        key: "server_cpu_us_per_op",
        higher_is_better: false,
    },
    Row {
        label: "server CPU per message, 1 KiB in 64 frames, us",
        scenario: "small-frag64",
        key: "server_cpu_us_per_op",
        higher_is_better: false,
    },
    Row {
        label: "server CPU per message, 64 KiB, us",
        scenario: "64KiB",
        key: "server_cpu_us_per_op",
        higher_is_better: false,
    },
    Row {
        label: "server CPU per message, 1 MiB, us",
        scenario: "1MiB",
        key: "server_cpu_us_per_op",
        higher_is_better: false,
    },
    Row {
        label: "1 conn x 1 in flight, 16 B: p50 latency, us",
        scenario: "latency",
        key: "p50_us",
        higher_is_better: false,
    },
    Row {
        label: "1 conn x 1 in flight, 16 B: p99 latency, us",
        scenario: "latency",
        key: "p99_us",
        higher_is_better: false,
    },
    Row {
        label: "handshakes/s (32 concurrent, with closing handshake)",
        scenario: "handshake",
        key: "handshakes_per_s",
        higher_is_better: true,
    },
    Row {
        label: "server CPU per handshake, us",
        scenario: "handshake",
        key: "server_cpu_us_per_op",
        higher_is_better: false,
    },
    Row {
        label: "resident memory per idle connection, KiB",
        scenario: "idle",
        key: "kib_per_conn",
        higher_is_better: false,
    },
];

fn usage() -> ! {
    eprintln!(
        "usage: runner --loadgen PATH --server NAME=COMMAND [--server NAME=COMMAND ...] \
         [--ours NAME] [--out FILE] [--log-dir DIR]\n       runner --from-csv RUNS.CSV [--ours NAME] [--out FILE]"
    );
    std::process::exit(2)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().unwrap_or_else(|_| {
            eprintln!("runner: bad {name}={v}");
            std::process::exit(2)
        }),
        _ => default,
    }
}

fn subset(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
}

/// A running echo server.
struct Running {
    child: Child,
    addr: String,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(server: &Server, log: &File) -> Result<Running, String> {
    let mut child = Command::new(&server.program)
        .args(&server.args)
        .arg("127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log.try_clone().map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", server.program))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more; keep draining so that the server never blocks.
                continue;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut running = Running {
        child,
        addr: String::new(),
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    running.addr = addr.trim().to_owned();
                    return Ok(running);
                }
            }
            Err(_) => return Err(format!("{} did not print `listening on ADDR`", server.name)),
        }
    }
}

fn parse_result(stdout: &str) -> Option<BTreeMap<String, f64>> {
    let line = stdout.lines().find(|l| l.starts_with("RESULT "))?;
    Some(
        line.split_whitespace()
            .skip(1)
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect(),
    )
}

struct Settings {
    loadgen: PathBuf,
    duration: f64,
    idle_conns: usize,
    gen_threads: usize,
}

fn run_load(
    s: &Settings,
    scenario: &Scenario,
    server: &Running,
) -> Result<BTreeMap<String, f64>, String> {
    let output = Command::new(&s.loadgen)
        .arg(&server.addr)
        .args(scenario.args)
        .args(["--duration", &s.duration.to_string()])
        .args(["--threads", &s.gen_threads.to_string()])
        .args(["--server-pid", &server.pid().to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run loadgen: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "loadgen failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    parse_result(&stdout).ok_or_else(|| format!("no RESULT line from loadgen: {stdout}"))
}

fn run_idle(s: &Settings, server: &Running) -> Result<BTreeMap<String, f64>, String> {
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.pid();
    let before = process_rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    let mut gen = Command::new(&s.loadgen)
        .arg(&server.addr)
        .args(["--mode", "idle", "--conns", &s.idle_conns.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run loadgen: {e}"))?;
    let mut lines = BufReader::new(gen.stdout.take().expect("piped stdout")).lines();
    let ready = lines.next().and_then(Result::ok).unwrap_or_default();
    if !ready.starts_with("READY") {
        let _ = gen.kill();
        let out = gen.wait_with_output().map_err(|e| e.to_string())?;
        return Err(format!(
            "loadgen idle failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = process_rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    drop(gen.stdin.take()); // EOF: close the connections
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = gen.wait().map_err(|e| e.to_string())?;
    if !status.success() || !rest.iter().any(|l| l.starts_with("RESULT")) {
        return Err(format!("loadgen idle failed ({status})"));
    }
    let per_conn = (after as f64 - before as f64) / s.idle_conns as f64;
    let mut result = BTreeMap::new();
    result.insert("rss_before_kib".to_owned(), before as f64);
    result.insert("rss_after_kib".to_owned(), after as f64);
    result.insert("kib_per_conn".to_owned(), per_conn);
    Ok(result)
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

fn fmt_value(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

type Results = BTreeMap<(String, String), Vec<BTreeMap<String, f64>>>;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut loadgen = None;
    let mut servers = Vec::new();
    let mut ours = "rfc6455".to_owned();
    let mut out_file = None;
    let mut log_dir = PathBuf::from("target/loadtest");
    let mut from_csv = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--loadgen" => loadgen = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            "--server" => {
                let spec = args.next().unwrap_or_else(|| usage());
                let (name, cmd) = spec.split_once('=').unwrap_or_else(|| usage());
                let mut words = cmd.split_whitespace().map(str::to_owned);
                let program = words.next().unwrap_or_else(|| usage());
                servers.push(Server {
                    name: name.to_owned(),
                    program,
                    args: words.collect(),
                });
            }
            "--ours" => ours = args.next().unwrap_or_else(|| usage()),
            "--out" => out_file = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            "--log-dir" => log_dir = PathBuf::from(args.next().unwrap_or_else(|| usage())),
            "--from-csv" => from_csv = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            _ => usage(),
        }
    }
    if let Some(csv) = from_csv {
        rerender(&csv, &ours, out_file.as_deref());
        return;
    }
    let loadgen = loadgen.unwrap_or_else(|| usage());
    if let Some(only) = subset("SERVERS") {
        servers.retain(|s| only.contains(&s.name));
    }
    if servers.is_empty() {
        usage();
    }
    let scenarios: Vec<&Scenario> = match subset("SCENARIOS") {
        Some(only) => SCENARIOS
            .iter()
            .filter(|s| only.iter().any(|o| o == s.id))
            .collect(),
        None => SCENARIOS.iter().collect(),
    };
    let smoke = env_or("SMOKE", 0u8) != 0;
    let rounds: usize = env_or("ROUNDS", if smoke { 1 } else { 3 });
    let settings = Settings {
        loadgen,
        duration: env_or("DURATION", if smoke { 0.5 } else { 5.0 }),
        idle_conns: env_or("IDLE_CONNS", 1000),
        gen_threads: env_or("GEN_THREADS", 1),
    };
    raise_open_files_limit();
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let log = File::create(log_dir.join("servers.log")).expect("server log");
    let mut csv = File::create(log_dir.join("runs.csv")).expect("runs.csv");
    let _ = writeln!(csv, "round,scenario,server,key,value");

    let mut results: Results = BTreeMap::new();
    let mut failures = Vec::new();
    let started = Instant::now();
    for round in 0..rounds {
        for scenario in &scenarios {
            for k in 0..servers.len() {
                // Rotate the order every round so that no server always runs first or last.
                let server = &servers[(k + round) % servers.len()];
                let outcome = start(server, &log).and_then(|running| {
                    let r = match scenario.kind {
                        Kind::Load => run_load(&settings, scenario, &running),
                        Kind::Idle => run_idle(&settings, &running),
                    };
                    let mut running = running;
                    match running.child.try_wait() {
                        Ok(Some(status)) => Err(format!("server exited during the run ({status})")),
                        _ => r,
                    }
                });
                let key = (scenario.id.to_owned(), server.name.clone());
                match outcome {
                    Ok(r) => {
                        let summary: Vec<String> = [
                            "msgs_per_s",
                            "handshakes_per_s",
                            "p99_us",
                            "kib_per_conn",
                            "gen_cpu",
                            "server_cpu",
                        ]
                        .iter()
                        .filter_map(|k| r.get(*k).map(|v| format!("{k}={}", fmt_value(*v))))
                        .collect();
                        eprintln!(
                            "[{:>4}s] round {}/{rounds} {:<13} {:<18} {}",
                            started.elapsed().as_secs(),
                            round + 1,
                            scenario.id,
                            server.name,
                            summary.join(" ")
                        );
                        for (k, v) in &r {
                            let _ = writeln!(
                                csv,
                                "{},{},{},{k},{v}",
                                round + 1,
                                scenario.id,
                                server.name
                            );
                        }
                        results.entry(key).or_default().push(r);
                    }
                    Err(e) => {
                        eprintln!(
                            "round {} {} {}: ERROR {e}",
                            round + 1,
                            scenario.id,
                            server.name
                        );
                        failures.push(format!(
                            "round {} {} {}: {e}",
                            round + 1,
                            scenario.id,
                            server.name
                        ));
                        results.entry(key).or_default();
                    }
                }
            }
        }
    }

    let table = render(&results, &servers, &scenarios, &ours, rounds, &settings);
    println!("{table}");
    if let Some(path) = out_file {
        if let Err(e) = std::fs::write(&path, &table) {
            eprintln!("runner: cannot write {}: {e}", path.display());
        }
    }
    if !failures.is_empty() {
        eprintln!("runner: {} run(s) failed:", failures.len());
        for f in &failures {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}

fn render(
    results: &Results,
    servers: &[Server],
    scenarios: &[&Scenario],
    ours: &str,
    rounds: usize,
    s: &Settings,
) -> String {
    let mut t = String::new();
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    let peers: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !n.starts_with("rfc6455"))
        .collect();
    if let Ok(label) = std::env::var("LOADTEST_LABEL") {
        t.push_str(&format!("{label}\n\n"));
    }
    t.push_str(&format!(
        "Medians of {rounds} round(s), {}s per scenario, {} idle connections, {} generator thread(s).\n\n",
        s.duration, s.idle_conns, s.gen_threads
    ));
    // Like for like: our blocking adapter against the thread-per-connection peer.
    let threads_pair = (
        names.iter().copied().find(|n| *n == "rfc6455-blocking"),
        names.iter().copied().find(|n| *n == "tungstenite"),
    );
    // Like for like: ours against the peers that, like it, serve every connection from one
    // thread (a current-thread tokio runtime), not a thread per connection.
    let async_peers: Vec<&str> = peers
        .iter()
        .copied()
        .filter(|p| !THREAD_PER_CONNECTION.contains(p))
        .collect();
    let async_header = if THREAD_PER_CONNECTION.contains(&ours)
        || async_peers.is_empty()
        || async_peers.len() == peers.len()
    {
        String::new()
    } else {
        format!(" {ours} / best async peer |")
    };
    let pair_header = match threads_pair {
        (Some(a), Some(b)) => format!(" {a} / {b} |"),
        _ => String::new(),
    };
    t.push_str(&format!(
        "| scenario | {} | {ours} / best peer |{async_header}{pair_header}\n",
        names.join(" | ")
    ));
    t.push_str(&format!(
        "|---|{}---:|{}{}\n",
        "---:|".repeat(names.len()),
        if async_header.is_empty() { "" } else { "---:|" },
        if pair_header.is_empty() { "" } else { "---:|" }
    ));
    let value = |scenario: &str, server: &str, key: &str| -> Option<f64> {
        let runs = results.get(&(scenario.to_owned(), server.to_owned()))?;
        let mut v: Vec<f64> = runs.iter().filter_map(|r| r.get(key).copied()).collect();
        median(&mut v)
    };
    for row in ROWS {
        if !scenarios.iter().any(|s| s.id == row.scenario) {
            continue;
        }
        let arrow = if row.higher_is_better { "↑" } else { "↓" };
        let cells: Vec<String> = names
            .iter()
            .map(|n| {
                if results.contains_key(&(row.scenario.to_owned(), (*n).to_owned())) {
                    value(row.scenario, n, row.key).map_or("ERR".to_owned(), fmt_value)
                } else {
                    "-".to_owned()
                }
            })
            .collect();
        let best_of = |servers: &[&str]| {
            servers
                .iter()
                .filter_map(|p| value(row.scenario, p, row.key))
                .reduce(|a, b| {
                    if (a > b) == row.higher_is_better {
                        a
                    } else {
                        b
                    }
                })
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => format!("{:.2}x", a / b),
            _ => "-".to_owned(),
        };
        let ours_value = value(row.scenario, ours, row.key);
        let against_async = if async_header.is_empty() {
            String::new()
        } else {
            format!(" {} |", ratio(ours_value, best_of(&async_peers)))
        };
        let pair = match threads_pair {
            (Some(a), Some(b)) => format!(
                " {} |",
                ratio(
                    value(row.scenario, a, row.key),
                    value(row.scenario, b, row.key)
                )
            ),
            _ => String::new(),
        };
        t.push_str(&format!(
            "| {} {arrow} | {} | {} |{against_async}{pair}\n",
            row.label,
            cells.join(" | "),
            ratio(ours_value, best_of(&peers))
        ));
    }
    t.push_str(&format!(
        "\n↑ higher is better (ratio > 1 means ours wins), ↓ lower is better (ratio < 1 means ours wins).\n\n\
         CPU in the measured window, in cores (1.00 = one core busy): server / load generator. A \
         generator near 1.00 means it, not the server, set the pace.\n\n| scenario | {} |\n|---|{}\n",
        names.join(" | "),
        "---:|".repeat(names.len())
    ));
    for scenario in scenarios.iter().filter(|s| s.kind == Kind::Load) {
        let cells: Vec<String> = names
            .iter()
            .map(|n| {
                match (
                    value(scenario.id, n, "server_cpu"),
                    value(scenario.id, n, "gen_cpu"),
                ) {
                    (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
                    _ => "-".to_owned(),
                }
            })
            .collect();
        t.push_str(&format!("| {} | {} |\n", scenario.id, cells.join(" | ")));
    }
    t
}

/// Prints (and writes to `out`) the table of the runs recorded in `csv`.
fn rerender(csv: &std::path::Path, ours: &str, out: Option<&std::path::Path>) {
    let text = std::fs::read_to_string(csv).unwrap_or_else(|e| {
        eprintln!("runner: cannot read {}: {e}", csv.display());
        std::process::exit(2)
    });
    let mut results: Results = BTreeMap::new();
    let mut servers: Vec<Server> = Vec::new();
    let mut rounds = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [round, scenario, server, key, value] = f[..] else {
            continue;
        };
        let (Ok(round), Ok(value)) = (round.parse::<usize>(), value.parse::<f64>()) else {
            continue;
        };
        rounds = rounds.max(round);
        if !servers.iter().any(|s| s.name == server) {
            servers.push(Server {
                name: server.to_owned(),
                program: String::new(),
                args: Vec::new(),
            });
        }
        let runs = results
            .entry((scenario.to_owned(), server.to_owned()))
            .or_default();
        while runs.len() < round {
            runs.push(BTreeMap::new());
        }
        runs[round - 1].insert(key.to_owned(), value);
    }
    let settings = Settings {
        loadgen: PathBuf::new(),
        duration: env_or("DURATION", 5.0),
        idle_conns: env_or("IDLE_CONNS", 1000),
        gen_threads: env_or("GEN_THREADS", 1),
    };
    let scenarios: Vec<&Scenario> = SCENARIOS.iter().collect();
    let table = render(&results, &servers, &scenarios, ours, rounds, &settings);
    println!("{table}");
    if let Some(path) = out {
        if let Err(e) = std::fs::write(path, &table) {
            eprintln!("runner: cannot write {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> Server {
        Server {
            name: name.to_owned(),
            program: String::new(),
            args: Vec::new(),
        }
    }

    /// The 1 MiB row of the 06:00 run of 2026-11-27 (msgs/s), where the thread-per-connection
    /// peer led: each ratio column must pick its own comparison.
    fn one_mib_table(ours: &str, names: &[&str]) -> String {
        let values = [
            ("rfc6455", 3123.0),
            ("rfc6455-blocking", 4396.0),
            ("tungstenite", 3707.0),
            ("tokio-websockets", 3087.0),
        ];
        let mut results = Results::new();
        for (name, v) in values.iter().filter(|(n, _)| names.contains(n)) {
            let run = BTreeMap::from([("msgs_per_s".to_owned(), *v)]);
            results.insert(("1MiB".to_owned(), (*name).to_owned()), vec![run]);
        }
        let servers: Vec<Server> = names.iter().map(|n| server(n)).collect();
        let scenario = SCENARIOS.iter().find(|s| s.id == "1MiB").unwrap();
        let settings = Settings {
            loadgen: PathBuf::new(),
            duration: 1.0,
            idle_conns: 1,
            gen_threads: 1,
        };
        render(&results, &servers, &[scenario], ours, 1, &settings)
    }

    fn row<'a>(table: &'a str, start: &str) -> Vec<&'a str> {
        let line = table.lines().find(|l| l.starts_with(start)).unwrap();
        line.trim_matches('|').split('|').map(str::trim).collect()
    }

    #[test]
    fn ours_is_compared_with_the_best_peer_and_with_its_like() {
        let all = [
            "rfc6455",
            "rfc6455-blocking",
            "tungstenite",
            "tokio-websockets",
        ];
        let t = one_mib_table("rfc6455", &all);
        let header = row(&t, "| scenario");
        assert_eq!(
            &header[5..],
            [
                "rfc6455 / best peer",
                "rfc6455 / best async peer",
                "rfc6455-blocking / tungstenite"
            ]
        );
        assert_eq!(row(&t, "|---").len(), header.len());
        let data = row(&t, "| 4 conns x 1 in flight, 1 MiB");
        assert_eq!(data.len(), header.len());
        // 3123 / 3707, 3123 / 3087, 4396 / 3707.
        assert_eq!(&data[5..], ["0.84x", "1.01x", "1.19x"]);
    }

    #[test]
    fn the_like_for_like_column_is_left_out_where_it_would_not_be_like_for_like() {
        // Ours is itself thread-per-connection.
        let t = one_mib_table(
            "rfc6455-blocking",
            &["rfc6455-blocking", "tungstenite", "tokio-websockets"],
        );
        assert!(!t.contains("best async peer"));
        // No one-thread peer, or no thread-per-connection one: the two ratios would be one.
        for peers in [["tungstenite"], ["tokio-websockets"]] {
            let names = [&["rfc6455"][..], &peers[..]].concat();
            let t = one_mib_table("rfc6455", &names);
            assert!(!t.contains("best async peer"), "{peers:?}");
            assert_eq!(row(&t, "|---").len(), row(&t, "| scenario").len());
        }
    }
}
