//! `ticketgate admin …`: the operator's commands, one enum per noun.

use std::path::PathBuf;

use clap::Subcommand;

use super::app::AppCommand;
use super::{Validity, duration_within, parse_validity};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make the store (the data folder and its database, migrated) if there is none; says
    /// which. Commands that only read never make one.
    Init,
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
    /// and fault. The platform key stays, and a demo tenant (if there was one) is made again at
    /// once — a running node serves it from its next call — with the same app id and key pair
    /// and new tickets, which the output lists: an SDK configured once keeps working.
    Reset {
        /// Yes, delete it all.
        #[arg(long)]
        yes: bool,
    },
    /// Snapshots of the sandbox: everything a reset deletes, saved under a name and put back
    /// (the platform key and the sandbox CA stay as they are). Every running node serves a
    /// restored state by the time `restore` returns: start each test from the same state.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
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

impl AdminCommand {
    /// Whether the command only reads the store (then a missing store is an error, not made).
    pub fn only_reads(&self) -> bool {
        use AdminCommand as A;
        matches!(
            self,
            A::Merchant(MerchantCommand::List)
                | A::App(AppCommand::List { .. } | AppCommand::Show { .. })
                | A::Shop(ShopCommand::List { .. })
                | A::Item(ItemCommand::List { .. })
                | A::Order(OrderCommand::List { .. })
                | A::Ticket(TicketCommand::List { .. } | TicketCommand::Show { .. })
                | A::Keys(KeysCommand::Show)
                | A::Notify(NotifyCommand::List { .. })
                | A::Clock(ClockCommand::Show { .. })
                | A::Fault(FaultCommand::List)
                | A::Snapshot(SnapshotCommand::List)
                | A::Log { .. }
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save the current state under a name (1 to 32 letters, digits or `_`).
    Save {
        #[arg(long)]
        name: String,
    },
    /// Put a saved state back.
    Restore {
        #[arg(long)]
        name: String,
    },
    /// The saved snapshots.
    List,
    /// Delete a snapshot.
    Delete {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Print the console's token (made if there is none yet).
    Token,
    /// Print the URL of the console a running `serve` on this data folder listens on.
    Url,
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
    duration_within(
        text,
        1..=i64::MAX,
        "a positive duration such as 30d, 2h or 90s: clocks only move forward",
    )
}

fn parse_latency(text: &str) -> Result<i64, String> {
    duration_within(
        text,
        0..=crate::operations::admin::MAX_FAULT_LATENCY_MS,
        "a duration up to 60s, such as 2s or 500ms",
    )
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
        /// Close the client's connection without any answer instead — before the operation
        /// (nothing written) or, with --after-commit, after its commit (the effect is durable,
        /// the client sees a dead connection; a retry with the same request_id answers
        /// BIZ_ALREADY_SUCCESS).
        #[arg(long, conflicts_with = "answer")]
        drop: bool,
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
    /// Queue a parked or delivered notification again, due now (same notify_id; the attempt
    /// count goes on: failing, it is parked again).
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
