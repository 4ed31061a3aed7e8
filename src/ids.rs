//! Identifiers the application generates (no database sequences, so any node can mint them).

use std::fmt::Write;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::alipay::time;

/// Random bytes drawn from OpenSSL's generator a block at a time: one `RAND_bytes` costs
/// about as much for 1 KiB as for 8 bytes (it re-keys its DRBG on every call), and ids are
/// minted several per call. The bytes are as random as the generator's; each thread keeps its
/// own block, and no byte is handed out twice.
struct Pool {
    bytes: [u8; 1024],
    used: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = const {
        std::cell::RefCell::new(Pool { bytes: [0; 1024], used: 1024 })
    };
}

fn random_u64() -> u64 {
    POOL.with_borrow_mut(|pool| {
        if pool.used + 8 > pool.bytes.len() {
            openssl::rand::rand_bytes(&mut pool.bytes)
                .expect("the system random source is available");
            pool.used = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&pool.bytes[pool.used..pool.used + 8]);
        // Spent bytes are wiped, so a value is never handed out again nor left in memory.
        pool.bytes[pool.used..pool.used + 8].fill(0);
        pool.used += 8;
        u64::from_le_bytes(word)
    })
}

/// `n` random decimal digits.
pub fn digits(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        // 19 digits from each u64 below 10^19 keeps the distribution uniform.
        let v = random_u64();
        if v >= 10_000_000_000_000_000_000 {
            continue;
        }
        let _ = write!(out, "{v:019}");
    }
    out.truncate(n);
    out
}

/// `n` random lower-case hex characters.
pub fn hex(n: usize) -> String {
    let mut out = String::with_capacity(n + 16);
    while out.len() < n {
        let _ = write!(out, "{:016x}", random_u64());
    }
    out.truncate(n);
    out
}

/// A 12-digit internal ticket code (uniqueness is enforced by the store).
pub fn ticket_code() -> String {
    digits(12)
}

/// A time-ordered numeric id: `yyyyMMddHHmmss` (GMT+8), then `tail` digits (8 or more): the
/// millisecond, a three-digit sequence number of this process, and random digits.
///
/// The millisecond and the sequence keep the ids this process mints in order, so an index on
/// them grows at its right edge: a batch of inserts writes one index page, not one page per id
/// (with a random tail, each insert dirtied its own page of the ids of that second). The
/// sequence also keeps this process's ids of one millisecond distinct; the random digits keep
/// different nodes' ids apart.
pub fn dated(now: i64, tail: usize) -> String {
    // It starts at a random place, so two processes that start together rarely share it.
    static SEQUENCE: LazyLock<AtomicU32> =
        LazyLock::new(|| AtomicU32::new((random_u64() % 1000) as u32));
    debug_assert!(
        tail >= 8,
        "a dated id needs random digits after its sequence"
    );
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed) % 1000;
    let mut out = time::compact(now);
    let _ = write!(out, "{:03}{sequence:03}", now.rem_euclid(1000));
    out.push_str(&digits(tail.saturating_sub(6)));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_their_shape() {
        let d = super::digits(40);
        assert_eq!(d.len(), 40);
        assert!(d.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(super::hex(33).len(), 33);
        let id = super::dated(0, 10);
        assert!(id.starts_with("19700101080000") && id.len() == 24, "{id}");
        assert_ne!(super::ticket_code(), super::ticket_code());
    }

    /// Ids of one millisecond, minted here, are distinct and in order (up to the sequence's
    /// wrap at 1000); a later millisecond sorts after them whatever its sequence number.
    #[test]
    fn dated_ids_keep_their_order() {
        let now = 1_764_500_000_123;
        let ids: Vec<String> = (0..200).map(|_| super::dated(now, 8)).collect();
        let ordered = ids.windows(2).filter(|w| w[0] < w[1]).count();
        // The sequence wraps at 1000 (once at most here), and other tests mint ids meanwhile.
        assert!(ordered >= 198, "{ids:?}");
        assert!(ids.iter().all(|id| id.len() == 22 && id[14..17] == *"123"));
        let later = super::dated(now + 1, 8);
        assert!(ids.iter().all(|id| *id < later));
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), 200);
    }

    /// Across refills of the block: values keep coming, and none repeats.
    #[test]
    fn random_words_do_not_repeat_across_blocks() {
        let words: std::collections::HashSet<u64> =
            (0..1000).map(|_| super::random_u64()).collect();
        assert_eq!(words.len(), 1000);
    }
}
