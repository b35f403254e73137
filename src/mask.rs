//! Masking of personal data (個人情報) in residents' questions.
//!
//! A resident's question may contain their own マイナンバー, telephone number, e-mail address,
//! street address, payment card number, 郵便番号, name, date of birth, bank account,
//! health-insurance, passport or pension number. Stored logs, telemetry and anything sent
//! to an external LLM must never hold such data in clear, so every question goes through
//! [`mask`] first: each item found is replaced by a fixed, bracketed Japanese placeholder and
//! everything else is kept exactly as written.
//!
//! | [`Kind`]               | What is matched                                             | Placeholder          |
//! |------------------------|-------------------------------------------------------------|----------------------|
//! | [`Kind::MyNumber`]     | 12 digits, bare or grouped 4-4-4                            | `［マイナンバー］`   |
//! | [`Kind::CardNumber`]   | a 14–19 digit run, or grouped 4-4-4-4 (also 4-6-5, 4-6-4)   | `［カード番号］`     |
//! | [`Kind::Phone`]        | Japanese numbers (`03-1234-5678`, `090 1234 5678`, `03(1234)5678`, `0120-…`, 10–11 bare digits starting with 0) and `+81 …` / `+` international forms | `［電話番号］` |
//! | [`Kind::Email`]        | `local@domain.tld`                                          | `［メールアドレス］` |
//! | [`Kind::PostalCode`]   | `〒123-4567`, `〒1234567`, `郵便番号 123-4567`              | `［郵便番号］`       |
//! | [`Kind::Address`]      | a street address with block / house numbers                 | `［住所］`           |
//! | [`Kind::Name`]         | a name before 様/さん/くん/ちゃん/氏/殿, after 名前は/氏名/名義, before と申します, or an account holder | `［氏名］` |
//! | [`Kind::BirthDate`]    | a 西暦 or 和暦 date (digits or kanji, `S60.4.1`) next to 生年月日/誕生日/生まれ/生 | `［生年月日］` |
//! | [`Kind::BankAccount`]  | a number after 口座/普通/当座/貯蓄/支店番号, ゆうちょ 記号…番号…   | `［口座番号］`       |
//! | [`Kind::InsuranceNumber`] | 保険証 記号…番号…, 被保険者番号                            | `［保険証番号］`     |
//! | [`Kind::Passport`]     | two capitals and seven digits, or after 旅券番号/パスポート  | `［旅券番号］`       |
//! | [`Kind::PensionNumber`] | a number after 基礎年金番号/年金番号                        | `［年金番号］`       |
//!
//! Kanji digits read one by one (〇九〇の一二三四の五六七八) count as digits, の between digits as
//! a hyphen, dots between digit groups (090.1234.5678) as hyphens, and digits typed one by one
//! with spaces (0 9 0 1 2 …) as one number. E-mail addresses with the `@` spelled out
//! (`(at)`, `[at]`, アットマーク) are masked too. The contextual kinds are in `context`, with
//! the words that are roles rather than names (担当者様, お子さん, ヘルパーさん) and the
//! compounds (様式, 仕様, 氏名) that are kept.
//!
//! Full-width digits, letters, hyphens and spaces are recognised too: detection runs on a
//! shadow copy in which every character is mapped one-to-one to its half-width form
//! (`０`→`0`, `－`→`-`, `＠`→`@`, `　`→space, …), and the spans found there are replaced in the
//! original text.
//!
//! Digit runs are never masked partially: a 13-digit or a 20-digit run is left alone
//! (neither a マイナンバー nor a card number), and a number glued to a decimal point
//! (`3.141592653589`) is a quantity, not an identifier. Dates, money, years, ages and short
//! numbers (`2026-11-23`, `10,000円`, `令和6年度`, `14日以内`) never match.
//!
//! Addresses are masked conservatively: only an address that starts with one of the 47
//! prefectures or with a municipality (`…市`, `…区`, `…町`, `…村`, `…郡`) **and** carries
//! block / house numbers (`1-2-3`, `一丁目2番3号`, `123番地`) is personal data; a bare place name
//! such as 「尼崎市の図書館」, 「東京都に住んでいます」 or 「千代田区役所」 is kept. The masked span
//! runs from the prefecture or municipality up to and including the numbers, plus a building
//! name and room number that directly follow (`○○マンション101号室`).
//!
//! Masking is idempotent (`mask(&mask(x).text).text == mask(x).text`): placeholders, whether
//! produced here or already present in the input, are never masked again. It never panics and
//! runs in time roughly linear in the input length.

use std::sync::LazyLock;

use regex::Regex;

mod context;

/// What was found, for counting (never the text itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// マイナンバー (individual number): 12 digits, bare or grouped 4-4-4.
    MyNumber,
    /// A Japanese (`03-1234-5678`, `090-1234-5678`, `0120-…`) or international (`+81 …`)
    /// telephone number.
    Phone,
    /// An e-mail address.
    Email,
    /// A Japanese street address with block / house numbers, and the building and room that
    /// directly follow it.
    Address,
    /// A payment card number: a 14–19 digit run, or grouped 4-4-4-4 (also 4-6-5, 4-6-4).
    CardNumber,
    /// A 郵便番号 (postal code) after `〒` or the word 郵便番号.
    PostalCode,
    /// A person's name: before an honorific (山田様, 佐藤さん, スミスさん), after 名前は / 氏名 /
    /// 名義, before と申します, or an account holder after an account number.
    Name,
    /// A date of birth (西暦, 和暦 or `S60.4.1`; digits or kanji numerals) next to 生年月日,
    /// 誕生日, 生まれ or 生.
    BirthDate,
    /// A bank or ゆうちょ account number after 口座, 普通, 当座, 貯蓄, 記号番号 or 支店番号.
    BankAccount,
    /// A health-insurance card's 記号 / 番号 or 被保険者番号.
    InsuranceNumber,
    /// A passport number (two letters and seven digits, or after 旅券番号 / パスポート番号).
    Passport,
    /// A 基礎年金番号 (pension number) after its label.
    PensionNumber,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 12] = [
        Kind::MyNumber,
        Kind::Phone,
        Kind::Email,
        Kind::Address,
        Kind::CardNumber,
        Kind::PostalCode,
        Kind::Name,
        Kind::BirthDate,
        Kind::BankAccount,
        Kind::InsuranceNumber,
        Kind::Passport,
        Kind::PensionNumber,
    ];

    /// A stable snake_case name, for metrics labels.
    pub const fn label(self) -> &'static str {
        match self {
            Kind::MyNumber => "my_number",
            Kind::Phone => "phone",
            Kind::Email => "email",
            Kind::Address => "address",
            Kind::CardNumber => "card_number",
            Kind::PostalCode => "postal_code",
            Kind::Name => "name",
            Kind::BirthDate => "birth_date",
            Kind::BankAccount => "bank_account",
            Kind::InsuranceNumber => "insurance_number",
            Kind::Passport => "passport",
            Kind::PensionNumber => "pension_number",
        }
    }

    /// The fixed placeholder that replaces data of this kind, e.g. `［電話番号］`.
    pub const fn placeholder(self) -> &'static str {
        match self {
            Kind::MyNumber => "［マイナンバー］",
            Kind::Phone => "［電話番号］",
            Kind::Email => "［メールアドレス］",
            Kind::Address => "［住所］",
            Kind::CardNumber => "［カード番号］",
            Kind::PostalCode => "［郵便番号］",
            Kind::Name => "［氏名］",
            Kind::BirthDate => "［生年月日］",
            Kind::BankAccount => "［口座番号］",
            Kind::InsuranceNumber => "［保険証番号］",
            Kind::Passport => "［旅券番号］",
            Kind::PensionNumber => "［年金番号］",
        }
    }
}

