"""The genai-prices snapshot (usagecore/price_snapshot.py) answers as genai-prices does.

prices.py prices events from the snapshot so that a backfill need not import
genai-prices; these tests hold it to the installed package: the file is what the
package gives now, and for every model the package knows, under the spellings agents
write and the providers they name, the snapshot's `model_prices` values equal what
prices.py derives from genai-prices itself.
"""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from usagecore import price_snapshot, prices

# Providers agents name (Claude Code, Codex `model_provider`, OpenCode `providerID`),
# and none (genai-prices infers one from the model).
PROVIDERS = (None, "anthropic", "openai", "opencode", "openrouter", "github-copilot", "google", "azure",
             "aws", "litellm", "ollama")


@pytest.fixture(scope="module")
def genai_providers():
    from genai_prices.data_snapshot import get_snapshot

    return get_snapshot().providers


def test_the_snapshot_is_the_installed_package() -> None:
    """`make price-snapshot` was run after the last change of the pin or of prices.py."""
    assert price_snapshot.version() == version("genai-prices")
    stored = json.loads(price_snapshot.SNAPSHOT_PATH.read_text())
    assert stored == json.loads(json.dumps(price_snapshot.generate())), "run `make price-snapshot`"


def _spellings(provider_id: str, model_id: str) -> list[str]:
    return [model_id, model_id.upper(), f"{model_id}-20250929", f"{provider_id}/{model_id}",
            f"{model_id}[1m]", f"us.{provider_id}.{model_id}-v1:0", f"{model_id}@20250929"]


def _assert_same(model_raw: str, provider_id: str | None) -> None:
    """Where the snapshot answers, it answers what genai-prices does (where it
    does not, prices.py asks genai-prices)."""
    from_snapshot = price_snapshot.resolve(model_raw, provider_id)
    if from_snapshot is None:
        return
    matched, by_speed = prices._genai_resolution(model_raw, provider_id)
    expected = (matched, {speed: periods for speed, periods in by_speed.items() if periods})
    got = (from_snapshot[0], {speed: periods for speed, periods in from_snapshot[1].items() if periods})
    assert got == expected, (model_raw, provider_id)


def test_every_model_under_its_own_id_and_provider(genai_providers) -> None:
    answered = 0
    for provider in genai_providers:
        for model in provider.models:
            for provider_id in (None, provider.id):
                _assert_same(model.id, provider_id)
                answered += price_snapshot.resolve(model.id, provider_id) is not None
    assert answered > 4000  # and it answers nearly always


def test_spellings_and_providers_agents_write(genai_providers) -> None:
    """Dated, upper-case, vendor-prefixed, context-suffixed, Bedrock and Vertex spellings
    of the models of the providers agents use, under every provider agents name."""
    for provider in genai_providers:
        if provider.id not in ("anthropic", "openai", "google", "deepseek", "x-ai", "opencode"):
            continue
        for model in provider.models:
            for model_raw in _spellings(provider.id, model.id):
                for provider_id in PROVIDERS:
                    _assert_same(model_raw, provider_id)


@pytest.mark.parametrize("model_raw", ["gpt-5-codex", "gpt-5.1-codex-max", "gpt-5.2-20251211", "o3",
                                       "claude-opus-4-6", "claude-sonnet-4-5-20250929", "claude-haiku-5-5",
                                       "anthropic/claude-opus-4.8", "big-pickle", "kimi-k2", "not-a-model",
                                       "qwen/qwen3-coder", "gemini-2.5-pro", "grok-code-fast-1"])
@pytest.mark.parametrize("provider_id", PROVIDERS)
def test_models_agents_use(model_raw: str, provider_id: str | None) -> None:
    _assert_same(model_raw, provider_id)
