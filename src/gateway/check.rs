//! The gateway's checks, in the published order: method → app_id → sign_type → sign →
//! timestamp → version → charset → format → signature → method exists → app_auth_token.

use crate::alipay::aes::AesKey;
use crate::alipay::codes::GatewayError;
use crate::alipay::form::{self, Params, RawPair};
use crate::alipay::sign::{self, REQUEST_WITH_EMPTIES, REQUEST_WITHOUT_EMPTIES};
use crate::alipay::{Charset, PublicKey, SignType, time};
use crate::ledger::fields::Biz;
use crate::ledger::names::{AppId, MerchantPid};
use crate::notify::Target;
use crate::operations::methods::{self, Entry};
use crate::operations::{Acting, Service};

use super::limit::CallLimit;
use super::log::Facts;
use super::lookup::{diagnose, read_caller};
use super::{KeyCache, Limits};

/// What the response needs to know about the request, whatever happened to it.
#[derive(Debug, Clone)]
pub struct Context {
    pub method: Option<String>,
    pub app_id: Option<String>,
    pub sign_type: SignType,
    pub charset: Charset,
    /// What the checks learned, for the request log (when it is on).
    pub facts: Option<Box<Facts>>,
    /// The key an encrypted call's answer is encrypted with.
    pub aes: Option<AesKey>,
    /// Certificate mode: the platform certificate's SN, written into the answer.
    pub cert_sn: Option<String>,
}

impl Context {
    /// What can be read from the query string alone (when the body was refused).
    pub fn from_query(query: &[RawPair]) -> Context {
        let params = form::decode_lossy(query);
        Context {
            method: params.get("method").filter(|m| !m.is_empty()).cloned(),
            app_id: params.get("app_id").filter(|a| !a.is_empty()).cloned(),
            sign_type: params
                .get("sign_type")
                .and_then(|t| SignType::parse(t))
                .unwrap_or(SignType::Rsa2),
            charset: form::find_charset(query)
                .and_then(|c| Charset::parse(&c))
                .unwrap_or(Charset::Utf8),
            facts: None,
            aes: None,
            cert_sn: None,
        }
    }
}

/// A request that passed every gateway check.
#[derive(Debug)]
pub struct Call {
    pub method: &'static Entry,
    pub who: Acting,
    pub biz: Biz,
    /// Where this call's notification goes, if anywhere.
    pub notify: Option<Target>,
    /// The app's AES key when the call was encrypted: its answer is encrypted too.
    pub aes: Option<AesKey>,
}

fn present<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

