//! The route handlers. Request and response shapes are documented in `openapi.json`, served at
//! `/api/openapi.json`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::http::{ApiError, check_text, parse_json};
use crate::chat::{self, TurnError};
use crate::faq::{self, Entry};
use crate::retrieve::{self, Hit};
use crate::store::{FeedbackOn, FeedbackStored};

/// Longest feedback comment, in characters.
const MAX_COMMENT: usize = 1000;

/// `POST /api/chat` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The resident's question.
    pub message: String,
    /// Continue this conversation (from an earlier response).
    pub conversation_id: Option<String>,
    /// 6-digit municipality code.
    pub municipality: Option<String>,
    /// Answer as server-sent events (only matters with an LLM configured).
    pub stream: Option<bool>,
}

impl From<TurnError> for ApiError {
    fn from(e: TurnError) -> ApiError {
        match e {
            TurnError::Text(t) => ApiError::bad_request(t.to_string()),
            TurnError::UnknownMunicipality { code, known } => municipality_error(&code, &known),
            TurnError::MalformedConversation | TurnError::MalformedId(_) => {
                ApiError::bad_request(e.to_string())
            }
            TurnError::UnknownEntry(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            TurnError::UnknownConversation => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            TurnError::Storage(err) => ApiError::storage(&err),
            TurnError::Search(_) | TurnError::Task(_) => {
                ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "search failed", &e)
            }
        }
    }
}

/// The error for a municipality the service does not serve: a code that is not one (wrong length,
/// check digit) is a 400 that says why (`error_code: invalid_municipality_code`); a well-formed
/// code with no declaration is a 404 (`error_code: unknown_municipality`). Both list the codes
/// served (`known`), so that a site administrator can correct `data-municipality`.
pub(super) fn municipality_error(code: &str, known: &[String]) -> ApiError {
    match faq::municipality_code_problem(code) {
        Some(why) => ApiError::bad_request(why)
            .with(json!({ "error_code": "invalid_municipality_code", "known": known })),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown municipality '{code}': this service does not serve it"),
        )
        .with(json!({ "error_code": "unknown_municipality", "known": known })),
    }
}

/// `GET /api/municipalities`: the municipalities served, with the office each one's fallbacks
/// name (from `faq/municipalities/<code>/municipality.yaml`), for the widget and the staff
/// console.
pub async fn municipalities(State(st): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let engine = st.engine();
    let list: Vec<&faq::Municipality> = engine.retriever.municipalities().values().collect();
    Json(json!({ "municipalities": list }))
}

pub(super) fn check_municipality(st: &AppState, m: Option<&str>) -> Result<(), ApiError> {
    st.engine()
        .retriever
        .check_municipality(m)
        .map_err(|e| match e {
            retrieve::Error::UnknownMunicipality { code, known } => {
                municipality_error(&code, &known)
            }
            other => ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "search failed", &other),
        })
}

/// Runs a search on the blocking pool.
pub(super) async fn search_blocking(
    st: &Arc<AppState>,
    question: String,
    k: usize,
    municipality: Option<String>,
) -> Result<Vec<Hit>, ApiError> {
    let engine = st.engine();
    tokio::task::spawn_blocking(move || {
        engine
            .retriever
            .search(&question, k, municipality.as_deref())
    })
    .await
    .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "search failed", &e))?
    .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "search failed", &e))
}

/// The settings a chat turn reads, from the configuration.
fn settings(st: &AppState) -> chat::Settings {
    let c = &st.config;
    chat::Settings {
        decision: c.decision.clone(),
        fallback_office: c.server.fallback_office.clone(),
        max_chars: c.server.max_question_chars,
        llm_budget: Some(Duration::from_millis(c.server.request_timeout_ms)),
    }
}

