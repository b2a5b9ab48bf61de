"""Build Claude Code transcript lines for tests, shaped like the real ones
(compact JSON, one line per content block, usage copied on every line)."""

from __future__ import annotations

import json


def assistant_line(
    *,
    message_id: str,
    request_id: str | None,
    uuid: str,
    timestamp: str,
    output: int,
    input_tokens: int = 3,
    cache_read: int = 1000,
    cache_write: int = 50,
    model: str = "claude-opus-4-6",
    session: str = "11111111-2222-3333-4444-555555555555",
    cwd: str = "/home/me/my.app",
    sidechain: bool = False,
    agent_id: str | None = None,
    text: str = "some private text",
) -> str:
    line = {
        "parentUuid": None,
        "isSidechain": sidechain,
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": None,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
                "output_tokens": output,
                "service_tier": "standard",
            },
        },
        "type": "assistant",
        "uuid": uuid,
        "timestamp": timestamp,
        "cwd": cwd,
        "sessionId": session,
        "version": "2.1.90",
    }
    if request_id is not None:
        line["requestId"] = request_id
    if agent_id is not None:
        line["agentId"] = agent_id
    return json.dumps(line, separators=(",", ":")) + "\n"


def user_line(uuid: str, timestamp: str, text: str = "hello") -> str:
    return json.dumps(
        {"type": "user", "uuid": uuid, "timestamp": timestamp, "message": {"role": "user", "content": text}},
        separators=(",", ":"),
    ) + "\n"


def response(n: int, outputs: list[int], *, day: str = "2026-05-01", **kw) -> list[str]:
    """One API response written as len(outputs) lines (one per content block)."""
    return [
        assistant_line(
            message_id=f"msg_{n:04d}",
            request_id=f"req_{n:04d}",
            uuid=f"u-{n:04d}-{i}",
            timestamp=f"{day}T10:{n % 60:02d}:{i:02d}.000Z",
            output=out,
            **kw,
        )
        for i, out in enumerate(outputs)
    ]
