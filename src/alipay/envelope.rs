//! The signed response envelope, byte for byte: `{"<name>":<node>,"sign":"<base64>"}`.
//!
//! The node is serialised once, made pure ASCII (non-ASCII and braces inside strings become
//! `\uXXXX`, so the bytes are the same in every charset and brace-counting clients stay in step),
//! and signed as those exact bytes. Clients cut the node out of the body as text.

use serde_json::{Map, Value};

/// `koubei.trade.ticket.ticketcode.cancel` → `koubei_trade_ticket_ticketcode_cancel_response`.
pub fn node_name(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// The node name used when the request named no method.
pub const ERROR_NODE: &str = "error_response";

/// Compact JSON of `node`, with every string made ASCII-safe for all clients.
pub fn node_text(node: &Map<String, Value>) -> String {
    let compact = serde_json::to_string(node).expect("a JSON map always serialises");
    ascii_safe(&compact)
}

/// Rewrites compact JSON so that, inside strings, non-ASCII characters and `{`/`}` are escaped
/// as `\uXXXX` (UTF-16, surrogate pairs above the BMP). Outside strings, compact JSON is ASCII.
/// Also escapes `\r` (serde already escapes control characters; this is belt and braces).
pub fn ascii_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
                out.push(c);
                continue;
            }
            match c {
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '{' | '}' | '\r' => push_escape(&mut out, c as u16),
                c if !c.is_ascii() => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        push_escape(&mut out, *unit);
                    }
                }
                c => out.push(c),
            }
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

fn push_escape(out: &mut String, unit: u16) {
    out.push_str(&format!("\\u{unit:04x}"));
}

/// The whole response body around an already-serialised and signed node.
pub fn body(name: &str, node_text: &str, sign: &str) -> String {
    format!(r#"{{"{name}":{node_text},"sign":"{sign}"}}"#)
}

/// Client side: finds `"<name>":` in a response body and returns the node's exact text
/// (matching braces, respecting strings) and the `sign` value, if present.
pub fn split(body: &str, name: &str) -> Option<(String, Option<String>)> {
    let key = format!("\"{name}\"");
    let start = body.find(&key)? + key.len();
    let rest = &body[start..];
    let open = rest.find(|c: char| !c.is_whitespace() && c != ':')?;
    let node_start = start + open;
    let node_len = value_len(&body[node_start..])?;
    let node = body[node_start..node_start + node_len].to_string();
    let after = &body[node_start + node_len..];
    let sign = after.find("\"sign\"").and_then(|at| {
        let tail = &after[at + 6..];
        let q1 = tail.find('"')? + 1;
        let q2 = tail[q1..].find('"')?;
        Some(tail[q1..q1 + q2].to_string())
    });
    Some((node, sign))
}

/// Length of the JSON object or string at the start of `text`.
fn value_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    if bytes.first() == Some(&b'"') {
        // A string node (content encryption): up to the closing quote.
        for (i, &b) in bytes.iter().enumerate().skip(1) {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => return Some(i + 1),
                _ => {}
            }
        }
        return None;
    }
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: Value, want: &str) {
        let Value::Object(map) = input else {
            panic!("not an object")
        };
        assert_eq!(node_text(&map), want);
    }

    #[test]
    fn node_text_is_compact_ordered_ascii_with_escaped_braces() {
        check(
            json!({"code":"10000","msg":"Success","shop":"口碑{1}","x":"a\r\nb","emoji":"😀"}),
            r#"{"code":"10000","msg":"Success","shop":"\u53e3\u7891\u007b1\u007d","x":"a\r\nb","emoji":"\ud83d\ude00"}"#,
        );
        check(
            json!({"q":"say \"{hi}\" \\"}),
            r#"{"q":"say \"\u007bhi\u007d\" \\"}"#,
        );
    }

    #[test]
    fn escaped_node_parses_back_to_the_same_value() {
        let value = json!({"a":"口碑{\"}\\","b":[1,{"c":"}"}]});
        let Value::Object(map) = value.clone() else {
            unreachable!()
        };
        let text = node_text(&map);
        assert!(text.is_ascii() && !text.contains('\r'));
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }

    #[test]
    fn body_and_split_agree() {
        let node = r#"{"code":"10000","msg":"a \"}\" b"}"#;
        let text = body("m_response", node, "c2ln");
        assert_eq!(
            text,
            r#"{"m_response":{"code":"10000","msg":"a \"}\" b"},"sign":"c2ln"}"#
        );
        assert_eq!(
            split(&text, "m_response"),
            Some((node.to_string(), Some("c2ln".into())))
        );
        assert_eq!(
            split(r#"{"m_response":{"a":1}}"#, "m_response"),
            Some((r#"{"a":1}"#.into(), None))
        );
        assert_eq!(split(r#"{"x":1}"#, "m_response"), None);
    }
}
