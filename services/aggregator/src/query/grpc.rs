//! The query API over gRPC (tonic), contract `proto/ferroflow/v1/aggregator_query.proto`.

use std::net::SocketAddr;

use ferroflow_schema::proto::ferroflow_v1;
use tonic::{Request, Response, Status};

use super::Query;

/// Code generated from `aggregator_query.proto` (messages it shares with
/// `aggregates.proto` come from `ferroflow-schema`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ferroflow.v1");
}

use proto::aggregator_query_server::{AggregatorQuery, AggregatorQueryServer};

/// The gRPC service over a [`Query`].
#[derive(Debug, Clone)]
pub struct QueryService {
    query: Query,
}

impl QueryService {
    /// A service answering from `query`.
    pub fn new(query: Query) -> Self {
        QueryService { query }
    }
}

#[tonic::async_trait]
impl AggregatorQuery for QueryService {
    async fn get_ticker_bars(
        &self,
        request: Request<proto::GetTickerBarsRequest>,
    ) -> Result<Response<proto::GetTickerBarsResponse>, Status> {
        let request = request.into_inner();
        if request.ticker.is_empty() {
            return Err(Status::invalid_argument("`ticker` is required"));
        }
        let bars = self
            .query
            .ticker_bars(&request.ticker, request.limit as usize)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no windows of ticker `{}` here: it has no data yet, or its partition \
                     belongs to another aggregator instance",
                    request.ticker
                ))
            })?;
        Ok(Response::new(proto::GetTickerBarsResponse {
            open: bars.open.as_ref().map(ferroflow_v1::StockBar::from),
            closed: bars
                .closed
                .iter()
                .map(ferroflow_v1::StockBar::from)
                .collect(),
        }))
    }

    async fn list_tickers(
        &self,
        _: Request<proto::ListTickersRequest>,
    ) -> Result<Response<proto::ListTickersResponse>, Status> {
        Ok(Response::new(proto::ListTickersResponse {
            tickers: self.query.tickers(),
        }))
    }

    async fn get_login_stats(
        &self,
        request: Request<proto::GetLoginStatsRequest>,
    ) -> Result<Response<proto::GetLoginStatsResponse>, Status> {
        let view = self.query.login_stats(request.into_inner().limit as usize);
        Ok(Response::new(proto::GetLoginStatsResponse {
            latest: view.latest.as_ref().map(ferroflow_v1::LoginStats::from),
            closed: view
                .closed
                .iter()
                .map(ferroflow_v1::LoginStats::from)
                .collect(),
        }))
    }
}

/// A bound gRPC listener, not yet serving (bind first, so a port in use fails start-up
/// and port 0 can be read back).
pub struct GrpcServer {
    listener: tokio::net::TcpListener,
    query: Query,
}

impl GrpcServer {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr, query: Query) -> std::io::Result<Self> {
        Ok(GrpcServer {
            listener: tokio::net::TcpListener::bind(addr).await?,
            query,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` completes.
    pub async fn serve(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let incoming = tonic::transport::server::TcpIncoming::from(self.listener);
        tonic::transport::Server::builder()
            .add_service(AggregatorQueryServer::new(QueryService::new(self.query)))
            .serve_with_incoming_shutdown(incoming, stop)
            .await
    }
}
