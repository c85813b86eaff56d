//! The query API as JSON over HTTP, served on `http.listen` beside `/livez`, `/readyz`
//! and `/metrics`:
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/tickers` | `{"tickers": ["STK_ONE", …]}` |
//! | `GET /v1/bars/{ticker}?limit=N` | `{"ticker", "open": StockBar or null, "closed": [StockBar, …]}`, newest first; 404 for a ticker this instance holds nothing of |
//! | `GET /v1/login-stats?limit=N` | `{"latest": LoginStats or null, "closed": [LoginStats, …]}` |
//!
//! `StockBar` and `LoginStats` have the JSON form of `ferroflow-schema` (the protobuf
//! field names). `limit` 0 or absent: every window kept (`aggregator.query_history`).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::Query;

#[derive(Debug, Deserialize)]
struct Limit {
    #[serde(default)]
    limit: usize,
}

/// The routes, sharing `query` with the pipeline.
pub fn routes(query: Query) -> Router {
    Router::new()
        .route("/v1/tickers", get(tickers))
        .route("/v1/bars/{ticker}", get(bars))
        .route("/v1/login-stats", get(login_stats))
        .with_state(query)
}

async fn tickers(State(query): State<Query>) -> Response {
    Json(serde_json::json!({ "tickers": query.tickers() })).into_response()
}

async fn bars(
    State(query): State<Query>,
    Path(ticker): Path<String>,
    QueryParams(limit): QueryParams<Limit>,
) -> Response {
    match query.ticker_bars(&ticker, limit.limit) {
        Some(bars) => Json(bars).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({
                "error": format!(
                    "no windows of ticker `{ticker}` here: it has no data yet, or its partition \
                     belongs to another aggregator instance"
                )
            })),
        )
            .into_response(),
    }
}

async fn login_stats(
    State(query): State<Query>,
    QueryParams(limit): QueryParams<Limit>,
) -> Response {
    Json(query.login_stats(limit.limit)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::bar;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_json(app: Router, uri: &str) -> (StatusCode, serde_json::Value) {
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn bars_tickers_and_login_stats_as_json() {
        let query = Query::new();
        for start in [0, 1_000, 2_000] {
            query.history().record_bar(&bar("STK_ONE", start));
        }
        let app = routes(query);
        let (status, body) = get_json(app.clone(), "/v1/bars/STK_ONE?limit=2").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["ticker"], "STK_ONE");
        assert!(body["open"].is_null());
        let closed = body["closed"].as_array().unwrap();
        assert_eq!(closed.len(), 2);
        assert_eq!(closed[0]["window_start_ms"], 2_000);
        assert_eq!(closed[0]["final"], true);
        let (status, body) = get_json(app.clone(), "/v1/bars/NOPE").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["error"].as_str().unwrap().contains("NOPE"));
        let (_, body) = get_json(app.clone(), "/v1/tickers").await;
        assert_eq!(body["tickers"], serde_json::json!(["STK_ONE"]));
        let (status, body) = get_json(app, "/v1/login-stats").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["latest"].is_null());
        assert_eq!(body["closed"], serde_json::json!([]));
    }
}
