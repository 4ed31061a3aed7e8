//! AES content encryption (`encrypt_type=AES`): AES-CBC with a zero IV and PKCS#7 padding,
//! base64 on the wire, the key given in base64 (16, 24 or 32 bytes: AES-128/192/256). What the
//! SDKs do, byte for byte; pure.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::symm::{Cipher, decrypt, encrypt};

/// An app's AES key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AesKey(Vec<u8>);

impl AesKey {
    /// Reads a base64 key; `None` unless it is 16, 24 or 32 bytes.
    pub fn from_base64(text: &str) -> Option<AesKey> {
        let bytes = STANDARD.decode(text.trim()).ok()?;
        matches!(bytes.len(), 16 | 24 | 32).then_some(AesKey(bytes))
    }

    /// A new random AES-128 key.
    pub fn generate() -> AesKey {
        let mut bytes = vec![0u8; 16];
        openssl::rand::rand_bytes(&mut bytes).expect("the system random source is available");
        AesKey(bytes)
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    fn cipher(&self) -> Cipher {
        match self.0.len() {
            16 => Cipher::aes_128_cbc(),
            24 => Cipher::aes_192_cbc(),
            _ => Cipher::aes_256_cbc(),
        }
    }

    /// base64 of the ciphertext of `plain`.
    pub fn encrypt(&self, plain: &[u8]) -> String {
        let sealed = encrypt(self.cipher(), &self.0, Some(&[0u8; 16]), plain)
            .expect("AES-CBC encryption with a valid key cannot fail");
        STANDARD.encode(sealed)
    }

    /// The plaintext of base64 `text`; `None` when it is not base64 or does not decrypt to
    /// correctly padded bytes under this key.
    pub fn decrypt(&self, text: &str) -> Option<Vec<u8>> {
        let sealed = STANDARD.decode(text.trim()).ok()?;
        if sealed.is_empty() || sealed.len() % 16 != 0 {
            return None;
        }
        decrypt(self.cipher(), &self.0, Some(&[0u8; 16]), &sealed).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_vector_and_round_trips() {
        // AES-128-CBC, zero IV, PKCS#7: what `openssl enc -aes-128-cbc -K 00…0f -iv 0` gives.
        let key = AesKey::from_base64("AAECAwQFBgcICQoLDA0ODw==").unwrap();
        let sealed = key.encrypt(br#"{"a":"b"}"#);
        assert_eq!(key.decrypt(&sealed).unwrap(), br#"{"a":"b"}"#);
        assert_eq!(sealed.len(), 24, "one block, base64");
        let generated = AesKey::generate();
        let text = "{\"ticket_code\":\"门店\"}".as_bytes();
        assert_eq!(generated.decrypt(&generated.encrypt(text)).unwrap(), text);
        assert_eq!(
            AesKey::from_base64(&generated.to_base64()),
            Some(generated.clone())
        );
        // Another key, or bytes that are not ciphertext, do not decrypt.
        assert_ne!(
            AesKey::generate().decrypt(&sealed).as_deref(),
            Some(&br#"{"a":"b"}"#[..])
        );
        assert_eq!(key.decrypt("not base64!"), None);
        assert_eq!(key.decrypt("AAAA"), None);
        assert_eq!(AesKey::from_base64("AAEC"), None);
    }
}
