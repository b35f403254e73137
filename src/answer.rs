//! The answer policy: from ranked hits to one of three decisions — a direct answer, a list of
//! candidate questions (もしかして), or an honest fallback to the office to contact.
//!
//! The decision reads the top hit's [`coverage`](crate::retrieve::Hit::coverage) (how much of the
//! question the entry covers), the score margin between the first and second hit (how clearly
//! the first one wins), and the top hit's [`evidence`](crate::retrieve::Hit::evidence) (its
//! score in units of the most one rare word could add to that entry). Coverage alone cannot tell
//! a short out-of-scope question that shares its common words with an entry (生活保護の申請方法:
//! 申請, 方法) from a long, chatty in-scope one whose many incidental words dilute the share
//! (来月となりの県に引っ越します…児童手当…): the long one still echoes much more of the entry.
//! So a hit below `evidence_coverage` must also reach `evidence_score`. Coverage and evidence
//! are comparable across questions and FAQ sizes; the thresholds are chosen by
//! `madoguchi eval --calibrate` on a labelled dev set.

use serde::{Deserialize, Serialize};

use crate::retrieve::Hit;

/// Thresholds of the answer policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionConfig {
    /// Minimum coverage of the top hit for a direct answer.
    pub answer_coverage: f32,
    /// Minimum relative margin `(s1 - s2) / s1` for a direct answer.
    pub answer_margin: f32,
    /// Minimum coverage of the top hit for candidates; below it, fallback.
    pub candidates_coverage: f32,
    /// Below this coverage, the top hit must also have an evidence of at least
    /// `evidence_score` to be offered at all; otherwise, fallback.
    pub evidence_coverage: f32,
    /// The [`evidence`](crate::retrieve::Hit::evidence) (ranking score in units of the largest
    /// IDF) the top hit needs when its coverage is below `evidence_coverage`; 0 turns the rule
    /// off.
    pub evidence_score: f32,
    /// The largest share of the question in words no entry contains
    /// ([`unknown`](crate::retrieve::Hit::unknown)) that still allows a direct answer: a
    /// question about something the FAQ never mentions gets candidates at most.
    pub answer_unknown: f32,
    /// How many candidate questions to offer.
    pub max_candidates: usize,
    /// With the semantic leg: a top similarity below this sends a Japanese question to fallback
    /// whatever its words share with the entry. 0 turns the rule off.
    pub fallback_similarity: f32,
    /// With the semantic leg: a Japanese question whose words alone would send it to fallback
    /// gets candidates when its top similarity reaches this. Above 1 turns the rule off.
    pub candidates_similarity: f32,
    /// With the semantic leg: a Japanese question whose top similarity reaches this, with no
    /// word the FAQ lacks (see `answer_unknown`) and a margin of at least
    /// `answer_similarity_margin`, is answered directly when its words alone would offer
    /// candidates (it says, in other words, what one entry says). Above 1 turns the rule off.
    pub answer_similarity: f32,
    /// With the semantic leg: a Japanese question whose top entry covers at least this share
    /// of its words ([`coverage`](crate::retrieve::Hit::coverage)) is not sent to fallback by
    /// a similarity below `fallback_similarity`; it gets candidates at most (fallback still
    /// when its words alone would give it). A short question in words the entry has
    /// (アンドロイドで保険証, ほうかつ支援センター) is one the model reads with less certainty
    /// than a sentence. Above 1 turns the rule off.
    pub fallback_coverage: f32,
    /// With the semantic leg: the least [`margin`](Signals::margin) the `answer_similarity`
    /// rule needs to answer directly. A question that two neighbouring entries rank level
    /// (「印鑑登録はどうすればいいですか」: inkan-002 first by 0.1 %, inkan-001 meant) restates
    /// neither for sure; offered both, the resident picks. A question word for word an entry's
    /// own phrasing is answered whatever its margin ([`Signals::exact`]).
    pub answer_similarity_margin: f32,
    /// With the semantic leg: a direct answer only when the two legs agree, the top entry
    /// being first by its words alone and by its meaning alone as well ([`Signals::agreed`]);
    /// where they split, candidates. An entry's own phrasing is answered as always. Where the
    /// legs agree, the first entry is right far more often than where they split (bundled dev
    /// set, direct answers: 185 of 190 against 60 of 66; localgovFAQ dev, first entries: 80
    /// of 91 against 79 of 159), so `madoguchi eval --calibrate` weighs this against tighter
    /// thresholds when it needs precise answers (`--min-answer-precision`).
    pub answer_needs_agreement: bool,
    /// A question in another language ([`crate::language`]) is ranked by the semantic leg
    /// alone and gets candidates when its top similarity reaches this, else fallback; it is
    /// never answered directly (the entries are Japanese: the resident picks the one they
    /// meant).
    pub foreign_similarity: f32,
    /// The thresholds used instead of these when the semantic leg ran (`[decision.semantic]`):
    /// the ranking, and so the margin, is on another scale then, and the lexical-only mode
    /// (the model absent) keeps its own calibration.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "semantic_thresholds"
    )]
    pub semantic: Option<Box<DecisionConfig>>,
    /// The thresholds used instead of `semantic` when the semantic leg ran on a Japanese
    /// question and the top entry has no other phrasing than its question
    /// (`[decision.semantic_question_only]`). Its similarity is then the nearer of two
    /// cosines instead of the nearest of many, so a question it answers reaches a lower one: a
    /// FAQ without alternative phrasings (a municipality's own, or one imported from a
    /// spreadsheet) would otherwise send many answerable questions to the fallback.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "question_only_thresholds"
    )]
    pub semantic_question_only: Option<Box<DecisionConfig>>,
}

