--
-- cancel: a request that never answers is ended promptly by
-- statement_timeout or pg_cancel_backend, with SQLSTATE 57014, and the
-- backend stays usable
--
SELECT emulator_reset('{"incidents": 10, "seed": 1}');
SELECT count(id) FROM incidents;	-- a token, so the hang below is on Graph

-- statement_timeout during a response that never comes
SELECT emulator_fault('{"match": "/security/incidents", "kind": "hang", "seconds": 60}');
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '1s';
SELECT count(id) FROM incidents;
RESET statement_timeout;
\echo :LAST_ERROR_SQLSTATE
SELECT clock_timestamp() - :'t0'::timestamptz < interval '3 seconds' AS ended_promptly;
SELECT count(id) FROM incidents;

-- pg_cancel_backend from another session while the scan waits
SELECT emulator_fault('{"match": "/security/incidents", "kind": "hang", "seconds": 60}');
\! (sleep 1; psql -X -q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS cancel_me%' AND pid <> pg_backend_pid()" >/dev/null 2>&1) &
SELECT clock_timestamp() AS t0 \gset
SELECT count(id) AS cancel_me FROM incidents;
\echo :LAST_ERROR_SQLSTATE
SELECT clock_timestamp() - :'t0'::timestamptz < interval '4 seconds' AS ended_promptly;

-- while it waited, the backend showed a wait event, not CPU work
SELECT emulator_fault('{"match": "/security/incidents", "kind": "hang", "seconds": 60}');
\! (sleep 1; psql -X -q -At -c "SELECT wait_event_type FROM pg_stat_activity WHERE query LIKE '%AS waiting_scan%' AND pid <> pg_backend_pid()" > /tmp/defender_fdw_wait_event 2>&1; psql -X -q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS waiting_scan%' AND pid <> pg_backend_pid()" >/dev/null 2>&1) &
SELECT count(id) AS waiting_scan FROM incidents;
\echo :LAST_ERROR_SQLSTATE
\! cat /tmp/defender_fdw_wait_event; rm -f /tmp/defender_fdw_wait_event

-- a retry wait is interruptible too: Retry-After 30, cancelled after 1 s
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 429, "retry_after": 30}');
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '1s';
SELECT count(id) FROM incidents;
RESET statement_timeout;
\echo :LAST_ERROR_SQLSTATE
SELECT clock_timestamp() - :'t0'::timestamptz < interval '3 seconds' AS ended_promptly;

-- the handle is clean: the next scan works and returns every row
SELECT emulator('DELETE', '/_emulator/faults');
SELECT count(id) FROM incidents;
