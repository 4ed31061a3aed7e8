//! Identifiers the application generates (no database sequences, so any node can mint them).

use std::fmt::Write;

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

/// A time-ordered numeric id: `yyyyMMddHHmmss` (GMT+8) then `random` digits.
pub fn dated(now: i64, random: usize) -> String {
    format!("{}{}", time::compact(now), digits(random))
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

    /// Across refills of the block: values keep coming, and none repeats.
    #[test]
    fn random_words_do_not_repeat_across_blocks() {
        let words: std::collections::HashSet<u64> =
            (0..1000).map(|_| super::random_u64()).collect();
        assert_eq!(words.len(), 1000);
    }
}