/// Reads `[decision.semantic]`: the keys it gives over [`DecisionConfig::semantic_default`]
/// (not over the lexical defaults, whose margin is on another scale); it may not nest again.
fn semantic_thresholds<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Box<DecisionConfig>>, D::Error> {
    nested_thresholds(d, "semantic", DecisionConfig::semantic_default())
}

/// Reads `[decision.semantic_question_only]` over
/// [`DecisionConfig::semantic_question_only_default`], as [`semantic_thresholds`] does.
fn question_only_thresholds<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Box<DecisionConfig>>, D::Error> {
    nested_thresholds(
        d,
        "semantic_question_only",
        DecisionConfig::semantic_question_only_default(),
    )
}

/// A `[decision.NAME]` table read over `defaults`; it may not hold tables of its own.
fn nested_thresholds<'de, D: serde::Deserializer<'de>>(
    d: D,
    name: &str,
    defaults: DecisionConfig,
) -> Result<Option<Box<DecisionConfig>>, D::Error> {
    use serde::de::Error;
    let given = toml::Table::deserialize(d)?;
    if let Some(key) = ["semantic", "semantic_question_only"]
        .into_iter()
        .find(|k| given.contains_key(*k))
    {
        return Err(D::Error::custom(format!(
            "[decision.{name}] cannot hold a table of its own ([decision.{name}.{key}]): write [decision.{key}]"
        )));
    }
    let mut table = toml::Table::try_from(defaults).map_err(D::Error::custom)?;
    table.extend(given);
    let c: DecisionConfig = table.try_into().map_err(D::Error::custom)?;
    Ok(Some(Box::new(c.flat())))
}

/// A table of thresholds in `[decision]`, and which one decides a question ([`Table::of`],
/// [`DecisionConfig::for_signals`]; `madoguchi eval --calibrate` fills each from the questions
/// it decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `[decision]`: no similarity (the semantic leg off, or no vector for the question).
    Lexical,
    /// `[decision.semantic]`: the semantic leg ran and the top entry has other phrasings, or
    /// the question is in another language.
    Semantic,
    /// `[decision.semantic_question_only]`: the semantic leg ran on a Japanese question whose
    /// top entry has its question only.
    QuestionOnly,
}

impl Table {
    /// The table that decides signals `s`.
    pub fn of(s: &Signals) -> Table {
        if s.similarity <= 0.0 && !s.foreign {
            Table::Lexical
        } else if s.foreign || s.phrasings {
            Table::Semantic
        } else {
            Table::QuestionOnly
        }
    }

