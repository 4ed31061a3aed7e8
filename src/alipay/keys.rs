//! RSA keys in every form the SDKs hand around (PEM or bare base64; PKCS#1, PKCS#8 or SPKI),
//! and PKCS#1 v1.5 signing and verification.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::{Padding, Rsa};

use super::SignType;

/// A key that could not be read, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKey(pub String);

impl std::fmt::Display for BadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadKey {}

/// The DER prefix of a PKCS#1 v1.5 `DigestInfo` for each digest, before the hash itself.
const SHA256_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA1_INFO: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];

/// What a PKCS#1 v1.5 signature of `data` signs: the `DigestInfo` of its SHA-256 (RSA2) or
/// SHA-1 (RSA) hash.
///
/// Signing and verifying go through the RSA primitive with this block rather than through
/// OpenSSL 3's `EVP_DigestSign`/`EVP_DigestVerify`: those look the algorithms up in the
/// provider store on every call, which profiled at 2.6 % of a gateway call's CPU; the bytes
/// signed and the signature are the same.
fn digest_info(sign_type: SignType, data: &[u8]) -> Vec<u8> {
    match sign_type {
        SignType::Rsa2 => [&SHA256_INFO[..], &openssl::sha::sha256(data)].concat(),
        SignType::Rsa => [&SHA1_INFO[..], &openssl::sha::sha1(data)].concat(),
    }
}

fn bare_der(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(compact).ok()
}

/// An RSA private key. `Debug` never shows the key.
#[derive(Clone)]
pub struct PrivateKey(Rsa<Private>);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PrivateKey {
    /// A fresh RSA-2048 key.
    pub fn generate() -> PrivateKey {
        let rsa = Rsa::generate(2048).expect("RSA-2048 generation only fails without entropy");
        PrivateKey(rsa)
    }

    /// Reads PEM (`RSA PRIVATE KEY` or `PRIVATE KEY`) or bare base64 DER (PKCS#1 or PKCS#8).
    pub fn from_text(text: &str) -> Result<PrivateKey, BadKey> {
        let text = text.trim();
        let Some(key) = private_pkey(text) else {
            if public_pkey(text).is_some() {
                return Err(BadKey(
                    "this is a public key, not a private key: give the app's private key".into(),
                ));
            }
            return Err(BadKey("not an RSA private key in PEM or base64 DER".into()));
        };
        let Ok(rsa) = key.rsa() else {
            return Err(BadKey("the private key is not an RSA key".into()));
        };
        Ok(PrivateKey(rsa))
    }

    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), what most SDKs want.
    pub fn to_pkcs1_pem(&self) -> String {
        String::from_utf8(
            self.0
                .private_key_to_pem()
                .expect("PEM encoding of a valid key"),
        )
        .expect("PEM is ASCII")
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn to_pkcs8_pem(&self) -> String {
        String::from_utf8(
            self.pkey()
                .private_key_to_pem_pkcs8()
                .expect("PKCS#8 encoding of a valid key"),
        )
        .expect("PEM is ASCII")
    }

    /// The key as OpenSSL's generic key type (for certificates).
    pub fn pkey(&self) -> PKey<Private> {
        PKey::from_rsa(self.0.clone()).expect("an RSA key is a valid PKey")
    }

    pub fn public_key(&self) -> PublicKey {
        let public = Rsa::from_public_components(
            self.0.n().to_owned().expect("a copy of the modulus"),
            self.0.e().to_owned().expect("a copy of the exponent"),
        )
        .expect("the public half of a valid key");
        PublicKey(public)
    }

    /// Signs `data` (RSASSA-PKCS1-v1_5) and returns standard padded base64.
    pub fn sign(&self, sign_type: SignType, data: &[u8]) -> String {
        let mut signature = vec![0; self.0.size() as usize];
        let n = self
            .0
            .private_encrypt(
                &digest_info(sign_type, data),
                &mut signature,
                Padding::PKCS1,
            )
            .expect("RSA signing with a valid key");
        signature.truncate(n);
        B64.encode(signature)
    }
}

/// PEM (`RSA PRIVATE KEY` or `PRIVATE KEY`) or bare base64 DER (PKCS#1 or PKCS#8).
fn private_pkey(text: &str) -> Option<PKey<Private>> {
    if text.starts_with("-----BEGIN") {
        PKey::private_key_from_pem(text.as_bytes()).ok()
    } else {
        bare_der(text).and_then(|der| {
            PKey::private_key_from_der(&der).ok().or_else(|| {
                Rsa::private_key_from_der(&der)
                    .ok()
                    .and_then(|r| PKey::from_rsa(r).ok())
            })
        })
    }
}

/// PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or bare base64 DER (SPKI or PKCS#1).
fn public_pkey(text: &str) -> Option<PKey<Public>> {
    if text.starts_with("-----BEGIN RSA PUBLIC KEY") {
        Rsa::public_key_from_pem_pkcs1(text.as_bytes())
            .ok()
            .and_then(|r| PKey::from_rsa(r).ok())
    } else if text.starts_with("-----BEGIN") {
        PKey::public_key_from_pem(text.as_bytes()).ok()
    } else {
        bare_der(text).and_then(|der| {
            PKey::public_key_from_der(&der).ok().or_else(|| {
                Rsa::public_key_from_der_pkcs1(&der)
                    .ok()
                    .and_then(|r| PKey::from_rsa(r).ok())
            })
        })
    }
}

/// An RSA public key.
#[derive(Clone)]
pub struct PublicKey(Rsa<Public>);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} bits)", self.0.size() * 8)
    }
}

