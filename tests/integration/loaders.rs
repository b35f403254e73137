//! Every FAQ file format, and malformed files rejected whole with file:line problems.

use madoguchi::faq::{self, Entry};

use crate::helpers::{copy_dir, fixture};

fn load(rel: &str) -> Vec<Entry> {
    faq::load_file(&fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn problems(dir: &std::path::Path) -> Vec<String> {
    match faq::load_dir(dir) {
        Err(faq::Error::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn yaml_reads_every_field() {
    let e = load("formats/own.yaml");
    assert_eq!(e.len(), 2);
    let y1 = &e[0];
    assert_eq!(y1.id, "y-1");
    assert_eq!(y1.alt_questions, ["児童手当の支給日", "じどうてあて いつ"]);
    assert_eq!(y1.category, ["子育て", "児童手当", "支給"]);
    assert_eq!(y1.updated.as_deref(), Some("2026-10-01"));
    assert_eq!(y1.source_url.as_deref(), Some("https://www.cfa.go.jp/"));
    let c = y1.contact.as_ref().unwrap();
    assert_eq!(c.phone.as_deref(), Some("0000-00-0000"));
    assert_eq!(y1.scope, "national");
    assert!(e[1].alt_questions.is_empty() && e[1].contact.is_none());
}

#[test]
fn json_category_may_be_a_path_string() {
    let e = load("formats/own.json");
    assert_eq!(e[0].category, ["年金", "国民年金", "免除"]);
    assert_eq!(e[1].alt_questions, ["ねんきんネット"]);
}

#[test]
fn jsonl_skips_blank_lines() {
    let e = load("formats/own.jsonl");
    assert_eq!(
        e.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["l-1", "l-2"]
    );
    assert_eq!(e[1].tags, ["行政相談", "苦情"]);
}

#[test]
fn utf8_csv_with_lists_multiline_answers_and_slash_dates() {
    let e = load("formats/own_utf8.csv");
    assert_eq!(
        e[0].alt_questions,
        ["軽自動車税の納期", "けいじどうしゃぜい いつ"]
    );
    assert_eq!(e[0].category, ["税", "軽自動車税"]);
    assert_eq!(e[0].updated.as_deref(), Some("2026-10-01"));
    assert_eq!(
        e[0].contact.as_ref().unwrap().office.as_deref(),
        Some("お住まいの市区町村の税務担当窓口")
    );
    assert!(e[1].answer.contains("1,000円") && e[1].answer.contains('\n'));
}

#[test]
fn csv_with_bom_and_japanese_headers() {
    let e = load("formats/own_bom.csv");
    assert_eq!(e[0].id, "b-1");
    assert_eq!(e[0].tags, ["ふるさと納税", "ワンストップ"]);
    assert_eq!(e[0].category, ["税", "ふるさと納税"]);
}

#[test]
fn shift_jis_csv_as_excel_writes_it() {
    let bytes = std::fs::read(fixture("formats/own_sjis.csv")).unwrap();
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "fixture must really be Shift_JIS"
    );
    let e = load("formats/own_sjis.csv");
    assert_eq!(e[0].question, "印鑑登録証明書を代理人が受け取れますか。");
    // CP932 extensions (circled digits, 髙) decode too.
    assert_eq!(e[1].question, "①番の窓口はどこですか～");
    assert!(e[1].answer.starts_with("髙橋"));
}

#[test]
fn govbot_layout_converts_links_and_keeps_labels() {
    for rel in ["formats/govbot.csv", "formats/govbot_sjis.csv"] {
        let e = load(rel);
        assert_eq!(e[0].id, "1001");
        assert_eq!(e[0].category, ["マイナンバーカード", "申請", "申請方法"]);
        assert_eq!(
            e[0].answer,
            "申請方法は4つあります。詳しくは[マイナンバーカード総合サイト](https://www.kojinbango-card.go.jp/)をご覧ください。"
        );
        assert_eq!(e[1].category, ["証明書", "コンビニ交付"]);
        assert!(
            e[1].answer
                .ends_with("[対応市区町村の一覧](https://www.lg-waps.go.jp/)")
        );
    }
}

#[test]
fn xlsx_first_sheet_with_header_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faq.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows: [[&str; 5]; 3] = [
        ["id", "question", "answer", "大分類", "tags"],
        [
            "x-1",
            "介護保険の申請はどこでしますか。",
            "市区町村の介護保険担当窓口です。",
            "介護保険",
            "介護|要介護認定",
        ],
        ["", "", "", "", ""],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *cell).unwrap();
        }
    }
    sheet.write_number(3, 0, 42.0).unwrap();
    sheet.write_string(3, 1, "番号だけのIDは？").unwrap();
    sheet
        .write_string(3, 2, "数値のセルも文字列として読みます。")
        .unwrap();
    book.add_worksheet()
        .write_string(0, 0, "second sheet is ignored")
        .unwrap();
    book.save(&path).unwrap();
    let e = faq::load_file(&path).unwrap();
    assert_eq!(e.len(), 2, "blank rows are skipped");
    assert_eq!(e[0].tags, ["介護", "要介護認定"]);
    assert_eq!(e[0].category, ["介護保険"]);
    assert_eq!(e[1].id, "42");
}

/// A workbook whose parts are given as (name, XML) and written with deflate.
fn workbook(path: &std::path::Path, parts: &[(&str, &[u8])]) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, body) in parts {
        zip.start_file(*name, options).unwrap();
        zip.write_all(body).unwrap();
    }
    zip.finish().unwrap();
}

