//! `ferroflow run`: cluster up, services up, wait for readiness, banner, then wait for a
//! signal or a service failure, stop the services, and only then the cluster.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use ferroflow_runtime::config::{self as ff_config, CONFIG_FILE_ENV, NoServiceSettings, Settings};
use tokio::time::Instant;

use crate::banner::{self, Entry};
use crate::cli::RunArgs;
use crate::cluster::{Cluster, EMBEDDED_BROKERS};
use crate::data::{self, Source};
use crate::readiness;
use crate::services::{self, Shared};
use crate::signals::Signals;
use crate::supervisor::{Exit, Supervisor};

/// How long the services get to flush and commit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(30);
/// How often `/readyz` is asked while waiting.
const READY_POLL: Duration = Duration::from_millis(250);

/// Why the run ended.
enum End {
    Signal(&'static str),
    ServiceExited(Exit),
}

/// Runs the pipeline until a signal or a service failure. Exit code 0 means every
/// service stopped cleanly after a signal.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::install().context("cannot install signal handlers")?;
    let bin_dir = services::bin_dir(args.bin_dir.as_deref())?;
    services::check_binaries(&bin_dir)?;
    let settings = shared_settings()?;
    let topics: Vec<String> = settings
        .topics
        .all()
        .iter()
        .map(|(_, topic)| topic.to_string())
        .collect();
    // A real cluster lets the aggregator create its internal topics (compacted state,
    // one-partition partials); librdkafka's mock cluster does not, so they are made here.
    let aggregator = ferroflow_aggregator::config::AggregatorSettings::default();
    let embedded_only = [aggregator.state_topic(), aggregator.partials_topic()];

