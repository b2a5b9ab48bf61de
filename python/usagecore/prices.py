"""Model prices: from the offline `genai-prices` data to a USD cost on every usage event.

This module owns the `model_prices` table and the SQL that prices `usage_events` rows.
Python resolves unit prices once per distinct (provider_id, model_raw) pair, via
`genai-prices`, into `model_prices`; one set-based UPDATE then computes the cost of
every matching event. No Python runs per event.

Token vocabulary. genai-prices counts cached tokens inside `input_tokens`; we do not:

    ours                   genai-prices
    input_tokens           input_tokens - cache_read_tokens - cache_write_tokens
    cache_read_tokens      cache_read_tokens
    cache_write_tokens     cache_write_tokens (5-minute and 1-hour writes together)
    cache_write_1h_tokens  cache_write_1h_tokens (a part of cache_write_tokens)
    output_tokens          output_tokens (reasoning included)

How genai-prices 0.2.3 prices a request, and how this module reproduces it:

* Each token kind is billed at its own price. A kind the model has no price for is billed
  as its parent kind: cache reads and cache writes as input, 1-hour cache writes as
  cache writes. `model_prices` stores these *effective* prices, so the SQL needs no
  fallback logic. An output kind without a price costs nothing.
* Long-context tiers are cliffs: when the request's whole prompt (genai-prices'
  `input_tokens`, i.e. our input + cache_read + cache_write) is *strictly greater* than
  the tier start, every token of that request is billed at the tier price.
* A model's prices may depend on when the request was made: from a date on
  (`ConditionalPrice` with a `StartDateConstraint`, compared with the request's UTC date)
  or within a daily UTC window (`TimeOfDateConstraint`, e.g. DeepSeek's peak hours). Each
  stretch of dates, and within it each stretch of the day, with the same prices is one
  `model_prices` row; genai-prices' own `ModelInfo.get_prices` decides which prices
  apply in each.

* Fast mode. Claude Code records `usage.speed = "fast"` on responses served in fast mode
  (kept as `usage_events.speed`); Anthropic bills them at other rates, caching and
  long-context multipliers applying on top. Where genai-prices has a `speed: fast` price
  variant for the model, those prices are used (`price_source = 'genai-prices'`).
  Otherwise the multiplier Anthropic publishes for that model, in FAST_MODE_MULTIPLIERS
  (`price_source = 'anthropic fast-mode multiplier'`). A fast response of a model with
  neither stays unpriced. `model_prices` has a row set per speed.

Deliberately not modelled: request variants that need context we do not record (batch
processing, service tiers), per-search and non-text prices, and models with more than one
long-context tier (in 0.2.3 only two OpenRouter Qwen entries); those models stay unpriced
rather than being priced wrongly.

`genai_prices` takes ~0.2-0.3 s to import, so it is imported only inside the functions
that resolve prices; reading `model_prices` and pricing events never imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

__all__ = (
    "COST_SQL",
    "FAST_MODE_MULTIPLIERS",
    "SPEEDS",
    "UnitPrices",
    "apply_costs",
    "ensure_prices",
    "format_prices",
    "genai_prices_version",
    "price_history",
    "price_join_condition",
    "price_lookup_sql",
    "unit_prices",
)

# The speeds `model_prices` has rows for; an event's speed other than 'fast' is standard.
SPEEDS = ("standard", "fast")

# Fast mode where genai-prices has no `speed: fast` variant: the multiple of the standard
# rates (every kind, long-context tier included) Anthropic publishes, by genai-prices
# model id. Anthropic's fast-mode pricing for Claude Opus 4.6 and 4.7: "6x the standard
# rates" ($30 / $150 per million input / output tokens, $60 / $225 above 200K prompt
# tokens), https://platform.claude.com/docs/en/build-with-claude/fast-mode#pricing.
# Later models (Opus 4.8, Opus 5, ...) have their fast prices in genai-prices itself.
FAST_MODE_MULTIPLIERS: dict[str, Decimal] = {
    "claude-opus-4-6": Decimal(6),
    "claude-opus-4-7": Decimal(6),
}
FAST_MODE_SOURCE = "anthropic fast-mode multiplier"

# The five token kinds we price, in display order, as (kind, genai-prices price key).
_KINDS: tuple[tuple[str, str], ...] = (
    ("input", "input_mtok"),
    ("output", "output_mtok"),
    ("cache_read", "cache_read_mtok"),
    ("cache_write", "cache_write_mtok"),
    ("cache_write_1h", "cache_write_1h_mtok"),
)

# HUGEINT: three BIGINT counts may add up to more than a BIGINT holds (absurd input
# must be priced, not abort the transaction).
_PROMPT_TOKENS_SQL = (
    "(CAST(coalesce(e.input_tokens, 0) AS HUGEINT) + coalesce(e.cache_read_tokens, 0)"
    " + coalesce(e.cache_write_tokens, 0))"
)


def _token_cost_sql(prefix: str) -> str:
    # 1-hour writes are a part of cache_write_tokens: the rest are billed as 5-minute
    # writes. greatest() keeps a malformed row (1h > all writes) from going negative.
    return (
        f"coalesce(e.input_tokens, 0) * p.{prefix}input_mtok"
        f" + coalesce(e.output_tokens, 0) * p.{prefix}output_mtok"
        f" + coalesce(e.cache_read_tokens, 0) * p.{prefix}cache_read_mtok"
        f" + greatest(coalesce(e.cache_write_tokens, 0) - coalesce(e.cache_write_1h_tokens, 0), 0)"
        f" * p.{prefix}cache_write_mtok"
        f" + coalesce(e.cache_write_1h_tokens, 0) * p.{prefix}cache_write_1h_mtok"
    )


# Cost in USD of one event `e` priced by one model_prices row `p`; NULL when `p` has no
# prices. Dividing once, at the end, keeps the result as exact as DOUBLE allows.
COST_SQL = f"""(
    CASE WHEN {_PROMPT_TOKENS_SQL} > p.tier_threshold
        THEN {_token_cost_sql("tier_")}
        ELSE {_token_cost_sql("")}
    END / 1e6
)"""


def _request_ts_sql(request_ts_sql: str | None) -> str:
    now = f"TIMESTAMP '{datetime.now(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"
    return now if request_ts_sql is None else f"coalesce(({request_ts_sql}), {now})"


# A price row's bounds in time: (column, comparison, what of the request's time it bounds).
_WINDOW_BOUNDS = (
    ("valid_from", ">=", "DATE"),
    ("valid_to", "<", "DATE"),
    ("utc_time_from", ">=", "TIME"),
    ("utc_time_to", "<", "TIME"),
)


def _match_sql(ts: str, price: Callable[[str], str], bounds: Iterable[str] | None = None) -> str:
    """Whether a price row applies to event `e` made at `ts`; `price(column)`
    is the SQL for one of the row's columns. `bounds`: the window bounds the
    row has (not NULL), when known; otherwise each is tested for NULL."""
    sql = (
        f"{price('provider_id')} IS NOT DISTINCT FROM e.provider_id"
        f" AND {price('model_raw')} = e.model_raw"
        f" AND {price('speed')} = (CASE WHEN e.speed = 'fast' THEN 'fast' ELSE 'standard' END)"
    )
    for column, comparison, part in _WINDOW_BOUNDS:
        if bounds is None:
            sql += f" AND ({price(column)} IS NULL OR CAST({ts} AS {part}) {comparison} {price(column)})"
        elif column in bounds:
            sql += f" AND CAST({ts} AS {part}) {comparison} {price(column)}"
    return sql


def price_join_condition(request_ts_sql: str | None = None) -> str:
    """SQL condition matching the `model_prices` row `p` that prices event `e`.

    `request_ts_sql` is an SQL expression over `e` giving the request's time as a naive
    UTC TIMESTAMP: `e.ts` for such a column, `timezone('UTC', e.ts)` for a TIMESTAMPTZ.
    Without it, or where it is NULL, the prices in force now apply.
    """
    return _match_sql(_request_ts_sql(request_ts_sql), lambda column: f"p.{column}")


_MATCH_COLUMNS = ("provider_id", "model_raw", "speed", "valid_from", "valid_to", "utc_time_from", "utc_time_to")
_UNIT_PRICE_COLUMNS = tuple(
    [f"{prefix}{key}" for prefix in ("", "tier_") for _, key in _KINDS] + ["tier_threshold"]
)
_COLUMN_TYPES = {
    "provider_id": "VARCHAR",
    "model_raw": "VARCHAR",
    "speed": "VARCHAR",
    "valid_from": "DATE",
    "valid_to": "DATE",
    "utc_time_from": "TIME",
    "utc_time_to": "TIME",
    "tier_threshold": "BIGINT",
}


def price_lookup_sql(
    con: duckdb.DuckDBPyConnection, request_ts_sql: str | None = None,
    pairs: Iterable[tuple[str | None, str | None]] | None = None,
) -> tuple[str, list[Any]]:
    """SQL expression giving, for event `e`, its `model_prices` row as a struct
    (NULL when none applies), with its parameters: what `price_join_condition`
    finds, for use as `p` in COST_SQL. `pairs`: the (provider_id, model_raw)
    of the events it will price, when known (other rows cannot apply).

    A CASE over the few known price rows gives the number of the row that
    applies, in a list of the rows' prices bound as one parameter: for a bulk
    insert this is several times cheaper than a join, which would carry every
    column of every event through a hash table. For a small batch, binding the
    statement is what costs, so it is kept short: each branch tests only the
    window bounds its row has, and the prices are one list, not a struct per
    branch (22 rows: 15 ms of CPU before, 5 ms).
    """
    ts = _request_ts_sql(request_ts_sql)
    columns = _MATCH_COLUMNS + _UNIT_PRICE_COLUMNS
    rows = con.execute(
        f"SELECT {', '.join(columns)} FROM model_prices WHERE input_mtok IS NOT NULL"
    ).fetchall()
    if pairs is not None:
        wanted = set(pairs)
        rows = [row for row in rows if (row[0], row[1]) in wanted]
    if not rows:
        return "NULL", []
    unit_prices = [dict(zip(_UNIT_PRICE_COLUMNS, row[len(_MATCH_COLUMNS):])) for row in rows]
    branches, params = [], [unit_prices]
    for number, row in enumerate(rows, 1):
        value = dict(zip(_MATCH_COLUMNS, row))

        def bound(column: str) -> str:
            params.append(value[column])
            return f"CAST(? AS {_COLUMN_TYPES[column]})"

        condition = _match_sql(ts, bound, bounds=[c for c, _, _ in _WINDOW_BOUNDS if value[c] is not None])
        branches.append(f"WHEN {condition} THEN {number}")
    struct = ", ".join(f"{column} {_COLUMN_TYPES.get(column, 'DOUBLE')}" for column in _UNIT_PRICE_COLUMNS)
    return f"(CAST(? AS STRUCT({struct})[]))[CASE {' '.join(branches)} END]", params


@cache
def genai_prices_version() -> str:
    """Version of the genai-prices data: the snapshot's (price_snapshot.py, made from the
    pinned package; a test checks they agree), else the installed package's."""
    from usagecore import price_snapshot

    version = price_snapshot.version()
    if version is not None:
        return version
    from importlib.metadata import version as installed

    return installed("genai-prices")


