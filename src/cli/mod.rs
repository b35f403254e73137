//! Command-line interface: one subcommand per job, each arm calling into the library. Every
//! command that reads the FAQ builds its engine through [`crate::engine`] from the shared
//! [`DataArgs`], which read `madoguchi.toml` once.

mod ask;
mod data;
pub mod eval;
pub mod municipality;
pub mod versions;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

pub use data::DataArgs;

use crate::engine::Build;
use crate::index;

/// madoguchi (窓口): FAQ retrieval for Japanese national and local government.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the FAQ files and build the search index (atomically: a failed build keeps the old one).
    Index(IndexArgs),
    /// Search the FAQ from the terminal (builds the index first if it is missing or stale).
    Search(SearchArgs),
    /// Ask as a resident would: one conversation turn per question, printed as the widget would
    /// show it (answer, candidates, fallback or a courteous reply).
    Ask(ask::AskArgs),
    /// Validate the FAQ files without building anything; lists every problem as file:line.
    Check(CheckArgs),
    /// Manage staff accounts for the staff console (`user add NAME --role staff|admin`).
    #[command(subcommand)]
    User(UserCommand),
    /// FAQ versions in PostgreSQL, which every replica serves: `faq versions`, `faq publish`,
    /// `faq rollback N`.
    #[command(subcommand)]
    Faq(versions::FaqCommand),
    /// Declare and list the municipalities served (`municipality add CODE NAME --office …`).
    #[command(subcommand)]
    Municipality(municipality::MunicipalityCommand),
    /// Write the FAQ as one municipality's residents see it, as JSON Lines (one entry a line).
    Export(ExportArgs),
    /// Run the HTTP service (JSON API, metrics, admin reload) on the FAQ directory.
    Serve(ServeArgs),
    /// Show how the analyzer splits and normalises a text (for tuning and debugging).
    Analyze(AnalyzeArgs),
    /// Measure answer accuracy on a labelled query set (IR metrics, decisions, latency).
    Eval(eval::EvalArgs),
    /// Build the IPADIC dictionary from MeCab sources converted to UTF-8 (run by
    /// scripts/setup-ipadic.sh).
    #[command(hide = true)]
    BuildDictionary(BuildDictionaryArgs),
}

/// Arguments of `build-dictionary`.
#[derive(Debug, Args)]
pub struct BuildDictionaryArgs {
    /// Directory of IPADIC's `*.csv` and `*.def`, in UTF-8.
    source: PathBuf,
    /// lindera-ipadic's `metadata.json` (the format the dictionary is built in).
    metadata: PathBuf,
    /// Directory to write the dictionary to.
    out: PathBuf,
}

/// Arguments of `index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    data: DataArgs,
}

/// Arguments of `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The question, as a resident would type it.
    query: String,
    /// Number of hits.
    #[arg(short, long, default_value_t = 5)]
    k: usize,
    /// Print JSON: {"hits":[{"id","question","answer","category","score"}]}.
    #[arg(long)]
    json: bool,
    /// Search as a resident of this municipality (6-digit code) sees the FAQ.
    #[arg(long, short)]
    municipality: Option<String>,
    #[command(flatten)]
    data: DataArgs,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    data: DataArgs,
}

/// Arguments of `serve`. Each flag overrides its environment variable, which overrides the
/// `[server]` section of the configuration file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "MADOGUCHI_LISTEN")]
    listen: Option<String>,
    /// Directory of the SQLite database [default: data]
    #[arg(long, env = "MADOGUCHI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user:password@host/db) shared by several replicas
    #[arg(long, env = "MADOGUCHI_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Delete conversations older than this many days (0 keeps them) [default: 180]
    #[arg(long, env = "MADOGUCHI_RETENTION_DAYS")]
    retention_days: Option<u32>,
    /// Token for /admin/reload (Authorization: Bearer …)
    #[arg(long, env = "MADOGUCHI_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Sites allowed to call the API from a browser, comma-separated
    #[arg(long, env = "MADOGUCHI_CORS_ORIGINS", value_delimiter = ',')]
    cors_origin: Option<Vec<String>>,
    /// Requests a minute per client address (0: no limit) [default: 120]
    #[arg(long, env = "MADOGUCHI_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// Seconds between checks of the FAQ directory for changes (0: off) [default: 5]
    #[arg(long, env = "MADOGUCHI_WATCH_INTERVAL")]
    watch_interval: Option<u64>,
    /// OpenAI-compatible base URL (…/v1) for conversational answers; the key is read from
    /// MADOGUCHI_LLM_API_KEY. Without it, answers are the FAQ text.
    #[arg(long, env = "MADOGUCHI_LLM_URL")]
    llm_url: Option<String>,
    /// Model name for --llm-url
    #[arg(long, env = "MADOGUCHI_LLM_MODEL")]
    llm_model: Option<String>,
}

