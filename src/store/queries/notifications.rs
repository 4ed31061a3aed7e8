//! The notification outbox.

use std::future::Future;
use std::sync::LazyLock;

use super::{Tx, all, one};
use crate::store::StoreError;
use crate::store::sql::{Arg, Cols, FromRow, args};

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Waiting for its next attempt (or its first).
    Pending,
    /// Acknowledged with `success`.
    Delivered,
    /// Its last scheduled attempt failed; waits for an operator's resend.
    Parked,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 3] = [
        OutboxStatus::Pending,
        OutboxStatus::Delivered,
        OutboxStatus::Parked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Parked => "parked",
        }
    }

    pub fn parse(text: &str) -> Option<OutboxStatus> {
        OutboxStatus::ALL.into_iter().find(|s| s.name() == text)
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    pub notify_id: String,
    pub app_id: String,
    pub url: String,
    pub charset: String,
    pub sign_type: String,
    pub biz_type: String,
    pub request_id: String,
    /// The notification's business fields as a JSON object (no time, no signature).
    pub fields: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub claimed_until: i64,
    pub claim_token: Option<String>,
    pub created_at: i64,
    /// The merchant whose clock schedules it (`None`: real time).
    pub merchant_pid: Option<String>,
}

const NOTIFICATION_COLUMNS: &str = "notify_id, app_id, url, charset, sign_type, biz_type, request_id, fields, status, \
     attempts, next_attempt_at, last_error, claimed_until, claim_token, created_at, merchant_pid";

impl FromRow for NotificationRow {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(NotificationRow {
            notify_id: c.text()?,
            app_id: c.text()?,
            url: c.text()?,
            charset: c.text()?,
            sign_type: c.text()?,
            biz_type: c.text()?,
            request_id: c.text()?,
            fields: c.text()?,
            status: {
                let text = c.text()?;
                OutboxStatus::parse(&text)
                    .ok_or_else(|| StoreError::Decode(format!("unknown outbox status {text:?}")))?
            },
            attempts: c.int()?,
            next_attempt_at: c.int()?,
            last_error: c.opt_text()?,
            claimed_until: c.int()?,
            claim_token: c.opt_text()?,
            created_at: c.int()?,
            merchant_pid: c.opt_text()?,
        })
    }
}

/// A notification's values in the order of `INSERT_NOTIFICATION`'s placeholders.
pub(in crate::store) fn notification_args(n: &NotificationRow) -> [Arg<'_>; 16] {
    args![
        &n.notify_id,
        &n.app_id,
        &n.url,
        &n.charset,
        &n.sign_type,
        &n.biz_type,
        &n.request_id,
        &n.fields,
        n.status.name(),
        n.attempts,
        n.next_attempt_at,
        &n.last_error,
        n.claimed_until,
        &n.claim_token,
        n.created_at,
        &n.merchant_pid
    ]
}

/// One attempt at a notification: (attempt, at, delivered, error).
pub type Attempt = (i64, i64, i64, Option<String>);

/// What a taken key of `INSERT_NOTIFICATION` is called, in its conflict.
pub(in crate::store) const NOTIFICATION_KEY: &str = "notifications.notify_id";
pub(in crate::store) const INSERT_NOTIFICATION: &str = "INSERT INTO notifications (notify_id, app_id, url, charset, sign_type, biz_type, request_id, fields, \
                   status, attempts, next_attempt_at, last_error, claimed_until, claim_token, created_at, updated_at, merchant_pid) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16) ON CONFLICT DO NOTHING";

/// Claims the most overdue pending notification: plain, and skipping rows other nodes are
/// claiming (PostgreSQL).
static CLAIM: LazyLock<[String; 2]> = LazyLock::new(|| {
    let pick = "SELECT notify_id FROM notifications n WHERE status = 'pending' AND next_attempt_at <= $1 + $4 \
                AND next_attempt_at - COALESCE((SELECT offset_ms FROM test_clocks t WHERE t.merchant_pid = n.merchant_pid), 0) <= $1 \
                AND claimed_until <= $1 ORDER BY next_attempt_at, notify_id LIMIT 1";
    [String::new(), " FOR UPDATE SKIP LOCKED".to_string()].map(|lock| {
        format!(
            "UPDATE notifications SET claimed_until = $2, claim_token = $3, updated_at = $1 \
             WHERE notify_id = ({pick}{lock}) RETURNING {NOTIFICATION_COLUMNS}"
        )
    })
});

/// The statements of the outbox, for every backend.
pub trait Outbox: Tx {
    /// Claims the most overdue pending notification until `lease_until` under `token`: due
    /// when its time has come by its merchant's clock (real time plus the merchant's test clock
    /// offset; `max_offset` is the largest offset, which lets the index bound the search).
    /// On PostgreSQL, rows other nodes are claiming are skipped, not waited for.
    fn claim_notification(
        &mut self,
        now: i64,
        lease_until: i64,
        token: &str,
        max_offset: i64,
    ) -> impl Future<Output = Result<Option<NotificationRow>, StoreError>> + Send {
        async move {
            let sql = &CLAIM[usize::from(Self::LOCKS)];
            one(self, sql, &args![now, lease_until, token, max_offset]).await
        }
    }

