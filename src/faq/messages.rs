//! FAQ problems in Japanese, for the staff console: the loaders word their problems in English
//! for logs and the command line; [`japanese`] gives the same problem to a municipality's FAQ
//! editor, who works in a spreadsheet.

use std::sync::LazyLock;

use regex::Regex;

/// (pattern over the English message, Japanese with `$name` from the pattern's groups). A group
/// named `inner` holds another message (a notice's problem, why a folder name is not a code): it is
/// put in Japanese too. Patterns that wrap another message come first.
const TABLE: &[(&str, &str)] = &[
    (
        r"^(?P<inner>.*) \(the name of the folder\)$",
        "フォルダー名：$inner",
    ),
    (
        r"^notice '(?P<t>.*)': (?P<inner>.*)$",
        "お知らせ「$t」：$inner",
    ),
    (
        r"^entry '(?P<id>[^']*)': empty question$",
        "ID「$id」の質問が空です。",
    ),
    (
        r"^entry '(?P<id>[^']*)': empty answer$",
        "ID「$id」の回答が空です。",
    ),
    (r"^empty id$", "IDが空です。"),
    (r"^missing id$", "IDがありません。"),
    (
        r"^invalid id '(?P<id>.*)': use ASCII",
        "ID「$id」は使えません。IDは半角英数字と . _ - だけで、64文字以内にしてください。",
    ),
    (
        r"^duplicate id '(?P<id>[^']*)' in scope (?P<scope>\S+) \(first defined at (?P<at>.*)\)$",
        "ID「$id」が重複しています（対象 $scope。最初の定義：$at）。",
    ),
    (
        r"^entry '(?P<id>[^']*)' hides a national entry that does not exist$",
        "ID「$id」は非表示にする指定ですが、同じIDの全国共通FAQがありません。",
    ),
    (
        r"^entry '(?P<id>[^']*)': category has (?P<n>\d+) levels",
        "ID「$id」の分類が$n段あります。分類は大分類・中分類・小分類の3段までです。",
    ),
    (
        r"^entry '(?P<id>[^']*)': source_url '(?P<u>.*)' is not an http\(s\) URL$",
        "ID「$id」の出典URL「$u」が http:// または https:// で始まるURLではありません。",
    ),
    (
        r"^entry '(?P<id>[^']*)': contact url '(?P<u>.*)' is not an http\(s\) URL$",
        "ID「$id」の問い合わせURL「$u」が http:// または https:// で始まるURLではありません。",
    ),
    (
        r"^entry '(?P<id>[^']*)': updated '(?P<d>.*)' is not a date",
        "ID「$id」の更新日「$d」が日付として読めません（例：2026-04-01）。",
    ),
    (
        r"^entry '(?P<id>[^']*)': scope '(?P<s>[^']*)' in the folder of municipality (?P<m>\d+)$",
        "ID「$id」の範囲が「$s」ですが、このファイルは市区町村 $m のものです。範囲の列を $m にするか、空欄にしてください。",
    ),
    (
        r"^entry '(?P<id>[^']*)': scope '(?P<s>[^']*)' is neither 'national' nor a municipality code",
        "ID「$id」の範囲「$s」は national でも市区町村コード（検査数字つき6桁）でもありません。",
    ),
    (
        r"^entry '(?P<id>[^']*)': 'hidden' is only for a municipality's files",
        "ID「$id」：非表示の指定は、市区町村のファイルで全国共通FAQを隠すときだけ使えます。",
    ),
    (
        r"^hidden must be true or false, not '(?P<v>.*)'$",
        "非表示の列は「はい」か空欄にしてください（「$v」は読めません）。",
    ),
    (
        r"^category has an empty level above a filled one$",
        "分類に空きがあります（大分類が空のまま中分類がある、など）。",
    ),
    (
        r"^more cells than header columns$",
        "見出しのない列に値があります。",
    ),
    (
        r"^unknown column '(?P<h>.*)' \(column (?P<n>\d+)\)$",
        "$n列目の見出し「$h」は読めない列名です（使える列名は docs/faq-format.md を参照）。",
    ),
    (
        r"^column '(?P<h>.*)' appears twice$",
        "見出し「$h」が2回あります。",
    ),
    (
        r"^missing column for (?P<c>\w+)",
        "必須の列がありません（$c）。見出しの行に id・質問・回答 の列が必要です。",
    ),
    (
        r"^a quoted field is never closed",
        "引用符（\"）が閉じられていません。ファイルが途中で切れているようです。",
    ),
    (r"^invalid CSV header", "CSVの見出しの行が読めません。"),
    (r"^invalid CSV: (?P<d>.*)$", "CSVとして読めません（$d）。"),
    (r"^invalid YAML: (?P<d>.*)$", "YAMLとして読めません（$d）。"),
    (r"^invalid JSON: (?P<d>.*)$", "JSONとして読めません（$d）。"),
    (
        r"^undecodable bytes",
        "文字コードが読めません。UTF-8 か Shift_JIS（CP932）で保存してください。",
    ),
    (r"^not valid UTF-8$", "UTF-8 として読めない文字があります。"),
    (
        r"^cannot read: (?P<e>.*)$",
        "ファイルを読み込めませんでした（$e）。",
    ),
    (
        r"^cannot read FAQ directory .*: (?P<e>[^:]*)$",
        "FAQのフォルダーを読み込めませんでした（$e）。",
    ),
    (
        r"^the file holds no entries",
        "ファイルにFAQが1件もありません。項目を消したいときは、ファイルごと削除してください。",
    ),
    (
        r"^the file is (?P<n>\d+) MiB \(at most (?P<m>\d+) MiB\)",
        "ファイルが大きすぎます（$n MiB、上限 $m MiB）。分けてください。",
    ),
    (
        r"^unsupported file type '(?P<e>.*)'",
        "$e は扱えない形式です。.xlsx .csv .yaml .yml .json .jsonl のいずれかにしてください。",
    ),
    (
        r"^the workbook has (?P<n>\d+) parts \(at most (?P<m>\d+)\)",
        "Excelファイルの部品が多すぎます（$n個、上限$m個）。保存し直すか、ファイルを分けてください。",
    ),
    (
        r"^(?:\S+ in )?the workbook is larger than (?P<n>\d+) MiB uncompressed",
        "Excelファイルが展開すると $n MiB を超えます。ファイルを分けてください。",
    ),
    (
        r"^\S+ uses (?P<r>\d+) rows and (?P<c>\d+) columns \(at most (?P<mr>\d+) rows and (?P<mc>\d+) columns\)",
        "シートが$r行・$c列まで使われています（上限は$mr行・$mc列）。FAQの表の外にあるセルを消してください。",
    ),
    (
        r"^a cell's text is (?P<n>\d+) KiB \(at most (?P<m>\d+) KiB\)",
        "1つのセルの文字が多すぎます（$n KB、上限 $m KB）。",
    ),
    (
        r"^the workbook has no sheet$",
        "Excelファイルにシートがありません。",
    ),
    (
        r"^cannot open XLSX|^cannot read the first sheet|^cannot read the workbook|^cannot read \S+ in the workbook",
        "Excelファイル（.xlsx）として読めません。Excelで .xlsx 形式に保存し直してください。",
    ),
    (
        r"^municipality (?P<m>\d+) is not declared",
        "市区町村 $m はまだ登録されていません（管理者が madoguchi municipality add で登録します）。",
    ),
    (
        r"^'(?P<c>[^']*)' is not a municipality code: its check digit should be (?P<d>\d) \((?P<ok>\d+)\)",
        "「$c」は市区町村コードではありません（検査数字は $d、正しくは $ok）。",
    ),
    (
        r"^'(?P<c>.*)' is not a municipality code: give the 6-digit",
        "「$c」は市区町村コードではありません。6桁の全国地方公共団体コード（例：千代田区は 131016）にしてください。",
    ),
    (
        r"^a municipality is declared in municipalities/<code>/",
        "市区町村の設定（municipality.yaml）は municipalities/<市区町村コード>/ のフォルダーに置いてください。",
    ),
    (
        r"^a user dictionary applies to the whole index",
        "ユーザー辞書（userdict.csv）はすべてのFAQに効くため、FAQフォルダーの直下に置いてください。",
    ),
    (
        r"^category '(?P<c>.*)' is empty or listed twice$",
        "大分類の並び順に、空の分類か2回目の「$c」があります。",
    ),
    (
        r"^popular lists '(?P<id>.*)' twice$",
        "よくある質問に ID「$id」が2回あります。",
    ),
    (
        r"^popular lists (?P<n>\d+) entries; at most (?P<m>\d+)",
        "よくある質問が$n件あります。最初の画面に出せるのは$m件までです。",
    ),
    (
        r"^popular entry '(?P<id>.*)' is not an entry all residents see$",
        "よくある質問の ID「$id」は、全国共通FAQにありません（削除や非表示になっていないか確かめてください）。",
    ),
    (
        r"^popular entry '(?P<id>.*)' is not an entry (?P<m>\d+) residents see$",
        "よくある質問の ID「$id」は、市区町村 $m の住民に表示されるFAQにありません（削除や非表示になっていないか確かめてください）。",
    ),
    (
        r"^the title must be 1 to 100 characters$",
        "見出しは1文字以上100文字以内にしてください。",
    ),
    (
        r"^the text is longer than 400 characters$",
        "本文は400文字以内にしてください。",
    ),
    (
        r"^url '(?P<u>.*)' is not an http\(s\) URL$",
        "URL「$u」が http:// または https:// で始まるURLではありません。",
    ),
    (
        r"^from and until are dates written YYYY-MM-DD$",
        "掲載の開始日（from）と終了日（until）は 2027-01-04 のように書いてください。",
    ),
    (
        r"^from (?P<f>\S+) is after until (?P<u>\S+)$",
        "掲載の開始日 $f が終了日 $u より後です。",
    ),
    (
        r"^code '(?P<c>.*)' is not the folder's code (?P<m>\d+)$",
        "code の「$c」がフォルダー名のコード $m と違います。",
    ),
    (
        r"^missing name",
        "市区町村名（name）がありません（例：name: 見本町）。",
    ),
    (
        r"^name is longer than 40 characters$",
        "市区町村名（name）は40文字以内にしてください。",
    ),
    (
        r"^missing fallback office",
        "案内先の窓口（fallback の office）がありません。どのFAQにも当てはまらない質問のときに住民へ案内する窓口です（例：fallback: {office: 総合案内課, phone: 000-000-0000}）。",
    ),
    (
        r"^fallback url '(?P<u>.*)' is not an http\(s\) URL$",
        "案内先の窓口のURL「$u」が http:// または https:// で始まるURLではありません。",
    ),
    (
        r"^'(?P<p>.*)' is not a relative path inside the FAQ directory$",
        "「$p」はFAQフォルダーの中のファイルを指していません。",
    ),
];