const CONTENT_TYPES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const RELS: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="FAQ" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;

fn bomb(dir: &std::path::Path, sheet: &[u8], strings: &[u8]) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    workbook(
        &dir.join("faq.xlsx"),
        &[
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", RELS),
            ("xl/workbook.xml", WORKBOOK),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", strings),
        ],
    );
    problems(dir)
}

const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c><c r="B1" t="inlineStr"><is><t>question</t></is></c><c r="C1" t="inlineStr"><is><t>answer</t></is></c></row>"#;

/// Issue #18's two XLSX bombs: one cell at the last column and row (the reader allocated a
/// grid of 17 billion cells and the process aborted), and shared strings that inflate far
/// beyond the file (OOM). Both are refused with the file named; nothing is allocated for them.
#[test]
fn xlsx_bombs_are_refused_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let far = format!(
        r#"{SHEET_HEAD}<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>"#
    );
    let p = bomb(&dir.path().join("far"), far.as_bytes(), b"<sst></sst>");
    assert!(
        p.iter()
            .any(|p| p.contains("faq.xlsx") && p.contains("1048576 rows and 16384 columns")),
        "{p:?}"
    );
    let strings = format!(
        "<sst><si><t>{}</t></si></sst>",
        "あ".repeat(24 << 20) // 72 MiB of text, a few hundred KiB compressed
    );
    let sheet = format!(r#"{SHEET_HEAD}</sheetData></worksheet>"#);
    let p = bomb(
        &dir.path().join("inflated"),
        sheet.as_bytes(),
        strings.as_bytes(),
    );
    assert!(
        p.iter()
            .any(|p| p.contains("larger than 64 MiB uncompressed")),
        "{p:?}"
    );
    let strings = format!("<sst><si><t>{}</t></si></sst>", "a".repeat(300 << 10));
    let p = bomb(
        &dir.path().join("long"),
        sheet.as_bytes(),
        strings.as_bytes(),
    );
    assert!(p.iter().any(|p| p.contains("a cell's text is")), "{p:?}");
}

#[test]
fn directory_overlay_scopes_municipal_files_by_folder() {
    let corpus = faq::load_dir(&fixture("faq_small")).unwrap();
    assert_eq!(
        corpus.municipality_codes().into_iter().collect::<Vec<_>>(),
        ["999903"]
    );
    let town = corpus.get("sodai-gomi", Some("999903")).unwrap();
    assert!(town.answer.contains("見本町"));
    assert!(
        corpus.get("kokuho-late", Some("999903")).is_none(),
        "hidden in the town"
    );
    assert!(
        corpus.get("kokuho-late", None).is_some(),
        "still national elsewhere"
    );
}

