//! Nodes side by side on one machine, started the way users start them: no optional listener
//! stops `serve`, the console's URL is where `admin console url` says, `/ready` answers only
//! for a node that is wholly up, and an address the user named that cannot be bound is an
//! error. The nodes listen on the console's default port on purpose, so these scenarios run
//! one after the other in one test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::Served;
use crate::helpers::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");

/// `ticketgate serve --listen LISTEN --data DATA` and nothing else.
#[allow(
    clippy::zombie_processes,
    reason = "the child is handed to `Served`, which kills and waits for it"
)]
fn serve(listen: &str, data: &Path, extra: &[&str]) -> Served {
    let child = Command::new(BIN)
        .args(["serve", "--listen", listen, "--data"])
        .arg(data)
        .args(extra)
        .env_remove("TICKETGATE_DATABASE_URL")
        .env_remove("TICKETGATE_CONSOLE_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Served(child)
}

/// The status and body of `GET http://ADDR/PATH`, if something answers.
fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((
        status,
        text.split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string(),
    ))
}

/// Waits until the node answers `/ready` 200 (panics after 60 s, or if it exits first).
fn ready(node: &mut Served, gateway: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = node.try_wait().unwrap() {
            panic!("the node exited ({status}) before it was ready");
        }
        if get(gateway, "/ready").is_some_and(|(code, _)| code == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{gateway} was never ready");
}

/// What `admin console url` prints for a data folder.
fn console_url(data: &Path) -> Value {
    let out = Command::new(BIN)
        .args(["admin", "--data"])
        .arg(data)
        .args(["console", "url"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[test]
fn nodes_side_by_side_with_default_flags_all_start_and_a_named_taken_address_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );

    // A gateway on the console's default port (as the old README's several-node example had
    // it) starts: its console moves to a free loopback port.
    assert!(
        std::net::TcpListener::bind("0.0.0.0:8081").is_ok(),
        "this test needs port 8081, the console's default, free on this machine"
    );
    let mut first = serve("0.0.0.0:8081", &a, &[]);
    ready(&mut first, "127.0.0.1:8081");
    let url_a = console_url(&a)["console_url"].as_str().unwrap().to_string();
    assert_ne!(host_port(&url_a), "127.0.0.1:8081", "{url_a}");

    // A second node beside it, with default flags but its own gateway port.
    let gateway_b = format!("127.0.0.1:{}", free_port());
    let mut second = serve(&gateway_b, &b, &[]);
    ready(&mut second, &gateway_b);
    let url_b = console_url(&b)["console_url"].as_str().unwrap().to_string();
    assert_ne!(url_a, url_b);
    for url in [&url_a, &url_b] {
        let (status, body) = get(&host_port(url), "/").expect("the console answers");
        assert_eq!(status, 200, "{url}: {body}");
    }
    // The first one's gateway still answers where it was asked to.
    assert_eq!(get("127.0.0.1:8081", "/health").unwrap().0, 200);

    // A console address the user named is not moved: it is an error, and the node never
    // says it is ready.
    let gateway_c = format!("127.0.0.1:{}", free_port());
    let taken = host_port(&url_b);
    let mut third = serve(&gateway_c, &c, &["--console-listen", &taken]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = third.try_wait().unwrap() {
            break status;
        }
        assert!(
            get(&gateway_c, "/ready").is_none_or(|(code, _)| code != 200),
            "a node about to fail answered /ready"
        );
        assert!(Instant::now() < deadline, "the node did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(third.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot listen on {taken} for the console")),
        "{stderr}"
    );

    // A clean stop takes the URL file away; a node that never had a console leaves none.
    drop(third);
    stop_cleanly(&mut second);
    assert!(!b.join("console_url").exists());
    let out = Command::new(BIN)
        .args(["admin", "--data"])
        .arg(&b)
        .args(["console", "url"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Stops a node with SIGTERM (a clean shutdown) and waits for it.
fn stop_cleanly(node: &mut Served) {
    let pid = node.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the node did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `serve --ephemeral` with `extra` flags, once its first line (what a client needs) is read.
pub(crate) fn ephemeral(extra: &[&str]) -> (Served, Value) {
    let mut command = Command::new(BIN);
    command.args(["serve", "--ephemeral"]).args(extra);
    ephemeral_from(command)
}

/// Runs `command` (which starts `serve --ephemeral`, perhaps through a shell) and reads its
/// first line.
#[allow(
    clippy::zombie_processes,
    reason = "the child is handed to `Served`, which kills and waits for it"
)]
pub(crate) fn ephemeral_from(mut command: Command) -> (Served, Value) {
    use std::io::BufRead;
    let mut node = command
        .env_remove("TICKETGATE_DATABASE_URL")
        .env_remove("TICKETGATE_LISTEN")
        .env_remove("TICKETGATE_CONSOLE_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = node.stdout.take().unwrap();
    let node = Served(node);
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .unwrap();
    let info = serde_json::from_str(&first).expect("the first line is one JSON object");
    (node, info)
}

/// A client of an ephemeral node's demo app, from what its first line says.
pub(crate) fn client_of(info: &Value) -> ticketgate::client::Client {
    use ticketgate::alipay::{Charset, PrivateKey, PublicKey, SignType};
    let text = |k: &str| info[k].as_str().unwrap().to_string();
    ticketgate::client::Client::new(
        &text("gateway_url"),
        &text("app_id"),
        PrivateKey::from_text(&text("app_private_key_base64")).unwrap(),
        PublicKey::from_text(&text("alipay_public_key_base64")).unwrap(),
        SignType::Rsa2,
        Charset::Utf8,
    )
}

/// `serve --ephemeral`: its first line on stdout is everything a client needs, the keys in
/// the forms SDKs take work as given, and a clean stop removes its folder.
#[test]
fn an_ephemeral_node_says_what_a_client_needs_and_leaves_nothing_behind() {
    let (mut node, info) = ephemeral(&[]);
    let folder = std::path::PathBuf::from(info["data"].as_str().unwrap());
    assert!(folder.join("ticketgate.db").exists());
    let gateway = info["gateway_url"].as_str().unwrap();
    // As root this machine lets it take port 80, which the official Python SDK needs.
    if info["port"] == 80 {
        assert!(!gateway.contains(":80/"), "no port in the URL: {gateway}");
    }
    let ticket = info["tickets"]["normal"][0].as_str().unwrap();
    let out = Command::new(BIN)
        .args([
            "call",
            "koubei.trade.ticket.ticketcode.query",
            &format!(
                r#"{{"ticket_code":"{ticket}","shop_id":"{}"}}"#,
                info["shop_id"].as_str().unwrap()
            ),
            "--gateway",
            gateway,
            "--app-id",
            info["app_id"].as_str().unwrap(),
            "--private-key",
            info["app_private_key_base64"].as_str().unwrap(),
            "--alipay-public-key",
            info["alipay_public_key_base64"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("EFFECTIVE"));
    let console = info["console_url"].as_str().unwrap();
    assert_eq!(get(&host_port(console), "/").unwrap().0, 200);
    stop_cleanly(&mut node);
    assert!(node.try_wait().unwrap().unwrap().success());
    assert!(!folder.exists(), "the ephemeral folder is removed on exit");
}

/// `--exit-with-stdin`: when the harness that started a node dies (here: it closes the
/// node's stdin, stdout and stderr, as a killed process does), the node stops cleanly — no
/// panic on the closed stderr — and removes its ephemeral folder.
#[test]
fn a_node_whose_harness_is_gone_stops_cleanly_and_leaves_nothing_behind() {
    use std::io::BufRead;
    let mut node = Command::new(BIN)
        .args(["serve", "--ephemeral", "--exit-with-stdin"])
        .env_remove("TICKETGATE_DATABASE_URL")
        .env_remove("TICKETGATE_LISTEN")
        .env_remove("TICKETGATE_CONSOLE_LISTEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(node.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let info: Value = serde_json::from_str(&first).unwrap();
    let folder = std::path::PathBuf::from(info["data"].as_str().unwrap());
    assert!(folder.exists());
    drop(node.stderr.take());
    drop(node.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the node outlived its stdin");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(!folder.exists(), "the ephemeral folder is removed on exit");
}
