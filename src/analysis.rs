//! Japanese text analysis: normalisation, lindera (IPADIC) segmentation, and the tantivy analyzer
//! every index registers (`ja`, word terms).
//!
//! The word pipeline is: NFKC + lowercase → lindera segmentation → drop tokens whose full
//! four-part POS tag is in [`STOP_TAGS`] → base form for inflected words → drop light verbs
//! ([`STOP_BASE_FORMS`]) → katakana stem (trailing ー of long katakana words) → katakana folded
//! to hiragana ([`hiragana_fold`]) → okurigana dropped from kanji compounds ([`drop_okurigana`]),
//! so that 表記ゆれ (ゴミ/ごみ, 手続き/手続) meets itself. It is written out
//! here rather than configured through lindera's filter config so that each step can be tested.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lindera::dictionary::{Dictionary, load_dictionary};
use lindera::mode::Mode;
use lindera::segmenter::Segmenter;
use tantivy::Index;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;

/// Name of the word analyzer registered on every index.
pub const TOKENIZER: &str = "ja";

/// Bumped whenever analysis output changes, so that stale indexes are rebuilt.
pub const ANALYZER_VERSION: u32 = 3;

/// Environment variable naming the dictionary directory.
pub const DICT_ENV: &str = "MADOGUCHI_DICT";

/// Part-of-speech tags (IPADIC, all four levels) whose tokens carry no meaning for retrieval:
/// particles, auxiliaries, symbols, conjunctions, fillers, interjections, and dependent words.
pub const STOP_TAGS: &[&str] = &[
    "助詞,格助詞,一般,*",
    "助詞,格助詞,引用,*",
    "助詞,格助詞,連語,*",
    "助詞,係助詞,*,*",
    "助詞,副助詞,*,*",
    "助詞,間投助詞,*,*",
    "助詞,並立助詞,*,*",
    "助詞,終助詞,*,*",
    "助詞,副助詞／並立助詞／終助詞,*,*",
    "助詞,連体化,*,*",
    "助詞,副詞化,*,*",
    "助詞,特殊,*,*",
    "助詞,接続助詞,*,*",
    "助動詞,*,*,*",
    "記号,一般,*,*",
    "記号,句点,*,*",
    "記号,読点,*,*",
    "記号,空白,*,*",
    "記号,括弧開,*,*",
    "記号,括弧閉,*,*",
    "接続詞,*,*,*",
    "フィラー,*,*,*",
    "感動詞,*,*,*",
    "その他,間投,*,*",
    "連体詞,*,*,*",
    "動詞,非自立,*,*",
    "動詞,接尾,*,*",
    "形容詞,非自立,*,*",
    "名詞,非自立,一般,*",
    "名詞,非自立,副詞可能,*",
    "名詞,非自立,助動詞語幹,*",
    "名詞,非自立,形容動詞語幹,*",
    "名詞,特殊,助動詞語幹,*",
    "名詞,接尾,助動詞語幹,*",
    "名詞,代名詞,一般,*",
    "名詞,代名詞,縮約,*",
];

/// Base forms of light verbs that appear in almost every question (する, できる, …).
pub const STOP_BASE_FORMS: &[&str] = &[
    "する",
    "できる",
    "ある",
    "いる",
    "なる",
    "おる",
    "いう",
    "くださる",
    "いただく",
    "ござる",
    "れる",
    "られる",
    "せる",
    "させる",
];

/// Errors from loading the analyzer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dictionary directory does not exist.
    #[error(
        "IPADIC dictionary not found at {0}: run scripts/setup-ipadic.sh, or set {DICT_ENV} / --dict"
    )]
    DictionaryMissing(PathBuf),
    /// lindera failed to load the dictionary or to segment text.
    #[error("lindera: {0}")]
    Lindera(String),
    /// The user dictionary could not be read or has a malformed line.
    #[error("invalid user dictionary:\n{}", .0.join("\n"))]
    UserDictionary(Vec<String>),
}

