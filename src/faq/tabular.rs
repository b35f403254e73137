//! Spreadsheet-shaped FAQ files: CSV (UTF-8, UTF-8 with BOM, Shift_JIS/CP932), XLSX, and the
//! Govbot CSV layout (`ID,大分類,中分類,小分類,問い,回答` with `<label,URL>` links).

use std::path::Path;
use std::sync::LazyLock;

use calamine::{Data, Reader, Xlsx, open_workbook};
use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::raw::{OneOrMany, RawEntry, Scalar, line_of_offset, problem};
use super::{Contact, Problem};

/// The columns a tabular file may have, each with the header names that select it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    Question,
    AltQuestions,
    Answer,
    Category(usize),
    Tags,
    SourceUrl,
    Updated,
    Scope,
    ContactOffice,
    ContactPhone,
    ContactUrl,
    Hidden,
}

const HEADERS: &[(&str, Column)] = &[
    ("id", Column::Id),
    ("question", Column::Question),
    ("質問", Column::Question),
    ("問い", Column::Question),
    ("alt_questions", Column::AltQuestions),
    ("言い換え", Column::AltQuestions),
    ("answer", Column::Answer),
    ("回答", Column::Answer),
    ("category1", Column::Category(0)),
    ("大分類", Column::Category(0)),
    ("category2", Column::Category(1)),
    ("中分類", Column::Category(1)),
    ("category3", Column::Category(2)),
    ("小分類", Column::Category(2)),
    ("tags", Column::Tags),
    ("タグ", Column::Tags),
    ("source_url", Column::SourceUrl),
    ("出典url", Column::SourceUrl),
    ("updated", Column::Updated),
    ("更新日", Column::Updated),
    ("scope", Column::Scope),
    ("範囲", Column::Scope),
    ("contact_office", Column::ContactOffice),
    ("問い合わせ先", Column::ContactOffice),
    ("contact_phone", Column::ContactPhone),
    ("電話番号", Column::ContactPhone),
    ("contact_url", Column::ContactUrl),
    ("問い合わせurl", Column::ContactUrl),
    ("hidden", Column::Hidden),
    ("非表示", Column::Hidden),
];

/// Govbot links: `<label,URL>` → `[label](URL)`.
static GOVBOT_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<\s*([^<>,]+?)\s*,\s*(https?://[^<>\s]+)\s*>").expect("static regex")
});

/// Converts the Govbot link notation into our `[label](URL)` links, keeping the label.
pub(super) fn convert_govbot_links(answer: &str) -> String {
    GOVBOT_LINK.replace_all(answer, "[$1]($2)").into_owned()
}

/// A header row resolved to columns.
struct Layout {
    columns: Vec<Option<Column>>,
    govbot: bool,
}

fn layout(
    file: &Path,
    headers: &[String],
    line: usize,
    problems: &mut Vec<Problem>,
) -> Option<Layout> {
    let mut columns = Vec::with_capacity(headers.len());
    let before = problems.len();
    for (i, h) in headers.iter().enumerate() {
        let key: String = h.trim_start_matches('\u{feff}').nfkc().collect::<String>();
        let key = key.trim().to_lowercase();
        if key.is_empty() {
            columns.push(None);
            continue;
        }
        match HEADERS.iter().find(|(name, _)| *name == key) {
            Some(&(_, col)) if columns.contains(&Some(col)) => {
                problem(problems, file, line, &format!("column '{h}' appears twice"));
                columns.push(None);
            }
            Some(&(_, col)) => columns.push(Some(col)),
            None => {
                problem(
                    problems,
                    file,
                    line,
                    &format!("unknown column '{h}' (column {})", i + 1),
                );
                columns.push(None);
            }
        }
    }
    for required in [Column::Id, Column::Question, Column::Answer] {
        if !columns.contains(&Some(required)) {
            problem(
                problems,
                file,
                line,
                &format!(
                    "missing column for {required:?} (header row: {})",
                    headers.join(",")
                ),
            );
        }
    }
    if problems.len() > before {
        return None;
    }
    let govbot = headers.iter().any(|h| h.trim() == "問い");
    Some(Layout { columns, govbot })
}

fn truthy(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "" | "false" | "0" | "no" | "いいえ" | "×" => Some(false),
        "true" | "1" | "yes" | "はい" | "○" | "〇" => Some(true),
        _ => None,
    }
}

fn split_items(s: &str) -> OneOrMany {
    OneOrMany::Many(
        s.split(['\n', '|'])
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect(),
    )
}

