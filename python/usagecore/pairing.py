"""One Codex response seen through OTLP and through its rollout is one message.

The two sightings share no id: Codex's `codex.sse_event` `response.completed`
log record carries the thread (`conversation.id`), a time, the token counts and
the model, and no response or turn id; the rollout's usage line names the
response. So they are paired on what they share: a Codex OTLP message and a
Codex rollout message of the same thread (`session_id`), model, account and token counts
(input, cached, output, reasoning; both already in our vocabulary, cached
outside input), at most `WINDOW` apart, the closest first, one to one (two
responses that look alike pair with two partners). The rollout's row stays (it
has the turn, project, git branch and response id), its gaps filled from the
OTLP row's; the OTLP row goes, and `paired_events` remembers it: a
retransmission of that log record is not stored again, and the kept row takes
no second partner.

It runs inside the writer's transaction whenever Codex messages are written
(`store.Writer.add_events`: the OTLP drain, `notify`, `backfill codex`), in
whichever order the two paths come, and looks only at pairs with a message of
the batch. A batch without Codex messages costs nothing: the writer counts
the batch anyway, and the same query says whether it holds Codex messages.
"""

from __future__ import annotations

from typing import NamedTuple

import duckdb

from usagecore import prices

# How far apart the two sightings may be. The OTLP record is stamped when the
# response completes; the rollout's `token_usage_record` line 3-12 ms later
# (Codex 0.169.0, every capture). Rollouts written before `token_usage_record`
# existed have only `token_count` lines, written after the tools the response
# called have run (107 ms for `ls` in the captures; minutes for a long build or
# test run). Ten minutes covers that. A wide window risks little: only two
# responses of one thread with the same model and every token count the same
# can pair crosswise, which changes no count once both paths have seen both.
WINDOW = "INTERVAL 10 MINUTE"

TOKENS = ("input_tokens", "cache_read_tokens", "output_tokens", "reasoning_tokens")


class CodexBatch(NamedTuple):
    """The Codex messages of a batch: their time range, and whether any came through OTLP."""

    since: object
    until: object
    has_otlp: bool


_CODEX = "source_system = 'codex' AND event_type = 'message'"


def count_batch(con: duckdb.DuckDBPyConnection) -> tuple[int, CodexBatch | None]:
    """How many events `new_events` holds, and its Codex messages (None when
    there are none): one query the writer needs anyway for the count."""
    total, since, until, has_otlp = con.execute(
        f"SELECT count(*), min(occurred_at) FILTER (WHERE {_CODEX}), max(occurred_at) FILTER (WHERE {_CODEX}), "
        f"bool_or(source_channel = 'otlp') FILTER (WHERE {_CODEX}) FROM new_events").fetchall()[0]
    return total, (None if since is None else CodexBatch(since, until, bool(has_otlp)))


def without_paired_away(source: str) -> str:
    """`source` without the OTLP messages already paired away: a retransmitted
    log record must not bring its row back."""
    return (f"(SELECT * FROM {source} WHERE NOT ({_CODEX} AND source_channel = 'otlp' "
            "AND event_id IN (SELECT dropped_event_id FROM paired_events)))")


# Every possible pair with a message of the batch (`new_events`): an OTLP and a
# rollout sighting not paired yet, alike and within the window. A model or
# account only one side names does not keep them apart (a rollout of an early
# build may lack the model, which OTLP then gives it).
_EDGES_SQL = f"""
CREATE OR REPLACE TEMP TABLE codex_pair_edges AS
WITH batch AS (
    SELECT event_id FROM new_events WHERE {_CODEX}
),
sightings AS (
    SELECT * FROM usage_events
    WHERE {_CODEX} AND source_channel IN ('otlp', 'rollout')
      AND session_id IS NOT NULL AND occurred_at BETWEEN $1 - {WINDOW} AND $2 + {WINDOW}
      AND event_id NOT IN (SELECT kept_event_id FROM paired_events)
)
SELECT o.event_id AS otlp_event, r.event_id AS rollout_event,
       abs(epoch_us(o.occurred_at) - epoch_us(r.occurred_at)) AS apart
FROM sightings AS o JOIN sightings AS r
  ON o.source_channel = 'otlp' AND r.source_channel = 'rollout'
 AND r.session_id = o.session_id AND {" AND ".join(f"r.{c} = o.{c}" for c in TOKENS)}
 AND r.occurred_at BETWEEN o.occurred_at - {WINDOW} AND o.occurred_at + {WINDOW}
 AND {" AND ".join(f"(o.{c} IS NULL OR r.{c} IS NULL OR o.{c} = r.{c})" for c in ("model", "account_id"))}
WHERE o.event_id IN (SELECT event_id FROM batch) OR r.event_id IN (SELECT event_id FROM batch)
"""

