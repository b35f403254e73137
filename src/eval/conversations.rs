//! Whole conversations through [`chat::turn`], the function that serves residents: does a
//! follow-up that needs the earlier turn get its answer, and does a topic switch, small talk or
//! an out-of-scope question stay clear of the previous answer?
//!
//! The file is JSON Lines, one conversation a line:
//!
//! ```json
//! {"id":"c01","municipality":"999008","note":"…","turns":[
//!   {"text":"図書館は何時まで開いてる？","kind":"question","relevant":["mihon-shisetsu-001"]},
//!   {"text":"カードを作るには何がいる？","kind":"follow_up","relevant":["mihon-shisetsu-002"]},
//!   {"text":"ありがとう","kind":"small_talk"}]}
//! ```
//!
//! `kind` is `question` (stands on its own), `follow_up` (needs the earlier turns), `switch` (a
//! new topic that stands on its own), `small_talk` (expects the courteous reply) or
//! `out_of_scope` (expects the fallback). The first three list the entries that answer them.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::answer::Decision;
use crate::chat::{self, Conversation, Services, Settings};
use crate::engine::Engine;

/// What a turn of a test conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnKind {
    /// A question that stands on its own.
    Question,
    /// A question that needs the earlier turns (「必要なものは？」).
    FollowUp,
    /// A new topic after another one: must not inherit the previous answer.
    Switch,
    /// A greeting, thanks or a question about the bot.
    SmallTalk,
    /// A question the FAQ does not cover.
    OutOfScope,
}

/// One turn of a test conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnCase {
    /// What the resident types.
    pub text: String,
    /// What the turn is.
    pub kind: TurnKind,
    /// Entries that answer it (questions, follow-ups and switches only).
    #[serde(default)]
    pub relevant: Vec<String>,
}

/// One test conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationCase {
    /// Its id.
    pub id: String,
    /// Municipality the resident asks as.
    #[serde(default)]
    pub municipality: Option<String>,
    /// What it tests, for people.
    #[serde(default)]
    pub note: Option<String>,
    /// Its turns, in order (two to four).
    pub turns: Vec<TurnCase>,
}

/// Reads a conversation file; every problem is reported with its line.
pub fn read(path: &Path) -> Result<Vec<ConversationCase>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        if line.trim().is_empty() {
            continue;
        }
        let c: ConversationCase = match serde_json::from_str(line) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        if !ids.insert(c.id.clone()) {
            problems.push(format!("{at}: conversation '{}' appears twice", c.id));
        }
        if c.turns.is_empty() {
            problems.push(format!("{at}: conversation '{}' has no turns", c.id));
        }
        for (n, t) in c.turns.iter().enumerate() {
            let judged = matches!(
                t.kind,
                TurnKind::Question | TurnKind::FollowUp | TurnKind::Switch
            );
            if t.text.trim().is_empty() {
                problems.push(format!("{at}: turn {} has no text", n + 1));
            }
            if judged && t.relevant.is_empty() {
                problems.push(format!(
                    "{at}: turn {} is a {:?} without relevant entries",
                    n + 1,
                    t.kind
                ));
            }
            if !judged && !t.relevant.is_empty() {
                problems.push(format!(
                    "{at}: turn {} is {:?} and cannot list relevant entries",
                    n + 1,
                    t.kind
                ));
            }
            if n == 0 && matches!(t.kind, TurnKind::FollowUp | TurnKind::Switch) {
                problems.push(format!(
                    "{at}: the first turn cannot be a {:?} (nothing came before it)",
                    t.kind
                ));
            }
        }
        out.push(c);
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    if out.is_empty() {
        bail!("{}: no conversations", path.display());
    }
    Ok(out)
}

