//! ticketgate: the Koubei ticket-code service (use, cancel a use, query) behind a gateway that
//! speaks the Alipay Open Platform protocol.

/// Pure wire protocol: forms, charsets, sign content, RSA, the response envelope, codes.
pub mod alipay;
/// Handing memory freed by a large request back to the system.
pub mod alloc;
/// The command-line tree.
pub mod cli;
/// The client side of the protocol (`ticketgate call`, tests).
pub mod client;
/// The one source of "now": the system clock, or a settable one.
pub mod clock;
/// Shared settings: data folder, database URL, durations.
pub mod config;
/// The web console: its own listener, embedded pages, a JSON API over the admin operations.
pub mod console;
/// The demo tenant created on first start.
pub mod demo;
/// HTTP: `/gateway.do` → checks → dispatch → signed envelope.
pub mod gateway;
/// Generated identifiers.
pub mod ids;
/// Pure ticket rules.
pub mod ledger;
/// Counters for `GET /metrics`.
pub mod metrics;
/// Notifications: the outbox message and its delivery worker.
pub mod notify;
/// One file per operation: a transaction around a ledger decision.
pub mod operations;
/// `ticketgate receive`: a notification receiver that prints and verifies what it gets.
pub mod receive;
/// Carrying out a command line.
pub mod run;
/// Test clocks and injected faults, as every node sees them.
pub mod sandbox;
/// Starting and stopping a node.
pub mod server;
/// The only SQL: SQLite and PostgreSQL behind one API.
pub mod store;
