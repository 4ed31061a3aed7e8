//! Sandbox powers every node obeys: merchants' test clocks and injected faults. Both live in
//! the database (so `admin` in another process, and every node, see the same ones); each node
//! keeps a copy that it re-reads every [`REFRESH`], so a call pays for neither — a read lock
//! and, when a merchant has a test clock or a fault is set, a hash lookup.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::ledger::fields::Biz;
use crate::store::{ClockRow, FaultRow, Store, StoreError, op};

/// How often a node re-reads clocks and faults. `admin clock …` and `admin fault …` wait
/// [`SETTLE`] before they return, so that when they do, every running node obeys.
pub const REFRESH: Duration = Duration::from_millis(100);
/// Twice [`REFRESH`] and a little: long enough for every node to have re-read.
pub const SETTLE: Duration = Duration::from_millis(250);

/// This node's copy of the clocks and faults.
#[derive(Debug, Default)]
pub struct Sandbox {
    state: RwLock<Arc<State>>,
    /// Reads of the store begun, numbered: a copy read earlier never replaces one read later.
    reads: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// The number of the read this copy came from.
    read: u64,
    offsets: HashMap<String, i64>,
    max_offset: i64,
    /// Faults that still apply, oldest first.
    faults: Vec<FaultRow>,
}

impl Sandbox {
    fn state(&self) -> Arc<State> {
        self.state.read().expect("sandbox lock").clone()
    }

    /// A merchant's time when real time is `real_ms`: its test clock's offset added.
    pub fn now_for(&self, real_ms: i64, merchant_pid: &str) -> i64 {
        real_ms + self.offset(merchant_pid)
    }

    /// How far the merchant's test clock is ahead of real time (0: it has none).
    pub fn offset(&self, merchant_pid: &str) -> i64 {
        let state = self.state.read().expect("sandbox lock");
        if state.offsets.is_empty() {
            return 0;
        }
        state.offsets.get(merchant_pid).copied().unwrap_or(0)
    }

    /// The largest offset of any merchant's clock.
    pub fn max_offset(&self) -> i64 {
        self.state.read().expect("sandbox lock").max_offset
    }

    /// Whether any fault is set (what every page of a console would show).
    pub fn has_faults(&self) -> bool {
        !self.state.read().expect("sandbox lock").faults.is_empty()
    }

    /// The first fault that applies to a call of `method` by `app_id` with this `biz_content`.
    pub fn fault_for(&self, method: &str, app_id: &str, biz: &Biz) -> Option<FaultRow> {
        if !self.has_faults() {
            return None;
        }
        let state = self.state();
        let code = biz.text("ticket_code").ok().flatten();
        state
            .faults
            .iter()
            .find(|f| {
                f.method == method
                    && f.app_id.as_deref().is_none_or(|a| a == app_id)
                    && f.ticket_code
                        .as_deref()
                        .is_none_or(|t| code.as_deref() == Some(t))
            })
            .cloned()
    }

    /// Replaces this node's copy with what the store holds.
    pub fn load(&self, clocks: Vec<ClockRow>, faults: Vec<FaultRow>) {
        let read = self.begin_read();
        self.load_read(read, clocks, faults);
    }

    fn begin_read(&self) -> u64 {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    /// Keeps what read number `read` found, unless a read begun later was kept already: the
    /// periodic re-read and one made right after a change (`admin fault add`, a spent fault)
    /// can finish in either order, and the older must not bring back what the newer saw gone
    /// (or hide what it saw added).
    fn load_read(&self, read: u64, clocks: Vec<ClockRow>, faults: Vec<FaultRow>) {
        let offsets: HashMap<String, i64> = clocks
            .into_iter()
            .map(|c| (c.merchant_pid, c.offset_ms))
            .collect();
        let max_offset = offsets.values().copied().max().unwrap_or(0);
        let faults = faults
            .into_iter()
            .filter(|f| f.remaining.is_none_or(|n| n > 0))
            .collect();
        let mut state = self.state.write().expect("sandbox lock");
        if state.read > read {
            return;
        }
        *state = Arc::new(State {
            read,
            offsets,
            max_offset,
            faults,
        });
    }

    /// Re-reads clocks and faults from the store.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let read = self.begin_read();
        let (clocks, faults) = store
            .read(op!(|tx| -> (Vec<ClockRow>, Vec<FaultRow>) {
                Ok((tx.clocks().await?, tx.faults().await?))
            }))
            .await?;
        self.load_read(read, clocks, faults);
        Ok(())
    }

