//! Reading FAQ files: walking a directory, choosing a loader by extension, and validating entries.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use super::raw::{OneOrMany, RawEntry, Scalar, line_of_offset, problem};
use super::{
    Contact, Corpus, Entry, Error, MENU_FILE, MUNICIPALITY_FILE, Menu, Municipality, NATIONAL,
    Notice, Problem, Result, is_municipality_code, municipality_code_problem, tabular,
};

/// Loads and validates every FAQ file under `dir`, recursively, in path order.
///
/// Files under `municipalities/<6-digit code>/` belong to that municipality unless an entry says
/// otherwise; all other files are national. Each municipality is declared by
/// `municipalities/<code>/municipality.yaml` (its name and fallback office, see
/// [`load_municipality`]); a folder whose name is not a code with a valid check digit, and
/// entries for a municipality that is not declared, are problems. `.md` and `.txt` files (read-me notes), the synonym
/// dictionaries (`synonyms.csv`, see [`crate::synonyms`]) and the analyzer's user dictionary
/// (`userdict.csv` at the top, see [`super::USER_DICT_FILE`]) are skipped; a user
/// dictionary anywhere else is a problem, and so is any other unknown extension, so a mistyped
/// or misplaced file is never silently ignored.
pub fn load_dir(dir: &Path) -> Result<Corpus> {
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    files.sort();
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    let mut declared = Vec::new();
    let mut menu = None;
    // Each `popular:` list with the file and line of every id, checked once all entries are in.
    let mut popular_lists: Vec<(PathBuf, String, Vec<usize>)> = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(dir).unwrap_or(file);
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.len() >= 3
            && parts[0] == "municipalities"
            && let Some(why) = municipality_code_problem(&parts[1])
        {
            problem(
                &mut problems,
                file,
                0,
                &format!("{why} (the name of the folder)"),
            );
            continue;
        }
        if parts.last().map(String::as_str) == Some(MUNICIPALITY_FILE) {
            if parts.len() == 3 && parts[0] == "municipalities" {
                if let Some((m, lines)) = read_municipality(file, &parts[1], &mut problems) {
                    popular_lists.push((file.clone(), m.code.clone(), lines));
                    declared.push(m);
                }
            } else {
                problem(
                    &mut problems,
                    file,
                    0,
                    &format!(
                        "a municipality is declared in municipalities/<code>/{MUNICIPALITY_FILE}"
                    ),
                );
            }
            continue;
        }
        if parts.len() == 1 && parts[0] == MENU_FILE {
            let (m, lines) = read_menu(file, &mut problems);
            popular_lists.push((file.clone(), NATIONAL.to_owned(), lines));
            menu = m;
            continue;
        }
        if file.file_name() == Some(std::ffi::OsStr::new(super::USER_DICT_FILE)) {
            if rel.components().count() > 1 {
                problems.push(Problem {
                    file: file.clone(),
                    line: 0,
                    message: format!(
                        "a user dictionary applies to the whole index: move it to {}",
                        dir.join(super::USER_DICT_FILE).display()
                    ),
                });
            }
            continue;
        }
        let scope = default_scope(rel);
        entries.extend(load_one(file, &scope, &mut problems));
    }
    check_corpus(&entries, &mut problems);
    check_declared(&entries, &declared, &mut problems);
    for (file, scope, lines) in &popular_lists {
        let popular = if scope == NATIONAL {
            menu.as_ref().map(|m| &m.popular)
        } else {
            declared
                .iter()
                .find(|m| &m.code == scope)
                .map(|m| &m.menu.popular)
        };
        for (id, line) in popular.into_iter().flatten().zip(lines) {
            check_popular(file, *line, id, scope, &entries, &mut problems);
        }
    }
    if problems.is_empty() {
        let mut corpus =
            Corpus::with_municipalities(entries.into_iter().map(|l| l.entry).collect(), declared);
        corpus.menu = menu.unwrap_or_default();
        Ok(corpus)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// A municipality declaration as written in `municipality.yaml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMunicipality {
    code: Option<super::raw::Scalar>,
    name: Option<String>,
    fallback: Option<Contact>,
    #[serde(default)]
    popular: Vec<super::raw::Scalar>,
    #[serde(default)]
    notices: Vec<Notice>,
}