/// Masked text plus what was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    /// The input with every item of personal data replaced by its placeholder.
    pub text: String,
    /// The kind of every placeholder inserted, in order of appearance in [`Masked::text`]
    /// (placeholders already present in the input are not counted).
    pub found: Vec<Kind>,
}

/// Replaces personal data in `text`; everything else is kept exactly as written.
///
/// See the [module documentation](self) for what is matched.
pub fn mask(text: &str) -> Masked {
    // One pass normally finds everything. Further passes (bounded) are a safety net for
    // items whose context only becomes clear once a neighbour has been replaced; the loop
    // stops at the first pass that finds nothing, which is what makes `mask` idempotent.
    let mut current: Option<String> = None;
    let mut marks: Vec<(usize, Kind)> = Vec::new();
    for _ in 0..MAX_PASSES {
        let cur = current.as_deref().unwrap_or(text);
        let spans = detect(cur);
        if spans.is_empty() {
            break;
        }
        let (next, next_marks) = splice(cur, &spans, &marks);
        current = Some(next);
        marks = next_marks;
    }
    Masked {
        text: current.unwrap_or_else(|| text.to_owned()),
        found: marks.into_iter().map(|(_, kind)| kind).collect(),
    }
}

/// Convenience: `mask(text).text`.
pub fn mask_str(text: &str) -> String {
    mask(text).text
}

/// Upper bound on detection passes in [`mask`].
const MAX_PASSES: usize = 4;

/// Stands in the shadow copy for characters that must not take part in any match
/// (placeholders already in the text, and spans claimed by an earlier detector).
const NEUTRAL: char = '\u{FFFC}';

/// Most digit groups one item can span (`+81 (0) 90 1234 5678`, `1234 5678 9012 3456 789`).
const MAX_GROUPS: usize = 5;

/// The 47 prefectures, which anchor an address on their own.
const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// Words that label an address rather than belong to it (「住所大阪市…」); trimmed from the
/// front of a municipality-anchored match.
const ADDRESS_LABELS: [&str; 14] = [
    "現住所",
    "旧住所",
    "新住所",
    "住所",
    "自宅",
    "実家",
    "所在地",
    "居所",
    "本籍地",
    "本籍",
    "宛先",
    "送付先",
    "勤務先",
    "連絡先",
];

/// Between the municipality and the numbers, these mark a public facility
/// (「千代田区役所3番窓口」), not a residence.
const FACILITY_WORDS: [&str; 8] = [
    "役所",
    "役場",
    "窓口",
    "センター",
    "会館",
    "図書館",
    "課",
    "係",
];

/// A building name ending in one of these is part of the address even without a room number.
const BUILDING_SUFFIXES: [&str; 22] = [
    "マンション",
    "ハイツ",
    "コーポ",
    "アパート",
    "ビル",
    "荘",
    "レジデンス",
    "タワー",
    "ハウス",
    "ハイム",
    "住宅",
    "団地",
    "棟",
    "寮",
    "ヒルズ",
    "パレス",
    "コート",
    "メゾン",
    "テラス",
    "プラザ",
    "ヴィラ",
    "ガーデン",
];

/// Kanji numerals used in block numbers (一丁目二番三号).
const KANJI_NUMERALS: &str = "〇一二三四五六七八九十百千";

/// Counters and units that, right after a number, show it is a quantity (「3-4歳」, 「1-2割」).
const UNITS: &str = "歳才円年月日時分秒人回件倍割個週度目位枚台冊点%万億";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}")
        .expect("e-mail pattern is valid")
});

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    let prefectures = PREFECTURES.join("|");
    // Municipality name characters: kanji, katakana; or an all-hiragana name (さいたま市).
    let muni = r"[\p{Han}\p{Katakana}ーｰヶ々〆]";
    let muni_hira = r"[ぁ-ゖ--[はにをでへもとやがね]]";
    // Town / district name characters after the municipality (霞が関, 丸の内, 本町).
    let area = r"[\p{Han}\p{Katakana}ーｰヶ々〆・ぁ-ゖ--[はにをでへもとやねよ]]";
    let area_first = r"[\p{Han}\p{Katakana}ーｰヶ々〆・ぁ-ゖ--[はにをでへもとやねよのが]]";
    // House numbers never start with 0 (a 0 starts a telephone number: 大阪市北区06-…).
    let num = format!("(?:[1-9][0-9]*|[{KANJI_NUMERALS}]+)");
    let mark = r"(?:丁目|番地の?|番の?|号室|号|条[東西南北]?|線|地割|-)";
    let last = r"(?:丁目|番地|番|号室|号)";
    let pattern = format!(
        "(?P<head>{prefectures}|(?:{muni}{{1,5}}|{muni_hira}{{2,6}})[市区町村郡])\
         (?P<area>(?:[ ]?{area_first}(?:[ ]?{area}){{0,29}})?)[ ]?\
         (?P<num>{num}(?:{mark}{num})*{last}?)"
    );
    Regex::new(&pattern).expect("address pattern is valid")
});

