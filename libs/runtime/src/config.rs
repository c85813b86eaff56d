//! Layered configuration: defaults, then an optional TOML file, then `FERROFLOW_…`
//! environment variables.
//!
//! Every setting lives in a section (`kafka`, `topics`, `http`, `telemetry`, `shutdown`, and
//! one section per service such as `generator`). One file can therefore configure the whole
//! pipeline: a service reads the shared sections and its own, and accepts (without reading)
//! the sections of the other services. Anything else is an error, so a typo never passes
//! silently.
//!
//! Environment variables map onto keys with `__` between levels:
//! `FERROFLOW_KAFKA__BOOTSTRAP_SERVERS` is `kafka.bootstrap_servers`. librdkafka settings,
//! whose names contain dots, have their own form: `FERROFLOW_RDKAFKA_SASL_MECHANISM=PLAIN`
//! sets `sasl.mechanism` (underscores become dots), the same as
//! `kafka.properties."sasl.mechanism"` in the file.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// Prefix of every environment variable ferroflow reads.
pub const ENV_PREFIX: &str = "FERROFLOW_";
/// Environment variable naming the configuration file.
pub const CONFIG_FILE_ENV: &str = "FERROFLOW_CONFIG";
/// Prefix of the librdkafka pass-through environment variables.
pub const RDKAFKA_ENV_PREFIX: &str = "FERROFLOW_RDKAFKA_";
/// Sections owned by services; each service reads only its own.
pub const SERVICE_SECTIONS: &[&str] =
    &["generator", "enricher", "aggregator", "sink_csv", "sink_db"];
const SHARED_SECTIONS: &[&str] = &["kafka", "topics", "http", "telemetry", "shutdown"];

/// A configuration problem, reported at start-up with the key it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is present but wrong.
    #[error("invalid configuration `{key}` (env {env}): {problem}; expected {expected}")]
    Invalid {
        /// Dotted key, e.g. `generator.stock_ticks.rate`.
        key: String,
        /// Environment variable that sets the key.
        env: String,
        /// What is wrong with the value.
        problem: String,
        /// The accepted form.
        expected: String,
    },
    /// A key or section that no part of ferroflow knows.
    #[error("unknown configuration key `{key}`{hint}")]
    Unknown {
        /// The unknown key.
        key: String,
        /// Suggestion, possibly empty.
        hint: String,
    },
    /// The file could not be read or parsed.
    #[error("cannot read configuration file {path}: {message}")]
    File {
        /// Path of the file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ConfigError {
    /// Builds an [`ConfigError::Invalid`] for `key`.
    pub fn invalid(key: &str, problem: impl Into<String>, expected: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            env: env_name(key),
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

/// The environment variable that sets a dotted key.
pub fn env_name(key: &str) -> String {
    match key.strip_prefix("kafka.properties.") {
        Some(property) => format!(
            "{RDKAFKA_ENV_PREFIX}{}",
            property.replace('.', "_").to_uppercase()
        ),
        None => format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase()),
    }
}

/// A configuration section that checks its values once loaded.
pub trait Validate {
    /// Returns the first problem found; `prefix` is the section's dotted key.
    fn validate(&self, prefix: &str) -> Result<(), ConfigError>;
}

/// What a service adds to the shared settings: its own section.
pub trait ServiceSettings: DeserializeOwned + Default + Validate + Serialize {
    /// Name of the section, e.g. `generator`.
    const SECTION: &'static str;
}

/// No service section (for tools and tests that only need the shared settings).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoServiceSettings {}

impl Validate for NoServiceSettings {
    fn validate(&self, _: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

impl ServiceSettings for NoServiceSettings {
    const SECTION: &'static str = "none";
}

/// Everything a service is configured with.
#[derive(Debug, Clone, Serialize)]
pub struct Settings<S> {
    /// How to reach Kafka.
    pub kafka: KafkaSettings,
    /// Topic names.
    pub topics: TopicNames,
    /// The health and metrics HTTP server.
    pub http: HttpSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Graceful shutdown.
    pub shutdown: ShutdownSettings,
    /// The service's own section.
    pub service: S,
}

/// Connection to Kafka. Everything librdkafka supports, SASL and SSL included, goes through
/// `properties`, applied after ferroflow's defaults so it can override any of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list. Default `127.0.0.1:9092`.
    pub bootstrap_servers: String,
    /// librdkafka `client.id`; default: the service name.
    pub client_id: Option<String>,
    /// How often librdkafka reports statistics (lag, queue depth, broker state). Default 1s.
    #[serde(with = "humantime_serde")]
    pub statistics_interval: Duration,
    /// librdkafka properties passed through unchanged, e.g. `security.protocol = "SASL_SSL"`.
    #[serde(serialize_with = "redact_properties")]
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            bootstrap_servers: "127.0.0.1:9092".into(),
            client_id: None,
            statistics_interval: Duration::from_secs(1),
            properties: BTreeMap::new(),
        }
    }
}

