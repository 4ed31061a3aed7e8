//! `ticketgate admin …`: opening the store (never making one for a command that only reads),
//! carrying out the command, and its one JSON object and exit status.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::EXIT_REFUSED;
use crate::alipay::SignType;
use crate::cli::*;
use crate::config::StoreArgs;
use crate::operations::admin::{self, AdminError, Listing};
use crate::server;
use crate::store::StoreLimits;

fn read_file(path: &std::path::Path) -> Result<String, AdminError> {
    std::fs::read_to_string(path)
        .map_err(|e| AdminError::Invalid(format!("cannot read {}: {e}", path.display())))
}

/// The console's token and URL: files of the data folder, no store needed.
fn console_command(data: &std::path::Path, command: &ConsoleCommand) -> Result<Value, AdminError> {
    match command {
        ConsoleCommand::Token => crate::console::token(data)
            .map(|token| json!({"console_token": token, "file": crate::console::token_path(data)}))
            .map_err(|e| AdminError::Invalid(format!("cannot read or write the token: {e}"))),
        ConsoleCommand::Url => {
            let path = server::console_url_path(data);
            match std::fs::read_to_string(&path) {
                Ok(url) => Ok(json!({"console_url": url.trim(), "file": path})),
                Err(_) => Err(AdminError::NotFound(format!(
                    "a console URL in {} (a running serve writes it when its console starts)",
                    path.display()
                ))),
            }
        }
    }
}

pub(super) async fn admin(
    store_args: StoreArgs,
    notify_targets: crate::notify::targets::Targets,
    command: AdminCommand,
) -> ExitCode {
    if let AdminCommand::Console(console) = &command {
        return match console_command(&store_args.data, console) {
            Ok(value) => {
                println!("{value}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ticketgate admin: {e}");
                ExitCode::from(EXIT_REFUSED)
            }
        };
    }
    // A command that only reads never makes a store: a mistyped --data is said, not hidden
    // behind an empty answer.
    let create = !command.only_reads();
    let limits = StoreLimits::default();
    let mut svc = match server::open_service(&store_args, &limits, crate::clock::system(), create)
        .await
    {
        Ok(svc) => svc,
        Err(e) if matches!(e.downcast_ref(), Some(crate::store::StoreError::NoStore(_))) => {
            eprintln!(
                "ticketgate admin: {e:#}: `serve`, a command that writes, or `admin init` makes one"
            );
            return ExitCode::from(EXIT_REFUSED);
        }
        Err(e) => {
            eprintln!("ticketgate admin: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    svc.notify_targets = std::sync::Arc::new(notify_targets);
    if let AdminCommand::Init = command {
        println!(
            "{}",
            json!({"store": store_args.redacted_url(), "backend": svc.store.backend_name(), "data": store_args.data})
        );
        svc.store.close().await;
        return ExitCode::SUCCESS;
    }
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
        AdminCommand::Fixtures(_) | AdminCommand::Console(_) | AdminCommand::Init => {
            unreachable!("these need the data folder, handled above")
        }
        AdminCommand::Snapshot(SnapshotCommand::Save { name }) => {
            admin::snapshot_save(svc, &name).await
        }
        AdminCommand::Snapshot(SnapshotCommand::Restore { name }) => {
            admin::snapshot_restore(svc, &name).await
        }
        AdminCommand::Snapshot(SnapshotCommand::List) => admin::snapshot_list(svc).await,
        AdminCommand::Snapshot(SnapshotCommand::Delete { name }) => {
            admin::snapshot_delete(svc, &name).await
        }
        AdminCommand::Reset { yes } => {
            let mut answer = admin::reset(svc, yes).await?;
            // The demo tenant comes back at once, with the keys clients hold.
            match crate::demo::recreate(svc, data).await {
                Ok(Some(demo)) => {
                    answer["demo"] = serde_json::json!({
                        "app_id": demo["app_id"],
                        "app_private_key_file": demo["app_private_key_file"],
                        "tickets": demo["tickets"],
                    });
                    answer["next"] = "the demo tenant is back, with the same app id and key pair and new tickets".into();
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(AdminError::Invalid(format!(
                        "recreating the demo tenant: {e:#}"
                    )));
                }
            }
            Ok(answer)
        }
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
        AdminCommand::App(AppCommand::NotifyTwice { app_id, off }) => {
            admin::set_notify_twice(svc, &app_id, !off).await
        }
        AdminCommand::App(AppCommand::Methods(AppMethodsCommand::Set { app_id, methods })) => {
            admin::set_app_methods(svc, &app_id, &methods).await
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
            methods,
        }) => {
            let new = admin::NewApp {
                app_id: app_id.clone(),
                merchant_pid: merchant,
                public_key: read_file(&public_key)?,
                sign_type,
                charset,
                notify_url,
            };
            if let Some(list) = &methods {
                admin::check_methods(list)?;
            }
            let mut added = admin::add_app(svc, new).await?;
            if let Some(list) = &methods {
                added["methods"] =
                    admin::set_app_methods(svc, &app_id, list).await?["methods"].clone();
            }
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
            drop,
            latency,
        }) => {
            let new = admin::NewFault {
                method,
                app_id: app,
                ticket_code: ticket,
                answer: if drop {
                    Some(crate::sandbox::DROP.to_string())
                } else {
                    answer
                },
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
