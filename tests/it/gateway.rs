//! Gateway-level behaviour: every code of the published table that applies, the check order,
//! charsets, sign types, empty values and the exact envelope bytes.

use serde_json::{Value, json};
use ticketgate::alipay::form::Params;
use ticketgate::alipay::{Charset, SignType, envelope};
use ticketgate::gateway::Limits;

use crate::helpers::*;

/// Signed query parameters for A1, before any tampering.
fn query_params(app: &TestApp, code: &str) -> Params {
    let client = app.client();
    client.params(QUERY, &query_biz(code), &[])
}

/// Posts params and reads the answer under `node` with the platform key.
async fn post(
    app: &TestApp,
    params: &Params,
    node_method: &str,
    sign_type: SignType,
) -> ticketgate::client::Reply {
    let (body, _) = app.post_params(params, Charset::Utf8).await;
    let client = app.client_for(A1, sign_type, Charset::Utf8);
    let reply = client
        .read(node_method, body.as_bytes())
        .expect("a parseable answer");
    assert!(reply.verified, "even errors are signed: {body}");
    reply
}

#[track_caller]
fn assert_gateway_error(reply: &ticketgate::client::Reply, code: &str, sub_code: &str) {
    assert_eq!(reply.code(), code, "{}", reply.node_text);
    assert_eq!(reply.sub_code(), sub_code, "{}", reply.node_text);
}

#[tokio::test]
async fn each_missing_common_parameter_gets_its_40001_code() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    for (key, sub_code) in [
        ("app_id", "isv.missing-app-id"),
        ("sign_type", "isv.missing-signature-type"),
        ("timestamp", "isv.missing-timestamp"),
        ("version", "isv.missing-version"),
    ] {
        let mut params = query_params(&app, &code);
        params.remove(key);
        let params = app.client().sign(params);
        let mut params = params;
        if key == "sign_type" {
            params.remove("sign_type");
        }
        let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
        assert_gateway_error(&reply, "40001", sub_code);
        assert_eq!(reply.node["msg"], "Missing Required Arguments");
    }
    let mut params = query_params(&app, &code);
    params.insert("sign_type".into(), "RSA2".into());
    let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
    assert_gateway_error(&reply, "40001", "isv.missing-signature");
}

#[tokio::test]
async fn a_request_without_method_is_answered_under_error_response() {
    let app = TestApp::spawn().await;
    let mut params = query_params(&app, "123456789012");
    params.remove("method");
    let (body, _) = app.post_params(&params, Charset::Utf8).await;
    assert!(
        body.starts_with(r#"{"error_response":{"code":"40001""#),
        "{body}"
    );
    let reply = app
        .client()
        .read("no.such.method", body.as_bytes())
        .unwrap();
    assert!(reply.verified);
    assert_eq!(reply.sub_code(), "isv.missing-method");
}

#[tokio::test]
async fn invalid_arguments_get_their_40002_codes() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let cases: Vec<(&str, &str, &str)> = vec![
        ("app_id", "2021999999999999", "isv.invalid-app-id"),
        ("sign_type", "MD5", "isv.invalid-signature-type"),
        ("timestamp", "2016/10/28 10:00:00", "isv.invalid-timestamp"),
        ("timestamp", "2001-01-01 00:00:00", "isv.invalid-timestamp"),
        ("charset", "latin1", "isv.invalid-charset"),
        ("format", "xml", "isv.invalid-format"),
        ("encrypt_type", "DES", "isv.invalid-encrypt-type"),
        // A1 has no AES key.
        (
            "encrypt_type",
            "AES",
            "isv.decryption-error-not-valid-encrypt-key",
        ),
        ("version", "2.0", "isv.invalid-parameter"),
        ("biz_content", "not json", "isv.invalid-parameter"),
        ("biz_content", "[1,2]", "isv.invalid-parameter"),
    ];
    for (key, value, sub_code) in cases {
        let mut params = query_params(&app, &code);
        params.insert(key.into(), value.into());
        let params = if key == "sign_type" {
            let mut p = client.sign(params);
            p.insert("sign_type".into(), value.into());
            p
        } else {
            client.sign(params)
        };
        let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
        assert_gateway_error(&reply, "40002", sub_code);
        assert_eq!(reply.node["msg"], "Invalid Arguments", "{key}={value}");
    }
}

#[tokio::test]
async fn an_unknown_method_is_refused_after_the_signature_check() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let params = client.sign(client.params("koubei.trade.ticket.ticketcode.nope", "{}", &[]));
    let reply = post(
        &app,
        &params,
        "koubei.trade.ticket.ticketcode.nope",
        SignType::Rsa2,
    )
    .await;
    assert_gateway_error(&reply, "40002", "isv.invalid-method");
    // With a bad signature the signature error comes first.
    let mut params = params;
    params.insert("biz_content".into(), "{\"x\":1}".into());
    let reply = post(
        &app,
        &params,
        "koubei.trade.ticket.ticketcode.nope",
        SignType::Rsa2,
    )
    .await;
    assert_gateway_error(&reply, "40002", "isv.invalid-signature");
}

