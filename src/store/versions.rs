//! FAQ versions in the database. With PostgreSQL, every applied FAQ (a console upload, `madoguchi
//! faq publish`, the first start's `faq/`) is a version: its files, author, time and what it
//! holds. One version is current; every replica serves it, and is told of a new one through
//! `NOTIFY` on [`CHANNEL`] (and finds it by polling when a notification is lost). Files are
//! stored once per content (by SHA-256), so a version that changes one file adds one file.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Backend, Error, Result, Store, now};
use crate::faq::snapshot::File;

/// The `LISTEN`/`NOTIFY` channel a new current version is announced on (payload: its id).
pub const CHANNEL: &str = "madoguchi_faq";

/// A FAQ version, without its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaqVersion {
    /// 1, 2, …
    pub id: i64,
    /// The version it was made from (what the uploader saw), if any.
    pub parent: Option<i64>,
    /// SHA-256 over its files ([`crate::faq::snapshot::fingerprint`]).
    pub fingerprint: String,
    /// Who made it (a staff account, `cli:NAME`, `seed`).
    pub author: String,
    /// How: `seed`, `console`, `cli`.
    pub source: String,
    /// What it holds and what changed, for people ([`Summary`]).
    pub summary: Summary,
    /// When, RFC 3339 (UTC).
    pub created_at: String,
    /// Whether it is the one served.
    pub current: bool,
}

/// What a version holds, recorded when it is made (its validation result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Entries indexed (hidden markers not counted).
    pub entries: usize,
    /// Files.
    pub files: usize,
    /// Municipalities declared.
    pub municipalities: usize,
    /// A line on the change (`faq/national/x.yaml: 2 added, 1 changed`).
    #[serde(default)]
    pub note: String,
}

/// One file of a version, as listed in `faq_versions.files`.
#[derive(Debug, Serialize, Deserialize)]
struct Listed {
    path: String,
    sha256: String,
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::index::hex(&Sha256::digest(bytes))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

impl Store {
    /// The version served, if there is any.
    pub async fn current_faq_version(&self) -> Result<Option<FaqVersion>> {
        Ok(self
            .faq_versions(1_000_000)
            .await?
            .into_iter()
            .find(|v| v.current))
    }

    /// The latest `limit` versions, newest first.
    pub async fn faq_versions(&self, limit: i64) -> Result<Vec<FaqVersion>> {
        let current: Option<i64> =
            sqlx::query("SELECT version FROM faq_current WHERE singleton = 1")
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("version"))
                .transpose()?;
        let rows = sqlx::query(&self.sql(
            "SELECT id, parent, fingerprint, author, source, summary, created_at
             FROM faq_versions ORDER BY id DESC LIMIT ?",
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let id: i64 = r.try_get("id")?;
                let summary: String = r.try_get("summary")?;
                Ok(FaqVersion {
                    id,
                    parent: r.try_get("parent")?,
                    fingerprint: r.try_get("fingerprint")?,
                    author: r.try_get("author")?,
                    source: r.try_get("source")?,
                    summary: serde_json::from_str(&summary).map_err(|_| Error::Unknown {
                        what: "FAQ version summary",
                        value: summary.clone(),
                    })?,
                    created_at: r.try_get("created_at")?,
                    current: Some(id) == current,
                })
            })
            .collect()
    }

