//! The conversation turn: one function that the server, the CLI (`madoguchi ask`) and the
//! evaluation harness all call.
//!
//! A turn takes the resident's message, the municipality and the conversation's earlier turns,
//! and returns a [`Reply`] with one of four decisions: a direct answer, candidate questions
//! (もしかして), an honest fallback with the office to contact, or a courteous reply to small talk
//! (greetings, thanks, questions about the bot). [`plan`] is the deciding part (small talk,
//! search, decision, follow-up), pure and synchronous; [`turn`] wraps it with what leaves the
//! process: masking, the optional LLM, storage and metrics, each passed in as [`Services`].
//!
//! A follow-up borrows the previous topic only when it cannot stand on its own: the message
//! names nothing specific to the FAQ (「必要なものは？」「それはいつまで？」), the message alone
//! gets no direct answer, and the previous topic plus the message gets one whose entry the
//! message's own words point to. A self-contained question, a greeting, thanks or a question
//! about something the FAQ never mentions never inherits the previous topic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::analysis;
use crate::answer::{self, Decision, DecisionConfig, Signals};
use crate::engine::Engine;
use crate::faq::{Contact, Entry};
use crate::language::Language;
use crate::llm::{LlmClient, LlmError};
use crate::retrieve::{self, Hit};
use crate::store::Store;

/// How many hits a chat turn retrieves.
pub const CHAT_DEPTH: usize = 10;
/// How many related entries an answer lists.
pub const RELATED: usize = 3;
/// How many earlier turns are read back for the LLM and the follow-up.
pub const HISTORY: i64 = 6;

/// A message longer than this (in characters, after normalisation) is taken to state its own
/// topic: follow-ups are short.
pub const FOLLOW_UP_MAX_CHARS: usize = 40;
/// The share of the follow-up's own meaning ([`retrieve::Retriever::coverage_in`]) that the
/// combined query's entry must contain for the follow-up to be answered with it: the
/// resident's words, not only the previous topic's, must point to that entry.
pub const FOLLOW_UP_OWN_COVERAGE: f32 = 0.5;
/// The share of the topic's meaning that entry must contain as well: the answer must be about
/// the earlier topic, or the message was a new question the combined search only happened to
/// answer differently.
pub const FOLLOW_UP_TOPIC_COVERAGE: f32 = 0.3;
/// How many of the message's own hits a follow-up looks through for entries about the topic.
pub const FOLLOW_UP_DEPTH: usize = 200;

/// Called with each piece of a streamed LLM answer.
pub type OnDelta = Box<dyn FnMut(&str) + Send>;

/// The fallback text.
pub const FALLBACK_TEXT: &str = "申し訳ありません。このご質問にお答えできるFAQが見つかりませんでした。\
言葉を変えてもう一度お試しいただくか、下記の窓口にお問い合わせください。";

// ---------------------------------------------------------------------------------------------
// Input checks

/// Why a resident's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but whitespace.
    #[error("{0} is empty")]
    Empty(String),
    /// Longer than allowed.
    #[error("{what} is too long ({chars} characters; at most {max})")]
    TooLong {
        /// The field.
        what: String,
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// Contains control characters other than line breaks and tabs.
    #[error("{0} contains control characters")]
    Control(String),
}

/// Checks resident text: not empty, at most `max_chars`, no control characters. Returns it
/// trimmed.
pub fn check_text(text: &str, what: &str, max_chars: usize) -> Result<String, TextError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(TextError::Empty(what.to_owned()));
    }
    let chars = t.chars().count();
    if chars > max_chars {
        return Err(TextError::TooLong {
            what: what.to_owned(),
            chars,
            max: max_chars,
        });
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(TextError::Control(what.to_owned()));
    }
    Ok(t.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Small talk

/// The kinds of small talk the turn answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmallTalkKind {
    /// こんにちは, よろしくお願いします.
    Greeting,
    /// ありがとう, 助かりました, わかりました.
    Thanks,
    /// さようなら, 失礼します.
    Farewell,
    /// あなたは誰？, 何ができるの？, 使い方.
    About,
}

impl SmallTalkKind {
    /// The reply, in the widget's voice.
    pub fn text(self) -> &'static str {
        match self {
            SmallTalkKind::Greeting => {
                "こんにちは。暮らしの手続きなどについて、よくある質問にお答えします。\
                 知りたいことを短い文で入力するか、分類から選んでください。"
            }
            SmallTalkKind::Thanks => {
                "どういたしまして。ほかにも知りたいことがあれば、短い文で入力するか、\
                 分類から選んでください。"
            }
            SmallTalkKind::Farewell => "ご利用ありがとうございました。またいつでもお尋ねください。",
            SmallTalkKind::About => {
                "わたしは、行政のよくある質問（FAQ）から回答をご案内する自動応答の窓口です。\
                 手続きや制度について、短い文で質問してください（例：「住民票をコンビニで取りたい」）。\
                 個別の事情に応じた判断や申請の受付はできませんので、必要なときは担当の窓口に\
                 お問い合わせください。"
            }
        }
    }
}

