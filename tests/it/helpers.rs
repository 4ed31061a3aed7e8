//! The test harness: a real server on a free port with a fresh database, a small tenant, and
//! one helper per API verb.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};
use ticketgate::alipay::form::Params;
use ticketgate::alipay::{Charset, PrivateKey, PublicKey, SignType};
use ticketgate::client::{Client, Reply};
use ticketgate::config::StoreArgs;
use ticketgate::gateway::Limits;
use ticketgate::operations::admin::{self, NewApp, NewItem};
use ticketgate::server::{self, Running, ServeConfig};
use ticketgate::store::StoreLimits;

pub const M1: &str = "2088000000000011";
pub const M2: &str = "2088000000000022";
pub const ISV: &str = "2088000000000033";
pub const A1: &str = "2021000000000011";
pub const A2: &str = "2021000000000022";
pub const A3: &str = "2021000000000033";
pub const SHOP: &str = "shop-1";
pub const SHOP2: &str = "shop-2";
pub const SHOP_M2: &str = "shop-m2";
pub const NORMAL: &str = "item-normal";
pub const CARD: &str = "item-card";
pub const ONLY_SHOP2: &str = "item-shop2";
pub const FUTURE: &str = "item-future";
pub const EXPIRED: &str = "item-expired";
pub const NORMAL_M2: &str = "item-m2";

pub const USE: &str = "koubei.trade.ticket.ticketcode.use";
pub const CANCEL: &str = "koubei.trade.ticket.ticketcode.cancel";
pub const QUERY: &str = "koubei.trade.ticket.ticketcode.query";
pub const DELAY: &str = "koubei.trade.ticket.ticketcode.delay";
pub const REFUND: &str = "koubei.trade.ticket.used.refund";
pub const ORDER_QUERY: &str = "koubei.trade.order.query";
pub const SEND: &str = "koubei.trade.ticket.ticketcode.send";
pub const CHECK: &str = "koubei.trade.ticket.ticketcode.checkavailable";
pub const SYNC: &str = "koubei.trade.ticket.ticketcode.sync";
pub const SEND_CLOSE: &str = "koubei.trade.ticket.send.close";

/// App keys are expensive to make; every test shares three.
pub fn app_key(n: usize) -> &'static PrivateKey {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    &KEYS.get_or_init(|| (0..3).map(|_| PrivateKey::generate()).collect())[n]
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub running: Option<Running>,
    pub gateway: String,
    pub limits: Limits,
    pub database_url: Option<String>,
    pub pool: StoreLimits,
    /// Delivery inside the server: off by default, tests drive `deliver_next` themselves.
    pub notify: ticketgate::notify::worker::Settings,
    /// The server's clock: the system clock unless a test sets a manual one before starting.
    pub clock: ticketgate::clock::SharedClock,
    /// Where the web console listens (off unless a test turns it on).
    pub console: Option<String>,
}

