#!/usr/bin/env python3
"""Generate a deterministic, realistic tree of Claude Code transcripts and its exact ground truth.

    python bench/generate.py --out DIR --size 1GB --seed 1

Writes the same layout Claude Code writes under ~/.claude:

    DIR/projects/<encoded-cwd>/<session-uuid>.jsonl
    DIR/projects/<encoded-cwd>/<session-uuid>/subagents/agent-<id>.jsonl
    DIR/truth.json

The lines imitate real transcripts (compact JSON, the real key order of old and new CLI builds,
a byte mix in which assistant lines are a minority) and every known counting trap is planted many
times. truth.json holds the totals a correct reader must report; TRUTH_RULES below states them.

Same seed and size give byte-identical output: every random choice comes from one
random.Random(seed), nothing iterates a set, and nothing reads the clock.
Sizes use binary units (1GB = 1024**3 bytes).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import random
import re
import shutil
import string
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

GENERATOR_VERSION = 2

TRUTH_RULES = [
    "An event is one API response: assistant lines with the same (message.id, requestId) are one "
    "event; lines without requestId are keyed by message.id alone.",
    "Token fields of an event are the per-field maximum over its lines (pre-2.1.97 builds write a "
    "placeholder output_tokens on all but sometimes the last line).",
    "input = usage.input_tokens (uncached), output = usage.output_tokens, "
    "cache_read = usage.cache_read_input_tokens, cache_write = usage.cache_creation_input_tokens.",
    "Lines whose message.model is '<synthetic>' are not events.",
    "A sidechain (isSidechain:true) event whose message.id also has a non-sidechain event is a "
    "replay and is dropped; other sidechain events (subagent files, old inline Task lines) count.",
    "Top-level type=assistant lines count, and the subagent assistant messages that agent_progress "
    "lines embed: each is a copy of a line of the subagent's file and merges with it by the same key "
    "(sidechain, like the subagent), so it adds spend only when the subagent's line was lost. Usage "
    "blocks inside toolUseResult (Task/Agent results) are summaries and never count.",
    "Lines that are not valid JSON (truncated by a crash, garbage) are skipped; counts.malformed_lines "
    "is their number. A truncated line never contributes, even if its other lines survive.",
    "Identical lines in several files (resumed sessions copy earlier responses) count once.",
    "day = UTC date of the line timestamp (all lines of one event share the day); by_session is keyed "
    "by the lines' sessionId field (subagent lines carry the parent's sessionId; copied lines keep "
    "the original's).",
]

DAY_MS = 86_400_000
CORPUS_START_MS = int(dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
CORPUS_DAYS = 90
# First day on which the CLI builds are >= 2.1.97 (final usage on every per-block line).
USAGE_FIX_DAY = 66  # 2026-04-08

LEGACY_VERSIONS = ["1.0.83", "1.0.88", "1.0.98"]  # top-level costUSD, inline sidechain Task lines
PRE_FIX_VERSIONS = ["2.1.19", "2.1.31", "2.1.39", "2.1.45", "2.1.62", "2.1.77", "2.1.89", "2.1.96"]
POST_FIX_VERSIONS = ["2.1.97", "2.1.98", "2.1.104", "2.1.118", "2.1.126", "2.1.140"]

MAIN_MODELS_PRE_FIX = [("claude-opus-4-6", 50), ("claude-sonnet-4-5-20250929", 28),
                       ("claude-opus-4-5-20251101", 14), ("claude-haiku-4-5-20251001", 8)]
MAIN_MODELS_POST_FIX = [("claude-opus-4-8", 40), ("claude-opus-4-6", 30),
                        ("claude-sonnet-4-5-20250929", 22), ("claude-haiku-4-5-20251001", 8)]
LEGACY_MODELS = [("claude-sonnet-4-20250514", 65), ("claude-opus-4-1-20250805", 35)]
SUBAGENT_MODELS = [("claude-haiku-4-5-20251001", 55), ("claude-sonnet-4-5-20250929", 30), (None, 15)]

# Thirty working directories. Dots, underscores and the my.app / my-app pair exist because the
# folder name replaces every non-alphanumeric character with '-', so it cannot be decoded.
PROJECT_CWDS = [
    "/home/me/src/my.app", "/home/me/src/my-app", "/home/me/src/api_server",
    "/home/me/src/web-frontend", "/home/me/work/data_pipeline", "/home/me/work/infra.terraform",
    "/home/me/work/ml-training", "/home/me/oss/rust-analyzer", "/home/me/oss/duckdb_ext",
    "/home/me/notes", "/home/me/src/usage.core", "/home/me/src/billing-service",
    "/home/me/src/auth_v2", "/home/me/src/mobile.app-ios",
    "/home/me/projects/spotter-worktrees/spotter-gqc", "/home/me/projects/spotter-worktrees/spotter-u4u",
    "/home/me/src/blog", "/home/me/src/cli_tools", "/home/me/src/search.index",
    "/home/me/work/etl-jobs", "/home/me/work/payments_api", "/home/me/work/dashboard.v3",
    "/home/me/tmp/scratch", "/home/me/src/game_engine", "/home/me/src/compiler-toy",
    "/home/me/src/k8s.manifests", "/home/me/src/docs-site", "/home/me/.dotfiles",
    "/home/me/src/py_lib.v2", "/srv/repos/monorepo",
]

VOCAB = """account adapter agent alias allocate analyze apply archive array assert async attribute
audit backend backoff batch benchmark binary bitmap block buffer build bundle cache callback
canonical capture cascade channel checkpoint chunk client clock cluster codec column commit
compact compile config connect consume context cursor daemon dashboard debounce decode default
delta deploy detect digest dispatch document driver dump edge emit encode endpoint entry event
export extract fallback fetch field filter flush format frame gateway handler hash header heap
hook index ingest inline input insert invoke iterate journal kernel ledger limit linker listen
loader lock logger lookup manifest mapper marker merge message metric migrate mock module monitor
mutex node normalize notify offset option order output package page parse partition patch path
payload peer pipeline plugin policy pool prefix probe process profile prompt provider proxy
publish query queue quota range reader record reduce refresh region registry release render replay
report request resolve response retry route runtime sample scan schema scope script segment
select sequence serialize server session shard signal snapshot socket source span split stage
state status storage stream struct subscribe summary switch symbol sync table target task template
tenant test thread throttle ticket timeout token trace transform tree trigger tuple update upload
usage validate value vector version view wal watch window worker writer yield zone""".split()
FILLER = "the a of to and in is it that for on with as we this be by not are or now then so".split()
SLUG_WORDS = "quiet amber otter modular petting thompson brave cobalt heron lucid maple falcon".split()
BASE62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"bad size {text!r}; use e.g. 50MB or 1GB")
    unit = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2).upper()]
    return int(float(match.group(1)) * unit)


def encode_cwd(cwd: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


_DATE_CACHE: dict[int, str] = {}


def day_of(ms: int) -> str:
    day_index = ms // DAY_MS
    date = _DATE_CACHE.get(day_index)
    if date is None:
        date = dt.datetime.fromtimestamp(day_index * 86400, dt.timezone.utc).strftime("%Y-%m-%d")
        _DATE_CACHE[day_index] = date
    return date


def iso(ms: int) -> str:
    rem = ms % DAY_MS
    hours, rem = divmod(rem, 3_600_000)
    minutes, rem = divmod(rem, 60_000)
    seconds, millis = divmod(rem, 1000)
    return f"{day_of(ms)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


class Ids:
    """Identifiers shaped like the real ones (uuid4, msg_01…, req_011C…, toolu_01…)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def uuid(self) -> str:
        h = "%032x" % self.rng.getrandbits(128)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def _b62(self, n: int) -> str:
        return "".join(self.rng.choices(BASE62, k=n))

    def message(self) -> str:
        return "msg_01" + self._b62(22)

    def request(self) -> str:
        return "req_011C" + self._b62(18)

    def tool_use(self) -> str:
        return "toolu_01" + self._b62(22)

    def hex(self, n: int) -> str:
        return "".join(self.rng.choices(HEX, k=n))


