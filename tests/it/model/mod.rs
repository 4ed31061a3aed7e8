//! The ledger held to a model. `reference.rs` is a small model of tickets, uses, cancels,
//! refunds, delays, syncs, send orders and orders, written for the tests from the published
//! rules (docs/protocol.md) and independently of `src/ledger/`: for any sequence of calls it
//! says what each answer must be and what state follows. `sim.rs` sends seeded random
//! sequences of every gateway method and the admin writes to a real server over HTTP,
//! compares each answer with the model's, checks the invariants after every step, and
//! shrinks a failing sequence to the shortest that still fails.

mod found;
mod reference;
mod run;
mod sim;