/// A detected item, as a half-open range of character indices.
#[derive(Debug, Clone, Copy)]
struct CharSpan {
    start: usize,
    end: usize,
    kind: Kind,
}

/// A detected item, as a half-open range of byte offsets into the text being masked.
#[derive(Debug, Clone, Copy)]
struct ByteSpan {
    start: usize,
    end: usize,
    kind: Kind,
}

/// Replaces `spans` (sorted, disjoint) in `cur` and carries the positions of the placeholders
/// inserted by earlier passes (`old`, sorted, never inside a span) over to the new text.
fn splice(cur: &str, spans: &[ByteSpan], old: &[(usize, Kind)]) -> (String, Vec<(usize, Kind)>) {
    let mut out = String::with_capacity(cur.len() + spans.len() * 24);
    let mut marks = Vec::with_capacity(old.len() + spans.len());
    let mut last = 0;
    let mut old = old.iter().peekable();
    for span in spans {
        while let Some(&&(pos, kind)) = old.peek() {
            if pos >= span.start {
                break;
            }
            marks.push((out.len() + pos.saturating_sub(last), kind));
            old.next();
        }
        out.push_str(&cur[last..span.start]);
        marks.push((out.len(), span.kind));
        out.push_str(span.kind.placeholder());
        last = span.end;
    }
    for &(pos, kind) in old {
        marks.push((out.len() + pos.saturating_sub(last), kind));
    }
    out.push_str(&cur[last..]);
    (out, marks)
}

/// Maps one character to the half-width form used for matching; always one char for one char.
fn fold(c: char) -> char {
    match c {
        // Full-width ASCII block: ０-９ Ａ-Ｚ ａ-ｚ －＠．（）＋： …
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' | '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' => ' ',
        '\u{2010}'..='\u{2015}' | '\u{2043}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' => '-',
        '〶' => '〒',
        _ => c,
    }
}

fn is_kanji_numeral(c: char) -> bool {
    KANJI_NUMERALS.contains(c)
}

fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3005}'..='\u{3007}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FFFF}')
}

fn is_katakana(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}')
}

/// Kanji digits read one by one (〇九〇の一二三四の五六七八, 二四六八…): spelled as ASCII digits
/// in the shadow when a run of them, joined by の, ー, ・, hyphens or spaces, holds at least
/// seven digits and no positional numeral (十, 百, 千, 万) touches it. 「三丁目」 or 「二十三」 stay.
fn spell_kanji_digits(chars: &mut [char]) {
    const DIGITS: &str = "〇零一二三四五六七八九";
    const POSITIONAL: &str = "十百千万億";
    let digit = |c: char| DIGITS.find(c).map(|_| c);
    let value = |c: char| match c {
        '〇' | '零' => '0',
        _ => DIGITS
            .chars()
            .skip(2)
            .position(|d| d == c)
            .and_then(|p| char::from_digit(p as u32 + 1, 10))
            .unwrap_or(c),
    };
    let n = chars.len();
    let mut i = 0;
    while i < n {
        if digit(chars[i]).is_none() {
            i += 1;
            continue;
        }
        let (mut j, mut count, mut run, mut longest) = (i, 0, 0, 0);
        while j < n {
            if digit(chars[j]).is_some() {
                count += 1;
                run += 1;
                longest = longest.max(run);
                j += 1;
            } else if matches!(chars[j], 'の' | 'ー' | '-' | '・' | ' ')
                && j > i
                && j + 1 < n
                && digit(chars[j + 1]).is_some()
            {
                run = 0;
                j += 1;
            } else {
                break;
            }
        }
        let touches = |k: Option<usize>| {
            k.and_then(|k| chars.get(k))
                .is_some_and(|c| POSITIONAL.contains(*c))
        };
        if count >= 7 && longest >= 2 && !touches(i.checked_sub(1)) && !touches(Some(j)) {
            for c in &mut chars[i..j] {
                *c = match *c {
                    'の' | 'ー' | '・' => '-',
                    other => value(other),
                };
            }
        }
        i = j.max(i + 1);
    }
}

/// Characters of a building name right after an address (○○マンション, ABCビル).
fn is_building_char(c: char) -> bool {
    is_han(c)
        || is_katakana(c)
        || c.is_ascii_alphabetic()
        || matches!(
            c,
            '○' | '◯' | '●' | '◎' | '△' | '□' | '■' | '☆' | '★' | '&' | '\''
        )
}

/// The text being scanned: normalised characters, which of them are off limits, and where
/// each character starts in the original.
struct Shadow {
    chars: Vec<char>,
    blocked: Vec<bool>,
    /// Byte offset of every character in the original, plus its length at the end.
    orig_starts: Vec<usize>,
}

impl Shadow {
    fn new(cur: &str) -> Self {
        let mut chars = Vec::with_capacity(cur.len());
        let mut orig_starts = Vec::with_capacity(cur.len() + 1);
        for (at, c) in cur.char_indices() {
            orig_starts.push(at);
            chars.push(fold(c));
        }
        orig_starts.push(cur.len());
        spell_kanji_digits(&mut chars);
        // The katakana long-vowel mark and の are hyphens only between digits
        // (０３ー１２３４ー５６７８, 090の1234の5678).
        for i in 1..chars.len().saturating_sub(1) {
            if matches!(chars[i], 'ー' | 'ｰ' | 'の')
                && chars[i - 1].is_ascii_digit()
                && chars[i + 1].is_ascii_digit()
            {
                chars[i] = '-';
            }
        }
        let mut shadow = Shadow {
            blocked: vec![false; chars.len()],
            chars,
            orig_starts,
        };
        // Placeholders already in the text are never masked again, nor matched into.
        for kind in Kind::ALL {
            let placeholder = kind.placeholder();
            for (at, _) in cur.match_indices(placeholder) {
                let start = shadow.char_at_byte(at);
                let end = shadow.char_at_byte(at + placeholder.len());
                shadow.block(start, end);
            }
        }
        shadow
    }

    /// Index of the character starting at byte `at` of the original.
    fn char_at_byte(&self, at: usize) -> usize {
        self.orig_starts.partition_point(|&start| start < at)
    }

    fn block(&mut self, start: usize, end: usize) {
        for i in start..end.min(self.chars.len()) {
            self.blocked[i] = true;
            self.chars[i] = NEUTRAL;
        }
    }

    /// An unblocked ASCII digit at `i`.
    fn digit(&self, i: usize) -> bool {
        i < self.chars.len() && !self.blocked[i] && self.chars[i].is_ascii_digit()
    }

