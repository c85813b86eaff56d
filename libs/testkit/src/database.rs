//! The real PostgreSQL the test command started (`scripts/postgres.sh`): its URL, and
//! stopping and starting it to test what a service does while its database is down.

use std::path::Path;
use std::process::Command;

/// Environment variable carrying the test cluster's URL
/// (`postgres://postgres@127.0.0.1:PORT/postgres`).
pub const DATABASE_URL_ENV: &str = "FERROFLOW_TEST_DATABASE_URL";
/// Environment variable naming the test cluster's directory (for stop and start).
pub const POSTGRES_DIR_ENV: &str = "FERROFLOW_TEST_POSTGRES_DIR";

/// The URL of the test PostgreSQL. Panics with instructions when the test command did not
/// start one: a test that needs PostgreSQL must not pass without it.
pub fn database_url() -> String {
    std::env::var(DATABASE_URL_ENV).unwrap_or_else(|_| {
        panic!(
            "{DATABASE_URL_ENV} is not set: run the tests with scripts/test.sh, which starts a \
             real PostgreSQL, or start one with `scripts/postgres.sh start --dir DIR` and export \
             {DATABASE_URL_ENV}=<the URL it prints> and {POSTGRES_DIR_ENV}=DIR"
        )
    })
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    format!("{}/{database}{query}", &base[..authority_end])
}

/// Creates a database of its own in the test PostgreSQL, named after `prefix`, and
/// returns its URL.
pub async fn create_database(prefix: &str) -> String {
    let base = database_url();
    let name = crate::unique(prefix).replace('-', "_");
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create database");
    admin.close().await;
    with_database(&base, &name)
}

/// Stops the test PostgreSQL (fast shutdown, data kept), as an outage would.
pub fn stop_postgres() {
    postgres(&["stop", "--keep"]);
}

/// Starts the test PostgreSQL again with its data, after [`stop_postgres`].
pub fn start_postgres() {
    postgres(&["start"]);
}

fn postgres(args: &[&str]) {
    let dir = std::env::var(POSTGRES_DIR_ENV).unwrap_or_else(|_| {
        panic!("{POSTGRES_DIR_ENV} names the test PostgreSQL's directory (scripts/test.sh sets it)")
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh");
    let status = Command::new(script)
        .args(args)
        .args(["--dir", &dir])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run scripts/postgres.sh");
    assert!(status.success(), "scripts/postgres.sh {args:?} failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5/postgres?sslmode=disable", "t1"),
            "postgres://u:p@127.0.0.1:5/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "t2"), "postgres://h:5/t2");
    }
}
