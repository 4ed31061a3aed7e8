//! The request log: every gateway call — who, what, the parameters as decoded (secrets
//! redacted), the string the gateway verified, the signature doctor's finding, the answer and
//! the latency — kept in the database (the last `--request-log-size`) so that every node's calls
//! can be read with `admin log`. Off the request path: a call hands its entry to a task that
//! writes them in batches, one store operation per batch; a full queue drops entries rather
//! than slow a call down.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::alipay::form::Params;
use crate::alipay::time;
use crate::ids;
use crate::store::prelude::*;
use crate::store::{Effect, LogRow, Plan, Store, StoreError};

/// Entries waiting to be written before new ones are dropped.
const QUEUE: usize = 8192;
/// Most entries written in one batch, and the longest an entry waits for its batch.
const BATCH: usize = 512;
const LINGER: Duration = Duration::from_millis(200);

/// What the gateway's checks learned about a call, for its log entry.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub params: Params,
    pub merchant_pid: Option<String>,
    /// The string the signature was verified over.
    pub sign_string: Option<String>,
    pub verified: Option<bool>,
    pub diagnosis: Option<String>,
    /// The injected fault that answered the call (`admin fault add`).
    pub fault: Option<String>,
    /// An encrypted call's `biz_content`, decrypted.
    pub decrypted_biz_content: Option<String>,
}

/// One call, as `admin log` prints it.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    time: String,
    app_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_pid: Option<&'a str>,
    method: &'a str,
    params: Redacted<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_string: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnosis: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decrypted_biz_content: Option<String>,
    code: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    sub_code: &'a str,
    latency_ms: f64,
}

/// A call as it was answered.
pub struct Answered {
    pub at: i64,
    pub facts: Facts,
    pub method: String,
    pub code: String,
    pub sub_code: String,
    /// The answer's node, as sent (compact JSON).
    pub node: String,
    pub latency: Duration,
}

/// Parameters kept to their first characters: secrets, and the signature (long, and of no use
/// once the verification result and the diagnosis are recorded).
const SECRETS: [&str; 2] = ["app_auth_token", "sign"];

/// Longest parameter value, answer and method kept in an entry: anyone can send a megabyte of
/// junk, and the log must stay small whatever arrives.
const MAX_VALUE: usize = 2048;
const MAX_ANSWER: usize = 16 * 1024;
const MAX_METHOD: usize = 128;
/// Parameters kept in an entry, in bytes of names and values together: the rest are counted.
const MAX_PARAMS: usize = 8 * 1024;
/// A call whose parameters or signed string are larger than this is cut on the request path
/// before it is queued, so that a burst of large junk requests holds the queue's memory to what
/// the log keeps of them.
const LARGE: usize = 64 * 1024;

/// The first `max` characters, and how much was cut (borrowed when nothing was).
fn cut(text: &str, max: usize) -> Cow<'_, str> {
    // A string of at most `max` bytes has at most `max` characters: no need to count them.
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…({} bytes)", &text[..at], text.len())),
    }
}

/// The parameters as the log keeps them: secrets shortened, long values cut. Written straight
/// into the entry's JSON, without a copy of the map.
#[derive(Debug)]
struct Redacted<'a>(&'a Params);

impl Serialize for Redacted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        let mut kept = 0usize;
        for (n, (k, v)) in self.0.iter().enumerate() {
            if kept > MAX_PARAMS {
                let left = self.0.len() - n;
                map.serialize_entry("…", &format!("{left} more parameters not kept"))?;
                break;
            }
            let v = if SECRETS.contains(&k.as_str()) && v.chars().count() > 6 {
                Cow::Owned(format!("{}…", v.chars().take(6).collect::<String>()))
            } else {
                cut(v, MAX_VALUE)
            };
            let k = cut(k, MAX_METHOD);
            kept += k.len() + v.len();
            map.serialize_entry(&k, &v)?;
        }
        map.end()
    }
}

