//! The command line: `serve`, `admin …` and `call`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::StoreArgs;

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
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on (any address; port 80 works, for clients that cannot use
    /// another).
    #[arg(long, env = "TICKETGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Do not create the demo tenant on first start.
    #[arg(long, env = "TICKETGATE_NO_DEMO")]
    pub no_demo: bool,
    /// Address of the web console (calls, tickets, notifications, tenants, clocks and faults),
    /// protected by the token in DATA/console_token (printed at start).
    #[arg(
        long,
        env = "TICKETGATE_CONSOLE_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub console_listen: String,
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
    /// Most client connections open at once; more wait in the listen backlog. Keep it under
    /// the process's file-descriptor limit.
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

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    match crate::config::parse_duration_ms(text)? {
        Some(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms as u64)),
        _ => Err("a timeout must be a positive duration such as 5s".into()),
    }
}

/// How long something stays valid, in milliseconds; `None` for ever.
#[derive(Debug, Clone, Copy)]
pub struct Validity(pub Option<i64>);

fn parse_validity(text: &str) -> Result<Validity, String> {
    if text == "never" {
        return Ok(Validity(None));
    }
    match crate::config::parse_duration_ms(text)? {
        Some(ms) if ms > 0 => Ok(Validity(Some(ms))),
        _ => Err("a validity must be a positive duration such as 365d, or never".into()),
    }
}

