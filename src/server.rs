//! Starting and stopping a node: open the store, make sure the platform key (and the demo
//! tenant) exist, bind, serve, shut down cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::clock::SharedClock;
use crate::config::{StoreArgs, write_file};
use crate::demo;
use crate::gateway::{self, Limits};
use crate::notify::worker::{self, Deliverer};
use crate::operations::{Service, admin};
use crate::store::{Store, StoreLimits};

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: String,
    pub store: StoreArgs,
    pub demo: bool,
    /// Where the web console listens; `None`: no console.
    pub console: Option<String>,
    pub limits: Limits,
    pub pool: StoreLimits,
    /// Notification delivery; `workers: 0` leaves delivery to other nodes (or to tests).
    pub notify: worker::Settings,
    /// The ledger's clock: the system clock, or a settable one in tests.
    pub clock: SharedClock,
    /// Log lines on stderr are JSON (`--log-format json`): then what the node says on start
    /// goes through the log too, not as plain lines beside it.
    pub json_logs: bool,
}

/// A running node.
pub struct Running {
    pub addr: SocketAddr,
    pub service: Service,
    /// The demo tenant's description, when there is one.
    pub demo: Option<PathBuf>,
    /// Where the web console listens, when it does.
    pub console_addr: Option<SocketAddr>,
    console_task: Option<JoinHandle<std::io::Result<()>>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    notify_stop: watch::Sender<bool>,
    notify_task: Option<JoinHandle<()>>,
}

/// Opens the store and keys, as every subcommand does before touching anything.
pub async fn open_service(
    store_args: &StoreArgs,
    pool: &StoreLimits,
    clock: SharedClock,
) -> anyhow::Result<Service> {
    std::fs::create_dir_all(&store_args.data)?;
    let store = Store::open(&store_args.url(), pool).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open the store at {}: {e}",
            store_args.redacted_url()
        )
    })?;
    let platform_key = admin::platform_key(&store, clock.now_ms()).await?;
    let keys = store_args.data.join("keys");
    let public_pem = platform_key.public_key().to_pem();
    let public_path = keys.join("alipay_public_key.pem");
    if std::fs::read_to_string(&public_path).ok().as_deref() != Some(public_pem.as_str()) {
        write_file(
            &keys.join("alipay_private_key.pem"),
            &platform_key.to_pkcs1_pem(),
            true,
        )?;
        write_file(&public_path, &public_pem, false)?;
    }
    let sandbox = Arc::new(crate::sandbox::Sandbox::default());
    sandbox.refresh(&store).await?;
    Ok(Service {
        store,
        clock,
        platform_key,
        notify_wake: Default::default(),
        metrics: Default::default(),
        sandbox,
        ca: Default::default(),
    })
}

/// Starts a node and returns once it is accepting connections.
pub async fn start(config: ServeConfig) -> anyhow::Result<Running> {
    let svc = open_service(&config.store, &config.pool, config.clock.clone()).await?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let demo = if config.demo {
        demo::ensure(
            &svc,
            &config.store.data,
            &gateway_url(addr),
            config.json_logs,
        )
        .await?
    } else {
        None
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let router = gateway::router(svc.clone(), config.limits.clone());
    let task = tokio::spawn(gateway::serve(
        listener,
        router,
        async move {
            let _ = stopped.await;
        },
        config.limits.clone(),
    ));
    let (notify_stop, notify_stopped) = watch::channel(false);
    tokio::spawn(
        svc.sandbox
            .clone()
            .keep_fresh(svc.store.clone(), notify_stopped.clone()),
    );
    let notify_task = (config.notify.workers > 0).then(|| {
        let deliverer = Arc::new(
            Deliverer::with_metrics(
                svc.store.clone(),
                svc.platform_key.clone(),
                config.notify.clone(),
                svc.metrics.clone(),
            )
            .with_sandbox(svc.sandbox.clone()),
        );
        tokio::spawn(deliverer.run(svc.clock.clone(), svc.notify_wake.clone(), notify_stopped))
    });
    let (console_addr, console_task) = match &config.console {
        None => (None, None),
        Some(listen) => {
            let token = crate::console::token(&config.store.data)?;
            let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {listen} for the console: {e} (--no-console turns it off)"
                )
            })?;
            let console_addr = listener.local_addr()?;
            let router =
                crate::console::router(svc.clone(), token.clone(), config.store.data.clone());
            let mut stopped = notify_stop.subscribe();
            let task = tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.changed().await;
                    })
                    .await
            });
            if config.json_logs {
                tracing::info!(url = %format!("http://{console_addr}/"), "web console ready (token: admin console token)");
            } else {
                eprintln!("Web console: http://{console_addr}/  token: {token}");
            }
            (Some(console_addr), Some(task))
        }
    };
    tracing::info!(%addr, backend = svc.store.backend_name(), "ticketgate is serving /gateway.do");
    Ok(Running {
        addr,
        service: svc,
        demo,
        console_addr,
        console_task,
        stop: Some(stop),
        task,
        notify_stop,
        notify_task,
    })
}

/// The URL clients use for a listening address.
pub fn gateway_url(addr: SocketAddr) -> String {
    if addr.port() == 80 {
        format!("http://{}/gateway.do", addr.ip())
    } else {
        format!("http://{addr}/gateway.do")
    }
}

impl Running {
    /// Stops accepting, finishes in-flight requests, drains the writer and closes the store.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        let _ = self.notify_stop.send(true);
        if let Some(task) = self.console_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        if let Some(task) = self.notify_task.take() {
            // An attempt in flight ends within its timeout; an abandoned claim expires anyway.
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        self.service.store.close().await;
        Ok(())
    }
}
