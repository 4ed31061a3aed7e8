//! Starting and stopping a node: open the store, make sure the platform key (and the demo
//! tenant) exist, bind, serve, shut down cleanly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// Where the web console listens.
    pub console: ConsoleListen,
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

/// Where the web console listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleListen {
    /// Not at all (`--no-console`).
    Off,
    /// [`DEFAULT_CONSOLE`], or a free loopback port when that address is taken (by another
    /// node on this machine, or by this node's own gateway): an optional listener never stops
    /// a node from starting.
    Default,
    /// Exactly this address (`--console-listen`): one that cannot be bound is an error.
    At(String),
}

/// The console's address unless told otherwise.
pub const DEFAULT_CONSOLE: &str = "127.0.0.1:8081";

/// The file a node writes its console's URL to (`admin console url` prints it).
pub fn console_url_path(data: &Path) -> PathBuf {
    data.join("console_url")
}

/// Binds the console's listener as `listen` says.
async fn bind_console(listen: &ConsoleListen) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let bind = |addr: String| async move {
        tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {addr} for the console: {e} (--no-console turns it off)"
            )
        })
    };
    Ok(match listen {
        ConsoleListen::Off => None,
        ConsoleListen::At(addr) => Some(bind(addr.clone()).await?),
        ConsoleListen::Default => match tokio::net::TcpListener::bind(DEFAULT_CONSOLE).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                let listener = bind("127.0.0.1:0".into()).await?;
                tracing::info!(
                    "the console's default address {DEFAULT_CONSOLE} is taken ({e}); it listens on {} instead",
                    listener.local_addr()?
                );
                Some(listener)
            }
        },
    })
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
    /// DATA/console_url and what this node wrote there (removed at a clean shutdown).
    console_url: Option<(PathBuf, String)>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    notify_stop: watch::Sender<bool>,
    notify_task: Option<JoinHandle<()>>,
}

/// Opens the store and keys, as every subcommand does before touching anything; with
/// `create`, the data folder and the store are made when missing, otherwise a missing store
/// is a `StoreError::NoStore` (inside the error's context) and nothing is made.
pub async fn open_service(
    store_args: &StoreArgs,
    pool: &StoreLimits,
    clock: SharedClock,
    create: bool,
) -> anyhow::Result<Service> {
    if create {
        std::fs::create_dir_all(&store_args.data)?;
    }
    let url = store_args.url();
    let opened = if create {
        Store::open(&url, pool).await
    } else {
        Store::open_existing(&url, pool).await
    };
    let store = opened.map_err(|e| {
        anyhow::Error::new(e).context(format!(
            "cannot open the store at {}",
            store_args.redacted_url()
        ))
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
        method_names: crate::operations::methods::NAMES.as_slice(),
        notify_targets: Default::default(),
    })
}

/// Starts a node and returns once it is accepting connections.
pub async fn start(config: ServeConfig) -> anyhow::Result<Running> {
    let mut svc = open_service(&config.store, &config.pool, config.clock.clone(), true).await?;
    svc.notify_targets = config.notify.targets.clone();
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    // Every listener is bound before anything serves: a node that cannot start never answers
    // `/ready`, not even for a moment.
    // The console's URL is on file, and its token made, before the node answers anything: a
    // script that waits for `/ready` finds both.
    let console = match bind_console(&config.console).await? {
        Some(listener) => {
            let url = format!("http://{}/", listener.local_addr()?);
            write_file(
                &console_url_path(&config.store.data),
                &format!("{url}\n"),
                false,
            )?;
            Some((listener, url, crate::console::token(&config.store.data)?))
        }
        None => None,
    };
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
    let (console_addr, console_task, console_url) = match console {
        None => (None, None, None),
        Some((listener, url, token)) => {
            let console_addr = listener.local_addr()?;
            let router = crate::console::router(
                svc.clone(),
                token.clone(),
                config.store.data.clone(),
                console_addr,
            );
            let mut stopped = notify_stop.subscribe();
            let task = tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.changed().await;
                    })
                    .await
            });
            if config.json_logs {
                tracing::info!(%url, "web console ready (token: admin console token)");
            } else {
                let line = format!("Web console: {url}  token: {token}\n");
                let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            }
            let written = (console_url_path(&config.store.data), format!("{url}\n"));
            (Some(console_addr), Some(task), Some(written))
        }
    };
    tracing::info!(%addr, backend = svc.store.backend_name(), "ticketgate is serving /gateway.do");
    Ok(Running {
        addr,
        service: svc,
        demo,
        console_addr,
        console_task,
        console_url,
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
        // Another node on the same folder may have written its own URL since: leave that.
        if let Some((path, ours)) = self.console_url.take()
            && std::fs::read_to_string(&path).is_ok_and(|now| now == ours)
        {
            let _ = std::fs::remove_file(path);
        }
        if let Some(task) = self.notify_task.take() {
            // An attempt in flight ends within its timeout; an abandoned claim expires anyway.
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        self.service.store.close().await;
        Ok(())
    }
}
