//! Japanese words written in Devanagari, as Nepali-speaking residents write the offices and papers
//! they deal with: नेन्किन तेचो (年金手帳), कोन्बिनी (コンビニ), जुमिनह्यो (住民票), माइनम्बर
//! (マイナンバー). A word is spelled out in Latin letters for [`crate::romaji::kana`] to read, with
//! the readings Devanagari leaves open given as alternatives:
//!
//! - the vowel a consonant letter carries when no sign follows it ("inherent a") is dropped at the
//!   end of a word (नेन्किन: nenkin, not nenkina) and kept or dropped inside one, both offered
//!   (जुमिनह्यो needs it dropped: juminhyo; माइनम्बर needs it kept: mainambar);
//! - ज is j or z (Nepali has one letter for both: जुमिन is jumin, जेइ is zei);
//! - a final र, or र before another consonant but य, is the long vowel of an English loanword
//!   (माइनम्बर: マイナンバー) and is dropped (र्य is the ry of りゅ: जाइर्यु, 在留);
//! - a Nepali postposition written onto the word (कोन्बिनीबाट "from the konbini", जुमिनजेइको
//!   "of the juminzei") is taken off.
//!
//! Nothing here knows a Japanese word: [`crate::retrieve`] keeps a spelling only when it reads
//! like one of the FAQ's own words, so a Nepali word (which rarely reads as Japanese at all:
//! most end in a consonant kana cannot end in) adds nothing.

/// The most spellings offered for one word (the most likely first).
const MAX_SPELLINGS: usize = 16;

/// Longer runs of Devanagari are not spelled out: Japanese words written so are short (the
/// longest word of the other-language set's Nepali questions has 11 letters and signs), and a
/// hostile question of one endless word then costs nothing.
const MAX_WORD_CHARS: usize = 40;

/// Nepali postpositions and plural endings written onto a noun, longest first.
const SUFFIXES: &[&str] = &[
    "भन्दा",
    "देखि",
    "सम्म",
    "लाई",
    "बाट",
    "सँग",
    "हरू",
    "हरु",
    "तिर",
    "मा",
    "को",
    "का",
    "की",
    "ले",
    "मै",
    "नै",
];

/// Whether `c` is a letter or sign of the Devanagari block (not its punctuation or digits).
pub fn is_devanagari(c: char) -> bool {
    ('\u{0900}'..='\u{0963}').contains(&c) || ('\u{0971}'..='\u{097F}').contains(&c)
}

/// Latin spellings a word in Devanagari may stand for, the most likely first, for
/// [`crate::romaji::kana`] to read; empty when the word has no Devanagari letter. The word as
/// written comes first, then without a Nepali postposition.
pub fn spellings(word: &str) -> Vec<String> {
    let letters: Vec<char> = word.chars().filter(|c| is_devanagari(*c)).collect();
    if letters.len() > MAX_WORD_CHARS {
        return Vec::new();
    }
    let word: String = letters.iter().collect();
    let stem = SUFFIXES.iter().find_map(|suffix| {
        word.strip_suffix(suffix)
            .filter(|stem| stem.chars().count() >= 2)
            .map(|stem| stem.chars().collect::<Vec<char>>())
    });
    // Half the spellings for the word as written, half for its stem.
    let mut out = stem_spellings(&letters, MAX_SPELLINGS / 2);
    for s in stem.map_or_else(Vec::new, |stem| stem_spellings(&stem, MAX_SPELLINGS / 2)) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// One written unit: a consonant with what follows it, or a vowel on its own.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// A consonant (Latin), with its vowel sign's vowel, or `None`: the inherent a.
    Consonant(&'static str, Option<&'static str>),
    /// A consonant under a virama (no vowel).
    Bare(&'static str),
    /// An independent vowel, or a nasal sign read as n.
    Vowel(&'static str),
}

fn consonant(c: char) -> Option<&'static str> {
    Some(match c {
        'क' | 'ख' => "k",
        'ग' | 'घ' => "g",
        'ङ' | 'ञ' | 'ण' | 'न' => "n",
        'च' | 'छ' => "ch",
        'ज' | 'झ' => "j",
        'ट' | 'ठ' | 'त' | 'थ' => "t",
        'ड' | 'ढ' | 'द' | 'ध' => "d",
        'र' | 'ल' => "r",
        'प' => "p",
        'फ' => "f",
        'ब' | 'भ' => "b",
        'म' => "m",
        'य' => "y",
        'व' => "w",
        'श' | 'ष' => "sh",
        'स' => "s",
        'ह' => "h",
        _ => return None,
    })
}

fn vowel_sign(c: char) -> Option<&'static str> {
    Some(match c {
        'ा' => "aa",
        'ि' => "i",
        'ी' => "ii",
        'ु' => "u",
        'ू' => "uu",
        'ृ' => "ri",
        'े' | 'ॅ' => "e",
        'ै' => "ai",
        'ो' | 'ॉ' => "o",
        'ौ' => "au",
        _ => return None,
    })
}

