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
    let rsa_own = client_with(&app, RSA2_ONLY, rsa_key, SignType::Rsa);
    assert_success(&query_with(&rsa_own, &code).await);
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
