//! Snapshots of the sandbox: the whole ledger, tenants, outbox, request log, clocks and faults
//! saved under a name and put back, so a test suite can start every test from the same state.
//! The platform key and the sandbox CA are kept out of them (and so kept by a restore).

use serde_json::{Value, json};

use super::{AdminError, Result, invalid};
use crate::alipay::time;
use crate::operations::Service;
use crate::store::op;

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        invalid(format!(
            "a snapshot name is 1 to 32 letters, digits or '_', got {name:?}"
        ))
    }
}

pub async fn snapshot_save(svc: &Service, name: &str) -> Result<Value> {
    check_name(name)?;
    let now = svc.now_ms();
    let saved = svc
        .store
        .write(
            op!(|tx| [name: String = name.into(), now: i64 = now] -> Option<i64> {
                tx.save_snapshot(&name, now).await
            }),
        )
        .await?;
    let rows = saved.ok_or_else(|| AdminError::Duplicate(format!("snapshot {name}")))?;
    Ok(json!({"snapshot": name, "rows": rows}))
}

/// Puts the snapshot's state back; every running node serves it by the time this returns.
pub async fn snapshot_restore(svc: &Service, name: &str) -> Result<Value> {
    check_name(name)?;
    let restored = svc
        .store
        .write(op!(|tx| [name: String = name.into()] -> Option<i64> {
            tx.restore_snapshot(&name).await
        }))
        .await?;
    let rows = restored.ok_or_else(|| AdminError::NotFound(format!("snapshot {name}")))?;
    super::sandbox::settle(svc).await?;
    Ok(json!({"restored": name, "rows": rows}))
}

pub async fn snapshot_list(svc: &Service) -> Result<Value> {
    let rows = svc
        .store
        .read(op!(|tx| -> Vec<crate::store::SnapshotRow> {
            tx.snapshots().await
        }))
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|s| json!({"name": s.name, "created_at": time::format(s.created_at), "rows": s.row_count}))
        .collect();
    Ok(json!({ "snapshots": list }))
}

pub async fn snapshot_delete(svc: &Service, name: &str) -> Result<Value> {
    check_name(name)?;
    let deleted = svc
        .store
        .write(op!(|tx| [name: String = name.into()] -> bool { tx.delete_snapshot(&name).await }))
        .await?;
    if !deleted {
        return Err(AdminError::NotFound(format!("snapshot {name}")));
    }
    Ok(json!({"deleted": name}))
}