    /// The section's name in `madoguchi.toml`.
    pub fn section(self) -> &'static str {
        match self {
            Table::Lexical => "[decision]",
            Table::Semantic => "[decision.semantic]",
            Table::QuestionOnly => "[decision.semantic_question_only]",
        }
    }

    /// This table's thresholds in `d`, flat (their defaults where `d` lacks the table).
    pub fn get(self, d: &DecisionConfig) -> DecisionConfig {
        match self {
            Table::Lexical => d.flat(),
            Table::Semantic => d
                .semantic
                .as_deref()
                .map_or_else(DecisionConfig::semantic_default, DecisionConfig::flat),
            Table::QuestionOnly => d.semantic_question_only.as_deref().map_or_else(
                DecisionConfig::semantic_question_only_default,
                DecisionConfig::flat,
            ),
        }
    }

    /// Puts flat thresholds into `d` as this table, keeping the others.
    pub fn set(self, d: &mut DecisionConfig, t: &DecisionConfig) {
        match self {
            Table::Lexical => {
                *d = DecisionConfig {
                    semantic: d.semantic.take(),
                    semantic_question_only: d.semantic_question_only.take(),
                    ..t.flat()
                }
            }
            Table::Semantic => d.semantic = Some(Box::new(t.flat())),
            Table::QuestionOnly => d.semantic_question_only = Some(Box::new(t.flat())),
        }
    }
}

impl DecisionConfig {
    /// The thresholds for signals: those of [`Table::of`] them; a table that is not set falls
    /// back to [`DecisionConfig::semantic`], then to these.
    pub fn for_signals(&self, s: &Signals) -> &DecisionConfig {
        let semantic = || self.semantic.as_deref();
        match Table::of(s) {
            Table::Lexical => self,
            Table::Semantic => semantic().unwrap_or(self),
            Table::QuestionOnly => self
                .semantic_question_only
                .as_deref()
                .or_else(semantic)
                .unwrap_or(self),
        }
    }

    /// These thresholds without the tables for the semantic leg: one table, as
    /// `madoguchi eval --calibrate` searches it.
    pub fn flat(&self) -> DecisionConfig {
        DecisionConfig {
            semantic: None,
            semantic_question_only: None,
            ..self.clone()
        }
    }

    /// The thresholds calibrated for the semantic leg with the default `[search]` settings:
    /// `madoguchi eval --faq faq --queries tests/eval/queries.tsv --qrels tests/eval/qrels.txt
    /// --calibrate` (5-fold cross-validated: mean utility 0.786, decisions right 0.933, 257
    /// direct answers right 0.953, fallback precision/recall 0.881/0.839, answerable questions
    /// sent to fallback 2.2 %; before `answer_similarity_margin`, with `answer_similarity` 0.92
    /// and no margin: 0.769, 0.939, 240 right 0.950, 0.883/0.855, 2.2 %; docs/benchmarks.md;
    /// every fold chose `answer_similarity` 0.9 with margin 0.008, four of five
    /// `fallback_coverage` 0.5, one 0.75).
    pub fn semantic_default() -> DecisionConfig {
        DecisionConfig {
            answer_coverage: 0.375,
            answer_margin: 0.02,
            candidates_coverage: 0.0,
            evidence_coverage: 0.6,
            evidence_score: 0.49,
            answer_unknown: 1.0,
            max_candidates: 5,
            fallback_similarity: 0.87,
            candidates_similarity: 0.9,
            answer_similarity: 0.9,
            fallback_coverage: 0.5,
            answer_similarity_margin: 0.008,
            answer_needs_agreement: false,
            foreign_similarity: 0.0,
            semantic: None,
            semantic_question_only: None,
        }
    }

