//! The web console: served by `serve` on its own listener (`--console-listen`), assets embedded
//! in the binary, protected by a token kept in the data folder. Pages are one HTML document
//! with a script that reads the JSON API below; the API calls the same operations as `admin`.
//! Nothing runs unless a browser asks: the console costs the gateway nothing.
//!
//! API (every route answers `401` without the token, as `Authorization: Bearer TOKEN` or the
//! login cookie; a request that changes something must also be `Content-Type: application/json`
//! and carry the bearer token or come from the console's own page — `Origin` — else `403`;
//! a `Host` other than the console's own address is `403` everywhere; see `guard.rs`):
//!
//! - `GET /api/calls?app=&method=&failed=1&q=&limit=` the request log, newest first
//! - `GET /api/tickets/{code}?order_no=` a ticket and its transactions; `GET /api/orders/{no}`
//!   an order's tickets
//! - `GET /api/notifications?status=`, `GET /api/notifications/{id}` (with every attempt),
//!   `POST /api/notifications/{id}/resend`
//! - `GET /api/tenants` merchants, apps, shops, items and the demo tenant's configuration
//! - `GET /api/sandbox` clocks and faults; `POST /api/clocks/{pid}/advance` (`{"by":"30d"}`),
//!   `POST /api/clocks/{pid}/reset`, `POST /api/faults` (`{"method":…,"answer":…}`),
//!   `DELETE /api/faults/{id}`, `DELETE /api/faults`, `POST /api/apps/{id}/notify-twice` (`{"on":true}`),
//!   `POST /api/notify-probe` (`{"app_id":…,"url":…}`: `ticketgate notify probe`'s report)

mod guard;
mod sandbox;

use crate::store::op;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use crate::alipay::form;
use crate::operations::Service;
use crate::operations::admin::{self, AdminError, Listing};

const INDEX: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");
const COOKIE: &str = "tg_console";

/// The console's token: read from `DATA/console_token`, made (mode 0600) when missing.
pub fn token(data: &Path) -> std::io::Result<String> {
    let path = token_path(data);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim();
        if text.len() >= 16 {
            return Ok(text.to_string());
        }
    }
    let token = crate::ids::hex(32);
    crate::config::write_file(&path, &format!("{token}\n"), true)?;
    Ok(token)
}

pub fn token_path(data: &Path) -> PathBuf {
    data.join("console_token")
}

struct Console {
    svc: Service,
    token: String,
    data: PathBuf,
    /// Where the console listens: the `Host` it answers to.
    addr: std::net::SocketAddr,
    logins: guard::Logins,
}

/// The console's routes.
pub fn router(svc: Service, token: String, data: PathBuf, addr: std::net::SocketAddr) -> Router {
    let state = Arc::new(Console {
        svc,
        token,
        data,
        addr,
        logins: guard::Logins::default(),
    });
    let api = Router::new()
        .route("/api/calls", get(calls))
        .route("/api/tickets/{code}", get(ticket))
        .route("/api/orders/{order_no}", get(order))
        .route("/api/notifications", get(notifications))
        .route("/api/notifications/{id}", get(notification))
        .route("/api/notifications/{id}/resend", post(resend))
        .route("/api/tenants", get(tenants))
        .route("/api/sandbox", get(sandbox::sandbox))
        .route("/api/clocks/{pid}/advance", post(sandbox::clock_advance))
        .route("/api/clocks/{pid}/reset", post(sandbox::clock_reset))
        .route(
            "/api/faults",
            post(sandbox::fault_add).delete(sandbox::faults_clear),
        )
        .route(
            "/api/apps/{app_id}/notify-twice",
            post(sandbox::notify_twice),
        )
        .route("/api/notify-probe", post(sandbox::notify_probe))
        .route("/api/faults/{id}", delete(sandbox::fault_clear))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard));
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route(
            "/assets/app.js",
            get(|| async { asset(APP_JS, "text/javascript") }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset(STYLE, "text/css") }),
        )
        .merge(api)
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), protect))
        .with_state(state)
}