class TextSource:
    """A few megabytes of synthetic prose, code, logs and base64, generated once.

    Lines take random slices of these, which keeps per-line cost tiny while giving every line
    different content of the wanted length.
    """

    def __init__(self, rng: random.Random, density: float = 1.0):
        self.rng = rng
        # Text lengths are divided by the density: shorter replies and tool output, so more
        # responses (and usage lines) per byte. The random draws are the same at any density.
        self.scale = 1 / density
        self.prose = self._build_prose(1_500_000)
        self.code = self._build_code(2_000_000)
        self.numbered_code = self._number_lines(self.code)
        self.log = self._build_log(1_000_000)
        self.base64 = base64.b64encode(rng.randbytes(3_000_000)).decode()

    def ident(self) -> str:
        return f"{self.rng.choice(VOCAB)}_{self.rng.choice(VOCAB)}"

    def _sentence(self) -> str:
        rng = self.rng
        words = []
        for _ in range(rng.randint(6, 18)):
            roll = rng.random()
            if roll < 0.45:
                words.append(rng.choice(FILLER))
            elif roll < 0.93:
                words.append(rng.choice(VOCAB))
            else:
                words.append(f"`{self.ident()}`")
        words[0] = words[0].capitalize()
        return " ".join(words) + rng.choice([".", ".", ".", ":", "?"])

    def _build_prose(self, size: int) -> str:
        rng, parts, total = self.rng, [], 0
        while total < size:
            roll = rng.random()
            if roll < 0.08:
                piece = f"## {self._sentence().rstrip('.:?')}\n\n"
            elif roll < 0.25:
                piece = "".join(f"- {self._sentence()}\n" for _ in range(rng.randint(2, 5))) + "\n"
            elif roll < 0.27:
                piece = "Done — all checks pass ✓ and the café → naïve paths are handled 📋.\n\n"
            else:
                piece = " ".join(self._sentence() for _ in range(rng.randint(2, 6))) + "\n\n"
            parts.append(piece)
            total += len(piece)
        return "".join(parts)

    def _lines_from(self, templates: list, size: int) -> str:
        """Lines made by randomly chosen templates until `size` characters."""
        lines, total = [], 0
        while total < size:
            line = self.rng.choice(templates)()
            lines.append(line)
            total += len(line) + 1
        return "\n".join(lines) + "\n"

    def _build_code(self, size: int) -> str:
        rng, ident = self.rng, self.ident
        templates = [
            lambda: f"def {ident()}({ident()}, {ident()}=None):",
            lambda: f"    return {ident()}({ident()}) + {rng.randint(0, 99)}",
            lambda: f"    {ident()} = {ident()}.get({ident()!r}, [])",
            lambda: f"    if {ident()} is None or len({ident()}) > {rng.randint(1, 512)}:",
            lambda: f"        raise ValueError(\"{rng.choice(VOCAB)} {rng.choice(VOCAB)} failed\")",
            lambda: f"    # {self._sentence()}",
            lambda: f"import {rng.choice(VOCAB)}.{rng.choice(VOCAB)} as {rng.choice(VOCAB)}",
            lambda: f"pub fn {ident()}(&mut self, {ident()}: &[u8]) -> Result<usize, Error> {{",
            lambda: f"    let {ident()} = self.{ident()}.iter().map(|x| x.{ident()}()).collect::<Vec<_>>();",
            lambda: "}",
            lambda: "",
            lambda: f"export async function {ident()}({ident()}: string): Promise<{rng.choice(VOCAB).capitalize()}> {{",
            lambda: f"  const {ident()} = await {ident()}.{rng.choice(VOCAB)}({ident()});",
            lambda: f"    for {ident()} in {ident()}:",
            lambda: f"        {ident()}.append({ident()}[{rng.randint(0, 9)}])",
        ]
        return self._lines_from(templates, size)

    @staticmethod
    def _number_lines(code: str) -> str:
        # The Read tool prefixes line numbers; restart numbering every 400 lines ("another file").
        return "\n".join(f"{(i % 400) + 1:>6}→{line}" for i, line in enumerate(code.split("\n")))

    def _build_log(self, size: int) -> str:
        rng, ident = self.rng, self.ident
        templates = [
            lambda: f"tests/test_{ident()}.py::test_{ident()} PASSED{' ' * rng.randint(1, 20)}[{rng.randint(1, 100):>3}%]",
            lambda: f"test {rng.choice(VOCAB)}::{ident()} ... ok",
            lambda: f"warning: unused variable: `{ident()}`",
            lambda: f"  --> src/{rng.choice(VOCAB)}/{ident()}.rs:{rng.randint(1, 900)}:{rng.randint(1, 80)}",
            lambda: f"error[E0{rng.randint(100, 799)}]: borrow of moved value: `{ident()}`",
            lambda: f"  ✓ {rng.choice(VOCAB)} {rng.choice(VOCAB)} ({rng.randint(1, 900)} ms)",
            lambda: f"   Compiling {rng.choice(VOCAB)}-{rng.choice(VOCAB)} v0.{rng.randint(1, 30)}.{rng.randint(0, 9)}",
            lambda: f" M src/{rng.choice(VOCAB)}/{ident()}.py",
            lambda: f"{ident()}.go:{rng.randint(1, 900)}: {self._sentence()}",
            lambda: f"npm warn deprecated {rng.choice(VOCAB)}@{rng.randint(1, 9)}.{rng.randint(0, 20)}.0: {self._sentence()}",
        ]
        return self._lines_from(templates, size)

    def take(self, source: str, length: int) -> str:
        length = max(1, min(length, len(source) - 1))
        start = self.rng.randrange(len(source) - length)
        return source[start:start + length]

    def sized(self, median: float, sigma: float, lo: int, hi: int) -> int:
        drawn = self.rng.lognormvariate(0, sigma) * median
        if self.scale != 1:
            drawn, lo, hi = drawn * self.scale, int(lo * self.scale), int(hi * self.scale)
        return int(min(hi, max(lo, drawn)))


class Ledger:
    """The ground truth: every intact usage-bearing line the generator wrote, reduced by the rules.

    A record is (key, message_id, is_sidechain, input, output, cache_read, cache_write,
    cost_micro_usd, day, model, session_id, cwd). Records are added only for lines written intact,
    so truncation, garbage, copies and replays are accounted for by construction.
    """

    def __init__(self):
        self.responses: dict[tuple, list] = {}

    def add(self, record: tuple) -> None:
        key = record[0]
        current = self.responses.get(key)
        if current is None:
            self.responses[key] = list(record)
            return
        for i in (3, 4, 5, 6, 7):
            if record[i] > current[i]:
                current[i] = record[i]

    def events(self) -> list[list]:
        main_message_ids = {r[1] for r in self.responses.values() if not r[2]}
        return [r for r in self.responses.values() if not (r[2] and r[1] in main_message_ids)]


class Transcript:
    """One .jsonl file under construction: a main session file or one subagent file."""

    def __init__(self, session: "Session", path: Path, *, agent_id: str | None = None,
                 sidechain: bool = False, model: str | None = None):
        self.session = session
        self.path = path
        self.agent_id = agent_id
        self.sidechain = sidechain
        self.model = model or session.model
        self.lines: list[bytes] = []
        self.records: list[tuple | None] = []
        self.parent_uuid: str | None = None
        self.nbytes = 0
        self.context_tokens = session.rng.randint(14_000, 26_000) if not sidechain else session.rng.randint(6_000, 14_000)
        self.last_response: dict | None = None
        self.rebuild_envelope()

    def rebuild_envelope(self) -> None:
        s = self.session
        if s.new_style:
            self.head = {"isSidechain": self.sidechain}
            if self.agent_id:
                self.head["agentId"] = self.agent_id
            self.tail = s.new_style_tail
        else:
            self.head = {"isSidechain": self.sidechain, "userType": "external", "cwd": s.cwd,
                         "sessionId": s.session_id, "version": s.version, "gitBranch": s.branch}
            if self.agent_id:
                self.head["agentId"] = self.agent_id
            if s.slug:
                self.head["slug"] = s.slug
            self.tail = {}

    def envelope(self, body: dict) -> dict:
        return {"parentUuid": self.parent_uuid, **self.head, **body, **self.tail}

    def emit(self, line: dict, record: tuple | None = None, chain: str | None = None) -> None:
        raw = orjson.dumps(line)
        self.lines.append(raw)
        self.records.append(record)
        self.nbytes += len(raw) + 1
        self.session.bytes_so_far += len(raw) + 1
        if chain:
            self.parent_uuid = chain

    def emit_raw(self, raw: bytes, record: tuple | None) -> None:
        self.lines.append(raw)
        self.records.append(record)
        self.nbytes += len(raw) + 1
        self.session.bytes_so_far += len(raw) + 1


