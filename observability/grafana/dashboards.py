#!/usr/bin/env python3
"""Generates the ferroflow Grafana dashboards (the JSON files in dashboards/).

The JSON files are what Grafana loads (docker compose provisions them, the Helm chart
ships copies in helm/ferroflow/files/dashboards); this script is where they are edited,
so that three dashboards of forty panels stay consistent: same datasources (uids
`prometheus` and `ferroflow-postgres`), same legends, same `service` variable.

    python3 observability/grafana/dashboards.py          # rewrite dashboards/*.json
    python3 observability/grafana/dashboards.py --check  # exit 1 if they are stale

scripts/validate-packaging.sh runs --check, copies them into the chart, and checks that
every metric they query is one ferroflow or a documented exporter exports.
"""
import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent / "dashboards"
CHECK = "--check" in sys.argv[1:]
STALE = []
PROM = {"type": "prometheus", "uid": "prometheus"}
PG = {"type": "grafana-postgresql-datasource", "uid": "ferroflow-postgres"}
SVC = 'service=~"$service"'
APP_CONTAINERS = 'container=~"generator|enricher|aggregator|sink-csv|sink-db"'

class Board:
    def __init__(self):
        self.panels, self.y, self.x, self.rowh, self.id = [], 0, 0, 0, 1
    def row(self, title):
        self.newline()
        self.panels.append({"type": "row", "title": title, "id": self.id, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.id += 1; self.y += 1
    def newline(self):
        if self.x: self.y += self.rowh; self.x = 0; self.rowh = 0
    def add(self, panel, w=12, h=8):
        if self.x + w > 24: self.newline()
        panel["id"] = self.id; self.id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w; self.rowh = max(self.rowh, h)
        self.panels.append(panel)

def prom(expr, legend="", instant=False):
    t = {"datasource": PROM, "expr": expr, "legendFormat": legend or "__auto", "refId": "A", "range": not instant, "instant": instant}
    return t

def sql(q, fmt="table"):
    return {"datasource": PG, "rawSql": q, "format": fmt, "rawQuery": True, "editorMode": "code", "refId": "A"}

def ts(title, targets, unit="short", desc="", stack=False, ds=PROM):
    for i, t in enumerate(targets): t["refId"] = chr(65 + i)
    return {"type": "timeseries", "title": title, "description": desc, "datasource": ds, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10,
                            "stacking": {"mode": "normal" if stack else "none", "group": "A"}}}, "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}

def stat(title, target, unit="short", desc="", thresholds=None, ds=PROM):
    steps = thresholds or [{"color": "green", "value": None}, {"color": "red", "value": 1}]
    return {"type": "stat", "title": title, "description": desc, "datasource": ds, "targets": [target],
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}, "overrides": []},
            "options": {"colorMode": "background", "graphMode": "area", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}

def dashboard(uid, title, desc, board, variables, tags, refresh="10s", time_from="now-30m"):
    return {"uid": uid, "title": title, "description": desc, "tags": ["ferroflow"] + tags,
            "timezone": "browser", "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
            "refresh": refresh, "time": {"from": time_from, "to": "now"},
            "templating": {"list": variables}, "annotations": {"list": []},
            "links": [{"type": "dashboards", "tags": ["ferroflow"], "asDropdown": True, "title": "ferroflow"}],
            "panels": board.panels}

def write(name, d):
    text = json.dumps(d, indent=2, ensure_ascii=False) + "\n"
    path = OUT / name
    if CHECK:
        if not path.exists() or path.read_text() != text:
            STALE.append(name)
    else:
        path.write_text(text)

# ---------------- pipeline ----------------
b = Board()
service_var = {"type": "query", "name": "service", "label": "service", "datasource": PROM,
               "query": {"query": "label_values(ferroflow_ready, service)", "refId": "service"},
               "definition": "label_values(ferroflow_ready, service)", "refresh": 2,
               "includeAll": True, "multi": True, "current": {"text": "All", "value": "$__all"}, "sort": 1}
