//! `madoguchi ask`: conversation turns from the terminal, shown as a resident would see them.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::Args;

use super::data::DataArgs;
use crate::answer::Decision;
use crate::chat::{self, Conversation, Reply};
use crate::engine::Build;

/// Arguments of `ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The resident's messages: each one is a turn of the same conversation, in order.
    #[arg(required = true)]
    messages: Vec<String>,
    /// Ask as a resident of this municipality (6-digit code).
    #[arg(long, short)]
    municipality: Option<String>,
    /// Print each reply as the API's JSON, one line a turn.
    #[arg(long)]
    json: bool,
    /// Also print why each turn was decided so: the signals and whether the previous topic was
    /// used.
    #[arg(long)]
    explain: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `ask`: one conversation, nothing stored, no LLM.
pub fn run(a: &AskArgs) -> Result<ExitCode> {
    let setup = a.data.setup()?;
    let engine = Arc::new(setup.engine(Build::Ensure)?);
    let settings = chat::Settings {
        decision: setup.config.decision.clone(),
        fallback_office: setup.config.server.fallback_office.clone(),
        max_chars: setup.config.server.max_question_chars,
        llm_budget: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut conversation = Conversation::new();
    for (i, raw) in a.messages.iter().enumerate() {
        let message = match chat::check(&engine, &settings, raw, a.municipality.as_deref()) {
            Ok(m) => m,
            Err(e) => bail!("message {}: {e}", i + 1),
        };
        let reply = runtime.block_on(chat::turn(
            engine.clone(),
            &settings,
            chat::Services::default(),
            &conversation,
            message.clone(),
            a.municipality.clone(),
            None,
        ))?;
        if a.json {
            println!("{}", serde_json::to_string(&reply)?);
        } else {
            if i > 0 {
                println!();
            }
            print_reply(
                &engine,
                a.municipality.as_deref(),
                &message,
                &reply,
                a.explain,
            );
        }
        conversation
            .earlier
            .push(reply.earlier(crate::mask::mask_str(&message)));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_reply(
    engine: &crate::engine::Engine,
    municipality: Option<&str>,
    message: &str,
    r: &Reply,
    explain: bool,
) {
    println!("> {message}");
    println!("[{}]", r.decision);
    if explain {
        let s = r.signals;
        println!(
            "  (coverage {:.2}, margin {:.2}, evidence {:.2}, unknown {:.2}; {})",
            s.coverage,
            s.margin,
            s.evidence,
            s.unknown,
            serde_json::to_string(&r.context).unwrap_or_default()
        );
        let p = engine.retriever.profile(message, municipality);
        let terms: Vec<String> = p
            .terms
            .iter()
            .map(|t| format!("{}:{}{}", t.term, t.entries, if t.known { "" } else { "?" }))
            .collect();
        println!(
            "  (terms in n of {} entries: {})",
            p.entries,
            terms.join(" ")
        );
    }
    match r.decision {
        Decision::Answer => {
            if let Some(a) = &r.answer {
                println!("{}  ({})", a.question, a.faq_id);
                println!("{}", a.text);
                if let Some(u) = &a.source_url {
                    println!("出典: {u}{}", updated(a.updated.as_deref()));
                }
                if let Some(c) = &a.contact {
                    println!("問い合わせ: {}", contact(c));
                }
            }
            if !r.related.is_empty() {
                println!("関連する質問:");
                for c in &r.related {
                    println!("  - {}  ({})", c.question, c.faq_id);
                }
            }
        }
        Decision::Candidates => {
            println!("もしかして… 近い質問を選んでください。");
            for c in &r.candidates {
                println!("  - {}  ({})", c.question, c.faq_id);
            }
        }
        Decision::Fallback => {
            if let Some(f) = &r.fallback {
                println!("{}", f.text);
                println!("問い合わせ: {}", contact(&f.contact));
            }
        }
        Decision::SmallTalk => {
            if let Some(t) = &r.small_talk {
                println!("{}", t.text);
            }
            let menu = engine.retriever.top_categories(municipality);
            println!("分類から探す: {}", menu.join(" / "));
        }
    }
}

fn updated(d: Option<&str>) -> String {
    d.map(|d| format!("（{d} 更新）")).unwrap_or_default()
}

fn contact(c: &crate::faq::Contact) -> String {
    [c.office.as_deref(), c.phone.as_deref(), c.url.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}
