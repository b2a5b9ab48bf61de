"""Claude Code: command hooks in `~/.claude/settings.json`
(`$CLAUDE_CONFIG_DIR/settings.json`) that run our hook script."""

from __future__ import annotations

import os
from pathlib import Path

from usagecore.integrations import common

NAME = "claude-code"
SOURCE = "claude_code"
# Every hook whose payload usagecore turns into something (docs/formats-claude-code.md §B.3).
EVENTS = ("Stop", "StopFailure", "SubagentStop", "PostToolUse", "PostToolUseFailure",
          "UserPromptSubmit", "SessionStart", "SessionEnd")
# Seconds; our hook spools and returns in milliseconds, so this only bounds a broken machine.
TIMEOUT_S = 10


def settings_path() -> Path:
    configured = [p.strip() for p in os.environ.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    base = Path(configured[0]).expanduser() if configured else Path.home() / ".claude"
    return base / "settings.json"


def _is_ours(handler: object, script: str) -> bool:
    return isinstance(handler, dict) and handler.get("command") == script


def _with_hooks(settings: dict, script: str) -> dict:
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise common.InstallError(f'{settings_path()}: "hooks" is not an object; fix it first')
    for event in EVENTS:
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise common.InstallError(f'{settings_path()}: "hooks.{event}" is not a list; fix it first')
        present = any(_is_ours(h, script) for g in groups if isinstance(g, dict) for h in g.get("hooks") or [])
        if not present:
            groups.append({"hooks": [{"type": "command", "command": script, "timeout": TIMEOUT_S}]})
    return settings


def _without_hooks(settings: dict, script: str) -> dict:
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return settings
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                handlers = [h for h in group["hooks"] if not _is_ours(h, script)]
                if not handlers and group["hooks"]:
                    continue  # the group held only our hook
                group["hooks"] = handlers
            kept.append(group)
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    if not hooks:
        del settings["hooks"]
    return settings


def hook_script() -> tuple[Path, str]:
    return common.hook_script(NAME, "--source claude_code")


def plan_install() -> common.Plan:
    script_path, script_text = hook_script()
    path = settings_path()
    before = common.read_text(path)
    settings = _with_hooks(common.load_json(path, before), str(script_path))
    after = common.dump_json_like(settings, before)
    return common.Plan(NAME, [
        common.Change(script_path, common.read_text(script_path), script_text),
        common.Change(path, before, before if after == before or _same(before, after) else after),
    ])


def _same(before: str | None, after: str) -> bool:
    """Equal as JSON: installing twice must not even reformat the file."""
    import json

    try:
        return before is not None and json.loads(before) == json.loads(after)
    except ValueError:
        return False


def plan_uninstall() -> common.Plan:
    script_path, _ = hook_script()
    path = settings_path()
    before = common.read_text(path)
    changes = []
    if before is not None:
        settings = common.load_json(path, before)
        edited = common.dump_json_like(_without_hooks(settings, str(script_path)), before)
        if _same(before, edited):
            edited = before
        changes.append(common.Change(path, before, common.restore_or(path, before, NAME, edited)))
    changes.append(common.Change(script_path, common.read_text(script_path), None))
    return common.Plan(NAME, changes)


def installed() -> bool:
    """Whether our hooks are in the settings file right now."""
    script_path, _ = hook_script()
    try:
        settings = common.load_json(settings_path(), common.read_text(settings_path()))
    except common.InstallError:
        return False
    hooks = settings.get("hooks") if isinstance(settings.get("hooks"), dict) else {}
    return all(
        any(_is_ours(h, str(script_path)) for g in hooks.get(event) or [] if isinstance(g, dict)
            for h in g.get("hooks") or [])
        for event in EVENTS
    )


def test_command(tag: str) -> tuple[list[str], bytes]:
    """What `doctor` runs (arguments, stdin): the hook script with an event
    usagecore would keep as a raw record only."""
    return [str(hook_script()[0])], b'{"hook_event_name":"UsagecoreDoctor","session_id":"' + tag.encode() + b'"}'