const GREETINGS: &[&str] = &[
    "こんにちは",
    "こんにちわ",
    "こんばんは",
    "こんばんわ",
    "おはよう",
    "おはようございます",
    "はじめまして",
    "初めまして",
    "もしもし",
    "やあ",
    "どうも",
    "よろしく",
    "よろしくお願いします",
    "よろしくおねがいします",
    "よろしくお願いいたします",
    "よろしくお願い致します",
    "hello",
    "hi",
    "hey",
    "はろー",
    "ハロー",
];
const THANKS: &[&str] = &[
    "ありがとう",
    "ありがとうございます",
    "ありがとうございました",
    "ありがと",
    "どうもありがとう",
    "どうもありがとうございます",
    "どうもありがとうございました",
    "有難う",
    "有難うございます",
    "有り難うございます",
    "助かりました",
    "たすかりました",
    "助かります",
    "サンキュー",
    "thanks",
    "thank you",
    "thankyou",
    "了解",
    "了解です",
    "了解しました",
    "わかりました",
    "分かりました",
    "承知しました",
    "ok",
    "okay",
    "オッケー",
    "おっけー",
    "なるほど",
];
const FAREWELLS: &[&str] = &[
    "さようなら",
    "さよなら",
    "バイバイ",
    "ばいばい",
    "またね",
    "失礼します",
    "失礼しました",
    "では失礼します",
    "おやすみ",
    "おやすみなさい",
    "bye",
    "goodbye",
];
const ABOUT: &[&str] = &[
    "あなたは誰",
    "あなたはだれ",
    "あなたは誰ですか",
    "あなたはだれですか",
    "誰ですか",
    "だれですか",
    "あなたは何",
    "あなたはなに",
    "あなたは何ですか",
    "何ができるの",
    "何ができる",
    "何ができますか",
    "なにができるの",
    "なにができる",
    "なにができますか",
    "何を聞けばいい",
    "何を聞けばいいの",
    "何が聞ける",
    "何が聞けるの",
    "使い方",
    "使い方は",
    "使い方を教えて",
    "使い方を教えてください",
    "使いかた",
    "どうやって使うの",
    "どう使うの",
    "あなたはロボット",
    "ロボットですか",
    "aiですか",
    "人間ですか",
    "あなたは人間",
    "あなたは人間ですか",
    "ボットですか",
    "チャットボットですか",
    "who are you",
    "what can you do",
    "help",
    "ヘルプ",
];

/// Drops what a resident may add to a phrase without changing it: trailing ね, よ, ー, ～, っ,
/// ?, and the like. Applied to both sides of the comparison, after kana folding.
fn trim_tail(s: &str) -> &str {
    s.trim_end_matches([
        'ね', 'よ', 'な', 'ー', '~', 'っ', 'ぁ', 'ぃ', 'ぅ', 'ぇ', 'ぉ', 'ん',
    ])
}

fn matches_any(segment: &str, list: &[&str]) -> bool {
    let seg = trim_tail(segment);
    !seg.is_empty()
        && list
            .iter()
            .any(|p| trim_tail(&analysis::hiragana_fold(&analysis::normalize(p))) == seg)
}

/// Whether the whole message is small talk, and which: every piece of it (split at punctuation,
/// spaces and emoji) must be a greeting, thanks, a farewell or a question about the bot. A
/// message that asks anything else as well (「ありがとう。住民票は？」) is not small talk.
pub fn small_talk(message: &str) -> Option<SmallTalkKind> {
    // Kana folded, so that ｺﾝﾆﾁﾊ and コンニチハ meet こんにちは.
    let text = analysis::hiragana_fold(&analysis::normalize(message));
    // Keep spaces inside Latin phrases (thank you), split everywhere else.
    let pieces: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == ' ' || c == '~' || c == 'ー'))
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    if pieces.is_empty() {
        return None;
    }
    let mut kinds = Vec::with_capacity(pieces.len());
    for p in &pieces {
        let kind = if matches_any(p, ABOUT) {
            SmallTalkKind::About
        } else if matches_any(p, THANKS) {
            SmallTalkKind::Thanks
        } else if matches_any(p, FAREWELLS) {
            SmallTalkKind::Farewell
        } else if matches_any(p, GREETINGS) {
            SmallTalkKind::Greeting
        } else {
            return None;
        };
        kinds.push(kind);
    }
    [
        SmallTalkKind::About,
        SmallTalkKind::Thanks,
        SmallTalkKind::Farewell,
        SmallTalkKind::Greeting,
    ]
    .into_iter()
    .find(|k| kinds.contains(k))
}

// ---------------------------------------------------------------------------------------------
// Deciding

/// What is remembered of an earlier turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Earlier {
    /// The question, masked.
    pub question: String,
    /// What it got.
    pub decision: Decision,
    /// The entry it was answered with (answers only).
    pub faq_id: Option<String>,
}

/// Why a follow-up was, or was not, read with the previous topic (for `ask --explain`, the
/// harness's per-turn lines and the logs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "context", rename_all = "snake_case")]
pub enum Context {
    /// Nothing earlier to borrow ([`topic`]): a new conversation, or the latest turn that was
    /// not small talk fell back.
    NoTopic,
    /// The message got a direct answer on its own.
    StandsAlone,
    /// The message states a topic of its own: a word no entry has, or too long to be a
    /// follow-up.
    OwnTopic {
        /// The words no entry has (empty when it is the length).
        terms: Vec<String>,
    },
    /// Read with the previous topic, but the result was no clearer: the message's own answer
    /// stands.
    NotBetter {
        /// The topic's text (the answered entry's question, or the earlier question).
        topic: String,
    },
    /// Read with the previous topic: the follow-up's answer.
    FollowUp {
        /// The topic's text (the answered entry's question, or the earlier question).
        topic: String,
    },
    /// Small talk never looks at the conversation.
    SmallTalk,
}

