"""Installers that wire an agent to usagecore, one module per integration.

Each module has `NAME`, `SOURCE` (the source its payloads are spooled as),
`plan_install()` and `plan_uninstall()` (a `common.Plan`; nothing is written
until `common.apply`), `installed()` (whether its wiring is in place right
now), `hook_script()` (the script the agent runs) and `test_payload(tag)`
(what `doctor` sends through that script).
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Integration name -> module.
MODULES = {"claude-code": "usagecore.integrations.claude_code"}


def get(name: str) -> ModuleType:
    return importlib.import_module(MODULES[name])


def installed() -> dict[str, bool]:
    """Per integration, whether it is installed right now."""
    return {name: get(name).installed() for name in MODULES}
