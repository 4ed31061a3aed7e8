//! One idempotency record for every write method, keyed by (merchant, method, request_id): a
//! fingerprint of the canonical typed request and the outcome that was answered. A repeat with
//! the same fingerprint gets that outcome again (`BIZ_ALREADY_SUCCESS` on a success); with
//! another, `REQUEST_ID_REPEAT`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Refusal;
use super::names::{MerchantPid, RequestId};

/// `biz_code` of a replayed success.
pub const BIZ_ALREADY_SUCCESS: &str = "BIZ_ALREADY_SUCCESS";

/// Where a request id lives: each merchant has a namespace per method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub merchant_pid: MerchantPid,
    pub method: &'static str,
    pub request_id: RequestId,
}

/// What was answered the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The typed answer, as JSON.
    Answered(String),
    /// A refusal that is recorded (use's closed orders), answered again word for word.
    Refused { sub_code: String, sub_msg: String },
}

/// The record of one request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub fingerprint: String,
    pub outcome: Outcome,
}

impl Record {
    /// The record of a success.
    pub fn answered(fingerprint: String, answer: &impl Serialize) -> Record {
        Record {
            fingerprint,
            outcome: Outcome::Answered(
                serde_json::to_string(answer).expect("a typed answer always serialises"),
            ),
        }
    }

    /// The record of a refusal that is answered again on a retry.
    pub fn refused(fingerprint: String, refusal: &Refusal) -> Record {
        Record {
            fingerprint,
            outcome: Outcome::Refused {
                sub_code: refusal.sub_code().to_string(),
                sub_msg: refusal.sub_msg(),
            },
        }
    }
}

/// A typed answer that can be answered again.
/// The answer of the writes that answer only their `request_id` (and `biz_code` on a replay):
/// cancel, delay, refund after use, send and send.close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Acknowledged {
    pub request_id: super::names::RequestId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub biz_code: Option<String>,
}

impl Acknowledged {
    pub fn new(request_id: &super::names::RequestId) -> Acknowledged {
        Acknowledged {
            request_id: request_id.clone(),
            biz_code: None,
        }
    }
}

impl Replayable for Acknowledged {
    fn mark_replayed(&mut self) {
        self.biz_code = Some(BIZ_ALREADY_SUCCESS.into());
    }
}

pub trait Replayable: Serialize + DeserializeOwned {
    /// Marks the answer as a replay (`biz_code=BIZ_ALREADY_SUCCESS`).
    fn mark_replayed(&mut self);
}

/// A request id seen before: the first outcome again, or `REQUEST_ID_REPEAT`.
pub fn replay<A: Replayable>(record: &Record, fingerprint: &str) -> Result<A, Refusal> {
    if record.fingerprint != fingerprint {
        return Err(Refusal::RequestIdRepeat);
    }
    match &record.outcome {
        Outcome::Answered(json) => {
            let mut answer: A =
                serde_json::from_str(json).expect("a recorded answer is one we wrote");
            answer.mark_replayed();
            Ok(answer)
        }
        Outcome::Refused { sub_code, sub_msg } => Err(Refusal::Recorded {
            sub_code: sub_code.clone(),
            sub_msg: sub_msg.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct A {
        request_id: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        biz_code: Option<String>,
        n: u32,
    }

    impl Replayable for A {
        fn mark_replayed(&mut self) {
            self.biz_code = Some(BIZ_ALREADY_SUCCESS.into());
        }
    }

    #[test]
    fn replays_answer_the_first_outcome_or_refuse_other_parameters() {
        let first = A {
            request_id: "r".into(),
            biz_code: None,
            n: 7,
        };
        let record = Record::answered("fp".into(), &first);
        let again: A = replay(&record, "fp").unwrap();
        assert_eq!(again.biz_code.as_deref(), Some(BIZ_ALREADY_SUCCESS));
        assert_eq!((again.request_id.as_str(), again.n), ("r", 7));
        assert_eq!(
            replay::<A>(&record, "other").unwrap_err(),
            Refusal::RequestIdRepeat
        );
        let closed = Record::refused("fp".into(), &Refusal::TicketNotExist);
        let err = replay::<A>(&closed, "fp").unwrap_err();
        assert_eq!(
            (err.sub_code(), err.sub_msg()),
            ("TICKET_NOT_EXIST", Refusal::TicketNotExist.sub_msg())
        );
    }
}
