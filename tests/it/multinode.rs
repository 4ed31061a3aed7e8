//! Several `serve` processes on one PostgreSQL database: the promises (one effect per request
//! id, a ticket's last unit used once, a use reversed once) hold across processes; a database
//! that goes away gives clean `20000` answers, and the node recovers when it returns.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use ticketgate::alipay::{Charset, SignType};
use ticketgate::client::Client;
use ticketgate::gateway::Limits;

use crate::helpers::*;
use crate::races;

const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");

/// A `ticketgate serve` process; killed when dropped.
struct Node {
    child: Child,
    gateway: String,
}

impl Node {
    fn start(database_url: &str, data: &std::path::Path) -> Node {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--console-listen",
                "127.0.0.1:0",
                "--no-demo",
                "--database-url",
                database_url,
                "--data",
            ])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("addr=") {
                    let addr: String = line[at + 5..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    let _ = tx.send(addr);
                }
                eprintln!("[node] {line}");
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("the node did not start");
            }
        };
        Node {
            child,
            gateway: format!("http://{addr}/gateway.do"),
        }
    }

    fn client(&self, app: &TestApp) -> Client {
        Client::new(
            &self.gateway,
            A1,
            app_key(0).clone(),
            app.platform_public_key(),
            SignType::Rsa2,
            Charset::Utf8,
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test tenant on a fresh database, and two serve processes on it.
async fn two_nodes() -> (TestApp, Node, Node) {
    let base = crate::pg::require_base_url();
    let url = crate::pg::fresh_database(&base).await;
    let app = TestApp::spawn_on(
        Limits {
            timestamp_skew_ms: Some(86_400_000),
            max_body_bytes: 1 << 20,
            call_limit_per_second: None,
            request_log_size: 10_000,
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 1000,
        },
        tempfile::tempdir().unwrap(),
        Some(url.clone()),
    )
    .await;
    let a = Node::start(&url, &app.data().join("a"));
    let b = Node::start(&url, &app.data().join("b"));
    (app, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_uses_of_one_ticket_across_two_nodes_succeed_once() {
    let (app, a, b) = two_nodes().await;
    races::sixteen_uses_of_one_ticket(&app, &[a.client(&app), b.client(&app)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ten_use_card_hit_by_sixteen_uses_of_three_across_two_nodes_keeps_one() {
    let (app, a, b) = two_nodes().await;
    races::sixteen_uses_of_three_on_a_ten_use_card(&app, &[a.client(&app), b.client(&app)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_cancels_of_one_use_across_two_nodes_reverse_it_once() {
    let (app, a, b) = two_nodes().await;
    races::sixteen_cancels_of_one_use(&app, &[a.client(&app), b.client(&app)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_cancel_sent_to_both_nodes_at_once_has_one_effect() {
    let (app, a, b) = two_nodes().await;
    races::one_cancel_sent_sixteen_times(&app, &[a.client(&app), b.client(&app)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_use_request_id_sent_to_both_nodes_at_once_has_one_effect() {
    let (app, a, b) = two_nodes().await;
    races::one_use_request_id_on_two_tickets(&app, &[a.client(&app), b.client(&app)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_read_on_one_node_while_the_other_uses_its_tickets_is_one_moment() {
    let (app, a, b) = two_nodes().await;
    races::an_order_read_while_its_tickets_are_used_is_one_moment(
        &app,
        &[a.client(&app), b.client(&app)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_goes_away_gives_clean_errors_and_the_node_recovers() {
    let cluster = crate::pg::Cluster::start();
    let url = crate::pg::fresh_database(&cluster.url()).await;
    let mut app = TestApp {
        pool: ticketgate::store::StoreLimits {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(2),
            ..Default::default()
        },
        ..TestApp::spawn_on(
            Limits {
                timestamp_skew_ms: Some(86_400_000),
                max_body_bytes: 1 << 20,
                call_limit_per_second: None,
                request_log_size: 10_000,
                header_read_timeout: std::time::Duration::from_secs(10),
                body_read_timeout: std::time::Duration::from_secs(30),
                max_connections: 1000,
            },
            tempfile::tempdir().unwrap(),
            Some(url),
        )
        .await
    };
    app.restart().await;
    let codes = app.issue(NORMAL, 2).await;
    assert_success(&app.use_code("u1", &codes[0]).await);
    cluster.stop_server();
    for (i, method) in [QUERY, USE, CANCEL].into_iter().enumerate() {
        let started = Instant::now();
        let biz = json!({"request_id": format!("r{i}"), "request_biz_no": "u1", "ticket_code": codes[1], "shop_id": SHOP});
        let reply = app.call(method, biz).await;
        assert_eq!(reply.code(), "20000", "{}", reply.node_text);
        assert_eq!(reply.sub_code(), "isp.unknow-error");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "answered, not hung: {:?}",
            started.elapsed()
        );
        eprintln!(
            "{method} with the database down: {} after {:?}",
            reply.code(),
            started.elapsed()
        );
    }
    let stopped_at = Instant::now();
    cluster.start_server();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = app.use_code("u2", &codes[1]).await;
        if reply.code() == "10000" {
            eprintln!(
                "recovered {:?} after the database came back",
                stopped_at.elapsed()
            );
            break;
        }
        assert_eq!(reply.code(), "20000", "{}", reply.node_text);
        assert!(Instant::now() < deadline, "the node did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing was half-done while the database was away.
    assert_success(&app.cancel_use("c1", "u1", &codes[0]).await);
    app.assert_consistent(&codes[0]).await;
    app.assert_consistent(&codes[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_fails_fast_and_the_node_recovers_within_a_second() {
    let cluster = crate::pg::Cluster::start();
    let url = crate::pg::fresh_database(&cluster.url()).await;
    let mut app = TestApp {
        pool: ticketgate::store::StoreLimits {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(2),
            ..Default::default()
        },
        ..TestApp::spawn_on(
            TestApp::default_limits(),
            tempfile::tempdir().unwrap(),
            Some(url),
        )
        .await
    };
    app.restart().await;
    let codes = app.issue(NORMAL, 2).await;
    assert_success(&app.query(&codes[0]).await);
    cluster.stop_server();
    // The first calls find out (each within the pool's acquire timeout); then the breaker is
    // open and every call is answered at once.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let started = Instant::now();
        let reply = app.query(&codes[0]).await;
        assert_eq!(reply.code(), "20000", "{}", reply.node_text);
        if started.elapsed() < Duration::from_millis(100) {
            break;
        }
        assert!(Instant::now() < deadline, "never failed fast");
    }
    // One client (making one sets up TLS), so that the time measured is the call's.
    let client = app.client();
    let mut slowest = Duration::ZERO;
    for i in 0..30 {
        let biz = json!({"request_id": format!("d{i}"), "ticket_code": codes[1], "shop_id": SHOP});
        let started = Instant::now();
        let reply = client.call(USE, &biz.to_string(), &[]).await.unwrap();
        let took = started.elapsed();
        assert!(reply.verified);
        assert_eq!(reply.code(), "20000", "{}", reply.node_text);
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("slowest answer with the database down: {slowest:?}");
    assert!(slowest < Duration::from_millis(100), "{slowest:?}");
    cluster.start_server();
    let back = Instant::now();
    loop {
        let reply = app.query(&codes[0]).await;
        if reply.code() == "10000" {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(10), "no recovery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("recovered {:?} after the database was back", back.elapsed());
    assert!(
        back.elapsed() < Duration::from_secs(1),
        "{:?}",
        back.elapsed()
    );
    // Nothing was half-done.
    assert_success(&app.use_code("u1", &codes[1]).await);
    app.assert_consistent(&codes[1]).await;
}

/// A fault added once is obeyed by every node, and `--times` counts across them: four calls,
/// two to each node, against a fault for two calls, get exactly two faults. A test clock moved
/// once moves on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_and_clocks_apply_on_every_node() {
    let (app, a, b) = two_nodes().await;
    let code = app.issue_one(NORMAL).await;
    ticketgate::operations::admin::fault_add(
        app.service(),
        ticketgate::operations::admin::NewFault {
            method: QUERY.into(),
            answer: Some("SYSTEM_ERROR".into()),
            times: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut faulted = 0;
    for client in [
        a.client(&app),
        b.client(&app),
        a.client(&app),
        b.client(&app),
    ] {
        let r = client.call(QUERY, &query_biz(&code), &[]).await.unwrap();
        assert!(r.verified, "{}", r.body);
        match r.sub_code() {
            "SYSTEM_ERROR" => faulted += 1,
            "" => assert_success(&r),
            other => panic!("unexpected {other}: {}", r.node_text),
        }
    }
    assert_eq!(
        faulted, 2,
        "a fault for two calls answers two, whichever nodes take them"
    );

    ticketgate::operations::admin::clock_advance(app.service(), M1, 366 * 86_400_000)
        .await
        .unwrap();
    for node in [&a, &b] {
        let r = node
            .client(&app)
            .call(QUERY, &query_biz(&code), &[])
            .await
            .unwrap();
        assert_eq!(r.field("ticket_status"), "UN_EFFECTIVE", "{}", r.node_text);
    }
}

/// The node's PostgreSQL pool: a connection that comes back from a finished operation is used
/// again as it is; one whose operation was cancelled (a client that hung up mid-call) is closed,
/// so that nothing it left half-done — an open transaction, a statement still running, a
/// session setting — reaches the next operation, and the next operation does not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_are_reused_and_a_cancelled_one_is_not() {
    use ticketgate::store::{Store, StoreLimits, op};
    let url = crate::pg::fresh_database(&crate::pg::require_base_url()).await;
    let limits = StoreLimits {
        max_connections: 1,
        ..Default::default()
    };
    let store = Store::open(&url, &limits).await.unwrap();
    // The session's backend process, and the mark a cancelled operation set on its session.
    let session = || {
        store.read(op!(|tx| -> (i64, Option<String>) {
            let sql = "SELECT pg_backend_pid(), current_setting('ticketgate.mark', true)";
            let row = tx.rows(sql, &[]).await?.remove(0);
            let mut c = row.cols();
            Ok((c.int()?, c.opt_text()?))
        }))
    };
    let (first, _) = session().await.unwrap();
    let (again, _) = session().await.unwrap();
    assert_eq!(first, again, "the connection is kept between operations");

    let cancelled = tokio::time::timeout(
        Duration::from_millis(300),
        store.write(op!(|tx| -> () {
            let mark = "SELECT set_config('ticketgate.mark', 'left behind', false)";
            tx.rows(mark, &[]).await?;
            tx.execute("SELECT pg_sleep(5)", &[]).await?;
            Ok(())
        })),
    )
    .await;
    assert!(cancelled.is_err(), "the write was cut off");

    let started = Instant::now();
    let (next, mark) = session().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the next operation waited for the cancelled one: {:?}",
        started.elapsed()
    );
    assert_ne!(
        next, first,
        "the cancelled operation's connection was closed"
    );
    assert_eq!(
        mark, None,
        "nothing of the cancelled operation's session is left"
    );
}

/// A pooled connection the server ended (a restart, an administrator) costs at most one failed
/// operation: the failure closes it and the idle connections opened with it, and the next
/// operation opens a fresh one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_server_ended_costs_at_most_one_failed_operation() {
    use ticketgate::store::{Store, StoreLimits, op};
    let url = crate::pg::fresh_database(&crate::pg::require_base_url()).await;
    let store = Store::open(&url, &StoreLimits::default()).await.unwrap();
    let pid = || {
        store.read(op!(|tx| -> i64 {
            let row = tx.rows("SELECT pg_backend_pid()", &[]).await?.remove(0);
            row.cols().int()
        }))
    };
    let pooled = pid().await.unwrap();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pooled as i32)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended);
    let mut failed = 0;
    let mut last = None;
    for _ in 0..3 {
        match pid().await {
            Ok(p) => last = Some(p),
            Err(e) => {
                eprintln!("after the server ended the connection: {e}");
                failed += 1;
            }
        }
    }
    assert!(failed <= 1, "{failed} operations failed");
    assert!(last.is_some_and(|p| p != pooled));
}
