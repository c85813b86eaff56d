//! The `[generator]` configuration section.

use std::path::PathBuf;
use std::time::Duration;

use ferroflow_runtime::config::{ConfigError, ServiceSettings, Validate, list_or_csv};
use ferroflow_schema::Format;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Settings of the generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorSettings {
    /// Identity written into every record's `ff-producer-id` header (with the topic);
    /// default: `gen-` and 8 random hex digits, new at every start.
    pub instance_id: Option<String>,
    /// Seed of the random data; default: random. A fixed seed gives the same records.
    pub seed: Option<u64>,
    /// How often progress is logged. Default 5s.
    #[serde(with = "humantime_serde")]
    pub progress_interval: Duration,
    /// Where to write a JSON summary when the run ends (used by the benchmark).
    pub summary_file: Option<PathBuf>,
    /// Tickers to generate. Default `STK_ONE, STK_TWO`.
    #[serde(deserialize_with = "list_or_csv")]
    pub tickers: Vec<String>,
    /// The stock-tick stream.
    pub stock_ticks: StreamSettings,
    /// The user-login stream.
    pub user_login: StreamSettings,
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        GeneratorSettings {
            instance_id: None,
            seed: None,
            progress_interval: Duration::from_secs(5),
            summary_file: None,
            tickers: vec!["STK_ONE".into(), "STK_TWO".into()],
            stock_ticks: StreamSettings::default(),
            user_login: StreamSettings::default(),
        }
    }
}

/// Settings shared by both streams.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSettings {
    /// Whether this stream runs. Default true.
    pub enabled: bool,
    /// `json` (default) or `protobuf`.
    #[serde(with = "format_name")]
    pub format: Format,
    /// Records per second, or `"max"` for as fast as the broker takes them. Default 10.
    pub rate: Rate,
    /// Stop after this many records; default: run until stopped.
    pub count: Option<u64>,
    /// Share of records made malformed on purpose (0.0 to 1.0). Default 0.
    pub malformed_ratio: f64,
    /// Pad each valid record to this many bytes with a field decoders ignore (benchmarks
    /// compare equal record sizes). Default: no padding.
    pub pad_to_bytes: Option<usize>,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            enabled: true,
            format: Format::Json,
            rate: Rate::PerSecond(10.0),
            count: None,
            malformed_ratio: 0.0,
            pad_to_bytes: None,
        }
    }
}

/// How fast a stream produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// This many records per second.
    PerSecond(f64),
    /// As fast as the producer's queue drains.
    Max,
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Number(f64),
            Text(String),
        }
        match Form::deserialize(d)? {
            Form::Number(n) => Ok(Rate::PerSecond(n)),
            Form::Text(t) if t.eq_ignore_ascii_case("max") => Ok(Rate::Max),
            Form::Text(t) => t.trim().parse::<f64>().map(Rate::PerSecond).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a rate, expected records per second or \"max\""
                ))
            }),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rate::PerSecond(n) => s.serialize_f64(*n),
            Rate::Max => s.serialize_str("max"),
        }
    }
}

mod format_name {
    use ferroflow_schema::Format;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(format: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match format {
            Format::Json => "json",
            Format::Protobuf => "protobuf",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let name = String::deserialize(d)?;
        match name.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "protobuf" | "proto" => Ok(Format::Protobuf),
            _ => Err(serde::de::Error::custom(format!(
                "`{name}` is not a format, expected \"json\" or \"protobuf\""
            ))),
        }
    }
}

impl Validate for StreamSettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if let Rate::PerSecond(r) = self.rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(ConfigError::invalid(
                &format!("{prefix}.rate"),
                format!("{r} is not a positive rate"),
                "records per second > 0, or \"max\"",
            ));
        }
        if !(0.0..=1.0).contains(&self.malformed_ratio) {
            return Err(ConfigError::invalid(
                &format!("{prefix}.malformed_ratio"),
                format!("{} is outside 0..1", self.malformed_ratio),
                "a share between 0.0 and 1.0",
            ));
        }
        if self.pad_to_bytes.is_some_and(|n| n > 1_000_000) {
            return Err(ConfigError::invalid(
                &format!("{prefix}.pad_to_bytes"),
                "larger than 1 MB",
                "a record size up to 1000000 bytes",
            ));
        }
        Ok(())
    }
}

impl Validate for GeneratorSettings {
    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        self.stock_ticks
            .validate(&format!("{prefix}.stock_ticks"))?;
        self.user_login.validate(&format!("{prefix}.user_login"))?;
        if self.tickers.is_empty() {
            return Err(ConfigError::invalid(
                &format!("{prefix}.tickers"),
                "empty",
                "at least one ticker, e.g. \"STK_ONE,STK_TWO\"",
            ));
        }
        if let Some(bad) = self.tickers.iter().find(|t| {
            t.is_empty()
                || t.len() > 16
                || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }) {
            return Err(ConfigError::invalid(
                &format!("{prefix}.tickers"),
                format!("`{bad}` is not a ticker"),
                "1 to 16 characters of [A-Za-z0-9_]",
            ));
        }
        if self.progress_interval.is_zero() {
            return Err(ConfigError::invalid(
                &format!("{prefix}.progress_interval"),
                "zero",
                "a positive duration such as \"5s\"",
            ));
        }
        Ok(())
    }
}

impl ServiceSettings for GeneratorSettings {
    const SECTION: &'static str = "generator";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_documented_in_docs_configuration_md() {
        let doc = include_str!("../../../docs/configuration.md");
        let missing = ferroflow_runtime::config::undocumented_keys::<GeneratorSettings>(doc);
        assert!(
            missing.is_empty(),
            "add to docs/configuration.md: {missing:?}"
        );
    }
}
