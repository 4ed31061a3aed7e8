//! Sign content (what gets signed) and the two signature algorithms.

use super::Params;
use super::form;

/// `RSA2` is SHA256withRSA, `RSA` is SHA1withRSA; both PKCS#1 v1.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignType {
    Rsa2,
    Rsa,
}

impl SignType {
    pub fn parse(text: &str) -> Option<SignType> {
        match text {
            "RSA2" => Some(SignType::Rsa2),
            "RSA" => Some(SignType::Rsa),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SignType::Rsa2 => "RSA2",
            SignType::Rsa => "RSA",
        }
    }
}

/// Which parameters the content keeps: requests keep empty values or not (clients differ),
/// and notifications leave out `sign_type` as well as `sign`.
#[derive(Clone, Copy, Debug)]
pub struct ContentRule {
    pub keep_empty: bool,
    pub skip_sign_type: bool,
}

/// The request rule most clients use: everything but `sign`, empties kept.
pub const REQUEST_WITH_EMPTIES: ContentRule = ContentRule {
    keep_empty: true,
    skip_sign_type: false,
};
/// The request rule the Java client uses: empties dropped.
pub const REQUEST_WITHOUT_EMPTIES: ContentRule = ContentRule {
    keep_empty: false,
    skip_sign_type: false,
};
/// Notifications: neither `sign` nor `sign_type`, and never an empty field.
pub const NOTIFICATION: ContentRule = ContentRule {
    keep_empty: false,
    skip_sign_type: true,
};

/// `k=v&k=v`, sorted by key in byte order, raw (decoded) values.
pub fn content(params: &Params, rule: ContentRule) -> String {
    let mut out = String::new();
    for (key, value) in params {
        if key == "sign" || (rule.skip_sign_type && key == "sign_type") {
            continue;
        }
        if value.is_empty() && !rule.keep_empty {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Signs `params` with `key` and returns them with `sign` (and `sign_type`) set: the client side
/// of the protocol, used by `ticketgate call` and by the tests.
pub fn sign_request(
    mut params: Params,
    key: &super::PrivateKey,
    sign_type: SignType,
    charset: super::Charset,
) -> Params {
    params.insert("sign_type".into(), sign_type.name().into());
    params.remove("sign");
    let text = content(&params, REQUEST_WITH_EMPTIES);
    let sign = key.sign(sign_type, &charset.encode(&text));
    params.insert("sign".into(), sign);
    params
}

/// The form body of a signed request.
pub fn signed_form(params: &Params, charset: super::Charset) -> String {
    form::encode(params, charset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn content_rules() {
        let p = params(&[
            ("sign", "xx"),
            ("method", "m"),
            ("app_id", "1"),
            ("notify_url", ""),
            ("sign_type", "RSA2"),
            ("Z_upper", "z"),
            ("biz_content", r#"{"a":"口碑"}"#),
        ]);
        let check = [
            (
                REQUEST_WITH_EMPTIES,
                r#"Z_upper=z&app_id=1&biz_content={"a":"口碑"}&method=m&notify_url=&sign_type=RSA2"#,
            ),
            (
                REQUEST_WITHOUT_EMPTIES,
                r#"Z_upper=z&app_id=1&biz_content={"a":"口碑"}&method=m&sign_type=RSA2"#,
            ),
            (
                NOTIFICATION,
                r#"Z_upper=z&app_id=1&biz_content={"a":"口碑"}&method=m"#,
            ),
        ];
        for (rule, want) in check {
            assert_eq!(content(&p, rule), want);
        }
    }

    #[test]
    fn gbk_content_is_signed_as_gbk_bytes() {
        let p = params(&[
            ("app_id", "1"),
            ("biz_content", r#"{"shop_id":"口碑"}"#),
            ("charset", "gbk"),
        ]);
        let text = content(&p, REQUEST_WITH_EMPTIES);
        let gbk = crate::alipay::Charset::Gbk.encode(&text);
        let mut want = b"app_id=1&biz_content={\"shop_id\":\"".to_vec();
        want.extend_from_slice(&[0xbf, 0xda, 0xb1, 0xae]);
        want.extend_from_slice(b"\"}&charset=gbk");
        assert_eq!(gbk, want);
        let key = crate::alipay::PrivateKey::generate();
        let signed = sign_request(p.clone(), &key, SignType::Rsa2, crate::alipay::Charset::Gbk);
        let content =
            crate::alipay::Charset::Gbk.encode(&super::content(&signed, REQUEST_WITH_EMPTIES));
        assert!(
            key.public_key()
                .verify(SignType::Rsa2, &content, &signed["sign"])
        );
        let utf8 = super::content(&signed, REQUEST_WITH_EMPTIES).into_bytes();
        assert!(
            !key.public_key()
                .verify(SignType::Rsa2, &utf8, &signed["sign"]),
            "the bytes are GBK, not UTF-8"
        );
    }
}
