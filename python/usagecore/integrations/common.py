"""What every installer shares: the hook script, safe edits of the agent's
config files (backup, atomic write, refuse what does not parse), and the
record of what was installed (`integrations.json`), which makes uninstall
exact: a file nobody touched since we wrote it gets its original bytes back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from usagecore.config import config_dir


class InstallError(RuntimeError):
    """Something the user must fix first; nothing was written."""


@dataclass
class Change:
    """One file an installer writes (or would write, with --dry-run)."""

    path: Path
    before: str | None  # None: the file does not exist yet
    after: str | None  # None: the file is removed

    @property
    def changes(self) -> bool:
        return self.before != self.after


@dataclass
class Plan:
    integration: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Kept in the manifest: what uninstall needs to know (values replaced, ...).
    record: dict = field(default_factory=dict)

    def describe(self) -> str:
        lines = []
        for change in self.changes:
            if not change.changes:
                lines.append(f"unchanged: {change.path}")
            elif change.after is None:
                lines.append(f"remove:    {change.path}")
            elif change.before is None:
                lines.append(f"create:    {change.path}")
            else:
                lines.append(f"update:    {change.path}")
        return "\n".join(lines + self.notes)


def usagecore_command() -> list[str]:
    """How hooks should run this very usagecore: the venv's script if there is
    one beside this Python, else `python -m usagecore`."""
    script = Path(sys.executable).parent / "usagecore"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("usagecore")
    return [found] if found else [sys.executable, "-m", "usagecore"]


def sh_quote(word: str) -> str:
    return "'" + word.replace("'", "'\"'\"'") + "'"


def hook_script(name: str, ingest_args: str) -> tuple[Path, str]:
    """The script an agent runs: hands its input to `usagecore ingest`, never
    fails, never prints on stdout (some agents read stdout as instructions)."""
    command = " ".join(sh_quote(word) for word in usagecore_command())
    text = (
        "#!/bin/sh\n"
        f"# Installed by `usagecore install {name}`; `usagecore uninstall {name}` removes it.\n"
        "# Passes the agent's payload to usagecore. Exits 0 whatever happens: the agent must never notice us.\n"
        'if [ -n "$USAGECORE_BIN" ]; then\n'
        f'  "$USAGECORE_BIN" ingest {ingest_args} >/dev/null || true\n'
        "else\n"
        f"  {command} ingest {ingest_args} >/dev/null || true\n"
        "fi\n"
        "exit 0\n"
    )
    return config_dir() / "hooks" / f"{name}.sh", text


def read_text(path: Path) -> str | None:
    """The file's text exactly as stored (line ends untranslated), so that
    backups and restores give back the same bytes."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as err:
        raise InstallError(f"{path} is not UTF-8 text (byte {err.start}); fix it first, nothing was changed") from err
    except OSError as err:
        raise InstallError(f"cannot read {path}: {err}") from err


