//! The client side of the protocol: sign a call, send it, cut the node out of the answer and
//! verify the platform's signature. Used by `ticketgate call` and by the tests.

use std::time::Duration;

use serde_json::Value;

use crate::alipay::form::Params;
use crate::alipay::{Charset, PrivateKey, PublicKey, SignType, envelope, sign, time};
use crate::clock::system_now_ms;

/// A configured client of one app.
#[derive(Debug, Clone)]
pub struct Client {
    pub gateway: String,
    pub app_id: String,
    pub private_key: PrivateKey,
    pub alipay_public_key: PublicKey,
    pub sign_type: SignType,
    pub charset: Charset,
    /// Content encryption (`encrypt_type=AES`): `biz_content` sent encrypted, answers decrypted.
    pub aes: Option<crate::alipay::aes::AesKey>,
    /// Certificate mode: `app_cert_sn` and `alipay_root_cert_sn`, sent with every call.
    pub cert_sns: Option<(String, String)>,
    http: reqwest::Client,
}

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The body's bytes as they arrived.
    pub raw: Vec<u8>,
    /// The whole body, decoded.
    pub body: String,
    /// The node's exact text.
    pub node_text: String,
    pub node: Value,
    /// The platform signature verified over the node's bytes.
    pub verified: bool,
    /// The node arrived encrypted (a JSON string); `node_text` is its decrypted text.
    pub encrypted: bool,
    /// Certificate mode: the answer's `alipay_cert_sn`.
    pub alipay_cert_sn: Option<String>,
    /// The answer's `sign`, if it had one.
    pub sign: Option<String>,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.node["code"].as_str().unwrap_or_default()
    }
    pub fn sub_code(&self) -> &str {
        self.node["sub_code"].as_str().unwrap_or_default()
    }
    pub fn field(&self, key: &str) -> &str {
        self.node[key].as_str().unwrap_or_default()
    }
}