    /// Re-reads every [`REFRESH`] until `stop` turns true.
    pub async fn keep_fresh(
        self: Arc<Self>,
        store: Store,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        while !*stop.borrow() {
            if let Err(e) = self.refresh(&store).await {
                tracing::debug!(error = %e, "could not re-read test clocks and faults");
            }
            tokio::select! {
                _ = tokio::time::sleep(REFRESH) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// What a fault answers: the code, its msg, the sub_code and sub_msg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultAnswer {
    pub code: &'static str,
    pub msg: &'static str,
    pub sub_code: String,
    pub sub_msg: String,
}

/// The codes a fault may answer, with their msg.
const CODES: [(&str, &str); 6] = [
    ("20000", "Service Currently Unavailable"),
    ("20001", "Insufficient Token Permissions"),
    ("40001", "Missing Required Arguments"),
    ("40002", "Invalid Arguments"),
    ("40004", "Business Failed"),
    ("40006", "Insufficient Permissions"),
];

/// The answer (`--answer DROP`, `admin fault add --drop`) of a fault that closes the client's
/// connection without any answer at all.
pub const DROP: &str = "DROP";

/// Whether a fault closes the connection instead of answering.
pub fn fault_drops(fault: &FaultRow) -> bool {
    fault.code.as_deref() == Some(DROP)
}

/// The status a fault answers with (`None`: it only delays, or drops the connection).
pub fn fault_status(fault: &FaultRow) -> Option<crate::alipay::codes::Status> {
    let code = fault.code.as_deref()?;
    let (code, msg) = CODES.iter().find(|(c, _)| *c == code)?;
    Some(crate::alipay::codes::Status {
        code,
        msg,
        sub_code: fault.sub_code.clone().unwrap_or_default(),
        sub_msg: fault.sub_msg.clone().unwrap_or_default(),
    })
}

/// Reads `--answer`: `SUB_CODE` (a business refusal, `40004`), `20000` (`isp.unknow-error`), or
/// `CODE:SUB_CODE`. A sub_code the ledger knows gets its own sub_msg.
pub fn parse_answer(text: &str) -> Result<FaultAnswer, String> {
    if text == DROP {
        return Ok(FaultAnswer {
            code: DROP,
            msg: "",
            sub_code: String::new(),
            sub_msg: String::new(),
        });
    }
    let (code, sub_code) = match text.split_once(':') {
        Some((code, sub)) => (code, sub.to_string()),
        None if text.bytes().all(|b| b.is_ascii_digit()) => (
            text,
            match text {
                "20000" => "isp.unknow-error".to_string(),
                _ => return Err(format!("{text}: name a sub_code, as {text}:SUB_CODE")),
            },
        ),
        None => ("40004", text.to_string()),
    };
    let (code, msg) = CODES.iter().find(|(c, _)| *c == code).ok_or_else(|| {
        let known: Vec<&str> = CODES.iter().map(|c| c.0).collect();
        format!("code {code} is not one a call can be answered with ({known:?})")
    })?;
    let plausible = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    if !plausible(&sub_code) {
        return Err(format!(
            "sub_code {sub_code:?} must be letters, digits, '.', '_' or '-'"
        ));
    }
    let sub_msg = known_sub_msg(&sub_code).unwrap_or_else(|| "沙箱注入的故障".to_string());
    Ok(FaultAnswer {
        code,
        msg,
        sub_code,
        sub_msg,
    })
}

/// The sub_msg production gives a sub_code, where ticketgate knows it.
fn known_sub_msg(sub_code: &str) -> Option<String> {
    if let Some(r) = crate::ledger::Refusal::fixed(sub_code) {
        return Some(r.sub_msg());
    }
    use crate::alipay::codes::GatewayError;
    [
        GatewayError::Unavailable,
        GatewayError::InvalidAppAuthToken,
        GatewayError::AppAuthTokenExpired,
    ]
    .into_iter()
    .map(|e| e.status())
    .find(|s| s.sub_code == sub_code)
    .map(|s| s.sub_msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_the_help_says() {
        let a = parse_answer("SYSTEM_ERROR").unwrap();
        assert_eq!((a.code, a.sub_code.as_str()), ("40004", "SYSTEM_ERROR"));
        assert_eq!(a.sub_msg, "系统繁忙，请重试");
        let a = parse_answer("20000").unwrap();
        assert_eq!(
            (a.code, a.msg, a.sub_code.as_str(), a.sub_msg.as_str()),
            (
                "20000",
                "Service Currently Unavailable",
                "isp.unknow-error",
                "系统繁忙"
            )
        );
        let a = parse_answer("40004:TICKET_NOT_EXIST").unwrap();
        assert_eq!(a.sub_msg, "凭证码不存在");
        let a = parse_answer("20001:aop.invalid-app-auth-token").unwrap();
        assert_eq!(a.msg, "Insufficient Token Permissions");
        assert_eq!(
            parse_answer("40004:SOMETHING_NEW").unwrap().sub_msg,
            "沙箱注入的故障"
        );
        assert!(parse_answer("40004").is_err());
        assert!(parse_answer("10000:OK").is_err());
        assert!(parse_answer("40004:has space").is_err());
        assert!(parse_answer("").is_err());
    }

    fn fault(id: &str, method: &str, app: Option<&str>, ticket: Option<&str>) -> FaultRow {
        FaultRow {
            fault_id: id.into(),
            method: method.into(),
            app_id: app.map(Into::into),
            ticket_code: ticket.map(Into::into),
            code: Some("40004".into()),
            sub_code: Some("SYSTEM_ERROR".into()),
            sub_msg: None,
            after_commit: 0,
            latency_ms: 0,
            remaining: None,
            hits: 0,
            created_at: 0,
        }
    }

    /// The periodic re-read began before a fault was added and finishes after the re-read made
    /// right after adding it: the older copy must not hide the fault.
    #[test]
    fn a_copy_read_earlier_never_replaces_one_read_later() {
        let sandbox = Sandbox::default();
        let periodic = sandbox.begin_read();
        let after_add = sandbox.begin_read();
        sandbox.load_read(after_add, vec![], vec![fault("f1", "m", None, None)]);
        sandbox.load_read(periodic, vec![], vec![]);
        assert!(sandbox.has_faults(), "the later read's fault is kept");
        sandbox.load(vec![], vec![]);
        assert!(!sandbox.has_faults(), "a newer read replaces it");
    }

    #[test]
    fn the_first_matching_fault_applies_and_spent_ones_do_not() {
        let sandbox = Sandbox::default();
        let biz = |code: &str| Biz::parse(&format!(r#"{{"ticket_code":"{code}"}}"#)).unwrap();
        let mut spent = fault("f0", "m", None, None);
        spent.remaining = Some(0);
        sandbox.load(
            vec![],
            vec![
                spent,
                fault("f1", "m", Some("app1"), None),
                fault("f2", "m", None, Some("111")),
                fault("f3", "other", None, None),
            ],
        );
        let hit =
            |app: &str, code: &str| sandbox.fault_for("m", app, &biz(code)).map(|f| f.fault_id);
        assert_eq!(hit("app1", "999").as_deref(), Some("f1"));
        assert_eq!(hit("app2", "111").as_deref(), Some("f2"));
        assert_eq!(hit("app2", "999"), None);
        assert_eq!(sandbox.fault_for("nope", "app1", &biz("1")), None);
    }

    #[test]
    fn offsets_are_per_merchant() {
        let sandbox = Sandbox::default();
        assert_eq!(sandbox.offset("2088000000000001"), 0);
        sandbox.load(
            vec![ClockRow {
                merchant_pid: "2088000000000001".into(),
                offset_ms: 5,
                updated_at: 0,
            }],
            vec![],
        );
        assert_eq!(sandbox.offset("2088000000000001"), 5);
        assert_eq!(sandbox.offset("2088000000000002"), 0);
        assert_eq!(sandbox.max_offset(), 5);
    }
}
