"""The Rust extension (rust/py.rs). Rows cross only as Arrow tables."""

from os import PathLike
from typing import Any, TypedDict

__version__: str

# (path, offset, size, mtime_ns, head_hash, tail_hash)
CursorTuple = tuple[str, int, int, int, int, int]
# (path, byte offset, message)
ProblemTuple = tuple[str, int, str]

class ReadStats(TypedDict):
    files: int
    bytes: int
    lines: int
    usage_lines: int
    synthetic_lines: int
    skipped_lines: int
    reread_files: int
    problem_count: int

class ReadResult(TypedDict):
    raws: Any  # Arrow table (PyCapsule stream) with usage_raw_events columns
    cursors: Any  # Arrow table with file_cursors columns
    stats: ReadStats
    problems: list[ProblemTuple]

class Finished(TypedDict):
    events: Any  # Arrow table with usage_events columns
    duplicate_records: int
    sidechain_replays: int

def discover_jsonl(
    roots: list[str | PathLike[str]],
) -> tuple[list[tuple[str, int, int]], list[ProblemTuple]]: ...

class ClaudeReader:
    """Reads Claude Code transcripts, de-duplicating across reads until `finish`."""

    def __init__(self, *, keep_content: bool = False) -> None: ...
    def read(self, files: list[tuple[str, int, int, CursorTuple | None]]) -> ReadResult: ...
    def finish(self) -> Finished: ...

def normalize_model(raw: str) -> str: ...
def model_ref(raw: str) -> str: ...
