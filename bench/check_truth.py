#!/usr/bin/env python3
"""Recompute a generated corpus's totals straight from its files and compare them with truth.json.

    python bench/check_truth.py DIR

An independent, deliberately plain reader of the dedup rules (see TRUTH_RULES in generate.py):
it shares no code with the generator, so agreement means the ground truth describes the files
as written, not merely what the generator intended. Slow (pure Python); meant for small corpora.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson


def read_events(projects: Path) -> tuple[dict, dict]:
    responses: dict[tuple, dict] = {}
    counts = {"files": 0, "lines": 0, "bytes": 0, "malformed_lines": 0}
    for path in sorted(projects.rglob("*.jsonl")):
        data = path.read_bytes()
        counts["files"] += 1
        counts["bytes"] += len(data)
        for raw in data.split(b"\n"):
            if not raw:
                continue
            counts["lines"] += 1
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                counts["malformed_lines"] += 1
                continue
            sidechain = bool(line.get("isSidechain"))
            if line.get("type") == "progress":  # agent_progress embeds a subagent line: a side-chain copy
                data = line.get("data") if isinstance(line.get("data"), dict) else {}
                if data.get("type") != "agent_progress" or not isinstance(data.get("message"), dict):
                    continue
                line, sidechain = data["message"], True
            if line.get("type") != "assistant":
                continue
            message = line.get("message") or {}
            usage = message.get("usage")
            if not usage or not message.get("id") or message.get("model") == "<synthetic>":
                continue
            key = (message["id"], line.get("requestId"))
            fields = {
                "input": usage.get("input_tokens", 0),
                "output": usage.get("output_tokens", 0),
                "cache_read": usage.get("cache_read_input_tokens", 0),
                "cache_write": usage.get("cache_creation_input_tokens", 0),
            }
            current = responses.get(key)
            if current is None:
                responses[key] = {**fields, "message_id": message["id"], "sidechain": sidechain,
                                  "day": line["timestamp"][:10], "model": message["model"],
                                  "session": line.get("sessionId")}
            else:
                for name, value in fields.items():
                    current[name] = max(current[name], value)
    main_ids = {r["message_id"] for r in responses.values() if not r["sidechain"]}
    events = {k: r for k, r in responses.items() if not (r["sidechain"] and r["message_id"] in main_ids)}
    return events, counts


def main() -> int:
    corpus = Path(sys.argv[1])
    truth = orjson.loads((corpus / "truth.json").read_bytes())
    events, counts = read_events(corpus / "projects")
    overall = {"events": len(events),
               "input_tokens": sum(r["input"] for r in events.values()),
               "output_tokens": sum(r["output"] for r in events.values()),
               "cache_read_tokens": sum(r["cache_read"] for r in events.values()),
               "cache_write_tokens": sum(r["cache_write"] for r in events.values())}
    by_day_model: dict[tuple, list] = {}
    for r in events.values():
        row = by_day_model.setdefault((r["day"], r["model"]), [0, 0, 0, 0, 0])
        for i, value in enumerate((1, r["input"], r["output"], r["cache_read"], r["cache_write"])):
            row[i] += value
    expected_rows = {(row["day"], row["model_raw"]): [row["requests"], row["input"], row["output"],
                                                       row["cache_read"], row["cache_write"]]
                     for row in truth["by_day_model"]}
    problems = []
    if overall != truth["overall"]:
        problems.append(f"overall {overall} != truth {truth['overall']}")
    for name, value in counts.items():
        if truth["counts"][name] != value:
            problems.append(f"counts.{name} {value} != truth {truth['counts'][name]}")
    if by_day_model != expected_rows:
        problems.append("by_day_model differs")
    print("\n".join(problems) if problems else f"truth.json matches the files: {overall}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
