//! The README's list of supported operators is the engine's (`exemplar_engine::operators`).

use std::path::Path;

/// The operators named (in backticks) between `<!-- operators:NAME -->` and the next
/// `<!-- /operators -->` in the README.
fn listed(readme: &str, name: &str) -> Vec<String> {
    let start = format!("<!-- operators:{name} -->");
    let from = readme
        .find(&start)
        .unwrap_or_else(|| panic!("README.md has no {start}"))
        + start.len();
    let to = from
        + readme[from..]
            .find("<!-- /operators -->")
            .expect("the end marker");
    readme[from..to]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn the_readme_lists_the_supported_operators() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let mut computed = listed(&readme, "computed");
    computed.sort();
    assert_eq!(computed, sorted(exemplar_engine::operators::COMPUTED));
    let mut folded = listed(&readme, "folded");
    folded.sort();
    assert_eq!(folded, sorted(exemplar_engine::operators::FOLDABLE));
}