#[tokio::test]
async fn a_bad_signature_shows_the_string_the_gateway_built() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    // Signed by A2's key but sent as A1.
    let other = app.client_for(A2, SignType::Rsa2, Charset::Utf8);
    let mut params = query_params(&app, &code);
    params = other.sign(params);
    let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
    assert_gateway_error(&reply, "40002", "isv.invalid-signature");
    let sub_msg = reply.field("sub_msg");
    assert!(sub_msg.starts_with(
        "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
    ));
    let content = ticketgate::alipay::sign::content(
        &params,
        ticketgate::alipay::sign::REQUEST_WITHOUT_EMPTIES,
    );
    // Production's text, the string, then the doctor's finding (A2 is another merchant's app).
    let (shown, diagnosis) = sub_msg.split_once(" [").expect("a diagnosis follows");
    assert!(shown.ends_with(&content), "{sub_msg}");
    assert!(diagnosis.starts_with("WRONG_KEY] "), "{sub_msg}");
    assert!(content.contains(&format!("app_id={A1}")) && !content.contains("sign="));
}

#[tokio::test]
async fn the_check_order_is_the_published_one() {
    let app = TestApp::spawn().await;
    // Unknown app and missing sign: the app is checked first.
    let mut params = query_params(&app, "123456789012");
    params.insert("app_id".into(), "2021999999999999".into());
    let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
    assert_gateway_error(&reply, "40002", "isv.invalid-app-id");
    // Missing sign and a malformed timestamp: the signature's absence comes first.
    let mut params = query_params(&app, "123456789012");
    params.insert("timestamp".into(), "yesterday".into());
    let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
    assert_gateway_error(&reply, "40001", "isv.missing-signature");
    // A bad timestamp and a bad format, signed: the timestamp first.
    let mut params = query_params(&app, "123456789012");
    params.insert("timestamp".into(), "yesterday".into());
    params.insert("format".into(), "xml".into());
    let params = app.client().sign(params);
    let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
    assert_gateway_error(&reply, "40002", "isv.invalid-timestamp");
}

#[tokio::test]
async fn the_timestamp_skew_is_configurable() {
    let app = TestApp::spawn_with(Limits {
        timestamp_skew_ms: None,
        max_body_bytes: 1 << 20,
        call_limit_per_second: None,
        request_log_size: 10_000,
        header_read_timeout: std::time::Duration::from_secs(10),
        body_read_timeout: std::time::Duration::from_secs(30),
        max_connections: 1000,
    })
    .await;
    let code = app.issue_one(NORMAL).await;
    let mut params = query_params(&app, &code);
    params.insert("timestamp".into(), "2001-01-01 00:00:00".into());
    let reply = post(&app, &app.client().sign(params), QUERY, SignType::Rsa2).await;
    assert_success(&reply);
}

#[tokio::test]
async fn an_unknown_app_auth_token_is_20001() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let reply = app
        .client()
        .call(QUERY, &query_biz(&code), &[("app_auth_token", "nope")])
        .await
        .unwrap();
    assert!(reply.verified);
    assert_gateway_error(&reply, "20001", "aop.invalid-app-auth-token");
    assert_eq!(reply.node["msg"], "Insufficient Token Permissions");
}