    /// The thresholds for a top entry without other phrasings, calibrated with the default
    /// `[search]` settings on the bundled dev set's national questions over the national
    /// entries cut to question and answer (`scripts/calibrate-question-only.sh`; 5-fold
    /// cross-validated there: decisions right 0.873, fallback precision/recall 0.683/0.754,
    /// answerable questions sent to fallback 7.3 %, against 0.824, 0.598/0.860 and 12.1 % with
    /// the `[decision.semantic]` thresholds of then; docs/benchmarks.md). The script's
    /// calibration, searching `fallback_coverage` too, now picks a fallback below similarity 0.86
    /// unless the entry has half the question's words (cross-validated there: right 0.888,
    /// fallback P/R 0.733/0.772, 5.9 % to fallback); not taken, because it sent 16.0 % of
    /// localgovFAQ's answerable questions to the fallback against these thresholds' 13.6 %.
    pub fn semantic_question_only_default() -> DecisionConfig {
        DecisionConfig {
            answer_coverage: 0.3,
            answer_margin: 0.02,
            candidates_coverage: 0.2,
            evidence_coverage: 0.55,
            evidence_score: 0.65,
            answer_unknown: 0.3,
            max_candidates: 5,
            // No similarity below which such a question falls back: the nearer of its two
            // cosines is a weaker sign than the nearest of many phrasings; its words decide.
            fallback_similarity: 0.0,
            candidates_similarity: 0.88,
            answer_similarity: 0.94,
            fallback_coverage: 1.01,
            answer_similarity_margin: 0.0,
            answer_needs_agreement: false,
            foreign_similarity: 0.0,
            semantic: None,
            semantic_question_only: None,
        }
    }
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            // Calibrated on the bundled dev set (scripts/bench-quality.sh shows the effect):
            // madoguchi eval --faq faq --queries tests/eval/queries.tsv \
            //   --qrels tests/eval/qrels.txt --calibrate
            // which, since the reading and abbreviation lookups (row 11 of
            // docs/benchmarks.md), picks answer_margin 0.30 with answer_unknown 1.0 (mean
            // utility 0.679). answer_unknown stays 0.3 by choice (utility 0.662, the "mean
            // utility" the same command prints without --calibrate): decision
            // accuracy 0.920 against 0.917, wrong direct answers 1.1 % of queries against
            // 1.3 %, and a question about something the FAQ never mentions (宇宙旅行の補助金)
            // gets no direct answer. The margin was 0.24 before (accuracy 0.912, wrong direct
            // answers 2.1 %).
            answer_coverage: 0.3,
            answer_margin: 0.3,
            candidates_coverage: 0.0,
            evidence_coverage: 0.6,
            evidence_score: 0.49,
            answer_unknown: 0.3,
            max_candidates: 5,
            fallback_similarity: 0.0,
            candidates_similarity: 1.01,
            answer_similarity: 1.01,
            fallback_coverage: 1.01,
            answer_similarity_margin: 0.0,
            answer_needs_agreement: false,
            foreign_similarity: 0.0,
            semantic: Some(Box::new(DecisionConfig::semantic_default())),
            semantic_question_only: Some(
                Box::new(DecisionConfig::semantic_question_only_default()),
            ),
        }
    }
}

/// What a turn gives the resident. [`decide`] chooses among the first three from the hits; the
/// conversation turn ([`crate::chat`]) answers greetings, thanks and questions about the bot
/// itself with [`Decision::SmallTalk`] before any search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The top entry answers the question.
    Answer,
    /// Several entries may; the resident picks one.
    Candidates,
    /// Nothing in the FAQ fits; point to the office.
    Fallback,
    /// A greeting, thanks or a question about the bot: a courteous reply with the category
    /// menu, neither an FAQ entry nor an unanswered question.
    SmallTalk,
}

/// A stored or submitted decision name that is not one of [`Decision::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown decision '{0}' (known: answer, candidates, fallback, small_talk)")]
pub struct UnknownDecision(pub String);

impl Decision {
    /// Every decision, in the order reports list them.
    pub const ALL: [Decision; 4] = [
        Decision::Answer,
        Decision::Candidates,
        Decision::Fallback,
        Decision::SmallTalk,
    ];

    /// Its name, as in the API, the database and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Answer => "answer",
            Decision::Candidates => "candidates",
            Decision::Fallback => "fallback",
            Decision::SmallTalk => "small_talk",
        }
    }

    /// Its name for municipal staff (the console and the CSV export say the same).
    pub fn label_ja(self) -> &'static str {
        match self {
            Decision::Answer => "回答",
            Decision::Candidates => "候補提示",
            Decision::Fallback => "回答なし",
            Decision::SmallTalk => "雑談",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Decision {
    type Err = UnknownDecision;

    fn from_str(s: &str) -> Result<Decision, UnknownDecision> {
        Decision::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDecision(s.to_owned()))
    }
}

