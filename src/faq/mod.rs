//! The FAQ model: entries, the national/municipal overlay, and loading a directory of FAQ files.
//!
//! Loading is all-or-nothing: [`load_dir`] either returns a complete, validated [`Corpus`] or an
//! [`Error::Invalid`] listing every problem as `file:line: message`.

mod load;
mod raw;
mod tabular;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use load::{load_dir, load_file, parse_str};
pub(crate) use tabular::decode;

/// The scope value of entries shared by every municipality.
pub const NATIONAL: &str = "national";

/// The user dictionary's file name in the FAQ directory (national: one analyzer serves the whole
/// index, so municipalities cannot have their own). Read by [`crate::analysis`].
pub const USER_DICT_FILE: &str = "userdict.csv";

/// File name reserved for synonym dictionaries inside the FAQ directory (national and in each
/// municipality's directory). Read by [`crate::synonyms`].
pub const SYNONYMS_FILE: &str = "synonyms.csv";

/// One question-and-answer pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique id within its scope; a municipal entry with a national id overrides that entry.
    pub id: String,
    /// The canonical question.
    pub question: String,
    /// Other phrasings residents use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alt_questions: Vec<String>,
    /// The answer: plain text, links as `[label](url)` or bare URLs.
    pub answer: String,
    /// Category path, at most three levels (大分類/中分類/小分類).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<String>,
    /// Keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Official page the answer is based on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Date of the last check, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// `national` or a 6-digit municipality code.
    pub scope: String,
    /// Office to contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    /// In a municipality's files: hide the national entry with the same id there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

/// The office a resident can contact about an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Name of the office.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    /// Telephone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Web page of the office.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Entry {
    /// The category path joined with ` > `, as shown to people.
    pub fn category_path(&self) -> String {
        self.category.join(" > ")
    }

    /// Whether the entry belongs to the shared national layer.
    pub fn is_national(&self) -> bool {
        self.scope == NATIONAL
    }
}

/// A problem found while loading FAQ files, located by file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line (0 when the problem concerns the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// Errors from loading FAQ files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The FAQ directory could not be read.
    #[error("cannot read FAQ directory {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// One or more files are invalid; nothing was loaded.
    #[error("{} problem(s) in the FAQ files; nothing was loaded:\n{}", .0.len(), ProblemList(.0))]
    Invalid(Vec<Problem>),
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A validated set of entries: the national layer plus each municipality's layer.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Every entry, national and municipal, hidden markers included, sorted by (scope, id).
    pub entries: Vec<Entry>,
}

impl Corpus {
    /// Builds a corpus from entries that are already validated (ids unique per scope).
    pub fn new(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(|a, b| (&a.scope, &a.id).cmp(&(&b.scope, &b.id)));
        Corpus { entries }
    }

    /// Municipality codes that have a layer of their own.
    pub fn municipalities(&self) -> BTreeSet<String> {
        self.entries
            .iter()
            .filter(|e| !e.is_national())
            .map(|e| e.scope.clone())
            .collect()
    }

    /// For each national id, the municipalities that override or hide it.
    pub fn overlaid(&self) -> BTreeMap<&str, Vec<&str>> {
        let national: BTreeSet<&str> = self
            .entries
            .iter()
            .filter(|e| e.is_national())
            .map(|e| e.id.as_str())
            .collect();
        let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for e in self.entries.iter().filter(|e| !e.is_national()) {
            if national.contains(e.id.as_str()) {
                map.entry(e.id.as_str()).or_default().push(e.scope.as_str());
            }
        }
        map
    }

    /// The entries a resident of `municipality` sees (national ones when `None`), by id.
    pub fn visible(&self, municipality: Option<&str>) -> Vec<&Entry> {
        let overlaid = self.overlaid();
        self.entries
            .iter()
            .filter(|e| !e.hidden)
            .filter(|e| match municipality {
                None => e.is_national(),
                Some(m) if e.is_national() => !overlaid
                    .get(e.id.as_str())
                    .is_some_and(|ms| ms.contains(&m)),
                Some(m) => e.scope == m,
            })
            .collect()
    }

    /// Looks an entry up as `municipality` sees it.
    pub fn get(&self, id: &str, municipality: Option<&str>) -> Option<&Entry> {
        self.visible(municipality).into_iter().find(|e| e.id == id)
    }
}

/// Whether `s` is a valid municipality code (6 digits, the local government code with its check digit).
pub fn is_municipality_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(id: &str, scope: &str, q: &str) -> Entry {
        Entry {
            id: id.into(),
            question: q.into(),
            alt_questions: vec![],
            answer: format!("{q}の答え"),
            category: vec![],
            tags: vec![],
            source_url: None,
            updated: None,
            scope: scope.into(),
            contact: None,
            hidden: false,
        }
    }

    #[test]
    fn overlay_overrides_and_hides_per_municipality() {
        let mut hidden = entry("b", "999001", "");
        hidden.hidden = true;
        let corpus = Corpus::new(vec![
            entry("a", NATIONAL, "国A"),
            entry("b", NATIONAL, "国B"),
            entry("a", "999001", "町A"),
            hidden,
            entry("c", "999002", "市C"),
        ]);
        let ids = |m| {
            corpus
                .visible(m)
                .iter()
                .map(|e| format!("{}:{}", e.scope, e.id))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(None), ["national:a", "national:b"]);
        assert_eq!(ids(Some("999001")), ["999001:a"]);
        assert_eq!(
            ids(Some("999002")),
            ["999002:c", "national:a", "national:b"]
        );
        assert_eq!(corpus.get("a", Some("999001")).unwrap().question, "町A");
        assert!(corpus.get("b", Some("999001")).is_none());
        assert_eq!(
            corpus.municipalities().into_iter().collect::<Vec<_>>(),
            ["999001", "999002"]
        );
    }

    #[test]
    fn problem_lists_file_and_line() {
        let err = Error::Invalid(vec![Problem {
            file: "faq/a.yaml".into(),
            line: 3,
            message: "empty answer".into(),
        }]);
        assert!(err.to_string().contains("faq/a.yaml:3: empty answer"));
    }
}
