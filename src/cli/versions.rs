//! `madoguchi faq versions|publish|rollback`: the FAQ versions kept in PostgreSQL, which every
//! replica serves (see [`crate::server::faq_sync`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::DbArgs;
use crate::faq::{self, snapshot};
use crate::store::Store;

/// `faq` subcommands.
#[derive(Debug, Subcommand)]
pub enum FaqCommand {
    /// List the FAQ versions in the database, newest first (`*` marks the one served).
    Versions {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check a FAQ directory and publish it as the new current version: every replica serves it
    /// within seconds.
    Publish {
        /// Directory of FAQ files.
        #[arg(long, env = "MADOGUCHI_FAQ", default_value = "faq")]
        faq: PathBuf,
        /// Who publishes (recorded with the version) [default: cli:$USER].
        #[arg(long)]
        author: Option<String>,
        /// Publish even when it holds at least 10 and more than 5 % fewer entries than the
        /// current version.
        #[arg(long)]
        force: bool,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Serve an earlier version again (every replica follows within seconds).
    Rollback {
        /// The version to serve.
        version: i64,
        /// Who rolls back (recorded) [default: cli:$USER].
        #[arg(long)]
        author: Option<String>,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
}

fn author(given: Option<String>) -> String {
    given.unwrap_or_else(|| format!("cli:{}", std::env::var("USER").unwrap_or_default()))
}

async fn postgres(db: &DbArgs) -> Result<Store> {
    let url = db.url()?;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!(
            "FAQ versions live in PostgreSQL: give --database-url (or [server] database_url); \
             with SQLite each server serves its own faq/ directory"
        );
    }
    Ok(Store::connect(&url).await?)
}

/// Runs a `faq` subcommand.
pub fn run(c: FaqCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match c {
            FaqCommand::Versions { limit, db } => {
                let store = postgres(&db).await?;
                println!("version\tcreated (UTC)\tauthor\tsource\tentries\tfiles\tnote");
                for v in store.faq_versions(limit.max(1)).await? {
                    println!(
                        "{}{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        v.id,
                        if v.current { "*" } else { "" },
                        v.created_at,
                        v.author,
                        v.source,
                        v.summary.entries,
                        v.summary.files,
                        v.summary.note
                    );
                }
            }
            FaqCommand::Publish {
                faq: dir,
                author: who,
                force,
                db,
            } => {
                let corpus = faq::load_dir(&dir)?;
                let files = snapshot::read(&dir)
                    .with_context(|| format!("reading {}", dir.display()))?;
                let store = postgres(&db).await?;
                let current = store.current_faq_version().await?;
                let summary = crate::server::faq_sync::summary(
                    &corpus,
                    files.len(),
                    format!("published from {}", dir.display()),
                );
                if let Some(c) = &current {
                    if c.fingerprint == snapshot::fingerprint(&files) {
                        println!("{} is already version {}; nothing published", dir.display(), c.id);
                        return Ok(ExitCode::SUCCESS);
                    }
                    if !force
                        && let Some(problem) =
                            crate::server::drop_refusal(c.summary.entries, summary.entries)
                    {
                        bail!("{problem} (here: --force)");
                    }
                }
                let id = store
                    .publish_faq(
                        current.map(|c| c.id),
                        &files,
                        &author(who),
                        "cli",
                        &summary,
                    )
                    .await?;
                println!(
                    "published {} as FAQ version {id} ({} entries, {} files); the replicas switch to it now",
                    dir.display(),
                    summary.entries,
                    summary.files
                );
            }
            FaqCommand::Rollback {
                version,
                author: who,
                db,
            } => {
                let store = postgres(&db).await?;
                if !store.set_current_faq(version, &author(who)).await? {
                    bail!("there is no FAQ version {version} (see `madoguchi faq versions`)");
                }
                println!("FAQ version {version} is current again; the replicas switch to it now");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
