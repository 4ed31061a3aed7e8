//! The command line: `serve`, `admin …` and `call`.

use clap::{Parser, Subcommand};

use crate::config::StoreArgs;

mod admin;
mod app;

pub use admin::*;
pub use app::*;

#[derive(Debug, Parser)]
#[command(
    name = "ticketgate",
    version,
    about = "The Koubei ticket-code service (use, cancel, query) behind an Alipay-compatible, RSA-signed /gateway.do",
    propagate_version = true
)]
pub struct Cli {
    /// How log lines on stderr are written: `text` for people, `json` (one object a line, every
    /// field a key) for log collectors. Levels: RUST_LOG (default `info`; `debug` logs every
    /// call with its app, method, code and latency).
    #[arg(long, global = true, env = "TICKETGATE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway. On first start it creates the platform key pair and a demo tenant.
    Serve(ServeArgs),
    /// Manage tenants, items, tickets and keys. Prints one JSON object on stdout.
    Admin {
        #[command(flatten)]
        store: StoreArgs,
        /// Which notification addresses `app add` accepts, as for `serve` (the same variable).
        #[arg(long, global = true, env = "TICKETGATE_NOTIFY_TARGETS", default_value = "any", value_parser = crate::notify::targets::Targets::parse)]
        notify_targets: crate::notify::targets::Targets,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Receive notifications: print each as a JSON line on stdout, verify its signature with
    /// the platform public key (and say why when it does not verify), and answer `success` —
    /// or fail as told, to watch the retry schedule, duplicates and parking. Runs until
    /// interrupted.
    Receive(ReceiveArgs),
    /// Sign and send one call to a gateway, print the response node, and check its signature
    /// (exit status 2 if it does not verify).
    Call(CallArgs),
    /// Tools for the merchant's side of notifications.
    #[command(subcommand)]
    Notify(NotifyTool),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on (any address; port 80 works, for clients that cannot use
    /// another). Default 127.0.0.1:8080; with --ephemeral, port 80 on a free 127.x.y.z when it
    /// can be bound, else a free port.
    #[arg(long, env = "TICKETGATE_LISTEN")]
    pub listen: Option<String>,
    /// A throwaway node for a test suite: its own store in a temporary folder (removed on exit;
    /// --data and --database-url are not used), a free address, the demo tenant, and as the
    /// first line on stdout one JSON object with everything a client needs (gateway and
    /// console URLs, the console token, the app id and keys in the forms SDKs take, the
    /// platform public key, the merchant, shop and ticket codes, the folder).
    #[arg(long, env = "TICKETGATE_EPHEMERAL")]
    pub ephemeral: bool,
    /// Shut down (cleanly, as on SIGTERM) when standard input reaches its end: a test harness
    /// that starts the node with a pipe on stdin and dies, even by `kill -9`, takes the node
    /// (and an ephemeral node's folder) with it. The Python and Node helpers set it.
    #[arg(long, env = "TICKETGATE_EXIT_WITH_STDIN")]
    pub exit_with_stdin: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Do not create the demo tenant on first start.
    #[arg(long, env = "TICKETGATE_NO_DEMO")]
    pub no_demo: bool,
    /// Address of the web console (calls, tickets, notifications, tenants, clocks and faults),
    /// protected by the token in DATA/console_token (printed at start). Unless given, it is
    /// 127.0.0.1:8081 or, when that is taken, a free loopback port; the URL is written to
    /// DATA/console_url (`admin console url`). An address given here that cannot be bound is
    /// an error.
    #[arg(long, env = "TICKETGATE_CONSOLE_LISTEN")]
    pub console_listen: Option<String>,
    /// Do not serve the web console.
    #[arg(long, env = "TICKETGATE_NO_CONSOLE")]
    pub no_console: bool,
    /// How far a request's timestamp may be from the gateway's clock (GMT+8): `30m`, `1d`,
    /// or `off`. Lenient by default because most SDKs send the client's local time.
    #[arg(long, env = "TICKETGATE_TIMESTAMP_SKEW", default_value = "1d", value_parser = parse_skew)]
    pub timestamp_skew: Skew,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TICKETGATE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most calls per second per app on this node, answered `40005 isv.app-call-limited`
    /// beyond it (default: no limit).
    #[arg(long, env = "TICKETGATE_CALL_LIMIT", value_parser = clap::value_parser!(u32).range(1..))]
    pub call_limit: Option<u32>,
    /// Calls kept in the request log (`admin log`), in the database, from every node; 0 turns
    /// the log off.
    #[arg(long, env = "TICKETGATE_REQUEST_LOG_SIZE", default_value_t = 10_000)]
    pub request_log_size: usize,
    /// Longest wait for a request's headers; also closes a keep-alive connection idle that long.
    #[arg(long, env = "TICKETGATE_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub header_read_timeout: std::time::Duration,
    /// Longest wait for a request's body (answered `40002` when it does not arrive in time).
    #[arg(long, env = "TICKETGATE_BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub body_read_timeout: std::time::Duration,
    /// Most client connections open at once. At the limit a new connection closes the
    /// keep-alive connection idle longest; when none is idle it waits in the listen backlog.
    /// Keep it under the process's file-descriptor limit.
    #[arg(long, env = "TICKETGATE_MAX_CONNECTIONS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Most PostgreSQL connections this node opens.
    #[arg(long, env = "TICKETGATE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Waits between notification attempts: after the first failure 4m, then 10m, … and after
    /// the last, the notification is parked (`admin notify list --status parked`).
    #[arg(long, env = "TICKETGATE_NOTIFY_SCHEDULE", default_value = crate::notify::DEFAULT_SCHEDULE, value_parser = crate::notify::parse_schedule)]
    pub notify_schedule: Schedule,
    /// Timeout of one notification attempt.
    #[arg(long, env = "TICKETGATE_NOTIFY_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub notify_timeout: std::time::Duration,
    /// Where notifications may be sent: `any` (the default, for a sandbox whose receivers are
    /// on loopback), `public` (no loopback, private, link-local, multicast or unspecified
    /// address), or a comma-separated list of CIDRs and host names. A refused address literal
    /// in a call's notify_url is answered 40002; a host name is checked on the addresses it
    /// resolves to when an attempt connects, and a refused one fails that attempt.
    #[arg(long, env = "TICKETGATE_NOTIFY_TARGETS", default_value = "any", value_parser = crate::notify::targets::Targets::parse)]
    pub notify_targets: crate::notify::targets::Targets,
    /// Concurrent notification deliveries on this node (0: this node delivers none).
    #[arg(long, env = "TICKETGATE_NOTIFY_WORKERS", default_value_t = 4)]
    pub notify_workers: usize,
    /// Most writes SQLite commits in one transaction (each in its own savepoint).
    #[arg(long, env = "TICKETGATE_SQLITE_BATCH_MAX", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub sqlite_batch_max: u32,
    /// How long a request waits for a PostgreSQL connection before answering 20000.
    #[arg(long, env = "TICKETGATE_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_timeout)]
    pub db_acquire_timeout: std::time::Duration,
}

/// Retry waits in milliseconds.
pub type Schedule = Vec<i64>;

/// A timestamp skew limit in milliseconds, or none.
#[derive(Debug, Clone, Copy)]
pub struct Skew(pub Option<i64>);

/// A duration (`30s`, `2h`, `1d`, …) in milliseconds within `range`, else `hint` as the error.
fn duration_within(
    text: &str,
    range: std::ops::RangeInclusive<i64>,
    hint: &str,
) -> Result<i64, String> {
    match crate::config::parse_duration_ms(text)? {
        Some(ms) if range.contains(&ms) => Ok(ms),
        _ => Err(hint.into()),
    }
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    duration_within(
        text,
        1..=i64::MAX,
        "a timeout must be a positive duration such as 5s",
    )
    .map(|ms| std::time::Duration::from_millis(ms as u64))
}

/// How long something stays valid, in milliseconds; `None` for ever.
#[derive(Debug, Clone, Copy)]
pub struct Validity(pub Option<i64>);

fn parse_validity(text: &str) -> Result<Validity, String> {
    if text == "never" {
        return Ok(Validity(None));
    }
    duration_within(
        text,
        1..=i64::MAX,
        "a validity must be a positive duration such as 365d, or never",
    )
    .map(|ms| Validity(Some(ms)))
}

fn parse_skew(text: &str) -> Result<Skew, String> {
    crate::config::parse_duration_ms(text).map(Skew)
}

#[derive(Debug, Subcommand)]
pub enum NotifyTool {
    /// Test a notification handler: send it one genuine notification for the app (signed as
    /// this gateway signs them, in the app's charset and sign type), the same one again, and
    /// tampered ones (another key, no or empty sign, a field changed after signing, the other
    /// hash, another app_id); print what it answered each, whether that was right, a score
    /// and the likely mistakes. Exit status 1 when it acknowledged a tampered one or refused
    /// the genuine one.
    Probe(ProbeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The handler's address (the app's notify_url).
    #[arg(long)]
    pub url: String,
    /// The app whose notifications it handles.
    #[arg(long)]
    pub app_id: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: crate::config::StoreArgs,
}

#[derive(Debug, clap::Args)]
pub struct ReceiveArgs {
    /// Address and port to listen on; point notify_url (or the app's notify address) here.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// The platform public key notifications are signed with: a file, or the key itself
    /// (`ticketgate admin keys show`, or DATA/keys/alipay_public_key.pem).
    #[arg(long, value_name = "FILE_OR_KEY", allow_hyphen_values = true)]
    pub platform_public_key: String,
    /// Answer `fail` to the first N notifications.
    #[arg(long, default_value_t = 0)]
    pub fail: u64,
    /// Answer `fail` to each notification with this probability, 0 to 1.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Wait this long before answering (past the sender's timeout, 10s by default, it counts
    /// as a failed attempt).
    #[arg(long, default_value = "0s", value_parser = parse_delay)]
    pub delay: std::time::Duration,
    /// Answer this instead of `success` (anything else is a failed attempt to the sender).
    #[arg(long, default_value = "success")]
    pub answer: String,
    /// Acknowledge notifications whose signature does not verify too (by default they are
    /// answered `fail`, as a handler must answer them).
    #[arg(long)]
    pub accept_unverified: bool,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("a probability from 0 to 1, such as 0.3".into()),
    }
}

fn parse_delay(text: &str) -> Result<std::time::Duration, String> {
    duration_within(text, 0..=i64::MAX, "a duration such as 2s")
        .map(|ms| std::time::Duration::from_millis(ms as u64))
}

#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The method, e.g. koubei.trade.ticket.ticketcode.query.
    pub method: String,
    /// biz_content, a JSON object.
    pub biz_content: String,
    /// The gateway URL.
    #[arg(long, default_value = "http://127.0.0.1:8080/gateway.do")]
    pub gateway: String,
    #[arg(long)]
    pub app_id: String,
    /// The app's RSA private key: a file, or the key itself (PEM or bare base64, PKCS#1 or
    /// PKCS#8).
    #[arg(long, value_name = "FILE_OR_KEY", allow_hyphen_values = true)]
    pub private_key: String,
    /// The platform public key that responses are signed with: a file, or the key itself (PEM or
    /// bare base64).
    #[arg(long, value_name = "FILE_OR_KEY", allow_hyphen_values = true)]
    pub alipay_public_key: String,
    #[arg(long, default_value = "RSA2", value_parser = ["RSA2", "RSA"])]
    pub sign_type: String,
    #[arg(long, default_value = "utf-8", value_parser = ["utf-8", "gbk", "gb2312"])]
    pub charset: String,
    #[arg(long)]
    pub app_auth_token: Option<String>,
    #[arg(long)]
    pub notify_url: Option<String>,
    /// Encrypt biz_content with this AES key (base64; `encrypt_type=AES`) and decrypt the answer.
    #[arg(long, value_name = "BASE64")]
    pub encrypt_key: Option<String>,
    /// Also print, on stderr, the string signed and the request sent.
    #[arg(long, short)]
    pub verbose: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_valid() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn every_serve_flag_has_an_environment_variable() {
        let cli = super::Cli::command();
        let serve = cli.find_subcommand("serve").expect("serve");
        let missing: Vec<String> = serve
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .filter(|a| {
                a.get_env()
                    .is_none_or(|e| !e.to_string_lossy().starts_with("TICKETGATE_"))
            })
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "serve flags without TICKETGATE_…: {missing:?}"
        );
    }
}