/// What happened on one turn.
#[derive(Debug, Clone, Serialize)]
pub struct TurnResult {
    /// Conversation id.
    pub conversation: String,
    /// 1-based turn number.
    pub turn: usize,
    /// The text.
    pub text: String,
    /// What the turn is.
    pub kind: TurnKind,
    /// Entries that answer it.
    pub relevant: Vec<String>,
    /// The decision.
    pub decision: Decision,
    /// The entry answered with (answers), or the candidates' entries.
    pub shown: Vec<String>,
    /// The conversation's topic before this turn ([`chat::answered_topic`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_topic: Option<String>,
    /// The entry this turn was read with, when the turn used the previous topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<String>,
    /// Why the previous topic was or was not used.
    pub context: chat::Context,
    /// The decision was right for the kind (see [`TurnResult::correct`]).
    pub correct: bool,
    /// The first entry shown (the answer, or the first candidate) is relevant.
    pub success_at_1: bool,
    /// The turn took something from the previous topic it should not have: a switch, small talk,
    /// an out-of-scope or self-contained question that was read with the previous topic, or that
    /// was answered with the previous answer's entry when that entry does not answer it.
    pub inherited: bool,
}

/// Runs every conversation through [`chat::turn`] (nothing stored, no metrics; the LLM when
/// `services` has one).
pub async fn run(
    engine: &Arc<Engine>,
    settings: &Settings,
    services: Services<'_>,
    cases: &[ConversationCase],
) -> Result<Vec<TurnResult>> {
    let mut out = Vec::new();
    for case in cases {
        let mut conversation = Conversation::new();
        for (n, t) in case.turns.iter().enumerate() {
            let message = chat::check(engine, settings, &t.text, case.municipality.as_deref())
                .with_context(|| format!("conversation {} turn {}", case.id, n + 1))?;
            let previous_topic = chat::answered_topic(&conversation.earlier).map(str::to_owned);
            let reply = chat::turn(
                engine.clone(),
                settings,
                services,
                &conversation,
                message.clone(),
                case.municipality.clone(),
                None,
            )
            .await
            .with_context(|| format!("conversation {} turn {}", case.id, n + 1))?;
            let shown: Vec<String> = match reply.decision {
                Decision::Answer => reply.answer.iter().map(|a| a.faq_id.clone()).collect(),
                Decision::Candidates => reply.candidates.iter().map(|c| c.faq_id.clone()).collect(),
                Decision::Fallback | Decision::SmallTalk => Vec::new(),
            };
            let is_relevant = |id: &String| t.relevant.contains(id);
            let correct = match t.kind {
                TurnKind::Question | TurnKind::FollowUp | TurnKind::Switch => {
                    match reply.decision {
                        Decision::Answer => shown.first().is_some_and(is_relevant),
                        Decision::Candidates => shown.iter().any(is_relevant),
                        Decision::Fallback | Decision::SmallTalk => false,
                    }
                }
                TurnKind::SmallTalk => reply.decision == Decision::SmallTalk,
                TurnKind::OutOfScope => reply.decision == Decision::Fallback,
            };
            let answered_previous = reply.decision == Decision::Answer
                && previous_topic.is_some()
                && shown.first() == previous_topic.as_ref()
                && !shown.first().is_some_and(is_relevant);
            let inherited = n > 0
                && t.kind != TurnKind::FollowUp
                && (reply.follow_up_of.is_some() || answered_previous);
            out.push(TurnResult {
                conversation: case.id.clone(),
                turn: n + 1,
                text: t.text.clone(),
                kind: t.kind,
                relevant: t.relevant.clone(),
                decision: reply.decision,
                success_at_1: shown.first().is_some_and(is_relevant),
                shown,
                previous_topic,
                follow_up_of: reply.follow_up_of.clone(),
                context: reply.context.clone(),
                correct,
                inherited,
            });
            conversation
                .earlier
                .push(reply.earlier(crate::mask::mask_str(&message)));
        }
    }
    Ok(out)
}

/// Figures for one kind of turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindMetrics {
    /// Turns of the kind.
    pub turns: usize,
    /// Share whose decision was right.
    pub correct: f64,
}

