//! The staff side: sign-in with accounts made by `madoguchi user add`, session cookies, CSRF
//! protection, lockout, and the JSON APIs of the staff console (inquiry search, logs, exports).
//!
//! - Passwords are hashed with Argon2id; sign-in compares on the blocking pool.
//! - A session is a random token in an `HttpOnly; SameSite=Strict` cookie (`Secure` behind TLS:
//!   `X-Forwarded-Proto: https` or `cookie_secure = true`); only its SHA-256 is stored.
//! - Every state-changing staff request must carry the session's CSRF token in `X-CSRF-Token`.
//! - Five failed sign-ins in a row lock the account for 15 minutes. Unknown names and wrong
//!   passwords get the same answer.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::AppState;
use super::http::{ApiError, check_text, parse_json};
use crate::answer::Decision;
use crate::auth::Role;
use crate::store::{AnsweredWith, LocalIds, LogFilter, QueueMark, Via, from_now, now};

/// Cookie name of the staff session.
pub const COOKIE: &str = "madoguchi_session";
/// Session lifetime.
const SESSION_HOURS: i64 = 8;

fn token_hash(token: &str) -> String {
    crate::index::hex(&Sha256::digest(token.as_bytes()))
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The signed-in user, put into request extensions by [`require_staff`].
#[derive(Debug, Clone)]
pub struct StaffUser {
    /// Sign-in name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The municipality they work for, if set (`madoguchi user municipality`).
    pub municipality: Option<String>,
    token_hash: String,
}

/// Sign-in body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Account name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// `POST /staff/api/login`. Failed sign-ins are throttled per (name, address), per address and
/// per name ([`crate::auth::Throttle`]), and passwords are checked a few at a time
/// ([`crate::auth::PasswordChecker`]); a throttled or busy sign-in gets 429 with `Retry-After`.
/// Unknown names, disabled accounts and wrong passwords get the same reply.
pub async fn login(
    State(st): State<Arc<AppState>>,
    client: Option<axum::Extension<super::http::ClientIp>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: Login = parse_json(&body)?;
    let name = check_text(&req.name, "name", 100)?;
    let address = client.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.0);
    let attempt = st.throttle.begin(&name, address).map_err(|wait| {
        st.metrics.sign_in("throttled");
        let secs = wait.as_secs().max(1);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many sign-in attempts; try again in {secs} s"),
        )
        .retry_after(secs)
    })?;
    let user = match st.store.user(&name).await {
        Ok(u) => u,
        Err(e) => {
            st.throttle.cancel(attempt);
            return Err(ApiError::storage(&e));
        }
    };
    let role = user.as_ref().map(|u| u.role);
    let municipality = user.as_ref().and_then(|u| u.municipality.clone());
    let checked = st
        .passwords
        .verify(req.password, user.map(|u| u.password_hash))
        .await;
    let ok = match checked {
        Ok(ok) => ok,
        Err(crate::auth::Busy) => {
            st.throttle.cancel(attempt);
            st.metrics.sign_in("busy");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many sign-ins at once; try again in a moment",
            )
            .retry_after(1));
        }
    };
    st.throttle.finish(attempt, ok);
    let Some(role) = role.filter(|_| ok) else {
        st.metrics.sign_in("failed");
        tracing::warn!(user = %name, "failed staff sign-in");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong name or password",
        ));
    };
    st.metrics.sign_in("succeeded");
    st.store
        .login_succeeded(&name)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    let token = random_token();
    let csrf = random_token();
    let expires = from_now(chrono::Duration::hours(SESSION_HOURS));
    st.store
        .create_session(&token_hash(&token), &name, &csrf, &expires)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    tracing::info!(user = %name, "staff signed in");
    // Secure when configured, when the public URL is https, or when a trusted proxy says the
    // resident's connection was https (the header of anyone else is not believed).
    let server = &st.config.server;
    let peer_trusted = peer.is_some_and(|p| {
        super::http::trusted_proxy(server, p.0.0.ip(), true) && server.trust_forwarded_for
    });
    let secure = server.cookie_secure
        || server
            .public_url
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
        || (peer_trusted
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https")));
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    );
    let mut resp =
        Json(json!({"name": name, "role": role, "municipality": municipality, "csrf_token": csrf, "office": office_clock(&st)}))
            .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Middleware for `/staff/api/*` (except sign-in): a valid, unexpired session, and the CSRF
