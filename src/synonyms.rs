//! The synonym and 表記ゆれ dictionary: groups of words that mean the same thing to a resident
//! (引っ越し, 転居 / 子供, 子ども, こども / 国保, 国民健康保険), applied to questions at query time
//! with a lower weight than the words the resident actually typed.
//!
//! The file is CSV, one group a line, in UTF-8 (with or without BOM) or Shift_JIS/CP932:
//! `引越し,引っ越し,転居`. `#` starts a comment line; blank lines are ignored. Every member is run
//! through the same analyzer as the FAQ, so a member may be a compound (国民健康保険 matches the
//! terms 国民 健康 保険 in that order). The national file is `faq/synonyms.csv`; a municipality
//! may add `faq/municipalities/<code>/synonyms.csv`, applied only to its residents' questions.
//! Problems are reported as `file:line: message` and reject the whole file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::analysis::Analyzer;

pub use crate::faq::SYNONYMS_FILE as FILE_NAME;

/// Errors from loading a dictionary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file has problems, each `file:line: message`.
    #[error("invalid synonym dictionary:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// One group: each member is the analysed term sequence of one word.
type Group = Vec<Vec<String>>;

/// Synonym groups, national and per municipality.
#[derive(Debug, Clone, Default)]
pub struct Synonyms {
    national: Vec<Group>,
    municipal: HashMap<String, Vec<Group>>,
    /// Where the groups came from, with their content hashes (for fingerprints).
    sources: BTreeMap<String, String>,
}

/// What a question gains from the dictionary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expansion {
    /// Terms to add, each with its share (1 / the number of terms of the member it came from,
    /// summed over members), not counting terms already in the question.
    pub terms: BTreeMap<String, f32>,
    /// For each question term inside a matched member, the terms that stand in for it.
    pub links: HashMap<String, HashSet<String>>,
}

impl Synonyms {
    /// No groups at all.
    pub fn empty() -> Synonyms {
        Synonyms::default()
    }

    /// Loads the national groups from `national` when given (the file must exist), otherwise
    /// from `faq_dir/synonyms.csv` when it exists, and every
    /// `faq_dir/municipalities/<code>/synonyms.csv` that exists. A missing FAQ directory or
    /// file means no groups.
    pub fn load(
        faq_dir: &Path,
        national: Option<&Path>,
        analyzer: &Analyzer,
    ) -> Result<Synonyms, Error> {
        let mut s = Synonyms::default();
        let default = faq_dir.join(FILE_NAME);
        match national {
            Some(file) => s.national = s.load_file(file, analyzer)?,
            None if default.is_file() => s.national = s.load_file(&default, analyzer)?,
            None => {}
        }
        let muni = faq_dir.join("municipalities");
        if muni.is_dir() {
            let dir = std::fs::read_dir(&muni).map_err(|source| Error::Io {
                path: muni.clone(),
                source,
            })?;
            let mut codes: Vec<PathBuf> = dir.filter_map(|d| d.ok().map(|d| d.path())).collect();
            codes.sort();
            for code_dir in codes {
                let file = code_dir.join(FILE_NAME);
                let Some(code) = code_dir.file_name().and_then(|c| c.to_str()) else {
                    continue;
                };
                if file.is_file() {
                    let groups = s.load_file(&file, analyzer)?;
                    s.municipal.insert(code.to_owned(), groups);
                }
            }
        }
        Ok(s)
    }