/// What the conversation set measures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationMetrics {
    /// Conversations run.
    pub conversations: usize,
    /// Turns run.
    pub turns: usize,
    /// Share of conversations whose every turn was right.
    pub conversations_all_correct: f64,
    /// Follow-ups: right decision (a relevant answer, or candidates with one).
    pub follow_up: KindMetrics,
    /// Follow-ups answered directly with a relevant entry.
    pub follow_up_answered: f64,
    /// Follow-ups read with the previous topic.
    pub follow_up_context_used: f64,
    /// Self-contained questions (first questions and switches): right decision.
    pub self_contained: KindMetrics,
    /// Share of the turns after the first that must not inherit (switches, small talk,
    /// out-of-scope and self-contained questions) that did not: 1.0 is the requirement.
    pub topic_switch_safety: f64,
    /// Turns that must not inherit.
    pub must_not_inherit: usize,
    /// Small talk recognised as such.
    pub small_talk: KindMetrics,
    /// Turns that are not small talk but were taken for it.
    pub false_small_talk: usize,
    /// Out-of-scope questions that fell back.
    pub out_of_scope: KindMetrics,
}

/// Aggregates turn results.
pub fn metrics(results: &[TurnResult]) -> ConversationMetrics {
    let share = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let kind = |pred: &dyn Fn(TurnKind) -> bool| {
        let of: Vec<&TurnResult> = results.iter().filter(|r| pred(r.kind)).collect();
        KindMetrics {
            turns: of.len(),
            correct: share(of.iter().filter(|r| r.correct).count(), of.len()),
        }
    };
    let follow_ups: Vec<&TurnResult> = results
        .iter()
        .filter(|r| r.kind == TurnKind::FollowUp)
        .collect();
    let guarded: Vec<&TurnResult> = results
        .iter()
        .filter(|r| r.turn > 1 && r.kind != TurnKind::FollowUp)
        .collect();
    let conversations: BTreeSet<&str> = results.iter().map(|r| r.conversation.as_str()).collect();
    let failed: BTreeSet<&str> = results
        .iter()
        .filter(|r| !r.correct || r.inherited)
        .map(|r| r.conversation.as_str())
        .collect();
    ConversationMetrics {
        conversations: conversations.len(),
        turns: results.len(),
        conversations_all_correct: share(conversations.len() - failed.len(), conversations.len()),
        follow_up: kind(&|k| k == TurnKind::FollowUp),
        follow_up_answered: share(
            follow_ups
                .iter()
                .filter(|r| r.decision == Decision::Answer && r.correct)
                .count(),
            follow_ups.len(),
        ),
        follow_up_context_used: share(
            follow_ups
                .iter()
                .filter(|r| r.follow_up_of.is_some())
                .count(),
            follow_ups.len(),
        ),
        self_contained: kind(&|k| matches!(k, TurnKind::Question | TurnKind::Switch)),
        topic_switch_safety: share(
            guarded.iter().filter(|r| !r.inherited).count(),
            guarded.len(),
        ),
        must_not_inherit: guarded.len(),
        small_talk: kind(&|k| k == TurnKind::SmallTalk),
        false_small_talk: results
            .iter()
            .filter(|r| r.kind != TurnKind::SmallTalk && r.decision == Decision::SmallTalk)
            .count(),
        out_of_scope: kind(&|k| k == TurnKind::OutOfScope),
    }
}

/// The metrics as a text table.
pub fn table(m: &ConversationMetrics) -> String {
    let mut s = format!(
        "conversations {}  turns {}  all turns right {:.3}\n",
        m.conversations, m.turns, m.conversations_all_correct
    );
    s += &format!(
        "follow-ups ({}): right decision {:.3}, answered with a relevant entry {:.3}, previous topic used {:.3}\n",
        m.follow_up.turns, m.follow_up.correct, m.follow_up_answered, m.follow_up_context_used
    );
    s += &format!(
        "self-contained questions ({}): right decision {:.3}\n",
        m.self_contained.turns, m.self_contained.correct
    );
    s += &format!(
        "topic-switch safety ({} turns that must not inherit): {:.3}\n",
        m.must_not_inherit, m.topic_switch_safety
    );
    s += &format!(
        "small talk ({}): recognised {:.3}; other turns taken for small talk: {}\n",
        m.small_talk.turns, m.small_talk.correct, m.false_small_talk
    );
    s += &format!(
        "out of scope ({}): fell back {:.3}\n",
        m.out_of_scope.turns, m.out_of_scope.correct
    );
    s
}

