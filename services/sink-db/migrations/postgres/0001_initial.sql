-- sink-db, PostgreSQL: the initial schema.
-- Versioned migrations are applied at start-up (sqlx, table _sqlx_migrations); never
-- edit an applied one, add the next number to both directories.

-- The exactly-once bookkeeping: for every partition the sink has written, the offset of
-- the next record to write. It changes in the same transaction as the rows.
CREATE TABLE kafka_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    next_offset    bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Enriched stock ticks, one row per Kafka record. The key is the record's Kafka
-- coordinates: two ticks of one ticker may share a millisecond, so (ticker, event_time)
-- is not unique, while (topic, partition, offset) names exactly one record.
CREATE TABLE stock_ticks (
    kafka_topic     text             NOT NULL,
    kafka_partition integer          NOT NULL,
    kafka_offset    bigint           NOT NULL,
    ticker          text             NOT NULL,
    event_time      timestamptz      NOT NULL,
    price           bigint           NOT NULL CHECK (price > 0),
    name            text             NOT NULL,
    exchange        text             NOT NULL,
    currency        text             NOT NULL,
    reference_known boolean          NOT NULL,
    change          bigint,
    change_percent  double precision,
    processing_time timestamptz      NOT NULL,
    delay_ms        bigint           NOT NULL,
    producer_id     text,
    seq             bigint,
    written_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
);
CREATE INDEX stock_ticks_ticker_event_time ON stock_ticks (ticker, event_time);
CREATE INDEX stock_ticks_event_time ON stock_ticks (event_time);

-- Enriched user logins, keyed like the ticks. Only the anonymised IP is kept: the full
-- address is personal data no query here needs.
CREATE TABLE user_logins (
    kafka_topic      text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL,
    user_id          text        NOT NULL,
    event_time       timestamptz NOT NULL,
    locale           text        NOT NULL,
    country          text        NOT NULL,
    device_type      text        NOT NULL,
    device_id        text        NOT NULL,
    app_version      text        NOT NULL,
    version_major    bigint      NOT NULL,
    version_minor    bigint      NOT NULL,
    version_patch    bigint      NOT NULL,
    version_outdated boolean     NOT NULL,
    ip_version       smallint    NOT NULL CHECK (ip_version IN (4, 6)),
    ip_private       boolean     NOT NULL,
    ip_anonymized    text        NOT NULL,
    producer_id      text,
    seq              bigint,
    written_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
);
CREATE INDEX user_logins_event_time ON user_logins (event_time);
CREATE INDEX user_logins_user_id_event_time ON user_logins (user_id, event_time);
CREATE INDEX user_logins_locale_event_time ON user_logins (locale, event_time);

-- Price bars, one row per ticker and window; an early result is replaced by later ones,
-- and never replaces a final one.
CREATE TABLE stock_bars (
    ticker          text             NOT NULL,
    window_start    timestamptz      NOT NULL,
    window_end      timestamptz      NOT NULL,
    open            bigint           NOT NULL,
    high            bigint           NOT NULL,
    low             bigint           NOT NULL,
    close           bigint           NOT NULL,
    count           bigint           NOT NULL CHECK (count > 0),
    mean_price      double precision NOT NULL,
    twap            double precision NOT NULL,
    change_percent  double precision NOT NULL,
    first_event     timestamptz      NOT NULL,
    last_event      timestamptz      NOT NULL,
    final           boolean          NOT NULL,
    kafka_topic     text             NOT NULL,
    kafka_partition integer          NOT NULL,
    kafka_offset    bigint           NOT NULL,
    updated_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (ticker, window_start, window_end),
    CHECK (window_end > window_start),
    CHECK (low <= high)
);
CREATE INDEX stock_bars_window_start ON stock_bars (window_start);

-- Login statistics, one row per window, replaced like the bars.
CREATE TABLE login_stats (
    window_start                  timestamptz      NOT NULL,
    window_end                    timestamptz      NOT NULL,
    logins                        bigint           NOT NULL,
    distinct_users_estimate       bigint           NOT NULL,
    distinct_users_relative_error double precision NOT NULL,
    outdated_logins               bigint           NOT NULL,
    outdated_share                double precision NOT NULL,
    final                         boolean          NOT NULL,
    kafka_topic                   text             NOT NULL,
    kafka_partition               integer          NOT NULL,
    kafka_offset                  bigint           NOT NULL,
    updated_at                    timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (window_start, window_end),
    CHECK (window_end > window_start)
);
CREATE INDEX login_stats_window_end ON login_stats (window_end);

-- The per-locale, per-device-type and per-app-version counts of a login_stats row,
-- replaced with it.
CREATE TABLE login_stats_breakdown (
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    dimension    text        NOT NULL CHECK (dimension IN ('locale', 'device_type', 'app_version')),
    value        text        NOT NULL,
    logins       bigint      NOT NULL,
    PRIMARY KEY (window_start, window_end, dimension, value)
);
CREATE INDEX login_stats_breakdown_dimension ON login_stats_breakdown (dimension, value, window_start);
