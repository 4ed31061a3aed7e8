//! Crashes under load: a real `serve` process is killed with SIGKILL while 16 clients use and
//! cancel tickets; after a restart on the same data, every acknowledged use and cancel is
//! there, nothing is applied twice, and replays answer what was acknowledged.
//!
//!   CRASH_ROUNDS=3 (the default, what CI runs); more for a longer run.

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use ticketgate::alipay::{Charset, PrivateKey, PublicKey, SignType};
use ticketgate::client::Client;

use crate::cli::serve;
use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");

fn client_of(demo: &Value) -> Client {
    let file = |k: &str| std::fs::read_to_string(demo[k].as_str().unwrap()).unwrap();
    Client::new(
        demo["gateway"].as_str().unwrap(),
        demo["app_id"].as_str().unwrap(),
        PrivateKey::from_text(&file("app_private_key_file")).unwrap(),
        PublicKey::from_text(&file("alipay_public_key_file")).unwrap(),
        SignType::Rsa2,
        Charset::Utf8,
    )
}

#[derive(Default)]
struct Acked {
    uses: HashSet<String>,
    cancels: HashSet<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_or_applied_twice_across_kill_9_under_load() {
    let rounds: usize = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut demo) = serve(dir.path(), &["--notify-workers", "0"]);
    let shop = demo["shop_id"].as_str().unwrap().to_string();
    let issued = Command::new(BIN)
        .args(["admin", "--data"])
        .arg(dir.path())
        .args(["order", "issue", "--item", "2019000000000001", "--tickets"])
        .arg((400 * rounds).to_string())
        .env_remove("TICKETGATE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(issued.status.success());
    let issued: Value = serde_json::from_slice(&issued.stdout).unwrap();
    let all: Vec<String> = issued["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let acked = Arc::new(Mutex::new(Acked::default()));
    for round in 0..rounds {
        let codes: Arc<Vec<String>> = Arc::new(all[round * 400..(round + 1) * 400].to_vec());
        let client = client_of(&demo);
        let mut tasks = Vec::new();
        for t in 0..16 {
            let (client, codes, acked, shop) =
                (client.clone(), codes.clone(), acked.clone(), shop.clone());
            tasks.push(tokio::spawn(async move {
                for code in codes.iter().skip(t).step_by(16) {
                    let used = json!({"request_id": format!("u{code}"), "ticket_code": code, "shop_id": shop});
                    let Ok(reply) = client.call(USE, &used.to_string(), &[]).await else {
                        return;
                    };
                    if reply.code() != "10000" {
                        continue;
                    }
                    assert!(reply.verified);
                    acked.lock().unwrap().uses.insert(code.clone());
                    if code.as_bytes()[11] % 2 == 0 {
                        let cancel = json!({"request_id": format!("c{code}"), "request_biz_no": format!("u{code}"), "ticket_code": code});
                        let Ok(reply) = client.call(CANCEL, &cancel.to_string(), &[]).await else {
                            return;
                        };
                        if reply.code() == "10000" {
                            acked.lock().unwrap().cancels.insert(code.clone());
                        }
                    }
                }
            }));
        }
        // Let the load run, then kill the server mid-flight.
        tokio::time::sleep(Duration::from_millis(700)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        (child, demo) = serve(dir.path(), &["--notify-workers", "0"]);
    }
    // After the last restart: every acknowledged effect is there, once.
    let client = client_of(&demo);
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(!acked.uses.is_empty(), "the load acknowledged some uses");
    for code in &all {
        let q = json!({"ticket_code": code, "shop_id": shop});
        let reply = client.call(QUERY, &q.to_string(), &[]).await.unwrap();
        assert!(reply.verified);
        let kinds: Vec<&str> = reply.node["ticket_trans_info_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["ticket_trans_type"].as_str().unwrap())
            .collect();
        let uses = kinds.iter().filter(|k| **k == "USE").count();
        let cancels = kinds.iter().filter(|k| **k == "CANCEL").count();
        assert!(uses <= 1 && cancels <= uses, "{code}: {kinds:?}");
        let status = reply.field("ticket_status");
        let expected = if uses > cancels { "USED" } else { "EFFECTIVE" };
        assert_eq!(status, expected, "{code}: {kinds:?}");
        if acked.uses.contains(code) {
            assert_eq!(uses, 1, "{code}: an acknowledged use was lost");
            let used =
                json!({"request_id": format!("u{code}"), "ticket_code": code, "shop_id": shop});
            let replay = client.call(USE, &used.to_string(), &[]).await.unwrap();
            assert_eq!(replay.field("biz_code"), "BIZ_ALREADY_SUCCESS", "{code}");
        }
        if acked.cancels.contains(code) {
            assert_eq!(cancels, 1, "{code}: an acknowledged cancel was lost");
        }
    }
    eprintln!(
        "{rounds} kill -9 rounds: {} acknowledged uses and {} acknowledged cancels, all there once",
        acked.uses.len(),
        acked.cancels.len()
    );
    drop(child);
}