b.row("Health")
b.add(stat("Services ready", prom(f'sum(ferroflow_ready{{{SVC}}})', instant=True), desc="Instances whose /readyz answers 200.",
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]), w=4, h=5)
b.add(stat("Kafka reachable", prom(f'min(ferroflow_kafka_reachable{{{SVC}}})', instant=True), desc="0 when any instance has lost every broker.",
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]), w=4, h=5)
b.add(stat("Dead letters / s", prom(f'sum(rate(ferroflow_dead_letters_total{{{SVC}}}[$__rate_interval]))', instant=True), unit="rps",
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 0.1}, {"color": "red", "value": 1}]), w=4, h=5)
b.add(stat("Total consumer lag", prom(f'sum(ferroflow_consumer_lag_records{{{SVC}}})', instant=True), unit="short",
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1000}, {"color": "red", "value": 100000}]), w=4, h=5)
b.add(stat("Transaction aborts (1h)", prom(f'sum(increase(ferroflow_transaction_aborts_total{{{SVC}}}[1h]))', instant=True),
           desc="Aborted Kafka transactions: rebalances and restarts cause a few; a steady rate does not."), w=4, h=5)
b.add(stat("Delivery failures (1h)", prom(f'sum(increase(ferroflow_records_total{{{SVC},outcome="failed"}}[1h]))', instant=True)), w=4, h=5)
b.add(ts("Ready and Kafka-reachable per instance", [prom(f'ferroflow_ready{{{SVC}}}', "ready {{service}} {{instance}}"),
          prom(f'ferroflow_kafka_reachable{{{SVC}}}', "kafka {{service}} {{instance}}")]), w=12)
b.add(ts("Assigned partitions", [prom(f'sum by (service) (ferroflow_assigned_partitions{{{SVC}}})', "{{service}}")],
         desc="Partitions each consuming service holds; after a rebalance the sum per service equals the topic's partition count."), w=12)
b.row("Records per stage")
b.add(ts("Records in (consumed) / s", [prom(f'sum by (service, topic) (rate(ferroflow_records_total{{{SVC},outcome="consumed"}}[$__rate_interval]))', "{{service}} ← {{topic}}")], unit="rps"), w=8)
b.add(ts("Records out (produced) / s", [prom(f'sum by (service, topic) (rate(ferroflow_records_total{{{SVC},outcome="produced"}}[$__rate_interval]))', "{{service}} → {{topic}}")], unit="rps"), w=8)
b.add(ts("Dead-lettered / s by reason", [prom(f'sum by (service, reason) (rate(ferroflow_dead_letters_total{{{SVC}}}[$__rate_interval]))', "{{service}} {{reason}}")], unit="rps", stack=True), w=8)
b.add(ts("All outcomes / s", [prom(f'sum by (service, outcome) (rate(ferroflow_records_total{{{SVC}}}[$__rate_interval]))', "{{service}} {{outcome}}")], unit="rps",
         desc="consumed, produced, failed, dead_lettered, skipped_duplicate (records a restarted sink had already written)."), w=12)
b.add(ts("CSV rows written / s", [prom('sum(rate(ferroflow_sink_csv_rows_written_total[$__rate_interval]))', "sink-csv")], unit="rps"), w=12)
b.row("Lag and latency")
b.add(ts("Consumer lag by service and topic (client view)", [prom(f'sum by (service, topic) (ferroflow_consumer_lag_records{{{SVC}}})', "{{service}} {{topic}}")],
         desc="Records between each consumer's position and the partition's end, from librdkafka statistics."), w=12)
b.add(ts("Consumer group lag (broker view)", [prom('sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup=~"ferroflow.*"})', "{{consumergroup}} {{topic}}")],
         desc="Committed offsets against log end offsets, from kafka-exporter: independent of the services' own reporting."), w=12)
b.add(ts("Produce latency p50 / p99 (enqueue → acknowledged by all in-sync replicas)", [
    prom(f'histogram_quantile(0.99, sum by (service, le) (rate(ferroflow_produce_latency_seconds_bucket{{{SVC}}}[$__rate_interval])))', "p99 {{service}}"),
    prom(f'histogram_quantile(0.5, sum by (service, le) (rate(ferroflow_produce_latency_seconds_bucket{{{SVC}}}[$__rate_interval])))', "p50 {{service}}")], unit="s"), w=12)
def e2e(table, label):
    return sql(
        f"SELECT $__timeGroupAlias(written_at, '1m'), "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM written_at - event_time)) AS \"{label} p50\", "
        f"percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM written_at - event_time)) AS \"{label} p99\" "
        f"FROM {table} WHERE $__timeFilter(written_at) GROUP BY 1 ORDER BY 1", "time_series")