@dataclass(frozen=True)
class UnitPrices:
    """One model's prices over one stretch of time, as genai-prices states them.

    Prices are USD per million tokens. A `None` price means genai-prices has none for
    that kind; `effective()` gives what is actually billed.
    """

    model_raw: str
    provider_id: str | None
    genai_provider_id: str
    genai_model_id: str
    model_name: str | None
    input_mtok: Decimal
    output_mtok: Decimal | None
    cache_read_mtok: Decimal | None
    cache_write_mtok: Decimal | None
    cache_write_1h_mtok: Decimal | None
    # Tier prices are set only for kinds whose price is tiered.
    tier_threshold: int | None = None
    tier_input_mtok: Decimal | None = None
    tier_output_mtok: Decimal | None = None
    tier_cache_read_mtok: Decimal | None = None
    tier_cache_write_mtok: Decimal | None = None
    tier_cache_write_1h_mtok: Decimal | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    utc_time_from: time | None = None
    utc_time_to: time | None = None
    genai_prices_version: str = ""
    speed: str = "standard"
    # Where fast-mode prices come from: 'genai-prices' or FAST_MODE_SOURCE.
    price_source: str = "genai-prices"

    def applies_at(self, at: datetime) -> bool:
        """Whether these prices apply to a request made at `at` (naive means UTC)."""
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        day, clock = at.date(), at.time()
        return (
            (self.valid_from is None or day >= self.valid_from)
            and (self.valid_to is None or day < self.valid_to)
            and (self.utc_time_from is None or clock >= self.utc_time_from)
            and (self.utc_time_to is None or clock < self.utc_time_to)
        )

    def effective(self, kind: str, *, above_tier: bool = False) -> Decimal:
        """USD per million tokens of `kind` actually billed, with genai-prices' fallbacks."""
        if above_tier and self.tier_threshold is not None:
            tiered = getattr(self, f"tier_{kind}_mtok")
            if tiered is not None:
                return tiered
        own = getattr(self, f"{kind}_mtok")
        if own is not None:
            return own
        if kind == "output":
            return Decimal(0)
        if kind == "cache_write_1h":
            # genai-prices has no 1-hour write price for this model. It then bills 1-hour
            # writes as plain cache writes, and so do we: no 2x-input price is derived here.
            return self.effective("cache_write", above_tier=above_tier)
        return self.effective("input", above_tier=above_tier)

    def inherited(self, kind: str) -> str | None:
        """The kind whose price `kind` borrows, or None when it has its own."""
        if getattr(self, f"{kind}_mtok") is not None:
            return None
        return {"cache_write_1h": "cache_write", "output": None}.get(kind, "input")

    def cost(
        self,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
    ) -> Decimal:
        """Exact USD cost of one request, in our token vocabulary (mirrors COST_SQL)."""
        above = (
            self.tier_threshold is not None
            and input_tokens + cache_read_tokens + cache_write_tokens > self.tier_threshold
        )
        counts = {
            "input": input_tokens,
            "output": output_tokens,
            "cache_read": cache_read_tokens,
            "cache_write": max(cache_write_tokens - cache_write_1h_tokens, 0),
            "cache_write_1h": cache_write_1h_tokens,
        }
        total = sum(
            (counts[kind] * self.effective(kind, above_tier=above) for kind, _ in _KINDS),
            Decimal(0),
        )
        return total / 1_000_000


