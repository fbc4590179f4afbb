"""The chaos run of bench/chaos.py, briefly: a kill, a stop and a Redis restart while three pairs call.

`python -m bench --only chaos` runs it for minutes (CHAOS_SECONDS) and prints the counts.
"""

from __future__ import annotations

from pathlib import Path

from bench.chaos import chaos


async def test_calls_through_two_nodes_killed_stopped_and_redis_restarted_leave_nothing_stuck(
    tmp_path: Path,
) -> None:
    counts = await chaos(seconds=25, folder=tmp_path, seed=12)
    print(counts)
    assert counts["settled"], counts
    assert counts["kills"] >= 1 and counts["stops"] >= 1 and counts["redis_restarts"] == 1
    assert counts["calls_heard"] >= 3, counts
    # Exactly once: one conference per call the pages saw created, no cause applied twice, nothing left on the bus.
    assert counts["created_not_stored_or_stored_twice"] == 0, counts
    assert counts["causes_applied_twice"] == 0, counts
    assert (counts["bus_pending"], counts["bus_unread"], counts["dead_letters"]) == (0, 0, 0), counts
    assert (counts["stuck_conferences"], counts["stuck_pages"]) == (0, 0), counts
