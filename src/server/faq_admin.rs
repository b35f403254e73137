//! FAQ management for administrators: upload a file (CSV in UTF-8 or Shift_JIS, XLSX, the
//! Govbot CSV layout, YAML, JSON, JSONL), see its validation problems or what it would change,
//! apply it (written beside the other files, then an atomic reload), and download the FAQ.
//!
//! An uploaded file goes to `faq/national/NAME` or `faq/municipalities/CODE/NAME`, replacing a
//! file of the same name there. The preview loads a copy of the whole FAQ directory with the file
//! in place, so validation sees exactly what the reload will see (duplicate ids across files,
//! overrides of national entries, hidden markers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::http::ApiError;
use super::staff::{StaffUser, download as attachment, require_admin};
use crate::faq::{self, Entry};

/// Largest upload, in bytes.
pub const MAX_UPLOAD: usize = 10 * 1024 * 1024;

/// Where an upload goes.
#[derive(Debug, Deserialize)]
pub struct Target {
    /// File name, e.g. `city-faq.csv`.
    pub file: Option<String>,
    /// Municipality code; national when absent.
    pub municipality: Option<String>,
    /// Apply even when the FAQ would lose more than 5% of its entries.
    pub force: Option<bool>,
    /// The file replaces every FAQ file of its target (the national layer, or the
    /// municipality's own entries): what a download edited in Excel and uploaded again does.
    pub replace: Option<bool>,
    /// Download format: `xlsx` (default), `csv` (UTF-8 with BOM), `csv-cp932`, `jsonl`.
    pub format: Option<String>,
    /// Download what residents see (`residents`: national entries with the municipality's
    /// overrides, as JSON Lines) instead of the target's own rows (`layer`, the default).
    pub view: Option<String>,
}

/// The folder of a target's layer, relative to the FAQ directory.
fn layer_folder(t: &Target) -> PathBuf {
    match t.municipality.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => PathBuf::from("municipalities").join(m),
        None => PathBuf::from("national"),
    }
}

/// The FAQ files of `folder` (relative to `faq_dir`) that a replacing upload removes: every
/// entry file there, not the declaration, the dictionaries or read-me notes.
fn layer_files(faq_dir: &Path, folder: &Path) -> Vec<PathBuf> {
    faq::snapshot::paths(&faq_dir.join(folder))
        .unwrap_or_default()
        .into_iter()
        .map(|p| folder.join(p))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            ["csv", "xlsx", "yaml", "yml", "json", "jsonl"].contains(&ext.as_str())
                && ![
                    faq::MUNICIPALITY_FILE,
                    crate::synonyms::FILE_NAME,
                    faq::USER_DICT_FILE,
                ]
                .contains(&name)
        })
        .collect()
}

/// The upload's path relative to the FAQ directory.
fn relative_path(t: &Target) -> Result<PathBuf, ApiError> {
    let name = t.file.as_deref().unwrap_or("");
    let ok_name = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ok_name || !["csv", "xlsx", "yaml", "yml", "json", "jsonl"].contains(&ext.as_str()) {
        return Err(ApiError::bad_request(
            "file must be a plain name (letters, digits, . _ -) ending in .csv, .xlsx, .yaml, .yml, .json or .jsonl",
        ));
    }
    if name == crate::synonyms::FILE_NAME {
        return Err(ApiError::bad_request("synonyms.csv is not a FAQ file"));
    }
    if name == faq::MENU_FILE {
        return Err(ApiError::bad_request(
            "menu.yaml is not a FAQ file: the opening screen is set in faq/menu.yaml (everyone) or a town's municipality.yaml",
        ));
    }
    if name == faq::MUNICIPALITY_FILE {
        return Err(ApiError::bad_request(
            "municipality.yaml is not a FAQ file: a municipality is declared with madoguchi municipality add",
        ));
    }
    Ok(match t.municipality.as_deref() {
        None | Some("") => PathBuf::from("national").join(name),
        Some(m) if faq::is_municipality_code(m) => {
            PathBuf::from("municipalities").join(m).join(name)
        }
        Some(m) => {
            return Err(ApiError::bad_request(
                faq::municipality_code_problem(m).unwrap_or_default(),
            ));
        }
    })
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for item in std::fs::read_dir(from)? {
        let item = item?;
        let dest = to.join(item.file_name());
        if item.file_type()?.is_dir() {
            copy_tree(&item.path(), &dest)?;
        } else {
            std::fs::copy(item.path(), dest)?;
        }
    }
    Ok(())
}