fn redact_properties<S: serde::Serializer>(
    props: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    // `--print-config` must never echo a password or a private key.
    let redacted: BTreeMap<&str, &str> = props
        .iter()
        .map(|(k, v)| {
            let secret = ["password", "secret", "key.pem", "token"]
                .iter()
                .any(|s| k.contains(s));
            (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
        })
        .collect();
    redacted.serialize(serializer)
}

impl Validate for KafkaSettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let key = format!("{prefix}.bootstrap_servers");
        if self.bootstrap_servers.trim().is_empty() {
            return Err(ConfigError::invalid(
                &key,
                "empty",
                "a comma-separated host:port list",
            ));
        }
        for server in self.bootstrap_servers.split(',') {
            let server = server.trim();
            let port = server.rsplit_once(':').map(|(_, p)| p);
            if !matches!(port.map(str::parse::<u16>), Some(Ok(_))) {
                return Err(ConfigError::invalid(
                    &key,
                    format!("`{server}` has no port"),
                    "a comma-separated host:port list",
                ));
            }
        }
        if self.statistics_interval < Duration::from_millis(100) {
            return Err(ConfigError::invalid(
                &format!("{prefix}.statistics_interval"),
                "shorter than 100ms",
                "a duration of at least 100ms, e.g. \"1s\"",
            ));
        }
        for (name, value) in &self.properties {
            crate::kafka::check_property(name, value).map_err(|problem| {
                ConfigError::invalid(
                    &format!("{prefix}.properties.{name}"),
                    problem,
                    "a librdkafka property and value (see librdkafka CONFIGURATION.md)",
                )
            })?;
        }
        Ok(())
    }
}

/// Names of the topics; the defaults are the ones other people's clients rely on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicNames {
    /// Raw stock ticks. Default `stock-ticks`.
    pub stock_ticks: String,
    /// Raw user logins. Default `user-login`.
    pub user_login: String,
    /// Validated, enriched stock ticks. Default `stock-ticks-enriched`.
    pub stock_ticks_enriched: String,
    /// Validated, enriched logins. Default `user-login-enriched`.
    pub user_login_enriched: String,
    /// Windowed price bars. Default `stock-bars`.
    pub stock_bars: String,
    /// Windowed login statistics. Default `login-stats`.
    pub login_stats: String,
    /// Records no stage could process, with the reason in headers. Default `dead-letters`.
    pub dead_letters: String,
    /// Events that arrived after their window closed. Default `late-events`.
    pub late_events: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        TopicNames {
            stock_ticks: "stock-ticks".into(),
            user_login: "user-login".into(),
            stock_ticks_enriched: "stock-ticks-enriched".into(),
            user_login_enriched: "user-login-enriched".into(),
            stock_bars: "stock-bars".into(),
            login_stats: "login-stats".into(),
            dead_letters: "dead-letters".into(),
            late_events: "late-events".into(),
        }
    }
}

impl TopicNames {
    /// Every (stream, topic) pair.
    pub fn all(&self) -> [(&'static str, &str); 8] {
        [
            ("stock_ticks", &self.stock_ticks),
            ("user_login", &self.user_login),
            ("stock_ticks_enriched", &self.stock_ticks_enriched),
            ("user_login_enriched", &self.user_login_enriched),
            ("stock_bars", &self.stock_bars),
            ("login_stats", &self.login_stats),
            ("dead_letters", &self.dead_letters),
            ("late_events", &self.late_events),
        ]
    }

    /// The topic of a logical stream name such as `stock_ticks`.
    pub fn by_stream(&self, stream: &str) -> Option<&str> {
        self.all()
            .into_iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, t)| t)
    }
}

impl Validate for TopicNames {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        for (stream, topic) in self.all() {
            let legal = !topic.is_empty()
                && topic.len() <= 249
                && topic != "."
                && topic != ".."
                && topic
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !legal {
                return Err(ConfigError::invalid(
                    &format!("{prefix}.{stream}"),
                    format!("`{topic}` is not a legal Kafka topic name"),
                    "1 to 249 characters of [a-zA-Z0-9._-]",
                ));
            }
        }
        Ok(())
    }
}

/// The HTTP server for `/livez`, `/readyz` and `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address to listen on. Default `0.0.0.0:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
        }
    }
}

