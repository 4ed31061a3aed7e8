//! The ticket rules, pure: what every method decides, given the facts the store
//! loaded and `now`. No IO, no clock, no randomness: the operations pass ids and time in.

pub mod cancel;
pub mod codes;
pub mod delay;
pub mod fields;
pub mod idempotency;
pub mod model;
pub mod names;
pub mod order;
pub mod query;
pub mod refund;
pub mod refusal;
pub mod use_;

pub use model::*;
pub use refusal::Refusal;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
