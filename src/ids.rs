//! Identifiers the application generates (no database sequences, so any node can mint them).

use crate::alipay::time;

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    openssl::rand::rand_bytes(&mut bytes).expect("the system random source is available");
    u64::from_le_bytes(bytes)
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
        out.push_str(&format!("{v:019}"));
    }
    out.truncate(n);
    out
}

/// `n` random lower-case hex characters.
pub fn hex(n: usize) -> String {
    let mut out = String::with_capacity(n + 16);
    while out.len() < n {
        out.push_str(&format!("{:016x}", random_u64()));
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
}
