//! Storage of conversations, messages (question text already masked), decisions, hits and
//! feedback: SQLite by default (one file under the data directory), PostgreSQL when a
//! `postgres://` URL is given, so several replicas can share one database.
//!
//! Both go through sqlx's `Any` driver with portable SQL: statements are written with `?`
//! placeholders and numbered (`$1`, `$2`, …) for PostgreSQL. Migrations are idempotent
//! (`CREATE … IF NOT EXISTS`, versions recorded with `ON CONFLICT DO NOTHING`), so replicas that
//! start together do not trip over each other. Timestamps are RFC 3339 UTC text, which sorts in
//! time order in both databases.

use std::path::Path;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed or could not be reached.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The URL names no supported database.
    #[error("unsupported database URL (use sqlite://PATH or postgres://…): {0}")]
    Url(String),
    /// The data directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The migrations, in order. Never edit one that has shipped; add a new one.
const MIGRATIONS: &[(i64, &[&str])] = &[(
    1,
    &[
        "CREATE TABLE IF NOT EXISTS conversations (
            id TEXT PRIMARY KEY,
            municipality TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS messages (
            id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id),
            question TEXT NOT NULL,
            masked_kinds TEXT NOT NULL,
            decision TEXT NOT NULL,
            faq_id TEXT,
            coverage DOUBLE PRECISION NOT NULL,
            hits TEXT NOT NULL,
            created_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id)",
        "CREATE INDEX IF NOT EXISTS messages_created ON messages (created_at)",
        "CREATE TABLE IF NOT EXISTS feedback (
            id TEXT PRIMARY KEY,
            message_id TEXT NOT NULL REFERENCES messages(id),
            helpful INTEGER NOT NULL,
            comment TEXT,
            created_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS feedback_message ON feedback (message_id)",
    ],
)];

/// One answered question, as stored.
#[derive(Debug, Clone)]
pub struct Turn {
    /// Conversation id.
    pub conversation_id: String,
    /// Municipality the resident asked as.
    pub municipality: Option<String>,
    /// Message id.
    pub message_id: String,
    /// The question with personal data masked.
    pub question: String,
    /// Kinds of personal data that were masked (names only), comma-separated.
    pub masked_kinds: String,
    /// `answer`, `candidates` or `fallback`.
    pub decision: String,
    /// The entry answered with, if any.
    pub faq_id: Option<String>,
    /// Coverage of the top hit.
    pub coverage: f64,
    /// The ranked hits as JSON (`[{"faq_id","score"}]`).
    pub hits: String,
}

/// A stored feedback, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The message it is about.
    pub message_id: String,
    /// 👍 or 👎.
    pub helpful: bool,
    /// Optional comment (masked).
    pub comment: Option<String>,
}

/// What a retention run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Conversations deleted.
    pub conversations: u64,
    /// Messages deleted.
    pub messages: u64,
    /// Feedback rows deleted.
    pub feedback: u64,
}