#[tokio::test]
async fn an_expired_app_auth_token_is_20001_time_out() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let granted = ticketgate::operations::admin::grant_token(app.service(), A3, M1, Some(0))
        .await
        .unwrap();
    assert!(granted["expires_at"].is_string());
    let token = granted["app_auth_token"].as_str().unwrap();
    let isv = app.client_for(A3, SignType::Rsa2, Charset::Utf8);
    let biz = json!({"ticket_code": code, "shop_id": SHOP}).to_string();
    let reply = isv
        .call(QUERY, &biz, &[("app_auth_token", token)])
        .await
        .unwrap();
    assert!(reply.verified);
    assert_gateway_error(&reply, "20001", "aop.app-auth-token-time-out");
    assert_eq!(reply.node["sub_msg"], "应用授权令牌已过期");
    let lasting =
        ticketgate::operations::admin::grant_token(app.service(), A3, M1, Some(3_600_000))
            .await
            .unwrap();
    let token = lasting["app_auth_token"].as_str().unwrap();
    assert_success(
        &isv.call(QUERY, &biz, &[("app_auth_token", token)])
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn an_isv_app_acts_for_the_merchant_that_granted_its_token() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let isv = app.client_for(A3, SignType::Rsa2, Charset::Utf8);
    let biz = json!({"request_id": "isv1", "ticket_code": code, "shop_id": SHOP}).to_string();
    // Without a token the ISV acts for itself, and the ticket is another merchant's.
    let reply = isv.call(USE, &biz, &[]).await.unwrap();
    assert_refused(&reply, "NOT_SAME_MERCHANT_PID");
    let granted = ticketgate::operations::admin::grant_token(app.service(), A3, M1, None)
        .await
        .unwrap();
    let token = granted["app_auth_token"].as_str().unwrap();
    let biz = json!({"request_id": "isv2", "ticket_code": code, "shop_id": SHOP}).to_string();
    let reply = isv
        .call(USE, &biz, &[("app_auth_token", token)])
        .await
        .unwrap();
    assert!(reply.verified);
    assert_success(&reply);
    // The token belongs to A3: A2 cannot use it.
    let other = app.client_for(A2, SignType::Rsa2, Charset::Utf8);
    let reply = other
        .call(QUERY, &query_biz(&code), &[("app_auth_token", token)])
        .await
        .unwrap();
    assert_eq!(reply.sub_code(), "aop.invalid-app-auth-token");
    // The use is the merchant's: cancelling it through M1's own app works.
    let reply = app.cancel_use("c1", "isv2", &code).await;
    assert_success(&reply);
}

#[tokio::test]
async fn a_store_that_is_gone_answers_20000_signed() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    app.store().close().await;
    for method in [QUERY, USE, CANCEL] {
        let biz = json!({"request_id": "r1", "request_biz_no": "r0", "ticket_code": code, "shop_id": SHOP});
        let reply = app.call(method, biz).await;
        assert_gateway_error(&reply, "20000", "isp.unknow-error");
        assert_eq!(reply.node["msg"], "Service Currently Unavailable");
        assert_eq!(reply.node["sub_msg"], "系统繁忙");
    }
}

#[tokio::test]
async fn an_oversized_body_gets_a_clear_signed_error() {
    let app = TestApp::spawn_with(Limits {
        timestamp_skew_ms: Some(86_400_000),
        max_body_bytes: 2048,
        call_limit_per_second: None,
        request_log_size: 10_000,
        header_read_timeout: std::time::Duration::from_secs(10),
        body_read_timeout: std::time::Duration::from_secs(30),
        max_connections: 1000,
    })
    .await;
    let client = app.client();
    let big = "x".repeat(4096);
    let params = client.sign(client.params(QUERY, &json!({"ext": big}).to_string(), &[]));
    let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
    // The method travelled in the body, which was refused: the answer is an error_response.
    assert_gateway_error(&reply, "40002", "isv.invalid-parameter");
    assert!(reply.field("sub_msg").contains("2048"));
}

#[tokio::test]
async fn rsa_requests_are_answered_with_sha1_signatures() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client_for(A1, SignType::Rsa, Charset::Utf8);
    let reply = client.call(QUERY, &query_biz(&code), &[]).await.unwrap();
    assert!(reply.verified, "verifies as SHA1withRSA");
    assert_success(&reply);
    let (_, sign) = envelope::split(&reply.body, &envelope::node_name(QUERY)).unwrap();
    let key = app.platform_public_key();
    assert!(!key.verify(SignType::Rsa2, reply.node_text.as_bytes(), &sign.unwrap()));
}

