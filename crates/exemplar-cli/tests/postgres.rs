//! The collector on PostgreSQL: a real server (Debian's postgresql, started by
//! scripts/pg_temp.sh for this test), two collector processes sharing it as behind a load
//! balancer, the same idempotence and conflict rules as on SQLite, and `export`/`analyze`
//! reading from it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// A throwaway PostgreSQL server; stopped and removed on drop.
struct Postgres {
    dir: PathBuf,
    url: String,
}

fn pg_temp() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg_temp.sh")
}

impl Postgres {
    fn start() -> Postgres {
        let dir = std::env::temp_dir().join(format!(
            "exemplar-pg-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let out = Command::new("bash")
            .arg(pg_temp())
            .arg("start")
            .arg(&dir)
            .output()
            .expect("run scripts/pg_temp.sh");
        assert!(
            out.status.success(),
            "PostgreSQL must be installed for this test (scripts/setup.sh installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Postgres { dir, url }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(pg_temp())
            .arg("stop")
            .arg(&self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A collector on the PostgreSQL database; the URL (with its password) goes through the
/// environment, as the README advises.
fn collector(pg: &Postgres) -> (std::process::Child, String) {
    std::env::set_var("EXEMPLAR_DB", &pg.url);
    spawn(Path::new(&pg.url), &["--admin-token", ADMIN])
}

fn trial_free_session(session: &str, n: u64) -> Vec<Value> {
    (0..n).map(|i| record(session, i)).collect()
}

#[test]
fn two_collectors_share_one_database_exactly_once() {
    let pg = Postgres::start();
    let (mut a, addr_a) = collector(&pg);
    let (mut b, addr_b) = collector(&pg);

    // Eight clients post overlapping batches to both collectors at once: every record is
    // sent to both, several times, as retries behind a load balancer would.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (addr_a, addr_b) = (addr_a.clone(), addr_b.clone());
            std::thread::spawn(move || {
                let session = format!("pg{}", t % 4);
                for round in 0..3 {
                    for addr in [&addr_a, &addr_b] {
                        let (status, body) =
                            post(addr, &envelope(trial_free_session(&session, 10)), &[]);
                        assert_eq!(status, 200, "round {round}: {body}");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let from_a = stored(&addr_a);
    let from_b = stored(&addr_b);
    assert_eq!(from_a.len(), 40, "4 sessions x 10 records, each once");
    assert_eq!(from_a, from_b, "both collectors read the same store");
    let mut ids: Vec<&str> = from_a
        .iter()
        .map(|r| r["record_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);

    // A conflict sent to the other collector: only that record is left out, and named.
    let mut changed = record("pg0", 3);
    changed["text"] = json!("other content");
    let (status, body) = post(
        &addr_b,
        &envelope(vec![record("pg9", 0), changed, record("pg9", 1)]),
        &[],
    );
    assert_eq!(status, 409, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["conflicts"], json!(["pg0-3"]));
    assert_eq!(answer["stored"], 2);
    // A record stored only under its own session, as on SQLite.
    let mut foreign = record("pg9", 5);
    foreign["record_id"] = json!("pg0-5");
    assert_eq!(post(&addr_a, &envelope(vec![foreign]), &[]).0, 400);

    // Acknowledged records survive a SIGKILL of the collector that took them.
    assert_eq!(
        post(&addr_a, &envelope(trial_free_session("killed", 5)), &[]).0,
        200
    );
    a.kill().unwrap();
    a.wait().unwrap();
    let after = stored(&addr_b);
    assert_eq!(after.len(), 47);
    assert_eq!(
        after.iter().find(|r| r["record_id"] == "pg0-3").unwrap()["text"],
        "hello 3",
        "the first content is kept"
    );
    b.kill().unwrap();
    b.wait().unwrap();

    // export and analyze read the database (read-only), with the URL from EXEMPLAR_DB.
    let out = common::command()
        .args(["export", "--format", "jsonl"])
        .env("EXEMPLAR_DB", &pg.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 47);
    let reports = std::env::temp_dir().join(format!("exemplar-pg-analysis-{}", rand_suffix()));
    let out = common::command()
        .arg("analyze")
        .arg(&pg.url)
        .arg("--out")
        .arg(&reports)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&reports);
    assert!(out.status.success(), "{out:?}");
    // A wrong password is a clear error that does not print the password.
    let wrong = pg.url.replacen("exemplar:", "exemplar:wrong", 1);
    let out = common::command()
        .args(["export", "--db", &wrong])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        !err.contains(&wrong[12..30]),
        "the password is not printed: {err}"
    );
}
