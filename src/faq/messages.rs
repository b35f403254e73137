//! FAQ problems in Japanese, for the staff console: the loaders word their problems in English
//! for logs and the command line; [`japanese`] gives the same problem to a municipality's FAQ
//! editor, who works in a spreadsheet.

use std::sync::LazyLock;

use regex::Regex;

/// (pattern over the English message, Japanese with `$name` from the pattern's groups).
const TABLE: &[(&str, &str)] = &[
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
    (r"^invalid CSV", "CSVとして読めません。"),
    (r"^invalid YAML", "YAMLとして読めません。"),
    (r"^invalid JSON", "JSONとして読めません。"),
    (
        r"^undecodable bytes",
        "文字コードが読めません。UTF-8 か Shift_JIS（CP932）で保存してください。",
    ),
    (r"^not valid UTF-8$", "UTF-8 として読めない文字があります。"),
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
        r"^the workbook|^cannot open XLSX|^cannot read the first sheet|^cannot read the workbook|^a cell's text is",
        "Excelファイルとして読めないか、大きすぎます（行は10万行、列は64列、1つのセルは256KBまで）。",
    ),
    (
        r"^municipality (?P<m>\d+) is not declared",
        "市区町村 $m はまだ登録されていません（管理者が madoguchi municipality add で登録します）。",
    ),
    (
        r"^'(?P<c>[^']*)' is not a municipality code: its check digit should be (?P<d>\d) \((?P<ok>\d+)\)",
        "「$c」は市区町村コードではありません（検査数字は $d、正しくは $ok）。",
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
            let mut out = String::new();
            caps.expand(ja, &mut out);
            return out;
        }
    }
    format!("（英語のメッセージ）{message}")
}

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
        assert!(japanese("something new").starts_with("（英語のメッセージ）"));
    }
}
