//! Identifiers as types: each is checked once where it is read from a call, then trusted.
//! Values read back from the store were checked when they were written.

use serde::{Deserialize, Serialize};

use super::Refusal;

macro_rules! name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A value that was checked before (read from the store, or built by us).
            pub fn trusted(value: impl Into<String>) -> $name {
                $name(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

name!(
    /// A merchant's PID (16 digits starting with 2088).
    MerchantPid
);
name!(
    /// An app's id.
    AppId
);
name!(
    /// A ticket code as a call names it: a 12-digit internal code or a merchant's own code.
    TicketCode
);
name!(
    /// A caller's request number: its idempotency key within (merchant, method).
    RequestId
);
name!(
    /// A buyer's order number.
    OrderNo
);
name!(
    /// A shop's id.
    ShopId
);

/// Checks a required field's length (in characters) and makes it a `T`.
fn bounded<T>(key: &str, value: String, max: usize, make: fn(String) -> T) -> Result<T, Refusal> {
    if value.is_empty() {
        return Err(Refusal::InvalidParameter(format!("{key} 不能为空")));
    }
    if value.chars().count() > max {
        return Err(Refusal::InvalidParameter(format!(
            "{key} 长度不能超过{max}"
        )));
    }
    Ok(make(value))
}

impl RequestId {
    /// At most 32 characters.
    pub fn parse(key: &str, value: String) -> Result<RequestId, Refusal> {
        bounded(key, value, 32, RequestId)
    }

    /// At most 32 letters and digits, as a use's `request_id` must be.
    pub fn parse_alphanumeric(key: &str, value: String) -> Result<RequestId, Refusal> {
        let id = RequestId::parse(key, value)?;
        if id.0.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(id)
        } else {
            Err(Refusal::InvalidParameter(format!(
                "{key} 只能包含字母和数字"
            )))
        }
    }
}

impl TicketCode {
    /// At most 32 characters.
    pub fn parse(key: &str, value: String) -> Result<TicketCode, Refusal> {
        bounded(key, value, 32, TicketCode)
    }

    /// Exactly 12 digits: an internal code.
    pub fn parse_internal(key: &str, value: String) -> Result<TicketCode, Refusal> {
        let code = TicketCode::parse(key, value)?;
        if code.0.len() == 12 && code.0.bytes().all(|b| b.is_ascii_digit()) {
            Ok(code)
        } else {
            Err(Refusal::InvalidParameter(format!(
                "{key} 应为12位数字券码，收到 {code}"
            )))
        }
    }
}

impl OrderNo {
    /// At most 32 characters.
    pub fn parse(key: &str, value: String) -> Result<OrderNo, Refusal> {
        bounded(key, value, 32, OrderNo)
    }
}

impl ShopId {
    /// At most 64 characters.
    pub fn parse(key: &str, value: String) -> Result<ShopId, Refusal> {
        bounded(key, value, 64, ShopId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_once_where_they_are_read() {
        assert!(RequestId::parse("request_id", "a-b".into()).is_ok());
        assert!(RequestId::parse_alphanumeric("request_id", "a-b".into()).is_err());
        assert!(RequestId::parse("request_id", "x".repeat(33)).is_err());
        assert!(RequestId::parse("request_id", String::new()).is_err());
        assert!(TicketCode::parse_internal("ticket_code", "12345678901".into()).is_err());
        assert!(TicketCode::parse_internal("ticket_code", "123456789012".into()).is_ok());
        assert!(ShopId::parse("shop_id", "门".repeat(64)).is_ok());
        assert!(ShopId::parse("shop_id", "门".repeat(65)).is_err());
        assert_eq!(
            serde_json::to_string(&OrderNo::trusted("o1")).unwrap(),
            r#""o1""#
        );
    }
}
