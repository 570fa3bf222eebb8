--
-- hunting_windows: a hunting scan past the service's caps is read again in
-- exact half-open time windows on the time column
--
-- The emulator generates DeviceNetworkEvents: 2,400 rows over one day, 100
-- an hour, the first of every hour exactly on the hour (so on every window
-- edge below), ReportId = 1 .. 2400; its row cap is 500.  The last row of
-- an hour is 100 ns before the next, which PostgreSQL (microseconds) reads
-- as the next hour's instant, so the queries below take "ts <= end" to mean
-- every row of the day.
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 2400, "days": 1}],
                        "hunting_max_rows": 500}');
SELECT emulator('GET', '/_emulator/hunting/generated/DeviceNetworkEvents') AS truth \gset
SELECT (:'truth'::jsonb->'layout'->>'start') AS t0, (:'truth'::jsonb->'layout'->>'end') AS t1,
       (:'truth'::jsonb->>'count')::int AS truth_count,
       (:'truth'::jsonb->>'sum_report_id')::numeric AS truth_sum,
       (:'truth'::jsonb->>'sum_report_id_squared')::numeric AS truth_sq \gset

CREATE FOREIGN TABLE net (
  ts timestamptz OPTIONS (property 'Timestamp'),
  report_id bigint OPTIONS (property 'ReportId'),
  device_name text OPTIONS (property 'DeviceName')
) SERVER defender OPTIONS (resource 'hunting', table 'DeviceNetworkEvents', hunting_max_rows '500');

-- the queries sent, with instants masked (they follow the clock)
CREATE FUNCTION hunts(since int DEFAULT 0)
RETURNS TABLE (status int, query text, timespan text) LANGUAGE sql AS $$
  SELECT status,
         regexp_replace(body->>'Query', '\d{4}-\d\d-\d\dT[\d:.]+Z', 'T', 'g'),
         regexp_replace(body->>'Timespan', '\d{4}-\d\d-\d\dT[\d:.]+Z', 'T', 'g')
  FROM emulator_requests() WHERE target LIKE '%runHuntingQuery' AND seq > since ORDER BY seq
$$;
-- the windows sent: consecutive ones must meet exactly, none may overlap
CREATE FUNCTION window_edges(since int DEFAULT 0)
RETURNS TABLE (windows bigint, gaps_or_overlaps bigint, first_lo text, last_hi text) LANGUAGE sql AS $$
  WITH w AS (
    SELECT seq, substring(body->>'Query' from 'Timestamp >= datetime\(([^)]*)\)') AS lo,
           substring(body->>'Query' from 'Timestamp < datetime\(([^)]*)\)') AS hi
    FROM emulator_requests()
    WHERE target LIKE '%runHuntingQuery' AND status = 200 AND seq > since
      AND body->>'Query' LIKE 'DeviceNetworkEvents | where Timestamp >=%| where %'
  )
  SELECT count(*), count(*) FILTER (WHERE prev_hi IS DISTINCT FROM lo AND prev_hi IS NOT NULL),
         min(lo), max(hi)
  FROM (SELECT lo, hi, lag(hi) OVER (ORDER BY lo) AS prev_hi FROM w) s
$$;
CREATE FUNCTION last_seq() RETURNS int LANGUAGE sql AS
  $$ SELECT coalesce(max(seq), 0) FROM emulator_requests() $$;
