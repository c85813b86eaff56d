#!/usr/bin/env bash
# Runs once, when the PostgreSQL data directory is first created (the official image's
# /docker-entrypoint-initdb.d): a read-only role for Grafana's data dashboard. sink-db
# creates its tables later as POSTGRES_USER, so SELECT is granted by default privileges
# on whatever that user creates in `public`.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v reader="$GRAFANA_DB_USER" -v reader_password="$GRAFANA_DB_PASSWORD" -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';
GRANT CONNECT ON DATABASE :"db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