/// `menu.yaml` as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMenu {
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    popular: Vec<super::raw::Scalar>,
    #[serde(default)]
    notices: Vec<Notice>,
}

/// Reads `menu.yaml` at the top of the FAQ directory, the opening screen for everyone:
///
/// ```yaml
/// categories: [マイナンバーカード, 子育て・教育, くらし]   # 大分類, in menu order
/// popular: [mynumber-pin-006, kosodate-jidouteate-001]  # よくある質問 (entry ids)
/// notices:
///   - title: 年末年始は窓口が休みです
///     url: https://www.example.jp/news/
///     from: 2026-12-20
///     until: 2027-01-04
/// ```
///
/// Returns the menu (even with problems: the load fails on them anyway, and its entry ids are
/// then checked too, so every mistake is named at once) and the line of each popular id.
fn read_menu(file: &Path, problems: &mut Vec<Problem>) -> (Option<Menu>, Vec<usize>) {
    let Some(text) = read_text(file, problems) else {
        return (None, Vec::new());
    };
    let raw: RawMenu = if text.trim().is_empty() {
        RawMenu::default()
    } else {
        match parse_yaml(file, &text, problems) {
            Some(raw) => raw,
            None => return (None, Vec::new()),
        }
    };
    let mut seen = HashSet::new();
    for c in &raw.categories {
        if c.trim().is_empty() || !seen.insert(c.trim()) {
            problem(
                problems,
                file,
                line_of(&text, c),
                &format!("category '{c}' is empty or listed twice"),
            );
        }
    }
    let (popular, lines) = ids(file, &text, raw.popular, problems);
    check_notices(file, &text, &raw.notices, problems);
    let menu = Menu {
        categories: raw.categories.iter().map(|c| c.trim().to_owned()).collect(),
        popular,
        notices: raw.notices,
    };
    (Some(menu), lines)
}

/// The first line (1-based) that mentions `needle`, for problems in small YAML files; 0 when none.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}

fn read_text(file: &Path, problems: &mut Vec<Problem>) -> Option<String> {
    match std::fs::read(file).map(String::from_utf8) {
        Ok(Ok(text)) => Some(text),
        Ok(Err(e)) => {
            let line = line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to());
            problem(problems, file, line, "not valid UTF-8");
            None
        }
        Err(e) => {
            problem(problems, file, 0, &format!("cannot read: {e}"));
            None
        }
    }
}

fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match serde_yaml_ng::from_str(text) {
        Ok(raw) => Some(raw),
        Err(e) => {
            let line = e.location().map_or(0, |l| l.line());
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg);
            problem(problems, file, line, &format!("invalid YAML: {msg}"));
            None
        }
    }
}

/// The entry ids of a `popular:` list, each once, with the line each is written on.
fn ids(
    file: &Path,
    text: &str,
    raw: Vec<super::raw::Scalar>,
    problems: &mut Vec<Problem>,
) -> (Vec<String>, Vec<usize>) {
    let mut out: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for id in raw.into_iter().map(|s| s.into_string().trim().to_owned()) {
        if out.contains(&id) {
            problem(
                problems,
                file,
                line_of(text, &id),
                &format!("popular lists '{id}' twice"),
            );
        } else {
            lines.push(line_of(text, &id));
            out.push(id);
        }
    }
    if out.len() > MAX_POPULAR {
        problem(
            problems,
            file,
            line_of(text, "popular"),
            &format!(
                "popular lists {} entries; at most {MAX_POPULAR} fit the opening screen",
                out.len()
            ),
        );
    }
    (out, lines)
}

/// Most popular questions a menu may list.
pub const MAX_POPULAR: usize = 8;

