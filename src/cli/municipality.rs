//! `madoguchi municipality add|list`: the municipalities served, each declared by
//! `faq/municipalities/<code>/municipality.yaml` (see [`crate::faq::load_municipality`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::faq::{self, Contact, MUNICIPALITY_FILE, Municipality};

/// `municipality` subcommands.
#[derive(Debug, Subcommand)]
pub enum MunicipalityCommand {
    /// Declare a municipality: creates faq/municipalities/CODE/municipality.yaml with its name
    /// and the office its fallbacks name. Its residents then see the national FAQ (and, once
    /// added, its own entries, overrides and hidden entries) at the next reload.
    Add {
        /// The 6-digit 全国地方公共団体コード, check digit included (131016 for 千代田区).
        code: String,
        /// The name residents know it by (千代田区).
        name: String,
        /// The office a resident is sent to when no entry answers (a general counter).
        #[arg(long)]
        office: String,
        /// That office's telephone number.
        #[arg(long)]
        phone: Option<String>,
        /// That office's web page (http or https).
        #[arg(long)]
        url: Option<String>,
        /// Directory of FAQ files.
        #[arg(long, env = "MADOGUCHI_FAQ", default_value = "faq")]
        faq: PathBuf,
    },
    /// List the municipalities the FAQ directory declares, with their fallback office and how
    /// many entries of their own they add, override and hide.
    List {
        /// Directory of FAQ files.
        #[arg(long, env = "MADOGUCHI_FAQ", default_value = "faq")]
        faq: PathBuf,
    },
}

/// Runs a `municipality` subcommand.
pub fn run(c: MunicipalityCommand) -> Result<ExitCode> {
    match c {
        MunicipalityCommand::Add {
            code,
            name,
            office,
            phone,
            url,
            faq,
        } => {
            let m = Municipality {
                code,
                name,
                fallback: Contact {
                    office: Some(office),
                    phone,
                    url,
                },
                menu: faq::Menu::default(),
            };
            let file = add(&faq, &m)?;
            println!(
                "declared {} {} in {}\n\
                 next: add its own entries, overrides (same id as a national entry) and hidden \
                 entries in that folder (faq/municipalities/README.md), check with \
                 `madoguchi check`, and reload a running server (POST /admin/reload, or it \
                 notices the files itself); set the widget's data-municipality=\"{}\"",
                m.code,
                m.name,
                file.display(),
                m.code
            );
        }
        MunicipalityCommand::List { faq } => {
            let corpus = faq::load_dir(&faq)?;
            let national: std::collections::HashSet<&str> = corpus
                .entries
                .iter()
                .filter(|e| e.is_national())
                .map(|e| e.id.as_str())
                .collect();
            println!("code\tname\tfallback office\tphone\town\toverrides\thidden");
            for m in corpus.municipalities.values() {
                let mine = || corpus.entries.iter().filter(|e| e.scope == m.code);
                let hidden = mine().filter(|e| e.hidden).count();
                let overrides = mine()
                    .filter(|e| !e.hidden && national.contains(e.id.as_str()))
                    .count();
                let own = mine().count() - hidden - overrides;
                println!(
                    "{}\t{}\t{}\t{}\t{own}\t{overrides}\t{hidden}",
                    m.code,
                    m.name,
                    m.fallback.office.as_deref().unwrap_or(""),
                    m.fallback.phone.as_deref().unwrap_or(""),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `municipalities/<code>/municipality.yaml` under `faq_dir` after checking the code,
/// the fields and that the municipality is new; the whole FAQ directory must still load, or
/// nothing is left behind.
pub fn add(faq_dir: &Path, m: &Municipality) -> Result<PathBuf> {
    if let Some(why) = faq::municipality_code_problem(&m.code) {
        bail!("{why}");
    }
    if !faq_dir.is_dir() {
        bail!("{} is not a directory of FAQ files", faq_dir.display());
    }
    let folder = faq_dir.join("municipalities").join(&m.code);
    let file = folder.join(MUNICIPALITY_FILE);
    if file.exists() {
        bail!(
            "{} exists: municipality {} is already declared (edit that file to change it)",
            file.display(),
            m.code
        );
    }
    let new_folder = !folder.exists();
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let text = format!(
        "# {name}（{code}）の設定。コードはこのフォルダの名前（検査数字つき 6桁）。\n\
         # fallback: FAQのどの項目も答えられないときに案内する窓口。\n{yaml}",
        name = m.name.trim(),
        code = m.code,
        yaml = serde_yaml_ng::to_string(&Declared {
            name: m.name.trim(),
            fallback: &m.fallback,
        })?
    );
    let undo = || {
        let _ = std::fs::remove_file(&file);
        if new_folder {
            let _ = std::fs::remove_dir(&folder);
        }
    };
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    let mut problems = Vec::new();
    faq::load_municipality(&file, &m.code, &mut problems);
    let checked = if problems.is_empty() {
        faq::load_dir(faq_dir).map(|_| ())
    } else {
        Err(faq::Error::Invalid(problems))
    };
    if let Err(e) = checked {
        undo();
        return Err(e).context("nothing was written");
    }
    Ok(file)
}

/// The fields of `municipality.yaml`, in the order people read them.
#[derive(serde::Serialize)]
struct Declared<'a> {
    name: &'a str,
    fallback: &'a Contact,
}
