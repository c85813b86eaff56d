//! The command line: `ferroflow run [OPTIONS]`.
//!
//! No option reads an environment variable on purpose: the children inherit the
//! launcher's environment, and the runtime rejects any `FERROFLOW_…` name that is not a
//! setting, so a launcher-only variable would stop every service at start-up.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Runs the ferroflow pipeline on one machine.
#[derive(Debug, Parser)]
#[command(name = "ferroflow", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every service as its own process against an embedded Kafka mock cluster (or
    /// a real broker with --bootstrap-servers); Ctrl-C stops them all.
    Run(RunArgs),
}

/// Options of `ferroflow run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Use this Kafka cluster (comma-separated host:port list) instead of the embedded
    /// mock cluster; missing topics are created.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_servers: Option<String>,
    /// Where output goes; CSV files land in <DATA_DIR>/csv.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Directory holding the service binaries; default: the launcher's own directory.
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Service i listens for /livez /readyz /metrics on 127.0.0.1:<BASE_PORT + i>
    /// (generator +1, enricher +2, aggregator +3, sink-csv +4, sink-db +5).
    #[arg(long, value_name = "PORT", default_value_t = 9100)]
    pub base_port: u16,
    /// Partitions of each topic ferroflow creates.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub partitions: i32,
    /// Replication factor of created topics; default: 3 on the embedded cluster (one
    /// replica per mock broker), 1 on a real broker.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=16))]
    pub replication: Option<i32>,
    /// Records per second of each generated stream, or "max".
    #[arg(long, value_name = "N", default_value = "10", value_parser = parse_rate)]
    pub rate: Rate,
    /// Wire format of generated records.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Records of each generated stream: the generator stops after them while the other
    /// services keep running, so a fixed data set flows through. Default: no end.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// sink-db writes into this database (e.g. postgres://user:password@host/db) instead
    /// of SQLite under <DATA_DIR>/db.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Share of generated records made malformed on purpose (0.0 to 1.0), so dead
    /// letters are visible.
    #[arg(long, value_name = "R", default_value = "0.01", value_parser = parse_ratio)]
    pub malformed_ratio: f64,
    /// How long to wait for every service's /readyz before printing the banner anyway.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub ready_timeout: Duration,
}

/// Generation rate of each stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Records per second.
    PerSecond(f64),
    /// As fast as the broker takes them.
    Max,
}

impl fmt::Display for Rate {
    /// The form the generator's `rate` setting accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::PerSecond(n) => write!(f, "{n}"),
            Rate::Max => f.write_str("max"),
        }
    }
}

/// Wire format of generated records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON objects.
    Json,
    /// Protocol Buffers.
    Protobuf,
}

impl Format {
    /// The generator's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Protobuf => "protobuf",
        }
    }
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    if text.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(Rate::PerSecond(n)),
        _ => Err(format!(
            "`{text}` is not a rate: records per second > 0, or \"max\""
        )),
    }
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{text}` is not a share between 0.0 and 1.0")),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let argv = ["ferroflow", "run"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Run(args) => args,
        })
    }

    #[test]
    fn defaults_run_the_embedded_cluster_at_ten_per_second() {
        let args = run(&[]).unwrap();
        assert_eq!(args.bootstrap_servers, None);
        assert_eq!(args.data_dir, PathBuf::from("./data"));
        assert_eq!(args.base_port, 9100);
        assert_eq!(args.partitions, 3);
        assert_eq!(args.replication, None);
        assert_eq!(args.rate, Rate::PerSecond(10.0));
        assert_eq!(args.format, Format::Json);
        assert_eq!(args.malformed_ratio, 0.01);
        assert_eq!(args.ready_timeout, Duration::from_secs(60));
        assert_eq!(args.count, None);
        assert_eq!(args.database_url, None);
    }

    #[test]
    fn every_option_is_accepted() {
        let args = run(&[
            "--bootstrap-servers",
            "127.0.0.1:19092",
            "--data-dir",
            "/tmp/ff",
            "--bin-dir",
            "/opt/ff/bin",
            "--base-port",
            "9200",
            "--partitions",
            "6",
            "--replication",
            "1",
            "--rate",
            "250.5",
            "--format",
            "protobuf",
            "--malformed-ratio",
            "0",
            "--ready-timeout",
            "5",
            "--count",
            "1000",
            "--database-url",
            "postgres://ff:secret@db/ff",
        ])
        .unwrap();
        assert_eq!(args.bootstrap_servers.as_deref(), Some("127.0.0.1:19092"));
        assert_eq!(args.bin_dir, Some(PathBuf::from("/opt/ff/bin")));
        assert_eq!(args.base_port, 9200);
        assert_eq!(args.partitions, 6);
        assert_eq!(args.replication, Some(1));
        assert_eq!(args.rate, Rate::PerSecond(250.5));
        assert_eq!(args.format, Format::Protobuf);
        assert_eq!(args.malformed_ratio, 0.0);
        assert_eq!(args.ready_timeout, Duration::from_secs(5));
        assert_eq!(args.count, Some(1000));
        assert_eq!(
            args.database_url.as_deref(),
            Some("postgres://ff:secret@db/ff")
        );
    }

    #[test]
    fn a_count_of_zero_is_rejected() {
        assert!(run(&["--count", "0"]).is_err());
    }

    #[test]
    fn rate_accepts_max_in_any_case() {
        assert_eq!(run(&["--rate", "MAX"]).unwrap().rate, Rate::Max);
        assert_eq!(Rate::Max.to_string(), "max");
        assert_eq!(Rate::PerSecond(10.0).to_string(), "10");
    }

    #[test]
    fn non_positive_or_unparsable_rates_are_rejected() {
        for bad in ["0", "-3", "fast", "NaN", "inf"] {
            assert!(run(&["--rate", bad]).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn malformed_ratio_outside_zero_to_one_is_rejected() {
        assert!(run(&["--malformed-ratio", "1.5"]).is_err());
        assert!(run(&["--malformed-ratio", "-0.1"]).is_err());
        assert_eq!(
            run(&["--malformed-ratio", "1"]).unwrap().malformed_ratio,
            1.0
        );
    }

    #[test]
    fn zero_partitions_and_unknown_formats_are_rejected() {
        assert!(run(&["--partitions", "0"]).is_err());
        assert!(run(&["--format", "avro"]).is_err());
    }
}
