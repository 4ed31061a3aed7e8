//! The docs are executed: every shell block of README.md, README.zh-CN.md, docs/*.md and
//! docs/zh/*.md runs, in order, as a user would paste it, against a fresh `serve` started in
//! a folder of its own (`cargo run --release -q --` and `target/release/ticketgate` run the
//! binary under test, `cargo build` is already done; the gateway's
//! and console's default addresses are the test node's, and the receiver's a free port, so
//! that the files can run side by side). What a line's comment says
//! it shows is asserted: its codes and ALL-CAPS words (`# 40004 REPEAT_CANCEL`) must be in the
//! command's output, `# exit N` is its exit status (otherwise it must succeed). A block whose
//! first line is `# illustrative: …` is not run, and is counted. docs/ci.md and its twin
//! build and install the merchant kits: `scripts/test-kits` runs their blocks instead. No link
//! may leave the repository.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::Served;
use crate::helpers::free_port;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");

/// Every documentation file whose blocks run (each has a test below; a new file needs one).
const DOCS: &[&str] = &[
    "README.md",
    "README.zh-CN.md",
    "docs/console.md",
    "docs/doctor.md",
    "docs/operating.md",
    "docs/performance.md",
    "docs/protocol.md",
    "docs/reliability.md",
    "docs/sandbox.md",
    "docs/sdk.md",
    "docs/zh/doctor.md",
    "docs/zh/protocol.md",
    "docs/zh/sandbox.md",
    "docs/zh/sdk.md",
];

/// Documentation whose shell blocks build and install the merchant kits (a release build, the
/// registries' packages): `scripts/test-kits` runs them, and checks that the Chinese file's
/// blocks are the English file's.
const RUN_BY_THE_KIT_TEST: &[&str] = &["docs/ci.md", "docs/zh/ci.md"];

/// One fenced shell block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    /// The line of the markdown file its first line is on.
    line: usize,
    text: String,
    illustrative: bool,
}

fn shell_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(info)) if matches!(info.trim(), "bash" | "sh" | "shell") => {
                current = Some((i + 2, Vec::new()));
            }
            (Some(_), Some(_)) => {
                let (line, lines) = current.take().expect("a block is open");
                let illustrative = lines
                    .first()
                    .is_some_and(|l| l.trim_start().starts_with("# illustrative"));
                blocks.push(Block {
                    line,
                    text: lines.join("\n"),
                    illustrative,
                });
            }
            (Some((_, lines)), None) => lines.push(line),
            _ => {}
        }
    }
    blocks
}

/// Where a line's trailing comment starts (a `#` after white space, outside quotes).
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if !single => escaped = true,
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'#' if !single && !double && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                return Some(i);
            }
            _ => {}
        }
    }
    None
}

/// What a comment says a command shows: its exit status, and the words that must be printed.
fn expectations(comment: &str) -> (i32, Vec<String>) {
    const NOT_PRINTED: [&str; 8] = ["JSON", "HTTP", "GMT", "URL", "PEM", "SDK", "ISV", "API"];
    let words: Vec<&str> = comment.split_whitespace().collect();
    let mut status = 0;
    let mut printed = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if *word == "exit"
            && let Some(n) = words.get(i + 1).and_then(|n| n.parse().ok())
        {
            status = n;
            continue;
        }
        let word = word.trim_matches(|c: char| ",.;:()\"'`".contains(c));
        let code_like = word.chars().count() >= 3
            && !word.chars().any(|c| c.is_lowercase())
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_-.:".contains(c))
            && (word.chars().count() >= 4 || word.chars().all(|c| c.is_ascii_digit()));
        let is_exit_number = i > 0 && words[i - 1] == "exit";
        if code_like && !is_exit_number && !NOT_PRINTED.contains(&word) {
            printed.push(word.to_string());
        }
    }
    (status, printed)
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The script a file's runnable blocks make: each logical line as written, or — a command with
/// a comment that says what it shows — run, printed and checked.
fn script(file: &str, blocks: &[Block]) -> String {
    let mut out = String::from(PRELUDE);
    for block in blocks.iter().filter(|b| !b.illustrative) {
        let lines: Vec<&str> = block.text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let start = i;
            while lines[i].trim_end().ends_with('\\') && i + 1 < lines.len() {
                i += 1;
            }
            let logical = lines[start..=i].join("\n");
            let last = lines[i];
            i += 1;
            let at = format!("{file}:{}", block.line + start);
            let Some(c) = comment_start(last).filter(|&c| !last[..c].trim().is_empty()) else {
                out.push_str(&logical);
                out.push('\n');
                continue;
            };
            let command = format!(
                "{}{}",
                &logical[..logical.len() - last.len()],
                last[..c].trim_end()
            );
            let first_word = command.split_whitespace().next().unwrap_or_default();
            let assigns = first_word.contains('=') && !first_word.starts_with('-');
            if assigns || command.trim_end().ends_with('&') {
                out.push_str(&logical);
                out.push('\n');
                continue;
            }
            let (status, printed) = expectations(&last[c + 1..]);
            let words: Vec<String> = printed.iter().map(|w| quoted(w)).collect();
            out.push_str(&format!(
                "__out=$( {{ {command}\n}} 2>&1 ) && __st=0 || __st=$?\nprintf '%s\\n' \"$__out\"\n__check \"$__st\" {status} {} {}\n",
                quoted(&at),
                words.join(" ")
            ));
        }
    }
    out
}

