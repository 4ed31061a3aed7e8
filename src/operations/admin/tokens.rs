//! App auth tokens and one-time authorization codes, as the operator grants them.

use serde_json::{Value, json};

use super::tenants::app_record;
use super::{Result, check_pid, invalid, known_merchant};
use crate::ids;
use crate::operations::Service;
use crate::store::op;

/// Grants `app_id` a token to act for `merchant_pid`, valid for `valid_for_ms` (`None`: for
/// ever).
pub async fn grant_token(
    svc: &Service,
    app_id: &str,
    merchant_pid: &str,
    valid_for_ms: Option<i64>,
) -> Result<Value> {
    grant_token_for(svc, app_id, merchant_pid, valid_for_ms, None).await
}

/// Checks a list of methods a merchant authorises (each one the gateway serves); `None`: all.
fn method_list(methods: Option<&[String]>) -> Result<Option<String>> {
    let Some(methods) = methods else {
        return Ok(None);
    };
    if methods.is_empty() {
        return invalid("--methods needs at least one method");
    }
    for m in methods {
        if crate::operations::methods::find(m).is_none() {
            return invalid(format!("{m} is not a method this gateway serves"));
        }
    }
    Ok(Some(methods.join(",")))
}

async fn app_and_merchant(svc: &Service, app_id: &str, merchant_pid: &str) -> Result<()> {
    check_pid(merchant_pid)?;
    app_record(svc, app_id).await?;
    known_merchant(svc, merchant_pid).await
}

/// A new app auth token (and its refresh token) for `app_id` to act for `merchant_pid`, for
/// the given methods (all when `None`).
pub async fn grant_token_for(
    svc: &Service,
    app_id: &str,
    merchant_pid: &str,
    valid_for_ms: Option<i64>,
    methods: Option<&[String]>,
) -> Result<Value> {
    let methods = method_list(methods)?;
    app_and_merchant(svc, app_id, merchant_pid).await?;
    let row = crate::operations::auth::new_token(
        app_id,
        merchant_pid,
        methods,
        svc.now_ms(),
        valid_for_ms,
    );
    let stored = row.clone();
    svc.store
        .write(
            op!(|tx| [row: crate::store::TokenRow = stored] -> () { tx.insert_token(&row).await }),
        )
        .await?;
    Ok(json!({
        "app_auth_token": row.token,
        "app_refresh_token": row.refresh_token,
        "app_id": app_id,
        "merchant_pid": merchant_pid,
        "expires_at": row.expires_at.map(crate::alipay::time::format),
        "methods": row.methods.map(|m| m.split(',').map(str::to_string).collect::<Vec<_>>()),
    }))
}

/// A one-time `app_auth_code` (valid 10 minutes): what the merchant's consent page gives the
/// ISV, to exchange with `alipay.open.auth.token.app`.
pub async fn auth_code(
    svc: &Service,
    app_id: &str,
    merchant_pid: &str,
    methods: Option<&[String]>,
) -> Result<Value> {
    let methods = method_list(methods)?;
    app_and_merchant(svc, app_id, merchant_pid).await?;
    let now = svc.now_ms();
    let row = crate::store::CodeRow {
        code: format!(
            "{}{}",
            &crate::alipay::time::compact(now)[..6],
            ids::hex(26)
        ),
        app_id: app_id.into(),
        merchant_pid: merchant_pid.into(),
        methods,
        expires_at: now + crate::operations::auth::CODE_VALID_MS,
        used_at: None,
    };
    let stored = row.clone();
    svc.store
        .write(op!(|tx| [row: crate::store::CodeRow = stored, now: i64 = now] -> () { tx.insert_auth_code(&row, now).await }))
        .await?;
    Ok(json!({
        "app_auth_code": row.code,
        "app_id": app_id,
        "merchant_pid": merchant_pid,
        "expires_at": crate::alipay::time::format(row.expires_at),
    }))
}
