#!/usr/bin/env python3
"""Generate a deterministic tree of Codex CLI rollouts and its exact ground truth.

    python bench/generate_codex.py --out DIR --size 300MB --seed 1

Writes the layout Codex writes under $CODEX_HOME:

    DIR/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<uuid>.jsonl
    DIR/archived_sessions/rollout-….jsonl            (archived: moved, flat)
    DIR/archived_sessions/rollout-….jsonl.zst        (compressed; some with a plain sibling)
    DIR/truth.json

Every trap of FORMATS.md §D.2–D.3 is planted many times: threads written by builds with
`token_usage_record` lines and by older builds with only `token_count`; `token_count` re-emitted
with an unchanged total; `info: null` heartbeats; totals that go down (compaction: a reset counted
by its last usage); forked and subagent threads that start by replaying their parent's history;
model switches (latest `turn_context`); threads resumed days later appending to the same file;
bare legacy files without usage; lines cut by a crash (mid-file and at the end); large
response items (reasoning, tool output) that carry no usage.

truth.json holds what a correct reader reports, computed from the responses the generator made
(not by re-reading the files): TRUTH_RULES. Same seed and size give byte-identical output.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import random
import shutil
import struct
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson

TRUTH_RULES = [
    "An event is one model response a thread made itself; usage replayed by a fork or subagent "
    "from its parent is not an event of the fork.",
    "input = input_tokens - cached_input_tokens, cache_read = cached_input_tokens, "
    "output = output_tokens (reasoning included), reasoning = reasoning_output_tokens.",
    "model = the latest turn_context's model, provider = session_meta.model_provider, "
    "day = UTC date of the usage line's timestamp.",
    "A rollout archived (moved to archived_sessions/) or compressed next to its plain copy counts once.",
    "Legacy bare rollouts have no usage: counts.legacy_files of them, each a skipped file.",
]

MODELS = ["gpt-5-codex", "gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5", "gpt-5-mini", "gpt-5.2-codex",
          "codex-internal-preview"]
PROVIDERS = ["openai", "openai", "openai", "azure", "openrouter"]
START = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
# Local time of the file names and date folders (Codex uses local time there).
LOCAL = dt.timezone(dt.timedelta(hours=1))
WORDS = ("the test waits for the debounce fix flaky widget module handler request retry cache index "
         "parser config session token budget render layout migrate schema query worker queue").split()


def parse_size(text: str) -> int:
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def zstd_frame(data: bytes) -> bytes:
    """A valid zstd frame of raw blocks (no compressor needed; readers must decode frames)."""
    out = bytearray(struct.pack("<I", 0xFD2FB528)) + bytes([0x00, 0x38])
    blocks = [data[i:i + (128 << 10)] for i in range(0, len(data), 128 << 10)] or [b""]
    for n, block in enumerate(blocks):
        out += ((len(block) << 3) | int(n == len(blocks) - 1)).to_bytes(3, "little") + block
    return bytes(out)


class Thread:
    """One Codex thread: its lines, its running total, and the truth it adds."""

    def __init__(self, gen: Generator, start: dt.datetime, *, parent: Thread | None = None, subagent: bool = False):
        self.gen, self.rng = gen, gen.rng
        self.id = gen.uuid7(start)
        self.start = start
        self.now = start
        self.records = self.rng.random() < 0.35  # a 2026 build writing token_usage_record
        self.provider = parent.provider if parent else self.rng.choice(PROVIDERS)
        self.model = parent.model if parent else self.rng.choice(MODELS)
        self.cwd = parent.cwd if parent else f"/home/dev/src/{self.rng.choice(WORDS)}-{self.rng.randrange(40)}"
        self.total = dict(parent.total) if parent else {k: 0 for k in ("input_tokens", "cached_input_tokens",
                                                                          "output_tokens", "reasoning_output_tokens")}
        self.lines: list[bytes] = []
        self.turn_id = ""
        source: object = "cli"
        if subagent and parent:
            source = {"subagent": {"thread_spawn": {"parent_thread_id": parent.id, "depth": 1,
                                                    "agent_nickname": "Gauss", "agent_role": "explorer"}}}
        meta = {"id": self.id, "timestamp": iso(start), "cwd": self.cwd, "originator": "codex_cli_rs",
                "cli_version": "0.150.0" if self.records else "0.104.0", "source": source,
                "model_provider": self.provider,
                "base_instructions": {"text": gen.text(6000, 12000)},
                "git": {"commit_hash": "%040x" % self.rng.getrandbits(160), "branch": "main"}}
        if parent and not subagent:
            meta["forked_from_id"] = parent.id
        self.line("session_meta", meta)
        if parent:
            # The parent's history, written all at once when the thread starts.
            self.now = start + dt.timedelta(milliseconds=20)
            for line in parent.lines[1:]:
                envelope = orjson.loads(line)
                envelope["timestamp"] = iso(self.now)
                self.lines.append(orjson.dumps(envelope))
            self.now = start + dt.timedelta(seconds=self.rng.randint(5, 60))

    def line(self, kind: str, payload: dict) -> None:
        self.lines.append(orjson.dumps({"timestamp": iso(self.now), "type": kind, "payload": payload}))

    def tick(self, low: float, high: float) -> None:
        self.now += dt.timedelta(seconds=self.rng.uniform(low, high))

    def usage_counts(self) -> dict:
        rng = self.rng
        prompt = rng.randint(2_000, 180_000)
        cached = rng.randint(0, prompt) if rng.random() < 0.85 else 0
        output = rng.randint(20, 6_000)
        return {"input_tokens": prompt, "cached_input_tokens": cached, "output_tokens": output,
                "reasoning_output_tokens": rng.randint(0, output)}

    def turn(self) -> None:
        rng = self.rng
        self.tick(30, 900)
        self.turn_id = self.gen.uuid7(self.now)
        if rng.random() < 0.15:
            self.model = rng.choice(MODELS)
        self.line("event_msg", {"type": "task_started", "turn_id": self.turn_id, "model_context_window": 258400})
        self.line("turn_context", {"turn_id": self.turn_id, "cwd": self.cwd, "approval_policy": "on-request",
                                   "sandbox_policy": {"type": "workspace-write"}, "model": self.model,
                                   "effort": "medium", "summary": "auto",
                                   "user_instructions": self.gen.text(200, 3000)})
        self.line("event_msg", {"type": "token_count", "info": None, "rate_limits": self.gen.rate_limits()})
        self.line("response_item", {"type": "message", "role": "user",
                                    "content": [{"type": "input_text", "text": self.gen.text(50, 4000)}]})
        for _ in range(rng.choice((1, 1, 2, 3, 4, 6))):
            self.response()
        self.line("event_msg", {"type": "task_complete", "turn_id": self.turn_id, "last_agent_message": "Done."})

    def response(self) -> None:
        rng, gen = self.rng, self.gen
        self.tick(2, 40)
        self.line("response_item", {"type": "reasoning", "summary": [{"type": "summary_text", "text": gen.text(40, 400)}],
                                    "encrypted_content": base64.b64encode(rng.randbytes(rng.randint(600, 6000))).decode()})
        call = f"call_{rng.getrandbits(64):016x}"
        self.line("response_item", {"type": "function_call", "name": "shell", "call_id": call,
                                    "arguments": orjson.dumps({"command": ["bash", "-lc", gen.text(10, 80)]}).decode()})
        usage = self.usage_counts()
        # A compaction restarts the total; it must visibly go down to be told
        # from growth, as it does in real threads (a long history is compacted).
        compaction = rng.random() < 0.04 and self.total["input_tokens"] > usage["input_tokens"]
        if compaction:
            self.line("compacted", {"message": gen.text(200, 2000)})
            self.total = {k: 0 for k in self.total}
        self.total = {k: self.total[k] + usage[k] for k in usage}
        gen.count(self, usage)
        if self.records:
            self.line("token_usage_record", {"thread_id": self.id, "turn_id": self.turn_id,
                                             "response_id": f"resp_{rng.getrandbits(80):020x}",
                                             "usage": {**usage, "total_tokens": usage["input_tokens"] + usage["output_tokens"]},
                                             "thread_token_usage": dict(self.total)})
        info = {"total_token_usage": dict(self.total), "last_token_usage": usage, "model_context_window": 258400}
        self.line("event_msg", {"type": "token_count", "info": info, "rate_limits": gen.rate_limits()})
        for _ in range(rng.choice((0, 0, 1, 1, 2))):  # UI / rate-limit refreshes: same total again
            self.tick(0.1, 5)
            self.line("event_msg", {"type": "token_count", "info": info, "rate_limits": gen.rate_limits()})
        self.tick(0.5, 10)
        self.line("response_item", {"type": "function_call_output", "call_id": call,
                                    "output": gen.text(100, 20000)})


class Generator:
    def __init__(self, out: Path, size: int, seed: int):
        self.out, self.size, self.rng = out, size, random.Random(seed)
        self.truth: dict = defaultdict(lambda: defaultdict(int))
        self.counts: dict = defaultdict(int)
        self.written = 0
        self.words = [w.encode() for w in WORDS]

    def uuid7(self, at: dt.datetime) -> str:
        ms = int(at.timestamp() * 1000)
        rand = self.rng.getrandbits(74)
        value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def text(self, low: int, high: int) -> str:
        n = self.rng.randint(low, high)
        words = self.rng.choices(WORDS, k=n // 6 + 1)
        return " ".join(words)[:n]

    def rate_limits(self) -> dict:
        return {"primary": {"used_percent": round(self.rng.random() * 100, 1), "window_minutes": 300,
                            "resets_at": 1772000000}, "secondary": None}

    def count(self, thread: Thread, usage: dict) -> None:
        key = f"{iso(thread.now)[:10]}|{thread.model}|{thread.provider}"
        row = self.truth[key]
        row["events"] += 1
        row["input"] += usage["input_tokens"] - usage["cached_input_tokens"]
        row["cache_read"] += usage["cached_input_tokens"]
        row["output"] += usage["output_tokens"]
        row["reasoning"] += usage["reasoning_output_tokens"]

    def path_for(self, thread: Thread) -> Path:
        local = thread.start.astimezone(LOCAL)
        name = f"rollout-{local:%Y-%m-%dT%H-%M-%S}-{thread.id}.jsonl"
        return self.out / "sessions" / f"{local:%Y}" / f"{local:%m}" / f"{local:%d}" / name

    def write(self, thread: Thread) -> None:
        rng = self.rng
        lines = list(thread.lines)
        if rng.random() < 0.05:
            # A crash cut a line that carries no usage; its neighbours survive.
            candidates = [i for i, line in enumerate(lines) if b'"response_item"' in line[:80]]
            if candidates:
                i = rng.choice(candidates)
                lines[i] = lines[i][: rng.randint(10, max(11, len(lines[i]) // 2))]
                self.counts["cut_lines"] += 1
        data = b"\n".join(lines) + b"\n"
        if rng.random() < 0.05:
            data += b'{"timestamp":"' + iso(thread.now).encode() + b'","type":"response_item","payload":{"ty'
            self.counts["cut_last_lines"] += 1
        path = self.path_for(thread)
        roll = rng.random()
        if roll < 0.08:  # archived (moved, flat)
            path = self.out / "archived_sessions" / path.name
            self.counts["archived_files"] += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        if 0.08 <= roll < 0.14:  # compressed, alone
            path = path.with_name(path.name + ".zst")
            path.write_bytes(zstd_frame(data))
            self.counts["compressed_files"] += 1
        else:
            path.write_bytes(data)
            if 0.14 <= roll < 0.18:  # compressed copy next to the plain one
                path.with_name(path.name + ".zst").write_bytes(zstd_frame(data))
                self.counts["compressed_siblings"] += 1
            elif 0.18 <= roll < 0.20:  # a copy left in both places (archived by hand)
                copy = self.out / "archived_sessions" / path.name
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(data)
                self.counts["archived_duplicates"] += 1
        self.counts["files"] += 1
        self.written += len(data)

    def legacy(self, at: dt.datetime) -> None:
        tid = self.uuid7(at)
        lines = [orjson.dumps({"id": tid, "timestamp": iso(at), "instructions": self.text(500, 3000)}),
                 b'{"record_type":"state"}']
        for _ in range(self.rng.randint(4, 30)):
            lines.append(orjson.dumps({"type": "message", "role": "user",
                                       "content": [{"type": "input_text", "text": self.text(50, 2000)}]}))
        local = at.astimezone(LOCAL)
        path = self.out / "sessions" / f"{local:%Y}" / f"{local:%m}" / f"{local:%d}" / f"rollout-{local:%Y-%m-%dT%H-%M-%S}-{tid}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = b"\n".join(lines) + b"\n"
        path.write_bytes(data)
        self.counts["legacy_files"] += 1
        self.counts["files"] += 1
        self.written += len(data)

    def run(self) -> dict:
        rng = self.rng
        if self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)
        at = START
        recent: list[Thread] = []
        while self.written < self.size:
            at += dt.timedelta(minutes=rng.randint(5, 300))
            if rng.random() < 0.06:
                self.legacy(at)
                continue
            kind = rng.random()
            parent = rng.choice(recent) if recent and kind < 0.15 else None
            thread = Thread(self, at, parent=parent, subagent=parent is not None and kind < 0.06)
            if parent:
                self.counts["subagent_threads" if kind < 0.06 else "forked_threads"] += 1
            for _ in range(rng.randint(1, 12)):
                thread.turn()
            if rng.random() < 0.12:  # resumed days later: the same file goes on
                thread.now += dt.timedelta(days=rng.randint(1, 5))
                self.counts["resumed_threads"] += 1
                for _ in range(rng.randint(1, 4)):
                    thread.turn()
            self.write(thread)
            recent = (recent + [thread])[-20:]
        return self.result()

    def result(self) -> dict:
        by = {k: dict(v) for k, v in sorted(self.truth.items())}
        overall: dict = defaultdict(int)
        for row in by.values():
            for field, value in row.items():
                overall[field] += value
        return {"generator": "codex", "rules": TRUTH_RULES, "bytes": self.written, "counts": dict(self.counts),
                "overall": dict(overall), "by_day_model_provider": by}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (a CODEX_HOME)")
    parser.add_argument("--size", default="50MB", type=parse_size, help="approximate size, e.g. 8MB, 300MB")
    parser.add_argument("--seed", default=1, type=int)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    truth = Generator(args.out, args.size, args.seed).run()
    (args.out / "truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"{truth['bytes'] / 1e6:.1f} MB, {truth['counts']['files']} files, {truth['overall']['events']} events "
          f"in {time.perf_counter() - started:.1f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
