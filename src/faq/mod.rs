//! The FAQ model: entries, the national/municipal overlay, and loading a directory of FAQ files.
//!
//! Loading is all-or-nothing: [`load_dir`] either returns a complete, validated [`Corpus`] or an
//! [`Error::Invalid`] listing every problem as `file:line: message`.

pub mod export;
mod load;
pub mod messages;
mod raw;
pub mod snapshot;
mod tabular;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use load::{load_dir, load_file, load_municipality, parse_str};
pub(crate) use tabular::decode;

/// The scope value of entries shared by every municipality.
pub const NATIONAL: &str = "national";

/// The user dictionary's file name in the FAQ directory (national: one analyzer serves the whole
/// index, so municipalities cannot have their own). Read by [`crate::analysis`].
pub const USER_DICT_FILE: &str = "userdict.csv";

/// The file in `municipalities/<code>/` that declares the municipality: its name and the office a
/// fallback names (see [`Municipality`]).
pub const MUNICIPALITY_FILE: &str = "municipality.yaml";
/// The opening screen for everyone, at the top of the FAQ directory ([`Menu`]).
pub const MENU_FILE: &str = "menu.yaml";

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

/// A municipality the service serves, declared in `municipalities/<code>/municipality.yaml`.
/// The server, the widget and the staff console all read this one declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Municipality {
    /// The 6-digit local government code, check digit included (the folder's name).
    pub code: String,
    /// The name residents know it by (見本町).
    pub name: String,
    /// The office a fallback names when no entry answers (a general counter, not a subject office).
    pub fallback: Contact,
    /// The widget's opening screen for this municipality: its popular questions and pinned
    /// notices (the category order stays the national one).
    #[serde(default, skip_serializing_if = "Menu::is_empty")]
    pub menu: Menu,
}

/// What the resident widget opens with (`faq/menu.yaml` for everyone; `popular` and `notices`
/// in a `municipality.yaml` for one town). See docs/faq-format.md, "The opening screen".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Menu {
    /// 大分類 in the order the menu shows them (`order` of the categories); those not listed
    /// follow in the usual (code point) order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Entry ids shown as よくある質問, in this order. Empty: the entries residents opened most
    /// in the last 30 days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub popular: Vec<String>,
    /// Notices pinned above the questions (a season's 給付金, a closure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
}

/// A notice a town pins to the opening screen, shown from `from` until `until` (both dates
/// inclusive, in the office's time zone; either may be left open).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// One line (at most 100 characters).
    pub title: String,
    /// More text, optional (at most 400 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A page with the details (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// First day shown, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day shown, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl Menu {
    /// Nothing set.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty() && self.popular.is_empty() && self.notices.is_empty()
    }
}

impl Notice {
    /// Whether the notice is shown on `today` (`YYYY-MM-DD`).
    pub fn shown_on(&self, today: &str) -> bool {
        self.from.as_deref().is_none_or(|f| f <= today)
            && self.until.as_deref().is_none_or(|u| today <= u)
    }
}

impl Municipality {
    /// A municipality known only from entries that name it (corpora built in memory by tools and
    /// tests): its code is its name and fallbacks name the configured default office.
    pub fn undeclared(code: &str) -> Municipality {
        Municipality {
            code: code.to_owned(),
            name: code.to_owned(),
            fallback: Contact::default(),
            menu: Menu::default(),
        }
    }
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
    /// The municipalities served, by code: every declared one (with or without entries of its
    /// own) and, in corpora built in memory, every one an entry names.
    pub municipalities: BTreeMap<String, Municipality>,
    /// The opening screen for everyone (`menu.yaml` at the top of the FAQ directory).
    pub menu: Menu,
}

impl Corpus {
    /// Builds a corpus from entries that are already validated (ids unique per scope); the
    /// municipalities are those the entries name, undeclared.
    pub fn new(entries: Vec<Entry>) -> Self {
        Corpus::with_municipalities(entries, Vec::new())
    }

