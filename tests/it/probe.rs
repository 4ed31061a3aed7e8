//! `ticketgate notify probe` against real receivers over HTTP: one that acknowledges
//! everything (it must fail, and be told it does not verify), one that verifies as a handler
//! should (it must pass), and the classic mistakes (verifying with the app's own key, keeping
//! `sign_type` in the string, not checking `app_id`), each of which the probe must name.

use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Bytes;
use serde_json::Value;
use ticketgate::alipay::sign::{self, ContentRule, NOTIFICATION};
use ticketgate::alipay::{Charset, PublicKey, SignType, form};

use crate::cli::Served;

const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");

/// How a test handler checks a notification.
#[derive(Clone, Copy)]
enum Handler {
    AcceptsAll,
    Verifies,
    VerifiesWithAppKey,
    KeepsSignType,
    NoAppIdCheck,
}

struct Keys {
    platform: PublicKey,
    app: PublicKey,
    app_id: String,
}

fn check(handler: Handler, keys: &Keys, body: &[u8]) -> bool {
    let params = form::decode(&form::split(body), Charset::Utf8).unwrap_or_default();
    let sign_type = params
        .get("sign_type")
        .and_then(|t| SignType::parse(t))
        .unwrap_or(SignType::Rsa2);
    let sign = params.get("sign").cloned().unwrap_or_default();
    let verify = |key: &PublicKey, rule: ContentRule| {
        let content = sign::content(&params, rule);
        key.verify(sign_type, content.as_bytes(), &sign)
    };
    let ours = params.get("app_id") == Some(&keys.app_id);
    match handler {
        Handler::AcceptsAll => true,
        Handler::Verifies => verify(&keys.platform, NOTIFICATION) && ours,
        Handler::VerifiesWithAppKey => verify(&keys.app, NOTIFICATION) && ours,
        Handler::KeepsSignType => {
            let keep = ContentRule {
                keep_empty: false,
                skip_sign_type: false,
            };
            verify(&keys.platform, keep) && ours
        }
        Handler::NoAppIdCheck => verify(&keys.platform, NOTIFICATION),
    }
}

/// A handler on a free loopback port; answers `success` or `fail`.
async fn receiver(handler: Handler, keys: Arc<Keys>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |body: Bytes| {
            let keys = keys.clone();
            async move {
                if check(handler, &keys, &body) {
                    "success"
                } else {
                    "fail"
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/notify")
}

/// An ephemeral node (its console on a port of its own) and what its first line says.
pub(crate) fn ephemeral() -> (Served, Value) {
    crate::instances::ephemeral(&["--console-listen", "127.0.0.1:0"])
}

pub(crate) fn probe(info: &Value, url: &str) -> (Option<i32>, Value) {
    let out = Command::new(BIN)
        .args(["notify", "probe", "--url", url, "--json", "--app-id"])
        .arg(info["app_id"].as_str().unwrap())
        .arg("--data")
        .arg(info["data"].as_str().unwrap())
        .env_remove("TICKETGATE_DATABASE_URL")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

fn codes(report: &Value) -> Vec<String> {
    report["mistakes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_fails_bad_handlers_names_their_mistakes_and_passes_a_good_one() {
    let (_node, info) = ephemeral();
    let text = |k: &str| info[k].as_str().unwrap().to_string();
    let keys = Arc::new(Keys {
        platform: PublicKey::from_text(&text("alipay_public_key_pem")).unwrap(),
        app: PublicKey::from_text(&text("app_public_key_pem")).unwrap(),
        app_id: text("app_id"),
    });
    let run = |handler| {
        let keys = keys.clone();
        let info = info.clone();
        async move {
            let url = receiver(handler, keys).await;
            tokio::task::spawn_blocking(move || probe(&info, &url))
                .await
                .unwrap()
        }
    };

    let (status, report) = run(Handler::Verifies).await;
    assert_eq!(status, Some(0), "{report:#}");
    assert_eq!(report["passed"], true);
    assert!(codes(&report).is_empty(), "{report:#}");
    assert_eq!(report["score"], "9/9", "{report:#}");

    let (status, report) = run(Handler::AcceptsAll).await;
    assert_eq!(status, Some(1));
    assert!(
        codes(&report).contains(&"NO_VERIFICATION".to_string()),
        "{report:#}"
    );

    let (status, report) = run(Handler::VerifiesWithAppKey).await;
    assert_eq!(status, Some(1));
    assert_eq!(codes(&report), ["APP_KEY_USED"], "{report:#}");

    let (status, report) = run(Handler::KeepsSignType).await;
    assert_eq!(status, Some(1));
    assert_eq!(codes(&report), ["SIGN_TYPE_IN_STRING"], "{report:#}");

    let (status, report) = run(Handler::NoAppIdCheck).await;
    assert_eq!(status, Some(1));
    assert_eq!(codes(&report), ["NO_APP_ID_CHECK"], "{report:#}");
}

/// `ticketgate receive` refuses what it cannot verify unless told to accept it: the probe
/// finds the first missing only the app_id check, the second acknowledging forgeries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_refuses_unverified_notifications_unless_told_otherwise() {
    let (_node, info) = ephemeral();
    for (extra, want) in [
        (None, "NO_APP_ID_CHECK"),
        (Some("--accept-unverified"), "NO_VERIFICATION"),
    ] {
        let listen = format!("127.0.0.1:{}", crate::helpers::free_port());
        let mut receiver = Command::new(BIN);
        receiver
            .args(["receive", "--listen", &listen, "--platform-public-key"])
            .arg(info["alipay_public_key_pem"].as_str().unwrap())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[allow(clippy::zombie_processes, reason = "handed to Served, which reaps it")]
        let _receiver = Served(receiver.spawn().unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(&listen).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the receiver did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let url = format!("http://{listen}/notify");
        let info = info.clone();
        let (status, report) = tokio::task::spawn_blocking(move || probe(&info, &url))
            .await
            .unwrap();
        assert_eq!(status, Some(1), "{report:#}");
        assert!(
            codes(&report).contains(&want.to_string()),
            "{extra:?}: {report:#}"
        );
    }
}