/// What [`plan`] decided.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The ranked hits the decision is based on (of the combined query for a follow-up).
    pub hits: Vec<Hit>,
    /// The decision.
    pub decision: Decision,
    /// The signals [`answer::decide`] read.
    pub signals: Signals,
    /// The kind of small talk, when the decision is [`Decision::SmallTalk`].
    pub small_talk: Option<SmallTalkKind>,
    /// Whether and why the previous topic was used.
    pub context: Context,
    /// The language the message is written in.
    pub language: Language,
}

/// What the conversation is about before a turn, as the latest turn that was not small talk
/// left it. Small talk in between keeps the topic; a fallback ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'a> {
    /// The latest turn was answered with this entry.
    Answered(&'a str),
    /// The latest turn got candidate questions: the resident's question (masked) is the topic,
    /// and the follow-up may be what narrows it down (「転出の手続きは？」→「何を持っていく？」).
    Asked(&'a str),
}

/// The conversation's topic ([`Topic`]), if any.
pub fn topic(earlier: &[Earlier]) -> Option<Topic<'_>> {
    let last = earlier
        .iter()
        .rev()
        .find(|t| t.decision != Decision::SmallTalk)?;
    match last.decision {
        Decision::Answer => last.faq_id.as_deref().map(Topic::Answered),
        Decision::Candidates => Some(Topic::Asked(&last.question)),
        Decision::Fallback | Decision::SmallTalk => None,
    }
}

/// The entry the latest answer of the conversation gave, when that is still the topic.
pub fn answered_topic(earlier: &[Earlier]) -> Option<&str> {
    match topic(earlier)? {
        Topic::Answered(id) => Some(id),
        Topic::Asked(_) => None,
    }
}

/// Whether a message with no searchable words asks something (「それはどこでできますか」,
/// 「いつ？」) rather than only reacting (「はい」「そうですか」): only then may it be read with
/// the previous topic.
fn asks(message: &str) -> bool {
    const ASKING: &[&str] = &[
        "どこ",
        "いつ",
        "いくら",
        "何",
        "なに",
        "どう",
        "どの",
        "どれ",
        "だれ",
        "誰",
        "どんな",
        "どのくらい",
        "どれくらい",
        "?",
        "できますか",
        "ですか",
        "ますか",
    ];
    let text = analysis::normalize(message);
    ASKING.iter().any(|w| text.contains(w))
}

/// Decides one turn: small talk, else search the message (`depth` hits) and decide. When that
/// is no direct answer, the conversation has a topic and the message does not state its own,
/// search the topic with the message, and keep that only when it gives a direct answer whose
/// entry both the message's own words and the topic point to. Blocking (CPU work).
pub fn plan(
    engine: &Engine,
    config: &DecisionConfig,
    message: &str,
    municipality: Option<&str>,
    earlier: &[Earlier],
    depth: usize,
) -> retrieve::Result<Plan> {
    let retriever = &engine.retriever;
    let language = crate::language::detect(message);
    if let Some(kind) = small_talk(message) {
        return Ok(Plan {
            signals: Signals::default(),
            hits: Vec::new(),
            decision: Decision::SmallTalk,
            small_talk: Some(kind),
            context: Context::SmallTalk,
            language,
        });
    }
    // A short Japanese message in a conversation with a topic may be a follow-up: it is first
    // read by its words alone, as the follow-up rule below was set on the lexical signals (with
    // the semantic leg's looser margin, 「何を持っていけばいい？」 alone got a direct answer from
    // another topic: follow-ups right 0.758 against 0.879, `madoguchi eval --conversations`).
    let maybe_follow_up = topic(earlier).is_some()
        && language.is_japanese()
        && analysis::normalize(message).chars().count() <= FOLLOW_UP_MAX_CHARS;
    let hits = if maybe_follow_up {
        retriever.search_lexical(message, depth, municipality)?
    } else {
        retriever.search(message, depth, municipality)?
    };
    let signals = answer::signals(&hits);
    let decision = answer::decide_signals(signals, config);
    let alone = |context| Plan {
        hits: hits.clone(),
        decision,
        signals,
        small_talk: None,
        context,
        language,
    };
    if decision == Decision::Answer {
        return Ok(alone(Context::StandsAlone));
    }
    if signals.foreign {
        // Follow-ups are read by their Japanese words; a question in another language stands
        // on its own.
        return Ok(alone(Context::NoTopic));
    }
    // The topic as text to search with, and the categories (大/中分類) it is about: the answered
    // entry's, or those of the candidates the earlier question got.
    let (topic_text, categories) = match topic(earlier) {
        Some(Topic::Answered(id)) => match retriever.entry(id, municipality) {
            Some(e) => (e.question.clone(), vec![section(&e)]),
            None => return Ok(alone(Context::NoTopic)),
        },
        Some(Topic::Asked(question)) => {
            let shown = retriever.search_lexical(question, config.max_candidates, municipality)?;
            let categories = shown.iter().map(|h| section(&h.entry)).collect();
            (question.to_owned(), categories)
        }
        None => return Ok(alone(Context::NoTopic)),
    };
    let profile = retriever.profile(message, municipality);
    if let Some(terms) = own_topic(&profile, message) {
        return Ok(alone(Context::OwnTopic { terms }));
    }
    // An entry is about the topic when it sits in the topic's category; an entry without one
    // must echo the topic's words instead.
    let related = |h: &Hit| {
        let own = section(&h.entry);
        if own.is_empty() {
            retriever.coverage_in(&topic_text, &h.entry.id, municipality)
                >= FOLLOW_UP_TOPIC_COVERAGE
        } else {
            categories.contains(&own)
        }
    };
    let again = if profile.terms.is_empty() {
        // Nothing to search by but the topic: only a question (「それはどこでできますか」)
        // continues it.
        if !asks(message) {
            return Ok(alone(Context::NotBetter { topic: topic_text }));
        }
        let combined = format!("{topic_text} {message}");
        retriever.search_lexical(&combined, depth, municipality)?
    } else {
        // The message's own words rank, among the entries about the topic: the follow-up asks
        // something new about it, so the topic's words must not outvote it. (By words alone:
        // the meaning of a few words without their topic says little, and the thresholds of the
        // follow-up rule were set on the lexical signals.)
        retriever
            .search_lexical(message, FOLLOW_UP_DEPTH, municipality)?
            .into_iter()
            .filter(related)
            .take(depth)
            .collect()
    };
    let again_signals = answer::signals(&again);
    let again_decision = answer::decide_signals(again_signals, config);
    // The entry must be about the topic and, when the message has words of its own, echo them.
    let points_to = again.first().is_some_and(|top| {
        related(top)
            && (profile.terms.is_empty()
                || retriever.coverage_in(message, &top.entry.id, municipality)
                    >= FOLLOW_UP_OWN_COVERAGE)
    });
    // Only a direct answer from the topic's entries replaces the message's own result. (Showing
    // the topic's candidates instead was tried: a new question with common words, 「罹災証明書は
    // どこで申請するの」 after a pension answer, then got pension candidates.)
    let clearer = points_to && again_decision == Decision::Answer;
    if !clearer {
        return Ok(alone(Context::NotBetter { topic: topic_text }));
    }
    Ok(Plan {
        hits: again,
        decision: again_decision,
        signals: again_signals,
        small_talk: None,
        context: Context::FollowUp { topic: topic_text },
        language,
    })
}

