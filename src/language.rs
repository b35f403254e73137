//! The language a resident wrote in, told from the text alone (no model): which scripts its
//! letters are in, then, for the Latin script, which language's small words and letters it uses.
//!
//! The FAQ is Japanese. A question in another language cannot be matched word for word, so the
//! search relies on the semantic leg for it ([`crate::retrieve`]) and the reply says which
//! language was detected (`query_language`), for the widget to speak it.
//!
//! The rules favour Japanese when in doubt: a question written only in kanji
//! (「住民票 取得方法」) is Japanese unless it has a character that Japanese does not use
//! (simplified forms such as 么, 们, 证, or Chinese function words such as 吗, 您); a Latin
//! question that none of the languages' word lists recognises is [`Language::Other`], and
//! romanized Japanese (「juminhyo doko」) is one of those.

use serde::Serialize;

/// A language madoguchi tells apart. Its code is the BCP 47 tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Language {
    /// Japanese.
    #[serde(rename = "ja")]
    Japanese,
    /// English.
    #[serde(rename = "en")]
    English,
    /// Chinese (simplified or traditional).
    #[serde(rename = "zh")]
    Chinese,
    /// Korean.
    #[serde(rename = "ko")]
    Korean,
    /// Vietnamese.
    #[serde(rename = "vi")]
    Vietnamese,
    /// Portuguese.
    #[serde(rename = "pt")]
    Portuguese,
    /// Tagalog (Filipino).
    #[serde(rename = "tl")]
    Tagalog,
    /// Nepali (Devanagari).
    #[serde(rename = "ne")]
    Nepali,
    /// Text in some other language or script, or too little text to tell.
    #[serde(rename = "und")]
    Other,
}

impl Language {
    /// Every language, in the order reports list them.
    pub const ALL: [Language; 9] = [
        Language::Japanese,
        Language::English,
        Language::Chinese,
        Language::Korean,
        Language::Vietnamese,
        Language::Portuguese,
        Language::Tagalog,
        Language::Nepali,
        Language::Other,
    ];