/// What an upload would change, by (scope, id).
#[derive(Debug, Default, serde::Serialize)]
pub struct Diff {
    /// New entries.
    pub added: Vec<String>,
    /// Entries whose content changes.
    pub changed: Vec<String>,
    /// Entries that disappear.
    pub removed: Vec<String>,
    /// Entries in the FAQ after the change (hide markers not counted, as in the index).
    pub total: usize,
    /// Every change with its kind and the text before and after, for people to check.
    pub items: Vec<Change>,
}

/// One change of a [`Diff`].
#[derive(Debug, serde::Serialize)]
pub struct Change {
    /// `added` (a new entry), `overridden` (a municipality's own version of a national entry
    /// starts), `changed`, `hidden` (a national entry stops showing in the municipality),
    /// `unhidden`, `override_removed` (the national entry shows again) or `removed`.
    pub kind: &'static str,
    /// `national` or the municipality code.
    pub scope: String,
    /// Entry id.
    pub id: String,
    /// The fields that differ (for `changed` and `overridden`).
    pub fields: Vec<&'static str>,
    /// What residents saw before (for `overridden`, `unhidden`: the national entry).
    pub before: Option<Entry>,
    /// What they will see.
    pub after: Option<Entry>,
}

fn keyed(entries: &[Entry]) -> BTreeMap<String, &Entry> {
    entries
        .iter()
        .map(|e| (format!("{}/{}", e.scope, e.id), e))
        .collect()
}

/// The names of the fields in which `a` and `b` differ.
fn differing(a: &Entry, b: &Entry) -> Vec<&'static str> {
    let mut f = Vec::new();
    let mut check = |name, same: bool| {
        if !same {
            f.push(name);
        }
    };
    check("question", a.question == b.question);
    check("alt_questions", a.alt_questions == b.alt_questions);
    check("answer", a.answer == b.answer);
    check("category", a.category == b.category);
    check("tags", a.tags == b.tags);
    check("source_url", a.source_url == b.source_url);
    check("updated", a.updated == b.updated);
    check("contact", a.contact == b.contact);
    check("hidden", a.hidden == b.hidden);
    f
}

/// The differences between two corpora.
pub fn diff(old: &[Entry], new: &[Entry]) -> Diff {
    let (a, b) = (keyed(old), keyed(new));
    let national = |id: &str| {
        a.get(&format!("{}/{id}", faq::NATIONAL))
            .or_else(|| b.get(&format!("{}/{id}", faq::NATIONAL)))
            .map(|e| (*e).clone())
    };
    let mut d = Diff {
        total: new.iter().filter(|e| !e.hidden).count(),
        ..Diff::default()
    };
    let change = |kind, e: &Entry, fields, before, after| Change {
        kind,
        scope: e.scope.clone(),
        id: e.id.clone(),
        fields,
        before,
        after,
    };
    for (k, e) in &b {
        match a.get(k) {
            None => {
                d.added.push(k.clone());
                let base = (!e.is_national()).then(|| national(&e.id)).flatten();
                d.items.push(match (e.hidden, base) {
                    (true, base) => change("hidden", e, vec![], base, None),
                    (false, Some(n)) => change(
                        "overridden",
                        e,
                        differing(&n, e),
                        Some(n),
                        Some((*e).clone()),
                    ),
                    (false, None) => change("added", e, vec![], None, Some((*e).clone())),
                });
            }
            Some(o) if o != e => {
                d.changed.push(k.clone());
                let kind = if e.hidden && !o.hidden {
                    "hidden"
                } else {
                    "changed"
                };
                d.items.push(change(
                    kind,
                    e,
                    differing(o, e),
                    Some((*o).clone()),
                    Some((*e).clone()),
                ));
            }
            Some(_) => {}
        }
    }
    for (k, o) in &a {
        if b.contains_key(k) {
            continue;
        }
        d.removed.push(k.clone());
        let base = (!o.is_national()).then(|| national(&o.id)).flatten();
        d.items.push(match (o.hidden, base) {
            (true, base) => change("unhidden", o, vec![], None, base),
            (false, Some(n)) => change("override_removed", o, vec![], Some((*o).clone()), Some(n)),
            (false, None) => change("removed", o, vec![], Some((*o).clone()), None),
        });
    }
    d
}

