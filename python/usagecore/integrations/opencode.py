"""OpenCode: our plugin in `~/.config/opencode/plugins/` (OpenCode loads every
`.js` file there; no `opencode.json` entry is needed). The plugin forwards
what usagecore counts to `usagecore ingest --source opencode` without ever
blocking OpenCode (see the plugin's header)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from usagecore.integrations import common

NAME = "opencode"
SOURCE = "opencode"
PLUGIN = Path(__file__).with_name("assets") / "opencode-usagecore.js"


def plugin_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "opencode" / "plugins" / "usagecore.js"


def hook_script() -> tuple[Path, str]:
    """The plugin plays the hook script's part."""
    text = PLUGIN.read_text().replace("@USAGECORE_COMMAND@", json.dumps(common.usagecore_command()))
    return plugin_path(), text


def plan_install() -> common.Plan:
    path, text = hook_script()
    return common.Plan(NAME, [common.Change(path, common.read_text(path), text)])


def plan_uninstall() -> common.Plan:
    path = plugin_path()
    return common.Plan(NAME, [common.Change(path, common.read_text(path), None)])


def test_command(tag: str) -> tuple[list[str], bytes]:
    """What `doctor` runs: the installed plugin, loaded by Node as OpenCode
    would, told that a session went idle (which it forwards at once)."""
    script = (
        f"const m = await import({json.dumps(plugin_path().as_uri())});"
        "const hooks = await m.Usagecore({});"
        f"await hooks.event({{event: {{type: 'session.idle', properties: {{sessionID: {json.dumps(tag)}}}}}}});"
    )
    return ["node", "--input-type=module", "-e", script], b""


def installed() -> bool:
    text = common.read_text(plugin_path())
    return text is not None and "usagecore's OpenCode plugin" in text
