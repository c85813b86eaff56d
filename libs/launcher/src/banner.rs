//! The banner printed once the services are up: where each one's health and metrics are,
//! where the CSV files land, and how to stop.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::readiness::LastAnswer;

/// One service's line in the banner.
pub struct Entry<'a> {
    /// Service name.
    pub name: &'a str,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Whether `/readyz` said 200 before the deadline, and if not, what it said.
    pub readiness: &'a Result<(), LastAnswer>,
}

/// The banner text, ending in a newline; `outputs` are lines saying where to look at the
/// results (CSV files, the database, the query API).
pub fn render(cluster: &str, entries: &[Entry<'_>], outputs: &[String]) -> String {
    const RULE: &str =
        "--------------------------------------------------------------------------------";
    let mut out = String::new();
    let _ = writeln!(out, "{RULE}");
    let _ = writeln!(out, "ferroflow is running on the {cluster}");
    let _ = writeln!(out);
    for entry in entries {
        let state = match entry.readiness {
            Ok(()) => "ready".to_string(),
            Err(last) => format!("NOT READY: {last}"),
        };
        let _ = writeln!(out, "  {} ({state})", entry.name);
        for path in ["/livez", "/readyz", "/metrics"] {
            let _ = writeln!(out, "    {path:<9} http://{}{path}", entry.http);
        }
    }
    let _ = writeln!(out);
    for line in outputs {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "Ctrl-C to stop.");
    let _ = writeln!(out, "{RULE}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::Response;

    #[test]
    fn banner_lists_every_url_the_csv_directory_and_how_to_stop() {
        let ready = Ok(());
        let text = render(
            "embedded mock cluster at 127.0.0.1:1",
            &[Entry {
                name: "generator",
                http: "127.0.0.1:9101".parse().unwrap(),
                readiness: &ready,
            }],
            &["CSV files: /repo/data/csv/<topic>/".to_string()],
        );
        assert!(text.contains("running on the embedded mock cluster at 127.0.0.1:1"));
        assert!(text.contains("  generator (ready)\n"), "{text}");
        for url in ["livez", "readyz", "metrics"] {
            assert!(
                text.contains(&format!("http://127.0.0.1:9101/{url}")),
                "{text}"
            );
        }
        assert!(
            text.contains("CSV files: /repo/data/csv/<topic>/"),
            "{text}"
        );
        assert!(text.contains("Ctrl-C to stop."), "{text}");
    }

    #[test]
    fn a_service_not_ready_shows_what_readyz_said() {
        let not_ready = Err(LastAnswer::Status(Response {
            status: 503,
            body: "{\"reasons\":[\"no partitions assigned\"]}".into(),
        }));
        let text = render(
            "x",
            &[Entry {
                name: "sink-csv",
                http: "127.0.0.1:9104".parse().unwrap(),
                readiness: &not_ready,
            }],
            &[],
        );
        assert!(
            text.contains(
                "sink-csv (NOT READY: HTTP 503 {\"reasons\":[\"no partitions assigned\"]})"
            ),
            "{text}"
        );
    }
}
