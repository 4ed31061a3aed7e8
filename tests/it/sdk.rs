//! The real, unmodified Alipay SDKs against a real server: the official Python SDK, the
//! community `python-alipay-sdk` (`AliPay`, `ISVAliPay`) and the official Node SDK v4, each
//! verifying every response signature itself. `sdk/install` (run by `scripts/test`) installs
//! them, pinned, into git-ignored folders.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use ticketgate::alipay::{Charset, PrivateKey, SignType};
use ticketgate::notify::worker::{Deliverer, Settings};
use ticketgate::operations::admin;

use crate::helpers::*;
use crate::receiver::Receiver;

// Braces inside values are written as themselves, as production writes them. They are
// balanced here: python-alipay-sdk counts braces without regard to quotes, so an unbalanced
// one breaks it against production too (`python_alipay_sdk_breaks_on_unbalanced_braces`).
const CHINESE_SHOP: &str = "门店{一}";
const EXT: &str = "备注：{口碑}";

/// Scenarios per combination in the call matrix (`scenarios` in the scripts).
const SCENARIOS: usize = 17;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let venv = root().join(".ci/deps/venv/bin/python");
    assert!(
        venv.exists(),
        "the SDKs are not installed: run sdk/install (./scripts/test does)"
    );
    venv
}

fn node_script() -> PathBuf {
    let script = root().join("sdk/node/scenarios.mjs");
    assert!(
        root().join("sdk/node/node_modules/alipay-sdk").exists(),
        "the Node SDK is not installed: run sdk/install (./scripts/test does)"
    );
    script
}