# One round of one-to-one pairing: the pairs each side finds closest (ties: the
# lower id). The closest remaining pair always qualifies, so rounds end.
_ROUND_SQL = """
INSERT INTO codex_pairs
SELECT otlp_event, rollout_event FROM codex_pair_edges
QUALIFY row_number() OVER (PARTITION BY otlp_event ORDER BY apart, rollout_event) = 1
    AND row_number() OVER (PARTITION BY rollout_event ORDER BY apart, otlp_event) = 1
"""

_TAKEN_SQL = """
DELETE FROM codex_pair_edges
WHERE otlp_event IN (SELECT otlp_event FROM codex_pairs)
   OR rollout_event IN (SELECT rollout_event FROM codex_pairs)
"""

# The rollout's row keeps what it has; what it lacks comes from OTLP (e.g. the
# account and user of an authenticated exporter). A cache write only one side
# reports is kept.
_GAPS = ("provider_id", "account_id", "model_raw", "model", "turn_id", "message_id", "request_id",
         "agent_id", "user_id", "client_version", "project", "git_branch", "speed")
_MERGE_SQL = """
UPDATE usage_events AS r SET
    cache_write_tokens = greatest(r.cache_write_tokens, o.cache_write_tokens),
    total_tokens = r.total_tokens - r.cache_write_tokens + greatest(r.cache_write_tokens, o.cache_write_tokens),
    cost_usd = CASE WHEN o.cost_source = 'reported' AND (r.cost_source <> 'reported' OR o.cost_usd > r.cost_usd)
                    THEN o.cost_usd ELSE r.cost_usd END,
    cost_source = CASE WHEN 'reported' IN (r.cost_source, o.cost_source) THEN 'reported' ELSE r.cost_source END,
""" + ",\n".join(f"    {c} = coalesce(r.{c}, o.{c})" for c in _GAPS) + """
FROM codex_pairs AS p JOIN usage_events AS o ON o.event_id = p.otlp_event
WHERE r.event_id = p.rollout_event
"""


def pair_codex(con: duckdb.DuckDBPyConnection, batch: CodexBatch) -> int:
    """Pair the Codex messages of `new_events` (just written) with their other
    sightings; returns the number of OTLP rows that went."""
    # No `finally` for the temp tables: after a failure the transaction is
    # aborted, dropping would fail too and hide the real error.
    con.execute(_EDGES_SQL, [batch.since, batch.until])
    if not con.execute("SELECT count(*) FROM codex_pair_edges").fetchall()[0][0]:
        con.execute("DROP TABLE codex_pair_edges")
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE codex_pairs (otlp_event VARCHAR, rollout_event VARCHAR)")
    while con.execute(_ROUND_SQL).fetchall()[0][0]:
        con.execute(_TAKEN_SQL)
    con.execute(_MERGE_SQL)
    con.execute("INSERT INTO paired_events SELECT otlp_event, rollout_event, current_timestamp FROM codex_pairs")
    paired = con.execute("DELETE FROM usage_events WHERE event_id IN (SELECT otlp_event FROM codex_pairs)"
                         ).fetchall()[0][0]
    # A gap filled in the model or provider changes the price.
    prices.apply_costs(con, "e.event_id IN (SELECT rollout_event FROM codex_pairs)")
    con.execute("DROP TABLE codex_pairs")
    con.execute("DROP TABLE codex_pair_edges")
    return paired
