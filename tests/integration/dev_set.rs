//! The bundled dev query set (`tests/eval/`) is consistent with the bundled FAQ: every judged id
//! exists and is visible where the query is asked, queries are unique and non-empty, and the
//! set keeps the proportions the evaluation relies on.

use std::collections::HashSet;
use std::path::Path;

use madoguchi::eval::data;
use madoguchi::faq;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn dev_set_matches_the_bundled_faq() {
    let corpus = faq::load_dir(&root().join("faq")).expect("bundled FAQ loads");
    let queries = data::read_queries(&root().join("tests/eval/queries.tsv")).unwrap();
    let qrels = data::read_qrels(&root().join("tests/eval/qrels.txt")).unwrap();

    let mut qids = HashSet::new();
    let mut texts = HashSet::new();
    for q in &queries {
        assert!(!q.text.trim().is_empty(), "{}: empty text", q.qid);
        assert!(qids.insert(q.qid.clone()), "{}: duplicate qid", q.qid);
        assert!(
            texts.insert(q.text.clone()),
            "{}: duplicate text {}",
            q.qid,
            q.text
        );
        if let Some(m) = &q.municipality {
            assert!(
                corpus.municipalities.contains_key(m),
                "{}: unknown municipality {m}",
                q.qid
            );
        }
    }
    for (qid, rels) in &qrels {
        let q = queries
            .iter()
            .find(|q| &q.qid == qid)
            .unwrap_or_else(|| panic!("qrels name {qid}, which is not a query"));
        assert!(
            rels.values().any(|&r| r == 2),
            "{qid}: no entry judged 2 (answers it)"
        );
        for (id, &rel) in rels {
            assert!(rel == 1 || rel == 2, "{qid} {id}: grade {rel}");
            assert!(
                corpus.get(id, q.municipality.as_deref()).is_some(),
                "{qid}: {id} is not visible for {:?}",
                q.municipality
            );
        }
    }

    let n = queries.len();
    let out_of_scope = queries
        .iter()
        .filter(|q| !qrels.contains_key(&q.qid))
        .count();
    let municipal = queries.iter().filter(|q| q.municipality.is_some()).count();
    assert!(n >= 300, "only {n} queries");
    assert!(
        out_of_scope * 100 >= n * 15,
        "{out_of_scope} of {n} out of scope"
    );
    assert!(municipal * 100 >= n * 10, "{municipal} of {n} municipal");
}