fn vowel(c: char) -> Option<&'static str> {
    Some(match c {
        'अ' => "a",
        'आ' => "aa",
        'इ' => "i",
        'ई' => "ii",
        'उ' => "u",
        'ऊ' => "uu",
        'ऋ' => "ri",
        'ए' | 'ऍ' => "e",
        'ऐ' => "ai",
        'ओ' | 'ऑ' => "o",
        'औ' => "au",
        // Anusvara: a nasal before the next consonant (कोंबिनी = कोन्बिनी).
        'ं' => "n",
        _ => return None,
    })
}

fn units(letters: &[char]) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < letters.len() {
        let c = letters[i];
        i += 1;
        // A nukta only changes a sound this reading does not tell apart.
        while letters.get(i) == Some(&'\u{093C}') {
            i += 1;
        }
        if let Some(k) = consonant(c) {
            match letters.get(i).copied() {
                Some('्') => {
                    out.push(Unit::Bare(k));
                    i += 1;
                }
                Some(s) if vowel_sign(s).is_some() => {
                    out.push(Unit::Consonant(k, vowel_sign(s)));
                    i += 1;
                }
                _ => out.push(Unit::Consonant(k, None)),
            }
        } else if let Some(v) = vowel(c) {
            out.push(Unit::Vowel(v));
        }
        // Candrabindu, visarga and other signs nasalise or breathe: no sound of their own here.
    }
    out
}