# --- resolving a raw model id with genai-prices ---------------------------------------

# Bedrock ids: `anthropic.claude-…-v1:0`, with an optional region `us.`/`global.` prefix.
_BEDROCK_RE = re.compile(r"^(?:[a-z]{2,6}\.)?[a-z][a-z0-9]*\.[a-z]")


def _attempts(
    model_raw: str, provider_id: str | None, *, only_provider: bool = False
) -> Iterator[tuple[str | None, str]]:
    """(provider, model ref) pairs to try with genai-prices, most specific first;
    with `only_provider`, only those naming `provider_id`."""
    from usagecore._core import model_ref

    ref = model_ref(model_raw)
    refs = [ref]  # `openrouter/anthropic/x` -> also `anthropic/x`, `x`
    while "/" in refs[-1]:
        refs.append(refs[-1].split("/", 1)[1])
    seen: set[tuple[str | None, str]] = set()
    candidates: list[tuple[str | None, str]] = []
    if provider_id:
        candidates += [(provider_id, r) for r in refs]
    # A vendor prefix names the provider: `anthropic/claude-…`, `openai/gpt-5`.
    candidates += [(whole.split("/", 1)[0], rest) for whole, rest in zip(refs, refs[1:])]
    # genai-prices infers the provider from the model name (`claude` -> anthropic, …).
    candidates += [(None, r) for r in refs]
    # Cloud-hosted id formats the model's own provider does not match.
    for r in refs:
        if _BEDROCK_RE.match(r):
            candidates.append(("aws", r))
        if "@" in r:  # Vertex AI: `claude-opus-5-5@20260301`
            candidates.append(("google", r))
    if only_provider:
        candidates = [c for c in candidates if c[0] == provider_id]
    for candidate in candidates:
        if candidate[1] and candidate not in seen:
            seen.add(candidate)
            yield candidate