fn check_notices(file: &Path, text: &str, notices: &[Notice], problems: &mut Vec<Problem>) {
    // Exactly YYYY-MM-DD (chrono alone would also take 2027-1-4).
    let date = |d: &Option<String>| {
        d.as_deref().is_some_and(|d| {
            d.len() != 10 || chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
        })
    };
    for n in notices {
        let line = line_of(text, n.title.trim()).max(line_of(text, "notices"));
        let mut bad = |why: String| {
            problem(
                problems,
                file,
                line,
                &format!("notice '{}': {why}", n.title),
            )
        };
        if n.title.trim().is_empty() || n.title.chars().count() > 100 {
            bad("the title must be 1 to 100 characters".into());
        }
        if n.text.as_ref().is_some_and(|t| t.chars().count() > 400) {
            bad("the text is longer than 400 characters".into());
        }
        if let Some(u) = &n.url
            && !valid_http_url(u)
        {
            bad(format!("url '{u}' is not an http(s) URL"));
        }
        if date(&n.from) || date(&n.until) {
            bad("from and until are dates written YYYY-MM-DD".into());
        } else if let (Some(f), Some(u)) = (&n.from, &n.until)
            && f > u
        {
            bad(format!("from {f} is after until {u}"));
        }
    }
}

/// A popular id (written at `file:line`) names an entry that residents of `scope` see.
fn check_popular(
    file: &Path,
    line: usize,
    id: &str,
    scope: &str,
    entries: &[Located],
    problems: &mut Vec<Problem>,
) {
    let own = entries
        .iter()
        .find(|l| l.entry.scope == scope && l.entry.id == id);
    let visible = match own {
        Some(l) => !l.entry.hidden,
        None => entries
            .iter()
            .any(|l| l.entry.is_national() && l.entry.id == id),
    };
    if !visible {
        problem(
            problems,
            file,
            line,
            &format!(
                "popular entry '{id}' is not an entry {} residents see",
                if scope == NATIONAL { "all" } else { scope }
            ),
        );
    }
}

/// Reads `municipalities/<code>/municipality.yaml`:
///
/// ```yaml
/// name: 見本町
/// fallback:                 # named when no entry answers
///   office: 見本町役場 総合案内
///   phone: 0120-000-000
///   url: https://www.example.jp/
/// ```
///
/// `code`, when given, must be the folder's name. `name` and `fallback.office` are required.
pub fn load_municipality(
    file: &Path,
    code: &str,
    problems: &mut Vec<Problem>,
) -> Option<Municipality> {
    read_municipality(file, code, problems).map(|(m, _)| m)
}

/// [`load_municipality`], with the line of each popular id (checked once all entries are in).
fn read_municipality(
    file: &Path,
    code: &str,
    problems: &mut Vec<Problem>,
) -> Option<(Municipality, Vec<usize>)> {
    let before = problems.len();
    let text = read_text(file, problems)?;
    let raw: RawMunicipality = parse_yaml(file, &text, problems)?;
    let key_line = |key: &str| {
        text.lines()
            .position(|l| l.trim_start().starts_with(&format!("{key}:")))
            .map_or(0, |i| i + 1)
    };
    if let Some(c) = raw.code.map(super::raw::Scalar::into_string)
        && c.trim() != code
    {
        problem(
            problems,
            file,
            key_line("code"),
            &format!("code '{}' is not the folder's code {code}", c.trim()),
        );
    }
    let name = non_empty(raw.name);
    match &name {
        None => problem(
            problems,
            file,
            key_line("name"),
            "missing name (e.g. name: 見本町)",
        ),
        Some(n) if n.chars().count() > 40 => problem(
            problems,
            file,
            key_line("name"),
            "name is longer than 40 characters",
        ),
        Some(_) => {}
    }
    let fallback = raw.fallback.map(|c| Contact {
        office: non_empty(c.office),
        phone: non_empty(c.phone),
        url: non_empty(c.url),
    });
    if fallback.as_ref().and_then(|c| c.office.as_ref()).is_none() {
        problem(
            problems,
            file,
            key_line("fallback"),
            "missing fallback office: the counter a resident is sent to when no entry answers (fallback: {office: …, phone: …})",
        );
    }
    if let Some(u) = fallback.as_ref().and_then(|c| c.url.as_ref())
        && !valid_http_url(u)
    {
        problem(
            problems,
            file,
            key_line("url"),
            &format!("fallback url '{u}' is not an http(s) URL"),
        );
    }
    let (popular, lines) = ids(file, &text, raw.popular, problems);
    check_notices(file, &text, &raw.notices, problems);
    (problems.len() == before).then(|| {
        let menu = Menu {
            categories: Vec::new(),
            popular,
            notices: raw.notices,
        };
        let m = Municipality {
            code: code.to_owned(),
            name: name.unwrap_or_default(),
            fallback: fallback.unwrap_or_default(),
            menu,
        };
        (m, lines)
    })
}

