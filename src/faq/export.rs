//! FAQ entries written in the spreadsheet layout the importer reads (`super::tabular`): XLSX,
//! and CSV in UTF-8 with a BOM or in CP932 (Shift_JIS as Excel writes it), so that a download
//! edited in Excel and uploaded again loads to the same entries.

use super::Entry;

/// The header row: Japanese names the importer reads (one column per field).
pub const COLUMNS: [&str; 15] = [
    "id",
    "質問",
    "言い換え",
    "回答",
    "大分類",
    "中分類",
    "小分類",
    "タグ",
    "出典URL",
    "更新日",
    "範囲",
    "問い合わせ先",
    "電話番号",
    "問い合わせURL",
    "非表示",
];

/// Column widths in the XLSX (characters), in [`COLUMNS`] order.
const WIDTHS: [f64; 15] = [
    22.0, 40.0, 30.0, 70.0, 14.0, 14.0, 14.0, 16.0, 30.0, 11.0, 9.0, 22.0, 14.0, 30.0, 7.0,
];

/// One entry as a row: lists (言い換え, タグ) one item a line, categories in three columns,
/// `はい` for a hidden marker.
pub fn row(e: &Entry) -> [String; 15] {
    let cat = |i: usize| e.category.get(i).cloned().unwrap_or_default();
    let contact = e.contact.clone().unwrap_or_default();
    [
        e.id.clone(),
        e.question.clone(),
        e.alt_questions.join("\n"),
        e.answer.clone(),
        cat(0),
        cat(1),
        cat(2),
        e.tags.join("\n"),
        e.source_url.clone().unwrap_or_default(),
        e.updated.clone().unwrap_or_default(),
        e.scope.clone(),
        contact.office.unwrap_or_default(),
        contact.phone.unwrap_or_default(),
        contact.url.unwrap_or_default(),
        if e.hidden {
            "はい".into()
        } else {
            String::new()
        },
    ]
}

/// A cell as CSV gives it to Excel: one that Excel would read as a formula (`=`, `+`, `-`, `@`
/// first: a bulleted answer starts with `-`) gets a leading `'`, which the importer removes again.
fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn csv_text(entries: &[&Entry]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(COLUMNS).expect("in memory");
    for e in entries {
        w.write_record(row(e).iter().map(|c| csv_cell(c)))
            .expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8 in, UTF-8 out")
}

/// CSV in UTF-8 with a BOM (Excel then reads it as UTF-8), CRLF line ends.
pub fn csv_utf8(entries: &[&Entry]) -> Vec<u8> {
    let mut out = b"\xef\xbb\xbf".to_vec();
    out.extend(csv_text(entries).into_bytes());
    out
}

/// A character CP932 cannot hold, where it is: the spreadsheet row (header = 1) and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmappable {
    /// Spreadsheet row.
    pub row: usize,
    /// Column name.
    pub column: &'static str,
    /// The character.
    pub character: char,
}

/// CSV in CP932, as Excel on Japanese Windows writes it; refused, with every character it
/// cannot hold (emoji, 𠮷 and other characters outside JIS X 0208 and the IBM/NEC extensions),
/// rather than writing `?` or `&#…;` in their place.
pub fn csv_cp932(entries: &[&Entry]) -> Result<Vec<u8>, Vec<Unmappable>> {
    let mut bad = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        for (cell, column) in row(e).iter().zip(COLUMNS) {
            let mut buf = [0u8; 4];
            for ch in cell.chars() {
                let (_, _, unmappable) = encoding_rs::SHIFT_JIS.encode(ch.encode_utf8(&mut buf));
                if unmappable && !bad.iter().any(|u: &Unmappable| u.character == ch) {
                    bad.push(Unmappable {
                        row: i + 2,
                        column,
                        character: ch,
                    });
                }
            }
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    let text = csv_text(entries);
    let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
    Ok(bytes.into_owned())
}

/// An XLSX workbook of one sheet, `FAQ`: the header row in bold and frozen, every cell text
/// (so ids such as `001` and dates keep their form), long texts wrapped.
pub fn xlsx(entries: &[&Entry]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, FormatAlign, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("FAQ")?;
    let header = Format::new().set_bold().set_background_color("#E8EEF7");
    let text = Format::new()
        .set_text_wrap()
        .set_align(FormatAlign::Top)
        .set_num_format("@");
    for (c, (name, width)) in COLUMNS.iter().zip(WIDTHS).enumerate() {
        let c = u16::try_from(c).expect("15 columns");
        sheet.write_string_with_format(0, c, *name, &header)?;
        sheet.set_column_width(c, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (r, e) in entries.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, cell) in row(e).iter().enumerate() {
            if !cell.is_empty() {
                sheet.write_string_with_format(
                    r,
                    u16::try_from(c).expect("15 columns"),
                    cell,
                    &text,
                )?;
            }
        }
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            id: "001".into(),
            question: "粗大ごみの出し方は？".into(),
            alt_questions: vec!["大型ごみ".into(), "ソファを捨てたい".into()],
            answer: "- 電話で予約します。\n- 手数料は300円です。".into(),
            category: vec!["くらし".into(), "ごみ".into()],
            tags: vec!["粗大ごみ".into()],
            source_url: Some("https://www.town.mihon.example/gomi/".into()),
            updated: Some("2026-11-01".into()),
            scope: "999008".into(),
            contact: Some(super::super::Contact {
                office: Some("環境課".into()),
                phone: Some("0000-00-1401".into()),
                url: None,
            }),
            hidden: false,
        }
    }

    #[test]
    fn csv_defuses_formulas_and_cp932_refuses_what_it_cannot_hold() {
        let e = entry();
        let utf8 = String::from_utf8(csv_utf8(&[&e])).unwrap();
        assert!(utf8.starts_with("\u{feff}id,質問,言い換え,回答,"), "{utf8}");
        assert!(
            utf8.contains("\"'- 電話で予約します。\n- 手数料は300円です。\""),
            "{utf8}"
        );
        assert!(utf8.ends_with("\r\n"));
        let sjis = csv_cp932(&[&e]).unwrap();
        let (back, _, bad) = encoding_rs::SHIFT_JIS.decode(&sjis);
        assert!(!bad);
        assert_eq!(back, utf8.trim_start_matches('\u{feff}'));
        let mut odd = entry();
        odd.question = "𠮷野家の近くですか😀".into();
        assert_eq!(
            csv_cp932(&[&e, &odd]).unwrap_err(),
            [
                Unmappable {
                    row: 3,
                    column: "質問",
                    character: '𠮷'
                },
                Unmappable {
                    row: 3,
                    column: "質問",
                    character: '😀'
                }
            ]
        );
    }
}
