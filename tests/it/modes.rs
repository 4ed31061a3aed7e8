//! Protocol modes over HTTP, on whichever store the suite runs on: keys per sign type and AES
//! content encryption.

use serde_json::json;
use ticketgate::alipay::aes::AesKey;
use ticketgate::alipay::{Charset, PrivateKey, SignType};
use ticketgate::client::Client;
use ticketgate::operations::admin::{self, AdminError, NewApp};

use crate::helpers::*;

const RSA2_ONLY: &str = "2021000000000066";

async fn rsa2_only_app(app: &TestApp) {
    admin::add_app(
        app.service(),
        NewApp {
            app_id: RSA2_ONLY.into(),
            merchant_pid: M1.into(),
            public_key: app_key(0).public_key().to_pem(),
            sign_type: "RSA2".into(),
            charset: "utf-8".into(),
            notify_url: None,
        },
    )
    .await
    .unwrap();
}

fn client_with(app: &TestApp, app_id: &str, key: &PrivateKey, sign_type: SignType) -> Client {
    Client::new(
        &app.gateway,
        app_id,
        key.clone(),
        app.platform_public_key(),
        sign_type,
        Charset::Utf8,
    )
}

async fn query_with(client: &Client, code: &str) -> ticketgate::client::Reply {
    let reply = client
        .call(QUERY, &query_biz(code), &[])
        .await
        .expect("an answer");
    assert!(reply.verified, "{}", reply.body);
    reply
}