pub async fn check(
    svc: &Service,
    limits: &Limits,
    keys: &KeyCache,
    call_limit: Option<&CallLimit>,
    query: &[RawPair],
    body: &[RawPair],
    content_type: Option<&str>,
) -> (Result<Call, GatewayError>, Context) {
    let raw_charset = form::find_charset(query).or_else(|| form::find_charset(body));
    let charset = match raw_charset.as_deref() {
        None | Some("") => Ok(Charset::Utf8),
        Some(name) => Charset::parse(name).ok_or_else(|| name.to_string()),
    };
    // A Content-Type that names another charset than the request's, or names several, leaves
    // the body's encoding in doubt: refused as production refuses the other disagreements.
    // (No official SDK sends either: they name the request's charset or none.)
    let declared = content_type
        .map(form::content_type_charsets)
        .unwrap_or_default();
    let header_error = match (declared.as_slice(), &charset) {
        ([], _) | (_, Err(_)) => None,
        ([one], Ok(cs)) if Charset::parse(one).is_some_and(|d| d.reads_like(*cs)) => None,
        ([one], Ok(cs)) => Some(format!(
            "Content-Type 的 charset={one} 与请求参数 charset={} 不一致",
            cs.name()
        )),
        (_, Ok(_)) => Some(format!(
            "Content-Type 中 charset 出现多次：{}",
            declared.join("、")
        )),
    };
    let all: Vec<RawPair> = query.iter().chain(body).cloned().collect();
    let decoded = match &charset {
        Ok(cs) => form::decode(&all, *cs)
            .map_err(|bad| format!("参数 {} 的值不是合法的 {} 编码", bad.key, cs.name())),
        Err(name) => Err(format!("不支持的字符集 {name}，仅支持 utf-8、gbk、gb2312")),
    };
    // An unusable charset is reported in its turn; until then, read the request as UTF-8.
    let (params, charset_error) = match decoded {
        Ok(params) => (params, header_error),
        Err(why) => (form::decode_lossy(&all), Some(why)),
    };
    let mut ctx = Context {
        method: present(&params, "method").map(str::to_string),
        app_id: present(&params, "app_id").map(str::to_string),
        sign_type: present(&params, "sign_type")
            .and_then(SignType::parse)
            .unwrap_or(SignType::Rsa2),
        charset: *charset.as_ref().unwrap_or(&Charset::Utf8),
        facts: (limits.request_log_size > 0).then(Box::<Facts>::default),
        aes: None,
        cert_sn: None,
    };
    let conflict = form::conflicting_key(&all);
    let outcome = match conflict {
        // Judged as soon as the method is known: which of two values would be the request?
        Some(key) if ctx.method.is_some() => Err(GatewayError::InvalidParameter(format!(
            "参数 {key} 出现多次且取值不同"
        ))),
        _ => {
            let checking = Checking {
                svc,
                limits,
                keys,
                call_limit,
            };
            checking
                .check_params(
                    &params,
                    &all,
                    charset_error,
                    ctx.facts.as_deref_mut(),
                    &mut ctx.cert_sn,
                )
                .await
        }
    };
    // The parameters go to the request log as they are: moved, not copied.
    if let Some(facts) = ctx.facts.as_deref_mut() {
        facts.params = params;
    }
    (outcome, ctx)
}

/// What the checks read from.
struct Checking<'a> {
    svc: &'a Service,
    limits: &'a Limits,
    keys: &'a KeyCache,
    call_limit: Option<&'a CallLimit>,
}