/// token on every state-changing request.
pub async fn require_staff(
    State(st): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = cookie_token(req.headers()) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let hash = token_hash(&token);
    let session = match st.store.session(&hash).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return ApiError::new(StatusCode::UNAUTHORIZED, "sign in first").into_response();
        }
        Err(e) => return ApiError::storage(&e).into_response(),
    };
    if session.expires_at.as_str() <= now().as_str() {
        let _ = st.store.delete_session(&hash).await;
        return ApiError::new(StatusCode::UNAUTHORIZED, "session expired; sign in again")
            .into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let given = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if given.is_empty() || given != session.csrf_token {
            return ApiError::new(StatusCode::FORBIDDEN, "missing or wrong CSRF token")
                .into_response();
        }
    }
    req.extensions_mut().insert(StaffUser {
        name: session.user,
        role: session.role,
        municipality: session.municipality,
        token_hash: hash,
    });
    next.run(req).await
}

fn user_of(req_user: Option<axum::Extension<StaffUser>>) -> Result<StaffUser, ApiError> {
    req_user
        .map(|u| u.0)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "sign in first"))
}

/// The signed-in user, who must be an administrator.
pub(super) fn require_admin(
    req_user: Option<axum::Extension<StaffUser>>,
) -> Result<StaffUser, ApiError> {
    let u = user_of(req_user)?;
    if u.role != Role::Admin {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "administrators only"));
    }
    Ok(u)
}

/// `GET /staff/api/me`.
pub async fn me(
    State(st): State<Arc<AppState>>,
    user: Option<axum::Extension<StaffUser>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let u = user_of(user)?;
    Ok(Json(
        json!({"name": u.name, "role": u.role, "municipality": u.municipality, "office": office_clock(&st)}),
    ))
}

/// The office's day and zone (`[server] utc_offset`), so that the console's date filters start
/// from the office's today, not the browser's or UTC's.
fn office_clock(st: &AppState) -> serde_json::Value {
    let offset = st.config.server.offset();
    json!({
        "today": chrono::Utc::now().with_timezone(&offset).format("%Y-%m-%d").to_string(),
        "utc_offset": offset.to_string(),
    })
}

/// `POST /staff/api/logout`.
pub async fn logout(
    State(st): State<Arc<AppState>>,
    user: Option<axum::Extension<StaffUser>>,
) -> Result<Response, ApiError> {
    let u = user_of(user)?;
    st.store
        .delete_session(&u.token_hash)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    let mut resp = Json(json!({"signed_out": true})).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "madoguchi_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(resp)
}

/// `GET /staff/api/users` (admin): the accounts, their roles and whether they are disabled.
pub async fn users(
    State(st): State<Arc<AppState>>,
    user: Option<axum::Extension<StaffUser>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_admin(user)?;
    let list = st.store.users().await.map_err(|e| ApiError::storage(&e))?;
    Ok(Json(json!({
        "users": list.into_iter().map(|(name, role, disabled)| json!({"name": name, "role": role, "disabled": disabled})).collect::<Vec<_>>()
    })))
}

/// `GET /staff/api/search?q=&k=&municipality=`: ranked candidates (k 1–20, default 10) with
/// full answers, sources and contacts, for answering phone and counter inquiries.
pub async fn search(
    State(st): State<Arc<AppState>>,
    Query(p): Query<super::api::SearchParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = check_text(p.q.as_deref().unwrap_or(""), "q", 2000)?;
    let k = p.k.unwrap_or(10);
    if !(1..=20).contains(&k) {
        return Err(ApiError::bad_request("k must be between 1 and 20"));
    }
    super::api::check_municipality(&st, p.municipality.as_deref())?;
    let hits = super::api::search_blocking(&st, q, k, p.municipality).await?;
    let decision = crate::answer::decide(&hits, &st.config.decision);
    Ok(Json(json!({
        "decision": decision,
        "hits": hits.iter().map(|h| json!({
            "entry": h.entry.as_ref(),
            "score": h.score,
            "coverage": h.coverage,
        })).collect::<Vec<_>>(),
    })))
}

