//! Money: integer cents inside, yuan strings with two decimals on the wire.

/// An amount in cents (分).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cents(pub i64);

impl Cents {
    /// Parses `12`, `12.5` or `12.50` yuan (no sign, at most two decimals).
    pub fn parse_yuan(text: &str) -> Option<Cents> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 12 || frac.len() > 2 || !digits(whole) || !digits(frac)
        {
            return None;
        }
        if text.ends_with('.') {
            return None;
        }
        let frac_cents = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().ok()? * 10,
            _ => frac.parse::<i64>().ok()?,
        };
        Some(Cents(whole.parse::<i64>().ok()? * 100 + frac_cents))
    }

    /// `1250` → `"12.50"`.
    pub fn yuan(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_text_round_trips() {
        for (text, cents, shown) in [
            ("12", 1200, "12.00"),
            ("12.5", 1250, "12.50"),
            ("0.05", 5, "0.05"),
            ("199.00", 19900, "199.00"),
        ] {
            assert_eq!(Cents::parse_yuan(text), Some(Cents(cents)));
            assert_eq!(Cents(cents).yuan(), shown);
        }
        for bad in ["", "-1", "1.234", "1.", ".5", "1,00", "abc"] {
            assert_eq!(Cents::parse_yuan(bad), None, "{bad}");
        }
        assert_eq!(Cents(-5).yuan(), "-0.05");
    }
}