/// `POST /api/chat`: JSON, or server-sent events with `"stream": true` or
/// `Accept: text/event-stream` (`delta` events of answer text while an LLM writes, then one
/// `result` event with the whole response, whose `answer` is final). The turn itself is
/// [`chat::turn`]; this only translates HTTP.
pub async fn chat(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ChatRequest = parse_json(&body)?;
    let wants_stream = req.stream.unwrap_or(false)
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
    let engine = st.engine();
    let settings = settings(&st);
    let message = chat::check(
        &engine,
        &settings,
        &req.message,
        req.municipality.as_deref(),
    )?;
    let conversation = chat::resume(&st.store, req.conversation_id).await?;
    let municipality = req.municipality;
    if !wants_stream {
        let reply = chat::turn(
            engine,
            &settings,
            services(&st),
            &conversation,
            message,
            municipality,
            None,
        )
        .await?;
        return Ok(Json(reply).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let deltas = tx.clone();
        let on_delta = Box::new(move |piece: &str| {
            let _ = deltas.try_send(
                Event::default()
                    .event("delta")
                    .data(json!({ "text": piece }).to_string()),
            );
        });
        let result = chat::turn(
            engine,
            &settings,
            services(&st),
            &conversation,
            message,
            municipality,
            Some(on_delta),
        )
        .await
        .map_err(ApiError::from);
        let event = match result {
            Ok(r) => Event::default()
                .event("result")
                .json_data(&r)
                .unwrap_or_else(|_| Event::default().event("error").data("{}")),
            Err(e) => Event::default()
                .event("error")
                .data(json!({ "error": e.message }).to_string()),
        };
        let _ = tx.send(event).await;
    });
    let stream =
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The services a chat turn uses: the store, the metrics and the LLM when configured.
fn services(st: &AppState) -> chat::Services<'_> {
    chat::Services {
        store: Some(&st.store),
        metrics: Some(&st.metrics),
        llm: st.llm.as_deref(),
    }
}

/// `GET /api/search` (and staff search) query.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    /// The question.
    pub q: Option<String>,
    /// Number of hits (1–50, default 5).
    pub k: Option<usize>,
    /// Municipality code.
    pub municipality: Option<String>,
}

/// `GET /api/search`.
pub async fn search(
    State(st): State<Arc<AppState>>,
    Query(p): Query<SearchParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = check_text(
        p.q.as_deref().unwrap_or(""),
        "q",
        st.config.server.max_question_chars,
    )?;
    let k = p.k.unwrap_or(5);
    if !(1..=50).contains(&k) {
        return Err(ApiError::bad_request("k must be between 1 and 50"));
    }
    check_municipality(&st, p.municipality.as_deref())?;
    let (engine, config) = (st.engine(), st.config.decision.clone());
    let plan = tokio::task::spawn_blocking(move || {
        chat::plan(
            &engine,
            &config,
            &q,
            p.municipality.as_deref(),
            &[],
            k.max(2),
        )
    })
    .await
    .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "search failed", &e))?
    .map_err(chat::TurnError::from)?;
    let (decision, hits) = (plan.decision, plan.hits);
    let out: Vec<serde_json::Value> = hits
        .iter()
        .take(k)
        .map(|h| {
            json!({
                "faq_id": h.entry.id,
                "question": h.entry.question,
                "answer": h.entry.answer,
                "category": h.entry.category,
                "source_url": h.entry.source_url,
                "updated": h.entry.updated,
                "contact": h.entry.contact,
                "score": h.score,
                "coverage": h.coverage,
            })
        })
        .collect();
    Ok(Json(json!({ "decision": decision, "hits": out })))
}

/// `?municipality=` on read routes.
#[derive(Debug, Deserialize)]
pub struct MunicipalityParam {
    /// Municipality code.
    pub municipality: Option<String>,
}

/// The municipality a read route is asked as (`?municipality=`, empty meaning none), checked.
fn asked_as(st: &AppState, p: MunicipalityParam) -> Result<Option<String>, ApiError> {
    let municipality = p.municipality.filter(|m| !m.is_empty());
    check_municipality(st, municipality.as_deref())?;
    Ok(municipality)
}

