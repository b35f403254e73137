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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::{AnyPool, Row};

mod versions;

pub use versions::{CHANNEL as FAQ_CHANNEL, FaqVersion, Summary as FaqSummary};

use crate::answer::Decision;
use crate::auth::{DISABLED_PREFIX, Role};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed or could not be reached.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The URL names no supported database.
    #[error("unsupported database URL (use sqlite://PATH or postgres://…): {0}")]
    Url(String),
    /// A stored state (decision, role, queue mark) is not one this version knows: the database
    /// was written by another version or edited by hand. Never read as some default.
    #[error("stored {what} '{value}' is unknown to this version")]
    Unknown {
        /// Which kind of state (`decision`, `role`, `queue mark`).
        what: &'static str,
        /// The stored name.
        value: String,
    },
    /// Writes are failing (disk full, database down) and this one was not tried: the store
    /// lets one write through every [`RETRY_WRITES_AFTER`] to see whether it is back.
    #[error("database writes are failing ({0}); not tried")]
    Degraded(String),
    /// The write took longer than [`WRITE_LIMIT`]; it was abandoned (rolled back).
    #[error("database write took longer than {} ms", WRITE_LIMIT.as_millis())]
    Timeout,
    /// The FAQ changed since the version an upload was made from (another replica or admin
    /// published first); nothing was stored.
    #[error("the FAQ changed meanwhile (the current version is {})", current.map_or_else(|| "none".to_owned(), |v| v.to_string()))]
    Conflict {
        /// The version now current.
        current: Option<i64>,
    },
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
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
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
    ),
    (
        2,
        &[
            "CREATE TABLE IF NOT EXISTS users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            failed_logins BIGINT NOT NULL,
            locked_until TEXT,
            created_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS sessions (
            token_hash TEXT PRIMARY KEY,
            user_name TEXT NOT NULL REFERENCES users(name),
            csrf_token TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            created_at TEXT NOT NULL)",
        ],
    ),
    (
        3,
        &["CREATE TABLE IF NOT EXISTS queue_marks (
            group_key TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            marked_by TEXT NOT NULL,
            marked_at TEXT NOT NULL)"],
    ),
    (
        4,
        // The municipality a staff member works for: the console's default.
        &["ALTER TABLE users ADD COLUMN municipality TEXT"],
    ),
    (
        5,
        // An entry a resident opened from もしかして, the category menu or related questions.
        &[
            "CREATE TABLE IF NOT EXISTS opened (
            id TEXT PRIMARY KEY,
            message_id TEXT REFERENCES messages(id),
            conversation_id TEXT,
            faq_id TEXT NOT NULL,
            via TEXT NOT NULL,
            municipality TEXT,
            created_at TEXT NOT NULL)",
            "CREATE UNIQUE INDEX IF NOT EXISTS opened_once ON opened (message_id, faq_id)",
            "CREATE INDEX IF NOT EXISTS opened_created ON opened (created_at)",
        ],
    ),
    (
        6,
        // FAQ versions (see `versions`): file contents once per SHA-256, as hex.
        &[
            "CREATE TABLE IF NOT EXISTS faq_blobs (
            sha256 TEXT PRIMARY KEY,
            content TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS faq_versions (
            id BIGINT PRIMARY KEY,
            parent BIGINT,
            files TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            author TEXT NOT NULL,
            source TEXT NOT NULL,
            summary TEXT NOT NULL,
            created_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS faq_current (
            singleton BIGINT PRIMARY KEY,
            version BIGINT NOT NULL REFERENCES faq_versions(id),
            set_by TEXT NOT NULL,
            set_at TEXT NOT NULL)",
        ],
    ),
    (
        7,
        // Feedback on every answer a resident sees, also one opened from a list (issue #20):
        // `message_id` becomes optional and `opened_id` names the opened entry. SQLite cannot
        // drop a NOT NULL, so the table is rebuilt with its rows.
        &[
            "CREATE TABLE feedback_v7 (
            id TEXT PRIMARY KEY,
            message_id TEXT REFERENCES messages(id),
            opened_id TEXT REFERENCES opened(id),
            helpful INTEGER NOT NULL,
            comment TEXT,
            created_at TEXT NOT NULL)",
            "INSERT INTO feedback_v7 (id, message_id, helpful, comment, created_at)
             SELECT id, message_id, helpful, comment, created_at FROM feedback",
            "DROP TABLE feedback",
            "ALTER TABLE feedback_v7 RENAME TO feedback",
            "CREATE INDEX IF NOT EXISTS feedback_message ON feedback (message_id)",
            "CREATE INDEX IF NOT EXISTS feedback_opened ON feedback (opened_id)",
        ],
    ),
];

/// `query` with `value` bound to each of its `n` placeholders.
fn bind_each<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    value: &str,
    n: usize,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for _ in 0..n {
        query = query.bind(value.to_owned());
    }
    query
}

/// What a resident's 👍/👎 is about: an answer to their question, or an entry they opened from
/// a list. Each has at most one feedback: a second request replaces the vote (and the comment,
/// when it brings one), so that the vote can be sent at once and the comment after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackOn {
    /// The answer of a turn (`messages.id`).
    Message(String),
    /// An opened entry (`opened.id`).
    Opened(String),
}

impl FeedbackOn {
    /// The id of the message or opened entry.
    pub fn id(&self) -> &str {
        match self {
            FeedbackOn::Message(id) | FeedbackOn::Opened(id) => id,
        }
    }

    /// The request field that names it (`message_id`, `opened_id`).
    pub fn field(&self) -> &'static str {
        match self {
            FeedbackOn::Message(_) => "message_id",
            FeedbackOn::Opened(_) => "opened_id",
        }
    }
}

/// What [`Store::set_feedback`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackStored {
    /// The first feedback on its target.
    New,
    /// The target had feedback: its vote (and comment, when given) replaced.
    Replaced,
    /// No such message or opened entry.
    UnknownTarget,
}

/// How a resident reached an entry without it being the direct answer to a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// One of the もしかして candidates of a question.
    Candidate,
    /// The category menu (or its starter questions).
    Menu,
    /// The related questions under an answer.
    Related,
    /// The popular questions of the opening screen.
    Popular,
}

