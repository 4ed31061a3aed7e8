//! Notifications as the operator sees them.

use serde_json::{Value, json};

use super::{AdminError, Result};
use crate::operations::Service;
use crate::store::OutboxStatus;

/// Notifications, oldest first, optionally of one status.
pub async fn notify_list(svc: &Service, status: Option<String>) -> Result<Value> {
    let store = &svc.store;
    let status = match status.as_deref() {
        None => None,
        Some(text) => Some(OutboxStatus::parse(text).ok_or_else(|| {
            AdminError::Invalid(format!(
                "status must be pending, delivered or parked, got {text:?}"
            ))
        })?),
    };
    let rows = store
        .read(move |c| Box::pin(async move { c.notifications(status).await }))
        .await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|n| {
            let pending = n.status == OutboxStatus::Pending;
            json!({
                "notify_id": n.notify_id,
                "status": n.status.name(),
                "attempts": n.attempts,
                "url": n.url,
                "biz_type": n.biz_type,
                "request_id": n.request_id,
                "last_error": n.last_error,
                "next_attempt_at": pending.then(|| crate::alipay::time::format(n.next_attempt_at)),
            })
        })
        .collect();
    Ok(json!({ "notifications": list }))
}

/// Queues a parked or delivered notification again, due now, with a fresh schedule.
pub async fn notify_resend(svc: &Service, notify_id: &str) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    let id = notify_id.to_string();
    let outcome = store
        .write(move |c| {
            let id = id.clone();
            Box::pin(async move {
                let Some(row) = c.notification(&id).await? else {
                    return Ok(Err(AdminError::NotFound(format!("notification {id}"))));
                };
                if row.status == OutboxStatus::Pending {
                    return Ok(Err(AdminError::Invalid(format!(
                        "notification {id} is still pending (attempt {} of its schedule)",
                        row.attempts + 1
                    ))));
                }
                c.requeue_notification(&id, now).await?;
                Ok(Ok(()))
            })
        })
        .await?;
    outcome?;
    Ok(json!({"notify_id": notify_id, "status": OutboxStatus::Pending.name()}))
}
