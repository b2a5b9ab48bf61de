"""OpenTelemetry export to the local receiver (`usagecore serve`):
`usagecore install otel claude-code` sets the exporter variables in the `env`
block of Claude Code's `settings.json`; `usagecore install otel codex` sets
the `[otel]` exporters of Codex's `config.toml` (edited with tomlkit, so
comments, order and every other key survive).

The values a user had before are recorded, and uninstall puts them back.
"""

from __future__ import annotations

import os
from pathlib import Path

from usagecore.integrations import claude_code, common

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"


def _claude_env(endpoint: str, token: str | None) -> dict[str, str]:
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        # Claude Code has no default protocol, and its docs' example (grpc)
        # would miss an HTTP receiver: say it.
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint.rstrip("/"),
    }
    if token:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = f"Authorization=Bearer {token}"
    return env


class ClaudeCode:
    NAME = "otel-claude-code"
    SOURCE = "claude_code"

    @staticmethod
    def plan_install(endpoint: str = DEFAULT_ENDPOINT, token: str | None = None) -> common.Plan:
        path = claude_code.settings_path()
        before = common.read_text(path)
        settings = common.load_json(path, before)
        had_env = "env" in settings
        env = settings.setdefault("env", {})
        if not isinstance(env, dict):
            raise common.InstallError(f'{path}: "env" is not an object; fix it first')
        wanted = _claude_env(endpoint, token)
        previous = {key: env.get(key) for key in wanted}
        env.update(wanted)
        after = common.dump_json_like(settings, before)
        plan = common.Plan(ClaudeCode.NAME, [common.Change(path, before, before if after == before else after)])
        plan.record = {"previous_env": previous, "set_env": wanted, "had_env": had_env}
        return plan

    @staticmethod
    def plan_uninstall() -> common.Plan:
        path = claude_code.settings_path()
        before = common.read_text(path)
        entry = common.manifest().get(ClaudeCode.NAME, {})
        changes = []
        if before is not None:
            settings = common.load_json(path, before)
            env = settings.get("env") if isinstance(settings.get("env"), dict) else {}
            for key, ours in entry.get("set_env", {}).items():
                if env.get(key) != ours:
                    continue  # changed by the user since: theirs now
                old = entry.get("previous_env", {}).get(key)
                if old is None:
                    env.pop(key, None)
                else:
                    env[key] = old
            if "env" in settings and not env and not entry.get("had_env", True):
                del settings["env"]
            edited = common.dump_json_like(settings, before)
            changes.append(common.Change(path, before, common.restore_or(path, before, ClaudeCode.NAME, edited)))
        return common.Plan(ClaudeCode.NAME, changes)

    @staticmethod
    def installed() -> bool:
        path = claude_code.settings_path()
        try:
            settings = common.load_json(path, common.read_text(path))
        except common.InstallError:
            return False
        env = settings.get("env") if isinstance(settings.get("env"), dict) else {}
        return env.get("CLAUDE_CODE_ENABLE_TELEMETRY") == "1" and bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def codex_config_path() -> Path:
    home = os.environ.get("CODEX_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".codex") / "config.toml"


def _load_toml(path: Path, text: str | None):
    import tomlkit

    try:
        return tomlkit.parse(text or "")
    except tomlkit.exceptions.ParseError as err:
        raise common.InstallError(f"{path} is not valid TOML ({err}); fix it first, nothing was changed") from err


class Codex:
    NAME = "otel-codex"
    SOURCE = "codex"
    KEYS = ("exporter", "metrics_exporter")

    @staticmethod
    def _exporters(endpoint: str, token: str | None) -> dict:
        import tomlkit

        out = {}
        for key, signal in (("exporter", "logs"), ("metrics_exporter", "metrics")):
            http = tomlkit.inline_table()
            http.update({"endpoint": f"{endpoint.rstrip('/')}/v1/{signal}", "protocol": "binary"})
            if token:
                headers = tomlkit.inline_table()
                headers["Authorization"] = f"Bearer {token}"
                http["headers"] = headers
            table = tomlkit.inline_table()
            table["otlp-http"] = http
            out[key] = table
        return out

    @staticmethod
    def plan_install(endpoint: str = DEFAULT_ENDPOINT, token: str | None = None) -> common.Plan:
        import tomlkit

        path = codex_config_path()
        before = common.read_text(path)
        doc = _load_toml(path, before)
        had_table = "otel" in doc
        otel = doc.setdefault("otel", tomlkit.table())
        wanted = Codex._exporters(endpoint, token)
        previous = {key: (tomlkit.dumps({key: otel[key]}) if key in otel else None) for key in Codex.KEYS}
        for key, value in wanted.items():
            otel[key] = value
        after = tomlkit.dumps(doc)
        plan = common.Plan(Codex.NAME, [common.Change(path, before, before if after == before else after)])
        plan.record = {"previous": previous, "had_table": had_table,
                       "set": {key: tomlkit.dumps({key: value}) for key, value in wanted.items()}}
        return plan

    @staticmethod
    def plan_uninstall() -> common.Plan:
        import tomlkit

        path = codex_config_path()
        before = common.read_text(path)
        entry = common.manifest().get(Codex.NAME, {})
        changes = []
        if before is not None:
            doc = _load_toml(path, before)
            otel = doc.get("otel")
            if otel is not None:
                for key, ours in entry.get("set", {}).items():
                    if key not in otel or tomlkit.dumps({key: otel[key]}) != ours:
                        continue  # changed by the user since: theirs now
                    old = entry.get("previous", {}).get(key)
                    if old is None:
                        del otel[key]
                    else:
                        otel[key] = tomlkit.parse(old)[key]
                if not entry.get("had_table", True) and len(otel) == 0:
                    del doc["otel"]
            edited = tomlkit.dumps(doc)
            changes.append(common.Change(path, before, common.restore_or(path, before, Codex.NAME, edited)))
        return common.Plan(Codex.NAME, changes)

    @staticmethod
    def installed() -> bool:
        path = codex_config_path()
        try:
            doc = _load_toml(path, common.read_text(path))
        except common.InstallError:
            return False
        otel = doc.get("otel") or {}
        return all("otlp-http" in (otel.get(key) or {}) for key in Codex.KEYS)