/// `GET /api/faq/{id}`.
pub async fn faq_entry(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(p): Query<MunicipalityParam>,
) -> Result<Json<Entry>, ApiError> {
    check_municipality(&st, p.municipality.as_deref())?;
    st.engine()
        .retriever
        .entry(&id, p.municipality.as_deref())
        .map(|e| Json((*e).clone()))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no FAQ entry '{id}'")))
}

/// One level of the category menu: how many entries it holds, the first of them, its sub-levels.
#[derive(Default)]
struct Level {
    count: usize,
    first: Option<(String, String)>,
    children: BTreeMap<String, Level>,
}

impl Level {
    fn add(&mut self, path: &[String], e: &Entry) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((e.id.clone(), e.question.clone()));
        }
        if let Some((name, rest)) = path.split_first() {
            self.children.entry(name.clone()).or_default().add(rest, e);
        }
    }

    /// A level that holds one question names it (`entry`), so that the widget shows the
    /// question instead of a category with one thing in it.
    fn to_json(&self, name: &str, starters: &[serde_json::Value]) -> serde_json::Value {
        let mut v = json!({
            "name": name,
            "count": self.count,
            "children": self.children.iter().map(|(n, l)| l.to_json(n, &[])).collect::<Vec<_>>(),
        });
        if self.count == 1
            && let Some((id, question)) = &self.first
        {
            v["entry"] = json!({ "faq_id": id, "question": question });
        }
        if !starters.is_empty() {
            v["starters"] = json!(starters);
        }
        v
    }
}

/// `GET /api/categories`: the 大/中/小分類 tree with counts, 大分類 in the order `menu.yaml`
/// sets (the others after them, in code point order); a level holding one question names it
/// (`entry`); a 大分類 lists its popular questions (`starters`, see [`start`]).
pub async fn categories(
    State(st): State<Arc<AppState>>,
    Query(p): Query<MunicipalityParam>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let municipality = asked_as(&st, p)?;
    let engine = st.engine();
    let entries = engine.retriever.visible_entries(municipality.as_deref());
    let mut root = Level::default();
    for e in &entries {
        let mut path: Vec<String> = e.category.iter().take(3).cloned().collect();
        if path.is_empty() {
            path.push("その他".into());
        }
        root.add(&path, e);
    }
    let popular = popular(&st, &engine, municipality.as_deref()).await.1;
    let order = &engine.retriever.manifest().menu.categories;
    let mut tops: Vec<(&String, &Level)> = root.children.iter().collect();
    tops.sort_by_key(|(name, _)| order.iter().position(|o| o == *name).unwrap_or(usize::MAX));
    let out: Vec<serde_json::Value> = tops
        .into_iter()
        .map(|(name, level)| {
            let starters: Vec<serde_json::Value> = popular
                .iter()
                .filter(|e| e.category.first() == Some(name))
                .take(3)
                .map(|e| json!({ "faq_id": e.id, "question": e.question }))
                .collect();
            level.to_json(name, &starters)
        })
        .collect();
    Ok(Json(json!({ "total": entries.len(), "categories": out })))
}

/// How long the most opened entries are reused before they are counted again.
const MOST_OPENED_TTL: Duration = Duration::from_secs(300);
/// The window of days the most opened entries are counted over.
const MOST_OPENED_DAYS: i64 = 30;
/// Fewer distinct entries opened than this say too little to call them popular.
const MOST_OPENED_MIN: usize = 3;
/// How many popular questions the opening screen shows when they are counted.
const MOST_OPENED_SHOWN: usize = 5;

