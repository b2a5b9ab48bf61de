"""The Rust extension (rust/py.rs). Rows cross only as Arrow tables."""

from os import PathLike
from typing import Any, TypedDict

__version__: str

# (path, offset, size, mtime_ns, head_hash, tail_hash, decoder state as JSON)
CursorTuple = tuple[str, int, int, int, int, int, str | None]
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
    skipped_files: int
    unreadable_files: int
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

def fingerprint(paths: list[str | PathLike[str]]) -> tuple[str, int, int]:
    """Every file under `paths` by path, size and mtime: (hash hex, newest mtime ns, files)."""

class Reader:
    """Reads one source's JSONL history (`claude_code` transcripts or `codex`
    rollouts), de-duplicating across reads until `finish`."""

    def __init__(self, source: str, *, keep_content: bool = False) -> None: ...
    def read(self, files: list[tuple[str, int, int, CursorTuple | None]]) -> ReadResult: ...
    def finish(self) -> Finished: ...

def normalize_model(raw: str) -> str: ...

class OpenCodeStats(TypedDict):
    files: int
    bytes: int
    lines: int
    usage_lines: int
    skipped_lines: int
    duplicate_records: int

class OpenCodeBatch(TypedDict):
    events: Any  # Arrow table with usage_events columns
    raws: Any  # Arrow table with usage_raw_events columns
    repeats: bool  # an event of an earlier batch comes again: merge, do not plain-insert
    stats: OpenCodeStats
    problems: list[ProblemTuple]

class OpenCodeReader:
    """Reads OpenCode's legacy trees, then its databases, in batches."""

    def __init__(self, databases: list[tuple[str, int]], storages: list[tuple[str, str | None]]) -> None: ...
    def read(self, max_bytes: int) -> OpenCodeBatch | None: ...
    def cursors(self) -> Any: ...  # Arrow table with file_cursors columns
def model_ref(raw: str) -> str: ...

class Spooled(TypedDict):
    events: Any  # Arrow table with usage_events columns
    raws: Any  # Arrow table with usage_raw_events columns
    transcripts: list[tuple[str, str | None]]
    threads: list[tuple[str, str | None]]
    rejected: list[tuple[str, str]]

def decode_codex_notify(payloads: list[tuple[str, int, str | None, bytes]]) -> Spooled: ...
def decode_opencode_plugin(payloads: list[tuple[str, int, str | None, bytes]]) -> Spooled: ...
class OtlpStats(TypedDict):
    requests: int  # made durable in the spool
    files: int  # spool files written (group commit: several requests a file)
    bytes: int
    pending_files: int  # spool files not yet drained

class OtlpServer:
    """The OTLP/HTTP and OTLP/gRPC receiver (rust/server), serving until `stop`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        grpc_port: int | None,
        spool_dir: str | PathLike[str],
        tokens: dict[str, str | None],
        max_body_bytes: int = ...,
        max_decompressed_bytes: int = ...,
        max_pending_files: int = ...,
        body_timeout_s: float = ...,
    ) -> None: ...
    @property
    def http_port(self) -> int | None: ...
    @property
    def grpc_port(self) -> int | None: ...
    def stats(self) -> OtlpStats: ...
    def stop(self) -> None: ...

class OtlpConverted(TypedDict):
    points: Any  # Arrow table, otel_metric_points columns without the deltas
    otel_events: Any
    spans: Any
    events: Any  # usage_events
    raws: Any  # usage_raw_events
    stats: dict[str, int]
    failed: list[tuple[int, str]]  # (index of the part, why it could not be decoded)
    segment_failed: list[tuple[int, int, str]]  # (index of the segment, of its request, why)
    torn: list[tuple[int, int]]  # (index of the segment, bytes of its torn last request)

def otlp_frames(payload: bytes) -> tuple[list[tuple[str, str, bytes, str | None, int]], int]: ...
def otlp_convert(
    parts: list[tuple[str, str, bytes, str | None, int]], *, keep_content: bool = False,
    segments: list[bytes] = ...,
) -> OtlpConverted: ...
