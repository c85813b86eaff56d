//! Liveness, readiness and the HTTP server that exposes them with `/metrics`.
//!
//! Ready means: the service has finished starting (a consumer subscribed, or a
//! producer-only service said so), Kafka is reachable, partitions are assigned (for
//! services that consume), and the service is not draining. Until a service reaches its
//! consumer it is "starting": work done first (creating topics, initialising
//! transactions) must not pass for readiness, or a rolling update would stop the next
//! instance before this one has joined its group. Kubernetes stops sending work to an unready pod;
//! ferroflow has no inbound traffic but the query APIs, yet readiness is still what
//! operators and the rollout logic watch.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

/// Shared health state, updated by the Kafka clients and the service loop.
///
/// Reachability is reported per Kafka client: an idle producer has no broker connection
/// open and would otherwise mark Kafka unreachable while the consumer next to it is
/// fetching. Kafka counts as reachable while any client has reported a broker up within
/// the freshness window, so a client that went away stops counting by itself.
#[derive(Debug)]
pub struct Health {
    reachability: Mutex<HashMap<String, (bool, Instant)>>,
    freshness: Mutex<Duration>,
    started: AtomicBool,
    requires_assignment: AtomicBool,
    assigned_partitions: AtomicUsize,
    draining: AtomicBool,
    /// Dependencies other than Kafka (a database), by the reason shown while one is down.
    dependencies_down: Mutex<BTreeSet<&'static str>>,
}

/// Why a service is or is not ready.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Readiness {
    /// Overall verdict.
    pub ready: bool,
    /// What stands in the way (empty when ready).
    pub reasons: Vec<&'static str>,
    /// Partitions this instance consumes.
    pub assigned_partitions: usize,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            reachability: Mutex::new(HashMap::new()),
            freshness: Mutex::new(Duration::from_secs(5)),
            started: AtomicBool::new(false),
            requires_assignment: AtomicBool::new(false),
            assigned_partitions: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            dependencies_down: Mutex::new(BTreeSet::new()),
        }
    }
}

impl Health {
    /// Fresh state: nothing known yet, so not ready.
    pub fn new() -> Arc<Self> {
        Arc::new(Health::default())
    }

    /// How long a client's report counts; a few statistics intervals.
    pub fn set_freshness(&self, window: Duration) {
        if let Ok(mut f) = self.freshness.lock() {
            *f = window;
        }
    }

    /// Records whether `client` currently has a broker connection up.
    pub fn report_reachability(&self, client: &str, reachable: bool) {
        if let Ok(mut map) = self.reachability.lock() {
            map.insert(client.to_string(), (reachable, Instant::now()));
        }
        self.publish();
    }

    /// Records that a broker answered (or did not) outside any client's statistics, e.g.
    /// a metadata probe at start-up.
    pub fn set_kafka_reachable(&self, reachable: bool) {
        self.report_reachability("probe", reachable);
    }

    /// Whether any client reported a broker up recently.
    pub fn kafka_reachable(&self) -> bool {
        let window = self
            .freshness
            .lock()
            .map(|f| *f)
            .unwrap_or(Duration::from_secs(5));
        self.reachability
            .lock()
            .map(|map| map.values().any(|(up, at)| *up && at.elapsed() <= window))
            .unwrap_or(false)
    }

    /// Marks this service as a consumer, which is ready only with partitions assigned.
    /// Reaching the consumer also ends start-up.
    pub fn require_assignment(&self) {
        self.requires_assignment.store(true, Ordering::Relaxed);
        self.started.store(true, Ordering::Relaxed);
        self.publish();
    }