/// Every municipality an entry belongs to is declared.
fn check_declared(entries: &[Located], declared: &[Municipality], problems: &mut Vec<Problem>) {
    let known: HashSet<&str> = declared.iter().map(|m| m.code.as_str()).collect();
    let mut reported = HashSet::new();
    for loc in entries.iter().filter(|l| !l.entry.is_national()) {
        let code = loc.entry.scope.as_str();
        if !known.contains(code) && reported.insert(code) {
            problem(
                problems,
                &loc.file,
                loc.line,
                &format!(
                    "municipality {code} is not declared: add municipalities/{code}/{MUNICIPALITY_FILE} with its name and fallback office (madoguchi municipality add {code} NAME --office OFFICE)"
                ),
            );
        }
    }
}

/// Loads and validates one file as national entries (for tools and tests).
pub fn load_file(file: &Path) -> Result<Vec<Entry>> {
    let mut problems = Vec::new();
    let entries = load_one(file, NATIONAL, &mut problems);
    check_corpus(&entries, &mut problems);
    if problems.is_empty() {
        Ok(entries.into_iter().map(|l| l.entry).collect())
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Parses FAQ text in the format named by `ext` (`yaml`, `json`, `jsonl`, `csv`), as national
/// entries. `name` is used in problem messages.
pub fn parse_str(name: &str, ext: &str, text: &str) -> Result<Vec<Entry>> {
    let file = PathBuf::from(name);
    let mut problems = Vec::new();
    let raws = match ext {
        "csv" => tabular::parse_csv_text(&file, text, &mut problems),
        _ => parse_structured(&file, ext, text, &mut problems),
    };
    let entries = validate_all(&file, raws, NATIONAL, &mut problems);
    check_corpus(&entries, &mut problems);
    if problems.is_empty() {
        Ok(entries.into_iter().map(|l| l.entry).collect())
    } else {
        Err(Error::Invalid(problems))
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let path = item.path();
        if item.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if item.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if item.file_name() != super::SYNONYMS_FILE {
            out.push(path);
        }
    }
    Ok(())
}

fn default_scope(rel: &Path) -> String {
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts
        .windows(2)
        .find(|w| w[0] == "municipalities" && is_municipality_code(&w[1]))
        .map_or_else(|| NATIONAL.to_owned(), |w| w[1].clone())
}

/// A validated entry with where it was written, for problems found across entries.
struct Located {
    entry: Entry,
    file: PathBuf,
    line: usize,
}

/// Largest FAQ file read (a national FAQ of a few thousand entries is a few MiB).
pub const MAX_FILE_BYTES: u64 = 32 << 20;

fn load_one(file: &Path, scope: &str, problems: &mut Vec<Problem>) -> Vec<Located> {
    let before = problems.len();
    if let Ok(meta) = std::fs::metadata(file)
        && meta.len() > MAX_FILE_BYTES
    {
        problem(
            problems,
            file,
            0,
            &format!(
                "the file is {} MiB (at most {} MiB); split it",
                meta.len() >> 20,
                MAX_FILE_BYTES >> 20
            ),
        );
        return Vec::new();
    }
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let raws = match ext.as_str() {
        "md" | "txt" => return Vec::new(),
        "yaml" | "yml" | "json" | "jsonl" => match std::fs::read(file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => parse_structured(file, &ext, &text, problems),
                Err(e) => {
                    let line = line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to());
                    problem(problems, file, line, "not valid UTF-8");
                    return Vec::new();
                }
            },
            Err(e) => {
                problem(problems, file, 0, &format!("cannot read: {e}"));
                return Vec::new();
            }
        },
        "csv" => tabular::load_csv(file, problems),
        "xlsx" => tabular::load_xlsx(file, problems),
        other => {
            problem(
                problems,
                file,
                0,
                &format!(
                    "unsupported file type '.{other}' (use .yaml, .json, .jsonl, .csv or .xlsx)"
                ),
            );
            return Vec::new();
        }
    };
    let nothing = raws.is_empty();
    let entries = validate_all(file, raws, scope, problems);
    if nothing && problems.len() == before {
        problem(
            problems,
            file,
            0,
            "the file holds no entries (emptied or cut short?); delete it if its entries are meant to go",
        );
    }
    entries
}