/// The popular questions for residents of `municipality`, and where they came from: the town's
/// own `popular` list (or, asked as no town, `menu.yaml`'s), else the entries its residents
/// opened most in the last 30 days (when at least three were), else `menu.yaml`'s list; only
/// entries they can see.
async fn popular(
    st: &AppState,
    engine: &crate::engine::Engine,
    municipality: Option<&str>,
) -> (&'static str, Vec<Arc<Entry>>) {
    let manifest = engine.retriever.manifest();
    let national = &manifest.menu.popular;
    let own: &[String] = match municipality {
        Some(m) => manifest
            .municipalities
            .get(m)
            .map_or(&[], |m| &m.menu.popular),
        None => national,
    };
    let visible = |ids: &[String]| -> Vec<Arc<Entry>> {
        ids.iter()
            .filter_map(|id| engine.retriever.entry(id, municipality))
            .collect()
    };
    if !own.is_empty() {
        return ("configured", visible(own));
    }
    let key = municipality.map(str::to_owned);
    let cached = st
        .most_opened
        .lock()
        .expect("not poisoned")
        .get(&key)
        .filter(|(at, _)| at.elapsed() < MOST_OPENED_TTL)
        .map(|(_, ids)| ids.clone());
    let counted = match cached {
        Some(ids) => ids,
        None => {
            let since = crate::store::from_now(-chrono::Duration::days(MOST_OPENED_DAYS));
            // Read a few more than shown: some may be gone from the FAQ since.
            match st
                .store
                .most_opened(&since, municipality, (MOST_OPENED_SHOWN * 2) as i64)
                .await
            {
                Ok(rows) => {
                    let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
                    st.most_opened
                        .lock()
                        .expect("not poisoned")
                        .insert(key, (std::time::Instant::now(), ids.clone()));
                    ids
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the most opened entries could not be read");
                    Vec::new()
                }
            }
        }
    };
    let mut most = visible(&counted);
    most.truncate(MOST_OPENED_SHOWN);
    if most.len() >= MOST_OPENED_MIN {
        return ("most_opened", most);
    }
    ("configured", visible(national))
}

/// `GET /api/start`: what the widget opens with: the municipality, its notices shown today
/// (the town's, then everyone's, in the office's time zone) and its popular questions (see
/// `popular`), each with its office.
pub async fn start(
    State(st): State<Arc<AppState>>,
    Query(p): Query<MunicipalityParam>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let municipality = asked_as(&st, p)?;
    let engine = st.engine();
    let manifest = engine.retriever.manifest();
    let town = municipality
        .as_deref()
        .and_then(|m| manifest.municipalities.get(m));
    let today = chrono::Utc::now()
        .with_timezone(&st.config.server.offset())
        .format("%Y-%m-%d")
        .to_string();
    let notices: Vec<&faq::Notice> = town
        .map(|t| t.menu.notices.iter())
        .into_iter()
        .flatten()
        .chain(&manifest.menu.notices)
        .filter(|n| n.shown_on(&today))
        .collect();
    let (source, entries) = popular(&st, &engine, municipality.as_deref()).await;
    Ok(Json(json!({
        "municipality": town.map(|t| json!({ "code": t.code, "name": t.name })),
        "notices": notices,
        "popular": entries.iter().map(|e| json!({
            "faq_id": e.id, "question": e.question, "contact": e.contact,
        })).collect::<Vec<_>>(),
        "popular_source": source,
    })))
}

/// `POST /api/feedback` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The answer the feedback is about (`message_id` of a chat reply)…
    pub message_id: Option<String>,
    /// …or the entry opened from a list (`opened_id` of a `POST /api/open` reply); exactly one.
    pub opened_id: Option<String>,
    /// 👍 (true) or 👎 (false).
    pub helpful: bool,
    /// Optional comment.
    pub comment: Option<String>,
}

