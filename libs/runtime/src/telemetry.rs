//! Logs and traces: tracing-subscriber for human or JSON lines, and OpenTelemetry export
//! over OTLP/gRPC when an endpoint is configured.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetrySettings};

/// Flushes and stops trace export when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("trace export did not shut down cleanly: {error}");
        }
    }
}

/// Installs the global subscriber for `service`. Must run inside a Tokio runtime (the
/// OTLP exporter's batch processor needs one).
pub fn init(service: &str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    // W3C trace context is what every OpenTelemetry SDK reads from Kafka headers.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&settings.log_filter))?;

    let provider = match &settings.otlp_endpoint {
        None => None,
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(format!("ferroflow-{service}"))
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
    };
    let otel_layer = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer().with_tracer(p.tracer(format!("ferroflow-{service}")))
    });

    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    let result = match settings.log_format {
        LogFormat::Human => {
            // Colours only for a person at a terminal, never into files or log shippers.
            use std::io::IsTerminal as _;
            let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            registry
                .with(tracing_subscriber::fmt::layer().with_ansi(ansi))
                .try_init()
        }
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init(),
    };
    if result.is_err() {
        // A second init in one process (tests) keeps the first subscriber.
        tracing::debug!("a tracing subscriber is already installed");
    }
    Ok(TelemetryGuard { provider })
}
