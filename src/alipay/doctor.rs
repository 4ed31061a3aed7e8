//! The signature doctor: when a request's signature does not verify, say why. Pure.
//!
//! One RSA public operation with the app's key recovers what was signed: the PKCS#1 v1.5
//! DigestInfo. Bad padding means another key made the signature (the caller then tries the
//! merchant's other apps, a bounded handful). Otherwise the DigestInfo
//! names the hash that was used, and its digest is compared with the digests of the usual wrong
//! contents — hashing is cheap, so a bad signature costs at most a few RSA public operations.
//! Each finding has a stable code, written in brackets wherever it is shown.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::hash::{MessageDigest, hash};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::form::Params;
use super::{Charset, PublicKey, SignType};

/// A request whose signature did not verify, as the gateway read it.
pub struct Signed<'a> {
    /// The decoded parameters, sorted.
    pub params: &'a Params,
    /// The decoded parameters in the order they arrived.
    pub arrival: &'a [(String, String)],
    pub sign_type: SignType,
    pub charset: Charset,
    pub sign: &'a str,
}

/// Why the signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Another key made it; `signer` names it when it is one we know.
    WrongKey {
        signer: Option<String>,
    },
    /// The hash is not the one `sign_type` declares.
    WrongHash {
        declared: SignType,
    },
    /// Empty parameters were signed that were not sent.
    EmptyValues {
        keys: Vec<String>,
    },
    SignTypeOmitted,
    SignIncluded,
    UrlEncoded,
    Unsorted,
    /// The content was signed as bytes of another charset.
    Charset {
        signed_in: Charset,
    },
    /// Right key and hash, but none of the usual wrong contents.
    Unknown {
        why: &'static str,
    },
}

/// Optional public parameters that clients sign empty and then leave out.
const OFTEN_EMPTY: [&str; 6] = [
    "notify_url",
    "return_url",
    "app_auth_token",
    "format",
    "prod_code",
    "terminal_type",
];

const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA1_PREFIX: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];

impl Finding {
    pub fn code(&self) -> &'static str {
        match self {
            Finding::WrongKey { .. } => "WRONG_KEY",
            Finding::WrongHash { .. } => "WRONG_HASH",
            Finding::EmptyValues { .. } => "EMPTY_VALUES",
            Finding::SignTypeOmitted => "SIGN_TYPE_OMITTED",
            Finding::SignIncluded => "SIGN_INCLUDED",
            Finding::UrlEncoded => "URL_ENCODED",
            Finding::Unsorted => "UNSORTED",
            Finding::Charset { .. } => "CHARSET",
            Finding::Unknown { .. } => "UNKNOWN",
        }
    }

    /// `[CODE] 中文。 English.`
    pub fn sentence(&self) -> String {
        let (zh, en) = match self {
            Finding::WrongKey { signer: None } => (
                "签名不是用与该应用公钥配对的私钥生成的（检查私钥，或在开放平台上传的应用公钥）".to_string(),
                "The signature was not made with the private key that matches this app's public key (check the private key, or the app public key registered).".to_string(),
            ),
            Finding::WrongKey { signer: Some(app_id) } => (
                format!("签名不是用该应用的私钥生成的，而是用同一商户的应用 {app_id} 的私钥"),
                format!("The signature was made with the private key of app {app_id} of the same merchant, not this app's."),
            ),
            Finding::WrongHash { declared } => {
                let (used, used_name) = match declared {
                    SignType::Rsa2 => ("RSA", "SHA1"),
                    SignType::Rsa => ("RSA2", "SHA256"),
                };
                (
                    format!(
                        "sign_type 声明为 {}，签名却用的是 {used_name}（{used}）",
                        declared.name()
                    ),
                    format!(
                        "sign_type says {} but the signature was made with {used_name} ({used}).",
                        declared.name()
                    ),
                )
            }
            Finding::EmptyValues { keys } => {
                let list = keys
                    .iter()
                    .map(|k| format!("{k}="))
                    .collect::<Vec<_>>()
                    .join("&");
                (
                    format!("签名字符串含有请求中没有发送的空参数 {list}"),
                    format!("The signed string contains empty parameters that were not sent: {list}."),
                )
            }
            Finding::SignTypeOmitted => (
                "签名字符串漏了 sign_type：请求的签名包含 sign_type，只排除 sign".to_string(),
                "The signed string left out sign_type: a request's signature covers it; only sign is left out.".to_string(),
            ),
            Finding::SignIncluded => (
                "签名字符串包含了 sign 参数：签名前须去掉 sign".to_string(),
                "The signed string included the sign parameter: leave it out before signing.".to_string(),
            ),
            Finding::UrlEncoded => (
                "签名的是 URL 编码后的值：应对原始值签名，发送时再编码".to_string(),
                "The values were URL-encoded before signing: sign the raw values, encode only when sending.".to_string(),
            ),
            Finding::Unsorted => (
                "参数没有按键名的 ASCII 顺序排序后再签名".to_string(),
                "The parameters were signed without sorting them by key in ASCII order.".to_string(),
            ),
            Finding::Charset { signed_in } => (
                format!("签名字符串是按 {} 编码签名的，与 charset 参数不一致", signed_in.name()),
                format!("The string was signed as {} bytes, not in the charset the request declares.", signed_in.name()),
            ),
            Finding::Unknown { why } => (why.to_string(), unknown_en(why).to_string()),
        };
        format!("[{}] {zh}。{en}", self.code())
    }
}