/// Log filters.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// First day, `YYYY-MM-DD` in the office's zone (`[server] utc_offset`), inclusive; default
    /// 30 days ago.
    pub from: Option<String>,
    /// Last day, inclusive; default today.
    pub to: Option<String>,
    /// `answer`, `candidates`, `fallback` or `small_talk`.
    pub decision: Option<String>,
    /// Municipality code.
    pub municipality: Option<String>,
    /// 大分類 of the answered entry.
    pub category: Option<String>,
    /// `json` (default), `csv` or `jsonl`.
    pub format: Option<String>,
    /// Most rows (default 1000, at most 100000).
    pub limit: Option<i64>,
}

fn day(s: Option<&str>, default: chrono::NaiveDate) -> Result<chrono::NaiveDate, ApiError> {
    match s {
        None | Some("") => Ok(default),
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| ApiError::bad_request(format!("bad date '{d}': use YYYY-MM-DD"))),
    }
}

/// `GET /staff/api/logs`: logged questions (already masked) with decisions and feedback, as
/// JSON, CSV (UTF-8 with BOM, which Excel opens correctly) or JSON Lines.
pub async fn logs(
    State(st): State<Arc<AppState>>,
    Query(p): Query<LogQuery>,
) -> Result<Response, ApiError> {
    // Days are the office's days (`[server] utc_offset`), turned into the stored UTC times.
    let offset = st.config.server.offset();
    let today = chrono::Utc::now().with_timezone(&offset).date_naive();
    let from = day(p.from.as_deref(), today - chrono::Duration::days(30))?;
    let to = day(p.to.as_deref(), today)?;
    let limit = p.limit.unwrap_or(1000).clamp(1, 100_000);
    let midnight = |d: chrono::NaiveDate| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_local_timezone(offset)
            .single()
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            })
            .unwrap_or_default()
    };
    let start = midnight(from);
    let end = midnight(to + chrono::Duration::days(1));
    let decision = match p.decision.as_deref() {
        None | Some("") => None,
        Some(d) => Some(
            d.parse::<Decision>()
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
    };
    let filter = LogFilter {
        from: start,
        to: end,
        decision,
        municipality: p.municipality.filter(|m| !m.is_empty()),
        answered_with: p
            .category
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| in_category(&st.engine().retriever, c)),
        limit,
    };
    let rows = st
        .store
        .logs(&filter)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    match p.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(json!({"rows": rows})).into_response()),
        "jsonl" => {
            let mut out = String::new();
            for r in &rows {
                out += &serde_json::to_string(r).unwrap_or_default();
                out.push('\n');
            }
            Ok(download(
                "application/x-ndjson",
                "madoguchi-logs.jsonl",
                out.into_bytes(),
            ))
        }
        "csv" => Ok(download(
            "text/csv; charset=utf-8",
            "madoguchi-logs.csv",
            to_csv(&rows, offset),
        )),
        other => Err(ApiError::bad_request(format!(
            "unknown format '{other}': use json, csv or jsonl"
        ))),
    }
}

/// The entries whose 大分類 is `category`, as each municipality sees them (an entry can be
/// hidden in, overridden by or exist only in one municipality), for filtering logs by the
/// category of the entry a question was answered with.
fn in_category(retriever: &crate::retrieve::Retriever, category: &str) -> AnsweredWith {
    let matching = |scope: Option<&str>| -> BTreeSet<String> {
        let visible = retriever.visible_entries(scope);
        let ids: BTreeSet<&str> = visible.iter().map(|e| e.id.as_str()).collect();
        ids.into_iter()
            .filter(|id| {
                retriever
                    .entry(id, scope)
                    .is_some_and(|e| e.category.first().map(String::as_str) == Some(category))
            })
            .map(str::to_owned)
            .collect()
    };
    let ids = matching(None);
    let local = retriever
        .municipalities()
        .keys()
        .filter_map(|m| {
            let here = matching(Some(m));
            let l = LocalIds {
                add: here.difference(&ids).cloned().collect(),
                remove: ids.difference(&here).cloned().collect(),
            };
            (!l.add.is_empty() || !l.remove.is_empty()).then(|| (m.clone(), l))
        })
        .collect();
    AnsweredWith { ids, local }
}