impl Validate for HttpSettings {
    fn validate(&self, _: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logs and traces.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// `human` (default) or `json`.
    pub log_format: LogFormat,
    /// A tracing-subscriber filter such as `info,rdkafka=warn`; `RUST_LOG` overrides it.
    pub log_filter: String,
    /// OTLP/gRPC endpoint, e.g. `http://otel-collector:4317`. Unset: no trace export.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_format: LogFormat::Human,
            log_filter: "info,librdkafka=warn".into(),
            otlp_endpoint: None,
        }
    }
}

impl Validate for TelemetrySettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_filter) {
            return Err(ConfigError::invalid(
                &format!("{prefix}.log_filter"),
                e.to_string(),
                "a filter such as \"info\" or \"info,ferroflow_runtime=debug\"",
            ));
        }
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                &format!("{prefix}.otlp_endpoint"),
                format!("`{endpoint}` has no http:// or https:// scheme"),
                "a URL such as \"http://otel-collector:4317\"",
            ));
        }
        Ok(())
    }
}

/// Graceful shutdown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownSettings {
    /// How long a service may take, after SIGTERM, to flush and commit. Default 30s.
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        ShutdownSettings {
            deadline: Duration::from_secs(30),
        }
    }
}

impl Validate for ShutdownSettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if self.deadline.is_zero() {
            return Err(ConfigError::invalid(
                &format!("{prefix}.deadline"),
                "zero",
                "a positive duration such as \"30s\"",
            ));
        }
        Ok(())
    }
}

/// Loads the settings of service `S` from `file` (if any) and `env`.
pub fn load<S: ServiceSettings>(
    file: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<Settings<S>, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::File {
                path: path.into(),
                message: "no such file".into(),
            });
        }
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    let (sectioned, rdkafka) = split_env(env)?;
    builder = builder.add_source(
        config::Environment::with_prefix("FERROFLOW")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(sectioned)),
    );
    let layered = builder.build().map_err(|e| file_error(file, e))?;

    let top: HashMap<String, config::Value> = layered
        .clone()
        .try_deserialize()
        .map_err(|e| file_error(file, e))?;
    for key in top.keys() {
        if !SHARED_SECTIONS.contains(&key.as_str()) && !SERVICE_SECTIONS.contains(&key.as_str()) {
            return Err(ConfigError::Unknown {
                key: key.clone(),
                hint: format!(
                    "; known sections: {}, {}",
                    SHARED_SECTIONS.join(", "),
                    SERVICE_SECTIONS.join(", ")
                ),
            });
        }
    }

    let mut kafka: KafkaSettings = section(&layered, "kafka")?;
    kafka.properties.extend(rdkafka);
    let settings: Settings<S> = Settings {
        kafka,
        topics: section(&layered, "topics")?,
        http: section(&layered, "http")?,
        telemetry: section(&layered, "telemetry")?,
        shutdown: section(&layered, "shutdown")?,
        service: section(&layered, S::SECTION)?,
    };
    settings.kafka.validate("kafka")?;
    settings.topics.validate("topics")?;
    settings.http.validate("http")?;
    settings.telemetry.validate("telemetry")?;
    settings.shutdown.validate("shutdown")?;
    settings.service.validate(S::SECTION)?;
    Ok(settings)
}

/// Sectioned variables for the `config` crate, and librdkafka properties.
type SplitEnv = (HashMap<String, String>, BTreeMap<String, String>);

/// Separates `FERROFLOW_SECTION__KEY` variables from the librdkafka pass-through ones, and
/// rejects `FERROFLOW_…` names that fit neither form (a single `_` typo would otherwise be
/// ignored without a word).
fn split_env(env: &HashMap<String, String>) -> Result<SplitEnv, ConfigError> {
    let mut sectioned = HashMap::new();
    let mut rdkafka = BTreeMap::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if let Some(prop) = name.strip_prefix(RDKAFKA_ENV_PREFIX) {
            rdkafka.insert(prop.to_lowercase().replace('_', "."), value.clone());
        } else if rest.contains("__") {
            sectioned.insert(name.clone(), value.clone());
        } else if name != CONFIG_FILE_ENV && !rest.starts_with("TEST_") {
            return Err(ConfigError::Unknown {
                key: name.clone(),
                hint: format!(
                    " (environment); settings take the form {ENV_PREFIX}SECTION__KEY, \
                     e.g. FERROFLOW_KAFKA__BOOTSTRAP_SERVERS"
                ),
            });
        }
    }
    Ok((sectioned, rdkafka))
}