def _match(model_raw: str, provider_id: str | None, only_provider: bool = False) -> tuple[Any, Any] | None:
    """genai-prices (Provider, ModelInfo) for a raw model id, or None."""
    import genai_prices

    for provider, ref in _attempts(model_raw, provider_id, only_provider=only_provider):
        # calc_price is genai-prices' public lookup; with no usage it only matches. It
        # raises LookupError for an unknown provider or model, and ValueError for price
        # data it cannot use, which makes the next attempt no worse than giving up.
        try:
            calc = genai_prices.calc_price(genai_prices.Usage(), ref, provider_id=provider)
        except (LookupError, ValueError):
            continue
        return calc.provider, calc.model
    return None


def _utc_clock(value: time) -> time:
    """A time of day in UTC, naive. genai-prices reads naive times as UTC."""
    if value.tzinfo is None:
        return value
    return datetime.combine(date(2000, 1, 1), value).astimezone(UTC).time()


# (valid_from, valid_to, utc_time_from, utc_time_to, genai-prices ModelPrice)
_Period = tuple[date | None, date | None, time | None, time | None, Any]


def _fast_variants(model: Any) -> list[Any]:
    """genai-prices' `speed: fast` price variants of a model."""
    return [v for v in (getattr(model, "price_variants", None) or ()) if v.when.get("speed") == "fast"]


