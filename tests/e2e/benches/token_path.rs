//! Benchmarks of the token path, reported as figures (never asserted):
//! - median whole-process wall time of `twg auth token` via twgd, beside a minimal Rust
//!   hello-world process (the floor), measured in the same run;
//! - twgd throughput in GetToken/s with 64 concurrent connections;
//! - twgd idle resident memory.
//!
//! Needs release binaries: `cargo build --release --workspace && cargo bench -p twg-e2e`.
//! `TWG_E2E_BIN_DIR=target/dist cargo bench -p twg-e2e` measures the `dist` profile instead
//! (after `cargo build --profile dist -p twg-cli -p twgd -p twg-dev-idp -p twg-e2e --bins`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp};

const PROCESS_RUNS: usize = 400;
const THROUGHPUT_SECS: u64 = 5;
const CONNECTIONS: usize = 64;

fn median_process_ms(mut make: impl FnMut() -> Command) -> (f64, f64) {
    // Warm the page cache and the daemon first.
    for _ in 0..20 {
        make().stdout(Stdio::null()).status().expect("run");
    }
    let mut samples: Vec<f64> = (0..PROCESS_RUNS)
        .map(|_| {
            let start = Instant::now();
            let status = make().stdout(Stdio::null()).status().expect("run");
            let took = start.elapsed().as_secs_f64() * 1000.0;
            assert!(status.success(), "benchmark process failed");
            took
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
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

    let hello = twg_e2e::bin("twg-hello");
    let (hello_p50, hello_p90) = median_process_ms(|| Command::new(&hello));
    let (token_p50, token_p90) = median_process_ms(|| env.twg_cmd(&["auth", "token"]));
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
        "| hello-world process, median (p90) | {hello_p50:.2} ms ({hello_p90:.2} ms) | floor |"
    );
    println!(
        "| `twg auth token` via twgd, median (p90) | {token_p50:.2} ms ({token_p90:.2} ms) | ≤ 2× floor = {:.2} ms: {} |",
        hello_p50 * 2.0,
        if token_p50 <= hello_p50 * 2.0 {
            "met"
        } else {
            "NOT met"
        }
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