impl Answered {
    fn row(self) -> LogRow {
        let app_id = cut(
            self.facts.params.get("app_id").map_or("", String::as_str),
            MAX_METHOD,
        )
        .into_owned();
        let method = cut(&self.method, MAX_METHOD).into_owned();
        let sign_string = self
            .facts
            .sign_string
            .as_deref()
            .map(|s| cut(s, MAX_ANSWER));
        let entry = Entry {
            time: time::format_ms(self.at),
            app_id: &app_id,
            merchant_pid: self.facts.merchant_pid.as_deref(),
            method: &method,
            params: Redacted(&self.facts.params),
            sign_string: sign_string.as_deref(),
            verified: self.facts.verified,
            diagnosis: self.facts.diagnosis.as_deref(),
            fault: self.facts.fault.as_deref(),
            decrypted_biz_content: self
                .facts
                .decrypted_biz_content
                .as_deref()
                .map(|t| cut(t, MAX_VALUE).into_owned()),
            code: &self.code,
            sub_code: &self.sub_code,
            latency_ms: (self.latency.as_micros() as f64) / 1000.0,
        };
        let mut json = serde_json::to_string(&entry).expect("a log entry serialises");
        // The answer as it was sent, spliced in as JSON (it is one compact JSON object); a very
        // long one is kept as the text of its beginning.
        json.pop();
        json.push_str(",\"answer\":");
        if self.node.len() <= MAX_ANSWER {
            json.push_str(&self.node);
        } else {
            json.push_str(&serde_json::to_string(&cut(&self.node, MAX_ANSWER)).expect("a string"));
        }
        json.push('}');
        LogRow {
            id: ids::dated(self.at, 8),
            at: self.at,
            app_id,
            method,
            failed: self.code != crate::alipay::codes::SUCCESS_CODE,
            entry: json,
        }
    }
}

/// The handle calls write to.
#[derive(Clone)]
pub struct RequestLog {
    queue: mpsc::Sender<Queued>,
}

/// An entry waiting for its batch: as answered, or already cut to what the log keeps.
enum Queued {
    Answered(Answered),
    Row(LogRow),
}

impl Queued {
    fn row(self) -> LogRow {
        match self {
            Queued::Answered(a) => a.row(),
            Queued::Row(r) => r,
        }
    }
}

impl RequestLog {
    /// Starts the writer task, keeping the last `keep` calls.
    pub fn start(store: Store, keep: usize) -> RequestLog {
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, receiver, keep as i64));
        RequestLog { queue }
    }

    /// Records a call; never waits (a full queue drops the entry).
    pub fn record(&self, answered: Answered) {
        let size = |f: &Facts| {
            f.params
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
                + f.sign_string.as_ref().map_or(0, String::len)
                + f.decrypted_biz_content.as_ref().map_or(0, String::len)
        };
        let queued = if size(&answered.facts) + answered.method.len() > LARGE {
            Queued::Row(answered.row())
        } else {
            Queued::Answered(answered)
        };
        if self.queue.try_send(queued).is_err() {
            tracing::debug!("request log queue full: an entry was dropped");
        }
    }
}

/// Waits for an entry, lets more gather for `LINGER` (the calls do not wake this task while
/// it sleeps: an entry is only pushed onto the queue), then writes them in one operation.
async fn write_batches(store: Store, mut receiver: mpsc::Receiver<Queued>, keep: i64) {
    let mut answered = Vec::with_capacity(BATCH);
    let mut since_trim = 0usize;
    while receiver.recv_many(&mut answered, BATCH).await > 0 {
        if answered.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while answered.len() < BATCH {
                match receiver.try_recv() {
                    Ok(next) => answered.push(next),
                    Err(_) => break,
                }
            }
        }
        since_trim += answered.len();
        let mut plan = Plan::new(0);
        plan.push(Effect::Log(answered.drain(..).map(Queued::row).collect()));
        if since_trim as i64 >= (keep / 10).max(1) {
            since_trim = 0;
            plan.push(Effect::TrimLog { keep });
        }
        if let Err(e) = store.write(LogOp { plan }).await {
            tracing::warn!(error = %e, "request log batch not written");
        }
    }
}

struct LogOp {
    plan: Plan,
}

impl Operation for LogOp {
    type Output = ();

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<(), StoreError> {
        tx.apply(&self.plan).await
    }
}