/// Turns one row into a raw entry; `None` for a blank row.
fn row_to_raw(
    layout: &Layout,
    cells: &[String],
    file: &Path,
    line: usize,
    problems: &mut Vec<Problem>,
) -> Option<RawEntry> {
    if cells.iter().all(|c| c.trim().is_empty()) {
        return None;
    }
    if cells.len() > layout.columns.len()
        && cells[layout.columns.len()..]
            .iter()
            .any(|c| !c.trim().is_empty())
    {
        problem(problems, file, line, "more cells than header columns");
    }
    let mut raw = RawEntry::default();
    let mut category = vec![String::new(); 3];
    let mut contact = Contact::default();
    for (col, cell) in layout.columns.iter().zip(cells) {
        let Some(col) = col else { continue };
        let value = cell.trim();
        // A cell our CSV export kept from becoming an Excel formula ('- …): the text itself.
        let value = match value.strip_prefix('\'') {
            Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest.to_owned(),
            _ => value.to_owned(),
        };
        let opt = (!value.is_empty()).then(|| value.clone());
        match col {
            Column::Id => raw.id = opt.map(Scalar::Str),
            Column::Question => raw.question = opt,
            Column::AltQuestions => raw.alt_questions = Some(split_items(&value)),
            Column::Answer => {
                raw.answer = opt.map(|a| {
                    if layout.govbot {
                        convert_govbot_links(&a)
                    } else {
                        a
                    }
                })
            }
            Column::Category(i) => category[*i] = value,
            Column::Tags => raw.tags = Some(split_items(&value)),
            Column::SourceUrl => raw.source_url = opt,
            Column::Updated => raw.updated = opt.map(|d| Scalar::Str(d.replace('/', "-"))),
            Column::Scope => raw.scope = opt.map(Scalar::Str),
            Column::ContactOffice => contact.office = opt,
            Column::ContactPhone => contact.phone = opt,
            Column::ContactUrl => contact.url = opt,
            Column::Hidden => match truthy(&value) {
                Some(b) => raw.hidden = Some(b),
                None => problem(
                    problems,
                    file,
                    line,
                    &format!("hidden must be true or false, not '{value}'"),
                ),
            },
        }
    }
    while category.last().is_some_and(String::is_empty) {
        category.pop();
    }
    if category.iter().any(String::is_empty) {
        problem(
            problems,
            file,
            line,
            "category has an empty level above a filled one",
        );
    }
    raw.category = Some(OneOrMany::Many(category));
    if contact != Contact::default() {
        raw.contact = Some(contact);
    }
    Some(raw)
}

/// Decodes CSV bytes: UTF-8 (BOM stripped) or, failing that, Shift_JIS/CP932 as Excel writes it.
pub(crate) fn decode(file: &Path, bytes: &[u8], problems: &mut Vec<Problem>) -> Option<String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(s.to_owned());
    }
    // encoding_rs's SHIFT_JIS is the WHATWG one, i.e. Windows-31J (CP932) with its extensions.
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
    if !had_errors {
        return Some(text.into_owned());
    }
    let mut offset = 0;
    for chunk in bytes.split_inclusive(|&b| b == b'\n') {
        let utf8_ok = std::str::from_utf8(chunk).is_ok();
        let sjis_ok = !encoding_rs::SHIFT_JIS.decode_without_bom_handling(chunk).1;
        if !utf8_ok && !sjis_ok {
            break;
        }
        offset += chunk.len();
    }
    problem(
        problems,
        file,
        line_of_offset(bytes, offset),
        "undecodable bytes: the file is neither UTF-8 nor Shift_JIS (CP932)",
    );
    None
}

/// Reads a CSV file in any supported encoding.
pub(super) fn load_csv(file: &Path, problems: &mut Vec<Problem>) -> Vec<(RawEntry, usize)> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            problem(problems, file, 0, &format!("cannot read: {e}"));
            return Vec::new();
        }
    };
    match decode(file, &bytes, problems) {
        Some(text) => parse_csv_text(file, &text, problems),
        None => Vec::new(),
    }
}