def _periods(model: Any, speed: str = "standard") -> list[_Period]:
    """Split time into stretches with the same prices; genai-prices picks each's prices.

    Prices can only change where a constraint starts or ends: at a `StartDateConstraint`
    date or a `TimeOfDateConstraint` boundary (of a price, or of the fast-mode variant
    for speed 'fast'). `ModelInfo.get_prices` is evaluated at the start of every
    resulting slice, and neighbouring slices with equal prices are merged.
    """
    from genai_prices import types

    conditions = [] if isinstance(model.prices, types.ModelPrice) else list(model.prices)
    context = None
    if speed == "fast":
        variants = _fast_variants(model)
        conditions += variants
        context = {"speed": "fast"} if variants else None
    dates = sorted(
        {
            c.constraint.start_date
            for c in conditions
            if isinstance(c.constraint, types.StartDateConstraint)
        }
    )
    clocks = sorted(
        {
            _utc_clock(bound)
            for c in conditions
            if isinstance(c.constraint, types.TimeOfDateConstraint)
            for bound in (c.constraint.start_time, c.constraint.end_time)
        }
        - {time(0)}
    )

    def merged(
        bounds: Sequence[Any], price_at: Callable[[Any], Any]
    ) -> list[tuple[Any, Any, Any]]:
        stretches: list[tuple[Any, Any, Any]] = []
        for i, start in enumerate(bounds):
            end = bounds[i + 1] if i + 1 < len(bounds) else None
            price = price_at(start)
            if stretches and stretches[-1][2] == price:
                stretches[-1] = (stretches[-1][0], end, price)
            else:
                stretches.append((start, end, price))
        return stretches

    def day_slices(day: date | None) -> list[tuple[Any, Any, Any]]:
        def price_at(clock: time | None) -> Any:
            at = datetime.combine(day or date.min, clock or time(0), tzinfo=UTC)
            return model.get_prices(at, context) if context else model.get_prices(at)

        return merged([None, *clocks], price_at)

    return [
        (day_from, day_to, clock_from, clock_to, price)
        for day_from, day_to, slices in merged([None, *dates], day_slices)
        for clock_from, clock_to, price in slices
    ]


class _Unrepresentable(Exception):
    """The model's prices cannot be expressed as one `model_prices` row per period."""


def _unit_prices_from(
    model_raw: str,
    provider_id: str | None,
    provider: Any,
    model: Any,
    period: _Period,
    version: str,
    speed: str = "standard",
    multiplier: Decimal | None = None,
) -> UnitPrices:
    """One period's prices; `multiplier` scales every price (fast mode without own prices)."""
    from genai_prices import types

    def scaled(value: Decimal | None) -> Decimal | None:
        return value * multiplier if multiplier is not None and value is not None else value

    base: dict[str, Decimal | None] = {}
    tier: dict[str, Decimal | None] = {}
    threshold: int | None = None
    valid_from, valid_to, utc_time_from, utc_time_to, model_price = period
    for kind, key in _KINDS:
        value = getattr(model_price, key, None)
        if isinstance(value, types.TieredPrices):
            if len(value.tiers) != 1:
                raise _Unrepresentable(f"{len(value.tiers)} tiers on {key}")
            start = value.tiers[0].start
            if threshold is not None and start != threshold:
                raise _Unrepresentable(f"tier thresholds {threshold} and {start}")
            threshold = start
            base[kind], tier[kind] = scaled(value.base), scaled(value.tiers[0].price)
        else:
            base[kind], tier[kind] = scaled(value), None
    if base["input"] is None:
        raise _Unrepresentable("no input token price")
    return UnitPrices(
        model_raw=model_raw,
        provider_id=provider_id,
        genai_provider_id=provider.id,
        genai_model_id=model.id,
        model_name=model.name,
        input_mtok=base["input"],
        output_mtok=base["output"],
        cache_read_mtok=base["cache_read"],
        cache_write_mtok=base["cache_write"],
        cache_write_1h_mtok=base["cache_write_1h"],
        tier_threshold=threshold,
        tier_input_mtok=tier["input"],
        tier_output_mtok=tier["output"],
        tier_cache_read_mtok=tier["cache_read"],
        tier_cache_write_mtok=tier["cache_write"],
        tier_cache_write_1h_mtok=tier["cache_write_1h"],
        valid_from=valid_from,
        valid_to=valid_to,
        utc_time_from=utc_time_from,
        utc_time_to=utc_time_to,
        genai_prices_version=version,
        speed=speed,
        price_source=FAST_MODE_SOURCE if multiplier is not None else "genai-prices",
    )


