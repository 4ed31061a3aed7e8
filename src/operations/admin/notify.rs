//! Notifications as the operator sees them.

use serde_json::{Value, json};

use super::{AdminError, Result};
use crate::operations::Service;
use crate::store::{NotificationRow, OutboxStatus, op};

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
        .read(
            op!(|tx| [status: Option<OutboxStatus> = status] -> Vec<NotificationRow> {
                tx.notifications(status).await
            }),
        )
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

/// One notification: its row, its fields as they are signed and sent, and every attempt.
pub async fn notify_show(svc: &Service, notify_id: &str) -> Result<Value> {
    let id = notify_id.to_string();
    let found = svc
        .store
        .read(op!(|tx| [id: String = id] -> (Option<NotificationRow>, Vec<(i64, i64, i64, Option<String>)>) {
            let row = tx.notification(&id).await?;
            let attempts = tx.notification_attempts(&id).await?;
            Ok((row, attempts))
        }))
        .await?;
    let (Some(n), attempts) = found else {
        return Err(AdminError::NotFound(format!("notification {notify_id}")));
    };
    // The form as it is signed at the next attempt (notify_time and sign change per attempt).
    let (signed, _) = crate::notify::message::signed(&n, svc.now_ms(), &svc.platform_key);
    let attempts: Vec<Value> = attempts
        .into_iter()
        .map(|(attempt, at, delivered, error)| {
            json!({
                "attempt": attempt,
                "at": crate::alipay::time::format(at),
                "delivered": delivered == 1,
                "error": error,
            })
        })
        .collect();
    Ok(json!({
        "notify_id": n.notify_id,
        "status": n.status.name(),
        "attempts": n.attempts,
        "url": n.url,
        "app_id": n.app_id,
        "merchant_pid": n.merchant_pid,
        "biz_type": n.biz_type,
        "request_id": n.request_id,
        "last_error": n.last_error,
        "created_at": crate::alipay::time::format(n.created_at),
        "next_attempt_at": (n.status == OutboxStatus::Pending).then(|| crate::alipay::time::format(n.next_attempt_at)),
        "payload": signed,
        "history": attempts,
    }))
}

/// Queues a parked or delivered notification again, due now, with a fresh schedule.
pub async fn notify_resend(svc: &Service, notify_id: &str) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    let id = notify_id.to_string();
    let outcome = store
        .write(op!(|tx| [id: String = id, now: i64 = now] -> Result<()> {
            let Some(row) = tx.notification(&id).await? else {
                return Ok(Err(AdminError::NotFound(format!("notification {id}"))));
            };
            if row.status == OutboxStatus::Pending {
                return Ok(Err(AdminError::Invalid(format!(
                    "notification {id} is still pending (attempt {} of its schedule)",
                    row.attempts + 1
                ))));
            }
            tx.requeue_notification(&id, now).await?;
            Ok(Ok(()))
        }))
        .await?;
    outcome?;
    Ok(json!({"notify_id": notify_id, "status": OutboxStatus::Pending.name()}))
}

/// Prints the newest `limit` log entries that pass `filter`, oldest first, one JSON object a
/// line; with `follow`, keeps printing new ones as they are written (polling every 500 ms). A
/// reader that goes away (`| head`) ends it quietly.
pub async fn print_log(
    svc: &Service,
    filter: &crate::store::LogFilter,
    limit: i64,
    follow: bool,
) -> Result<()> {
    use std::io::Write;
    let mut cursor: Option<(i64, String)> = None;
    loop {
        let (f, after) = (filter.clone(), cursor.clone());
        type Page = Vec<(i64, String, String)>;
        // The newest `limit` first; then, following, everything after the last one printed.
        let page = if cursor.is_none() { limit } else { 1000 };
        let rows = svc
            .store
            .read(op!(|tx| [
                f: crate::store::LogFilter = f,
                after: Option<(i64, String)> = after,
                page: i64 = page,
            ] -> Page {
                tx.read_log(&f, after.clone(), page).await
            }))
            .await?;
        let mut out = std::io::stdout().lock();
        for (at, id, entry) in rows {
            if writeln!(out, "{entry}").is_err() {
                return Ok(());
            }
            cursor = Some((at, id));
        }
        if out.flush().is_err() || !follow {
            return Ok(());
        }
        drop(out);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// `notify probe`: the app's charset and sign type and the platform key from the store, the
/// app's own key from the data folder when it is there (to name a handler that verifies with
/// it), then the cases sent to `url` and judged. The report: every answer, the score, the
/// mistakes, whether it passed, and the same as a table.
pub async fn notify_probe(
    svc: &Service,
    data: &std::path::Path,
    app_id: &str,
    url: &str,
) -> Result<Value> {
    use crate::alipay::{Charset, PrivateKey, PublicKey, SignType};
    use crate::notify::probe;
    if let Err(why) = svc.notify_targets.admits(url) {
        return Err(AdminError::Invalid(format!("--url {url:?}: {why}")));
    }
    let id = app_id.to_string();
    let app = svc
        .store
        .read(op!(|tx| [id: String = id] -> Option<crate::store::AppRecord> { tx.app(&id).await }))
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("app {app_id}")))?;
    let charset = Charset::parse(&app.charset).unwrap_or(Charset::Utf8);
    let target = crate::notify::Target {
        url: url.to_string(),
        app_id: app.app_id.clone(),
        auth_app_id: None,
        merchant_pid: app.merchant_pid.clone(),
        charset,
        sign_type: SignType::parse(&app.sign_type).unwrap_or(SignType::Rsa2),
    };
    let own_public = PublicKey::from_text(&app.public_key_pem)
        .ok()
        .map(|k| k.to_pem());
    let app_key = [
        data.join("keys/apps")
            .join(format!("{}_private_key.pem", app.app_id)),
        data.join("demo/app_private_key.pem"),
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|text| PrivateKey::from_text(&text).ok())
    .find(|key| own_public.as_deref() == Some(key.public_key().to_pem().as_str()));
    let cases = probe::cases(&probe::Probed {
        target: &target,
        platform_key: &svc.platform_key,
        app_key: app_key.as_ref(),
        now_ms: svc.now_ms(),
    });
    let answers = probe::run(url, &cases, charset, &svc.notify_targets).await;
    let mistakes = probe::mistakes(&answers);
    let right = answers.iter().filter(|a| a.right == Some(true)).count();
    let judged = answers.iter().filter(|a| a.right.is_some()).count();
    Ok(json!({
        "url": url,
        "app_id": app.app_id,
        "passed": probe::passed(&answers),
        "score": format!("{right}/{judged}"),
        "answers": answers,
        "mistakes": mistakes,
        "table": probe::table(url, &answers, &mistakes),
    }))
}