fn validate_all(
    file: &Path,
    raws: Vec<(RawEntry, usize)>,
    scope: &str,
    problems: &mut Vec<Problem>,
) -> Vec<Located> {
    raws.into_iter()
        .filter_map(|(raw, line)| {
            validate(raw, file, line, scope, problems).map(|entry| Located {
                entry,
                file: file.to_owned(),
                line,
            })
        })
        .collect()
}

fn parse_structured(
    file: &Path,
    ext: &str,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(RawEntry, usize)> {
    match ext {
        "jsonl" => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .filter_map(|(i, l)| match serde_json::from_str::<RawEntry>(l) {
                Ok(raw) => Some((raw, i + 1)),
                Err(e) => {
                    problem(problems, file, i + 1, &format!("invalid JSON: {e}"));
                    None
                }
            })
            .collect(),
        "json" => match serde_json::from_str::<Vec<RawEntry>>(text) {
            Ok(raws) => with_lines(raws, &json_entry_lines(text)),
            Err(e) => {
                problem(problems, file, e.line(), &format!("invalid JSON: {e}"));
                Vec::new()
            }
        },
        _ => {
            if text.trim().is_empty() {
                return Vec::new();
            }
            match serde_yaml_ng::from_str::<Vec<RawEntry>>(text) {
                Ok(raws) => with_lines(raws, &yaml_entry_lines(text)),
                Err(e) => {
                    let line = e.location().map_or(0, |l| l.line());
                    let msg = e.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg);
                    problem(problems, file, line, &format!("invalid YAML: {msg}"));
                    Vec::new()
                }
            }
        }
    }
}

/// Pairs entries with the lines they start on; when the heuristic line list does not match the
/// entry count (unusual formatting), entries are located at line 1 rather than mislocated.
fn with_lines(raws: Vec<RawEntry>, lines: &[usize]) -> Vec<(RawEntry, usize)> {
    let ok = lines.len() == raws.len();
    raws.into_iter()
        .enumerate()
        .map(|(i, r)| (r, if ok { lines[i] } else { 1 }))
        .collect()
}

/// Lines where top-level block-sequence items (`- ` at column 0) begin.
fn yaml_entry_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| *l == "-" || l.starts_with("- "))
        .map(|(i, _)| i + 1)
        .collect()
}

