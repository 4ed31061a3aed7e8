//! Certificate mode (公钥证书模式): the sandbox's small CA, the certificates it issues, and the
//! certificate serial numbers ("SN") every SDK computes — lower-case hex of
//! `md5(issuer DN as CN=…,OU=…,O=…,C=… + decimal serial)`. A root bundle's SN joins the SNs of
//! its RSA-signed certificates with `_`. Issuer DNs are exactly C, O, OU, CN, so the Java and Node
//! SDKs' RFC 2253 rendering and python-alipay-sdk's fixed `CN=,OU=,O=,C=` format agree.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private, Public};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509Name, X509NameBuilder};

use super::{PrivateKey, PublicKey};

/// The CA's issuer DN, in certificate order (C, O, OU, CN).
const ROOT_DN: [(&str, &str); 4] = [
    ("C", "CN"),
    ("O", "ticketgate"),
    ("OU", "Certification Authority"),
    ("CN", "ticketgate Sandbox Root CA"),
];
/// A second root in the bundle, as the real bundle holds several (retired roots included).
const OLD_ROOT_DN: [(&str, &str); 4] = [
    ("C", "CN"),
    ("O", "ticketgate"),
    ("OU", "Certification Authority"),
    ("CN", "ticketgate Sandbox Root CA (retired)"),
];
/// Certificates are valid this many days.
const VALID_DAYS: u32 = 3650;

fn name(parts: &[(&str, &str)]) -> X509Name {
    let mut b = X509NameBuilder::new().expect("an X509 name builder");
    for (field, value) in parts {
        b.append_entry_by_text(field, value)
            .expect("a known DN field");
    }
    b.build()
}

/// A fresh key pair, both halves as OpenSSL's generic key type.
fn key_pair() -> (PKey<Private>, PKey<Public>) {
    let key = PrivateKey::generate();
    (key.pkey(), key.public_key().pkey())
}

fn serial() -> openssl::asn1::Asn1Integer {
    let mut bn = BigNum::new().expect("a bignum");
    bn.rand(120, MsbOption::MAYBE_ZERO, false)
        .expect("random bits");
    bn.to_asn1_integer().expect("a positive serial")
}

/// A certificate for `subject_key`, with `subject` as its DN, signed by `issuer_key` under
/// `issuer`; `ca` marks a CA certificate.
fn make(
    subject: &X509Name,
    subject_key: &PKey<Public>,
    issuer: &X509Name,
    issuer_key: &PKey<Private>,
    ca: bool,
) -> X509 {
    let mut b = X509::builder().expect("an X509 builder");
    b.set_version(2).expect("v3");
    b.set_serial_number(&serial()).expect("a serial");
    b.set_subject_name(subject).expect("a subject");
    b.set_issuer_name(issuer).expect("an issuer");
    b.set_pubkey(subject_key).expect("a public key");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("not before");
    b.set_not_after(&Asn1Time::days_from_now(VALID_DAYS).expect("later"))
        .expect("not after");
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().expect("CA"))
            .expect("basic constraints");
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .expect("key usage"),
        )
        .expect("key usage");
    }
    b.sign(issuer_key, MessageDigest::sha256())
        .expect("RSA signing of a certificate");
    b.build()
}

fn pem(cert: &X509) -> String {
    String::from_utf8(cert.to_pem().expect("PEM")).expect("PEM is ASCII")
}

/// A certificate's SN as the SDKs compute it.
pub fn cert_sn(cert: &X509) -> String {
    let entries: Vec<String> = cert
        .issuer_name()
        .entries()
        .map(|e| {
            let field = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{field}={value}")
        })
        .collect();
    let mut dn: Vec<String> = entries;
    dn.reverse();
    let serial = cert
        .serial_number()
        .to_bn()
        .expect("a serial number")
        .to_dec_str()
        .expect("decimal")
        .to_string();
    let digest = hash(
        MessageDigest::md5(),
        format!("{}{serial}", dn.join(",")).as_bytes(),
    )
    .expect("md5");
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SN of a PEM certificate, if it is one.
pub fn cert_sn_of_pem(text: &str) -> Option<String> {
    X509::from_pem(text.as_bytes()).ok().map(|c| cert_sn(&c))
}

/// A root bundle's SN: the SNs of its RSA-signed certificates, joined by `_`.
pub fn root_sn(bundle: &[X509]) -> String {
    bundle
        .iter()
        .filter(|c| {
            c.signature_algorithm()
                .object()
                .nid()
                .long_name()
                .is_ok_and(|n| n.contains("WithRSAEncryption"))
        })
        .map(cert_sn)
        .collect::<Vec<_>>()
        .join("_")
}

/// The sandbox CA: a root (and a retired one, in the bundle only), and the platform's
/// certificate for the platform public key.
pub struct SandboxCa {
    root_key: PKey<Private>,
    root: X509,
    bundle: Vec<X509>,
    platform: X509,
    /// The SNs, computed once: the gateway compares them on every certificate-mode call.
    sns: Sns,
}

struct Sns {
    root: String,
    root_only: String,
    platform: String,
}

impl Sns {
    fn of(root: &X509, bundle: &[X509], platform: &X509) -> Sns {
        Sns {
            root: root_sn(bundle),
            root_only: cert_sn(root),
            platform: cert_sn(platform),
        }
    }
}

impl std::fmt::Debug for SandboxCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxCa")
            .field("root_sn", &self.root_sn())
            .field("platform_sn", &self.platform_sn())
            .finish()
    }
}

