//! Bounded fuzzing of every parser a resident or an editor can feed (issue #18): the FAQ
//! loaders for each format (valid files mutated: bytes flipped, cut, spliced, control and
//! multi-byte characters inserted), the masker and the query analyzer. None may panic or abort;
//! the masker stays idempotent. `MADOGUCHI_FUZZ_CASES` sets the cases per target (default 500;
//! `scripts/test.sh` runs the default, which keeps each target to a few seconds).

use std::path::Path;

use madoguchi::analysis::{Analyzer, DictSource};
use madoguchi::faq;

use crate::helpers::fixture;

/// A small deterministic generator (no dependency, reproducible from the seed in the message).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn cases() -> usize {
    std::env::var("MADOGUCHI_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

const PIECES: [&str; 16] = [
    "\"",
    ",",
    "\n",
    "\r\n",
    "\t",
    "\u{0}",
    "\u{feff}",
    "－",
    "住民票",
    "[FAQ:x]",
    "{",
    "}",
    ": ",
    "- ",
    "\u{202e}",
    "０９０",
];

/// One mutation of `bytes`.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            b.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
            continue;
        }
        let at = rng.below(b.len());
        match rng.below(5) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b.truncate(at),
            2 => {
                let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                b.splice(at..at, piece.iter().copied());
            }
            3 => {
                let len = rng.below(64).min(b.len() - at);
                let chunk: Vec<u8> = b[at..at + len].to_vec();
                let to = rng.below(b.len());
                b.splice(to..to, chunk);
            }
            _ => {
                let end = (at + rng.below(32)).min(b.len());
                b.drain(at..end);
            }
        }
    }
    b
}

fn fuzz_file(name: &str, original: &[u8], seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    for case in 0..cases() {
        let bytes = mutate(&mut rng, original);
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            let _ = faq::load_file(&path);
            let _ = faq::load_dir(dir.path());
        });
        assert!(
            outcome.is_ok(),
            "{name}: case {case} (seed {seed}) panicked; input kept at {}",
            keep(&path, &bytes)
        );
    }
}

/// Copies a failing input where it survives the test.
fn keep(path: &Path, bytes: &[u8]) -> String {
    let kept = std::env::temp_dir().join(format!(
        "madoguchi-fuzz-{}",
        path.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::write(&kept, bytes);
    kept.display().to_string()
}

#[test]
fn faq_loaders_survive_mutated_files() {
    for (i, name) in [
        "own.yaml",
        "own.json",
        "own.jsonl",
        "own_utf8.csv",
        "own_sjis.csv",
        "govbot.csv",
    ]
    .iter()
    .enumerate()
    {
        let original = std::fs::read(fixture(&format!("formats/{name}"))).unwrap();
        let target = if name.ends_with(".csv") {
            "faq.csv".to_owned()
        } else {
            format!("faq.{}", name.rsplit('.').next().unwrap())
        };
        fuzz_file(&target, &original, 0x5eed_0000 + i as u64);
    }
}

#[test]
fn the_xlsx_loader_survives_mutated_workbooks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faq.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["id", "question", "answer"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..6u32 {
        sheet.write_string(r, 0, format!("x-{r}")).unwrap();
        sheet
            .write_string(r, 1, "住民票はどこで取れますか。")
            .unwrap();
        sheet
            .write_string(r, 2, "市役所の窓口で取れます。")
            .unwrap();
    }
    book.save(&path).unwrap();
    let original = std::fs::read(&path).unwrap();
    fuzz_file("faq.xlsx", &original, 0x5eed_1000);
}

#[test]
fn the_masker_never_panics_and_stays_idempotent() {
    let mut rng = Rng(0x5eed_2000);
    let pool: Vec<char> = "0123456789０１２３４５６７８９〇一二三四五六七八九十-－ー.．@＠ ()（）〒様さん名前は生年月日昭和年月日口座普通記号番号保険証旅券TKaAt東京都大阪市1丁目号室\u{0}\u{feff}\n"
        .chars()
        .collect();
    for case in 0..cases() * 10 {
        let len = rng.below(60);
        let text: String = (0..len).map(|_| pool[rng.below(pool.len())]).collect();
        let once = std::panic::catch_unwind(|| madoguchi::mask::mask(&text));
        let once = once.unwrap_or_else(|_| panic!("case {case}: panicked on {text:?}"));
        let twice = madoguchi::mask::mask(&once.text);
        assert_eq!(
            twice.text, once.text,
            "case {case}: not idempotent on {text:?}"
        );
    }
}

#[test]
fn the_query_analyzer_never_panics() {
    let analyzer = Analyzer::load(&DictSource::Path(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".lindera-cache/ipadic"),
    ))
    .unwrap();
    let mut rng = Rng(0x5eed_3000);
    let pool: Vec<char> = "住民票マイナンバーカードをコンビニで取りたいｶﾀｶﾅ㍻①ⅱ\u{0}\u{200b}\u{feff}\u{fffd}\u{1f600}a1 　、。！？「」\n\t"
        .chars()
        .collect();
    for case in 0..cases() * 5 {
        let len = rng.below(80);
        let text: String = (0..len).map(|_| pool[rng.below(pool.len())]).collect();
        let outcome = std::panic::catch_unwind(|| {
            let _ = analyzer.terms(&text);
            let _ = analyzer.inspect(&text);
            let _ = analyzer.reading(&text);
        });
        assert!(outcome.is_ok(), "case {case}: panicked on {text:?}");
    }
}