/// `message` with the validation copy's temporary path written as `faq`: the console never
/// shows a server path.
fn without_copy_path(message: &str, copy: &Path) -> String {
    message.replace(&copy.display().to_string(), "faq")
}

/// A problem of an upload as the console shows it: the file relative to the FAQ directory (the
/// uploaded one marked), the spreadsheet row or text line, the message in English and Japanese.
fn shown_problem(p: &faq::Problem, copy: &Path, uploaded: &Path) -> serde_json::Value {
    let rel = p.file.strip_prefix(copy).unwrap_or(&p.file);
    // A message may name another file (a duplicate's first definition).
    let message = without_copy_path(&p.message, copy);
    json!({
        "file": Path::new("faq").join(rel),
        "uploaded": rel == uploaded,
        "row": p.line,
        "message": message,
        "message_ja": faq::messages::japanese(&message),
    })
}

/// Validates the FAQ directory with `bytes` at `rel` (and, with `replaced`, without those
/// files); returns the corpus it would load or every problem, located by file (relative to the
/// FAQ directory) and row, in English and Japanese.
fn validate(
    faq_dir: &Path,
    rel: &Path,
    bytes: &[u8],
    replaced: &[PathBuf],
) -> Result<faq::Corpus, ApiError> {
    let tmp = tempfile::tempdir()
        .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "upload failed", &e))?;
    let copy = tmp.path().join("faq");
    copy_tree(faq_dir, &copy)
        .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "upload failed", &e))?;
    for r in replaced {
        let _ = std::fs::remove_file(copy.join(r));
    }
    let dest = copy.join(rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "upload failed", &e)
        })?;
    }
    std::fs::write(&dest, bytes)
        .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "upload failed", &e))?;
    faq::load_dir(&copy).map_err(|e| {
        let found: Vec<serde_json::Value> = match &e {
            faq::Error::Invalid(ps) => ps.iter().map(|p| shown_problem(p, &copy, rel)).collect(),
            other => {
                let message = without_copy_path(&other.to_string(), &copy);
                let message_ja = faq::messages::japanese(&message);
                vec![json!({ "message": message, "message_ja": message_ja })]
            }
        };
        // `problems`: one line each (file:row: message), as the reload reports them.
        let lines: Vec<String> = found
            .iter()
            .map(|p| match (p["file"].as_str(), p["row"].as_u64()) {
                (Some(f), Some(0)) => format!("{f}: {}", p["message"].as_str().unwrap_or("")),
                (Some(f), Some(r)) => format!("{f}:{r}: {}", p["message"].as_str().unwrap_or("")),
                _ => p["message"].as_str().unwrap_or("").to_owned(),
            })
            .collect();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the file has problems; nothing was changed",
        )
        .with(json!({ "problems": lines, "found": found }))
    })
}

async fn preview_inner(
    st: &Arc<AppState>,
    t: &Target,
    body: Bytes,
) -> Result<(PathBuf, Diff), ApiError> {
    preview_corpus(st, t, body)
        .await
        .map(|(rel, d, _)| (rel, d))
}

/// The files an upload to `rel` replaces: with `replace`, every other FAQ file of its target.
fn replaced_by(st: &AppState, t: &Target, rel: &Path) -> Vec<PathBuf> {
    if !t.replace.unwrap_or(false) {
        return Vec::new();
    }
    layer_files(&st.locations.faq, &layer_folder(t))
        .into_iter()
        .filter(|p| p != rel)
        .collect()
}

/// [`preview_inner`] with the corpus the FAQ would load.
async fn preview_corpus(
    st: &Arc<AppState>,
    t: &Target,
    body: Bytes,
) -> Result<(PathBuf, Diff, faq::Corpus), ApiError> {
    let rel = relative_path(t)?;
    if body.is_empty() {
        return Err(ApiError::bad_request("the uploaded file is empty"));
    }
    let faq_dir = st.locations.faq.clone();
    let rel2 = rel.clone();
    let replaced = replaced_by(st, t, &rel);
    let (new, old) = tokio::task::spawn_blocking(move || {
        let new = validate(&faq_dir, &rel2, &body, &replaced)?;
        let old = faq::load_dir(&faq_dir)
            .map(|c| c.entries)
            .unwrap_or_default();
        Ok::<_, ApiError>((new, old))
    })
    .await
    .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "upload failed", &e))??;
    let d = diff(&old, &new.entries);
    Ok((rel, d, new))
}

