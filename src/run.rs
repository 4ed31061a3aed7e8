//! Carrying out a parsed command line.

use std::io::Write;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::alipay::{Charset, PrivateKey, PublicKey, SignType};
use crate::cli::{
    AdminCommand, AppCommand, AppKeyCommand, AuthCommand, CallArgs, Cli, ClockCommand, Command,
    ConsoleCommand, FaultCommand, FixturesCommand, ItemCommand, KeysCommand, MerchantCommand,
    NotifyCommand, OrderCommand, ReceiveArgs, ServeArgs, ShopCommand, TicketCommand,
};
use crate::client::Client;
use crate::config::StoreArgs;
use crate::gateway::Limits;
use crate::operations::admin::{self, AdminError, Listing};
use crate::server::{self, ServeConfig};
use crate::store::StoreLimits;

/// Exit status for a bad argument, a duplicate or a refusal.
const EXIT_REFUSED: u8 = 2;

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => match serve(args, cli.log_format == "json").await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Admin { store, command } => admin(store, command).await,
        Command::Call(args) => call(args).await,
        Command::Receive(args) => match receive(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ticketgate receive: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(args: ServeArgs, json_logs: bool) -> anyhow::Result<()> {
    let config = ServeConfig {
        json_logs,
        listen: args.listen,
        store: args.store,
        demo: !args.no_demo,
        console: (!args.no_console).then_some(args.console_listen),
        clock: crate::clock::system(),
        limits: Limits {
            timestamp_skew_ms: args.timestamp_skew.0,
            max_body_bytes: args.max_body_bytes,
            call_limit_per_second: args.call_limit,
            request_log_size: args.request_log_size,
            header_read_timeout: args.header_read_timeout,
            body_read_timeout: args.body_read_timeout,
            max_connections: args.max_connections as usize,
        },
        notify: crate::notify::worker::Settings {
            schedule_ms: args.notify_schedule,
            timeout: args.notify_timeout,
            workers: args.notify_workers,
        },
        pool: StoreLimits {
            max_connections: args.db_max_connections,
            acquire_timeout: args.db_acquire_timeout,
            sqlite_batch_max: args.sqlite_batch_max as usize,
        },
    };
    let running = server::start(config).await?;
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn read_file(path: &std::path::Path) -> Result<String, AdminError> {
    std::fs::read_to_string(path)
        .map_err(|e| AdminError::Invalid(format!("cannot read {}: {e}", path.display())))
}

async fn admin(store_args: StoreArgs, command: AdminCommand) -> ExitCode {
    let svc =
        match server::open_service(&store_args, &StoreLimits::default(), crate::clock::system())
            .await
        {
            Ok(svc) => svc,
            Err(e) => {
                eprintln!("ticketgate admin: {e:#}");
                return ExitCode::FAILURE;
            }
        };
    if let AdminCommand::Log {
        app,
        method,
        failed,
        limit,
        follow,
    } = command
    {
        let filter = crate::store::LogFilter {
            app_id: app,
            method,
            failed_only: failed,
        };
        let printed = admin::print_log(&svc, &filter, limit, follow).await;
        svc.store.close().await;
        return match printed {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ticketgate admin: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let outcome = match command {
        AdminCommand::Console(ConsoleCommand::Token) => {
            crate::console::token(&store_args.data)
                .map(|token| json!({"console_token": token, "file": crate::console::token_path(&store_args.data)}))
                .map_err(|e| AdminError::Invalid(format!("cannot read or write the token: {e}")))
        }
        AdminCommand::Fixtures(FixturesCommand::Load { file }) => match read_file(&file) {
            Ok(text) => {
                let keys = store_args.data.join("keys").join("apps");
                admin::fixtures_load(&svc, &text, &keys).await
            }
            Err(e) => Err(e),
        },
        command => admin_command(&svc, &store_args.data, command).await,
    };
    svc.store.close().await;
    match outcome {
        Ok(value) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Err(AdminError::Store(e)) => {
            eprintln!("ticketgate admin: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("ticketgate admin: {e}");
            ExitCode::from(EXIT_REFUSED)
        }
    }
}

async fn admin_command(
    svc: &crate::operations::Service,
    data: &std::path::Path,
    command: AdminCommand,
) -> Result<Value, AdminError> {
    let certs_of = |app_id: &str| data.join("certs").join(app_id);
    match command {
        AdminCommand::Log { .. } => unreachable!("the log prints lines, handled above"),
        AdminCommand::Fixtures(_) | AdminCommand::Console(_) => {
            unreachable!("these need the data folder, handled above")
        }
        AdminCommand::Reset { yes } => admin::reset(svc, yes).await,
        AdminCommand::Merchant(MerchantCommand::List) => {
            admin::list(svc, Listing::Merchants, None, 0).await
        }
        AdminCommand::App(AppCommand::List { merchant }) => {
            admin::list(svc, Listing::Apps, merchant, 0).await
        }
        AdminCommand::Shop(ShopCommand::List { merchant }) => {
            admin::list(svc, Listing::Shops, merchant, 0).await
        }
        AdminCommand::Item(ItemCommand::List { merchant }) => {
            admin::list(svc, Listing::Items, merchant, 0).await
        }
        AdminCommand::Order(OrderCommand::List { item, limit }) => {
            admin::list(svc, Listing::Orders, item, limit).await
        }
        AdminCommand::Ticket(TicketCommand::List { order, limit }) => {
            admin::list(svc, Listing::Tickets, Some(order), limit).await
        }
        AdminCommand::Merchant(MerchantCommand::Add { pid, name }) => {
            admin::add_merchant(svc, &pid, &name).await
        }
        AdminCommand::App(AppCommand::Show { app_id }) => admin::show_app(svc, &app_id).await,
        AdminCommand::App(AppCommand::Key(AppKeyCommand::Set {
            app_id,
            public_key,
            sign_type,
        })) => {
            let sign_type = sign_type.as_deref().and_then(SignType::parse);
            admin::set_app_key(svc, &app_id, &read_file(&public_key)?, sign_type).await
        }
        AdminCommand::App(AppCommand::Key(AppKeyCommand::Remove { app_id, sign_type })) => {
            let sign_type = SignType::parse(&sign_type).expect("clap allows RSA2 and RSA only");
            admin::remove_app_key(svc, &app_id, sign_type).await
        }
        AdminCommand::App(AppCommand::Key(AppKeyCommand::Aes { app_id, remove })) => {
            admin::set_app_aes_key(svc, &app_id, remove).await
        }
        AdminCommand::App(AppCommand::Add {
            app_id,
            merchant,
            public_key,
            sign_type,
            charset,
            notify_url,
            aes_key,
            cert,
        }) => {
            let new = admin::NewApp {
                app_id: app_id.clone(),
                merchant_pid: merchant,
                public_key: read_file(&public_key)?,
                sign_type,
                charset,
                notify_url,
            };
            let mut added = admin::add_app(svc, new).await?;
            if aes_key {
                let aes = admin::set_app_aes_key(svc, &app_id, false).await?;
                added["aes_key"] = aes["aes_key"].clone();
            }
            if cert {
                added["certificate"] =
                    admin::app_cert(svc, &app_id, &certs_of(&app_id), false).await?;
            }
            Ok(added)
        }
        AdminCommand::App(AppCommand::Cert {
            app_id,
            out,
            remove,
        }) => {
            let dir = out.unwrap_or_else(|| certs_of(&app_id));
            admin::app_cert(svc, &app_id, &dir, remove).await
        }
        AdminCommand::Shop(ShopCommand::Add {
            merchant,
            shop_id,
            name,
        }) => admin::add_shop(svc, &merchant, &shop_id, &name).await,
        AdminCommand::Item(ItemCommand::Add {
            merchant,
            item_id,
            name,
            price,
            original_price,
            alias,
            times,
            shops,
            valid_from,
            valid_to,
            code_merchant,
        }) => {
            let new = admin::NewItem {
                merchant_pid: merchant,
                item_id,
                name,
                price,
                original_price,
                alias,
                times,
                shops,
                valid_from,
                valid_to,
                code_merchant,
            };
            admin::add_item(svc, new).await
        }
        AdminCommand::Order(OrderCommand::Issue {
            item,
            tickets,
            order_no,
        }) => admin::issue_order(svc, &item, tickets, order_no, None).await,
        AdminCommand::Order(OrderCommand::External {
            item,
            order_no,
            codes,
        }) => admin::issue_order(svc, &item, codes.len(), Some(order_no), Some(codes)).await,
        AdminCommand::Auth(AuthCommand::Grant {
            app_id,
            merchant,
            expires_in,
            methods,
        }) => {
            admin::grant_token_for(svc, &app_id, &merchant, expires_in.0, methods.as_deref()).await
        }
        AdminCommand::Auth(AuthCommand::Code {
            merchant,
            app,
            methods,
        }) => admin::auth_code(svc, &app, &merchant, methods.as_deref()).await,
        AdminCommand::Ticket(TicketCommand::Show { code, order_no }) => {
            admin::ticket_show(svc, &code, order_no).await
        }
        AdminCommand::Ticket(TicketCommand::Use {
            code,
            shop,
            quantity,
            request_id,
            order_no,
        }) => admin::ticket_use(svc, &code, order_no, &shop, quantity, request_id).await,
        AdminCommand::Ticket(TicketCommand::Refund { code, order_no }) => {
            admin::ticket_refund(svc, &code, order_no).await
        }
        AdminCommand::Notify(NotifyCommand::List { status }) => {
            admin::notify_list(svc, status).await
        }
        AdminCommand::Notify(NotifyCommand::Resend { notify_id }) => {
            admin::notify_resend(svc, &notify_id).await
        }
        AdminCommand::Clock(ClockCommand::Advance { merchant, by }) => {
            admin::clock_advance(svc, &merchant, by).await
        }
        AdminCommand::Clock(ClockCommand::Set { merchant, at }) => {
            admin::clock_set(svc, &merchant, &at).await
        }
        AdminCommand::Clock(ClockCommand::Show { merchant }) => {
            admin::clock_show(svc, merchant.as_deref()).await
        }
        AdminCommand::Clock(ClockCommand::Reset { merchant }) => {
            admin::clock_reset(svc, &merchant).await
        }
        AdminCommand::Fault(FaultCommand::Add {
            method,
            app,
            ticket,
            answer,
            times,
            after_commit,
            latency,
        }) => {
            let new = admin::NewFault {
                method,
                app_id: app,
                ticket_code: ticket,
                answer,
                times,
                after_commit,
                latency_ms: latency,
            };
            admin::fault_add(svc, new).await
        }
        AdminCommand::Fault(FaultCommand::List) => admin::fault_list(svc).await,
        AdminCommand::Fault(FaultCommand::Clear { fault_id }) => {
            admin::fault_clear(svc, fault_id.as_deref()).await
        }
        AdminCommand::Keys(KeysCommand::Show) => Ok(json!({
            "alipay_public_key": svc.platform_key.public_key().to_pem(),
        })),
    }
}

async fn receive(args: ReceiveArgs) -> anyhow::Result<()> {
    let key = PublicKey::from_text(&file_or_text(&args.platform_public_key)?)
        .map_err(|e| anyhow::anyhow!("--platform-public-key: {}", e.0))?;
    let behaviour = crate::receive::Behaviour {
        fail_first: args.fail,
        fail_rate: args.fail_rate,
        delay: args.delay,
        answer: args.answer,
    };
    crate::receive::run(&args.listen, key, behaviour).await
}

async fn call(args: CallArgs) -> ExitCode {
    match call_inner(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ticketgate call: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn call_inner(args: CallArgs) -> anyhow::Result<ExitCode> {
    let private_key = PrivateKey::from_text(&file_or_text(&args.private_key)?)
        .map_err(|e| anyhow::anyhow!("--private-key: {}", e.0))?;
    let alipay_key = PublicKey::from_text(&file_or_text(&args.alipay_public_key)?)
        .map_err(|e| anyhow::anyhow!("--alipay-public-key: {}", e.0))?;
    let sign_type = SignType::parse(&args.sign_type).expect("clap allows RSA2 and RSA only");
    let charset = Charset::parse(&args.charset).expect("clap allows known charsets only");
    serde_json::from_str::<serde_json::Map<String, Value>>(&args.biz_content)
        .map_err(|e| anyhow::anyhow!("BIZ_JSON is not a JSON object: {e}"))?;
    let mut client = Client::new(
        &args.gateway,
        &args.app_id,
        private_key,
        alipay_key,
        sign_type,
        charset,
    );
    if let Some(key) = &args.encrypt_key {
        let key = crate::alipay::aes::AesKey::from_base64(key).ok_or_else(|| {
            anyhow::anyhow!("--encrypt-key: not base64 of a 16, 24 or 32-byte AES key")
        })?;
        client = client.with_aes(key);
    }
    let mut extra = Vec::new();
    if let Some(token) = &args.app_auth_token {
        extra.push(("app_auth_token", token.as_str()));
    }
    if let Some(url) = &args.notify_url {
        extra.push(("notify_url", url.as_str()));
    }
    let params = client.sign(client.params(&args.method, &args.biz_content, &extra));
    if args.verbose {
        let signed =
            crate::alipay::sign::content(&params, crate::alipay::sign::REQUEST_WITH_EMPTIES);
        eprintln!(
            "string signed ({}, {}):\n{signed}",
            sign_type.name(),
            charset.name()
        );
        eprintln!(
            "request: POST {}\n{}",
            args.gateway,
            crate::alipay::sign::signed_form(&params, charset)
        );
    }
    let reply = client.send(&args.method, &params).await?;
    if args.verbose {
        eprintln!("answer:\n{}", reply.body);
    }
    // `call … | head` closes the pipe early: that is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{}", serde_json::to_string_pretty(&reply.node)?)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    if reply.verified {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "ticketgate call: the response signature does NOT verify with the given platform public key: {}",
            client.why_unverified(&reply)
        );
        Ok(ExitCode::from(2))
    }
}

/// A key argument: the contents of the file it names, or else the text itself.
fn file_or_text(arg: &str) -> anyhow::Result<String> {
    let path = std::path::Path::new(arg);
    if path.is_file() {
        return Ok(std::fs::read_to_string(path)?);
    }
    let text = arg.trim();
    // A key in bare base64 is hundreds of characters with no space; a path is not.
    if text.starts_with("-----BEGIN") || (text.len() > 200 && !text.contains(char::is_whitespace)) {
        return Ok(arg.to_string());
    }
    anyhow::bail!("{arg}: no such file, and not a key in PEM or base64")
}