fn parse_skew(text: &str) -> Result<Skew, String> {
    crate::config::parse_duration_ms(text).map(Skew)
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Merchants (a PID is 16 digits starting with 2088).
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Apps: an app id, its owner and the public key its calls are verified with.
    #[command(subcommand)]
    App(AppCommand),
    /// Shops of a merchant.
    #[command(subcommand)]
    Shop(ShopCommand),
    /// Items a merchant sells.
    #[command(subcommand)]
    Item(ItemCommand),
    /// Orders: issue tickets with internal codes, or register external codes.
    #[command(subcommand)]
    Order(OrderCommand),
    /// App auth tokens: let an ISV's app act for a merchant.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Look at a ticket, use it through the merchant console, or refund it.
    #[command(subcommand)]
    Ticket(TicketCommand),
    /// The platform ("Alipay") public key that clients verify responses with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Notifications: see what is pending, delivered or parked; send one again.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Load merchants, apps, shops, items and orders from a JSON file (see README, "Testing
    /// your integration"); entries that exist already are left alone, so loading twice is safe.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Delete every merchant, app, shop, item, order, ticket, notification, logged call, clock
    /// and fault. The platform key stays; the next `serve` creates the demo tenant again
    /// (unless --no-demo).
    Reset {
        /// Yes, delete it all.
        #[arg(long)]
        yes: bool,
    },
    /// Test clocks: move a merchant's time forward (validity, expiry, delay, transaction times
    /// and its notifications' schedule follow it; the request timestamp check stays on real
    /// time). Every running node obeys a change by the time the command returns.
    #[command(subcommand)]
    Clock(ClockCommand),
    /// The web console's token (what its login page asks for; the API takes it as
    /// `Authorization: Bearer TOKEN`).
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// Injected faults: make gateway calls fail (before or after their operation commits) or
    /// slow, on every node, until cleared or spent. None is ever active unless added here.
    #[command(subcommand)]
    Fault(FaultCommand),
    /// The request log: the latest gateway calls of every node, oldest first, one JSON object
    /// a line (time, app, acting merchant, method, parameters with secrets redacted, the string
    /// verified, the signature doctor's finding, the answer, the latency).
    Log {
        /// Only this app's calls.
        #[arg(long)]
        app: Option<String>,
        /// Only calls of this method.
        #[arg(long)]
        method: Option<String>,
        /// Only calls that were not answered 10000.
        #[arg(long)]
        failed: bool,
        /// How many of the latest calls.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        /// Keep printing calls as they come (until interrupted).
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Print the console's token (made if there is none yet).
    Token,
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Load a fixtures file. Apps without a public_key get a generated key pair; their private
    /// keys are written to DATA/keys/apps/.
    Load { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// Move a merchant's clock forward by a duration (`30d`, `2h`, `90s`, …). Notifications
    /// that fall due meanwhile are attempted at once, as if on schedule (advancing 25h takes a
    /// failing one through all its attempts to parked).
    Advance {
        #[arg(long)]
        merchant: String,
        #[arg(long, value_parser = parse_forward)]
        by: i64,
    },
    /// Set a merchant's clock to a time (`yyyy-MM-dd HH:mm:ss`, GMT+8), no earlier than it reads.
    Set {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        at: String,
    },
    /// What a merchant's clock reads (or, without --merchant, every test clock).
    Show {
        #[arg(long)]
        merchant: Option<String>,
    },
    /// Put a merchant back on real time (the one way a clock goes back).
    Reset {
        #[arg(long)]
        merchant: String,
    },
}

fn parse_forward(text: &str) -> Result<i64, String> {
    match crate::config::parse_duration_ms(text)? {
        Some(ms) if ms > 0 => Ok(ms),
        _ => Err("a positive duration such as 30d, 2h or 90s: clocks only move forward".into()),
    }
}

fn parse_latency(text: &str) -> Result<i64, String> {
    match crate::config::parse_duration_ms(text)? {
        Some(ms) if (0..=60_000).contains(&ms) => Ok(ms),
        _ => Err("a duration up to 60s, such as 2s or 500ms".into()),
    }
}

#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// Add a fault. The first fault (oldest) that matches a call applies: the call is answered
    /// with it and nothing is written; with --after-commit the operation runs and commits and
    /// then the answer is lost (`20000 isp.unknow-error` unless --answer says otherwise), which
    /// a retry with the same request_id recovers from (`BIZ_ALREADY_SUCCESS`).
    Add {
        /// The gateway method, e.g. koubei.trade.ticket.ticketcode.use.
        #[arg(long)]
        method: String,
        /// Only this app's calls.
        #[arg(long)]
        app: Option<String>,
        /// Only calls naming this ticket_code.
        #[arg(long)]
        ticket: Option<String>,
        /// `SUB_CODE` (a business refusal: 40004), `20000` (isp.unknow-error) or
        /// `CODE:SUB_CODE`, e.g. `40004:SYSTEM_ERROR`, `20001:aop.invalid-app-auth-token`.
        #[arg(long)]
        answer: Option<String>,
        /// Apply to this many calls, then stop (default: until cleared).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        times: Option<i64>,
        /// Run and commit the operation first, then answer the fault.
        #[arg(long)]
        after_commit: bool,
        /// Wait this long before answering (`2s`, `500ms`; at most 60s).
        #[arg(long, value_parser = parse_latency, default_value = "0s")]
        latency: i64,
    },
    /// Every fault, spent ones too, with how many calls each answered.
    List,
    /// Remove one fault, or (without an id) all of them.
    Clear { fault_id: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// List notifications, oldest first.
    List {
        #[arg(long, value_parser = ["pending", "delivered", "parked"])]
        status: Option<String>,
    },
    /// Queue a parked or delivered notification again (same notify_id, a fresh schedule).
    Resend { notify_id: String },
}

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Every merchant.
    List,
    Add {
        #[arg(long)]
        pid: String,
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Apps, of one merchant or all.
    List {
        #[arg(long)]
        merchant: Option<String>,
    },
    Add {
        #[arg(long)]
        app_id: String,
        /// The owning merchant's PID.
        #[arg(long)]
        merchant: String,
        /// The app's RSA public key: PEM or bare base64, SPKI or PKCS#1.
        #[arg(long)]
        public_key: PathBuf,
        #[arg(long, default_value = "RSA2", value_parser = ["RSA2", "RSA"])]
        sign_type: String,
        #[arg(long, default_value = "utf-8", value_parser = ["utf-8", "gbk", "gb2312"])]
        charset: String,
        /// Where notifications go when a call names no notify_url.
        #[arg(long)]
        notify_url: Option<String>,
        /// Also give it an AES content-encryption key (`encrypt_type=AES`); printed in base64.
        #[arg(long)]
        aes_key: bool,
        /// Certificate mode (公钥证书): issue it a certificate and write the three files an SDK
        /// is configured with to DATA/certs/APP_ID/ (see `app cert`).
        #[arg(long)]
        cert: bool,
    },
    /// Certificate mode: issue the app a certificate for its public key from the sandbox CA,
    /// and write appCertPublicKey_APP_ID.crt, alipayCertPublicKey_RSA2.crt and
    /// alipayRootCert.crt. Its calls must then carry app_cert_sn and alipay_root_cert_sn, and
    /// every answer carries alipay_cert_sn.
    Cert {
        #[arg(long)]
        app_id: String,
        /// Where the files go (default: DATA/certs/APP_ID).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Back to public-key mode.
        #[arg(long)]
        remove: bool,
    },
    /// Show an app: its merchant, sign type, charset, notify address, its public key for each
    /// sign type it has one for, and its AES key.
    Show {
        #[arg(long)]
        app_id: String,
    },
    /// The app's public key.
    #[command(subcommand)]
    Key(AppKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum AppKeyCommand {
    /// Set the app's public key for a sign type (calls signed with the old key stop verifying
    /// at once). An app has a key per sign type: a call in a type it has no key for is
    /// answered `40002 isv.missing-signature-config`.
    Set {
        #[arg(long)]
        app_id: String,
        /// The new RSA public key: PEM or bare base64, SPKI or PKCS#1.
        #[arg(long)]
        public_key: PathBuf,
        /// Which sign type it verifies (default: the app's own).
        #[arg(long, value_parser = ["RSA2", "RSA"])]
        sign_type: Option<String>,
    },
    /// Remove the app's key for the sign type other than its own.
    Remove {
        #[arg(long)]
        app_id: String,
        #[arg(long, value_parser = ["RSA2", "RSA"])]
        sign_type: String,
    },
    /// Give the app a new AES content-encryption key (printed in base64), or remove it.
    Aes {
        #[arg(long)]
        app_id: String,
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShopCommand {
    /// Shops, of one merchant or all.
    List {
        #[arg(long)]
        merchant: Option<String>,
    },
    Add {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        shop_id: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum ItemCommand {
    /// Items, of one merchant or all, with the code merchant app of those it has one for.
    List {
        #[arg(long)]
        merchant: Option<String>,
    },
    Add {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        item_id: String,
        #[arg(long)]
        name: String,
        /// Current price in yuan, e.g. 88.00.
        #[arg(long)]
        price: String,
        /// Original price in yuan (default: the price).
        #[arg(long)]
        original_price: Option<String>,
        #[arg(long)]
        alias: Option<String>,
        /// Make it a times card (次卡) with N uses.
        #[arg(long)]
        times: Option<i64>,
        /// Shops where it may be used (default: all of the merchant's).
        #[arg(long, value_delimiter = ',')]
        shops: Option<Vec<String>>,
        /// Start of validity, `yyyy-MM-dd[ HH:mm:ss]` GMT+8 (default: when issued).
        #[arg(long)]
        valid_from: Option<String>,
        /// End of validity (default: one year after the start).
        #[arg(long)]
        valid_to: Option<String>,
        /// Fulfilled by a code merchant (码商): this app issues the codes. An order of the item
        /// then waits for its codes (`koubei.trade.ticket.ticketcode.send`).
        #[arg(long, value_name = "APP_ID")]
        code_merchant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// The newest orders (of one item, or all), with how many tickets each has.
    List {
        #[arg(long)]
        item: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
    },
    /// Issue an order of tickets with generated 12-digit codes. For a code merchant's item:
    /// an order awaiting its codes (prints send_order_no and send_token; queues the send
    /// notification to the code merchant's app).
    Issue {
        #[arg(long)]
        item: String,
        /// How many tickets, 1 to 1,000,000: the bound keeps one order one transaction (a
        /// million take under a minute); more tickets are more orders (`admin fixtures load`).
        #[arg(long, default_value_t = 1)]
        tickets: usize,
        #[arg(long)]
        order_no: Option<String>,
    },
    /// Register the merchant's own codes (EXTERNAL_CODE) under an order number.
    External {
        #[arg(long)]
        item: String,
        #[arg(long)]
        order_no: String,
        #[arg(long = "code", required = true)]
        codes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Grant an app an app_auth_token to act for a merchant.
    Grant {
        #[arg(long)]
        app_id: String,
        #[arg(long)]
        merchant: String,
        /// How long the token is valid (`365d`, `1h`, … or `never`); calls with an expired
        /// token get `20001 aop.app-auth-token-time-out`.
        #[arg(long, default_value = "365d", value_parser = parse_validity)]
        expires_in: Validity,
        /// The methods the merchant authorises (default: all); others are answered `20001
        /// aop.invalid-app-auth-token-no-api`.
        #[arg(long, value_delimiter = ',')]
        methods: Option<Vec<String>>,
    },
    /// A one-time app_auth_code (valid 10 minutes), as the merchant's consent page gives an
    /// ISV: the ISV app exchanges it with `alipay.open.auth.token.app` (grant_type
    /// authorization_code) for an app_auth_token and a refresh token.
    Code {
        /// The merchant that consents.
        #[arg(long)]
        merchant: String,
        /// The ISV's app.
        #[arg(long)]
        app: String,
        /// The methods the merchant authorises (default: all).
        #[arg(long, value_delimiter = ',')]
        methods: Option<Vec<String>>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// An order's tickets, by code: quantities, validity, refunded or not.
    List {
        #[arg(long)]
        order: String,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
        limit: i64,
    },
    /// Show a ticket, its status and its transactions.
    Show {
        code: String,
        /// Names an external code (with its order).
        #[arg(long)]
        order_no: Option<String>,
    },
    /// Use a ticket through the merchant console (not cancellable through the gateway).
    Use {
        code: String,
        #[arg(long)]
        shop: String,
        #[arg(long)]
        quantity: Option<i64>,
        #[arg(long)]
        request_id: Option<String>,
        #[arg(long)]
        order_no: Option<String>,
    },
    /// Refund a ticket, used or not: it becomes REFUNDED with nothing left.
    Refund {
        code: String,
        #[arg(long)]
        order_no: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the platform public key (PEM).
    Show,
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
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("a probability from 0 to 1, such as 0.3".into()),
    }
}

fn parse_delay(text: &str) -> Result<std::time::Duration, String> {
    match crate::config::parse_duration_ms(text)? {
        Some(ms) if ms >= 0 => Ok(std::time::Duration::from_millis(ms as u64)),
        _ => Err("a duration such as 2s".into()),
    }
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
