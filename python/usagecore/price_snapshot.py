"""genai-prices' answers without importing genai-prices.

Importing `genai_prices` builds its whole price list as pydantic objects, which takes
longer than a first backfill of a Codex history needs for everything else. So the
pinned package's data is kept here in compact form (`genai_prices_snapshot.json`):
the rules by which genai-prices finds a provider and a model for a model reference,
and, per model, the `model_prices` values of its price periods at each speed, as
prices.py derives them. `resolve()` answers from it exactly as prices.py would from
genai-prices (tests/test_price_snapshot.py compares the two over every model the
package knows, under many spellings and providers), and says None where it cannot be
sure; prices.py then asks genai-prices itself.

Regenerate after changing the genai-prices pin or how prices.py reads its data:

    make price-snapshot        # python -m usagecore.price_snapshot
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import date, time
from functools import cache, cached_property
from pathlib import Path
from typing import Any

SNAPSHOT_PATH = Path(__file__).with_name("genai_prices_snapshot.json")

# A clause of genai-prices' match logic: [kind, argument].
Clause = list


def _matcher(clause: Clause) -> Callable[[str], bool]:
    """genai-prices' `Clause*.is_match` for one clause (its text is lower-cased by then)."""
    kind, arg = clause
    if kind == "or":
        parts = [_matcher(c) for c in arg]
        return lambda text: any(part(text) for part in parts)
    if kind == "and":
        parts = [_matcher(c) for c in arg]
        return lambda text: all(part(text) for part in parts)
    if kind == "regex":  # compiled on first use (and cached) by `re`
        return lambda text: re.search(arg, text) is not None
    arg = arg.lower()
    return {
        "equals": lambda text: text.lower() == arg,
        "starts_with": lambda text: text.lower().startswith(arg),
        "ends_with": lambda text: text.lower().endswith(arg),
        "contains": lambda text: arg in text.lower(),
    }[kind]


class _Provider:
    def __init__(self, data: dict):
        self.id: str = data["id"]
        self.provider_match = _matcher(data["provider_match"]) if data["provider_match"] else None
        self.model_match = _matcher(data["model_match"]) if data["model_match"] else None
        self.fallback: list[str] = data["fallback"] or []
        self._models: list = data["models"]

    @cached_property
    def models(self) -> list[tuple[str, Callable[[str], bool]]]:
        # Built when first needed: a backfill looks at the models of a few providers only.
        return [(model_id, _matcher(clause)) for model_id, clause in self._models]


class _Snapshot:
    def __init__(self, data: dict):
        self.version: str = data["genai_prices_version"]
        self.providers = [_Provider(p) for p in data["providers"]]
        self.by_id = {p.id: p for p in self.providers}
        self.prices: dict[str, dict[str, list[list]]] = data["prices"]
        self.unsure: set[str] = set(data["unsure"])

    def find_provider(self, model_ref: str, provider_id: str | None) -> _Provider | None:
        """genai-prices' `DataSnapshot.find_provider` (no API URL)."""
        if provider_id is not None:
            normalized = provider_id.lower().strip()
            found = self.by_id.get(normalized)
            if found is None:
                found = next((p for p in self.providers if p.provider_match and p.provider_match(normalized)),
                             None)
            return found
        return next((p for p in self.providers if p.model_match and p.model_match(model_ref)), None)

    def match_model(self, provider: _Provider, model_ref: str, fallback: bool = True) -> str | None:
        """genai-prices' `Provider._match_model`: the key of the model found."""
        for model_id, is_match in provider.models:
            if is_match(model_ref):
                return f"{provider.id}/{model_id}"
        if fallback:
            for other_id in provider.fallback:
                other = self.by_id.get(other_id)
                if other is not None and (key := self.match_model(other, model_ref, fallback=False)):
                    return key
        return None

    def find(self, model_ref: str, provider_id: str | None) -> tuple[str, str] | None:
        """(genai provider id, model key) as genai-prices' `find_provider_model` finds them;
        None where it raises LookupError."""
        model_ref = model_ref.lower()
        provider = self.find_provider(model_ref, provider_id)
        if provider is None:
            return None
        key = self.match_model(provider, model_ref)
        if key is None:
            normalized = _normalize_compact_dated_ref(model_ref)
            if normalized != model_ref:
                key = self.match_model(provider, normalized)
        return None if key is None else (provider.id, key)


# genai-prices' `_normalize_compact_dated_ref`: `-20251211` -> `-2025-12-11`.
_COMPACT_DATE_RE = re.compile(r"(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")


def _normalize_compact_dated_ref(model_ref: str) -> str:
    def replace(match: re.Match[str]) -> str:
        year, month, day = (int(match.group(index)) for index in range(2, 5))
        try:
            date(year, month, day)
        except ValueError:
            return match.group(0)
        return f"{match.group(1)}{year:04d}-{month:02d}-{day:02d}"

    return _COMPACT_DATE_RE.sub(replace, model_ref)


