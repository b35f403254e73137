//! The accept loop: what happens before a request reaches the router.
//!
//! - **A limit on connections** ([`MAX_CONNECTIONS`], and `[server] max_connections_per_address`
//!   for one client address): past it, a connection gets a JSON 503 and is closed at once, so
//!   idle or slow clients cannot hold every file descriptor, and one address cannot take the
//!   connections every other client needs.
//! - **A header-read timeout** ([`HEADER_READ_TIMEOUT`]): a connection that does not finish its
//!   request headers in time is closed (1,100 half-open connections were held indefinitely).
//! - **JSON for the HTTP layer's own errors**: a request line with raw invalid bytes or a URL
//!   over hyper's limit is answered by hyper itself, before any service runs, with an empty
//!   400, 414 or 431. [`JsonErrorsIo`] gives those responses the same `{"error": …}` body as
//!   every other error of the service.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Connections served at once; more get a 503 and are closed.
pub const MAX_CONNECTIONS: usize = 512;
/// Longest a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish
/// for at most `grace`.
pub async fn serve(
    app: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    per_address: usize,
) -> io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let by_address = Arc::new(PerAddress::new(per_address));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(mine) = by_address.clone().take(peer.ip()) else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move { tower::ServiceExt::oneshot(app, req.map(axum::body::Body::new)).await }
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(JsonErrorsIo::new(stream)), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop((slot, mine));
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                "shutdown: requests still in flight after the grace period are dropped"
            );
        }
    }
    Ok(())
}

/// Open connections by client address.
struct PerAddress {
    limit: usize,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One connection counted for its address; uncounted when dropped.
struct Counted {
    owner: Arc<PerAddress>,
    address: std::net::IpAddr,
}

impl PerAddress {
    fn new(limit: usize) -> Self {
        PerAddress {
            limit,
            open: std::sync::Mutex::default(),
        }
    }

    /// Counts a connection from `address`, or `None` when it already holds the limit.
    fn take(self: Arc<Self>, address: std::net::IpAddr) -> Option<Option<Counted>> {
        if self.limit == 0 {
            return Some(None);
        }
        {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let n = open.entry(address).or_default();
            if *n >= self.limit {
                return None;
            }
            *n += 1;
        }
        Some(Some(Counted {
            owner: self,
            address,
        }))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Answers a connection over the limit with a JSON 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":"too many connections; try again in a moment"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// The connection's socket, with hyper's own bodiless error responses (400, 414, 431 for a
/// request it could not parse) given a JSON body. The service's responses always carry a body
/// (`json_errors`), so a bodiless 4xx on the wire is hyper's.
pub struct JsonErrorsIo<T> {
    inner: T,
    /// Bytes still to be written for a rewritten response.
    pending: Vec<u8>,
}

impl<T> JsonErrorsIo<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        JsonErrorsIo {
            inner,
            pending: Vec::new(),
        }
    }
}

/// The JSON version of one of hyper's bodiless error responses, if `head` is one.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let status_line = text.strip_prefix("HTTP/1.1 ")?;
    let code: u16 = status_line.get(..3)?.parse().ok()?;
    let lower = text.to_ascii_lowercase();
    if !(400..500).contains(&code)
        || !text.ends_with("\r\n\r\n")
        || !lower.contains("\r\ncontent-length: 0\r\n")
        || lower.contains("\r\ncontent-type:")
    {
        return None;
    }
    let message = match code {
        400 => "malformed request: the request line or headers are not valid HTTP",
        414 => "the URL is too long",
        431 => "the request headers are too large",
        _ => "the request could not be read",
    };
    let body = serde_json::json!({ "error": message }).to_string();
    let head = text
        .lines()
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("content-length:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    Some(
        format!(
            "{head}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<T: AsyncWrite + Unpin> JsonErrorsIo<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorsIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorsIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        // hyper writes a bodiless response's head in one piece (vectored writes are off).
        if buf.len() < 512
            && buf.starts_with(b"HTTP/1.1 4")
            && let Some(json) = rewrite(buf)
        {
            self.pending = json;
            std::task::ready!(self.drain(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_error_heads_are_rewritten() {
        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(hyper_400).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("content-type: application/json"), "{out}");
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        assert!(
            out.contains(&format!("content-length: {}", body.len())),
            "{out}"
        );
        assert!(serde_json::from_str::<serde_json::Value>(body).unwrap()["error"].is_string());
        for kept in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
        ] {
            assert!(rewrite(kept).is_none());
        }
    }
}