def _resolve(
    model_raw: str, provider_id: str | None, speed: str = "standard", only_provider: bool = False
) -> tuple[tuple[str, str] | None, tuple[UnitPrices, ...]]:
    """((genai provider id, genai model id) or None, price periods at `speed`; empty when
    unpriced)."""
    matched = _match(model_raw, provider_id, only_provider)
    if matched is None:
        return None, ()
    provider, model = matched
    return (provider.id, model.id), _model_periods(model_raw, provider_id, provider, model, speed)


def _model_periods(
    model_raw: str, provider_id: str | None, provider: Any, model: Any, speed: str
) -> tuple[UnitPrices, ...]:
    """The price periods of a matched genai-prices model at `speed` (empty when unpriced)."""
    version = genai_prices_version()
    multiplier = None
    if speed == "fast" and not _fast_variants(model):
        multiplier = FAST_MODE_MULTIPLIERS.get(model.id)
        if multiplier is None:
            return ()  # no fast mode known for this model
    try:
        return tuple(
            _unit_prices_from(model_raw, provider_id, provider, model, period, version, speed, multiplier)
            for period in _periods(model, speed)
        )
    except _Unrepresentable:
        return ()


def price_history(
    model_raw: str, provider_id: str | None = None, *, speed: str = "standard", only_provider: bool = False
) -> tuple[UnitPrices, ...]:
    """All price periods genai-prices knows for a raw model id at `speed`, oldest first;
    () if none. With `only_provider`, only `provider_id`'s prices count."""
    return _resolve(model_raw, provider_id, speed, only_provider)[1]


def unit_prices(
    model_raw: str, provider_id: str | None = None, *, at: datetime | None = None, speed: str = "standard"
) -> UnitPrices | None:
    """Prices for a request made at `at` (default: now; naive means UTC) to a raw model id
    as an agent wrote it.

    Accepts dated ids (`claude-sonnet-4-5-20250929`), context suffixes
    (`claude-opus-4-8[1m]`), vendor prefixes (`anthropic/…`, `openai/gpt-5`), Bedrock
    (`us.anthropic.claude-…-v1:0`) and Vertex (`claude-…@20250929`) ids. None when
    genai-prices does not know the model or its prices cannot be represented.
    """
    at = at or datetime.now(UTC)
    return next((p for p in price_history(model_raw, provider_id, speed=speed) if p.applies_at(at)), None)


# --- the model_prices table and event costs -------------------------------------------

_PRICE_COLUMNS = (
    "provider_id, model_raw, speed, valid_from, valid_to, utc_time_from, utc_time_to,"
    " genai_provider_id, genai_model_id,"
    " input_mtok, output_mtok, cache_read_mtok, cache_write_mtok, cache_write_1h_mtok,"
    " tier_threshold, tier_input_mtok, tier_output_mtok, tier_cache_read_mtok,"
    " tier_cache_write_mtok, tier_cache_write_1h_mtok, price_source, genai_prices_version, resolved_at"
)


def _period_values(up: UnitPrices) -> tuple[Any, ...]:
    """The `model_prices` values of one period that depend on the model alone: validity,
    effective prices, tier and price source (price_snapshot.py stores these)."""
    tiered = up.tier_threshold is not None
    return (
        up.valid_from,
        up.valid_to,
        up.utc_time_from,
        up.utc_time_to,
        *(float(up.effective(kind)) for kind, _ in _KINDS),
        up.tier_threshold,
        *(float(up.effective(kind, above_tier=True)) if tiered else None for kind, _ in _KINDS),
        up.price_source,
    )


