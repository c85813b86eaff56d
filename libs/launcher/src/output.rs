//! Child output: every line of a service's stdout and stderr, prefixed with the service's
//! name, goes to the launcher's stdout, so one terminal shows the whole pipeline.
//!
//! Lines are written whole under the sink's lock, so lines of different services never
//! interleave mid-line. Bytes that are not UTF-8 pass through unchanged.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};

/// `[name] line\n`, whatever line ending (`\n`, `\r\n` or none) the line had.
pub fn prefixed(name: &str, line: &[u8]) -> Vec<u8> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut out = Vec::with_capacity(name.len() + line.len() + 4);
    out.push(b'[');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"] ");
    out.extend_from_slice(line);
    out.push(b'\n');
    out
}

/// Copies `reader` line by line into `sink` with the `[name]` prefix until end of file.
pub async fn forward<R, W>(name: &str, reader: R, sink: Arc<Mutex<W>>)
where
    R: AsyncRead + Unpin,
    W: Write,
{
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {
                let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
                // A closed or full stdout must not stop the child: the line is lost, the
                // service carries on.
                let _ = sink.write_all(&prefixed(name, &line));
                let _ = sink.flush();
            }
            Err(error) => {
                tracing::warn!(service = name, %error, "cannot read the service's output");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gets_the_service_name_in_brackets() {
        assert_eq!(prefixed("generator", b"hello\n"), b"[generator] hello\n");
    }

    #[test]
    fn crlf_and_missing_newline_both_end_in_one_newline() {
        assert_eq!(prefixed("s", b"a\r\n"), b"[s] a\n");
        assert_eq!(prefixed("s", b"last"), b"[s] last\n");
        assert_eq!(prefixed("s", b"\n"), b"[s] \n");
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through() {
        assert_eq!(prefixed("s", b"\xff\xfe\n"), b"[s] \xff\xfe\n");
    }

    #[tokio::test]
    async fn forward_prefixes_every_line_including_an_unterminated_last_one() {
        let sink = Arc::new(Mutex::new(Vec::new()));
        forward("sink-csv", &b"one\ntwo\r\nthree"[..], sink.clone()).await;
        let out = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
        assert_eq!(out, "[sink-csv] one\n[sink-csv] two\n[sink-csv] three\n");
    }

    #[tokio::test]
    async fn forward_of_empty_output_writes_nothing() {
        let sink = Arc::new(Mutex::new(Vec::new()));
        forward("x", &b""[..], sink.clone()).await;
        assert!(sink.lock().unwrap().is_empty());
    }
}