impl Checking<'_> {
    async fn check_params(
        &self,
        params: &Params,
        arrival: &[RawPair],
        charset_error: Option<String>,
        mut facts: Option<&mut Facts>,
        cert_sn: &mut Option<String>,
    ) -> Result<Call, GatewayError> {
        let Checking {
            svc,
            limits,
            keys,
            call_limit,
        } = *self;
        let method = present(params, "method").ok_or(GatewayError::MissingMethod)?;
        let app_id = present(params, "app_id")
            .ok_or(GatewayError::MissingAppId)?
            .to_string();
        let token = present(params, "app_auth_token");
        // One read for the caller: the app, and the grant behind its token (judged in its turn).
        let (record, grant) = read_caller(svc, &app_id, token).await?;
        let record = record.ok_or_else(|| GatewayError::InvalidAppId(app_id.clone()))?;
        if let Some(f) = facts.as_deref_mut() {
            f.merchant_pid = Some(record.merchant_pid.clone());
        }
        let sign_type_text = present(params, "sign_type").ok_or(GatewayError::MissingSignType)?;
        let sign_type = SignType::parse(sign_type_text)
            .ok_or_else(|| GatewayError::InvalidSignType(sign_type_text.to_string()))?;
        let sign = present(params, "sign").ok_or(GatewayError::MissingSignature)?;
        let timestamp = present(params, "timestamp").ok_or(GatewayError::MissingTimestamp)?;
        let at = time::parse(timestamp)
            .filter(|_| timestamp.len() == 19)
            .ok_or_else(|| {
                GatewayError::InvalidTimestamp(format!("{timestamp}，格式应为 yyyy-MM-dd HH:mm:ss"))
            })?;
        if let Some(skew) = limits.timestamp_skew_ms {
            // The caller's timestamp is compared with real time, whatever the ledger's clock says.
            let now = crate::clock::system_now_ms();
            if (now - at).abs() > skew {
                return Err(GatewayError::InvalidTimestamp(format!(
                    "{timestamp} 与网关时间 {} (GMT+8) 相差超过 {} 秒",
                    time::format(now),
                    skew / 1000
                )));
            }
        }
        let version = present(params, "version").ok_or(GatewayError::MissingVersion)?;
        if version != "1.0" {
            return Err(GatewayError::InvalidParameter(format!(
                "version 只支持 1.0，收到 {version}"
            )));
        }
        if let Some(why) = charset_error {
            return Err(GatewayError::InvalidCharset(why));
        }
        let charset = present(params, "charset")
            .and_then(Charset::parse)
            .unwrap_or(Charset::Utf8);
        if let Some(format) = present(params, "format")
            && !format.eq_ignore_ascii_case("json")
        {
            return Err(GatewayError::InvalidFormat(format.to_string()));
        }
        let aes = match present(params, "encrypt_type") {
            None => None,
            Some(t) if t.eq_ignore_ascii_case("AES") => Some(
                record
                    .aes_key
                    .as_deref()
                    .and_then(AesKey::from_base64)
                    .ok_or(GatewayError::MissingEncryptKey)?,
            ),
            Some(t) => return Err(GatewayError::InvalidEncryptType(t.to_string())),
        };
        // An app has a key per sign type; a call in a type it has no key for is refused.
        let key_pem = record
            .key_for(sign_type)
            .ok_or(GatewayError::MissingSignatureConfig(sign_type.name()))?;
        if let Some(app_sn) = &record.app_cert_sn {
            check_cert_sns(svc, params, app_sn, cert_sn).await?;
        }
        let key = keys.get(key_pem);
        match verify(&key, params, sign_type, charset, sign) {
            Ok(content) => {
                if let Some(f) = facts.as_deref_mut() {
                    f.sign_string = Some(content);
                    f.verified = Some(true);
                }
            }
            Err(GatewayError::InvalidSignature { content, .. }) => {
                let finding = diagnose(
                    svc, keys, &record, &key, params, arrival, sign_type, charset, sign,
                )
                .await;
                let diagnosis = finding.sentence();
                if let Some(f) = facts.as_deref_mut() {
                    f.sign_string = Some(content.clone());
                    f.verified = Some(false);
                    f.diagnosis = Some(diagnosis.clone());
                }
                return Err(GatewayError::InvalidSignature {
                    content,
                    diagnosis: Some(diagnosis),
                });
            }
            Err(other) => return Err(other),
        }
        let entry =
            methods::find(method).ok_or_else(|| GatewayError::InvalidMethod(method.to_string()))?;
        if !record.allows(entry.name) {
            if let Some(f) = facts.as_deref_mut() {
                f.diagnosis = Some(format!(
                    "[NOT_SIGNED] 应用 {app_id} 没有开通 {name} 接口（admin app methods set 可改）。The app may not call {name}: it is limited to {}.",
                    record.methods.as_deref().unwrap_or_default(),
                    name = entry.name,
                ));
            }
            return Err(GatewayError::InsufficientPermissions);
        }
        // Only signed calls count against an app's limit: nobody else can spend it.
        if let Some(limit) = call_limit
            && !limit.admit(&app_id, std::time::Instant::now())
        {
            return Err(GatewayError::CallLimited {
                per_second: limit.per_second(),
            });
        }
        let who = match token {
            None => Acting {
                app_id: AppId::trusted(app_id.clone()),
                merchant_pid: MerchantPid::trusted(record.merchant_pid.clone()),
                via_token: false,
            },
            Some(_) => {
                // A token a refresh replaced is no token.
                let grant = grant
                    .filter(|g| g.revoked_at.is_none())
                    .ok_or(GatewayError::InvalidAppAuthToken)?;
                if grant.expires_at.is_some_and(|at| svc.now_ms() >= at) {
                    return Err(GatewayError::AppAuthTokenExpired);
                }
                if !grant.allows(entry.name) {
                    return Err(GatewayError::AppAuthTokenNoApi);
                }
                Acting {
                    app_id: AppId::trusted(app_id.clone()),
                    merchant_pid: MerchantPid::trusted(grant.merchant_pid),
                    via_token: true,
                }
            }
        };
        let biz = match (present(params, "biz_content"), &aes) {
            (None, _) => Biz::default(),
            (Some(text), None) => Biz::parse(text).map_err(GatewayError::InvalidParameter)?,
            // Signed as sent (encrypted); read once decrypted, in the request's charset.
            (Some(text), Some(aes)) => {
                let plain = aes
                    .decrypt(text)
                    .and_then(|bytes| charset.decode(&bytes))
                    .ok_or(GatewayError::InvalidEncrypt)?;
                if let Some(f) = facts.as_deref_mut() {
                    f.decrypted_biz_content = Some(plain.clone());
                }
                Biz::parse(&plain).map_err(GatewayError::InvalidParameter)?
            }
        };
        let given = present(params, "notify_url");
        if let Some(url) = given
            && let Err(why) = svc.notify_targets.admits(url)
        {
            return Err(GatewayError::InvalidParameter(format!("notify_url {why}")));
        }
        let notify = given
            .map(str::to_string)
            .or(record.notify_url.clone())
            .map(|url| Target {
                url,
                app_id: app_id.clone(),
                auth_app_id: who.via_token.then(|| who.merchant_pid.to_string()),
                merchant_pid: who.merchant_pid.to_string(),
                charset: Charset::parse(&record.charset).unwrap_or(Charset::Utf8),
                sign_type: SignType::parse(&record.sign_type).unwrap_or(SignType::Rsa2),
            });
        if let Some(f) = facts {
            f.merchant_pid = Some(who.merchant_pid.to_string());
        }
        Ok(Call {
            method: entry,
            who,
            biz,
            notify,
            aes,
        })
    }
}

