//! The signature doctor's table tests: each usual mistake and the finding it gets.

use super::*;
use crate::alipay::PrivateKey;
use crate::alipay::sign::{self, REQUEST_WITHOUT_EMPTIES};
use std::sync::OnceLock;

fn keys() -> &'static (PrivateKey, PrivateKey) {
    static KEYS: OnceLock<(PrivateKey, PrivateKey)> = OnceLock::new();
    KEYS.get_or_init(|| (PrivateKey::generate(), PrivateKey::generate()))
}

fn request(charset: Charset, sign_type: SignType) -> Params {
    Params::from(
        [
            ("app_id", "2021000000000001"),
            ("method", "koubei.trade.ticket.ticketcode.query"),
            ("charset", charset.name()),
            ("sign_type", sign_type.name()),
            ("timestamp", "2026-11-30 12:00:00"),
            ("version", "1.0"),
            (
                "biz_content",
                r#"{"ticket_code":"123456789012","shop_id":"门店 1&2"}"#,
            ),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

/// Diagnoses `params` signed over `signed` bytes with `key` and `used`.
fn diagnosis(
    params: &Params,
    arrival: &[(String, String)],
    key: &PrivateKey,
    used: SignType,
    signed: &[u8],
) -> Finding {
    let sign = key.sign(used, signed);
    let sign_type = SignType::parse(&params["sign_type"]).unwrap();
    let charset = Charset::parse(&params["charset"]).unwrap();
    // As the gateway has them: `sign` among the parameters, sent last.
    let mut params = params.clone();
    params.insert("sign".into(), sign.clone());
    let mut arrival = arrival.to_vec();
    arrival.push(("sign".into(), sign.clone()));
    let s = Signed {
        params: &params,
        arrival: &arrival,
        sign_type,
        charset,
        sign: &sign,
    };
    let others = [("2021000000000002".to_string(), keys().1.public_key())];
    diagnose(&s, &keys().0.public_key(), &others)
}

fn arrival(params: &Params) -> Vec<(String, String)> {
    params.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[test]
fn each_common_mistake_is_named() {
    let (app, platform) = keys();
    let p = request(Charset::Utf8, SignType::Rsa2);
    let a = arrival(&p);
    let good = sign::content(&p, REQUEST_WITHOUT_EMPTIES);
    let code = |f: Finding| f.code();

    assert_eq!(
        diagnosis(&p, &a, platform, SignType::Rsa2, good.as_bytes()),
        Finding::WrongKey {
            signer: Some("2021000000000002".into())
        }
    );
    let stranger = PrivateKey::generate();
    assert_eq!(
        diagnosis(&p, &a, &stranger, SignType::Rsa2, good.as_bytes()),
        Finding::WrongKey { signer: None }
    );
    assert_eq!(
        diagnosis(&p, &a, app, SignType::Rsa, good.as_bytes()),
        Finding::WrongHash {
            declared: SignType::Rsa2
        }
    );
    let no_type = good.replace("&sign_type=RSA2", "");
    assert_eq!(
        code(diagnosis(&p, &a, app, SignType::Rsa2, no_type.as_bytes())),
        "SIGN_TYPE_OMITTED"
    );
    let with_sign = {
        let mut q = p.clone();
        q.insert("sign".into(), String::new());
        sign::content(&q, sign::REQUEST_WITH_EMPTIES).replacen("&sign_type", "&sign=&sign_type", 1)
    };
    assert_eq!(
        code(diagnosis(&p, &a, app, SignType::Rsa2, with_sign.as_bytes())),
        "SIGN_INCLUDED"
    );
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
    assert_eq!(
        code(diagnosis(&p, &a, app, SignType::Rsa2, url.as_bytes())),
        "URL_ENCODED"
    );
    let mut shuffled = a.clone();
    shuffled.reverse();
    let unsorted = join(
        shuffled.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        false,
        false,
    );
    assert_eq!(
        code(diagnosis(
            &p,
            &shuffled,
            app,
            SignType::Rsa2,
            unsorted.as_bytes()
        )),
        "UNSORTED"
    );
    let empties = good.replacen("&sign_type", "&notify_url=&sign_type", 1);
    assert_eq!(
        diagnosis(&p, &a, app, SignType::Rsa2, empties.as_bytes()),
        Finding::EmptyValues {
            keys: vec!["notify_url".into()]
        }
    );
    // Declared gbk, signed the UTF-8 bytes (the value has Chinese in it).
    let g = request(Charset::Gbk, SignType::Rsa2);
    let g_content = sign::content(&g, REQUEST_WITHOUT_EMPTIES);
    assert_eq!(
        diagnosis(&g, &arrival(&g), app, SignType::Rsa2, g_content.as_bytes()),
        Finding::Charset {
            signed_in: Charset::Utf8
        }
    );
    let other = good.replace("门店", "商店");
    assert_eq!(
        code(diagnosis(&p, &a, app, SignType::Rsa2, other.as_bytes())),
        "UNKNOWN"
    );
    // The right signature has nothing to diagnose, but the doctor never claims a mistake
    // that is not there: a verifying signature reads as UNKNOWN content-wise only if asked.
    let not_b64 = Signed {
        params: &p,
        arrival: &a,
        sign_type: SignType::Rsa2,
        charset: Charset::Utf8,
        sign: "%%%",
    };
    assert_eq!(code(diagnose(&not_b64, &app.public_key(), &[])), "UNKNOWN");
}

#[test]
fn every_finding_reads_in_both_languages_with_its_code() {
    for f in [
        Finding::WrongKey { signer: None },
        Finding::WrongKey {
            signer: Some("2021000000000002".into()),
        },
        Finding::WrongHash {
            declared: SignType::Rsa,
        },
        Finding::EmptyValues {
            keys: vec!["notify_url".into()],
        },
        Finding::SignTypeOmitted,
        Finding::SignIncluded,
        Finding::UrlEncoded,
        Finding::Unsorted,
        Finding::Charset {
            signed_in: Charset::Gbk,
        },
        Finding::Unknown {
            why: CONTENT_DIFFERS,
        },
    ] {
        let s = f.sentence();
        assert!(s.starts_with(&format!("[{}] ", f.code())), "{s}");
        assert!(s.contains('。') && s.ends_with('.'), "{s}");
    }
}
