#!/bin/sh
# Installs DuckDB's Node client (from the npm registry) beside check.mjs, so that
# `go test ./app -run TestExportParquetReadByDuckDB` reads the Parquet export with DuckDB
# instead of skipping.
set -eu
cd "$(dirname "$0")"
npm install --no-audit --no-fund --silent