impl Via {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Candidate => "candidate",
            Via::Menu => "menu",
            Via::Related => "related",
            Via::Popular => "popular",
        }
    }

    /// Every way, in a fixed order.
    pub const ALL: [Via; 4] = [Via::Candidate, Via::Menu, Via::Related, Via::Popular];

    fn parse(s: &str) -> Option<Via> {
        Via::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// An entry a resident opened, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Id of the record.
    pub id: String,
    /// The question whose candidates or related list it was opened from.
    pub message_id: Option<String>,
    /// The conversation, when there was one.
    pub conversation_id: Option<String>,
    /// The entry opened.
    pub faq_id: String,
    /// How it was reached.
    pub via: Via,
    /// The municipality the resident asked as.
    pub municipality: Option<String>,
    /// When, RFC 3339 (UTC).
    pub created_at: String,
    /// The resident's 👍 (true) or 👎 (false) on the opened entry, when given (read back only).
    pub helpful: Option<bool>,
}

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
    /// What the turn gave the resident.
    pub decision: Decision,
    /// The entry answered with, if any.
    pub faq_id: Option<String>,
    /// Coverage of the top hit.
    pub coverage: f64,
    /// The ranked hits as JSON (`[{"faq_id","score"}]`).
    pub hits: String,
}

/// A staff account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Sign-in name.
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Consecutive failed sign-ins.
    pub failed_logins: i64,
    /// Locked until this time (RFC 3339), after too many failures (no longer set).
    pub locked_until: Option<String>,
    /// The municipality the account works for (the staff console's default), if set.
    pub municipality: Option<String>,
}

/// A signed-in session, as looked up by its token.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Who.
    pub user: String,
    /// Their role.
    pub role: Role,
    /// The token forms must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    /// When it ends (RFC 3339).
    pub expires_at: String,
    /// The user's municipality, if set.
    pub municipality: Option<String>,
}

/// One logged message with its feedback, for staff logs and exports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRow {
    /// Message id.
    pub message_id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// When (RFC 3339 UTC).
    pub created_at: String,
    /// Municipality asked as.
    pub municipality: Option<String>,
    /// Masked question.
    pub question: String,
    /// Decision.
    pub decision: Decision,
    /// Entry answered with.
    pub faq_id: Option<String>,
    /// Coverage of the top hit.
    pub coverage: f64,
    /// 👍 count.
    pub helpful: i64,
    /// 👎 count.
    pub not_helpful: i64,
    /// Feedback comments (masked), joined with " / ".
    pub comments: String,
}

/// Which logged messages [`Store::logs`] reads: every filter applies in SQL, before `limit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    /// From this instant (RFC 3339 UTC), inclusive.
    pub from: String,
    /// To this instant, exclusive.
    pub to: String,
    /// Only turns with this decision.
    pub decision: Option<Decision>,
    /// Only turns asked as this municipality.
    pub municipality: Option<String>,
    /// Only turns answered with one of these entries.
    pub answered_with: Option<AnsweredWith>,
    /// Most rows, newest first.
    pub limit: i64,
}

/// A set of entries that depends on the municipality a question was asked as (the same id can
/// be hidden, or exist only, in one municipality): `ids` counts for questions asked without a
/// municipality or as one not in `local`; `local` says how each municipality's set differs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnsweredWith {
    /// Entry ids of the national view.
    pub ids: std::collections::BTreeSet<String>,
    /// Municipality code → its differences from `ids`.
    pub local: std::collections::BTreeMap<String, LocalIds>,
}

/// How one municipality's set differs from the national one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalIds {
    /// Ids that count there but not nationally.
    pub add: std::collections::BTreeSet<String>,
    /// National ids that do not count there.
    pub remove: std::collections::BTreeSet<String>,
}

/// A `WHERE` clause being built: SQL text with `?` placeholders and their values, in order.
#[derive(Default)]
struct Where {
    binds: Vec<String>,
}

impl Where {
    /// `?`, binding `value`.
    fn value(&mut self, value: &str) -> &'static str {
        self.binds.push(value.to_owned());
        "?"
    }

    /// `column IN (?, …)` binding `values`; `1 = 0` when there are none (PostgreSQL refuses an
    /// empty list).
    fn within<'a>(&mut self, column: &str, values: impl IntoIterator<Item = &'a String>) -> String {
        let marks: Vec<&str> = values.into_iter().map(|v| self.value(v)).collect();
        if marks.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!("{column} IN ({})", marks.join(", "))
        }
    }

    /// The condition of [`AnsweredWith`] on `m.faq_id` and `c.municipality`.
    fn answered_with(&mut self, a: &AnsweredWith) -> String {
        let asked_as = "COALESCE(c.municipality, '')";
        let mut national = vec![self.within("m.faq_id", &a.ids)];
        for (code, l) in a.local.iter().filter(|(_, l)| !l.remove.is_empty()) {
            let here = format!("{asked_as} = {}", self.value(code));
            let removed = self.within("m.faq_id", &l.remove);
            national.push(format!("NOT ({here} AND {removed})"));
        }
        let mut any = vec![format!("({})", national.join(" AND "))];
        for (code, l) in a.local.iter().filter(|(_, l)| !l.add.is_empty()) {
            let here = format!("{asked_as} = {}", self.value(code));
            let added = self.within("m.faq_id", &l.add);
            any.push(format!("({here} AND {added})"));
        }
        format!("({})", any.join(" OR "))
    }
}

/// A stored feedback, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The message it is about: the answered turn, or the question whose もしかして list the
    /// opened entry came from.
    pub message_id: Option<String>,
    /// The opened entry it is about, if it is about one.
    pub opened_id: Option<String>,
    /// 👍 or 👎.
    pub helpful: bool,
    /// Optional comment (masked).
    pub comment: Option<String>,
}

/// Where a group of the unanswered queue stands; `open` is the absence of a stored mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueMark {
    /// Not dealt with yet.
    Open,
    /// An FAQ entry now answers it.
    FaqAdded,
    /// Nothing to do (spam, out of scope).
    Ignored,
}

/// A given queue mark name that is not one of [`QueueMark::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown queue mark '{0}' (known: faq_added, ignored, open)")]
pub struct UnknownQueueMark(pub String);

impl QueueMark {
    /// Every mark.
    pub const ALL: [QueueMark; 3] = [QueueMark::FaqAdded, QueueMark::Ignored, QueueMark::Open];

    /// Its name, as in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueMark::Open => "open",
            QueueMark::FaqAdded => "faq_added",
            QueueMark::Ignored => "ignored",
        }
    }
}

impl std::fmt::Display for QueueMark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for QueueMark {
    type Err = UnknownQueueMark;

    fn from_str(s: &str) -> Result<QueueMark, UnknownQueueMark> {
        QueueMark::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownQueueMark(s.to_owned()))
    }
}

/// Reads a column that stores a state by its name; a name the type does not know is
/// [`Error::Unknown`].
fn state<T: std::str::FromStr>(row: &AnyRow, column: &str, what: &'static str) -> Result<T> {
    let value: String = row.try_get(column)?;
    value.parse().map_err(|_| Error::Unknown { what, value })
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
    /// Records of opened entries deleted.
    pub opened: u64,
}

