//! The notification outbox.

use sqlx::FromRow;

use super::{Conn, StoreError, inserted};

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

impl TryFrom<String> for OutboxStatus {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        OutboxStatus::parse(&text).ok_or_else(|| format!("unknown outbox status {text:?}"))
    }
}

/// One outbox row.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
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
    #[sqlx(try_from = "String")]
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

/// What a taken key of `INSERT_NOTIFICATION` is called, in its conflict.
pub(in crate::store) const NOTIFICATION_KEY: &str = "notifications.notify_id";
pub(in crate::store) const INSERT_NOTIFICATION: &str = "INSERT INTO notifications (notify_id, app_id, url, charset, sign_type, biz_type, request_id, fields, \
                   status, attempts, next_attempt_at, last_error, claimed_until, claim_token, created_at, updated_at, merchant_pid) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16) ON CONFLICT DO NOTHING";

impl Conn<'_> {
    pub async fn insert_notification(&mut self, n: &NotificationRow) -> Result<(), StoreError> {
        let done = execute!(
            self,
            bind_notification!(sqlx::query(INSERT_NOTIFICATION), n)
        )?;
        inserted(done, NOTIFICATION_KEY)
    }

    /// Claims the most overdue pending notification until `lease_until` under `token`: due
    /// when its time has come by its merchant's clock (real time plus the merchant's test clock
    /// offset; `max_offset` is the largest offset, which lets the index bound the search).
    /// On PostgreSQL, rows other nodes are claiming are skipped, not waited for.
    pub async fn claim_notification(
        &mut self,
        now: i64,
        lease_until: i64,
        token: &str,
        max_offset: i64,
    ) -> Result<Option<NotificationRow>, StoreError> {
        let pick = "SELECT notify_id FROM notifications n WHERE status = 'pending' AND next_attempt_at <= $1 + $4 \
                    AND next_attempt_at - COALESCE((SELECT offset_ms FROM test_clocks t WHERE t.merchant_pid = n.merchant_pid), 0) <= $1 \
                    AND claimed_until <= $1 ORDER BY next_attempt_at, notify_id LIMIT 1";
        let sql = |lock: &str| {
            format!(
                "UPDATE notifications SET claimed_until = $2, claim_token = $3, updated_at = $1 \
                 WHERE notify_id = ({pick}{lock}) RETURNING {NOTIFICATION_COLUMNS}"
            )
        };
        let row = match self {
            Conn::Sqlite(c) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql("")))
                    .bind(now)
                    .bind(lease_until)
                    .bind(token)
                    .bind(max_offset)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Conn::Pg(c) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql(" FOR UPDATE SKIP LOCKED")))
                    .bind(now)
                    .bind(lease_until)
                    .bind(token)
                    .bind(max_offset)
                    .fetch_optional(&mut **c)
                    .await?
            }
        };
        Ok(row)
    }

    /// Records an attempt's outcome, if the claim is still ours. Returns whether it was.
    pub async fn finish_notification(
        &mut self,
        notify_id: &str,
        token: &str,
        status: OutboxStatus,
        next_attempt_at: i64,
        last_error: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE notifications SET status = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3, \
                   claimed_until = 0, claim_token = NULL, updated_at = $4 WHERE notify_id = $5 AND claim_token = $6";
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(status.name())
                .bind(next_attempt_at)
                .bind(last_error)
                .bind(now)
                .bind(notify_id)
                .bind(token)
        )?;
        if done != 1 {
            return Ok(false);
        }
        let sql = "INSERT INTO notification_attempts (notify_id, attempt, at, delivered, error) \
                   VALUES ($1, (SELECT attempts FROM notifications WHERE notify_id = $1), $2, $3, $4) \
                   ON CONFLICT DO NOTHING";
        execute!(
            self,
            sqlx::query(sql)
                .bind(notify_id)
                .bind(now)
                .bind(i64::from(status == OutboxStatus::Delivered))
                .bind(last_error)
        )?;
        Ok(true)
    }

    /// A notification's attempts, first first: (attempt, at, delivered, error).
    pub async fn notification_attempts(
        &mut self,
        notify_id: &str,
    ) -> Result<Vec<(i64, i64, i64, Option<String>)>, StoreError> {
        let sql = "SELECT attempt, at, delivered, error FROM notification_attempts WHERE notify_id = $1 ORDER BY attempt";
        Ok(on!(self, |c| sqlx::query_as(sql)
            .bind(notify_id)
            .fetch_all(&mut **c)
            .await)?)
    }

    /// When the next pending notification is due, if any.
    /// Per outbox status: how many, and the oldest one's creation time.
    pub async fn outbox_summary(&mut self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let sql = "SELECT status, COUNT(*), MIN(created_at) FROM notifications GROUP BY status";
        Ok(on!(self, |c| sqlx::query_as(sql)
            .fetch_all(&mut **c)
            .await)?)
    }

    pub async fn next_notification_due(&mut self) -> Result<Option<i64>, StoreError> {
        // In real time: a notification's own time less its merchant's clock offset.
        let sql = "SELECT MIN(CASE WHEN claimed_until > due THEN claimed_until ELSE due END) FROM \
                   (SELECT claimed_until, next_attempt_at - COALESCE((SELECT offset_ms FROM test_clocks t \
                    WHERE t.merchant_pid = n.merchant_pid), 0) AS due FROM notifications n WHERE status = 'pending') d";
        let row: (Option<i64>,) = on!(self, |c| sqlx::query_as(sql).fetch_one(&mut **c).await)?;
        Ok(row.0)
    }

    pub async fn notifications(
        &mut self,
        status: Option<OutboxStatus>,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE ($1 = '' OR status = $1) ORDER BY created_at, notify_id"
        );
        let status = status.map_or("", OutboxStatus::name);
        Ok(on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(status)
        .fetch_all(&mut **c)
        .await)?)
    }

    pub async fn notification(
        &mut self,
        notify_id: &str,
    ) -> Result<Option<NotificationRow>, StoreError> {
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE notify_id = $1");
        Ok(on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(notify_id)
        .fetch_optional(&mut **c)
        .await)?)
    }

    /// Puts a notification back in the queue, due now, with a fresh schedule.
    pub async fn requeue_notification(
        &mut self,
        notify_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = $1, claimed_until = 0, \
                   claim_token = NULL, updated_at = $1 WHERE notify_id = $2";
        execute!(self, sqlx::query(sql).bind(now).bind(notify_id))?;
        Ok(())
    }
}
