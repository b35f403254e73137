//! Two replicas on one PostgreSQL keep one FAQ (issue #19, point 1): an upload through one
//! replica's staff console is served by the other within seconds, and so is a rollback. Runs
//! when `MADOGUCHI_TEST_POSTGRES_URL` names a server (scripts/test.sh starts one), each test on
//! a database of its own.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use madoguchi::config::Config;
use madoguchi::engine::Setup;
use madoguchi::server::{self, AppState};
use madoguchi::store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{
    copy_dir, fixture, locations, madoguchi as run_cli, session_cookie, stderr, stdout,
};

/// A replica on `dir` (with its own faq/, index and data) and the database `url`, polling for
/// a new FAQ version every `poll` seconds besides listening (0: listening only).
async fn replica(dir: &Path, faq: &Path, url: &str, poll: u64) -> Arc<AppState> {
    replica_with(dir, faq, url, poll, true).await
}

/// [`replica`], listening for notifications or not (`[server] faq_notifications`).
async fn replica_with(
    dir: &Path,
    faq: &Path,
    url: &str,
    poll: u64,
    notifications: bool,
) -> Arc<AppState> {
    if faq.exists() {
        copy_dir(faq, &dir.join("faq"));
    }
    let mut config = Config::default();
    config.server.data_dir = dir.join("data");
    config.server.database_url = Some(url.to_owned());
    config.server.watch_interval_secs = poll;
    config.server.faq_notifications = notifications;
    config.server.rate_limit_per_minute = 0;
    let locations = locations(dir, madoguchi_e5::default_model_path());
    let st = AppState::open(Setup { locations, config }).await.unwrap();
    server::spawn_background(st.clone());
    st
}