def load_json(path: Path, text: str | None) -> dict:
    """The JSON object in `text` (empty when the file does not exist); a file
    that is not a JSON object is refused, never overwritten."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InstallError(f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
                           "fix it first, nothing was changed") from err
    if not isinstance(value, dict):
        raise InstallError(f"{path} does not hold a JSON object; fix it first, nothing was changed")
    return value


def dump_json_like(value: dict, original: str | None) -> str:
    """`value` as JSON in the style of `original`: same indentation (or none),
    same line ends and final newline, non-ASCII escaped or not. Key order is the
    dict's, i.e. the original's."""
    if original is None or not original.strip():
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    body = original.strip()
    # A file that is all ASCII may spell non-ASCII text as \\u escapes: keep doing so.
    ascii_only = original.isascii()
    indent: str | int | None = None
    if "\n" in body:
        for line in body.splitlines()[1:]:
            stripped = line.lstrip(" \t")
            if stripped and len(stripped) < len(line):
                indent = line[: len(line) - len(stripped)]
                break
        indent = indent or 2
        text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    else:
        spaced = ": " in body or ", " in body
        text = json.dumps(value, ensure_ascii=ascii_only, separators=(", ", ": ") if spaced else (",", ":"))
    text += "\n" if original.endswith("\n") else ""
    return text.replace("\n", "\r\n") if "\r\n" in original else text


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def _manifest_path() -> Path:
    return config_dir() / "integrations.json"


def manifest() -> dict:
    try:
        value = json.loads(_manifest_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


# The manifest's own key: the folders its first write created.
MANIFEST_FOLDERS = "_created_folders"


def _save_manifest(value: dict) -> list[str]:
    """Write the manifest; when no integration is left, remove it and return
    the folders its first write created (to remove when empty)."""
    if any(key != MANIFEST_FOLDERS for key in value):
        value.setdefault(MANIFEST_FOLDERS, _missing_folders(_manifest_path()))
        atomic_write(_manifest_path(), json.dumps(value, indent=2) + "\n", 0o600)  # may hold a token
        return []
    _manifest_path().unlink(missing_ok=True)  # the last integration is gone: so is the record of it
    return value.get(MANIFEST_FOLDERS, [])


def atomic_write(path: Path, text: str, mode: int | None = None) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    tmp = path.with_name(f".{path.name}.usagecore-{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def backup(path: Path, text: str) -> Path:
    """A copy of the file as it was, beside it."""
    target = path.with_name(f"{path.name}.usagecore-backup-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while target.exists():
        target = target.with_name(f"{path.name}.usagecore-backup-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
        n += 1
    with open(target, "x", encoding="utf-8", newline="") as f:
        f.write(text)
    return target


def _missing_folders(path: Path) -> list[str]:
    """The folders above `path` that do not exist yet, deepest first."""
    missing = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        missing.append(str(folder))
        folder = folder.parent
    return missing


def apply(plan: Plan, *, forget: bool = False) -> list[Path]:
    """Write a plan: back up every existing file it changes, write atomically,
    and record (or forget) the integration in the manifest. Returns the backups.
    A file removed again takes with it the folders its install created, when
    they are empty."""
    backups = []
    emptied: list[str] = []
    entry = manifest().get(plan.integration, {})
    originals = entry.get("originals", {})
    # A second install must not forget what the first one replaced.
    record = {key: value for key, value in plan.record.items() if key not in entry}
    for change in plan.changes:
        if not change.changes:
            continue
        key = str(change.path)
        # A file we created ourselves (the hook script) needs no backup; the user's files do.
        ours = key in originals and originals[key]["before"] is None
        if change.before is not None and not ours:
            backups.append(backup(change.path, change.before))
        created = _missing_folders(change.path) if change.after is not None else []
        if change.after is None:
            change.path.unlink(missing_ok=True)
            emptied += originals.get(key, {}).get("created_folders", [])
        else:
            executable = change.path.suffix in (".sh",)
            atomic_write(change.path, change.after, 0o755 if executable else None)
        if not forget and key not in originals:
            # The first install's view of the file: what uninstall may restore.
            originals[key] = {"before": change.before, "written": _digest(change.after)}
            if created:
                originals[key]["created_folders"] = created
        elif not forget:
            originals[key]["written"] = _digest(change.after)
    full = manifest()
    if forget:
        full.pop(plan.integration, None)
    else:
        full[plan.integration] = {**entry, **record, "originals": originals,
                                  "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    emptied += _save_manifest(full)
    # Deepest first; one that is not empty (the user's files, the store) stays.
    for folder in sorted(set(emptied), key=lambda f: f.count(os.sep), reverse=True):
        try:
            os.rmdir(folder)
        except OSError:
            pass
    return backups


def restore_or(path: Path, current: str | None, integration: str, edited: str | None) -> str | None:
    """What uninstall should leave in `path`: its original bytes when nobody
    changed it since we wrote it, else `edited` (the current file without our parts)."""
    original = manifest().get(integration, {}).get("originals", {}).get(str(path))
    if original and original.get("written") == _digest(current):
        return original.get("before")
    return edited