/// The signals the decision reads, exposed for reports and calibration.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Signals {
    /// Coverage of the top hit.
    pub coverage: f32,
    /// Relative score margin between the first two hits (1 when there is one hit).
    pub margin: f32,
    /// Evidence of the top hit (0 when there is none).
    pub evidence: f32,
    /// Share of the question in words no entry contains.
    pub unknown: f32,
    /// The top hit's similarity with the question (0 when the semantic leg is off).
    pub similarity: f32,
    /// Whether the question is in another language and was ranked by the semantic leg alone.
    pub foreign: bool,
    /// Whether the top entry has other phrasings than its question (which thresholds apply:
    /// [`DecisionConfig::for_signals`]).
    pub phrasings: bool,
    /// Whether the question is, word for word, the top entry's question or one of its other
    /// phrasings, and no other hit's ([`Hit::own_phrasing`]): answered directly, whatever the
    /// other signals say (a Japanese question; one in another language gets candidates as
    /// always).
    pub exact: bool,
    /// Whether the top entry is first by words alone and by meaning alone as well
    /// ([`Hit::agreed`]): the two legs agree. A direct answer may need them to
    /// ([`DecisionConfig::answer_needs_agreement`]).
    pub agreed: bool,
}

/// Reads the signals off ranked hits. The margin is that of the order the hits are in
/// ([`ranking`](crate::retrieve::Hit::ranking), which is the lexical score when the semantic leg
/// is off).
pub fn signals(hits: &[Hit]) -> Signals {
    let Some(first) = hits.first() else {
        return Signals::default();
    };
    let margin = match hits.get(1) {
        None => 1.0,
        Some(second) if first.ranking > 0.0 => (first.ranking - second.ranking) / first.ranking,
        Some(_) => 0.0,
    };
    Signals {
        coverage: first.coverage,
        margin,
        evidence: first.evidence,
        unknown: first.unknown,
        similarity: first.similarity,
        foreign: first.foreign,
        phrasings: !first.entry.alt_questions.is_empty(),
        exact: first.own_phrasing,
        agreed: first.agreed,
    }
}

/// Decides from the signals (with [`DecisionConfig::for_signals`]).
pub fn decide_signals(s: Signals, c: &DecisionConfig) -> Decision {
    let c = c.for_signals(&s);
    if s.foreign {
        return if s.similarity > 0.0 && s.similarity >= c.foreign_similarity {
            Decision::Candidates
        } else {
            Decision::Fallback
        };
    }
    if s.exact {
        return Decision::Answer;
    }
    let lexical = decide_lexical(s, c);
    if s.similarity <= 0.0 {
        // Lexical only (or nothing found).
        return lexical;
    }
    if s.similarity < c.fallback_similarity {
        return if s.coverage >= c.fallback_coverage && lexical != Decision::Fallback {
            Decision::Candidates
        } else {
            Decision::Fallback
        };
    }
    let decision = match lexical {
        Decision::Fallback if s.similarity >= c.candidates_similarity => Decision::Candidates,
        Decision::Candidates
            if s.similarity >= c.answer_similarity
                && s.margin >= c.answer_similarity_margin
                && s.unknown <= c.answer_unknown =>
        {
            Decision::Answer
        }
        d => d,
    };
    if decision == Decision::Answer && c.answer_needs_agreement && !s.agreed {
        Decision::Candidates
    } else {
        decision
    }
}

/// The decision the lexical signals alone make.
fn decide_lexical(s: Signals, c: &DecisionConfig) -> Decision {
    let weak = s.coverage < c.evidence_coverage && s.evidence < c.evidence_score;
    if weak || s.coverage <= 0.0 {
        Decision::Fallback
    } else if s.coverage >= c.answer_coverage
        && s.margin >= c.answer_margin
        && s.evidence >= c.evidence_score
        && s.unknown <= c.answer_unknown
    {
        Decision::Answer
    } else if s.coverage >= c.candidates_coverage {
        Decision::Candidates
    } else {
        Decision::Fallback
    }
}

