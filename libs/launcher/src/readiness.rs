//! Waiting for `/readyz`: a plain HTTP/1.0 GET over loopback, polled until it answers
//! 200 or a deadline passes.
//!
//! Hand-rolled on a `TcpStream` because the launcher needs only a status line from a
//! local server it knows; an HTTP client crate would add a large dependency tree for that.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// What one request got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body, lossily decoded.
    pub body: String,
}

/// The last thing a service said before the deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastAnswer {
    /// It answered, but not 200.
    Status(Response),
    /// It did not answer at all.
    Unreachable(String),
}

impl fmt::Display for LastAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LastAnswer::Status(r) => write!(f, "HTTP {} {}", r.status, r.body.trim()),
            LastAnswer::Unreachable(e) => write!(f, "no answer ({e})"),
        }
    }
}

/// Parses a raw HTTP/1.x response; `None` if it is not one.
pub fn parse_response(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some(Response {
        status,
        body: body.to_string(),
    })
}

/// `GET path` on `addr`, with one timeout for connecting, sending and reading.
pub async fn get(addr: SocketAddr, path: &str, limit: Duration) -> Result<Response, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        // HTTP/1.0: the server closes the connection after the response, so reading to
        // the end reads exactly one response, with no chunked encoding.
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    match timeout(limit, exchange).await {
        Err(_) => Err(format!("no response within {limit:?}")),
        Ok(Err(error)) => Err(error.to_string()),
        Ok(Ok(raw)) => parse_response(&raw).ok_or_else(|| "not an HTTP response".to_string()),
    }
}

/// Polls `http://addr/readyz` every `interval` until it answers 200 (`Ok`) or `deadline`
/// passes (`Err` with the last answer).
pub async fn wait_ready(
    addr: SocketAddr,
    deadline: Instant,
    interval: Duration,
) -> Result<(), LastAnswer> {
    loop {
        let last = match get(addr, "/readyz", Duration::from_secs(2)).await {
            Ok(response) if response.status == 200 => return Ok(()),
            Ok(response) => LastAnswer::Status(response),
            Err(error) => LastAnswer::Unreachable(error),
        };
        if Instant::now() + interval >= deadline {
            return Err(last);
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn status_and_body_are_read_from_a_response() {
        let raw = b"HTTP/1.0 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n{\"ready\":false}";
        assert_eq!(
            parse_response(raw),
            Some(Response {
                status: 503,
                body: "{\"ready\":false}".into()
            })
        );
    }

    #[test]
    fn a_response_without_body_is_still_a_response() {
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n").unwrap().status, 200);
    }

    #[test]
    fn garbage_is_not_a_response() {
        assert_eq!(parse_response(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_response(b""), None);
        assert_eq!(parse_response(b"HTTP/1.1 abc\r\n\r\n"), None);
    }

    /// Serves `responses` in order, one per connection, and returns the address.
    async fn serve(responses: Vec<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for response in responses {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await.unwrap();
                stream.write_all(response.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn waiting_ends_when_readyz_turns_200() {
        let addr = serve(vec![
            "HTTP/1.0 503 Service Unavailable\r\n\r\nnot yet",
            "HTTP/1.0 200 OK\r\n\r\nready",
        ])
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        wait_ready(addr, deadline, Duration::from_millis(10))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn timeout_reports_what_readyz_last_said() {
        let addr = serve(vec![
            "HTTP/1.0 503 Service Unavailable\r\n\r\n{\"reasons\":[\"x\"]}";
            50
        ])
        .await;
        let deadline = Instant::now() + Duration::from_millis(100);
        let last = wait_ready(addr, deadline, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert_eq!(last.to_string(), "HTTP 503 {\"reasons\":[\"x\"]}");
    }

    #[tokio::test]
    async fn timeout_on_a_closed_port_says_there_was_no_answer() {
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let deadline = Instant::now() + Duration::from_millis(50);
        let last = wait_ready(port, deadline, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(matches!(last, LastAnswer::Unreachable(_)), "{last}");
    }
}