/// Lines holding each entry's `"id"` key (entries have no other object with an `id`).
fn json_entry_lines(text: &str) -> Vec<usize> {
    let re = regex::Regex::new(r#""id"\s*:"#).expect("static regex");
    re.find_iter(text)
        .map(|m| line_of_offset(text.as_bytes(), m.start()))
        .collect()
}

fn clean_list(items: Option<OneOrMany>, separator: char) -> Vec<String> {
    items
        .map(|i| i.into_vec(separator))
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Ids are ASCII so that they are safe in URLs, logs and citations (`[FAQ:id]`).
fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn valid_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn validate(
    raw: RawEntry,
    file: &Path,
    line: usize,
    default_scope: &str,
    problems: &mut Vec<Problem>,
) -> Option<Entry> {
    let before = problems.len();
    let mut bad = |msg: String| problem(problems, file, line, &msg);
    let id = raw.id.map(Scalar::into_string).map(|s| s.trim().to_owned());
    let id = match id {
        Some(id) if valid_id(&id) => id,
        Some(id) if id.is_empty() => {
            bad("empty id".into());
            String::new()
        }
        Some(id) => {
            bad(format!(
                "invalid id '{id}': use ASCII letters, digits, '.', '_' or '-' (at most 64)"
            ));
            String::new()
        }
        None => {
            bad("missing id".into());
            String::new()
        }
    };
    let hidden = raw.hidden.unwrap_or(false);
    let question = non_empty(raw.question);
    let answer = non_empty(raw.answer);
    if !hidden {
        if question.is_none() {
            bad(format!("entry '{id}': empty question"));
        }
        if answer.is_none() {
            bad(format!("entry '{id}': empty answer"));
        }
    }
    let category = clean_list(raw.category, '/');
    if category.len() > 3 {
        bad(format!(
            "entry '{id}': category has {} levels; at most 3 (大分類/中分類/小分類)",
            category.len()
        ));
    }
    let source_url = non_empty(raw.source_url);
    if let Some(u) = &source_url
        && !valid_http_url(u)
    {
        bad(format!(
            "entry '{id}': source_url '{u}' is not an http(s) URL"
        ));
    }
    let updated = raw
        .updated
        .map(Scalar::into_string)
        .map(|s| s.trim().to_owned());
    let updated = updated.filter(|s| !s.is_empty());
    if let Some(d) = &updated
        && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
    {
        bad(format!(
            "entry '{id}': updated '{d}' is not a date (YYYY-MM-DD)"
        ));
    }
    let scope = raw
        .scope
        .map(Scalar::into_string)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default_scope.to_owned());
    if scope != NATIONAL && !is_municipality_code(&scope) {
        let why = municipality_code_problem(&scope).unwrap_or_default();
        bad(format!(
            "entry '{id}': scope '{scope}' is neither 'national' nor a municipality code ({why})"
        ));
    } else if default_scope != NATIONAL && scope != default_scope {
        bad(format!(
            "entry '{id}': scope '{scope}' in the folder of municipality {default_scope}"
        ));
    }
    if hidden && scope == NATIONAL {
        bad(format!(
            "entry '{id}': 'hidden' is only for a municipality's files, to hide a national entry"
        ));
    }
    let contact = raw.contact.map(|c| Contact {
        office: non_empty(c.office),
        phone: non_empty(c.phone),
        url: non_empty(c.url),
    });
    if let Some(u) = contact.as_ref().and_then(|c| c.url.as_ref())
        && !valid_http_url(u)
    {
        bad(format!(
            "entry '{id}': contact url '{u}' is not an http(s) URL"
        ));
    }
    let contact = contact.filter(|c| c != &Contact::default());
    if problems.len() > before {
        return None;
    }
    Some(Entry {
        id,
        question: question.unwrap_or_default(),
        alt_questions: clean_list(raw.alt_questions, '|'),
        answer: answer.unwrap_or_default(),
        category,
        tags: clean_list(raw.tags, '|'),
        source_url,
        updated,
        scope,
        contact,
        hidden,
    })
}

/// Checks across entries: ids unique per scope, hidden entries name a national entry.
fn check_corpus(entries: &[Located], problems: &mut Vec<Problem>) {
    let mut seen: HashMap<(&str, &str), &Located> = HashMap::new();
    let national: HashSet<&str> = entries
        .iter()
        .filter(|l| l.entry.is_national())
        .map(|l| l.entry.id.as_str())
        .collect();
    for loc in entries {
        let e = &loc.entry;
        if let Some(first) = seen.get(&(e.scope.as_str(), e.id.as_str())) {
            problem(
                problems,
                &loc.file,
                loc.line,
                &format!(
                    "duplicate id '{}' in scope {} (first defined at {}:{})",
                    e.id,
                    e.scope,
                    first.file.display(),
                    first.line
                ),
            );
        } else {
            seen.insert((e.scope.as_str(), e.id.as_str()), loc);
        }
        if e.hidden && !national.contains(e.id.as_str()) {
            problem(
                problems,
                &loc.file,
                loc.line,
                &format!(
                    "entry '{}' hides a national entry that does not exist",
                    e.id
                ),
            );
        }
    }
}