/// The first two levels of an entry's category path (大分類 and 中分類): what a follow-up may
/// stay within.
fn section(e: &Entry) -> Vec<String> {
    e.category.iter().take(2).cloned().collect()
}

/// Whether a message states a topic of its own; returns the terms that do. A message longer
/// than [`FOLLOW_UP_MAX_CHARS`] does (empty terms), and so does one with a word no entry has
/// (宇宙旅行, a typo): reading it with the previous topic would answer the topic, not it.
fn own_topic(profile: &retrieve::Profile, message: &str) -> Option<Vec<String>> {
    if analysis::normalize(message).chars().count() > FOLLOW_UP_MAX_CHARS {
        return Some(Vec::new());
    }
    let unknown: Vec<String> = profile
        .terms
        .iter()
        .filter(|t| !t.known && !t.term.chars().all(|c| c.is_ascii_digit()))
        .map(|t| t.term.clone())
        .collect();
    (!unknown.is_empty()).then_some(unknown)
}

// ---------------------------------------------------------------------------------------------
// The reply

/// An FAQ entry an answer is based on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// Entry id.
    pub faq_id: String,
    /// Its question.
    pub question: String,
    /// Official source.
    pub source_url: Option<String>,
    /// Date last checked.
    pub updated: Option<String>,
}

impl Source {
    fn of(e: &Entry) -> Source {
        Source {
            faq_id: e.id.clone(),
            question: e.question.clone(),
            source_url: e.source_url.clone(),
            updated: e.updated.clone(),
        }
    }
}

/// The answer part of a reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The FAQ answer text (links as `[label](url)`), or the LLM's when `generated`.
    pub text: String,
    /// The entry answered with.
    pub faq_id: String,
    /// The entry's question.
    pub question: String,
    /// Official source.
    pub source_url: Option<String>,
    /// Date the entry was last checked.
    pub updated: Option<String>,
    /// Office to contact.
    pub contact: Option<Contact>,
    /// Entries the text cites (`[FAQ:id]` in generated text; the answered entry otherwise).
    pub citations: Vec<String>,
    /// The cited entries with their sources.
    pub sources: Vec<Source>,
}

/// One candidate or related question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Entry id.
    pub faq_id: String,
    /// Its question.
    pub question: String,
    /// Ranking score (comparable within one response only).
    pub score: f32,
    /// The office to ask about it, so that a resident who stops at the list knows whom to call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<crate::faq::Contact>,
}

impl Candidate {
    fn of(h: &Hit) -> Candidate {
        Candidate {
            faq_id: h.entry.id.clone(),
            question: h.entry.question.clone(),
            score: h.score,
            contact: h.entry.contact.clone(),
        }
    }
}

/// The fallback part of a reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fallback {
    /// What to tell the resident.
    pub text: String,
    /// Where to ask instead.
    pub contact: Contact,
}

/// The reply to small talk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmallTalk {
    /// Which kind.
    pub kind: SmallTalkKind,
    /// What to tell the resident (the widget shows the category menu under it).
    pub text: String,
}