-- EXPLAIN ANALYZE with the instants masked
CREATE FUNCTION explain_windows(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    RETURN NEXT regexp_replace(line, '\d{4}-\d\d-\d\dT[\d:.]+Z', 'T', 'g');
  END LOOP;
END $$;

-- options: checked when set
CREATE FOREIGN TABLE bad_win (a text) SERVER defender
  OPTIONS (resource 'hunting', table 'T', hunting_window '1 month');
CREATE FOREIGN TABLE bad_win (a text) SERVER defender
  OPTIONS (resource 'hunting', table 'T', hunting_window '-1 hour');
CREATE FOREIGN TABLE bad_win (a text) SERVER defender
  OPTIONS (resource 'hunting', table 'T', hunting_window 'soon');
CREATE FOREIGN TABLE bad_win (a text) SERVER defender
  OPTIONS (resource 'hunting', table 'T', hunting_max_windows '1');
CREATE FOREIGN TABLE bad_win (a text) SERVER defender
  OPTIONS (resource 'hunting', table 'T', hunting_split 'maybe');
CREATE FOREIGN TABLE bad_win (a text) SERVER defender
  OPTIONS (resource 'hunting', table 'T', time_column 'Time stamp');
CREATE FOREIGN TABLE bad_win (a text) SERVER defender
  OPTIONS (resource 'incidents', hunting_split 'off');

-- EXPLAIN says how the scan would be split (plain EXPLAIN sends nothing)
SELECT last_seq() AS seq0 \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT report_id FROM net;
EXPLAIN (VERBOSE, COSTS OFF) SELECT report_id FROM net ORDER BY ts DESC;
EXPLAIN (VERBOSE, COSTS OFF) SELECT report_id FROM net ORDER BY device_name;
EXPLAIN (VERBOSE, COSTS OFF) SELECT device_name, count(*) FROM net GROUP BY device_name;
SELECT count(*) AS sent_by_explain FROM hunts(:seq0);

-- Refused as too large (the emulator's default): a count sizes the windows,
-- the windows cover the query's own bounds, each row is read once
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (SELECT * FROM net WHERE ts >= :'t0' AND ts <= :'t1')
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum, sum(report_id::numeric ^ 2) = :truth_sq AS same_squares
FROM r;
SELECT * FROM hunts(:seq0);
SELECT windows, gaps_or_overlaps, first_lo::timestamptz = :'t0'::timestamptz AS from_the_bound,
       last_hi::timestamptz > :'t1'::timestamptz AS past_the_last_row
FROM window_edges(:seq0);

-- A summarize past the caps (here a group per row) is not split, as its
-- groups would be cut at the window edges: PostgreSQL aggregates instead,
-- over the plain scan, which is split into windows in its turn
EXPLAIN (VERBOSE, COSTS OFF) SELECT report_id, count(*) FROM net GROUP BY report_id;
SELECT last_seq() AS seq0 \gset
SELECT count(*) = :truth_count AS a_group_a_row, sum(n) = :truth_count AS all_rows,
       sum(report_id) = :truth_sum AS same_sum
FROM (SELECT report_id, count(*) AS n FROM net WHERE ts >= :'t0' AND ts <= :'t1' GROUP BY report_id) s;
SELECT status, query FROM hunts(:seq0) LIMIT 3;
SELECT windows > 1 AS split, gaps_or_overlaps FROM window_edges(:seq0);

-- hunting_window: windows of three hours, each edge exactly on a row
ALTER FOREIGN TABLE net OPTIONS (ADD hunting_window '3 hours');
SELECT last_seq() AS seq0 \gset
SELECT explain_windows(format('SELECT * FROM net WHERE ts >= %L AND ts <= %L', :'t0', :'t1'));
SELECT windows, gaps_or_overlaps FROM window_edges(:seq0);
ALTER FOREIGN TABLE net OPTIONS (DROP hunting_window);
-- no query bound: the first and last windows stay open, the 30-day horizon
-- bounds the rest; still every row once
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (SELECT * FROM net)
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum FROM r;
SELECT count(*) FILTER (WHERE query LIKE '%Timestamp < datetime(T)%' AND query NOT LIKE '%>=%') AS open_first,
       count(*) FILTER (WHERE query LIKE '%Timestamp >= datetime(T) |%' AND query NOT LIKE '%Timestamp < %') AS open_last
FROM hunts(:seq0);

-- count(*) is one number: one query, whatever the caps
SELECT last_seq() AS seq0 \gset
SELECT count(*) = :truth_count AS counted FROM net;
SELECT count(*) AS requests FROM hunts(:seq0);

-- LIMIT: the windows are read in order and stop once it is met
SELECT last_seq() AS seq0 \gset
SELECT count(*), count(DISTINCT report_id) FROM (SELECT report_id FROM net WHERE ts >= :'t0' AND ts <= :'t1' LIMIT 1200) s;
SELECT count(*) FILTER (WHERE query LIKE '% | where Timestamp >=%') AS windows_sent,
       count(*) FILTER (WHERE query LIKE '%| count') AS counts FROM hunts(:seq0);

-- ORDER BY the time column: windows in that order, rows in order across them
SELECT report_id FROM net WHERE ts >= :'t0' AND ts <= :'t1' ORDER BY ts DESC LIMIT 3;
SELECT report_id FROM net WHERE ts >= :'t0' AND ts <= :'t1' ORDER BY ts LIMIT 3;
WITH r AS MATERIALIZED (SELECT report_id, row_number() OVER () AS n FROM
                          (SELECT report_id FROM net WHERE ts >= :'t0' AND ts <= :'t1' ORDER BY ts) o)
SELECT count(*) AS rows, count(*) FILTER (WHERE report_id <> n) AS out_of_order FROM r;

-- ORDER BY another column KQL sorts as PostgreSQL does: windows cannot
-- bring the rows in that order, so they are sent without sort or take and
-- the scan sorts their rows itself (PostgreSQL's tuplesort, by the plan's
-- keys): every row, in PostgreSQL's order (ReportId runs 1 .. 2400)
EXPLAIN (VERBOSE, COSTS OFF) SELECT report_id FROM net ORDER BY report_id DESC;
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (SELECT report_id, row_number() OVER () AS n FROM
                          (SELECT report_id FROM net WHERE ts >= :'t0' AND ts <= :'t1' ORDER BY report_id DESC) o)
SELECT count(*) AS rows, count(*) FILTER (WHERE report_id <> :truth_count + 1 - n) AS out_of_order FROM r;
-- (a window's query has its bounds and then the query's own where)
SELECT count(*) FILTER (WHERE query LIKE '%| where %| where %') > 1 AS windows,
       count(*) FILTER (WHERE query LIKE '%| where %| where %' AND (query LIKE '%sort by%' OR query LIKE '%take%'))
         AS windows_sorted_or_taken,
       count(*) FILTER (WHERE query NOT LIKE '%| where %| where %' AND query LIKE '%sort by ReportId desc%')
         AS whole_query_sorted
FROM hunts(:seq0);
-- a LIMIT past the cap, with an OFFSET: the rows PostgreSQL's own sort gives
SELECT count(*), min(report_id), max(report_id)
FROM (SELECT report_id FROM net WHERE ts >= :'t0' AND ts <= :'t1' ORDER BY report_id DESC LIMIT 600 OFFSET 10) s;
-- with work_mem below the rows, the sort spills and stays exact
SET work_mem = '64kB';
WITH r AS MATERIALIZED (SELECT report_id, row_number() OVER () AS n FROM
                          (SELECT report_id FROM net ORDER BY report_id DESC) o)
SELECT count(*) AS rows, count(*) FILTER (WHERE report_id <> :truth_count + 1 - n) AS out_of_order FROM r;
RESET work_mem;
-- the pushed sort feeding a merge of a GROUP BY (a DISTINCT aggregate):
-- the same groups as PostgreSQL's own scan
EXPLAIN (VERBOSE, COSTS OFF) SELECT report_id, max(DISTINCT device_name) FROM net GROUP BY report_id;
SELECT (SELECT array_agg(g ORDER BY n) FROM (SELECT g, row_number() OVER () AS n FROM
          (SELECT report_id, max(DISTINCT device_name) FROM net GROUP BY report_id) g) o) =
       (SELECT array_agg(g ORDER BY report_id) FROM
          (SELECT report_id, max(DISTINCT device_name) FROM (SELECT * FROM net OFFSET 0) n GROUP BY report_id) g)
       AS same_groups_in_order;

-- an upper bound later than now counts as none: the windows are cut over
-- the days up to now (the last one open), as without the bound, not evenly
-- up to the year 9000, which put every row in the first window and halved
-- it window after window (here 31 windows against 16; with the
-- differential tester's cap of 10 rows, past hunting_max_windows)
SELECT last_seq() AS seq0 \gset
SELECT count(report_id) = :truth_count AS all_rows FROM (SELECT report_id FROM net OFFSET 0) s;
SELECT count(*) AS unbounded_windows FROM hunts(:seq0) WHERE status = 200 AND query NOT LIKE '%| count' \gset
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (SELECT * FROM net WHERE ts < '9000-01-01')
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice FROM r;
SELECT count(*) <= :unbounded_windows AS no_more_windows_than_without_the_bound
FROM hunts(:seq0) WHERE status = 200 AND query NOT LIKE '%| count';

-- shapes that must not split: a summarize with more groups than the cap
-- (dcount, arg_max, percentile, avg are never split)
-- (a sort on another column that the plan leaves to PostgreSQL: the rows
-- split, the sort is local)
SELECT count(device_name) FROM (SELECT device_name FROM net ORDER BY device_name OFFSET 0) s;
SELECT count(*), count(DISTINCT report_id) FROM (SELECT report_id FROM net ORDER BY device_name LIMIT 600) s;
-- (a summarize with more groups than the cap: aggregated locally, see above)
SELECT report_id, count(*) FROM net GROUP BY report_id ORDER BY 2 DESC, 1 LIMIT 1;

-- splitting off: the refusal is an error, never a partial result
ALTER FOREIGN TABLE net OPTIONS (ADD hunting_split 'off');
SELECT show_error($$SELECT count(report_id) FROM (SELECT report_id FROM net OFFSET 0) s$$);
ALTER FOREIGN TABLE net OPTIONS (DROP hunting_split);

-- hunting_max_windows bounds the work
ALTER FOREIGN TABLE net OPTIONS (ADD hunting_max_windows '3');
SELECT show_error(format('SELECT count(report_id) FROM (SELECT report_id FROM net WHERE ts >= %L AND ts <= %L OFFSET 0) s', :'t0', :'t1'));
ALTER FOREIGN TABLE net OPTIONS (DROP hunting_max_windows);

-- cut mode: the service answers the first 500 rows and says nothing; an
-- answer of exactly the cap is taken as possibly cut and split again
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 2400, "days": 1}],
                        "hunting_max_rows": 500, "hunting_cap_mode": "cut"}');
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (SELECT * FROM net WHERE ts >= :'t0' AND ts <= :'t1')
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum FROM r;
SELECT status, query FROM hunts(:seq0) LIMIT 2;
-- a summarize answered with exactly the cap's groups may have been cut
-- too: aggregated locally over the windows instead
SELECT last_seq() AS seq0 \gset
SELECT count(*) = :truth_count AS a_group_a_row, sum(n) = :truth_count AS all_rows
FROM (SELECT report_id, count(*) AS n FROM net WHERE ts >= :'t0' AND ts <= :'t1' GROUP BY report_id) s;
SELECT status, query FROM hunts(:seq0) LIMIT 2;
-- a LIMIT of exactly the cap is complete, not cut: one query
SELECT last_seq() AS seq0 \gset
SELECT count(*) FROM (SELECT report_id FROM net LIMIT 500) s;
SELECT count(*) AS requests FROM hunts(:seq0);
-- and with splitting off, a full answer is an error
ALTER FOREIGN TABLE net OPTIONS (ADD hunting_split 'off');
SELECT show_error($$SELECT count(report_id) FROM (SELECT report_id FROM net OFFSET 0) s$$);
ALTER FOREIGN TABLE net OPTIONS (DROP hunting_split);

