//! A per-app call limit (`--call-limit`): a token bucket per app, per node, that refills at the
//! limit each second and holds at most one second's worth.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct CallLimit {
    per_second: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl CallLimit {
    pub fn new(per_second: u32) -> CallLimit {
        CallLimit {
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Takes one call from `app_id`'s bucket at `now`; false if it is empty.
    pub fn admit(&self, app_id: &str, now: Instant) -> bool {
        let rate = f64::from(self.per_second);
        let mut buckets = self.buckets.lock().expect("call limit lock");
        if buckets.len() > 100_000 {
            buckets.clear();
        }
        let (tokens, last) = buckets.entry(app_id.to_string()).or_insert((rate, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * rate;
        *tokens = (*tokens + refill).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_holds_one_second_and_refills_at_the_rate() {
        let limit = CallLimit::new(2);
        let t = Instant::now();
        assert!(limit.admit("a", t));
        assert!(limit.admit("a", t));
        assert!(!limit.admit("a", t));
        assert!(limit.admit("b", t), "apps have their own buckets");
        assert!(limit.admit("a", t + Duration::from_millis(500)));
        assert!(!limit.admit("a", t + Duration::from_millis(500)));
        assert!(limit.admit("a", t + Duration::from_secs(10)));
        assert!(limit.admit("a", t + Duration::from_secs(10)));
        assert!(
            !limit.admit("a", t + Duration::from_secs(10)),
            "no more than a second's worth"
        );
    }
}