    /// The unblocked character at `i`, if any.
    fn at(&self, i: usize) -> Option<char> {
        (i < self.chars.len() && !self.blocked[i]).then(|| self.chars[i])
    }

    /// Whether the unblocked characters from `i` on spell `word`.
    fn has_word_at(&self, i: usize, word: &str) -> bool {
        (i..)
            .zip(word.chars())
            .all(|(at, w)| self.at(at) == Some(w))
    }
}

/// Finds every item in `cur`, as sorted, disjoint byte spans.
fn detect(cur: &str) -> Vec<ByteSpan> {
    let mut shadow = Shadow::new(cur);
    let mut spans = Vec::new();
    context::scan_spelled_emails(&mut shadow, &mut spans);
    let worth_scanning = shadow
        .chars
        .iter()
        .any(|&c| c.is_ascii_digit() || c == '@' || is_kanji_numeral(c));
    if worth_scanning {
        scan_emails(&mut shadow, &mut spans);
        context::scan_labelled_numbers(&mut shadow, &mut spans);
        context::scan_birth_dates(&mut shadow, &mut spans);
    }
    context::scan_names(&mut shadow, &mut spans);
    if worth_scanning {
        scan_addresses(&mut shadow, &mut spans);
        scan_numbers(&shadow, &mut spans);
    }
    spans.sort_by_key(|span| span.start);
    spans
        .into_iter()
        .map(|span| ByteSpan {
            start: shadow.orig_starts[span.start],
            end: shadow.orig_starts[span.end],
            kind: span.kind,
        })
        .collect()
}

/// The shadow as a string, for the regex detectors, with the byte offset of every character.
fn shadow_text(shadow: &Shadow) -> (String, Vec<usize>) {
    let text: String = shadow.chars.iter().collect();
    let mut starts: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
    starts.push(text.len());
    (text, starts)
}

fn scan_emails(shadow: &mut Shadow, spans: &mut Vec<CharSpan>) {
    if !shadow.chars.contains(&'@') {
        return;
    }
    let (text, starts) = shadow_text(shadow);
    let to_char = |at: usize| starts.partition_point(|&start| start < at);
    let mut found = Vec::new();
    for m in EMAIL.find_iter(&text) {
        let mut start = to_char(m.start());
        let end = to_char(m.end());
        while matches!(shadow.chars[start], '.' | '-' | '+' | '%') {
            start += 1;
        }
        if shadow.chars[start] != '@' {
            found.push((start, end));
        }
    }
    for (start, end) in found {
        shadow.block(start, end);
        spans.push(CharSpan {
            start,
            end,
            kind: Kind::Email,
        });
    }
}

fn scan_addresses(shadow: &mut Shadow, spans: &mut Vec<CharSpan>) {
    if !shadow
        .chars
        .iter()
        .any(|&c| c.is_ascii_digit() || is_kanji_numeral(c))
    {
        return;
    }
    let (text, starts) = shadow_text(shadow);
    let to_char = |at: usize| starts.partition_point(|&start| start < at);
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let Some(caps) = ADDRESS.captures_at(&text, pos) else {
            break;
        };
        let (Some(whole), Some(head), Some(area), Some(num)) = (
            caps.get(0),
            caps.name("head"),
            caps.name("area"),
            caps.name("num"),
        ) else {
            break;
        };
        let accepted = address_numbers_ok(area.as_str(), num.as_str(), &text[num.end()..]);
        let start = if accepted && !PREFECTURES.contains(&head.as_str()) {
            trim_label(&text, whole.start(), head.end())
        } else {
            whole.start()
        };
        let (start, num_end) = (to_char(start), to_char(num.end()));
        if accepted && (start..num_end).all(|i| !shadow.blocked[i]) {
            let end = building_end(shadow, num_end);
            found.push((start, end));
            pos = starts[end];
        } else {
            pos = whole.start()
                + text[whole.start()..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
        }
    }
    for (start, end) in found {
        shadow.block(start, end);
        spans.push(CharSpan {
            start,
            end,
            kind: Kind::Address,
        });
    }
}

/// Whether the numbers of an address candidate are house / block numbers.
fn address_numbers_ok(area: &str, num: &str, after: &str) -> bool {
    // 「1-2丁目」, 「3-5番」 are ranges (1〜2丁目), not a block and house number.
    let range = num.find('-').is_some_and(|hyphen| {
        num[hyphen..].contains("丁目") || (num.ends_with('番') && !num.ends_with("番地"))
    });
    if range {
        return false;
    }
    let mut numbers = 0;
    let mut in_number = false;
    for c in num.chars() {
        let numeral = c.is_ascii_digit() || is_kanji_numeral(c);
        if numeral && !in_number {
            numbers += 1;
        }
        in_number = numeral;
    }
    // A lone 「3番」 or 「3号」 is too weak (3番窓口, 国道1号); 丁目, 番地 or two numbers are not.
    let block_numbers =
        numbers >= 2 || num.contains("丁目") || num.contains("番地") || area.contains("丁目");
    if !block_numbers || FACILITY_WORDS.iter().any(|word| area.contains(word)) {
        return false;
    }
    let mut next = after.chars();
    match (next.next(), next.next()) {
        (Some(c), _) if UNITS.contains(c) => false,
        (Some('ヶ' | 'ヵ' | 'か' | 'カ' | 'ケ' | '箇'), Some('月' | '所')) => false,
        (Some('.'), Some(c)) if c.is_ascii_digit() => false,
        _ => true,
    }
}

/// Moves the start of a municipality-anchored match past a leading label (「住所」, 「自宅」).
fn trim_label(text: &str, start: usize, head_end: usize) -> usize {
    let mut start = start;
    'trim: loop {
        for label in ADDRESS_LABELS {
            let rest = start + label.len();
            if rest <= head_end
                && text[start..head_end].starts_with(label)
                && text[rest..head_end].chars().count() >= 2
            {
                start = rest;
                continue 'trim;
            }
        }
        return start;
    }
}

