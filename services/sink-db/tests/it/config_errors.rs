//! Bad configuration stops sink-db at start-up, naming the key.

use std::time::Duration;

use ferroflow_testkit::wait_until;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_url_of_another_kind_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let topics = ferroflow_runtime::config::TopicNames::default();
    let sink = SinkDb::new(dir.path(), &topics, "mysql://root@127.0.0.1/x", &[]);
    let mut child = sink.start();
    wait_until(Duration::from_secs(30), "sink-db exits", || {
        child.exited().is_some()
    })
    .await;
    assert!(!child.exited().unwrap().success());
    let log = sink.log_text();
    assert!(
        log.contains("`sink_db.url`") && log.contains("FERROFLOW_SINK_DB__URL"),
        "{log}"
    );
}