@cache
def _snapshot() -> _Snapshot | None:
    # One load at a time: a caller that comes while `load_in_background` is
    # loading waits for that load instead of doing it again.
    with _loading:
        return _load()


_loading = threading.Lock()


@cache
def _load() -> _Snapshot | None:
    try:
        return _Snapshot(json.loads(SNAPSHOT_PATH.read_text()))
    except (OSError, ValueError, KeyError):
        return None  # prices.py asks genai-prices itself


def load_in_background() -> None:
    """Load the snapshot on a thread of its own (about 10 ms of CPU, most of
    it `json.loads`), for a caller about to spend that long in DuckDB, which
    lets go of the GIL: a new store's first write needs prices."""
    threading.Thread(target=_snapshot, name="usagecore-prices", daemon=True).start()


def version() -> str | None:
    """The genai-prices version the snapshot was made from (None: no snapshot)."""
    snapshot = _snapshot()
    return snapshot.version if snapshot else None


def _period(values: list) -> tuple[Any, ...]:
    valid_from, valid_to, time_from, time_to, *rest = values
    return (
        valid_from and date.fromisoformat(valid_from),
        valid_to and date.fromisoformat(valid_to),
        time_from and time.fromisoformat(time_from),
        time_to and time.fromisoformat(time_to),
        *rest,
    )


def resolve(model_raw: str, provider_id: str | None
            ) -> tuple[tuple[str, str] | None, dict[str, list[tuple[Any, ...]]]] | None:
    """What prices._genai_resolution would answer for the pair: (genai provider id,
    model id) or None, and per speed its periods' values; None when the snapshot
    cannot be sure (no snapshot, LiteLLM's provider prefixes, a model whose price
    genai-prices could not calculate when the snapshot was made)."""
    snapshot = _snapshot()
    if snapshot is None or (provider_id or "").lower() == "litellm":
        return None
    from usagecore.prices import _attempts

    for provider, ref in _attempts(model_raw, provider_id):
        if (provider or "").lower() == "litellm":
            return None
        found = snapshot.find(ref, provider)
        if found is None:
            continue
        genai_provider, key = found
        if key in snapshot.unsure:
            return None
        periods = snapshot.prices[key]
        by_speed = {speed: [_period(values) for values in rows] for speed, rows in periods.items()}
        return (genai_provider, key.split("/", 1)[1]), by_speed
    return None, {}


# --- making the snapshot (imports genai-prices) ---------------------------------------


def _clause(logic: Any) -> Clause | None:
    from genai_prices import types

    if logic is None:
        return None
    simple = {
        types.ClauseEquals: ("equals", "equals"),
        types.ClauseStartsWith: ("starts_with", "starts_with"),
        types.ClauseEndsWith: ("ends_with", "ends_with"),
        types.ClauseContains: ("contains", "contains"),
        types.ClauseRegex: ("regex", "regex"),
    }
    if type(logic) in simple:
        kind, field = simple[type(logic)]
        return [kind, getattr(logic, field)]
    if isinstance(logic, types.ClauseOr):
        return ["or", [_clause(c) for c in logic.or_]]
    if isinstance(logic, types.ClauseAnd):
        return ["and", [_clause(c) for c in logic.and_]]
    raise TypeError(f"unknown genai-prices match clause {type(logic).__name__}")


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, time)) else value


def generate() -> dict:
    """The snapshot of the installed genai-prices, as prices.py reads it."""
    from datetime import UTC, datetime
    from importlib.metadata import version as installed

    import genai_prices
    from genai_prices.data_snapshot import get_snapshot

    from usagecore import prices

    providers, periods, unsure = [], {}, []
    now = datetime.now(UTC)
    for provider in get_snapshot().providers:
        providers.append({
            "id": provider.id,
            "provider_match": _clause(provider.provider_match),
            "model_match": _clause(provider.model_match),
            "fallback": provider.fallback_model_providers,
            "models": [[model.id, _clause(model.match)] for model in provider.models],
        })
        for model in provider.models:
            key = f"{provider.id}/{model.id}"
            periods[key] = {
                speed: [[_json_value(v) for v in prices._period_values(up)]
                        for up in prices._model_periods("", None, provider, model, speed)]
                for speed in prices.SPEEDS
            }
            try:  # what prices._match does to accept a match
                model.calc_price(genai_prices.Usage(), provider, genai_request_timestamp=now)
            except (LookupError, ValueError):
                unsure.append(key)
    return {"genai_prices_version": installed("genai-prices"), "providers": providers, "prices": periods,
            "unsure": unsure}


def main() -> None:
    SNAPSHOT_PATH.write_text(json.dumps(generate(), separators=(",", ":")) + "\n")
    print(f"wrote {SNAPSHOT_PATH}")


if __name__ == "__main__":
    main()
