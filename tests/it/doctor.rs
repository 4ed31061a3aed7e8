//! The signature doctor over HTTP: each common signing mistake, made as a client would make
//! it, is answered with production's `isv.invalid-signature` text followed by its diagnosis.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use ticketgate::alipay::form::{self, Params};
use ticketgate::alipay::sign::{self, REQUEST_WITH_EMPTIES, REQUEST_WITHOUT_EMPTIES};
use ticketgate::alipay::{Charset, PrivateKey, SignType};
use ticketgate::client::{Client, Reply};

use crate::helpers::*;

const PRODUCTION: &str =
    "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：";

/// Sends `params` (with `sign` set over `signed`) as a form in the given key order and returns
/// the verified answer.
async fn send_signed(
    client: &Client,
    mut params: Params,
    key: &PrivateKey,
    sign_type: SignType,
    signed: &[u8],
    order: Option<&[&str]>,
) -> Reply {
    params.insert("sign".into(), key.sign(sign_type, signed));
    let charset = Charset::parse(&params["charset"]).unwrap();
    let body = match order {
        None => form::encode(&params, charset),
        Some(keys) => keys
            .iter()
            .map(|k| {
                let one = Params::from([(k.to_string(), params[*k].clone())]);
                form::encode(&one, charset)
            })
            .collect::<Vec<_>>()
            .join("&"),
    };
    let bytes = reqwest::Client::new()
        .post(&client.gateway)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reply = client.read(QUERY, &bytes).unwrap();
    assert!(
        reply.verified,
        "answers with a diagnosis are signed: {}",
        reply.body
    );
    reply
}

#[track_caller]
fn assert_diagnosis(reply: &Reply, code: &str) -> String {
    assert_eq!(reply.code(), "40002", "{}", reply.body);
    assert_eq!(reply.sub_code(), "isv.invalid-signature");
    let sub_msg = reply.field("sub_msg").to_string();
    assert!(
        sub_msg.starts_with(PRODUCTION),
        "production's text first: {sub_msg}"
    );
    assert!(
        sub_msg.contains(&format!(" [{code}] ")),
        "want [{code}]: {sub_msg}"
    );
    sub_msg
}

fn query_params(client: &Client, extra: &[(&str, &str)]) -> Params {
    client.params(
        QUERY,
        &json!({"ticket_code": "123456789012", "shop_id": "门店 一"}).to_string(),
        extra,
    )
}

