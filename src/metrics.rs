//! Counters an operator scrapes from `GET /metrics` (Prometheus text format): calls by method
//! and answer code, call latency, and notification delivery outcomes. Per node, in memory.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (method, code, sub_code) → calls.
    calls: BTreeMap<(String, String, String), u64>,
    /// Per bucket of BUCKETS, then +Inf.
    latency_buckets: [u64; BUCKETS.len() + 1],
    latency_sum: f64,
    latency_count: u64,
    /// outcome → count (delivered, retry, parked, lost).
    notifications: BTreeMap<&'static str, u64>,
}

impl Metrics {
    /// Counts one answered call.
    pub fn call(&self, method: &str, code: &str, sub_code: &str, elapsed: Duration) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.calls
            .entry((method.to_string(), code.to_string(), sub_code.to_string()))
            .or_insert(0) += 1;
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        m.latency_buckets[bucket] += 1;
        m.latency_sum += secs;
        m.latency_count += 1;
    }

    /// Counts one notification attempt's outcome.
    pub fn notification(&self, outcome: &'static str) {
        *self
            .inner
            .lock()
            .expect("metrics lock")
            .notifications
            .entry(outcome)
            .or_insert(0) += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        out.push_str(
            "# HELP ticketgate_calls_total Gateway calls answered, by method and answer code.\n",
        );
        out.push_str("# TYPE ticketgate_calls_total counter\n");
        for ((method, code, sub_code), n) in &m.calls {
            let _ = writeln!(
                out,
                "ticketgate_calls_total{{method=\"{}\",code=\"{}\",sub_code=\"{}\"}} {n}",
                label(method),
                label(code),
                label(sub_code)
            );
        }
        out.push_str("# HELP ticketgate_call_seconds Time from request to signed answer.\n");
        out.push_str("# TYPE ticketgate_call_seconds histogram\n");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += m.latency_buckets[i];
            let _ = writeln!(
                out,
                "ticketgate_call_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += m.latency_buckets[BUCKETS.len()];
        let _ = writeln!(
            out,
            "ticketgate_call_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(out, "ticketgate_call_seconds_sum {}", m.latency_sum);
        let _ = writeln!(out, "ticketgate_call_seconds_count {}", m.latency_count);
        out.push_str(
            "# HELP ticketgate_notification_attempts_total Notification attempts by outcome.\n",
        );
        out.push_str("# TYPE ticketgate_notification_attempts_total counter\n");
        for (outcome, n) in &m.notifications {
            let _ = writeln!(
                out,
                "ticketgate_notification_attempts_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }
}

/// Escapes a label value; method names come from requests, so they are also cut short.
fn label(value: &str) -> String {
    value
        .chars()
        .take(128)
        .flat_map(|c| match c {
            '\\' => vec!['\\', '\\'],
            '"' => vec!['\\', '"'],
            '\n' => vec!['\\', 'n'],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.call("a.b", "10000", "", Duration::from_millis(3));
        m.call("a.b", "10000", "", Duration::from_millis(30));
        m.call("x\"y", "40004", "REPEAT_CANCEL", Duration::from_secs(5));
        m.notification("delivered");
        let text = m.render();
        assert!(
            text.contains(
                "ticketgate_calls_total{method=\"a.b\",code=\"10000\",sub_code=\"\"} 2\n"
            )
        );
        assert!(text.contains("method=\"x\\\"y\",code=\"40004\",sub_code=\"REPEAT_CANCEL\"} 1\n"));
        assert!(text.contains("ticketgate_call_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("ticketgate_call_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("ticketgate_call_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("ticketgate_call_seconds_count 3\n"));
        assert!(text.contains("ticketgate_notification_attempts_total{outcome=\"delivered\"} 1\n"));
    }
}
