//! `koubei.trade.ticket.used.refund` (售后退): a refund after use. A `REFUND` transaction points
//! at one use of the ticket; the used units are not given back. A normal ticket becomes
//! `REFUNDED`; a times card keeps its remaining uses. A refunded use can no longer be cancelled.

use serde_json::json;

use super::fields::Biz;
use super::idempotency::Record;
use super::names::{MerchantPid, RequestId, TicketCode};
use super::{Refusal, TicketView, Trans, TransKind};

pub const METHOD: &str = "koubei.trade.ticket.used.refund";

/// A well-formed refund request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub request_id: RequestId,
    pub ticket_code: TicketCode,
    /// The `ticket_trans_id` of the use being refunded.
    pub trans_id: String,
}

pub fn parse(biz: &Biz) -> Result<RefundRequest, Refusal> {
    Ok(RefundRequest {
        request_id: RequestId::parse("request_id", biz.required("request_id", 32)?)?,
        ticket_code: TicketCode::parse("ticket_code", biz.required("ticket_code", 32)?)?,
        trans_id: biz.required("trans_id", 64)?,
    })
}

impl RefundRequest {
    /// What must match for a repeated `request_id` to be a replay.
    pub fn fingerprint(&self) -> String {
        json!([self.ticket_code, self.trans_id]).to_string()
    }
}

/// What the store loaded for a refund.
#[derive(Debug, Clone, Default)]
pub struct RefundFacts {
    pub recorded: Option<Record>,
    /// The ticket the call names (locked): the one that holds `trans_id` when its code matches,
    /// else the internal code `ticket_code`.
    pub ticket: Option<TicketView>,
    /// Every transaction of that ticket.
    pub trans: Vec<Trans>,
}

/// What a refund will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    pub voucher_id: String,
    pub use_trans_id: String,
    pub quantity: i64,
    /// A normal ticket becomes `REFUNDED`; a times card keeps its remaining uses.
    pub marks_refunded: bool,
}

/// Decides a refund, checks in order: the ticket exists → it is the acting merchant's →
/// `trans_id` is a use of it → that use was neither cancelled nor refunded.
pub fn decide(
    merchant_pid: &MerchantPid,
    req: &RefundRequest,
    ticket: Option<&TicketView>,
    trans: &[Trans],
) -> Result<RefundPlan, Refusal> {
    let view = ticket.ok_or(Refusal::TicketNotExist)?;
    if view.ticket.merchant_pid != merchant_pid.as_str() {
        return Err(Refusal::NotSameMerchantPid);
    }
    let used = trans
        .iter()
        .find(|t| {
            t.trans_id == req.trans_id
                && t.kind == TransKind::Use
                && t.voucher_id == view.ticket.voucher_id
        })
        .ok_or(Refusal::UseBizOrderNotExist)?;
    let reversed_by = |kind| {
        trans
            .iter()
            .any(|t| t.kind == kind && t.reverses_trans_id.as_deref() == Some(&*used.trans_id))
    };
    if reversed_by(TransKind::Cancel) {
        return Err(Refusal::StateIllegal(format!(
            "核销流水 {} 已撤销，不能售后退",
            used.trans_id
        )));
    }
    if reversed_by(TransKind::Refund) {
        return Err(Refusal::StateIllegal(format!(
            "核销流水 {} 已售后退",
            used.trans_id
        )));
    }
    Ok(RefundPlan {
        voucher_id: view.ticket.voucher_id.clone(),
        use_trans_id: used.trans_id.clone(),
        quantity: used.quantity,
        marks_refunded: !view.is_times_card(),
    })
}

/// The answer: `request_id`, and `biz_code=BIZ_ALREADY_SUCCESS` on a replay.
pub type RefundAnswer = super::idempotency::Acknowledged;

pub fn answer(req: &RefundRequest) -> RefundAnswer {
    RefundAnswer {
        request_id: req.request_id.clone(),
        biz_code: None,
    }
}