class Session:
    """Generates one main session file and its subagent files."""

    def __init__(self, corpus: "Corpus", project: dict, start_ms: int, byte_budget: int,
                 resume_from: "Session | None"):
        self.corpus = corpus
        self.rng = rng = corpus.rng
        self.text = corpus.text
        self.ids = corpus.ids
        self.traps = corpus.traps
        self.project = project
        self.cwd = project["cwd"]
        self.session_id = self.ids.uuid()
        self.now = start_ms
        self.byte_budget = byte_budget
        self.resume_from = resume_from
        self.bytes_so_far = 0
        day_index = (start_ms - CORPUS_START_MS) // DAY_MS

        self.legacy = day_index < 45 and rng.random() < 0.15
        if self.legacy:
            self.version = rng.choice(LEGACY_VERSIONS)
            self.model = weighted(rng, LEGACY_MODELS)
        elif day_index < USAGE_FIX_DAY:
            self.version = PRE_FIX_VERSIONS[min(len(PRE_FIX_VERSIONS) - 1,
                                                int(day_index / USAGE_FIX_DAY * len(PRE_FIX_VERSIONS) + rng.random()))]
            self.model = weighted(rng, MAIN_MODELS_PRE_FIX)
        else:
            span = CORPUS_DAYS - USAGE_FIX_DAY
            self.version = POST_FIX_VERSIONS[min(len(POST_FIX_VERSIONS) - 1,
                                                 int((day_index - USAGE_FIX_DAY) / span * len(POST_FIX_VERSIONS) + rng.random()))]
            self.model = weighted(rng, MAIN_MODELS_POST_FIX)
        self.pre_fix = self.legacy or self.version in PRE_FIX_VERSIONS
        self.new_style = not self.pre_fix
        self.branch = rng.choice(project["branches"])
        self.slug = None
        self.thinking = rng.random() < 0.7
        self.cache_ttl = weighted(rng, [("1h", 60), ("5m", 25), ("mixed", 15)])
        self.service_tier = "priority" if rng.random() < 0.04 else "standard"
        self.speed = "fast" if (self.new_style and "opus" in self.model and rng.random() < 0.08) else "standard"
        self.inference_geo = rng.choice(["", "global", "not_available"])
        self.entrypoint = weighted(rng, [("cli", 85), ("sdk-cli", 10), ("remote_mobile", 5)])
        self.new_style_tail = {"userType": "external", "entrypoint": self.entrypoint, "cwd": self.cwd,
                               "sessionId": self.session_id, "version": self.version, "gitBranch": self.branch}
        self.folder = corpus.projects_dir / project["folder"]
        self.main = Transcript(self, self.folder / f"{self.session_id}.jsonl")
        self.edited_files: dict[str, int] = {}
        self.first_prompt_uuid: str | None = None
        self.kept_main_lines: list[tuple[bytes, tuple | None]] = []

    # ---- clock -------------------------------------------------------------------------------

    def advance(self, lo_ms: int, hi_ms: int) -> int:
        self.now += self.rng.randint(lo_ms, hi_ms)
        return self.now

    def keep_event_within_one_day(self) -> None:
        # The lines of one response must share a UTC day, otherwise "the day" of an event is
        # ambiguous. Responses that would straddle midnight start just after it instead.
        if self.now % DAY_MS > DAY_MS - 120_000:
            self.now += DAY_MS - self.now % DAY_MS + self.rng.randint(100, 5000)

    # ---- usage -------------------------------------------------------------------------------

    def usage_dict(self, t: Transcript, inp: int, out: int, cache_read: int, cache_write: int,
                   web_searches: int) -> dict:
        if self.legacy:
            return {"input_tokens": inp, "cache_creation_input_tokens": cache_write,
                    "cache_read_input_tokens": cache_read, "output_tokens": out,
                    "service_tier": "standard"}
        ttl = "5m" if t.sidechain else self.cache_ttl
        if ttl == "1h":
            one_hour = cache_write
        elif ttl == "5m":
            one_hour = 0
        else:
            one_hour = cache_write * self.rng.randint(0, 10) // 10
        if self.pre_fix:
            usage = {"input_tokens": inp, "cache_creation_input_tokens": cache_write,
                     "cache_read_input_tokens": cache_read,
                     "cache_creation": {"ephemeral_5m_input_tokens": cache_write - one_hour,
                                        "ephemeral_1h_input_tokens": one_hour},
                     "output_tokens": out}
            if web_searches:
                usage["server_tool_use"] = {"web_search_requests": web_searches, "web_fetch_requests": 0}
            usage["service_tier"] = self.service_tier
            usage["inference_geo"] = "not_available"
            return usage
        return {"input_tokens": inp, "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read, "output_tokens": out,
                "server_tool_use": {"web_search_requests": web_searches, "web_fetch_requests": 0},
                "service_tier": self.service_tier,
                "cache_creation": {"ephemeral_1h_input_tokens": one_hour,
                                   "ephemeral_5m_input_tokens": cache_write - one_hour},
                "inference_geo": self.inference_geo, "iterations": [],
                "speed": self.speed if "opus" in t.model else "standard"}

    def next_input_usage(self, t: Transcript) -> tuple[int, int, int]:
        """(input, cache_read, cache_write) of the next request of transcript t."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:  # cache expired: the whole context is written again
            return rng.randint(1, 12), 0, t.context_tokens
        if roll < 0.05:  # no caching at all (some subagent and legacy requests)
            return t.context_tokens, 0, 0
        added = int(min(40_000, rng.lognormvariate(0, 1.0) * 700)) + 50
        cache_read, cache_write = t.context_tokens, added
        t.context_tokens += added
        return rng.randint(1, 9), cache_read, cache_write

    # ---- line builders -----------------------------------------------------------------------

    def response(self, t: Transcript, blocks: list[dict], stop_reason: str, *,
                 web_searches: int = 0) -> dict:
        """Write one API response as one line per content block; returns what replays need."""
        rng, ids = self.rng, self.ids
        self.keep_event_within_one_day()
        message_id = ids.message()
        request_id = None if (self.legacy and rng.random() < 0.25) else ids.request()
        if request_id is None:
            self.traps["responses_without_request_id"] += 1
        inp, cache_read, cache_write = self.next_input_usage(t)
        real_output = int(min(32_000, rng.lognormvariate(0, 1.1) * 260)) + 1
        t.context_tokens += real_output
        if self.pre_fix:
            placeholder = rng.randint(1, 30)
            outputs = [placeholder] * len(blocks)
            if rng.random() < 0.55:
                outputs[-1] = max(real_output, placeholder + 1)
                if len(blocks) > 1:
                    self.traps["placeholder_output_then_real_last_line"] += 1
            elif len(blocks) > 1:
                self.traps["placeholder_output_on_all_lines"] += 1
        else:
            outputs = [real_output] * len(blocks)
        if len(blocks) > 1:
            self.traps["responses_spread_over_several_lines"] += 1
        if self.service_tier != "standard" or (self.speed != "standard" and "opus" in t.model):
            self.traps["responses_with_priority_tier_or_fast_speed"] += 1
        if web_searches:
            self.traps["responses_with_server_tool_use"] += 1
        final_stop = None if self.pre_fix else stop_reason
        day = None
        lines_info = []
        for i, block in enumerate(blocks):
            self.advance(150, 4000 if block["type"] != "thinking" else 9000)
            usage = self.usage_dict(t, inp, outputs[i], cache_read, cache_write, web_searches)
            if self.new_style:
                message = {"id": message_id, "type": "message", "role": "assistant", "model": t.model,
                           "content": [block], "stop_reason": final_stop, "stop_sequence": None,
                           "usage": usage}
            else:
                message = {"model": t.model, "id": message_id, "type": "message", "role": "assistant",
                           "content": [block], "stop_reason": final_stop, "stop_sequence": None,
                           "usage": usage}
            uuid = ids.uuid()
            timestamp = iso(self.now)
            cost_micro = 0
            if self.legacy:
                # Price-like reported cost in whole micro-dollars so truth sums exactly.
                cost_micro = inp * 3 + outputs[i] * 15 + cache_read * 3 // 10 + cache_write * 15 // 4
                body = {"message": message, "costUSD": cost_micro / 1_000_000,
                        "durationMs": rng.randint(900, 60_000)}
                if request_id:
                    body["requestId"] = request_id
                body.update({"type": "assistant", "uuid": uuid, "timestamp": timestamp})
            else:
                body = {"message": message, "requestId": request_id, "type": "assistant",
                        "uuid": uuid, "timestamp": timestamp}
            day = day_of(self.now)
            record = ((message_id, request_id), message_id, t.sidechain, inp, outputs[i],
                      cache_read, cache_write, cost_micro, day, t.model, self.session_id, self.cwd)
            t.emit(t.envelope(body), record, chain=uuid)
            lines_info.append((message, uuid, timestamp))
        if self.legacy:
            self.traps["responses_with_costUSD"] += 1
        t.last_response = {"message_id": message_id, "request_id": request_id, "lines": lines_info,
                           "usage": lines_info[-1][0]["usage"],
                           "total": inp + outputs[-1] + cache_read + cache_write}
        return t.last_response

    def user_prompt(self, t: Transcript, content) -> str:
        uuid = self.ids.uuid()
        self.advance(5_000, 900_000)
        if self.new_style:
            body = {"promptId": self.ids.uuid(), "type": "user", "message": {"role": "user", "content": content},
                    "uuid": uuid, "timestamp": iso(self.now), "permissionMode": "default"}
        else:
            body = {"type": "user", "message": {"role": "user", "content": content}, "uuid": uuid,
                    "timestamp": iso(self.now)}
            if not t.sidechain:
                body.update({"thinkingMetadata": {"maxThinkingTokens": 31999}, "todos": [],
                             "permissionMode": "bypassPermissions"})
        t.emit(t.envelope(body), chain=uuid)
        return uuid

    def tool_result(self, t: Transcript, tool_use_id: str, content, tool_use_result,
                    source_uuid: str) -> None:
        uuid = self.ids.uuid()
        block = {"tool_use_id": tool_use_id, "type": "tool_result", "content": content, "is_error": False}
        body = {"type": "user", "message": {"role": "user", "content": [block]}, "uuid": uuid,
                "timestamp": iso(self.now), "toolUseResult": tool_use_result,
                "sourceToolAssistantUUID": source_uuid}
        if self.new_style:
            body = {"promptId": self.ids.uuid(), **body}
        t.emit(t.envelope(body), chain=uuid)

    def progress(self, t: Transcript, data: dict, tool_use_id: str, parent_tool_use_id: str,
                 timestamp: str | None = None, record: tuple | None = None) -> None:
        uuid = self.ids.uuid()
        body = {"type": "progress", "data": data, "toolUseID": tool_use_id,
                "parentToolUseID": parent_tool_use_id, "uuid": uuid,
                "timestamp": timestamp or iso(self.now)}
        t.emit(t.envelope(body), record, chain=uuid)

    def hook_progress(self, t: Transcript, event: str, tool_name: str, tool_use_id: str) -> None:
        for command in self.project["hooks"]:
            self.advance(5, 400)
            self.progress(t, {"type": "hook_progress", "hookEvent": event, "hookName": f"{event}:{tool_name}",
                              "command": command}, self.ids.uuid(), tool_use_id)

    def system(self, t: Transcript, subtype: str, fields: dict, parent_null: bool = False) -> str:
        uuid = self.ids.uuid()
        body = {"type": "system", "subtype": subtype, **fields, "timestamp": iso(self.now), "uuid": uuid}
        line = t.envelope(body)
        if parent_null:
            line["parentUuid"] = None
        t.emit(line, chain=uuid)
        return uuid

    def attachment(self, t: Transcript, attachment: dict) -> None:
        uuid = self.ids.uuid()
        t.emit(t.envelope({"attachment": attachment, "type": "attachment", "uuid": uuid,
                           "timestamp": iso(self.now)}), chain=uuid)

    def file_history_snapshot(self, t: Transcript, message_uuid: str, update: bool) -> None:
        backups = {path: {"backupFileName": f"{self.ids.hex(16)}@v{version}", "version": version,
                          "backupTime": iso(self.now - 1000 * i)}
                   for i, (path, version) in enumerate(self.edited_files.items())}
        t.emit({"type": "file-history-snapshot", "messageId": message_uuid,
                "snapshot": {"messageId": self.first_prompt_uuid or message_uuid,
                             "trackedFileBackups": backups, "timestamp": iso(self.now)},
                "isSnapshotUpdate": update})

    def queue_operation(self, t: Transcript, operation: str, content: str | None = None) -> None:
        line = {"type": "queue-operation", "operation": operation, "timestamp": iso(self.now),
                "sessionId": self.session_id}
        if content is not None:
            line["content"] = content
        t.emit(line)

    # ---- content blocks ----------------------------------------------------------------------

    def thinking_block(self) -> dict:
        text = self.text
        return {"type": "thinking", "thinking": text.take(text.prose, text.sized(600, 0.8, 60, 9000)),
                "signature": text.take(text.base64, text.sized(400, 0.5, 200, 3000))}

    def text_block(self, median: int = 450) -> dict:
        return {"type": "text", "text": self.text.take(self.text.prose, self.text.sized(median, 0.9, 4, 12_000))}

    def path(self) -> str:
        return f"{self.cwd}/{self.rng.choice(self.project['files'])}"

    def tool_use_block(self, name: str) -> dict:
        text, rng = self.text, self.rng
        if name == "Bash":
            command = f"{rng.choice(['cargo test', 'pytest -x', 'npm run build', 'git status', 'make lint', 'rg'])} {text.ident()}"
            tool_input = {"command": command, "description": text.take(text.prose, rng.randint(15, 60)).strip()}
        elif name == "Read":
            tool_input = {"file_path": self.path()}
        elif name == "Edit":
            tool_input = {"file_path": self.path(),
                          "old_string": text.take(text.code, text.sized(200, 0.9, 10, 6000)),
                          "new_string": text.take(text.code, text.sized(280, 0.9, 10, 8000)),
                          "replace_all": False}
        elif name == "Write":
            tool_input = {"file_path": self.path(), "content": text.take(text.code, text.sized(1800, 0.9, 100, 40_000))}
        elif name in ("Grep", "Glob"):
            tool_input = {"pattern": text.ident(), "path": self.cwd, "output_mode": "files_with_matches"}
        elif name == "TodoWrite":
            tool_input = {"todos": [{"content": text.take(text.prose, rng.randint(20, 90)),
                                     "status": rng.choice(["pending", "in_progress", "completed"]),
                                     "activeForm": text.take(text.prose, rng.randint(20, 90))}
                                    for _ in range(rng.randint(2, 8))]}
        elif name == "WebSearch":
            tool_input = {"query": " ".join(rng.choices(VOCAB, k=rng.randint(3, 7)))}
        elif name == "WebFetch":
            tool_input = {"url": f"https://docs.example.com/{rng.choice(VOCAB)}/{rng.choice(VOCAB)}",
                          "prompt": text.take(text.prose, rng.randint(40, 200))}
        else:  # Task / Agent
            tool_input = {"description": text.take(text.prose, rng.randint(15, 50)).strip(),
                          "prompt": text.take(text.prose, text.sized(600, 0.7, 80, 5000)),
                          "subagent_type": rng.choice(["Explore", "general-purpose", "Plan"])}
        block = {"type": "tool_use", "id": self.ids.tool_use(), "name": name, "input": tool_input}
        if not self.legacy:
            block["caller"] = {"type": "direct"}
        return block

    # ---- tools -------------------------------------------------------------------------------

    def run_tool(self, t: Transcript, block: dict, assistant_uuid: str) -> None:
        """Write what happens after a tool_use: hook/bash progress lines and the tool_result line."""
        text, rng = self.text, self.rng
        name, tool_use_id, tool_input = block["name"], block["id"], block["input"]
        if not t.sidechain:
            self.hook_progress(t, "PreToolUse", name, tool_use_id)
        self.advance(80, 3_000)
        if name == "Bash":
            output = text.take(text.log, text.sized(1200, 1.4, 0, 60_000))
            if rng.random() < 0.3:
                # Long-running command: progress lines carry the tail and the whole output so far.
                steps = rng.randint(1, 5)
                for step in range(1, steps + 1):
                    self.advance(1_000, 5_000)
                    so_far = output[: len(output) * step // (steps + 1)]
                    self.progress(t, {"type": "bash_progress", "output": so_far[-400:], "fullOutput": so_far,
                                      "elapsedTimeSeconds": step * 3, "totalLines": so_far.count("\n"),
                                      "timeoutMs": 120000}, f"bash-progress-{step - 1}", tool_use_id)
            content = output
            result = {"stdout": output, "stderr": "", "interrupted": False, "isImage": False,
                      "noOutputExpected": False}
        elif name == "Read":
            if rng.random() < 0.004:
                data = text.take(text.base64, text.sized(150_000, 1.0, 20_000, 2_500_000))
                data = data[: len(data) // 4 * 4]
                content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}]
                result = {"type": "image", "file": {"base64": data, "type": "image/png",
                                                    "originalSize": len(data) * 3 // 4}}
                self.traps["huge_image_tool_results"] += 1
            else:
                numbered = text.take(text.numbered_code, text.sized(2600, 1.0, 100, 120_000))
                plain = re.sub(r"(?m)^ *\d+→", "", numbered)
                lines = numbered.count("\n") + 1
                content = numbered
                result = {"type": "text", "file": {"filePath": tool_input["file_path"], "content": plain,
                                                   "numLines": lines, "startLine": 1, "totalLines": lines}}
        elif name == "Edit":
            path = tool_input["file_path"]
            self.edited_files[path[len(self.cwd) + 1:]] = self.edited_files.get(path[len(self.cwd) + 1:], 0) + 1
            old_lines = tool_input["old_string"].split("\n")
            new_lines = tool_input["new_string"].split("\n")
            start = rng.randint(1, 400)
            content = f"The file {path} has been updated successfully."
            result = {"filePath": path, "oldString": tool_input["old_string"], "newString": tool_input["new_string"],
                      "originalFile": text.take(text.code, text.sized(4000, 1.0, 200, 150_000)),
                      "structuredPatch": [{"oldStart": start, "oldLines": len(old_lines), "newStart": start,
                                           "newLines": len(new_lines),
                                           "lines": ["-" + x for x in old_lines] + ["+" + x for x in new_lines]}],
                      "userModified": False, "replaceAll": False}
        elif name == "Write":
            path = tool_input["file_path"]
            self.edited_files[path[len(self.cwd) + 1:]] = 1
            content = f"File created successfully at: {path}"
            result = {"type": "create", "filePath": path, "content": tool_input["content"],
                      "structuredPatch": [], "originalFile": None}
        elif name in ("Grep", "Glob"):
            files = [self.path() for _ in range(rng.randint(0, 40))]
            content = "\n".join(files) if files else "No files found"
            if name == "Grep":
                result = {"mode": "files_with_matches", "filenames": files, "numFiles": len(files)}
            else:
                result = {"filenames": files, "durationMs": rng.randint(5, 900), "numFiles": len(files),
                          "truncated": False}
        elif name == "TodoWrite":
            content = "Todos have been modified successfully. Ensure that you continue to use the todo list."
            result = {"oldTodos": [], "newTodos": tool_input["todos"]}
        elif name == "WebSearch":
            hits = [{"title": text.take(text.prose, rng.randint(20, 70)),
                     "url": f"https://{rng.choice(VOCAB)}.example.org/{rng.choice(VOCAB)}"} for _ in range(8)]
            summary = text.take(text.prose, text.sized(2500, 0.6, 300, 12_000))
            content = f"Web search results for query: \"{tool_input['query']}\"\n\n{summary}"
            result = {"query": tool_input["query"], "results": [{"tool_use_id": f"srvtoolu_01{self.ids.hex(20)}",
                                                                  "content": hits}, summary],
                      "durationSeconds": round(rng.uniform(2, 15), 3)}
        else:  # WebFetch
            fetched = text.take(text.prose, text.sized(4000, 0.8, 200, 40_000))
            content = fetched
            result = {"bytes": len(fetched) * 3, "code": 200, "codeText": "OK", "result": fetched,
                      "durationMs": rng.randint(300, 9000), "url": tool_input["url"]}
        self.tool_result(t, tool_use_id, content, result, assistant_uuid)
        if not t.sidechain:
            self.hook_progress(t, "PostToolUse", name, tool_use_id)

    def pick_tool(self, allow_task: bool) -> str:
        tools = [("Bash", 30), ("Read", 26), ("Edit", 14), ("Grep", 7), ("Glob", 4), ("Write", 4),
                 ("TodoWrite", 5), ("WebSearch", 2), ("WebFetch", 2)]
        if allow_task:
            # Old builds ran Task subagents inline; give them more so that trap is common enough.
            tools.append(("Task" if self.pre_fix else "Agent", 4 if self.legacy else 1.5))
        return weighted(self.rng, tools)

    def agent_step(self, t: Transcript, allow_task: bool) -> None:
        """One model turn: a response with thinking/text/tool_use blocks, then the tools run."""
        rng = self.rng
        blocks = []
        if self.thinking and rng.random() < 0.3:
            blocks.append(self.thinking_block())
        if rng.random() < 0.45:
            blocks.append(self.text_block(180))
        names = [self.pick_tool(allow_task) for _ in range(weighted(rng, [(1, 70), (2, 18), (3, 8), (4, 4)]))]
        tool_blocks = [self.tool_use_block(n) for n in names]
        web = sum(rng.randint(1, 3) for n in names if n == "WebSearch")
        response = self.response(t, blocks + tool_blocks, "tool_use", web_searches=web)
        tool_uuids = [uuid for (_, uuid, _) in response["lines"][len(blocks):]]
        for block, uuid in zip(tool_blocks, tool_uuids):
            if block["name"] in ("Task", "Agent"):
                if self.legacy:
                    self.run_inline_sidechain_task(t, block, uuid)
                else:
                    self.run_subagent(t, block, uuid)
            else:
                self.run_tool(t, block, uuid)

    # ---- subagents ---------------------------------------------------------------------------

    def subagent_transcript(self, agent_id: str, model: str | None) -> Transcript:
        path = self.folder / self.session_id / "subagents" / f"agent-{agent_id}.jsonl"
        return Transcript(self, path, agent_id=agent_id, sidechain=True, model=model)

    def new_agent_id(self) -> str:
        return self.ids.hex(7) if self.pre_fix else "a" + self.ids.hex(16)

    def run_subagent(self, parent: Transcript, block: dict, assistant_uuid: str) -> None:
        """A Task/Agent call: the subagent file (real spend), progress lines echoing it in the
        parent, and the parent's tool_result whose toolUseResult repeats a usage block."""
        rng = self.rng
        agent_id = self.new_agent_id()
        sub = self.subagent_transcript(agent_id, weighted(rng, SUBAGENT_MODELS))
        self.traps["subagent_files"] += 1
        prompt = block["input"]["prompt"]
        start = self.now
        self.user_prompt(sub, prompt)
        tool_uses = weighted(rng, [(1, 20), (3, 40), (6, 25), (12, 15)])
        for _ in range(tool_uses):
            name = weighted(rng, [("Read", 40), ("Grep", 25), ("Glob", 10), ("Bash", 25)])
            tool_block = self.tool_use_block(name)
            pre = [self.text_block(150)] if rng.random() < 0.4 else []
            response = self.response(sub, pre + [tool_block], "tool_use")
            self.echo_agent_progress(parent, sub, response, block["id"], prompt)
            self.run_tool(sub, tool_block, response["lines"][-1][1])
        final = self.response(sub, [self.text_block(1200)], "end_turn")
        self.echo_agent_progress(parent, sub, final, block["id"], prompt)
        self.corpus.finish_transcript(sub, allow_damage=True)
        final_text = final["lines"][-1][0]["content"][0]["text"]
        result = {"status": "completed", "prompt": prompt, "agentId": agent_id,
                  "content": [{"type": "text", "text": final_text}],
                  "totalDurationMs": self.now - start, "totalTokens": final["total"],
                  "totalToolUseCount": tool_uses, "usage": final["usage"]}
        self.traps["task_tool_results_with_usage"] += 1
        self.tool_result(parent, block["id"], [{"type": "text", "text": final_text}], result, assistant_uuid)

    def echo_agent_progress(self, parent: Transcript, sub: Transcript, response: dict,
                            task_tool_use_id: str, prompt: str) -> None:
        """Parent-side agent_progress line embedding the subagent's assistant message, usage and all."""
        if self.rng.random() > 0.6:  # real parents echo only some of the subagent's messages
            return
        message, uuid, timestamp = response["lines"][-1]
        embedded = {"type": "assistant", "timestamp": timestamp, "message": message,
                    "requestId": response["request_id"], "uuid": uuid}
        usage = message["usage"]
        record = ((response["message_id"], response["request_id"]), response["message_id"], True,
                  usage["input_tokens"], usage["output_tokens"], usage["cache_read_input_tokens"],
                  usage["cache_creation_input_tokens"], 0, timestamp[:10], sub.model, self.session_id, self.cwd)
        self.progress(parent, {"message": embedded, "normalizedMessages": [], "type": "agent_progress",
                               "prompt": prompt, "agentId": sub.agent_id},
                      f"agent_{response['message_id']}", task_tool_use_id, timestamp, record)
        self.traps["agent_progress_lines_with_usage"] += 1

    def run_inline_sidechain_task(self, t: Transcript, block: dict, assistant_uuid: str) -> None:
        """Old builds wrote Task subagent messages inline with isSidechain:true. They are real
        spend (no non-sidechain twin) and must be counted."""
        saved_parent, saved_sidechain = t.parent_uuid, t.sidechain
        t.sidechain = True
        t.rebuild_envelope()
        t.parent_uuid = None
        self.user_prompt(t, block["input"]["prompt"])
        for _ in range(self.rng.randint(1, 4)):
            tool_block = self.tool_use_block("Read")
            response = self.response(t, [tool_block], "tool_use")
            self.run_tool(t, tool_block, response["lines"][-1][1])
            self.traps["inline_sidechain_responses_counted"] += 1
        final = self.response(t, [self.text_block(900)], "end_turn")
        self.traps["inline_sidechain_responses_counted"] += 1
        t.sidechain = saved_sidechain
        t.rebuild_envelope()
        t.parent_uuid = saved_parent
        text_out = final["lines"][-1][0]["content"][0]["text"]
        result = {"status": "completed", "prompt": block["input"]["prompt"], "agentId": self.ids.hex(7),
                  "content": [{"type": "text", "text": text_out}], "totalDurationMs": 40_000,
                  "totalTokens": final["total"], "totalToolUseCount": 2, "usage": final["usage"]}
        self.traps["task_tool_results_with_usage"] += 1
        self.tool_result(t, block["id"], [{"type": "text", "text": text_out}], result, assistant_uuid)

    def replay_lines(self, target: Transcript, response: dict) -> None:
        """Sidechain replay: the parent's response again, same message.id, new requestId."""
        replay_request = self.ids.request()
        for message, _, _ in response["lines"]:
            self.advance(50, 900)
            uuid = self.ids.uuid()
            line = target.envelope({"message": message, "requestId": replay_request, "type": "assistant",
                                    "uuid": uuid, "timestamp": iso(self.now)})
            line["isSidechain"] = True
            usage = message["usage"]
            record = ((response["message_id"], replay_request), response["message_id"], True,
                      usage["input_tokens"], usage["output_tokens"], usage["cache_read_input_tokens"],
                      usage["cache_creation_input_tokens"], 0, day_of(self.now), message["model"],
                      self.session_id, self.cwd)
            target.emit(line, record, chain=uuid)
        self.traps["sidechain_replayed_responses"] += 1

    def side_question(self, t: Transcript) -> None:
        """A /btw-style side file: replays the parent's last response, then asks its own question."""
        response = t.last_response
        if response is None or response["request_id"] is None:
            return
        sub = self.subagent_transcript(self.new_agent_id(), t.model)
        self.traps["subagent_files"] += 1
        self.traps["side_question_files_with_replays"] += 1
        self.replay_lines(sub, response)
        self.user_prompt(sub, self.text.take(self.text.prose, self.rng.randint(20, 300)))
        self.response(sub, [self.text_block(500)], "end_turn")
        self.corpus.finish_transcript(sub, allow_damage=False)

    def inline_replay(self, t: Transcript) -> None:
        response = t.last_response
        if response is None or response["request_id"] is None:
            return
        saved = t.parent_uuid
        self.replay_lines(t, response)
        t.parent_uuid = saved

    def synthetic_error(self, t: Transcript) -> None:
        """API errors: retry notices, then a locally generated '<synthetic>' assistant line."""
        rng = self.rng
        for attempt in range(1, rng.randint(1, 4)):
            self.advance(1000, 8000)
            self.system(t, "api_error", {"level": "error", "error": {"status": 529},
                                         "retryInMs": 1000 * 2 ** attempt, "retryAttempt": attempt,
                                         "maxRetries": 10})
        self.advance(1000, 8000)
        text = rng.choice(["API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}",
                           "Claude AI usage limit reached|1772000000", "[Request interrupted by user]"])
        message = {"id": self.ids.uuid(), "container": None, "model": "<synthetic>", "role": "assistant",
                   "stop_reason": "stop_sequence", "stop_sequence": "", "type": "message",
                   "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": 0,
                             "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                             "service_tier": None,
                             "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0}},
                   "content": [{"type": "text", "text": text}]}
        uuid = self.ids.uuid()
        t.emit(t.envelope({"message": message, "type": "assistant", "uuid": uuid, "timestamp": iso(self.now),
                           "isApiErrorMessage": True}), chain=uuid)
        self.traps["synthetic_assistant_lines"] += 1

    def compact(self, t: Transcript) -> None:
        """Auto-compaction: an acompact subagent file (billable summary call), a boundary line and
        the summary the conversation continues from."""
        rng, text = self.rng, self.text
        agent_id = "acompact-" + (self.ids.hex(6) if self.pre_fix else self.ids.hex(16))
        sub = self.subagent_transcript(agent_id, t.model)
        sub.context_tokens = t.context_tokens
        self.traps["subagent_files"] += 1
        self.traps["acompact_files"] += 1
        self.user_prompt(sub, text.take(text.prose, text.sized(8000, 0.7, 1000, 60_000)))
        summary = self.response(sub, [self.text_block(6000)], "end_turn")
        self.corpus.finish_transcript(sub, allow_damage=False)
        if self.pre_fix and rng.random() < 0.3:
            # Pre-2.1.97 prompt-too-long retries duplicated whole compaction files.
            copy = self.subagent_transcript("acompact-" + self.ids.hex(6), t.model)
            for raw, record in zip(sub.lines, sub.records):
                copy.emit_raw(raw, record)
            self.corpus.finish_transcript(copy, allow_damage=False)
            self.traps["subagent_files"] += 1
            self.traps["acompact_files"] += 1
            self.traps["duplicated_acompact_files"] += 1
        self.advance(500, 3000)
        self.system(t, "compact_boundary", {"content": "Conversation compacted", "isMeta": False, "level": "info",
                                            "compactMetadata": {"trigger": "auto", "preTokens": t.context_tokens}},
                    parent_null=True)
        summary_text = summary["lines"][-1][0]["content"][0]["text"]
        uuid = self.ids.uuid()
        t.emit(t.envelope({"type": "user", "message": {"role": "user", "content":
                           "This session is being continued from a previous conversation that ran out of "
                           "context. The summary below covers the earlier portion of the conversation.\n\n"
                           + summary_text},
                           "isVisibleInTranscriptOnly": True, "isCompactSummary": True, "uuid": uuid,
                           "timestamp": iso(self.now)}), chain=uuid)
        t.context_tokens = rng.randint(18_000, 30_000)

    # ---- session flow ------------------------------------------------------------------------

    def prelude(self, t: Transcript) -> None:
        rng, text = self.rng, self.text
        if self.legacy or (self.pre_fix and rng.random() < 0.2):
            for _ in range(rng.randint(1, 3)):
                t.emit({"type": "summary", "summary": text.take(text.prose, rng.randint(20, 80)).strip(),
                        "leafUuid": self.ids.uuid()})
        if not self.legacy:
            self.hook_progress(t, "SessionStart", "startup", self.ids.uuid())
        if self.new_style:
            self.attachment(t, {"type": "skill_listing",
                                "content": text.take(text.prose, text.sized(12_000, 0.3, 4000, 30_000))})
            self.attachment(t, {"type": "deferred_tools_delta", "addedNames": ["WebFetch", "WebSearch", "NotebookEdit"],
                                "addedLines": ["WebFetch", "WebSearch", "NotebookEdit"], "removedNames": []})
            self.attachment(t, {"type": "date", "date": day_of(self.now)})

    def turn(self, t: Transcript) -> None:
        rng, text = self.rng, self.text
        if rng.random() < 0.15:
            self.queue_operation(t, "enqueue", text.take(text.prose, rng.randint(10, 600)))
            self.queue_operation(t, "dequeue")
        prompt = text.take(text.prose, text.sized(250, 1.2, 3, 40_000))
        prompt_uuid = self.user_prompt(t, prompt)
        if self.first_prompt_uuid is None:
            self.first_prompt_uuid = prompt_uuid
            if not self.legacy:
                self.slug = "-".join(rng.sample(SLUG_WORDS, 3))
                t.rebuild_envelope()
        self.file_history_snapshot(t, prompt_uuid, update=False)
        self.hook_progress(t, "UserPromptSubmit", "prompt", prompt_uuid)
        if self.new_style and rng.random() < 0.4:
            self.attachment(t, {"type": rng.choice(["todo_reminder", "edited_text_file", "nested_memory"]),
                                "content": text.take(text.prose, text.sized(1500, 0.8, 100, 20_000))})
        for _ in range(weighted(rng, [(1, 15), (3, 30), (6, 30), (12, 18), (25, 7)])):
            self.agent_step(t, allow_task=True)
            if t.context_tokens > 165_000:
                self.compact(t)
            if rng.random() < 0.015:
                self.synthetic_error(t)
        blocks = [self.thinking_block()] if self.thinking and rng.random() < 0.3 else []
        self.response(t, blocks + [self.text_block(700)], "end_turn")
        if rng.random() < 0.04:
            self.inline_replay(t)
        if rng.random() < 0.02 and not self.legacy:
            self.side_question(t)
        if self.project["hooks"]:
            self.system(t, "stop_hook_summary", {"hookCount": len(self.project["hooks"]),
                                                 "hookInfos": [{"command": c} for c in self.project["hooks"]],
                                                 "hookErrors": [], "preventedContinuation": False,
                                                 "stopReason": "", "hasOutput": True, "level": "suggestion"})
        self.system(t, "turn_duration", {"durationMs": rng.randint(2_000, 3_000_000), "isMeta": False})
        if self.edited_files and rng.random() < 0.5:
            self.file_history_snapshot(t, self.ids.uuid(), update=True)

    def copy_resumed_prefix(self, t: Transcript) -> None:
        """A resumed session starts with a verbatim copy of the earlier session's lines."""
        kept = self.resume_from.kept_main_lines
        count = int(len(kept) * self.rng.uniform(0.3, 1.0))
        copied_keys = {}
        for raw, record in kept[:count]:
            t.emit_raw(raw, record)
            if record:
                copied_keys[record[0]] = True
        self.traps["resumed_sessions"] += 1
        self.traps["resumed_copied_responses"] += len(copied_keys)

    def run(self) -> None:
        t = self.main
        if self.resume_from is not None:
            self.copy_resumed_prefix(t)
        self.prelude(t)
        while True:
            self.turn(t)
            if self.bytes_so_far >= self.byte_budget:
                break
            self.advance(10_000, 3_600_000 if self.rng.random() < 0.8 else 20_000_000)
            if self.rng.random() < 0.08:
                self.model = t.model = weighted(self.rng, MAIN_MODELS_POST_FIX if self.new_style
                                                else (LEGACY_MODELS if self.legacy else MAIN_MODELS_PRE_FIX))
        if self.new_style and self.rng.random() < 0.3:
            t.emit({"type": "last-prompt", "lastPrompt": self.text.take(self.text.prose, 60),
                    "sessionId": self.session_id})
        self.kept_main_lines = self.corpus.finish_transcript(t, allow_damage=True)