def _genai_resolution(model_raw: str, provider_id: str | None
                      ) -> tuple[tuple[str, str] | None, dict[str, list[tuple[Any, ...]]]]:
    """What genai-prices itself says about a pair: (genai provider id, model id) or None,
    and per speed its periods' `_period_values`."""
    matched, by_speed = None, {}
    for speed in SPEEDS:
        matched, periods = _resolve(model_raw, provider_id, speed)
        by_speed[speed] = [_period_values(up) for up in periods]
    return matched, by_speed


def _rows_for(
    provider_id: str | None, model_raw: str, version: str, resolved_at: datetime
) -> list[tuple[Any, ...]]:
    """model_prices rows of one pair: its periods at each speed; one row with no prices
    when the model is unknown (so it is not looked up again). From the snapshot of
    genai-prices when it can answer (no import of genai-prices), else from genai-prices."""
    from usagecore import price_snapshot

    resolved = price_snapshot.resolve(model_raw, provider_id)
    matched, by_speed = resolved if resolved is not None else _genai_resolution(model_raw, provider_id)
    genai = matched or (None, None)
    rows = []
    for speed in SPEEDS:
        periods = by_speed.get(speed, [])
        if not periods and speed == "standard":
            no_times, no_prices = (None,) * 4, (None,) * 11
            rows.append((provider_id, model_raw, speed, *no_times, *genai, *no_prices, None, version, resolved_at))
        for values in periods:
            validity, rest = values[:4], values[4:]
            rows.append((provider_id, model_raw, speed, *validity, *genai, *rest, version, resolved_at))
    return rows


def ensure_prices(
    con: duckdb.DuckDBPyConnection, pairs: Iterable[tuple[str | None, str | None]]
) -> int:
    """Resolve and store prices for (provider_id, model_raw) pairs not yet in `model_prices`
    with the installed genai-prices version. Unknown models get a row with NULL prices, so
    they are not looked up again until genai-prices changes. Returns the pairs resolved.
    """
    version = genai_prices_version()
    stored = con.execute(
        "SELECT DISTINCT provider_id, model_raw, genai_prices_version = ? FROM model_prices", [version]
    ).fetchall()
    known = {(p, m) for p, m, current in stored if current}
    wanted = {(p, m) for p, m in pairs if m}
    missing = sorted(wanted - known, key=lambda pair: (pair[0] or "", pair[1]))
    if not missing:
        return 0
    resolved_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [row for p, m in missing for row in _rows_for(p, m, version, resolved_at)]
    # One statement each, not one per row: DuckDB runs each statement of an
    # executemany on its own, which costs more than the rows themselves.
    stale = {(p, m) for p, m, current in stored if not current}
    outdated = [pair for pair in missing if pair in stale]
    if outdated:  # rows of another genai-prices version
        pair_values = ", ".join(["(CAST(? AS VARCHAR), CAST(? AS VARCHAR))"] * len(outdated))
        con.execute(
            f"DELETE FROM model_prices AS p USING (VALUES {pair_values}) AS t(provider_id, model_raw)"
            " WHERE p.provider_id IS NOT DISTINCT FROM t.provider_id AND p.model_raw = t.model_raw",
            [value for pair in outdated for value in pair],
        )
    # A list per column binds in half the time of a parameter per value.
    columns = [column.strip() for column in _PRICE_COLUMNS.split(",")]
    unnested = ", ".join(f"unnest(CAST(? AS {_STORED_TYPES.get(column, 'DOUBLE')}[]))" for column in columns)
    con.execute(f"INSERT INTO model_prices ({_PRICE_COLUMNS}) SELECT {unnested}",
                [list(values) for values in zip(*rows)])
    return len(missing)


# model_prices' column types (the others are DOUBLE).
_STORED_TYPES = {
    **_COLUMN_TYPES,
    "genai_provider_id": "VARCHAR",
    "genai_model_id": "VARCHAR",
    "price_source": "VARCHAR",
    "genai_prices_version": "VARCHAR",
    "resolved_at": "TIMESTAMP",
}