/// `POST /staff/api/faq/preview?file=NAME[&municipality=CODE]` (admin), body = the file:
/// validation problems (422) or the diff.
pub async fn preview(
    State(st): State<Arc<AppState>>,
    user: Option<axum::Extension<StaffUser>>,
    Query(t): Query<Target>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_admin(user)?;
    let (rel, d) = preview_inner(&st, &t, body).await?;
    let replaced: Vec<PathBuf> = replaced_by(&st, &t, &rel)
        .into_iter()
        .map(|p| Path::new("faq").join(p))
        .collect();
    Ok(Json(
        json!({ "path": Path::new("faq").join(rel), "diff": d, "replaces": replaced }),
    ))
}

/// `POST /staff/api/faq/apply?file=NAME[&municipality=CODE]` (admin): writes the file and
/// reloads, all or nothing within `[server] reload_timeout_ms`. On any failure, and when the
/// deadline passes first, the previous file is restored and the running index is unchanged.
/// The work runs as a detached task, one apply at a time, that decides by itself: a client that
/// goes away never leaves a written file that the running index does not reflect, or the other
/// way round.
pub async fn apply(
    State(st): State<Arc<AppState>>,
    user: Option<axum::Extension<StaffUser>>,
    Query(t): Query<Target>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let u = require_admin(user)?;
    let limit = Duration::from_millis(st.config.server.reload_timeout_ms);
    let deadline = Instant::now() + limit;
    let outcome = Arc::new(AtomicU8::new(PENDING));
    let mut work = tokio::spawn({
        let outcome = outcome.clone();
        async move {
            let _one_at_a_time = st.apply_lock.lock().await;
            apply_inner(&st, &t, &u.name, body, deadline, &outcome).await
        }
    });
    let joined = match tokio::time::timeout_at(deadline.into(), &mut work).await {
        Ok(joined) => joined,
        Err(_) if settle(&outcome, ABANDONED) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the FAQ file was not applied: checking and indexing it took longer than {} s; \
                     nothing changed (split the file or raise [server] reload_timeout_ms)",
                    limit.as_secs_f64()
                ),
            ));
        }
        // Committed just as the deadline passed: report what happened.
        Err(_) => work.await,
    };
    joined.map_err(|e| {
        ApiError::internal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the apply task failed",
            &e,
        )
    })?
}

const PENDING: u8 = 0;
const COMMITTED: u8 = 1;
const ABANDONED: u8 = 2;