/// A CA as stored: the root key, the root bundle and the platform certificate, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCa {
    pub root_key_pem: String,
    pub bundle_pem: String,
    pub platform_cert_pem: String,
}

impl SandboxCa {
    /// A new CA, and the platform's certificate for `platform`.
    pub fn generate(platform: &PublicKey) -> SandboxCa {
        let (root_key, root_pub) = key_pair();
        let dn = name(&ROOT_DN);
        let root = make(&dn, &root_pub, &dn, &root_key, true);
        let (old_key, old_pub) = key_pair();
        let old_dn = name(&OLD_ROOT_DN);
        let old = make(&old_dn, &old_pub, &old_dn, &old_key, true);
        let subject = name(&[
            ("C", "CN"),
            ("O", "ticketgate"),
            ("OU", "Alipay Open Platform (sandbox)"),
            ("CN", "ticketgate platform key"),
        ]);
        let platform = make(&subject, &platform.pkey(), &dn, &root_key, false);
        let bundle = vec![root.clone(), old];
        SandboxCa {
            sns: Sns::of(&root, &bundle, &platform),
            root_key,
            bundle,
            root,
            platform,
        }
    }

    /// Reads a stored CA.
    pub fn from_stored(s: &StoredCa) -> Option<SandboxCa> {
        let root_key = PKey::private_key_from_pem(s.root_key_pem.as_bytes()).ok()?;
        let bundle = X509::stack_from_pem(s.bundle_pem.as_bytes()).ok()?;
        let root = bundle.first()?.clone();
        let platform = X509::from_pem(s.platform_cert_pem.as_bytes()).ok()?;
        Some(SandboxCa {
            sns: Sns::of(&root, &bundle, &platform),
            root_key,
            root,
            bundle,
            platform,
        })
    }

    pub fn to_stored(&self) -> StoredCa {
        StoredCa {
            root_key_pem: String::from_utf8(self.root_key.private_key_to_pem_pkcs8().expect("PEM"))
                .expect("PEM is ASCII"),
            bundle_pem: self.root_bundle_pem(),
            platform_cert_pem: self.platform_cert_pem(),
        }
    }

    /// An app's certificate for its public key (PEM).
    pub fn issue(&self, app_id: &str, key: &PublicKey) -> String {
        let subject = name(&[
            ("C", "CN"),
            ("O", "ticketgate"),
            ("OU", "Alipay Open Platform (sandbox)"),
            ("CN", app_id),
        ]);
        let issuer = self.root.subject_name().to_owned().expect("a name");
        pem(&make(&subject, &key.pkey(), &issuer, &self.root_key, false))
    }

    /// `alipayRootCert.crt`: the bundle, certificates separated by a blank line.
    pub fn root_bundle_pem(&self) -> String {
        self.bundle
            .iter()
            .map(|c| pem(c).trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n\n")
            + "\n"
    }

    /// `alipayCertPublicKey_RSA2.crt`.
    pub fn platform_cert_pem(&self) -> String {
        pem(&self.platform)
    }

    /// `alipay_root_cert_sn`, as clients send it.
    pub fn root_sn(&self) -> &str {
        &self.sns.root
    }

    /// The SN of the root alone (a client's `alipay_root_cert_sn` must include it).
    pub fn root_only_sn(&self) -> &str {
        &self.sns.root_only
    }

    /// `alipay_cert_sn`: the platform certificate's SN, in every cert-mode answer.
    pub fn platform_sn(&self) -> &str {
        &self.sns.platform
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_are_what_the_sdks_compute_and_the_ca_round_trips() {
        let platform = PrivateKey::generate();
        let ca = SandboxCa::generate(&platform.public_key());
        let app = PrivateKey::generate();
        let cert = ca.issue("2021000000000001", &app.public_key());
        let x = X509::from_pem(cert.as_bytes()).unwrap();
        // python-alipay-sdk's formula, spelled out.
        let serial = x
            .serial_number()
            .to_bn()
            .unwrap()
            .to_dec_str()
            .unwrap()
            .to_string();
        let text = format!(
            "CN=ticketgate Sandbox Root CA,OU=Certification Authority,O=ticketgate,C=CN{serial}"
        );
        let md5: String = hash(MessageDigest::md5(), text.as_bytes())
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(cert_sn(&x), md5);
        assert_eq!(cert_sn_of_pem(&cert).as_deref(), Some(md5.as_str()));
        // The app certificate carries the app's key and is signed by the root.
        assert_eq!(
            x.public_key().unwrap().public_key_to_pem().unwrap(),
            app.public_key().to_pem().into_bytes()
        );
        assert!(x.verify(&ca.root.public_key().unwrap()).unwrap());
        // Two RSA roots in the bundle, separated by a blank line; the SN joins both.
        let bundle = ca.root_bundle_pem();
        assert_eq!(bundle.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(bundle.contains("-----END CERTIFICATE-----\n\n-----BEGIN CERTIFICATE-----"));
        let joined = ca.root_sn();
        let parts: Vec<&str> = joined.split('_').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], ca.root_only_sn());
        let again = SandboxCa::from_stored(&ca.to_stored()).unwrap();
        assert_eq!(again.root_sn(), ca.root_sn());
        assert_eq!(again.platform_sn(), ca.platform_sn());
        assert_ne!(ca.platform_sn(), ca.root_only_sn());
    }
}
