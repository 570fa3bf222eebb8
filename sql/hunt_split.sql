--
-- hunt_split: an ad-hoc query past the service's caps.  defender_hunt()
-- never returns such an answer as complete; defender_hunt_split() reads
-- it again in exact half-open time windows on a column of its result.
--
-- The emulator generates DeviceNetworkEvents: 2,400 rows over one day, 100
-- an hour, the first of every hour exactly on the hour (so on every window
-- edge of hunting_window '3 hours'), ReportId = 1 .. 2400; its row cap is
-- 500, and so is the server's hunting_max_rows.
SET timezone = 'UTC';
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 2400, "days": 1}],
                        "hunting_max_rows": 500}');
SELECT emulator('GET', '/_emulator/hunting/generated/DeviceNetworkEvents') AS truth \gset
SELECT (:'truth'::jsonb->'layout'->>'start') AS t0, (:'truth'::jsonb->'layout'->>'end') AS t1,
       (:'truth'::jsonb->>'count')::int AS truth_count,
       (:'truth'::jsonb->>'sum_report_id')::numeric AS truth_sum,
       (:'truth'::jsonb->>'sum_report_id_squared')::numeric AS truth_sq \gset
ALTER SERVER defender OPTIONS (ADD hunting_max_rows '500');

-- the queries sent since a point, with instants masked (they follow the clock)
CREATE FUNCTION hunts(since int DEFAULT 0)
RETURNS TABLE (status int, query text, timespan text) LANGUAGE sql AS $$
  SELECT status,
         regexp_replace(body->>'Query', '\d{4}-\d\d-\d\dT[\d:.]+Z', 'T', 'g'),
         regexp_replace(body->>'Timespan', '\d{4}-\d\d-\d\dT[\d:.]+Z', 'T', 'g')
  FROM emulator_requests() WHERE target LIKE '%runHuntingQuery' AND seq > since ORDER BY seq
$$;
-- the closed windows answered: consecutive ones must meet exactly
CREATE FUNCTION window_edges(since int DEFAULT 0)
RETURNS TABLE (windows bigint, gaps_or_overlaps bigint) LANGUAGE sql AS $$
  WITH w AS (
    SELECT substring(body->>'Query' from 'Timestamp >= datetime\(([^)]*)\)') AS lo,
           substring(body->>'Query' from 'Timestamp < datetime\(([^)]*)\)') AS hi
    FROM emulator_requests()
    WHERE target LIKE '%runHuntingQuery' AND status = 200 AND seq > since
      AND body->>'Query' LIKE '%' || chr(10) || ' | where Timestamp%'
  )
  SELECT count(*), count(*) FILTER (WHERE prev_hi IS DISTINCT FROM lo AND prev_hi IS NOT NULL
                                    AND lo IS NOT NULL)
  FROM (SELECT lo, hi, lag(hi) OVER (ORDER BY lo NULLS FIRST) AS prev_hi FROM w) s
$$;
CREATE FUNCTION last_seq() RETURNS int LANGUAGE sql AS
  $$ SELECT coalesce(max(seq), 0) FROM emulator_requests() $$;

