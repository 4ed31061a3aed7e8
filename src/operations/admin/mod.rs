//! The operator's commands: tenants, keys, items, orders, tokens and console actions on

mod fixtures;
mod notify;
mod sandbox;
mod snapshots;
mod tenants;
mod tickets;
mod tokens;

pub use fixtures::{Fixtures, Listing, fixtures_load, list, reset};
pub use notify::{notify_list, notify_probe, notify_resend, notify_show, print_log};
pub use sandbox::{
    MAX_FAULT_LATENCY_MS, NewFault, clock_advance, clock_reset, clock_set, clock_show, fault_add,
    fault_clear, fault_list,
};
pub use snapshots::{snapshot_delete, snapshot_list, snapshot_restore, snapshot_save};
pub use tenants::{
    NewApp, NewItem, add_app, add_item, add_merchant, add_shop, app_cert, check_methods,
    remove_app_key, set_app_aes_key, set_app_key, set_app_methods, set_notify_twice, show_app,
};
pub use tickets::{MAX_TICKETS_PER_ORDER, issue_order, ticket_refund, ticket_show, ticket_use};
pub use tokens::{auth_code, grant_token, grant_token_for};

use super::OpError;
use crate::alipay::PrivateKey;
use crate::store::{Store, StoreError, op};

/// Why an admin command did nothing.
#[derive(Debug)]
pub enum AdminError {
    /// An argument is wrong; the text says which and why.
    Invalid(String),
    /// The thing to create exists already.
    Duplicate(String),
    /// A thing named does not exist.
    NotFound(String),
    /// The ledger refused a console action.
    Refused {
        sub_code: String,
        sub_msg: String,
    },
    Store(StoreError),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Invalid(why) => write!(f, "invalid argument: {why}"),
            AdminError::Duplicate(what) => write!(f, "already exists: {what}"),
            AdminError::NotFound(what) => write!(f, "not found: {what}"),
            AdminError::Refused { sub_code, sub_msg } => write!(f, "refused: {sub_code} {sub_msg}"),
            AdminError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e)
    }
}

impl From<OpError> for AdminError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Refused(r) => AdminError::Refused {
                sub_code: r.sub_code().to_string(),
                sub_msg: r.sub_msg(),
            },
            OpError::Store(e) => AdminError::Store(e),
            OpError::Gateway(e) => {
                let status = e.status();
                AdminError::Refused {
                    sub_code: status.sub_code,
                    sub_msg: status.sub_msg,
                }
            }
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, AdminError>;

pub(super) fn invalid<T>(why: impl Into<String>) -> Result<T> {
    Err(AdminError::Invalid(why.into()))
}

/// A merchant PID: 16 digits starting with 2088.
pub fn check_pid(pid: &str) -> Result<()> {
    if pid.len() == 16 && pid.starts_with("2088") && pid.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        invalid(format!(
            "merchant PID must be 16 digits starting with 2088, got {pid:?}"
        ))
    }
}

/// Checks a PID and that the merchant exists.
pub(super) async fn known_merchant(svc: &super::Service, pid: &str) -> Result<()> {
    check_pid(pid)?;
    let exists = svc
        .store
        .read(op!(|tx| [pid: String = pid.into()] -> bool { tx.merchant_exists(&pid).await }))
        .await?;
    if exists {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!("merchant {pid}")))
    }
}

pub(super) fn check_id(what: &str, id: &str, max: usize) -> Result<()> {
    let visible = id
        .chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && c != ',');
    if id.is_empty() || id.chars().count() > max || !visible {
        invalid(format!(
            "{what} must be 1 to {max} characters without spaces or commas, got {id:?}"
        ))
    } else {
        Ok(())
    }
}

/// The platform ("Alipay") key pair: read from the store, created on first use.
pub async fn platform_key(store: &Store, now: i64) -> Result<PrivateKey> {
    let read = |store: Store| async move {
        store
            .read(op!(|tx| -> Option<(String, String)> {
                tx.platform_key().await
            }))
            .await
    };
    if let Some((private, _)) = read(store.clone()).await? {
        return Ok(
            PrivateKey::from_text(&private).expect("the stored platform key is one we wrote")
        );
    }
    let key = PrivateKey::generate();
    let (private, public) = (key.to_pkcs1_pem(), key.public_key().to_pem());
    store
        .write(
            op!(|tx| [private: String = private, public: String = public, now: i64 = now] -> bool {
                tx.insert_platform_key(&private, &public, now).await
            }),
        )
        .await?;
    // Another process may have won the race: whatever is stored is the key.
    let (private, _) = read(store.clone())
        .await?
        .expect("a platform key was just stored");
    Ok(PrivateKey::from_text(&private).expect("the stored platform key is one we wrote"))
}