#[tokio::test]
async fn gbk_requests_with_chinese_text_verify_and_are_answered_in_their_charset() {
    let app = TestApp::spawn().await;
    ticketgate::operations::admin::add_shop(app.service(), M1, "门店{甲}", "甲店")
        .await
        .unwrap();
    let codes = app.issue(NORMAL, 3).await;
    for (i, charset) in [Charset::Gbk, Charset::Gb2312, Charset::Utf8]
        .into_iter()
        .enumerate()
    {
        let client = app.client_for(A1, SignType::Rsa2, charset);
        let biz = json!({"request_id": format!("g{i}"), "ticket_code": codes[i], "shop_id": "门店{甲}", "ext": "备注：口碑"});
        let reply = client.call(USE, &biz.to_string(), &[]).await.unwrap();
        assert!(reply.verified, "{charset:?}: {}", reply.body);
        assert_success(&reply);
        assert_raw_in(&reply, charset);
        let shop = [
            &charset.encode("门店")[..],
            b"{",
            &charset.encode("甲")[..],
            b"}",
        ]
        .concat();
        assert!(
            contains(&reply.raw, &shop),
            "braces and Chinese are written as themselves: {}",
            reply.body
        );
        assert_eq!(reply.node["use_shop_id"], "门店{甲}");
        assert_eq!(reply.node["use_shop_name"], "甲店");
        assert_eq!(reply.node["item_name"], format!("商品 {NORMAL}"));
    }
    let code = app.issue_one(NORMAL).await;
    // Bytes that are not GBK are a charset error.
    let client = app.client_for(A1, SignType::Rsa2, Charset::Gbk);
    let params = client.sign(client.params(QUERY, &query_biz(&code), &[]));
    let mut body = ticketgate::alipay::form::encode(&params, Charset::Gbk);
    body.push_str("&ext=%FF%FF");
    let bytes = reqwest::Client::new()
        .post(&app.gateway)
        .body(body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reply = client.read(QUERY, &bytes).unwrap();
    assert!(reply.verified);
    assert_gateway_error(&reply, "40002", "isv.invalid-charset");
}

#[tokio::test]
async fn signatures_with_and_without_empty_values_both_verify() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let key = app_key(0);
    let base = client.params(QUERY, &query_biz(&code), &[("notify_url", "")]);
    // Python, Node and python-alipay-sdk sign empty values; the Java SDK leaves them out.
    for rule in [
        ticketgate::alipay::sign::REQUEST_WITH_EMPTIES,
        ticketgate::alipay::sign::REQUEST_WITHOUT_EMPTIES,
    ] {
        let mut params = base.clone();
        let content = ticketgate::alipay::sign::content(&base, rule);
        params.insert("sign".into(), key.sign(SignType::Rsa2, content.as_bytes()));
        let reply = post(&app, &params, QUERY, SignType::Rsa2).await;
        assert_success(&reply);
    }
}

#[tokio::test]
async fn everything_in_a_get_query_works_like_a_post() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let params = client.sign(client.params(QUERY, &query_biz(&code), &[]));
    let url = format!(
        "{}?{}",
        app.gateway,
        ticketgate::alipay::form::encode(&params, Charset::Utf8)
    );
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json;charset=utf-8"
    );
    let reply = client
        .read(QUERY, &response.bytes().await.unwrap())
        .unwrap();
    assert!(reply.verified);
    assert_success(&reply);
}

#[tokio::test]
async fn the_envelope_is_byte_exact() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client_for(A1, SignType::Rsa2, Charset::Gbk);
    let reply = client
        .call(
            USE,
            &json!({"request_id": "env1", "ticket_code": code, "shop_id": "{}"}).to_string(),
            &[],
        )
        .await
        .unwrap();
    let body = &reply.body;
    let prefix = format!(
        r#"{{"{}":{{"code":"40004","msg":"Business Failed","sub_code":"SHOP_NOT_MATCH","sub_msg":""#,
        envelope::node_name(USE)
    );
    assert!(body.starts_with(&prefix), "{body}");
    assert!(
        body.contains("门店 {} 不属于"),
        "braces inside strings are written as themselves: {body}"
    );
    assert!(!body.contains('\r'));
    assert_raw_in(&reply, Charset::Gbk);
    let tail = body.rsplit_once(r#","sign":""#).unwrap();
    assert!(tail.1.ends_with("\"}") && !tail.1[..tail.1.len() - 2].contains('"'));
    assert_eq!(
        tail.0,
        format!(r#"{{"{}":{}"#, envelope::node_name(USE), reply.node_text)
    );
    assert!(reply.verified);
}

#[tokio::test]
async fn an_absolute_form_request_target_is_routed_on_its_path() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let params = client.sign(client.params(QUERY, &query_biz(&code), &[]));
    let body = ticketgate::alipay::form::encode(&params, Charset::Utf8);
    let addr = app.running.as_ref().unwrap().addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST http://{addr}/gateway.do?charset=utf-8 HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let reply = client.read(QUERY, body.as_bytes()).unwrap();
    assert!(reply.verified);
    assert_success(&reply);
}