b.add(ts("End-to-end latency (event time → row written to PostgreSQL)", [e2e("stock_ticks", "stock ticks"), e2e("user_logins", "logins")],
    unit="s", ds=PG, desc="Per minute, from the rows sink-db wrote: written_at − event_time, i.e. generator → Kafka → enricher → Kafka → sink-db → PostgreSQL, transaction commits included."), w=12)
b.add(ts("Aggregator watermark lag (wall clock − event-time watermark)", [prom('max by (topic) (ferroflow_aggregator_watermark_lag_seconds)', "{{topic}}")], unit="s",
    desc="How far the aggregator's event time trails now: a window closes this long (plus the grace period) after its end."), w=12)
b.row("Aggregator")
b.add(ts("Windows emitted / s", [prom('sum by (topic, result) (rate(ferroflow_aggregator_windows_emitted_total[$__rate_interval]))', "{{topic}} {{result}}")], unit="ops"), w=8)
b.add(ts("Late events / s (to late-events)", [prom('sum by (topic) (rate(ferroflow_aggregator_late_events_total[$__rate_interval]))', "{{topic}}")], unit="rps"), w=8)
b.add(ts("Open windows (state size)", [prom('sum by (topic) (ferroflow_aggregator_open_windows)', "{{topic}}")]), w=8)
b.row("sink-db")
b.add(stat("Database reachable", prom('min(ferroflow_sink_db_database_up)', instant=True),
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]), w=4, h=8)
b.add(ts("Rows written / s by table", [prom('sum by (table) (rate(ferroflow_sink_db_rows_written_total[$__rate_interval]))', "{{table}}")], unit="rps", stack=True), w=8)
b.add(ts("Write failures / s", [prom('sum by (reason) (rate(ferroflow_sink_db_write_failures_total[$__rate_interval]))', "{{reason}}")], unit="ops",
         desc="Failed writes are kept and retried; unreachable = no connection."), w=6)
b.add(ts("Buffered records and paused partitions", [prom('sum(ferroflow_sink_db_buffered_records)', "buffered records"),
         prom('sum(ferroflow_sink_db_paused_partitions)', "paused partitions")], desc="Backpressure: partitions pause while the database is behind or down."), w=6)
b.row("Transactions and batches")
b.add(ts("Commits / s", [prom(f'sum by (service, guarantee) (rate(ferroflow_commits_total{{{SVC}}}[$__rate_interval]))', "{{service}} {{guarantee}}")], unit="ops",
         desc="Transaction commits (exactly_once) or offset commits (at_least_once) per second."), w=8)
b.add(ts("Commit duration p99", [prom(f'histogram_quantile(0.99, sum by (service, le) (rate(ferroflow_commit_duration_seconds_bucket{{{SVC}}}[$__rate_interval])))', "{{service}}")], unit="s"), w=8)
b.add(ts("Transaction aborts / s", [prom(f'sum by (service) (rate(ferroflow_transaction_aborts_total{{{SVC}}}[$__rate_interval]))', "{{service}}")], unit="ops"), w=8)
b.add(ts("Batch size p50 / p99 (records)", [
    prom(f'histogram_quantile(0.5, sum by (service, le) (rate(ferroflow_batch_records_bucket{{{SVC}}}[$__rate_interval])))', "p50 {{service}}"),
    prom(f'histogram_quantile(0.99, sum by (service, le) (rate(ferroflow_batch_records_bucket{{{SVC}}}[$__rate_interval])))', "p99 {{service}}")]), w=8)
b.add(ts("Flush duration p99 (write, fsync, commit)", [prom(f'histogram_quantile(0.99, sum by (service, le) (rate(ferroflow_flush_duration_seconds_bucket{{{SVC}}}[$__rate_interval])))', "{{service}}")], unit="s"), w=8)
b.add(ts("Producer queue (records waiting)", [prom(f'sum by (service) (ferroflow_producer_queue_records{{{SVC}}})', "{{service}}")],
         desc="Records librdkafka holds before the broker acknowledges them; growing without bound means the brokers cannot keep up."), w=8)
b.add(ts("Kafka client errors / s", [prom(f'sum by (service, code) (rate(ferroflow_kafka_client_errors_total{{{SVC}}}[$__rate_interval]))', "{{service}} {{code}}")], unit="ops"), w=12)
b.add(ts("Offset commit failures / s", [prom(f'sum by (service) (rate(ferroflow_offset_commit_failures_total{{{SVC}}}[$__rate_interval]))', "{{service}}")], unit="ops"), w=12)
b.row("Resources")
b.add(ts("CPU per service (cores)", [prom(f'sum by (container) (rate(container_cpu_usage_seconds_total{{{APP_CONTAINERS}}}[$__rate_interval]))', "{{container}}")], unit="short",
         desc="From cAdvisor (the cadvisor container in compose, the kubelet on Kubernetes)."), w=12)
