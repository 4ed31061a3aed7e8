//! A transaction on the writer's (or a reader's) rusqlite connection: the statements, and the
//! plan's effects applied one by one.

use super::*;

/// A transaction on a rusqlite connection, as the ledger's operations see it.
pub struct SyncTx<'c> {
    pub(super) conn: &'c mut Connection,
}

impl SyncTx<'_> {
    pub(super) fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params, row)
            .optional()?)
    }

    pub(super) fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map(params, row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
    }

    /// Executes a statement; a statement that must change one row and changed none is a
    /// conflict (as `INSERT … ON CONFLICT DO NOTHING` on a taken key).
    pub(super) fn change(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &'static str,
    ) -> Result<(), StoreError> {
        match self.conn.prepare_cached(sql)?.execute(params)? {
            1 => Ok(()),
            _ => Err(StoreError::Conflict(what)),
        }
    }

    pub(super) fn ticket(
        &self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
    ) -> Result<Option<TicketView>, StoreError> {
        let sql = &TICKET_BY_CODE[usize::from(code_type == CodeType::External)];
        self.one(
            sql,
            params![code, order_no.unwrap_or("")],
            tickets::ticket_view_from_rusqlite,
        )
    }

    pub(super) fn load_record(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.one(
            history::SELECT_IDEMPOTENCY,
            params![
                key.merchant_pid.as_str(),
                key.method,
                key.request_id.as_str()
            ],
            |r| Ok(history::record_from(r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    pub(super) fn shop(&self, merchant_pid: &str, shop_id: &str) -> Result<ShopFacts, StoreError> {
        let name = self.one(
            tenants::SELECT_SHOP_NAME,
            params![merchant_pid, shop_id],
            |r| r.get(0),
        )?;
        Ok(ShopFacts::named(shop_id, name))
    }

    pub(super) fn trans_of(&self, sql: &str, id: &str) -> Result<Vec<Trans>, StoreError> {
        self.all(sql, params![id], history::trans_from_rusqlite)
    }

    /// One of the single-ticket updates (`$1` the value, `$2` now, `$3` the voucher id) on a
    /// ticket this transaction loaded, so exactly one row changes.
    pub(super) fn update_loaded_ticket(
        &self,
        sql: &str,
        value: i64,
        voucher_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = self
            .conn
            .prepare_cached(sql)?
            .execute(params![value, now, voucher_id])?;
        tickets::changed_loaded_ticket(done as u64, voucher_id);
        Ok(())
    }

    pub(super) fn use_order(
        &self,
        merchant_pid: &str,
        request_id: &str,
    ) -> Result<Option<UseOrder>, StoreError> {
        self.one(
            history::SELECT_USE_ORDER,
            params![merchant_pid, request_id],
            history::use_order_from_rusqlite,
        )
    }

    pub(super) fn tickets_by_voucher(
        &self,
        voucher_ids: &[String],
    ) -> Result<Vec<Ticket>, StoreError> {
        let mut ids = voucher_ids.to_vec();
        ids.sort();
        ids.dedup();
        ids.iter()
            .map(|id| {
                self.one(
                    &TICKET_BY_VOUCHER,
                    params![id],
                    tickets::ticket_from_rusqlite,
                )?
                .ok_or(StoreError::Conflict("tickets.voucher_id"))
            })
            .collect()
    }

    /// Inserts tickets with one prepared statement (no round trip to save here); answers the
    /// codes inserted (a taken code or id is skipped).
    pub(super) fn insert_ticket_rows(
        &self,
        tickets: &[Ticket],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut statement = self.conn.prepare_cached(tickets::INSERT_TICKET)?;
        let mut inserted = Vec::with_capacity(tickets.len());
        for t in tickets {
            let done = statement.execute(params![
                t.voucher_id,
                t.code,
                t.code_type.name(),
                t.order_no,
                t.merchant_pid,
                t.item_id,
                t.total_quantity,
                t.available_quantity,
                i64::from(t.refunded),
                t.effect_at,
                t.expire_at,
                now
            ])?;
            if done == 1 {
                inserted.push(t.code.clone());
            }
        }
        Ok(inserted)
    }

    pub(super) fn apply_effect(&self, effect: &Effect, now: i64) -> Result<(), StoreError> {
        match effect {
            Effect::UseOrder(o) => self.change(
                history::INSERT_USE_ORDER,
                params![
                    o.use_order_id,
                    o.merchant_pid,
                    o.request_id,
                    o.channel.name(),
                    i64::from(o.closed),
                    o.ticket_code,
                    o.code_type.map_or("INVALID", CodeType::name),
                    o.order_no,
                    o.voucher_id,
                    o.quantity,
                    o.created_at
                ],
                history::USE_ORDER_KEY,
            ),
            Effect::Trans(t) => self.change(
                history::INSERT_TRANS,
                params![
                    t.trans_id,
                    t.voucher_id,
                    t.kind.name(),
                    t.quantity,
                    t.use_order_id,
                    t.reverses_trans_id,
                    t.expire_change.map(|c| c.0),
                    t.expire_change.map(|c| c.1),
                    t.created_at
                ],
                history::TRANS_KEY,
            ),
            Effect::Available { voucher_id, delta } => {
                self.update_loaded_ticket(tickets::ADD_AVAILABLE, *delta, voucher_id, now)
            }
            Effect::Expire {
                voucher_id,
                expire_at,
            } => self.update_loaded_ticket(tickets::SET_EXPIRE, *expire_at, voucher_id, now),
            Effect::Cancel(r) => self.change(
                history::INSERT_CANCEL,
                params![
                    r.cancel_id,
                    r.merchant_pid,
                    r.request_id,
                    r.use_order_id,
                    r.trans_id,
                    r.created_at
                ],
                history::CANCEL_KEY,
            ),
            Effect::Record(key, record) => {
                let (refused, answer) = history::record_columns(record);
                self.change(
                    history::INSERT_IDEMPOTENCY,
                    params![
                        key.merchant_pid.as_str(),
                        key.method,
                        key.request_id.as_str(),
                        record.fingerprint,
                        refused,
                        answer,
                        now
                    ],
                    history::IDEMPOTENCY_KEY,
                )
            }
            Effect::Order {
                order_no,
                merchant_pid,
                item_id,
            } => self.change(
                tickets::INSERT_ORDER,
                params![order_no, merchant_pid, item_id, now],
                "orders.order_no",
            ),
            Effect::Refunded { voucher_id } => {
                let done = self
                    .conn
                    .prepare_cached(codes::MARK_REFUNDED)?
                    .execute(params![now, voucher_id])?;
                tickets::changed_loaded_ticket(done as u64, voucher_id);
                Ok(())
            }
            Effect::Tickets(list) => {
                if self.insert_ticket_rows(list, now)?.len() != list.len() {
                    return Err(StoreError::Conflict("tickets (order_no, code)"));
                }
                Ok(())
            }
            Effect::Log(rows) => {
                let mut statement = self.conn.prepare_cached(codes::INSERT_LOG)?;
                for r in rows {
                    statement.execute(params![
                        r.id,
                        r.at,
                        r.app_id,
                        r.method,
                        i64::from(r.failed),
                        r.entry
                    ])?;
                }
                Ok(())
            }
            Effect::TrimLog { keep } => {
                self.conn
                    .prepare_cached(codes::TRIM_LOG)?
                    .execute(params![keep])?;
                Ok(())
            }
            Effect::SendOrder(o) => self.change(
                codes::INSERT_SEND_ORDER,
                params![
                    o.send_order_no,
                    o.order_no,
                    o.merchant_pid,
                    o.item_id,
                    o.app_id,
                    o.send_token,
                    o.quantity,
                    o.sent,
                    o.refunded,
                    o.closed_at,
                    o.close_reason,
                    now
                ],
                "send_orders.send_order_no",
            ),
            Effect::Sent {
                send_order_no,
                count,
            } => self.change(
                codes::ADD_SENT,
                params![count, now, send_order_no],
                "send_orders (open)",
            ),
            Effect::SendClosed {
                send_order_no,
                refunded,
                reason,
            } => self.change(
                codes::CLOSE_SEND,
                params![refunded, now, reason, send_order_no],
                "send_orders (open)",
            ),
            Effect::Notify(n) => self.change(
                notifications::INSERT_NOTIFICATION,
                params![
                    n.notify_id,
                    n.app_id,
                    n.url,
                    n.charset,
                    n.sign_type,
                    n.biz_type,
                    n.request_id,
                    n.fields,
                    n.status.name(),
                    n.attempts,
                    n.next_attempt_at,
                    n.last_error,
                    n.claimed_until,
                    n.claim_token,
                    n.created_at,
                    n.merchant_pid
                ],
                notifications::NOTIFICATION_KEY,
            ),
        }
    }
}