/// One turn's reply: what the resident sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// Conversation id (new or continued).
    pub conversation_id: String,
    /// This turn's id, for feedback.
    pub message_id: String,
    /// The resident's message as it is stored, personal data masked: what a client may keep
    /// (the widget keeps the conversation for the tab's session with this text, never the typed one).
    pub question: String,
    /// Whether this turn was stored. When the database fails the resident still gets the
    /// answer, with `recorded: false`: no feedback can be given on it and staff will not see
    /// it in the logs.
    pub recorded: bool,
    /// `answer`, `candidates`, `fallback` or `small_talk`.
    pub decision: Decision,
    /// Whether `answer.text` was written by the LLM (false: it is the FAQ answer itself).
    pub generated: bool,
    /// Why a configured LLM's answer was not used (`timeout`, `http_error`, `rejected`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_error: Option<String>,
    /// Set when the decision is `answer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// Questions to choose from (もしかして) when the decision is `candidates`.
    pub candidates: Vec<Candidate>,
    /// Other entries close to the answer.
    pub related: Vec<Candidate>,
    /// Set when the decision is `fallback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// Set when the decision is `small_talk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub small_talk: Option<SmallTalk>,
    /// The language the resident wrote in (BCP 47: `ja`, `en`, `zh`, `ko`, `vi`, `pt`, `tl`,
    /// `ne`, or `und` when it could not be told). A question in another language than Japanese
    /// is matched by meaning and by its Japanese words, if any (the semantic leg), and gets
    /// candidates or the fallback.
    pub query_language: Language,
    /// When the turn was read as a follow-up: the topic it was read with (the earlier answer's
    /// question, or the resident's earlier question when that got candidates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<String>,
    /// Why the previous topic was or was not used (for `ask --explain` and the harness).
    #[serde(skip)]
    pub context: Context,
    /// The signals the decision read (for `ask --explain` and the harness).
    #[serde(skip)]
    pub signals: Signals,
}

impl Reply {
    /// What the conversation remembers of this turn.
    pub fn earlier(&self, masked_question: String) -> Earlier {
        Earlier {
            question: masked_question,
            decision: self.decision,
            faq_id: self.answer.as_ref().map(|a| a.faq_id.clone()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The turn

/// Why a turn failed. Each maps to one HTTP status in the server and one message in the CLI.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The message was refused.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The municipality code is not in the index.
    #[error("unknown municipality '{code}'")]
    UnknownMunicipality {
        /// The code asked for.
        code: String,
        /// The codes the index knows.
        known: Vec<String>,
    },
    /// A conversation id that cannot be one of ours.
    #[error("conversation_id is malformed")]
    MalformedConversation,
    /// No such conversation (never started, or deleted by retention).
    #[error("unknown conversation_id")]
    UnknownConversation,
    /// The search failed.
    #[error("search failed: {0}")]
    Search(#[source] retrieve::Error),
    /// The search task could not run.
    #[error("search task failed: {0}")]
    Task(String),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] crate::store::Error),
    /// An id that cannot be one of ours (`message_id`, `faq_id`).
    #[error("{0} is malformed")]
    MalformedId(&'static str),
    /// No such entry for this municipality (hidden there, or never existed).
    #[error("no FAQ entry '{0}'")]
    UnknownEntry(String),
}

impl From<retrieve::Error> for TurnError {
    fn from(e: retrieve::Error) -> TurnError {
        match e {
            retrieve::Error::UnknownMunicipality { code, known } => {
                TurnError::UnknownMunicipality { code, known }
            }
            other => TurnError::Search(other),
        }
    }
}

/// What a turn may use besides the engine; each is optional.
#[derive(Default, Clone, Copy)]
pub struct Services<'a> {
    /// Where turns are recorded and conversations read back (none: nothing is stored).
    pub store: Option<&'a Store>,
    /// Counters to update.
    pub metrics: Option<&'a crate::metrics::Metrics>,
    /// The LLM that may rewrite a direct answer.
    pub llm: Option<&'a LlmClient>,
}

/// The settings a turn reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Answer policy thresholds.
    pub decision: DecisionConfig,
    /// Office named in fallbacks when the municipality has none.
    pub fallback_office: String,
    /// Longest message accepted, in characters.
    pub max_chars: usize,
    /// How long a non-streaming LLM answer may take (the rest of the request's time limit).
    pub llm_budget: Option<Duration>,
}

/// A conversation as a turn continues it.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// Its id (new ones get a fresh UUID).
    pub id: String,
    /// Its earlier turns, oldest first (at most [`HISTORY`] read back from a store).
    pub earlier: Vec<Earlier>,
}

impl Conversation {
    /// A new conversation.
    pub fn new() -> Conversation {
        Conversation {
            id: uuid::Uuid::new_v4().to_string(),
            earlier: Vec::new(),
        }
    }

    /// Whether it has turns before this one.
    pub fn continued(&self) -> bool {
        !self.earlier.is_empty()
    }
}

/// Whether `id` could be a conversation or message id of ours.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Continues conversation `id` from `store` (its latest [`HISTORY`] turns), or starts a new one.
pub async fn resume(store: &Store, id: Option<String>) -> Result<Conversation, TurnError> {
    let Some(id) = id else {
        return Ok(Conversation::new());
    };
    if !valid_id(&id) {
        return Err(TurnError::MalformedConversation);
    }
    if !store.conversation_exists(&id).await? {
        return Err(TurnError::UnknownConversation);
    }
    let earlier = store
        .recent_turns(&id, HISTORY)
        .await?
        .into_iter()
        .map(|(question, decision, faq_id)| Earlier {
            question,
            decision,
            faq_id,
        })
        .collect();
    Ok(Conversation { id, earlier })
}

// ---------------------------------------------------------------------------------------------
// Opening an entry from a list