/// Extends an address ending at `end` over a building name and room number that directly
/// follow it (「 ○○マンション101号室」, 「ABCビル3F」, 「 405号室」).
fn building_end(shadow: &Shadow, end: usize) -> usize {
    let mut p = end;
    if shadow.at(p) == Some(' ') {
        p += 1;
    }
    let name_start = p;
    while p - name_start < 30 && shadow.at(p).is_some_and(is_building_char) {
        p += 1;
    }
    let name_end = p;
    let has_name = name_end > name_start;
    if has_name && shadow.at(p) == Some(' ') {
        p += 1;
    }
    let room_start = p;
    if shadow.at(p).is_some_and(|c| matches!(c, '1'..='9')) {
        while p - room_start < 5 && shadow.digit(p) {
            p += 1;
        }
    }
    let mut room = p > room_start && !shadow.digit(p);
    let mut suffix = false;
    if room {
        if shadow.has_word_at(p, "号室") {
            p += 2;
            suffix = true;
        } else if matches!(shadow.at(p), Some('号' | '階' | 'F' | 'f')) {
            p += 1;
            suffix = true;
        }
        // 「101-2345」 or 「101.5」 is something else, and so is 「1」 in 「東京都1丁目」.
        let after = shadow.at(p);
        room = (!matches!(after, Some('-' | '.' | ',')) || !shadow.digit(p + 1))
            && (suffix
                || !after
                    .is_some_and(|c| is_han(c) || is_katakana(c) || c.is_ascii_alphanumeric()));
    }
    if room && (has_name || suffix) {
        return p;
    }
    if has_name {
        let name: String = shadow.chars[name_start..name_end].iter().collect();
        if BUILDING_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            return name_end;
        }
    }
    end
}

/// A separator between two digit groups of one number.
#[derive(Debug, Clone, Copy)]
struct Sep {
    /// Only spaces: the groups on either side may belong to different items.
    spaces_only: bool,
    /// Holds `(` or `)`.
    paren: bool,
    /// Holds `)`.
    close: bool,
    /// Number of characters.
    len: usize,
}

/// Finds MyNumber, card, phone and postal numbers among the unblocked digits.
fn scan_numbers(shadow: &Shadow, spans: &mut Vec<CharSpan>) {
    let n = shadow.chars.len();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut seps: Vec<Sep> = Vec::new();
    let mut i = 0;
    while i < n {
        if !shadow.digit(i) {
            i += 1;
            continue;
        }
        // A chunk: digit groups joined by short runs of spaces, hyphens and parentheses.
        groups.clear();
        seps.clear();
        let mut j = i;
        loop {
            let group_start = j;
            while shadow.digit(j) {
                j += 1;
            }
            groups.push((group_start, j));
            let mut m = j;
            let (mut hyphens, mut open, mut close, mut spaces) = (0, 0, 0, 0);
            while m - j < 3 {
                match shadow.at(m) {
                    // 090.1234.5678: a dot between groups is a hyphen (a quantity's decimal
                    // point gives no number shape).
                    Some('-' | '.') => hyphens += 1,
                    Some('(') => open += 1,
                    Some(')') => close += 1,
                    Some(' ') => spaces += 1,
                    _ => break,
                }
                m += 1;
            }
            if m > j && shadow.digit(m) && hyphens <= 1 && open <= 1 && close <= 1 {
                seps.push(Sep {
                    spaces_only: spaces == m - j,
                    paren: open + close > 0,
                    close: close > 0,
                    len: m - j,
                });
                j = m;
            } else {
                break;
            }
        }
        scan_chunk(shadow, &groups, &seps, spans);
        i = j;
    }
}

/// Splits one chunk into items: whole chunk first, then the longest windows of groups, cut
/// only at space separators (hyphens and parentheses bind groups into one number).
fn scan_chunk(shadow: &Shadow, groups: &[(usize, usize)], seps: &[Sep], spans: &mut Vec<CharSpan>) {
    let count = groups.len();
    let (chunk_start, chunk_end) = (groups[0].0, groups[count - 1].1);
    // Digits typed one by one with spaces or hyphens between (0 9 0 1 2 3 4 5 6 7 8).
    if count >= 7
        && groups.iter().all(|&(start, end)| end - start == 1)
        && seps.iter().all(|sep| sep.len == 1 && !sep.paren)
    {
        let digits: Vec<char> = groups
            .iter()
            .map(|&(start, _)| shadow.chars[start])
            .collect();
        if let Some(kind) = kind_of_digits(&digits) {
            spans.push(CharSpan {
                start: chunk_start,
                end: chunk_end,
                kind,
            });
            return;
        }
    }
    // Glued to a decimal point or thousands separator: a quantity (3.141592653589).
    let decimal_before = chunk_start >= 2
        && matches!(shadow.at(chunk_start - 1), Some('.' | ','))
        && shadow.digit(chunk_start - 2);
    let decimal_after =
        matches!(shadow.at(chunk_end), Some('.' | ',')) && shadow.digit(chunk_end + 1);
    let mut a = 0;
    while a < count {
        if a > 0 && !seps[a - 1].spaces_only {
            a += 1;
            continue;
        }
        let last = (a + MAX_GROUPS - 1).min(count - 1);
        let mut taken = None;
        for b in (a..=last).rev() {
            if (b + 1 < count && !seps[b].spaces_only)
                || (a == 0 && decimal_before)
                || (b == count - 1 && decimal_after)
            {
                continue;
            }
            if let Some(span) = classify(shadow, &groups[a..=b], &seps[a..b], a == 0) {
                taken = Some((b, span));
                break;
            }
        }
        match taken {
            Some((b, span)) => {
                spans.push(span);
                a = b + 1;
            }
            None => a += 1,
        }
    }
}

