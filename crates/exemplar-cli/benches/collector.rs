//! Collector benchmark (prints figures; asserts nothing):
//!   cargo bench -p exemplar-cli --bench collector
//!
//! Built as a test (`cargo test -p exemplar-cli --bench collector`, as the test command
//! does: no optimised build), it runs once briefly, 20 participants x 2 batches, so that it
//! keeps working; its figures then say nothing and are not printed.
//!
//! 200 simulated participants post batches concurrently to a real `exemplar collect`
//! process on loopback (one keep-alive connection each, 10 batches of 10 records, as a
//! session's trials arrive). Printed: sustained records/s, p50/p99 acknowledgement latency,
//! and the collector's peak memory; against the ceiling: the same inserts straight into
//! SQLite through the same store code, without HTTP, in this process.

// One trial record is a large json! literal.
#![recursion_limit = "256"]

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exemplar_cli::collector::Db;
use exemplar_core::record::Record;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PER_BATCH: usize = 10;

/// How much load: the full benchmark under `cargo bench` (which passes `--bench`), a brief
/// run that only checks the benchmark still works otherwise.
struct Load {
    participants: usize,
    batches: usize,
    full: bool,
}

impl Load {
    fn from_args() -> Load {
        if std::env::args().any(|a| a == "--bench") {
            Load {
                participants: 200,
                batches: 10,
                full: true,
            }
        } else {
            Load {
                participants: 20,
                batches: 2,
                full: false,
            }
        }
    }
}

fn record(session: &str, seq: usize) -> Value {
    json!({
        "record_id": format!("{session}-{seq}"), "format": "exemplar.record/1", "session_id": session,
        "participant_id": session, "participant_id_source": "pid", "experiment_id": "bench", "experiment_version": "1",
        "seq": seq, "time_elapsed": 3000.0 * seq as f64, "timestamp": 1.7e12, "type": "trial",
        "phase": "main", "trial_index": seq, "attempt": 0, "is_demo": false, "catch_trial": false,
        "unit_id": "u", "model": "googlenet", "layer": "mixed4b", "channel": 7, "batch": 3, "mode": "natural",
        "rt": 2345.6, "rt_dom": 2361.2, "onset": 1234.5, "button_pressed": 4, "switched_queries": true,
        "confidence": 2, "choice": "b", "correct": true, "chosen_stimulus": "stimuli/u/3/max_9.png",
        "min_query": "stimuli/u/3/min_9.png", "max_query": "stimuli/u/3/max_9.png",
        "min_references": (0..9).map(|i| format!("stimuli/u/3/min_{i}.png")).collect::<Vec<_>>(),
        "max_references": (0..9).map(|i| format!("stimuli/u/3/max_{i}.png")).collect::<Vec<_>>(),
        "input": "click", "window_width": 1280.0, "window_height": 800.0, "device_pixel_ratio": 1.0,
        "focus_losses": 0, "visibility_losses": 0, "fullscreen": true
    })
}

fn batch(session: &str, b: usize) -> Vec<Value> {
    (b * PER_BATCH..(b + 1) * PER_BATCH)
        .map(|seq| record(session, seq))
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn participant(addr: String, p: usize, batches: usize) -> Vec<Duration> {
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut latencies = Vec::with_capacity(batches);
    let session = format!("bench{p:04}");
    for b in 0..batches {
        let body =
            json!({ "format": "exemplar.record/1", "records": batch(&session, b) }).to_string();
        let head = format!("POST /records HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        let start = Instant::now();
        stream.write_all(head.as_bytes()).await.expect("write");
        stream.write_all(body.as_bytes()).await.expect("write");
        // Read one response: headers, then Content-Length bytes.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (header_end, length) = loop {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "collector closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                break (end + 4, len);
            }
        };
        while buf.len() < header_end + length {
            let n = stream.read(&mut chunk).await.expect("read");
            buf.extend_from_slice(&chunk[..n]);
        }
        latencies.push(start.elapsed());
    }
    latencies
}

fn main() {
    let dir = std::env::temp_dir().join(format!("exemplar-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Load {
        participants,
        batches,
        full,
    } = Load::from_args();
    let total = participants * batches * PER_BATCH;

    // The ceiling: the store's inserts without HTTP, measured before and after the load
    // (disk speed varies on a shared machine; both are printed, the faster is the ceiling).
    let raw_inserts = |name: &str| {
        let db = Db::open(&dir.join(format!("{name}.db"))).unwrap();
        let bodies: Vec<Vec<(Record, Value)>> = (0..participants)
            .flat_map(|p| (0..batches).map(move |b| (p, b)))
            .map(|(p, b)| {
                batch(&format!("{name}{p:04}"), b)
                    .into_iter()
                    .map(|v| (serde_json::from_value(v.clone()).unwrap(), v))
                    .collect()
            })
            .collect();
        let start = Instant::now();
        for records in &bodies {
            db.insert(records).unwrap();
        }
        start.elapsed()
    };
    let raw_before = raw_inserts("raw_before");

    // The collector process under load.
    let mut child = Command::new(env!("CARGO_BIN_EXE_exemplar"))
        .args(["collect", "--port", "0", "--db"])
        .arg(dir.join("http.db"))
        // All 200 simulated participants share the loopback address: no per-client rate.
        .args(["--rate", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start exemplar collect");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string();
    let idle_rss = peak_rss_kib(child.id());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let mut latencies: Vec<Duration> = runtime.block_on(async {
        let tasks: Vec<_> = (0..participants)
            .map(|p| tokio::spawn(participant(addr.clone(), p, batches)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let loaded = start.elapsed();
    let peak_rss = peak_rss_kib(child.id());
    child.kill().ok();
    child.wait().ok();
    latencies.sort();
    let raw_after = raw_inserts("raw_after");
    let raw = raw_before.min(raw_after);

    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    if !full {
        assert_eq!(
            latencies.len(),
            participants * batches,
            "every batch acknowledged"
        );
        let stored = Db::open_read_only(&dir.join("http.db")).unwrap().count();
        assert_eq!(stored, total, "every record stored once");
        println!("collector benchmark: brief run passed ({total} records acknowledged; `cargo bench -p exemplar-cli --bench collector` prints figures)");
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    println!("== collector: {participants} participants x {batches} batches x {PER_BATCH} records, loopback, {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!(
        "  exemplar collect (HTTP + SQLite): {:>8.0} records/s  ({} records in {:.2} s)",
        rate(loaded),
        total,
        loaded.as_secs_f64()
    );
    println!(
        "  SQLite inserts alone (ceiling):   {:>8.0} records/s  (best of {:.2} s before and {:.2} s after the load)",
        rate(raw),
        raw_before.as_secs_f64(),
        raw_after.as_secs_f64()
    );
    println!(
        "  ratio collector / ceiling: {:.2}",
        raw.as_secs_f64() / loaded.as_secs_f64()
    );
    println!(
        "  acknowledgement latency per batch: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    if let (Some(idle), Some(peak)) = (idle_rss, peak_rss) {
        println!(
            "  collector memory: {:.1} MiB at start, {:.1} MiB peak under load",
            idle as f64 / 1024.0,
            peak as f64 / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
