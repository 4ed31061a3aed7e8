//! The values that cross the seam between a statement and a backend: a statement's arguments
//! ([`Arg`], bound by position to `$1`, `$2`, …) and its result rows ([`Row`], read column by
//! column with [`Cols`]). Every column of the schema is a BIGINT or a TEXT, so two kinds of
//! value are all there is; each backend converts them to and from its driver's types in one
//! place (`sqlite::tx`, `pg::tx`), and each row kind is decoded once, here in `store/`, for both.

use std::borrow::Cow;

use super::StoreError;

/// One argument of a statement. Typed even when NULL, because PostgreSQL wants a parameter's
/// type when it parses the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
}

impl Arg<'_> {
    /// The text of a `Text` argument (`None` for NULL or an integer).
    pub fn text(&self) -> Option<&str> {
        match self {
            Arg::Text(t) => t.as_deref(),
            Arg::Int(_) => None,
        }
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(Some(i64::from(v)))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref().map(Cow::Borrowed))
    }
}

/// A statement's arguments, in the order of its placeholders.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        [$($crate::store::sql::Arg::from($value)),*]
    };
}
pub(crate) use args;

/// One value of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// One result row, its values in the order of the statement's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Reads the row's columns from the first on.
    pub fn cols(self) -> Cols {
        Cols {
            values: self.0.into_iter(),
            at: 0,
        }
    }

    /// The row as a JSON object with these column names (what `admin … list` prints).
    pub fn into_json(self, names: &[&str]) -> serde_json::Map<String, serde_json::Value> {
        names
            .iter()
            .zip(self.0)
            .map(|(name, value)| {
                let value = match value {
                    Value::Null => serde_json::Value::Null,
                    Value::Int(n) => n.into(),
                    Value::Text(s) => s.into(),
                };
                (name.to_string(), value)
            })
            .collect()
    }
}

/// A row's columns, read one after the other.
pub struct Cols {
    values: std::vec::IntoIter<Value>,
    at: usize,
}

fn decode_error(at: usize, wanted: &str, got: &Value) -> StoreError {
    StoreError::Decode(format!("column {at}: wanted {wanted}, found {got:?}"))
}

impl Cols {
    fn next_value(&mut self) -> Result<Value, StoreError> {
        self.at += 1;
        self.values
            .next()
            .ok_or_else(|| StoreError::Decode(format!("the row has no column {}", self.at - 1)))
    }

    pub fn int(&mut self) -> Result<i64, StoreError> {
        match self.next_value()? {
            Value::Int(n) => Ok(n),
            other => Err(decode_error(self.at - 1, "an integer", &other)),
        }
    }

    pub fn opt_int(&mut self) -> Result<Option<i64>, StoreError> {
        match self.next_value()? {
            Value::Int(n) => Ok(Some(n)),
            Value::Null => Ok(None),
            other => Err(decode_error(self.at - 1, "an integer or NULL", &other)),
        }
    }

    pub fn flag(&mut self) -> Result<bool, StoreError> {
        Ok(self.int()? != 0)
    }

    pub fn text(&mut self) -> Result<String, StoreError> {
        match self.next_value()? {
            Value::Text(s) => Ok(s),
            other => Err(decode_error(self.at - 1, "text", &other)),
        }
    }

    pub fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next_value()? {
            Value::Text(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            other => Err(decode_error(self.at - 1, "text or NULL", &other)),
        }
    }
}

/// A row kind: the columns a statement selects for it, and how they read back, written once
/// for both backends.
pub trait FromRow: Sized {
    fn from_cols(cols: &mut Cols) -> Result<Self, StoreError>;

    fn from_row(row: Row) -> Result<Self, StoreError> {
        Self::from_cols(&mut row.cols())
    }
}

impl FromRow for String {
    fn from_cols(cols: &mut Cols) -> Result<Self, StoreError> {
        cols.text()
    }
}

impl FromRow for i64 {
    fn from_cols(cols: &mut Cols) -> Result<Self, StoreError> {
        cols.int()
    }
}

impl FromRow for Option<i64> {
    fn from_cols(cols: &mut Cols) -> Result<Self, StoreError> {
        cols.opt_int()
    }
}

/// `n` numbered placeholders after the first `from`: `placeholders(3, 2)` is `"$4, $5"`.
pub fn placeholders(from: usize, n: usize) -> String {
    (from + 1..=from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_read_in_order_and_say_where_a_type_is_wrong() {
        let row = Row(vec![Value::Int(3), Value::Null, Value::Text("a".into())]);
        let mut cols = row.clone().cols();
        assert_eq!(cols.int().unwrap(), 3);
        assert_eq!(cols.opt_text().unwrap(), None);
        assert_eq!(cols.text().unwrap(), "a");
        assert!(cols.int().is_err(), "past the last column");
        let mut cols = row.cols();
        let err = cols.text().unwrap_err().to_string();
        assert!(err.contains("column 0: wanted text"), "{err}");
    }

    #[test]
    fn placeholders_count_from_an_offset() {
        assert_eq!(placeholders(0, 3), "$1, $2, $3");
        assert_eq!(placeholders(3, 2), "$4, $5");
    }
}