/// What the digit groups `groups` (joined by `seps`) are, if anything.
fn classify(
    shadow: &Shadow,
    groups: &[(usize, usize)],
    seps: &[Sep],
    chunk_start: bool,
) -> Option<CharSpan> {
    let mut lens = [0usize; MAX_GROUPS];
    let lens = {
        for (len, &(start, end)) in lens.iter_mut().zip(groups) {
            *len = end - start;
        }
        &lens[..groups.len()]
    };
    let total: usize = lens.iter().sum();
    if total > 19 {
        return None;
    }
    let digits: Vec<char> = groups
        .iter()
        .flat_map(|&(start, end)| shadow.chars[start..end].iter().copied())
        .collect();
    let (start, end) = (groups[0].0, groups[groups.len() - 1].1);
    let span = |start, kind| Some(CharSpan { start, end, kind });
    let paren = seps.iter().any(|sep| sep.paren);

    if chunk_start && start > 0 {
        if shadow.at(start - 1) == Some('+') {
            // International: +81 90 1234 5678, +81-3-1234-5678, +819012345678.
            return ((10..=15).contains(&total) && digits[0] != '0').then_some(CharSpan {
                start: start - 1,
                end,
                kind: Kind::Phone,
            });
        }
        if let Some((postal_start, mark)) = postal_context(shadow, start) {
            let single_sep = seps.first().is_some_and(|sep| !sep.paren && sep.len == 1);
            let postal = match lens {
                [7] => true,
                [3, 4] => single_sep,
                [3] => mark,
                [3, 2] => mark && single_sep,
                _ => false,
            };
            if postal {
                return span(postal_start, Kind::PostalCode);
            }
        }
    }
    if !paren {
        if total == 12 && matches!(lens, [12] | [4, 4, 4]) {
            return span(start, Kind::MyNumber);
        }
        if is_card(lens, total) {
            return span(start, Kind::CardNumber);
        }
    }
    if (10..=11).contains(&total) && digits[0] == '0' && digits[1] != '0' && is_phone(lens) {
        // (03)1234-5678: take the opening parenthesis along.
        let open = start > 0
            && shadow.at(start - 1) == Some('(')
            && seps.first().is_some_and(|sep| sep.close);
        return span(if open { start - 1 } else { start }, Kind::Phone);
    }
    None
}

/// A postal-code context before the digits at `start`: `〒` (then the span starts there) or
/// the word 郵便番号, possibly followed by spaces, a colon or は.
fn postal_context(shadow: &Shadow, start: usize) -> Option<(usize, bool)> {
    let mut p = start;
    while start - p < 3 && p > 0 && matches!(shadow.at(p - 1), Some(' ' | ':' | 'は')) {
        p -= 1;
    }
    if p > 0 && shadow.at(p - 1) == Some('〒') {
        return Some((p - 1, true));
    }
    (p >= 4 && shadow.has_word_at(p - 4, "郵便番号")).then_some((start, false))
}

/// What an ungrouped run of digits is by its length alone.
fn kind_of_digits(digits: &[char]) -> Option<Kind> {
    match digits.len() {
        12 => Some(Kind::MyNumber),
        10 | 11 if digits[0] == '0' && digits[1] != '0' => Some(Kind::Phone),
        14..=19 => Some(Kind::CardNumber),
        _ => None,
    }
}

fn is_card(lens: &[usize], total: usize) -> bool {
    (14..=19).contains(&total)
        && match lens {
            [_] | [4, 4, 4, 4] | [4, 6, 5] | [4, 6, 4] => true,
            [4, 4, 4, 4, last] => (1..=3).contains(last),
            _ => false,
        }
}

