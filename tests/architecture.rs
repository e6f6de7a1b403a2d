//! The dependency rules of ARCHITECTURE.md ("What each crate may depend on"), checked
//! against `cargo metadata`: which workspace crates each crate may use, and the kinds of
//! dependency it must never take (a DOM, a GPU, a server, a database), so that the pure
//! logic stays pure and the participant's page never links the command line's stack.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

/// (crate, the workspace crates it may depend on, external crates it must not depend on).
const RULES: &[(&str, &[&str], &[&str])] = &[
    (
        "exemplar-core",
        &[],
        &[
            "wgpu", "web-sys", "js-sys", "leptos", "gloo-net", "tokio", "axum", "hyper",
            "rusqlite", "postgres", "image",
        ],
    ),
    (
        "exemplar-engine",
        &[],
        &[
            "web-sys", "leptos", "gloo-net", "tokio", "axum", "hyper", "rusqlite", "postgres",
        ],
    ),
    (
        "exemplar-analysis",
        &["exemplar-core"],
        &[
            "wgpu", "web-sys", "leptos", "gloo-net", "tokio", "axum", "hyper", "rusqlite",
            "postgres",
        ],
    ),
    (
        "exemplar",
        &["exemplar-core", "exemplar-engine"],
        &["tokio", "axum", "hyper", "rusqlite", "postgres", "clap"],
    ),
    (
        "exemplar-cli",
        &["exemplar-core", "exemplar-engine", "exemplar-analysis"],
        &["leptos", "web-sys", "gloo-net"],
    ),
    (
        "exemplar-fuzz",
        &[
            "exemplar-core",
            "exemplar-engine",
            "exemplar-analysis",
            "exemplar-cli",
        ],
        &["leptos", "web-sys"],
    ),
];

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn every_crate_keeps_to_its_dependency_rules() {
    let meta = metadata();
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let ruled: BTreeSet<&str> = RULES.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(
        names, ruled,
        "every workspace crate has a rule here and in ARCHITECTURE.md"
    );

    let mut broken = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        let (_, allowed, forbidden) = RULES.iter().find(|(n, _, _)| *n == name).unwrap();
        for dep in package["dependencies"].as_array().unwrap() {
            // Dev-dependencies serve the tests (tract-onnx as a reference, say), not the crate.
            if dep["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep_name = dep["name"].as_str().unwrap();
            if names.contains(dep_name) && !allowed.contains(&dep_name) {
                broken.push(format!("{name} depends on {dep_name}, which it may not"));
            }
            if forbidden.contains(&dep_name) {
                broken.push(format!("{name} depends on {dep_name}, which it must not"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The page's own module never links the engine: only the worker binary does, so a
/// participant without live checks never downloads it.
#[test]
fn only_the_engine_worker_uses_the_engine() {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("bin/engine_worker.rs")
                && std::fs::read_to_string(&path)
                    .unwrap()
                    .contains("exemplar_engine")
            {
                found.push(path.display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(
        found.is_empty(),
        "these app files use the engine: {found:?}"
    );
}