pub use crate::faq::USER_DICT_FILE;

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds lindera's system dictionary from MeCab-format sources in UTF-8 (`source`: IPADIC's
/// `*.csv` and `*.def`) as lindera-ipadic's `metadata.json` describes them, into `out`: what
/// `scripts/setup-ipadic.sh` runs (`madoguchi build-dictionary`), with the binary it has just
/// built rather than a tool of its own that would compile lindera a second time.
pub fn build_system_dictionary(source: &Path, metadata: &Path, out: &Path) -> Result<()> {
    let bytes = std::fs::read(metadata)
        .map_err(|e| Error::Lindera(format!("{}: {e}", metadata.display())))?;
    let metadata: lindera::dictionary::Metadata = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Lindera(format!("{}: {e}", metadata.display())))?;
    lindera::dictionary::DictionaryBuilder::new(metadata)
        .build_dictionary(source, out)
        .map_err(|e| {
            Error::Lindera(format!(
                "building the dictionary from {}: {e}",
                source.display()
            ))
        })
}

/// Where the dictionary comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DictSource {
    /// A directory built by `scripts/setup-ipadic.sh`.
    Path(PathBuf),
    /// Compiled into the binary (`--features embed-ipadic`).
    Embedded,
}

impl DictSource {
    /// The default: `$MADOGUCHI_DICT`, else the embedded dictionary when compiled in, else
    /// `.lindera-cache/ipadic` under the working directory, else under the source checkout.
    pub fn default_source() -> DictSource {
        if let Some(p) = std::env::var_os(DICT_ENV).filter(|p| !p.is_empty()) {
            return DictSource::Path(PathBuf::from(p));
        }
        if cfg!(feature = "embed-ipadic") {
            return DictSource::Embedded;
        }
        let local = PathBuf::from(".lindera-cache/ipadic");
        if local.exists() {
            return DictSource::Path(local);
        }
        DictSource::Path(Path::new(env!("CARGO_MANIFEST_DIR")).join(".lindera-cache/ipadic"))
    }

    /// A short description for logs and fingerprints.
    pub fn describe(&self) -> String {
        match self {
            DictSource::Path(p) => p.display().to_string(),
            DictSource::Embedded => "embedded://ipadic".into(),
        }
    }
}

/// Switches of the word pipeline (the `[analysis]` section of the configuration file). All are
/// on by default; they exist so that `madoguchi eval` can measure what each one is worth. An
/// index records the options it was built with and is rebuilt when they change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisOptions {
    /// Fold katakana to hiragana ([`hiragana_fold`]).
    pub fold_kana: bool,
    /// Drop okurigana from kanji compounds ([`drop_okurigana`]).
    pub drop_okurigana: bool,
    /// Use the FAQ directory's user dictionary ([`USER_DICT_FILE`]) when there is one.
    pub user_dictionary: bool,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            fold_kana: true,
            drop_okurigana: true,
            user_dictionary: true,
        }
    }
}

/// The Japanese analyzer: cheap to clone (the dictionary is shared and memory-mapped).
#[derive(Clone)]
pub struct Analyzer {
    segmenter: Arc<Segmenter>,
    options: AnalysisOptions,
    /// Number of words in the user dictionary (0 without one).
    user_words: usize,
}

/// One analysed token, for inspection (`madoguchi analyze`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Analysed {
    /// Surface form in the normalised text.
    pub surface: String,
    /// Four-part POS tag.
    pub pos: String,
    /// Dictionary base form, when the dictionary has one.
    pub base: Option<String>,
    /// The term indexed, or `None` when the token was dropped.
    pub term: Option<String>,
    /// The reading in hiragana (the surface, folded, when the dictionary has none); empty for
    /// symbols and spaces.
    pub reading: String,
}

/// The readings of `tokens` in a row; a symbol or space becomes one space.
pub fn join_readings<'a>(tokens: impl IntoIterator<Item = &'a Analysed>) -> String {
    let mut out = String::new();
    for t in tokens {
        if t.reading.is_empty() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push_str(&t.reading);
        }
    }
    out
}