    /// Builds a corpus from validated entries and municipality declarations. A municipality an
    /// entry names without a declaration is added as [`Municipality::undeclared`].
    pub fn with_municipalities(mut entries: Vec<Entry>, declared: Vec<Municipality>) -> Self {
        entries.sort_by(|a, b| (&a.scope, &a.id).cmp(&(&b.scope, &b.id)));
        let mut municipalities: BTreeMap<String, Municipality> =
            declared.into_iter().map(|m| (m.code.clone(), m)).collect();
        for e in entries.iter().filter(|e| !e.is_national()) {
            municipalities
                .entry(e.scope.clone())
                .or_insert_with(|| Municipality::undeclared(&e.scope));
        }
        Corpus {
            entries,
            municipalities,
            menu: Menu::default(),
        }
    }

    /// The codes of the municipalities served.
    pub fn municipality_codes(&self) -> BTreeSet<String> {
        self.municipalities.keys().cloned().collect()
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

/// Whether `s` is a valid municipality code: the 6-digit 全国地方公共団体コード whose last digit is
/// the check digit of the first five (JIS X 0402).
pub fn is_municipality_code(s: &str) -> bool {
    check_digit(s).is_some_and(|d| s.as_bytes()[5] == d)
}

/// The check digit (as an ASCII digit) that the first five digits of `s` call for, when `s` is
/// six ASCII digits: the last digit of 11 − (6·d1 + 5·d2 + 4·d3 + 3·d4 + 2·d5) mod 11.
pub fn check_digit(s: &str) -> Option<u8> {
    let b = s.as_bytes();
    if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b[..5]
        .iter()
        .zip([6u32, 5, 4, 3, 2])
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(b'0' + ((11 - sum % 11) % 10) as u8)
}

/// Why `s` is not a municipality code, in words for the person who typed it (`None` when it is one).
pub fn municipality_code_problem(s: &str) -> Option<String> {
    match check_digit(s) {
        None => Some(format!(
            "'{s}' is not a municipality code: give the 6-digit 全国地方公共団体コード (e.g. 131016 for 千代田区)"
        )),
        Some(d) if s.as_bytes()[5] != d => Some(format!(
            "'{s}' is not a municipality code: its check digit should be {} ({}{}); a 5-digit code needs its check digit added",
            d as char,
            &s[..5],
            d as char
        )),
        Some(_) => None,
    }
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
        let mut hidden = entry("b", "999008", "");
        hidden.hidden = true;
        let corpus = Corpus::new(vec![
            entry("a", NATIONAL, "国A"),
            entry("b", NATIONAL, "国B"),
            entry("a", "999008", "町A"),
            hidden,
            entry("c", "999016", "市C"),
        ]);
        let ids = |m| {
            corpus
                .visible(m)
                .iter()
                .map(|e| format!("{}:{}", e.scope, e.id))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(None), ["national:a", "national:b"]);
        assert_eq!(ids(Some("999008")), ["999008:a"]);
        assert_eq!(
            ids(Some("999016")),
            ["999016:c", "national:a", "national:b"]
        );
        assert_eq!(corpus.get("a", Some("999008")).unwrap().question, "町A");
        assert!(corpus.get("b", Some("999008")).is_none());
        assert_eq!(
            corpus.municipality_codes().into_iter().collect::<Vec<_>>(),
            ["999008", "999016"]
        );
    }

    #[test]
    fn municipality_codes_carry_their_check_digit() {
        // Real codes (総務省 全国地方公共団体コード): 千代田区, 札幌市, 大阪府, 東京都 (sum ≡ 10),
        // 新宿区 (sum ≡ 0, so 11 − 0 gives 1), 豊中市; then the bundled sample towns.
        for code in [
            "131016", "011002", "270008", "130001", "131041", "272035", "999008", "999016",
        ] {
            assert!(is_municipality_code(code), "{code}");
            assert_eq!(municipality_code_problem(code), None);
        }
        for code in [
            "131010",
            "999001",
            "13101",
            "1310166",
            "13101a",
            "１３１０１６",
            "",
        ] {
            assert!(!is_municipality_code(code), "{code}");
            assert!(municipality_code_problem(code).is_some(), "{code}");
        }
        assert!(
            municipality_code_problem("999001")
                .unwrap()
                .contains("should be 8 (999008)")
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
