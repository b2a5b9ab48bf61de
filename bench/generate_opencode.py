#!/usr/bin/env python3
"""Generate a deterministic OpenCode data folder and its exact ground truth.

    python bench/generate_opencode.py --out DIR --messages 200000 --seed 1

Writes what OpenCode 1.x keeps under ~/.local/share/opencode:

    DIR/opencode.db                                   SQLite: session, message, part, event
    DIR/storage/message/<sessionID>/<messageID>.json  the legacy JSON tree (older sessions,
                                                      and copies of some the database also has)
    DIR/truth.json

Traps planted (FORMATS.md §E): `tokens.reasoning` apart from `output`; the same model under two
providers; subscription and free providers whose reported cost is 0; multi-step messages whose
`step-finish` parts carry per-step tokens (the message keeps the last step's tokens and the sum of
the costs; parts are never added); aborted and failed messages that used tokens (they count) and
that used none (not an event); assistant rows still streaming with zero tokens; `event` rows
repeating `message.updated`; child (subagent) sessions; messages in both the legacy files and the
database with different values (the database wins).

Same seed and size give the same output. truth.json keys its rows `day|model|provider`.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson

TRUTH_RULES = [
    "An event is one assistant message with any tokens or a non-zero cost; user messages, parts, "
    "event rows and session aggregates are never events.",
    "input = tokens.input, output = tokens.output + tokens.reasoning, reasoning = tokens.reasoning, "
    "cache_read = tokens.cache.read, cache_write = tokens.cache.write, cost = the message's cost (reported).",
    "A message in both the legacy files and the database counts once, with the database's values.",
    "day = UTC date of time.created (ms); provider = providerID; model = modelID.",
]

# (provider, model, $/M input, output, cache read, cache write); cost 0 = subscription / free.
OFFERS = [
    ("anthropic", "claude-sonnet-4-5", 3, 15, 0.3, 3.75),
    ("anthropic", "claude-opus-4-5", 5, 25, 0.5, 6.25),
    ("openrouter", "claude-sonnet-4-5", 3, 15, 0.3, 3.75),
    ("openai", "gpt-5", 1.25, 10, 0.125, 0),
    ("github-copilot", "gpt-5-mini", 0, 0, 0, 0),
    ("opencode", "grok-code", 0, 0, 0, 0),
]
START_MS = 1_772_323_200_000  # 2026-03-01T00:00:00Z
SCHEMA = """
CREATE TABLE project (id text PRIMARY KEY, worktree text NOT NULL, time_created integer NOT NULL,
    time_updated integer NOT NULL);
CREATE TABLE session (id text PRIMARY KEY, project_id text NOT NULL, parent_id text, slug text NOT NULL,
    directory text NOT NULL, title text NOT NULL, version text NOT NULL, time_created integer NOT NULL,
    time_updated integer NOT NULL);
CREATE TABLE message (id text PRIMARY KEY, session_id text NOT NULL, time_created integer NOT NULL,
    time_updated integer NOT NULL, data text NOT NULL);
CREATE TABLE part (id text PRIMARY KEY, message_id text NOT NULL, session_id text NOT NULL,
    time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL);
CREATE TABLE event (id text PRIMARY KEY, aggregate_id text NOT NULL, seq integer NOT NULL, type text NOT NULL,
    data text NOT NULL);
