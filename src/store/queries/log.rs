//! The request log: entries written in batches, trimmed to a bound, read with a cursor.

use std::future::Future;

use super::Tx;
use crate::store::StoreError;
use crate::store::sql::{Arg, args};

/// One entry of the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub id: String,
    pub at: i64,
    pub app_id: String,
    pub method: String,
    pub failed: bool,
    /// The whole entry, as JSON.
    pub entry: String,
}

/// Which entries of the request log to read.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub app_id: Option<String>,
    pub method: Option<String>,
    pub failed_only: bool,
}

pub(in crate::store) const INSERT_LOG: &str = "INSERT INTO request_log (id, at, app_id, method, failed, entry) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT DO NOTHING";
pub(in crate::store) const TRIM_LOG: &str = "DELETE FROM request_log WHERE at < \
     (SELECT at FROM request_log ORDER BY at DESC LIMIT 1 OFFSET $1)";
const LOG_FILTER: &str =
    "($1 = '' OR app_id = $1) AND ($2 = '' OR method = $2) AND ($3 = 0 OR failed = 1)";

/// The statements of the request log, for every backend.
pub trait RequestLog: Tx {
    /// Request log entries, a few multi-row statements for a batch.
    fn insert_logs(
        &mut self,
        rows: &[LogRow],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let mut rest = rows;
            for size in super::pow2_chunks(rows.len(), 64) {
                let (chunk, after) = rest.split_at(size);
                rest = after;
                let sql =
                    INSERT_LOG.replace(&super::values_list(1, 6), &super::values_list(size, 6));
                let values: Vec<Arg<'_>> = chunk
                    .iter()
                    .flat_map(|r| args![&r.id, r.at, &r.app_id, &r.method, r.failed, &r.entry])
                    .collect();
                self.execute(&sql, &values).await?;
            }
            Ok(())
        }
    }

    /// Keeps the request log to its last `keep` entries (about: entries of one millisecond at
    /// the boundary go or stay together).
    fn trim_log(&mut self, keep: i64) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { self.execute(TRIM_LOG, &args![keep]).await.map(drop) }
    }

    /// The newest `limit` entries that pass the filter, oldest first; or, after a cursor
    /// `(at, id)`, the next ones in order. Each as (at, id, entry).
    fn read_log(
        &mut self,
        filter: &LogFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(i64, String, String)>, StoreError>> + Send {
        async move {
            let app = filter.app_id.as_deref().unwrap_or_default();
            let method = filter.method.as_deref().unwrap_or_default();
            let failed = filter.failed_only;
            let rows = match &after {
                None => {
                    let sql = format!(
                        "SELECT at, id, entry FROM request_log WHERE {LOG_FILTER} \
                         ORDER BY at DESC, id DESC LIMIT $4"
                    );
                    let mut rows = self.rows(&sql, &args![app, method, failed, limit]).await?;
                    rows.reverse();
                    rows
                }
                Some((at, id)) => {
                    let sql = format!(
                        "SELECT at, id, entry FROM request_log WHERE {LOG_FILTER} \
                         AND (at > $4 OR (at = $4 AND id > $5)) ORDER BY at, id LIMIT $6"
                    );
                    let values = args![app, method, failed, *at, id, limit];
                    self.rows(&sql, &values).await?
                }
            };
            rows.into_iter()
                .map(|r| {
                    let mut c = r.cols();
                    Ok((c.int()?, c.text()?, c.text()?))
                })
                .collect()
        }
    }
}

impl<T: Tx> RequestLog for T {}
