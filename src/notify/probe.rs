//! `ticketgate notify probe`: tests a merchant's notification handler. One genuine
//! `koubei_ticket_openapi_use_notify` for the app, signed as the outbox signs it (the app's
//! charset and sign type, the platform key), the same one again, and tampered ones; each is
//! POSTed and the receiver's answer judged: the genuine one and its repeat must be
//! acknowledged (`success`), every tampered one refused. A wrong answer names the likely
//! mistake behind it, with a stable code and a sentence in Chinese and English.

use serde::Serialize;

use super::Target;
use super::message;
use crate::alipay::form::Params;
use crate::alipay::sign::{self, ContentRule, NOTIFICATION};
use crate::alipay::{Charset, PrivateKey, SignType};

/// What the receiver must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Must {
    Accept,
    Refuse,
    /// Not judged: it tells which mistake a wrong answer to the others comes from.
    Advice,
}

/// One notification the probe sends.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub must: Must,
    pub what: &'static str,
    pub params: Params,
}

/// What the probe needs to know of the app.
pub struct Probed<'a> {
    pub target: &'a Target,
    pub platform_key: &'a PrivateKey,
    /// The app's own private key, when the data folder has it: a notification signed with it
    /// tells a handler that verifies with the app's own public key.
    pub app_key: Option<&'a PrivateKey>,
    pub now_ms: i64,
}

fn resigned(
    mut params: Params,
    key: &PrivateKey,
    sign_type: SignType,
    charset: Charset,
    rule: ContentRule,
) -> Params {
    params.remove("sign");
    let content = sign::content(&params, rule);
    params.insert(
        "sign".into(),
        key.sign(sign_type, &charset.encode(&content)),
    );
    params
}

/// The genuine notification and the tampered ones, in the order they are sent.
pub fn cases(p: &Probed) -> Vec<Case> {
    let t = p.target;
    let event = message::Event {
        biz_type: message::TICKET_USE,
        request_id: "probe-use-1",
        ticket_code: "000000000000",
        order_no: "20000101000000000000000000000000",
        quantity: 1,
        ticket_trans_id: "probe-trans-1",
    };
    let row = message::row(format!("probe{}", crate::ids::hex(24)), t, &event, p.now_ms);
    let (genuine, charset) = message::signed(&row, p.now_ms, p.platform_key);
    let other_hash = match t.sign_type {
        SignType::Rsa2 => SignType::Rsa,
        SignType::Rsa => SignType::Rsa2,
    };
    let changed = |key: &str, value: &str| {
        let mut params = genuine.clone();
        params.insert(key.into(), value.into());
        params
    };
    let without = |key: &str| {
        let mut params = genuine.clone();
        params.remove(key);
        params
    };
    let case = |name, must, what, params| Case {
        name,
        must,
        what,
        params,
    };
    let resign = |params: Params, key: &PrivateKey, sign_type| {
        resigned(params, key, sign_type, charset, NOTIFICATION)
    };
    let stranger = PrivateKey::generate();
    let keep_sign_type = ContentRule {
        keep_empty: false,
        skip_sign_type: false,
    };
    let mut out = vec![
        case(
            "genuine",
            Must::Accept,
            "a genuine notification",
            genuine.clone(),
        ),
        case(
            "repeat",
            Must::Accept,
            "the same notification again (same notify_id)",
            genuine.clone(),
        ),
        case(
            "other_key",
            Must::Refuse,
            "signed by a key other than the platform's",
            resign(genuine.clone(), &stranger, t.sign_type),
        ),
        case("no_sign", Must::Refuse, "no sign at all", without("sign")),
        case(
            "empty_sign",
            Must::Refuse,
            "an empty sign",
            changed("sign", ""),
        ),
        case(
            "changed_quantity",
            Must::Refuse,
            "quantity changed after signing",
            changed("quantity", "99"),
        ),
        case(
            "changed_ticket_code",
            Must::Refuse,
            "ticket_code changed after signing",
            changed("ticket_code", "999999999999"),
        ),
        case(
            "wrong_hash",
            Must::Refuse,
            "signed with the other hash than sign_type says",
            resign(genuine.clone(), p.platform_key, other_hash),
        ),
        case(
            "other_app",
            Must::Refuse,
            "genuinely signed, for another app_id",
            resign(
                changed("app_id", "2021999999999999"),
                p.platform_key,
                t.sign_type,
            ),
        ),
        case(
            "sign_type_signed",
            Must::Advice,
            "signed over a string that keeps sign_type",
            resigned(
                genuine.clone(),
                p.platform_key,
                t.sign_type,
                charset,
                keep_sign_type,
            ),
        ),
    ];
    if let Some(app_key) = p.app_key {
        out.push(case(
            "app_key_signed",
            Must::Advice,
            "signed with the app's own private key",
            resign(genuine.clone(), app_key, t.sign_type),
        ));
    }
    out
}