#[tokio::test]
async fn metrics_count_calls_by_method_and_code_and_notification_outcomes() {
    let app = TestApp::spawn().await;
    let receiver = crate::receiver::Receiver::start(vec![]).await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.query(&code).await);
    assert_success(&app.query(&code).await);
    assert_refused(
        &app.use_code("u1", "000000000000").await,
        "TICKET_NOT_EXIST",
    );
    let mut params = query_params(&app, &code);
    params.remove("method");
    app.post_params(&params, Charset::Utf8).await;
    let biz = json!({"request_id": "u2", "ticket_code": code, "shop_id": SHOP}).to_string();
    assert_success(
        &app.client()
            .call(USE, &biz, &[("notify_url", &receiver.url)])
            .await
            .unwrap(),
    );
    let deliverer = ticketgate::notify::worker::Deliverer::with_metrics(
        app.store().clone(),
        app.app().platform_key.clone(),
        Default::default(),
        app.app().metrics.clone(),
    );
    deliverer
        .deliver_next(ticketgate::clock::system_now_ms())
        .await
        .unwrap();
    let response = reqwest::get(app.gateway.replace("/gateway.do", "/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for line in [
        format!("ticketgate_calls_total{{method=\"{QUERY}\",code=\"10000\",sub_code=\"\"}} 2"),
        format!(
            "ticketgate_calls_total{{method=\"{USE}\",code=\"40004\",sub_code=\"TICKET_NOT_EXIST\"}} 1"
        ),
        format!("ticketgate_calls_total{{method=\"{USE}\",code=\"10000\",sub_code=\"\"}} 1"),
        "ticketgate_calls_total{method=\"\",code=\"40001\",sub_code=\"isv.missing-method\"} 1"
            .to_string(),
        "ticketgate_call_seconds_count 5".to_string(),
        "ticketgate_notification_attempts_total{outcome=\"delivered\"} 1".to_string(),
        format!(
            "ticketgate_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "ticketgate_outbox_pending 0".to_string(),
        "ticketgate_outbox_parked 0".to_string(),
        "ticketgate_outbox_oldest_pending_seconds 0".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    let store_gauge = if app.database_url.is_some() {
        "ticketgate_db_pool_connections "
    } else {
        "ticketgate_sqlite_writer_queue "
    };
    assert!(text.lines().any(|l| l.starts_with(store_gauge)), "{text}");
    // A notification not yet delivered shows in the outbox gauges.
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_notifying("u9", &code, "http://127.0.0.1:9/n").await);
    let text = reqwest::get(app.gateway.replace("/gateway.do", "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines().any(|l| l == "ticketgate_outbox_pending 1"),
        "{text}"
    );
}

#[tokio::test]
async fn calls_beyond_the_call_limit_are_40005() {
    let app = TestApp::spawn_with(Limits {
        timestamp_skew_ms: Some(86_400_000),
        max_body_bytes: 1 << 20,
        call_limit_per_second: Some(3),
        request_log_size: 10_000,
        header_read_timeout: std::time::Duration::from_secs(10),
        body_read_timeout: std::time::Duration::from_secs(30),
        max_connections: 1000,
    })
    .await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let biz = json!({"ticket_code": code, "shop_id": SHOP}).to_string();
    // Twelve at once: a bucket of 3 that refills 3 a second lets few through.
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let (client, biz) = (client.clone(), biz.clone());
            tokio::spawn(async move { client.call(QUERY, &biz, &[]).await.unwrap() })
        })
        .collect();
    let (mut admitted, mut limited) = (0, 0);
    for call in calls {
        let reply = call.await.unwrap();
        assert!(reply.verified);
        if reply.code() == "40005" {
            assert_eq!(reply.sub_code(), "isv.app-call-limited");
            assert_eq!(reply.node["msg"], "Call Limited");
            limited += 1;
        } else {
            assert_success(&reply);
            admitted += 1;
        }
    }
    let refill = (started.elapsed().as_secs_f64() * 3.0).ceil() as usize;
    assert!(
        admitted >= 3 && admitted <= 3 + refill,
        "{admitted} admitted, {limited} limited"
    );
    assert_eq!(admitted + limited, 12);
    // Another app has its own budget.
    let other = app.client_for(A2, SignType::Rsa2, Charset::Utf8);
    let reply = other.call(QUERY, &query_biz(&code), &[]).await.unwrap();
    assert_refused(&reply, "NOT_SAME_MERCHANT_PID");
}