impl PublicKey {
    /// Reads PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or bare base64 DER (SPKI or PKCS#1).
    pub fn from_text(text: &str) -> Result<PublicKey, BadKey> {
        let text = text.trim();
        let Some(key) = public_pkey(text) else {
            if private_pkey(text).is_some() {
                return Err(BadKey(
                    "this is a private key, not a public key: give its public key (and keep the \
                     private key to yourself)"
                        .into(),
                ));
            }
            return Err(BadKey("not an RSA public key in PEM or base64 DER".into()));
        };
        key.rsa()
            .map(PublicKey)
            .map_err(|_| BadKey("the public key is not an RSA key".into()))
    }

    /// The key as OpenSSL's generic key type (for certificates).
    pub fn pkey(&self) -> PKey<Public> {
        PKey::from_rsa(self.0.clone()).expect("an RSA key is a valid PKey")
    }

    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        String::from_utf8(
            self.0
                .public_key_to_pem()
                .expect("PEM encoding of a valid key"),
        )
        .expect("PEM is ASCII")
    }

    /// SPKI DER in bare base64, as the Java SDK takes it.
    pub fn to_base64(&self) -> String {
        B64.encode(
            self.0
                .public_key_to_der()
                .expect("DER encoding of a valid key"),
        )
    }

    /// The RSA public operation with PKCS#1 v1.5 type-1 padding: what a signature made with the
    /// matching private key holds (a DigestInfo), or `None` when this key did not make it.
    pub fn recover(&self, signature: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0; self.0.size() as usize];
        let n = self
            .0
            .public_decrypt(signature, &mut out, Padding::PKCS1)
            .ok()?;
        out.truncate(n);
        Some(out)
    }

    /// The key's size in bytes (a signature's length).
    pub fn size(&self) -> usize {
        self.0.size() as usize
    }

    /// Verifies a base64 signature over `data`. Malformed base64 is simply a bad signature.
    pub fn verify(&self, sign_type: SignType, data: &[u8], sign_b64: &str) -> bool {
        let Ok(signature) = B64.decode(sign_b64.trim()) else {
            return false;
        };
        // The whole signature, of the key's length: the RSA primitive would take a shorter one.
        signature.len() == self.size()
            && self
                .recover(&signature)
                .is_some_and(|block| block == digest_info(sign_type, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn key() -> &'static PrivateKey {
        static KEY: OnceLock<PrivateKey> = OnceLock::new();
        KEY.get_or_init(PrivateKey::generate)
    }

    #[test]
    fn every_private_key_form_reads_back_to_the_same_key() {
        let pkcs1 = key().to_pkcs1_pem();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let pkcs8 = key().to_pkcs8_pem();
        let bare = |pem: &str| {
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>()
        };
        for text in [pkcs1.clone(), pkcs8.clone(), bare(&pkcs1), bare(&pkcs8)] {
            let again = PrivateKey::from_text(&text).unwrap();
            assert_eq!(again.public_key().to_pem(), key().public_key().to_pem());
        }
        assert!(PrivateKey::from_text("not a key").is_err());
    }

    #[test]
    fn every_public_key_form_verifies() {
        let public = key().public_key();
        let rsa = &public.0;
        let pkcs1_pem = String::from_utf8(rsa.public_key_to_pem_pkcs1().unwrap()).unwrap();
        let pkcs1_b64 = B64.encode(rsa.public_key_to_der_pkcs1().unwrap());
        for sign_type in [SignType::Rsa2, SignType::Rsa] {
            let sign = key().sign(sign_type, "a=1&b=口碑".as_bytes());
            for text in [
                public.to_pem(),
                public.to_base64(),
                pkcs1_pem.clone(),
                pkcs1_b64.clone(),
            ] {
                let k = PublicKey::from_text(&text).unwrap();
                assert!(k.verify(sign_type, "a=1&b=口碑".as_bytes(), &sign));
                assert!(!k.verify(sign_type, "a=2&b=口碑".as_bytes(), &sign));
            }
        }
    }

    #[test]
    fn a_signature_of_one_type_does_not_verify_as_the_other() {
        let sign = key().sign(SignType::Rsa, b"x");
        assert!(!key().public_key().verify(SignType::Rsa2, b"x", &sign));
        assert!(
            !key()
                .public_key()
                .verify(SignType::Rsa, b"x", "!!not base64")
        );
    }

    /// The RSA primitive over a DigestInfo makes exactly the signature OpenSSL's digest-sign
    /// makes, and each verifies the other's.
    #[test]
    fn signatures_are_those_of_openssl_digest_sign() {
        use openssl::hash::MessageDigest;
        use openssl::sign::{Signer, Verifier};
        let data = "app_id=2021&biz_content={\"a\":\"口碑\"}".as_bytes();
        for (sign_type, md) in [
            (SignType::Rsa2, MessageDigest::sha256()),
            (SignType::Rsa, MessageDigest::sha1()),
        ] {
            let (private, public) = (key().pkey(), key().public_key());
            let mut signer = Signer::new(md, &private).unwrap();
            signer.update(data).unwrap();
            let theirs = B64.encode(signer.sign_to_vec().unwrap());
            let ours = key().sign(sign_type, data);
            assert_eq!(ours, theirs);
            let public_pkey = public.pkey();
            let mut verifier = Verifier::new(md, &public_pkey).unwrap();
            verifier.update(data).unwrap();
            assert!(verifier.verify(&B64.decode(&ours).unwrap()).unwrap());
            assert!(public.verify(sign_type, data, &theirs));
        }
        // A signature one byte short (a leading zero dropped) is refused, as OpenSSL does.
        let sign = B64.decode(key().sign(SignType::Rsa2, data)).unwrap();
        assert!(
            !key()
                .public_key()
                .verify(SignType::Rsa2, data, &B64.encode(&sign[1..]))
        );
    }
}