b.add(ts("Memory per service (working set)", [prom(f'sum by (container) (container_memory_working_set_bytes{{{APP_CONTAINERS}}})', "{{container}}")], unit="bytes"), w=12)
b.add(ts("CPU per service, as the processes report it (cores)", [prom(f'sum by (service) (rate(process_cpu_seconds_total{{{SVC}}}[$__rate_interval]))', "{{service}}")], unit="short",
         desc="From each service's own /metrics (whole seconds, so smooth over a few minutes): works without cAdvisor, e.g. for `ferroflow run`."), w=12)
b.add(ts("Resident memory per service", [prom(f'sum by (service) (process_resident_memory_bytes{{{SVC}}})', "{{service}}")], unit="bytes",
         desc="From each service's own /metrics."), w=12)
write("ferroflow-pipeline.json", dashboard("ferroflow-pipeline", "ferroflow / Pipeline",
      "Records in, out and dead-lettered per stage, consumer lag, latency, transactions and resource use of every ferroflow service.",
      b, [service_var], ["pipeline"]))

# ---------------- kafka ----------------
b = Board()
b.row("Cluster health")
b.add(stat("Brokers", prom('max(kafka_brokers)', instant=True), thresholds=[{"color": "red", "value": None}, {"color": "orange", "value": 2}, {"color": "green", "value": 3}]), w=4, h=5)
b.add(stat("Active controllers", prom('sum(kafka_controller_kafkacontroller_activecontrollercount)', instant=True), desc="Exactly 1 in a healthy cluster.",
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}, {"color": "red", "value": 2}]), w=4, h=5)
b.add(stat("Offline partitions", prom('max(kafka_controller_kafkacontroller_offlinepartitionscount)', instant=True)), w=4, h=5)
b.add(stat("Under-replicated partitions", prom('sum(kafka_server_replicamanager_underreplicatedpartitions)', instant=True)), w=4, h=5)
b.add(stat("Under min ISR", prom('sum(kafka_server_replicamanager_underminisrpartitioncount)', instant=True), desc="acks=all producers cannot write to these partitions."), w=4, h=5)
b.add(stat("Partitions", prom('sum(kafka_server_replicamanager_leadercount)', instant=True), thresholds=[{"color": "blue", "value": None}]), w=4, h=5)
b.row("Throughput")
b.add(ts("Messages in / s per topic", [prom('sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total{topic!=""}[$__rate_interval]))', "{{topic}}")], unit="rps", stack=True), w=12)
b.add(ts("Bytes in / out per broker", [
    prom('sum by (instance) (rate(kafka_server_brokertopicmetrics_bytesin_total{topic=""}[$__rate_interval]))', "in {{instance}}"),
    prom('-sum by (instance) (rate(kafka_server_brokertopicmetrics_bytesout_total{topic=""}[$__rate_interval]))', "out {{instance}}")], unit="Bps",
    desc="Client traffic (replication excluded); out is drawn below zero."), w=12)
b.add(ts("Requests / s by type", [prom('sum by (request) (rate(kafka_network_requestmetrics_requests_total[$__rate_interval]))', "{{request}}")], unit="reqps"), w=12)
b.add(ts("Log end offset growth per topic (records / s)", [prom('sum by (topic) (rate(kafka_topic_partition_current_offset{topic!~"__.*"}[$__rate_interval]))', "{{topic}}")], unit="rps"), w=12)
b.row("Replication")
b.add(ts("Under-replicated partitions per broker", [prom('sum by (instance) (kafka_server_replicamanager_underreplicatedpartitions)', "{{instance}}")]), w=8)
b.add(ts("ISR shrinks and expands / s", [
    prom('sum by (instance) (rate(kafka_server_replicamanager_isrshrinks_total[$__rate_interval]))', "shrinks {{instance}}"),
    prom('sum by (instance) (rate(kafka_server_replicamanager_isrexpands_total[$__rate_interval]))', "expands {{instance}}")], unit="ops",
    desc="Shrinks without matching expands: a follower keeps falling behind."), w=8)