const PRELUDE: &str = r#"set -eo pipefail
cargo() {
  case "$1" in
    run)
      while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
      shift
      "$TICKETGATE_BIN" "$@" ;;
    build) ;;  # the binary under test is built already (target/release/ticketgate is it)
    *) command cargo "$@" ;;
  esac
}
ticketgate() { "$TICKETGATE_BIN" "$@"; }
__check() {
  local st=$1 want=$2 at=$3; shift 3
  if [ "$st" != "$want" ]; then echo "DOCS-FAIL $at: exit status $st, the text says $want" >&2; exit 97; fi
  for w in "$@"; do
    case "$__out" in *"$w"*) ;; *) echo "DOCS-FAIL $at: the text says it shows $w" >&2; exit 97;; esac
  done
}
"#;

/// A fresh `serve` in `work` (its data in `work/data`), once its demo tenant is ready.
#[allow(
    clippy::zombie_processes,
    reason = "the child is handed to `Served`, which kills and waits for it"
)]
fn serve(work: &Path) -> (Served, String, String) {
    let gateway = format!("127.0.0.1:{}", free_port());
    let child = Command::new(BIN)
        .args(["serve", "--listen", &gateway, "--data", "data"])
        .current_dir(work)
        .env_remove("TICKETGATE_DATABASE_URL")
        .env_remove("TICKETGATE_CONSOLE_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let console = std::fs::read_to_string(work.join("data/console_url"));
        if work.join("data/demo/demo.json").exists()
            && let Ok(console) = console
        {
            let console = console
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches('/');
            return (served, gateway, console.to_string());
        }
        assert!(Instant::now() < deadline, "serve did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs one file's blocks; answers how many ran and how many are illustrative.
fn run_doc(file: &str) -> (usize, usize) {
    let markdown = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
    let blocks = shell_blocks(&markdown);
    let illustrative = blocks.iter().filter(|b| b.illustrative).count();
    let runnable = blocks.len() - illustrative;
    eprintln!("{file}: {runnable} blocks run, {illustrative} illustrative");
    if runnable == 0 {
        return (0, illustrative);
    }
    let work = tempfile::tempdir().unwrap();
    for dir in ["examples", "scripts", "sdk"] {
        std::os::unix::fs::symlink(Path::new(ROOT).join(dir), work.path().join(dir)).unwrap();
    }
    std::fs::create_dir_all(work.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(BIN, work.path().join("target/release/ticketgate")).unwrap();
    let (node, gateway, console) = serve(work.path());
    let text = script(file, &blocks)
        .replace("127.0.0.1:8080", &gateway)
        .replace("127.0.0.1:8081", &console)
        .replace("127.0.0.1:8090", &format!("127.0.0.1:{}", free_port()));
    let path: PathBuf = work.path().join("doc.sh");
    std::fs::write(&path, &text).unwrap();
    let (stdout, stderr) = (work.path().join("doc.out"), work.path().join("doc.err"));
    // Its own process group: what a block leaves running (a receiver in the background) is
    // stopped with it, whether the blocks passed or not.
    let mut child = Command::new("bash")
        .arg(&path)
        .current_dir(work.path())
        .env("TICKETGATE_BIN", BIN)
        .env_remove("TICKETGATE_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.wait();
    drop(node);
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let status = status.unwrap_or_else(|| panic!("{file}: its blocks did not finish within 180 s"));
    assert!(
        status.success(),
        "{file}: a block failed (exit {:?})\n--- stderr\n{}\n--- stdout (the end)\n{}",
        status.code(),
        read(&stderr),
        tail(&read(&stdout), 4000),
    );
    (runnable, illustrative)
}

fn tail(text: &str, n: usize) -> &str {
    let mut at = text.len().saturating_sub(n);
    while !text.is_char_boundary(at) {
        at += 1;
    }
    &text[at..]
}

macro_rules! doc_tests {
    ($($name:ident => $file:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_doc($file);
            }
        )*
        /// Every file of the list has a test, and every markdown file of docs/ is in the list.
        #[test]
        fn every_doc_file_is_run() {
            let tested: Vec<&str> = vec![$($file),*];
            assert_eq!(tested, DOCS);
            let mut found = Vec::new();
            for dir in ["docs", "docs/zh"] {
                for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
                    let name = entry.unwrap().file_name().into_string().unwrap();
                    if name.ends_with(".md") {
                        found.push(format!("{dir}/{name}"));
                    }
                }
            }
            for file in found {
                assert!(
                    DOCS.contains(&file.as_str()) || RUN_BY_THE_KIT_TEST.contains(&file.as_str()),
                    "{file} is not run by the docs test"
                );
            }
        }
    };
}

doc_tests! {
    readme => "README.md",
    readme_zh => "README.zh-CN.md",
    console => "docs/console.md",
    doctor => "docs/doctor.md",
    operating => "docs/operating.md",
    performance => "docs/performance.md",
    protocol => "docs/protocol.md",
    reliability => "docs/reliability.md",
    sandbox => "docs/sandbox.md",
    sdk => "docs/sdk.md",
    zh_doctor => "docs/zh/doctor.md",
    zh_protocol => "docs/zh/protocol.md",
    zh_sandbox => "docs/zh/sandbox.md",
    zh_sdk => "docs/zh/sdk.md",
}

#[test]
fn the_docs_have_blocks_that_run_and_say_how_many_are_illustrative() {
    let (mut runnable, mut illustrative) = (0, 0);
    for file in DOCS {
        let markdown = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
        let blocks = shell_blocks(&markdown);
        illustrative += blocks.iter().filter(|b| b.illustrative).count();
        runnable += blocks.iter().filter(|b| !b.illustrative).count();
    }
    eprintln!("shell blocks: {runnable} run, {illustrative} illustrative");
    assert!(runnable >= 10, "{runnable} blocks run");
}

#[test]
fn no_link_leaves_the_repository() {
    let root = Path::new(ROOT).canonicalize().unwrap();
    let mut found = Vec::new();
    for file in DOCS
        .iter()
        .chain(RUN_BY_THE_KIT_TEST)
        .chain(&["ARCHITECTURE.md"])
    {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let dir = root.join(file).parent().unwrap().to_path_buf();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let target = &rest[..rest.find(')').unwrap_or(rest.len())];
            let path = target.split('#').next().unwrap_or_default();
            if target.starts_with("http://") || target.starts_with("https://") {
                found.push(format!("{file}: {target} leaves the repository"));
            } else if !path.is_empty() {
                match dir.join(path).canonicalize() {
                    Ok(p) if p.starts_with(&root) => {}
                    _ => found.push(format!("{file}: {target} is not a file of the repository")),
                }
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_runner_reads_comments_and_blocks_as_meant() {
    assert_eq!(
        comment_start(r##"call x "{\"a\":\"#\"}"  # 40004 X_Y"##),
        Some(24)
    );
    assert_eq!(comment_start("echo '# not' # yes"), Some(13));
    assert_eq!(comment_start("# whole line"), Some(0));
    assert_eq!(
        expectations(" 40004 REPEAT_CANCEL: refunded, exit 2"),
        (2, vec!["40004".to_string(), "REPEAT_CANCEL".to_string()])
    );
    assert_eq!(expectations(" one JSON object a line"), (0, vec![]));
    assert_eq!(expectations(" 401"), (0, vec!["401".to_string()]));
    let md =
        "x\n```bash\n# illustrative: no\nrun\n```\n```python\nnot shell\n```\n```sh\na\nb\n```\n";
    let blocks = shell_blocks(md);
    assert_eq!(blocks.len(), 2);
    assert!(blocks[0].illustrative && !blocks[1].illustrative);
    assert_eq!((blocks[1].line, blocks[1].text.as_str()), (10, "a\nb"));
}
