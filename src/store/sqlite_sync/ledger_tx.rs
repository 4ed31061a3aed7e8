//! The ledger's operation-level API on a synchronous transaction: every method does its work
//! at once, so an operation's future completes in one poll.

use super::*;
use crate::store::ledger::already_loaded;

impl LedgerTx for SyncTx<'_> {
    async fn use_facts(
        &mut self,
        key: &Key,
        req: Option<&UseRequest>,
    ) -> Result<UseFacts, StoreError> {
        let Some(req) = req else {
            return Ok(UseFacts {
                recorded: self.load_record(key)?,
                ..UseFacts::default()
            });
        };
        let order_no = req.order_no.as_ref().map(|o| o.as_str());
        let ticket = self.ticket(req.code_type, req.ticket_code.as_str(), order_no)?;
        let recorded = self.load_record(key)?;
        if recorded.is_some() {
            return Ok(UseFacts {
                recorded,
                ticket,
                ..UseFacts::default()
            });
        }
        let shop = self.shop(key.merchant_pid.as_str(), req.shop_id.as_str())?;
        let siblings = match &ticket {
            Some(v) if !v.is_times_card() && req.quantity.unwrap_or(1) > 1 => {
                let t = &v.ticket;
                self.all(
                    &SIBLINGS,
                    params![t.order_no, t.item_id, t.voucher_id],
                    tickets::ticket_from_rusqlite,
                )?
            }
            _ => Vec::new(),
        };
        Ok(UseFacts {
            recorded,
            ticket,
            shop: Some(shop),
            siblings,
        })
    }

    async fn cancel_facts(
        &mut self,
        key: &Key,
        req: &CancelRequest,
    ) -> Result<CancelLoaded, StoreError> {
        let order_no = req.order_no.as_ref().map(|o| o.as_str());
        let mut loaded = CancelLoaded {
            ticket: self.ticket(req.code_type, req.ticket_code.as_str(), order_no)?,
            recorded: self.load_record(key)?,
            ..CancelLoaded::default()
        };
        if loaded.recorded.is_some() {
            return Ok(loaded);
        }
        loaded.use_order = self.use_order(key.merchant_pid.as_str(), &req.request_biz_no)?;
        if let Some(order) = loaded.use_order.as_ref().filter(|o| !o.closed) {
            let cancelled = self.one(&CANCEL_OF_USE, params![order.use_order_id], |_| Ok(()))?;
            loaded.already_cancelled = cancelled.is_some();
            let refunded = self.one(
                &history::REFUNDED_AFTER_USE,
                params![order.use_order_id],
                |r| r.get::<_, i64>(0),
            )?;
            loaded.refunded_use = refunded.is_some_and(|n| n != 0);
            loaded.uses = self
                .trans_of(&USES_OF_ORDER, &order.use_order_id)?
                .into_iter()
                .map(|t| (t.voucher_id, t.trans_id, t.quantity))
                .collect();
            let vouchers: Vec<String> = loaded.uses.iter().map(|u| u.0.clone()).collect();
            loaded.use_tickets = match already_loaded(loaded.ticket.as_ref(), &vouchers) {
                Some(tickets) => tickets,
                None => self.tickets_by_voucher(&vouchers)?,
            };
        }
        Ok(loaded)
    }

    async fn delay_facts(
        &mut self,
        key: &Key,
        req: &DelayRequest,
    ) -> Result<DelayFacts, StoreError> {
        let order_no = (req.code_type == CodeType::External).then(|| req.order_no.as_str());
        Ok(DelayFacts {
            ticket: self.ticket(req.code_type, req.ticket_code.as_str(), order_no)?,
            recorded: self.load_record(key)?,
        })
    }

    async fn query_facts(
        &mut self,
        merchant_pid: &MerchantPid,
        req: &QueryRequest,
    ) -> Result<QueryFacts, StoreError> {
        let Some(view) = self.ticket(CodeType::Internal, req.ticket_code.as_str(), None)? else {
            return Ok(QueryFacts::default());
        };
        let shop = self.shop(merchant_pid.as_str(), req.shop_id.as_str())?;
        let trans = self.trans_of(&TRANS_OF_TICKET, &view.ticket.voucher_id)?;
        Ok(QueryFacts {
            ticket: Some(view),
            shop: Some(shop),
            trans,
        })
    }

    async fn caller_facts(
        &mut self,
        app_id: &str,
        token: Option<&str>,
    ) -> Result<CallerFacts, StoreError> {
        let app = self.one(
            tenants::SELECT_APP,
            params![app_id],
            tenants::app_from_rusqlite,
        )?;
        let grant = match token {
            Some(token) => self.one(tenants::SELECT_TOKEN, params![token, app_id], |r| {
                Ok(tenants::Grant {
                    merchant_pid: r.get(0)?,
                    expires_at: r.get(1)?,
                    methods: r.get(2)?,
                    revoked_at: r.get(3)?,
                })
            })?,
            None => None,
        };
        Ok((app, grant))
    }

    async fn issue_facts(
        &mut self,
        item_id: &str,
        order_no: &str,
    ) -> Result<(Option<Item>, Option<String>), StoreError> {
        let item = self.one(
            tickets::SELECT_ITEM,
            params![item_id],
            tickets::item_from_rusqlite,
        )?;
        let order_item = self.one(tickets::SELECT_ORDER_ITEM, params![order_no], |r| r.get(0))?;
        Ok((item, order_item))
    }

    async fn insert_tickets(
        &mut self,
        tickets: &[Ticket],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.insert_ticket_rows(tickets, now)
    }

    async fn locked_ticket(
        &mut self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
    ) -> Result<Option<TicketView>, StoreError> {
        self.ticket(code_type, code, order_no)
    }

    async fn locked_ticket_of_voucher(
        &mut self,
        voucher_id: &str,
    ) -> Result<Option<TicketView>, StoreError> {
        self.one(
            &TICKET_OF_VOUCHER,
            params![voucher_id],
            tickets::ticket_view_from_rusqlite,
        )
    }

    async fn record(&mut self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.load_record(key)
    }

    async fn trans_by_id(&mut self, trans_id: &str) -> Result<Option<Trans>, StoreError> {
        self.one(
            &TRANS_BY_ID,
            params![trans_id],
            history::trans_from_rusqlite,
        )
    }

    async fn history(&mut self, voucher_id: &str) -> Result<Vec<Trans>, StoreError> {
        self.trans_of(&TRANS_OF_TICKET, voucher_id)
    }

    async fn shop_facts(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<ShopFacts, StoreError> {
        self.shop(merchant_pid, shop_id)
    }

    async fn order_facts(&mut self, order_no: &str) -> Result<OrderFacts, StoreError> {
        let Some(order) = self.one(
            codes::SELECT_ORDER,
            params![order_no],
            codes::order_from_rusqlite,
        )?
        else {
            return Ok(OrderFacts::default());
        };
        Ok(OrderFacts {
            item: self.one(
                tickets::SELECT_ITEM,
                params![order.item_id],
                tickets::item_from_rusqlite,
            )?,
            tickets: self.all(
                &ORDER_TICKETS,
                params![order_no],
                tickets::ticket_from_rusqlite,
            )?,
            trans: self.trans_of(&ORDER_TRANS, order_no)?,
            send: self.one(
                codes::SEND_ORDER_SELECT,
                params![order_no],
                codes::send_order_from_rusqlite,
            )?,
            order: Some(order),
        })
    }

    async fn locked_send_order(&mut self, order_no: &str) -> Result<Option<SendOrder>, StoreError> {
        self.one(
            codes::SEND_ORDER_SELECT,
            params![order_no],
            codes::send_order_from_rusqlite,
        )
    }

    async fn codes_of_order(&mut self, order_no: &str) -> Result<Vec<String>, StoreError> {
        self.all(codes::CODES_OF_ORDER, params![order_no], |r| r.get(0))
    }

    async fn code_merchant(&mut self, item_id: &str) -> Result<Option<AppRecord>, StoreError> {
        let Some(app_id) =
            self.one::<String>(codes::SELECT_CODE_MERCHANT, params![item_id], |r| r.get(0))?
        else {
            return Ok(None);
        };
        self.one(
            tenants::SELECT_APP,
            params![app_id],
            tenants::app_from_rusqlite,
        )
    }

    async fn merchant_apps(&mut self, merchant_pid: &str) -> Result<Vec<AppRecord>, StoreError> {
        self.all(
            tenants::SELECT_MERCHANT_APPS,
            params![merchant_pid],
            tenants::app_from_rusqlite,
        )
    }

    async fn apply(&mut self, plan: &Plan) -> Result<(), StoreError> {
        for effect in &plan.effects {
            self.apply_effect(effect, plan.now)?;
        }
        Ok(())
    }
}