#[tokio::test]
async fn a_request_shaped_like_the_java_sdks_is_accepted() {
    // The Java SDK escapes `/` in JSON, may send String-typed fields as numbers, puts
    // app_auth_token in the body, and leaves empty values out of what it signs.
    let app = TestApp::spawn().await;
    let card = app.issue_one(CARD).await;
    let token = ticketgate::operations::admin::grant_token(app.service(), A3, M1, None)
        .await
        .unwrap()["app_auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let isv = app.client_for(A3, SignType::Rsa2, Charset::Utf8);
    let biz = format!(
        r#"{{"request_id":"j1","ticket_code":"{card}","shop_id":"{SHOP}","quantity":2,"ext":"a\/b"}}"#
    );
    let mut params = isv.params(USE, &biz, &[("app_auth_token", &token), ("notify_url", "")]);
    let content = ticketgate::alipay::sign::content(
        &params,
        ticketgate::alipay::sign::REQUEST_WITHOUT_EMPTIES,
    );
    assert!(!content.contains("notify_url"));
    params.insert(
        "sign".into(),
        app_key(2).sign(SignType::Rsa2, content.as_bytes()),
    );
    let (body, headers) = app.post_params(&params, Charset::Utf8).await;
    assert_eq!(headers["content-type"], "application/json;charset=utf-8");
    let reply = isv.read(USE, body.as_bytes()).unwrap();
    assert!(reply.verified);
    assert_success(&reply);
    let use_date = reply.field("use_date");
    assert!(
        ticketgate::alipay::time::parse(use_date).is_some() && use_date.len() == 19,
        "{use_date}"
    );
    assert_eq!(app.query(&card).await.node["available_quantity"], "8");
}

/// `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the official Java SDK needs of an answer's bytes (read from its response path:
/// the body decoded with the `Content-Type` charset; the node cut from just after
/// `"<name>":` with a quote- and escape-aware brace matcher; the signature checked over the
/// cut text re-encoded in the client's charset; the node name not seen again after it), plus
/// no `\u` escape anywhere, since its JSON reader decodes the hex letters of one wrongly.
fn assert_raw_in(reply: &ticketgate::client::Reply, charset: Charset) {
    assert!(
        !contains(&reply.raw, br"\u"),
        "no \\u escape in an answer: {}",
        reply.body
    );
    let text = charset
        .decode(&reply.raw)
        .expect("the answer is text in the request's charset");
    let name = text[2..text.find("\":").unwrap()].to_string();
    let start = text.find(&name).unwrap() + name.len() + 2;
    let node_len = java_brace_match(&text[start..]).expect("a balanced node");
    let node = &text[start..start + node_len];
    assert_eq!(
        node, reply.node_text,
        "the Java cut is the node this client verified"
    );
    assert!(
        !text[start + node_len..].contains(&name),
        "the node name does not occur again after the node"
    );
    assert_eq!(
        &text[start + node_len..start + node_len + 9],
        ",\"sign\":\""
    );
    assert!(
        reply.verified,
        "the signature is over exactly the node's bytes"
    );
}

/// A quote- and escape-aware brace matcher, as the Java SDK's: the length of the object at the
/// start of `text`.
fn java_brace_match(text: &str) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, false, _) => {}
            (false, _, '"') => in_string = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[tokio::test]
async fn every_kind_of_answer_is_raw_text_in_each_charset_as_the_java_sdk_reads_it() {
    let app = TestApp::spawn().await;
    ticketgate::operations::admin::add_shop(app.service(), M1, "门店{乙", "乙店 😀")
        .await
        .unwrap();
    let codes = app.issue(NORMAL, 3).await;
    for (i, charset) in [Charset::Utf8, Charset::Gbk, Charset::Gb2312]
        .into_iter()
        .enumerate()
    {
        let client = app.client_for(A1, SignType::Rsa2, charset);
        let use_biz =
            json!({"request_id": format!("j{i}"), "ticket_code": codes[i], "shop_id": "门店{乙"});
        // A success with Chinese, an unbalanced brace and a character outside GBK.
        let used = client.call(USE, &use_biz.to_string(), &[]).await.unwrap();
        assert_success(&used);
        assert_raw_in(&used, charset);
        assert_eq!(used.node["use_shop_id"], "门店{乙");
        let shop_name = if charset == Charset::Utf8 {
            "乙店 😀"
        } else {
            "乙店 ?"
        };
        assert_eq!(used.node["use_shop_name"], shop_name, "{charset:?}");
        // A replay, a business refusal with a Chinese sub_msg, a gateway error.
        let replay = client.call(USE, &use_biz.to_string(), &[]).await.unwrap();
        assert_raw_in(&replay, charset);
        let refused = client
            .call(
                QUERY,
                &json!({"ticket_code": "000000000000", "shop_id": "门店{乙"}).to_string(),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(refused.sub_code(), "TICKET_NOT_EXIST");
        assert_raw_in(&refused, charset);
        let unknown = client.call("koubei.nope", "{}", &[]).await.unwrap();
        assert_eq!(unknown.sub_code(), "isv.invalid-method");
        assert_raw_in(&unknown, charset);
    }
}

/// Posts `body` (a form, sent as is) to the gateway with `query` in the URL.
async fn post_raw(app: &TestApp, query: &str, body: String) -> Vec<u8> {
    let response = reqwest::Client::new()
        .post(format!("{}?{query}", app.gateway))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn ill_formed_method_names_are_answered_as_well_formed_json_under_error_response() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let injected = r#"x","y":{"code":"10000"},"z"#;
    for method in [injected, "a\u{0}b", "门店", &"m".repeat(100_000)] {
        let mut params = client.params(QUERY, "{}", &[]);
        params.insert("method".into(), method.into());
        let params = client.sign(params);
        let body = post_raw(
            &app,
            "",
            ticketgate::alipay::form::encode(&params, Charset::Utf8),
        )
        .await;
        let parsed: Value = serde_json::from_slice(&body).expect("well-formed JSON");
        let keys: Vec<&String> = parsed.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["error_response", "sign"],
            "{}",
            String::from_utf8_lossy(&body)
        );
        let reply = client.read("nope", &body).unwrap();
        assert!(reply.verified);
        assert_gateway_error(&reply, "40002", "isv.invalid-method");
    }
    // Metric labels are a closed set: junk methods are `other`, and take no memory each.
    let metrics = reqwest::get(app.gateway.replace("/gateway.do", "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    assert!(
        !metrics.contains("mmmm") && !metrics.contains("门店"),
        "{metrics}"
    );
    assert!(metrics.len() < 8_000, "{} bytes of metrics", metrics.len());
}

#[tokio::test]
async fn a_parameter_sent_twice_with_different_values_is_refused() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let params = client.sign(client.params(QUERY, &query_biz(&code), &[]));
    let body = ticketgate::alipay::form::encode(&params, Charset::Utf8);
    // app_id in the query too, naming another app: which one is calling?
    let bytes = post_raw(&app, &format!("app_id={A2}"), body.clone()).await;
    let reply = client.read(QUERY, &bytes).unwrap();
    assert!(reply.verified);
    assert_gateway_error(&reply, "40002", "isv.invalid-parameter");
    assert!(
        reply.field("sub_msg").contains("app_id"),
        "{}",
        reply.node_text
    );
    // The same value twice is one parameter.
    let bytes = post_raw(&app, &format!("app_id={A1}"), body).await;
    assert_success(&client.read(QUERY, &bytes).unwrap());
}