static COMPILED: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    TABLE
        .iter()
        .map(|(re, ja)| (Regex::new(re).expect("static regex"), *ja))
        .collect()
});

/// The problem `message` (as the loaders word it) in Japanese; a message with no Japanese form
/// yet is given as it is, marked as such.
pub fn japanese(message: &str) -> String {
    for (re, ja) in COMPILED.iter() {
        if let Some(caps) = re.captures(message) {
            let template = match caps.name("inner") {
                Some(inner) => ja.replace("$inner", &japanese(inner.as_str()).replace('$', "$$")),
                None => (*ja).to_owned(),
            };
            let mut out = String::new();
            caps.expand(&template, &mut out);
            return out;
        }
    }
    format!("{UNTRANSLATED}{message}")
}

/// What starts a message that has no Japanese form yet (the English follows).
pub const UNTRANSLATED: &str = "（英語のメッセージ）";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_in_japanese_with_their_details() {
        assert_eq!(
            japanese("entry 'gomi-1': empty answer"),
            "ID「gomi-1」の回答が空です。"
        );
        assert_eq!(
            japanese("duplicate id 'a' in scope 999008 (first defined at overrides.xlsx:3)"),
            "ID「a」が重複しています（対象 999008。最初の定義：overrides.xlsx:3）。"
        );
        assert_eq!(
            japanese("entry 'x': scope 'national' in the folder of municipality 999008"),
            "ID「x」の範囲が「national」ですが、このファイルは市区町村 999008 のものです。範囲の列を 999008 にするか、空欄にしてください。"
        );
        assert_eq!(
            japanese("unknown column 'メモ' (column 16)"),
            "16列目の見出し「メモ」は読めない列名です（使える列名は docs/faq-format.md を参照）。"
        );
        assert_eq!(
            japanese("notice '年末年始': from 2026-12-29 is after until 2026-12-01"),
            "お知らせ「年末年始」：掲載の開始日 2026-12-29 が終了日 2026-12-01 より後です。"
        );
        assert_eq!(
            japanese(
                "'99900' is not a municipality code: give the 6-digit 全国地方公共団体コード \
                 (e.g. 131016 for 千代田区) (the name of the folder)"
            ),
            "フォルダー名：「99900」は市区町村コードではありません。6桁の全国地方公共団体コード（例：千代田区は 131016）にしてください。"
        );
        assert!(japanese("something new").starts_with(UNTRANSLATED));
    }

    /// Every problem the FAQ loaders can word has a Japanese form, so that the staff console
    /// never shows an upload's problem in English: each string literal of the loaders' code
    /// that holds a space (the messages; a few format strings that are not are listed), with
    /// its `{…}` filled in, must match a pattern of the table. A new message without one fails here.
    #[test]
    fn every_loader_message_has_a_japanese_form() {
        const SOURCES: &[(&str, &str)] = &[
            ("load.rs", include_str!("load.rs")),
            ("tabular.rs", include_str!("tabular.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("raw.rs", include_str!("raw.rs")),
            ("snapshot.rs", include_str!("snapshot.rs")),
        ];
        const NOT_MESSAGES: &[&str] = &[
            "{}: {}",
            "{}:{}: {}",
            r"{} problem(s) in the FAQ files; nothing was loaded:\n{}",
            "static regex",
        ];
        let literal = Regex::new(r#""((?:[^"\\]|\\.)*)""#).unwrap();
        let continuation = Regex::new(r"\\\n\s*").unwrap();
        let placeholder = Regex::new(r"\{[^{}]*\}").unwrap();
        let mut checked = Vec::new();
        let mut english = Vec::new();
        for (name, source) in SOURCES {
            let code: Vec<&str> = source
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            // A quote character is not a string's start.
            let code = code.join("\n").replace("'\"'", "''");
            for c in literal.captures_iter(&code) {
                let text = continuation.replace_all(&c[1], "");
                let is_message = text.contains(' ')
                    && text.starts_with(|ch: char| ch.is_ascii_lowercase() || "'{(".contains(ch))
                    && !NOT_MESSAGES.contains(&text.as_ref());
                if !is_message {
                    continue;
                }
                let sample = placeholder.replace_all(&text, "1");
                if japanese(&sample).starts_with(UNTRANSLATED) {
                    english.push(format!("{name}: {text}"));
                }
                checked.push(sample.into_owned());
            }
        }
        assert!(
            english.is_empty(),
            "no Japanese form for:\n{}",
            english.join("\n")
        );
        // The scan finds the messages (about 70 today), not nothing.
        assert!(
            checked.len() >= 60,
            "only {} messages found: {checked:?}",
            checked.len()
        );
    }
}
