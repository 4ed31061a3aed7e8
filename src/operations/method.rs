//! What a gateway method is: the trait each operation file implements, below the operations
//! (which import it) and the method table (which lists them), so neither imports the other.

use std::future::Future;

use serde::Serialize;

use super::{CallContext, OpError, Service};
use crate::ledger::Refusal;
use crate::ledger::fields::Biz;

/// A gateway method.
pub trait Method: Send + Sync + 'static {
    /// The `method` parameter that names it.
    const NAME: &'static str;
    /// Whether it changes the ledger (and may queue a notification).
    const WRITES: bool;
    type Request: Send + Sync + 'static;
    /// The fields of its success node, in the order the spec lists them.
    type Answer: Serialize + Send;
    /// Reads `biz_content` into the typed request, or refuses it.
    fn parse(biz: &Biz) -> Result<Self::Request, Refusal>;
    /// Runs the operation.
    fn run(
        svc: &Service,
        ctx: &CallContext,
        req: Self::Request,
    ) -> impl Future<Output = Result<Self::Answer, OpError>> + Send;
}