#[tokio::test]
async fn notify_urls_must_be_absolute_http_addresses() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let biz = json!({"request_id": "n1", "ticket_code": code, "shop_id": SHOP}).to_string();
    for bad in [
        "javascript:alert(1)",
        "/relative/notify",
        "http://",
        "ftp://host/n",
    ] {
        let reply = client
            .call(USE, &biz, &[("notify_url", bad)])
            .await
            .unwrap();
        assert!(reply.verified);
        assert_gateway_error(&reply, "40002", "isv.invalid-parameter");
        assert!(
            reply.field("sub_msg").contains("notify_url"),
            "{}",
            reply.node_text
        );
    }
    assert_eq!(
        app.query(&code).await.field("ticket_status"),
        "EFFECTIVE",
        "nothing was used"
    );
    let reply = client
        .call(USE, &biz, &[("notify_url", "http://127.0.0.1:9/notify")])
        .await
        .unwrap();
    assert_success(&reply);
}

#[tokio::test]
async fn ready_asks_the_store_and_health_does_not() {
    let app = TestApp::spawn().await;
    let base = app.gateway.trim_end_matches("/gateway.do").to_string();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get("/ready").await, (200, "ready\n".to_string()));
    assert_eq!(get("/health").await.0, 200);
    // The store goes away (as when the writer has stopped): not ready, still alive.
    app.store().close().await;
    let (status, text) = get("/ready").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.starts_with("not ready: "), "{text}");
    assert_eq!(get("/health").await.0, 200);
}