--
-- defender_hunt(): an answer past the caps is an error, never a result
--
-- refused by the service as too large (the emulator's default)
SELECT show_error($$SELECT count(*) FROM defender_hunt('DeviceNetworkEvents') AS t(report_id bigint)$$);
-- within the caps, as before
SELECT count(*) FROM defender_hunt('DeviceNetworkEvents | where ReportId <= 499') AS t(report_id bigint);

--
-- defender_hunt_split(): the same query, complete and exact
--
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (
  SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp')
    AS t(timestamp timestamptz, report_id bigint, device_name text))
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum, sum(report_id::numeric ^ 2) = :truth_sq AS same_squares
FROM r;
-- the whole query (refused), a count to size the windows, then the windows:
-- the first open below, the last open above, the rows without a time
SELECT status, query, timespan FROM hunts(:seq0) LIMIT 3;
-- (how often a window is halved depends on where now falls in the hour)
SELECT count(*) FILTER (WHERE query LIKE '%| where Timestamp < datetime(T)' AND status = 200) AS open_first,
       count(*) FILTER (WHERE query LIKE '%| where Timestamp >= datetime(T)' AND status = 200) AS open_last,
       count(*) FILTER (WHERE query LIKE '%| where isnull(Timestamp)') AS nulls,
       count(*) FILTER (WHERE status <> 200) > 1 AS windows_refused_and_halved
FROM hunts(:seq0);
SELECT windows >= 8 AS windows, gaps_or_overlaps FROM window_edges(:seq0);

-- hunting_window: windows of three hours over the last 26 hours, starting
-- on a multiple of three hours, so each edge is exactly on a row (the
-- first of an hour); a row on an edge is read once, by the window it opens
ALTER SERVER defender OPTIONS (ADD hunting_window '3 hours');
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (
  SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp', interval '26 hours')
    AS t(timestamp timestamptz, report_id bigint))
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum FROM r;
SELECT windows BETWEEN 9 AND 10 AS windows, gaps_or_overlaps FROM window_edges(:seq0);
SELECT count(*) BETWEEN 7 AND 8 AS closed_windows,
       count(*) FILTER (WHERE date_trunc('hour', lo) <> lo OR extract(hour FROM lo)::int % 3 <> 0) AS edges_off_3_hours,
       count(*) FILTER (WHERE hi - lo <> interval '3 hours') AS not_3_hours_wide
FROM (SELECT substring(body->>'Query' from 'Timestamp >= datetime\(([^)]*)\)')::timestamptz AS lo,
             substring(body->>'Query' from 'Timestamp < datetime\(([^)]*)\)')::timestamptz AS hi
      FROM emulator_requests() WHERE target LIKE '%runHuntingQuery' AND seq > :seq0) w
WHERE lo IS NOT NULL AND hi IS NOT NULL;
-- the eight edges inside the day of data each hold exactly one row (read
-- once, as the totals above show)
SELECT count(*) AS edges_in_the_data, count(*) FILTER (WHERE n <> 1) AS edges_without_one_row
FROM (SELECT DISTINCT substring(body->>'Query' from 'Timestamp >= datetime\(([^)]*)\)')::timestamptz AS edge
      FROM emulator_requests() WHERE target LIKE '%runHuntingQuery' AND seq > :seq0) e
JOIN LATERAL (SELECT count(*) AS n FROM defender_hunt(format('DeviceNetworkEvents | where Timestamp == datetime(%s)',
                                                      to_char(e.edge, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
                                         AS t(report_id bigint)) c ON true
WHERE edge >= :'t0'::timestamptz AND edge < :'t1'::timestamptz;
SELECT count(*) FILTER (WHERE query LIKE '%| count') AS counts FROM hunts(:seq0);
ALTER SERVER defender OPTIONS (DROP hunting_window);

-- statements: a let and a where of the caller's, the window after them;
-- a timespan: one fixed start, the same for every request
SELECT last_seq() AS seq0 \gset
SELECT count(*) = :truth_count / 2 AS half, sum(report_id) = (SELECT sum(i) FROM generate_series(2, :truth_count, 2) i) AS even_sum
FROM defender_hunt_split($$let parity = 0;
DeviceNetworkEvents
| where ReportId % 2 == parity   // even rows; "| take 5" in a comment is no take
| project Timestamp, ReportId;$$, 'Timestamp', interval '2 days') AS t(report_id bigint);
SELECT count(*) AS requests, count(DISTINCT timespan) AS timespans, min(timespan) AS timespan FROM hunts(:seq0);
SELECT query FROM hunts(:seq0) WHERE query LIKE '%isnull%';

-- the jsonb variant
SELECT count(*) = :truth_count AS all_rows, sum((r->>'ReportId')::bigint) = :truth_sum AS same_sum
FROM defender_hunt_split_jsonb('DeviceNetworkEvents | project ReportId, Timestamp', 'Timestamp') AS r;

--
-- shapes that cannot be split exactly are refused before anything is sent
--
SELECT last_seq() AS seq0 \gset
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents | summarize count() by DeviceName', 'Timestamp') AS t(n bigint)$$);
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents | sort by Timestamp desc', 'Timestamp') AS t(n bigint)$$);
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents | top 5 by ReportId', 'Timestamp') AS t(n bigint)$$);
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents | count', 'Timestamp') AS t(n bigint)$$);
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents | where ReportId in ((DeviceNetworkEvents | take 3 | project ReportId))', 'Timestamp') AS t(n bigint)$$);
SELECT show_error($$SELECT * FROM defender_hunt_split('let x = DeviceNetworkEvents | summarize by DeviceName; DeviceNetworkEvents | distinct DeviceName;', 'Timestamp') AS t(n bigint)$$);
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents', '') AS t(n bigint)$$);
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp', interval '-1 day') AS t(n bigint)$$);
SELECT show_error($$SELECT * FROM defender_hunt_split('  // nothing', 'Timestamp') AS t(n bigint)$$);
SELECT count(*) AS sent FROM hunts(:seq0);
-- a summarize in an earlier statement, with rows at the end, splits
SELECT count(*) = :truth_count AS all_rows
FROM defender_hunt_split('let names = DeviceNetworkEvents | summarize by DeviceName; DeviceNetworkEvents;',
                         'Timestamp') AS t(report_id bigint);
-- a time column the result does not have: Graph's 400, an error
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents | project ReportId', 'Timestamp') AS t(n bigint)$$);
-- a 400 that is not Graph's JSON error, to the whole query or to a
-- window: what the body was, never an empty error code
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "html", "status": 400}');
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp') AS t(n bigint)$$);
SELECT emulator_fault('{"match": "runHuntingQuery", "body_contains": "| where Timestamp", "kind": "status",
                        "status": 400, "body": "{\"message\": \"not the error shape\"}"}');
SELECT show_error($$SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp') AS t(n bigint)$$);
SELECT emulator('DELETE', '/_emulator/faults');

--
-- the limits: hunting_max_windows, hunting_split
--
ALTER SERVER defender OPTIONS (ADD hunting_max_windows '3');
SELECT show_error($$SELECT count(*) FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp') AS t(n bigint)$$);
ALTER SERVER defender OPTIONS (DROP hunting_max_windows);
ALTER SERVER defender OPTIONS (ADD hunting_split 'off');
SELECT show_error($$SELECT count(*) FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp') AS t(n bigint)$$);
ALTER SERVER defender OPTIONS (DROP hunting_split);

--
-- cut mode: the service answers the first 500 rows and says nothing
--
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 2400, "days": 1}],
                        "hunting_max_rows": 500, "hunting_cap_mode": "cut"}');
-- defender_hunt(): exactly the cap is possibly cut, an error
SELECT show_error($$SELECT count(*) FROM defender_hunt('DeviceNetworkEvents') AS t(report_id bigint)$$);
SELECT show_error($$SELECT count(*) FROM defender_hunt_jsonb('DeviceNetworkEvents | where ReportId <= 500')$$);
SELECT count(*) FROM defender_hunt('DeviceNetworkEvents | where ReportId <= 499') AS t(report_id bigint);
-- defender_hunt_split(): split again until no window is at the cap
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (
  SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp') AS t(report_id bigint))
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum FROM r;
-- windows answered with exactly 500 rows were halved and asked again
SELECT count(*) FILTER (WHERE query LIKE '%| where Timestamp%') > 8 AS halved FROM hunts(:seq0);

--
-- a 429 mid-way: waited out, the call completes with every row ...
--
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 2400, "days": 1}],
                        "hunting_max_rows": 500}');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 429, "retry_after": 1,
                        "skip": 4, "times": 1}');