const CONTENT_DIFFERS: &str =
    "私钥与应用公钥匹配，摘要算法也正确，但签名的内容与网关生成的验签字符串不同";
const NOT_BASE64: &str = "sign 不是合法的 base64";
const WRONG_LENGTH: &str =
    "sign 的长度与应用公钥不符（RSA-2048 的签名是 256 字节，base64 后 344 个字符）";
const NOT_DIGEST_INFO: &str = "签名能用应用公钥解开，但其中不是 SHA256 或 SHA1 的摘要";

fn unknown_en(why: &str) -> &'static str {
    match why {
        NOT_BASE64 => "sign is not valid base64.",
        WRONG_LENGTH => {
            "sign is not as long as a signature of the app's key (RSA-2048: 256 bytes, 344 base64 characters)."
        }
        NOT_DIGEST_INFO => {
            "The signature opens with the app's key but holds no SHA256 or SHA1 digest."
        }
        _ => {
            "The key and the hash are right, but the signed content differs from the gateway's string."
        }
    }
}

/// What a recovered signature holds: which hash, and the digest.
pub fn digest_info(recovered: &[u8]) -> Option<(SignType, &[u8])> {
    if recovered.len() == SHA256_PREFIX.len() + 32 && recovered.starts_with(&SHA256_PREFIX) {
        Some((SignType::Rsa2, &recovered[SHA256_PREFIX.len()..]))
    } else if recovered.len() == SHA1_PREFIX.len() + 20 && recovered.starts_with(&SHA1_PREFIX) {
        Some((SignType::Rsa, &recovered[SHA1_PREFIX.len()..]))
    } else {
        None
    }
}

fn digest(sign_type: SignType, bytes: &[u8]) -> Vec<u8> {
    let md = match sign_type {
        SignType::Rsa2 => MessageDigest::sha256(),
        SignType::Rsa => MessageDigest::sha1(),
    };
    hash(md, bytes).expect("hashing cannot fail").to_vec()
}