/// `POST /api/feedback`: 👍/👎 on an answer or an opened entry, with an optional comment. One
/// feedback per answer: sending again replaces the vote (and the comment, when one is sent), so
/// the widget records a click at once and the comment after it.
pub async fn feedback(State(st): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let req: FeedbackRequest = parse_json(&body)?;
    let on = match (req.message_id, req.opened_id) {
        (Some(id), None) => FeedbackOn::Message(id),
        (None, Some(id)) => FeedbackOn::Opened(id),
        _ => {
            return Err(ApiError::bad_request(
                "give either message_id or opened_id (exactly one)",
            ));
        }
    };
    if !chat::valid_id(on.id()) {
        return Err(ApiError::bad_request(format!(
            "{} is malformed",
            on.field()
        )));
    }
    let comment = match req.comment.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => {
            let masked = crate::mask::mask(&check_text(c, "comment", MAX_COMMENT)?);
            for kind in &masked.found {
                st.metrics
                    .count(crate::metrics::Family::Masked, kind.label(), 1);
            }
            Some(masked.text)
        }
    };
    let stored = st
        .store
        .set_feedback(&on, req.helpful, comment.as_deref())
        .await
        .map_err(|e| ApiError::storage(&e))?;
    if stored == FeedbackStored::UnknownTarget {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown {}", on.field()),
        ));
    }
    // Counted once per answer: the comment that follows a vote is not a second feedback.
    if stored == FeedbackStored::New {
        st.metrics.feedback(req.helpful);
    }
    Ok((StatusCode::CREATED, Json(json!({ "stored": true }))).into_response())
}

/// `POST /api/open`: an entry the resident opened from もしかして, the menu or related questions,
/// as the municipality sees it, recorded for the figures ([`chat::open`]; this only translates
/// HTTP). `opened_id` is null when the database could not store it.
pub async fn open(State(st): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let req: chat::Open = parse_json(&body)?;
    let engine = st.engine();
    let opened = chat::open(&engine, services(&st), req).await?;
    Ok(Json(json!({
        "entry": *opened.entry,
        "opened_id": opened.opened_id,
        "recorded": opened.opened_id.is_some(),
        "related": opened.related,
    }))
    .into_response())
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the index is loaded and the database answers.
pub async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    let engine = st.engine();
    let entries = engine.retriever.manifest().entries;
    let semantic = engine.semantic.clone();
    // Bounded: a load balancer's probe must not wait for the pool's connect timeout.
    let reachable = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(1), st.store.ping()).await,
        Ok(Ok(()))
    );
    let writes = st.store.write_health();
    let database = match (reachable, writes.ok) {
        (true, true) => "ok",
        (true, false) => "writes failing",
        (false, _) => "unreachable",
    };
    let recording = reachable && writes.ok;
    if !recording {
        tracing::warn!(database, error = ?writes.error, "readiness: answering without recording");
    }
    // Residents are still answered from the FAQ when the database fails, so the service stays
    // ready; `status` and `recording` say that nothing is being stored.
    Json(json!({
        "status": if recording { "ready" } else { "degraded" },
        "entries": entries,
        "database": database,
        "recording": recording,
        "database_error": writes.error,
        "database_failing_since": writes.failing_since,
        "semantic": semantic,
        // The database's FAQ version served, when the FAQ lives in the database.
        "faq_version": st.faq_version(),
    }))
    .into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render()
            + &semantic_gauge(&st.engine().semantic)
            + &question_embeddings(st.engine().retriever.question_embeddings())
            + &format!(
                "# HELP madoguchi_recording Whether residents' turns and feedback are being stored (0: answering without recording).\n# TYPE madoguchi_recording gauge\nmadoguchi_recording {}\n",
                u8::from(st.store.write_health().ok)
            ),
    )
        .into_response()
}