/// Sends raw bytes on a fresh connection, half-closes if asked, and reads until the server
/// closes or `wait` passes.
async fn raw_exchange(
    app: &TestApp,
    bytes: &[u8],
    half_close: bool,
    wait: std::time::Duration,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app
        .gateway
        .trim_start_matches("http://")
        .trim_end_matches("/gateway.do")
        .to_string();
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(bytes).await.unwrap();
    if half_close {
        socket.shutdown().await.unwrap();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, socket.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_malformed_body_is_named_as_such_not_as_too_large() {
    let app = TestApp::spawn().await;
    let request = format!(
        "POST /gateway.do?method={QUERY}&charset=utf-8 HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nnot a chunk\r\n0\r\n\r\n"
    );
    let answer = raw_exchange(
        &app,
        request.as_bytes(),
        false,
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("isv.invalid-parameter"), "{answer}");
    assert!(answer.contains("请求体读取失败"), "{answer}");
    assert!(!answer.contains("字节上限"), "{answer}");
}

#[tokio::test]
async fn a_request_followed_by_a_half_close_is_answered() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let params = client.sign(client.params(QUERY, &query_biz(&code), &[]));
    let body = ticketgate::alipay::form::encode(&params, Charset::Utf8);
    let request = format!(
        "POST /gateway.do HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for _ in 0..15 {
        let answer = raw_exchange(
            &app,
            request.as_bytes(),
            true,
            std::time::Duration::from_secs(5),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains(r#""code":"10000""#), "{answer}");
    }
}

#[tokio::test]
async fn slow_connections_are_closed_and_do_not_starve_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(Limits {
        header_read_timeout: std::time::Duration::from_secs(1),
        body_read_timeout: std::time::Duration::from_secs(1),
        max_connections: 4,
        ..TestApp::default_limits()
    })
    .await;
    let code = app.issue_one(NORMAL).await;
    let addr = app
        .gateway
        .trim_start_matches("http://")
        .trim_end_matches("/gateway.do")
        .to_string();
    // Every connection slot held by a client that never finishes its headers.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST /gateway.do HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let started = std::time::Instant::now();
    let reply = app.query(&code).await;
    assert_success(&reply);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The slow ones were closed.
    for mut s in slow {
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a slow connection stayed open");
    }
    // A body that never arrives in full is answered, not waited on for ever.
    let request = "POST /gateway.do?method=koubei.trade.ticket.ticketcode.query HTTP/1.1\r\nHost: x\r\n\
                   Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\napp_id=1";
    let started = std::time::Instant::now();
    let answer = raw_exchange(
        &app,
        request.as_bytes(),
        false,
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(answer.contains("请求体未在"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[tokio::test]
async fn an_oversized_request_line_or_header_gets_an_answer_not_a_silent_close() {
    let app = TestApp::spawn().await;
    let huge = "A".repeat(2 << 20);
    for request in [
        format!("GET /gateway.do?method={QUERY}&sign={huge} HTTP/1.1\r\nHost: x\r\n\r\n"),
        format!(
            "POST /gateway.do HTTP/1.1\r\nHost: x\r\nX-Token: {huge}\r\nContent-Length: 0\r\n\r\n"
        ),
    ] {
        let answer = raw_exchange(
            &app,
            request.as_bytes(),
            false,
            std::time::Duration::from_secs(10),
        )
        .await;
        let status = answer.lines().next().unwrap_or_default().to_string();
        assert!(
            status.starts_with("HTTP/1.1 431")
                || status.starts_with("HTTP/1.1 414")
                || status.starts_with("HTTP/1.1 413"),
            "an HTTP status, not a silent close: {:?}",
            &answer[..answer.len().min(200)]
        );
    }
    assert_success(&app.query(&app.issue_one(NORMAL).await).await);
}

/// A Content-Type whose charset disagrees with the request's (its `charset` parameter, or
/// utf-8 when there is none), or that names two, is refused `isv.invalid-charset` and changes
/// nothing; one that agrees, in any spelling, or names none, is read as usual. No official SDK
/// sends a disagreeing header (they name the request's charset, or none).
#[tokio::test]
async fn a_content_type_charset_that_disagrees_with_the_request_is_refused() {
    let app = TestApp::spawn().await;
    let form = "application/x-www-form-urlencoded";
    let cases = [
        (Charset::Gbk, format!("{form};charset=utf-8"), true),
        (Charset::Utf8, format!("{form}; charset=gbk"), true),
        (
            Charset::Utf8,
            format!("{form};charset=utf-8;charset=gbk"),
            true,
        ),
        (
            Charset::Utf8,
            format!("{form};charset=utf-8; charset=utf-8"),
            true,
        ),
        (Charset::Gbk, format!("{form};charset=GBK"), false),
        (Charset::Gbk, format!("{form};charset=gb2312"), false),
        (Charset::Utf8, format!("{form}; charset=\"UTF-8\""), false),
        (Charset::Utf8, form.to_string(), false),
    ];
    for (n, (charset, header, refused)) in cases.into_iter().enumerate() {
        let code = app.issue_one(NORMAL).await;
        let client = app.client_for(A1, SignType::Rsa2, charset);
        let biz = json!({"request_id": format!("ct{n}"), "ticket_code": code, "shop_id": SHOP});
        let params = client.sign(client.params(USE, &biz.to_string(), &[]));
        let bytes = reqwest::Client::new()
            .post(&app.gateway)
            .header("content-type", &header)
            .body(ticketgate::alipay::form::encode(&params, charset))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let reply = client.read(USE, &bytes).unwrap();
        assert!(reply.verified, "{header}: {}", reply.body);
        let status = app.query(&code).await.field("ticket_status").to_string();
        if refused {
            assert_gateway_error(&reply, "40002", "isv.invalid-charset");
            assert!(
                reply.node["sub_msg"]
                    .as_str()
                    .unwrap()
                    .contains("Content-Type"),
                "{}",
                reply.body
            );
            assert_eq!(
                status, "EFFECTIVE",
                "{header}: a refused call changes nothing"
            );
        } else {
            assert_eq!(reply.node["code"], "10000", "{header}: {}", reply.body);
            assert_eq!(status, "USED");
        }
    }
}