#[test]
fn every_problem_is_listed_with_file_and_line_and_nothing_loads() {
    let p = problems(&fixture("malformed/many"));
    let expect = [
        "malformed/many/a.yaml:4: entry 'no-answer': empty answer",
        "malformed/many/a.yaml:7: entry 'bad-date': updated '2026-13-45' is not a date (YYYY-MM-DD)",
        "malformed/many/a.yaml:11: entry 'bad-url': source_url 'javascript:alert(1)' is not an http(s) URL",
        "malformed/many/b.csv:1: unknown column 'colour' (column 4)",
        "malformed/many/c.csv:3: undecodable bytes: the file is neither UTF-8 nor Shift_JIS (CP932)",
        "malformed/many/notes.xls: unsupported file type '.xls'",
    ];
    assert_eq!(p.len(), expect.len(), "{p:#?}");
    for (got, want) in p.iter().zip(expect) {
        assert!(got.contains(want), "{got}\n  does not contain\n{want}");
    }
}

#[test]
fn yaml_syntax_error_and_unknown_field_are_located() {
    for (file, line, msg) in [
        ("syntax.yaml", 5, "mapping values are not allowed"),
        ("unknown_field.yaml", 4, "unknown field `anser`"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(fixture(&format!("malformed/{file}")), dir.path().join(file)).unwrap();
        let p = problems(dir.path());
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains(&format!("{file}:{line}: invalid YAML")),
            "{}",
            p[0]
        );
        assert!(p[0].contains(msg), "{}", p[0]);
    }
}

#[test]
fn duplicate_ids_across_files_name_both_places() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("formats/govbot.csv"), dir.path().join("a.csv")).unwrap();
    std::fs::copy(fixture("formats/govbot_sjis.csv"), dir.path().join("b.csv")).unwrap();
    let p = problems(dir.path());
    assert_eq!(p.len(), 2);
    let want = format!(
        "b.csv:2: duplicate id '1001' in scope national (first defined at {}:2)",
        dir.path().join("a.csv").display()
    );
    assert!(p[0].ends_with(&want), "{}", p[0]);
}

#[test]
fn municipal_layer_rules_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("faq_small"), dir.path());
    let town = dir.path().join("municipalities/999903/more.yaml");
    std::fs::write(
        &town,
        "- id: no-such-national\n  hidden: true\n- id: wrong-scope\n  question: q\n  answer: a\n  scope: '999024'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("national/hide.yaml"),
        "- id: nat-hidden\n  hidden: true\n",
    )
    .unwrap();
    let p = problems(dir.path());
    assert!(
        p.iter().any(|m| m.contains(
            "more.yaml:1: entry 'no-such-national' hides a national entry that does not exist"
        )),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|m| m.contains(
            "more.yaml:3: entry 'wrong-scope': scope '999024' in the folder of municipality 999903"
        )),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|m| m.contains(
            "hide.yaml:1: entry 'nat-hidden': 'hidden' is only for a municipality's files"
        )),
        "{p:#?}"
    );
}

#[test]
fn user_dictionary_is_skipped_at_the_top_and_refused_in_a_municipality() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("faq_small"), dir.path());
    std::fs::write(dir.path().join("userdict.csv"), "マイナ,名詞,マイナ\n").unwrap();
    let corpus = faq::load_dir(dir.path()).unwrap();
    assert!(corpus.get("sodai-gomi", Some("999903")).is_some());
    let misplaced = dir.path().join("municipalities/999903/userdict.csv");
    std::fs::write(&misplaced, "マイナ,名詞,マイナ\n").unwrap();
    let p = problems(dir.path());
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with(&misplaced.display().to_string())
            && p[0].contains("applies to the whole index"),
        "{p:?}"
    );
}

