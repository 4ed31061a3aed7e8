//! The signed response envelope, byte for byte: `{"<name>":<node>,"sign":"<base64>"}`.
//!
//! The node is serialised once as compact JSON with every character written as itself (only
//! what JSON requires is escaped: quotes, backslashes, control characters), encoded in the
//! request's charset, and signed as those exact bytes, as production answers. No `\uXXXX`
//! escapes: the Java SDK's JSON reader decodes their hex letters wrongly. Clients cut the node
//! out of the body as text.

use super::Charset;

/// `koubei.trade.ticket.ticketcode.cancel` → `koubei_trade_ticket_ticketcode_cancel_response`.
pub fn node_name(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Whether `method` can name a response node: letters, digits, `.` and `_`, at most 128
/// characters, as every published method is. Anything else (quotes, braces, control
/// characters, non-ASCII) would make the answer's JSON ill-formed or let the caller inject
/// keys, so it is answered under [`ERROR_NODE`].
pub fn is_method_name(method: &str) -> bool {
    !method.is_empty()
        && method.len() <= 128
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
}

/// The node name used when the request named no method (or none that can name a node).
pub const ERROR_NODE: &str = "error_response";

/// The whole response body around an already-serialised and signed node. In certificate mode
/// `"alipay_cert_sn"` goes between the node and `"sign"`, where production puts it (outside the
/// signed bytes).
pub fn body(
    name: &str,
    node: &[u8],
    sign: &str,
    charset: Charset,
    alipay_cert_sn: Option<&str>,
) -> Vec<u8> {
    let mut out = charset.encode(&format!(r#"{{"{name}":"#));
    out.extend_from_slice(node);
    if let Some(sn) = alipay_cert_sn {
        out.extend_from_slice(format!(r#","alipay_cert_sn":"{sn}""#).as_bytes());
    }
    out.extend_from_slice(format!(r#","sign":"{sign}"}}"#).as_bytes());
    out
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
    use crate::alipay::{PrivateKey, SignType};
    use serde_json::{Value, json};

    /// One node with everything a string can hold, in each charset: the exact bytes, no `\u`
    /// escape of a printable character, and a signature over those bytes that verifies after
    /// the client's decode → cut → re-encode.
    #[test]
    fn nodes_are_raw_characters_in_the_request_charset() {
        let node = json!({
            "code": "10000",
            "shop": "门店{甲}",
            "q": "say \"hi\" \\ a/b",
            "ctl": "a\r\n\tb\u{1}",
            "emoji": "😀",
        });
        // (门店, 甲, 😀) in each charset; GBK cannot hold the emoji, so it is `?`.
        let utf8 = ("门店".as_bytes(), "甲".as_bytes(), "😀".as_bytes());
        let gbk: (&[u8], &[u8], &[u8]) = (&[0xc3, 0xc5, 0xb5, 0xea], &[0xbc, 0xd7], b"?");
        let key = PrivateKey::generate();
        for (charset, (shop, jia, emoji)) in [
            (Charset::Utf8, utf8),
            (Charset::Gbk, gbk),
            (Charset::Gb2312, gbk),
        ] {
            let want = [
                &br#"{"code":"10000","shop":""#[..],
                shop,
                b"{",
                jia,
                br#"}","q":"say \"hi\" \\ a/b","ctl":"a\r\n\tb\u0001","emoji":""#,
                emoji,
                br#""}"#,
            ]
            .concat();
            let bytes = charset.encode(&serde_json::to_string(&node).unwrap());
            assert_eq!(
                bytes,
                want,
                "{charset:?}: {}",
                String::from_utf8_lossy(&bytes)
            );
            let sign = key.sign(SignType::Rsa2, &bytes);
            let body = body("m_response", &bytes, &sign, charset, None);
            let text = charset
                .decode(&body)
                .expect("the body is text in its charset");
            let (cut, cut_sign) = split(&text, "m_response").unwrap();
            assert_eq!(charset.encode(&cut), bytes);
            let public = key.public_key();
            assert!(public.verify(SignType::Rsa2, &charset.encode(&cut), &cut_sign.unwrap()));
            let parsed: Value = serde_json::from_str(&cut).unwrap();
            assert_eq!(parsed["shop"], "门店{甲}");
        }
    }

    #[test]
    fn only_well_formed_method_names_name_a_node() {
        assert!(is_method_name("koubei.trade.ticket.ticketcode.use"));
        assert!(is_method_name("koubei.nope"));
        for bad in [
            "",
            "x\",\"y\":{\"code\":\"10000\"},\"z",
            "a\0b",
            "门店",
            "a b",
            &"a".repeat(129),
        ] {
            assert!(!is_method_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn body_and_split_agree() {
        let node = r#"{"code":"10000","msg":"a \"}\" b"}"#;
        let text = body("m_response", node.as_bytes(), "c2ln", Charset::Utf8, None);
        assert_eq!(
            text,
            br#"{"m_response":{"code":"10000","msg":"a \"}\" b"},"sign":"c2ln"}"#
        );
        let text = String::from_utf8(text).unwrap();
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
