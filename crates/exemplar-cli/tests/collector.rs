//! The reference collector as a real process on loopback: good input is stored exactly
//! once; bad input gets the right status, a clear reason, and stores nothing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

struct Collector {
    child: Child,
    addr: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
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
fn spawn(db: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exemplar"))
        .args(["collect", "--port", "0", "--db"])
        .arg(db)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start exemplar collect");
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect(&line)
        .to_string();
    (child, addr)
}

fn start(extra: &[&str]) -> Collector {
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

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// One HTTP/1.1 request; returns (status, body).
fn request(
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

fn post(addr: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, String) {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    request(addr, "POST", "/records", &h, body.to_string().as_bytes())
}

fn stored(addr: &str, headers: &[(&str, &str)]) -> Vec<Value> {
    let (status, body) = request(addr, "GET", "/records", headers, b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn record(session: &str, seq: u64) -> Value {
    json!({
        "record_id": format!("{session}-{seq}"), "format": "exemplar.record/1", "session_id": session,
        "participant_id": "p1", "participant_id_source": "pid", "experiment_id": "e", "experiment_version": "1",
        "seq": seq, "time_elapsed": 10.0 * seq as f64, "timestamp": 1.7e12, "type": "feedback", "text": format!("hello {seq}")
    })
}

fn envelope(records: Vec<Value>) -> Value {
    json!({ "format": "exemplar.record/1", "records": records })
}

#[test]
fn stores_once_per_record_id_and_answers_health() {
    let c = start(&[]);
    assert_eq!(request(&c.addr, "GET", "/health", &[], b"").0, 200);
    let (status, body) = post(
        &c.addr,
        &envelope(vec![record("s", 0), record("s", 1)]),
        &[],
    );
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"duplicates":0,"stored":2}"#)
    );
    // A resend (the client did not see the answer) is acknowledged, stored once.
    let (status, body) = post(
        &c.addr,
        &envelope(vec![record("s", 1), record("s", 2)]),
        &[],
    );
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"duplicates":1,"stored":1}"#)
    );
    let all = stored(&c.addr, &[]);
    assert_eq!(
        all.iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
}

#[test]
fn bad_input_gets_a_reason_and_stores_nothing() {
    let c = start(&["--max-body", "1000000"]);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "truncated JSON",
            br#"{"format": "exemplar.record/1", "records": [{"rec"#.to_vec(),
            400,
            "body is not JSON",
        ),
        (
            "wrong format",
            envelope(vec![])
                .to_string()
                .replace("record/1", "record/9")
                .into_bytes(),
            400,
            "format: expected \"exemplar.record/1\"",
        ),
        (
            "records not a list",
            br#"{"format": "exemplar.record/1", "records": 5}"#.to_vec(),
            400,
            "records: expected a list",
        ),
        (
            "a record missing a field",
            {
                let mut r = record("s", 0);
                r.as_object_mut().unwrap().remove("seq");
                envelope(vec![record("s", 1), r]).to_string().into_bytes()
            },
            400,
            "records[1]: missing field `seq`",
        ),
        (
            "a field of the wrong type",
            {
                let mut r = record("s", 0);
                r["seq"] = json!("zero");
                envelope(vec![r]).to_string().into_bytes()
            },
            400,
            "records[0].seq: invalid type: string \"zero\"",
        ),
        (
            "an unknown record type",
            {
                let mut r = record("s", 0);
                r["type"] = json!("party");
                envelope(vec![r]).to_string().into_bytes()
            },
            400,
            "unknown variant `party`",
        ),
        (
            "a 10 MB body",
            {
                let big = "x".repeat(10 << 20);
                let mut r = record("s", 0);
                r["text"] = json!(big);
                envelope(vec![r]).to_string().into_bytes()
            },
            413,
            "",
        ),
    ];
    for (what, body, want, reason) in cases {
        let (status, answer) = request(
            &c.addr,
            "POST",
            "/records",
            &[("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(status, want, "{what}: {answer}");
        let error = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or(answer);
        assert!(
            error.contains(reason),
            "{what}: {error:?} should say {reason:?}"
        );
    }
    assert!(
        stored(&c.addr, &[]).is_empty(),
        "nothing stored from bad requests"
    );
}

#[test]
fn a_replayed_id_with_other_content_is_refused_whole() {
    let c = start(&[]);
    assert_eq!(post(&c.addr, &envelope(vec![record("s", 0)]), &[]).0, 200);
    let mut changed = record("s", 0);
    changed["text"] = json!("something else");
    let (status, body) = post(&c.addr, &envelope(vec![record("s", 1), changed]), &[]);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains(r#"record s-0 is already stored with different content; nothing of this request was stored"#), "{body}");
    let all = stored(&c.addr, &[]);
    assert_eq!(all.len(), 1, "s-1 was not stored either");
    assert_eq!(all[0]["text"], "hello 0");
}

#[test]
fn origins_outside_the_allow_list_and_missing_tokens_are_refused() {
    let c = start(&[
        "--allow-origin",
        "https://study.example.org",
        "--token",
        "s3cret",
    ]);
    let body = envelope(vec![record("s", 0)]);
    let auth = ("Authorization", "Bearer s3cret");
    let (status, answer) = post(&c.addr, &body, &[("Origin", "https://evil.example"), auth]);
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("origin https://evil.example is not allowed"),
        "{answer}"
    );
    let (status, answer) = post(&c.addr, &body, &[("Origin", "https://study.example.org")]);
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("missing or wrong token"), "{answer}");
    let (status, _) = post(
        &c.addr,
        &body,
        &[
            ("Origin", "https://study.example.org"),
            ("Authorization", "Bearer wrong"),
        ],
    );
    assert_eq!(status, 401);
    assert_eq!(
        request(&c.addr, "GET", "/records", &[], b"").0,
        401,
        "listing needs the token too"
    );
    assert!(stored(&c.addr, &[auth]).is_empty());
    // The allowed origin with the token is stored, and CORS says so.
    let (status, _) = post(
        &c.addr,
        &body,
        &[("Origin", "https://study.example.org"), auth],
    );
    assert_eq!(status, 200);
    assert_eq!(stored(&c.addr, &[auth]).len(), 1);
    let mut s = TcpStream::connect(&c.addr).unwrap();
    write!(s, "OPTIONS /records HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: https://study.example.org\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type,authorization\r\n\r\n").unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(
        raw.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://study.example.org"),
        "{raw}"
    );
}

#[test]
fn acknowledged_records_survive_a_kill() {
    let dir = TempDir(std::env::temp_dir().join(format!("exemplar-kill-{}", rand_suffix())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let db = dir.0.join("r.db");
    let (mut child, addr) = spawn(&db, &[]);
    assert_eq!(
        post(
            &addr,
            &envelope((0..20).map(|i| record("k", i)).collect()),
            &[]
        )
        .0,
        200
    );
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    child.wait().unwrap();
    let (mut child, addr) = spawn(&db, &[]);
    assert_eq!(
        stored(&addr, &[]).len(),
        20,
        "every acknowledged record is there after SIGKILL"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