/// The database behind the service.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    health: Arc<Mutex<WriteHealth>>,
}

/// Longest a resident's turn waits for its record to be written.
pub const WRITE_LIMIT: Duration = Duration::from_secs(2);
/// While writes fail, one is tried this often; the others fail at once with
/// [`Error::Degraded`].
pub const RETRY_WRITES_AFTER: Duration = Duration::from_secs(2);

/// Whether the last guarded write worked.
#[derive(Debug, Default)]
struct WriteHealth {
    /// When writes started failing, and the latest error.
    failing: Option<(String, String)>,
    /// No write is tried before this (one is let through then).
    next_try: Option<Instant>,
}

/// What [`Store::write_health`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteState {
    /// Whether the last write was stored.
    pub ok: bool,
    /// Since when writes fail (RFC 3339), when they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// The latest write error, when writes fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Returns a connection to the pool only when the work on it finished cleanly; otherwise the
/// connection is closed. (A failed COMMIT leaves SQLite's transaction open: handed back, the
/// connection would nest the next turn in a savepoint of that dead transaction and report it
/// stored.)
struct CleanOrClose {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    clean: bool,
}

impl Drop for CleanOrClose {
    fn drop(&mut self) {
        if !self.clean {
            self.conn.close_on_drop();
        }
    }
}

/// The current time as stored: RFC 3339 UTC with microseconds, so that text comparison is
/// time order in both databases.
pub fn now() -> String {
    from_now(chrono::Duration::zero())
}

