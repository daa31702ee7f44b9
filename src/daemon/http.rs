//! The daemon's HTTP endpoints (loopback by default): `GET /metrics` (Prometheus text
//! format), `GET /pipelines` (JSON status) and `GET /healthz`.
//!
//! A deliberately small HTTP/1.1 server: one request per connection (`Connection: close`),
//! request heads up to 8 KiB, 5 s to send one; anything else gets 400, 404 or 405.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::prometheus;
use super::registry::Registry;
use crate::runtime::Cancel;

const MAX_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves requests on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>, shutdown: Cancel) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.cancelled() => return,
        };
        match conn {
            Ok((stream, _)) => {
                let registry = Arc::clone(&registry);
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, &registry).await {
                        tracing::debug!("http connection: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("http accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return respond(&mut stream, 400, "text/plain", "bad request\n").await,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let (status, kind, body) = route(&head, registry);
    respond(&mut stream, status, kind, &body).await
}

/// The status, content type and body for a request head.
fn route(head: &str, registry: &Registry) -> (u16, &'static str, String) {
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" {
        return (405, "text/plain", "only GET is supported\n".into());
    }
    match path {
        "/metrics" => (200, "text/plain; version=0.0.4; charset=utf-8", prometheus::render(registry)),
        "/pipelines" => {
            let json = serde_json::to_string_pretty(&registry.to_json()).unwrap_or_else(|_| "[]".into());
            (200, "application/json", json + "\n")
        }
        "/healthz" => (200, "text/plain", "ok\n".into()),
        _ => (404, "text/plain", "not found: try /metrics, /pipelines or /healthz\n".into()),
    }
}

/// Reads up to the blank line ending the request head; `None` if it is too long or the
/// connection closes first.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(String::from_utf8_lossy(&buf[..end]).into_owned()));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

async fn respond(stream: &mut TcpStream, status: u16, kind: &str, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = Registry::new();
        assert_eq!(route("GET /healthz HTTP/1.1\r\nHost: x", &r).0, 200);
        assert_eq!(route("GET /pipelines?x=1 HTTP/1.1", &r).2, "[]\n");
        assert!(route("GET /metrics HTTP/1.1", &r).1.starts_with("text/plain; version=0.0.4"));
        assert_eq!(route("POST /metrics HTTP/1.1", &r).0, 405);
        assert_eq!(route("GET /nope HTTP/1.1", &r).0, 404);
    }
}
