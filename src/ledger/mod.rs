//! The ticket rules, pure: what a use, a cancel and a query decide, given the facts the store
//! loaded and `now`. No IO, no clock, no randomness: the operations pass ids and time in.

pub mod cancel;
pub mod fields;
pub mod model;
pub mod query;
pub mod refusal;
pub mod use_;

pub use model::*;
pub use refusal::Refusal;

#[cfg(test)]
mod tests;