pub(super) fn download(content_type: &'static str, file: &str, body: Vec<u8>) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// CSV as Excel in Japan opens it: UTF-8 with a BOM, CRLF line ends, every field quoted, and
/// fields that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) prefixed with `'`.
/// Times are the office's, as `2026/12/03 09:15:30` (Excel reads it as a date and time), and
/// decisions are in Japanese with their code beside them.
pub fn to_csv(rows: &[crate::store::LogRow], offset: chrono::FixedOffset) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let field = |s: &str| {
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_owned()
        };
        format!("\"{}\"", s.replace('"', "\"\""))
    };
    let zone = format!("日時(UTC{offset})");
    let header = [
        zone.as_str(),
        "会話ID",
        "メッセージID",
        "市区町村コード",
        "質問(マスク済み)",
        "判定",
        "判定コード",
        "回答FAQ",
        "カバー率",
        "役に立った",
        "役に立たなかった",
        "コメント",
    ];
    out += &header.map(field).join(",");
    out += "\r\n";
    for r in rows {
        let cells = [
            local_time(&r.created_at, offset),
            r.conversation_id.clone(),
            r.message_id.clone(),
            r.municipality.clone().unwrap_or_default(),
            r.question.clone(),
            r.decision.label_ja().to_owned(),
            r.decision.as_str().to_owned(),
            r.faq_id.clone().unwrap_or_default(),
            format!("{:.3}", r.coverage),
            r.helpful.to_string(),
            r.not_helpful.to_string(),
            r.comments.clone(),
        ];
        out += &cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
        out += "\r\n";
    }
    out.into_bytes()
}

