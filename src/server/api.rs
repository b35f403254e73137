//! The route handlers. Request and response shapes are documented in `openapi.json`, served at
//! `/api/openapi.json`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::http::{ApiError, check_text, parse_json};
use crate::answer::{self, Decision};
use crate::faq::{Contact, Entry};
use crate::retrieve::{self, Hit};

/// How many hits a chat turn retrieves.
const CHAT_DEPTH: usize = 10;
/// How many related entries an answer lists.
const RELATED: usize = 3;
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

/// An FAQ entry an answer is based on.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// Entry id.
    pub faq_id: String,
    /// Its question.
    pub question: String,
    /// Official source.
    pub source_url: Option<String>,
    /// Date last checked.
    pub updated: Option<String>,
}

/// The answer part of a chat response.
#[derive(Debug, Serialize)]
pub struct Answer {
    /// The FAQ answer text (links as `[label](url)`).
    pub text: String,
    /// The entry answered with.
    pub faq_id: String,
    /// The entry's question.
    pub question: String,
    /// Official source.
    pub source_url: Option<String>,
    /// Date the entry was last checked.
    pub updated: Option<String>,
    /// Office to contact.
    pub contact: Option<Contact>,
    /// Entries the text cites (`[FAQ:id]` in generated text; the answered entry otherwise).
    pub citations: Vec<String>,
    /// The cited entries with their sources.
    pub sources: Vec<Source>,
}

/// One candidate or related question.
#[derive(Debug, Serialize)]
pub struct Candidate {
    /// Entry id.
    pub faq_id: String,
    /// Its question.
    pub question: String,
    /// Ranking score (comparable within one response only).
    pub score: f32,
}

/// The fallback part of a chat response.
#[derive(Debug, Serialize)]
pub struct Fallback {
    /// What to tell the resident.
    pub text: String,
    /// Where to ask instead.
    pub contact: Contact,
}