fn section<T: DeserializeOwned + Default>(
    layered: &config::Config,
    name: &str,
) -> Result<T, ConfigError> {
    match layered.get::<config::Value>(name) {
        Err(config::ConfigError::NotFound(_)) => Ok(T::default()),
        Err(e) => Err(ConfigError::invalid(
            name,
            e.to_string(),
            "a table of settings",
        )),
        Ok(value) => {
            // serde_path_to_error names the exact key that failed, which `config`'s own
            // messages do not always do for nested tables.
            let json = config_to_json(value);
            serde_path_to_error::deserialize::<_, T>(json).map_err(|err| {
                let path = err.path().to_string();
                let key = if path.is_empty() || path == "." {
                    name.to_string()
                } else {
                    format!("{name}.{path}")
                };
                let inner = err.into_inner().to_string();
                if inner.starts_with("unknown field `") {
                    // The path already ends with the unknown field's name.
                    let hint = inner
                        .split_once(", expected")
                        .map(|(_, rest)| format!("; expected{rest}"))
                        .unwrap_or_default();
                    ConfigError::Unknown { key, hint }
                } else {
                    let (problem, expected) = match inner.split_once(", expected ") {
                        Some((p, e)) => (p.to_string(), e.to_string()),
                        None => (inner, "the documented form (docs/configuration.md)".into()),
                    };
                    ConfigError::invalid(&key, problem, expected)
                }
            })
        }
    }
}

/// `config` values carry their origin; JSON lets serde_path_to_error track the key path.
fn config_to_json(value: config::Value) -> serde_json::Value {
    use config::ValueKind;
    match value.kind {
        ValueKind::Nil => serde_json::Value::Null,
        ValueKind::Boolean(b) => b.into(),
        ValueKind::I64(i) => i.into(),
        ValueKind::I128(i) => serde_json::Value::String(i.to_string()),
        ValueKind::U64(u) => u.into(),
        ValueKind::U128(u) => serde_json::Value::String(u.to_string()),
        ValueKind::Float(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        ValueKind::String(s) => s.into(),
        ValueKind::Table(t) => {
            serde_json::Value::Object(t.into_iter().map(|(k, v)| (k, config_to_json(v))).collect())
        }
        ValueKind::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(config_to_json).collect())
        }
    }
}

fn file_error(file: Option<&Path>, e: config::ConfigError) -> ConfigError {
    ConfigError::File {
        path: file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("<environment>")),
        message: e.to_string(),
    }
}

/// Every dotted key of service `S`'s settings (shared sections and its own), for the test
/// that keeps `docs/configuration.md` complete. Maps such as `kafka.properties` count as
/// one key.
pub fn setting_keys<S: ServiceSettings>() -> Vec<String> {
    fn walk(prefix: &str, value: &serde_json::Value, keys: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) if !prefix.ends_with(".properties") => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, keys);
                }
            }
            _ => keys.push(prefix.to_string()),
        }
    }
    let settings: Settings<S> = Settings {
        kafka: KafkaSettings::default(),
        topics: TopicNames::default(),
        http: HttpSettings::default(),
        telemetry: TelemetrySettings::default(),
        shutdown: ShutdownSettings::default(),
        service: S::default(),
    };
    let mut value = serde_json::to_value(&settings).unwrap_or_default();
    if let Some(map) = value.as_object_mut()
        && let Some(service) = map.remove("service")
    {
        map.insert(S::SECTION.to_string(), service);
    }
    let mut keys = Vec::new();
    walk("", &value, &mut keys);
    keys
}

/// The keys of `S` that `doc` does not mention as `` `key` ``.
pub fn undocumented_keys<S: ServiceSettings>(doc: &str) -> Vec<String> {
    setting_keys::<S>()
        .into_iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect()
}

