//! One integration-test binary: each test starts the real server and drives it over HTTP.

mod browser;
mod cancel;
mod cli;
mod concurrency;
mod crash;
mod delay;
mod doctor;
mod fuzz;
mod gateway;
mod helpers;
mod lifecycle;
mod log;
mod modes;
mod multinode;
mod notify;
mod pg;
mod query;
mod races;
mod receiver;
mod sandbox;
mod sdk;
mod store;
mod tidy;
mod upgrade;
mod use_;