WITH r AS MATERIALIZED (
  SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp') AS t(report_id bigint))
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice FROM r;
SELECT count(*) AS throttled FROM emulator_requests() WHERE status = 429;
-- ... or, when it never ends, the call fails: no partial result
SELECT emulator('DELETE', '/_emulator/faults');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 429, "retry_after": 0,
                        "skip": 4, "times": -1}');
SELECT show_error($$SELECT count(*) FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp') AS t(report_id bigint)$$);
SELECT emulator('DELETE', '/_emulator/faults');

-- a window's rows wait in a store of their own (256 kB in memory, then a
-- temporary file, whatever work_mem) until its answer has been checked,
-- then go to the function's result: windows of thousands of rows
-- (hundreds of kB) spill on the way, and the rows are still exact
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 40000, "days": 1}],
                        "hunting_max_rows": 8000}');
SELECT emulator('GET', '/_emulator/hunting/generated/DeviceNetworkEvents') AS truth \gset
SELECT (:'truth'::jsonb->>'count')::int AS truth_count,
       (:'truth'::jsonb->>'sum_report_id')::numeric AS truth_sum \gset
ALTER SERVER defender OPTIONS (SET hunting_max_rows '8000');
SHOW work_mem;
SELECT last_seq() AS seq0 \gset
WITH r AS MATERIALIZED (
  SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp')
    AS t(timestamp timestamptz, report_id bigint, device_name text))
SELECT count(*) = :truth_count AS all_rows, count(DISTINCT report_id) = :truth_count AS none_twice,
       sum(report_id) = :truth_sum AS same_sum FROM r;
SELECT windows >= 7 AS windows, gaps_or_overlaps FROM window_edges(:seq0);

ALTER SERVER defender OPTIONS (DROP hunting_max_rows);
DROP FUNCTION hunts(int), window_edges(int), last_seq();
