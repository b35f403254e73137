//! A fake OpenAI-compatible chat-completions server on 127.0.0.1 for the LLM tests: it can
//! answer correctly (citing the first entry it was given), stream, hang, fail with 500, return
//! garbage, cite an unknown id, or echo the prompt back.

use std::sync::Arc;

use axum::Json;
use axum::http::{StatusCode, header};
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
/// What the fake server does.
pub enum Mode {
    /// A good answer citing the first entry.
    Correct,
    /// The same, as server-sent events.
    Stream,
    /// Never answers in time.
    Hang,
    /// HTTP 500.
    Fail500,
    /// Truncated JSON.
    Garbage,
    /// Cites an entry it was not given.
    UnknownId,
    /// Returns the prompt it received.
    EchoPrompt,
    /// Cites a real entry but adds a link to another site, an account and a sum to pay.
    Phish,
    /// Streams a good, cited sentence, then the phishing one.
    StreamPhish,
    /// Streams an answer that never cites an entry.
    StreamUncited,
}

#[derive(Clone)]
/// The fake's shared state.
pub struct Fake {
    /// Current behaviour.
    pub mode: Arc<std::sync::Mutex<Mode>>,
    /// Requests received.
    pub calls: Arc<std::sync::atomic::AtomicUsize>,
    /// The last request body.
    pub last: Arc<std::sync::Mutex<Value>>,
}

fn first_entry_id(user: &str) -> String {
    let i = user.find("\"id\": \"").expect("entries in the prompt") + 7;
    user[i..i + user[i..].find('"').unwrap()].to_owned()
}

async fn fake_completions(
    axum::extract::State(f): axum::extract::State<Fake>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    f.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    *f.last.lock().unwrap() = body.clone();
    let user = body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reply = |text: String| {
        Json(json!({"choices": [{"message": {"role": "assistant", "content": text}}]}))
            .into_response()
    };
    let mode = *f.mode.lock().unwrap();
    match mode {
        Mode::Correct => reply(format!(
            "電子証明書の更新は、お住まいの市区町村の窓口でできます。[FAQ:{}]",
            first_entry_id(&user)
        )),
        Mode::Stream | Mode::StreamPhish | Mode::StreamUncited => {
            let id = first_entry_id(&user);
            let pieces: Vec<String> = match mode {
                Mode::Stream => vec![
                    "電子証明書の更新は、".into(),
                    format!("市区町村の窓口でできます。[FAQ:{id}]"),
                    "有効期限の前に".into(),
                    format!("手続きしてください。[FAQ:{id}]"),
                ],
                Mode::StreamPhish => vec![
                    format!("電子証明書の更新は、市区町村の窓口でできます。[FAQ:{id}]"),
                    "お急ぎの方は https://city-renew.example-pay.com/pay から".into(),
                    "手数料3,000円を普通 7654321 に振り込んでください。".into(),
                ],
                _ => vec![
                    "電子証明書の更新は、".into(),
                    "市区町村の窓口でできます。".into(),
                ],
            };
            let mut sse = String::new();
            for p in pieces {
                sse += &format!(
                    "data: {}\n\n",
                    json!({"choices": [{"delta": {"content": p}}]})
                );
            }
            sse += "data: [DONE]\n\n";
            ([(header::CONTENT_TYPE, "text/event-stream")], sse).into_response()
        }
        Mode::Phish => reply(format!(
            "電子証明書の更新は窓口でできます[FAQ:{}]。オンラインでお急ぎの方は \
             https://city-renew.example-pay.com/pay から、手数料3,000円を \
             普通 7654321 にお振り込みください。",
            first_entry_id(&user)
        )),
        Mode::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            reply("遅すぎる回答".into())
        }
        Mode::Fail500 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Mode::Garbage => (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"choices\": [",
        )
            .into_response(),
        Mode::UnknownId => reply("窓口でできます。[FAQ:made-up-entry]".into()),
        Mode::EchoPrompt => reply(user),
    }
}

/// Starts the fake; returns its state and base URL (`http://127.0.0.1:PORT/v1`).
pub async fn fake_llm(mode: Mode) -> (Fake, String) {
    let fake = Fake {
        mode: Arc::new(std::sync::Mutex::new(mode)),
        calls: Arc::default(),
        last: Arc::new(std::sync::Mutex::new(Value::Null)),
    };
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(fake_completions),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}
