//! Benchmarks of the token path, reported as figures (never asserted):
//! - median whole-process wall time of `twg auth token` via twgd, beside a minimal Rust
//!   hello-world process (the floor), measured in the same run;
//! - twgd throughput in GetToken/s with 64 concurrent connections;
//! - twgd idle resident memory.
//!
//! Needs release binaries: `cargo build --release --workspace && cargo bench -p twg-e2e`.
//! `TWG_E2E_BIN_DIR=target/dist cargo bench -p twg-e2e` measures the `dist` profile instead
//! (after `cargo build --profile dist -p twg-cli -p twg-front -p twgd -p twg-dev-idp -p twg-e2e --bins`).
//! `TWG_BENCH_HOLD=1` sets everything up, prints the environment as `export` lines and
//! waits an hour instead of measuring, for `perf` or `strace` by hand.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp};

const PROCESS_RUNS: usize = 400;
/// `twg auth token` through twgd, as a multiple of a hello-world process's wall time.
const TARGET_RATIO: f64 = 1.6;
const THROUGHPUT_SECS: u64 = 5;
const CONNECTIONS: usize = 64;

/// One process's figures: wall time (median and p90), and per run the page faults and CPU
/// time (user + system) it cost, from this process's totals for waited-for children.
struct ProcessFigures {
    p50: f64,
    p90: f64,
    faults: f64,
    cpu_ms: f64,
}

/// This process's totals for its waited-for children: minor page faults and CPU seconds
/// (`cminflt`, `cutime` + `cstime` in /proc/self/stat, ticks of 10 ms).
fn children_usage() -> (u64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split_whitespace()
        .collect();
    let field = |n: usize| rest[n - 3].parse::<u64>().expect("a number");
    (field(11), (field(16) + field(17)) as f64 / 100.0)
}

fn measure(mut make: impl FnMut() -> Command) -> ProcessFigures {
    // Warm the page cache and the daemon first.
    for _ in 0..20 {
        make().stdout(Stdio::null()).status().expect("run");
    }
    let (faults_before, cpu_before) = children_usage();
    let mut samples: Vec<f64> = (0..PROCESS_RUNS)
        .map(|_| {
            let start = Instant::now();
            let status = make().stdout(Stdio::null()).status().expect("run");
            let took = start.elapsed().as_secs_f64() * 1000.0;
            assert!(status.success(), "benchmark process failed");
            took
        })
        .collect();
    let (faults_after, cpu_after) = children_usage();
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    ProcessFigures {
        p50: samples[samples.len() / 2],
        p90: samples[samples.len() * 9 / 10],
        faults: (faults_after - faults_before) as f64 / PROCESS_RUNS as f64,
        cpu_ms: (cpu_after - cpu_before) * 1000.0 / PROCESS_RUNS as f64,
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn throughput(socket: &std::path::Path) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            clients.push(
                twg_common::rpc::connect(socket, Duration::from_secs(5))
                    .await
                    .expect("connect"),
            );
        }
        let deadline = Instant::now() + Duration::from_secs(THROUGHPUT_SECS);
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let req = twg_common::rpc::pb::GetTokenRequest {
                            client: Some(twg_common::rpc::client_info(None)),
                            min_valid_seconds: Some(60),
                        };
                        c.get_token(req).await.expect("GetToken");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("task");
        }
        total as f64 / start.elapsed().as_secs_f64()
    })
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    let daemon = env.start_daemon();
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss = rss_kib(daemon.pid());

    if std::env::var_os("TWG_BENCH_HOLD").is_some() {
        for (k, v) in &env.vars {
            println!("export {k}='{v}'");
        }
        std::thread::sleep(Duration::from_secs(3600));
    }
    let hello = twg_e2e::bin("twg-hello");
    let hello = measure(|| Command::new(&hello));
    let token = measure(|| env.twg_cmd(&["auth", "token"]));
    let rps = throughput(&env.socket);
    std::thread::sleep(Duration::from_secs(1));
    let after_rss = rss_kib(daemon.pid());

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let dir = twg_e2e::bin_dir();
    let profile = dir.file_name().unwrap_or_default().to_string_lossy();
    println!(
        "twg token-path benchmark ({cores} cores, `{profile}` binaries from {}, {PROCESS_RUNS} runs each)",
        dir.display()
    );
    println!("| what | figure | target |");
    println!("|---|---|---|");
    println!(
        "| hello-world process, median (p90) | {:.2} ms ({:.2} ms) | floor |",
        hello.p50, hello.p90
    );
    let ratio = token.p50 / hello.p50;
    println!(
        "| `twg auth token` via twgd, median (p90) | {:.2} ms ({:.2} ms), {ratio:.2}× the floor | ≤ {TARGET_RATIO}× floor = {:.2} ms: {} |",
        token.p50,
        token.p90,
        hello.p50 * TARGET_RATIO,
        if ratio <= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "| page faults per process: hello-world, `twg auth token` | {:.0}, {:.0} | |",
        hello.faults, token.faults
    );
    println!(
        "| CPU time per process (user + system): hello-world, `twg auth token` | {:.2} ms, {:.2} ms | |",
        hello.cpu_ms, token.cpu_ms
    );
    println!(
        "| twgd GetToken throughput, {CONNECTIONS} connections | {rps:.0} /s | ≥ 20000 /s: {} |",
        if rps >= 20_000.0 { "met" } else { "NOT met" }
    );
    println!(
        "| twgd idle RSS after start | {:.1} MiB | < 15 MiB: {} |",
        idle_rss as f64 / 1024.0,
        if idle_rss < 15 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "| twgd idle RSS after the load | {:.1} MiB | |",
        after_rss as f64 / 1024.0
    );
}