/// `POST /api/chat` response.
#[derive(Debug, Serialize)]
pub struct ChatResponse {
    /// Conversation id (new or continued).
    pub conversation_id: String,
    /// This turn's id, for feedback.
    pub message_id: String,
    /// `answer`, `candidates` or `fallback`.
    pub decision: Decision,
    /// Whether `answer.text` was written by the LLM (false: it is the FAQ answer itself).
    pub generated: bool,
    /// Why a configured LLM's answer was not used (`timeout`, `http_error`, `rejected`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_error: Option<String>,
    /// Set when the decision is `answer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// Questions to choose from (もしかして) when the decision is `candidates`.
    pub candidates: Vec<Candidate>,
    /// Other entries close to the answer.
    pub related: Vec<Candidate>,
    /// Set when the decision is `fallback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

fn candidate(h: &Hit) -> Candidate {
    Candidate {
        faq_id: h.entry.id.clone(),
        question: h.entry.question.clone(),
        score: h.score,
    }
}

pub(super) fn check_municipality(st: &AppState, m: Option<&str>) -> Result<(), ApiError> {
    st.engine()
        .retriever
        .check_municipality(m)
        .map_err(|e| match e {
            retrieve::Error::UnknownMunicipality { code, known } => {
                ApiError::bad_request(format!("unknown municipality '{code}'"))
                    .with(json!({ "known": known }))
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

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A validated chat request.
struct Prepared {
    message: String,
    municipality: Option<String>,
    conversation_id: String,
    continued: bool,
}

async fn prepare(st: &AppState, req: ChatRequest) -> Result<Prepared, ApiError> {
    let message = check_text(&req.message, "message", st.config.server.max_question_chars)?;
    check_municipality(st, req.municipality.as_deref())?;
    let continued = req.conversation_id.is_some();
    let conversation_id = match req.conversation_id {
        Some(id) => {
            if !valid_id(&id) {
                return Err(ApiError::bad_request("conversation_id is malformed"));
            }
            let exists = st
                .store
                .conversation_exists(&id)
                .await
                .map_err(|e| ApiError::storage(&e))?;
            if !exists {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown conversation_id",
                ));
            }
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    Ok(Prepared {
        message,
        municipality: req.municipality,
        conversation_id,
        continued,
    })
}

/// `POST /api/chat`: JSON, or server-sent events with `"stream": true` or
/// `Accept: text/event-stream` (`delta` events of answer text while an LLM writes, then one
/// `result` event with the whole response, whose `answer` is final).
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
    let prepared = prepare(&st, req).await?;
    if !wants_stream {
        return Ok(Json(respond(&st, prepared, None).await?).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let deltas = tx.clone();
        let result = respond(&st, prepared, Some(deltas)).await;
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

/// Searches, decides, asks the LLM when there is one and the decision is an answer, stores the
/// turn and builds the response.
async fn respond(
    st: &Arc<AppState>,
    p: Prepared,
    deltas: Option<tokio::sync::mpsc::Sender<Event>>,
) -> Result<ChatResponse, ApiError> {
    let began = std::time::Instant::now();
    let config = &st.config.decision;
    let message = p.message;
    let conversation_id = p.conversation_id;
    let mut hits = search_blocking(st, message.clone(), CHAT_DEPTH, p.municipality.clone()).await?;
    let mut decision = answer::decide(&hits, config);
    // A follow-up (「それの期限は？」) rarely names its topic: when it does not find an answer on
    // its own, ask again with the previous answer's question in front of it.
    if decision != Decision::Answer
        && p.continued
        && let Ok(Some(topic)) = st.store.last_topic(&conversation_id).await
        && let Some(entry) = st
            .engine()
            .retriever
            .entry(&topic, p.municipality.as_deref())
    {
        let combined = format!("{} {}", entry.question, message);
        let again = search_blocking(st, combined, CHAT_DEPTH, p.municipality.clone()).await?;
        let d = answer::decide(&again, config);
        if d == Decision::Answer {
            hits = again;
            decision = d;
        }
    }

    // Everything below that leaves the process or is written down sees the masked text only.
    let masked = crate::mask::mask(&message);
    let mut generation: Option<Result<crate::llm::Generated, crate::llm::LlmError>> = None;
    if decision == Decision::Answer
        && let Some(llm) = &st.llm
    {
        let engine = st.engine();
        let entries: Vec<&Entry> = hits
            .iter()
            .take(llm.config().entries.max(1))
            .map(|h| h.entry.as_ref())
            .collect();
        let history = if p.continued {
            history(st, &engine, &conversation_id, p.municipality.as_deref()).await
        } else {
            Vec::new()
        };
        let started = std::time::Instant::now();
        let result = match &deltas {
            Some(tx) => {
                let tx = tx.clone();
                llm.answer_streaming(&masked.text, &entries, &history, move |piece| {
                    let _ = tx.try_send(
                        Event::default()
                            .event("delta")
                            .data(json!({ "text": piece }).to_string()),
                    );
                })
                .await
            }
            None => {
                // A plain JSON answer must come back within the request time limit, or the
                // resident would get a timeout instead of the FAQ answer: the LLM gets what is
                // left of it, less a margin for storing the turn.
                let limit = std::time::Duration::from_millis(st.config.server.request_timeout_ms);
                let budget = limit
                    .saturating_sub(began.elapsed())
                    .saturating_sub(std::time::Duration::from_millis(1000));
                if budget < std::time::Duration::from_millis(200) {
                    Err(crate::llm::LlmError::Timeout)
                } else {
                    tokio::time::timeout(budget, llm.answer(&masked.text, &entries, &history))
                        .await
                        .unwrap_or(Err(crate::llm::LlmError::Timeout))
                }
            }
        };
        let ok = result.is_ok();
        st.metrics.generation(ok);
        tracing::info!(
            generated = ok,
            error = result
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            ms = started.elapsed().as_millis() as u64,
            "llm"
        );
        generation = Some(result);
    }

    let message_id = uuid::Uuid::new_v4().to_string();
    let top = hits.first();
    let turn = crate::store::Turn {
        conversation_id: conversation_id.clone(),
        municipality: p.municipality.clone(),
        message_id: message_id.clone(),
        question: masked.text.clone(),
        masked_kinds: masked
            .found
            .iter()
            .map(|k| format!("{k:?}"))
            .collect::<Vec<_>>()
            .join(","),
        decision,
        faq_id: (decision == Decision::Answer)
            .then(|| top.map(|h| h.entry.id.clone()))
            .flatten(),
        coverage: top.map_or(0.0, |h| f64::from(h.coverage)),
        hits: serde_json::to_string(
            &hits
                .iter()
                .map(|h| json!({"faq_id": h.entry.id, "score": h.score}))
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default(),
    };
    st.store
        .record_turn(&turn)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    st.metrics.decision(decision);
    tracing::info!(
        decision = decision.as_str(),
        faq_id = turn.faq_id.as_deref().unwrap_or("-"),
        question = %masked.text,
        "chat"
    );

    let mut resp = ChatResponse {
        conversation_id,
        message_id,
        decision,
        generated: false,
        generation_error: None,
        answer: None,
        candidates: Vec::new(),
        related: Vec::new(),
        fallback: None,
    };
    match decision {
        Decision::Answer => {
            let e: &Entry = &hits[0].entry;
            let mut a = Answer {
                text: e.answer.clone(),
                faq_id: e.id.clone(),
                question: e.question.clone(),
                source_url: e.source_url.clone(),
                updated: e.updated.clone(),
                contact: e.contact.clone(),
                citations: vec![e.id.clone()],
                sources: vec![source(e)],
            };
            match generation {
                Some(Ok(g)) => {
                    a.sources = g
                        .citations
                        .iter()
                        .filter_map(|id| hits.iter().find(|h| &h.entry.id == id))
                        .map(|h| source(&h.entry))
                        .collect();
                    a.citations = g.citations;
                    a.text = g.text;
                    resp.generated = true;
                }
                Some(Err(err)) => resp.generation_error = Some(err.label().to_owned()),
                None => {}
            }
            resp.answer = Some(a);
            resp.related = hits.iter().skip(1).take(RELATED).map(candidate).collect();
        }
        Decision::Candidates => {
            resp.candidates = hits
                .iter()
                .take(config.max_candidates)
                .map(candidate)
                .collect();
        }
        Decision::Fallback | Decision::SmallTalk => {
            resp.fallback = Some(Fallback {
                text: "申し訳ありません。このご質問にお答えできるFAQが見つかりませんでした。\
                       言葉を変えてもう一度お試しいただくか、下記の窓口にお問い合わせください。"
                    .into(),
                contact: fallback_contact(st, p.municipality.as_deref()),
            });
        }
    }
    Ok(resp)
}

fn source(e: &Entry) -> Source {
    Source {
        faq_id: e.id.clone(),
        question: e.question.clone(),
        source_url: e.source_url.clone(),
        updated: e.updated.clone(),
    }
}

/// Earlier turns of a conversation for the LLM prompt: the masked questions as stored and the
/// FAQ answers they got.
async fn history(
    st: &AppState,
    engine: &super::Engine,
    conversation_id: &str,
    municipality: Option<&str>,
) -> Vec<crate::llm::Turn> {
    let rows = st
        .store
        .recent_turns(conversation_id, 6)
        .await
        .unwrap_or_default();
    rows.into_iter()
        .map(|(question, faq_id)| crate::llm::Turn {
            question,
            answer: faq_id
                .and_then(|id| engine.retriever.entry(&id, municipality))
                .map(|e| e.answer.clone())
                .unwrap_or_default(),
        })
        .collect()
}

/// The office to name in a fallback: the municipality's most-cited contact office, or the
/// configured default.
fn fallback_contact(st: &AppState, municipality: Option<&str>) -> Contact {
    municipality
        .and_then(|m| st.engine().fallback_contacts.get(m).cloned())
        .unwrap_or_else(|| Contact {
            office: Some(st.config.server.fallback_office.clone()),
            phone: None,
            url: None,
        })
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
    let hits = search_blocking(&st, q, k.max(2), p.municipality.clone()).await?;
    let decision = answer::decide(&hits, &st.config.decision);
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

/// `GET /api/categories`: the 大/中/小分類 tree with counts and starter questions.
pub async fn categories(
    State(st): State<Arc<AppState>>,
    Query(p): Query<MunicipalityParam>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_municipality(&st, p.municipality.as_deref())?;
    let entries = st
        .engine()
        .retriever
        .visible_entries(p.municipality.as_deref());
    // Level 1 → (count, level 2 → (count, level 3 → count), starters)
    type L2 = BTreeMap<String, (usize, BTreeMap<String, usize>)>;
    type Starters = Vec<(String, String)>;
    let mut tree: BTreeMap<String, (usize, L2, Starters)> = BTreeMap::new();
    for e in &entries {
        let c = |i: usize| e.category.get(i).cloned();
        let top = c(0).unwrap_or_else(|| "その他".into());
        let node = tree.entry(top).or_default();
        node.0 += 1;
        if node.2.len() < 3 {
            node.2.push((e.id.clone(), e.question.clone()));
        }
        if let Some(mid) = c(1) {
            let m = node.1.entry(mid).or_default();
            m.0 += 1;
            if let Some(low) = c(2) {
                *m.1.entry(low).or_default() += 1;
            }
        }
    }
    let out: Vec<serde_json::Value> = tree
        .into_iter()
        .map(|(name, (count, mids, starters))| {
            json!({
                "name": name,
                "count": count,
                "starters": starters.into_iter().map(|(id, q)| json!({"faq_id": id, "question": q})).collect::<Vec<_>>(),
                "children": mids.into_iter().map(|(name, (count, lows))| json!({
                    "name": name,
                    "count": count,
                    "children": lows.into_iter().map(|(name, count)| json!({"name": name, "count": count})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({ "total": entries.len(), "categories": out })))
}

/// `POST /api/feedback` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The message the feedback is about.
    pub message_id: String,
    /// 👍 (true) or 👎 (false).
    pub helpful: bool,
    /// Optional comment.
    pub comment: Option<String>,
}

/// `POST /api/feedback`.
pub async fn feedback(State(st): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let req: FeedbackRequest = parse_json(&body)?;
    if !valid_id(&req.message_id) {
        return Err(ApiError::bad_request("message_id is malformed"));
    }
    let comment = match req.comment.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(crate::mask::mask_str(&check_text(
            c,
            "comment",
            MAX_COMMENT,
        )?)),
    };
    let stored = st
        .store
        .add_feedback(&req.message_id, req.helpful, comment.as_deref())
        .await
        .map_err(|e| ApiError::storage(&e))?;
    if !stored {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown message_id"));
    }
    st.metrics.feedback(req.helpful);
    Ok((StatusCode::CREATED, Json(json!({ "stored": true }))).into_response())
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the index is loaded and the database answers.
pub async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    let entries = st.engine().retriever.manifest().entries;
    match st.store.ping().await {
        Ok(()) => {
            Json(json!({ "status": "ready", "entries": entries, "database": "ok" })).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "database unreachable", "entries": entries })),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

/// `POST /admin/reload` (bearer token): rebuild the index from the FAQ directory and swap it in.
pub async fn admin_reload(
    State(st): State<Arc<AppState>>,
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
    match st.reload().await {
        Ok(engine) => {
            let m = engine.retriever.manifest();
            Ok(Json(json!({
                "reloaded": true,
                "entries": m.entries,
                "municipalities": m.municipalities,
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