/// Moves a pending apply to `to`; false when it was already settled the other way.
fn settle(outcome: &AtomicU8, to: u8) -> bool {
    outcome
        .compare_exchange(PENDING, to, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

async fn apply_inner(
    st: &Arc<AppState>,
    t: &Target,
    user: &str,
    body: Bytes,
    deadline: Instant,
    outcome: &AtomicU8,
) -> Result<Json<serde_json::Value>, ApiError> {
    if st.config.server.faq_from_database() {
        return apply_published(st, t, user, body, deadline, outcome).await;
    }
    let bytes = body.clone();
    let (rel, d) = preview_inner(st, t, body).await?;
    let dest = st.locations.faq.join(&rel);
    let previous = std::fs::read(&dest).ok();
    // With `replace`, the target's other FAQ files go; kept here to be put back on failure.
    let replaced: Vec<(PathBuf, Vec<u8>)> = replaced_by(st, t, &rel)
        .into_iter()
        .filter_map(|r| {
            let path = st.locations.faq.join(r);
            std::fs::read(&path).ok().map(|b| (path, b))
        })
        .collect();
    let restore = || {
        match &previous {
            Some(old) => {
                let _ = std::fs::write(&dest, old);
            }
            None => {
                let _ = std::fs::remove_file(&dest);
            }
        }
        for (path, old) in &replaced {
            let _ = std::fs::write(path, old);
        }
    };
    let write = || -> std::io::Result<()> {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = dest.with_extension("upload-tmp");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &dest)?;
        for (path, _) in &replaced {
            std::fs::remove_file(path)?;
        }
        Ok(())
    };
    if Instant::now() >= deadline || outcome.load(Ordering::SeqCst) != PENDING {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "the FAQ file was not applied: its deadline passed; nothing changed",
        ));
    }
    write().map_err(|e| {
        restore();
        ApiError::internal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not write the file",
            &e,
        )
    })?;
    let commit = || Instant::now() < deadline && settle(outcome, COMMITTED);
    match st.reload_with(t.force.unwrap_or(false), commit).await {
        Ok(engine) => {
            tracing::info!(user = %user, file = %dest.display(), added = d.added.len(), changed = d.changed.len(), removed = d.removed.len(), "FAQ file applied");
            Ok(Json(json!({
                "applied": true,
                "path": Path::new("faq").join(rel),
                "diff": d,
                "entries": engine.retriever.manifest().entries,
            })))
        }
        Err(e) if e.is_abandoned() => {
            restore();
            settle(outcome, ABANDONED);
            tracing::warn!(user = %user, file = %dest.display(), "FAQ apply abandoned past its deadline; the previous file is restored");
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the FAQ file was not applied: its deadline passed; nothing changed",
            ))
        }
        Err(e) => {
            restore();
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the reload failed; the previous file is restored and the running index is unchanged",
            )
            .with(json!({ "problems": e.problems })))
        }
    }
}

/// `GET /staff/api/faq/download[?municipality=CODE][&format=xlsx|csv|csv-cp932|jsonl][&view=layer|residents]`
/// (admin). By default the target's own rows (the national layer, or the municipality's own
/// entries, overrides and hidden markers) as XLSX in the columns the importer reads: uploaded
/// again with `replace=true` under any name, unchanged, it changes nothing. `view=residents`
/// gives the FAQ as that municipality's residents see it, as JSON Lines, for reading.
pub async fn download(
    State(st): State<Arc<AppState>>,
    user: Option<axum::Extension<StaffUser>>,
    Query(t): Query<Target>,
) -> Result<Response, ApiError> {
    require_admin(user)?;
    let municipality = t.municipality.clone().filter(|m| !m.is_empty());
    super::api::check_municipality(&st, municipality.as_deref())?;
    let scope = municipality.as_deref().unwrap_or(faq::NATIONAL).to_owned();
    let residents = match t.view.as_deref() {
        None | Some("layer") => false,
        Some("residents") => true,
        Some(_) => return Err(ApiError::bad_request("view must be layer or residents")),
    };
    let entries: Vec<Entry> = if residents {
        st.engine()
            .retriever
            .visible_entries(municipality.as_deref())
            .iter()
            .map(|e| (**e).clone())
            .collect()
    } else {
        let faq_dir = st.locations.faq.clone();
        let corpus = tokio::task::spawn_blocking(move || faq::load_dir(&faq_dir))
            .await
            .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "download failed", &e))?
            .map_err(|e| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "the FAQ files on the server have problems; fix them before downloading rows to edit",
                )
                .with(json!({ "problems": e.to_string().lines().skip(1).map(str::trim).collect::<Vec<_>>() }))
            })?;
        corpus
            .entries
            .into_iter()
            .filter(|e| e.scope == scope)
            .collect()
    };
    let refs: Vec<&Entry> = entries.iter().collect();
    let base = format!(
        "madoguchi-faq-{scope}{}",
        if residents { "-residents" } else { "" }
    );
    let format = t
        .format
        .as_deref()
        .unwrap_or(if residents { "jsonl" } else { "xlsx" });
    Ok(match format {
        "xlsx" => attachment(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &format!("{base}.xlsx"),
            faq::export::xlsx(&refs).map_err(|e| {
                ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "download failed", &e)
            })?,
        ),
        "csv" => attachment(
            "text/csv; charset=utf-8",
            &format!("{base}.csv"),
            faq::export::csv_utf8(&refs),
        ),
        "csv-cp932" => match faq::export::csv_cp932(&refs) {
            Ok(bytes) => attachment(
                "text/csv; charset=shift_jis",
                &format!("{base}-sjis.csv"),
                bytes,
            ),
            Err(bad) => {
                let shown: Vec<String> = bad
                    .iter()
                    .take(20)
                    .map(|u| format!("{}行目「{}」の「{}」", u.row, u.column, u.character))
                    .collect();
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "CP932 (Shift_JIS) cannot hold {} character(s) of this FAQ; download it as XLSX or UTF-8 CSV",
                        bad.len()
                    ),
                )
                .with(json!({
                    "message_ja": format!(
                        "Shift_JIS（CP932）で表せない文字があります：{}。Excel形式（.xlsx）か UTF-8 のCSVでダウンロードしてください。",
                        shown.join("、")
                    ),
                })));
            }
        },
        "jsonl" => {
            let mut out = String::new();
            for e in &entries {
                out += &serde_json::to_string(e).unwrap_or_default();
                out.push('\n');
            }
            attachment(
                "application/x-ndjson",
                &format!("{base}.jsonl"),
                out.into_bytes(),
            )
        }
        _ => {
            return Err(ApiError::bad_request(
                "format must be xlsx, csv, csv-cp932 or jsonl",
            ));
        }
    })
}

