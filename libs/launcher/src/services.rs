//! Which services run, where their binaries are, and the environment each one gets.
//!
//! Services are configured only through the `FERROFLOW_…` variables the runtime reads
//! (names built with [`ferroflow_runtime::config::env_name`], so they cannot drift from
//! the keys), on top of whatever the launcher's own environment already holds.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use ferroflow_runtime::config::env_name;

use crate::cli::RunArgs;

/// A service the launcher knows how to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Name shown in logs and the banner.
    pub name: &'static str,
    /// File name of its binary in the bin directory.
    pub binary: &'static str,
    /// Its HTTP port is `base_port + port_offset`.
    pub port_offset: u16,
}

/// Every service, in start order. Each keeps a fixed port slot: generator +1, enricher +2,
/// aggregator +3 (and its gRPC query API at +6), sink-csv +4, sink-db +5.
pub const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        name: "generator",
        binary: "generator",
        port_offset: 1,
    },
    ServiceSpec {
        name: "enricher",
        binary: "enricher",
        port_offset: 2,
    },
    ServiceSpec {
        name: "aggregator",
        binary: "aggregator",
        port_offset: 3,
    },
    ServiceSpec {
        name: "sink-csv",
        binary: "sink-csv",
        port_offset: 4,
    },
    ServiceSpec {
        name: "sink-db",
        binary: "sink-db",
        port_offset: 5,
    },
];

/// Where the aggregator's gRPC query API listens: `base_port + GRPC_OFFSET`.
pub const GRPC_OFFSET: u16 = 6;

/// The largest port offset reserved, which `base_port` must leave room for.
const LAST_RESERVED_OFFSET: u16 = GRPC_OFFSET;

/// Everything needed to start one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Service name.
    pub name: &'static str,
    /// Path of the binary.
    pub program: PathBuf,
    /// Its arguments (none for the services: they are configured by environment).
    pub args: Vec<String>,
    /// Where it serves `/livez`, `/readyz` and `/metrics`.
    pub http: SocketAddr,
    /// Variables set on top of the inherited environment.
    pub env: Vec<(String, String)>,
}

/// What every service shares in one run.
#[derive(Debug, Clone)]
pub struct Shared<'a> {
    /// Kafka bootstrap servers.
    pub bootstrap_servers: &'a str,
    /// librdkafka properties every client of every service gets (name, value).
    pub rdkafka_overrides: &'a [(&'a str, &'a str)],
    /// Directory sink-csv writes into.
    pub csv_dir: &'a Path,
    /// sink-db's database URL.
    pub database_url: &'a str,
    /// Directory of the binaries.
    pub bin_dir: &'a Path,
    /// Whether the services may colour their logs (the launcher's stdout is a terminal).
    pub color: bool,
}

/// The launches of every service in [`SERVICES`].
pub fn plan(args: &RunArgs, shared: &Shared<'_>) -> anyhow::Result<Vec<Launch>> {
    if args.base_port.checked_add(LAST_RESERVED_OFFSET).is_none() {
        bail!(
            "--base-port {} leaves no room for the ports up to +{LAST_RESERVED_OFFSET}",
            args.base_port
        );
    }
    SERVICES
        .iter()
        .map(|spec| {
            let port = args.base_port + spec.port_offset;
            let http = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let mut env = vec![
                var("kafka.bootstrap_servers", shared.bootstrap_servers),
                var("http.listen", http),
            ];
            for (property, value) in shared.rdkafka_overrides {
                env.push(var(&format!("kafka.properties.{property}"), value));
            }
            env.extend(own_settings(spec.name, args, shared));
            if !shared.color {
                // tracing-subscriber honours https://no-color.org/.
                env.push(("NO_COLOR".into(), "1".into()));
            }
            Ok(Launch {
                name: spec.name,
                program: shared.bin_dir.join(spec.binary),
                args: Vec::new(),
                http,
                env,
            })
        })
        .collect()
}

/// Settings of a service's own section; the others' sections are left alone.
fn own_settings(service: &str, args: &RunArgs, shared: &Shared<'_>) -> Vec<(String, String)> {
    match service {
        "generator" => ["stock_ticks", "user_login"]
            .iter()
            .flat_map(|stream| {
                let key = |field: &str| format!("generator.{stream}.{field}");
                let mut vars = vec![
                    var(&key("rate"), args.rate),
                    var(&key("format"), args.format.as_str()),
                    var(&key("malformed_ratio"), args.malformed_ratio),
                ];
                if let Some(count) = args.count {
                    vars.push(var(&key("count"), count));
                }
                vars
            })
            .collect(),
        // One enricher with a fixed identity: its transactional.id stays the same across
        // runs, so a restart fences whatever a killed run left open.
        "enricher" => vec![var("enricher.instance_id", "enricher-0")],
        // Like the enricher: a fixed transactional.id, and loopback-only query APIs.
        "aggregator" => vec![
            var("aggregator.instance_id", "aggregator-0"),
            var(
                "aggregator.grpc_listen",
                SocketAddr::from((Ipv4Addr::LOCALHOST, args.base_port + GRPC_OFFSET)),
            ),
        ],
        "sink-csv" => vec![
            var("sink_csv.directory", shared.csv_dir.display()),
            var(
                "sink_csv.streams",
                "stock_ticks,user_login,stock_ticks_enriched,user_login_enriched",
            ),
        ],
        // SQLite unless --database-url says otherwise: nothing to install.
        "sink-db" => vec![var("sink_db.url", shared.database_url)],
        _ => Vec::new(),
    }
}