    /// The BCP 47 tag (`und` for [`Language::Other`]).
    pub fn code(self) -> &'static str {
        match self {
            Language::Japanese => "ja",
            Language::English => "en",
            Language::Chinese => "zh",
            Language::Korean => "ko",
            Language::Vietnamese => "vi",
            Language::Portuguese => "pt",
            Language::Tagalog => "tl",
            Language::Nepali => "ne",
            Language::Other => "und",
        }
    }

    /// Whether the text is Japanese, the language the FAQ is written in.
    pub fn is_japanese(self) -> bool {
        self == Language::Japanese
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Characters that a Chinese question uses and a Japanese one does not: simplified forms whose
/// Japanese counterpart differs (证/証, 险/険, 儿/児…) and Chinese function words (吗, 您, 们…),
/// also in their traditional forms.
const CHINESE_ONLY: &str = "么们这个吗呢您哪吧怎办证码险领费续请问该给还帮页网户报时间应买卖补发过关经疗儿产养县务员电话邮银东车门觉让开钱谁为麼這們嗎會說讓";

/// Letters only Vietnamese uses among the Latin languages here (ă, đ, ơ, ư and the tone marks
/// that sit below or hook above a vowel).
const VIETNAMESE_LETTERS: &str = "ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ";

/// Small words of each Latin-script language, lower case and without accents where residents
/// often leave them out (nao, voce).
const WORDS: &[(Language, &[&str])] = &[
    (
        Language::English,
        &[
            "the", "how", "what", "where", "when", "which", "who", "why", "can", "could", "do",
            "does", "did", "i", "my", "me", "is", "are", "to", "a", "an", "for", "of", "get",
            "need", "should", "if", "and", "or", "in", "on", "at", "with", "it", "have", "has",
            "there", "please", "much", "apply", "card", "tax", "child", "help", "want", "about",
            "from", "after", "before", "lost", "long", "will", "be", "this", "that", "not",
        ],
    ),
    (
        Language::Portuguese,
        &[
            "como", "onde", "que", "para", "nao", "não", "posso", "preciso", "meu", "minha", "de",
            "do", "da", "dos", "das", "é", "e", "fazer", "tirar", "quando", "quanto", "qual",
            "quais", "eu", "um", "uma", "com", "no", "na", "se", "por", "voce", "você", "pagar",
            "filho", "filha", "cartao", "cartão", "meus", "minhas", "tem", "tenho", "ja", "já",
            "ou", "sobre", "depois", "antes", "mudar", "mudei", "perdi", "ainda",
        ],
    ),
    (
        Language::Tagalog,
        &[
            "paano",
            "saan",
            "ang",
            "ng",
            "mga",
            "ko",
            "po",
            "ba",
            "kailan",
            "magkano",
            "sa",
            "akin",
            "ako",
            "na",
            "kung",
            "pwede",
            "puwede",
            "kumuha",
            "anak",
            "ano",
            "ito",
            "may",
            "wala",
            "nang",
            "lang",
            "din",
            "rin",
            "natin",
            "namin",
            "siya",
            "kailangan",
            "gusto",
            "para",
            "yung",
            "iyong",
            "aking",
            "nawala",
            "lumipat",
            "magbayad",
            "dito",
            "kapag",
            "pag",
            "hindi",
            "opo",
            "ninyo",
            "nyo",
            "si",
            "ni",
            "kay",
            "o",
        ],
    ),
    (
        Language::Vietnamese,
        &[
            "toi", "tôi", "cua", "của", "khong", "không", "lam", "làm", "the", "thế", "nao", "nào",
            "o", "ở", "dau", "đâu", "duoc", "được", "can", "cần", "gi", "gì", "la", "là", "co",
            "có", "cho", "va", "và", "bao", "nhieu", "nhiêu", "khi", "phai", "phải", "con", "thi",
            "thì", "nhu", "như", "di", "đi", "lai", "lại", "xin", "the nao", "nhat", "nhật", "ban",
            "bạn", "chua", "chưa", "mat", "mất", "nop", "nộp",
        ],
    ),
];

/// The language of `text`.
pub fn detect(text: &str) -> Language {
    let mut kana = 0usize;
    let mut hiragana = 0usize;
    let mut han = 0usize;
    let mut hangul = 0usize;
    let mut devanagari = 0usize;
    let mut latin = 0usize;
    let mut chinese_only = false;
    let mut vietnamese_letter = false;
    for c in text.chars() {
        match c {
            '\u{3041}'..='\u{309F}' => {
                kana += 1;
                hiragana += 1;
            }
            '\u{30A1}'..='\u{30FA}' | '\u{FF66}'..='\u{FF9D}' => kana += 1,
            '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' => {
                han += 1;
                chinese_only |= CHINESE_ONLY.contains(c);
            }
            '\u{AC00}'..='\u{D7AF}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' => {
                hangul += 1
            }
            '\u{0900}'..='\u{097F}' => devanagari += 1,
            c if c.is_alphabetic()
                && (c.is_ascii()
                    || ('\u{00C0}'..='\u{024F}').contains(&c)
                    || ('\u{1E00}'..='\u{1EFF}').contains(&c)
                    || ('\u{FF21}'..='\u{FF5A}').contains(&c)) =>
            {
                latin += 1;
                let lower = c.to_lowercase().next().unwrap_or(c);
                vietnamese_letter |= VIETNAMESE_LETTERS.contains(lower);
            }
            _ => {}
        }
    }
    let letters = kana + han + hangul + devanagari + latin;
    if letters == 0 {
        return Language::Other;
    }
    // The script of at least 30 % of the letters decides, so that a Japanese word in an
    // English question (マイナンバー) or a Latin one in a Japanese question (e-Tax) does not.
    let share = |n: usize| n as f32 / letters as f32;
    if share(hangul) >= 0.3 {
        return Language::Korean;
    }
    if share(devanagari) >= 0.3 {
        return Language::Nepali;
    }
    // Hiragana is Japanese; katakana alone is not (a Chinese question may write マイナンバー
    // as residents see it on forms).
    if hiragana > 0 && share(kana + han) >= 0.3 {
        return Language::Japanese;
    }
    if share(han) >= 0.3 {
        return if chinese_only {
            Language::Chinese
        } else {
            Language::Japanese
        };
    }
    if share(latin) < 0.5 {
        // Mostly kana with a few Latin letters, or nothing we know.
        return if kana + han > 0 {
            Language::Japanese
        } else {
            Language::Other
        };
    }
    if vietnamese_letter {
        return Language::Vietnamese;
    }
    match latin_by_words(text) {
        // A brand or an abbreviation with Japanese words (Amazon 返品).
        Language::Other if kana + han > 0 => Language::Japanese,
        lang => lang,
    }
}

/// The Latin-script language whose small words the text uses most; [`Language::Other`] when
/// none is used.
fn latin_by_words(text: &str) -> Language {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    let mut best = (0usize, Language::Other);
    for (lang, list) in WORDS {
        let n = words.iter().filter(|w| list.contains(w)).count();
        // A cedilla or a tilde vowel is Portuguese.
        let bonus =
            usize::from(*lang == Language::Portuguese && lower.contains(['ç', 'ã', 'õ'])) * 2;
        if n + bonus > best.0 {
            best = (n + bonus, *lang);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use Language::*;

    #[test]
    fn residents_questions_in_each_language() {
        let cases = [
            ("児童手当はいつ振り込まれますか", Japanese),
            ("住民票 取得方法", Japanese),
            ("印鑑登録　必要書類", Japanese),
            ("ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞ なくした", Japanese),
            ("マイナンバーカード", Japanese),
            ("e-Taxで確定申告できますか", Japanese),
            ("My Number card lost, what should I do?", English),
            ("how to get juminhyo", English),
            ("How do I apply for マイナンバー card?", English),
            ("怎么申请个人编号卡？", Chinese),
            ("我想办理住民票，需要带什么？", Chinese),
            ("兒童津貼什麼時候發？", Chinese),
            ("在窗口开一份住民票要多少钱？", Chinese),
            ("マイナンバー卡怎么处理？要还给市役所吗？", Chinese),
            ("Amazon 返品", Japanese),
            ("마이넘버 카드를 잃어버렸어요", Korean),
            ("Tôi bị mất thẻ My Number thì phải làm sao?", Vietnamese),
            ("toi muon lam the my number o dau", Vietnamese),
            ("Como faço para tirar o juminhyo?", Portuguese),
            ("onde posso pagar o imposto", Portuguese),
            ("Paano po kumuha ng My Number card?", Tagalog),
            ("saan ako magbabayad ng buwis", Tagalog),
            ("मेरो माई नम्बर कार्ड हरायो, के गर्ने?", Nepali),
            ("juminhyo", Other),
            ("12345", Other),
            ("", Other),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(text, want)| detect(text) != *want)
            .map(|(text, want)| format!("{text}: {} (want {want})", detect(text)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn codes_are_bcp47_and_serialize_as_such() {
        let codes: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
        assert_eq!(
            codes,
            ["ja", "en", "zh", "ko", "vi", "pt", "tl", "ne", "und"]
        );
        for l in Language::ALL {
            assert_eq!(serde_json::to_value(l).unwrap(), l.code());
        }
    }
}
