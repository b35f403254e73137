//! HTTP plumbing shared by the handlers: JSON errors, request validation, per-IP rate limiting
//! and request metrics (counted in [`crate::metrics`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// An error as the API returns it: a status and `{"error": message}`, plus optional details.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message for the client (never internal details of a 5xx).
    pub message: String,
    /// Extra fields merged into the body (e.g. `known` municipalities, `problems`).
    pub details: Option<serde_json::Value>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// Any status with `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Adds `Retry-After: secs`.
    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs);
        self
    }

    /// Adds fields to the body.
    pub fn with(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// A 500/503 whose cause is logged, not shown.
    pub fn internal(status: StatusCode, what: &str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "{what}");
        ApiError::new(status, format!("{what}; please try again later"))
    }

    /// A 503 for a failed database call, a 500 for stored data this version cannot read
    /// (logged, not shown to the client).
    pub fn storage(err: &crate::store::Error) -> ApiError {
        match err {
            crate::store::Error::Unknown { .. } => ApiError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "stored data is unreadable",
                err,
            ),
            _ => ApiError::internal(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable", err),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let (Some(obj), Some(serde_json::Value::Object(extra))) =
            (body.as_object_mut(), self.details)
        {
            obj.extend(extra);
        }
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Parses a JSON body, turning every failure into a 400 that says what is wrong.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "request body is empty; expected JSON",
        ));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::bad_request("request body is not valid UTF-8"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// Checks resident text ([`crate::chat::check_text`]); a refusal is a 400.
pub fn check_text(text: &str, what: &str, max_chars: usize) -> Result<String, ApiError> {
    crate::chat::check_text(text, what, max_chars).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Replaces the plain-text bodies that axum and tower-http give errors (404, 405, 408, 413, …)
/// with `{"error": …}`, so that every error the service returns is JSON.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = match status {
        StatusCode::NOT_FOUND => "no such route".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed for this route".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "request timed out".to_owned(),
        _ if !text.is_empty() => text,
        s => s.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = serde_json::to_vec(&json!({ "error": message })).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Middleware: a query string whose percent-decoded bytes are not UTF-8 is a 400 (it was
/// decoded lossily, turning the bytes into U+FFFD, and answered as if it were a question).
pub async fn reject_bad_query(req: Request, next: Next) -> Response {
    if let Some(query) = req.uri().query()
        && std::str::from_utf8(&percent_decode(query.as_bytes())).is_err()
    {
        return ApiError::bad_request("the query string is not valid UTF-8").into_response();
    }
    next.run(req).await
}

/// `%XX` escapes decoded (other bytes kept as they are).
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The staff console must not be framed by another site (clickjacking): `/staff` responses
/// carry `X-Frame-Options: DENY` and `Content-Security-Policy: frame-ancestors 'none'`.
pub async fn no_framing_for_staff(req: Request, next: Next) -> Response {
    let staff = req.uri().path().starts_with("/staff");
    let mut resp = next.run(req).await;
    if staff {
        let h = resp.headers_mut();
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    resp
}

/// A token bucket per client address.
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_minute` requests a minute on average, up to `burst` at once; 0 disables limiting.
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; `Err(seconds)` says how long to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_minute) / 60.0;
        let burst = f64::from(self.burst);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            // Forget clients whose bucket has refilled; bounded memory under address floods.
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// The client's address: the socket peer; or, when the service trusts a proxy in front of it
/// (`[server] trust_forwarded_for`) and the peer is one, the right-most `X-Forwarded-For` hop
/// that is not a trusted proxy. A hop written by the client itself sits to the left of what the
/// proxies appended, so it is never taken.
pub fn client_ip(req: &Request, server: &crate::config::ServerConfig) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    if !server.trust_forwarded_for || !trusted_proxy(server, peer, true) {
        return peer;
    }
    let raw: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    // From the right (the hops the proxies appended), up to the first that is not an address.
    let hops: Vec<IpAddr> = raw
        .iter()
        .rev()
        .map_while(|h| h.trim().parse().ok())
        .collect();
    hops.iter()
        .find(|h| !trusted_proxy(server, **h, false))
        .or(hops.last())
        .copied()
        .unwrap_or(peer)
}

/// Whether `ip` is one of the trusted proxies (with none configured, only the connecting
/// peer is: `peer` says whether `ip` is it).
pub fn trusted_proxy(server: &crate::config::ServerConfig, ip: IpAddr, peer: bool) -> bool {
    if server.trusted_proxies.is_empty() {
        return peer;
    }
    server
        .trusted_proxies
        .iter()
        .filter_map(|p| crate::config::parse_net(p))
        .any(|net| crate::config::in_net(ip, net))
}

fn too_many(state: &AppState, wait: u64) -> Response {
    state.metrics.rate_limited();
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many requests; try again in {wait} s"),
    )
    .retry_after(wait)
    .into_response()
}

/// The client's address as [`rate_limit`] saw it, for handlers that need it (sign-in).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Middleware: 429 with `Retry-After` when a client exceeds its rate; otherwise the request
/// goes on with its [`ClientIp`].
pub async fn rate_limit(
    State(state): State<std::sync::Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    limited(&state, &state.limiter, req, next).await
}

/// Middleware: [`rate_limit`] on the staff console's and `/admin/*`'s own budget.
pub async fn staff_rate_limit(
    State(state): State<std::sync::Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    limited(&state, &state.staff_limiter, req, next).await
}

/// Lets the request through `limiter` with its [`ClientIp`], or answers 429.
async fn limited(
    state: &AppState,
    limiter: &RateLimiter,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = client_ip(&req, &state.config.server);
    match limiter.check(ip) {
        Ok(()) => {
            req.extensions_mut().insert(ClientIp(ip));
            next.run(req).await
        }
        Err(wait) => too_many(state, wait),
    }
}

/// Middleware: counts requests and their latency by matched route (never by raw path, so
/// that scanning for random URLs cannot grow the label set).
pub async fn track(
    State(state): State<std::sync::Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe(
        &route,
        &method,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// How long to wait for in-flight requests at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks() {
        assert!(check_text("  ", "message", 10).is_err());
        assert!(check_text("あ".repeat(11).as_str(), "message", 10).is_err());
        assert!(check_text("a\u{0}b", "message", 10).is_err());
        assert_eq!(check_text(" 住民票\n ", "message", 10).unwrap(), "住民票");
    }

    #[test]
    fn bucket_refuses_after_burst_and_names_the_wait() {
        let l = RateLimiter::new(60, 3);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip).is_ok());
        }
        assert_eq!(l.check(ip), Err(1));
        // Another client is not affected; 0 disables limiting.
        assert!(l.check("127.0.0.2".parse().unwrap()).is_ok());
        let off = RateLimiter::new(0, 1);
        for _ in 0..100 {
            assert!(off.check(ip).is_ok());
        }
    }
}
