//! The `ticketgate` binary: parse the command line, set up logging, run.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator, for the C libraries too (the `override`
/// feature: SQLite and OpenSSL allocate through it): glibc's per-thread arenas grew and shrank
/// their heaps with an `mprotect` — and a TLB flush on the other core — about once a call.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ticketgate::cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A node whose stderr is gone (the harness that started it died) keeps serving and
        // shuts down cleanly; the subscriber's own complaint would panic on the same pipe.
        .log_internal_errors(false);
    if cli.log_format == "json" {
        logs.json().flatten_event(true).init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(ticketgate::run::run(cli))
}
