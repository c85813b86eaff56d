//! The aggregator binary: see the library for what it does.

fn main() -> anyhow::Result<()> {
    // The query state is shared by the HTTP routes (served by the runtime) and the
    // pipeline, so it exists before either.
    let query = ferroflow_aggregator::Query::new();
    let routes = ferroflow_aggregator::query::http::routes(query.clone());
    ferroflow_runtime::service::main_with_routes("aggregator", routes, move |ctx| {
        ferroflow_aggregator::run(ctx, query)
    })
}