def weighted(rng: random.Random, choices: list[tuple]):
    values = [c[0] for c in choices]
    weights = [c[1] for c in choices]
    return rng.choices(values, weights)[0]


class Corpus:
    """Drives sessions until the byte target is reached, writes files and collects the truth."""

    def __init__(self, out_dir: Path, target_bytes: int, seed: int, density: float = 1.0):
        self.out_dir = out_dir
        self.density = density
        self.projects_dir = out_dir / "projects"
        self.target_bytes = target_bytes
        self.seed = seed
        self.rng = random.Random(seed)
        self.ids = Ids(self.rng)
        self.text = TextSource(self.rng, density)
        self.ledger = Ledger()
        self.traps: Counter = Counter()
        self.files = 0
        self.main_files = 0
        self.lines = 0
        self.bytes = 0
        self.malformed = 0
        self.projects = self.make_projects()

    def make_projects(self) -> list[dict]:
        rng, text = self.rng, self.text
        hook_commands = ["/home/me/.claude/hooks/tmux-waiting.sh mark", "cd ${CLAUDE_PLUGIN_ROOT}/hooks && bun run ./dist/on-stop.js",
                         "${CLAUDE_PLUGIN_ROOT}/hooks/format.sh", "/home/me/.claude/hooks/notify.py"]
        projects = []
        for cwd in PROJECT_CWDS:
            files = [f"{rng.choice(['src', 'lib', 'tests', 'app', 'crates/core/src'])}/{text.ident()}."
                     f"{rng.choice(['py', 'rs', 'ts', 'ex', 'go', 'md'])}" for _ in range(rng.randint(20, 120))]
            projects.append({"cwd": cwd, "folder": encode_cwd(cwd), "files": files,
                             "branches": rng.choice([["main"], ["main", "feature/" + text.ident()], [""], ["HEAD", "main"]]),
                             "hooks": hook_commands[: round(weighted(rng, [(0, 15), (1, 15), (2, 25), (3, 25), (4, 20)])
                                                          / self.density)],
                             "weight": rng.lognormvariate(0, 1.0)})
            if any(c in cwd for c in "._"):
                self.traps["cwds_with_dots_or_underscores"] += 1
        folders = Counter(p["folder"] for p in projects)
        self.traps["project_folders_shared_by_two_cwds"] = sum(1 for n in folders.values() if n > 1)
        return projects

    def finish_transcript(self, t: Transcript, allow_damage: bool) -> list[tuple[bytes, tuple | None]]:
        """Optionally damage the file like a crash would, record the truth of intact lines, write it.

        Returns the intact (line, record) pairs so a later resumed session can copy them.
        """
        rng = self.rng
        lines, records = t.lines, t.records
        damaged: set[int] = set()
        ends_with_newline = True
        if allow_damage and len(lines) > 4:
            roll = rng.random()
            if roll < 0.08:
                # Crash while writing the last line: the file ends mid-line, without a newline.
                lines[-1] = self.cut(lines[-1])
                damaged.add(len(lines) - 1)
                ends_with_newline = False
                self.traps["truncated_lines_at_end_of_file"] += 1
            elif roll < 0.14:
                # Crash mid-file, then the session went on: the cut line ends with a newline.
                i = self.pick_damage_target(records, len(lines) - 1)
                lines[i] = self.cut(lines[i])
                damaged.add(i)
                self.traps["truncated_lines_mid_file"] += 1
            elif roll < 0.18:
                # Crash mid-file and the next write was appended to the fragment: one physical line
                # holds the fragment and the next whole line, and neither parses.
                i = self.pick_damage_target(records, len(lines) - 2)
                lines[i] = self.cut(lines[i]) + lines[i + 1]
                records[i] = None
                del lines[i + 1]
                del records[i + 1]
                damaged.add(i)
                self.traps["truncated_lines_glued_to_next_line"] += 1
            if rng.random() < 0.1:
                garbage = rng.choice([b"\x00" * rng.randint(16, 4096), b"\xff\xfe\x00garbage \x1b[2K\xc3",
                                      b"Killed", b"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01\x00"])
                i = rng.randrange(1, len(lines))
                lines.insert(i, garbage)
                records.insert(i, None)
                damaged = {d + 1 if d >= i else d for d in damaged}
                damaged.add(i)
                self.traps["garbage_lines"] += 1
        intact = []
        for i, (raw, record) in enumerate(zip(lines, records)):
            if i in damaged:
                continue
            if record is not None:
                self.ledger.add(record)
            intact.append((raw, record))
        data = b"\n".join(lines) + (b"\n" if ends_with_newline else b"")
        t.path.parent.mkdir(parents=True, exist_ok=True)
        with open(t.path, "wb") as f:
            f.write(data)
        self.files += 1
        self.lines += len(lines)
        self.bytes += len(data)
        self.malformed += len(damaged)
        return intact

    def pick_damage_target(self, records: list, upper: int) -> int:
        # Prefer assistant lines so a reader that salvages usage from broken lines is caught.
        rng = self.rng
        for _ in range(20):
            i = rng.randint(1, upper)
            if records[i] is not None or rng.random() < 0.3:
                return i
        return rng.randint(1, upper)

    def cut(self, raw: bytes) -> bytes:
        # Cut somewhere in the line; a strict prefix of a JSON object never parses. Cutting inside
        # a multi-byte UTF-8 sequence is realistic too (the writer was killed mid-character).
        rng = self.rng
        position = rng.randint(len(raw) // 2, len(raw) - 2) if rng.random() < 0.6 else rng.randint(8, len(raw) - 2)
        return raw[:position]

    def random_start(self) -> int:
        rng = self.rng
        while True:
            day = rng.randrange(CORPUS_DAYS)
            weekday = (dt.date(2026, 2, 1) + dt.timedelta(days=day)).weekday()
            if weekday < 5 or rng.random() < 0.35:
                break
        hour = weighted(rng, [(h, 3 if 9 <= h <= 18 else 1) for h in range(24)])
        return CORPUS_START_MS + day * DAY_MS + hour * 3_600_000 + rng.randrange(3_600_000)

    def run(self) -> dict:
        rng = self.rng
        if self.projects_dir.exists():
            shutil.rmtree(self.projects_dir)
        previous: Session | None = None
        weights = [p["weight"] for p in self.projects]
        while self.bytes < self.target_bytes:
            remaining = self.target_bytes - self.bytes
            # Most sessions are a few MB, a few are huge; no single one may dominate a small corpus.
            largest = max(400_000, min(60 * 1024**2, self.target_bytes // 12))
            budget = int(min(largest, max(40_000, rng.lognormvariate(0, 1.1) * 1_500_000)))
            budget = min(budget, remaining)
            resume = (previous is not None and rng.random() < 0.12
                      and previous.now < CORPUS_START_MS + (CORPUS_DAYS - 1) * DAY_MS)
            if resume:
                project, start = previous.project, previous.now + rng.randint(60_000, 20 * 3_600_000)
            else:
                project, start = rng.choices(self.projects, weights)[0], self.random_start()
            session = Session(self, project, start, budget, previous if resume else None)
            session.run()
            self.main_files += 1
            previous = session
        return self.truth()

    def truth(self) -> dict:
        events = self.ledger.events()
        overall = {"events": len(events), "input_tokens": 0, "output_tokens": 0,
                   "cache_read_tokens": 0, "cache_write_tokens": 0}
        by_day_model: dict[tuple, list] = {}
        by_session: dict[str, list] = {}
        by_cwd: dict[str, list] = {}
        cost_micro, cost_events = 0, 0
        for _, _, _, inp, out, cache_read, cache_write, cost, day, model, session_id, cwd in events:
            overall["input_tokens"] += inp
            overall["output_tokens"] += out
            overall["cache_read_tokens"] += cache_read
            overall["cache_write_tokens"] += cache_write
            if cost:
                cost_micro += cost
                cost_events += 1
            for table, key in ((by_day_model, (day, model)), (by_session, session_id), (by_cwd, cwd)):
                row = table.setdefault(key, [0, 0, 0, 0, 0])
                row[0] += 1
                row[1] += inp
                row[2] += out
                row[3] += cache_read
                row[4] += cache_write

        def row_dict(values):
            return dict(zip(("requests", "input", "output", "cache_read", "cache_write"), values))

        return {
            "generator": {"script": "bench/generate.py", "version": GENERATOR_VERSION, "seed": self.seed,
                          "target_bytes": self.target_bytes, "density": self.density},
            "rules": TRUTH_RULES,
            "counts": {"files": self.files, "session_files": self.main_files,
                       "subagent_files": self.files - self.main_files, "lines": self.lines,
                       "bytes": self.bytes, "malformed_lines": self.malformed,
                       "projects": len(self.projects),
                       "project_folders": len({p["folder"]: 1 for p in self.projects}),
                       "sessions": len(by_session)},
            "overall": overall,
            "reported_cost_usd": {"events_with_costUSD": cost_events, "total": cost_micro / 1_000_000},
            "traps": dict(sorted(self.traps.items())),
            "by_day_model": [{"day": day, "model_raw": model, **row_dict(v)}
                             for (day, model), v in sorted(by_day_model.items())],
            "by_session": [{"session_id": s, **row_dict(v)} for s, v in sorted(by_session.items())],
            "by_cwd": [{"cwd": c, **row_dict(v)} for c, v in sorted(by_cwd.items())],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (projects/ and truth.json)")
    parser.add_argument("--size", default="50MB", type=parse_size, help="approximate corpus size, e.g. 50MB, 1GB")
    parser.add_argument("--seed", default=1, type=int)
    parser.add_argument("--density", default=1.0, type=float,
                        help="divide text lengths and hook lines by this: 1 is calibrated on real transcripts (~57k responses "
                             "per GB), 2.5 gives usage-dense histories (>100k responses per GB)")
    args = parser.parse_args(argv)
    if args.density <= 0:
        parser.error("--density must be positive")
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    truth = Corpus(args.out, args.size, args.seed, args.density).run()
    (args.out / "truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
    elapsed = time.perf_counter() - started
    counts = truth["counts"]
    print(f"wrote {counts['bytes'] / 1024**2:.1f} MiB in {counts['files']} files, {counts['lines']} lines, "
          f"{truth['overall']['events']} events in {elapsed:.1f} s "
          f"({counts['bytes'] / 1024**2 / elapsed:.0f} MiB/s) -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
