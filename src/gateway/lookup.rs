//! What the gateway's checks read from the store — the caller (its app and the grant behind
//! its token) and, for a signature that did not verify, the merchant's other apps the doctor
//! tries — and the doctor's diagnosis itself.

use crate::alipay::codes::GatewayError;
use crate::alipay::doctor::{self, Finding, Signed};
use crate::alipay::form::{Params, RawPair};
use crate::alipay::{Charset, PublicKey, SignType};
use crate::operations::Service;
use crate::store::prelude::*;
use crate::store::{CallerFacts, StoreError};

use super::KeyCache;

/// Why a signature did not verify: the doctor, given the merchant's other apps' keys when the
/// app's own key did not make the signature. Bounded: one RSA public operation per key tried.
#[allow(clippy::too_many_arguments)]
pub(super) async fn diagnose(
    svc: &Service,
    keys: &KeyCache,
    record: &crate::store::AppRecord,
    key: &PublicKey,
    params: &Params,
    arrival: &[RawPair],
    sign_type: SignType,
    charset: Charset,
    sign: &str,
) -> Finding {
    let text = |b: &[u8]| {
        charset
            .decode(b)
            .unwrap_or_else(|| String::from_utf8_lossy(b).into_owned())
    };
    let mut seen = std::collections::HashSet::new();
    let arrival: Vec<(String, String)> = arrival
        .iter()
        .map(|(k, v)| (text(k), text(v)))
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect();
    let signed = Signed {
        params,
        arrival: &arrival,
        sign_type,
        charset,
        sign,
    };
    let finding = doctor::diagnose(&signed, key, &[]);
    if finding != (Finding::WrongKey { signer: None }) {
        return finding;
    }
    let lookup = MerchantApps {
        merchant_pid: record.merchant_pid.clone(),
    };
    let Ok(apps) = svc.store.read(lookup).await else {
        return finding;
    };
    let others: Vec<(String, PublicKey)> = apps
        .into_iter()
        .filter(|a| a.app_id != record.app_id)
        .take(MAX_OTHER_KEYS)
        .map(|a| (a.app_id, keys.get(&a.public_key_pem)))
        .collect();
    doctor::diagnose(&signed, key, &others)
}

/// Other keys tried when a signature was not made with the app's own.
const MAX_OTHER_KEYS: usize = 8;

struct MerchantApps {
    merchant_pid: String,
}

impl Operation for MerchantApps {
    type Output = Vec<crate::store::AppRecord>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        tx.merchant_apps(&self.merchant_pid).await
    }
}

/// The store read on the gateway path: the app and its token's grant. A failure is logged here
/// and answered as `20000`.
pub(super) async fn read_caller(
    svc: &Service,
    app_id: &str,
    token: Option<&str>,
) -> Result<CallerFacts, GatewayError> {
    let lookup = CallerLookup {
        app_id: app_id.to_string(),
        token: token.map(str::to_string),
    };
    svc.store.read(lookup).await.map_err(|e| {
        tracing::error!(error = %e, "store read failed on the gateway path");
        GatewayError::Unavailable
    })
}

struct CallerLookup {
    app_id: String,
    token: Option<String>,
}

impl Operation for CallerLookup {
    type Output = CallerFacts;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<CallerFacts, StoreError> {
        tx.caller_facts(&self.app_id, self.token.as_deref()).await
    }
}