/// Certificate mode: the call names the app's certificate and the root it trusts. The answer
/// carries the platform certificate's SN from here on, whatever happens next.
async fn check_cert_sns(
    svc: &Service,
    params: &Params,
    app_sn: &str,
    cert_sn: &mut Option<String>,
) -> Result<(), GatewayError> {
    let ca = svc.ca().await.map_err(|e| {
        tracing::error!(error = %e, "store read failed on the gateway path");
        GatewayError::Unavailable
    })?;
    *cert_sn = Some(ca.platform_sn().to_string());
    match present(params, "app_cert_sn") {
        None => {
            return Err(GatewayError::InvalidAppCertSn(
                "证书模式的应用必须传 app_cert_sn".into(),
            ));
        }
        Some(sn) if sn != app_sn => {
            return Err(GatewayError::InvalidAppCertSn(format!(
                "{sn} 不是应用公钥证书的序列号（应为 {app_sn}；重新下载 appCertPublicKey 证书？）"
            )));
        }
        Some(_) => {}
    }
    let root = ca.root_only_sn();
    match present(params, "alipay_root_cert_sn") {
        None => Err(GatewayError::InvalidRootCertSn(
            "证书模式的应用必须传 alipay_root_cert_sn".into(),
        )),
        Some(sn) if !sn.split('_').any(|part| part == root) => {
            Err(GatewayError::InvalidRootCertSn(format!(
                "{sn} 不含本网关根证书的序列号 {root}（用本网关的 alipayRootCert.crt）"
            )))
        }
        Some(_) => Ok(()),
    }
}

/// Verifies without empty values first (as the Java client signs), then, if some value was
/// empty, with them (as the Python and Node clients sign).
fn verify(
    key: &PublicKey,
    params: &Params,
    sign_type: SignType,
    charset: Charset,
    sign: &str,
) -> Result<String, GatewayError> {
    let without = sign::content(params, REQUEST_WITHOUT_EMPTIES);
    if key.verify(sign_type, &charset.encode(&without), sign) {
        return Ok(without);
    }
    let has_empty = params.iter().any(|(k, v)| k != "sign" && v.is_empty());
    if has_empty {
        let with = sign::content(params, REQUEST_WITH_EMPTIES);
        if key.verify(sign_type, &charset.encode(&with), sign) {
            return Ok(with);
        }
    }
    Err(GatewayError::InvalidSignature {
        content: without,
        diagnosis: None,
    })
}
