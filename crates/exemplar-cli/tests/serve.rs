//! `exemplar serve` as a real process: it hands out the site and what the experiment
//! declares, and nothing else (no dotfile, no database, no symlink out of its folder).

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp(name: &str) -> Dir {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "exemplar-serve-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Dir(dir)
}

struct Server(Child, String);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(site: &Path, experiment: &Path, db: &Path) -> Server {
    let (child, addr) = common::spawn_server(&[
        "serve".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--site".as_ref(),
        site.as_os_str(),
        "--experiment".as_ref(),
        experiment.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
    Server(child, addr)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    common::request(addr, "GET", path, &[], b"")
}

/// A client folder and a fresh experiment (`exemplar new`) with things that must not leak.
fn fixture(root: &Path) -> (PathBuf, PathBuf) {
    let site = root.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("index.html"),
        "<!doctype html><title>client</title>",
    )
    .unwrap();
    std::fs::write(site.join("app.js"), "// the client").unwrap();
    std::fs::write(site.join(".env"), "SECRET=1").unwrap();
    let exp = root.join("exp");
    let out = common::command().arg("new").arg(&exp).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(exp.join("notes-about-participants.txt"), "private").unwrap();
    std::fs::create_dir_all(exp.join(".git")).unwrap();
    std::fs::write(exp.join(".git/config"), "[core]").unwrap();
    std::fs::write(exp.join("old.db"), "SQLite format 3").unwrap();
    let outside = root.join("outside.txt");
    std::fs::write(&outside, "outside the served folders").unwrap();
    std::os::unix::fs::symlink(&outside, site.join("out.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, exp.join("out.txt")).unwrap();
    (site, exp)
}

#[test]
fn serves_the_site_and_the_declared_files_only() {
    let dir = temp("only");
    let (site, exp) = fixture(&dir.0);
    // A declared stimulus replaced by a symlink that leaves the experiment folder.
    let exp_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(exp.join("experiment.json")).unwrap())
            .unwrap();
    let batch = &exp_json["units"][0]["batches"][0]["references"];
    let linked = exp.join(batch.as_str().unwrap()).join("max_9.png");
    std::fs::remove_file(&linked).unwrap();
    std::os::unix::fs::symlink(dir.0.join("outside.txt"), &linked).unwrap();
    let declared = format!("/experiment/{}/min_9.png", batch.as_str().unwrap());
    let server = serve(&site, &exp, &dir.0.join("r.db"));
    let a = &server.1;
    for path in [
        "/",
        "/app.js",
        "/experiment/experiment.json",
        declared.as_str(),
    ] {
        assert_eq!(get(a, path).0, 200, "{path}");
    }
    for path in [
        "/.env",
        "/%2eenv",
        "/out.txt",
        "/experiment/out.txt",
        "/experiment/notes-about-participants.txt",
        "/experiment/.git/config",
        "/experiment/old.db",
        "/experiment/GUIDE.md",
        "/experiment/../r.db",
        "/experiment/%2e%2e/r.db",
        "/r.db",
        "/r.db-wal",
    ] {
        let (status, body) = get(a, path);
        assert_eq!(status, 404, "{path} must not be served: {body}");
        assert!(!body.contains("outside the served") && !body.contains("private"));
    }
    let symlinked = format!("/experiment/{}/max_9.png", batch.as_str().unwrap());
    assert_eq!(
        get(a, &symlinked).0,
        404,
        "a declared file that is a symlink out"
    );
}

/// The response's head (status line and headers, lower-cased) and its body's length on the wire.
fn head_of(addr: &str, path: &str, accept: Option<&str>) -> (String, usize) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let accept = accept.map_or(String::new(), |a| format!("Accept-Encoding: {a}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{accept}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&raw[..split]).to_lowercase(),
        raw.len() - split - 4,
    )
}

#[test]
fn files_are_sent_compressed_when_the_browser_accepts_it() {
    let dir = temp("compressed");
    let (site, exp) = fixture(&dir.0);
    let code = "function participant() { return 'a trial'; }\n".repeat(2000);
    std::fs::write(site.join("app.js"), &code).unwrap();
    let server = serve(&site, &exp, &dir.0.join("r.db"));
    let a = &server.1;
    for (accept, encoding) in [("br, gzip", "br"), ("gzip", "gzip")] {
        let (head, len) = head_of(a, "/app.js", Some(accept));
        assert!(
            head.contains(&format!("content-encoding: {encoding}")),
            "{accept}: {head}"
        );
        assert!(
            len < code.len() / 10,
            "{accept}: {len} bytes on the wire for {}",
            code.len()
        );
        // Compression hides nothing that was refused.
        assert!(head_of(a, "/.env", Some(accept))
            .0
            .starts_with("http/1.1 404"));
    }
    let (head, len) = head_of(a, "/app.js", None);
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(len, code.len());
    // The experiment's own files too (experiment.json), as the page loads them.
    let (head, _) = head_of(a, "/experiment/experiment.json", Some("gzip"));
    assert!(head.contains("content-encoding: gzip"), "{head}");
}

#[test]
fn a_database_inside_a_served_folder_is_refused_at_start() {
    let dir = temp("db");
    let (site, exp) = fixture(&dir.0);
    for db in [site.join("responses.db"), exp.join("stimuli/r.db")] {
        let out = common::command()
            .args(["serve", "--port", "0", "--site"])
            .arg(&site)
            .arg("--experiment")
            .arg(&exp)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", db.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is inside the served folder"), "{err}");
        assert!(!db.exists(), "no database was created there");
    }
}