impl Analyzer {
    /// Loads the dictionary and builds the segmenter.
    pub fn load(source: &DictSource) -> Result<Analyzer> {
        let dictionary: Dictionary = match source {
            DictSource::Path(p) => {
                if !p.join("metadata.json").exists() {
                    return Err(Error::DictionaryMissing(p.clone()));
                }
                let uri = p.to_string_lossy();
                load_dictionary(&uri).map_err(|e| Error::Lindera(e.to_string()))?
            }
            DictSource::Embedded => {
                load_dictionary("embedded://ipadic").map_err(|e| Error::Lindera(e.to_string()))?
            }
        };
        let segmenter = Segmenter::new(Mode::Normal, dictionary, None);
        Ok(Analyzer {
            segmenter: Arc::new(segmenter),
            options: AnalysisOptions::default(),
            user_words: 0,
        })
    }

    /// The same analyzer with the words of `faq_dir/`[`USER_DICT_FILE`] added to the system
    /// dictionary, or with the system dictionary alone when that file does not exist or
    /// [`AnalysisOptions::user_dictionary`] is off. Always
    /// starts from the system dictionary, so calling it again replaces an earlier user dictionary.
    pub fn with_faq_user_dictionary(&self, faq_dir: &Path) -> Result<Analyzer> {
        let path = faq_dir.join(USER_DICT_FILE);
        if !self.options.user_dictionary {
            return self.with_user_dictionary(&path.display().to_string(), None);
        }
        let text = match std::fs::read(&path) {
            Ok(bytes) => {
                let mut problems = Vec::new();
                let Some(text) = crate::faq::decode(&path, &bytes, &mut problems) else {
                    return Err(Error::UserDictionary(
                        problems.iter().map(ToString::to_string).collect(),
                    ));
                };
                Some(text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::UserDictionary(vec![format!(
                    "{}: {e}",
                    path.display()
                )]));
            }
        };
        self.with_user_dictionary(&path.display().to_string(), text.as_deref())
    }

    /// The same analyzer with the words of a user dictionary (`text` of the file `label`, or
    /// none). Lines are lindera's simple format `surface,part of speech,reading` (名詞 for
    /// administrative terms) or IPADIC's detailed 13-column format; `#` starts a comment line.
    /// Surfaces are normalised like the text they will meet. Every malformed line is reported as
    /// `label:line: message`.
    pub fn with_user_dictionary(&self, label: &str, text: Option<&str>) -> Result<Analyzer> {
        let system = self.segmenter.dictionary.clone();
        let mut user_words = 0;
        let user = match text {
            None => None,
            Some(text) => {
                let csv = user_dictionary_csv(label, text)?;
                user_words = csv.lines().count();
                if csv.is_empty() {
                    None
                } else {
                    let builder = lindera::dictionary::DictionaryBuilder::new(
                        system.metadata.as_ref().clone(),
                    );
                    Some(
                        builder
                            .build_user_dict_from_reader(csv.as_bytes())
                            .map_err(|e| Error::UserDictionary(vec![format!("{label}: {e}")]))?,
                    )
                }
            }
        };
        Ok(Analyzer {
            segmenter: Arc::new(Segmenter::new(Mode::Normal, system, user)),
            options: self.options,
            user_words,
        })
    }

    /// Number of words the user dictionary adds (0 without one).
    pub fn user_words(&self) -> usize {
        self.user_words
    }

    /// The same analyzer with other pipeline switches.
    pub fn with_options(mut self, options: AnalysisOptions) -> Analyzer {
        self.options = options;
        self
    }

    /// The pipeline switches in use.
    pub fn options(&self) -> AnalysisOptions {
        self.options
    }

    /// The index terms of `text`, in order.
    pub fn terms(&self, text: &str) -> Vec<String> {
        self.inspect(text)
            .into_iter()
            .filter_map(|a| a.term)
            .collect()
    }