def apply_costs(
    con: duckdb.DuckDBPyConnection,
    events_filter_sql: str,
    *,
    request_ts_sql: str | None = "timezone('UTC', e.occurred_at)",
) -> tuple[int, int]:
    """Price the `usage_events` rows (aliased `e`) matching `events_filter_sql`.

    Rows whose cost_source is 'reported' are left alone. The others get cost_source
    'calculated' and cost_usd from `model_prices`, or 'unknown' and NULL when no price is
    known. Prices for pairs not yet in `model_prices` are resolved first (genai-prices
    is imported only then). `events_filter_sql` is trusted SQL, e.g.
    "e.event_type = 'message' AND e.session_id = 'abc'". Prices that changed over time
    are taken at each request's time, given by `request_ts_sql` (see
    `price_join_condition`; None prices every row as if made now). Returns
    (rows calculated, rows unknown).
    """
    events = f"({events_filter_sql or 'TRUE'}) AND e.cost_source IS DISTINCT FROM 'reported'"
    missing = con.execute(
        "SELECT DISTINCT e.provider_id, e.model_raw FROM usage_events AS e"
        f" WHERE {events} AND e.model_raw IS NOT NULL AND NOT EXISTS ("
        "  SELECT 1 FROM model_prices AS p"
        "  WHERE p.provider_id IS NOT DISTINCT FROM e.provider_id"
        "  AND p.model_raw = e.model_raw AND p.genai_prices_version = ?)",
        [genai_prices_version()],
    ).fetchall()
    if missing:
        ensure_prices(con, missing)

    join = price_join_condition(request_ts_sql)
    calculated = con.execute(
        f"UPDATE usage_events AS e SET cost_usd = {COST_SQL}, cost_source = 'calculated'"
        f" FROM model_prices AS p WHERE {events} AND {join} AND p.input_mtok IS NOT NULL"
    ).fetchone()
    unknown = con.execute(
        "UPDATE usage_events AS e SET cost_usd = NULL, cost_source = 'unknown'"
        f" WHERE {events} AND NOT EXISTS ("
        f"  SELECT 1 FROM model_prices AS p WHERE {join} AND p.input_mtok IS NOT NULL)"
    ).fetchone()
    return (calculated[0] if calculated else 0), (unknown[0] if unknown else 0)


# --- display --------------------------------------------------------------------------

_LABELS = {
    "input": "input",
    "output": "output (incl. reasoning)",
    "cache_read": "cache read",
    "cache_write": "cache write (5m)",
    "cache_write_1h": "cache write (1h)",
}


def _usd(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_prices(up: UnitPrices) -> str:
    """Human-readable prices of one period, USD per million tokens."""
    name = f" ({up.model_name})" if up.model_name else ""
    mode = ""
    if up.speed == "fast":
        mode = " in fast mode" + (f" ({up.price_source})" if up.price_source != "genai-prices" else "")
    lines = [
        f"{up.model_raw} -> {up.genai_provider_id} {up.genai_model_id}{name}",
        f"USD per million tokens{mode} (genai-prices {up.genai_prices_version}):",
    ]
    tiered = up.tier_threshold is not None
    label_width = max(len(label) for label in _LABELS.values())
    price_width = max(len(_usd(up.effective(kind))) for kind, _ in _KINDS)
    for kind, _ in _KINDS:
        line = f"  {_LABELS[kind]:<{label_width}}  {_usd(up.effective(kind)):>{price_width}}"
        if tiered:
            line += f"   above tier: {_usd(up.effective(kind, above_tier=True))}"
        parent = up.inherited(kind)
        if parent:
            line += f"   (no own price; billed as {_LABELS[parent]})"
        lines.append(line)
    if tiered:
        lines.append(
            f"Tier: a request whose prompt (input + cache read + cache write) exceeds"
            f" {up.tier_threshold:,} tokens is billed entirely at the tier prices."
        )
    if up.valid_from or up.valid_to:
        since = f" from {up.valid_from.isoformat()}" if up.valid_from else ""
        until = f" before {up.valid_to.isoformat()}" if up.valid_to else ""
        lines.append(f"For requests made{since}{until} (UTC dates).")
    if up.utc_time_from or up.utc_time_to:
        since = (up.utc_time_from or time(0)).strftime("%H:%M")
        until = up.utc_time_to.strftime("%H:%M") if up.utc_time_to else "24:00"
        lines.append(f"For requests made between {since} and {until} UTC each day.")
    return "\n".join(lines)