/// The operator's refund of a whole ticket (`admin ticket refund`): a `REFUND` transaction
/// that takes whatever remains (pointing at no use: it reverses nothing), and the ticket
/// becomes `REFUNDED`. `None` when it is refunded already.
pub fn refund_remaining(ticket: &super::Ticket, trans_id: String, now: i64) -> Option<Trans> {
    (!ticket.refunded).then(|| Trans {
        trans_id,
        voucher_id: ticket.voucher_id.clone(),
        kind: TransKind::Refund,
        quantity: ticket.available_quantity,
        use_order_id: None,
        reverses_trans_id: None,
        expire_change: None,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ticket;
    use crate::ledger::fixtures::{self, M};

    fn view(times: Option<i64>) -> TicketView {
        fixtures::view(
            Ticket {
                voucher_id: "v1".into(),
                ..fixtures::ticket("123456789012", times.unwrap_or(1), 0)
            },
            fixtures::item(times, None),
        )
    }

    fn tr(id: &str, kind: TransKind, quantity: i64, reverses: Option<&str>) -> Trans {
        Trans {
            trans_id: id.into(),
            voucher_id: "v1".into(),
            kind,
            quantity,
            use_order_id: None,
            reverses_trans_id: reverses.map(Into::into),
            expire_change: None,
            created_at: 0,
        }
    }

    fn req(trans_id: &str) -> RefundRequest {
        parse(
            &Biz::parse(
                &json!({"request_id": "r1", "ticket_code": "123456789012", "trans_id": trans_id})
                    .to_string(),
            )
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn every_refusal_in_its_order() {
        let m = MerchantPid::trusted(M);
        let other = MerchantPid::trusted("2088000000000002");
        let v = view(None);
        let used = [tr("u1", TransKind::Use, 1, None)];
        assert_eq!(
            decide(&m, &req("u1"), None, &[]),
            Err(Refusal::TicketNotExist)
        );
        assert_eq!(
            decide(&other, &req("u1"), Some(&v), &used),
            Err(Refusal::NotSameMerchantPid)
        );
        assert_eq!(
            decide(&m, &req("u2"), Some(&v), &used),
            Err(Refusal::UseBizOrderNotExist)
        );
        // A cancel's id is not a use.
        let cancelled = [
            tr("u1", TransKind::Use, 1, None),
            tr("c1", TransKind::Cancel, 1, Some("u1")),
        ];
        assert_eq!(
            decide(&m, &req("c1"), Some(&v), &cancelled),
            Err(Refusal::UseBizOrderNotExist)
        );
        assert!(matches!(
            decide(&m, &req("u1"), Some(&v), &cancelled),
            Err(Refusal::StateIllegal(why)) if why.contains("已撤销")
        ));
        let refunded = [
            tr("u1", TransKind::Use, 1, None),
            tr("f1", TransKind::Refund, 1, Some("u1")),
        ];
        assert!(matches!(
            decide(&m, &req("u1"), Some(&v), &refunded),
            Err(Refusal::StateIllegal(why)) if why.contains("已售后退")
        ));
        for missing in ["request_id", "ticket_code", "trans_id"] {
            let mut biz = json!({"request_id": "r1", "ticket_code": "1", "trans_id": "u1"});
            biz.as_object_mut().unwrap().remove(missing);
            assert!(matches!(
                parse(&Biz::parse(&biz.to_string()).unwrap()),
                Err(Refusal::InvalidParameter(_))
            ));
        }
    }

    #[test]
    fn a_normal_ticket_becomes_refunded_a_times_card_keeps_its_uses() {
        let m = MerchantPid::trusted(M);
        let plan = decide(
            &m,
            &req("u1"),
            Some(&view(None)),
            &[tr("u1", TransKind::Use, 1, None)],
        )
        .unwrap();
        assert!(plan.marks_refunded);
        let card = [
            tr("u0", TransKind::Use, 2, None),
            tr("u1", TransKind::Use, 3, None),
        ];
        let plan = decide(&m, &req("u1"), Some(&view(Some(10))), &card).unwrap();
        assert!(!plan.marks_refunded);
        assert_eq!((plan.use_trans_id.as_str(), plan.quantity), ("u1", 3));
        assert_eq!(req("u1").fingerprint(), req("u1").fingerprint());
        assert_ne!(req("u1").fingerprint(), req("u0").fingerprint());
    }
}