/// Where the service's database is (as `serve` finds it).
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Configuration file; its [server] section names the database.
    #[arg(long, env = "MADOGUCHI_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    config: PathBuf,
    /// Directory of the SQLite database [default: data]
    #[arg(long, env = "MADOGUCHI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL
    #[arg(long, env = "MADOGUCHI_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

impl DbArgs {
    fn url(&self) -> Result<String> {
        let mut s = crate::config::Config::load(&self.config)?.server;
        if let Some(d) = &self.data_dir {
            s.data_dir.clone_from(d);
        }
        if self.database_url.is_some() {
            s.database_url.clone_from(&self.database_url);
        }
        Ok(s.database_url())
    }
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from MADOGUCHI_USER_PASSWORD or the first line
    /// of standard input (at least 12 characters).
    Add {
        /// Sign-in name.
        name: String,
        /// `staff` (inquiries, logs) or `admin` (also FAQ management).
        #[arg(long, default_value = "staff")]
        role: crate::auth::Role,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set a new password (same input as `add`); ends the account's sessions and enables it
    /// if it was disabled.
    Passwd {
        /// Sign-in name.
        name: String,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set the municipality an account works for (the staff console's default); without a
    /// code, clear it.
    Municipality {
        /// Sign-in name.
        name: String,
        /// 6-digit municipality code.
        code: Option<String>,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Stop an account from signing in and end its sessions (`enable` undoes it).
    Disable {
        /// Sign-in name.
        name: String,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Let a disabled account sign in again with its old password.
    Enable {
        /// Sign-in name.
        name: String,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete an account and end its sessions (what it did stays in the logs).
    Delete {
        /// Sign-in name.
        name: String,
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
    /// List accounts and roles.
    List {
        /// Where the database is.
        #[command(flatten)]
        db: DbArgs,
    },
}

fn read_password() -> Result<String> {
    let p = match std::env::var("MADOGUCHI_USER_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if p.chars().count() < 12 {
        bail!("the password must have at least 12 characters");
    }
    Ok(p)
}

fn user_cmd(c: UserCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match c {
            UserCommand::Add { name, role, db } => {
                if name.trim().is_empty()
                    || name.chars().count() > 100
                    || name.chars().any(char::is_control)
                {
                    bail!("the name must be 1 to 100 printable characters");
                }
                let password = read_password()?;
                let hash = crate::auth::hash_password(&password).map_err(anyhow::Error::msg)?;
                let store = crate::store::Store::connect(&db.url()?).await?;
                if !store.add_user(&name, role, &hash).await? {
                    bail!("user '{name}' exists; use `madoguchi user passwd {name}`");
                }
                println!("created {role} account '{name}'");
            }
            UserCommand::Passwd { name, db } => {
                let password = read_password()?;
                let hash = crate::auth::hash_password(&password).map_err(anyhow::Error::msg)?;
                let store = crate::store::Store::connect(&db.url()?).await?;
                if !store.set_password(&name, &hash).await? {
                    bail!("no user '{name}'");
                }
                println!("password of '{name}' changed");
            }
            UserCommand::Municipality { name, code, db } => {
                if let Some(why) = code
                    .as_deref()
                    .and_then(crate::faq::municipality_code_problem)
                {
                    bail!("{why}");
                }
                let store = crate::store::Store::connect(&db.url()?).await?;
                if !store.set_user_municipality(&name, code.as_deref()).await? {
                    bail!("no user '{name}'");
                }
                match code {
                    Some(c) => println!("'{name}' works for municipality {c}"),
                    None => println!("'{name}' has no municipality"),
                }
            }
            UserCommand::Disable { name, db } => {
                let store = crate::store::Store::connect(&db.url()?).await?;
                if !store.disable_user(&name).await? {
                    bail!("no user '{name}'");
                }
                println!("'{name}' is disabled and signed out");
            }
            UserCommand::Enable { name, db } => {
                let store = crate::store::Store::connect(&db.url()?).await?;
                if !store.enable_user(&name).await? {
                    bail!("no user '{name}'");
                }
                println!("'{name}' may sign in again");
            }
            UserCommand::Delete { name, db } => {
                let store = crate::store::Store::connect(&db.url()?).await?;
                if !store.delete_user(&name).await? {
                    bail!("no user '{name}'");
                }
                println!("'{name}' is deleted and signed out");
            }
            UserCommand::List { db } => {
                let store = crate::store::Store::connect(&db.url()?).await?;
                for (name, role, disabled) in store.users().await? {
                    let state = if disabled { "\tdisabled" } else { "" };
                    println!("{name}\t{role}{state}");
                }
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export what a resident of this municipality sees (national entries only when absent).
    #[arg(long, short)]
    municipality: Option<String>,
    /// Export the target's own rows instead (the national layer, or the municipality's own
    /// entries, overrides and hidden markers): what to edit and upload again with "replace".
    #[arg(long)]
    layer: bool,
    /// jsonl (one entry a line), xlsx, csv (UTF-8 with BOM) or csv-cp932 (Shift_JIS).
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "xlsx", "csv", "csv-cp932"])]
    format: String,
    /// Write to this file instead of standard output (needed for xlsx).
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

/// Arguments of `analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Text to analyse.
    #[arg(required_unless_present = "lines")]
    text: Option<String>,
    /// Analyse every line of standard input instead, printing one JSON object a line
    /// (for offline analysis of query logs and corpora).
    #[arg(long, conflicts_with = "text")]
    lines: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The analyzer is the engine's: this dictionary, the `[analysis]` switches of the
    /// configuration file and the FAQ directory's user dictionary (userdict.csv).
    #[command(flatten)]
    data: DataArgs,
}

/// What the command prints for an error that ends it: the English chain of causes, and, when
/// FAQ files were rejected, each problem again in Japanese (the words the staff console uses,
/// [`crate::faq::messages::japanese`]), for the FAQ staff who read the same output.
pub fn error_report(err: &anyhow::Error) -> String {
    let mut out = format!("error: {err:#}");
    // The index wraps the FAQ's error transparently, so the chain shows it only as the index's.
    let problems = err.chain().find_map(|cause| {
        let faq = cause.downcast_ref().or(match cause.downcast_ref() {
            Some(crate::index::Error::Faq(e)) => Some(e),
            _ => None,
        });
        match faq {
            Some(crate::faq::Error::Invalid(problems)) => Some(problems),
            _ => None,
        }
    });
    if let Some(problems) = problems {
        out += &format!(
            "\nFAQファイルに問題が {} 件あるため、何も読み込んでいません：",
            problems.len()
        );
        for p in problems {
            let ja = crate::faq::Problem {
                message: crate::faq::messages::japanese(&p.message),
                ..p.clone()
            };
            out += &format!("\n  {ja}");
        }
    }
    out
}

/// Runs one subcommand.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Index(a) => index_cmd(&a),
        Command::Search(a) => search_cmd(&a),
        Command::Ask(a) => ask::run(&a),
        Command::Check(a) => check_cmd(&a),
        Command::Serve(a) => serve_cmd(a),
        Command::Export(a) => export_cmd(&a),
        Command::User(c) => user_cmd(c),
        Command::Municipality(c) => municipality::run(c),
        Command::Faq(c) => versions::run(c),
        Command::Analyze(a) => analyze_cmd(&a),
        Command::Eval(a) => eval::run(&a),
        Command::BuildDictionary(a) => {
            crate::analysis::build_system_dictionary(&a.source, &a.metadata, &a.out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn index_cmd(a: &IndexArgs) -> Result<ExitCode> {
    let setup = a.data.setup()?;
    let analyzer = setup.analyzer()?;
    let m = index::build(&a.data.faq, &a.data.index, &analyzer)?;
    println!(
        "indexed {} entries ({} municipalities) from {} into {}",
        m.entries,
        m.municipalities.len(),
        a.data.faq.display(),
        a.data.index.display()
    );
    // The entries' vectors go to the model's cache now, so that the service starts fast.
    if setup.config.search.semantic_weight > 0.0 {
        match setup.engine(Build::Ensure)?.semantic {
            crate::semantic::Status::On { texts, model } => {
                println!("embedded {texts} entry texts with {model}")
            }
            crate::semantic::Status::Unavailable { reason } => {
                println!("semantic leg unavailable, lexical only: {reason}")
            }
            crate::semantic::Status::Off | crate::semantic::Status::Embedding { .. } => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn search_cmd(a: &SearchArgs) -> Result<ExitCode> {
    if a.query.trim().is_empty() {
        bail!("the question is empty");
    }
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let setup = a.data.setup()?;
    let engine = setup.engine(Build::Ensure)?;
    let plan = crate::chat::plan(
        &engine,
        &setup.config.decision,
        &a.query,
        a.municipality.as_deref(),
        &[],
        a.k.max(2),
    )?;
    let hits = &plan.hits[..plan.hits.len().min(a.k)];
    if a.json {
        let hits: Vec<_> = hits
            .iter()
            .map(|h| {
                serde_json::json!({
                    "id": h.entry.id,
                    "question": h.entry.question,
                    "answer": h.entry.answer,
                    "category": h.entry.category,
                    "score": h.score,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "decision": plan.decision, "hits": hits })
        );
    } else if hits.is_empty() {
        println!("no matching entry (decision: {})", plan.decision);
    } else {
        println!(
            "decision: {} (coverage {:.2}, margin {:.2}, evidence {:.2})",
            plan.decision, plan.signals.coverage, plan.signals.margin, plan.signals.evidence
        );
        for (rank, h) in hits.iter().enumerate() {
            let scope = if h.entry.is_national() {
                String::new()
            } else {
                format!(" ({})", h.entry.scope)
            };
            println!(
                "{:>2}. {:>7.3}  {}{}  {}",
                rank + 1,
                h.score,
                h.entry.id,
                scope,
                h.entry.question
            );
            if !h.entry.category.is_empty() {
                println!("             [{}]", h.entry.category_path());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_cmd(a: &CheckArgs) -> Result<ExitCode> {
    let setup = a.data.setup()?;
    let corpus = crate::faq::load_dir(&a.data.faq)?;
    let analyzer = setup.analyzer()?;
    let synonyms = setup.locations.load_synonyms(&analyzer)?;
    let national = corpus.entries.iter().filter(|e| e.is_national()).count();
    println!(
        "{}: OK, {} national entries, {} municipal entries in {} municipalities, {} synonym groups, {} user dictionary words",
        a.data.faq.display(),
        national,
        corpus.entries.len() - national,
        corpus.municipalities.len(),
        synonyms.len(),
        analyzer.user_words()
    );
    Ok(ExitCode::SUCCESS)
}

fn serve_cmd(a: ServeArgs) -> Result<ExitCode> {
    let mut setup = a.data.setup()?;
    let config = &mut setup.config;
    let s = &mut config.server;
    if let Some(v) = a.listen {
        s.listen = v;
    }
    if let Some(v) = a.data_dir {
        s.data_dir = v;
    }
    if a.database_url.is_some() {
        s.database_url = a.database_url;
    }
    if let Some(v) = a.retention_days {
        s.retention_days = v;
    }
    if a.admin_token.is_some() {
        s.admin_token = a.admin_token;
    }
    if let Some(v) = a.cors_origin {
        s.cors_origins = v.into_iter().filter(|o| !o.trim().is_empty()).collect();
    }
    if let Some(v) = a.rate_limit {
        s.rate_limit_per_minute = v;
    }
    if let Some(v) = a.watch_interval {
        s.watch_interval_secs = v;
    }
    if a.llm_url.is_some() {
        config.llm.url = a.llm_url.filter(|u| !u.trim().is_empty());
    }
    if let Some(m) = a.llm_model {
        config.llm.model = m;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        tracing::info!(config = %crate::server::redacted(&setup.config), "configuration");
        let listen = setup.config.server.listen.clone();
        let state = crate::server::AppState::open(setup).await?;
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let m = state.engine().retriever.manifest().clone();
        eprintln!(
            "madoguchi: serving {} entries ({} municipalities) on http://{}",
            m.entries,
            m.municipalities.len(),
            listener.local_addr()?
        );
        crate::server::spawn_background(state.clone());
        crate::server::serve(state, listener, crate::server::shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    // Served requests are done; work still running on the blocking pool (a first start's
    // background embedding takes minutes) must not hold the process: dropping the runtime would
    // wait for it, past systemd's stop timeout. Its vectors are simply embedded at the next start.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(ExitCode::SUCCESS)
}

fn export_cmd(a: &ExportArgs) -> Result<ExitCode> {
    // Read for its validation only: an invalid configuration fails every command alike.
    a.data.setup()?;
    let corpus = crate::faq::load_dir(&a.data.faq)?;
    if let Some(m) = &a.municipality
        && !corpus.municipalities.contains_key(m)
    {
        bail!(
            "unknown municipality '{m}'; known: {}",
            corpus
                .municipalities
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let entries: Vec<&crate::faq::Entry> = if a.layer {
        let scope = a.municipality.as_deref().unwrap_or(crate::faq::NATIONAL);
        corpus.entries.iter().filter(|e| e.scope == scope).collect()
    } else {
        corpus.visible(a.municipality.as_deref())
    };
    let bytes = match a.format.as_str() {
        "xlsx" => crate::faq::export::xlsx(&entries)?,
        "csv" => crate::faq::export::csv_utf8(&entries),
        "csv-cp932" => crate::faq::export::csv_cp932(&entries).map_err(|bad| {
            let shown: Vec<String> = bad
                .iter()
                .map(|u| format!("row {} {}: '{}'", u.row, u.column, u.character))
                .collect();
            anyhow::anyhow!(
                "CP932 (Shift_JIS) cannot hold {} character(s): {}; use --format xlsx or csv",
                bad.len(),
                shown.join(", ")
            )
        })?,
        _ => {
            let mut text = String::new();
            for e in &entries {
                text += &serde_json::to_string(e)?;
                text.push('\n');
            }
            text.into_bytes()
        }
    };
    match &a.output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None if a.format == "xlsx" => bail!("an XLSX workbook needs --output FILE"),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn analyze_cmd(a: &AnalyzeArgs) -> Result<ExitCode> {
    let analyzer = a.data.setup()?.analyzer()?;
    if a.lines {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for line in std::io::stdin().lines() {
            let line = line.context("reading standard input")?;
            let v = serde_json::json!({
                "text": line,
                "tokens": analyzer.inspect(&line),
            });
            writeln!(out, "{v}")?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = a.text.as_deref().unwrap_or_default();
    let tokens = analyzer.inspect(text);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "normalized": crate::analysis::normalize(text),
                "tokens": tokens,
            })
        );
    } else {
        println!("normalized: {}", crate::analysis::normalize(text));
        for t in &tokens {
            let term = t.term.as_deref().unwrap_or("-");
            println!("{:<12} {:<28} {}", t.surface, t.pos, term);
        }
        println!("terms: {}", analyzer.terms(text).join(" "));
        println!("reading: {}", analyzer.reading(text));
    }
    Ok(ExitCode::SUCCESS)
}