/// The time `offset` from now (negative: in the past), in the stored format of [`now`].
pub fn from_now(offset: chrono::Duration) -> String {
    (chrono::Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The SQL condition ` AND <column> = ?` when figures are for one municipality (its code is
/// bound at that place), else nothing.
fn only_municipality(column: &str, municipality: Option<&str>) -> String {
    municipality.map_or_else(String::new, |_| format!(" AND {column} = ?"))
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
        let store = Store {
            pool,
            backend,
            health: Arc::default(),
        };
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

    /// Creates an empty PostgreSQL database on the server `url` names and returns its URL (the
    /// role needs `CREATEDB`; `scripts/setup-postgres.sh` grants it to its test role). For
    /// tests that need state of their own, such as the FAQ versions that replicas share.
    pub async fn create_scratch_database(url: &str) -> Result<String> {
        install_default_drivers();
        let (base, _) = url
            .rsplit_once('/')
            .ok_or_else(|| Error::Url(redact_url(url)))?;
        let name = format!("madoguchi_scratch_{}", uuid::Uuid::new_v4().simple());
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(format!("{base}/{name}"))
    }

    /// Drops a database made by [`Store::create_scratch_database`], ending its connections
    /// (PostgreSQL 13 or later); `url` is the URL that function returned.
    pub async fn drop_scratch_database(url: &str) -> Result<()> {
        install_default_drivers();
        let (base, name) = url
            .rsplit_once('/')
            .filter(|(_, n)| {
                n.starts_with("madoguchi_scratch_")
                    && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .ok_or_else(|| Error::Url(redact_url(url)))?;
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&format!("{base}/postgres"))
            .await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
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
            // Applied already: statements that are not idempotent (ALTER TABLE … ADD COLUMN)
            // must not run twice.
            let applied =
                sqlx::query(&self.sql("SELECT version FROM schema_migrations WHERE version = ?"))
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            if applied {
                tx.commit().await?;
                continue;
            }
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

    /// The latest `limit` turns of a conversation, oldest first: (masked question, decision,
    /// answered id).
    pub async fn recent_turns(
        &self,
        conversation_id: &str,
        limit: i64,
    ) -> Result<Vec<(String, crate::answer::Decision, Option<String>)>> {
        let rows = sqlx::query(&self.sql(
            "SELECT question, decision, faq_id FROM messages WHERE conversation_id = ?
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
                    state(&r, "decision", "decision")?,
                    r.try_get::<Option<String>, _>("faq_id")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Stores one turn, creating the conversation on its first turn.
    pub async fn record_turn(&self, t: &Turn) -> Result<()> {
        self.guarded("record_turn", self.record_turn_once(t)).await
    }

    async fn record_turn_once(&self, t: &Turn) -> Result<()> {
        let mut guard = CleanOrClose {
            conn: self.pool.acquire().await?,
            clean: false,
        };
        let at = now();
        let mut tx = sqlx::Connection::begin(&mut *guard.conn).await?;
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
        .bind(t.decision.as_str())
        .bind(t.faq_id.clone())
        .bind(t.coverage)
        .bind(&t.hits)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        guard.clean = true;
        Ok(())
    }

    /// Runs a resident's write within [`WRITE_LIMIT`], failing at once while writes are known
    /// to fail (but for one try every [`RETRY_WRITES_AFTER`]), and keeps
    /// [`Store::write_health`] up to date. Writes resume by themselves when the disk or the
    /// database is back.
    async fn guarded<T>(
        &self,
        operation: &'static str,
        write: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        {
            let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some((_, error)), Some(next)) = (&h.failing, h.next_try) {
                if Instant::now() < next {
                    return Err(Error::Degraded(error.clone()));
                }
                // This one is the try; the others keep failing fast meanwhile.
                h.next_try = Some(Instant::now() + RETRY_WRITES_AFTER);
            }
        }
        let result = tokio::time::timeout(WRITE_LIMIT, write)
            .await
            .unwrap_or(Err(Error::Timeout));
        let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(_) => {
                if h.failing.take().is_some() {
                    tracing::info!(operation, "database writes work again");
                }
                h.next_try = None;
            }
            Err(e) => {
                let since = h
                    .failing
                    .as_ref()
                    .map_or_else(now, |(since, _)| since.clone());
                if h.failing.is_none() {
                    tracing::error!(operation, error = %e, "database writes fail; answering without recording");
                }
                h.failing = Some((since, e.to_string()));
                h.next_try = Some(Instant::now() + RETRY_WRITES_AFTER);
            }
        }
        result
    }

    /// Whether residents' turns and feedback are being stored.
    pub fn write_health(&self) -> WriteState {
        let h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        WriteState {
            ok: h.failing.is_none(),
            failing_since: h.failing.as_ref().map(|(since, _)| since.clone()),
            error: h.failing.as_ref().map(|(_, e)| e.clone()),
        }
    }

    /// The stored question text of a message (for tests and staff tools).
    pub async fn message_question(&self, message_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(&self.sql("SELECT question FROM messages WHERE id = ?"))
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.try_get::<String, _>("question").ok()))
    }

    /// Stores a resident's feedback on an answer or an opened entry. One feedback per target: a
    /// second call replaces the vote, and the comment when it gives one.
    ///
    /// Feedback on an entry opened from もしかして also names the question whose list it was
    /// in, so that a 👎 there puts that question in the staff's unanswered queue; an entry
    /// opened from the menu or from related questions is rated on its own.
    pub async fn set_feedback(
        &self,
        on: &FeedbackOn,
        helpful: bool,
        comment: Option<&str>,
    ) -> Result<FeedbackStored> {
        self.guarded("set_feedback", self.set_feedback_once(on, helpful, comment))
            .await
    }

    async fn set_feedback_once(
        &self,
        on: &FeedbackOn,
        helpful: bool,
        comment: Option<&str>,
    ) -> Result<FeedbackStored> {
        let (message_id, opened_id) = match on {
            FeedbackOn::Message(id) => {
                let exists = sqlx::query(&self.sql("SELECT id FROM messages WHERE id = ?"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .is_some();
                if !exists {
                    return Ok(FeedbackStored::UnknownTarget);
                }
                (Some(id.clone()), None)
            }
            FeedbackOn::Opened(id) => {
                let row = sqlx::query(&self.sql("SELECT message_id, via FROM opened WHERE id = ?"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else {
                    return Ok(FeedbackStored::UnknownTarget);
                };
                let via: String = row.try_get("via")?;
                let message = (via == Via::Candidate.as_str())
                    .then(|| row.try_get::<Option<String>, _>("message_id"))
                    .transpose()?
                    .flatten();
                (message, Some(id.clone()))
            }
        };
        let mut tx = self.pool.begin().await?;
        let target = match on {
            FeedbackOn::Message(_) => "message_id = ? AND opened_id IS NULL",
            FeedbackOn::Opened(_) => "opened_id = ?",
        };
        let updated = sqlx::query(&self.sql(&format!(
            "UPDATE feedback SET helpful = ?, comment = COALESCE(?, comment), created_at = ?
             WHERE {target}"
        )))
        .bind(i64::from(helpful))
        .bind(comment.map(str::to_owned))
        .bind(now())
        .bind(on.id())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            sqlx::query(&self.sql(
                "INSERT INTO feedback (id, message_id, opened_id, helpful, comment, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            ))
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(message_id)
            .bind(opened_id)
            .bind(i64::from(helpful))
            .bind(comment.map(str::to_owned))
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(if updated == 0 {
            FeedbackStored::New
        } else {
            FeedbackStored::Replaced
        })
    }

    /// Records that a resident opened an entry. Opening the same entry from the same question
    /// again records nothing new; the id of the record is returned either way.
    pub async fn record_opened(&self, o: &Opened) -> Result<String> {
        self.guarded("record_opened", self.record_opened_once(o))
            .await
    }

    async fn record_opened_once(&self, o: &Opened) -> Result<String> {
        sqlx::query(&self.sql(
            "INSERT INTO opened (id, message_id, conversation_id, faq_id, via, municipality, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        ))
        .bind(&o.id)
        .bind(o.message_id.clone())
        .bind(o.conversation_id.clone())
        .bind(&o.faq_id)
        .bind(o.via.as_str())
        .bind(o.municipality.clone())
        .bind(&o.created_at)
        .execute(&self.pool)
        .await?;
        let Some(message_id) = &o.message_id else {
            return Ok(o.id.clone());
        };
        let row =
            sqlx::query(&self.sql("SELECT id FROM opened WHERE message_id = ? AND faq_id = ?"))
                .bind(message_id)
                .bind(&o.faq_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("id")?)
    }

    /// The conversation a message belongs to, if the message exists.
    pub async fn message_conversation(&self, message_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(&self.sql("SELECT conversation_id FROM messages WHERE id = ?"))
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("conversation_id")).transpose()?)
    }

    /// Entries opened in `[from, to)` (RFC 3339 bounds), by residents of `municipality` when
    /// given, oldest first.
    pub async fn opened_between(
        &self,
        from: &str,
        to: &str,
        municipality: Option<&str>,
    ) -> Result<Vec<Opened>> {
        let sql = self.sql(&format!(
            "SELECT o.id, o.message_id, o.conversation_id, o.faq_id, o.via, o.municipality,
                    o.created_at, f.helpful
             FROM opened o LEFT JOIN feedback f ON f.opened_id = o.id
             WHERE o.created_at >= ? AND o.created_at < ?{} ORDER BY o.created_at, o.id",
            only_municipality("o.municipality", municipality)
        ));
        let mut query = sqlx::query(&sql).bind(from).bind(to);
        if let Some(m) = municipality {
            query = query.bind(m);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| {
                let via: String = r.try_get("via")?;
                Ok(Opened {
                    id: r.try_get("id")?,
                    message_id: r.try_get("message_id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    faq_id: r.try_get("faq_id")?,
                    via: Via::parse(&via).ok_or_else(|| Error::Unknown {
                        what: "opened.via",
                        value: via.clone(),
                    })?,
                    municipality: r.try_get("municipality")?,
                    created_at: r.try_get("created_at")?,
                    helpful: r.try_get::<Option<i64>, _>("helpful")?.map(|h| h != 0),
                })
            })
            .collect()
    }

    /// The entries opened most since `since` (RFC 3339), by residents of `municipality` when
    /// given, with their counts, most first (ties by id).
    pub async fn most_opened(
        &self,
        since: &str,
        municipality: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, i64)>> {
        let sql = self.sql(&format!(
            "SELECT faq_id, COUNT(*) AS n FROM opened WHERE created_at >= ?{}
             GROUP BY faq_id ORDER BY n DESC, faq_id LIMIT ?",
            only_municipality("municipality", municipality)
        ));
        let mut query = sqlx::query(&sql).bind(since);
        if let Some(m) = municipality {
            query = query.bind(m);
        }
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("faq_id")?, r.try_get("n")?)))
            .collect()
    }

    /// Feedback on one message or opened entry (by either id), oldest first.
    pub async fn feedback_for(&self, id: &str) -> Result<Vec<Feedback>> {
        let rows = sqlx::query(&self.sql(
            "SELECT message_id, opened_id, helpful, comment FROM feedback
             WHERE message_id = ? OR opened_id = ? ORDER BY created_at",
        ))
        .bind(id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Feedback {
                    message_id: r.try_get("message_id")?,
                    opened_id: r.try_get("opened_id")?,
                    helpful: r.try_get::<i64, _>("helpful")? != 0,
                    comment: r.try_get::<Option<String>, _>("comment")?,
                })
            })
            .collect()
    }

    /// Deletes conversations not updated since `days` days ago, with their messages and feedback.
    pub async fn purge_older_than(&self, days: u32) -> Result<Purged> {
        let cutoff = from_now(-chrono::Duration::days(i64::from(days)));
        let mut tx = self.pool.begin().await?;
        let old = "SELECT id FROM conversations WHERE updated_at < ?";
        let old_opened = format!(
            "created_at < ? OR conversation_id IN ({old})
             OR message_id IN (SELECT id FROM messages WHERE conversation_id IN ({old}))"
        );
        // Feedback first: it references both the messages and the openings that go.
        let feedback = bind_each(
            sqlx::query(&self.sql(&format!(
                "DELETE FROM feedback WHERE message_id IN
                 (SELECT id FROM messages WHERE conversation_id IN ({old}))
                 OR opened_id IN (SELECT id FROM opened WHERE {old_opened})"
            ))),
            &cutoff,
            4,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let opened = bind_each(
            sqlx::query(&self.sql(&format!("DELETE FROM opened WHERE {old_opened}"))),
            &cutoff,
            3,
        )
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
            opened,
        })
    }

    /// Creates a staff account; `false` when the name is taken.
    pub async fn add_user(&self, name: &str, role: Role, password_hash: &str) -> Result<bool> {
        let r = sqlx::query(&self.sql(
            "INSERT INTO users (name, role, password_hash, failed_logins, created_at)
             VALUES (?, ?, ?, 0, ?) ON CONFLICT (name) DO NOTHING",
        ))
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces a password (which also enables a disabled account) and ends every session of
    /// the account; `false` when there is no such user.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        self.change_user(
            name,
            "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL WHERE name = ?",
            Some(password_hash),
        )
        .await
    }

    /// Sets (or with `None` clears) the municipality an account works for; `false` when there
    /// is no such user.
    pub async fn set_user_municipality(&self, name: &str, code: Option<&str>) -> Result<bool> {
        let r = sqlx::query(&self.sql("UPDATE users SET municipality = ? WHERE name = ?"))
            .bind(code.map(str::to_owned))
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Disables an account (its password can no longer sign in; [`Store::enable_user`] undoes
    /// it) and ends its sessions; `false` when there is no such user.
    pub async fn disable_user(&self, name: &str) -> Result<bool> {
        let Some(user) = self.user(name).await? else {
            return Ok(false);
        };
        if user.password_hash.starts_with(DISABLED_PREFIX) {
            self.change_user(name, "DELETE FROM sessions WHERE user_name = ?", None)
                .await?;
            return Ok(true);
        }
        let hash = format!("{DISABLED_PREFIX}{}", user.password_hash);
        self.change_user(
            name,
            "UPDATE users SET password_hash = ? WHERE name = ?",
            Some(&hash),
        )
        .await
    }

    /// Lets a disabled account sign in with its old password again; `false` when there is no
    /// such user.
    pub async fn enable_user(&self, name: &str) -> Result<bool> {
        let Some(user) = self.user(name).await? else {
            return Ok(false);
        };
        let Some(hash) = user.password_hash.strip_prefix(DISABLED_PREFIX) else {
            return Ok(true);
        };
        self.change_user(
            name,
            "UPDATE users SET password_hash = ? WHERE name = ?",
            Some(hash),
        )
        .await
    }

    /// Deletes an account and its sessions (its log entries and feedback stay, under its
    /// name); `false` when there is no such user.
    pub async fn delete_user(&self, name: &str) -> Result<bool> {
        self.change_user(name, "DELETE FROM users WHERE name = ?", None)
            .await
    }

    /// Deletes the account's sessions and runs `statement` (binding `value` first when given,
    /// then `name`), in one transaction; whether the account existed.
    async fn change_user(&self, name: &str, statement: &str, value: Option<&str>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query(&self.sql("SELECT name FROM users WHERE name = ?"))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(&self.sql("DELETE FROM sessions WHERE user_name = ?"))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let statement = self.sql(statement);
        let mut q = sqlx::query(&statement);
        if let Some(v) = value {
            q = q.bind(v.to_owned());
        }
        q.bind(name.to_owned()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(exists)
    }

    /// One account.
    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let row = sqlx::query(&self.sql(
            "SELECT name, role, password_hash, failed_logins, locked_until, municipality FROM users WHERE name = ?",
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(User {
                name: r.try_get("name")?,
                role: state(&r, "role", "role")?,
                password_hash: r.try_get("password_hash")?,
                failed_logins: r.try_get("failed_logins")?,
                locked_until: r.try_get("locked_until")?,
                municipality: r.try_get("municipality")?,
            })
        })
        .transpose()
    }

    /// Every account: (name, role, disabled), by name.
    pub async fn users(&self) -> Result<Vec<(String, Role, bool)>> {
        let rows = sqlx::query("SELECT name, role, password_hash FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let hash: String = r.try_get("password_hash")?;
                Ok((
                    r.try_get("name")?,
                    state(&r, "role", "role")?,
                    hash.starts_with(DISABLED_PREFIX),
                ))
            })
            .collect()
    }

    /// Clears the failure count after a successful sign-in.
    pub async fn login_succeeded(&self, name: &str) -> Result<()> {
        sqlx::query(
            &self.sql("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name = ?"),
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a session under the hash of its token.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user: &str,
        csrf_token: &str,
        expires_at: &str,
    ) -> Result<()> {
        sqlx::query(&self.sql(
            "INSERT INTO sessions (token_hash, user_name, csrf_token, expires_at, created_at)
             VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(token_hash)
        .bind(user)
        .bind(csrf_token)
        .bind(expires_at)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session with this token hash, with its user's current role.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = sqlx::query(&self.sql(
            "SELECT s.user_name, u.role, s.csrf_token, s.expires_at, u.municipality FROM sessions s
             JOIN users u ON u.name = s.user_name WHERE s.token_hash = ?",
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                user: r.try_get("user_name")?,
                role: state(&r, "role", "role")?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.try_get("expires_at")?,
                municipality: r.try_get("municipality")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query(&self.sql("DELETE FROM sessions WHERE token_hash = ?"))
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a message's time (tests of day boundaries).
    pub async fn set_message_time(&self, message_id: &str, created_at: &str) -> Result<()> {
        sqlx::query(&self.sql("UPDATE messages SET created_at = ? WHERE id = ?"))
            .bind(created_at)
            .bind(message_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a session's end (tests of expiry).
    pub async fn expire_session(&self, token_hash: &str, expires_at: &str) -> Result<()> {
        sqlx::query(&self.sql("UPDATE sessions SET expires_at = ? WHERE token_hash = ?"))
            .bind(expires_at)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Logged messages with their feedback, newest first: the latest `f.limit` of those that
    /// pass every filter of `f`.
    pub async fn logs(&self, f: &LogFilter) -> Result<Vec<LogRow>> {
        let mut w = Where::default();
        let mut conditions = vec![
            format!("m.created_at >= {}", w.value(&f.from)),
            format!("m.created_at < {}", w.value(&f.to)),
        ];
        if let Some(d) = f.decision {
            conditions.push(format!("m.decision = {}", w.value(d.as_str())));
        }
        if let Some(m) = &f.municipality {
            conditions.push(format!("c.municipality = {}", w.value(m)));
        }
        if let Some(a) = &f.answered_with {
            conditions.push(w.answered_with(a));
        }
        // One query: the limited messages, each joined with its feedback (one row per feedback,
        // or one with NULLs), feedback oldest first within a message.
        let sql = self.sql(&format!(
            "SELECT l.id, l.conversation_id, l.created_at, l.municipality, l.question, l.decision,
                    l.faq_id, l.coverage, f.helpful AS fb_helpful, f.comment AS fb_comment
             FROM (SELECT m.id, m.conversation_id, m.created_at, c.municipality, m.question,
                          m.decision, m.faq_id, m.coverage
                   FROM messages m JOIN conversations c ON c.id = m.conversation_id
                   WHERE {}
                   ORDER BY m.created_at DESC, m.id DESC LIMIT ?) l
             LEFT JOIN feedback f ON f.message_id = l.id
             ORDER BY l.created_at DESC, l.id DESC, f.created_at, f.id",
            conditions.join(" AND ")
        ));
        let mut q = sqlx::query(&sql);
        for b in w.binds {
            q = q.bind(b);
        }
        let rows = q.bind(f.limit).fetch_all(&self.pool).await?;
        let mut out: Vec<LogRow> = Vec::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            if out.last().is_none_or(|last| last.message_id != id) {
                out.push(LogRow {
                    conversation_id: r.try_get("conversation_id")?,
                    created_at: r.try_get("created_at")?,
                    municipality: r.try_get("municipality")?,
                    question: r.try_get("question")?,
                    decision: state(&r, "decision", "decision")?,
                    faq_id: r.try_get("faq_id")?,
                    coverage: r.try_get("coverage")?,
                    helpful: 0,
                    not_helpful: 0,
                    comments: String::new(),
                    message_id: id,
                });
            }
            let row = out.last_mut().expect("pushed above");
            match r.try_get::<Option<i64>, _>("fb_helpful")? {
                None => continue,
                Some(0) => row.not_helpful += 1,
                Some(_) => row.helpful += 1,
            }
            if let Some(c) = r.try_get::<Option<String>, _>("fb_comment")? {
                if !row.comments.is_empty() {
                    row.comments += " / ";
                }
                row.comments += &c;
            }
        }
        Ok(out)
    }

    /// Marks a group of unanswered questions (`faq_added`, `ignored`; `open` clears the mark).
    pub async fn mark_group(&self, key: &str, status: QueueMark, by: &str) -> Result<()> {
        if status == QueueMark::Open {
            sqlx::query(&self.sql("DELETE FROM queue_marks WHERE group_key = ?"))
                .bind(key)
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        sqlx::query(&self.sql(
            "INSERT INTO queue_marks (group_key, status, marked_by, marked_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (group_key) DO UPDATE SET status = excluded.status,
             marked_by = excluded.marked_by, marked_at = excluded.marked_at",
        ))
        .bind(key)
        .bind(status.as_str())
        .bind(by)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every stored mark: group key → status (groups without one are open).
    pub async fn marks(&self) -> Result<std::collections::HashMap<String, QueueMark>> {
        let rows = sqlx::query("SELECT group_key, status FROM queue_marks")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("group_key")?, state(&r, "status", "queue mark")?)))
            .collect()
    }

    /// Sets a conversation's last-update time (tests of retention).
    pub async fn backdate_conversation(&self, id: &str, days: u32) -> Result<()> {
        let at = from_now(-chrono::Duration::days(i64::from(days)));
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
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn turn(conv: &str, msg: &str, faq: Option<&str>) -> Turn {
        Turn {
            conversation_id: conv.into(),
            municipality: None,
            message_id: msg.into(),
            question: "質問".into(),
            masked_kinds: String::new(),
            decision: Decision::Answer,
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
        assert_eq!(s2.schema_version().await.unwrap(), 7);
        let u = uuid::Uuid::new_v4().to_string();
        let (c1, m1, m2) = (format!("c-{u}"), format!("m1-{u}"), format!("m2-{u}"));
        s.record_turn(&turn(&c1, &m1, Some("faq-1"))).await.unwrap();
        s.record_turn(&turn(&c1, &m2, None)).await.unwrap();
        assert!(s.conversation_exists(&c1).await.unwrap());
        assert_eq!(s.last_topic(&c1).await.unwrap().as_deref(), Some("faq-1"));
        let on_m1 = FeedbackOn::Message(m1.clone());
        // The vote at once, the comment after it: one feedback, not two.
        let set = |on: FeedbackOn, helpful: bool, comment: Option<&'static str>| {
            let s = s.clone();
            async move { s.set_feedback(&on, helpful, comment).await.unwrap() }
        };
        assert_eq!(set(on_m1.clone(), false, None).await, FeedbackStored::New);
        assert_eq!(
            set(on_m1.clone(), true, Some("助かった")).await,
            FeedbackStored::Replaced
        );
        assert_eq!(set(on_m1, true, None).await, FeedbackStored::Replaced);
        assert_eq!(
            set(FeedbackOn::Message("nope".into()), false, None).await,
            FeedbackStored::UnknownTarget
        );
        let fb = s.feedback_for(&m1).await.unwrap();
        assert_eq!(fb.len(), 1);
        assert!(fb[0].helpful);
        assert_eq!(fb[0].comment.as_deref(), Some("助かった"));
        // An entry opened from m2's candidates: recorded once, however often it is opened.
        let opened = |id: &str| Opened {
            id: id.to_owned(),
            message_id: Some(m2.clone()),
            conversation_id: Some(c1.clone()),
            faq_id: "faq-2".into(),
            via: Via::Candidate,
            municipality: None,
            created_at: now(),
            helpful: None,
        };
        let first = s.record_opened(&opened(&format!("o1-{u}"))).await.unwrap();
        assert_eq!(first, format!("o1-{u}"));
        assert_eq!(
            s.record_opened(&opened(&format!("o2-{u}"))).await.unwrap(),
            first
        );
        // 👎 on a candidate opened: about the opening, and about the question it answered.
        assert_eq!(
            set(FeedbackOn::Opened(first.clone()), false, None).await,
            FeedbackStored::New
        );
        assert_eq!(
            set(FeedbackOn::Opened("nope".into()), false, None).await,
            FeedbackStored::UnknownTarget
        );
        let fb = s.feedback_for(&first).await.unwrap();
        assert_eq!(
            (fb.len(), fb[0].message_id.as_deref(), fb[0].helpful),
            (1, Some(m2.as_str()), false)
        );
        // A menu opening has no question: its feedback is about the opening alone.
        let menu = Opened {
            id: format!("o3-{u}"),
            message_id: None,
            via: Via::Menu,
            ..opened("")
        };
        let menu_id = s.record_opened(&menu).await.unwrap();
        assert_eq!(
            set(
                FeedbackOn::Opened(menu_id.clone()),
                true,
                Some("わかりやすい")
            )
            .await,
            FeedbackStored::New
        );
        assert_eq!(s.feedback_for(&menu_id).await.unwrap()[0].message_id, None);
        let all = s
            .opened_between(
                &from_now(-chrono::Duration::hours(1)),
                &from_now(chrono::Duration::hours(1)),
                None,
            )
            .await
            .unwrap();
        let from_m2: Vec<&Opened> = all
            .iter()
            .filter(|o| o.message_id.as_deref() == Some(m2.as_str()))
            .collect();
        assert_eq!(
            (from_m2.len(), from_m2[0].helpful),
            (1, Some(false)),
            "read back with its 👎"
        );
        assert_eq!(
            s.message_conversation(&m2).await.unwrap().as_deref(),
            Some(c1.as_str())
        );
        // Recent conversations survive a purge; old ones go with their messages, feedback and
        // opened entries (which refer to the messages: they must go first).
        s.purge_older_than(30).await.unwrap();
        assert!(s.conversation_exists(&c1).await.unwrap());
        s.backdate_conversation(&c1, 40).await.unwrap();
        let p = s.purge_older_than(30).await.unwrap();
        assert!(
            p.conversations >= 1 && p.messages >= 2 && p.feedback >= 3 && p.opened >= 2,
            "{p:?}"
        );
        assert!(!s.conversation_exists(&c1).await.unwrap());
        assert_eq!(s.message_question(&m1).await.unwrap(), None);
    }

    /// States are stored by name and read back as the same variant; a name this version does
    /// not know is an error naming it, never some default.
    async fn typed_states(url: &str) {
        let s = Store::connect(url).await.unwrap();
        let u = uuid::Uuid::new_v4().to_string();
        let (from, to) = (
            from_now(-chrono::Duration::minutes(1)),
            from_now(chrono::Duration::minutes(1)),
        );
        let ours = |rows: Vec<LogRow>| -> Vec<(String, Decision)> {
            rows.into_iter()
                .filter(|r| r.conversation_id.ends_with(&u))
                .map(|r| (r.message_id, r.decision))
                .collect()
        };
        for d in Decision::ALL {
            let mut t = turn(&format!("c-{u}"), &format!("{d}-{u}"), None);
            t.decision = d;
            s.record_turn(&t).await.unwrap();
        }
        let all = LogFilter {
            from,
            to,
            limit: 1000,
            ..LogFilter::default()
        };
        let mut got = ours(s.logs(&all).await.unwrap());
        got.sort_by_key(|(_, d)| *d);
        let want: Vec<(String, Decision)> = Decision::ALL.map(|d| (format!("{d}-{u}"), d)).into();
        assert_eq!(got, want);
        sqlx::query(&s.sql("UPDATE messages SET decision = ? WHERE id = ?"))
            .bind("maybe")
            .bind(format!("fallback-{u}"))
            .execute(&s.pool)
            .await
            .unwrap();
        let err = s.logs(&all).await.unwrap_err();
        assert!(
            matches!(&err, Error::Unknown { what: "decision", value } if value == "maybe"),
            "{err}"
        );
        assert!(err.to_string().contains("'maybe'"), "{err}");
        sqlx::query(&s.sql("DELETE FROM messages WHERE id = ?"))
            .bind(format!("fallback-{u}"))
            .execute(&s.pool)
            .await
            .unwrap();

        let (staff, admin) = (format!("staff-{u}"), format!("admin-{u}"));
        assert!(s.add_user(&staff, Role::Staff, "h").await.unwrap());
        assert!(s.add_user(&admin, Role::Admin, "h").await.unwrap());
        assert_eq!(s.user(&admin).await.unwrap().unwrap().role, Role::Admin);
        let users = s.users().await.unwrap();
        assert!(
            users.contains(&(staff.clone(), Role::Staff, false)),
            "{users:?}"
        );
        s.create_session(&format!("t-{u}"), &staff, "csrf", &now())
            .await
            .unwrap();
        assert_eq!(
            s.session(&format!("t-{u}")).await.unwrap().unwrap().role,
            Role::Staff
        );
        sqlx::query(&s.sql("UPDATE users SET role = ? WHERE name = ?"))
            .bind("root")
            .bind(&staff)
            .execute(&s.pool)
            .await
            .unwrap();
        for err in [
            s.user(&staff).await.unwrap_err(),
            s.session(&format!("t-{u}")).await.unwrap_err(),
            s.users().await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, Error::Unknown { what: "role", value } if value == "root"),
                "{err}"
            );
        }
        s.delete_session(&format!("t-{u}")).await.unwrap();
        sqlx::query(&s.sql("DELETE FROM users WHERE name = ?"))
            .bind(&staff)
            .execute(&s.pool)
            .await
            .unwrap();

        let (k1, k2) = (format!("k1-{u}"), format!("k2-{u}"));
        s.mark_group(&k1, QueueMark::FaqAdded, "x").await.unwrap();
        s.mark_group(&k2, QueueMark::Ignored, "x").await.unwrap();
        s.mark_group(&k2, QueueMark::Open, "x").await.unwrap();
        let marks = s.marks().await.unwrap();
        assert_eq!(marks.get(&k1), Some(&QueueMark::FaqAdded));
        assert_eq!(marks.get(&k2), None, "open is the absence of a mark");
        sqlx::query(&s.sql("UPDATE queue_marks SET status = ? WHERE group_key = ?"))
            .bind("done")
            .bind(&k1)
            .execute(&s.pool)
            .await
            .unwrap();
        let err = s.marks().await.unwrap_err();
        assert!(
            matches!(&err, Error::Unknown { what: "queue mark", value } if value == "done"),
            "{err}"
        );
        s.mark_group(&k1, QueueMark::Open, "x").await.unwrap();
    }

    /// Every filter of [`LogFilter`] applies before the limit, on any backend.
    async fn log_filters(url: &str) {
        let s = Store::connect(url).await.unwrap();
        let u = uuid::Uuid::new_v4().to_string();
        // Oldest first: (message, decision, answered with, asked as).
        let turns = [
            ("weather", Decision::Fallback, None, None),
            ("nat-a", Decision::Answer, Some("a"), None),
            ("town-a", Decision::Answer, Some("a"), Some("111111")),
            ("town-b", Decision::Answer, Some("b"), Some("111111")),
            ("nat-b", Decision::Answer, Some("b"), None),
            ("other-a", Decision::Answer, Some("a"), Some("222222")),
            ("nat-c", Decision::Candidates, Some("c"), None),
        ];
        for (msg, d, faq, m) in turns {
            let mut t = turn(&format!("{msg}-{u}"), &format!("{msg}-{u}"), faq);
            t.decision = d;
            t.municipality = m.map(str::to_owned);
            // Each filter below also names this run's rows only, by their ids' entries.
            t.faq_id = faq.map(|f| format!("{f}-{u}"));
            s.record_turn(&t).await.unwrap();
        }
        let ids = |v: &[&str]| {
            v.iter()
                .map(|x| format!("{x}-{u}"))
                .collect::<BTreeSet<_>>()
        };
        let base = LogFilter {
            from: from_now(-chrono::Duration::minutes(1)),
            to: from_now(chrono::Duration::minutes(1)),
            limit: 1,
            ..LogFilter::default()
        };
        let got = |rows: Vec<LogRow>| {
            rows.into_iter()
                .map(|r| r.message_id.trim_end_matches(&format!("-{u}")).to_owned())
                .collect::<Vec<_>>()
        };
        // a and b count nationally; in 111111 a is hidden and c counts instead; 222222 is like
        // the national view.
        let entries = AnsweredWith {
            ids: ids(&["a", "b"]),
            local: [(
                "111111".to_owned(),
                LocalIds {
                    add: ids(&["c"]),
                    remove: ids(&["a"]),
                },
            )]
            .into(),
        };
        let answered = |limit| LogFilter {
            answered_with: Some(entries.clone()),
            limit,
            ..base.clone()
        };
        assert_eq!(got(s.logs(&answered(1)).await.unwrap()), ["other-a"]);
        assert_eq!(
            got(s.logs(&answered(100)).await.unwrap()),
            ["other-a", "nat-b", "town-b", "nat-a"]
        );
        let f = LogFilter {
            decision: Some(Decision::Fallback),
            ..base.clone()
        };
        // The fallback is the oldest row here, but other runs may share the database.
        assert!(
            s.logs(&LogFilter { limit: 1000, ..f })
                .await
                .unwrap()
                .iter()
                .any(|r| r.message_id == format!("weather-{u}"))
        );
        let f = LogFilter {
            municipality: Some("111111".into()),
            answered_with: Some(entries.clone()),
            limit: 10,
            ..base.clone()
        };
        assert_eq!(got(s.logs(&f).await.unwrap()), ["town-b"]);
        let f = LogFilter {
            decision: Some(Decision::Candidates),
            answered_with: Some(AnsweredWith {
                ids: ids(&["c"]),
                local: BTreeMap::new(),
            }),
            ..base.clone()
        };
        assert_eq!(got(s.logs(&f).await.unwrap()), ["nat-c"]);
        // No entry at all: nothing, not an SQL error.
        let f = LogFilter {
            answered_with: Some(AnsweredWith::default()),
            ..base.clone()
        };
        assert!(s.logs(&f).await.unwrap().is_empty());
    }

    /// Each row carries its own feedback: counts, and comments in the order given.
    async fn log_feedback(url: &str) {
        let s = Store::connect(url).await.unwrap();
        let u = uuid::Uuid::new_v4().to_string();
        let m = |n: &str| format!("{n}-{u}");
        for n in ["none", "mixed", "one"] {
            s.record_turn(&turn(&m("c"), &m(n), Some(&m("faq"))))
                .await
                .unwrap();
        }
        // One feedback per message: a later vote replaces the earlier one, and a comment
        // stays until another replaces it.
        for (n, helpful, comment) in [
            ("mixed", true, None),
            ("one", true, None),
            ("mixed", false, None),
            ("mixed", false, Some("古い情報")),
        ] {
            let on = FeedbackOn::Message(m(n));
            let stored = s.set_feedback(&on, helpful, comment).await.unwrap();
            assert_ne!(stored, FeedbackStored::UnknownTarget);
        }
        let rows = s
            .logs(&LogFilter {
                from: from_now(-chrono::Duration::minutes(1)),
                to: from_now(chrono::Duration::minutes(1)),
                answered_with: Some(AnsweredWith {
                    ids: [m("faq")].into(),
                    local: BTreeMap::new(),
                }),
                limit: 10,
                ..LogFilter::default()
            })
            .await
            .unwrap();
        let got: Vec<(String, i64, i64, String)> = rows
            .into_iter()
            .map(|r| (r.message_id, r.helpful, r.not_helpful, r.comments))
            .collect();
        assert_eq!(
            got,
            [
                (m("one"), 1, 0, String::new()),
                (m("mixed"), 0, 1, "古い情報".to_owned()),
                (m("none"), 0, 0, String::new()),
            ]
        );
    }

    #[tokio::test]
    async fn sqlite_log_feedback() {
        let dir = tempfile::tempdir().unwrap();
        log_feedback(&Store::sqlite_url(&dir.path().join("data"))).await;
    }

    #[tokio::test]
    async fn sqlite_log_filters() {
        let dir = tempfile::tempdir().unwrap();
        log_filters(&Store::sqlite_url(&dir.path().join("data"))).await;
    }

    #[tokio::test]
    async fn sqlite_round_trip_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        round_trip_and_retention(&Store::sqlite_url(&dir.path().join("data"))).await;
    }

    #[tokio::test]
    async fn sqlite_typed_states() {
        let dir = tempfile::tempdir().unwrap();
        typed_states(&Store::sqlite_url(&dir.path().join("data"))).await;
    }

    /// Runs when `MADOGUCHI_TEST_POSTGRES_URL` names a server (scripts/test.sh starts one).
    #[tokio::test]
    async fn postgres_round_trip_and_retention() {
        match std::env::var("MADOGUCHI_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                round_trip_and_retention(&url).await;
                typed_states(&url).await;
                log_filters(&url).await;
                log_feedback(&url).await;
                let scratch = Store::create_scratch_database(&url).await.unwrap();
                versions::tests::versions_publish_conflict_and_roll_back(&scratch).await;
                Store::drop_scratch_database(&scratch).await.unwrap();
            }
            _ => eprintln!("skipped: MADOGUCHI_TEST_POSTGRES_URL is not set"),
        }
    }

    #[test]
    fn queue_marks_round_trip_by_name() {
        for m in QueueMark::ALL {
            assert_eq!(m.as_str().parse::<QueueMark>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        assert!("done".parse::<QueueMark>().is_err());
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
