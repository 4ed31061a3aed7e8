//! Carrying out a parsed command line (the operator's `admin` commands: `admin.rs`).

mod admin;
mod ephemeral;

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use crate::alipay::{Charset, PrivateKey, PublicKey, SignType};
use crate::cli::{CallArgs, Cli, Command, ReceiveArgs, ServeArgs};
use crate::client::Client;
use crate::gateway::Limits;
use crate::server::{self, ConsoleListen, ServeConfig};
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
        Command::Admin {
            store,
            notify_targets,
            command,
        } => admin::admin(store, notify_targets, command).await,
        Command::Call(args) => call(args).await,
        Command::Notify(crate::cli::NotifyTool::Probe(args)) => match probe(args).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("ticketgate notify probe: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Receive(args) => match receive(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ticketgate receive: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(mut args: ServeArgs, json_logs: bool) -> anyhow::Result<()> {
    let ephemeral = if args.ephemeral {
        let folder = ephemeral::folder()?;
        args.store = crate::config::StoreArgs {
            data: folder.clone(),
            database_url: None,
        };
        args.no_demo = false;
        Some(folder)
    } else {
        None
    };
    let listen = match (&args.listen, &ephemeral) {
        (Some(listen), _) => listen.clone(),
        (None, Some(_)) => ephemeral::address(),
        (None, None) => "127.0.0.1:8080".to_string(),
    };
    let config = ServeConfig {
        json_logs,
        listen,
        store: args.store,
        demo: !args.no_demo,
        console: match (args.no_console, args.console_listen) {
            (true, _) => ConsoleListen::Off,
            (false, Some(addr)) => ConsoleListen::At(addr),
            (false, None) => ConsoleListen::Default,
        },
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
            targets: std::sync::Arc::new(args.notify_targets),
        },
        pool: StoreLimits {
            max_connections: args.db_max_connections,
            acquire_timeout: args.db_acquire_timeout,
            sqlite_batch_max: args.sqlite_batch_max as usize,
        },
    };
    let running = match server::start(config).await {
        Ok(running) => running,
        Err(e) => {
            if let Some(folder) = &ephemeral {
                let _ = std::fs::remove_dir_all(folder);
            }
            return Err(e);
        }
    };
    if let Some(folder) = &ephemeral {
        ephemeral::announce(&running, folder)?;
    }
    if args.exit_with_stdin {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = stdin_closed() => tracing::info!("standard input closed"),
        }
    } else {
        shutdown_signal().await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
    let stopped = running.shutdown().await;
    if let Some(folder) = &ephemeral {
        let _ = std::fs::remove_dir_all(folder);
    }
    stopped
}

/// Returns when standard input reaches its end (or cannot be read); what is read is ignored.
async fn stdin_closed() {
    let (done, closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 512];
        let mut stdin = std::io::stdin().lock();
        while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
        let _ = done.send(());
    });
    let _ = closed.await;
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

/// `notify probe`: the report (`admin::notify_probe`) as a table or one JSON object; exit
/// status 1 when the handler failed it.
async fn probe(args: crate::cli::ProbeArgs) -> anyhow::Result<ExitCode> {
    let limits = crate::store::StoreLimits::default();
    let svc = server::open_service(&args.store, &limits, crate::clock::system(), false).await?;
    let report =
        crate::operations::admin::notify_probe(&svc, &args.store.data, &args.app_id, &args.url)
            .await;
    svc.store.close().await;
    let report = report.map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{report}");
    } else {
        print!("{}", report["table"].as_str().unwrap_or_default());
    }
    Ok(if report["passed"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn receive(args: ReceiveArgs) -> anyhow::Result<()> {
    let key = PublicKey::from_text(&file_or_text(&args.platform_public_key)?)
        .map_err(|e| anyhow::anyhow!("--platform-public-key: {}", e.0))?;
    let behaviour = crate::receive::Behaviour {
        fail_first: args.fail,
        fail_rate: args.fail_rate,
        delay: args.delay,
        answer: args.answer,
        accept_unverified: args.accept_unverified,
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
