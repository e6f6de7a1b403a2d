//! What the CLI's tests share: the `exemplar` binary run to completion, the collector (or
//! `exemplar serve`) as a real process on loopback and plain HTTP/1.1 to talk to it, folder
//! helpers, record fixtures, and small ONNX models ([`onnx`]). Each test file uses a part.
#![allow(dead_code)]

pub mod flat_images;
pub mod onnx;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use exemplar_core::plan::Phase;
use exemplar_core::record::{
    Body, Input, ParticipantIdSource, Record, TrialMode, TrialRecord, RECORD_FORMAT,
};
use exemplar_core::score::Choice;
use serde_json::{json, Value};

/// The `exemplar` binary as a command, to add arguments to.
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exemplar"))
}

/// Runs `exemplar ARGS…` to completion: (exit code, stdout, stderr). Fails the test if the
/// command panicked.
pub fn exemplar_code<S: AsRef<OsStr>>(args: &[S]) -> (Option<i32>, String, String) {
    let out = command().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "exemplar {:?} panicked:\n{stderr}",
        args.iter().map(AsRef::as_ref).collect::<Vec<&OsStr>>()
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        stderr,
    )
}

/// Like [`exemplar_code`]: (whether it succeeded, stdout, stderr).
pub fn exemplar<S: AsRef<OsStr>>(args: &[S]) -> (bool, String, String) {
    let (code, stdout, stderr) = exemplar_code(args);
    (code == Some(0), stdout, stderr)
}

/// Copies a folder tree (the demo experiment, for a test to change).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            copy_dir(&p, &to.join(p.file_name().unwrap()));
        } else {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// A `w`×`h` PNG of one colour.
pub fn png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
        .save(path)
        .unwrap();
}

pub struct Collector {
    pub child: Child,
    pub addr: String,
    pub _dir: TempDir,
}

pub struct TempDir(pub std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `exemplar collect` on a free port; returns the process and its address.
pub fn spawn(db: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "collect".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    spawn_server(&args)
}

/// Starts `exemplar ARGS…` (a server that prints its `http://ADDR/` URL on its first line
/// of output); returns the process and its address.
pub fn spawn_server(args: &[&std::ffi::OsStr]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exemplar"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start exemplar");
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    // Keep reading: a server whose stdout is closed fails on its next line (`exemplar
    // serve` prints more than one), so the rest is drained until it exits.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let line = String::from_utf8(line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect(&line)
        .to_string();
    (child, addr)
}

/// The admin token the tests' collectors are started with.
pub const ADMIN: &str = "test-admin-token-0123456789";
pub const AS_ADMIN: (&str, &str) = ("Authorization", "Bearer test-admin-token-0123456789");

/// A collector with the test admin token and the given options.
pub fn start(extra: &[&str]) -> Collector {
    let mut args = vec!["--admin-token", ADMIN];
    args.extend_from_slice(extra);
    start_bare(&args)
}

/// A collector with exactly the given options.
pub fn start_bare(extra: &[&str]) -> Collector {
    let dir = std::env::temp_dir().join(format!(
        "exemplar-collector-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (child, addr) = spawn(&dir.join("r.db"), extra);
    Collector {
        child,
        addr,
        _dir: TempDir(dir),
    }
}

pub fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// One HTTP/1.1 request; returns (status, body).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading everything; a reset then is fine.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

pub fn post(addr: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, String) {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    request(addr, "POST", "/records", &h, body.to_string().as_bytes())
}

pub fn stored(addr: &str) -> Vec<Value> {
    let (status, body) = request(addr, "GET", "/admin/records", &[AS_ADMIN], b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Whether this run is CI's (`CI` set to anything but empty, `0` or `false`): there a
/// missing prerequisite fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Reports that `what` (a GPU adapter, a data set) is missing: in CI a panic, so CI
/// cannot go green by skipping; elsewhere a visible `SKIPPED (missing: …)` line on
/// stderr, and the caller skips the check.
pub fn missing(what: &str) {
    if in_ci() {
        panic!("missing: {what}; CI is set, so this test must not skip");
    }
    eprintln!("SKIPPED (missing: {what})");
}

/// A record of `session` at `seq` with this body, built from core's types as the app
/// builds it (participant `participant`, `step_ms` apart).
pub fn record_of(session: &str, participant: &str, seq: u64, step_ms: f64, body: Body) -> Record {
    Record {
        record_id: format!("{session}-{seq}"),
        format: RECORD_FORMAT.into(),
        session_id: session.into(),
        participant_id: participant.into(),
        participant_id_source: ParticipantIdSource::Pid,
        experiment_id: "e".into(),
        experiment_version: "1".into(),
        seq,
        time_elapsed: step_ms * seq as f64,
        timestamp: 1.7e12,
        body,
    }
}

/// A small valid record (a feedback text) of `session` at `seq`, as JSON.
pub fn record(session: &str, seq: u64) -> Value {
    let body = Body::Feedback {
        text: format!("hello {seq}"),
    };
    serde_json::to_value(record_of(session, "p1", seq, 10.0, body)).unwrap()
}

/// A main-block trial on `unit_id` of `model` (layer `l`, batch 0), answered by a click
/// with confidence 2, right (`b`) or wrong (`a`); the caller changes what differs.
pub fn trial(unit_id: &str, model: &str, channel: u32, correct: bool) -> TrialRecord {
    TrialRecord {
        phase: Phase::Main,
        trial_index: 0,
        attempt: 0,
        is_demo: false,
        catch_trial: false,
        unit_id: unit_id.into(),
        model: model.into(),
        layer: "l".into(),
        channel,
        batch: 0,
        mode: TrialMode::Natural,
        rt: 2000.0,
        rt_dom: 2010.0,
        onset: 1.0,
        onset_source: exemplar_core::record::OnsetSource::ElementTiming,
        button_pressed: 1,
        switched_queries: false,
        confidence: 2,
        choice: if correct { Choice::B } else { Choice::A },
        correct,
        chosen_stimulus: "s/max_9.png".into(),
        min_query: "s/min_9.png".into(),
        max_query: "s/max_9.png".into(),
        min_references: vec![],
        max_references: vec![],
        input: Input::Click,
        window_width: 1280.0,
        window_height: 800.0,
        device_pixel_ratio: 1.0,
        focus_losses: 0,
        visibility_losses: 0,
        fullscreen: true,
        check: None,
        replaced: None,
        group: None,
        condition: None,
        block: None,
    }
}

pub fn envelope(records: Vec<Value>) -> Value {
    json!({ "format": "exemplar.record/1", "records": records })
}