/// A resident opened an entry from a list instead of getting it as a direct answer (also the
/// body of `POST /api/open`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open {
    /// The entry.
    pub faq_id: String,
    /// Which list.
    pub via: crate::store::Via,
    /// The question whose もしかして or related list it was in (from that turn's reply).
    pub message_id: Option<String>,
    /// The conversation, when the resident has one (a menu opened before any question has not).
    pub conversation_id: Option<String>,
    /// The municipality the resident asks as.
    pub municipality: Option<String>,
}

/// The entry opened, and whether the opening was stored.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The entry as the municipality sees it.
    pub entry: Arc<Entry>,
    /// The record's id (stable: opening the same entry from the same question again gives the
    /// same id), for feedback on it; `None` when nothing could be stored.
    pub opened_id: Option<String>,
    /// Questions close to it (at most [`RELATED`]), as after a direct answer.
    pub related: Vec<Candidate>,
}

/// Shows an entry opened from a list and records the opening, so that the figures count a
/// question resolved through もしかして and which entries the menu leads to. The entry is shown
/// whatever the database does: an unknown (deleted, never stored) message or conversation is
/// recorded without the link, and a failed write leaves `opened_id` empty.
pub async fn open(
    engine: &Arc<Engine>,
    services: Services<'_>,
    o: Open,
) -> Result<Opened, TurnError> {
    for (id, what) in [
        (&o.message_id, "message_id"),
        (&o.conversation_id, "conversation_id"),
    ] {
        if id.as_deref().is_some_and(|id| !valid_id(id)) {
            return Err(TurnError::MalformedId(what));
        }
    }
    if !valid_id(&o.faq_id) {
        return Err(TurnError::MalformedId("faq_id"));
    }
    engine
        .retriever
        .check_municipality(o.municipality.as_deref())?;
    let entry = engine
        .retriever
        .entry(&o.faq_id, o.municipality.as_deref())
        .ok_or_else(|| TurnError::UnknownEntry(o.faq_id.clone()))?;
    if let Some(m) = services.metrics {
        m.count(crate::metrics::Family::Opened, o.via.as_str(), 1);
    }
    let related = related_to(engine, &entry, o.municipality.clone()).await;
    let Some(store) = services.store else {
        return Ok(Opened {
            entry,
            opened_id: None,
            related,
        });
    };
    let recorded = async {
        // The message decides the conversation; an unknown one links nothing.
        let (message_id, conversation_id) = match &o.message_id {
            Some(m) => match store.message_conversation(m).await? {
                Some(c) => (Some(m.clone()), Some(c)),
                None => (None, None),
            },
            None => match &o.conversation_id {
                Some(c) if store.conversation_exists(c).await? => (None, Some(c.clone())),
                _ => (None, None),
            },
        };
        store
            .record_opened(&crate::store::Opened {
                id: uuid::Uuid::new_v4().to_string(),
                message_id,
                conversation_id,
                faq_id: entry.id.clone(),
                via: o.via,
                municipality: o.municipality.clone(),
                created_at: crate::store::now(),
                helpful: None,
            })
            .await
    }
    .await;
    let opened_id = match recorded {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(error = %e, "the opened entry was not recorded");
            if let Some(m) = services.metrics {
                m.count(crate::metrics::Family::StoreFailures, "record_opened", 1);
            }
            None
        }
    };
    Ok(Opened {
        entry,
        opened_id,
        related,
    })
}

/// The entries closest to `entry` (its question searched as a resident would ask it), itself
/// left out. A failed search lists none: the entry is what the resident asked for.
async fn related_to(
    engine: &Arc<Engine>,
    entry: &Arc<Entry>,
    municipality: Option<String>,
) -> Vec<Candidate> {
    let (engine, entry) = (engine.clone(), entry.clone());
    let found = tokio::task::spawn_blocking(move || {
        let hits =
            engine
                .retriever
                .search(&entry.question, RELATED + 1, municipality.as_deref())?;
        Ok::<_, retrieve::Error>(
            hits.iter()
                .filter(|h| h.entry.id != entry.id)
                .take(RELATED)
                .map(Candidate::of)
                .collect(),
        )
    })
    .await;
    match found {
        Ok(Ok(related)) => related,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no related questions for an opened entry");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, "no related questions for an opened entry");
            Vec::new()
        }
    }
}

/// Checks the message and the municipality: what a turn refuses before it starts.
pub fn check(
    engine: &Engine,
    settings: &Settings,
    message: &str,
    municipality: Option<&str>,
) -> Result<String, TurnError> {
    let message = check_text(message, "message", settings.max_chars)?;
    engine.retriever.check_municipality(municipality)?;
    Ok(message)
}

