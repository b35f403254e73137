//! A fake OpenAI-compatible embeddings server on 127.0.0.1 for the `[embedding]` endpoint tests:
//! it answers with deterministic character-count vectors (texts that share characters are
//! close), or fails with 500, returns garbage, answers too late, or returns the wrong number of
//! vectors. It tests the client's handling of an endpoint, not meaning (the semantic tests use
//! the real model).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What the fake server does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Vectors for every input.
    Correct,
    /// HTTP 500.
    Fail500,
    /// A body that is not JSON.
    Garbage,
    /// Answers after 3 s.
    Slow,
    /// One vector fewer than inputs.
    Short,
}

/// The fake's shared state.
#[derive(Clone)]
pub struct Fake {
    /// Current behaviour.
    pub mode: Arc<std::sync::Mutex<Mode>>,
    /// Requests received.
    pub calls: Arc<AtomicUsize>,
    /// The last request body and its Authorization header.
    pub last: Arc<std::sync::Mutex<(Value, String)>>,
}

/// A 64-dimensional vector counting the text's characters by a hash bucket.
fn vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; 64];
    for c in text.chars() {
        v[(c as usize).wrapping_mul(2_654_435_761) % 64] += 1.0;
    }
    v
}

async fn embeddings(
    axum::extract::State(fake): axum::extract::State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    fake.calls.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    *fake.last.lock().unwrap() = (body.clone(), auth);
    let mode = *fake.mode.lock().unwrap();
    let inputs: Vec<String> = body["input"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let data = |n: usize| {
        inputs
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t)}))
            .collect::<Vec<_>>()
    };
    match mode {
        Mode::Correct => {
            Json(json!({"object": "list", "data": data(inputs.len())})).into_response()
        }
        Mode::Short => {
            Json(json!({"object": "list", "data": data(inputs.len().saturating_sub(1))}))
                .into_response()
        }
        Mode::Fail500 => (StatusCode::INTERNAL_SERVER_ERROR, "overloaded").into_response(),
        Mode::Garbage => (StatusCode::OK, "{\"data\": [{\"index\": 0, \"embe").into_response(),
        Mode::Slow => {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            Json(json!({"object": "list", "data": data(inputs.len())})).into_response()
        }
    }
}

/// Starts the fake; returns its state and base URL (`http://127.0.0.1:PORT/v1`).
pub async fn fake_embeddings(mode: Mode) -> (Fake, String) {
    let fake = Fake {
        mode: Arc::new(std::sync::Mutex::new(mode)),
        calls: Arc::default(),
        last: Arc::new(std::sync::Mutex::new((Value::Null, String::new()))),
    };
    let app = axum::Router::new()
        .route("/v1/embeddings", axum::routing::post(embeddings))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}