CREATE INDEX message_session_time_created_id_idx ON message (session_id, time_created, id);
CREATE INDEX part_message_id_id_idx ON part (message_id, id);
"""
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz"


class Generator:
    def __init__(self, out: Path, messages: int, seed: int):
        self.out, self.target, self.rng = out, messages, random.Random(seed)
        self.truth: dict = defaultdict(lambda: defaultdict(float))
        self.counts: dict = defaultdict(int)
        self.serial = 0

    def ident(self, prefix: str, ms: int) -> str:
        self.serial += 1
        tail = "".join(self.rng.choices(ALPHABET, k=14))
        return f"{prefix}_{ms:012x}{self.serial % 4096:03x}{tail}"

    def tokens(self) -> dict:
        rng = self.rng
        return {"input": rng.randint(0, 3000), "output": rng.randint(1, 4000), "reasoning": rng.choice((0, 0, rng.randint(1, 3000))),
                "cache": {"read": rng.randint(0, 150_000), "write": rng.choice((0, rng.randint(0, 20_000)))}}

    @staticmethod
    def cost(offer: tuple, t: dict) -> float:
        _, _, inp, out, read, write = offer
        micro = t["input"] * inp + (t["output"] + t["reasoning"]) * out + t["cache"]["read"] * read + t["cache"]["write"] * write
        return round(micro / 1e6, 10)

    def count(self, offer: tuple, created: int, t: dict, cost: float) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(created / 1000))
        row = self.truth[f"{day}|{offer[1]}|{offer[0]}"]
        row["events"] += 1
        row["input"] += t["input"]
        row["cache_read"] += t["cache"]["read"]
        row["output"] += t["output"] + t["reasoning"]
        row["reasoning"] += t["reasoning"]
        row["cost"] += cost

    def assistant(self, session: dict, parent_id: str, now: int) -> tuple[dict, list[dict], bool]:
        """(message data, its parts, whether it is an event)."""
        rng = self.rng
        offer = session["offer"] if rng.random() < 0.9 else rng.choice(OFFERS)
        steps = [self.tokens() for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        if len(steps) > 1:
            self.counts["multi_step_messages"] += 1
        tokens = steps[-1]  # OpenCode overwrites the message's tokens with the last step's
        cost = round(sum(self.cost(offer, s) for s in steps), 10)
        data = {"parentID": parent_id, "role": "assistant", "mode": "build", "agent": "build",
                "path": {"cwd": session["directory"], "root": session["directory"]}, "cost": cost,
                "tokens": {"total": 0, **tokens}, "modelID": offer[1], "providerID": offer[0],
                "time": {"created": now, "completed": now + rng.randint(500, 60_000)}, "finish": "stop"}
        event = True
        roll = rng.random()
        if roll < 0.03:
            data["error"] = {"name": "MessageAbortedError", "data": {"message": "The operation was aborted."}}
            self.counts["aborted_with_usage"] += 1
        elif roll < 0.05:
            data["error"] = {"name": "ProviderAuthError", "data": {"providerID": offer[0], "message": "bad key"}}
            data["tokens"] = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
            data["cost"] = 0
            event = False
            self.counts["failed_without_usage"] += 1
        elif roll < 0.06:
            data["tokens"] = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
            data["cost"] = 0
            del data["time"]["completed"], data["finish"]
            event = False
            self.counts["still_streaming"] += 1
        if event:
            self.count(offer, now, data["tokens"], data["cost"])
            if offer[2] == 0:
                self.counts["zero_cost_events"] += 1
        parts = [{"type": "step-finish", "reason": "stop", "cost": self.cost(offer, s), "tokens": s} for s in steps]
        parts.append({"type": "text", "text": "x" * rng.randint(50, 1500)})
        return data, parts, event

    def run(self) -> dict:
        rng = self.rng
        if self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)
        con = sqlite3.connect(self.out / "opencode.db")
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(SCHEMA)
        con.execute("INSERT INTO project VALUES ('prj_1', '/home/dev/src', ?, ?)", [START_MS, START_MS])
        storage = self.out / "storage" / "message"
        now = START_MS
        written = 0
        sessions: list[dict] = []
        while written < self.target:
            now += rng.randint(60_000, 6 * 3_600_000)
            parent = rng.choice(sessions) if sessions and rng.random() < 0.15 else None
            session = {"id": self.ident("ses", now), "offer": rng.choice(OFFERS),
                       "directory": f"/home/dev/src/app{rng.randrange(30)}", "parent": parent and parent["id"]}
            # Older sessions only in the legacy files; some in both (a migrated install).
            where = "json" if rng.random() < 0.08 else ("both" if rng.random() < 0.06 else "db")
            self.counts[f"sessions_{where}"] += 1
            if session["parent"]:
                self.counts["child_sessions"] += 1
            rows, parts, events = [], [], []
            for _ in range(rng.randint(2, 60)):
                now += rng.randint(5_000, 600_000)
                user_id = self.ident("msg", now)
                rows.append((user_id, {"role": "user", "time": {"created": now}, "agent": "build",
                                       "model": {"providerID": session["offer"][0], "modelID": session["offer"][1]}}))
                for _ in range(rng.choice((1, 1, 2, 4))):
                    now += rng.randint(1_000, 120_000)
                    data, message_parts, is_event = self.assistant(session, user_id, now)
                    message_id = self.ident("msg", now)
                    rows.append((message_id, data))
                    parts += [(self.ident("prt", now), message_id, part) for part in message_parts]
                    if is_event:
                        events.append((message_id, data))
            if where != "json":
                con.execute("INSERT INTO session VALUES (?, 'prj_1', ?, ?, ?, ?, '1.18.33', ?, ?)",
                            [session["id"], session["parent"], session["id"][-8:], session["directory"], "a session",
                             now, now])
                con.executemany("INSERT INTO message VALUES (?, ?, ?, ?, ?)",
                                [(mid, session["id"], d["time"]["created"], d["time"].get("completed", d["time"]["created"]),
                                  orjson.dumps(d).decode()) for mid, d in rows])
                con.executemany("INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)",
                                [(pid, mid, session["id"], now, now, orjson.dumps(p).decode()) for pid, mid, p in parts])
                # The event log repeats each message's last update: never usage of its own.
                con.executemany("INSERT INTO event VALUES (?, ?, ?, 'message.updated.1', ?)",
                                [(self.ident("evt", now), session["id"], i, orjson.dumps({"info": {**d, "id": mid}}).decode())
                                 for i, (mid, d) in enumerate(events)])
            if where != "db":
                folder = storage / session["id"]
                folder.mkdir(parents=True, exist_ok=True)
                for mid, d in rows:
                    copy = {**d, "id": mid, "sessionID": session["id"]}
                    if where == "both" and d["role"] == "assistant" and d["cost"]:
                        # The legacy copy is stale: the database's values win.
                        copy = {**copy, "tokens": {**d["tokens"], "output": d["tokens"]["output"] + 777}, "cost": d["cost"] * 2}
                    (folder / f"{mid}.json").write_bytes(orjson.dumps(copy))
            written += len(rows)
            sessions = (sessions + [session])[-50:]
        con.commit()
        con.close()
        self.counts["messages"] = written
        by = {k: {f: (round(v, 9) if f == "cost" else int(v)) for f, v in row.items()}
              for k, row in sorted(self.truth.items())}
        overall: dict = defaultdict(float)
        for row in by.values():
            for field, value in row.items():
                overall[field] += value
        overall = {f: (round(v, 9) if f == "cost" else int(v)) for f, v in overall.items()}
        return {"generator": "opencode", "rules": TRUTH_RULES, "counts": dict(self.counts), "overall": overall,
                "by_day_model_provider": by}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (an OpenCode data folder)")
    parser.add_argument("--messages", default=200_000, type=int, help="about this many messages")
    parser.add_argument("--seed", default=1, type=int)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    truth = Generator(args.out, args.messages, args.seed).run()
    (args.out / "truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"{truth['counts']['messages']} messages, {truth['overall']['events']} events in "
          f"{time.perf_counter() - started:.1f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
