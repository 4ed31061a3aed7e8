//! The notification message: its fields, the outbox row, and the signed form body. Pure.

use serde_json::{Map, Value};

use super::Target;
use crate::alipay::form::{self, Params};
use crate::alipay::sign::{self, NOTIFICATION};
use crate::alipay::{Charset, PrivateKey, SignType, time};
use crate::store::{NotificationRow, OutboxStatus};

pub const NOTIFY_TYPE: &str = "koubei_ticket_openapi_use_notify";
pub const TICKET_USE: &str = "TICKET_USE";
pub const TICKET_CANCEL: &str = "TICKET_CANCEL";

/// The send notification (a ticketgate extension): an order awaits a code merchant's codes.
pub const SEND_NOTIFY_TYPE: &str = "koubei_ticket_send_notify";
pub const TICKET_SEND: &str = "TICKET_SEND";

/// The outbox row of a send notification to the code merchant's app, due at once.
pub fn send_row(
    notify_id: String,
    target: &Target,
    send: &crate::ledger::codes::SendOrder,
    now: i64,
) -> NotificationRow {
    let mut fields = Map::new();
    let mut put = |k: &str, v: &str| {
        fields.insert(k.into(), Value::String(v.into()));
    };
    put("notify_type", SEND_NOTIFY_TYPE);
    put("version", "1.0");
    put("charset", target.charset.name());
    put("app_id", &target.app_id);
    for (key, value) in crate::ledger::codes::send_notification_fields(send) {
        put(key, &value);
    }
    outbox_row(
        notify_id,
        target,
        TICKET_SEND,
        &send.send_order_no,
        fields,
        now,
    )
}

fn outbox_row(
    notify_id: String,
    target: &Target,
    biz_type: &str,
    request_id: &str,
    fields: Map<String, Value>,
    now: i64,
) -> NotificationRow {
    NotificationRow {
        notify_id,
        app_id: target.app_id.clone(),
        url: target.url.clone(),
        charset: target.charset.name().into(),
        sign_type: target.sign_type.name().into(),
        biz_type: biz_type.into(),
        request_id: request_id.into(),
        fields: Value::Object(fields).to_string(),
        status: OutboxStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        claimed_until: 0,
        claim_token: None,
        created_at: now,
        merchant_pid: Some(target.merchant_pid.clone()),
    }
}

/// What a notification reports.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub biz_type: &'static str,
    pub request_id: &'a str,
    pub ticket_code: &'a str,
    pub order_no: &'a str,
    pub quantity: i64,
    pub ticket_trans_id: &'a str,
}

/// The outbox row for an event, due at once.
pub fn row(notify_id: String, target: &Target, event: &Event, now: i64) -> NotificationRow {
    let mut fields = Map::new();
    let mut put = |k: &str, v: &str| {
        fields.insert(k.into(), Value::String(v.into()));
    };
    put("notify_type", NOTIFY_TYPE);
    put("version", "1.0");
    put("charset", target.charset.name());
    put("app_id", &target.app_id);
    if let Some(auth) = &target.auth_app_id {
        put("auth_app_id", auth);
    }
    put("biz_type", event.biz_type);
    put("request_id", event.request_id);
    put("ticket_code", event.ticket_code);
    put("order_no", event.order_no);
    put("quantity", &event.quantity.to_string());
    put("ticket_trans_id", event.ticket_trans_id);
    outbox_row(
        notify_id,
        target,
        event.biz_type,
        event.request_id,
        fields,
        now,
    )
}

/// The parameters as sent at `notify_time`, signed with the platform key: every field but
/// `sign` and `sign_type`, sorted, no empty values, in the app's charset and sign type.
pub fn signed(row: &NotificationRow, notify_time: i64, key: &PrivateKey) -> (Params, Charset) {
    let charset = Charset::parse(&row.charset).expect("outbox rows hold a charset we wrote");
    let sign_type = SignType::parse(&row.sign_type).expect("outbox rows hold a sign type we wrote");
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&row.fields) else {
        panic!("outbox fields are a JSON object we wrote");
    };
    let mut params: Params = fields
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    params.insert("notify_id".into(), row.notify_id.clone());
    params.insert("notify_time".into(), time::format(notify_time));
    params.insert("sign_type".into(), sign_type.name().into());
    let content = sign::content(&params, NOTIFICATION);
    params.insert(
        "sign".into(),
        key.sign(sign_type, &charset.encode(&content)),
    );
    (params, charset)
}

/// The form body, in the app's charset.
pub fn body(params: &Params, charset: Charset) -> String {
    form::encode(params, charset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_notification_verifies_and_has_no_empty_field() {
        let key = PrivateKey::generate();
        let target = Target {
            url: "http://127.0.0.1:9/n".into(),
            app_id: "2021000000000001".into(),
            auth_app_id: None,
            merchant_pid: "2088000000000001".into(),
            charset: Charset::Gbk,
            sign_type: SignType::Rsa,
        };
        let event = Event {
            biz_type: TICKET_CANCEL,
            request_id: "c1",
            ticket_code: "123456789012",
            order_no: "",
            quantity: 2,
            ticket_trans_id: "t1",
        };
        let row = row("n1".into(), &target, &event, 0);
        let (params, charset) = signed(&row, 0, &key);
        assert_eq!(charset, Charset::Gbk);
        assert!(!params.contains_key("order_no") && !params.contains_key("auth_app_id"));
        assert_eq!(params["notify_type"], NOTIFY_TYPE);
        assert_eq!(params["notify_time"], "1970-01-01 08:00:00");
        assert_eq!(params["sign_type"], "RSA");
        let content = sign::content(&params, NOTIFICATION);
        assert!(content.starts_with(
            "app_id=2021000000000001&biz_type=TICKET_CANCEL&charset=gbk&notify_id=n1"
        ));
        assert!(!content.contains("sign"));
        assert!(
            key.public_key()
                .verify(SignType::Rsa, &charset.encode(&content), &params["sign"])
        );
        let decoded =
            form::decode(&form::split(body(&params, charset).as_bytes()), charset).unwrap();
        assert_eq!(decoded, params);
    }
}
