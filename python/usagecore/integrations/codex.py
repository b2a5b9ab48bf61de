"""Codex CLI: our script as the `notify` program in `$CODEX_HOME/config.toml`
(`~/.codex/config.toml`), edited with tomlkit so comments, order and every
other key survive.

Codex runs one `notify` program and appends the payload as its last argument.
If the user already has one, it is chained: `notify = [our script, their
program, their arguments...]`, and our script runs theirs with the same
payload. Uninstall puts their `notify` back exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

from usagecore.integrations import common

NAME = "codex"
SOURCE = "codex"


def config_path() -> Path:
    home = os.environ.get("CODEX_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".codex") / "config.toml"


def hook_script() -> tuple[Path, str]:
    path, _ = common.hook_script(NAME, "")
    command = " ".join(common.sh_quote(word) for word in common.usagecore_command())
    text = (
        "#!/bin/sh\n"
        "# Installed by `usagecore install codex`; `usagecore uninstall codex` removes it.\n"
        "# Codex's notify program: gets the payload as the last argument, hands it to usagecore,\n"
        "# then runs the notify program the user had before (the other arguments) with it.\n"
        'for payload do :; done\n'
        'if [ -n "$USAGECORE_BIN" ]; then\n'
        '  "$USAGECORE_BIN" ingest --source codex "$payload" >/dev/null 2>&1 || true\n'
        "else\n"
        f'  {command} ingest --source codex "$payload" >/dev/null 2>&1 || true\n'
        "fi\n"
        'if [ "$#" -gt 1 ]; then\n'
        "  exec \"$@\"\n"
        "fi\n"
        "exit 0\n"
    )
    return path, text


def _load(path: Path, text: str | None):
    import tomlkit

    try:
        return tomlkit.parse(text or "")
    except tomlkit.exceptions.ParseError as err:
        raise common.InstallError(f"{path} is not valid TOML ({err}); fix it first, nothing was changed") from err


def _notify(doc) -> list[str] | None:
    value = doc.get("notify")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise common.InstallError(f'{config_path()}: "notify" is not a list of strings; fix it first')
    return [str(v) for v in value]


def plan_install() -> common.Plan:
    import tomlkit

    script_path, script_text = hook_script()
    path = config_path()
    before = common.read_text(path)
    doc = _load(path, before)
    current = _notify(doc)
    previous = common.manifest().get(NAME, {}).get("previous_notify", current)
    if current and current[0] == str(script_path):
        wanted = current  # installed already
    else:
        wanted = [str(script_path), *(current or [])]
        # A top-level key must come before the first table.
        doc["notify"] = tomlkit.array(wanted) if current is None else wanted
        if current is None:
            doc = _load(path, _top_level_first(tomlkit.dumps(doc)))
    after = tomlkit.dumps(doc)
    plan = common.Plan(NAME, [common.Change(script_path, common.read_text(script_path), script_text),
                              common.Change(path, before, after)])
    plan.record = {"previous_notify": previous}
    return plan


def _top_level_first(text: str) -> str:
    """tomlkit appends a new top-level key at the end, i.e. inside the last
    table; move `notify = ...` above the first table header."""
    lines = text.splitlines(keepends=True)
    notify = [i for i, line in enumerate(lines) if line.startswith("notify = ")]
    header = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), None)
    if not notify or header is None or notify[-1] < header:
        return text
    line = lines.pop(notify[-1])
    if not line.endswith("\n"):
        line += "\n"
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
    lines.insert(header, line)
    # tomlkit may have left a blank line where it put the key: drop a doubled one at the end.
    return "".join(lines)


def plan_uninstall() -> common.Plan:
    script_path, _ = hook_script()
    path = config_path()
    before = common.read_text(path)
    changes = []
    if before is not None:
        doc = _load(path, before)
        current = _notify(doc)
        if current and current[0] == str(script_path):
            previous = common.manifest().get(NAME, {}).get("previous_notify", current[1:] or None)
            if previous:
                doc["notify"] = previous
            else:
                del doc["notify"]
        import tomlkit

        edited = tomlkit.dumps(doc)
        changes.append(common.Change(path, before, common.restore_or(path, before, NAME, edited)))
    changes.append(common.Change(script_path, common.read_text(script_path), None))
    return common.Plan(NAME, changes)


def installed() -> bool:
    script_path, _ = hook_script()
    try:
        current = _notify(_load(config_path(), common.read_text(config_path())))
    except common.InstallError:
        return False
    return bool(current) and current[0] == str(script_path)


def test_command(tag: str) -> tuple[list[str], bytes]:
    """What `doctor` runs: the notify script with an event type usagecore ignores."""
    return [str(hook_script()[0]), '{"type":"usagecore-doctor","thread-id":"' + tag + '"}'], b""
