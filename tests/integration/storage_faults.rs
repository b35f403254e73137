//! Storage faults (issue #18): a full disk under SQLite and a stopped PostgreSQL. The resident
//! keeps getting FAQ answers, each reply says truthfully whether it was recorded, `/readyz` says
//! the store is degraded, and writes resume by themselves.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use madoguchi::config::Config;
use madoguchi::engine::Setup;
use madoguchi::server::{self, AppState};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::helpers::{copy_dir, fixture, locations};

async fn state(dir: &Path, database_url: Option<String>) -> Arc<AppState> {
    copy_dir(&fixture("faq_small"), &dir.join("faq"));
    let mut config = Config::default();
    config.server.data_dir = dir.join("data");
    config.server.database_url = database_url;
    // A shared test database: the FAQ stays in faq/ (replicas.rs tests the FAQ in the database).
    config.server.faq_in_database = false;
    config.server.watch_interval_secs = 0;
    config.server.rate_limit_per_minute = 0;
    let locations = locations(dir, madoguchi_e5::default_model_path());
    AppState::open(Setup { locations, config }).await.unwrap()
}

async fn call(st: &Arc<AppState>, req: Request<Body>) -> (StatusCode, Value) {
    let resp = server::router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn chat(st: &Arc<AppState>, message: &str) -> (StatusCode, Value) {
    let req = Request::post("/api/chat")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "message": message }).to_string()))
        .unwrap();
    call(st, req).await
}

async fn readyz(st: &Arc<AppState>) -> Value {
    let (s, v) = call(st, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "answers go on, so the service stays ready: {v}"
    );
    v
}

/// Each reply's `recorded` is the truth: the message is in the database exactly when it says so.
async fn truthful(st: &Arc<AppState>, reply: &Value) -> bool {
    let id = reply["message_id"].as_str().unwrap();
    let stored = st.store.message_question(id).await.unwrap().is_some();
    let recorded = reply["recorded"].as_bool().unwrap();
    assert_eq!(
        recorded, stored,
        "reply says recorded = {recorded}: {reply}"
    );
    recorded
}

/// Chats until one is recorded again (writes are retried every couple of seconds).
async fn until_recorded(st: &Arc<AppState>) {
    for i in 0..40 {
        let (s, v) = chat(st, &format!("住民票の写しをコンビニで取りたい {i}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if truthful(st, &v).await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("writes did not resume");
}

/// Unmounts the small filesystem at the end, whatever happens.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_unrecorded_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A 2 MiB filesystem of its own (tmpfs needs root: the sessions and CI run as root).
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small filesystem here (not root)");
        return;
    }
    let _unmount = Mounted(data.clone());
    let st = state(dir.path(), None).await;
    let (s, v) = chat(&st, "住民票の写しをコンビニで取りたい").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(truthful(&st, &v).await, "stored while there is space");

    // Fill the disk.
    let filler = data.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let mut unrecorded = 0;
    for i in 0..30 {
        let (s, v) = chat(&st, &format!("住民票の写しをコンビニで取りたい {i}")).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "the resident still gets the FAQ answer: {v}"
        );
        assert!(v["decision"].is_string());
        if !truthful(&st, &v).await {
            unrecorded += 1;
        }
    }
    assert!(unrecorded > 0, "a full disk stored everything?");
    let ready = readyz(&st).await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["recording"], false, "{ready}");
    let resp = server::router(st.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let metrics = String::from_utf8(body.to_vec()).unwrap();
    assert!(metrics.contains("madoguchi_recording 0"), "{metrics}");
    assert!(
        metrics.contains("madoguchi_store_failures_total{operation=\"record_turn\"}"),
        "{metrics}"
    );

    // Space comes back: writes resume by themselves.
    std::fs::remove_file(&filler).unwrap();
    until_recorded(&st).await;
    let ready = readyz(&st).await;
    assert_eq!(ready["status"], "ready", "{ready}");
}

/// A TCP relay to PostgreSQL that can be "stopped" (every connection cut, new ones refused)
/// and started again.
async fn relay(target: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            if !flag.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let flag = flag.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(target).await else {
                    return;
                };
                let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                tokio::pin!(copy);
                loop {
                    tokio::select! {
                        _ = &mut copy => return,
                        () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {
                            if !flag.load(Ordering::SeqCst) {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, up)
}

#[tokio::test]
async fn a_stopped_postgresql_answers_unrecorded_and_recovers_without_a_restart() {
    let Ok(url) = std::env::var("MADOGUCHI_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MADOGUCHI_TEST_POSTGRES_URL is not set");
        return;
    };
    // postgres://user:pass@HOST:PORT/db → the relay's address.
    let (head, rest) = url.split_once('@').unwrap();
    let (hostport, tail) = rest.split_once('/').unwrap();
    let target: SocketAddr = tokio::net::lookup_host(hostport)
        .await
        .unwrap()
        .next()
        .unwrap();
    let (addr, up) = relay(target).await;
    let relayed = format!("{head}@{addr}/{tail}");
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path(), Some(relayed)).await;
    let (s, v) = chat(&st, "住民票の写しをコンビニで取りたい").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(truthful(&st, &v).await);

    up.store(false, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut unrecorded = 0;
    for i in 0..10 {
        let (s, v) = chat(&st, &format!("住民票の写しをコンビニで取りたい {i}")).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "the resident still gets the FAQ answer: {v}"
        );
        if v["recorded"] == false {
            unrecorded += 1;
        }
    }
    assert_eq!(
        unrecorded, 10,
        "nothing can be stored with the database down"
    );
    let ready = readyz(&st).await;
    assert_eq!(ready["database"], "unreachable", "{ready}");
    assert_eq!(ready["recording"], false, "{ready}");
    // Feedback on a turn that was not stored is refused, never a 500.
    let req = Request::post("/api/feedback")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"message_id": uuid_like(), "helpful": true}).to_string(),
        ))
        .unwrap();
    let (s, _) = call(&st, req).await;
    assert!(
        s == StatusCode::SERVICE_UNAVAILABLE || s == StatusCode::NOT_FOUND,
        "{s}"
    );

    up.store(true, Ordering::SeqCst);
    until_recorded(&st).await;
    assert_eq!(readyz(&st).await["status"], "ready");
}

fn uuid_like() -> String {
    "00000000-0000-4000-8000-000000000000".to_owned()
}