    /// Start-up is over for a service that consumes nothing (a consumer ends it with
    /// [`Health::require_assignment`]).
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Relaxed);
        self.publish();
    }

    /// Records how many partitions are assigned.
    pub fn set_assigned_partitions(&self, count: usize) {
        self.assigned_partitions.store(count, Ordering::Relaxed);
        self.publish();
    }

    /// Shutdown has begun: stop reporting ready.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.publish();
    }

    /// Records whether a dependency other than Kafka (e.g. a database) is reachable. While
    /// it is not, the service is not ready and `/readyz` gives `reason`, e.g.
    /// `"database unreachable"`.
    pub fn report_dependency(&self, reason: &'static str, reachable: bool) {
        if let Ok(mut down) = self.dependencies_down.lock() {
            if reachable {
                down.remove(reason);
            } else {
                down.insert(reason);
            }
        }
        self.publish();
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The current verdict with its reasons.
    pub fn readiness(&self) -> Readiness {
        let mut reasons = Vec::new();
        let assigned = self.assigned_partitions.load(Ordering::Relaxed);
        if !self.started.load(Ordering::Relaxed) {
            reasons.push("starting");
        }
        if !self.kafka_reachable() {
            reasons.push("kafka unreachable");
        }
        if self.requires_assignment.load(Ordering::Relaxed) && assigned == 0 {
            reasons.push("no partitions assigned");
        }
        if let Ok(down) = self.dependencies_down.lock() {
            reasons.extend(down.iter().copied());
        }
        if self.draining.load(Ordering::Relaxed) {
            reasons.push("draining");
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
            assigned_partitions: assigned,
        }
    }

    fn publish(&self) {
        let r = self.readiness();
        crate::metrics::readiness(
            r.ready,
            !r.reasons.contains(&"kafka unreachable"),
            r.assigned_partitions,
        );
    }
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    metrics: PrometheusHandle,
    /// The process's CPU, memory, threads and file descriptors, read at each scrape.
    process: metrics_process::Collector,
}

/// The router serving `/livez`, `/readyz` and `/metrics`; `extra` adds service routes.
pub fn router(health: Arc<Health>, metrics: PrometheusHandle, extra: Router) -> Router {
    let process = metrics_process::Collector::default();
    process.describe();
    Router::new()
        .route("/livez", get(|| async { "alive\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState {
            health,
            metrics,
            process,
        })
        .merge(extra)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = state.health.readiness();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness))
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.process.collect();
    state.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// A bound HTTP server, not yet serving.
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(HttpServer { listener, router })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` completes.
    pub async fn serve(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(stop)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn app(health: Arc<Health>) -> Router {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        router(health, recorder.handle(), Router::new())
    }

    async fn status(app: Router, path: &str) -> StatusCode {
        app.oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn live_always_and_ready_only_when_kafka_is_reachable() {
        let health = Health::new();
        assert_eq!(status(app(health.clone()), "/livez").await, StatusCode::OK);
        assert_eq!(
            status(app(health.clone()), "/readyz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.set_kafka_reachable(true);
        health.set_started();
        assert_eq!(status(app(health.clone()), "/readyz").await, StatusCode::OK);
    }

    #[test]
    fn a_service_reaching_kafka_is_not_ready_before_start_up_ends() {
        let health = Health::new();
        health.set_kafka_reachable(true);
        assert_eq!(health.readiness().reasons, ["starting"]);
        health.set_started();
        assert!(health.readiness().ready);
    }

    #[tokio::test]
    async fn consumer_is_not_ready_until_partitions_are_assigned() {
        let health = Health::new();
        health.set_kafka_reachable(true);
        health.require_assignment();
        assert_eq!(health.readiness().reasons, ["no partitions assigned"]);
        health.set_assigned_partitions(3);
        assert!(health.readiness().ready);
    }

    #[test]
    fn one_idle_client_does_not_hide_another_that_reaches_kafka() {
        let health = Health::new();
        health.report_reachability("consumer", true);
        health.report_reachability("idle-producer", false);
        assert!(health.kafka_reachable());
        health.report_reachability("consumer", false);
        assert!(!health.kafka_reachable());
    }

    #[test]
    fn stale_reports_stop_counting() {
        let health = Health::new();
        health.set_freshness(Duration::from_millis(1));
        health.report_reachability("gone", true);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!health.kafka_reachable());
    }

    #[test]
    fn an_unreachable_dependency_makes_the_service_unready_with_its_reason() {
        let health = Health::new();
        health.set_kafka_reachable(true);
        health.set_started();
        health.report_dependency("database unreachable", false);
        assert_eq!(health.readiness().reasons, ["database unreachable"]);
        health.report_dependency("database unreachable", true);
        assert!(health.readiness().ready);
    }

    #[tokio::test]
    async fn draining_service_is_not_ready() {
        let health = Health::new();
        health.set_kafka_reachable(true);
        health.set_started();
        health.set_draining();
        assert_eq!(
            status(app(health), "/readyz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn metrics_endpoint_speaks_prometheus_text() {
        let response = app(Health::new())
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let ct = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"));
    }
}
