//! The architecture's rules, checked on the source: the pure core names no IO crate, only
//! `store/` names a database driver, every file says what it owns and stays readable in one
//! sitting, and ARCHITECTURE.md's "How to add a method" names files that exist.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The longest a file in `src/` may be.
const MAX_LINES: usize = 500;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code of a file without its comments (a comment may name anything).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether code uses a crate: a path through it (`tokio::…`) or an import of it.
fn uses_crate(code: &str, name: &str) -> bool {
    let path = format!("{name}::");
    code.match_indices(&path).any(|(at, _)| {
        at == 0 || {
            let before = code.as_bytes()[at - 1];
            !(before.is_ascii_alphanumeric() || before == b'_' || before == b':')
        }
    })
}

fn relative(path: &Path) -> String {
    path.strip_prefix(ROOT).unwrap().display().to_string()
}

#[test]
fn the_pure_core_names_no_io_crate() {
    let mut found = Vec::new();
    for dir in ["src/ledger", "src/alipay"] {
        for file in rust_files(&Path::new(ROOT).join(dir)) {
            let code = code_of(&std::fs::read_to_string(&file).unwrap());
            for name in ["sqlx", "rusqlite", "tokio", "axum", "hyper", "reqwest"] {
                if uses_crate(&code, name) {
                    found.push(format!("{} uses {name}", relative(&file)));
                }
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_store_names_a_database_driver() {
    let store = Path::new(ROOT).join("src/store");
    let mut found = Vec::new();
    for file in rust_files(&Path::new(ROOT).join("src")) {
        if file.starts_with(&store) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for name in ["sqlx", "rusqlite"] {
            if uses_crate(&code, name) {
                found.push(format!("{} uses {name}", relative(&file)));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn every_source_file_says_what_it_owns_and_fits_one_sitting() {
    let mut found = Vec::new();
    for file in rust_files(&Path::new(ROOT).join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.starts_with("//!") {
            found.push(format!("{} does not open with a //! line", relative(&file)));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES {
            found.push(format!(
                "{} has {lines} lines (at most {MAX_LINES})",
                relative(&file)
            ));
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// The paths a markdown section names in backticks (`src/…`, `tests/…`, `migrations/…`).
fn named_paths(section: &str) -> Vec<String> {
    section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            ["src/", "tests/", "migrations/", "sdk/"]
                .iter()
                .any(|p| s.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn how_to_add_a_method_names_files_that_exist() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let start = doc
        .find("## How to add a method")
        .expect("ARCHITECTURE.md has a section \"How to add a method\"");
    let rest = &doc[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let paths = named_paths(section);
    assert!(paths.len() >= 5, "the section names the files: {paths:?}");
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !Path::new(ROOT).join(p.trim_end_matches('/')).exists())
        .collect();
    assert!(missing.is_empty(), "named but missing: {missing:?}");
}

#[test]
fn the_rules_see_what_they_look_for() {
    assert!(uses_crate("use tokio::sync;", "tokio"));
    assert!(uses_crate("let x = sqlx::query(q);", "sqlx"));
    assert!(!uses_crate("my_tokio::x()", "tokio"));
    assert!(!uses_crate("crate::tokio::x", "tokio"));
    assert!(!code_of("let a = 1; // tokio::spawn").contains("tokio"));
    assert_eq!(
        named_paths("see `src/a.rs` and `Plan` and `tests/it/x.rs`"),
        ["src/a.rs", "tests/it/x.rs"]
    );
}