impl TestApp {
    /// A server with the test tenant.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(TestApp::default_limits()).await
    }

    /// A server with the test tenant listening on `listen` (e.g. `127.0.0.21:80`).
    pub async fn spawn_listening(listen: &str) -> TestApp {
        let mut app = TestApp::spawn().await;
        let running = app.running.take().expect("running");
        running.shutdown().await.expect("clean shutdown");
        app.start(listen).await;
        app
    }

    pub async fn spawn_with(limits: Limits) -> TestApp {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let database_url = match crate::pg::base_url() {
            Some(base) => Some(crate::pg::fresh_database(&base).await),
            None => None,
        };
        TestApp::spawn_on(limits, dir, database_url).await
    }

    /// A server with the test tenant on the given database (`None`: SQLite in `dir`).
    pub async fn spawn_on(
        limits: Limits,
        dir: tempfile::TempDir,
        database_url: Option<String>,
    ) -> TestApp {
        let mut app = TestApp::unstarted(limits, dir, database_url);
        app.start("127.0.0.1:0").await;
        app.seed().await;
        app
    }

    /// A server with the test tenant whose ledger runs on `clock`.
    pub async fn spawn_at(clock: ticketgate::clock::SharedClock) -> TestApp {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let database_url = match crate::pg::base_url() {
            Some(base) => Some(crate::pg::fresh_database(&base).await),
            None => None,
        };
        let mut app = TestApp::unstarted(TestApp::default_limits(), dir, database_url);
        app.clock = clock;
        app.start("127.0.0.1:0").await;
        app.seed().await;
        app
    }

    pub fn default_limits() -> Limits {
        Limits {
            timestamp_skew_ms: Some(86_400_000),
            max_body_bytes: 1024 * 1024,
            call_limit_per_second: None,
            request_log_size: 10_000,
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 1000,
        }
    }

    /// A server not started yet on a fresh folder and database (PostgreSQL when the suite runs
    /// on it), for a test to configure before `start` and `seed`.
    pub async fn unstarted_fresh() -> TestApp {
        let database_url = match crate::pg::base_url() {
            Some(base) => Some(crate::pg::fresh_database(&base).await),
            None => None,
        };
        TestApp::unstarted(
            TestApp::default_limits(),
            tempfile::tempdir().expect("a temporary folder"),
            database_url,
        )
    }

    /// A server not started yet, on the given database and folder; nothing is seeded.
    pub fn unstarted(
        limits: Limits,
        dir: tempfile::TempDir,
        database_url: Option<String>,
    ) -> TestApp {
        TestApp {
            dir,
            running: None,
            gateway: String::new(),
            limits,
            database_url,
            pool: StoreLimits::default(),
            notify: ticketgate::notify::worker::Settings {
                workers: 0,
                ..Default::default()
            },
            clock: ticketgate::clock::system(),
            console: None,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn store_args(&self) -> StoreArgs {
        StoreArgs {
            data: self.data(),
            database_url: self.database_url.clone(),
        }
    }

    pub async fn start(&mut self, listen: &str) {
        let running = server::start(ServeConfig {
            json_logs: false,
            listen: listen.into(),
            store: self.store_args(),
            demo: false,
            console: self
                .console
                .clone()
                .map_or(server::ConsoleListen::Off, server::ConsoleListen::At),
            limits: self.limits.clone(),
            pool: self.pool.clone(),
            notify: self.notify.clone(),
            clock: self.clock.clone(),
        })
        .await
        .expect("the server starts");
        self.gateway = server::gateway_url(running.addr);
        self.running = Some(running);
    }

    /// Stops the server cleanly and starts it again on the same data.
    pub async fn restart(&mut self) {
        let running = self.running.take().expect("running");
        let addr = running.addr;
        running.shutdown().await.expect("clean shutdown");
        self.start(&addr.to_string()).await;
    }

    pub fn app(&self) -> &ticketgate::operations::Service {
        &self.running.as_ref().expect("running").service
    }

    pub fn store(&self) -> &ticketgate::store::Store {
        &self.app().store
    }

    /// The running service, as admin operations take it.
    pub fn service(&self) -> &ticketgate::operations::Service {
        self.app()
    }

    pub fn platform_public_key(&self) -> PublicKey {
        self.app().platform_key.public_key()
    }

    pub async fn seed(&self) {
        let s = self.service();
        for (pid, name) in [(M1, "一号商户"), (M2, "二号商户"), (ISV, "服务商")] {
            admin::add_merchant(s, pid, name).await.unwrap();
        }
        for (app_id, pid, key) in [(A1, M1, 0), (A2, M2, 1), (A3, ISV, 2)] {
            admin::add_app(
                s,
                NewApp {
                    app_id: app_id.into(),
                    merchant_pid: pid.into(),
                    public_key: app_key(key).public_key().to_pem(),
                    sign_type: "RSA2".into(),
                    charset: "utf-8".into(),
                    notify_url: None,
                },
            )
            .await
            .unwrap();
            // The same key for RSA too: the suite signs with either (an app has a key per
            // sign type; tests/it/modes.rs covers an app with one).
            admin::set_app_key(
                s,
                app_id,
                &app_key(key).public_key().to_pem(),
                Some(SignType::Rsa),
            )
            .await
            .unwrap();
        }
        admin::add_shop(s, M1, SHOP, "一号店").await.unwrap();
        admin::add_shop(s, M1, SHOP2, "二号店").await.unwrap();
        admin::add_shop(s, M2, SHOP_M2, "别家店").await.unwrap();
        let item = |pid: &str, id: &str, times: Option<i64>| NewItem {
            merchant_pid: pid.into(),
            item_id: id.into(),
            name: format!("商品 {id}"),
            price: "88.00".into(),
            original_price: Some("128.00".into()),
            alias: Some("别名".into()),
            times,
            shops: None,
            valid_from: None,
            valid_to: None,
            code_merchant: None,
        };
        admin::add_item(s, item(M1, NORMAL, None)).await.unwrap();
        admin::add_item(
            s,
            NewItem {
                price: "300.00".into(),
                original_price: Some("500.00".into()),
                ..item(M1, CARD, Some(10))
            },
        )
        .await
        .unwrap();
        admin::add_item(
            s,
            NewItem {
                shops: Some(vec![SHOP2.into()]),
                ..item(M1, ONLY_SHOP2, None)
            },
        )
        .await
        .unwrap();
        admin::add_item(
            s,
            NewItem {
                valid_from: Some("2099-01-01".into()),
                ..item(M1, FUTURE, None)
            },
        )
        .await
        .unwrap();
        admin::add_item(
            s,
            NewItem {
                valid_from: Some("2020-01-01".into()),
                valid_to: Some("2020-12-31".into()),
                ..item(M1, EXPIRED, None)
            },
        )
        .await
        .unwrap();
        admin::add_item(s, item(M2, NORMAL_M2, None)).await.unwrap();
    }

    /// Issues `n` tickets of `item` in one order; returns their codes in code order.
    pub async fn issue(&self, item: &str, n: usize) -> Vec<String> {
        let out = admin::issue_order(self.service(), item, n, None, None)
            .await
            .unwrap();
        let mut codes: Vec<String> = out["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        codes.sort();
        codes
    }

    pub async fn issue_one(&self, item: &str) -> String {
        self.issue(item, 1).await.remove(0)
    }

    /// A client of `app_id`: key 1 for A2, key 2 for A3, key 0 for A1 and every other app of M1.
    pub fn client_for(&self, app_id: &str, sign_type: SignType, charset: Charset) -> Client {
        let key = match app_id {
            A2 => 1,
            A3 => 2,
            _ => 0,
        };
        Client::new(
            &self.gateway,
            app_id,
            app_key(key).clone(),
            self.platform_public_key(),
            sign_type,
            charset,
        )
    }

    pub fn client(&self) -> Client {
        self.client_for(A1, SignType::Rsa2, Charset::Utf8)
    }

    /// Calls as A1 and checks that the answer is signed.
    pub async fn call(&self, method: &str, biz: Value) -> Reply {
        let reply = self
            .client()
            .call(method, &biz.to_string(), &[])
            .await
            .expect("a response");
        assert!(
            reply.verified,
            "response signature must verify: {}",
            reply.body
        );
        reply
    }

    /// Calls as `app_id` and checks that the answer is signed.
    pub async fn call_as(&self, app_id: &str, method: &str, biz: Value) -> Reply {
        let reply = self
            .client_for(app_id, SignType::Rsa2, Charset::Utf8)
            .call(method, &biz.to_string(), &[])
            .await
            .expect("a response");
        assert!(
            reply.verified,
            "response signature must verify: {}",
            reply.body
        );
        reply
    }

    pub async fn use_(&self, biz: Value) -> Reply {
        self.call(USE, biz).await
    }

    pub async fn cancel(&self, biz: Value) -> Reply {
        self.call(CANCEL, biz).await
    }

    pub async fn delay(&self, biz: Value) -> Reply {
        self.call(DELAY, biz).await
    }

    /// The order number of a ticket.
    pub async fn order_of(&self, code: &str) -> String {
        let shown = admin::ticket_show(self.service(), code, None)
            .await
            .unwrap();
        shown["order_no"].as_str().unwrap().to_string()
    }

    pub async fn query(&self, code: &str) -> Reply {
        self.call(QUERY, json!({"ticket_code": code, "shop_id": SHOP}))
            .await
    }

    /// Registers another app of M1 (key 0) with its own sign type, charset and notify URL.
    pub async fn add_app_of_m1(
        &self,
        app_id: &str,
        sign_type: &str,
        charset: &str,
        notify_url: Option<&str>,
    ) {
        admin::add_app(
            self.service(),
            NewApp {
                app_id: app_id.into(),
                merchant_pid: M1.into(),
                public_key: app_key(0).public_key().to_pem(),
                sign_type: sign_type.into(),
                charset: charset.into(),
                notify_url: notify_url.map(String::from),
            },
        )
        .await
        .unwrap();
        let other = if sign_type == "RSA" {
            SignType::Rsa2
        } else {
            SignType::Rsa
        };
        admin::set_app_key(
            self.service(),
            app_id,
            &app_key(0).public_key().to_pem(),
            Some(other),
        )
        .await
        .unwrap();
    }

    /// A use of one unit of `code` at SHOP by A1, whose notification goes to `notify_url`.
    pub async fn use_notifying(&self, request_id: &str, code: &str, notify_url: &str) -> Reply {
        let biz = json!({"request_id": request_id, "ticket_code": code, "shop_id": SHOP});
        let reply = self
            .client()
            .call(USE, &biz.to_string(), &[("notify_url", notify_url)])
            .await
            .expect("a response");
        assert!(
            reply.verified,
            "response signature must verify: {}",
            reply.body
        );
        reply
    }

    /// A use of one unit of `code` at SHOP.
    pub async fn use_code(&self, request_id: &str, code: &str) -> Reply {
        self.use_(json!({"request_id": request_id, "ticket_code": code, "shop_id": SHOP}))
            .await
    }

    pub async fn cancel_use(&self, request_id: &str, use_request_id: &str, code: &str) -> Reply {
        self.cancel(json!({"request_id": request_id, "request_biz_no": use_request_id, "ticket_code": code})).await
    }

    /// Sends raw parameters (already signed or deliberately not) as a POST form in `charset`.
    pub async fn post_params(
        &self,
        params: &Params,
        charset: Charset,
    ) -> (String, reqwest::header::HeaderMap) {
        let body = ticketgate::alipay::form::encode(params, charset);
        let response = reqwest::Client::new()
            .post(&self.gateway)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        (response.text().await.unwrap(), headers)
    }

    /// Available quantity and transactions of a ticket must agree (the ledger invariant).
    pub async fn assert_consistent(&self, code: &str) -> Value {
        self.assert_consistent_in(code, None).await
    }

    /// The same for an external code of an order.
    pub async fn assert_consistent_external(&self, code: &str, order_no: &str) -> Value {
        self.assert_consistent_in(code, Some(order_no.to_string()))
            .await
    }

    async fn assert_consistent_in(&self, code: &str, order_no: Option<String>) -> Value {
        let shown = admin::ticket_show(self.service(), code, order_no)
            .await
            .unwrap();
        let total: i64 = shown["total_quantity"].as_str().unwrap().parse().unwrap();
        let available: i64 = shown["available_quantity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut derived = total;
        for t in shown["ticket_trans_info_list"].as_array().unwrap() {
            let q: i64 = t["quantity"].as_str().unwrap().parse().unwrap();
            match t["ticket_trans_type"].as_str().unwrap() {
                // A refund after use follows its use and changes no units.
                "REFUND" if t.get("reverses_trans_id").is_some() => {}
                "USE" | "REFUND" => derived -= q,
                "CANCEL" => derived += q,
                "DELAY" => assert_eq!(q, 0, "a delay changes no units"),
                other => panic!("unknown transaction type {other}"),
            }
        }
        assert_eq!(
            available, derived,
            "available quantity of {code} disagrees with its transactions: {shown}"
        );
        shown
    }
}

/// `biz_content` of a query of `code` at SHOP.
pub fn query_biz(code: &str) -> String {
    json!({"ticket_code": code, "shop_id": SHOP}).to_string()
}

/// Asserts a business refusal.
#[track_caller]
pub fn assert_refused(reply: &Reply, sub_code: &str) {
    assert_eq!(reply.code(), "40004", "{}", reply.node_text);
    assert_eq!(reply.node["msg"], "Business Failed");
    assert_eq!(reply.sub_code(), sub_code, "{}", reply.node_text);
    assert!(
        !reply.node["sub_msg"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
}

#[track_caller]
pub fn assert_success(reply: &Reply) {
    assert_eq!(reply.code(), "10000", "{}", reply.node_text);
    assert_eq!(reply.node["msg"], "Success");
    assert!(reply.node.get("sub_code").is_none());
}

/// A loopback port nothing listens on now (bound and let go: a later bind may, rarely, lose it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A code merchant: an app of the ISV merchant (key 0) that issues the codes of `item_id`, an
/// item of M1; its notifications go to `notify_url`.
pub async fn add_code_merchant(
    app: &TestApp,
    app_id: &str,
    item_id: &str,
    notify_url: Option<&str>,
) {
    admin::add_app(
        app.service(),
        NewApp {
            app_id: app_id.into(),
            merchant_pid: ISV.into(),
            public_key: app_key(0).public_key().to_pem(),
            sign_type: "RSA2".into(),
            charset: "utf-8".into(),
            notify_url: notify_url.map(String::from),
        },
    )
    .await
    .unwrap();
    add_code_merchant_item(app, item_id, app_id).await;
}

/// An item of M1 whose codes `app_id` issues as a code merchant.
pub async fn add_code_merchant_item(app: &TestApp, item_id: &str, app_id: &str) {
    admin::add_item(
        app.service(),
        NewItem {
            merchant_pid: M1.into(),
            item_id: item_id.into(),
            name: "码商商品".into(),
            price: "10.00".into(),
            original_price: None,
            alias: None,
            times: None,
            shops: None,
            valid_from: None,
            valid_to: None,
            code_merchant: Some(app_id.into()),
        },
    )
    .await
    .unwrap();
}