/// What the receiver answered one case, and whether that was right.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub case: &'static str,
    pub must: Must,
    pub what: &'static str,
    /// The HTTP status and the first bytes of the body, or why there was no answer.
    pub answered: String,
    pub accepted: bool,
    /// `None` for advice.
    pub right: Option<bool>,
}

/// A likely mistake, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mistake {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
}

const fn mistake(code: &'static str, zh: &'static str, en: &'static str) -> Mistake {
    Mistake { code, zh, en }
}

/// The mistakes the answers point to, most telling first.
pub fn mistakes(answers: &[Answer]) -> Vec<Mistake> {
    let accepted = |name: &str| answers.iter().any(|a| a.case == name && a.accepted);
    let mut out = Vec::new();
    let forged = ["other_key", "no_sign", "empty_sign"];
    let tampered = ["changed_quantity", "changed_ticket_code"];
    if forged.iter().any(|c| accepted(c)) {
        out.push(mistake(
            "NO_VERIFICATION",
            "未验签就回了 success：任何人都能伪造通知。用平台公钥（支付宝公钥）验 sign，验不过就不要回 success。",
            "It answered success without verifying the signature: anyone can forge a notification. Verify sign with the platform (Alipay) public key, and answer anything else when it fails.",
        ));
    } else if tampered.iter().any(|c| accepted(c)) {
        out.push(mistake(
            "FIELDS_NOT_SIGNED",
            "改过的字段也被接受了：验签用的不是收到的全部字段。按收到的字段（除 sign、sign_type）排序拼接后验签。",
            "A field changed after signing was accepted: the check does not cover the fields received. Build the string from every field received but sign and sign_type, sorted, and verify that.",
        ));
    }
    if accepted("wrong_hash") {
        out.push(mistake(
            "IGNORES_SIGN_TYPE",
            "sign_type 与实际摘要算法不一致也被接受了：按 sign_type 选 SHA256（RSA2）或 SHA1（RSA）。",
            "A signature made with the other hash than sign_type says was accepted: use SHA256 for RSA2 and SHA1 for RSA, as sign_type says.",
        ));
    }
    if accepted("other_app") {
        out.push(mistake(
            "NO_APP_ID_CHECK",
            "别的应用的通知也被接受了：验签之后还要检查 app_id 是不是自己的。",
            "A genuine notification for another app_id was accepted: after the signature, check that app_id is your own.",
        ));
    }
    if !accepted("genuine") {
        if accepted("app_key_signed") {
            out.push(mistake(
                "APP_KEY_USED",
                "用应用自己的公钥验签：通知是平台私钥签的，要用平台公钥（支付宝公钥）验。",
                "It verifies with the app's own public key: notifications are signed with the platform's key; verify with the platform (Alipay) public key.",
            ));
        } else if accepted("sign_type_signed") {
            out.push(mistake(
                "SIGN_TYPE_IN_STRING",
                "验签串里留了 sign_type：通知的验签串要去掉 sign 和 sign_type。",
                "It keeps sign_type in the string it verifies: a notification's string leaves out both sign and sign_type.",
            ));
        } else {
            out.push(mistake(
                "REFUSES_GENUINE",
                "真实的通知被拒绝了：检查验签用的公钥（平台公钥）、字符集（charset）、空值的处理，以及回的是不是正文恰好为 success 的 HTTP 200。",
                "A genuine notification was refused: check the key (the platform's), the charset, empty values, and that the answer is HTTP 200 with the body exactly success.",
            ));
        }
    } else if !accepted("repeat") {
        out.push(mistake(
            "REFUSES_REPEAT",
            "重复投递（同一个 notify_id）被拒绝了：平台至少投递一次，重复的要再回 success，但只处理一次。",
            "A repeated notification (same notify_id) was refused: delivery is at least once; acknowledge the repeat again and apply it once.",
        ));
    }
    out
}