    /// The reading of `text` in hiragana: each dictionary word by its IPADIC reading, words
    /// the dictionary does not know as written; runs of symbols and spaces become one space.
    /// The conversion slip 保検料 and 保険料 read alike (ほけんりょう), as do ねんしゅう and 年収.
    pub fn reading(&self, text: &str) -> String {
        let runs = self.inspect_runs(text);
        let read = runs.iter().map(join_readings).filter(|r| !r.is_empty());
        read.collect::<Vec<_>>().join(" ")
    }

    /// Every token of `text` with its POS tag and what became of it. Each whitespace-separated
    /// piece is segmented on its own: a space the resident typed ends a word.
    pub fn inspect(&self, text: &str) -> Vec<Analysed> {
        self.inspect_runs(text).into_iter().flatten().collect()
    }

    /// [`Analyzer::inspect`], the tokens grouped in runs of text: a space or a symbol between
    /// two tokens ends a run (what [`join_readings`] would turn into a space). Symbol tokens
    /// are kept, each in a run of its own, so that flattening gives `inspect`.
    pub fn inspect_runs(&self, text: &str) -> Vec<Vec<Analysed>> {
        let normalized = normalize(text);
        let mut runs: Vec<Vec<Analysed>> = Vec::new();
        for piece in normalized.split_whitespace() {
            self.push_runs(piece, &mut runs);
        }
        runs
    }

    /// One segmented token: its POS tag, its index term (or none) and its reading.
    fn analyse(&self, tok: &mut lindera::token::Token<'_>) -> Analysed {
        let surface = tok.surface.to_string();
        let details: Vec<String> = tok.details().iter().map(|s| (*s).to_owned()).collect();
        let pos = pos_tag(&details);
        let base = details.get(6).filter(|b| b.as_str() != "*");
        let term = index_term(&surface, &pos, base.map(String::as_str), self.options);
        let reading = if surface.chars().any(char::is_alphanumeric) {
            let known = details
                .get(7)
                .filter(|r| r.as_str() != "*" && !r.is_empty());
            hiragana_fold(known.unwrap_or(&surface))
        } else {
            String::new()
        };
        Analysed {
            surface,
            pos,
            base: base.cloned(),
            term,
            reading,
        }
    }

    /// Segments `piece` (no whitespace) and appends its runs to `runs`.
    fn push_runs(&self, piece: &str, runs: &mut Vec<Vec<Analysed>>) {
        let Ok(mut tokens) = self.segmenter.segment(piece.into()) else {
            return;
        };
        let mut last_end = 0;
        let mut open = false;
        for tok in tokens.iter_mut() {
            let gap = tok.byte_start > last_end;
            last_end = tok.byte_end;
            let analysed = self.analyse(tok);
            let symbol = analysed.reading.is_empty();
            match runs.last_mut() {
                Some(run) if open && !gap && !symbol => run.push(analysed),
                _ => runs.push(vec![analysed]),
            }
            open = !symbol;
        }
    }
}

/// NFKC and lowercase; also folds the wave dash 〜, which NFKC leaves apart from ~.
pub fn normalize(text: &str) -> String {
    text.nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| if c == '〜' { '~' } else { c })
        .collect()
}

/// Checks a user dictionary and returns it as lindera reads it: comments and blank lines
/// dropped, surfaces normalised, every field trimmed.
fn user_dictionary_csv(label: &str, text: &str) -> Result<String> {
    let mut out = String::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields: Vec<String> = line.split(',').map(|f| f.trim().to_owned()).collect();
        let problem = match fields.len() {
            3 | 13 if fields[0].is_empty() => Some("the surface (first field) is empty".to_owned()),
            3 if fields[1].is_empty() => {
                Some("the part of speech (second field) is empty".to_owned())
            }
            3 | 13 => None,
            n => Some(format!(
                "{n} fields; expected 3 (surface,part of speech,reading) or IPADIC's 13"
            )),
        };
        if let Some(p) = problem {
            problems.push(format!("{label}:{}: {p}", i + 1));
            continue;
        }
        fields[0] = normalize(&fields[0]);
        if fields.iter().any(|f| f.contains('"')) {
            problems.push(format!("{label}:{}: quotes are not allowed", i + 1));
            continue;
        }
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::UserDictionary(problems))
    }
}