    let cluster = match &args.bootstrap_servers {
        None => Cluster::embedded(
            &topics
                .iter()
                .map(String::as_str)
                .chain(embedded_only.iter().map(String::as_str))
                .collect::<Vec<_>>(),
            args.partitions,
            args.replication.unwrap_or(EMBEDDED_BROKERS),
        )?,
        Some(servers) => {
            let kafka = ferroflow_runtime::config::KafkaSettings {
                bootstrap_servers: servers.clone(),
                ..settings.kafka.clone()
            };
            let clients = ferroflow_runtime::kafka::KafkaClients::new(
                kafka,
                "launcher",
                ferroflow_runtime::health::Health::new(),
            );
            Cluster::external(
                &clients,
                &topics.iter().map(String::as_str).collect::<Vec<_>>(),
                args.partitions,
                args.replication.unwrap_or(1),
            )
            .await?
        }
    };
    tracing::info!(topics = ?topics, "Kafka: {}", cluster.describe());
    let source = match &cluster {
        Cluster::Embedded(_) => Source::Fresh,
        Cluster::External { id: Some(id), .. } => Source::Cluster(id),
        Cluster::External { id: None, .. } => Source::Unknown,
    };
    let csv_dir = data::prepare_csv_dir(&args.data_dir, source)?;
    // The SQLite file is ours to guard like the CSV directory; a database named by
    // --database-url is the user's.
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => services::sqlite_url(&data::prepare_db_dir(&args.data_dir, source)?),
    };
    let overrides: Vec<(&str, &str)> = cluster
        .overrides()
        .iter()
        .map(|o| {
            tracing::info!(
                property = o.property,
                value = o.value,
                reason = o.reason,
                "overriding a librdkafka setting of every service for this cluster"
            );
            (o.property, o.value)
        })
        .collect();

    let bootstrap = cluster.bootstrap_servers();
    let stdout = std::io::stdout();
    let launches = services::plan(
        &args,
        &Shared {
            bootstrap_servers: &bootstrap,
            rdkafka_overrides: &overrides,
            csv_dir: &csv_dir,
            database_url: &database_url,
            bin_dir: &bin_dir,
            color: stdout.is_terminal(),
        },
    )?;
    let grpc = args.base_port + services::GRPC_OFFSET;
    let aggregator = launches
        .iter()
        .find(|l| l.name == "aggregator")
        .map_or_else(String::new, |l| l.http.to_string());
    let outputs = [
        format!("CSV files: {}/<topic>/", csv_dir.display()),
        format!(
            "Query API: http://{aggregator}/v1/tickers, gRPC 127.0.0.1:{grpc} (docs/aggregator.md)"
        ),
        format!(
            "Database: {}",
            ferroflow_sink_db::config::redacted_url(&database_url)
        ),
    ];
    let bounded = args.count.is_some();
    let sink = Arc::new(Mutex::new(stdout));
    let mut supervisor = Supervisor::new(sink.clone());
    for launch in &launches {
        match supervisor.spawn(launch) {
            Ok(pid) => tracing::info!(service = launch.name, pid, http = %launch.http, "started"),
            Err(error) => {
                supervisor
                    .stop(STOP_GRACE, async {
                        signals.recv().await;
                    })
                    .await;
                return Err(error)
                    .with_context(|| format!("cannot start {}", launch.program.display()));
            }
        }
    }

    let deadline = Instant::now() + args.ready_timeout;
    // A bounded generator may be done before anyone asks whether it is ready.
    let (generator_done_tx, generator_done) = tokio::sync::watch::channel(false);
    let all_ready = async {
        let mut states = Vec::new();
        for launch in &launches {
            let state = if launch.name == "generator" {
                let mut done = generator_done.clone();
                tokio::select! {
                    state = readiness::wait_ready(launch.http, deadline, READY_POLL) => state,
                    _ = done.wait_for(|done| *done) => Ok(()),
                }
            } else {
                readiness::wait_ready(launch.http, deadline, READY_POLL).await
            };
            if let Err(last) = &state {
                tracing::warn!(
                    service = launch.name,
                    "not ready after {:?}; /readyz said: {last}; carrying on",
                    args.ready_timeout
                );
            }
            states.push(state);
        }
        states
    };
    let early_end = tokio::select! {
        states = all_ready => {
            let entries: Vec<Entry<'_>> = launches
                .iter()
                .zip(&states)
                .map(|(launch, readiness)| Entry { name: launch.name, http: launch.http, readiness })
                .collect();
            let text = banner::render(&cluster.describe(), &entries, &outputs);
            let mut out = sink.lock().unwrap_or_else(|p| p.into_inner());
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            None
        }
        signal = signals.recv() => Some(End::Signal(signal)),
        exit = next_fatal_exit(&mut supervisor, bounded, &generator_done_tx) => {
            Some(End::ServiceExited(exit))
        }
    };
    let end = match early_end {
        Some(end) => end,
        None => tokio::select! {
            signal = signals.recv() => End::Signal(signal),
            exit = next_fatal_exit(&mut supervisor, bounded, &generator_done_tx) => {
                End::ServiceExited(exit)
            }
        },
    };

    let mut clean = match &end {
        End::Signal(signal) => {
            tracing::info!("{signal}: stopping the services (again to kill them at once)");
            true
        }
        End::ServiceExited(exit) => {
            tracing::error!(
                service = exit.name,
                "exited on its own ({}); stopping the others",
                exit.describe()
            );
            false
        }
    };
    let exits = supervisor
        .stop(STOP_GRACE, async {
            signals.recv().await;
        })
        .await;
    for exit in &exits {
        if exit.success() {
            tracing::info!(service = exit.name, "stopped cleanly");
        } else {
            clean = false;
            tracing::error!(service = exit.name, "stopped badly: {}", exit.describe());
        }
    }
    // Only now: the services have flushed and committed to it.
    let described = cluster.describe();
    drop(cluster);
    tracing::info!("done with the {described}");
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The next service exit that ends the run. With `--count` (`bounded`), the generator
/// exiting cleanly is the end of its data set, not of the run: it is logged, `generator_done`
/// is set, and the other services keep processing.
async fn next_fatal_exit<W: std::io::Write + Send + 'static>(
    supervisor: &mut Supervisor<W>,
    bounded: bool,
    generator_done: &tokio::sync::watch::Sender<bool>,
) -> Exit {
    loop {
        let exit = supervisor.next_exit().await;
        if bounded && exit.name == "generator" && exit.success() {
            tracing::info!(
                "the generator has produced its --count records and stopped; the other \
                 services keep running (Ctrl-C to stop them)"
            );
            generator_done.send_replace(true);
            continue;
        }
        return exit;
    }
}

/// The shared settings the services will load: topic names (the defaults, or whatever
/// `FERROFLOW_TOPICS__…` or a file named by `FERROFLOW_CONFIG` renames them to) and the
/// librdkafka pass-through properties. Loading them also rejects a bad `FERROFLOW_…`
/// variable before any service starts, with the runtime's own message.
fn shared_settings() -> anyhow::Result<Settings<NoServiceSettings>> {
    let env = std::env::vars().collect();
    let file = std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from);
    ff_config::load::<NoServiceSettings>(file.as_deref(), &env)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the services' configuration would be rejected")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eight_default_topics_are_created() {
        // Assumes the test environment renames no topic.
        let settings = shared_settings().unwrap();
        let topics: Vec<&str> = settings.topics.all().iter().map(|(_, t)| *t).collect();
        assert_eq!(
            topics,
            [
                "stock-ticks",
                "user-login",
                "stock-ticks-enriched",
                "user-login-enriched",
                "stock-bars",
                "login-stats",
                "dead-letters",
                "late-events"
            ]
        );
    }
}