#[tokio::test]
async fn each_signing_mistake_is_named_in_the_sub_msg() {
    let app = TestApp::spawn().await;
    // A second app of M1 with a key of its own: signing with it is named.
    app.add_app_of_m1("2021000000000077", "RSA2", "utf-8", None)
        .await;
    let other_key = PrivateKey::generate();
    ticketgate::operations::admin::add_app(
        app.service(),
        ticketgate::operations::admin::NewApp {
            app_id: "2021000000000078".into(),
            merchant_pid: M1.into(),
            public_key: other_key.public_key().to_pem(),
            sign_type: "RSA2".into(),
            charset: "utf-8".into(),
            notify_url: None,
        },
    )
    .await
    .unwrap();
    let client = app.client();
    let key = app_key(0);
    let p = query_params(&client, &[]);
    let good = sign::content(&p, REQUEST_WITHOUT_EMPTIES);
    let rsa2 = SignType::Rsa2;

    // Another app of the same merchant signed it.
    let r = send_signed(&client, p.clone(), &other_key, rsa2, good.as_bytes(), None).await;
    let why = assert_diagnosis(&r, "WRONG_KEY");
    assert!(why.contains("2021000000000078"), "{why}");
    // A key nobody registered.
    let r = send_signed(
        &client,
        p.clone(),
        &PrivateKey::generate(),
        rsa2,
        good.as_bytes(),
        None,
    )
    .await;
    assert_diagnosis(&r, "WRONG_KEY");
    // Declared RSA2, signed SHA1.
    let r = send_signed(
        &client,
        p.clone(),
        key,
        SignType::Rsa,
        good.as_bytes(),
        None,
    )
    .await;
    let why = assert_diagnosis(&r, "WRONG_HASH");
    assert!(why.contains("SHA1"), "{why}");
    // sign_type left out of the string.
    let no_type = good.replace("&sign_type=RSA2", "");
    assert_diagnosis(
        &send_signed(&client, p.clone(), key, rsa2, no_type.as_bytes(), None).await,
        "SIGN_TYPE_OMITTED",
    );
    // sign kept in the string (empty, as a dict that already had the key).
    let with_sign = good.replacen("&sign_type", "&sign=&sign_type", 1);
    assert_diagnosis(
        &send_signed(&client, p.clone(), key, rsa2, with_sign.as_bytes(), None).await,
        "SIGN_INCLUDED",
    );
    // Values URL-encoded before signing.
    let encoded: Params = p
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                utf8_percent_encode(v, NON_ALPHANUMERIC).to_string(),
            )
        })
        .collect();
    let url = sign::content(&encoded, REQUEST_WITHOUT_EMPTIES);
    assert_diagnosis(
        &send_signed(&client, p.clone(), key, rsa2, url.as_bytes(), None).await,
        "URL_ENCODED",
    );
    // Parameters signed in the order they were sent, not sorted.
    let order = [
        "method",
        "app_id",
        "timestamp",
        "biz_content",
        "charset",
        "version",
        "format",
        "sign_type",
        "sign",
    ];
    let unsorted: String = order[..8]
        .iter()
        .map(|k| format!("{k}={}", p[*k]))
        .collect::<Vec<_>>()
        .join("&");
    assert_diagnosis(
        &send_signed(
            &client,
            p.clone(),
            key,
            rsa2,
            unsorted.as_bytes(),
            Some(&order),
        )
        .await,
        "UNSORTED",
    );
    // An empty notify_url signed but not sent.
    let empties = good.replacen("&sign_type", "&notify_url=&sign_type", 1);
    let why = assert_diagnosis(
        &send_signed(&client, p.clone(), key, rsa2, empties.as_bytes(), None).await,
        "EMPTY_VALUES",
    );
    assert!(why.contains("notify_url="), "{why}");
    // Declared gbk, signed the UTF-8 bytes.
    let gbk = app.client_for(A1, rsa2, Charset::Gbk);
    let g = query_params(&gbk, &[]);
    let g_content = sign::content(&g, REQUEST_WITHOUT_EMPTIES);
    let why = assert_diagnosis(
        &send_signed(&gbk, g.clone(), key, rsa2, g_content.as_bytes(), None).await,
        "CHARSET",
    );
    assert!(why.contains("utf-8"), "{why}");
    // Something else entirely: right key and hash, other bytes.
    let other = good.replace("门店", "商店");
    assert_diagnosis(
        &send_signed(&client, p.clone(), key, rsa2, other.as_bytes(), None).await,
        "UNKNOWN",
    );

    // A right signature still passes, with or without the empty values signed.
    let mut q = query_params(&client, &[("notify_url", "")]);
    let with_empties = sign::content(&q, REQUEST_WITH_EMPTIES);
    q.insert("sign".into(), key.sign(rsa2, with_empties.as_bytes()));
    let reply = client.send(QUERY, &q).await.unwrap();
    assert_eq!(reply.sub_code(), "TICKET_NOT_EXIST", "{}", reply.body);
}

#[tokio::test]
async fn a_replaced_app_key_takes_effect_at_once_and_the_old_one_is_diagnosed() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let next = PrivateKey::generate();
    ticketgate::operations::admin::set_app_key(
        app.service(),
        A1,
        &next.public_key().to_pem(),
        None,
    )
    .await
    .unwrap();
    let old = app.query(&code);
    let old = old.await;
    assert_diagnosis(&old, "WRONG_KEY");
    let client = Client::new(
        &app.gateway,
        A1,
        next,
        app.platform_public_key(),
        SignType::Rsa2,
        Charset::Utf8,
    );
    let biz = json!({"ticket_code": code, "shop_id": SHOP}).to_string();
    let reply = client.call(QUERY, &biz, &[]).await.unwrap();
    assert_eq!(reply.field("ticket_status"), "EFFECTIVE", "{}", reply.body);
}