/// Deserializes a list from a TOML array or from a comma-separated string (the form an
/// environment variable can carry).
pub fn list_or_csv<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match Form::deserialize(deserializer)? {
        Form::List(items) => items,
        Form::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Demo {
        rate: u32,
        #[serde(deserialize_with = "list_or_csv")]
        streams: Vec<String>,
    }
    impl Validate for Demo {
        fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
            if self.rate > 1000 {
                return Err(ConfigError::invalid(
                    &format!("{prefix}.rate"),
                    "too high",
                    "<= 1000",
                ));
            }
            Ok(())
        }
    }
    impl ServiceSettings for Demo {
        const SECTION: &'static str = "generator";
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_without_file_or_environment() {
        let s = load::<Demo>(None, &env(&[])).unwrap();
        assert_eq!(s.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(s.topics.stock_ticks, "stock-ticks");
        assert_eq!(s.shutdown.deadline, Duration::from_secs(30));
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ff.toml");
        std::fs::write(
            &path,
            "[kafka]\nbootstrap_servers = \"file:1\"\n[generator]\nrate = 5\n[sink_csv]\nx = 1\n",
        )
        .unwrap();
        let s = load::<Demo>(Some(&path), &env(&[("FERROFLOW_GENERATOR__RATE", "7")])).unwrap();
        assert_eq!(s.kafka.bootstrap_servers, "file:1");
        assert_eq!(s.service.rate, 7);
    }

    #[test]
    fn wrong_type_names_the_key_and_its_environment_variable() {
        let err = load::<Demo>(None, &env(&[("FERROFLOW_GENERATOR__RATE", "fast")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`generator.rate`"), "{text}");
        assert!(text.contains("FERROFLOW_GENERATOR__RATE"), "{text}");
    }

    #[test]
    fn validation_failure_names_the_key() {
        let err = load::<Demo>(None, &env(&[("FERROFLOW_GENERATOR__RATE", "5000")])).unwrap_err();
        assert!(err.to_string().contains("`generator.rate`"), "{err}");
    }

    #[test]
    fn unknown_key_in_a_section_is_rejected() {
        let err = load::<Demo>(None, &env(&[("FERROFLOW_KAFKA__BOOTSTRAP", "x:1")])).unwrap_err();
        assert!(err.to_string().contains("`kafka.bootstrap`"), "{err}");
    }

    #[test]
    fn unknown_section_is_rejected() {
        let err =
            load::<Demo>(None, &env(&[("FERROFLOW_KAFAK__BOOTSTRAP_SERVERS", "x:1")])).unwrap_err();
        assert!(err.to_string().contains("`kafak`"), "{err}");
    }

    #[test]
    fn single_underscore_typo_is_rejected_not_ignored() {
        let err =
            load::<Demo>(None, &env(&[("FERROFLOW_KAFKA_BOOTSTRAP_SERVERS", "x:1")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("FERROFLOW_KAFKA_BOOTSTRAP_SERVERS"),
            "{err}"
        );
    }

    #[test]
    fn rdkafka_environment_variables_pass_through_with_dots() {
        let s = load::<Demo>(
            None,
            &env(&[
                ("FERROFLOW_RDKAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
                ("FERROFLOW_RDKAFKA_SASL_MECHANISM", "PLAIN"),
            ]),
        )
        .unwrap();
        assert_eq!(s.kafka.properties["security.protocol"], "SASL_SSL");
        assert_eq!(s.kafka.properties["sasl.mechanism"], "PLAIN");
    }

    #[test]
    fn unknown_librdkafka_property_names_the_key() {
        let err =
            load::<Demo>(None, &env(&[("FERROFLOW_RDKAFKA_NO_SUCH_THING", "1")])).unwrap_err();
        assert!(
            err.to_string().contains("`kafka.properties.no.such.thing`"),
            "{err}"
        );
    }

    #[test]
    fn bootstrap_without_port_is_rejected() {
        let err = load::<Demo>(
            None,
            &env(&[("FERROFLOW_KAFKA__BOOTSTRAP_SERVERS", "localhost")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("`kafka.bootstrap_servers`"),
            "{err}"
        );
    }

    #[test]
    fn durations_accept_human_units_and_reject_bare_numbers() {
        let s = load::<Demo>(None, &env(&[("FERROFLOW_SHUTDOWN__DEADLINE", "1m 30s")])).unwrap();
        assert_eq!(s.shutdown.deadline, Duration::from_secs(90));
        let err =
            load::<Demo>(None, &env(&[("FERROFLOW_SHUTDOWN__DEADLINE", "soon")])).unwrap_err();
        assert!(err.to_string().contains("`shutdown.deadline`"), "{err}");
    }

    #[test]
    fn lists_come_from_arrays_or_comma_separated_strings() {
        let s = load::<Demo>(None, &env(&[("FERROFLOW_GENERATOR__STREAMS", "a, b")])).unwrap();
        assert_eq!(s.service.streams, ["a", "b"]);
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = load::<Demo>(Some(Path::new("/nonexistent/ff.toml")), &env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }));
    }

    #[test]
    fn secrets_are_redacted_when_settings_are_printed() {
        let s = load::<Demo>(
            None,
            &env(&[("FERROFLOW_RDKAFKA_SASL_PASSWORD", "hunter2")]),
        )
        .unwrap();
        let printed = serde_json::to_string(&s).unwrap();
        assert!(!printed.contains("hunter2"));
    }
}