impl Client {
    pub fn new(
        gateway: &str,
        app_id: &str,
        private_key: PrivateKey,
        alipay_public_key: PublicKey,
        sign_type: SignType,
        charset: Charset,
    ) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with default TLS settings");
        Client {
            gateway: gateway.to_string(),
            app_id: app_id.to_string(),
            private_key,
            alipay_public_key,
            sign_type,
            charset,
            aes: None,
            cert_sns: None,
            http,
        }
    }

    /// The same client in certificate mode.
    pub fn with_cert_sns(mut self, app_cert_sn: &str, alipay_root_cert_sn: &str) -> Client {
        self.cert_sns = Some((app_cert_sn.into(), alipay_root_cert_sn.into()));
        self
    }

    /// The same client, encrypting its calls with this AES key.
    pub fn with_aes(mut self, key: crate::alipay::aes::AesKey) -> Client {
        self.aes = Some(key);
        self
    }

    /// The common parameters and `biz_content` of a call, unsigned.
    pub fn params(&self, method: &str, biz_content: &str, extra: &[(&str, &str)]) -> Params {
        let mut params = Params::new();
        params.insert("app_id".into(), self.app_id.clone());
        params.insert("method".into(), method.into());
        params.insert("format".into(), "JSON".into());
        params.insert("charset".into(), self.charset.name().into());
        params.insert("sign_type".into(), self.sign_type.name().into());
        params.insert("timestamp".into(), time::format(system_now_ms()));
        params.insert("version".into(), "1.0".into());
        match &self.aes {
            None => params.insert("biz_content".into(), biz_content.into()),
            Some(aes) => {
                params.insert("encrypt_type".into(), "AES".into());
                params.insert(
                    "biz_content".into(),
                    aes.encrypt(&self.charset.encode(biz_content)),
                )
            }
        };
        if let Some((app_sn, root_sn)) = &self.cert_sns {
            params.insert("app_cert_sn".into(), app_sn.clone());
            params.insert("alipay_root_cert_sn".into(), root_sn.clone());
        }
        for (k, v) in extra {
            params.insert((*k).into(), (*v).into());
        }
        params
    }

    /// Signs the parameters.
    pub fn sign(&self, params: Params) -> Params {
        sign::sign_request(params, &self.private_key, self.sign_type, self.charset)
    }

    /// Why an answer's signature did not verify with the platform key given, in one sentence.
    pub fn why_unverified(&self, reply: &Reply) -> String {
        let Some(sign) = &reply.sign else {
            return "the answer carries no sign".into();
        };
        if self.alipay_public_key.to_pem() == self.private_key.public_key().to_pem() {
            return "the key given as the platform (alipay) public key is your app's own public key: \
                    answers are signed with the gateway's key (ticketgate writes it to \
                    <data>/keys/alipay_public_key.pem and data/demo/alipay_public_key.pem)"
                .into();
        }
        let Ok(signature) =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sign)
        else {
            return "the answer's sign is not base64".into();
        };
        match self.alipay_public_key.recover(&signature) {
            None => "the answer was signed with another key than the platform public key given: \
                     give this gateway's platform public key"
                .into(),
            Some(recovered) => match crate::alipay::doctor::digest_info(&recovered) {
                Some((used, _)) if used != self.sign_type => format!(
                    "the answer was signed with {} ({}), not the {} asked for",
                    if used == SignType::Rsa {
                        "SHA1"
                    } else {
                        "SHA256"
                    },
                    used.name(),
                    self.sign_type.name()
                ),
                _ => "the key and the hash match, but the signed bytes differ from the node as \
                      received: something between changed the body, or its charset"
                    .into(),
            },
        }
    }

    /// Signs and sends a call; `extra` adds common parameters (`notify_url`, `app_auth_token`).
    pub async fn call(
        &self,
        method: &str,
        biz_content: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let params = self.sign(self.params(method, biz_content, extra));
        self.send(method, &params).await
    }

    /// Sends already-built parameters as a form body, and reads the answer to `method`.
    pub async fn send(&self, method: &str, params: &Params) -> anyhow::Result<Reply> {
        let body = sign::signed_form(params, self.charset);
        let response = self
            .http
            .post(&self.gateway)
            .header(
                "content-type",
                format!(
                    "application/x-www-form-urlencoded;charset={}",
                    self.charset.name()
                ),
            )
            .body(body)
            .send()
            .await?;
        let bytes = response.bytes().await?;
        self.read(method, &bytes)
    }

    /// Cuts the node for `method` (or `error_response`) out of a body and verifies it.
    pub fn read(&self, method: &str, bytes: &[u8]) -> anyhow::Result<Reply> {
        let body = self
            .charset
            .decode(bytes)
            .or_else(|| Charset::Utf8.decode(bytes))
            .ok_or_else(|| {
                anyhow::anyhow!("the response is not text in {}", self.charset.name())
            })?;
        let (node_text, sign) = envelope::split(&body, &envelope::node_name(method))
            .or_else(|| envelope::split(&body, envelope::ERROR_NODE))
            .ok_or_else(|| anyhow::anyhow!("no response node in: {body}"))?;
        let verified = sign.as_deref().is_some_and(|s| {
            self.alipay_public_key
                .verify(self.sign_type, &self.charset.encode(&node_text), s)
        });
        let (node_text, encrypted) = match (&self.aes, node_text.strip_prefix('"')) {
            (Some(aes), Some(quoted)) => {
                let sealed = quoted.strip_suffix('"').unwrap_or(quoted);
                let plain = aes
                    .decrypt(sealed)
                    .and_then(|b| self.charset.decode(&b))
                    .ok_or_else(|| anyhow::anyhow!("the answer does not decrypt: {body}"))?;
                (plain, true)
            }
            _ => (node_text, false),
        };
        let node = serde_json::from_str(&node_text)?;
        let alipay_cert_sn = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["alipay_cert_sn"].as_str().map(str::to_string));
        Ok(Reply {
            raw: bytes.to_vec(),
            body,
            node_text,
            node,
            verified,
            encrypted,
            alipay_cert_sn,
            sign,
        })
    }
}