/// Group shapes of Japanese telephone numbers (2-4-4, 3-3-4, 4-2-4, 5-1-4, 3-4-4, 4-3-3, …).
fn is_phone(lens: &[usize]) -> bool {
    match *lens {
        [_] => true,
        [first, rest] => (2..=5).contains(&first) && rest >= 4,
        [first, middle, last] => {
            (2..=5).contains(&first) && (1..=4).contains(&middle) && (3..=4).contains(&last)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MY: &str = "［マイナンバー］";
    const TEL: &str = "［電話番号］";
    const MAIL: &str = "［メールアドレス］";
    const ADDR: &str = "［住所］";
    const CARD: &str = "［カード番号］";
    const POST: &str = "［郵便番号］";

    /// Asserts the masked text and that masking it again changes nothing.
    #[track_caller]
    fn check(input: &str, expected: &str) {
        let masked = mask(input);
        assert_eq!(masked.text, expected, "input: {input}");
        let again = mask(&masked.text);
        assert_eq!(again.text, masked.text, "not idempotent: {input}");
        assert!(again.found.is_empty(), "re-masked: {input}");
    }

    #[track_caller]
    fn unchanged(input: &str) {
        let masked = mask(input);
        assert_eq!(masked.text, input);
        assert!(masked.found.is_empty(), "{input}: {:?}", masked.found);
    }

    #[test]
    fn placeholders_are_fixed() {
        assert_eq!(Kind::MyNumber.placeholder(), MY);
        assert_eq!(Kind::Phone.placeholder(), TEL);
        assert_eq!(Kind::Email.placeholder(), MAIL);
        assert_eq!(Kind::Address.placeholder(), ADDR);
        assert_eq!(Kind::CardNumber.placeholder(), CARD);
        assert_eq!(Kind::PostalCode.placeholder(), POST);
    }

    #[test]
    fn my_number_half_width() {
        check("私の番号は123456789012です", &format!("私の番号は{MY}です"));
        check("1234-5678-9012", MY);
        check("番号 1234 5678 9012 を入力", &format!("番号 {MY} を入力"));
        assert_eq!(mask("123456789012").found, vec![Kind::MyNumber]);
    }

    #[test]
    fn my_number_full_width() {
        check("１２３４５６７８９０１２", MY);
        check(
            "番号：１２３４－５６７８－９０１２。",
            &format!("番号：{MY}。"),
        );
        check("１２３４　５６７８　９０１２", MY);
    }

    #[test]
    fn longer_digit_runs_are_not_my_numbers() {
        unchanged("法人番号1234567890123");
        unchanged("12345678901234567890");
        unchanged("1234-5678-9012-3456-7890");
        unchanged("3.141592653589");
        unchanged("1234567890123456789012345678901234567890");
    }

    #[test]
    fn card_numbers() {
        check("4111111111111111", CARD);
        check("カード4111-1111-1111-1111で", &format!("カード{CARD}で"));
        check("4111 1111 1111 1111", CARD);
        check("４１１１－１１１１－１１１１－１１１１", CARD);
        check("3782 822463 10005", CARD);
        check("12345678901234", CARD);
        check("1234567890123456789", CARD);
        assert_eq!(mask("4111111111111111").found, vec![Kind::CardNumber]);
    }

    #[test]
    fn phone_numbers_japanese_formats() {
        for phone in [
            "03-1234-5678",
            "045-123-4567",
            "0466-12-3456",
            "01267-1-2345",
            "090-1234-5678",
            "070-1234-5678",
            "080 1234 5678",
            "08012345678",
            "0312345678",
            "03(1234)5678",
            "(03)1234-5678",
            "03 - 1234 - 5678",
            "0120-123-456",
            "0570-123-456",
            "0800-123-4567",
            "050-1234-5678",
        ] {
            check(&format!("電話は{phone}です"), &format!("電話は{TEL}です"));
        }
        assert_eq!(mask("090-1234-5678").found, vec![Kind::Phone]);
    }

    #[test]
    fn phone_numbers_full_width_and_long_vowel_hyphens() {
        check("０９０－１２３４－５６７８", TEL);
        check("０３ー１２３４ー５６７８に電話", &format!("{TEL}に電話"));
        check("０３（１２３４）５６７８", TEL);
        check("０９０１２３４５６７８", TEL);
    }

    #[test]
    fn phone_numbers_international() {
        check("+81-90-1234-5678", TEL);
        check("+81 3 1234 5678 まで", &format!("{TEL} まで"));
        check("+819012345678", TEL);
        check("＋８１　９０　１２３４　５６７８", TEL);
        check("+81(0)3-1234-5678", TEL);
    }

    #[test]
    fn toll_free_numbers_are_masked_too() {
        check(
            "0120-95-0178はどこの番号ですか",
            &format!("{TEL}はどこの番号ですか"),
        );
        check("0570-000-123", TEL);
    }

    #[test]
    fn dates_money_years_and_counts_are_kept() {
        for text in [
            "2026-11-23に届きます",
            "2026/11/23",
            "2026.11.23",
            "令和8年11月23日",
            "令和6年度の申請",
            "手数料は10,000円です",
            "住民票の写しは300円です",
            "100円",
            "2024年",
            "14日以内に届け出てください",
            "0歳から2歳まで",
            "受付は9:00-17:00です",
            "2026-11-23 10:00",
            "03-1234",
            "0120-123",
            "110番と119番",
            "123-4567",
            "第1234号",
            "1,234,567,890円",
            "0.123456789012",
        ] {
            unchanged(text);
        }
    }

    #[test]
    fn ordinary_faq_questions_are_kept() {
        for text in [
            "マイナンバーカードの暗証番号を忘れました",
            "住民票の写しは300円です",
            "転出届は引っ越しの14日前から出せますか",
            "児童手当は0歳から中学生までですか",
            "マイナンバーカードの有効期限は10回目の誕生日までですか",
            "印鑑登録証明書を取るには何が必要ですか？",
            "e-Taxで確定申告できますか",
            "平日8時30分から17時15分まで受け付けています",
        ] {
            unchanged(text);
        }
    }

    #[test]
    fn emails_half_and_full_width() {
        check(
            "連絡先はtaro.yamada+faq@example.co.jpです",
            &format!("連絡先は{MAIL}です"),
        );
        check("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", MAIL);
        check("a_b-c@mail.example.com。", &format!("{MAIL}。"));
        unchanged("@マークの入力方法");
        unchanged("user@localhost");
        assert_eq!(mask("x@example.jp").found, vec![Kind::Email]);
    }

    #[test]
    fn postal_codes() {
        check("〒123-4567", POST);
        check("〒1234567 東京都", &format!("{POST} 東京都"));
        check("〒 100-8916", POST);
        check("〒１００－８９１６", POST);
        check("郵便番号123-4567", &format!("郵便番号{POST}"));
        check(
            "郵便番号：１２３－４５６７です",
            &format!("郵便番号：{POST}です"),
        );
        check("郵便番号は1234567", &format!("郵便番号は{POST}"));
        // Without 〒 or 郵便番号, 123-4567 is just a number.
        unchanged("整理番号123-4567");
        assert_eq!(mask("〒123-4567").found, vec![Kind::PostalCode]);
    }

    #[test]
    fn addresses() {
        check("東京都千代田区霞が関1-2-3", ADDR);
        check("大阪市北区梅田一丁目2番3号", ADDR);
        check("架空市本町3丁目5-8 ○○マンション101号室", ADDR);
        check(
            "住所は東京都千代田区霞が関１－２－３です。",
            &format!("住所は{ADDR}です。"),
        );
        check(
            "北海道架空郡架空町字本町123番地に住んでいます",
            &format!("{ADDR}に住んでいます"),
        );
        check("埼玉県さいたま市浦和区高砂3-15-1", ADDR);
        check("千代田区丸の内1-1-1 ABCビル5階", ADDR);
        check("東京都千代田区丸の内一丁目", ADDR);
        check("住所大阪市北区梅田1-2-3", &format!("住所{ADDR}"));
        check("神奈川県横浜市中区本町6丁目50番地の1", ADDR);
        assert_eq!(mask("東京都千代田区霞が関1-2-3").found, vec![Kind::Address]);
    }

    #[test]
    fn building_and_room_only_when_they_directly_follow() {
        check("東京都千代田区1-2-3 405号室", ADDR);
        check("大阪市北区梅田1-2-3梅田ハイツ", ADDR);
        check("東京都千代田区1-2-3在住です", &format!("{ADDR}在住です"));
        check(
            "東京都千代田区1-2-3 山田 090-1234-5678",
            &format!("{ADDR} 山田 {TEL}"),
        );
        check("東京都1丁目東京都2丁目", &format!("{ADDR}{ADDR}"));
        check("大阪市北区06-1234-5678", &format!("大阪市北区{TEL}"));
    }

    #[test]
    fn every_prefecture_anchors_an_address() {
        assert_eq!(PREFECTURES.len(), 47);
        for prefecture in PREFECTURES {
            check(&format!("{prefecture}架空町1-2-3"), ADDR);
            check(
                &format!("「{prefecture}架空町一丁目2番3号」"),
                &format!("「{ADDR}」"),
            );
        }
    }

    #[test]
    fn place_names_without_numbers_are_kept() {
        for text in [
            "尼崎市の図書館",
            "東京都に住んでいます",
            "千代田区役所",
            "千代田区役所の3番窓口",
            "千代田区役所3番窓口",
            "大阪府から東京都に引っ越しました",
            "東京都で3-4歳の子どもがいます",
            "大阪市では1-2か月かかります",
            "横浜市民税の1-2月分",
            "東京都23区",
            "東京都の2024年度予算",
            "国道1号",
            "札幌市の人口は約196万人です",
            "千代田区の1-2丁目",
            "大阪市北区の3-5番",
            "東京都千代田区一番町",
            "港区麻布十番",
        ] {
            unchanged(text);
        }
    }

    #[test]
    fn mixed_text_lists_kinds_in_order_of_appearance() {
        let input = "山田です。〒100-8916 東京都千代田区霞が関1-2-2に住んでいます。\
                     電話は090-1234-5678、メールはtaro@example.jp、\
                     マイナンバーは1234 5678 9012、カードは4111-1111-1111-1111です。";
        let masked = mask(input);
        assert_eq!(
            masked.text,
            format!(
                "山田です。{POST} {ADDR}に住んでいます。電話は{TEL}、メールは{MAIL}、\
                 マイナンバーは{MY}、カードは{CARD}です。"
            )
        );
        assert_eq!(
            masked.found,
            vec![
                Kind::PostalCode,
                Kind::Address,
                Kind::Phone,
                Kind::Email,
                Kind::MyNumber,
                Kind::CardNumber,
            ]
        );
        assert_eq!(mask(&masked.text).text, masked.text);
    }

    #[test]
    fn several_items_in_one_number_chunk_are_split_at_spaces() {
        check("1234 5678 9012 090 1234 5678", &format!("{MY} {TEL}"));
        check("質問1 090 1234 5678", &format!("質問1 {TEL}"));
        check(
            "東京都千代田区霞が関1-2-3 03-1234-5678",
            &format!("{ADDR} {TEL}"),
        );
    }

    #[test]
    fn found_follows_text_order_not_kind_order() {
        let found = mask("a@example.jp 090-1234-5678 a@example.jp 123456789012").found;
        assert_eq!(
            found,
            vec![Kind::Email, Kind::Phone, Kind::Email, Kind::MyNumber]
        );
    }

    #[test]
    fn existing_placeholders_are_not_masked_again() {
        let text = format!("{TEL}と{MY}と{ADDR}と{MAIL}と{CARD}と{POST}");
        unchanged(&text);
        let masked = mask(&format!("{TEL} 090-1234-5678"));
        assert_eq!(masked.text, format!("{TEL} {TEL}"));
        assert_eq!(masked.found, vec![Kind::Phone]);
    }

    #[test]
    fn idempotent_on_examples() {
        for input in [
            "東京都千代田区霞が関1-2-3 ○○マンション101号室 03-1234-5678",
            "〒〒123-4567",
            "郵便番号〒123-4567",
            "user@example.com09012345678",
            "09012345678a@b.jp",
            "1234-5678-9012 1234 5678 9012 3456",
            "+81-90-1234-5678+81-90-1234-5678",
        ] {
            let once = mask(input);
            let twice = mask(&once.text);
            assert_eq!(twice.text, once.text, "{input}");
            assert!(twice.found.is_empty(), "{input}");
        }
    }

    #[test]
    fn rest_of_text_is_kept_exactly() {
        let input = "ＡＢＣ　０９０－１２３４－５６７８\t改行\r\nｶﾀｶﾅ😀 e\u{301} 終";
        assert_eq!(
            mask(input).text,
            format!("ＡＢＣ　{TEL}\t改行\r\nｶﾀｶﾅ😀 e\u{301} 終")
        );
    }

    #[test]
    fn mask_str_matches_mask() {
        let input = "090-1234-5678 と 東京都千代田区霞が関1-2-3";
        assert_eq!(mask_str(input), mask(input).text);
        assert_eq!(mask_str(""), "");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for input in [
            "",
            "\0",
            "\u{7}\u{1b}[31m090-1234-5678\u{1b}[0m",
            "\u{FEFF}\u{200B}\u{FFFC}\u{FFFD}",
            "0\u{301}3-1234-5678",
            "〒",
            "郵便番号",
            "+",
            "(",
            "@",
            "ー1ー",
            "東京都",
            "1-",
            "-1",
            "番地の",
            "\u{10FFFF}",
        ] {
            let once = mask(input);
            assert_eq!(mask(&once.text).text, once.text, "{input:?}");
        }
        assert_eq!(mask("").found, Vec::<Kind>::new());
    }

    #[test]
    fn large_input_is_handled() {
        let unit = "電話090-1234-5678、東京都千代田区霞が関1-2-3、1 2 3 4 5、";
        let input = unit.repeat(10_000 / unit.chars().count() + 1);
        let masked = mask(&input);
        assert_eq!(masked.found.len(), 2 * (10_000 / unit.chars().count() + 1));
        assert_eq!(mask(&masked.text).text, masked.text);
        let digits = "1".repeat(10_000);
        unchanged(&digits);
        let groups = "1 ".repeat(5_000);
        unchanged(&groups);
        let han = "区".repeat(5_000) + "1-2-3";
        let _ = mask(&han);
    }

    /// Deterministic pseudo-random generator (64-bit LCG), so no extra crate is needed.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn generated_strings_never_panic_and_mask_idempotently() {
        const PIECES: &[&str] = &[
            "0",
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
            "7",
            "8",
            "9",
            "０",
            "１",
            "９",
            "-",
            "－",
            "ー",
            "‐",
            " ",
            "　",
            "(",
            ")",
            "（",
            "+",
            "＋",
            ".",
            ",",
            "/",
            ":",
            "@",
            "＠",
            "a",
            "Z",
            "ｊ",
            "〒",
            "郵便番号",
            "東京都",
            "大阪府",
            "北海道",
            "市",
            "区",
            "町",
            "村",
            "郡",
            "千代田",
            "本町",
            "丁目",
            "番地",
            "番",
            "号",
            "号室",
            "の",
            "は",
            "に",
            "一",
            "二",
            "十",
            "〇",
            "歳",
            "円",
            "年",
            "月",
            "日",
            "マンション",
            "ビル",
            "○",
            "\n",
            "\t",
            "\0",
            "\u{301}",
            "\u{FFFC}",
            "😀",
            "090",
            "1234",
            "5678",
            "03",
            "+81",
            "example",
            ".jp",
            "0120",
            "［住所］",
            "［電話番号］",
            "［",
            "］",
            "住所",
            "役所",
            "窓口",
        ];
        let mut rng = Lcg(0x5eed_1234_abcd_0042);
        for round in 0..600 {
            let len = rng.below(40);
            let mut input = String::new();
            for _ in 0..len {
                input.push_str(PIECES[rng.below(PIECES.len())]);
            }
            let once = mask(&input);
            let twice = mask(&once.text);
            assert_eq!(twice.text, once.text, "round {round}: {input:?}");
            assert!(twice.found.is_empty(), "round {round}: {input:?}");
            let placeholders: usize = Kind::ALL
                .iter()
                .map(|kind| {
                    once.text.matches(kind.placeholder()).count()
                        - input.matches(kind.placeholder()).count()
                })
                .sum();
            assert_eq!(placeholders, once.found.len(), "round {round}: {input:?}");
        }
    }
}
