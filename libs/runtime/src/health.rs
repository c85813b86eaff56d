//! Liveness, readiness and the HTTP server that exposes them with `/metrics`.
//!
//! Ready means: Kafka is reachable, partitions are assigned (for services that consume),
//! and the service is not draining. Kubernetes stops sending work to an unready pod;
//! ferroflow has no inbound traffic but the query APIs, yet readiness is still what
//! operators and the rollout logic watch.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

/// Shared health state, updated by the Kafka clients and the service loop.
#[derive(Debug, Default)]
pub struct Health {
    kafka_reachable: AtomicBool,
    requires_assignment: AtomicBool,
    assigned_partitions: AtomicUsize,
    draining: AtomicBool,
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

impl Health {
    /// Fresh state: nothing known yet, so not ready.
    pub fn new() -> Arc<Self> {
        Arc::new(Health::default())
    }

    /// Records whether a broker answers.
    pub fn set_kafka_reachable(&self, reachable: bool) {
        self.kafka_reachable.store(reachable, Ordering::Relaxed);
        self.publish();
    }

    /// Marks this service as a consumer, which is ready only with partitions assigned.
    pub fn require_assignment(&self) {
        self.requires_assignment.store(true, Ordering::Relaxed);
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

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The current verdict with its reasons.
    pub fn readiness(&self) -> Readiness {
        let mut reasons = Vec::new();
        let assigned = self.assigned_partitions.load(Ordering::Relaxed);
        if !self.kafka_reachable.load(Ordering::Relaxed) {
            reasons.push("kafka unreachable");
        }
        if self.requires_assignment.load(Ordering::Relaxed) && assigned == 0 {
            reasons.push("no partitions assigned");
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
            self.kafka_reachable.load(Ordering::Relaxed),
            r.assigned_partitions,
        );
    }
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    metrics: PrometheusHandle,
}

/// The router serving `/livez`, `/readyz` and `/metrics`; `extra` adds service routes.
pub fn router(health: Arc<Health>, metrics: PrometheusHandle, extra: Router) -> Router {
    Router::new()
        .route("/livez", get(|| async { "alive\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState { health, metrics })
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
        assert_eq!(status(app(health.clone()), "/readyz").await, StatusCode::OK);
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

    #[tokio::test]
    async fn draining_service_is_not_ready() {
        let health = Health::new();
        health.set_kafka_reachable(true);
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
