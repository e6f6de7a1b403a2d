//! The reference collector as a real process on loopback: good input is stored exactly
//! once; bad input gets the right status, a clear reason, and stores nothing.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;
use serde_json::{json, Value};
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
    let all = stored(&c.addr);
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
        stored(&c.addr).is_empty(),
        "nothing stored from bad requests"
    );
}

#[test]
fn a_conflicting_id_is_refused_alone_and_named() {
    let c = start(&[]);
    assert_eq!(post(&c.addr, &envelope(vec![record("s", 0)]), &[]).0, 200);
    let mut changed = record("s", 0);
    changed["text"] = json!("something else");
    let (status, body) = post(
        &c.addr,
        &envelope(vec![record("s", 1), changed, record("s", 2)]),
        &[],
    );
    assert_eq!(status, 409, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["conflicts"], json!(["s-0"]), "{body}");
    assert_eq!(
        (answer["stored"].as_u64(), answer["duplicates"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(answer["error"].as_str().unwrap().contains("s-0"), "{body}");
    let all = stored(&c.addr);
    assert_eq!(all.len(), 3, "s-1 and s-2 were stored: {all:?}");
    assert_eq!(
        all[0]["text"], "hello 0",
        "the first content of s-0 is kept"
    );
}

#[test]
fn a_record_is_stored_only_under_its_own_session() {
    let c = start(&[]);
    let mut foreign = record("s", 3);
    foreign["record_id"] = json!("other-session-3");
    let (status, body) = post(&c.addr, &envelope(vec![record("s", 2), foreign]), &[]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(
            r#"records[1].record_id: must be <session_id>-<seq> (\"s-3\"), got \"other-session-3\""#
        ),
        "{body}"
    );
    let mut shifted = record("s", 4);
    shifted["record_id"] = json!("s-5");
    assert_eq!(post(&c.addr, &envelope(vec![shifted]), &[]).0, 400);
    assert!(
        stored(&c.addr).is_empty(),
        "nothing of a refused request is stored"
    );
}

#[test]
fn reading_needs_the_admin_token_and_writing_never_unlocks_it() {
    let c = start(&[
        "--allow-origin",
        "https://study.example.org",
        "--write-key",
        "public-write-key",
    ]);
    let body = envelope(vec![record("s", 0)]);
    let write = ("Authorization", "Bearer public-write-key");
    let study = ("Origin", "https://study.example.org");
    let (status, answer) = post(&c.addr, &body, &[("Origin", "https://evil.example"), write]);
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("origin https://evil.example is not allowed"),
        "{answer}"
    );
    let (status, answer) = post(&c.addr, &body, &[study]);
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("missing or wrong write key"), "{answer}");
    let wrong = ("Authorization", "Bearer wrong");
    assert_eq!(post(&c.addr, &body, &[study, wrong]).0, 401);
    assert_eq!(post(&c.addr, &body, &[study, write]).0, 200);

    // Reading: not with nothing, not with the write key, not with a wrong token, not at
    // the old address; a request without Origin (curl) needs the token as well.
    for (what, headers) in [
        ("no credential", vec![]),
        ("the write key", vec![write]),
        (
            "a wrong token",
            vec![("Authorization", "Bearer test-admin-token-012345678")],
        ),
        ("the write key from the study's origin", vec![study, write]),
    ] {
        let (status, answer) = request(&c.addr, "GET", "/admin/records", &headers, b"");
        assert_eq!(status, 401, "{what}: {answer}");
        assert!(!answer.contains("p1"), "{what}: no record leaks: {answer}");
    }
    let (status, answer) = request(&c.addr, "GET", "/records", &[write], b"");
    assert_eq!(status, 405, "{answer}");
    assert!(!answer.contains("p1"), "{answer}");
    assert_eq!(stored(&c.addr).len(), 1, "the admin token reads");

    // CORS: the study's origin may post; no origin is ever told it may read.
    let preflight = |method: &str, path: &str| {
        let mut s = TcpStream::connect(&c.addr).unwrap();
        write!(s, "OPTIONS {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: https://study.example.org\r\nAccess-Control-Request-Method: {method}\r\nAccess-Control-Request-Headers: content-type,authorization\r\n\r\n").unwrap();
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        raw.to_ascii_lowercase()
    };
    assert!(
        preflight("POST", "/records")
            .contains("access-control-allow-origin: https://study.example.org"),
        "posting is allowed cross-origin"
    );
    assert!(!preflight("GET", "/admin/records").contains("access-control-allow-origin"));
    let (status, raw) = {
        let mut s = TcpStream::connect(&c.addr).unwrap();
        write!(s, "GET /admin/records HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: https://study.example.org\r\nAuthorization: Bearer {ADMIN}\r\n\r\n").unwrap();
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        (
            raw.split(' ').nth(1).map(String::from),
            raw.to_ascii_lowercase(),
        )
    };
    assert_eq!(status.as_deref(), Some("200"));
    assert!(!raw.contains("access-control-allow-origin"), "{raw}");
    assert!(raw.contains("cache-control: no-store"), "{raw}");
}

#[test]
fn without_an_admin_token_nothing_is_readable_over_http() {
    let c = start_bare(&[]);
    assert_eq!(post(&c.addr, &envelope(vec![record("s", 0)]), &[]).0, 200);
    for headers in [vec![], vec![AS_ADMIN]] {
        let (status, answer) = request(&c.addr, "GET", "/admin/records", &headers, b"");
        assert_eq!(status, 403, "{answer}");
        assert!(
            answer.contains("reading records over HTTP is off"),
            "{answer}"
        );
    }
}

#[test]
fn weak_admin_tokens_are_refused_at_start() {
    for (args, says) in [
        (vec!["--admin-token", "short"], "shorter than 16 characters"),
        (
            vec![
                "--admin-token",
                "same-as-the-write-key",
                "--write-key",
                "same-as-the-write-key",
            ],
            "equals --write-key",
        ),
    ] {
        let out = common::command()
            .args(["collect", "--port", "0", "--db", "/nonexistent/never.db"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn admin_reads_as_json_lines_and_csv() {
    let c = start(&[]);
    assert_eq!(
        post(
            &c.addr,
            &envelope(vec![record("s", 0), record("s", 1)]),
            &[]
        )
        .0,
        200
    );
    let (status, body) = request(
        &c.addr,
        "GET",
        "/admin/records?format=jsonl",
        &[AS_ADMIN],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().count(), 2, "{body}");
    let (status, body) = request(
        &c.addr,
        "GET",
        "/admin/records?format=csv",
        &[AS_ADMIN],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("rt,button_pressed,"), "{body}");
    let (status, body) = request(
        &c.addr,
        "GET",
        "/admin/records?format=xml",
        &[AS_ADMIN],
        b"",
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        request(&c.addr, "GET", "/admin/records?format=csv", &[], b"").0,
        401
    );
}

#[test]
fn acknowledged_records_survive_a_kill() {
    let dir = TempDir(std::env::temp_dir().join(format!("exemplar-kill-{}", rand_suffix())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let db = dir.0.join("r.db");
    let (mut child, addr) = spawn(&db, &["--admin-token", ADMIN]);
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
    let (mut child, addr) = spawn(&db, &["--admin-token", ADMIN]);
    assert_eq!(
        stored(&addr).len(),
        20,
        "every acknowledged record is there after SIGKILL"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn limits_refuse_with_a_status_and_a_reason() {
    // Records per request.
    let c = start(&["--max-records", "3"]);
    let (status, body) = post(
        &c.addr,
        &envelope((0..4).map(|i| record("m", i)).collect()),
        &[],
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("4 in one request, at most 3"), "{body}");
    assert_eq!(
        post(
            &c.addr,
            &envelope((0..3).map(|i| record("m", i)).collect()),
            &[]
        )
        .0,
        200
    );

    // A client's request rate: the burst, then 429 with Retry-After; /health is not counted.
    let c = start(&["--rate", "0.5", "--burst", "4"]);
    for i in 0..4 {
        assert_eq!(post(&c.addr, &envelope(vec![record("r", i)]), &[]).0, 200);
    }
    let mut s = TcpStream::connect(&c.addr).unwrap();
    let body = envelope(vec![record("r", 4)]).to_string();
    write!(s, "POST /records HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 429"), "{raw}");
    assert!(raw.to_ascii_lowercase().contains("retry-after: 2"), "{raw}");
    assert_eq!(request(&c.addr, "GET", "/health", &[], b"").0, 200);

    // A body that stops arriving: 408 after --body-timeout-secs, nothing stored.
    let c = start(&["--body-timeout-secs", "1"]);
    let mut s = TcpStream::connect(&c.addr).unwrap();
    write!(s, "POST /records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"format\": ").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(stored(&c.addr).is_empty());

    // The database's size: 507 once full, logged, and the collector goes on.
    let c = start(&["--max-db-mib", "1"]);
    let big = |session: &str, n: u64| {
        envelope(
            (0..n)
                .map(|i| {
                    let mut r = record(session, i);
                    r["text"] = json!("y".repeat(40_000));
                    r
                })
                .collect(),
        )
    };
    let mut statuses = Vec::new();
    for round in 0..12 {
        statuses.push(post(&c.addr, &big(&format!("full{round}"), 5), &[]).0);
    }
    assert!(statuses.contains(&507), "{statuses:?}");
    assert_eq!(statuses[0], 200, "{statuses:?}");
    let kept = stored(&c.addr);
    assert!(!kept.is_empty(), "what fit is readable");
    assert_eq!(
        kept.len() % 5,
        0,
        "a request is stored whole or not at all: {}",
        kept.len()
    );
    assert_eq!(request(&c.addr, "GET", "/health", &[], b"").0, 200);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn health_answers_while_two_thousand_slow_or_idle_connections_are_held() {
    use std::time::{Duration, Instant};
    let c = start(&["--header-timeout-secs", "4"]);
    let pid = c.child.id();
    assert_eq!(request(&c.addr, "GET", "/health", &[], b"").0, 200);
    let before = rss_kib(pid);
    let mut held = Vec::new();
    for i in 0..2000 {
        let mut s = TcpStream::connect(&c.addr).unwrap();
        if i % 2 == 0 {
            // Slow: a request whose headers never end.
            s.write_all(b"POST /records HTTP/1.1\r\nHost: x\r\nX-Slow: a")
                .unwrap();
        }
        held.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut times = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        assert_eq!(request(&c.addr, "GET", "/health", &[], b"").0, 200);
        times.push(t.elapsed());
    }
    let during = rss_kib(pid);
    times.sort();
    eprintln!(
        "health with 2000 connections held: median {:?}, max {:?}; collector RSS {} KiB before, {} KiB during",
        times[4], times[8], before, during
    );
    assert!(
        times[4] < Duration::from_millis(100),
        "median /health {:?}",
        times[4]
    );
    assert!(
        during < before + 96 * 1024,
        "memory bounded: {before} KiB -> {during} KiB"
    );
    // After the header timeout the server has closed every one of them.
    std::thread::sleep(Duration::from_secs(5));
    let mut closed = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(_) => closed += 1, // 0 bytes (closed) or an answer before closing
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(
        closed, 2000,
        "slow and idle connections are closed after the header timeout"
    );
}
