//! The three request charsets a gateway accepts, with strict decoding and exact re-encoding.

use encoding_rs::{Encoding, GBK, UTF_8};

/// A request charset. `gb2312` is decoded and encoded as GBK, its superset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Gbk,
    Gb2312,
}

impl Charset {
    /// Parses a charset name as clients send it (`utf-8`, `UTF-8`, `gbk`, `GB2312`, ...).
    pub fn parse(name: &str) -> Option<Charset> {
        match name.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Charset::Utf8),
            "gbk" => Some(Charset::Gbk),
            "gb2312" => Some(Charset::Gb2312),
            _ => None,
        }
    }

    /// The canonical lower-case name, as used in `Content-Type` and notifications.
    pub fn name(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Gbk => "gbk",
            Charset::Gb2312 => "gb2312",
        }
    }

    fn encoding(self) -> &'static Encoding {
        match self {
            Charset::Utf8 => UTF_8,
            Charset::Gbk | Charset::Gb2312 => GBK,
        }
    }

    /// Decodes bytes strictly: malformed input is an error, never U+FFFD.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        self.encoding()
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|text| text.into_owned())
    }

    /// Encodes text in this charset. Text that was decoded from this charset round-trips exactly.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Charset::Utf8 => text.as_bytes().to_vec(),
            _ => self.encoding().encode(text).0.into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively() {
        let cases = [
            ("utf-8", Some(Charset::Utf8)),
            ("UTF-8", Some(Charset::Utf8)),
            ("GBK", Some(Charset::Gbk)),
            ("gb2312", Some(Charset::Gb2312)),
            ("latin1", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(Charset::parse(name), want, "{name}");
        }
    }

    #[test]
    fn gbk_round_trips_and_rejects_malformed_bytes() {
        let gbk = Charset::Gbk.encode("口碑门店");
        assert_eq!(gbk, [0xbf, 0xda, 0xb1, 0xae, 0xc3, 0xc5, 0xb5, 0xea]);
        assert_eq!(Charset::Gbk.decode(&gbk).as_deref(), Some("口碑门店"));
        assert_eq!(Charset::Gb2312.decode(&gbk).as_deref(), Some("口碑门店"));
        assert_eq!(Charset::Utf8.decode(&gbk), None);
        assert_eq!(Charset::Gbk.decode(&[0x81]), None);
    }
}
