//! `alipay.open.app.alipaycert.download`: the platform's certificate by its SN, so that a
//! client (the Java SDK) can fetch a certificate it does not have yet.

use base64::Engine;
use serde::Serialize;

use super::method::Method;
use super::{CallContext, OpError, Service};
use crate::ledger::Refusal;
use crate::ledger::fields::Biz;

/// The answer: the certificate's PEM, in base64.
#[derive(Debug, Clone, Serialize)]
pub struct DownloadAnswer {
    pub alipay_cert_content: String,
}

/// `alipay.open.app.alipaycert.download`.
pub struct AlipayCertDownload;

impl Method for AlipayCertDownload {
    const NAME: &'static str = "alipay.open.app.alipaycert.download";
    const WRITES: bool = false;
    type Request = String;
    type Answer = DownloadAnswer;

    fn parse(biz: &Biz) -> Result<String, Refusal> {
        biz.required("alipay_cert_sn", 64)
    }

    async fn run(svc: &Service, _ctx: &CallContext, sn: String) -> Result<DownloadAnswer, OpError> {
        let ca = svc.ca().await?;
        if sn != ca.platform_sn() {
            return Err(OpError::Refused(Refusal::Recorded {
                sub_code: "CERT_NOT_EXIST".into(),
                sub_msg: format!("不存在序列号为 {sn} 的支付宝公钥证书"),
            }));
        }
        Ok(DownloadAnswer {
            alipay_cert_content: base64::engine::general_purpose::STANDARD
                .encode(ca.platform_cert_pem()),
        })
    }
}