/// `k=v&…` of pairs in the order given, `sign` left out unless `keep_sign`.
fn join<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    keep_empty: bool,
    keep_sign: bool,
) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if (k == "sign" && !keep_sign) || (v.is_empty() && !keep_empty) {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Diagnoses a signature that did not verify with `key`. `others` are keys that may have made
/// it instead (the merchant's other apps), each with its app id; they are
/// tried only when `key` did not make it.
pub fn diagnose(s: &Signed, key: &PublicKey, others: &[(String, PublicKey)]) -> Finding {
    let Ok(signature) = B64.decode(s.sign.trim()) else {
        return Finding::Unknown { why: NOT_BASE64 };
    };
    if signature.len() != key.size() {
        return Finding::Unknown { why: WRONG_LENGTH };
    }
    let Some(recovered) = key.recover(&signature) else {
        let signer = others
            .iter()
            .find(|(_, other)| other.recover(&signature).is_some())
            .map(|(name, _)| name.clone());
        return Finding::WrongKey { signer };
    };
    let Some((used, signed_digest)) = digest_info(&recovered) else {
        return Finding::Unknown {
            why: NOT_DIGEST_INFO,
        };
    };
    if used != s.sign_type {
        return Finding::WrongHash {
            declared: s.sign_type,
        };
    }
    let matches =
        |text: &str, charset: Charset| digest(used, &charset.encode(text)) == signed_digest;
    let sorted = || s.params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let cs = s.charset;

    // The value encodings clients apply by mistake, each computed once: every non-alphanumeric
    // byte, the form encoding in the declared charset, and Python's quote_plus (letters, digits
    // and `_.-~` kept, a space as `+`).
    const PLUS_SAFE: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'.')
        .remove(b'-')
        .remove(b'~')
        .remove(b' ');
    let encoded_with = |encode: &dyn Fn(&str) -> String| -> Vec<(String, String)> {
        s.params
            .iter()
            .map(|(k, v)| (k.clone(), encode(v)))
            .collect()
    };
    let encodings = [
        encoded_with(&|v| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string()),
        encoded_with(&|v| super::form::encode_value(v, cs)),
        encoded_with(&|v| {
            percent_encoding::percent_encode(&cs.encode(v), PLUS_SAFE)
                .to_string()
                .replace(' ', "+")
        }),
    ];
    // `sign` kept in the string with the empty value it had before signing.
    let empty_sign = join(
        sorted().map(|(k, v)| if k == "sign" { (k, "") } else { (k, v) }),
        true,
        true,
    );
    if matches(&empty_sign, cs) {
        return Finding::SignIncluded;
    }

    for keep_empty in [false, true] {
        let without_type = join(
            sorted().filter(|(k, _)| *k != "sign_type"),
            keep_empty,
            false,
        );
        if matches(&without_type, cs) {
            return Finding::SignTypeOmitted;
        }
        if matches(&join(sorted(), keep_empty, true), cs) {
            return Finding::SignIncluded;
        }
        for list in &encodings {
            let text = join(
                list.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                keep_empty,
                false,
            );
            if matches(&text, cs) {
                return Finding::UrlEncoded;
            }
        }
        let arrival = join(
            s.arrival.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            keep_empty,
            false,
        );
        if matches(&arrival, cs) {
            return Finding::Unsorted;
        }
        let canonical = join(sorted(), keep_empty, false);
        for other in [Charset::Utf8, Charset::Gbk] {
            if other != cs && matches(&canonical, other) {
                return Finding::Charset { signed_in: other };
            }
        }
    }
    // Empty optional parameters signed but not sent: each alone, then all of them.
    let missing: Vec<&str> = OFTEN_EMPTY
        .iter()
        .copied()
        .filter(|k| !s.params.contains_key(*k))
        .collect();
    let with_empties = |extra: &[&str]| {
        let mut params = s.params.clone();
        for k in extra {
            params.insert((*k).to_string(), String::new());
        }
        join(
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            true,
            false,
        )
    };
    for k in &missing {
        if matches(&with_empties(&[k]), cs) {
            return Finding::EmptyValues {
                keys: vec![(*k).to_string()],
            };
        }
    }
    if missing.len() > 1 && matches(&with_empties(&missing), cs) {
        return Finding::EmptyValues {
            keys: missing.iter().map(|k| k.to_string()).collect(),
        };
    }
    Finding::Unknown {
        why: CONTENT_DIFFERS,
    }
}

#[cfg(test)]
#[path = "doctor_tests.rs"]
mod tests;
