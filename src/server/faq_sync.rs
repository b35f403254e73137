//! The FAQ kept in PostgreSQL ([`crate::config::ServerConfig::faq_from_database`]): every
//! replica serves the database's current FAQ version, with `faq/` as its own copy of it.
//!
//! - At start ([`at_start`]), before the index is opened: the first replica ever seeds version 1
//!   from its `faq/`; every later start writes the current version into `faq/` when it differs.
//! - While serving ([`spawn_follower`]): a new current version (an upload on any replica,
//!   `madoguchi faq publish`, a rollback) arrives by `LISTEN` on [`crate::store::FAQ_CHANNEL`],
//!   or by polling every `watch_interval_secs` when a notification is lost; the replica writes
//!   it into `faq/` and reloads ([`follow`]).
//! - An upload in the staff console is published as a version first and then followed here
//!   (`faq_admin`), so the replica that took it serves it like every other.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::AppState;
use crate::faq::{self, snapshot};
use crate::store::{self, FaqSummary, Store};

/// What a FAQ directory holds, for a version's record.
pub fn summary(corpus: &faq::Corpus, files: usize, note: String) -> FaqSummary {
    FaqSummary {
        entries: corpus.entries.iter().filter(|e| !e.hidden).count(),
        files,
        municipalities: corpus.municipalities.len(),
        note,
    }
}

/// Before the engine opens: seeds the first version from `faq_dir`, or makes `faq_dir` hold the
/// current version. Returns the version `faq_dir` now holds.
pub async fn at_start(store: &Store, faq_dir: &Path) -> anyhow::Result<i64> {
    use anyhow::Context as _;
    for _ in 0..3 {
        if let Some(v) = store.current_faq_version().await? {
            // A new replica may start with no FAQ directory at all: it is written here.
            let dir = faq_dir.to_owned();
            let local = tokio::task::spawn_blocking(move || {
                if dir.exists() {
                    snapshot::read(&dir)
                } else {
                    Ok(Vec::new())
                }
            })
            .await??;
            if snapshot::fingerprint(&local) != v.fingerprint {
                let files = store
                    .faq_version_files(v.id)
                    .await?
                    .with_context(|| format!("FAQ version {} has no files", v.id))?;
                let dir = faq_dir.to_owned();
                let (written, removed) =
                    tokio::task::spawn_blocking(move || snapshot::write(&dir, &files)).await??;
                tracing::info!(version = v.id, written, removed, faq = %faq_dir.display(), "FAQ from the database written into the FAQ directory");
            }
            tracing::info!(
                version = v.id,
                "serving the database's current FAQ version; change it with the staff console or `madoguchi faq publish`"
            );
            return Ok(v.id);
        }
        // The very first start: this FAQ directory becomes version 1.
        let dir = faq_dir.to_owned();
        let (files, corpus) = tokio::task::spawn_blocking(move || {
            Ok::<_, anyhow::Error>((snapshot::read(&dir)?, faq::load_dir(&dir)?))
        })
        .await??;
        let note = format!("seeded from {}", faq_dir.display());
        let s = summary(&corpus, files.len(), note);
        match store.publish_faq(None, &files, "seed", "seed", &s).await {
            Ok(id) => {
                tracing::info!(
                    version = id,
                    entries = s.entries,
                    "the FAQ directory is now the database's first FAQ version"
                );
                return Ok(id);
            }
            // Another replica seeded at the same moment: serve its version.
            Err(store::Error::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("could not agree on a first FAQ version with the other replicas")
}

/// Makes this replica serve version `id`: writes its files into `faq/` and reloads (forced: the
/// version was checked where it was made, drops included). The caller holds
/// `AppState::apply_lock`.
pub async fn follow(st: &AppState, id: i64) -> Result<(), String> {
    let files = st
        .store
        .faq_version_files(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("FAQ version {id} does not exist"))?;
    let dir = st.locations.faq.clone();
    let (written, removed) = tokio::task::spawn_blocking(move || snapshot::write(&dir, &files))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("writing FAQ version {id} into the FAQ directory: {e}"))?;
    st.reload_with(true, || true)
        .await
        .map_err(|e| e.problems.join("\n"))?;
    st.set_faq_version(Some(id));
    tracing::info!(
        version = id,
        written,
        removed,
        "now serving FAQ version {id}"
    );
    Ok(())
}

/// Follows the database's current FAQ version for as long as the process runs.
pub fn spawn_follower(state: Arc<AppState>) {
    let poll = Duration::from_secs(state.config.server.watch_interval_secs);
    let url = state.config.server.database_url();
    tokio::spawn(async move {
        let mut listener: Option<sqlx::postgres::PgListener> = None;
        let mut failed: Option<i64> = None;
        let notifications = state.config.server.faq_notifications;
        loop {
            if listener.is_none() && notifications {
                listener = listen(&url).await;
            }
            let heard = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            let waited = async {
                if poll.is_zero() {
                    // Without polling, retry a lost listener now and then.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                } else {
                    tokio::time::sleep(poll).await;
                }
            };
            let lost = tokio::select! {
                r = heard => r.err(),
                () = waited => None,
            };
            if let Some(e) = lost {
                tracing::warn!(error = %e, "lost the FAQ notification channel; polling until it is back");
                listener = None;
            }
            let current = match state.store.current_faq_version().await {
                Ok(Some(v)) => v.id,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the current FAQ version");
                    continue;
                }
            };
            if Some(current) == state.faq_version() || Some(current) == failed {
                continue;
            }
            let _one_at_a_time = state.apply_lock.lock().await;
            if Some(current) == state.faq_version() {
                continue;
            }
            match follow(&state, current).await {
                Ok(()) => failed = None,
                Err(e) => {
                    tracing::error!(version = current, error = %e, "could not serve the current FAQ version; the previous one stays");
                    failed = Some(current);
                }
            }
        }
    });
}

async fn listen(url: &str) -> Option<sqlx::postgres::PgListener> {
    let mut l = match sqlx::postgres::PgListener::connect(url).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for FAQ versions; polling");
            return None;
        }
    };
    match l.listen(crate::store::FAQ_CHANNEL).await {
        Ok(()) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for FAQ versions; polling");
            None
        }
    }
}
