//! The binary itself: `serve` with its demo tenant and clean shutdown, `admin` output and
//! exit codes, and `call` against the server.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");

/// Runs `ticketgate admin --data DATA` with the words of `line` (none of which hold spaces).
pub(crate) fn admin(data: &Path, line: &str) -> Output {
    Command::new(BIN)
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(line.split_whitespace())
        .env_remove("TICKETGATE_DATABASE_URL")
        .output()
        .unwrap()
}

pub(crate) fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "exactly one JSON object: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn admin_commands_print_one_json_object_and_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let key = ticketgate::alipay::PrivateKey::generate();
    let key_file = data.join("app.pem");
    std::fs::write(&key_file, key.public_key().to_pem()).unwrap();
    let key_file = key_file.to_str().unwrap();
    let out = json_of(&admin(data, "merchant add --pid 2088000000000099 --name M"));
    assert_eq!(out["merchant_pid"], "2088000000000099");
    let dup = admin(data, "merchant add --pid 2088000000000099");
    assert_eq!(dup.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let bad = admin(data, "merchant add --pid 123");
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    let app = admin(
        data,
        "app add --app-id 2021000000000099 --merchant 2088000000000099 --public-key",
    );
    assert!(!app.status.success());
    let out = json_of(&admin(
        data,
        &format!(
            "app add --app-id 2021000000000099 --merchant 2088000000000099 --public-key {key_file} --sign-type RSA --charset gbk"
        ),
    ));
    assert_eq!(out["sign_type"], "RSA");
    let unknown_owner = admin(
        data,
        &format!("app add --app-id x1 --merchant 2088000000000098 --public-key {key_file}"),
    );
    assert_eq!(unknown_owner.status.code(), Some(2));
    json_of(&admin(
        data,
        "shop add --merchant 2088000000000099 --shop-id s1 --name 店",
    ));
    let bad_price = admin(
        data,
        "item add --merchant 2088000000000099 --item-id i1 --name n --price 1.234",
    );
    assert_eq!(bad_price.status.code(), Some(2));
    let unknown_shop = admin(
        data,
        "item add --merchant 2088000000000099 --item-id i1 --name n --price 1 --shops s1,s9",
    );
    assert_eq!(unknown_shop.status.code(), Some(2));
    json_of(&admin(
        data,
        "item add --merchant 2088000000000099 --item-id i1 --name n --price 9.9 --times 5 --shops s1",
    ));
    let order = json_of(&admin(data, "order issue --item i1 --tickets 2"));
    let tickets = order["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    let code = tickets[0].as_str().unwrap();
    assert!(code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit()));
    let ext = json_of(&admin(
        data,
        "order external --item i1 --order-no O1 --code A --code B",
    ));
    assert_eq!(ext["tickets"], serde_json::json!(["A", "B"]));
    let used = json_of(&admin(
        data,
        &format!("ticket use {code} --shop s1 --quantity 2"),
    ));
    assert_eq!(used["channel"], "MERCHANT_CONSOLE");
    assert!(
        !used["request_id"].as_str().unwrap().is_empty(),
        "prints the request id it used"
    );
    let shown = json_of(&admin(data, &format!("ticket show {code}")));
    assert_eq!(shown["available_quantity"], "3");
    let refused = admin(data, &format!("ticket use {code} --shop s1 --quantity 4"));
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("QUANTITY_NOT_ENOUGH"));
    json_of(&admin(data, "ticket refund A --order-no O1"));
    let again = admin(data, "ticket refund A --order-no O1");
    assert_eq!(again.status.code(), Some(2));
    let token = json_of(&admin(
        data,
        "auth grant --app-id 2021000000000099 --merchant 2088000000000099",
    ));
    assert!(token["app_auth_token"].as_str().unwrap().len() > 20);
    assert!(
        token["expires_at"].is_string(),
        "a year by default: {token}"
    );
    let keys = json_of(&admin(data, "keys show"));
    assert!(
        keys["alipay_public_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let private = data.join("keys/alipay_private_key.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

/// A `ticketgate serve` child process, killed and reaped when dropped (also when a test fails).
pub struct Served(pub std::process::Child);

impl std::ops::Deref for Served {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ticketgate serve` on a free port and waits for its demo tenant.
#[allow(
    clippy::zombie_processes,
    reason = "the child is handed to `Served`, which kills and waits for it"
)]
pub fn serve(data: &Path, extra: &[&str]) -> (Served, Value) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--console-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data)
        .args(extra)
        .env_remove("TICKETGATE_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let demo_file = data.join("demo/demo.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&demo_file)
            && let Ok(demo) = serde_json::from_str::<Value>(&text)
        {
            let gateway = demo["gateway"].as_str().unwrap_or_default().to_string();
            if !gateway.ends_with(":0/gateway.do") && reqwest_blocking_ok(&gateway) {
                return (Served(child), demo);
            }
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the server did not come up");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn reqwest_blocking_ok(gateway: &str) -> bool {
    let addr = gateway
        .trim_start_matches("http://")
        .trim_end_matches("/gateway.do");
    std::net::TcpStream::connect(addr).is_ok()
}

fn call(demo: &Value, method: &str, biz: &str, alipay_key: &str) -> Output {
    let s = |k: &str| demo[k].as_str().unwrap().to_string();
    Command::new(BIN)
        .args([
            "call",
            method,
            biz,
            "--gateway",
            &s("gateway"),
            "--app-id",
            &s("app_id"),
            "--private-key",
            &s("app_private_key_file"),
        ])
        .args(["--alipay-public-key", alipay_key])
        .output()
        .unwrap()
}

#[test]
fn serve_creates_a_demo_tenant_that_call_can_use_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, demo) = serve(dir.path(), &[]);
    for key in [
        "app_private_key_file",
        "app_public_key_file",
        "alipay_public_key_file",
    ] {
        let path = demo[key].as_str().unwrap();
        assert!(
            Path::new(path).is_absolute() && Path::new(path).exists(),
            "{key}"
        );
    }
    assert_eq!(demo["tickets"]["normal"].as_array().unwrap().len(), 5);
    assert_eq!(demo["tickets"]["times_card"].as_array().unwrap().len(), 2);
    let ticket = demo["tickets"]["normal"][0].as_str().unwrap();
    let shop = demo["shop_id"].as_str().unwrap();
    let alipay_key = demo["alipay_public_key_file"].as_str().unwrap();
    let out = call(
        &demo,
        "koubei.trade.ticket.ticketcode.query",
        &format!(r#"{{"ticket_code":"{ticket}","shop_id":"{shop}"}}"#),
        alipay_key,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(node["ticket_status"], "EFFECTIVE");
    // The wrong platform key: the answer is printed but the exit status says it did not verify.
    let wrong = dir.path().join("wrong.pem");
    std::fs::write(
        &wrong,
        ticketgate::alipay::PrivateKey::generate()
            .public_key()
            .to_pem(),
    )
    .unwrap();
    let out = call(
        &demo,
        "koubei.trade.ticket.ticketcode.query",
        &format!(r#"{{"ticket_code":"{ticket}","shop_id":"{shop}"}}"#),
        wrong.to_str().unwrap(),
    );
    assert_eq!(out.status.code(), Some(2));
    // Admin works while the server runs.
    let shown = json_of(&admin(dir.path(), &format!("ticket show {ticket}")));
    assert_eq!(shown["ticket_status"], "EFFECTIVE");
    // SIGTERM: a clean exit.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // A second start keeps the same tenant and key.
    let (mut again, demo2) = serve(dir.path(), &[]);
    assert_eq!(demo2["tickets"], demo["tickets"]);
    let out = call(
        &demo2,
        "koubei.trade.ticket.ticketcode.query",
        &format!(r#"{{"ticket_code":"{ticket}","shop_id":"{shop}"}}"#),
        alipay_key,
    );
    assert!(out.status.success());
    again.kill().unwrap();
    again.wait().unwrap();
}

#[test]
fn call_says_why_an_answer_does_not_verify_and_takes_keys_inline() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, demo) = serve(dir.path(), &[]);
    let ticket = demo["tickets"]["normal"][0].as_str().unwrap();
    let shop = demo["shop_id"].as_str().unwrap();
    let biz = format!(r#"{{"ticket_code":"{ticket}","shop_id":"{shop}"}}"#);
    let query = "koubei.trade.ticket.ticketcode.query";
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let run = |extra: &[&str], private: &str, alipay: &str| {
        let s = |k: &str| demo[k].as_str().unwrap().to_string();
        Command::new(BIN)
            .args([
                "call",
                query,
                &biz,
                "--gateway",
                &s("gateway"),
                "--app-id",
                &s("app_id"),
            ])
            .args(["--private-key", private, "--alipay-public-key", alipay])
            .args(extra)
            .output()
            .unwrap()
    };
    let file = |k: &str| demo[k].as_str().unwrap().to_string();
    let text = |k: &str| std::fs::read_to_string(file(k)).unwrap();

    // The app's own public key given as the platform's.
    let out = run(
        &[],
        &file("app_private_key_file"),
        &file("app_public_key_file"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("your app's own public key"),
        "{}",
        stderr(&out)
    );
    // Some other key.
    let stranger = ticketgate::alipay::PrivateKey::generate()
        .public_key()
        .to_pem();
    let out = run(&[], &file("app_private_key_file"), &stranger);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("signed with another key"),
        "{}",
        stderr(&out)
    );
    // Keys inline: PEM, and bare base64 as the Java SDK takes them.
    let bare = |pem: &str| {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    let out = run(
        &[],
        &text("app_private_key_file"),
        &text("alipay_public_key_file"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &[],
        &bare(&text("app_private_key_file")),
        &bare(&text("alipay_public_key_file")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A public key where the private key goes is named as such.
    let out = run(
        &[],
        &file("app_public_key_file"),
        &file("alipay_public_key_file"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("this is a public key, not a private key"),
        "{}",
        stderr(&out)
    );
    // --verbose shows the string signed and the request.
    let out = run(
        &["--verbose"],
        &file("app_private_key_file"),
        &file("alipay_public_key_file"),
    );
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("string signed (RSA2, utf-8):\napp_id="),
        "{err}"
    );
    assert!(
        err.contains("request: POST ") && err.contains("&sign="),
        "{err}"
    );
    // A reader that goes away (`call … | head -0`) is not a panic.
    let s = |k: &str| demo[k].as_str().unwrap().to_string();
    let mut piped = Command::new(BIN)
        .args([
            "call",
            query,
            &biz,
            "--gateway",
            &s("gateway"),
            "--app-id",
            &s("app_id"),
        ])
        .args(["--private-key", &file("app_private_key_file")])
        .args(["--alipay-public-key", &file("alipay_public_key_file")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(piped.stdout.take());
    let out = piped.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_private_key_given_as_an_apps_public_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let key_file = data.join("private.pem");
    std::fs::write(
        &key_file,
        ticketgate::alipay::PrivateKey::generate().to_pkcs1_pem(),
    )
    .unwrap();
    json_of(&admin(data, "merchant add --pid 2088000000000099 --name M"));
    let out = admin(
        data,
        &format!(
            "app add --app-id 2021000000000099 --merchant 2088000000000099 --public-key {}",
            key_file.to_str().unwrap()
        ),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("this is a private key, not a public key"),
        "{err}"
    );

    // show, and a key replaced.
    let public = data.join("public.pem");
    let key = ticketgate::alipay::PrivateKey::generate();
    std::fs::write(&public, key.public_key().to_pem()).unwrap();
    let public = public.to_str().unwrap();
    json_of(&admin(
        data,
        &format!(
            "app add --app-id 2021000000000099 --merchant 2088000000000099 --public-key {public}"
        ),
    ));
    let shown = json_of(&admin(data, "app show --app-id 2021000000000099"));
    assert_eq!(shown["merchant_pid"], "2088000000000099");
    assert_eq!(shown["public_key_base64"], key.public_key().to_base64());
    assert_eq!(shown["public_key_bits"], 2048);
    let next = ticketgate::alipay::PrivateKey::generate();
    std::fs::write(data.join("next.pem"), next.public_key().to_pem()).unwrap();
    let set = json_of(&admin(
        data,
        &format!(
            "app key set --app-id 2021000000000099 --public-key {}",
            data.join("next.pem").to_str().unwrap()
        ),
    ));
    assert_eq!(set["public_key_base64"], next.public_key().to_base64());
    let missing = admin(data, "app show --app-id 2021000000000098");
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn json_logs_carry_each_calls_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--console-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir.path())
        .env_remove("TICKETGATE_DATABASE_URL")
        .env("RUST_LOG", "info,ticketgate=debug,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let demo_file = dir.path().join("demo/demo.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    let demo = loop {
        if let Ok(text) = std::fs::read_to_string(&demo_file)
            && let Ok(demo) = serde_json::from_str::<Value>(&text)
            && reqwest_blocking_ok(demo["gateway"].as_str().unwrap_or_default())
            && !demo["gateway"]
                .as_str()
                .unwrap_or_default()
                .ends_with(":0/gateway.do")
        {
            break demo;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    };
    let ticket = demo["tickets"]["normal"][0].as_str().unwrap();
    let shop = demo["shop_id"].as_str().unwrap();
    let out = call(
        &demo,
        "koubei.trade.ticket.ticketcode.query",
        &format!(r#"{{"ticket_code":"{ticket}","shop_id":"{shop}"}}"#),
        demo["alipay_public_key_file"].as_str().unwrap(),
    );
    assert!(out.status.success());
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["message"] == "answered")
        .unwrap_or_else(|| panic!("no call logged: {text}"));
    assert_eq!(answered["app_id"], demo["app_id"]);
    assert_eq!(answered["method"], "koubei.trade.ticket.ticketcode.query");
    assert_eq!(answered["code"], "10000");
    assert!(answered["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(answered["request"].as_u64().is_some());
    assert_eq!(answered["level"], "DEBUG");
}

/// An `admin` command that wrote leaves the write-ahead log empty: its store copies the log
/// into the database when it closes. Otherwise a bulk load's log (2.4 GB for 10⁷ tickets) was
/// left for the next `serve`, whose first commits copied it back while its reads searched it.
#[test]
fn admin_writes_leave_the_write_ahead_log_empty() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    json_of(&admin(data, "merchant add --pid 2088000000000098 --name M"));
    json_of(&admin(
        data,
        "item add --merchant 2088000000000098 --item-id W1 --name w --price 1",
    ));
    let issued = json_of(&admin(data, "order issue --item W1 --tickets 2000"));
    assert_eq!(issued["tickets"].as_array().unwrap().len(), 2000);
    let wal = data.join("ticketgate.db-wal");
    let left = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(left, 0, "{} holds {left} bytes", wal.display());
}

/// A command that only reads, pointed at a folder with no store, says so and makes nothing; a
/// write or `admin init` makes the store.
#[test]
fn a_read_never_makes_a_store_and_init_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("typo");
    let out = admin(&data, "merchant list");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no ticketgate store"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!data.exists(), "a read made the data folder");
    let out = admin(&data, "init");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_of(&out)["backend"], "sqlite");
    assert_eq!(
        json_of(&admin(&data, "merchant list"))["merchants"],
        serde_json::json!([])
    );
}

/// `admin reset --yes` beside a running `serve`: the demo tenant is back at once with the same
/// app id and keys, so the configuration a client holds keeps working with the new tickets.
#[test]
fn a_reset_keeps_the_demo_keys_and_a_running_node_serves_the_new_state_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_node, demo) = serve(&data, &[]);
    let alipay_key = demo["alipay_public_key_file"].as_str().unwrap().to_string();
    let private_before =
        std::fs::read_to_string(demo["app_private_key_file"].as_str().unwrap()).unwrap();
    let old = demo["tickets"]["normal"][0].as_str().unwrap().to_string();
    let query = |code: &str| {
        format!(
            r#"{{"ticket_code":"{code}","shop_id":"{}"}}"#,
            demo["shop_id"].as_str().unwrap()
        )
    };
    let out = call(
        &demo,
        "koubei.trade.ticket.ticketcode.query",
        &query(&old),
        &alipay_key,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("EFFECTIVE"));

    let reset = json_of(&admin(&data, "reset --yes"));
    let new = reset["demo"]["tickets"]["normal"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    assert_eq!(reset["demo"]["app_id"], demo["app_id"]);
    let private_after =
        std::fs::read_to_string(demo["app_private_key_file"].as_str().unwrap()).unwrap();
    assert_eq!(
        private_before, private_after,
        "the demo app keeps its key pair"
    );

    // The running node, asked with the same configuration: the old ticket is gone, the new one
    // is there.
    let gone = call(
        &demo,
        "koubei.trade.ticket.ticketcode.query",
        &query(&old),
        &alipay_key,
    );
    assert!(
        String::from_utf8_lossy(&gone.stdout).contains("TICKET_NOT_EXIST"),
        "{gone:?}"
    );
    let fresh = call(
        &demo,
        "koubei.trade.ticket.ticketcode.query",
        &query(&new),
        &alipay_key,
    );
    assert!(fresh.status.success(), "{fresh:?}");
    assert!(
        String::from_utf8_lossy(&fresh.stdout).contains("EFFECTIVE"),
        "{fresh:?}"
    );
}