b.add(ts("In-sync replicas below replicas, per topic", [prom('sum by (topic) (kafka_topic_partition_replicas - kafka_topic_partition_in_sync_replica)', "{{topic}}")],
         desc="Missing in-sync replicas summed over each topic's partitions (kafka-exporter)."), w=8)
b.add(ts("Partitions and leaders per broker", [
    prom('sum by (instance) (kafka_server_replicamanager_partitioncount)', "partitions {{instance}}"),
    prom('sum by (instance) (kafka_server_replicamanager_leadercount)', "leaders {{instance}}")]), w=12)
b.add(ts("Offline replicas per broker", [prom('sum by (instance) (kafka_server_replicamanager_offlinereplicacount)', "{{instance}}")]), w=12)
b.row("Latency and load")
b.add(ts("Request latency p99 (total time)", [prom('max by (request) (kafka_network_requestmetrics_totaltimems{quantile="0.99"})', "{{request}}")], unit="ms",
         desc="The broker's own percentiles, worst broker shown. Produce includes waiting for min.insync.replicas acknowledgements."), w=12)
b.add(ts("Request latency p50 (total time)", [prom('max by (request) (kafka_network_requestmetrics_totaltimems{quantile="0.50"})', "{{request}}")], unit="ms"), w=12)
b.add(ts("Idle share of network and request threads", [
    prom('avg by (instance) (kafka_network_socketserver_networkprocessoravgidlepercent)', "network {{instance}}"),
    prom('avg by (instance) (kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent)', "handlers {{instance}}")], unit="percentunit",
    desc="Below 0.3 the broker is saturated."), w=12)
b.add(ts("Failed produce requests / s", [prom('sum by (instance) (rate(kafka_server_brokertopicmetrics_failedproducerequests_total{topic=""}[$__rate_interval]))', "{{instance}}")], unit="reqps"), w=12)
b.row("Consumer groups")
b.add(ts("Lag per consumer group", [prom('sum by (consumergroup) (kafka_consumergroup_lag)', "{{consumergroup}}")]), w=12)
b.add(ts("Members per consumer group", [prom('max by (consumergroup) (kafka_consumergroup_members)', "{{consumergroup}}")]), w=12)
b.add(ts("Partitions per topic", [prom('max by (topic) (kafka_topic_partitions{topic!~"__.*"})', "{{topic}}")]), w=24, h=6)
write("ferroflow-kafka.json", dashboard("ferroflow-kafka", "ferroflow / Kafka",
      "Broker throughput, replication health (under-replicated and offline partitions, ISR changes), request latency and consumer groups.",
      b, [], ["kafka"]))

# ---------------- data ----------------
b = Board()
DEDUP_BARS = ("SELECT DISTINCT ON (ticker, window_start) * FROM stock_bars "
              "WHERE $__timeFilter(window_start) ORDER BY ticker, window_start, final DESC, last_event DESC")
ticker_var = {"type": "query", "name": "ticker", "label": "ticker", "datasource": PG,
              "query": "SELECT DISTINCT ticker FROM stock_bars ORDER BY 1", "definition": "SELECT DISTINCT ticker FROM stock_bars ORDER BY 1",
              "refresh": 2, "includeAll": False, "multi": False, "sort": 1}