/// Every request: the console's own `Host` only; every answer: the security headers.
async fn protect(
    State(c): State<Arc<Console>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !guard::host_allowed(c.addr, request.headers()) {
        return guard::secure(guard::forbidden(
            "this console answers to its own address only (Host)",
        ));
    }
    guard::secure(next.run(request).await)
}

fn asset(text: &'static str, kind: &'static str) -> Response {
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&format!("{kind}; charset=utf-8")).expect("ASCII"),
    );
    r
}

fn html(text: String, status: StatusCode) -> Response {
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Whether `given` is the token, compared in constant time.
fn same_token(given: &str, token: &str) -> bool {
    given.len() == token.len() && openssl::memcmp::eq(given.as_bytes(), token.as_bytes())
}

/// Whether the request carries the token as `Authorization: Bearer`.
fn bearer(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|b| same_token(b.trim(), token))
}

/// Whether the request carries the token (header or cookie), compared in constant time.
fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let same = |given: &str| same_token(given, token);
    if bearer(headers, token) {
        return true;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && same(v))
}

async fn guard(
    State(c): State<Arc<Console>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if authorised(request.headers(), &c.token) {
        if guard::changes_state(request.method())
            && let Some(why) =
                guard::cross_site(request.headers(), bearer(request.headers(), &c.token))
        {
            return guard::forbidden(why);
        }
        next.run(request).await
    } else {
        let mut r = json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "unauthorized: send Authorization: Bearer <console token> (ticketgate admin console token)"}),
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    }
}

fn login_page(error: bool) -> String {
    LOGIN.replace(
        "<!--ERROR-->",
        if error {
            r#"<p class="error" id="login-error" data-i18n="login.wrong">令牌不对 · Wrong token</p>"#
        } else {
            ""
        },
    )
}

async fn index(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if authorised(&headers, &c.token) {
        html(INDEX.to_string(), StatusCode::OK)
    } else {
        html(login_page(false), StatusCode::OK)
    }
}

async fn login(State(c): State<Arc<Console>>, body: Bytes) -> Response {
    let params = form::decode_lossy(&form::split(&body));
    let given = params.get("token").map(|t| t.trim()).unwrap_or("");
    // Guesses wait longer each time they fail.
    tokio::time::sleep(c.logins.delay()).await;
    let ok = same_token(given, &c.token);
    c.logins.record(ok);
    if !ok {
        return html(login_page(true), StatusCode::UNAUTHORIZED);
    }
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
            c.token
        ))
        .expect("the token is hex"),
    );
    r
}

async fn logout() -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tg_console=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut r = (status, value.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An admin operation's result as an API answer.
fn answer(result: Result<Value, AdminError>) -> Response {
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => {
            let status = match &e {
                AdminError::NotFound(_) => StatusCode::NOT_FOUND,
                AdminError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            json_response(status, &json!({"error": e.to_string()}))
        }
    }
}

fn query_params(raw: Option<String>) -> crate::alipay::form::Params {
    form::decode_lossy(&form::split(raw.unwrap_or_default().as_bytes()))
}

fn nonempty(params: &crate::alipay::form::Params, key: &str) -> Option<String> {
    params.get(key).filter(|v| !v.is_empty()).cloned()
}

async fn calls(State(c): State<Arc<Console>>, RawQuery(raw): RawQuery) -> Response {
    let p = query_params(raw);
    let filter = crate::store::LogFilter {
        app_id: nonempty(&p, "app"),
        method: nonempty(&p, "method"),
        failed_only: p.get("failed").is_some_and(|v| v == "1" || v == "true"),
    };
    let limit: usize = p
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let q = nonempty(&p, "q");
    let code = nonempty(&p, "code");
    // Text and code filters look further back than what is shown.
    let window = if q.is_some() || code.is_some() {
        2000
    } else {
        limit as i64
    };
    let rows = c
        .svc
        .store
        .read(op!(|tx| [f: crate::store::LogFilter = filter, window: i64 = window] -> Vec<(i64, String, String)> {
            tx.read_log(&f, None, window).await
        }))
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => return answer(Err(e.into())),
    };
    let list: Vec<Value> = rows
        .into_iter()
        .rev()
        .filter(|(_, _, entry)| q.as_ref().is_none_or(|q| entry.contains(q.as_str())))
        .filter_map(|(at, id, entry)| {
            let mut v: Value = serde_json::from_str(&entry).ok()?;
            if let Some(code) = &code
                && v["code"] != *code
                && v["sub_code"] != *code
            {
                return None;
            }
            v["id"] = id.into();
            v["at"] = at.into();
            Some(v)
        })
        .take(limit)
        .collect();
    json_response(StatusCode::OK, &json!({ "calls": list }))
}