/// Up to `limit` spellings of one stem: each inherent a inside the word kept (first) or
/// dropped, the final one dropped; each ज as j (first) or z.
fn stem_spellings(letters: &[char], limit: usize) -> Vec<String> {
    let units = units(letters);
    if units.is_empty() {
        return Vec::new();
    }
    let last = units.len() - 1;
    // Which units may lose their inherent a: consonants without a sign inside the word, after a
    // vowel and before a consonant (the only place Nepali readers drop it).
    let droppable: Vec<usize> = (0..last)
        .filter(|&i| {
            matches!(units[i], Unit::Consonant(_, None))
                && i > 0
                && !matches!(units[i - 1], Unit::Bare(_))
                && matches!(units[i + 1], Unit::Consonant(..) | Unit::Bare(_))
        })
        .collect();
    let js: Vec<usize> = (0..units.len())
        .filter(|&i| matches!(units[i], Unit::Consonant("j", _) | Unit::Bare("j")))
        .collect();
    // Each choice is one bit of a mask: the inherent a's first, then the ज's; a unit's bit, if
    // it has one.
    let mut drop_bit = vec![None; units.len()];
    for (bit, &i) in droppable.iter().enumerate() {
        drop_bit[i] = Some(bit);
    }
    let mut z_bit = vec![None; units.len()];
    for (bit, &i) in js.iter().enumerate() {
        z_bit[i] = Some(droppable.len() + bit);
    }
    // At most 8 choices vary (256 masks); later ones keep their first reading.
    const VARIED: usize = 8;
    let choices = (droppable.len() + js.len()).min(VARIED);
    let mut out = Vec::new();
    // Fewest changes first: choice sets in order of how many alternatives they take.
    let mut masks: Vec<u32> = (0..(1u32 << choices)).collect();
    masks.sort_by_key(|m| m.count_ones());
    for mask in masks {
        let set = |bit: Option<usize>| bit.is_some_and(|b| b < VARIED && mask & (1 << b) != 0);
        let drop = |i: usize| set(drop_bit[i]);
        let z = |i: usize| set(z_bit[i]);
        let mut s = String::new();
        for (i, u) in units.iter().enumerate() {
            let with_z = |k: &'static str| if z(i) { "z" } else { k };
            match *u {
                Unit::Vowel(v) => s.push_str(v),
                // र before a consonant: the long vowel of a loanword (カード); before य it is
                // the r of りゅ (जाइर्यु: ざいりゅう).
                Unit::Bare("r") if !matches!(units.get(i + 1), Some(Unit::Consonant("y", _))) => {}
                Unit::Bare(k) => s.push_str(with_z(k)),
                Unit::Consonant(k, Some(v)) => {
                    s.push_str(with_z(k));
                    s.push_str(v);
                }
                Unit::Consonant("r", None) if i == last => {}
                Unit::Consonant(k, None) => {
                    s.push_str(with_z(k));
                    if i != last && !drop(i) {
                        s.push('a');
                    }
                }
            }
        }
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
        if out.len() >= limit {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::romaji::{kana, loose};

    /// Whether some spelling of `word` reads as `reading` (compared loosely, as the retriever
    /// compares).
    fn reads_as(word: &str, reading: &str) -> bool {
        let want = loose(reading);
        spellings(word)
            .iter()
            .filter_map(|s| kana(s))
            .any(|k| loose(&k) == want)
    }

    #[test]
    fn japanese_words_in_devanagari_read_as_their_kana() {
        for (word, reading) in [
            ("नेन्किन", "ねんきん"),
            ("तेचो", "てちょう"),
            ("कोन्बिनी", "こんびに"),
            ("कोंबिनी", "こんびに"),
            ("जुमिनह्यो", "じゅうみんひょう"),
            ("माइनम्बर", "まいなんばー"),
            ("तेन्न्यु", "てんにゅう"),
            ("तोदोके", "とどけ"),
            ("होइकुएन", "ほいくえん"),
            ("कोकुहो", "こくほ"),
            ("जिदो", "じどう"),
            ("तेआते", "てあて"),
            ("शोमेइशो", "しょうめいしょ"),
            ("रिसाई", "りさい"),
            ("जाइर्यु", "ざいりゅう"),
        ] {
            assert!(reads_as(word, reading), "{word}: {:?}", spellings(word));
        }
    }

    #[test]
    fn a_postposition_written_onto_the_word_is_taken_off() {
        assert!(reads_as("कोन्बिनीबाट", "こんびに"));
        assert!(reads_as("जुमिनजेइको", "じゅうみんぜい"));
        assert!(reads_as("माइनम्बरको", "まいなんばー"));
        // The word as written is offered first.
        assert_eq!(spellings("कोन्बिनीबाट")[0], "konbiniibaat");
    }

    #[test]
    fn the_likeliest_spelling_comes_first_and_there_are_few() {
        assert_eq!(spellings("नेन्किन")[0], "nenkin");
        assert_eq!(spellings("जुमिनह्यो")[0], "juminahyo");
        assert!(spellings("जुमिनह्यो").contains(&"juminhyo".to_string()));
        assert!(spellings("अन्तर्राष्ट्रियकरणमा").len() <= MAX_SPELLINGS);
        // One endless word (a hostile question) is not spelled out at all.
        assert!(spellings(&"जन".repeat(250)).is_empty());
        assert!(!spellings(&"जन".repeat(20)).is_empty());
        assert!(spellings("hello").is_empty());
        assert!(spellings("").is_empty());
    }
}