b.row("Price bars")
b.add({"type": "candlestick", "title": "OHLC bars: $ticker", "description": "One candle per window (the latest result of each window; final results replace early ones). Prices are in the feed's integer unit.",
       "datasource": PG, "targets": [sql(
           f"SELECT window_start AS time, open, high, low, close, count AS volume FROM ({DEDUP_BARS}) b WHERE ticker = '$ticker' ORDER BY time")],
       "fieldConfig": {"defaults": {"unit": "short"}, "overrides": []},
       "options": {"mode": "candles+volume", "candleStyle": "candles", "colorStrategy": "open-close",
                   "colors": {"up": "green", "down": "red"}, "includeAllFields": False,
                   "fields": {"open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"},
                   "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}}, w=24, h=10)
b.add(ts("Mean price and TWAP: $ticker", [sql(
    f"SELECT window_start AS time, mean_price AS \"mean\", twap AS \"TWAP\", close::double precision AS \"close\" FROM ({DEDUP_BARS}) b WHERE ticker = '$ticker' ORDER BY time", "time_series")], ds=PG), w=12)
b.add(ts("Change per window, every ticker (%)", [sql(
    f"SELECT window_start AS time, ticker AS metric, change_percent FROM ({DEDUP_BARS}) b ORDER BY time", "time_series")], unit="percent", ds=PG), w=12)
b.add({"type": "table", "title": "Latest bars", "datasource": PG, "targets": [sql(
    "SELECT ticker, window_start, window_end, open, high, low, close, count, round(twap::numeric, 2) AS twap, "
    "round(change_percent::numeric, 3) AS change_percent, final FROM stock_bars WHERE $__timeFilter(window_start) "
    "ORDER BY window_start DESC, ticker LIMIT 50")],
    "fieldConfig": {"defaults": {}, "overrides": []}, "options": {"showHeader": True}}, w=24, h=8)
b.row("Logins")
DEDUP_LOGINS = ("SELECT DISTINCT ON (window_start) * FROM login_stats WHERE $__timeFilter(window_start) "
                "ORDER BY window_start, final DESC")
b.add(ts("Logins and distinct users per window", [sql(
    f"SELECT window_start AS time, logins, distinct_users_estimate AS \"distinct users (estimate)\", outdated_logins AS \"outdated app version\" FROM ({DEDUP_LOGINS}) s ORDER BY time", "time_series")], ds=PG,
    desc="Distinct users is a HyperLogLog estimate; its relative error is stored beside it."), w=12)
b.add(ts("Share of logins from outdated app versions", [sql(
    f"SELECT window_start AS time, outdated_share AS \"outdated share\" FROM ({DEDUP_LOGINS}) s ORDER BY time", "time_series")], unit="percentunit", ds=PG), w=12)
def breakdown_bar(dim, title, kind="barchart", w=8):
    p = {"type": kind, "title": title, "datasource": PG, "targets": [sql(
        f"SELECT value AS \"{dim}\", sum(logins) AS logins FROM login_stats_breakdown WHERE dimension = '{dim}' "
        f"AND $__timeFilter(window_start) GROUP BY value ORDER BY logins DESC LIMIT 20")],
        "fieldConfig": {"defaults": {"unit": "short"}, "overrides": []}}
    if kind == "barchart":
        p["options"] = {"orientation": "horizontal", "xField": dim, "showValue": "auto", "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"}}
    else:
        p["options"] = {"reduceOptions": {"values": True, "calcs": [], "fields": ""}, "pieType": "donut", "legend": {"showLegend": True, "displayMode": "table", "placement": "right", "values": ["value", "percent"]}}
    b.add(p, w=w, h=9)
breakdown_bar("locale", "Logins by locale (top 20)")
breakdown_bar("device_type", "Logins by device type", kind="piechart")
breakdown_bar("app_version", "Logins by app version (top 20)")
b.add(ts("Logins per window by locale", [sql(
    "SELECT window_start AS time, value AS metric, logins FROM login_stats_breakdown WHERE dimension = 'locale' "
    "AND $__timeFilter(window_start) ORDER BY time", "time_series")], ds=PG, stack=True), w=12)
b.add(ts("Logins per window by device type", [sql(
    "SELECT window_start AS time, value AS metric, logins FROM login_stats_breakdown WHERE dimension = 'device_type' "
    "AND $__timeFilter(window_start) ORDER BY time", "time_series")], ds=PG, stack=True), w=12)
b.row("Raw events landed")
b.add(ts("Stock ticks landed per minute", [sql(
    "SELECT $__timeGroupAlias(event_time, '1m'), ticker AS metric, count(*) AS ticks FROM stock_ticks WHERE $__timeFilter(event_time) GROUP BY 1, 2 ORDER BY 1", "time_series")], ds=PG), w=12)
b.add(ts("Logins landed per minute", [sql(
    "SELECT $__timeGroupAlias(event_time, '1m'), count(*) AS logins FROM user_logins WHERE $__timeFilter(event_time) GROUP BY 1 ORDER BY 1", "time_series")], ds=PG), w=12)
write("ferroflow-data.json", dashboard("ferroflow-data", "ferroflow / Data",
      "What the pipeline computed, read from PostgreSQL (written by sink-db): price bars per ticker with OHLC, and login statistics by locale, device and app version.",
      b, [ticker_var], ["data"], refresh="30s", time_from="now-1h"))

if STALE:
    sys.exit(f"stale dashboards (run observability/grafana/dashboards.py): {', '.join(STALE)}")