-- a 429 mid-way: waited out, the statement completes with every row ...
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 2400, "days": 1}],
                        "hunting_max_rows": 500}');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 429, "retry_after": 1,
                        "skip": 4, "times": 1}');
WITH r AS MATERIALIZED (SELECT * FROM net WHERE ts >= :'t0' AND ts <= :'t1')
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice FROM r;
SELECT count(*) AS throttled FROM emulator_requests() WHERE status = 429;
-- ... or, when it never ends, the statement fails: no partial result
SELECT emulator('DELETE', '/_emulator/faults');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 429, "retry_after": 0,
                        "skip": 4, "times": -1}');
SELECT show_error(format('SELECT count(report_id) FROM (SELECT report_id FROM net WHERE ts >= %L AND ts <= %L OFFSET 0) s', :'t0', :'t1'));
SELECT emulator('DELETE', '/_emulator/faults');

-- a window answered by a 400 that is not Graph's JSON error: the window
-- and what the body was, not "cannot be split" (Kusto said nothing)
SELECT emulator_fault('{"match": "runHuntingQuery", "body_contains": ") | where Timestamp >= datetime(", "kind": "html",
                        "status": 400, "times": 1}');
SELECT show_error(format('SELECT count(report_id) FROM (SELECT report_id FROM net WHERE ts >= %L AND ts <= %L OFFSET 0) s', :'t0', :'t1'));
SELECT emulator('DELETE', '/_emulator/faults');