/// The SQLite URL of sink-db's database file in `db_dir` (absolute, so `sqlite:///…`).
pub fn sqlite_url(db_dir: &Path) -> String {
    format!("sqlite://{}", db_dir.join("sink-db.sqlite").display())
}

fn var(key: &str, value: impl std::fmt::Display) -> (String, String) {
    (env_name(key), value.to_string())
}

/// The bin directory: `--bin-dir`, or else the directory of the running launcher, where
/// cargo puts the workspace's other binaries too.
pub fn bin_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(dir) => Ok(dir.to_path_buf()),
        None => {
            let exe = std::env::current_exe().context("cannot locate the launcher binary")?;
            exe.parent()
                .map(Path::to_path_buf)
                .context("the launcher binary has no parent directory")
        }
    }
}

/// Fails, naming the fix, if a service binary is missing from `bin_dir`.
pub fn check_binaries(bin_dir: &Path) -> anyhow::Result<()> {
    for spec in SERVICES {
        let program = bin_dir.join(spec.binary);
        if !program.is_file() {
            bail!(
                "{} not found at {}: build the workspace binaries (`cargo build --release \
                 --bins`, as scripts/run.sh does) or pass --bin-dir",
                spec.name,
                program.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> RunArgs {
        let argv = ["ferroflow", "run"].iter().chain(extra);
        match Cli::parse_from(argv).command {
            Command::Run(args) => args,
        }
    }

    fn shared<'a>(overrides: &'a [(&'a str, &'a str)]) -> Shared<'a> {
        Shared {
            bootstrap_servers: "127.0.0.1:1111,127.0.0.1:2222",
            rdkafka_overrides: overrides,
            csv_dir: Path::new("/srv/ff/data/csv"),
            database_url: "sqlite:///srv/ff/data/db/sink-db.sqlite",
            bin_dir: Path::new("/opt/ff/bin"),
            color: true,
        }
    }

    fn env_of<'a>(launches: &'a [Launch], name: &str) -> &'a [(String, String)] {
        &launches.iter().find(|l| l.name == name).unwrap().env
    }

    fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn services_take_their_reserved_port_slots() {
        let launches = plan(&args(&[]), &shared(&[])).unwrap();
        let ports: Vec<_> = launches.iter().map(|l| (l.name, l.http.port())).collect();
        assert_eq!(
            ports,
            [
                ("generator", 9101),
                ("enricher", 9102),
                ("aggregator", 9103),
                ("sink-csv", 9104),
                ("sink-db", 9105)
            ]
        );
        assert!(launches.iter().all(|l| l.http.ip() == Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn every_service_gets_bootstrap_servers_and_its_listen_address() {
        let launches = plan(&args(&["--base-port", "9200"]), &shared(&[])).unwrap();
        for launch in &launches {
            assert_eq!(
                get(&launch.env, "FERROFLOW_KAFKA__BOOTSTRAP_SERVERS"),
                Some("127.0.0.1:1111,127.0.0.1:2222")
            );
            assert_eq!(
                get(&launch.env, "FERROFLOW_HTTP__LISTEN"),
                Some(launch.http.to_string().as_str())
            );
        }
        assert_eq!(
            get(env_of(&launches, "sink-csv"), "FERROFLOW_HTTP__LISTEN"),
            Some("127.0.0.1:9204")
        );
    }

    #[test]
    fn generator_gets_rate_format_and_malformed_ratio_for_both_streams() {
        let launches = plan(
            &args(&[
                "--rate",
                "max",
                "--format",
                "protobuf",
                "--malformed-ratio",
                "0.5",
            ]),
            &shared(&[]),
        )
        .unwrap();
        let env = env_of(&launches, "generator");
        for stream in ["STOCK_TICKS", "USER_LOGIN"] {
            let key = |f: &str| format!("FERROFLOW_GENERATOR__{stream}__{f}");
            assert_eq!(get(env, &key("RATE")), Some("max"));
            assert_eq!(get(env, &key("FORMAT")), Some("protobuf"));
            assert_eq!(get(env, &key("MALFORMED_RATIO")), Some("0.5"));
        }
        assert_eq!(get(env, "FERROFLOW_SINK_CSV__DIRECTORY"), None);
    }

    #[test]
    fn default_generator_settings_are_ten_per_second_json_one_percent_malformed() {
        let launches = plan(&args(&[]), &shared(&[])).unwrap();
        let env = env_of(&launches, "generator");
        assert_eq!(
            get(env, "FERROFLOW_GENERATOR__STOCK_TICKS__RATE"),
            Some("10")
        );
        assert_eq!(
            get(env, "FERROFLOW_GENERATOR__USER_LOGIN__FORMAT"),
            Some("json")
        );
        assert_eq!(
            get(env, "FERROFLOW_GENERATOR__STOCK_TICKS__MALFORMED_RATIO"),
            Some("0.01")
        );
    }

    #[test]
    fn sink_csv_writes_into_the_csv_directory() {
        let launches = plan(&args(&[]), &shared(&[])).unwrap();
        let env = env_of(&launches, "sink-csv");
        assert_eq!(
            get(env, "FERROFLOW_SINK_CSV__DIRECTORY"),
            Some("/srv/ff/data/csv")
        );
        assert_eq!(get(env, "FERROFLOW_GENERATOR__STOCK_TICKS__RATE"), None);
    }

    #[test]
    fn the_aggregator_query_api_listens_on_loopback_beside_the_others() {
        let launches = plan(&args(&[]), &shared(&[])).unwrap();
        let env = env_of(&launches, "aggregator");
        assert_eq!(
            get(env, "FERROFLOW_AGGREGATOR__GRPC_LISTEN"),
            Some("127.0.0.1:9106")
        );
        assert_eq!(
            get(env, "FERROFLOW_AGGREGATOR__INSTANCE_ID"),
            Some("aggregator-0")
        );
    }

    #[test]
    fn sink_db_writes_to_the_run_s_database() {
        assert_eq!(
            sqlite_url(Path::new("/srv/ff/data/db")),
            "sqlite:///srv/ff/data/db/sink-db.sqlite"
        );
        let launches = plan(&args(&[]), &shared(&[])).unwrap();
        let env = env_of(&launches, "sink-db");
        assert_eq!(
            get(env, "FERROFLOW_SINK_DB__URL"),
            Some("sqlite:///srv/ff/data/db/sink-db.sqlite")
        );
    }

    #[test]
    fn a_count_bounds_both_generated_streams_and_nothing_else() {
        let launches = plan(&args(&["--count", "500"]), &shared(&[])).unwrap();
        let generator = env_of(&launches, "generator");
        for stream in ["STOCK_TICKS", "USER_LOGIN"] {
            assert_eq!(
                get(generator, &format!("FERROFLOW_GENERATOR__{stream}__COUNT")),
                Some("500")
            );
        }
        let unbounded = plan(&args(&[]), &shared(&[])).unwrap();
        let generator = env_of(&unbounded, "generator");
        assert!(!generator.iter().any(|(k, _)| k.ends_with("__COUNT")));
    }

    #[test]
    fn librdkafka_overrides_use_the_pass_through_form() {
        let overrides = [("partition.assignment.strategy", "range")];
        let launches = plan(&args(&[]), &shared(&overrides)).unwrap();
        for launch in &launches {
            assert_eq!(
                get(
                    &launch.env,
                    "FERROFLOW_RDKAFKA_PARTITION_ASSIGNMENT_STRATEGY"
                ),
                Some("range")
            );
        }
    }

    #[test]
    fn colour_is_switched_off_when_output_is_not_a_terminal() {
        let coloured = plan(&args(&[]), &shared(&[])).unwrap();
        assert_eq!(get(&coloured[0].env, "NO_COLOR"), None);
        let plain = Shared {
            color: false,
            ..shared(&[])
        };
        let launches = plan(&args(&[]), &plain).unwrap();
        assert!(
            launches
                .iter()
                .all(|l| get(&l.env, "NO_COLOR") == Some("1"))
        );
    }

    #[test]
    fn binaries_are_looked_up_in_the_bin_dir() {
        let launches = plan(&args(&[]), &shared(&[])).unwrap();
        let programs: Vec<_> = launches.iter().map(|l| l.program.as_path()).collect();
        assert_eq!(
            programs,
            ["generator", "enricher", "aggregator", "sink-csv", "sink-db"]
                .map(|b| Path::new("/opt/ff/bin").join(b))
        );
    }

    #[test]
    fn base_port_without_room_for_every_slot_is_rejected() {
        let err = plan(&args(&["--base-port", "65533"]), &shared(&[])).unwrap_err();
        assert!(err.to_string().contains("--base-port 65533"), "{err}");
    }

    #[test]
    fn a_missing_binary_names_the_build_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_binaries(dir.path()).unwrap_err().to_string();
        assert!(err.contains("generator not found"), "{err}");
        assert!(err.contains("cargo build --release --bins"), "{err}");
    }

    #[test]
    fn default_bin_dir_is_the_directory_of_the_running_executable() {
        let exe = std::env::current_exe().unwrap();
        assert_eq!(bin_dir(None).unwrap(), exe.parent().unwrap());
        assert_eq!(bin_dir(Some(Path::new("/x"))).unwrap(), PathBuf::from("/x"));
    }
}