/// The turns that went wrong, for people, as Markdown.
pub fn failures_markdown(results: &[TurnResult]) -> String {
    let mut s = String::from("# Conversation failures\n");
    for r in results.iter().filter(|r| !r.correct || r.inherited) {
        s += &format!(
            "\n- `{}` turn {} ({:?}) {} — decision **{}** {:?}{}{}; relevant {:?}",
            r.conversation,
            r.turn,
            r.kind,
            r.text,
            r.decision,
            r.shown,
            if r.inherited {
                " — INHERITED the previous topic"
            } else {
                ""
            },
            r.follow_up_of
                .as_deref()
                .map(|t| format!(" (read with {t})"))
                .unwrap_or_default(),
            r.relevant
        );
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(conversation: &str, turn: usize, kind: TurnKind, decision: Decision) -> TurnResult {
        TurnResult {
            conversation: conversation.into(),
            turn,
            text: String::new(),
            kind,
            relevant: Vec::new(),
            decision,
            shown: Vec::new(),
            previous_topic: None,
            follow_up_of: None,
            context: chat::Context::NoTopic,
            correct: true,
            success_at_1: false,
            inherited: false,
        }
    }

    #[test]
    fn a_malformed_file_is_rejected_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(
            &path,
            concat!(
                r#"{"id":"a","turns":[{"text":"住民票","kind":"question","relevant":["x"]}]}"#,
                "\n\n",
                r#"{"id":"a","turns":[{"text":"ありがとう","kind":"small_talk"}]}"#,
                "\n",
                r#"{"id":"b","turns":[{"text":"必要なものは？","kind":"follow_up"}]}"#,
                "\n",
                r#"{"id":"c","turns":[{"text":"x","kind":"maybe"}]}"#,
                "\n",
            ),
        )
        .unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(
            err.contains("c.jsonl:3: conversation 'a' appears twice"),
            "{err}"
        );
        assert!(
            err.contains("c.jsonl:4: turn 1 is a FollowUp without relevant"),
            "{err}"
        );
        assert!(err.contains("c.jsonl:5:"), "{err}");
        assert!(!err.contains("c.jsonl:1:"), "{err}");
    }

    #[test]
    fn metrics_count_each_kind_and_every_inheritance() {
        let mut follow = result("a", 2, TurnKind::FollowUp, Decision::Answer);
        follow.follow_up_of = Some("topic".into());
        let mut switch = result("b", 2, TurnKind::Switch, Decision::Answer);
        switch.inherited = true;
        let mut wrong_talk = result("b", 3, TurnKind::Question, Decision::SmallTalk);
        wrong_talk.correct = false;
        let results = vec![
            result("a", 1, TurnKind::Question, Decision::Answer),
            follow,
            result("a", 3, TurnKind::SmallTalk, Decision::SmallTalk),
            result("b", 1, TurnKind::Question, Decision::Candidates),
            switch,
            wrong_talk,
        ];
        let m = metrics(&results);
        assert_eq!((m.conversations, m.turns), (2, 6));
        assert_eq!(m.conversations_all_correct, 0.5);
        assert_eq!((m.follow_up.turns, m.follow_up_answered), (1, 1.0));
        assert_eq!(m.follow_up_context_used, 1.0);
        // Turns after the first that are not follow-ups: a3, b2, b3; b2 inherited.
        assert_eq!(m.must_not_inherit, 3);
        assert!((m.topic_switch_safety - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.false_small_talk, 1);
        assert_eq!(
            (m.self_contained.turns, m.self_contained.correct),
            (4, 0.75)
        );
    }
}