#[tokio::test]
async fn an_app_is_called_only_in_the_sign_types_it_has_a_key_for() {
    let app = TestApp::spawn().await;
    rsa2_only_app(&app).await;
    let code = app.issue_one(NORMAL).await;
    let rsa2 = client_with(&app, RSA2_ONLY, app_key(0), SignType::Rsa2);
    let rsa = client_with(&app, RSA2_ONLY, app_key(0), SignType::Rsa);
    assert_success(&query_with(&rsa2, &code).await);
    let refused = query_with(&rsa, &code).await;
    assert_eq!(refused.code(), "40002", "{}", refused.node_text);
    assert_eq!(refused.sub_code(), "isv.missing-signature-config");
    assert!(
        refused.node["sub_msg"]
            .as_str()
            .unwrap()
            .starts_with("验签出错, 未配置对应签名算法的公钥或者证书"),
        "{}",
        refused.node_text
    );

    // A key of its own for RSA: RSA calls verify with it, and only with it.
    let rsa_key = app_key(1);
    let shown = admin::set_app_key(
        app.service(),
        RSA2_ONLY,
        &rsa_key.public_key().to_pem(),
        Some(SignType::Rsa),
    )
    .await
    .unwrap();
    assert!(shown["keys"]["RSA"]["public_key_pem"].is_string());
    assert!(shown["keys"]["RSA2"]["public_key_pem"].is_string());
    let listed = admin::list(app.service(), admin::Listing::Apps, Some(M1.into()), 0)
        .await
        .unwrap();
    let row = listed["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == RSA2_ONLY)
        .unwrap()
        .clone();
    assert_eq!(
        (&row["both_sign_types"], &row["aes"], &row["cert_mode"]),
        (&json!(true), &json!(false), &json!(false))
    );
    let rsa_own = client_with(&app, RSA2_ONLY, rsa_key, SignType::Rsa);
    assert_success(&query_with(&rsa_own, &code).await);
    // A use and its cancel, in each sign type.
    for (client, n) in [(&rsa_own, "1"), (&rsa2, "2")] {
        let use_biz = json!({"request_id": format!("k{n}"), "ticket_code": code, "shop_id": SHOP});
        let used = client.call(USE, &use_biz.to_string(), &[]).await.unwrap();
        assert!(used.verified);
        assert_success(&used);
        let cancel_biz = json!({"request_id": format!("kc{n}"), "request_biz_no": format!("k{n}"), "ticket_code": code});
        let cancelled = client
            .call(CANCEL, &cancel_biz.to_string(), &[])
            .await
            .unwrap();
        assert_success(&cancelled);
    }
    assert_eq!(
        query_with(&rsa, &code).await.sub_code(),
        "isv.invalid-signature"
    );
    assert_success(&query_with(&rsa2, &code).await);

    let removed = admin::remove_app_key(app.service(), RSA2_ONLY, SignType::Rsa)
        .await
        .unwrap();
    assert!(removed["keys"].get("RSA").is_none());
    assert_eq!(
        query_with(&rsa_own, &code).await.sub_code(),
        "isv.missing-signature-config"
    );
    assert!(matches!(
        admin::remove_app_key(app.service(), RSA2_ONLY, SignType::Rsa2).await,
        Err(AdminError::Invalid(_))
    ));
}

#[tokio::test]
async fn encrypted_calls_are_decrypted_and_answered_encrypted_in_each_charset() {
    let app = TestApp::spawn().await;
    let aes = admin::set_app_aes_key(app.service(), A1, false)
        .await
        .unwrap();
    let key = AesKey::from_base64(aes["aes_key"].as_str().unwrap()).unwrap();
    let shown = admin::show_app(app.service(), A1).await.unwrap();
    assert_eq!(shown["aes_key"], aes["aes_key"]);
    for charset in [Charset::Utf8, Charset::Gbk] {
        let code = app.issue_one(NORMAL).await;
        let client = app
            .client_for(A1, SignType::Rsa2, charset)
            .with_aes(key.clone());
        let use_biz = json!({"request_id": format!("e{}", charset.name().len()), "ticket_code": code, "shop_id": SHOP, "ext_info": "备注"});
        let used = client.call(USE, &use_biz.to_string(), &[]).await.unwrap();
        assert!(used.verified, "{}", used.body);
        assert!(used.encrypted, "{}", used.body);
        assert_success(&used);
        assert_eq!(used.field("use_shop_name"), "一号店");
        // On the wire: a JSON string node, the signature over it with its quotes.
        assert!(
            used.body
                .starts_with("{\"koubei_trade_ticket_ticketcode_use_response\":\""),
            "{}",
            used.body
        );
        let queried = client.call(QUERY, &query_biz(&code), &[]).await.unwrap();
        assert!(queried.verified && queried.encrypted);
        assert_eq!(queried.field("ticket_status"), "USED");
        let cancel = json!({"request_id": format!("c{}", charset.name().len()), "request_biz_no": use_biz["request_id"], "ticket_code": code});
        let cancelled = client.call(CANCEL, &cancel.to_string(), &[]).await.unwrap();
        assert!(cancelled.verified && cancelled.encrypted);
        assert_success(&cancelled);
        // A business refusal is encrypted too.
        let refused = client
            .call(
                USE,
                &use_biz.to_string().replace(&code, "000000000000"),
                &[],
            )
            .await
            .unwrap();
        assert!(refused.verified && refused.encrypted);
        assert_eq!(refused.sub_code(), "REQUEST_ID_REPEAT");
    }

    // Another key: refused in the clear, nothing written.
    let code = app.issue_one(NORMAL).await;
    let wrong = app.client().with_aes(AesKey::generate());
    let refused = wrong
        .call(
            USE,
            &json!({"request_id": "w1", "ticket_code": code, "shop_id": SHOP}).to_string(),
            &[],
        )
        .await
        .unwrap();
    assert!(refused.verified && !refused.encrypted, "{}", refused.body);
    assert_eq!(refused.code(), "40002");
    assert_eq!(refused.sub_code(), "isv.invalid-encrypt");
    assert_eq!(refused.node["sub_msg"], "解密异常");
    assert_eq!(app.query(&code).await.field("ticket_status"), "EFFECTIVE");

    // An app without a key, and an algorithm other than AES.
    let no_key = app
        .client_for(A2, SignType::Rsa2, Charset::Utf8)
        .with_aes(key.clone());
    let r = no_key.call(QUERY, &query_biz(&code), &[]).await.unwrap();
    assert_eq!(r.sub_code(), "isv.decryption-error-not-valid-encrypt-key");
    let client = app.client();
    let mut params = client.params(QUERY, &query_biz(&code), &[("encrypt_type", "DES")]);
    params = client.sign(params);
    let r = client.send(QUERY, &params).await.unwrap();
    assert_eq!(r.sub_code(), "isv.invalid-encrypt-type");

    // Removed: encrypted calls are refused again.
    admin::set_app_aes_key(app.service(), A1, true)
        .await
        .unwrap();
    let r = app
        .client()
        .with_aes(key)
        .call(QUERY, &query_biz(&code), &[])
        .await
        .unwrap();
    assert_eq!(r.sub_code(), "isv.decryption-error-not-valid-encrypt-key");
}

const TOKEN_APP: &str = "alipay.open.auth.token.app";
const TOKEN_QUERY: &str = "alipay.open.auth.token.app.query";

async fn code_for(app: &TestApp, methods: Option<&[String]>) -> String {
    admin::auth_code(app.service(), A3, M1, methods)
        .await
        .unwrap()["app_auth_code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `app_id` exchanges an authorization code for a token.
async fn exchange(app: &TestApp, app_id: &str, code: &str) -> ticketgate::client::Reply {
    app.call_as(
        app_id,
        TOKEN_APP,
        json!({"grant_type": "authorization_code", "code": code}),
    )
    .await
}

/// A3 (the ISV) queries one of M1's tickets with a token.
async fn isv_query(app: &TestApp, token: &str, code: &str) -> ticketgate::client::Reply {
    as_isv(
        app,
        token,
        QUERY,
        json!({"ticket_code": code, "shop_id": SHOP}),
    )
    .await
}

/// A3 (the ISV) calls for M1 with a token.
async fn as_isv(
    app: &TestApp,
    token: &str,
    method: &str,
    biz: serde_json::Value,
) -> ticketgate::client::Reply {
    let reply = app
        .client_for(A3, SignType::Rsa2, Charset::Utf8)
        .call(method, &biz.to_string(), &[("app_auth_token", token)])
        .await
        .unwrap();
    assert!(reply.verified, "{}", reply.body);
    reply
}

#[tokio::test]
async fn an_isv_exchanges_a_code_for_a_token_refreshes_it_and_the_old_one_stops() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let auth_code = code_for(&app, None).await;
    let got = exchange(&app, A3, &auth_code).await;
    assert_success(&got);
    assert_eq!(got.field("user_id"), M1);
    assert_eq!(got.node["expires_in"], json!(31_536_000), "a JSON number");
    assert_eq!(got.node["re_expires_in"], json!(32_140_800));
    assert_eq!(
        got.node["tokens"][0]["app_auth_token"],
        got.node["app_auth_token"]
    );
    let token = got.field("app_auth_token").to_string();
    let refresh = got.field("app_refresh_token").to_string();
    assert_success(&isv_query(&app, &token, &code).await);

    let isv_use = json!({"request_id": "t1", "ticket_code": code, "shop_id": SHOP});
    assert_success(&as_isv(&app, &token, USE, isv_use).await);
    let isv_cancel = json!({"request_id": "t2", "request_biz_no": "t1", "ticket_code": code});
    assert_success(&as_isv(&app, &token, CANCEL, isv_cancel).await);

    // A code is good once, and only for the app it was given to.
    let again = exchange(&app, A3, &auth_code).await;
    assert_eq!(
        (again.code(), again.sub_code()),
        ("40002", "isv.code-invalid")
    );
    let other = code_for(&app, None).await;
    let stolen = exchange(&app, A2, &other).await;
    assert_eq!(stolen.sub_code(), "isv.code-invalid");

    let queried = app
        .call_as(A3, TOKEN_QUERY, json!({"app_auth_token": token}))
        .await;
    assert_success(&queried);
    assert_eq!(queried.field("status"), "valid");
    assert_eq!(queried.node["is_by_app_auth"], true);
    assert!(
        queried.node["auth_methods"]
            .as_array()
            .unwrap()
            .contains(&json!(USE))
    );

    // Eight refreshes of the same pair at once: one new pair.
    let isv = app.client_for(A3, SignType::Rsa2, Charset::Utf8);
    let biz = json!({"grant_type": "refresh_token", "refresh_token": refresh}).to_string();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (isv, biz) = (isv.clone(), biz.clone());
            tokio::spawn(async move { isv.call(TOKEN_APP, &biz, &[]).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        let reply = call.await.unwrap();
        assert!(reply.verified, "{}", reply.body);
        answers.push(reply);
    }
    let won: Vec<_> = answers.iter().filter(|r| r.code() == "10000").collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers
            .iter()
            .map(|r| r.node_text.clone())
            .collect::<Vec<_>>()
    );
    assert!(
        answers
            .iter()
            .filter(|r| r.code() != "10000")
            .all(|r| r.sub_code() == "isv.refresh-token-invalid")
    );
    let fresh = won[0].field("app_auth_token").to_string();
    assert_ne!(fresh, token);
    let old = as_isv(
        &app,
        &token,
        QUERY,
        json!({"ticket_code": code, "shop_id": SHOP}),
    )
    .await;
    assert_eq!(
        (old.code(), old.sub_code()),
        ("20001", "aop.invalid-app-auth-token")
    );
    assert_success(
        &as_isv(
            &app,
            &fresh,
            QUERY,
            json!({"ticket_code": code, "shop_id": SHOP}),
        )
        .await,
    );
    let old_query = app
        .call_as(A3, TOKEN_QUERY, json!({"app_auth_token": token}))
        .await;
    assert_eq!(old_query.field("status"), "invalid");
    let unknown = app
        .call_as(A3, TOKEN_QUERY, json!({"app_auth_token": "nope"}))
        .await;
    assert_eq!(unknown.sub_code(), "aop.invalid-app-auth-token");
}

#[tokio::test]
async fn a_token_acts_only_for_the_methods_the_merchant_authorised() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let only_query = [QUERY.to_string()];
    let auth_code = code_for(&app, Some(&only_query)).await;
    let got = exchange(&app, A3, &auth_code).await;
    let token = got.field("app_auth_token").to_string();
    assert_success(&isv_query(&app, &token, &code).await);
    let used = as_isv(
        &app,
        &token,
        USE,
        json!({"request_id": "i1", "ticket_code": code, "shop_id": SHOP}),
    )
    .await;
    assert_eq!(
        (used.code(), used.sub_code()),
        ("20001", "aop.invalid-app-auth-token-no-api")
    );
    assert_eq!(used.node["sub_msg"], "商户未授权当前接口");
    assert_eq!(app.query(&code).await.field("ticket_status"), "EFFECTIVE");
    let queried = app
        .call_as(A3, TOKEN_QUERY, json!({"app_auth_token": token}))
        .await;
    assert_eq!(queried.node["auth_methods"], json!([QUERY]));
    assert_eq!(queried.node["is_by_app_auth"], false);
    // The operator's grant takes the same list; unknown methods are refused.
    let granted = admin::grant_token_for(app.service(), A3, M1, None, Some(&only_query))
        .await
        .unwrap();
    let t = granted["app_auth_token"].as_str().unwrap();
    let used = as_isv(
        &app,
        t,
        USE,
        json!({"request_id": "i2", "ticket_code": code, "shop_id": SHOP}),
    )
    .await;
    assert_eq!(used.sub_code(), "aop.invalid-app-auth-token-no-api");
    assert!(matches!(
        admin::auth_code(app.service(), A3, M1, Some(&["koubei.nope".to_string()])).await,
        Err(AdminError::Invalid(_))
    ));
}

#[tokio::test]
async fn an_authorization_code_expires_after_ten_minutes() {
    let clock = std::sync::Arc::new(ticketgate::clock::ManualClock::starting_now());
    let app = TestApp::spawn_at(clock.clone()).await;
    let auth_code = code_for(&app, None).await;
    clock.advance(10 * 60_000 + 1);
    let late = exchange(&app, A3, &auth_code).await;
    assert_eq!(late.sub_code(), "isv.code-invalid");
    let bad = app
        .call_as(
            A3,
            TOKEN_APP,
            json!({"grant_type": "password", "code": auth_code}),
        )
        .await;
    assert_refused(&bad, "INVALID_PARAMETER");
}

const CERT_APP: &str = "2021000000000099";

#[tokio::test]
async fn a_certificate_mode_app_names_its_certificates_and_answers_carry_the_platforms() {
    let app = TestApp::spawn().await;
    app.add_app_of_m1(CERT_APP, "RSA2", "utf-8", None).await;
    let dir = app.data().join("certs-out");
    let issued = admin::app_cert(app.service(), CERT_APP, &dir, false)
        .await
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let app_cert = read(&format!("appCertPublicKey_{CERT_APP}.crt"));
    let platform_cert = read("alipayCertPublicKey_RSA2.crt");
    let root = read("alipayRootCert.crt");
    let sn = |pem: &str| ticketgate::alipay::certs::cert_sn_of_pem(pem).unwrap();
    assert_eq!(issued["app_cert_sn"], sn(&app_cert));
    assert_eq!(issued["alipay_cert_sn"], sn(&platform_cert));
    let root_sn = issued["alipay_root_cert_sn"].as_str().unwrap().to_string();
    assert_eq!(root_sn.split('_').count(), 2, "two RSA roots in the bundle");
    assert!(root.contains("-----END CERTIFICATE-----\n\n-----BEGIN CERTIFICATE-----"));
    let platform_sn = sn(&platform_cert);

    let code = app.issue_one(NORMAL).await;
    let client = app
        .client_for(CERT_APP, SignType::Rsa2, Charset::Utf8)
        .with_cert_sns(&sn(&app_cert), &root_sn);
    let call = |method: &'static str, biz: serde_json::Value| {
        let client = client.clone();
        async move {
            let r = client.call(method, &biz.to_string(), &[]).await.unwrap();
            assert!(r.verified, "{}", r.body);
            r
        }
    };
    let used = call(
        USE,
        json!({"request_id": "cu1", "ticket_code": code, "shop_id": SHOP}),
    )
    .await;
    assert_success(&used);
    assert_eq!(used.alipay_cert_sn.as_deref(), Some(platform_sn.as_str()));
    assert!(
        used.body.contains(&format!(
            "}},\"alipay_cert_sn\":\"{platform_sn}\",\"sign\":\""
        )),
        "between the node and the sign: {}",
        used.body
    );
    assert_success(
        &call(
            CANCEL,
            json!({"request_id": "cc1", "request_biz_no": "cu1", "ticket_code": code}),
        )
        .await,
    );
    assert_eq!(
        call(QUERY, json!({"ticket_code": code, "shop_id": SHOP}))
            .await
            .field("ticket_status"),
        "EFFECTIVE"
    );

    // The platform certificate can be downloaded by its SN (the Java SDK's rotation path).
    let got = call(
        "alipay.open.app.alipaycert.download",
        json!({"alipay_cert_sn": platform_sn}),
    )
    .await;
    assert_success(&got);
    let pem = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        got.field("alipay_cert_content"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(pem).unwrap(), platform_cert);
    let unknown = call(
        "alipay.open.app.alipaycert.download",
        json!({"alipay_cert_sn": "0123"}),
    )
    .await;
    assert_refused(&unknown, "CERT_NOT_EXIST");

    // Missing or wrong SNs are named, and the answer still carries the platform's SN.
    let plain = app.client_for(CERT_APP, SignType::Rsa2, Charset::Utf8);
    let r = plain.call(QUERY, &query_biz(&code), &[]).await.unwrap();
    assert_eq!(
        (r.code(), r.sub_code()),
        ("40002", "isv.invalid-app-cert-sn")
    );
    assert_eq!(r.alipay_cert_sn.as_deref(), Some(platform_sn.as_str()));
    assert!(r.verified);
    for (app_sn, root, sub_code) in [
        (
            "0123456789abcdef0123456789abcdef",
            root_sn.as_str(),
            "isv.invalid-app-cert-sn",
        ),
        (
            sn(&app_cert).as_str(),
            "0123456789abcdef0123456789abcdef",
            "isv.invalid-alipay-root-cert-sn",
        ),
    ] {
        let c = plain.clone().with_cert_sns(app_sn, root);
        let r = c.call(QUERY, &query_biz(&code), &[]).await.unwrap();
        assert_eq!(r.sub_code(), sub_code, "{}", r.node_text);
    }
    // Only the root's own SN is needed among the parts.
    let first_only = root_sn.split('_').next().unwrap();
    let c = plain.clone().with_cert_sns(&sn(&app_cert), first_only);
    assert_success(&c.call(QUERY, &query_biz(&code), &[]).await.unwrap());

    // Public-key apps' answers carry no SN; back in public-key mode, neither does this one's.
    assert_eq!(app.query(&code).await.alipay_cert_sn, None);
    admin::app_cert(app.service(), CERT_APP, &dir, true)
        .await
        .unwrap();
    let r = plain.call(QUERY, &query_biz(&code), &[]).await.unwrap();
    assert_success(&r);
    assert_eq!(r.alipay_cert_sn, None);
}
