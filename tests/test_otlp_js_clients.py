"""The OpenTelemetry JS SDK's own exporters (npm, installed by the agents
harness under ~/.cache/usagecore-agents/npm/otel-js) send http/json,
http/protobuf and gzipped http/protobuf to a running `usagecore serve`; the
metric points and the GenAI usage they carry are stored exactly
(tests/data/otel_js/client.cjs says what it sends)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import DATA, HARNESS
from test_serve import Serve, query

OTEL_JS = Path(os.environ.get("AGENTS_NPM_DIR", Path.home() / ".cache" / "usagecore-agents" / "npm")) / "otel-js"
CLIENT = DATA / "otel_js" / "client.cjs"
PACKAGES = ("sdk-metrics", "sdk-logs", "resources", "exporter-metrics-otlp-http", "exporter-metrics-otlp-proto",
            "exporter-logs-otlp-http", "exporter-logs-otlp-proto")


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (HARNESS / "install.sh").is_file():
        return f"the agents harness is not beside this checkout ({HARNESS}); it installs the packages"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@pytest.fixture(scope="module")
def otel_js() -> Path:
    """The packages, installed by the harness (npm, cached: quick once done)."""
    subprocess.run([str(HARNESS / "install.sh")], check=True, capture_output=True, timeout=600)
    missing = [p for p in PACKAGES if not (OTEL_JS / "node_modules" / "@opentelemetry" / p).is_dir()]
    assert not missing, f"{HARNESS / 'install.sh'} did not install {missing} into {OTEL_JS}"
    return OTEL_JS


# service name: (exporter protocol, compression)
CLIENTS = {"js-json": ("json", "none"), "js-proto": ("proto", "none"), "js-proto-gzip": ("proto", "gzip")}


def test_js_exporters_totals_exact(db_path, isolated_home, otel_js):
    serve = Serve(db_path, isolated_home, "--no-grpc")
    try:
        for service, (protocol, compression) in CLIENTS.items():
            sent = subprocess.run(["node", str(CLIENT), protocol, compression, service], capture_output=True,
                                  text=True, timeout=60,
                                  env={**os.environ, "NODE_PATH": str(otel_js / "node_modules"),
                                       "OTLP_ENDPOINT": f"http://127.0.0.1:{serve.port}"})
            assert sent.returncode == 0, sent.stderr
    finally:
        code, err = serve.stop()
    assert code == 0, err
    services = sorted(CLIENTS)
    # A delta counter: per client one point per series, the sum of what was added.
    assert query(db_path, """
        SELECT service_name, json_extract_string(attributes, '$.type'), temporality, sum(delta_value), count(*)
        FROM otel_metric_points WHERE metric_name = 'app.token.usage' GROUP BY ALL ORDER BY ALL""") == [
        row for s in services for row in ((s, "input", "delta", 6033.0, 1), (s, "output", "delta", 81.0, 1))]
    # GenAI input includes the cached part; ours does not.
    assert query(db_path, """
        SELECT e.service_name, count(*), sum(u.requests), sum(u.input_tokens), sum(u.cache_read_tokens),
               sum(u.output_tokens), sum(u.reasoning_tokens), round(sum(u.cost_usd), 9),
               string_agg(DISTINCT u.cost_source), string_agg(DISTINCT u.model_raw)
        FROM usage_events u JOIN otel_events e ON e.event_id = u.raw_event_id
        WHERE u.event_type = 'message' GROUP BY ALL ORDER BY ALL""") == [
        (s, 3, 3, 30, 6003, 81, 30, 0.006, "reported", "mock-model") for s in services]
    assert query(db_path, "SELECT count(*) FROM usage_events")[0][0] == 9