#[test]
fn municipalities_are_declared_with_valid_codes() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("faq_small"), dir.path());
    let corpus = faq::load_dir(dir.path()).unwrap();
    let town = &corpus.municipalities["999903"];
    assert_eq!(town.name, "テスト町");
    assert_eq!(
        town.fallback.office.as_deref(),
        Some("テスト町役場 総合窓口")
    );

    // A folder whose check digit is wrong (99990 calls for 3), entries of an undeclared town,
    // and declarations that lack a name or office, name another code or sit in the wrong place.
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "municipalities/999909/town.yaml",
        "- id: x\n  question: q\n  answer: a\n",
    );
    write(
        "municipalities/999024/town.yaml",
        "- id: x\n  question: q\n  answer: a\n",
    );
    write(
        "municipalities/131016/municipality.yaml",
        "name: 千代田区\n",
    );
    write(
        "municipalities/131041/municipality.yaml",
        "code: 131016\nname: 新宿区\nfallback:\n  office: 区役所\n  url: ftp://x\n",
    );
    write("national/municipality.yaml", "name: x\n");
    let p = problems(dir.path());
    let has = |want: &str| {
        assert!(p.iter().any(|m| m.contains(want)), "{want}\n{p:#?}");
    };
    has(
        "999909/town.yaml: '999909' is not a municipality code: its check digit should be 3 (999903)",
    );
    has(
        "999024/town.yaml:1: municipality 999024 is not declared: add municipalities/999024/municipality.yaml",
    );
    has("131016/municipality.yaml: missing fallback office");
    has("131041/municipality.yaml:1: code '131016' is not the folder's code 131041");
    has("131041/municipality.yaml:5: fallback url 'ftp://x' is not an http(s) URL");
    has(
        "national/municipality.yaml: a municipality is declared in municipalities/<code>/municipality.yaml",
    );
    assert_eq!(p.len(), 6, "{p:#?}");
}

/// `menu.yaml` and a town's `popular`/`notices` (issue #20): read into the corpus, and every
/// mistake named with its file and line.
#[test]
fn the_opening_screen_is_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("faq_small"), dir.path());
    let write = |rel: &str, text: &str| std::fs::write(dir.path().join(rel), text).unwrap();
    write(
        "menu.yaml",
        "categories: [証明書, くらし]\npopular: [juminhyo-conbini, card-renew]\nnotices:\n  - title: 年末年始のお知らせ\n    until: 2027-01-03\n",
    );
    let town = "municipalities/999903/municipality.yaml";
    let declared = std::fs::read_to_string(dir.path().join(town)).unwrap();
    write(
        town,
        &format!(
            "{declared}popular: [town-hours, sodai-gomi]\nnotices:\n  - title: 窓口の時間が変わります\n    url: https://www.example.jp/\n"
        ),
    );
    let corpus = faq::load_dir(dir.path()).unwrap();
    assert_eq!(corpus.menu.categories, ["証明書", "くらし"]);
    assert_eq!(corpus.menu.popular, ["juminhyo-conbini", "card-renew"]);
    assert_eq!(corpus.menu.notices[0].until.as_deref(), Some("2027-01-03"));
    let t = &corpus.municipalities["999903"].menu;
    assert_eq!(t.popular, ["town-hours", "sodai-gomi"]);
    assert_eq!(t.notices[0].title, "窓口の時間が変わります");
    assert!(t.notices[0].shown_on("2026-12-03"));
    assert!(corpus.menu.notices[0].shown_on("2027-01-03"));
    assert!(!corpus.menu.notices[0].shown_on("2027-01-04"));

    // An unknown id, an entry the town hides, a bad date, a bad URL, a reversed window, a
    // duplicate: each a problem at its line; the whole load is refused.
    write(
        "menu.yaml",
        "categories: [証明書, 証明書]\npopular:\n  - no-such-entry\n  - card-renew\n  - card-renew\nnotices:\n  - title: 休み\n    from: 2027-1-4\n  - title: 工事\n    url: javascript:alert(1)\n  - title: 逆\n    from: 2027-02-01\n    until: 2027-01-01\n",
    );
    write(town, &format!("{declared}popular: [kokuho-late]\n"));
    let p = problems(dir.path());
    let has = |want: &str| assert!(p.iter().any(|m| m.contains(want)), "{want}\n{p:#?}");
    has("menu.yaml:1: category '証明書' is empty or listed twice");
    has("menu.yaml:3: popular entry 'no-such-entry' is not an entry all residents see");
    has("menu.yaml:4: popular lists 'card-renew' twice");
    has("notice '休み': from and until are dates written YYYY-MM-DD");
    has("notice '工事': url 'javascript:alert(1)' is not an http(s) URL");
    has("notice '逆': from 2027-02-01 is after until 2027-01-01");
    has(
        "999903/municipality.yaml:5: popular entry 'kokuho-late' is not an entry 999903 residents see",
    );
}
