//! An FAQ entry as a file writes it, before validation, and the problem-reporting helpers every
//! loader shares. Both the structured loaders ([`super::load`]) and the spreadsheet ones
//! ([`super::tabular`]) produce [`RawEntry`] values; [`super::load`] validates them.

use std::path::Path;

use serde::Deserialize;

use super::{Contact, Problem};

/// An entry as written in a file, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
    pub id: Option<Scalar>,
    pub question: Option<String>,
    #[serde(default)]
    pub alt_questions: Option<OneOrMany>,
    pub answer: Option<String>,
    #[serde(default)]
    pub category: Option<OneOrMany>,
    #[serde(default)]
    pub tags: Option<OneOrMany>,
    pub source_url: Option<String>,
    pub updated: Option<Scalar>,
    pub scope: Option<Scalar>,
    pub contact: Option<Contact>,
    #[serde(default)]
    pub hidden: Option<bool>,
}

/// A value written as a string or a number (ids like `12`, dates, codes).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Scalar {
    Str(String),
    Int(i64),
}

impl Scalar {
    pub(super) fn into_string(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Int(i) => i.to_string(),
        }
    }
}

/// A list, or one string that holds a `/`-separated path (category) or a single item.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn into_vec(self, separator: char) -> Vec<String> {
        match self {
            OneOrMany::One(s) => s.split(separator).map(str::to_owned).collect(),
            OneOrMany::Many(v) => v,
        }
    }
}

/// The 1-based line of byte `offset` in `bytes`.
pub(super) fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Records a problem at `file:line`.
pub(super) fn problem(problems: &mut Vec<Problem>, file: &Path, line: usize, message: &str) {
    problems.push(Problem {
        file: file.to_owned(),
        line,
        message: message.to_owned(),
    });
}