/// An apply when the FAQ lives in the database: the FAQ with the file is checked, published as
/// a new version on top of the one this replica serves (refused with 409 if another replica or
/// admin published meanwhile), and then served here as every replica serves it
/// ([`super::faq_sync::follow`]). Publishing is the commit: before it, the deadline can still
/// abandon the apply and nothing has changed anywhere.
async fn apply_published(
    st: &Arc<AppState>,
    t: &Target,
    user: &str,
    body: Bytes,
    deadline: Instant,
    outcome: &AtomicU8,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bytes = body.clone();
    let (rel, d, corpus) = preview_corpus(st, t, body).await?;
    let serving = st.engine().retriever.manifest().entries;
    if !t.force.unwrap_or(false)
        && let Some(problem) = super::drop_refusal(serving, d.total)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the reload failed; nothing was published and the running index is unchanged",
        )
        .with(json!({ "problems": [problem] })));
    }
    let faq_dir = st.locations.faq.clone();
    let rel_path = rel.clone();
    let slashed = |p: &Path| {
        p.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    };
    let gone: Vec<String> = replaced_by(st, t, &rel)
        .iter()
        .map(|p| slashed(p))
        .collect();
    let files = tokio::task::spawn_blocking(move || {
        let mut files = faq::snapshot::read(&faq_dir)?;
        let path = slashed(&rel_path);
        files.retain(|f| f.path != path && !gone.contains(&f.path));
        files.push(faq::snapshot::File {
            path,
            bytes: bytes.to_vec(),
        });
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok::<_, std::io::Error>(files)
    })
    .await
    .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "upload failed", &e))?
    .map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "upload failed", &e))?;
    let shown = Path::new("faq").join(&rel);
    let note = format!(
        "{}: {} added, {} changed, {} removed",
        shown.display(),
        d.added.len(),
        d.changed.len(),
        d.removed.len()
    );
    let summary = super::faq_sync::summary(&corpus, files.len(), note);
    if Instant::now() >= deadline || !settle(outcome, COMMITTED) {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "the FAQ file was not applied: its deadline passed; nothing changed",
        ));
    }
    let parent = st.faq_version();
    let id = match st
        .store
        .publish_faq(parent, &files, user, "console", &summary)
        .await
    {
        Ok(id) => id,
        Err(crate::store::Error::Conflict { current }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "the FAQ was changed meanwhile (by another replica or administrator); nothing was applied: \
                 preview the file again and apply it",
            )
            .with(json!({ "current_version": current, "your_version": parent })));
        }
        Err(e) => return Err(ApiError::storage(&e)),
    };
    tracing::info!(user = %user, file = %shown.display(), version = id, added = d.added.len(), changed = d.changed.len(), removed = d.removed.len(), "FAQ file published");
    super::faq_sync::follow(st, id).await.map_err(|problem| {
        tracing::error!(version = id, %problem, "published FAQ version could not be served here");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the FAQ was published as version {id}, but this replica could not load it; see the log"),
        )
    })?;
    Ok(Json(json!({
        "applied": true,
        "path": shown,
        "diff": d,
        "entries": st.engine().retriever.manifest().entries,
        "version": id,
    })))
}