    /// Parses dictionary text; `name` is used in problem messages.
    pub fn parse(name: &str, text: &str, analyzer: &Analyzer) -> Result<Vec<Group>, Error> {
        let mut problems = Vec::new();
        let mut groups = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |m: String| format!("{name}:{}: {m}", i + 1);
            let mut group: Group = Vec::new();
            let mut seen = HashSet::new();
            for word in line.split(',').map(str::trim) {
                if word.is_empty() {
                    problems.push(at("empty member (two commas in a row?)".into()));
                    continue;
                }
                let terms = analyzer.terms(word);
                if terms.is_empty() {
                    problems.push(at(format!(
                        "'{word}' has no searchable word (only particles or symbols)"
                    )));
                    continue;
                }
                if seen.insert(terms.clone()) {
                    group.push(terms);
                }
            }
            if group.len() < 2 {
                problems.push(at(
                    "a group needs at least two different words, separated by commas".into(),
                ));
                continue;
            }
            groups.push(group);
        }
        if problems.is_empty() {
            Ok(groups)
        } else {
            Err(Error::Invalid(problems))
        }
    }

    fn load_file(&mut self, file: &Path, analyzer: &Analyzer) -> Result<Vec<Group>, Error> {
        let bytes = std::fs::read(file).map_err(|source| Error::Io {
            path: file.to_owned(),
            source,
        })?;
        let name = file.display().to_string();
        // The same decoding as FAQ CSV files: UTF-8 (BOM dropped) or Shift_JIS/CP932.
        let mut problems = Vec::new();
        let Some(text) = crate::faq::decode(file, &bytes, &mut problems) else {
            return Err(Error::Invalid(
                problems.iter().map(ToString::to_string).collect(),
            ));
        };
        let groups = Synonyms::parse(&name, &text, analyzer)?;
        use sha2::Digest;
        self.sources
            .insert(name, crate::index::hex(&sha2::Sha256::digest(&bytes)));
        Ok(groups)
    }

    /// Number of groups, national and municipal.
    pub fn len(&self) -> usize {
        self.national.len() + self.municipal.values().map(Vec::len).sum::<usize>()
    }

    /// True when there is no group.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Files loaded and their SHA-256.
    pub fn sources(&self) -> &BTreeMap<String, String> {
        &self.sources
    }

    /// What the analysed `terms` of a question gain, for a resident of `municipality`.
    pub fn expand(&self, terms: &[String], municipality: Option<&str>) -> Expansion {
        let mut out = Expansion::default();
        let local = municipality.and_then(|m| self.municipal.get(m));
        let present: HashSet<&str> = terms.iter().map(String::as_str).collect();
        for group in self.national.iter().chain(local.into_iter().flatten()) {
            for member in group {
                let n = member.len();
                let starts: Vec<usize> = (0..=terms.len().saturating_sub(n))
                    .filter(|&i| terms.len() >= n && terms[i..i + n] == member[..])
                    .collect();
                if starts.is_empty() {
                    continue;
                }
                for other in group.iter().filter(|o| *o != member) {
                    let share = 1.0 / other.len() as f32;
                    for t in other {
                        if !present.contains(t.as_str()) {
                            *out.terms.entry(t.clone()).or_insert(0.0) += share;
                        }
                        for &i in &starts {
                            for q in &terms[i..i + n] {
                                out.links.entry(q.clone()).or_default().insert(t.clone());
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::analyzer;

    fn dict(text: &str) -> Synonyms {
        let a = analyzer();
        Synonyms {
            national: Synonyms::parse("syn.csv", text, &a).unwrap(),
            ..Synonyms::default()
        }
    }

    #[test]
    fn a_member_in_the_question_adds_the_others() {
        let a = analyzer();
        let s = dict("# 表記ゆれ\n子供,子ども,こども\n国保,国民健康保険\n");
        let e = s.expand(&a.terms("子供の医療費"), None);
        assert!(e.terms.contains_key("子ども"), "{e:?}");
        assert!(!e.terms.contains_key("子供"));
        assert!(e.links["子供"].contains("子ども"));
        // A compound member matches its terms in order, and its share is split.
        let e = s.expand(&a.terms("国民健康保険に入りたい"), None);
        assert_eq!(e.terms.get("国保"), Some(&1.0));
        let e = s.expand(&a.terms("国保の保険料"), None);
        let share = e.terms["健康"];
        assert!((share - 1.0 / 3.0).abs() < 1e-6, "{e:?}");
        // Nothing matches: nothing added.
        assert_eq!(s.expand(&a.terms("天気"), None), Expansion::default());
    }

    #[test]
    fn municipal_groups_apply_only_there() {
        let a = analyzer();
        let mut s = dict("子供,子ども\n");
        s.municipal.insert(
            "999008".into(),
            Synonyms::parse("m.csv", "粗大ごみ,大型ごみ\n", &a).unwrap(),
        );
        let q = a.terms("大型ごみ");
        assert!(s.expand(&q, None).terms.is_empty());
        assert!(s.expand(&q, Some("999016")).terms.is_empty());
        assert!(s.expand(&q, Some("999008")).terms.contains_key("粗大ごみ"));
    }

    #[test]
    fn shift_jis_files_load_and_undecodable_ones_name_the_line() {
        let a = analyzer();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("syn.csv");
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("子供,子ども\n");
        std::fs::write(&file, &sjis).unwrap();
        let s = Synonyms::load(dir.path(), Some(&file), &a).unwrap();
        assert_eq!(s.len(), 1);
        std::fs::write(&file, b"a,b\n\xff\xfe\xfd\n").unwrap();
        let err = Synonyms::load(dir.path(), Some(&file), &a)
            .unwrap_err()
            .to_string();
        assert!(err.contains("syn.csv:2: undecodable bytes"), "{err}");
    }

    #[test]
    fn problems_name_file_and_line() {
        let a = analyzer();
        let err = Synonyms::parse("syn.csv", "子供,子ども\n子供\nごみ,,ゴミ\nの,が\n", &a)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("syn.csv:2: a group needs at least two"),
            "{err}"
        );
        assert!(err.contains("syn.csv:3: empty member"), "{err}");
        assert!(
            err.contains("syn.csv:4: 'の' has no searchable word"),
            "{err}"
        );
        // ゴミ and ごみ analyse to the same term: one member, so line 3 is also too small.
        assert!(err.contains("syn.csv:3: a group needs"), "{err}");
    }
}
