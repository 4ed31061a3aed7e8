//! Client connections: the accept loop, its bound, and which connection gives way when the
//! bound is reached.
//!
//! At most `max_connections` are open. When a new one arrives at the limit, the connection
//! that has been idle longest (between requests on a keep-alive connection, or not yet sent its
//! first) is closed to admit it, as nginx and HAProxy do: a thousand idle connections cannot
//! keep a client with a call to make waiting. A connection in the middle of a request is never
//! closed; when every one is busy, the new one waits in the listen backlog.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;

use super::{Limits, respond};

/// One open connection, as the accept loop sees it.
struct Conn {
    /// Microseconds since [`Table::epoch`] when it last became idle, plus one; 0 while a request
    /// is being handled.
    idle_since: AtomicU64,
    /// Told to close (gracefully: a request it is reading or answering is finished first).
    close: tokio::sync::Notify,
}

/// Every open connection, by a number of its own.
struct Table {
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Table {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64 + 1
    }

    /// Tells the connection idle longest to close; false when none is idle.
    fn evict_longest_idle(&self) -> bool {
        let open = self.open.lock().expect("connection table lock");
        let idlest = open
            .values()
            .filter_map(|c| match c.idle_since.load(Ordering::Relaxed) {
                0 => None,
                since => Some((since, c)),
            })
            .min_by_key(|(since, _)| *since);
        match idlest {
            Some((_, conn)) => {
                // Marked busy so that the next eviction picks another.
                conn.idle_since.store(0, Ordering::Relaxed);
                conn.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Marks its connection idle again when the answer has been handed to hyper (also when the
/// request's future is dropped).
struct Busy {
    conn: Arc<Conn>,
    table: Arc<Table>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn
            .idle_since
            .store(self.table.now(), Ordering::Relaxed);
    }
}

/// Serves until `shutdown` resolves; in-flight requests are finished. Connections are bounded
/// (`max_connections`; at the limit the longest-idle one is closed to admit a new one, and when
/// none is idle new ones wait in the listen backlog), a request's headers must arrive within
/// `header_read_timeout` (which also closes a keep-alive connection idle that long), and a
/// client that half-closes after its request still gets its answer.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let table = Arc::new(Table {
        epoch: Instant::now(),
        open: Mutex::new(HashMap::new()),
    });
    let (closing, close) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next_id = 0u64;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // At the limit: make room by closing the longest-idle connection, or wait for
                // one to finish when all are busy.
                table.evict_longest_idle();
                tokio::select! {
                    permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let conn = Arc::new(Conn {
            idle_since: AtomicU64::new(table.now()),
            close: tokio::sync::Notify::new(),
        });
        table
            .open
            .lock()
            .expect("connection table lock")
            .insert(id, conn.clone());
        let service = dropping(router.clone(), conn.clone(), table.clone());
        let mut close = close.clone();
        let header_timeout = limits.header_read_timeout;
        let table = table.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .half_close(true);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = close.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
                () = conn.close.notified() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            table
                .open
                .lock()
                .expect("connection table lock")
                .remove(&id);
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// The router as hyper serves it, except that a response marked [`respond::DropConnection`]
/// is not sent: the service fails, and hyper closes the connection without writing a byte.
fn dropping(
    router: Router,
    conn: Arc<Conn>,
    table: Arc<Table>,
) -> impl hyper::service::Service<
    Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<Response, std::io::Error>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let mut router = router.clone();
        conn.idle_since.store(0, Ordering::Relaxed);
        let busy = Busy {
            conn: conn.clone(),
            table: table.clone(),
        };
        async move {
            let _busy = busy;
            let response = tower_service::Service::call(&mut router, request)
                .await
                .unwrap_or_else(|never| match never {});
            if response
                .extensions()
                .get::<respond::DropConnection>()
                .is_some()
            {
                return Err(std::io::Error::other(
                    "an injected fault drops the connection",
                ));
            }
            Ok(response)
        }
    })
}
