//! The published gateway code table: each protocol-level refusal with its code, msg,
//! sub_code and sub_msg.

/// One answer's status fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: &'static str,
    pub msg: &'static str,
    pub sub_code: String,
    pub sub_msg: String,
}

pub const SUCCESS_CODE: &str = "10000";
pub const SUCCESS_MSG: &str = "Success";
pub const BUSINESS_FAILED_CODE: &str = "40004";
pub const BUSINESS_FAILED_MSG: &str = "Business Failed";

/// A refusal by the gateway itself, before (or instead of) any business logic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// Infrastructure failed (store, signing); the detail is logged, never sent.
    Unavailable,
    InvalidAppAuthToken,
    AppAuthTokenExpired,
    /// The merchant did not authorise this method for the token.
    AppAuthTokenNoApi,
    /// `alipay.open.auth.token.app`: the code is unknown, used or expired.
    CodeInvalid,
    /// `alipay.open.auth.token.app`: the refresh token is unknown, used or expired.
    RefreshTokenInvalid,
    /// The app may not call this method (it has not signed the product).
    InsufficientPermissions,
    /// The app made more calls than its limit allows.
    CallLimited {
        per_second: u32,
    },
    MissingMethod,
    MissingSignature,
    MissingSignType,
    MissingAppId,
    MissingTimestamp,
    MissingVersion,
    InvalidMethod(String),
    InvalidFormat(String),
    InvalidSignType(String),
    /// Carries the sign content the gateway built, shown to the developer, and the signature
    /// doctor's finding (`[CODE] 中文。English.`), appended after production's text.
    InvalidSignature {
        content: String,
        diagnosis: Option<String>,
    },
    InvalidAppId(String),
    InvalidTimestamp(String),
    InvalidCharset(String),
    InvalidParameter(String),
    InvalidEncryptType(String),
    /// The app has no key for the request's sign type.
    MissingSignatureConfig(SignTypeName),
    /// `encrypt_type=AES` from an app without an AES key.
    MissingEncryptKey,
    /// `biz_content` did not decrypt under the app's AES key.
    InvalidEncrypt,
    /// Certificate mode: `app_cert_sn` is missing or not the app certificate's; says which.
    InvalidAppCertSn(String),
    /// Certificate mode: `alipay_root_cert_sn` is missing or does not name the root; says which.
    InvalidRootCertSn(String),
}

/// A sign type's name, for the texts that name one.
pub type SignTypeName = &'static str;

impl GatewayError {
    pub fn status(&self) -> Status {
        use GatewayError::*;
        let (code, msg, sub_code, sub_msg) = match self {
            Unavailable => (
                "20000",
                "Service Currently Unavailable",
                "isp.unknow-error",
                "系统繁忙".to_string(),
            ),
            AppAuthTokenExpired => (
                "20001",
                "Insufficient Token Permissions",
                "aop.app-auth-token-time-out",
                "应用授权令牌已过期".to_string(),
            ),
            InvalidAppAuthToken => (
                "20001",
                "Insufficient Token Permissions",
                "aop.invalid-app-auth-token",
                "无效的应用授权令牌".to_string(),
            ),
            InsufficientPermissions => (
                "40006",
                "Insufficient Permissions",
                "isv.insufficient-isv-permissions",
                "ISV权限不足，建议在开放平台控制台检查对应产品是否已经绑定".to_string(),
            ),
            AppAuthTokenNoApi => (
                "20001",
                "Insufficient Token Permissions",
                "aop.invalid-app-auth-token-no-api",
                "商户未授权当前接口".to_string(),
            ),
            CodeInvalid => (
                "40002",
                "Invalid Arguments",
                "isv.code-invalid",
                "授权码code无效".to_string(),
            ),
            RefreshTokenInvalid => (
                "40002",
                "Invalid Arguments",
                "isv.refresh-token-invalid",
                "刷新令牌refresh_token无效".to_string(),
            ),
            MissingMethod => (
                "40001",
                "Missing Required Arguments",
                "isv.missing-method",
                "缺少方法名参数".into(),
            ),
            MissingSignature => (
                "40001",
                "Missing Required Arguments",
                "isv.missing-signature",
                "缺少签名参数".into(),
            ),
            MissingSignType => (
                "40001",
                "Missing Required Arguments",
                "isv.missing-signature-type",
                "缺少签名类型参数".into(),
            ),
            MissingAppId => (
                "40001",
                "Missing Required Arguments",
                "isv.missing-app-id",
                "缺少appId参数".into(),
            ),
            MissingTimestamp => (
                "40001",
                "Missing Required Arguments",
                "isv.missing-timestamp",
                "缺少时间戳参数".into(),
            ),
            MissingVersion => (
                "40001",
                "Missing Required Arguments",
                "isv.missing-version",
                "缺少版本参数".into(),
            ),
            InvalidMethod(m) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-method",
                format!("不存在的方法名：{m}"),
            ),
            InvalidFormat(f) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-format",
                format!("无效的数据格式：{f}，仅支持JSON"),
            ),
            InvalidSignType(t) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature-type",
                format!("无效的签名类型：{t}，仅支持RSA2和RSA"),
            ),
            InvalidSignature { content, diagnosis } => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature",
                match diagnosis {
                    None => format!(
                        "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}"
                    ),
                    Some(why) => format!(
                        "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content} {why}"
                    ),
                },
            ),
            InvalidAppId(a) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-app-id",
                format!("无效的AppID参数：{a}"),
            ),
            InvalidTimestamp(why) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-timestamp",
                format!("非法的时间戳参数：{why}"),
            ),
            InvalidCharset(why) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-charset",
                format!("字符集错误：{why}"),
            ),
            InvalidParameter(why) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-parameter",
                format!("参数无效：{why}"),
            ),
            InvalidEncryptType(t) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-encrypt-type",
                format!("无效的加密类型：{t}，仅支持AES"),
            ),
            MissingSignatureConfig(t) => (
                "40002",
                "Invalid Arguments",
                "isv.missing-signature-config",
                format!("验签出错, 未配置对应签名算法的公钥或者证书：应用没有 {t} 的公钥"),
            ),
            MissingEncryptKey => (
                "40002",
                "Invalid Arguments",
                "isv.decryption-error-not-valid-encrypt-key",
                "解密出错，未配置加密密钥或加密密钥格式错误".into(),
            ),
            InvalidAppCertSn(why) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-app-cert-sn",
                format!("应用公钥证书序列号app_cert_sn无效：{why}"),
            ),
            InvalidRootCertSn(why) => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-alipay-root-cert-sn",
                format!("支付宝根证书序列号alipay_root_cert_sn无效：{why}"),
            ),
            InvalidEncrypt => (
                "40002",
                "Invalid Arguments",
                "isv.invalid-encrypt",
                "解密异常".into(),
            ),
            CallLimited { per_second } => (
                "40005",
                "Call Limited",
                "isv.app-call-limited",
                format!("应用调用次数超限，包含调用频率超限：每秒最多 {per_second} 次"),
            ),
        };
        Status {
            code,
            msg,
            sub_code: sub_code.to_string(),
            sub_msg,
        }
    }
}
