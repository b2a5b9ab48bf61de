"""Installers that wire an agent to usagecore, one module (or class) per integration.

Each has `NAME`, `SOURCE` (the source its payloads are spooled as),
`plan_install()` and `plan_uninstall()` (a `common.Plan`; nothing is written
until `common.apply`), `installed()` (whether its wiring is in place right
now), `hook_script()` (the script or plugin the agent runs) and
`test_command(tag)` (argv and stdin with which `doctor` runs it; the payload
must contain `tag`). OpenTelemetry integrations have neither: the agent
exports to `usagecore serve`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Integration name -> module, or `module:class`.
MODULES = {
    "claude-code": "usagecore.integrations.claude_code",
    "codex": "usagecore.integrations.codex",
    "opencode": "usagecore.integrations.opencode",
    "otel-claude-code": "usagecore.integrations.otel:ClaudeCode",
    "otel-codex": "usagecore.integrations.otel:Codex",
}


def get(name: str) -> ModuleType:
    module, _, attr = MODULES[name].partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attr) if attr else loaded


def installed() -> dict[str, bool]:
    """Per integration, whether it is installed right now."""
    return {name: get(name).installed() for name in MODULES}