-- the next window is asked for while this one is read (two of a scan's
-- windows in flight at most): with 300 ms of latency, at least every other
-- window's request arrives before the one before it has been answered, so
-- the service's time is spent on two windows at once (the emulator logs
-- when a request arrived and how long it took); with a LIMIT each window
-- asks for the rows still wanted, so it waits for the one before; the
-- rows are the same either way
SELECT emulator('DELETE', '/_emulator/faults');
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 2400, "days": 1}],
                        "hunting_max_rows": 500, "latency_ms": 300}');
CREATE FUNCTION windows_ahead(since int)
RETURNS TABLE (windows bigint, sent_before_the_one_before_was_answered bigint) LANGUAGE sql AS $$
  WITH w AS (
    SELECT (r->>'seq')::int AS seq, (r->>'arrived')::float8 AS arrived, (r->>'ms')::float8 AS ms
    FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
    WHERE r->>'raw_target' LIKE '%runHuntingQuery' AND (r->>'seq')::int > since
      AND r->'body'->>'Query' LIKE 'DeviceNetworkEvents | where Timestamp >=%| where %'
  )
  SELECT count(*), count(*) FILTER (WHERE arrived < prev_arrived + prev_ms / 1000)
  FROM (SELECT *, lag(arrived) OVER (ORDER BY seq) AS prev_arrived,
               lag(ms) OVER (ORDER BY seq) AS prev_ms FROM w) s
