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

    /// Whether two names read bytes alike (`gb2312` and `gbk` both decode as GBK).
    pub fn reads_like(self, other: Charset) -> bool {
        self.encoding() == other.encoding()
    }

    fn encoding(self) -> &'static Encoding {
        match self {
            Charset::Utf8 => UTF_8,
            Charset::Gbk | Charset::Gb2312 => GBK,
        }
    }

    /// Decodes bytes strictly: malformed input is an error, never U+FFFD. Under `gbk` and
    /// `gb2312`, bytes that are not GBK (the four-byte GB18030 sequences a GB18030 decoder
    /// would accept) are an error too, so decoding is injective and `encode` gives the same
    /// bytes back.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        let text = self
            .encoding()
            .decode_without_bom_handling_and_without_replacement(bytes)?;
        if self != Charset::Utf8 && self.encode(&text) != bytes {
            return None;
        }
        Some(text.into_owned())
    }

    /// Encodes text in this charset. Text that was decoded from this charset round-trips
    /// exactly. A character the charset cannot hold (an emoji under `gbk`) is written as `?`,
    /// as a Java server's charset encoder writes it: the bytes sent are the bytes signed.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Charset::Utf8 => text.as_bytes().to_vec(),
            _ => encode_or_question_mark(self.encoding(), text),
        }
    }
}

fn encode_or_question_mark(encoding: &'static Encoding, text: &str) -> Vec<u8> {
    use encoding_rs::EncoderResult;
    let mut encoder = encoding.new_encoder();
    let mut out = Vec::with_capacity(text.len() + 8);
    let mut rest = text;
    loop {
        let room = encoder
            .max_buffer_length_from_utf8_without_replacement(rest.len())
            .expect("a text that fits in memory has a bounded encoded length");
        let start = out.len();
        out.resize(start + room, 0);
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(rest, &mut out[start..], true);
        out.truncate(start + written);
        rest = &rest[read..];
        match result {
            EncoderResult::InputEmpty => return out,
            EncoderResult::Unmappable(_) => out.push(b'?'),
            EncoderResult::OutputFull => {}
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

    #[test]
    fn characters_outside_gbk_are_question_marks_and_four_byte_sequences_are_refused() {
        assert_eq!(Charset::Gbk.encode("a😀b𠀀c"), b"a?b?c");
        assert_eq!(Charset::Utf8.encode("😀"), "😀".as_bytes());
        // U+1F600 as a GB18030 four-byte sequence: not GBK, so not a gbk request.
        assert_eq!(Charset::Gbk.decode(&[0x94, 0x39, 0xfc, 0x36]), None);
        assert_eq!(
            Charset::Gbk.decode(b"&#128512;").as_deref(),
            Some("&#128512;")
        );
        // The euro sign is GBK's 0x80 and round-trips.
        assert_eq!(
            Charset::Gbk.decode(&Charset::Gbk.encode("€")).as_deref(),
            Some("€")
        );
    }
}