async fn ticket(
    State(c): State<Arc<Console>>,
    UrlPath(code): UrlPath<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let p = query_params(raw);
    answer(admin::ticket_show(&c.svc, &code, nonempty(&p, "order_no")).await)
}

async fn order(State(c): State<Arc<Console>>, UrlPath(order_no): UrlPath<String>) -> Response {
    let listed = admin::list(&c.svc, Listing::Tickets, Some(order_no.clone()), 1000).await;
    match listed {
        Ok(v) if v["tickets"].as_array().is_some_and(|t| t.is_empty()) => {
            answer(Err(AdminError::NotFound(format!("order {order_no}"))))
        }
        Ok(mut v) => {
            v["order_no"] = order_no.into();
            answer(Ok(v))
        }
        Err(e) => answer(Err(e)),
    }
}

async fn notifications(State(c): State<Arc<Console>>, RawQuery(raw): RawQuery) -> Response {
    let p = query_params(raw);
    answer(admin::notify_list(&c.svc, nonempty(&p, "status")).await)
}

async fn notification(State(c): State<Arc<Console>>, UrlPath(id): UrlPath<String>) -> Response {
    answer(admin::notify_show(&c.svc, &id).await)
}

async fn resend(State(c): State<Arc<Console>>, UrlPath(id): UrlPath<String>) -> Response {
    answer(admin::notify_resend(&c.svc, &id).await)
}

async fn tenants(State(c): State<Arc<Console>>) -> Response {
    let mut out = serde_json::Map::new();
    for (name, what) in [
        ("merchants", Listing::Merchants),
        ("apps", Listing::Apps),
        ("shops", Listing::Shops),
        ("items", Listing::Items),
    ] {
        match admin::list(&c.svc, what, None, 0).await {
            Ok(mut v) => {
                out.insert(name.into(), v[name].take());
            }
            Err(e) => return answer(Err(e)),
        }
    }
    // Each app's sign types: its own, and the other when it has a key for it too.
    if let Some(apps) = out.get_mut("apps").and_then(Value::as_array_mut) {
        for a in apps.iter_mut() {
            let own = a["sign_type"].as_str().unwrap_or_default().to_string();
            let other = if own == "RSA" { "RSA2" } else { "RSA" };
            a["sign_types"] = if a["both_sign_types"] == true {
                json!([own, other])
            } else {
                json!([own])
            };
        }
    }
    let demo = std::fs::read_to_string(c.data.join("demo").join("demo.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    out.insert("demo".into(), demo.unwrap_or(Value::Null));
    out.insert(
        "alipay_public_key".into(),
        c.svc.platform_key.public_key().to_pem().into(),
    );
    json_response(StatusCode::OK, &Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_checked_from_a_header_or_the_cookie() {
        let token = "0123456789abcdef0123456789abcdef";
        let mut h = HeaderMap::new();
        assert!(!authorised(&h, token));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        assert!(authorised(&h, token));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123"),
        );
        assert!(!authorised(&h, token));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={token}")).unwrap(),
        );
        assert!(authorised(&h, token));
        h.insert(header::COOKIE, HeaderValue::from_static("tg_console=nope"));
        assert!(!authorised(&h, token));
    }
}