/// A stored UTC time in the office's zone as `2026/12/03 09:15:30` (the stored text when it
/// does not parse).
fn local_time(stored: &str, offset: chrono::FixedOffset) -> String {
    chrono::DateTime::parse_from_rfc3339(stored)
        .map(|t| {
            t.with_timezone(&offset)
                .format("%Y/%m/%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| stored.to_owned())
}

/// The office's day of a stored UTC time, `YYYY-MM-DD`.
fn local_day(stored: &str, offset: chrono::FixedOffset) -> String {
    chrono::DateTime::parse_from_rfc3339(stored)
        .map(|t| t.with_timezone(&offset).format("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| stored.chars().take(10).collect())
}

/// Window of days for the queue and the figures.
#[derive(Debug, Deserialize)]
pub struct Days {
    /// How many days back (default 30, at most 366).
    pub days: Option<i64>,
}

/// The stored-time bounds of the last `days` days (default 30, at most 366), to tomorrow.
fn window(days: Option<i64>) -> (String, String) {
    let days = days.unwrap_or(30).clamp(1, 366);
    (
        from_now(-chrono::Duration::days(days)),
        from_now(chrono::Duration::days(1)),
    )
}

/// The turns within `(from, to)`, of one municipality's residents or of everyone.
async fn recent_rows(
    st: &AppState,
    (from, to): (String, String),
    municipality: Option<String>,
) -> Result<Vec<crate::store::LogRow>, ApiError> {
    st.store
        .logs(&LogFilter {
            from,
            to,
            municipality,
            limit: 100_000,
            ..LogFilter::default()
        })
        .await
        .map_err(|e| ApiError::storage(&e))
}

/// One group of the unanswered queue while it is being counted.
#[derive(Default)]
struct Group {
    count: usize,
    examples: Vec<String>,
    last_at: String,
    not_helpful: usize,
}

/// Whether a logged question belongs in the unanswered queue: it ended in a fallback, or its
/// answer or candidates got 👎. Small talk is neither answered nor unanswered.
fn unanswered_row(r: &crate::store::LogRow) -> bool {
    match r.decision {
        Decision::Fallback => true,
        Decision::Answer | Decision::Candidates => r.not_helpful > 0,
        Decision::SmallTalk => false,
    }
}

/// `GET /staff/api/unanswered`: questions that ended in a fallback or got 👎, grouped by
/// wording (the same analysed words, in any order), most frequent first, with their mark.
pub async fn unanswered(
    State(st): State<Arc<AppState>>,
    Query(d): Query<Days>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = recent_rows(&st, window(d.days), None).await?;
    let marks = st.store.marks().await.map_err(|e| ApiError::storage(&e))?;
    let engine = st.engine();
    let analyzer = engine.retriever.analyzer();
    let mut groups: std::collections::BTreeMap<String, Group> = std::collections::BTreeMap::new();
    for r in rows.iter().filter(|r| unanswered_row(r)) {
        let mut terms = analyzer.terms(&r.question);
        terms.sort();
        terms.dedup();
        let key = if terms.is_empty() {
            r.question.clone()
        } else {
            terms.join(" ")
        };
        let g = groups.entry(key).or_default();
        g.count += 1;
        if g.examples.len() < 3 && !g.examples.contains(&r.question) {
            g.examples.push(r.question.clone());
        }
        if r.created_at > g.last_at {
            g.last_at.clone_from(&r.created_at);
        }
        g.not_helpful += usize::try_from(r.not_helpful).unwrap_or(0);
    }
    let mut list: Vec<serde_json::Value> = groups
        .into_iter()
        .map(|(key, g)| {
            json!({
                "status": marks.get(&key).copied().unwrap_or(QueueMark::Open),
                "key": key,
                "count": g.count,
                "not_helpful": g.not_helpful,
                "examples": g.examples,
                "last_at": g.last_at,
            })
        })
        .collect();
    list.sort_by(|a, b| b["count"].as_u64().cmp(&a["count"].as_u64()));
    Ok(Json(json!({ "groups": list })))
}

/// Mark body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// Group key from `/staff/api/unanswered`.
    pub key: String,
    /// `faq_added`, `ignored` or `open`.
    pub status: String,
}

/// `POST /staff/api/unanswered/mark`.
pub async fn mark(
    State(st): State<Arc<AppState>>,
    user: Option<axum::Extension<StaffUser>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let u = user_of(user)?;
    let m: Mark = parse_json(&body)?;
    let status: QueueMark = m
        .status
        .parse()
        .map_err(|_| ApiError::bad_request("status must be faq_added, ignored or open"))?;
    let key = check_text(&m.key, "key", 2000)?;
    st.store
        .mark_group(&key, status, &u.name)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    Ok(Json(json!({ "key": key, "status": status })))
}

fn top(m: std::collections::HashMap<String, usize>, label: &str) -> Vec<serde_json::Value> {
    let mut v: Vec<(String, usize)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(10)
        .map(|(name, count)| json!({ label: name, "count": count }))
        .collect()
}

/// Questions counted by decision, and how many were resolved.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    answer: usize,
    candidates: usize,
    fallback: usize,
    small_talk: usize,
    /// Candidates questions whose resident opened one of the candidates.
    candidates_opened: usize,
    /// Direct answers, and candidates opened, with no 👎.
    resolved: usize,
}

impl Tally {
    fn add(&mut self, d: Decision, picked: bool, thumbs_down: bool) {
        match d {
            Decision::Answer => self.answer += 1,
            Decision::Candidates => self.candidates += 1,
            Decision::Fallback => self.fallback += 1,
            Decision::SmallTalk => self.small_talk += 1,
        }
        let picked = picked && d == Decision::Candidates;
        self.candidates_opened += usize::from(picked);
        self.resolved += usize::from((d == Decision::Answer || picked) && !thumbs_down);
    }

    fn total(&self) -> usize {
        self.answer + self.candidates + self.fallback + self.small_talk
    }
}

/// `GET /staff/api/stats` query.
#[derive(Debug, Deserialize)]
pub struct StatsParams {
    /// How many days back (default 30, at most 366).
    pub days: Option<i64>,
    /// Only residents who asked as this municipality (empty: everyone).
    pub municipality: Option<String>,
}

/// `GET /staff/api/stats`: questions per day, decision rates (small talk has its own rate,
/// neither answered nor unanswered), the resolved rate, top categories, the entries opened from
/// lists and the entries with the most 👎, for everyone or one municipality.
///
/// A question is resolved when it got a direct answer, or when the resident opened one of its
/// もしかして candidates, and no 👎 followed.
pub async fn stats(
    State(st): State<Arc<AppState>>,
    Query(p): Query<StatsParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let municipality = p.municipality.filter(|m| !m.is_empty());
    super::api::check_municipality(&st, municipality.as_deref())?;
    let (from, to) = window(p.days);
    let rows = recent_rows(&st, (from.clone(), to.clone()), municipality.clone()).await?;
    let opens = st
        .store
        .opened_between(&from, &to, municipality.as_deref())
        .await
        .map_err(|e| ApiError::storage(&e))?;
    let from_candidates: std::collections::HashSet<&str> = opens
        .iter()
        .filter(|o| o.via == Via::Candidate)
        .filter_map(|o| o.message_id.as_deref())
        .collect();
    let engine = st.engine();
    let offset = st.config.server.offset();
    let mut per_day: std::collections::BTreeMap<String, Tally> = std::collections::BTreeMap::new();
    let mut categories: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut down: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut opened: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut category_of = |id: &str, m: Option<&str>| {
        if let Some(e) = engine.retriever.entry(id, m)
            && let Some(c) = e.category.first()
        {
            *categories.entry(c.clone()).or_default() += 1;
        }
    };
    let mut totals = Tally::default();
    for r in &rows {
        let picked = from_candidates.contains(r.message_id.as_str());
        totals.add(r.decision, picked, r.not_helpful > 0);
        per_day
            .entry(local_day(&r.created_at, offset))
            .or_default()
            .add(r.decision, picked, r.not_helpful > 0);
        if let Some(id) = &r.faq_id {
            category_of(id, r.municipality.as_deref());
            if r.not_helpful > 0 {
                *down.entry(id.clone()).or_default() += usize::try_from(r.not_helpful).unwrap_or(0);
            }
        }
    }
    let mut by_via: std::collections::BTreeMap<&str, usize> =
        Via::ALL.into_iter().map(|v| (v.as_str(), 0)).collect();
    for o in &opens {
        *by_via.entry(o.via.as_str()).or_default() += 1;
        *opened.entry(o.faq_id.clone()).or_default() += 1;
        // 👎 on an entry opened from a list is about that entry.
        if o.helpful == Some(false) {
            *down.entry(o.faq_id.clone()).or_default() += 1;
        }
        category_of(&o.faq_id, o.municipality.as_deref());
    }
    let n = rows.len().max(1) as f64;
    Ok(Json(json!({
        "municipality": municipality,
        "questions": rows.len(),
        "rates": {
            "answer": totals.answer as f64 / n,
            "candidates": totals.candidates as f64 / n,
            "fallback": totals.fallback as f64 / n,
            "small_talk": totals.small_talk as f64 / n,
            "candidates_opened": totals.candidates_opened as f64 / n,
            "resolved": totals.resolved as f64 / n,
        },
        "per_day": per_day.into_iter().map(|(date, c)| json!({
            "date": date, "answer": c.answer, "candidates": c.candidates,
            "fallback": c.fallback, "small_talk": c.small_talk, "questions": c.total(),
            "candidates_opened": c.candidates_opened, "resolved": c.resolved,
        })).collect::<Vec<_>>(),
        "opened": by_via,
        "top_categories": top(categories, "category"),
        "most_opened": top(opened, "faq_id"),
        "most_not_helpful": top(down, "faq_id"),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; madoguchi_session=tok; b=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("tok"));
    }

    #[test]
    fn csv_has_bom_crlf_quotes_and_defuses_formulas() {
        let row = crate::store::LogRow {
            message_id: "m".into(),
            conversation_id: "c".into(),
            created_at: "2026-11-23T00:00:00Z".into(),
            municipality: None,
            question: "=HYPERLINK(\"x\") 住民票, \"引用\"".into(),
            decision: Decision::Answer,
            faq_id: Some("juminhyo-001".into()),
            coverage: 0.5,
            helpful: 1,
            not_helpful: 0,
            comments: String::new(),
        };
        let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        let csv = String::from_utf8(to_csv(&[row], jst)).unwrap();
        assert!(csv.starts_with('\u{feff}'));
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines.len(), 3, "{csv:?}");
        assert!(lines[0].starts_with("\"日時(UTC+09:00)\""), "{}", lines[0]);
        // The office's time, in a form Excel reads as a date; the decision in Japanese + code.
        assert!(
            lines[1].starts_with("\"2026/11/23 09:00:00\""),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("\"回答\",\"answer\""), "{}", lines[1]);
        assert!(
            lines[1].contains("\"'=HYPERLINK(\"\"x\"\") 住民票, \"\"引用\"\"\""),
            "{}",
            lines[1]
        );
    }
}
