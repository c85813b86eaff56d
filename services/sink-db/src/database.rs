//! The database behind one small interface: PostgreSQL or SQLite, chosen by the URL.
//!
//! Both dialects run the same SQL text — `$n` placeholders, `INSERT … ON CONFLICT … DO
//! UPDATE … WHERE`, `RETURNING`, `SAVEPOINT` — so the code has one path; the only
//! differences are the migrations (`migrations/postgres`, `migrations/sqlite`: column
//! types), how a timestamp is bound (`timestamptz` or ISO 8601 text), the row lock
//! `FOR UPDATE` on the offsets, which PostgreSQL needs against concurrent writers and
//! SQLite, one writer at a time by design, has no syntax for, and the bulk insert, which
//! on PostgreSQL binds one array per column ([`Tx::execute_columns`]). `sqlx::Any` would bind no
//! timestamps, hence an enum of the two drivers.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use ferroflow_runtime::kafka::context::TopicPartition;
use sqlx::error::ErrorKind;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::config::SinkDbSettings;
use crate::rows::Value;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite:`.
    Sqlite,
}

impl Dialect {
    /// The dialect of `url`, if it is one sink-db speaks.
    pub fn of_url(url: &str) -> Option<Dialect> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Dialect::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else {
            None
        }
    }
}

/// A pool of connections to the sink's database.
#[derive(Debug, Clone)]
pub enum Database {
    /// PostgreSQL (production, tests).
    Postgres(PgPool),
    /// SQLite (the embedded run).
    Sqlite(SqlitePool),
}

impl Database {
    /// A pool that connects on first use, so a database that is down at start-up delays
    /// the sink instead of failing it. Fails only for a URL it cannot parse.
    pub fn connect_lazy(settings: &SinkDbSettings) -> Result<Database, sqlx::Error> {
        match Dialect::of_url(&settings.url) {
            Some(Dialect::Postgres) => {
                let options =
                    PgConnectOptions::from_str(&settings.url)?.application_name("sink-db");
                Ok(Database::Postgres(
                    PgPoolOptions::new()
                        .max_connections(settings.max_connections)
                        .acquire_timeout(settings.connect_timeout)
                        .connect_lazy_with(options),
                ))
            }
            Some(Dialect::Sqlite) => {
                // WAL with synchronous=NORMAL survives a crash of the process with every
                // committed transaction; a power loss may take the last ones, rows and
                // offsets together, which a replay restores exactly.
                let options = SqliteConnectOptions::from_str(&settings.url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(settings.connect_timeout);
                if let Some(dir) = options.get_filename().parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
                }
                // One connection: SQLite has one writer anyway, and a single connection
                // never meets another's lock.
                Ok(Database::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .acquire_timeout(settings.connect_timeout)
                        .connect_lazy_with(options),
                ))
            }
            None => Err(sqlx::Error::Configuration(
                format!(
                    "not a postgres:// or sqlite: URL: {}",
                    crate::config::redacted_url(&settings.url)
                )
                .into(),
            )),
        }
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            Database::Postgres(_) => Dialect::Postgres,
            Database::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Applies the migrations not yet applied (PostgreSQL: under an advisory lock, so
    /// instances starting together do not race).
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        match self {
            Database::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Database::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Database::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            Database::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
        })
    }

    /// The stored `next_offset` of each of `partitions` that has one.
    pub async fn stored_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>, sqlx::Error> {
        let mut tx = self.begin().await?;
        let mut found = HashMap::new();
        for tp in partitions {
            if let Some(next) = tx.stored_offset(group, tp, false).await? {
                found.insert(tp.clone(), next);
            }
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Database::Postgres(pool) => pool.close().await,
            Database::Sqlite(pool) => pool.close().await,
        }
    }
}

/// One column's values as a typed array; a value of another kind than the column's first
/// is a bug in the row's binding order, reported rather than bound wrongly.
fn collect<'a, T>(
    column: impl Iterator<Item = &'a Value<'a>>,
    pick: impl Fn(&Value<'a>) -> Option<T>,
) -> Result<Vec<T>, sqlx::Error> {
    column
        .map(|v| {
            pick(v).ok_or_else(|| {
                sqlx::Error::Protocol(format!("mixed value kinds in one column: {v:?}"))
            })
        })
        .collect()
}

/// SQLite timestamps: fixed width, so that text order is time order.
fn sqlite_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Binds `values` to `query` in order; the same text for both drivers.
macro_rules! bind_all {
    ($query:expr, $values:expr, $time:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match *value {
                Value::Int(v) => query.bind(v),
                Value::OptInt(v) => query.bind(v),
                Value::Float(v) => query.bind(v),
                Value::OptFloat(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::OptText(v) => query.bind(v),
                Value::Bool(v) => query.bind(v),
                Value::Time(v) => query.bind($time(v)),
            };
        }
        query
    }};
}

/// An open transaction. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    /// On PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
    /// On SQLite.
    Sqlite(Transaction<'static, Sqlite>),
}

impl Tx {
    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Postgres(_) => Dialect::Postgres,
            Tx::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Runs one statement with `values` bound to `$1…`; the number of rows it changed.
    pub async fn execute<'q>(
        &mut self,
        sql: &'q str,
        values: &'q [Value<'q>],
    ) -> Result<u64, sqlx::Error> {
        {
            Ok(match self {
                Tx::Postgres(tx) => bind_all!(sqlx::query(sql), values, |t| t)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected(),
                Tx::Sqlite(tx) => bind_all!(sqlx::query(sql), values, sqlite_time)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected(),
            })
        }
    }

    /// PostgreSQL only: runs `sql`, whose parameters are one array per column (`INSERT …
    /// SELECT * FROM UNNEST($1, $2, …)`), with `values` holding `columns` values per row.
    /// One statement text for any number of rows, so it is parsed and planned once per
    /// connection, and the rows travel as arrays — far cheaper than thousands of scalar
    /// placeholders.
    pub async fn execute_columns<'q>(
        &mut self,
        sql: &'q str,
        values: &'q [Value<'q>],
        columns: usize,
    ) -> Result<u64, sqlx::Error> {
        let Tx::Postgres(tx) = self else {
            return Err(sqlx::Error::Protocol(
                "array parameters are a PostgreSQL statement".into(),
            ));
        };
        let mut query = sqlx::query(sql);
        for c in 0..columns {
            let column = values.iter().skip(c).step_by(columns.max(1));
            query = match values.get(c) {
                Some(Value::Int(_)) => query.bind(collect(column, |v| match *v {
                    Value::Int(x) => Some(x),
                    _ => None,
                })?),
                Some(Value::OptInt(_)) => query.bind(collect(column, |v| match *v {
                    Value::OptInt(x) => Some(x),
                    _ => None,
                })?),
                Some(Value::Float(_)) => query.bind(collect(column, |v| match *v {
                    Value::Float(x) => Some(x),
                    _ => None,
                })?),
                Some(Value::OptFloat(_)) => query.bind(collect(column, |v| match *v {
                    Value::OptFloat(x) => Some(x),
                    _ => None,
                })?),
                Some(Value::Text(_)) => query.bind(collect(column, |v| match *v {
                    Value::Text(x) => Some(x),
                    _ => None,
                })?),
                Some(Value::OptText(_)) => query.bind(collect(column, |v| match *v {
                    Value::OptText(x) => Some(x),
                    _ => None,
                })?),
                Some(Value::Bool(_)) => query.bind(collect(column, |v| match *v {
                    Value::Bool(x) => Some(x),
                    _ => None,
                })?),
                Some(Value::Time(_)) => query.bind(collect(column, |v| match *v {
                    Value::Time(x) => Some(x),
                    _ => None,
                })?),
                None => return Ok(0),
            };
        }
        Ok(query.execute(&mut **tx).await?.rows_affected())
    }

    /// Runs a query whose result is at most one row of one bigint column.
    pub async fn fetch_i64<'q>(
        &mut self,
        sql: &'q str,
        values: &'q [Value<'q>],
    ) -> Result<Option<i64>, sqlx::Error> {
        {
            match self {
                Tx::Postgres(tx) => {
                    bind_all!(sqlx::query_scalar::<_, i64>(sql), values, |t| t)
                        .fetch_optional(&mut **tx)
                        .await
                }
                Tx::Sqlite(tx) => {
                    bind_all!(sqlx::query_scalar::<_, i64>(sql), values, sqlite_time)
                        .fetch_optional(&mut **tx)
                        .await
                }
            }
        }
    }

    // Not `sqlx::raw_sql`: its executor bound is higher-ranked, which defeats the
    // compiler's proof that the write task is `Send`.
    async fn raw(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        self.execute(sql, &[]).await.map(drop)
    }

    /// Opens savepoint `sp`: a failed statement after it can be undone alone.
    pub async fn savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.raw("SAVEPOINT sp").await
    }

    /// Keeps what was done since the savepoint.
    pub async fn release(&mut self) -> Result<(), sqlx::Error> {
        self.raw("RELEASE SAVEPOINT sp").await
    }

    /// Undoes what was done since the savepoint (and closes it).
    pub async fn rollback_to_savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.raw("ROLLBACK TO SAVEPOINT sp").await?;
        self.raw("RELEASE SAVEPOINT sp").await
    }

    /// The stored `next_offset` of `tp` for `group`; with `lock`, the row stays locked
    /// until the transaction ends (PostgreSQL), so two writers of one partition take
    /// turns and the second sees what the first committed.
    pub async fn stored_offset(
        &mut self,
        group: &str,
        tp: &TopicPartition,
        lock: bool,
    ) -> Result<Option<i64>, sqlx::Error> {
        let lock = if lock && self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT next_offset FROM kafka_offsets \
             WHERE consumer_group = $1 AND topic = $2 AND partition = $3{lock}"
        );
        self.fetch_i64(
            &sql,
            &[
                Value::Text(group),
                Value::Text(&tp.topic),
                Value::Int(tp.partition.into()),
            ],
        )
        .await
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Postgres(tx) => tx.commit().await,
            Tx::Sqlite(tx) => tx.commit().await,
        }
    }
}

/// Whether `error` is the database refusing a value (a constraint, a value out of range,
/// bad text) rather than failing as a whole: the record is at fault, not the connection.
pub fn is_data_error(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    if !matches!(db.kind(), ErrorKind::Other) {
        // Unique, foreign-key, not-null or check violation, in either dialect.
        return true;
    }
    let code = db.code().unwrap_or_default();
    match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        // SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation).
        Some(_) => code.starts_with("22") || code.starts_with("23"),
        // SQLITE_CONSTRAINT (19), SQLITE_MISMATCH (20), SQLITE_TOOBIG (18), and their
        // extended codes.
        None => matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(18..=20)),
    }
}

/// Whether `error` means the database cannot be reached at all (as opposed to a
/// statement failing): the reason `/readyz` gives differs.
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // 08: connection exception; 57P01-57P03: shutting down / cannot connect now.
            code.starts_with("08") || code.starts_with("57P")
        }
        _ => false,
    }
}
