//! The method table: every gateway method declared once — its name, whether it writes, how its
//! `biz_content` becomes a typed request, the operation it runs and its typed answer. The
//! gateway's "method exists" check and its dispatch both come from [`METHODS`].

use super::method::Method;
use super::{CallContext, OpError, Service};
use crate::ledger::fields::Biz;
use crate::store::BoxFuture;

type Handler =
    for<'a> fn(&'a Service, &'a CallContext, &'a Biz) -> BoxFuture<'a, Result<String, OpError>>;

/// One row of the method table.
pub struct Entry {
    pub name: &'static str,
    pub writes: bool,
    handler: Handler,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .field("writes", &self.writes)
            .finish()
    }
}

impl Entry {
    /// Parses, runs, and answers the success node's fields as compact JSON.
    pub async fn call(
        &self,
        svc: &Service,
        ctx: &CallContext,
        biz: &Biz,
    ) -> Result<String, OpError> {
        (self.handler)(svc, ctx, biz).await
    }
}

fn handle<'a, M: Method>(
    svc: &'a Service,
    ctx: &'a CallContext,
    biz: &'a Biz,
) -> BoxFuture<'a, Result<String, OpError>> {
    Box::pin(async move {
        let req = M::parse(biz)?;
        let answer = M::run(svc, ctx, req).await?;
        Ok(serde_json::to_string(&answer).expect("a typed answer always serialises"))
    })
}

const fn entry<M: Method>() -> Entry {
    Entry {
        name: M::NAME,
        writes: M::WRITES,
        handler: handle::<M>,
    }
}

/// Every method this gateway serves.
pub static METHODS: [Entry; 13] = [
    entry::<super::use_::Use>(),
    entry::<super::cancel::Cancel>(),
    entry::<super::query::Query>(),
    entry::<super::delay::Delay>(),
    entry::<super::refund::UsedRefund>(),
    entry::<super::order::OrderQuery>(),
    entry::<super::codes::Send>(),
    entry::<super::codes::CheckAvailable>(),
    entry::<super::codes::Sync>(),
    entry::<super::codes::SendClose>(),
    entry::<super::auth::TokenApp>(),
    entry::<super::auth::TokenAppQuery>(),
    entry::<super::certs::AlipayCertDownload>(),
];

/// The name of every method, in the table's order.
pub static NAMES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| METHODS.iter().map(|m| m.name).collect());

/// The table's row for a method name.
pub fn find(name: &str) -> Option<&'static Entry> {
    METHODS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_is_listed_once() {
        let mut names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
        assert!(find("koubei.trade.ticket.ticketcode.delay").is_some_and(|m| m.writes));
        assert!(find("koubei.trade.ticket.ticketcode.query").is_some_and(|m| !m.writes));
        assert!(find("koubei.trade.ticket.ticketcode.nope").is_none());
    }
}
