//! What the CLI's tests share: the `exemplar` binary run to completion, the collector (or
//! `exemplar serve`) as a real process on loopback and plain HTTP/1.1 to talk to it, folder
//! helpers, record fixtures, and small ONNX models ([`onnx`]). Each test file uses a part.
#![allow(dead_code)]

pub mod onnx;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

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

pub fn record(session: &str, seq: u64) -> Value {
    json!({
        "record_id": format!("{session}-{seq}"), "format": "exemplar.record/1", "session_id": session,
        "participant_id": "p1", "participant_id_source": "pid", "experiment_id": "e", "experiment_version": "1",
        "seq": seq, "time_elapsed": 10.0 * seq as f64, "timestamp": 1.7e12, "type": "feedback", "text": format!("hello {seq}")
    })
}

pub fn envelope(records: Vec<Value>) -> Value {
    json!({ "format": "exemplar.record/1", "records": records })
}