fn pos_tag(details: &[String]) -> String {
    let mut parts: Vec<&str> = details.iter().take(4).map(String::as_str).collect();
    parts.resize(4, "*");
    parts.join(",")
}

/// Whether `c` is written in katakana (the long-vowel mark and the middle dot included).
pub fn is_katakana(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30FA}' | 'ー' | '・')
}

/// Decides what a token contributes to the index.
fn index_term(
    surface: &str,
    pos: &str,
    base: Option<&str>,
    options: AnalysisOptions,
) -> Option<String> {
    // ASCII words (eltax, qr, pdf) survive whatever tag an unknown-word guess gave them.
    let ascii_word = surface.len() >= 2 && surface.chars().all(|c| c.is_ascii_alphanumeric());
    if !ascii_word && STOP_TAGS.contains(&pos) {
        return None;
    }
    if surface.chars().all(|c| !c.is_alphanumeric()) {
        return None;
    }
    let word = match base {
        Some(b) if pos.starts_with("動詞") || pos.starts_with("形容詞") => b,
        _ => surface,
    };
    if STOP_BASE_FORMS.contains(&word) {
        return None;
    }
    let mut term = katakana_stem(word);
    if options.fold_kana {
        term = hiragana_fold(&term);
    }
    if options.drop_okurigana {
        let inflected = pos.starts_with("動詞") || pos.starts_with("形容詞");
        term = drop_okurigana(&term, inflected);
    }
    Some(term)
}

/// Katakana to hiragana (ゴミ → ごみ, ヴ → ゔ), so that a word written either way meets itself.
/// Only the letters ァ..ヶ move; ー and ・ stay.
pub fn hiragana_fold(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            '\u{30A1}'..='\u{30F6}' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Whether `c` is a kanji (CJK ideograph, 々 or 〆).
pub fn is_kanji(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '々' | '〆')
}

/// Whether `c` is hiragana.
pub fn is_hiragana(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{309F}')
}

/// Drops okurigana from compounds of two or more kanji so that the spellings 送り仮名 allows
/// meet: 手続き/手続, 申し込み/申込み/申込, 引っ越し/引越し/引越, 問い合わせ/問合せ/問合, and the
/// verb 申し込む meets the noun 申込. Only short kana runs go: at most two kana between kanji,
/// at most one at the end of a noun (two after kana inside, three for a verb or adjective),
/// none in front; 粗大ごみ, 子ども or お知らせ are left alone.
pub fn drop_okurigana(word: &str, inflected: bool) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.iter().filter(|&&c| is_kanji(c)).count() < 2
        || !chars.iter().any(|&c| is_hiragana(c))
        || !chars.iter().all(|&c| is_kanji(c) || is_hiragana(c))
        || !is_kanji(chars[0])
    {
        return word.to_owned();
    }
    let last_kanji = chars.iter().rposition(|&c| is_kanji(c)).unwrap_or(0);
    let trailing = chars.len() - 1 - last_kanji;
    let mut run = 0;
    let mut inner = false;
    for &c in &chars[..=last_kanji] {
        if is_hiragana(c) {
            run += 1;
            inner = true;
            if run > 2 {
                return word.to_owned();
            }
        } else {
            run = 0;
        }
    }
    // A noun may end in two kana when it already has kana inside (問い合わせ); otherwise two
    // trailing kana are more likely a word of their own (粗大ごみ).
    let allowed = if inflected {
        3
    } else if inner {
        2
    } else {
        1
    };
    if trailing > allowed {
        return word.to_owned();
    }
    chars.into_iter().filter(|&c| is_kanji(c)).collect()
}