/// Decides for ranked hits.
pub fn decide(hits: &[Hit], c: &DecisionConfig) -> Decision {
    decide_signals(signals(hits), c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signals with no unknown words.
    fn with(coverage: f32, margin: f32, evidence: f32) -> Signals {
        Signals {
            coverage,
            margin,
            evidence,
            ..Signals::default()
        }
    }

    /// Signals with ample evidence.
    fn s(coverage: f32, margin: f32) -> Signals {
        with(coverage, margin, 1.0)
    }

    #[test]
    fn thresholds_split_three_ways() {
        let c = DecisionConfig {
            answer_coverage: 0.5,
            answer_margin: 0.2,
            candidates_coverage: 0.3,
            evidence_score: 0.0,
            ..DecisionConfig::default()
        };
        assert_eq!(decide_signals(s(0.9, 0.5), &c), Decision::Answer);
        assert_eq!(
            decide_signals(s(0.9, 0.01), &c),
            Decision::Candidates,
            "no clear winner"
        );
        assert_eq!(decide_signals(s(0.4, 0.5), &c), Decision::Candidates);
        assert_eq!(decide_signals(s(0.1, 0.9), &c), Decision::Fallback);
        assert_eq!(decide(&[], &c), Decision::Fallback);
    }

    #[test]
    fn low_coverage_needs_evidence() {
        let c = DecisionConfig {
            answer_coverage: 0.4,
            candidates_coverage: 0.1,
            evidence_coverage: 0.6,
            evidence_score: 0.5,
            ..DecisionConfig::default()
        };
        // Short question, common words only: little evidence, so fallback.
        assert_eq!(decide_signals(with(0.55, 0.5, 0.2), &c), Decision::Fallback);
        // A long question matching much of the entry keeps its candidates.
        assert_eq!(
            decide_signals(with(0.25, 0.1, 1.0), &c),
            Decision::Candidates
        );
        // At or above evidence_coverage, little evidence means candidates, not fallback: a
        // one-word question (ごみ) fully found in an entry that only mentions it in passing.
        assert_eq!(
            decide_signals(with(0.6, 0.5, 0.01), &c),
            Decision::Candidates
        );
        assert_eq!(decide_signals(with(0.6, 0.5, 0.6), &c), Decision::Answer);
        // A question partly about something no entry mentions is not answered directly.
        let unknown = Signals {
            unknown: 0.4,
            ..with(0.6, 0.5, 0.6)
        };
        assert_eq!(decide_signals(unknown, &c), Decision::Candidates);
        // evidence_score 0 turns the rule off.
        let off = DecisionConfig {
            evidence_score: 0.0,
            ..c
        };
        assert_eq!(decide_signals(with(0.55, 0.5, 0.2), &off), Decision::Answer);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for d in Decision::ALL {
            assert_eq!(d.as_str().parse::<Decision>(), Ok(d));
            assert_eq!(
                serde_json::to_value(d).unwrap(),
                serde_json::json!(d.as_str())
            );
        }
        assert_eq!(
            "Answer".parse::<Decision>(),
            Err(UnknownDecision("Answer".into()))
        );
        assert!("".parse::<Decision>().is_err());
    }

    #[test]
    fn the_semantic_thresholds_apply_when_the_semantic_leg_ran() {
        let c = DecisionConfig::default();
        let sem = DecisionConfig::semantic_default();
        // The top entry has other phrasings ([decision.semantic]).
        let with_sim = |s: Signals, similarity: f32| Signals {
            similarity,
            phrasings: true,
            ..s
        };
        // Lexical only: the semantic rules never fire, whatever the thresholds.
        assert_eq!(decide_signals(with(0.0, 1.0, 0.0), &c), Decision::Fallback);
        assert_eq!(decide_signals(s(0.9, 0.5), &c), Decision::Answer);
        // A margin too small for the lexical thresholds is enough on the fused scale.
        assert_eq!(decide_signals(s(0.9, 0.05), &c), Decision::Candidates);
        assert_eq!(
            decide_signals(with_sim(s(0.9, 0.05), 0.92), &c),
            Decision::Answer
        );
        // Far in meaning from every entry: fallback unless the entry has most of the question's
        // words, and then candidates at most (never the direct answer those words alone earn).
        let below = sem.fallback_similarity - 0.01;
        let covered = sem.fallback_coverage;
        assert_eq!(
            decide_signals(with_sim(s(covered - 0.01, 0.5), below), &c),
            Decision::Fallback
        );
        assert_eq!(decide_signals(s(covered, 0.5), &c), Decision::Answer);
        assert_eq!(
            decide_signals(with_sim(s(covered, 0.5), below), &c),
            Decision::Candidates
        );
        // ... and fallback still when those words are too weak for the words alone to offer it.
        assert_eq!(
            decide_signals(with_sim(with(covered, 0.5, 0.0), below), &c),
            Decision::Fallback
        );
        // No shared word but close in meaning: candidates.
        assert_eq!(
            decide_signals(with_sim(with(0.0, 1.0, 0.0), sem.candidates_similarity), &c),
            Decision::Candidates
        );
        // Near in meaning and ahead of the second: a direct answer. Near in meaning but level
        // with the second (two neighbouring entries): candidates.
        let lead = sem.answer_similarity_margin;
        assert!(lead > 0.0 && lead < sem.answer_margin);
        assert_eq!(
            decide_signals(with_sim(s(0.5, lead), sem.answer_similarity), &c),
            Decision::Answer
        );
        assert_eq!(
            decide_signals(with_sim(s(0.5, lead - 0.001), sem.answer_similarity), &c),
            Decision::Candidates
        );
        assert_eq!(
            decide_signals(with_sim(s(0.5, lead), sem.answer_similarity - 0.01), &c),
            Decision::Candidates
        );
        // An entry's own phrasing word for word is answered, with or without the semantic leg,
        // whatever its margin, similarity or coverage.
        let exact = |s: Signals| Signals { exact: true, ..s };
        assert_eq!(
            decide_signals(exact(with_sim(s(0.5, 0.0), sem.answer_similarity)), &c),
            Decision::Answer
        );
        assert_eq!(
            decide_signals(exact(with_sim(with(0.1, 0.0, 0.0), 0.5)), &c),
            Decision::Answer
        );
        assert_eq!(decide_signals(exact(s(0.5, 0.0)), &c), Decision::Answer);
        // Another language: candidates or fallback, never a direct answer.
        let foreign = |similarity| Signals {
            foreign: true,
            similarity,
            ..s(0.0, 1.0)
        };
        let strict = DecisionConfig {
            semantic: Some(Box::new(DecisionConfig {
                foreign_similarity: 0.8,
                ..DecisionConfig::semantic_default()
            })),
            ..DecisionConfig::default()
        };
        assert_eq!(decide_signals(foreign(0.99), &strict), Decision::Candidates);
        assert_eq!(decide_signals(foreign(0.79), &strict), Decision::Fallback);
        // ... even word for word an entry's phrasing (the entries are Japanese).
        let foreign_exact = Signals {
            exact: true,
            ..foreign(0.99)
        };
        assert_eq!(decide_signals(foreign_exact, &strict), Decision::Candidates);
        assert_eq!(decide_signals(foreign(0.0), &c), Decision::Fallback);
    }

    #[test]
    fn a_direct_answer_may_need_both_legs_to_agree() {
        let needs = DecisionConfig {
            semantic: Some(Box::new(DecisionConfig {
                answer_needs_agreement: true,
                ..DecisionConfig::semantic_default()
            })),
            ..DecisionConfig::default()
        };
        let sem = DecisionConfig::semantic_default();
        let near = |agreed: bool| Signals {
            similarity: sem.answer_similarity + 0.02,
            phrasings: true,
            agreed,
            ..s(0.9, 0.5)
        };
        // By default agreement is not needed.
        let c = DecisionConfig::default();
        assert_eq!(decide_signals(near(false), &c), Decision::Answer);
        assert_eq!(decide_signals(near(true), &c), Decision::Answer);
        // Needed: where the legs split, candidates instead.
        assert_eq!(decide_signals(near(true), &needs), Decision::Answer);
        assert_eq!(decide_signals(near(false), &needs), Decision::Candidates);
        // An entry's own phrasing is answered all the same.
        let exact = Signals {
            exact: true,
            ..near(false)
        };
        assert_eq!(decide_signals(exact, &needs), Decision::Answer);
        // The rule is the semantic leg's: lexical only, the words decide as before, even with
        // the rule set in [decision] itself.
        let lexical = DecisionConfig {
            answer_needs_agreement: true,
            ..DecisionConfig::default()
        };
        assert_eq!(decide_signals(s(0.9, 0.5), &lexical), Decision::Answer);
        // Fallback and candidates are left as they were.
        let far = Signals {
            similarity: sem.fallback_similarity - 0.01,
            ..near(false)
        };
        assert_eq!(decide_signals(far, &needs), decide_signals(far, &c));
    }

    #[test]
    fn a_top_entry_without_other_phrasings_has_thresholds_of_its_own() {
        let strict = DecisionConfig {
            fallback_similarity: 0.9,
            fallback_coverage: 1.01,
            ..DecisionConfig::semantic_default()
        };
        let lenient = DecisionConfig {
            fallback_similarity: 0.8,
            ..DecisionConfig::semantic_default()
        };
        let c = DecisionConfig {
            semantic: Some(Box::new(strict.clone())),
            semantic_question_only: Some(Box::new(lenient.clone())),
            ..DecisionConfig::default()
        };
        let at = |phrasings: bool, foreign: bool| Signals {
            similarity: 0.85,
            phrasings,
            foreign,
            ..s(0.9, 0.5)
        };
        assert_eq!(c.for_signals(&at(true, false)), &strict);
        assert_eq!(c.for_signals(&at(false, false)), &lenient);
        assert_eq!(decide_signals(at(true, false), &c), Decision::Fallback);
        assert_eq!(decide_signals(at(false, false), &c), Decision::Answer);
        // A question in another language keeps [decision.semantic] whatever the entry's shape.
        assert_eq!(c.for_signals(&at(false, true)), &strict);
        // Lexical only, the shape changes nothing.
        let lexical = Signals {
            similarity: 0.0,
            ..at(false, false)
        };
        assert_eq!(c.for_signals(&lexical), &c);
        // Without its own table, such an entry is decided by [decision.semantic].
        let without = DecisionConfig {
            semantic_question_only: None,
            ..c.clone()
        };
        assert_eq!(without.for_signals(&at(false, false)), &strict);
    }

    #[test]
    fn semantic_thresholds_read_over_their_own_defaults() {
        #[derive(Debug, Deserialize)]
        struct File {
            decision: DecisionConfig,
        }
        let f: File = toml::from_str(
            "[decision]\nanswer_margin = 0.4\n\n[decision.semantic]\nfallback_similarity = 0.8\n",
        )
        .unwrap();
        assert_eq!(f.decision.answer_margin, 0.4);
        let sem = f.decision.semantic.unwrap();
        assert_eq!(sem.fallback_similarity, 0.8);
        assert_eq!(
            sem.answer_margin,
            DecisionConfig::semantic_default().answer_margin
        );
        assert!(sem.semantic.is_none());
        let nested = toml::from_str::<File>(
            "[decision.semantic]\nfallback_similarity = 0.8\n[decision.semantic.semantic]\nanswer_margin = 1\n",
        );
        assert!(nested.is_err());
        let typo = toml::from_str::<File>("[decision.semantic]\nfallback_similarty = 0.8\n");
        assert!(typo.unwrap_err().to_string().contains("fallback_similarty"));
        // The question-only table reads over its own defaults, and nests no table either.
        let f: File =
            toml::from_str("[decision.semantic_question_only]\nanswer_similarity = 0.95\n")
                .unwrap();
        let q = f.decision.semantic_question_only.unwrap();
        assert_eq!(q.answer_similarity, 0.95);
        assert_eq!(
            q.fallback_similarity,
            DecisionConfig::semantic_question_only_default().fallback_similarity
        );
        assert!(q.semantic.is_none() && q.semantic_question_only.is_none());
        assert_eq!(
            f.decision.semantic.as_deref(),
            Some(&DecisionConfig::semantic_default())
        );
        for nested in [
            "[decision.semantic.semantic_question_only]\nanswer_margin = 1\n",
            "[decision.semantic_question_only.semantic]\nanswer_margin = 1\n",
        ] {
            let e = toml::from_str::<File>(nested).unwrap_err().to_string();
            assert!(e.contains("cannot hold a table"), "{e}");
        }
    }

    #[test]
    fn zero_coverage_is_never_a_candidate() {
        let c = DecisionConfig {
            candidates_coverage: 0.0,
            ..DecisionConfig::default()
        };
        assert_eq!(decide_signals(s(0.0, 1.0), &c), Decision::Fallback);
    }
}