/// Whether the receiver passed: the genuine one acknowledged, and no tampered one.
pub fn passed(answers: &[Answer]) -> bool {
    answers.iter().any(|a| a.case == "genuine" && a.accepted)
        && !answers.iter().any(|a| a.must == Must::Refuse && a.accepted)
}

/// Sends every case to `url` in turn and judges the answers.
pub async fn run(
    url: &str,
    cases: &[Case],
    charset: Charset,
    targets: &std::sync::Arc<super::targets::Targets>,
) -> Vec<Answer> {
    let http = super::targets::client(targets, std::time::Duration::from_secs(10));
    let mut answers = Vec::with_capacity(cases.len());
    for case in cases {
        let sent = http
            .post(url)
            .header(
                "content-type",
                format!(
                    "application/x-www-form-urlencoded; charset={}",
                    charset.name()
                ),
            )
            .body(message::body(&case.params, charset))
            .send()
            .await;
        let (answered, accepted) = match sent {
            Err(e) => (format!("no answer: {e}"), false),
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                let shown: String = String::from_utf8_lossy(&body).chars().take(32).collect();
                (
                    format!("{status} {shown}"),
                    status == 200 && &body[..] == b"success",
                )
            }
        };
        answers.push(judge(case, answered, accepted));
    }
    answers
}

/// Judges one answer.
pub fn judge(case: &Case, answered: String, accepted: bool) -> Answer {
    let right = match case.must {
        Must::Accept => Some(accepted),
        Must::Refuse => Some(!accepted),
        Must::Advice => None,
    };
    Answer {
        case: case.name,
        must: case.must,
        what: case.what,
        answered,
        accepted,
        right,
    }
}

/// The report as a table for people, with the score and the mistakes.
pub fn table(url: &str, answers: &[Answer], mistakes: &[Mistake]) -> String {
    let judged: Vec<&Answer> = answers.iter().filter(|a| a.right.is_some()).collect();
    let right = judged.iter().filter(|a| a.right == Some(true)).count();
    let mut out = format!("notify probe of {url}\n\n");
    out.push_str(&format!(
        "{:<20} {:<7} {:<9} {:<5} {}\n",
        "case", "must", "answered", "ok", "what"
    ));
    for a in answers {
        let must = match a.must {
            Must::Accept => "accept",
            Must::Refuse => "refuse",
            Must::Advice => "advice",
        };
        let ok = match a.right {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        let answered: String = a.answered.chars().take(9).collect();
        out.push_str(&format!(
            "{:<20} {:<7} {:<9} {:<5} {}\n",
            a.case, must, answered, ok, a.what
        ));
    }
    out.push_str(&format!("\nscore: {right}/{} right\n", judged.len()));
    for m in mistakes {
        out.push_str(&format!("[{}] {} {}\n", m.code, m.zh, m.en));
    }
    if mistakes.is_empty() {
        out.push_str("no mistake found. A repeated notify_id must be acknowledged again and applied once: this probe cannot see whether it was applied twice.\n");
    }
    out
}