/// Parses decoded CSV text.
pub(super) fn parse_csv_text(
    file: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(RawEntry, usize)> {
    // A file cut short inside a quoted field (an answer with commas or line breaks) would
    // otherwise load with that answer ending mid-sentence.
    if text.chars().filter(|&c| c == '"').count() % 2 == 1 {
        let line = text
            .rfind('"')
            .map_or(0, |at| text[..at].matches('\n').count() + 1);
        problem(
            problems,
            file,
            line,
            "a quoted field is never closed: the file looks cut short (an unbalanced \")",
        );
        return Vec::new();
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h.iter().map(str::to_owned).collect::<Vec<_>>(),
        Some(Err(e)) => {
            problem(problems, file, 1, &format!("invalid CSV header: {e}"));
            return Vec::new();
        }
        None => return Vec::new(),
    };
    let Some(layout) = layout(file, &header, 1, problems) else {
        return Vec::new();
    };
    // Problems are located by spreadsheet row (the header is row 1), as Excel numbers them:
    // an answer with line breaks is one row however many lines it takes in the file.
    let mut out = Vec::new();
    for record in records {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.record() as usize + 1);
                let cells: Vec<String> = r.iter().map(str::to_owned).collect();
                if let Some(raw) = row_to_raw(&layout, &cells, file, line, problems) {
                    out.push((raw, line));
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.record() as usize + 1);
                problem(problems, file, line, &format!("invalid CSV: {e}"));
            }
        }
    }
    out
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.as_datetime().map_or_else(
            || d.as_f64().to_string(),
            |dt| dt.date().format("%Y-%m-%d").to_string(),
        ),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Most rows a sheet may use (a FAQ of 100,000 entries is far beyond any municipality's).
const XLSX_MAX_ROWS: u64 = 100_000;
/// Most columns a sheet may use (column index, 1-based: 64 is `BL`).
const XLSX_MAX_COLUMNS: u64 = 64;
/// Most bytes one part of the workbook (a sheet, the shared strings) may decompress to.
const XLSX_MAX_PART_BYTES: u64 = 64 << 20;
/// Most bytes all parts together may decompress to.
const XLSX_MAX_TOTAL_BYTES: u64 = 160 << 20;
/// Most bytes of one string (a cell's text) in the shared strings.
const XLSX_MAX_STRING_BYTES: usize = 256 << 10;
/// Most parts (files) in the workbook.
const XLSX_MAX_PARTS: usize = 2_000;

/// Checks an XLSX file against the limits above by reading its parts through a bounded
/// reader, before the spreadsheet reader allocates anything by what the file claims (a single
/// cell at XFD1048576 would make it allocate a 17-billion-cell grid; a small file can inflate
/// to gigabytes).
fn check_xlsx_limits(file: &Path) -> Result<(), String> {
    use std::io::Read as _;
    let f = std::fs::File::open(file).map_err(|e| format!("cannot read: {e}"))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| format!("cannot open XLSX workbook: {e}"))?;
    if zip.len() > XLSX_MAX_PARTS {
        return Err(format!(
            "the workbook has {} parts (at most {XLSX_MAX_PARTS})",
            zip.len()
        ));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let part = zip
            .by_index(i)
            .map_err(|e| format!("cannot read the workbook: {e}"))?;
        let name = part
            .name()
            .map_err(|e| format!("cannot read the workbook: {e}"))?
            .into_owned();
        let sheet = name.starts_with("xl/worksheets/") && name.ends_with(".xml");
        let strings = name == "xl/sharedStrings.xml";
        let mut bytes = Vec::new();
        part.take(XLSX_MAX_PART_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {name} in the workbook: {e}"))?;
        let len = bytes.len() as u64;
        if len > XLSX_MAX_PART_BYTES {
            return Err(format!(
                "{name} in the workbook is larger than {} MiB uncompressed; split the file",
                XLSX_MAX_PART_BYTES >> 20
            ));
        }
        total += len;
        if total > XLSX_MAX_TOTAL_BYTES {
            return Err(format!(
                "the workbook is larger than {} MiB uncompressed; split the file",
                XLSX_MAX_TOTAL_BYTES >> 20
            ));
        }
        if sheet {
            let (rows, columns) = sheet_extent(&bytes);
            if rows > XLSX_MAX_ROWS || columns > XLSX_MAX_COLUMNS {
                return Err(format!(
                    "{name} uses {rows} rows and {columns} columns (at most {XLSX_MAX_ROWS} rows \
                     and {XLSX_MAX_COLUMNS} columns); remove what is outside the FAQ table"
                ));
            }
        }
        if strings
            && let Some(longest) = longest_element(&bytes, b"<si", b"</si>")
            && longest > XLSX_MAX_STRING_BYTES
        {
            return Err(format!(
                "a cell's text is {} KiB (at most {} KiB)",
                longest >> 10,
                XLSX_MAX_STRING_BYTES >> 10
            ));
        }
    }
    Ok(())
}

/// The largest row and column (1-based) named by any cell reference, row or dimension of a
/// worksheet's XML.
fn sheet_extent(xml: &[u8]) -> (u64, u64) {
    let (mut rows, mut columns) = (0u64, 0u64);
    let mut rest = xml;
    loop {
        let at = match (find(rest, b" r=\""), find(rest, b"ref=\"")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        let after = &rest[at..];
        let quote = after
            .iter()
            .position(|&b| b == b'"')
            .map_or(after.len(), |q| q + 1);
        let value = &after[quote..];
        let end = value.iter().position(|&b| b == b'"').unwrap_or(value.len());
        // A reference or a range (A1:XFD1048576): every cell named counts.
        for reference in value[..end].split(|&b| b == b':') {
            let letters = reference
                .iter()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            let column = reference[..letters].iter().fold(0u64, |n, b| {
                n.saturating_mul(26)
                    .saturating_add(u64::from(b.to_ascii_uppercase() - b'A' + 1))
            });
            let row = reference[letters..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0u64, |n, b| {
                    n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
                });
            rows = rows.max(row);
            columns = columns.max(column);
        }
        rest = &value[end.min(value.len())..];
    }
    (rows, columns)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The longest span from an `open` tag to its `close`, in bytes.
fn longest_element(xml: &[u8], open: &[u8], close: &[u8]) -> Option<usize> {
    let mut longest = None;
    let mut rest = xml;
    while let Some(start) = find(rest, open) {
        let body = &rest[start..];
        let Some(end) = find(body, close) else {
            return Some(longest.unwrap_or(0).max(body.len()));
        };
        longest = Some(longest.unwrap_or(0).max(end));
        rest = &body[end + close.len()..];
    }
    longest
}

/// Reads the first sheet of an XLSX workbook; its first row is the header.
pub(super) fn load_xlsx(file: &Path, problems: &mut Vec<Problem>) -> Vec<(RawEntry, usize)> {
    if let Err(message) = check_xlsx_limits(file) {
        problem(problems, file, 0, &message);
        return Vec::new();
    }
    let mut workbook: Xlsx<_> = match open_workbook(file) {
        Ok(w) => w,
        Err(e) => {
            problem(
                problems,
                file,
                0,
                &format!("cannot open XLSX workbook: {e}"),
            );
            return Vec::new();
        }
    };
    let range = match workbook.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            problem(
                problems,
                file,
                0,
                &format!("cannot read the first sheet: {e}"),
            );
            return Vec::new();
        }
        None => {
            problem(problems, file, 0, "the workbook has no sheet");
            return Vec::new();
        }
    };
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let first_col = range.start().map_or(0, |(_, c)| c as usize);
    let mut rows = range.rows().enumerate();
    let Some((_, header)) = rows.next() else {
        return Vec::new();
    };
    // Cells left of the used range are empty columns; keep positions aligned with the sheet.
    let pad = |row: &[Data]| -> Vec<String> {
        std::iter::repeat_n(String::new(), first_col)
            .chain(row.iter().map(cell_text))
            .collect()
    };
    let header = pad(header);
    let header_line = first_row + 1;
    let Some(layout) = layout(file, &header, header_line, problems) else {
        return Vec::new();
    };
    rows.filter_map(|(i, row)| {
        let line = first_row + i + 1;
        row_to_raw(&layout, &pad(row), file, line, problems).map(|raw| (raw, line))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn govbot_links_keep_their_label() {
        assert_eq!(
            convert_govbot_links(
                "詳しくは<総合サイト,https://www.example.go.jp/a?b=1>をご覧ください。"
            ),
            "詳しくは[総合サイト](https://www.example.go.jp/a?b=1)をご覧ください。"
        );
        assert_eq!(convert_govbot_links("a<b and c>d"), "a<b and c>d");
    }

    #[test]
    fn shift_jis_is_decoded_and_garbage_is_located() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("id,question,answer\n1,住民票,取れます\n");
        let mut problems = Vec::new();
        let text = decode(Path::new("x.csv"), &sjis, &mut problems).unwrap();
        assert!(text.contains("住民票"));
        let bad = b"id,question,answer\n1,ok,ok\n2,\xff\xfe\xff,x\n";
        assert!(decode(Path::new("x.csv"), bad, &mut problems).is_none());
        assert_eq!(problems[0].line, 3);
    }
}
