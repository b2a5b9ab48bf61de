"""The user's settings file: which providers they pay and how telemetry
provider ids link to them.

    $USAGECORE_CONFIG, else $XDG_CONFIG_HOME/usagecore/settings.json

    {
      "providers": [
        {"id": "claude_code", "name": "Claude Code", "kind": "subscription",
         "account_id": null, "plan_usd_month": 200}
      ],
      "telemetry": {"provider_links": {"anthropic": "claude_code"}}
    }

Without a file (or without a `providers` key) the agents' own providers are
configured: `claude_code`, `codex`, `opencode`. Edits (`providers link`)
merge into the file as it is, keep every key they do not know, and leave a
backup of the previous version next to it.

Which telemetry provider id an event has is decided in SQL
(`migrations.TELEMETRY_PROVIDER_SQL`): an agent's own provider when the
agent billed its own account, the upstream id otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable
from typing import Any

CONFIG_ENV = "USAGECORE_CONFIG"
KINDS = ("api_key", "subscription")


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    kind: str | None = None
    account_id: str | None = None
    plan_usd_month: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind,
                "account_id": self.account_id, "plan_usd_month": self.plan_usd_month}


DEFAULT_PROVIDERS = (
    Provider("claude_code", "Claude Code", "subscription"),
    Provider("codex", "Codex", "subscription"),
    Provider("opencode", "OpenCode", "api_key"),
)


@dataclass(frozen=True)
class Settings:
    path: Path
    providers: tuple[Provider, ...] = DEFAULT_PROVIDERS
    provider_links: dict[str, str] = field(default_factory=dict)
    from_file: bool = False

    @property
    def provider_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.providers)

    def resolve(self, telemetry_provider_id: str) -> str | None:
        """The configured provider usage under this telemetry id counts for, or None (unmapped)."""
        if telemetry_provider_id in self.provider_ids:
            return telemetry_provider_id
        return self.provider_links.get(telemetry_provider_id)


class SettingsError(ValueError):
    """The settings file cannot be used; the message names the file, the key and what was expected."""

    def __init__(self, path: Path, key: str, expected: str, got: Any = None):
        self.path, self.key, self.expected = path, key, expected
        where = f"{path}: {key}" if key else str(path)
        detail = f" (got {json.dumps(got)})" if got is not None else ""
        super().__init__(f"invalid settings in {where}: expected {expected}{detail}")


def settings_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "usagecore" / "settings.json"


def _read_document(path: Path) -> dict[str, Any]:
    """The file as a JSON object ({} when there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(path, "", f"a readable UTF-8 JSON file ({err})") from err
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise SettingsError(path, f"line {err.lineno} column {err.colno}", f"valid JSON ({err.msg})") from err
    if not isinstance(document, dict):
        raise SettingsError(path, "(top level)", "a JSON object", type(document).__name__)
    return document


def _optional(path: Path, key: str, value: Any, kind: type | tuple[type, ...], expected: str) -> Any:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise SettingsError(path, key, expected, value)
    return value


def _parse_provider(path: Path, index: int, item: Any) -> Provider:
    key = f"providers[{index}]"
    if not isinstance(item, dict):
        raise SettingsError(path, key, 'an object such as {"id": "anthropic_api", "kind": "api_key"}', item)
    pid = item.get("id")
    if not isinstance(pid, str) or not pid.strip():
        raise SettingsError(path, f"{key}.id", "a non-empty string", pid)
    name = _optional(path, f"{key}.name", item.get("name"), str, "a string")
    kind = item.get("kind")
    if kind is not None and kind not in KINDS:
        raise SettingsError(path, f"{key}.kind", " or ".join(f'"{k}"' for k in KINDS), kind)
    account = _optional(path, f"{key}.account_id", item.get("account_id"), str, "a string or null")
    price = _optional(path, f"{key}.plan_usd_month", item.get("plan_usd_month"), (int, float),
                      "a number (USD per month) or null")
    if price is not None and price < 0:
        raise SettingsError(path, f"{key}.plan_usd_month", "a number >= 0", price)
    return Provider(pid, name or pid, kind, account, None if price is None else float(price))


def _parse(path: Path, document: dict[str, Any]) -> Settings:
    providers = DEFAULT_PROVIDERS
    if "providers" in document:
        raw = document["providers"]
        if not isinstance(raw, list):
            raise SettingsError(path, "providers", "a list of provider objects", raw)
        providers = tuple(_parse_provider(path, i, item) for i, item in enumerate(raw))
        seen: set[str] = set()
        for i, p in enumerate(providers):
            if p.id in seen:
                raise SettingsError(path, f"providers[{i}].id", "an id not used by another provider", p.id)
            seen.add(p.id)
    telemetry = document.get("telemetry", {})
    if not isinstance(telemetry, dict):
        raise SettingsError(path, "telemetry", "an object", telemetry)
    links = telemetry.get("provider_links", {})
    if not isinstance(links, dict):
        raise SettingsError(path, "telemetry.provider_links",
                            'an object mapping telemetry provider ids to configured providers', links)
    ids = [p.id for p in providers]
    for source, target in links.items():
        key = f"telemetry.provider_links.{source}"
        if not isinstance(target, str) or target not in ids:
            raise SettingsError(path, key, "one of the configured providers: " + ", ".join(ids), target)
        if source in ids:
            raise SettingsError(path, key, f"a telemetry id that is not itself a configured provider "
                                f"({source!r} is one; remove the link)", target)
    return Settings(path, providers, dict(links), from_file=bool(document))


def load(path: Path | None = None) -> Settings:
    """The settings in effect; raises SettingsError for a file that cannot be used."""
    path = path or settings_path()
    return _parse(path, _read_document(path))


def _write(path: Path, document: dict[str, Any]) -> Path | None:
    """Replace the file atomically; the previous version is kept as `settings.json.bak`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return backup


def link(source: str, target: str, path: Path | None = None) -> tuple[Settings, Path | None]:
    """Count usage under telemetry provider `source` for configured provider `target`."""
    path = path or settings_path()
    document = _read_document(path)
    current = _parse(path, document)
    if target not in current.provider_ids:
        raise SettingsError(path, f"telemetry.provider_links.{source}",
                            "one of the configured providers: " + ", ".join(current.provider_ids), target)
    if source in current.provider_ids:
        raise SettingsError(path, f"telemetry.provider_links.{source}",
                            f"a telemetry id that is not a configured provider ({source!r} is configured)")
    telemetry = document.setdefault("telemetry", {})
    telemetry.setdefault("provider_links", {})[source] = target
    return _parse(path, document), _write(path, document)


def unlink(source: str, path: Path | None = None) -> tuple[Settings, Path | None, bool]:
    """Remove the link of telemetry provider `source`; says whether there was one."""
    path = path or settings_path()
    document = _read_document(path)
    _parse(path, document)
    links = document.get("telemetry", {}).get("provider_links", {})
    if source not in links:
        return _parse(path, document), None, False
    del links[source]
    return _parse(path, document), _write(path, document), True


def link_hint(telemetry_provider_id: str, settings: Settings, sources: Iterable[str] = ()) -> dict[str, Any]:
    """The exact command and settings change that link an unmapped id. The
    target is a suggestion: the configured provider most likely to pay for
    it (an agent's own provider for its vendor's id, else the agent that
    reported the usage, else the first configured provider)."""
    target = _likely_target(telemetry_provider_id, settings, tuple(sources))
    change = {"telemetry": {"provider_links": {telemetry_provider_id: target}}}
    return {
        "provider_id": telemetry_provider_id,
        "command": f"usagecore providers link {telemetry_provider_id} {target}",
        "settings_file": str(settings.path),
        "settings_change": change,
        "configured_providers": list(settings.provider_ids),
        "text": (f"usage under provider {telemetry_provider_id!r} is not counted: link it to the provider "
                 f"that pays for it with `usagecore providers link {telemetry_provider_id} {target}`, "
                 f"or merge {json.dumps(change)} into {settings.path}"
                 + (f" (configured: {', '.join(settings.provider_ids)})" if settings.providers
                    else " after adding that provider under \"providers\"")),
    }


# Upstream ids whose usage most likely belongs to an agent's own provider.
_LIKELY = {"anthropic": "claude_code", "openai": "codex"}


def _likely_target(telemetry_provider_id: str, settings: Settings, sources: tuple[str, ...]) -> str:
    for guess in (_LIKELY.get(telemetry_provider_id), *sources):
        if guess in settings.provider_ids:
            return guess
    return settings.provider_ids[0] if settings.providers else "PROVIDER"