    /// Records an attempt's outcome, if the claim is still ours. Returns whether it was.
    fn finish_notification(
        &mut self,
        notify_id: &str,
        token: &str,
        status: OutboxStatus,
        next_attempt_at: i64,
        last_error: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "UPDATE notifications SET status = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3, \
                       claimed_until = 0, claim_token = NULL, updated_at = $4 WHERE notify_id = $5 AND claim_token = $6";
            let values = args![
                status.name(),
                next_attempt_at,
                last_error,
                now,
                notify_id,
                token
            ];
            if self.execute(sql, &values).await? != 1 {
                return Ok(false);
            }
            let sql = "INSERT INTO notification_attempts (notify_id, attempt, at, delivered, error) \
                       VALUES ($1, (SELECT attempts FROM notifications WHERE notify_id = $1), $2, $3, $4) \
                       ON CONFLICT DO NOTHING";
            let delivered = status == OutboxStatus::Delivered;
            self.execute(sql, &args![notify_id, now, delivered, last_error])
                .await?;
            Ok(true)
        }
    }

    /// Records one more attempt of a notification that is no longer claimed (a duplicate
    /// delivery): its count and its row of attempts, its status unchanged.
    fn record_extra_attempt(
        &mut self,
        notify_id: &str,
        now: i64,
        error: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let sql = "UPDATE notifications SET attempts = attempts + 1, last_error = $2, updated_at = $3 \
                       WHERE notify_id = $1";
            if self.execute(sql, &args![notify_id, error, now]).await? != 1 {
                return Ok(());
            }
            let sql = "INSERT INTO notification_attempts (notify_id, attempt, at, delivered, error) \
                       VALUES ($1, (SELECT attempts FROM notifications WHERE notify_id = $1), $2, $3, $4) \
                       ON CONFLICT DO NOTHING";
            self.execute(sql, &args![notify_id, now, error.is_none(), error])
                .await
                .map(drop)
        }
    }

    /// A notification's attempts, first first: (attempt, at, delivered, error).
    fn notification_attempts(
        &mut self,
        notify_id: &str,
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send {
        async move {
            let sql = "SELECT attempt, at, delivered, error FROM notification_attempts WHERE notify_id = $1 ORDER BY attempt";
            let rows = self.rows(sql, &args![notify_id]).await?;
            rows.into_iter()
                .map(|r| {
                    let mut c = r.cols();
                    Ok((c.int()?, c.int()?, c.int()?, c.opt_text()?))
                })
                .collect()
        }
    }

    /// Per outbox status: how many, and the oldest one's creation time.
    fn outbox_summary(
        &mut self,
    ) -> impl Future<Output = Result<Vec<(String, i64, i64)>, StoreError>> + Send {
        async move {
            let sql = "SELECT status, COUNT(*), MIN(created_at) FROM notifications GROUP BY status";
            let rows = self.rows(sql, &[]).await?;
            rows.into_iter()
                .map(|r| {
                    let mut c = r.cols();
                    Ok((c.text()?, c.int()?, c.int()?))
                })
                .collect()
        }
    }

    /// When the next pending notification is due, in real time, if any.
    fn next_notification_due(
        &mut self,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send {
        async move {
            // In real time: a notification's own time less its merchant's clock offset.
            let sql = "SELECT MIN(CASE WHEN claimed_until > due THEN claimed_until ELSE due END) FROM \
                       (SELECT claimed_until, next_attempt_at - COALESCE((SELECT offset_ms FROM test_clocks t \
                        WHERE t.merchant_pid = n.merchant_pid), 0) AS due FROM notifications n WHERE status = 'pending') d";
            Ok(one::<Option<i64>, _>(self, sql, &[]).await?.flatten())
        }
    }

    fn notifications(
        &mut self,
        status: Option<OutboxStatus>,
    ) -> impl Future<Output = Result<Vec<NotificationRow>, StoreError>> + Send {
        async move {
            let sql = format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE ($1 = '' OR status = $1) ORDER BY created_at, notify_id"
            );
            all(self, &sql, &args![status.map_or("", OutboxStatus::name)]).await
        }
    }

    fn notification(
        &mut self,
        notify_id: &str,
    ) -> impl Future<Output = Result<Option<NotificationRow>, StoreError>> + Send {
        async move {
            let sql =
                format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE notify_id = $1");
            one(self, &sql, &args![notify_id]).await
        }
    }

    /// Puts a notification back in the queue, due now. Its attempt count goes on (the resend is
    /// one more attempt; failing, it is parked again).
    fn requeue_notification(
        &mut self,
        notify_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let sql = "UPDATE notifications SET status = 'pending', next_attempt_at = $1, claimed_until = 0, \
                       claim_token = NULL, updated_at = $1 WHERE notify_id = $2";
            self.execute(sql, &args![now, notify_id]).await.map(drop)
        }
    }
}

impl<T: Tx> Outbox for T {}
