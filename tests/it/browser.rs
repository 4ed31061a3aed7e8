//! The web console in a real headless Chromium, driven through chromedriver's W3C WebDriver
//! protocol (plain JSON over HTTP): log in, find calls made with an SDK and open a failing one's
//! diagnosis, follow a ticket's timeline, resend a parked notification, add and clear a fault.
//! `.ci/run` installs Debian's `chromium` and `chromium-driver`. With `CONSOLE_SCREENSHOTS=DIR`
//! the pages are saved there at 1280×800 (docs/console/ holds the committed ones).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::{Answer, Receiver};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn which(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Sends a JSON body and reads a JSON answer.
async fn send_json(request: reqwest::RequestBuilder, body: &Value) -> Value {
    let text = request
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A chromedriver process and one headless Chromium session.
struct Browser {
    driver: Child,
    session: String,
    base: String,
    http: reqwest::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Browser {
        let chromium = which(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]).expect(
            "Chromium is not installed: .ci/run installs Debian's chromium and chromium-driver",
        );
        let chromedriver = which(&["/usr/bin/chromedriver"])
            .expect("chromedriver is not installed: .ci/run installs Debian's chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(text) = r.text().await
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", "--hide-scrollbars", "--lang=zh-CN"],
            },
        }}});
        let created = send_json(http.post(format!("{base}/session")), &caps).await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        let mut browser = Browser {
            driver,
            session,
            base,
            http,
        };
        browser.base = format!("{}/session/{}", browser.base, browser.session);
        // A 1280×800 viewport: the window is that plus the browser's own chrome.
        browser
            .post("window/rect", json!({"width": 1280, "height": 800}))
            .await;
        let chrome = browser
            .post(
                "execute/sync",
                json!({"script": "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]", "args": []}),
            )
            .await;
        let (w, h) = (
            chrome[0].as_i64().unwrap_or(0),
            chrome[1].as_i64().unwrap_or(0),
        );
        browser
            .post("window/rect", json!({"width": 1280 + w, "height": 800 + h}))
            .await;
        browser
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = send_json(self.http.post(format!("{}/{path}", self.base)), &body).await;
        r["value"].clone()
    }

    async fn get(&self, path: &str) -> Value {
        let text = self
            .http
            .get(format!("{}/{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.post("url", json!({"url": url})).await;
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .post("elements", json!({"using": "css selector", "value": css}))
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (up to 15 s) until `css` matches at least `n` elements; returns them.
    async fn wait_for(&self, css: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.find_all(css).await;
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {n} × {css} on the page: {}",
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        match self.find_all(css).await.first() {
            None => String::new(),
            Some(id) => self
                .get(&format!("element/{id}/text"))
                .await
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// Waits until the text of `css` contains `want`.
    async fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text(css).await;
            if text.contains(want) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {want:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let id = self.wait_for(css, 1).await.remove(0);
        self.post(&format!("element/{id}/click"), json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.wait_for(css, 1).await.remove(0);
        self.post(&format!("element/{id}/clear"), json!({})).await;
        self.post(&format!("element/{id}/value"), json!({"text": text}))
            .await;
    }

    async fn screenshot(&self, dir: &Path, name: &str) {
        let png = self.get("screenshot").await;
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            png.as_str().expect("a screenshot"),
        )
        .unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    async fn quit(&self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

/// The console's API answers nothing without the token.
async fn api_refuses_without_the_token(console: &str) {
    let http = reqwest::Client::new();
    for path in [
        "/api/calls",
        "/api/tickets/123456789012",
        "/api/notifications",
        "/api/tenants",
    ] {
        let r = http.get(format!("{console}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let r = http
            .get(format!("{console}{path}"))
            .header("authorization", "Bearer wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path} with a wrong token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_calls_tickets_notifications_and_sandbox_powers_in_chromium() {
    let mut app = TestApp::unstarted(
        TestApp::default_limits(),
        tempfile::tempdir().unwrap(),
        None,
    );
    app.console = Some("127.0.0.1:0".into());
    app.notify.workers = 1;
    app.notify.schedule_ms = vec![20, 20];
    app.start("127.0.0.1:0").await;
    app.seed().await;
    let console = format!(
        "http://{}",
        app.running.as_ref().unwrap().console_addr.unwrap()
    );
    let token = ticketgate::console::token(&app.data()).unwrap();
    let shots = std::env::var_os("CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| app.data().join("screenshots"));
    api_refuses_without_the_token(&console).await;

    let browser = Browser::start().await;
    // A wrong token sees the login page again, and no data.
    browser.go(&console).await;
    browser.type_into("#token", "not-the-token").await;
    browser.click("#login-button").await;
    browser.wait_for("#login-error", 1).await;
    assert!(browser.find_all("#page").await.is_empty());
    browser.screenshot(&shots, "login.png").await;
    browser.type_into("#token", &token).await;
    browser.click("#login-button").await;
    browser.wait_for("nav a.current", 1).await;
    // Chinese by default, English at a click (and back, for the screenshots).
    browser.wait_text("nav a.current", "调用").await;
    browser.click("#lang").await;
    browser.wait_text("nav a.current", "Calls").await;
    browser.click("#lang").await;
    browser.wait_text("nav a.current", "调用").await;

    // A passing and a failing call, made with the official Node SDK.
    let code = app.issue_one(NORMAL).await;
    let calls = json!({
        "gateway": app.gateway,
        "app_id": A1,
        "good_key": app_key(0).to_pkcs1_pem(),
        "bad_key": app_key(1).to_pkcs1_pem(),
        "alipay_public_key_pem": app.platform_public_key().to_pem(),
        "ticket": code,
        "shop_id": SHOP,
    });
    let file = app.data().join("calls.json");
    std::fs::write(&file, calls.to_string()).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(root.join("sdk/node/scenarios.mjs"))
        .arg("calls")
        .arg(&file)
        .current_dir(&root)
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{rows} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows.matches("\"ok\":true").count(), 2, "{rows}");

    // The Calls page finds both (it updates by itself); the failing one opens to its diagnosis.
    browser.go(&format!("{console}/#calls")).await;
    browser.wait_for("#calls-table tr.call", 2).await;
    browser.wait_for("#calls-table tr.call.ok", 1).await;
    browser.click("#calls-table tr.call.bad").await;
    let diagnosis = browser.wait_text("#diagnosis", "[WRONG_KEY]").await;
    assert!(diagnosis.contains("[WRONG_KEY]"), "{diagnosis}");
    assert!(
        browser
            .text("#sign-string")
            .await
            .contains("method=koubei.trade.ticket.ticketcode.query")
    );
    browser.screenshot(&shots, "calls.png").await;
    // A string signed without sign_type: the part it lacks is marked in the gateway's string.
    let client = app.client();
    let mut params = client.params(QUERY, &query_biz(&code), &[]);
    let content = ticketgate::alipay::sign::content(
        &params,
        ticketgate::alipay::sign::REQUEST_WITHOUT_EMPTIES,
    )
    .replace("&sign_type=RSA2", "");
    params.insert(
        "sign".into(),
        app_key(0).sign(ticketgate::alipay::SignType::Rsa2, content.as_bytes()),
    );
    let omitted = client.send(QUERY, &params).await.unwrap();
    assert_eq!(omitted.sub_code(), "isv.invalid-signature");
    browser
        .go(&format!("{console}/#calls?q=SIGN_TYPE_OMITTED"))
        .await;
    browser.click("#calls-table tr.call.bad").await;
    browser.wait_text("#diagnosis", "[SIGN_TYPE_OMITTED]").await;
    assert_eq!(
        browser.text("#sign-string mark.diff").await,
        "sign_type=RSA2"
    );

    // A ticket's timeline after a use and its cancel, each linked to the call that made it.
    let receiver = Receiver::start(vec![Answer(500, "fail"); 3]).await;
    assert_success(&app.use_notifying("bu1", &code, &receiver.url).await);
    assert_success(&app.cancel_use("bc1", "bu1", &code).await);
    browser.go(&format!("{console}/#tickets?code={code}")).await;
    browser.wait_for("#timeline li", 2).await;
    assert_eq!(browser.text("#ticket-status").await, "EFFECTIVE");
    let timeline = browser.text("#timeline").await;
    assert!(
        timeline.contains("USE") && timeline.contains("CANCEL"),
        "{timeline}"
    );
    browser.screenshot(&shots, "tickets.png").await;
    // By order number: the order's tickets, each leading to its page.
    let order_no = app.order_of(&code).await;
    browser
        .go(&format!("{console}/#tickets?order_no={order_no}"))
        .await;
    browser.wait_for("tr.order-ticket", 1).await;
    browser.click("tr.order-ticket a").await;
    browser.wait_for("#timeline li", 2).await;
    browser.click("#timeline li.USE a.call-link").await;
    browser
        .wait_text("#calls-table", "koubei.trade.ticket.ticketcode.use")
        .await;

    // The use's notification fails three times and is parked; resend it, and it is delivered.
    browser.go(&format!("{console}/#notifications")).await;
    browser
        .wait_for("#notifications-table tr.notification.parked", 1)
        .await;
    browser
        .click("#notifications-table tr.notification.parked")
        .await;
    browser.wait_for("#attempts li", 3).await;
    browser.screenshot(&shots, "notifications.png").await;
    browser.click("#resend").await;
    browser.go(&format!("{console}/#tenants")).await;
    browser.wait_for("tr.app", 3).await;
    browser.screenshot(&shots, "tenants.png").await;
    browser.go(&format!("{console}/#notifications")).await;
    browser
        .wait_for("#notifications-table tr.notification.delivered", 1)
        .await;
    // Probe the handler from the notification's page: this test receiver acknowledges
    // whatever arrives now, and the probe says it does not verify.
    browser
        .click("#notifications-table tr.notification.delivered")
        .await;
    browser.click("#probe").await;
    browser.wait_text("#probe-report", "NO_VERIFICATION").await;

    // Deliver an app's notifications twice, from the tenants page.
    browser.go(&format!("{console}/#tenants")).await;
    browser.wait_for("tr.app button.notify-twice", 3).await;
    browser.click("tr.app button.notify-twice").await;
    browser
        .wait_for("tr.app button.notify-twice[data-on='true']", 1)
        .await;

    // Add a fault: calls fail and every page says so; clear it: they pass again.
    browser.go(&format!("{console}/#sandbox")).await;
    browser.type_into("#fault-answer", "SYSTEM_ERROR").await;
    browser.click("#fault-add").await;
    browser.wait_for("tr.fault.on", 1).await;
    browser.wait_for("#active-faults", 1).await;
    browser.type_into("#clock-by", "2h").await;
    browser.click("#clock-advance").await;
    browser.wait_for("tr.clock", 1).await;
    browser.screenshot(&shots, "sandbox.png").await;
    let code2 = app.issue_one(NORMAL).await;
    assert_refused(&app.use_code("bf1", &code2).await, "SYSTEM_ERROR");
    browser.click("tr.fault.on button.clear").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser.find_all("tr.fault").await.is_empty() {
        assert!(Instant::now() < deadline, "the fault was not cleared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_success(&app.use_code("bf2", &code2).await);
    // A fault that drops the connection, from the form.
    browser.click("#fault-drop").await;
    browser.click("#fault-add").await;
    browser.wait_text("tr.fault.on", "DROP").await;
    assert!(
        app.client()
            .call(USE, &query_biz(&code2), &[])
            .await
            .is_err()
    );
    browser.click("#faults-clear").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser.find_all("tr.fault").await.is_empty() {
        assert!(Instant::now() < deadline, "the faults were not cleared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.click("tr.clock button.reset").await;
    browser.quit().await;
    assert!(
        receiver.count() >= 4,
        "three failures, then the resent one delivered"
    );
}