$$;
-- (the emulator's own sequence numbers, which emulator_requests() renumbers)
CREATE FUNCTION raw_seq() RETURNS int LANGUAGE sql AS $$
  SELECT coalesce(max((r->>'seq')::int), 0)
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
$$;
ALTER FOREIGN TABLE net OPTIONS (ADD hunting_window '4 hours');
SELECT raw_seq() AS seq0 \gset
WITH r AS MATERIALIZED (SELECT * FROM net WHERE ts >= :'t0' AND ts <= :'t1')
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum FROM r;
SELECT windows, sent_before_the_one_before_was_answered >= (windows - 1) / 2 AS two_at_a_time
FROM windows_ahead(:seq0);
SELECT raw_seq() AS seq0 \gset
SELECT count(*), count(DISTINCT report_id) FROM (SELECT report_id FROM net WHERE ts >= :'t0' AND ts <= :'t1' LIMIT 1300) s;
SELECT * FROM windows_ahead(:seq0);
-- a scan that stops early (a LIMIT over a condition PostgreSQL checks,
-- met in the first window) has sent one window ahead and no more
SELECT raw_seq() AS seq0 \gset
SELECT count(*) FROM (SELECT report_id FROM net WHERE ts >= :'t0' AND ts <= :'t1'
                      AND md5(report_id::text) LIKE '0%' LIMIT 5) s;
SELECT windows FROM windows_ahead(:seq0);
ALTER FOREIGN TABLE net OPTIONS (DROP hunting_window);

-- a window's rows wait in the scan's store until its answer has ended (and
-- been checked against the row cap); the store keeps at most 256 kB of
-- them in memory, whatever work_mem (4MB here), and spills the rest to a
-- temporary file: windows of 5,700 rows (about 400 kB in the store) spill,
-- and the rows are still exact
SELECT emulator_reset('{"latency_ms": 0, "hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 40000, "days": 1}],
                        "hunting_max_rows": 8000}');
SELECT emulator('GET', '/_emulator/hunting/generated/DeviceNetworkEvents') AS truth \gset
SELECT (:'truth'::jsonb->'layout'->>'start') AS t0, (:'truth'::jsonb->'layout'->>'end') AS t1,
       (:'truth'::jsonb->>'count')::int AS truth_count,
       (:'truth'::jsonb->>'sum_report_id')::numeric AS truth_sum \gset
ALTER FOREIGN TABLE net OPTIONS (SET hunting_max_rows '8000');
SHOW work_mem;
WITH r AS MATERIALIZED (SELECT * FROM net WHERE ts >= :'t0' AND ts <= :'t1')
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum FROM r;
SELECT explain_windows(format('SELECT * FROM net WHERE ts >= %L AND ts <= %L', :'t0', :'t1'));
SELECT emulator_reset('{"latency_ms": 0}');

DROP FOREIGN TABLE net;
DROP FUNCTION hunts(int), window_edges(int), last_seq(), explain_windows(text), windows_ahead(int), raw_seq();