/// The semantic leg's state as a gauge: 1 for the state it is in, 0 for the others.
fn semantic_gauge(status: &crate::semantic::Status) -> String {
    use crate::semantic::Status;
    let now = match status {
        Status::On { .. } => "on",
        Status::Off => "off",
        Status::Unavailable { .. } => "unavailable",
        Status::Embedding { .. } => "embedding",
    };
    let mut s = String::from(
        "# HELP madoguchi_semantic_leg Whether the semantic leg runs (on), is turned off ([search] semantic_weight = 0), could not load its model (unavailable: lexical only) or waits for the entries to be embedded at a first start (embedding: lexical only until then).\n# TYPE madoguchi_semantic_leg gauge\n",
    );
    for state in ["on", "off", "unavailable", "embedding"] {
        s += &format!(
            "madoguchi_semantic_leg{{state=\"{state}\"}} {}\n",
            u8::from(state == now)
        );
    }
    s
}

/// The bundled model's question embeddings as counters: questions, and the calls they were
/// embedded in (questions asked at once are embedded together); nothing without the leg.
fn question_embeddings(counts: Option<crate::semantic::QuestionEmbeddings>) -> String {
    let Some(c) = counts else {
        return String::new();
    };
    format!(
        "# HELP madoguchi_question_embeddings_total Questions embedded by the bundled sentence model (a repeated question comes from the cache and is not counted).\n# TYPE madoguchi_question_embeddings_total counter\nmadoguchi_question_embeddings_total {}\n# HELP madoguchi_question_embedding_batches_total Calls to the bundled sentence model for questions: questions waiting together are embedded in one call, so under load there are fewer calls than questions.\n# TYPE madoguchi_question_embedding_batches_total counter\nmadoguchi_question_embedding_batches_total {}\n# HELP madoguchi_question_embeddings_skipped_total Questions searched by words alone because {waiting} questions were already waiting for the sentence model (about a quarter of a second of its time on two cores: a burst beyond what it can embed).\n# TYPE madoguchi_question_embeddings_skipped_total counter\nmadoguchi_question_embeddings_skipped_total {}\n",
        c.questions,
        c.batches,
        c.skipped,
        waiting = crate::semantic::MAX_WAITING_QUESTIONS,
    )
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

/// Query of `POST /admin/reload`.
#[derive(Debug, Deserialize)]
pub struct ReloadParams {
    /// Reload even when the FAQ would lose more than 5% of its entries.
    pub force: Option<bool>,
}

/// `POST /admin/reload[?force=true]` (bearer token): rebuild the index from the FAQ directory
/// and swap it in.
pub async fn admin_reload(
    State(st): State<Arc<AppState>>,
    Query(q): Query<ReloadParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(token) = st
        .config
        .server
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
    else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the admin API is disabled: set MADOGUCHI_ADMIN_TOKEN",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token",
        ));
    }
    // Detached: a timed-out or dropped request never stops a build halfway.
    let state = st.clone();
    let force = q.force.unwrap_or(false);
    let reloaded = tokio::spawn(async move {
        if !state.config.server.faq_from_database() {
            return state.reload_with(force, || true).await;
        }
        // The FAQ lives in the database: serve its current version again (a hand-edited
        // faq/ is put back as that version has it).
        let failed = |p: String| super::ReloadError::new(vec![p]);
        let _one_at_a_time = state.apply_lock.lock().await;
        match state.store.current_faq_version().await {
            Ok(Some(v)) => super::faq_sync::follow(&state, v.id)
                .await
                .map(|()| state.engine())
                .map_err(failed),
            Ok(None) => Err(failed("the database holds no FAQ version".into())),
            Err(e) => Err(failed(e.to_string())),
        }
    })
    .await
    .map_err(|e| {
        ApiError::internal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the reload task failed",
            &e,
        )
    })?;
    match reloaded {
        Ok(engine) => {
            let m = engine.retriever.manifest();
            Ok(Json(json!({
                "reloaded": true,
                "entries": m.entries,
                "municipalities": m.municipalities.keys().collect::<Vec<_>>(),
            }))
            .into_response())
        }
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the FAQ files were not loaded; the running index is unchanged",
        )
        .with(json!({ "problems": e.problems }))),
    }
}

/// Compares secrets without returning early on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}
