//! Record headers ferroflow reads and writes, and the trace context carried in them.
//!
//! Header names are lower-case ASCII, prefixed `ff-` where they are ours; `content-type`
//! and `traceparent`/`tracestate` follow the HTTP and W3C conventions so tools other than
//! ferroflow understand them.

use opentelemetry::propagation::{Extractor, Injector};
use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Format of the payload: `application/json` or `application/x-protobuf`.
pub const CONTENT_TYPE: &str = "content-type";
/// Identity of the producing instance and stream, e.g. `gen-1a2b3c4d/stock-ticks`.
pub const PRODUCER_ID: &str = "ff-producer-id";
/// Per-producer sequence number, decimal, dense from 0: proves nothing was lost or doubled.
pub const SEQUENCE: &str = "ff-seq";
/// Set by the generator on records it made malformed on purpose (the kind of fault).
pub const INJECTED_FAULT: &str = "ff-injected-fault";
/// Dead letters: the topic the record was read from.
pub const DLQ_SOURCE_TOPIC: &str = "ff-dlq-source-topic";
/// Dead letters: its partition.
pub const DLQ_SOURCE_PARTITION: &str = "ff-dlq-source-partition";
/// Dead letters: its offset.
pub const DLQ_SOURCE_OFFSET: &str = "ff-dlq-source-offset";
/// Dead letters: the service stage that rejected it, e.g. `sink-csv`.
pub const DLQ_STAGE: &str = "ff-dlq-stage";
/// Dead letters: a stable reason code such as `missing_field`.
pub const DLQ_ERROR_KIND: &str = "ff-dlq-error-kind";
/// Dead letters: the human-readable reason.
pub const DLQ_ERROR_MESSAGE: &str = "ff-dlq-error-message";
/// Dead letters: when it was rejected, epoch milliseconds.
pub const DLQ_TIMESTAMP: &str = "ff-dlq-timestamp-ms";

/// The value of the first header called `name`, if any.
pub fn get<'a>(headers: Option<&'a BorrowedHeaders>, name: &str) -> Option<&'a [u8]> {
    headers?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

/// The value of header `name` as UTF-8 text.
pub fn get_str<'a>(headers: Option<&'a BorrowedHeaders>, name: &str) -> Option<&'a str> {
    get(headers, name).and_then(|v| std::str::from_utf8(v).ok())
}

/// Appends a text header.
pub fn with(headers: OwnedHeaders, name: &str, value: &str) -> OwnedHeaders {
    headers.insert(Header {
        key: name,
        value: Some(value),
    })
}

struct HeaderInjector(Option<OwnedHeaders>);

impl Injector for HeaderInjector {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` would cost a header on every record for nothing.
        if value.is_empty() {
            return;
        }
        if let Some(headers) = self.0.take() {
            self.0 = Some(with(headers, key, &value));
        }
    }
}

/// Adds the W3C trace context of the current span (when tracing is exported at all; with
/// no OTLP endpoint the context is empty and nothing is added, so it costs nothing).
pub fn inject_trace_context(headers: OwnedHeaders) -> OwnedHeaders {
    let context = tracing::Span::current().context();
    let mut injector = HeaderInjector(Some(headers));
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut injector));
    injector.0.unwrap_or_default()
}

struct HeaderExtractor<'a>(&'a BorrowedHeaders);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        get_str(Some(self.0), key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|h| h.key).collect()
    }
}

/// Makes `span` a child of the trace context a record carries, if it carries one.
pub fn continue_trace(headers: Option<&BorrowedHeaders>, span: &tracing::Span) {
    if let Some(headers) = headers {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(headers))
        });
        if opentelemetry::trace::TraceContextExt::has_active_span(&parent) {
            let _ = span.set_parent(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn trace_context_travels_from_producer_span_to_consumer_span_through_headers() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let produced = {
                let span = tracing::info_span!("produce");
                let _entered = span.enter();
                inject_trace_context(with(OwnedHeaders::new(), CONTENT_TYPE, "application/json"))
            };
            let value =
                get_str(Some(produced.as_borrowed()), "traceparent").expect("traceparent header");
            assert!(value.starts_with("00-"), "{value}");
            assert_eq!(produced.count(), 2, "content-type kept, traceparent added");

            let consume = tracing::info_span!("consume");
            continue_trace(Some(produced.as_borrowed()), &consume);
            let consumer_trace = consume.context().span().span_context().trace_id();
            assert_eq!(consumer_trace.to_string(), value.split('-').nth(1).unwrap());
        });
    }

    #[test]
    fn without_an_exporter_no_trace_header_is_added() {
        let headers = inject_trace_context(with(OwnedHeaders::new(), SEQUENCE, "1"));
        assert_eq!(headers.count(), 1);
    }

    #[test]
    fn header_lookup_finds_by_name() {
        let headers = with(
            with(OwnedHeaders::new(), PRODUCER_ID, "gen-1/t"),
            SEQUENCE,
            "7",
        );
        assert_eq!(get_str(Some(headers.as_borrowed()), SEQUENCE), Some("7"));
        assert_eq!(get(Some(headers.as_borrowed()), "absent"), None);
    }
}
