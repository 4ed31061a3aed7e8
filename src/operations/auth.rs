//! The ISV token flow: `alipay.open.auth.token.app` exchanges a merchant's one-time
//! authorization code (`admin auth code`) or a refresh token for an app auth token, and
//! `alipay.open.auth.token.app.query` describes a token. Tokens are judged on real time, like
//! every other part of the protocol.

use serde::Serialize;

use super::method::Method;
use super::{CallContext, OpError, Service};
use crate::alipay::codes::GatewayError;
use crate::alipay::time;
use crate::ids;
use crate::ledger::Refusal;
use crate::ledger::fields::Biz;
use crate::store::{TokenRow, op};

/// How long an authorization code can be exchanged.
pub const CODE_VALID_MS: i64 = 10 * 60_000;
/// How long a token from the exchange acts (`expires_in`: a year).
pub const TOKEN_VALID_MS: i64 = 365 * 86_400_000;
/// How long its refresh token can be used (`re_expires_in`: a week more).
pub const REFRESH_VALID_MS: i64 = 372 * 86_400_000;

/// A new token row with a fresh token and refresh token.
pub fn new_token(
    app_id: &str,
    merchant_pid: &str,
    methods: Option<String>,
    now: i64,
    valid_for_ms: Option<i64>,
) -> TokenRow {
    let day = &time::compact(now)[..8];
    TokenRow {
        token: format!("{day}{}", ids::hex(32)),
        app_id: app_id.into(),
        merchant_pid: merchant_pid.into(),
        expires_at: valid_for_ms.map(|ms| now + ms),
        refresh_token: Some(format!("{day}{}", ids::hex(32))),
        refresh_expires_at: valid_for_ms.map(|ms| now + ms.max(REFRESH_VALID_MS)),
        methods,
        revoked_at: None,
        created_at: now,
    }
}

/// `expires_in`: seconds left (a token that never expires says a year, as production's
/// "长期有效" tokens do).
fn seconds_left(at: Option<i64>, now: i64) -> i64 {
    at.map_or(TOKEN_VALID_MS / 1000, |at| ((at - now) / 1000).max(0))
}

/// One token as the exchange answers it.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub app_auth_token: String,
    pub app_refresh_token: String,
    pub auth_app_id: String,
    pub user_id: String,
    pub expires_in: i64,
    pub re_expires_in: i64,
}

/// The exchange's answer: the token's fields, and the same as the one entry of `tokens`.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeAnswer {
    #[serde(flatten)]
    pub token: TokenInfo,
    pub tokens: Vec<TokenInfo>,
}

/// What the exchange is asked.
#[derive(Debug, Clone)]
pub enum Exchange {
    Code(String),
    Refresh(String),
}

/// `alipay.open.auth.token.app`.
pub struct TokenApp;

impl Method for TokenApp {
    const NAME: &'static str = "alipay.open.auth.token.app";
    const WRITES: bool = true;
    type Request = Exchange;
    type Answer = ExchangeAnswer;

    fn parse(biz: &Biz) -> Result<Exchange, Refusal> {
        let grant_type = biz.required("grant_type", 32)?;
        match grant_type.as_str() {
            "authorization_code" => Ok(Exchange::Code(biz.required("code", 64)?)),
            "refresh_token" => Ok(Exchange::Refresh(biz.required("refresh_token", 64)?)),
            other => Err(Refusal::InvalidParameter(format!(
                "grant_type 只能是 authorization_code 或 refresh_token，收到 {other}"
            ))),
        }
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: Exchange,
    ) -> Result<ExchangeAnswer, OpError> {
        let (app_id, now) = (ctx.who.app_id.to_string(), svc.now_ms());
        let made = svc
            .store
            .write(op!(|tx| [app_id: String = app_id, req: Exchange = req, now: i64 = now] -> Result<TokenRow, GatewayError> {
                    let (merchant, methods) = match &req {
                        Exchange::Code(code) => {
                            match tx.spend_auth_code(code, &app_id, now).await? {
                                Some(code) => (code.merchant_pid, code.methods),
                                None => return Ok(Err(GatewayError::CodeInvalid)),
                            }
                        }
                        Exchange::Refresh(refresh) => {
                            let old = tx.token_row(&app_id, None, Some(refresh)).await?;
                            let usable = old.filter(|t| {
                                t.revoked_at.is_none()
                                    && t.refresh_expires_at.is_none_or(|at| at > now)
                            });
                            let Some(old) = usable else {
                                return Ok(Err(GatewayError::RefreshTokenInvalid));
                            };
                            // The old pair stops working with this commit; a concurrent
                            // refresh of the same pair makes one new pair, not two.
                            if !tx.revoke_token(&old.token, now).await? {
                                return Ok(Err(GatewayError::RefreshTokenInvalid));
                            }
                            (old.merchant_pid, old.methods)
                        }
                    };
                    let row = new_token(&app_id, &merchant, methods, now, Some(TOKEN_VALID_MS));
                    tx.insert_token(&row).await?;
                    Ok(Ok(row))
                }))
            .await
            .map_err(OpError::from)?
            .map_err(OpError::Gateway)?;
        let token = TokenInfo {
            app_auth_token: made.token,
            app_refresh_token: made.refresh_token.unwrap_or_default(),
            auth_app_id: made.merchant_pid.clone(),
            user_id: made.merchant_pid,
            expires_in: seconds_left(made.expires_at, now),
            re_expires_in: seconds_left(made.refresh_expires_at, now),
        };
        Ok(ExchangeAnswer {
            tokens: vec![token.clone()],
            token,
        })
    }
}

/// `alipay.open.auth.token.app.query`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct TokenQueryAnswer {
    pub user_id: String,
    pub auth_app_id: String,
    pub expires_in: i64,
    pub auth_methods: Vec<String>,
    pub auth_start: String,
    pub auth_end: String,
    pub status: &'static str,
    pub is_by_app_auth: bool,
}

/// `alipay.open.auth.token.app.query`.
pub struct TokenAppQuery;

impl Method for TokenAppQuery {
    const NAME: &'static str = "alipay.open.auth.token.app.query";
    const WRITES: bool = false;
    type Request = String;
    type Answer = TokenQueryAnswer;

    fn parse(biz: &Biz) -> Result<String, Refusal> {
        biz.required("app_auth_token", 64)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        token: String,
    ) -> Result<TokenQueryAnswer, OpError> {
        let app_id = ctx.who.app_id.to_string();
        let found = svc
            .store
            .read(op!(|tx| [app_id: String = app_id, token: String = token] -> Option<TokenRow> { tx.token_row(&app_id, Some(&token), None).await }))
            .await?;
        let t = found.ok_or(OpError::Gateway(GatewayError::InvalidAppAuthToken))?;
        let now = svc.now_ms();
        let valid = t.revoked_at.is_none() && t.expires_at.is_none_or(|at| at > now);
        let auth_methods = match &t.methods {
            Some(list) => list.split(',').map(str::to_string).collect(),
            None => svc.method_names.iter().map(|m| m.to_string()).collect(),
        };
        let end = t.expires_at.unwrap_or(t.created_at + TOKEN_VALID_MS);
        Ok(TokenQueryAnswer {
            user_id: t.merchant_pid.clone(),
            auth_app_id: t.merchant_pid,
            expires_in: if valid {
                seconds_left(t.expires_at, now)
            } else {
                0
            },
            auth_methods,
            auth_start: time::format(t.created_at),
            auth_end: time::format(t.revoked_at.unwrap_or(end)),
            status: if valid { "valid" } else { "invalid" },
            is_by_app_auth: t.methods.is_none(),
        })
    }
}