fn bare(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// The configuration a scenario script reads: keys in each SDK's form, and one combination of
/// sign type × charset × auth per entry, each with tickets of its own.
async fn matrix_config(
    app: &TestApp,
    sign_types: &[&str],
    charsets: &[&str],
    prefix: &str,
) -> Value {
    admin::add_shop(app.service(), M1, CHINESE_SHOP, "一号门店")
        .await
        .unwrap();
    let token = admin::grant_token(app.service(), A3, M1, None)
        .await
        .unwrap()["app_auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let key_forms = |k: &PrivateKey| (bare(&k.to_pkcs1_pem()), k.to_pkcs1_pem());
    // M1's items whose codes A1 and A3 issue as code merchants (A3 acts for M1 with its token).
    for code_merchant in [A1, A3] {
        add_code_merchant_item(app, &format!("{prefix}-cm-{code_merchant}"), code_merchant).await;
    }
    let mut combos = Vec::new();
    for sign_type in sign_types {
        for charset in charsets {
            for isv in [false, true] {
                let (app_id, key) = if isv {
                    (A3, app_key(2))
                } else {
                    (A1, app_key(0))
                };
                let (b64, pem) = key_forms(key);
                let n = combos.len();
                let expired = app.issue_one(EXPIRED).await;
                let refund = app.issue_one(NORMAL).await;
                let awaiting = admin::issue_order(
                    app.service(),
                    &format!("{prefix}-cm-{app_id}"),
                    2,
                    None,
                    None,
                )
                .await
                .unwrap();
                combos.push(json!({
                    "sign_type": sign_type,
                    "charset": charset,
                    "app_id": app_id,
                    "token": if isv { Value::from(token.clone()) } else { Value::Null },
                    "private_pkcs1_b64": b64,
                    "private_pkcs1_pem": pem,
                    "prefix": format!("{prefix}{n}x"),
                    "shop_id": CHINESE_SHOP,
                    "ext": EXT,
                    "normal": app.issue_one(NORMAL).await,
                    "card": app.issue_one(CARD).await,
                    "expired": expired.clone(),
                    "expired_order": app.order_of(&expired).await,
                    "merchant": M1,
                    "refund": refund.clone(),
                    "refund_order": app.order_of(&refund).await,
                    "send_order": awaiting["order_no"],
                    "send_order_no": awaiting["send_order_no"],
                    "send_token": awaiting["send_token"],
                }));
            }
        }
    }
    // Not the key of any app that calls: every request it signs has a bad signature.
    let (wrong_b64, wrong_pem) = key_forms(app_key(1));
    let platform = app.platform_public_key();
    json!({
        "gateway": app.gateway,
        "alipay_public_key_b64": platform.to_base64(),
        "alipay_public_key_pem": platform.to_pem(),
        "wrong_private_pkcs1_b64": wrong_b64,
        "wrong_private_pkcs1_pem": wrong_pem,
        "combos": combos,
    })
}

/// Runs a scenario script and returns its rows.
fn run(program: &Path, args: &[&str], input: &Value, dir: &Path) -> Vec<Value> {
    let file = dir.join("sdk-input.json");
    std::fs::write(&file, input.to_string()).unwrap();
    let out = Command::new(program)
        .args(args)
        .arg(&file)
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{program:?} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Prints the pass table and fails on any failed row.
fn report(rows: &[Value], expected: usize) {
    eprintln!("| client | sign type | charset | auth | scenario | result |");
    eprintln!("|---|---|---|---|---|---|");
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let verdict = if r["ok"] == true {
            format!("pass ({})", s("detail"))
        } else {
            format!("FAIL: {}", s("detail"))
        };
        eprintln!(
            "| {} | {} | {} | {} | {} | {} |",
            s("client"),
            s("sign_type"),
            s("charset"),
            s("auth"),
            s("scenario"),
            verdict
        );
    }
    let failed: Vec<&Value> = rows.iter().filter(|r| r["ok"] != true).collect();
    assert!(
        failed.is_empty(),
        "{} of {} scenarios failed: {failed:#?}",
        failed.len(),
        rows.len()
    );
    assert_eq!(
        rows.len(),
        expected,
        "every scenario of every combination ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_works_unmodified() {
    // This SDK ignores any port in its server URL: the server listens on port 80.
    let app = TestApp::spawn_listening("127.0.0.21:80").await;
    assert!(
        app.gateway.starts_with("http://127.0.0.21/"),
        "{}",
        app.gateway
    );
    let config = matrix_config(&app, &["RSA2", "RSA"], &["utf-8", "gbk"], "py").await;
    let rows = run(
        &python(),
        &["sdk/python/scenarios.py", "official"],
        &config,
        &app.data(),
    );
    report(&rows, 2 * 2 * 2 * SCENARIOS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_alipay_sdk_works_unmodified() {
    let app = TestApp::spawn().await;
    // It always signs and sends utf-8, as one GET query.
    let config = matrix_config(&app, &["RSA2", "RSA"], &["utf-8"], "fz").await;
    let rows = run(
        &python(),
        &["sdk/python/scenarios.py", "fz"],
        &config,
        &app.data(),
    );
    report(&rows, 2 * 2 * SCENARIOS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_node_sdk_works_unmodified() {
    let app = TestApp::spawn().await;
    // It always encodes utf-8.
    let config = matrix_config(&app, &["RSA2", "RSA"], &["utf-8"], "nd").await;
    let rows = run(
        Path::new("node"),
        &[node_script().to_str().unwrap(), "matrix"],
        &config,
        &app.data(),
    );
    report(&rows, 2 * 2 * SCENARIOS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_verify_with_the_sdks_own_checks() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    // Two apps of one merchant: RSA2/utf-8 (A1) and RSA/gbk.
    app.add_app_of_m1("2021000000000055", "RSA", "gbk", Some(&receiver.url))
        .await;
    let rsa_app = app.client_for("2021000000000055", SignType::Rsa, Charset::Gbk);
    let codes = app.issue(NORMAL, 2).await;
    let notify = [("notify_url", receiver.url.as_str())];
    let use1 = json!({"request_id": "n1", "ticket_code": codes[0], "shop_id": SHOP}).to_string();
    assert_success(&app.client().call(USE, &use1, &notify).await.unwrap());
    let cancel1 =
        json!({"request_id": "n2", "request_biz_no": "n1", "ticket_code": codes[0]}).to_string();
    assert_success(&app.client().call(CANCEL, &cancel1, &notify).await.unwrap());
    let use2 = json!({"request_id": "n3", "ticket_code": codes[1], "shop_id": SHOP}).to_string();
    assert_success(&rsa_app.call(USE, &use2, &[]).await.unwrap());
    let deliverer = Deliverer::new(
        app.store().clone(),
        app.app().platform_key.clone(),
        Settings::default(),
    );
    let now = ticketgate::clock::system_now_ms();
    for _ in 0..3 {
        deliverer.deliver_next(now).await.unwrap();
    }
    let received = receiver.all();
    assert_eq!(received.len(), 3);
    let mut forms = Vec::new();
    for (i, r) in received.iter().enumerate() {
        let charset = if r.head.to_ascii_lowercase().contains("charset=gbk") {
            Charset::Gbk
        } else {
            Charset::Utf8
        };
        let fields =
            ticketgate::alipay::form::decode(&ticketgate::alipay::form::split(&r.body), charset)
                .unwrap();
        let name = format!(
            "{} {} {}",
            fields["biz_type"], fields["sign_type"], fields["charset"]
        );
        let base = json!({
            "alipay_public_key_pem": app.platform_public_key().to_pem(),
            "any_private_pem": app_key(0).to_pkcs1_pem(),
        });
        let mut genuine = base.clone();
        genuine["name"] = format!("{i} {name}").into();
        genuine["fields"] = json!(fields);
        genuine["expect"] = true.into();
        let mut tampered = genuine.clone();
        tampered["name"] = format!("{i} {name} tampered").into();
        tampered["fields"]["quantity"] = "9".into();
        tampered["expect"] = false.into();
        forms.push(genuine);
        forms.push(tampered);
    }
    let forms = Value::Array(forms);
    let mut rows = run(
        &python(),
        &["sdk/python/scenarios.py", "verify-notify"],
        &forms,
        &app.data(),
    );
    rows.extend(run(
        Path::new("node"),
        &[node_script().to_str().unwrap(), "verify-notify"],
        &forms,
        &app.data(),
    ));
    report(&rows, 12);
}

/// python-alipay-sdk finds the answer's node by counting `{` and `}` without regard to quotes,
/// so a value with an unbalanced brace (here a shop id) makes it cut the wrong text and refuse
/// a genuine answer. Production writes braces as themselves too, so this is the client's limit;
/// the test asserts what it does, and fails loudly if the client changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_alipay_sdk_breaks_on_unbalanced_braces() {
    let app = TestApp::spawn().await;
    let shop = "门店}二{";
    admin::add_shop(app.service(), M1, shop, "二号门店")
        .await
        .unwrap();
    let code = app.issue_one(NORMAL).await;
    let pem = app_key(0).to_pkcs1_pem();
    let input = json!({
        "gateway": app.gateway,
        "alipay_public_key_pem": app.platform_public_key().to_pem(),
        "app_id": A1,
        "private_pkcs1_pem": pem,
        "ticket_code": code,
        "shop_id": shop,
    });
    let rows = run(
        &python(),
        &["sdk/python/scenarios.py", "fz-unbalanced"],
        &input,
        &app.data(),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["raised"], "AliPayValidationError",
        "python-alipay-sdk refuses the genuine answer: {}",
        rows[0]
    );
    // The answer itself is sound: this gateway's client verifies it, and the use happened.
    let reply = app.query(&code).await;
    assert_success(&reply);
    assert_eq!(reply.field("ticket_status"), "USED", "{}", reply.node_text);
}

/// Protocol modes with the SDKs: the token flow (official Python SDK's request classes and
/// python-alipay-sdk's `ISVAliPay`, with and without refresh), a call in a sign type the app has
/// no key for (official Python SDK), AES (Node SDK `encryptKey`; the official Python SDK's AES
/// cannot run on Python 3, which the script asserts), and certificate mode (Node SDK with
/// `appCertPath`/`alipayPublicCertPath`/`alipayRootCertPath`, python-alipay-sdk `DCAliPay`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_modes_work_with_the_sdks() {
    // The official Python SDK ignores any port in its server URL: the server listens on port 80.
    let app = TestApp::spawn_listening("127.0.0.22:80").await;
    let code = |app: &TestApp| {
        let s = app.service().clone();
        async move {
            admin::auth_code(&s, A3, M1, None).await.unwrap()["app_auth_code"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    admin::add_app(
        app.service(),
        admin::NewApp {
            app_id: "2021000000000088".into(),
            merchant_pid: M1.into(),
            public_key: app_key(0).public_key().to_pem(),
            sign_type: "RSA2".into(),
            charset: "utf-8".into(),
            notify_url: None,
        },
    )
    .await
    .unwrap();
    let aes = admin::set_app_aes_key(app.service(), A1, false)
        .await
        .unwrap()["aes_key"]
        .as_str()
        .unwrap()
        .to_string();
    // A certificate-mode app of M1 (key 0), its three files written where the SDKs read them.
    let cert_app = "2021000000000089";
    app.add_app_of_m1(cert_app, "RSA2", "utf-8", None).await;
    let cert_dir = app.data().join("certs");
    let issued = admin::app_cert(app.service(), cert_app, &cert_dir, false)
        .await
        .unwrap();
    let cert_file = |name: &str| cert_dir.join(name).to_str().unwrap().to_string();
    let read = |name: &str| std::fs::read_to_string(cert_dir.join(name)).unwrap();
    let app_cert_name = format!("appCertPublicKey_{cert_app}.crt");
    let platform = app.platform_public_key();
    let isv_key = app_key(2);
    let config = json!({
        "gateway": app.gateway,
        "alipay_public_key_b64": platform.to_base64(),
        "alipay_public_key_pem": platform.to_pem(),
        "merchant": M1,
        "shop_id": SHOP,
        "isv": {"app_id": A3, "private_pkcs1_b64": bare(&isv_key.to_pkcs1_pem()), "private_pkcs1_pem": isv_key.to_pkcs1_pem()},
        "official": {"auth_code": code(&app).await, "ticket": app.issue_one(NORMAL).await},
        "fz": {"auth_code": code(&app).await, "ticket": app.issue_one(NORMAL).await},
        "rsa2_only": {"app_id": "2021000000000088", "private_pkcs1_b64": bare(&app_key(0).to_pkcs1_pem())},
        "aes": {"app_id": A1, "private_pkcs1_b64": bare(&app_key(0).to_pkcs1_pem()), "key": aes},
        "cert": {
            "app_id": cert_app,
            "private_pkcs1_pem": app_key(0).to_pkcs1_pem(),
            "app_cert": read(&app_cert_name),
            "alipay_cert": read("alipayCertPublicKey_RSA2.crt"),
            "root_cert": read("alipayRootCert.crt"),
            "app_cert_sn": issued["app_cert_sn"],
            "alipay_root_cert_sn": issued["alipay_root_cert_sn"],
            "ticket": app.issue_one(NORMAL).await,
        },
    });
    let mut rows = run(
        &python(),
        &["sdk/python/scenarios.py", "modes"],
        &config,
        &app.data(),
    );
    let node = json!({
        "gateway": app.gateway,
        "alipay_public_key_pem": platform.to_pem(),
        "app_id": A1,
        "private_pkcs1_pem": app_key(0).to_pkcs1_pem(),
        "aes_key": aes,
        "wrong_aes_key": ticketgate::alipay::aes::AesKey::generate().to_base64(),
        "ticket": app.issue_one(NORMAL).await,
        "shop_id": SHOP,
        "cert": {
            "app_id": cert_app,
            "app_cert_path": cert_file(&app_cert_name),
            "alipay_public_cert_path": cert_file("alipayCertPublicKey_RSA2.crt"),
            "alipay_root_cert_path": cert_file("alipayRootCert.crt"),
            "app_cert_sn": issued["app_cert_sn"],
            "alipay_root_cert_sn": issued["alipay_root_cert_sn"],
            "alipay_cert_sn": issued["alipay_cert_sn"],
            "ticket": app.issue_one(NORMAL).await,
        },
    });
    rows.extend(run(
        Path::new("node"),
        &[node_script().to_str().unwrap(), "modes"],
        &node,
        &app.data(),
    ));
    report(&rows, 6 + 3 + 4 + 5 + 5);
}

/// `notify probe` passes a handler that verifies with the SDKs' own checks, as their docs write
/// it (python-alipay-sdk's `verify`, the Node SDK's `checkNotifySign`), plus an app_id check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_passes_handlers_that_verify_with_the_sdks_own_checks() {
    use std::io::BufRead;
    let (_node, info) = crate::probe::ephemeral();
    let private_pem = std::fs::read_to_string(
        PathBuf::from(info["data"].as_str().unwrap()).join("demo/app_private_key.pem"),
    )
    .unwrap();
    let cfg = json!({
        "app_id": info["app_id"],
        "any_private_pem": private_pem,
        "alipay_public_key_pem": info["alipay_public_key_pem"],
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("receiver.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let python_script = root().join("sdk/python/scenarios.py");
    let receivers: [(&str, PathBuf, PathBuf); 2] = [
        ("python-alipay-sdk verify", python(), python_script),
        (
            "alipay-sdk checkNotifySign",
            PathBuf::from("node"),
            node_script(),
        ),
    ];
    for (name, program, script) in receivers {
        let mut child = std::process::Command::new(&program)
            .arg(&script)
            .arg("receive-notify")
            .arg(&cfg_path)
            .current_dir(script.parent().unwrap())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let url = format!("http://127.0.0.1:{}/notify", port.trim());
        let info = info.clone();
        let (status, report) =
            tokio::task::spawn_blocking(move || crate::probe::probe(&info, &url))
                .await
                .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(status, Some(0), "{name}: {report:#}");
        assert_eq!(report["passed"], true, "{name}: {report:#}");
    }
}
