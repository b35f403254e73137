//! Japanese words written in Latin letters, as residents who write in another language name the
//! offices and papers they deal with: "juminhyo", "tennyu todoke", "kokumin kenko hoken",
//! "konbini". A word is read into kana ([`kana`]) and compared with the readings of the FAQ's words
//! by a loose key ([`loose`]) that forgets what romanisations disagree on: long vowels
//! (juminhyo, juuminhyou and jūminhyō are one word), and Hepburn, Kunrei and IME spellings
//! (shi/si, chi/ti, tsu/tu, fu/hu, ji/zi, sha/sya). A word that is not made of Japanese
//! syllables (most English, Portuguese or Vietnamese words: "the", "card", "preciso") reads as
//! nothing.

/// The hiragana a word in Latin letters spells, or `None` when it is not made of Japanese
/// syllables. Letters with macrons or circumflexes (ū, ô) are read as long vowels; case is
/// ignored; a hyphen or apostrophe (`kan'i`) only separates syllables.
pub fn kana(word: &str) -> Option<String> {
    let mut letters: Vec<char> = Vec::with_capacity(word.len());
    for c in word.chars() {
        match c.to_ascii_lowercase() {
            c @ 'a'..='z' => letters.push(c),
            'ā' | 'â' | 'Ā' | 'Â' => letters.extend(['a', 'a']),
            'ī' | 'î' | 'Ī' | 'Î' => letters.extend(['i', 'i']),
            'ū' | 'û' | 'Ū' | 'Û' => letters.extend(['u', 'u']),
            'ē' | 'ê' | 'Ē' | 'Ê' => letters.extend(['e', 'e']),
            'ō' | 'ô' | 'Ō' | 'Ô' => letters.extend(['o', 'u']),
            '\'' | '-' | '’' => letters.push('\''),
            _ => return None,
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i < letters.len() {
        let rest = &letters[i..];
        let c = rest[0];
        if c == '\'' {
            i += 1;
            continue;
        }
        if let Some(v) = vowel_kana(c) {
            out.push(v);
            i += 1;
            continue;
        }
        let next = rest.get(1).copied();
        // ん: n (or m before b, m, p) not followed by a vowel or y; "nn" before a vowel is ん
        // and the second n starts the next syllable (tennyu: て・ん・にゅ).
        if c == 'n' || (c == 'm' && matches!(next, Some('b' | 'm' | 'p'))) {
            let syllable_follows = next.is_some_and(|n| is_vowel(n) || n == 'y');
            if c == 'm' || !syllable_follows {
                if out.is_empty() {
                    return None; // no Japanese word starts with ん ("nhu", "mba")
                }
                out.push('ん');
                i += if c == 'n'
                    && next == Some('n')
                    && !rest.get(2).is_some_and(|&n| is_vowel(n) || n == 'y')
                {
                    2
                } else {
                    1
                };
                continue;
            }
        }
        // っ: a doubled consonant (kitte), or t before ch (matcha).
        if next == Some(c) && c != 'n' && !is_vowel(c) || (c == 't' && next == Some('c')) {
            out.push('っ');
            i += 1;
            continue;
        }
        let (kana, used) = syllable(rest)?;
        out.push_str(kana);
        i += used;
    }
    (!out.is_empty()).then_some(out)
}

/// The key two spellings of one word share: hiragana without long vowels (a vowel kana after a
/// kana of the same vowel, う after an o-row kana, ー) and without っ.
pub fn loose(kana: &str) -> String {
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in kana.chars() {
        if c == 'ー' || c == 'っ' {
            continue;
        }
        let long = match (previous, c) {
            (Some(p), 'う') => p == 'u' || p == 'o',
            (Some(p), 'あ') => p == 'a',
            (Some(p), 'い') => p == 'i',
            (Some(p), 'え') => p == 'e',
            (Some(p), 'お') => p == 'o',
            _ => false,
        };
        if long {
            continue;
        }
        out.push(c);
        previous = vowel_of(c);
    }
    out
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'i' | 'u' | 'e' | 'o')
}

fn vowel_kana(c: char) -> Option<char> {
    Some(match c {
        'a' => 'あ',
        'i' => 'い',
        'u' => 'う',
        'e' => 'え',
        'o' => 'お',
        _ => return None,
    })
}

/// The vowel a hiragana ends in (small ゃゅょ included); `None` for ん, っ and anything else.
fn vowel_of(c: char) -> Option<char> {
    const ROWS: [(&str, char); 5] = [
        ("あかがさざただなはばぱまやらわゃぁ", 'a'),
        ("いきぎしじちぢにひびぴみりぃ", 'i'),
        ("うくぐすずつづぬふぶぷむゆるゅぅ", 'u'),
        ("えけげせぜてでねへべぺめれぇ", 'e'),
        ("おこごそぞとどのほぼぽもよろをょぉ", 'o'),
    ];
    ROWS.iter()
        .find(|(row, _)| row.contains(c))
        .map(|&(_, v)| v)
}

/// The kana of the consonant-led syllable at the start of `s`, and the letters it used.
fn syllable(s: &[char]) -> Option<(&'static str, usize)> {
    // Consonant clusters, longest first, each with its kana before a, i, u, e, o ("" where none).
    const TABLE: &[(&str, [&str; 5])] = &[
        ("sh", ["しゃ", "し", "しゅ", "しぇ", "しょ"]),
        ("ch", ["ちゃ", "ち", "ちゅ", "ちぇ", "ちょ"]),
        ("ts", ["", "", "つ", "", ""]),
        ("ky", ["きゃ", "", "きゅ", "", "きょ"]),
        ("gy", ["ぎゃ", "", "ぎゅ", "", "ぎょ"]),
        ("sy", ["しゃ", "", "しゅ", "", "しょ"]),
        ("zy", ["じゃ", "", "じゅ", "", "じょ"]),
        ("jy", ["じゃ", "", "じゅ", "", "じょ"]),
        ("ty", ["ちゃ", "", "ちゅ", "", "ちょ"]),
        ("cy", ["ちゃ", "", "ちゅ", "", "ちょ"]),
        ("dy", ["ぢゃ", "", "ぢゅ", "", "ぢょ"]),
        ("ny", ["にゃ", "", "にゅ", "", "にょ"]),
        ("hy", ["ひゃ", "", "ひゅ", "", "ひょ"]),
        ("by", ["びゃ", "", "びゅ", "", "びょ"]),
        ("py", ["ぴゃ", "", "ぴゅ", "", "ぴょ"]),
        ("my", ["みゃ", "", "みゅ", "", "みょ"]),
        ("ry", ["りゃ", "", "りゅ", "", "りょ"]),
        ("k", ["か", "き", "く", "け", "こ"]),
        ("g", ["が", "ぎ", "ぐ", "げ", "ご"]),
        ("s", ["さ", "し", "す", "せ", "そ"]),
        ("z", ["ざ", "じ", "ず", "ぜ", "ぞ"]),
        ("j", ["じゃ", "じ", "じゅ", "じぇ", "じょ"]),
        ("t", ["た", "ち", "つ", "て", "と"]),
        ("d", ["だ", "ぢ", "づ", "で", "ど"]),
        ("n", ["な", "に", "ぬ", "ね", "の"]),
        ("h", ["は", "ひ", "ふ", "へ", "ほ"]),
        ("f", ["ふぁ", "ふぃ", "ふ", "ふぇ", "ふぉ"]),
        ("b", ["ば", "び", "ぶ", "べ", "ぼ"]),
        ("p", ["ぱ", "ぴ", "ぷ", "ぺ", "ぽ"]),
        ("m", ["ま", "み", "む", "め", "も"]),
        ("y", ["や", "", "ゆ", "", "よ"]),
        ("r", ["ら", "り", "る", "れ", "ろ"]),
        ("w", ["わ", "", "", "", "を"]),
        ("v", ["ゔぁ", "ゔぃ", "ゔ", "ゔぇ", "ゔぉ"]),
    ];
    for &(cluster, kana) in TABLE {
        let n = cluster.chars().count();
        if s.len() <= n || !s.iter().zip(cluster.chars()).all(|(a, b)| *a == b) {
            continue;
        }
        let column = match s[n] {
            'a' => 0,
            'i' => 1,
            'u' => 2,
            'e' => 3,
            'o' => 4,
            _ => continue,
        };
        return Some((kana[column], n + 1)).filter(|(k, _)| !k.is_empty());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(word: &str) -> Option<String> {
        kana(word).map(|k| loose(&k))
    }

    #[test]
    fn romanisations_of_one_word_share_a_key() {
        // じゅうみんひょう, as the dictionary reads 住民票.
        let reading = loose("じゅうみんひょう");
        for spelling in [
            "juminhyo",
            "juuminhyou",
            "jūminhyō",
            "Juminhyou",
            "zyuuminhyou",
        ] {
            assert_eq!(
                key(spelling).as_deref(),
                Some(reading.as_str()),
                "{spelling}"
            );
        }
        assert_eq!(key("tennyu").unwrap(), loose("てんにゅう"));
        assert_eq!(key("jidou").unwrap(), loose("じどう"));
        assert_eq!(key("jido").unwrap(), loose("じどう"));
        assert_eq!(key("kenko").unwrap(), loose("けんこう"));
        assert_eq!(key("konbini").unwrap(), loose("こんびに"));
        assert_eq!(key("shimbun").unwrap(), loose("しんぶん"));
        assert_eq!(key("kitte").unwrap(), loose("きって"));
        assert_eq!(key("tsuchi").unwrap(), key("tuti").unwrap());
        assert_eq!(key("shiyakusho").unwrap(), loose("しやくしょ"));
        assert_eq!(key("kan'i").unwrap(), loose("かんい"));
    }

    #[test]
    fn words_of_other_languages_read_as_nothing() {
        for word in [
            "the", "card", "preciso", "thu", "nhu", "lam", "how", "my", "x",
        ] {
            assert_eq!(kana(word), None, "{word}");
        }
    }

    #[test]
    fn syllables_are_read_as_an_ime_reads_them() {
        assert_eq!(kana("tennyu").unwrap(), "てんにゅ");
        assert_eq!(kana("kan'i").unwrap(), "かんい");
        assert_eq!(kana("kani").unwrap(), "かに");
        assert_eq!(kana("matcha").unwrap(), "まっちゃ");
        assert_eq!(kana("hoken").unwrap(), "ほけん");
        assert_eq!(kana("shakai").unwrap(), "しゃかい");
    }
}