/// The database behind the service.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Store {
    /// The default SQLite URL for a data directory (`DIR/madoguchi.sqlite3`).
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("madoguchi.sqlite3").display()
        )
    }

    /// Connects (creating the SQLite file and its directory when needed) and migrates.
    pub async fn connect(url: &str) -> Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(Error::Url(redact_url(url)));
        };
        if backend == Backend::Sqlite
            && let Some(path) = url
                .strip_prefix("sqlite://")
                .map(|p| p.split('?').next().unwrap_or(p))
            && let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await?;
        let store = Store { pool, backend };
        if backend == Backend::Sqlite {
            // WAL lets readers and the writer work at once; wait rather than fail when busy.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&store.pool)
                .await?;
            sqlx::query("PRAGMA busy_timeout = 5000")
                .execute(&store.pool)
                .await?;
        }
        store.migrate().await?;
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn sql(&self, q: &str) -> String {
        placeholders(q, self.backend)
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                applied_at TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for (version, statements) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            for s in *statements {
                sqlx::query(s).execute(&mut *tx).await?;
            }
            sqlx::query(&self.sql(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)
                 ON CONFLICT (version) DO NOTHING",
            ))
            .bind(*version)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// The highest migration applied.
    pub async fn schema_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("v").unwrap_or(0))
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Whether a conversation exists.
    pub async fn conversation_exists(&self, id: &str) -> Result<bool> {
        let row = sqlx::query(&self.sql("SELECT COUNT(*) AS n FROM conversations WHERE id = ?"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// The entry the conversation's latest answered turn was about, if any.
    pub async fn last_topic(&self, conversation_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(&self.sql(
            "SELECT faq_id FROM messages WHERE conversation_id = ? AND faq_id IS NOT NULL
             ORDER BY created_at DESC LIMIT 1",
        ))
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| r.try_get::<String, _>("faq_id").ok()))
    }

    /// The latest `limit` turns of a conversation, oldest first: (masked question, answered id).
    pub async fn recent_turns(
        &self,
        conversation_id: &str,
        limit: i64,
    ) -> Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(&self.sql(
            "SELECT question, faq_id FROM messages WHERE conversation_id = ?
             ORDER BY created_at DESC LIMIT ?",
        ))
        .bind(conversation_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok((
                    r.try_get("question")?,
                    r.try_get::<Option<String>, _>("faq_id")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Stores one turn, creating the conversation on its first turn.
    pub async fn record_turn(&self, t: &Turn) -> Result<()> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(&self.sql(
            "INSERT INTO conversations (id, municipality, created_at, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at",
        ))
        .bind(&t.conversation_id)
        .bind(t.municipality.clone())
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&self.sql(
            "INSERT INTO messages (id, conversation_id, question, masked_kinds, decision, faq_id,
             coverage, hits, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(&t.message_id)
        .bind(&t.conversation_id)
        .bind(&t.question)
        .bind(&t.masked_kinds)
        .bind(&t.decision)
        .bind(t.faq_id.clone())
        .bind(t.coverage)
        .bind(&t.hits)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The stored question text of a message (for tests and staff tools).
    pub async fn message_question(&self, message_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(&self.sql("SELECT question FROM messages WHERE id = ?"))
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.try_get::<String, _>("question").ok()))
    }

    /// Stores feedback on a message; `false` when there is no such message.
    pub async fn add_feedback(
        &self,
        message_id: &str,
        helpful: bool,
        comment: Option<&str>,
    ) -> Result<bool> {
        let exists = sqlx::query(&self.sql("SELECT COUNT(*) AS n FROM messages WHERE id = ?"))
            .bind(message_id)
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>("n")?
            > 0;
        if !exists {
            return Ok(false);
        }
        sqlx::query(&self.sql(
            "INSERT INTO feedback (id, message_id, helpful, comment, created_at)
             VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(message_id)
        .bind(i64::from(helpful))
        .bind(comment.map(str::to_owned))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(true)
    }

    /// Feedback on one message, oldest first.
    pub async fn feedback_for(&self, message_id: &str) -> Result<Vec<Feedback>> {
        let rows = sqlx::query(&self.sql(
            "SELECT message_id, helpful, comment FROM feedback WHERE message_id = ?
             ORDER BY created_at",
        ))
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Feedback {
                    message_id: r.try_get("message_id")?,
                    helpful: r.try_get::<i64, _>("helpful")? != 0,
                    comment: r.try_get::<Option<String>, _>("comment")?,
                })
            })
            .collect()
    }

    /// Deletes conversations not updated since `days` days ago, with their messages and feedback.
    pub async fn purge_older_than(&self, days: u32) -> Result<Purged> {
        let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut tx = self.pool.begin().await?;
        let old = "SELECT id FROM conversations WHERE updated_at < ?";
        let feedback = sqlx::query(&self.sql(&format!(
            "DELETE FROM feedback WHERE message_id IN
             (SELECT id FROM messages WHERE conversation_id IN ({old}))"
        )))
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let messages = sqlx::query(&self.sql(&format!(
            "DELETE FROM messages WHERE conversation_id IN ({old})"
        )))
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let conversations =
            sqlx::query(&self.sql("DELETE FROM conversations WHERE updated_at < ?"))
                .bind(&cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(Purged {
            conversations,
            messages,
            feedback,
        })
    }

    /// Sets a conversation's last-update time (tests of retention).
    pub async fn backdate_conversation(&self, id: &str, days: u32) -> Result<()> {
        let at = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        sqlx::query(&self.sql("UPDATE conversations SET updated_at = ? WHERE id = ?"))
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Numbers `?` placeholders (`$1`, `$2`, …) for PostgreSQL; SQLite keeps `?`.
pub fn placeholders(q: &str, backend: Backend) -> String {
    if backend == Backend::Sqlite {
        return q.to_owned();
    }
    let mut out = String::with_capacity(q.len() + 8);
    let mut n = 0;
    for c in q.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// A database URL with any password replaced by `***`, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(conv: &str, msg: &str, faq: Option<&str>) -> Turn {
        Turn {
            conversation_id: conv.into(),
            municipality: None,
            message_id: msg.into(),
            question: "質問".into(),
            masked_kinds: String::new(),
            decision: "answer".into(),
            faq_id: faq.map(str::to_owned),
            coverage: 0.8,
            hits: "[]".into(),
        }
    }

    /// The same checks on any backend; ids are unique so runs can share a database.
    async fn round_trip_and_retention(url: &str) {
        let s = Store::connect(url).await.unwrap();
        // Connecting again migrates nothing twice.
        let s2 = Store::connect(url).await.unwrap();
        assert_eq!(s2.schema_version().await.unwrap(), 1);
        let u = uuid::Uuid::new_v4().to_string();
        let (c1, m1, m2) = (format!("c-{u}"), format!("m1-{u}"), format!("m2-{u}"));
        s.record_turn(&turn(&c1, &m1, Some("faq-1"))).await.unwrap();
        s.record_turn(&turn(&c1, &m2, None)).await.unwrap();
        assert!(s.conversation_exists(&c1).await.unwrap());
        assert_eq!(s.last_topic(&c1).await.unwrap().as_deref(), Some("faq-1"));
        assert!(s.add_feedback(&m1, true, Some("助かった")).await.unwrap());
        assert!(!s.add_feedback("nope", false, None).await.unwrap());
        let fb = s.feedback_for(&m1).await.unwrap();
        assert_eq!(fb.len(), 1);
        assert!(fb[0].helpful);
        assert_eq!(fb[0].comment.as_deref(), Some("助かった"));
        // Recent conversations survive a purge; old ones go with their messages and feedback.
        s.purge_older_than(30).await.unwrap();
        assert!(s.conversation_exists(&c1).await.unwrap());
        s.backdate_conversation(&c1, 40).await.unwrap();
        let p = s.purge_older_than(30).await.unwrap();
        assert!(
            p.conversations >= 1 && p.messages >= 2 && p.feedback >= 1,
            "{p:?}"
        );
        assert!(!s.conversation_exists(&c1).await.unwrap());
        assert_eq!(s.message_question(&m1).await.unwrap(), None);
    }

    #[tokio::test]
    async fn sqlite_round_trip_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        round_trip_and_retention(&Store::sqlite_url(&dir.path().join("data"))).await;
    }

    /// Runs when `MADOGUCHI_TEST_POSTGRES_URL` names a server (scripts/test.sh starts one).
    #[tokio::test]
    async fn postgres_round_trip_and_retention() {
        match std::env::var("MADOGUCHI_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => round_trip_and_retention(&url).await,
            _ => eprintln!("skipped: MADOGUCHI_TEST_POSTGRES_URL is not set"),
        }
    }

    #[test]
    fn postgres_placeholders_are_numbered_and_passwords_redacted() {
        let q = "INSERT INTO t (a, b) VALUES (?, ?)";
        assert_eq!(placeholders(q, Backend::Sqlite), q);
        assert_eq!(
            placeholders(q, Backend::Postgres),
            "INSERT INTO t (a, b) VALUES ($1, $2)"
        );
        assert_eq!(
            redact_url("postgres://app:secret@db:5432/madoguchi"),
            "postgres://app:***@db:5432/madoguchi"
        );
        assert!(matches!(
            futures_lite_block(Store::connect("mysql://x")),
            Err(Error::Url(_))
        ));
    }

    fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }
}
