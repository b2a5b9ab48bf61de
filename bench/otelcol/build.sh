#!/bin/sh
# Builds bench/otelcol/build/otelcol-bench with the collector builder (needs Go and the Go module proxy).
set -eu
cd "$(dirname "$0")"
[ -x build/otelcol-bench ] && exit 0
go run go.opentelemetry.io/collector/cmd/builder@v0.165.0 --config manifest.yaml
