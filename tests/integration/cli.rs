//! The `madoguchi` binary end to end, on a temporary copy of a small FAQ.

use serde_json::Value;

use crate::helpers::{copy_dir, fixture, madoguchi, stderr, stdout};

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("faq_small"), &dir.path().join("faq"));
    dir
}

/// A work directory searched by words alone (`[search] semantic_weight = 0`), for the tests of
/// the lexical features: with the semantic leg, a question no word matches still finds the
/// entries nearest in meaning.
fn lexical_workdir() -> tempfile::TempDir {
    let dir = workdir();
    std::fs::write(
        dir.path().join("madoguchi.toml"),
        "[search]\nsemantic_weight = 0.0\n",
    )
    .unwrap();
    dir
}

fn search_json(dir: &std::path::Path, args: &[&str]) -> Value {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    let out = madoguchi(dir, &all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn index_then_search_prints_ranked_json_hits() {
    let dir = workdir();
    let out = madoguchi(dir.path(), &["index"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("indexed 6 entries (1 municipalities)"),
        "{}",
        stdout(&out)
    );
    let v = search_json(
        dir.path(),
        &["マイナカードの電子証明書、期限がきれそう", "--k", "2"],
    );
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["id"], "card-renew");
    assert_eq!(
        hits[0]["category"],
        serde_json::json!(["マイナンバーカード", "電子証明書", "更新"])
    );
    assert!(
        hits[0]["answer"]
            .as_str()
            .unwrap()
            .contains("5回目の誕生日")
    );
    assert!(hits[0]["score"].as_f64().unwrap() > hits[1]["score"].as_f64().unwrap());
}

#[test]
fn search_builds_a_missing_index_and_rebuilds_a_stale_one() {
    let dir = workdir();
    let v = search_json(dir.path(), &["コンビニで住民票"]);
    assert_eq!(v["hits"][0]["id"], "juminhyo-conbini");
    assert!(dir.path().join("index/current").exists());
    std::fs::write(
        dir.path().join("faq/national/new.yaml"),
        "- id: pension-exempt\n  question: 国民年金の保険料を免除してほしい\n  answer: 免除申請ができます。\n",
    )
    .unwrap();
    let v = search_json(dir.path(), &["年金の免除"]);
    assert_eq!(v["hits"][0]["id"], "pension-exempt");
}

/// Issue #18: a damaged index (a segment overwritten or truncated) stopped the service at start,
/// or gave 500s and SIGBUS while serving. It is now rebuilt from `faq/` at start.
#[test]
fn a_damaged_index_is_rebuilt_from_the_faq_files() {
    let dir = lexical_workdir();
    let out = madoguchi(dir.path(), &["index"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let generation = dir.path().join("index/current");
    let mut segments: Vec<_> = std::fs::read_dir(&generation)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| ["idx", "term", "store", "pos"].contains(&e.to_str().unwrap()))
        })
        .collect();
    segments.sort();
    assert!(!segments.is_empty());
    // Overwrite the middle of one segment file and truncate another.
    let target = &segments[0];
    let mut bytes = std::fs::read(target).unwrap();
    let (mid, len) = (bytes.len() / 2, bytes.len());
    for b in &mut bytes[mid..(mid + 16).min(len)] {
        *b ^= 0xff;
    }
    std::fs::write(target, &bytes).unwrap();
    let last = segments.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = madoguchi(dir.path(), &["search", "--json", "コンビニで住民票"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["hits"][0]["id"], "juminhyo-conbini");
    // Rebuilt: the next run opens it without complaint.
    let out = madoguchi(dir.path(), &["search", "--json", "コンビニで住民票"]);
    assert!(!stderr(&out).contains("damaged"), "{}", stderr(&out));
}

#[test]
fn municipality_view_and_unknown_code() {
    let dir = workdir();
    let v = search_json(
        dir.path(),
        &["粗大ごみの出し方", "--municipality", "999903"],
    );
    assert!(v["hits"][0]["answer"].as_str().unwrap().contains("見本町"));
    let out = madoguchi(dir.path(), &["search", "ごみ", "-m", "123456"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown municipality '123456'; known: 999903"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn broken_faq_is_rejected_and_the_old_index_keeps_serving() {
    let dir = workdir();
    assert!(madoguchi(dir.path(), &["index"]).status.success());
    std::fs::write(
        dir.path().join("faq/national/broken.yaml"),
        "- id: x\n  question: 質問だけ\n",
    )
    .unwrap();
    let out = madoguchi(dir.path(), &["index"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("broken.yaml:1: entry 'x': empty answer"),
        "{}",
        stderr(&out)
    );
    // The search still answers from the last good index, and says why it did not rebuild.
    let out = madoguchi(dir.path(), &["search", "--json", "住民票 コンビニ"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("juminhyo-conbini"));
    assert!(
        stderr(&out).contains("keeping the previous index"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn empty_question_is_an_error_and_nothing_matching_is_not() {
    let dir = workdir();
    let out = madoguchi(dir.path(), &["search", "   "]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("the question is empty"));
    let v = search_json(dir.path(), &["。、！"]);
    assert_eq!(v["hits"], serde_json::json!([]));
}

#[test]
fn check_reports_counts() {
    let dir = workdir();
    let out = madoguchi(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "faq: OK, 4 national entries, 3 municipal entries in 1 municipalities, 1 synonym groups, 0 user dictionary words"
    );
}

#[test]
fn user_dictionary_changes_the_analysis_and_bad_lines_are_named() {
    let dir = lexical_workdir();
    let analyze = |dir: &std::path::Path| {
        let out = madoguchi(dir, &["analyze", "マイナポータル"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(analyze(dir.path()).contains("terms: まいなぽーたる"));
    // マイナ alone matches nothing while マイナカード is one unknown word.
    assert_eq!(
        search_json(dir.path(), &["マイナ"])["hits"],
        serde_json::json!([])
    );
    std::fs::write(
        dir.path().join("faq/userdict.csv"),
        "# split the katakana compound\nマイナ,名詞,マイナ\nポータル,名詞,ポータル\nカード,名詞,カード\n",
    )
    .unwrap();
    assert!(analyze(dir.path()).contains("terms: まいな ぽーたる"));
    let out = madoguchi(dir.path(), &["check"]);
    assert!(
        stdout(&out).contains(", 3 user dictionary words"),
        "{}",
        stdout(&out)
    );
    // The index built before is stale now: search rebuilds it, and マイナカード is split.
    let v = search_json(dir.path(), &["マイナ"]);
    assert_eq!(v["hits"][0]["id"], "card-renew", "{v}");

    std::fs::write(dir.path().join("faq/userdict.csv"), "マイナ,名詞\n").unwrap();
    let out = madoguchi(dir.path(), &["check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("userdict.csv:1: 2 fields"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn synonyms_widen_the_search_and_bad_ones_are_rejected_with_line() {
    let dir = lexical_workdir();
    // 大型家具 is nowhere in the FAQ; the fixture's synonyms.csv links it to 粗大ごみ.
    let v = search_json(dir.path(), &["大型家具を処分したい"]);
    assert_eq!(v["hits"][0]["id"], "sodai-gomi", "{v}");
    let v = search_json(
        dir.path(),
        &["--synonyms", "/dev/null", "大型家具を処分したい"],
    );
    assert_eq!(v["hits"], serde_json::json!([]), "{v}");

    std::fs::write(
        dir.path().join("faq/synonyms.csv"),
        "粗大ごみ,大型ごみ\n住民票\n",
    )
    .unwrap();
    let out = madoguchi(dir.path(), &["check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("synonyms.csv:2: a group needs at least two"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn analyze_lines_prints_one_json_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["analyze", "--lines"])
        .current_dir(dir.path())
        .env(
            "MADOGUCHI_DICT",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".lindera-cache/ipadic"),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all("ゴミの日\n引っ越しの手続き\n".as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let terms = |v: &Value| -> Vec<String> {
        v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["term"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(terms(&lines[0]), ["ごみ"]);
    assert_eq!(terms(&lines[1]), ["引越", "手続"]);
}

#[test]
fn analyze_shows_terms() {
    let dir = tempfile::tempdir().unwrap();
    let out = madoguchi(dir.path(), &["analyze", "ﾏｲﾅ保険証を使いたいです"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("terms: まいな 保険 証 使う"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn missing_dictionary_says_how_to_build_it() {
    let dir = workdir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["search", "住民票", "--dict", "/nonexistent/ipadic"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("scripts/setup-ipadic.sh"),
        "{}",
        stderr(&out)
    );
}

/// `build-dictionary` (what scripts/setup-ipadic.sh runs; every fresh test.sh builds the real
/// dictionary with it) names what it could not read and fails, writing nothing.
#[test]
fn build_dictionary_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = dir.path().join("metadata.json");
    let run = |meta: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
            .arg("build-dictionary")
            .arg(dir.path().join("no-sources"))
            .arg(meta)
            .arg(dir.path().join("out"))
            .output()
            .unwrap()
    };
    let out = run(&metadata);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("metadata.json"), "{}", stderr(&out));
    std::fs::write(&metadata, "{not json").unwrap();
    let out = run(&metadata);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("metadata.json"), "{}", stderr(&out));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn user_add_list_and_password_rules() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], password: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
            .args(args)
            .current_dir(dir.path())
            .env("MADOGUCHI_USER_PASSWORD", password)
            .env_remove("MADOGUCHI_DATABASE_URL")
            .env_remove("MADOGUCHI_DATA_DIR")
            .output()
            .unwrap()
    };
    let out = run(
        &["user", "add", "tanaka", "--role", "admin"],
        "a long enough secret",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["user", "add", "tanaka"], "a long enough secret");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    let out = run(&["user", "add", "sato"], "short");
    assert!(stderr(&out).contains("at least 12"), "{}", stderr(&out));
    let out = run(
        &["user", "add", "sato", "--role", "root"],
        "a long enough secret",
    );
    assert!(stderr(&out).contains("unknown role"), "{}", stderr(&out));
    let out = run(&["user", "list"], "");
    assert_eq!(stdout(&out), "tanaka\tadmin\n");
    assert!(dir.path().join("data/madoguchi.sqlite3").exists());
}

#[test]
fn ask_runs_one_conversation_turn_by_turn() {
    let dir = workdir();
    let out = madoguchi(
        dir.path(),
        &[
            "ask",
            "--json",
            "マイナンバーカードの電子証明書を更新したい",
            "ありがとう",
            "それはどこでできますか",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let turns: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(turns.len(), 3, "{}", stdout(&out));
    assert_eq!(turns[0]["decision"], "answer");
    assert_eq!(turns[0]["answer"]["faq_id"], "card-renew");
    assert_eq!(turns[1]["decision"], "small_talk");
    // The follow-up names nothing itself: the thanks in between keeps the topic.
    assert_eq!(turns[2]["decision"], "answer", "{}", turns[2]);
    assert_eq!(turns[2]["answer"]["faq_id"], "card-renew");
    assert!(turns[2]["follow_up_of"].is_string(), "{}", turns[2]);
    let ids: Vec<&Value> = turns.iter().map(|t| &t["conversation_id"]).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one conversation: {ids:?}"
    );

    let explained = madoguchi(dir.path(), &["ask", "--explain", "それはどこでできますか"]);
    assert!(explained.status.success(), "{}", stderr(&explained));
    assert!(
        stdout(&explained).contains("no_topic"),
        "{}",
        stdout(&explained)
    );

    let empty = madoguchi(dir.path(), &["ask", "  "]);
    assert!(!empty.status.success());
    assert!(stderr(&empty).contains("empty"), "{}", stderr(&empty));
}

#[test]
fn every_data_command_reads_the_configuration_file() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("madoguchi.toml"),
        "[search]\nno_such_key = 1\n",
    )
    .unwrap();
    for args in [
        &["analyze", "住民票"][..],
        &["check"],
        &["export"],
        &["search", "住民票"],
        &["ask", "住民票"],
        &["index"],
    ] {
        let out = madoguchi(dir.path(), args);
        assert!(!out.status.success(), "{args:?} ignored madoguchi.toml");
        assert!(
            stderr(&out).contains("madoguchi.toml") && stderr(&out).contains("no_such_key"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn municipality_add_declares_a_town_and_list_shows_it() {
    let dir = workdir();
    let faq = dir.path().join("faq");
    let out = madoguchi(
        dir.path(),
        &[
            "municipality",
            "add",
            "131010",
            "千代田区",
            "--office",
            "総合窓口",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("its check digit should be 6 (131016)"),
        "{}",
        stderr(&out)
    );
    assert!(!faq.join("municipalities/131010").exists());
    let out = madoguchi(
        dir.path(),
        &[
            "municipality",
            "add",
            "131016",
            "千代田区",
            "--office",
            "千代田区役所 総合窓口",
            "--phone",
            "03-0000-0000",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text =
        std::fs::read_to_string(faq.join("municipalities/131016/municipality.yaml")).unwrap();
    assert!(text.contains("name: 千代田区"), "{text}");
    let out = madoguchi(
        dir.path(),
        &["municipality", "add", "131016", "千代田区", "--office", "x"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already declared"),
        "{}",
        stderr(&out)
    );
    // A URL that is not http(s) leaves nothing behind.
    let out = madoguchi(
        dir.path(),
        &[
            "municipality",
            "add",
            "131041",
            "新宿区",
            "--office",
            "x",
            "--url",
            "ftp://x",
        ],
    );
    assert!(!out.status.success());
    assert!(!faq.join("municipalities/131041").exists());

    let out = madoguchi(dir.path(), &["municipality", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&out);
    assert!(
        list.contains("131016\t千代田区\t千代田区役所 総合窓口\t03-0000-0000\t0\t0\t0"),
        "{list}"
    );
    assert!(
        list.contains("999903\tテスト町\tテスト町役場 総合窓口"),
        "{list}"
    );
    // The new town is searchable at once (its residents see the national FAQ).
    let v = search_json(dir.path(), &["住民票", "--municipality", "131016"]);
    assert!(!v["hits"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn rejected_faq_files_are_reported_in_english_and_japanese() {
    let dir = lexical_workdir();
    // Other errors stay as they were: no Japanese list.
    let out = madoguchi(
        dir.path(),
        &["search", "--municipality", "999999", "住民票"],
    );
    assert!(!out.status.success());
    assert!(!stderr(&out).contains("FAQファイル"), "{}", stderr(&out));

    std::fs::write(
        dir.path().join("faq/national/broken.csv"),
        "id,question,answer\nx1,住民票はどこで取れますか,\n",
    )
    .unwrap();
    // Straight from the loader (check) and through the index, whose error wraps the loader's.
    for command in ["check", "index"] {
        let out = madoguchi(dir.path(), &[command]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("broken.csv:2: entry 'x1': empty answer"),
            "{err}"
        );
        assert!(
            err.contains("FAQファイルに問題が 1 件あるため、何も読み込んでいません："),
            "{err}"
        );
        assert!(
            err.contains("broken.csv:2: ID「x1」の回答が空です。"),
            "{err}"
        );
    }
}