async fn call(st: &Arc<AppState>, req: Request<Body>) -> (StatusCode, Value) {
    let resp = server::router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn get(st: &Arc<AppState>, path: &str) -> (StatusCode, Value) {
    call(st, Request::get(path).body(Body::empty()).unwrap()).await
}

/// Polls `check` until it holds or `within` passes; returns how long it took.
async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

const TOWN_BEE: &str = "id,question,answer,category1\n\
    town-bee,蜂の巣を駆除してもらえますか。,見本町役場の環境課が業者を紹介します。,くらし\n";

#[tokio::test]
async fn an_upload_on_one_replica_and_a_rollback_reach_the_other() {
    let Ok(url) = std::env::var("MADOGUCHI_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MADOGUCHI_TEST_POSTGRES_URL is not set");
        return;
    };
    let url = Store::create_scratch_database(&url).await.unwrap();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A starts first and seeds version 1 from its faq/. B starts from a different faq/ (the
    // bundled one) and is made to serve version 1 instead. Neither polls: only LISTEN/NOTIFY
    // can tell them of a new version.
    let a = replica(a_dir.path(), &fixture("faq_small"), &url, 0).await;
    let b = replica(
        b_dir.path(),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("faq"),
        &url,
        0,
    )
    .await;
    assert_eq!((a.faq_version(), b.faq_version()), (Some(1), Some(1)));
    let entries = a.engine().retriever.manifest().entries;
    assert_eq!(b.engine().retriever.manifest().entries, entries);
    assert!(
        b_dir
            .path()
            .join("faq/municipalities/999903/town.yaml")
            .exists()
    );
    assert!(!b_dir.path().join("faq/national/childcare.yaml").exists());
    let (_, ready) = get(&b, "/readyz").await;
    assert_eq!(ready["faq_version"], 1, "{ready}");

    // An admin uploads a town's file through A's console.
    let hash = madoguchi::auth::hash_password("another long secret").unwrap();
    assert!(
        a.store
            .add_user("suzuki", "admin".parse().unwrap(), &hash)
            .await
            .unwrap()
    );
    let (s, headers, body) = {
        let resp = server::router(a.clone())
            .oneshot(
                Request::post("/staff/api/login")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(
                        json!({"name": "suzuki", "password": "another long secret"}).to_string(),
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        let (s, h) = (resp.status(), resp.headers().clone());
        (s, h, resp.into_body().collect().await.unwrap().to_bytes())
    };
    assert_eq!(s, StatusCode::OK);
    let cookie = session_cookie(&headers);
    let csrf = serde_json::from_slice::<Value>(&body).unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let apply = || {
        Request::post("/staff/api/faq/apply?file=town-bee.csv&municipality=999903")
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .body(Body::from(TOWN_BEE))
            .unwrap()
    };
    let (s, v) = call(&a, apply()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 2, "{v}");
    assert_eq!(a.faq_version(), Some(2));
    let bee = "/api/faq/town-bee?municipality=999903";
    assert_eq!(get(&a, bee).await.0, StatusCode::OK);

    // B serves it within a few seconds, without a restart or a call of its own.
    let took = eventually(Duration::from_secs(10), async || {
        get(&b, bee).await.0 == StatusCode::OK
    })
    .await;
    assert!(took.is_some(), "replica B never served the upload");
    eprintln!("replica B served the upload after {took:?}");
    assert_eq!(b.faq_version(), Some(2));
    assert_eq!(
        std::fs::read_to_string(b_dir.path().join("faq/municipalities/999903/town-bee.csv"))
            .unwrap(),
        TOWN_BEE
    );

    // The CLI lists the versions and rolls back; both replicas follow.
    let cli_dir = tempfile::tempdir().unwrap();
    let out = run_cli(cli_dir.path(), &["faq", "versions", "--database-url", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&out);
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[1].starts_with("2*\t") && lines[1].contains("\tsuzuki\tconsole\t"),
        "{list}"
    );
    assert!(
        lines[1].contains("faq/municipalities/999903/town-bee.csv: 1 added, 0 changed, 0 removed"),
        "{list}"
    );
    assert!(
        lines[2].starts_with("1\t") && lines[2].contains("\tseed\tseed\t"),
        "{list}"
    );
    let out = run_cli(
        cli_dir.path(),
        &["faq", "rollback", "1", "--database-url", &url],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, r) in [("A", &a), ("B", &b)] {
        let took = eventually(Duration::from_secs(10), async || {
            get(r, bee).await.0 == StatusCode::NOT_FOUND
        })
        .await;
        assert!(took.is_some(), "replica {name} never rolled back");
        assert_eq!(r.faq_version(), Some(1), "{name}");
    }
    assert!(
        !b_dir
            .path()
            .join("faq/municipalities/999903/town-bee.csv")
            .exists()
    );

    // After the rollback A's uploads are made on top of version 1 again.
    let (s, v) = call(&a, apply()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 3, "{v}");
    Store::drop_scratch_database(&url).await.unwrap();
}

#[tokio::test]
async fn the_cli_publishes_a_directory_that_every_replica_then_serves() {
    let Ok(url) = std::env::var("MADOGUCHI_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MADOGUCHI_TEST_POSTGRES_URL is not set");
        return;
    };
    let url = Store::create_scratch_database(&url).await.unwrap();
    let a_dir = tempfile::tempdir().unwrap();
    // A does not listen (as behind PgBouncer): only its polling every second can find the
    // version the CLI publishes.
    let a = replica_with(a_dir.path(), &fixture("faq_small"), &url, 1, false).await;
    assert_eq!(a.faq_version(), Some(1));
    // An edited copy of the FAQ, published from the command line.
    let work = tempfile::tempdir().unwrap();
    copy_dir(&fixture("faq_small"), &work.path().join("faq"));
    std::fs::write(
        work.path().join("faq/municipalities/999903/town-bee.csv"),
        TOWN_BEE,
    )
    .unwrap();
    let out = run_cli(
        work.path(),
        &[
            "faq",
            "publish",
            "--database-url",
            &url,
            "--author",
            "cli:tanaka",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("as FAQ version 2"),
        "{}",
        stdout(&out)
    );
    // Publishing the same directory again changes nothing.
    let out = run_cli(work.path(), &["faq", "publish", "--database-url", &url]);
    assert!(
        stdout(&out).contains("already version 2"),
        "{}",
        stdout(&out)
    );
    let took = eventually(Duration::from_secs(10), async || {
        get(&a, "/api/faq/town-bee?municipality=999903").await.0 == StatusCode::OK
    })
    .await;
    assert!(
        took.is_some(),
        "the replica never served the published version (by polling)"
    );
    // A new replica that starts with no FAQ directory at all is given the current version.
    let c_dir = tempfile::tempdir().unwrap();
    let c = replica(c_dir.path(), &c_dir.path().join("none"), &url, 1).await;
    assert_eq!(c.faq_version(), Some(2));
    assert_eq!(
        get(&c, "/api/faq/town-bee?municipality=999903").await.0,
        StatusCode::OK
    );
    // A directory with a problem is refused with its file and line, and nothing is published.
    std::fs::write(
        work.path().join("faq/national/broken.yaml"),
        "- id: x\n  question: q\n",
    )
    .unwrap();
    let out = run_cli(work.path(), &["faq", "publish", "--database-url", &url]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("broken.yaml:1: entry 'x': empty answer"),
        "{}",
        stderr(&out)
    );
    // SQLite has no versions: the command says what to use instead.
    let out = run_cli(work.path(), &["faq", "versions"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("FAQ versions live in PostgreSQL"),
        "{}",
        stderr(&out)
    );
    let out = run_cli(
        work.path(),
        &["faq", "rollback", "7", "--database-url", &url],
    );
    assert!(
        stderr(&out).contains("there is no FAQ version 7"),
        "{}",
        stderr(&out)
    );
    Store::drop_scratch_database(&url).await.unwrap();
}