    /// The files of version `id`, or `None` when there is no such version.
    pub async fn faq_version_files(&self, id: i64) -> Result<Option<Vec<File>>> {
        let Some(row) = sqlx::query(&self.sql("SELECT files FROM faq_versions WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let listed: String = row.try_get("files")?;
        let listed: Vec<Listed> = serde_json::from_str(&listed).map_err(|_| Error::Unknown {
            what: "FAQ version file list",
            value: format!("version {id}"),
        })?;
        let mut files = Vec::with_capacity(listed.len());
        for l in listed {
            let row = sqlx::query(&self.sql("SELECT content FROM faq_blobs WHERE sha256 = ?"))
                .bind(&l.sha256)
                .fetch_one(&self.pool)
                .await?;
            let content: String = row.try_get("content")?;
            let bytes = unhex(&content)
                .filter(|b| sha256(b) == l.sha256)
                .ok_or_else(|| Error::Unknown {
                    what: "FAQ file content",
                    value: format!("{} of version {id}", l.path),
                })?;
            files.push(File {
                path: l.path,
                bytes,
            });
        }
        Ok(Some(files))
    }

    /// Stores `files` as a new version and makes it current, if the current version is still
    /// `parent` (what the author saw); otherwise nothing changes and this is
    /// [`Error::Conflict`]. With PostgreSQL the replicas are notified when it commits.
    pub async fn publish_faq(
        &self,
        parent: Option<i64>,
        files: &[File],
        author: &str,
        source: &str,
        summary: &Summary,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let current: Option<i64> = sqlx::query(&format!(
            "SELECT version FROM faq_current WHERE singleton = 1{lock}"
        ))
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("version"))
        .transpose()?;
        if current != parent {
            return Err(Error::Conflict { current });
        }
        let id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM faq_versions")
            .fetch_one(&mut *tx)
            .await?
            .try_get("next")?;
        let mut listed = Vec::with_capacity(files.len());
        for f in files {
            let sha = sha256(&f.bytes);
            sqlx::query(&self.sql(
                "INSERT INTO faq_blobs (sha256, content) VALUES (?, ?) ON CONFLICT DO NOTHING",
            ))
            .bind(&sha)
            .bind(crate::index::hex(&f.bytes))
            .execute(&mut *tx)
            .await?;
            listed.push(Listed {
                path: f.path.clone(),
                sha256: sha,
            });
        }
        let at = now();
        let inserted = sqlx::query(&self.sql(
            "INSERT INTO faq_versions (id, parent, files, fingerprint, author, source, summary, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(id)
        .bind(parent)
        .bind(serde_json::to_string(&listed).expect("file list"))
        .bind(crate::faq::snapshot::fingerprint(files))
        .bind(author)
        .bind(source)
        .bind(serde_json::to_string(summary).expect("summary"))
        .bind(&at)
        .execute(&mut *tx)
        .await;
        // Two first versions at once (replicas starting together): one wins the id.
        if let Err(e) = inserted {
            return Err(conflict_or(e, current));
        }
        self.point_current(&mut tx, id, author, &at)
            .await
            .map_err(|e| match e {
                Error::Db(e) => conflict_or(e, current),
                other => other,
            })?;
        tx.commit().await?;
        Ok(id)
    }

    /// Makes version `id` current again (a rollback), notifying the replicas; `false` when
    /// there is no such version.
    pub async fn set_current_faq(&self, id: i64, by: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query(&self.sql("SELECT COUNT(*) AS n FROM faq_versions WHERE id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?
            > 0;
        if !exists {
            return Ok(false);
        }
        self.point_current(&mut tx, id, by, &now()).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn point_current(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: i64,
        by: &str,
        at: &str,
    ) -> Result<()> {
        sqlx::query(&self.sql(
            "INSERT INTO faq_current (singleton, version, set_by, set_at) VALUES (1, ?, ?, ?)
             ON CONFLICT (singleton) DO UPDATE
             SET version = excluded.version, set_by = excluded.set_by, set_at = excluded.set_at",
        ))
        .bind(id)
        .bind(by)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        if self.backend == Backend::Postgres {
            // Delivered when the transaction commits, to every listening replica.
            sqlx::query(&self.sql("SELECT pg_notify(?, ?)"))
                .bind(CHANNEL)
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// A unique-key violation while publishing means another version won the race.
fn conflict_or(e: sqlx::Error, current: Option<i64>) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::Conflict { current },
        _ => Error::Db(e),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> File {
        File {
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    /// Versions are published against the version their author saw, listed newest first,
    /// read back byte for byte, and rolled back; on any backend.
    pub(crate) async fn versions_publish_conflict_and_roll_back(url: &str) {
        let s = Store::connect(url).await.unwrap();
        assert_eq!(s.current_faq_version().await.unwrap(), None);
        let v1_files = vec![file("national/a.yaml", "a"), file("userdict.csv", "x")];
        let summary = Summary {
            entries: 1,
            files: 2,
            ..Summary::default()
        };
        let v1 = s
            .publish_faq(None, &v1_files, "seed", "seed", &summary)
            .await
            .unwrap();
        assert_eq!(v1, 1);
        let mut v2_files = v1_files.clone();
        v2_files[0] = file("national/a.yaml", "a2");
        v2_files.push(file("national/b.xlsx", "\u{0}\u{ff}binary"));
        let v2 = s
            .publish_faq(Some(v1), &v2_files, "tanaka", "console", &summary)
            .await
            .unwrap();
        assert_eq!(v2, 2);
        // Someone who still saw version 1 cannot overwrite version 2.
        match s
            .publish_faq(Some(v1), &v1_files, "suzuki", "console", &summary)
            .await
        {
            Err(Error::Conflict { current }) => assert_eq!(current, Some(2)),
            other => panic!("{other:?}"),
        }
        let list = s.faq_versions(10).await.unwrap();
        assert_eq!(list.iter().map(|v| v.id).collect::<Vec<_>>(), [2, 1]);
        assert!(list[0].current && !list[1].current);
        assert_eq!(list[0].author, "tanaka");
        assert_eq!(list[0].parent, Some(1));
        assert_eq!(
            list[0].fingerprint,
            crate::faq::snapshot::fingerprint(&v2_files)
        );
        assert_eq!(s.faq_version_files(2).await.unwrap().unwrap(), v2_files);
        assert_eq!(s.faq_version_files(9).await.unwrap(), None);
        // Roll back.
        assert!(s.set_current_faq(1, "cli:admin").await.unwrap());
        assert!(!s.set_current_faq(9, "cli:admin").await.unwrap());
        assert_eq!(s.current_faq_version().await.unwrap().unwrap().id, 1);
        assert_eq!(s.faq_version_files(1).await.unwrap().unwrap(), v1_files);
    }

    #[tokio::test]
    async fn sqlite_versions() {
        let dir = tempfile::tempdir().unwrap();
        versions_publish_conflict_and_roll_back(&Store::sqlite_url(dir.path())).await;
    }
}
