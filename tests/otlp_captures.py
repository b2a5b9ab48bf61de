"""The OTLP request bodies of the captures (tests/data/captures), as the
receiver would spool them: `(path, content_type, body, account_id, received_at_ns)`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from conftest import CAPTURES

TOTALS = json.loads((CAPTURES / "totals.json").read_text())

CLAUDE_RUNS = [
    "claude-code/rich_http_json",
    "claude-code/rich_http_protobuf",
    "claude-code/rich_http_json_cumulative",
    "claude-code/rich_http_json_gzip_details_traces",
    "claude-code/v2.1.197_rich_http_json",
    "claude-code/continue_http_json",
]
CODEX_RUNS = ["codex/exec_http_json", "codex/exec_http_protobuf", "codex/exec_resume_http_protobuf"]
GENERIC_RUNS = [
    "generic-otlp/js-http-json",
    "generic-otlp/js-http-protobuf",
    "generic-otlp/python-http-protobuf-cumulative",
    "generic-otlp/python-http-protobuf-gzip",
]
ALL_RUNS = CLAUDE_RUNS + CODEX_RUNS + GENERIC_RUNS + ["opencode/run_json_otel"]


def folder(run: str) -> Path:
    base = CAPTURES / run
    return base / "otlp" if (base / "otlp").is_dir() else base


def requests(run: str) -> list[tuple[dict, bytes]]:
    """(meta, body as sent on the wire) in arrival order."""
    out = []
    for meta_file in sorted(folder(run).glob("*.meta.json")):
        meta = json.loads(meta_file.read_text())
        out.append((meta, (meta_file.parent / meta["body_file"]).read_bytes()))
    return out


def parts(run: str) -> list[tuple[str, str, bytes, None, int]]:
    """Spool parts: bodies decompressed, as the receiver stores them."""
    out = []
    for i, (meta, body) in enumerate(requests(run)):
        if meta.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        out.append((meta["path"], meta["content-type"], body, None, 1_700_000_000_000_000_000 + i))
    return out
