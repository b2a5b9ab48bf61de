"""Prices: genai-prices unit prices in `model_prices`, costs computed in SQL.

Expected costs are worked out by hand from the providers' published USD-per-million
prices written below, or taken from what Claude Code itself reported in the captures
(tests/data/captures/README.md, section 3).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from usagecore import prices
from usagecore.migrations import migrate

NOW = "2026-11-01 12:00:00+00"
MESSAGES = "e.event_type = 'message'"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "usage.duckdb"


@pytest.fixture
def con(db_path: Path):
    connection = duckdb.connect(str(db_path))
    connection.execute("SET TimeZone = 'UTC'")
    migrate(connection)
    yield connection
    connection.close()


def add_event(
    con: duckdb.DuckDBPyConnection,
    event_id: str,
    model_raw: str | None,
    *,
    provider_id: str | None = None,
    input: int = 0,
    output: int = 0,
    cache_read: int = 0,
    cache_write: int = 0,
    cache_write_1h: int = 0,
    at: str = NOW,
    event_type: str = "message",
    cost_usd: float | None = None,
    cost_source: str = "unknown",
) -> None:
    con.execute(
        "INSERT INTO usage_events (event_id, occurred_at, event_type, provider_id, model_raw,"
        " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
        " cache_write_1h_tokens, cost_usd, cost_source, source_system, source_channel)"
        " VALUES (?, CAST(? AS TIMESTAMPTZ), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'test', 'test')",
        [
            event_id,
            at,
            event_type,
            provider_id,
            model_raw,
            input,
            output,
            cache_read,
            cache_write,
            cache_write_1h,
            cost_usd,
            cost_source,
        ],
    )


def cost_of(con: duckdb.DuckDBPyConnection, event_id: str) -> tuple[float | None, str]:
    row = con.execute(
        "SELECT cost_usd, cost_source FROM usage_events WHERE event_id = ?", [event_id]
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def exact(expected: float):
    return pytest.approx(expected, rel=1e-12, abs=0)


# --- published prices ------------------------------------------------------------------

# USD per million tokens: input, output, cache read, cache write 5m, cache write 1h.
PUBLISHED = {
    # Claude Code 2.1.197 reported these (captures README, section 3).
    "claude-opus-4-8": ("5", "25", "0.5", "6.25", "10"),
    "claude-haiku-4-5-20251001": ("1", "5", "0.1", "1.25", "2"),
    # Claude Code 2.1.330 reported these (same section; haiku 5.5 below its tier).
    "claude-opus-5-5": ("4", "20", "0.2", "5", "8"),
    "claude-haiku-5-5": ("0.1", "0.5", "0.01", "0.125", "0.2"),
    "claude-sonnet-4-5-20250929": ("3", "15", "0.3", "3.75", "6"),
    # OpenAI has no cache-write price: writes are billed as input.
    "gpt-5": ("1.25", "10", "0.125", "1.25", "1.25"),
    "gpt-5-codex": ("1.25", "10", "0.125", "1.25", "1.25"),
}
KINDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")


@pytest.mark.parametrize("model_raw", sorted(PUBLISHED))
def test_unit_prices_are_the_published_prices(model_raw: str) -> None:
    up = prices.unit_prices(model_raw, at=datetime(2026, 11, 1, tzinfo=UTC))
    assert up is not None
    assert {k: up.effective(k) for k in KINDS} == {
        k: Decimal(v) for k, v in zip(KINDS, PUBLISHED[model_raw], strict=True)
    }


def test_unit_prices_record_what_matched() -> None:
    up = prices.unit_prices("claude-sonnet-4-5-20250929", "anthropic")
    assert up is not None
    assert (up.genai_provider_id, up.genai_model_id) == ("anthropic", "claude-sonnet-4-5")
    assert (up.model_raw, up.provider_id) == ("claude-sonnet-4-5-20250929", "anthropic")
    assert up.genai_prices_version == prices.genai_prices_version()
    codex = prices.unit_prices("gpt-5-codex", "openai")
    assert codex is not None and codex.genai_model_id == "gpt-5"


# --- the capture oracles ---------------------------------------------------------------


def _capture_requests(con, model_raw: str, requests: list[int], run: str) -> None:
    # The mock's usage of request n (README section 3): all cache writes are 5-minute.
    for n in requests:
        add_event(
            con,
            f"{run}-{n}",
            model_raw,
            provider_id="anthropic",
            input=1000 * n + 11,
            cache_write=1000 * n + 22,
            cache_read=1000 * n + 33,
            output=10 * n + 7,
        )


@pytest.mark.parametrize(
    ("run", "main_model", "main_cost", "sub_model", "sub_cost", "total"),
    [
        (
            "v2.1.197",
            "claude-opus-4-8", 0.145536,
            "claude-haiku-4-5-20251001", 0.0217536,
            0.1672896,
        ),
        (
            "rich-2.1.330",
            "claude-opus-5-5", 0.1140024,
            "claude-haiku-5-5", 0.00217536,
            0.11617776,
        ),
    ],
)
def test_costs_match_what_claude_code_reported(
    con, run, main_model, main_cost, sub_model, sub_cost, total
) -> None:
    _capture_requests(con, main_model, [1, 2, 3, 6], run)
    _capture_requests(con, sub_model, [4, 5], run)

    assert prices.apply_costs(con, MESSAGES) == (6, 0)

    per_model = dict(
        con.execute(
            "SELECT model_raw, sum(cost_usd) FROM usage_events"
            " WHERE cost_source = 'calculated' GROUP BY model_raw"
        ).fetchall()
    )
    assert per_model == {main_model: exact(main_cost), sub_model: exact(sub_cost)}
    assert sum(per_model.values()) == exact(total)


def test_one_hour_cache_writes_use_the_one_hour_price(con) -> None:
    # 600 five-minute writes at 6.25 and 400 one-hour writes at 10 (2x input).
    add_event(con, "w", "claude-opus-4-8", cache_write=1000, cache_write_1h=400)
    prices.apply_costs(con, MESSAGES)
    assert cost_of(con, "w") == (exact((600 * 6.25 + 400 * 10) / 1e6), "calculated")


def test_one_hour_writes_without_a_one_hour_price_cost_as_cache_writes(con) -> None:
    # genai-prices has OpenRouter's 5-minute write price for Opus 4.8 (6.25) but no 1-hour
    # one; it then bills 1-hour writes as cache writes, and so must we.
    up = prices.unit_prices("anthropic/claude-opus-4.8", "openrouter")
    assert up is not None
    assert (up.cache_write_mtok, up.cache_write_1h_mtok) == (Decimal("6.25"), None)
    add_event(con, "o", "anthropic/claude-opus-4.8", provider_id="openrouter",
              cache_write=1000, cache_write_1h=400)
    # gpt-5 has neither price: genai-prices bills all writes as input (1.25).
    add_event(con, "g", "gpt-5", provider_id="openai", cache_write=1000, cache_write_1h=400)
    prices.apply_costs(con, MESSAGES)
    assert cost_of(con, "o") == (exact(1000 * 6.25 / 1e6), "calculated")
    assert cost_of(con, "g") == (exact(1000 * 1.25 / 1e6), "calculated")


# --- long-context tiers ----------------------------------------------------------------


def test_tier_applies_to_the_whole_request_once_the_prompt_exceeds_the_threshold(con) -> None:
    # Claude Haiku 5.5: 0.1 / 0.5 / 0.01 / 0.125, and 5x that above 100,000 prompt tokens.
    # The prompt is input + cache read + cache write: exactly 100,000 is not above it.
    rest = dict(cache_read=50_000, cache_write=10_000, output=1_000)
    add_event(con, "at", "claude-haiku-5-5", input=40_000, **rest)
    add_event(con, "over", "claude-haiku-5-5", input=40_001, **rest)
    prices.apply_costs(con, MESSAGES)
    base = 40_000 * 0.1 + 50_000 * 0.01 + 10_000 * 0.125 + 1_000 * 0.5
    tier = 40_001 * 0.5 + 50_000 * 0.05 + 10_000 * 0.625 + 1_000 * 2.5
    assert cost_of(con, "at") == (exact(base / 1e6), "calculated")
    assert cost_of(con, "over") == (exact(tier / 1e6), "calculated")


def test_sonnet_4_5_long_context_tier_with_one_hour_writes(con) -> None:
    # 3 / 15 / 0.3 / 3.75 / 6 (1h), doubled (output 1.5x) above 200,000 prompt tokens.
    usage = dict(input=5_000, cache_write=10_000, cache_write_1h=4_000, output=2_000)
    add_event(con, "under", "claude-sonnet-4-5-20250929", cache_read=185_000, **usage)
    add_event(con, "over", "claude-sonnet-4-5-20250929", cache_read=190_000, **usage)
    prices.apply_costs(con, MESSAGES)
    under = 5_000 * 3 + 185_000 * 0.3 + 6_000 * 3.75 + 4_000 * 6 + 2_000 * 15
    over = 5_000 * 6 + 190_000 * 0.6 + 6_000 * 7.5 + 4_000 * 12 + 2_000 * 22.5
    assert cost_of(con, "under")[0] == exact(under / 1e6)
    assert cost_of(con, "over")[0] == exact(over / 1e6)


def test_openai_long_context_tier(con) -> None:
    # GPT-5.4: 2.5 / 15 / 0.25, and 5 / 22.5 / 0.5 for prompts over 272,000 tokens.
    up = prices.unit_prices("gpt-5.4", "openai")
    assert up is not None and up.tier_threshold == 272_000
    add_event(con, "big", "gpt-5.4", provider_id="openai",
              input=22_001, cache_read=250_000, output=1_000)
    prices.apply_costs(con, MESSAGES)
    assert cost_of(con, "big")[0] == exact((22_001 * 5 + 250_000 * 0.5 + 1_000 * 22.5) / 1e6)


# --- prices that depend on when the request was made -----------------------------------


def test_prices_are_taken_at_the_request_time(con) -> None:
    # Claude Opus 4.6 had long-context prices (10 / 37.5 above 200k) until 2026-03-12 and
    # flat 5 / 25 prices from 2026-03-13 on, by UTC date.
    usage = dict(input=250_000, output=1_000)
    add_event(con, "before", "claude-opus-4-6", at="2026-03-12 23:59:59+00", **usage)
    add_event(con, "after", "claude-opus-4-6", at="2026-03-13 00:00:00+00", **usage)
    add_event(con, "after-local", "claude-opus-4-6", at="2026-03-12 20:00:00-05", **usage)
    prices.apply_costs(con, MESSAGES)
    assert cost_of(con, "before")[0] == exact((250_000 * 10 + 1_000 * 37.5) / 1e6)
    assert cost_of(con, "after")[0] == exact((250_000 * 5 + 1_000 * 25) / 1e6)
    assert cost_of(con, "after-local")[0] == exact((250_000 * 5 + 1_000 * 25) / 1e6)
    history = prices.price_history("claude-opus-4-6")
    assert [(p.valid_from, p.valid_to, p.tier_threshold) for p in history] == [
        (None, datetime(2026, 3, 13).date(), 200_000),
        (datetime(2026, 3, 13).date(), None, None),
    ]


def test_time_of_day_prices(con) -> None:
    # DeepSeek Chat: 0.27 / 1.1 / 0.07 from 00:30 to 16:30 UTC, half that otherwise.
    usage = dict(input=100_000, cache_read=1_000_000, output=10_000)
    add_event(con, "peak", "deepseek-chat", at="2026-11-01 16:29:59+00", **usage)
    add_event(con, "off", "deepseek-chat", at="2026-11-01 16:30:00+00", **usage)
    prices.apply_costs(con, MESSAGES)
    peak = 100_000 * 0.27 + 1_000_000 * 0.07 + 10_000 * 1.1
    assert cost_of(con, "peak")[0] == exact(peak / 1e6)
    assert cost_of(con, "off")[0] == exact(peak / 2 / 1e6)


# --- agreement with genai-prices' own calculation --------------------------------------

CROSS_CHECK_MODELS = [
    ("anthropic", "claude-opus-4-8"),
    ("anthropic", "claude-haiku-4-5-20251001"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-haiku-5-5"),
    ("anthropic", "claude-opus-4-6"),
    ("openai", "gpt-5"),
    ("openai", "gpt-5.4"),
    ("deepseek", "deepseek-chat"),
    ("aws", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("openrouter", "anthropic/claude-opus-4.8"),
]
CROSS_CHECK_USAGES = [
    dict(input=1_000, cache_read=2_000, cache_write=3_000, cache_write_1h=1_000, output=500),
    # crosses every threshold above: 100k, 200k and 272k
    dict(input=150_000, cache_read=60_000, cache_write=70_000, cache_write_1h=20_000, output=5_000),
]
CROSS_CHECK_TIMES = ["2026-02-01 10:00:00+00", "2026-11-01 20:00:00+00"]


def test_sql_costs_equal_genai_prices_calc_price(con) -> None:
    import genai_prices

    expected = {}
    for (provider_id, model_raw) in CROSS_CHECK_MODELS:
        for u, usage in enumerate(CROSS_CHECK_USAGES):
            for t, at in enumerate(CROSS_CHECK_TIMES):
                event_id = f"{model_raw}|{u}|{t}"
                add_event(con, event_id, model_raw, provider_id=provider_id, at=at, **usage)
                # genai-prices counts cached tokens inside input_tokens.
                theirs = genai_prices.Usage(
                    input_tokens=usage["input"] + usage["cache_read"] + usage["cache_write"],
                    cache_read_tokens=usage["cache_read"],
                    cache_write_tokens=usage["cache_write"],
                    cache_write_1h_tokens=usage["cache_write_1h"],
                    output_tokens=usage["output"],
                )
                calc = genai_prices.calc_price(
                    theirs,
                    model_raw,
                    provider_id=provider_id,
                    genai_request_timestamp=datetime.fromisoformat(at),
                )
                expected[event_id] = exact(float(calc.total_price))

    assert prices.apply_costs(con, MESSAGES) == (len(expected), 0)
    got = dict(con.execute("SELECT event_id, cost_usd FROM usage_events").fetchall())
    assert got == expected


def test_bulk_insert_lookup_prices_exactly_like_the_join(con) -> None:
    # Backfills price new events through prices.price_lookup_sql (a CASE over
    # the price rows) instead of the join apply_costs uses; both must agree on
    # every model, tier, date boundary and time-of-day window, and on unknowns.
    events = [
        ("before", "anthropic", "claude-opus-4-6", "2026-03-12 23:59:59+00", dict(input=250_000, output=1_000)),
        ("after", "anthropic", "claude-opus-4-6", "2026-03-13 00:00:00+00", dict(input=250_000, output=1_000)),
        ("peak", "deepseek", "deepseek-chat", "2026-11-01 16:29:59+00", dict(input=100_000, output=10)),
        ("off", "deepseek", "deepseek-chat", "2026-11-01 16:30:00+00", dict(input=100_000, output=10)),
        ("unknown", None, "no-such-model", NOW, dict(input=5)),
    ]
    for (provider_id, model_raw) in CROSS_CHECK_MODELS:
        for u, usage in enumerate(CROSS_CHECK_USAGES):
            for t, at in enumerate(CROSS_CHECK_TIMES):
                events.append((f"{model_raw}|{u}|{t}", provider_id, model_raw, at, usage))
    for event_id, provider_id, model_raw, at, usage in events:
        add_event(con, event_id, model_raw, provider_id=provider_id, at=at, **usage)
    prices.apply_costs(con, MESSAGES)
    joined = dict(con.execute("SELECT event_id, cost_usd FROM usage_events").fetchall())

    lookup, params = prices.price_lookup_sql(con, "timezone('UTC', e.occurred_at)")
    looked_up = dict(con.execute(
        f"SELECT e.event_id, {prices.COST_SQL} FROM"
        f" (SELECT e.*, {lookup} AS p FROM usage_events AS e) AS e",
        params,
    ).fetchall())
    assert looked_up == joined
    assert joined["unknown"] is None and joined["peak"] == 2 * joined["off"]

    # Told the pairs it will price, the lookup leaves the other rows out: the
    # events of those pairs cost the same, the others find no price.
    some = {("anthropic", "claude-opus-4-6"), ("deepseek", "deepseek-chat")}
    lookup, params = prices.price_lookup_sql(con, "timezone('UTC', e.occurred_at)", some)
    restricted = dict(con.execute(
        f"SELECT e.event_id, {prices.COST_SQL} FROM"
        f" (SELECT e.*, {lookup} AS p FROM usage_events AS e) AS e",
        params,
    ).fetchall())
    pair_of = {event_id: (provider_id, model_raw) for event_id, provider_id, model_raw
               in con.execute("SELECT event_id, provider_id, model_raw FROM usage_events").fetchall()}
    assert restricted == {e: joined[e] if pair_of[e] in some else None for e in joined}
    assert {e for e, cost in restricted.items() if cost is not None} >= {"before", "after", "peak", "off"}


def test_unit_prices_cost_mirrors_the_sql(con) -> None:
    usage = CROSS_CHECK_USAGES[1]
    add_event(con, "x", "claude-haiku-5-5", **usage)
    prices.apply_costs(con, MESSAGES)
    up = prices.unit_prices("claude-haiku-5-5")
    assert up is not None
    python_cost = up.cost(
        input_tokens=usage["input"],
        output_tokens=usage["output"],
        cache_read_tokens=usage["cache_read"],
        cache_write_tokens=usage["cache_write"],
        cache_write_1h_tokens=usage["cache_write_1h"],
    )
    assert cost_of(con, "x")[0] == exact(float(python_cost))


# --- raw model ids as agents write them ------------------------------------------------

VARIANTS = [
    # (provider_id, model_raw) pairs that must price like the first of their group
    [("anthropic", "claude-opus-4-8"), (None, "claude-opus-4-8"),
     ("anthropic", "claude-opus-4-8[1m]"), (None, "anthropic/claude-opus-4-8"),
     (None, "Claude-Opus-4-8")],
    [(None, "claude-opus-5-5"), (None, "claude-opus-5-5[1m]"), (None, "claude-opus-5-5@20260301")],
    [("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-sonnet-4-5-20250929"),
     (None, "claude-sonnet-4-5@20250929")],
    [("openai", "gpt-5"), (None, "openai/gpt-5"), ("openai", "gpt-5-2025-08-07"),
     ("openai", "gpt-5-codex")],
]


def _price_tuple(up) -> tuple:
    return tuple(up.effective(k) for k in KINDS) + tuple(
        up.effective(k, above_tier=True) for k in KINDS
    ) + (up.tier_threshold,)


@pytest.mark.parametrize("group", VARIANTS, ids=lambda g: g[0][1])
def test_raw_id_variants_resolve_to_the_same_price(con, group) -> None:
    reference = prices.unit_prices(group[0][1], group[0][0])
    assert reference is not None
    for provider_id, model_raw in group:
        up = prices.unit_prices(model_raw, provider_id)
        assert up is not None, (provider_id, model_raw)
        assert _price_tuple(up) == _price_tuple(reference), (provider_id, model_raw)
        add_event(con, f"{provider_id}|{model_raw}", model_raw, provider_id=provider_id,
                  input=1_234, cache_read=5_678, cache_write=910, output=111)
    prices.apply_costs(con, MESSAGES)
    costs = {c for (c,) in con.execute("SELECT cost_usd FROM usage_events").fetchall()}
    assert len(costs) == 1 and None not in costs


def test_cloud_hosted_ids_use_the_cloud_price() -> None:
    # Bedrock's regional endpoints cost 10% more than Anthropic's API (3 -> 3.3 input).
    bedrock = prices.unit_prices("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic")
    assert bedrock is not None and bedrock.genai_provider_id == "aws"
    assert bedrock.effective("input") == Decimal("3.3")
    assert bedrock.effective("output") == Decimal("16.5")
    vertex = prices.unit_prices("claude-opus-5-5@20260301")
    assert vertex is not None
    assert (vertex.genai_provider_id, vertex.genai_model_id) == ("google", "claude-opus-5-5")
    # OpenCode writes `provider/vendor/model`: the leading provider is the one that bills.
    routed = prices.unit_prices("openrouter/anthropic/claude-opus-4.8")
    assert routed is not None
    assert routed.genai_provider_id == "openrouter"
    assert routed.genai_model_id == "anthropic/claude-opus-4.8"


# --- unknown models, reported costs, filters, the table --------------------------------


def test_unknown_model_gets_null_cost_and_is_not_looked_up_again(con) -> None:
    add_event(con, "mock", "mock-small", provider_id="opencode", input=10, output=5)
    add_event(con, "no-model", None, input=10, output=5)
    add_event(con, "stale", "mock-small", provider_id="opencode", input=10,
              cost_usd=0.5, cost_source="calculated")
    assert prices.unit_prices("mock-small", "opencode") is None

    assert prices.apply_costs(con, MESSAGES) == (0, 3)
    for event_id in ("mock", "no-model", "stale"):
        assert cost_of(con, event_id) == (None, "unknown")
    rows = con.execute(
        "SELECT provider_id, model_raw, genai_model_id, input_mtok, genai_prices_version"
        " FROM model_prices"
    ).fetchall()
    assert rows == [("opencode", "mock-small", None, None, prices.genai_prices_version())]
    assert prices.ensure_prices(con, [("opencode", "mock-small")]) == 0


def test_models_with_several_tiers_stay_unpriced(con) -> None:
    # genai-prices 0.2.3 gives this OpenRouter model two long-context tiers; one row of
    # model_prices holds one, so it is left unknown rather than priced wrongly.
    assert prices.unit_prices("qwen/qwen3.7-flash", "openrouter") is None
    add_event(con, "q", "qwen/qwen3.7-flash", provider_id="openrouter", input=10)
    prices.apply_costs(con, MESSAGES)
    assert cost_of(con, "q") == (None, "unknown")
    assert con.execute("SELECT genai_model_id, input_mtok FROM model_prices").fetchall() == [
        ("qwen/qwen3.7-flash", None)
    ]


def test_reported_costs_are_left_alone(con) -> None:
    add_event(con, "r", "claude-opus-4-8", input=1_000_000, cost_usd=0.125, cost_source="reported")
    add_event(con, "r-unknown", "mock-small", input=10, cost_usd=0.25, cost_source="reported")
    add_event(con, "c", "claude-opus-4-8", input=1_000_000)
    assert prices.apply_costs(con, MESSAGES) == (1, 0)
    assert cost_of(con, "r") == (0.125, "reported")
    assert cost_of(con, "r-unknown") == (0.25, "reported")
    assert cost_of(con, "c") == (exact(5.0), "calculated")


def test_only_rows_matching_the_filter_are_priced(con) -> None:
    add_event(con, "m", "claude-opus-4-8", input=1_000_000)
    add_event(con, "tool", "claude-opus-4-8", input=1_000_000, event_type="tool_call")
    prices.apply_costs(con, MESSAGES)
    assert cost_of(con, "m") == (exact(5.0), "calculated")
    assert cost_of(con, "tool") == (None, "unknown")


def test_recalculates_after_a_genai_prices_upgrade(con) -> None:
    prices.ensure_prices(con, [("anthropic", "claude-opus-4-8")])
    con.execute("UPDATE model_prices SET input_mtok = 999, genai_prices_version = '0.0.1'")
    add_event(con, "o", "claude-opus-4-8", provider_id="anthropic", input=1_000_000,
              cost_usd=999.0, cost_source="calculated")
    prices.apply_costs(con, MESSAGES)
    assert cost_of(con, "o") == (exact(5.0), "calculated")
    assert con.execute("SELECT input_mtok, genai_prices_version FROM model_prices"
                       " WHERE speed = 'standard'").fetchall() == [
        (5.0, prices.genai_prices_version())
    ]


def test_model_prices_table(con) -> None:
    pairs = [("anthropic", "claude-haiku-5-5"), (None, "gpt-5"), (None, "")]
    assert prices.ensure_prices(con, pairs) == 2
    assert prices.ensure_prices(con, [("anthropic", "claude-haiku-5-5")]) == 0
    rows = con.execute(
        "SELECT provider_id, model_raw, genai_provider_id, genai_model_id, input_mtok, output_mtok,"
        " cache_read_mtok, cache_write_mtok, cache_write_1h_mtok, tier_threshold,"
        " tier_input_mtok, tier_output_mtok, tier_cache_read_mtok, tier_cache_write_mtok,"
        " tier_cache_write_1h_mtok FROM model_prices ORDER BY model_raw"
    ).fetchall()
    assert rows == [
        ("anthropic", "claude-haiku-5-5", "anthropic", "claude-haiku-5-5",
         0.1, 0.5, 0.01, 0.125, 0.2, 100_000, 0.5, 2.5, 0.05, 0.625, 1.0),
        (None, "gpt-5", "openai", "gpt-5",
         1.25, 10.0, 0.125, 1.25, 1.25, None, None, None, None, None, None),
    ]


def test_cost_sql_is_null_without_prices(con) -> None:
    con.execute(
        "INSERT INTO model_prices (provider_id, model_raw, speed, genai_prices_version, resolved_at)"
        " VALUES (NULL, 'm', 'standard', 'x', now())"
    )
    add_event(con, "e", "m", input=10)
    got = con.execute(
        f"SELECT {prices.COST_SQL} FROM usage_events AS e JOIN model_prices AS p"
        f" ON {prices.price_join_condition()}"
    ).fetchall()
    assert got == [(None,)]


# --- display and import cost -----------------------------------------------------------


def test_format_prices() -> None:
    up = prices.unit_prices("claude-haiku-5-5[1m]")
    assert up is not None
    text = prices.format_prices(up)
    assert "claude-haiku-5-5[1m] -> anthropic claude-haiku-5-5" in text
    assert "0.125" in text and "above tier: 0.625" in text
    assert "100,000" in text
    gpt = prices.format_prices(prices.unit_prices("gpt-5"))
    assert "billed as input" in gpt


def test_pricing_known_models_does_not_import_genai_prices(con, db_path: Path) -> None:
    add_event(con, "a", "claude-opus-4-8", input=1_000_000)
    prices.apply_costs(con, MESSAGES)
    con.close()

    script = textwrap.dedent(
        f"""
        import sys
        import duckdb
        from usagecore import prices
        con = duckdb.connect({str(db_path)!r})
        con.execute(
            "INSERT INTO usage_events (event_id, occurred_at, event_type, model_raw, input_tokens,"
            " source_system, source_channel)"
            " VALUES ('b', now(), 'message', 'claude-opus-4-8', 2000000, 'test', 'test')"
        )
        print(prices.apply_costs(con, "e.event_id = 'b'"))
        print(con.execute("SELECT cost_usd FROM usage_events WHERE event_id = 'b'").fetchone()[0])
        print("genai_prices" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["(1,", "0)", "10.0", "False"]
