//! The console refuses what a cross-site page or a rebinding DNS name could make a browser
//! send: state-changing requests that are not JSON, or are authorised by the cookie alone with
//! no matching `Origin`; a `Host` other than its own address. Every answer carries the
//! security headers, and failed logins are answered ever more slowly.

use serde_json::{Value, json};
use ticketgate::operations::admin;

use crate::helpers::*;

async fn console_app() -> (TestApp, String, String) {
    let mut app = TestApp::unstarted(
        TestApp::default_limits(),
        tempfile::tempdir().unwrap(),
        None,
    );
    app.console = Some("127.0.0.1:0".into());
    app.start("127.0.0.1:0").await;
    app.seed().await;
    let addr = app.running.as_ref().unwrap().console_addr.unwrap();
    let token = ticketgate::console::token(&app.data()).unwrap();
    (app, format!("http://{addr}"), token)
}

async fn faults(app: &TestApp) -> usize {
    let listed: Value = admin::fault_list(app.service()).await.unwrap();
    listed["faults"].as_array().unwrap().len()
}

#[tokio::test]
async fn the_console_refuses_cross_site_writes_and_foreign_hosts() {
    let (app, console, token) = console_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = format!("tg_console={token}");
    let fault = json!({"method": USE, "answer": "SYSTEM_ERROR", "times": 1}).to_string();
    let post = |path: &str| http.post(format!("{console}{path}"));

    // The security headers, on pages and API answers alike.
    let page = http.get(format!("{console}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");

    // Each write: its path, its headers, what it must be answered.
    let bearer = format!("Bearer {token}");
    let json = ("content-type", "application/json");
    let form = ("content-type", "text/plain");
    let with_cookie = ("cookie", cookie.as_str());
    let with_bearer = ("authorization", bearer.as_str());
    let write = |path: String, headers: Vec<(&str, &str)>, body: &str| {
        let mut request = http.post(format!("{console}{path}")).body(body.to_string());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };
    let clock = format!("/api/clocks/{M1}/advance");
    let faults_path = "/api/faults".to_string();
    let cases = [
        // A form post (text/plain) with the cookie.
        (&faults_path, vec![with_cookie, form], 403),
        // JSON with the cookie but no Origin, or another page's Origin.
        (&faults_path, vec![with_cookie, json], 403),
        (
            &faults_path,
            vec![with_cookie, json, ("origin", "http://127.0.0.1:8000")],
            403,
        ),
        // A clock moved by a cross-site form.
        (&clock, vec![with_cookie, form], 403),
        // The bearer token with a form body.
        (&faults_path, vec![with_bearer, form], 403),
    ];
    for (path, headers, want) in cases {
        let body = if *path == clock {
            r#"{"by":"30d"}"#
        } else {
            fault.as_str()
        };
        let r = write(path.clone(), headers.clone(), body).await.unwrap();
        assert_eq!(r.status(), want, "{path} {headers:?}");
        assert!(r.headers().contains_key("content-security-policy"));
    }
    assert_eq!(faults(&app).await, 0, "nothing refused was added");
    assert_eq!(
        admin::clock_show(app.service(), Some(M1)).await.unwrap()["ahead_by_ms"],
        0,
        "the clock where it was"
    );
    // The bearer token and JSON pass; so does the console's own page (cookie, JSON, Origin).
    let r = write(faults_path.clone(), vec![with_bearer, json], &fault)
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let own = vec![with_cookie, json, ("origin", console.as_str())];
    assert_eq!(
        write(faults_path.clone(), own, &fault)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(faults(&app).await, 2);
    let r = http
        .delete(format!("{console}/api/faults"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a DELETE is a write too");
    assert_eq!(faults(&app).await, 2);

    // DNS rebinding: another name for the same address is refused everywhere.
    let port = console.rsplit(':').next().unwrap();
    for host in [format!("evil.example:{port}"), "127.0.0.1".to_string()] {
        let r = http
            .get(format!("{console}/api/calls"))
            .bearer_auth(&token)
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{host}");
    }
    let r = http
        .get(format!("{console}/api/calls"))
        .bearer_auth(&token)
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "localhost is this loopback console's own name"
    );

    // Failed logins wait longer each time; the right token still gets in.
    let login = |t: &str| {
        post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"))
    };
    assert_eq!(login("wrong").send().await.unwrap().status(), 401);
    let started = std::time::Instant::now();
    assert_eq!(login("wrong").send().await.unwrap().status(), 401);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(150),
        "the second guess waited"
    );
    assert_eq!(login(&token).send().await.unwrap().status(), 303);
}
