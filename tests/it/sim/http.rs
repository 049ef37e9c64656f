//! A small HTTP/1.1 server on 127.0.0.1: keep-alive, `Content-Length` bodies (what the SDK
//! sends), and responses that can misbehave on purpose (a body that stalls halfway, a body cut
//! short, no answer at all). Hand-written so that faults are easy to inject.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request, as much of it as the simulator needs.
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the response goes out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delivery {
    Normal,
    /// Headers and half the body, then a pause, then the rest.
    StallBody(Duration),
    /// Nothing at all for a while, then the response.
    Hang(Duration),
    /// The body cut in half, with a `Content-Length` that matches the cut (well-formed HTTP,
    /// malformed XML).
    Truncate,
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub extra_headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delivery: Delivery,
}

pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request) -> impl Future<Output = Response> + Send;
}

/// Connections accepted so far (keep-alive reuse shows as far fewer than requests).
pub static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Binds a free port on 127.0.0.1 and serves until the runtime stops.
pub async fn serve<H: Handler>(handler: Arc<H>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let h = handler.clone();
            tokio::spawn(async move {
                let _ = connection(sock, h).await;
            });
        }
    });
    Ok(addr)
}

async fn connection<H: Handler>(sock: TcpStream, handler: Arc<H>) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::with_capacity(16 * 1024, r);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let mut headers = Vec::new();
        let mut length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().to_string();
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                }
                if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0u8; length];
        r.read_exact(&mut body).await?;
        let resp = handler
            .handle(Request {
                method,
                path,
                headers,
                body,
            })
            .await;
        write_response(&mut w, resp).await?;
        if close {
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn write_response<W: AsyncWriteExt + Unpin>(
    w: &mut W,
    resp: Response,
) -> std::io::Result<()> {
    let mut body = resp.body;
    if resp.delivery == Delivery::Truncate {
        body.truncate(body.len() / 2);
    }
    if let Delivery::Hang(d) = resp.delivery {
        tokio::time::sleep(d).await;
    }
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        body.len()
    );
    for (k, v) in &resp.extra_headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    match resp.delivery {
        Delivery::StallBody(d) => {
            let half = body.len() / 2;
            w.write_all(head.as_bytes()).await?;
            w.write_all(&body[..half]).await?;
            w.flush().await?;
            tokio::time::sleep(d).await;
            w.write_all(&body[half..]).await?;
        }
        _ => {
            let mut all = head.into_bytes();
            all.extend_from_slice(&body);
            w.write_all(&all).await?;
        }
    }
    w.flush().await
}
