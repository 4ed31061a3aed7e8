//! The ticket rules, pure: what a use, a cancel, a query and a delay decide, given the facts the store
//! loaded and `now`. No IO, no clock, no randomness: the operations pass ids and time in.

pub mod cancel;
pub mod delay;
pub mod fields;
pub mod idempotency;
pub mod model;
pub mod names;
pub mod query;
pub mod refusal;
pub mod use_;

pub use model::*;
pub use refusal::Refusal;

#[cfg(test)]
mod tests;
