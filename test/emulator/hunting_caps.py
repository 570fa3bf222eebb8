"""The caps runHuntingQuery enforces, as Graph documents them
(security-api-overview, "Quotas and resource allocation", 2026):

  * "Queries explore and return data from the past 30 days": rows whose
    Timestamp is older than now - hunting_horizon_days (default 30; 0 = off)
    are invisible, whatever the Timespan asks for (a Timespan of P90D still
    sees 30 days);
  * "Results can return up to 100,000 rows": hunting_max_rows (default
    100000; tests set it lower);
  * "Query results have an overall size limit of 50 MB": the existing
    hunting_max_result_bytes (hunting.py);
  * the Timespan and the query's own time filter both apply, so the shorter
    span wins (their intersection).

Microsoft does not say whether a result past a cap is refused or cut, so
hunting_cap_mode chooses:
  "refuse" (default)  400 BadRequest with Kusto's E_QUERY_RESULT_SET_TOO_LARGE
                      text (rows) or the portal's "Result size limit
                      exceeded" text (bytes), as before;
  "cut"               200 with the first hunting_max_rows rows, or with the
                      rows that fit in hunting_max_result_bytes, and nothing
                      that says the answer was cut.
"""

import state as state_module
import kql

DEFAULT_MAX_ROWS = 100_000
DEFAULT_HORIZON_DAYS = 30
MODES = ("refuse", "cut")


def _rows(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
        raise ValueError("'hunting_max_rows' must be an integer from 1 to 10000000")
    return value


def _mode(value):
    if value not in MODES:
        raise ValueError("'hunting_cap_mode' must be one of %s" % ", ".join(MODES))
    return value


def _horizon(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("'hunting_horizon_days' must be a non-negative number of days (0 = no horizon)")
    return value


state_module.register_config("hunting_max_rows", _rows)
state_module.register_config("hunting_cap_mode", _mode)
state_module.register_config("hunting_horizon_days", _horizon)


class Caps:
    __slots__ = ("max_rows", "cut", "horizon_ticks")

    def __init__(self, max_rows, cut, horizon_ticks):
        self.max_rows = max_rows
        self.cut = cut
        self.horizon_ticks = horizon_ticks

    def key(self):
        return (self.max_rows, self.cut, self.horizon_ticks)


def caps(state):
    with state.lock:
        cfg = state.config
        max_rows = cfg.get("hunting_max_rows") or DEFAULT_MAX_ROWS
        cut = cfg.get("hunting_cap_mode", "refuse") == "cut"
        horizon = cfg.get("hunting_horizon_days")
    if horizon is None:
        horizon = DEFAULT_HORIZON_DAYS
    return Caps(max_rows, cut, int(horizon * kql.TICKS_PER_DAY))


def clip_window(start, end, now, c):
    """The Timespan window [start, end] (inclusive ticks) within the horizon."""
    if c.horizon_ticks:
        start = max(start, now - c.horizon_ticks)
    return start, end


def rows_message(limit):
    return ("Query result set has exceeded the internal record count limit %d "
            "(E_QUERY_RESULT_SET_TOO_LARGE)." % limit)


def cut_body(results_body, encode_rows, prefix_obj, columns, rows, limit):
    """The largest body of whole leading rows that fits in `limit` bytes."""
    empty = results_body(prefix_obj, columns, [])
    budget = limit - len(empty)
    if budget < 0:
        return empty
    used, take = 0, 0
    for row in rows:
        size = sum(len(part) for part in encode_rows(columns, [row])) + (1 if take else 0)
        if used + size > budget:
            break
        used += size
        take += 1
    return results_body(prefix_obj, columns, rows[:take])