/// Drops the long-vowel mark that ends a katakana word of four or more characters
/// (サーバー → サーバ), so both spellings meet.
fn katakana_stem(word: &str) -> String {
    let n = word.chars().count();
    if n >= 4 && word.ends_with('ー') && word.chars().all(is_katakana) {
        word.trim_end_matches('ー').to_owned()
    } else {
        word.to_owned()
    }
}

/// Registers the word analyzer on `index`. Registrations live in memory, so this runs on every
/// build and every open.
pub fn register(index: &Index, analyzer: &Analyzer) {
    index.tokenizers().register(
        TOKENIZER,
        TextAnalyzer::from(TermTokenizer {
            analyzer: analyzer.clone(),
        }),
    );
}

/// tantivy adapter: runs the word analyzer and hands its terms to tantivy.
#[derive(Clone)]
struct TermTokenizer {
    analyzer: Analyzer,
}

/// Token stream over terms computed up front.
struct TermStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for TermTokenizer {
    type TokenStream<'a> = TermStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> TermStream {
        let terms = self.analyzer.terms(text);
        // Offsets are not used (no highlighting); positions count the terms kept.
        let tokens = terms
            .into_iter()
            .enumerate()
            .map(|(position, text)| Token {
                offset_from: 0,
                offset_to: 0,
                position,
                text,
                position_length: 1,
            })
            .collect();
        TermStream { tokens, next: 0 }
    }
}

