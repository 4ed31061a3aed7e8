//! Reading `biz_content`: a JSON object whose String-typed fields may arrive as JSON numbers.

use serde_json::{Map, Value};

use super::names::OrderNo;
use super::{CodeType, Refusal};

/// The parsed `biz_content` object.
#[derive(Debug, Clone, Default)]
pub struct Biz(Map<String, Value>);

impl Biz {
    /// Parses `biz_content`; anything but a JSON object is an error in words.
    pub fn parse(text: &str) -> Result<Biz, String> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(Biz(map)),
            Ok(_) => Err("biz_content 必须是JSON对象".into()),
            Err(e) => Err(format!("biz_content 不是合法的JSON：{e}")),
        }
    }

    /// An object read from inside another (a list's entries).
    pub fn from_map(map: Map<String, Value>) -> Biz {
        Biz(map)
    }

    /// A field as JSON, for the fields that are lists.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A field as text: strings as they are, numbers in their JSON spelling; `null` and `""`
    /// are absent. Other JSON types are refused.
    pub fn text(&self, key: &str) -> Result<Option<String>, Refusal> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(Refusal::InvalidParameter(format!("{key} 必须是字符串"))),
        }
    }

    /// An optional field of at most `max` characters.
    pub fn optional(&self, key: &str, max: usize) -> Result<Option<String>, Refusal> {
        let value = self.text(key)?;
        if let Some(v) = &value
            && v.chars().count() > max
        {
            return Err(Refusal::InvalidParameter(format!(
                "{key} 长度不能超过{max}"
            )));
        }
        Ok(value)
    }

    /// A required field of at most `max` characters.
    pub fn required(&self, key: &str, max: usize) -> Result<String, Refusal> {
        self.optional(key, max)?
            .ok_or_else(|| Refusal::InvalidParameter(format!("{key} 不能为空")))
    }

    /// The raw text of a field for idempotency fingerprints: never fails.
    pub fn raw(&self, key: &str) -> String {
        match self.0.get(key) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }
}

/// A positive whole number of units, as `quantity` must be (at most 4 characters on the wire).
pub fn quantity(biz: &Biz) -> Result<Option<i64>, Refusal> {
    let Some(text) = biz.optional("quantity", 4)? else {
        return Ok(None);
    };
    match text.parse::<i64>() {
        Ok(n) if n > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(Refusal::InvalidParameter(format!(
            "quantity 必须是正整数，收到 {text}"
        ))),
    }
}

/// `code_type` (default `INTERNAL_CODE`) and `order_no`, which an external code requires;
/// `action` names the call in the message (核销, 撤销).
pub fn code_type_and_order(
    biz: &Biz,
    action: &str,
) -> Result<(CodeType, Option<OrderNo>), Refusal> {
    let text = biz.optional("code_type", 16)?;
    let code_type = CodeType::parse(text.as_deref()).ok_or_else(|| {
        Refusal::InvalidParameter(format!(
            "code_type 只能是 INTERNAL_CODE 或 EXTERNAL_CODE，收到 {}",
            text.unwrap_or_default()
        ))
    })?;
    let order_no = biz
        .optional("order_no", 32)?
        .map(|no| OrderNo::parse("order_no", no))
        .transpose()?;
    if code_type == CodeType::External && order_no.is_none() {
        return Err(Refusal::InvalidParameter(format!(
            "使用外部券码{action}时 order_no 不能为空"
        )));
    }
    Ok((code_type, order_no))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_accept_strings_and_numbers() {
        let biz =
            Biz::parse(r#"{"a":"x","n":2,"e":"","z":null,"o":{},"q":"0","big":"12345"}"#).unwrap();
        assert_eq!(biz.text("a").unwrap().as_deref(), Some("x"));
        assert_eq!(biz.text("n").unwrap().as_deref(), Some("2"));
        assert_eq!(biz.text("e").unwrap(), None);
        assert_eq!(biz.text("z").unwrap(), None);
        assert!(biz.text("o").is_err());
        assert!(biz.required("missing", 5).is_err());
        assert!(biz.required("big", 4).is_err());
        assert_eq!(biz.raw("n"), "2");
        let quantities = Biz::parse(r#"{"quantity":3}"#).unwrap();
        assert_eq!(quantity(&quantities).unwrap(), Some(3));
        for bad in [
            r#"{"quantity":"0"}"#,
            r#"{"quantity":"-1"}"#,
            r#"{"quantity":"1.5"}"#,
            r#"{"quantity":"+1"}"#,
        ] {
            assert!(quantity(&Biz::parse(bad).unwrap()).is_err(), "{bad}");
        }
        // Numbers keep their exact text: beyond 2^64, and decimals as written.
        let exact = Biz::parse(r#"{"a":123456789012345678901,"b":123456789012345678902,"c":1.50}"#)
            .unwrap();
        assert_eq!(
            exact.text("a").unwrap().as_deref(),
            Some("123456789012345678901")
        );
        assert_eq!(
            exact.text("b").unwrap().as_deref(),
            Some("123456789012345678902")
        );
        assert_eq!(exact.text("c").unwrap().as_deref(), Some("1.50"));
        assert!(Biz::parse("[1]").is_err());
        assert!(Biz::parse("{").is_err());
    }
}
