--
-- hunting_stream: a hunting answer is read as it arrives, and its rows
-- leave before its last byte when the service's row cap cannot have cut
-- it silently (a take of at most the cap); otherwise they wait for the
-- whole answer, still parsed as it arrives
--
-- DeviceNetworkEvents is generated: 2,400 rows over one day, ReportId 1 ..
-- 2400 in time order; the row cap is 500, as in hunting_windows.
SELECT emulator_reset('{"hunting_generated": [{"table": "DeviceNetworkEvents", "rows": 2400, "days": 1}],
                        "hunting_max_rows": 500}');
CREATE FOREIGN TABLE stream_net (
  ts timestamptz OPTIONS (property 'Timestamp'),
  report_id bigint OPTIONS (property 'ReportId'),
  device_name text OPTIONS (property 'DeviceName'),
  cmd text OPTIONS (property 'InitiatingProcessCommandLine'),
  folder text OPTIONS (property 'InitiatingProcessFolderPath'),
  sha256 text OPTIONS (property 'InitiatingProcessSHA256'),
  remote_url text OPTIONS (property 'RemoteUrl')
) SERVER defender OPTIONS (resource 'hunting', table 'DeviceNetworkEvents', hunting_max_rows '500');
-- the hunting requests since a point of the log
CREATE FUNCTION stream_hunts(since int DEFAULT 0)
RETURNS TABLE (status int, fault text) LANGUAGE sql AS $$
  SELECT status, fault FROM emulator_requests()
  WHERE target LIKE '%runHuntingQuery' AND seq > since ORDER BY seq
$$;
CREATE FUNCTION stream_last_seq() RETURNS int LANGUAGE sql AS
$$ SELECT coalesce(max(seq), 0) FROM emulator_requests() $$;

-- rows leave before the last byte: the emulator cuts the answer in half
-- (the whole Content-Length, half the body, then it closes the
-- connection), so the last byte never comes; the first rows are fetched
-- all the same
SELECT stream_last_seq() AS s0 \gset
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "truncate", "times": 1}');
BEGIN;
DECLARE c CURSOR FOR SELECT report_id FROM stream_net ORDER BY ts LIMIT 400;
FETCH 3 FROM c;
-- reading on meets the cut: an ERROR, never a shorter result taken for the
-- whole; rows have left, so the query is not sent again
\set VERBOSITY terse
FETCH ALL FROM c;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT * FROM stream_hunts(:s0);
-- the same, whole: the rows went on to count(*) before the cut
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "truncate", "times": 1}');
SELECT regexp_replace(e, '\d+ bytes', '<n> bytes', 'g') AS error
FROM show_error('SELECT count(*) FROM (SELECT report_id FROM stream_net ORDER BY ts LIMIT 400) s') AS e;

-- the same cut before any row has left (the rows of an answer that may
-- hold the whole cap wait for its end): the query is sent again, and the
-- result is whole
SELECT stream_last_seq() AS s0 \gset
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "truncate", "times": 1}');
WITH r AS MATERIALIZED (SELECT report_id FROM stream_net WHERE report_id <= 300)
SELECT count(*), sum(report_id) FROM r;
SELECT * FROM stream_hunts(:s0);

-- an error status is the same ERROR as before, Graph's code in DETAIL
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 403, "times": 1}');
SELECT * FROM show_error('SELECT report_id FROM stream_net ORDER BY ts LIMIT 3');
-- a 429 is retried (no row had left), then the rows come
SELECT stream_last_seq() AS s0 \gset
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 429, "retry_after": 0, "times": 1}');
SELECT report_id FROM stream_net ORDER BY ts LIMIT 3;
SELECT * FROM stream_hunts(:s0);
-- bad JSON in an answer whose rows may leave early: PostgreSQL's JSON
-- error, and no row of it
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "{\"results\": [{\"ReportId\": 1}, {\"ReportId\": 2}, {\"ReportId\": ]}"}');
BEGIN;
DECLARE c CURSOR FOR SELECT report_id FROM stream_net ORDER BY ts LIMIT 400;
FETCH 1 FROM c;
FETCH ALL FROM c;
ROLLBACK;

-- exact cap: with the service cutting at the cap without saying so
-- (hunting_cap_mode cut), a scan without a take may get exactly 500 rows,
-- possibly cut, so none of them leaves before the answer is known whole:
-- the first row fetched comes from the time windows read after it
SELECT emulator('POST', '/_emulator/config', '{"hunting_cap_mode": "cut"}');
SELECT stream_last_seq() AS s0 \gset
BEGIN;
DECLARE c CURSOR FOR SELECT report_id FROM stream_net;
FETCH 1 FROM c;
SELECT count(*) > 1 AS windows_before_first_row FROM stream_hunts(:s0);
ROLLBACK;
-- a take of at most the cap cannot be cut: its first row leaves at once,
-- after one request
SELECT stream_last_seq() AS s0 \gset
BEGIN;
DECLARE c CURSOR FOR SELECT report_id FROM stream_net ORDER BY ts LIMIT 500;
FETCH 1 FROM c;
SELECT count(*) AS requests_before_first_row FROM stream_hunts(:s0);
ROLLBACK;
SELECT emulator('POST', '/_emulator/config', '{"hunting_cap_mode": "refuse"}');

-- on a slow link (20,000 bytes a second; the emulator writes 16 KiB at a
-- time): the answer to "take 500" of these columns takes several seconds
CREATE VIEW stream_wide AS
  SELECT ts, report_id, num_nulls(device_name, cmd, folder, sha256, remote_url) >= 0 AS wide
  FROM stream_net;
SELECT emulator('POST', '/_emulator/config', '{"bandwidth_bytes_per_s": 20000}');
-- a LIMIT met stops the transfer: the outer LIMIT 2 ends the scan after
-- two rows, long before the whole answer could have arrived
SELECT stream_last_seq() AS s0 \gset
SELECT clock_timestamp() AS t0 \gset
SELECT report_id, wide FROM (SELECT * FROM stream_wide ORDER BY ts LIMIT 500) s LIMIT 2;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '5 seconds' AS stopped_early;
SELECT (SELECT sum((r->>'bytes')::bigint) FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') r
        WHERE (r->>'seq')::int > :s0 AND r->>'path' LIKE '%runHuntingQuery') > 100000 AS answer_of_more_than_5_seconds;
-- statement_timeout while the answer arrives, after rows have left
BEGIN;
DECLARE c CURSOR FOR SELECT report_id, wide FROM stream_wide ORDER BY ts LIMIT 500;
FETCH 1 FROM c;
SELECT clock_timestamp() AS t0 \gset
SET LOCAL statement_timeout = '1s';
FETCH ALL FROM c;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '4 seconds' AS ended_promptly;
-- pg_cancel_backend while the answer arrives
\! (sleep 2; psql -X -q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS cancel_stream%' AND pid <> pg_backend_pid()" >/dev/null 2>&1) &
SELECT count(*) AS cancel_stream FROM (SELECT * FROM stream_wide ORDER BY ts LIMIT 500) s WHERE wide;
\echo :LAST_ERROR_SQLSTATE
SELECT emulator('POST', '/_emulator/config', '{"bandwidth_bytes_per_s": 0}');
-- the backend is clean: the next scans are whole
SELECT count(*), sum(report_id) FROM (SELECT report_id FROM stream_net ORDER BY ts LIMIT 500) s;
WITH r AS MATERIALIZED (SELECT report_id FROM stream_net) SELECT count(*), sum(report_id) FROM r;

DROP VIEW stream_wide;
DROP FOREIGN TABLE stream_net;
DROP FUNCTION stream_hunts(int), stream_last_seq();
