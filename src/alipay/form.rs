//! Byte-level `application/x-www-form-urlencoded` parsing: `+` is a space, `%XX` is a byte,
//! and bytes are decoded only once the request charset is known.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

use super::Charset;

/// One `key=value` pair, percent-decoded to raw bytes but not yet to text.
pub type RawPair = (Vec<u8>, Vec<u8>);

/// Splits a query string or form body into raw byte pairs.
pub fn split(raw: &[u8]) -> Vec<RawPair> {
    raw.split(|&b| b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = match part.iter().position(|&b| b == b'=') {
                Some(eq) => (&part[..eq], &part[eq + 1..]),
                None => (part, &[][..]),
            };
            (unescape(key), unescape(value))
        })
        .collect()
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced).collect()
}

/// The raw value of `charset` among the pairs, if any (its value is ASCII in every client).
pub fn find_charset(pairs: &[RawPair]) -> Option<String> {
    pairs
        .iter()
        .find(|(key, _)| key == b"charset")
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
}

/// The `charset=` values of a `Content-Type` header, in order (quotes removed): none, one,
/// or — an ambiguous header — several.
pub fn content_type_charsets(content_type: &str) -> Vec<String> {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches('"').to_string())
        })
        .collect()
}

/// A key sent more than once with different values (in the query and the body, or twice in
/// one), if any. The same value twice is one parameter.
pub fn conflicting_key(pairs: &[RawPair]) -> Option<String> {
    let mut seen: std::collections::HashMap<&[u8], &[u8]> =
        std::collections::HashMap::with_capacity(pairs.len());
    for (key, value) in pairs {
        if let Some(first) = seen.insert(key, value)
            && first != value.as_slice()
        {
            return Some(String::from_utf8_lossy(key).into_owned());
        }
    }
    None
}

/// Decoded parameters, sorted by key in byte order (the order the sign content needs).
pub type Params = BTreeMap<String, String>;

/// A parameter whose bytes are not valid in the request charset.
#[derive(Debug, PartialEq, Eq)]
pub struct BadBytes {
    pub key: String,
}

/// Decodes every key and value with `charset`. The first occurrence of a key wins.
pub fn decode(pairs: &[RawPair], charset: Charset) -> Result<Params, BadBytes> {
    let mut params = Params::new();
    for (key, value) in pairs {
        let key_text = charset.decode(key).ok_or_else(|| BadBytes {
            key: String::from_utf8_lossy(key).into_owned(),
        })?;
        let value_text = charset.decode(value).ok_or_else(|| BadBytes {
            key: key_text.clone(),
        })?;
        params.entry(key_text).or_insert(value_text);
    }
    Ok(params)
}

/// Decodes as UTF-8, replacing malformed bytes: only for reading a request far enough to
/// answer it when its charset is unusable.
pub fn decode_lossy(pairs: &[RawPair]) -> Params {
    let mut params = Params::new();
    for (key, value) in pairs {
        params
            .entry(String::from_utf8_lossy(key).into_owned())
            .or_insert_with(|| String::from_utf8_lossy(value).into_owned());
    }
    params
}

const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*');

/// One key or value as a form body writes it: its bytes in `charset`, percent-encoded.
pub fn encode_value(text: &str, charset: Charset) -> String {
    percent_encode(&charset.encode(text), FORM_VALUE).to_string()
}

/// Encodes parameters as a form body in `charset` (spaces as `%20`, which every server reads).
pub fn encode(params: &Params, charset: Charset) -> String {
    let mut out = String::new();
    for (key, value) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_value(key, charset));
        out.push('=');
        out.push_str(&encode_value(value, charset));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_twice_with_different_values_is_a_conflict() {
        assert_eq!(conflicting_key(&split(b"a=1&b=2&a=1")), None);
        assert_eq!(conflicting_key(&split(b"a=1&b=2&a=3")), Some("a".into()));
        assert_eq!(
            conflicting_key(&split(b"a=%31&a=1")),
            None,
            "the same bytes"
        );
    }

    #[test]
    fn splits_plus_and_percent_into_bytes() {
        let pairs = split(b"a=1+2&b=%E5%8F%A3&c&&d=x%3Dy");
        assert_eq!(
            pairs,
            vec![
                (b"a".to_vec(), b"1 2".to_vec()),
                (b"b".to_vec(), vec![0xe5, 0x8f, 0xa3]),
                (b"c".to_vec(), vec![]),
                (b"d".to_vec(), b"x=y".to_vec()),
            ]
        );
    }

    #[test]
    fn decodes_gbk_values_and_reports_bad_bytes() {
        let pairs = split(b"charset=GBK&shop_id=%BF%DA%B1%AE");
        assert_eq!(find_charset(&pairs).as_deref(), Some("GBK"));
        let params = decode(&pairs, Charset::Gbk).unwrap();
        assert_eq!(params["shop_id"], "口碑");
        assert_eq!(
            decode(&pairs, Charset::Utf8),
            Err(BadBytes {
                key: "shop_id".into()
            })
        );
    }

    #[test]
    fn encode_then_split_round_trips() {
        let mut params = Params::new();
        params.insert("biz_content".into(), r#"{"a":"口 碑+&="}"#.into());
        params.insert("charset".into(), "gbk".into());
        let body = encode(&params, Charset::Gbk);
        assert!(body.is_ascii());
        assert_eq!(
            decode(&split(body.as_bytes()), Charset::Gbk).unwrap(),
            params
        );
    }
}
