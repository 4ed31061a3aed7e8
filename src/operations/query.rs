//! A query (查询): the ticket as seen from a shop, with its transactions. Read-only.

use serde_json::{Map, Value};

use super::{Acting, OpError, Service};
use crate::ledger::fields::Biz;
use crate::ledger::{CodeType, ShopFacts, query};

pub async fn run(app: &Service, who: &Acting, biz: &Biz) -> Result<Map<String, Value>, OpError> {
    let req = query::parse(biz)?;
    let merchant_pid = who.merchant_pid.clone();
    let now = app.now_ms();
    let outcome = app
        .store
        .read(move |c| {
            let (req, merchant_pid) = (req.clone(), merchant_pid.clone());
            Box::pin(async move {
                let ticket = c
                    .ticket(CodeType::Internal, &req.ticket_code, None, false)
                    .await?;
                let view = match query::decide(&merchant_pid, ticket.as_ref()) {
                    Ok(view) => view,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let name = c.shop_name(&merchant_pid, &req.shop_id).await?;
                let shop = ShopFacts {
                    shop_id: req.shop_id.clone(),
                    known: name.is_some(),
                    name,
                };
                let trans = c.ticket_trans(&view.ticket.voucher_id).await?;
                Ok(Ok(query::answer(view, Some(&shop), &trans, now)))
            })
        })
        .await?;
    Ok(outcome?)
}