/// One conversation turn: [`plan`] on the blocking pool, then the LLM for a direct answer (when
/// one is configured; `on_delta` receives streamed text), the record of the masked turn, the
/// metrics, and the reply. The message must have passed [`check`].
pub async fn turn(
    engine: Arc<Engine>,
    settings: &Settings,
    services: Services<'_>,
    conversation: &Conversation,
    message: String,
    municipality: Option<String>,
    on_delta: Option<OnDelta>,
) -> Result<Reply, TurnError> {
    let began = Instant::now();
    let planned = {
        let (engine, config, earlier) = (
            engine.clone(),
            settings.decision.clone(),
            conversation.earlier.clone(),
        );
        let (message, municipality) = (message.clone(), municipality.clone());
        tokio::task::spawn_blocking(move || {
            plan(
                &engine,
                &config,
                &message,
                municipality.as_deref(),
                &earlier,
                CHAT_DEPTH,
            )
        })
        .await
        .map_err(|e| TurnError::Task(e.to_string()))??
    };
    let Plan {
        hits,
        decision,
        small_talk,
        context,
        signals,
        language,
    } = planned;

    // Everything below that leaves the process or is written down sees the masked text only.
    let masked = crate::mask::mask(&message);
    let generation = match (decision, services.llm) {
        (Decision::Answer, Some(llm)) => Some(
            generate(
                llm,
                &engine,
                settings,
                conversation,
                &masked.text,
                &hits,
                municipality.as_deref(),
                began,
                on_delta,
            )
            .await,
        ),
        _ => None,
    };
    if let (Some(m), Some(g)) = (services.metrics, &generation) {
        m.generation(g.is_ok());
    }

    let message_id = uuid::Uuid::new_v4().to_string();
    let top = hits.first();
    let answered = (decision == Decision::Answer)
        .then(|| top.map(|h| h.entry.id.clone()))
        .flatten();
    let mut recorded = false;
    if let Some(store) = services.store {
        let record = crate::store::Turn {
            conversation_id: conversation.id.clone(),
            municipality: municipality.clone(),
            message_id: message_id.clone(),
            question: masked.text.clone(),
            masked_kinds: masked
                .found
                .iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(","),
            decision,
            faq_id: answered.clone(),
            coverage: top.map_or(0.0, |h| f64::from(h.coverage)),
            hits: serde_json::to_string(
                &hits
                    .iter()
                    .map(|h| serde_json::json!({"faq_id": h.entry.id, "score": h.score}))
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_default(),
        };
        // A turn that cannot be stored still gets its answer, marked as not recorded.
        match store.record_turn(&record).await {
            Ok(()) => recorded = true,
            Err(e) => {
                if !matches!(e, crate::store::Error::Degraded(_)) {
                    tracing::warn!(error = %e, "turn answered but not recorded");
                }
                if let Some(m) = services.metrics {
                    m.count(crate::metrics::Family::StoreFailures, "record_turn", 1);
                }
            }
        }
    }
    if let Some(m) = services.metrics {
        m.decision(decision);
        for kind in &masked.found {
            m.count(crate::metrics::Family::Masked, kind.label(), 1);
        }
    }
    let follow_up_of = match &context {
        Context::FollowUp { topic } => Some(topic.clone()),
        _ => None,
    };
    tracing::info!(
        decision = decision.as_str(),
        faq_id = answered.as_deref().unwrap_or("-"),
        follow_up_of = follow_up_of.as_deref().unwrap_or("-"),
        question = %masked.text,
        "chat"
    );

    let mut reply = Reply {
        conversation_id: conversation.id.clone(),
        message_id,
        question: masked.text.clone(),
        recorded,
        decision,
        generated: false,
        generation_error: None,
        answer: None,
        candidates: Vec::new(),
        related: Vec::new(),
        fallback: None,
        small_talk: None,
        query_language: language,
        follow_up_of,
        context,
        signals,
    };
    match decision {
        Decision::Answer => {
            let e: &Entry = &hits[0].entry;
            let mut a = Answer {
                text: e.answer.clone(),
                faq_id: e.id.clone(),
                question: e.question.clone(),
                source_url: e.source_url.clone(),
                updated: e.updated.clone(),
                contact: e.contact.clone(),
                citations: vec![e.id.clone()],
                sources: vec![Source::of(e)],
            };
            match generation {
                Some(Ok(g)) => {
                    a.sources = g
                        .citations
                        .iter()
                        .filter_map(|id| hits.iter().find(|h| &h.entry.id == id))
                        .map(|h| Source::of(&h.entry))
                        .collect();
                    a.citations = g.citations;
                    a.text = g.text;
                    reply.generated = true;
                }
                Some(Err(err)) => reply.generation_error = Some(err.label().to_owned()),
                None => {}
            }
            reply.answer = Some(a);
            reply.related = hits
                .iter()
                .skip(1)
                .take(RELATED)
                .map(Candidate::of)
                .collect();
        }
        Decision::Candidates => {
            reply.candidates = hits
                .iter()
                .take(settings.decision.max_candidates)
                .map(Candidate::of)
                .collect();
        }
        Decision::Fallback => {
            reply.fallback = Some(Fallback {
                text: FALLBACK_TEXT.into(),
                contact: engine
                    .fallback_contact(municipality.as_deref(), &settings.fallback_office),
            });
        }
        Decision::SmallTalk => {
            let kind = small_talk.unwrap_or(SmallTalkKind::Greeting);
            reply.small_talk = Some(SmallTalk {
                kind,
                text: kind.text().to_owned(),
            });
        }
    }
    Ok(reply)
}

/// Asks the LLM for a direct answer over the top entries, with the earlier turns (masked
/// questions and the FAQ answers they got).
#[allow(clippy::too_many_arguments)]
async fn generate(
    llm: &LlmClient,
    engine: &Engine,
    settings: &Settings,
    conversation: &Conversation,
    masked: &str,
    hits: &[Hit],
    municipality: Option<&str>,
    began: Instant,
    on_delta: Option<OnDelta>,
) -> Result<crate::llm::Generated, LlmError> {
    let entries: Vec<&Entry> = hits
        .iter()
        .take(llm.config().entries.max(1))
        .map(|h| h.entry.as_ref())
        .collect();
    let history: Vec<crate::llm::Turn> = conversation
        .earlier
        .iter()
        .map(|t| crate::llm::Turn {
            question: t.question.clone(),
            answer: t
                .faq_id
                .as_deref()
                .and_then(|id| engine.retriever.entry(id, municipality))
                .map(|e| e.answer.clone())
                .unwrap_or_default(),
        })
        .collect();
    let started = Instant::now();
    let result = match on_delta {
        Some(mut f) => {
            llm.answer_streaming(masked, &entries, &history, move |piece| f(piece))
                .await
        }
        None => match settings.llm_budget {
            // A plain answer must come back within the request's time limit, or the resident
            // would get a timeout instead of the FAQ answer: the LLM gets what is left of it,
            // less a margin for storing the turn.
            Some(limit) => {
                let budget = limit
                    .saturating_sub(began.elapsed())
                    .saturating_sub(Duration::from_millis(1000));
                if budget < Duration::from_millis(200) {
                    Err(LlmError::Timeout)
                } else {
                    match tokio::time::timeout(budget, llm.answer(masked, &entries, &history)).await
                    {
                        Ok(result) => result,
                        Err(_) => {
                            // Cut off by the request's deadline before the client could count
                            // it: a hanging endpoint must still open the breaker.
                            llm.gave_up();
                            Err(LlmError::Timeout)
                        }
                    }
                }
            }
            None => llm.answer(masked, &entries, &history).await,
        },
    };
    tracing::info!(
        generated = result.is_ok(),
        error = result
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
        ms = started.elapsed().as_millis() as u64,
        "llm"
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_thanks_and_questions_about_the_bot_are_small_talk() {
        for (text, kind) in [
            ("こんにちは", SmallTalkKind::Greeting),
            ("こんにちは！", SmallTalkKind::Greeting),
            ("ｺﾝﾆﾁﾊ", SmallTalkKind::Greeting),
            ("こんばんわー", SmallTalkKind::Greeting),
            (
                "はじめまして。よろしくお願いします",
                SmallTalkKind::Greeting,
            ),
            ("ありがとう", SmallTalkKind::Thanks),
            ("ありがとうございました！！", SmallTalkKind::Thanks),
            ("助かりました、ありがとう😊", SmallTalkKind::Thanks),
            ("Thank you", SmallTalkKind::Thanks),
            ("わかりましたー", SmallTalkKind::Thanks),
            ("さようなら", SmallTalkKind::Farewell),
            ("あなたは誰？", SmallTalkKind::About),
            ("何ができるの？", SmallTalkKind::About),
            ("こんにちは、何ができますか", SmallTalkKind::About),
        ] {
            assert_eq!(small_talk(text), Some(kind), "{text}");
        }
    }

    #[test]
    fn a_question_is_not_small_talk_even_with_a_greeting() {
        for text in [
            "こんにちは、住民票をコンビニで取りたい",
            "ありがとう。児童手当はいつ振り込まれますか",
            "図書館は何時まで開いてる？",
            "ごみの出し方",
            "どうもありがとう手続きの方法",
            "",
            "？？？",
        ] {
            assert_eq!(small_talk(text), None, "{text}");
        }
    }

    #[test]
    fn the_topic_is_the_latest_turn_that_was_not_small_talk() {
        let t = |question: &str, decision, id: Option<&str>| Earlier {
            question: question.to_owned(),
            decision,
            faq_id: id.map(str::to_owned),
        };
        assert_eq!(topic(&[]), None);
        let answered = t("図書館は何時まで？", Decision::Answer, Some("a"));
        assert_eq!(
            topic(std::slice::from_ref(&answered)),
            Some(Topic::Answered("a"))
        );
        assert_eq!(
            topic(&[answered.clone(), t("こんにちは", Decision::SmallTalk, None)]),
            Some(Topic::Answered("a")),
            "small talk keeps the topic"
        );
        assert_eq!(
            topic(&[answered.clone(), t("宇宙旅行", Decision::Fallback, None)]),
            None,
            "an unanswered question ends it"
        );
        assert_eq!(
            topic(&[
                answered.clone(),
                t("転出の手続き", Decision::Candidates, None)
            ]),
            Some(Topic::Asked("転出の手続き")),
            "a question that got candidates is the new topic"
        );
        assert_eq!(answered_topic(std::slice::from_ref(&answered)), Some("a"));
        assert_eq!(
            answered_topic(&[answered, t("転出", Decision::Candidates, None)]),
            None
        );
    }

    #[test]
    fn only_a_question_without_searchable_words_continues_a_topic() {
        for text in ["それはどこでできますか", "いつ？", "いくら", "どうすれば"]
        {
            assert!(asks(text), "{text}");
        }
        for text in ["はい", "そうなんだ", "うーん", "了解"] {
            assert!(!asks(text), "{text}");
        }
    }

    #[test]
    fn text_checks() {
        assert_eq!(check_text("  質問  ", "message", 10), Ok("質問".into()));
        assert_eq!(
            check_text(" \n ", "message", 10),
            Err(TextError::Empty("message".into()))
        );
        assert_eq!(
            check_text("あいうえおか", "message", 5)
                .unwrap_err()
                .to_string(),
            "message is too long (6 characters; at most 5)"
        );
        assert_eq!(
            check_text("a\u{7}b", "message", 5),
            Err(TextError::Control("message".into()))
        );
    }
}