#[test]
fn export_and_analyze_never_create_a_database() {
    let dir = temp("ro");
    let missing = dir.0.join("typo.db");
    for args in [
        vec!["export".as_ref(), "--db".as_ref(), missing.as_os_str()],
        vec!["analyze".as_ref(), missing.as_os_str()],
    ] {
        let out = common::command().args(&args).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no such database"), "{err}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    // An existing database is opened read-only: its bytes do not change.
    let db = dir.0.join("r.db");
    exemplar_cli::collector::Db::open(&db).unwrap();
    let before = std::fs::read(&db).unwrap();
    let out = common::command()
        .args(["export".as_ref(), "--db".as_ref(), db.as_os_str()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

/// An unbuilt folder's page texts come rendered, as `exemplar build` writes them, and
/// follow edits of `experiment.json` at once; a written `pages.json` wins.
#[test]
fn an_unbuilt_experiment_gets_its_pages_rendered() {
    let dir = temp("pages");
    let (site, exp) = fixture(&dir.0);
    let server = serve(&site, &exp, &dir.0.join("r.db"));
    let a = &server.1;
    let (status, body) = get(a, "/experiment/pages.json");
    assert_eq!(status, 200, "{body}");
    let pages: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pages["format"], "exemplar.pages/1");
    let text = std::fs::read_to_string(exp.join("experiment.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["pages"]["welcome"] = "# Hello <b>there</b>\n\n![a](img/a.png)".into();
    std::fs::write(exp.join("experiment.json"), json.to_string()).unwrap();
    let pages: serde_json::Value =
        serde_json::from_str(&get(a, "/experiment/pages.json").1).unwrap();
    assert_eq!(
        pages["pages"]["# Hello <b>there</b>\n\n![a](img/a.png)"],
        "<h1>Hello &lt;b&gt;there&lt;/b&gt;</h1>\n<p><img src=\"img/a.png\" alt=\"a\" /></p>\n"
    );
    // Not beside anything else, and not past the folder's checks.
    assert_eq!(get(a, "/experiment/stimuli/pages.json").0, 404);
    assert_eq!(get(a, "/pages.json").0, 404);
    // A stale file in the folder is not what an unbuilt experiment shows.
    std::fs::write(
        exp.join("pages.json"),
        "{\"format\":\"exemplar.pages/1\",\"pages\":{}}",
    )
    .unwrap();
    assert_eq!(
        get(a, "/experiment/pages.json").1,
        serde_json::to_string(&pages).unwrap()
    );
}