impl TokenStream for TermStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// One analyzer per test binary (loading is cheap, but there is no need to repeat it).
    pub(crate) fn analyzer() -> Analyzer {
        static A: OnceLock<Analyzer> = OnceLock::new();
        A.get_or_init(|| {
            Analyzer::load(&DictSource::default_source()).expect("run scripts/setup-ipadic.sh")
        })
        .clone()
    }

    #[test]
    fn half_width_kana_and_full_width_digits_are_normalised() {
        assert_eq!(
            analyzer().terms("ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞを２０２４年に更新しました"),
            ["まいなんばーかーど", "2024", "年", "更新"]
        );
    }

    #[test]
    fn particles_auxiliaries_and_light_verbs_are_dropped() {
        let terms = analyzer().terms("住民票の写しをコンビニで取得することはできますか？");
        assert_eq!(terms, ["住民", "票", "写し", "こんびに", "取得"]);
    }

    #[test]
    fn inflected_words_meet_their_base_form() {
        let a = analyzer();
        assert!(a.terms("引っ越しました").contains(&"引越".to_string()));
        assert!(a.terms("申し込みたい").contains(&"申込".to_string()));
    }

    #[test]
    fn katakana_long_vowel_is_stemmed() {
        let a = analyzer();
        assert_eq!(a.terms("サーバー"), a.terms("サーバ"));
        assert_eq!(katakana_stem("カード"), "カード");
    }

    #[test]
    fn katakana_and_hiragana_spellings_meet() {
        let a = analyzer();
        assert_eq!(a.terms("ゴミ"), a.terms("ごみ"));
        assert_eq!(hiragana_fold("マイナポータル・ヴ"), "まいなぽーたる・ゔ");
    }

    #[test]
    fn okurigana_variants_meet() {
        let a = analyzer();
        for (x, y) in [
            ("手続き", "手続"),
            ("申し込み", "申込"),
            ("引っ越し", "引越し"),
            ("問い合わせ", "問合せ"),
            ("受け付け", "受付"),
        ] {
            assert_eq!(a.terms(x), a.terms(y), "{x} / {y}");
        }
        // The verb meets the noun.
        assert_eq!(a.terms("申し込む"), a.terms("申込"));
        // Words whose kana are not okurigana are left alone.
        assert_eq!(drop_okurigana("粗大ごみ", false), "粗大ごみ");
        assert_eq!(drop_okurigana("子ども", false), "子ども");
        assert_eq!(drop_okurigana("お知らせ", false), "お知らせ");
        assert_eq!(drop_okurigana("受け取れる", true), "受取");
    }

    #[test]
    fn ascii_words_survive() {
        assert!(
            analyzer()
                .terms("ELTAXで払える？")
                .contains(&"eltax".to_string())
        );
    }

    #[test]
    fn readings_are_hiragana_and_symbols_become_one_space() {
        let a = analyzer();
        assert_eq!(a.reading("確定申告"), "かくていしんこく");
        // A conversion slip reads like the word it stands for.
        assert_eq!(a.reading("保検料"), a.reading("保険料"));
        // Words the dictionary does not know are read as written (katakana folded).
        assert_eq!(a.reading("ねんしゅう、カード"), "ねんしゅう かーど");
    }

    #[test]
    fn a_space_the_resident_typed_ends_a_word() {
        let a = analyzer();
        // Segmented whole, lindera's unknown-word guess would run across the space
        // (ゅうのかべ); each piece is segmented on its own.
        let runs = a.inspect_runs("ねんしゅうのかべ 結局いくつ、保険証");
        let text: Vec<String> = runs
            .iter()
            .map(|r| r.iter().map(|t| t.surface.as_str()).collect())
            .collect();
        assert_eq!(text, ["ねんしゅうのかべ", "結局いくつ", "、", "保険証"]);
        assert_eq!(
            a.reading("ねんしゅうのかべ 結局"),
            "ねんしゅうのかべ けっきょく"
        );
    }

    #[test]
    fn user_dictionary_splits_unknown_katakana_compounds() {
        let a = analyzer();
        // Without it, IPADIC reads the unknown katakana run as one word.
        assert_eq!(a.terms("マイナポータル"), ["まいなぽーたる"]);
        let text = "# comment\n\nマイナ,名詞,マイナ\n ﾎﾟｰﾀﾙ , 名詞 , ポータル \n";
        let u = a.with_user_dictionary("userdict.csv", Some(text)).unwrap();
        // Half-width surfaces are normalised like the text they meet.
        assert_eq!(
            u.terms("マイナポータルで確認"),
            ["まいな", "ぽーたる", "確認"]
        );
        assert_eq!(u.user_words(), 2);
        // Starting again from the system dictionary drops the user words.
        let none = u.with_user_dictionary("userdict.csv", None).unwrap();
        assert_eq!(none.terms("マイナポータル"), ["まいなぽーたる"]);
        assert_eq!(none.user_words(), 0);
    }

    #[test]
    fn malformed_user_dictionary_lines_are_named() {
        let text = "マイナ,名詞,マイナ\nポータル,名詞\n,名詞,カラ\nカード,,カード\n";
        let err = analyzer()
            .with_user_dictionary("faq/userdict.csv", Some(text))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("faq/userdict.csv:2: 2 fields"), "{err}");
        assert!(err.contains("faq/userdict.csv:3: the surface"), "{err}");
        assert!(
            err.contains("faq/userdict.csv:4: the part of speech"),
            "{err}"
        );
        assert!(!err.contains("userdict.csv:1:"), "{err}");
    }

    #[test]
    fn user_dictionary_file_in_the_faq_directory() {
        let dir = tempfile::tempdir().unwrap();
        let a = analyzer().with_faq_user_dictionary(dir.path()).unwrap();
        assert_eq!(a.user_words(), 0);
        std::fs::write(
            dir.path().join(USER_DICT_FILE),
            "マイナ,名詞,マイナ\nポータル,名詞,ポータル\n",
        )
        .unwrap();
        let a = analyzer().with_faq_user_dictionary(dir.path()).unwrap();
        assert_eq!(a.terms("マイナポータル"), ["まいな", "ぽーたる"]);
    }

    #[test]
    fn missing_dictionary_is_a_clear_error() {
        let err = Analyzer::load(&DictSource::Path("/nonexistent/ipadic".into()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("scripts/setup-ipadic.sh"));
    }
}
