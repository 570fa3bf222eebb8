--
-- faults: throttling, server errors and broken answers end in the right
-- rows after bounded retries, or in a clear ERROR, never in a silent or
-- partial result
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(id) FROM incidents;	-- a token, cached for what follows

-- 429 with Retry-After: wait as told, retry, and return every row
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "query": "$skip=50", "kind": "status", "status": 429, "retry_after": 1}');
SELECT count(*), count(DISTINCT id) FROM incidents;
SELECT seq, status, fault FROM emulator_requests();

-- 429 without Retry-After: back off on our own schedule
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 429}');
SELECT count(id) FROM incidents;
SELECT seq, status, fault FROM emulator_requests();

-- 503 and 504 are retried too
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('[{"match": "/security/incidents", "kind": "status", "status": 503, "retry_after": 0},
                        {"match": "/security/incidents", "kind": "status", "status": 504, "retry_after": 0}]');
SELECT count(id) FROM incidents;
SELECT seq, status, fault FROM emulator_requests();

-- 503 beyond max_retries is an ERROR with Graph's code and request-id,
-- not zero rows; max_retries bounds the attempts
ALTER SERVER defender OPTIONS (ADD max_retries '2');
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 503, "retry_after": 0, "times": 5}');
SELECT show_error('SELECT count(id) FROM incidents');
SELECT count(*) AS attempts FROM emulator_requests() WHERE target LIKE '/v1.0/%';
ALTER SERVER defender OPTIONS (DROP max_retries);

-- an error that is not retried: 403, with the permission hint
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 403, "code": "Forbidden", "message": "Missing application roles. API required roles: SecurityIncident.Read.All."}');
SELECT show_error('SELECT count(id) FROM incidents');
SELECT count(*) AS attempts FROM emulator_requests() WHERE target LIKE '/v1.0/%';

-- a failure on page 3 of 3 fails the whole query: the rows of pages 1 and
-- 2 are never presented as a complete result
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
-- (pages 2 and 3 are requested together; "query" picks page 3)
SELECT emulator_fault('{"match": "/security/incidents", "query": "$skip=100", "kind": "malformed"}');
SELECT show_error('SELECT count(id) FROM incidents');
CREATE TEMP TABLE copied AS SELECT * FROM incidents WHERE false;
SELECT emulator_fault('{"match": "/security/incidents", "query": "$skip=100", "kind": "status", "status": 400, "code": "BadRequest", "message": "Invalid skip."}');
SELECT show_error('INSERT INTO copied SELECT * FROM incidents');
SELECT count(*) AS rows_copied FROM copied;
-- the same, following nextLinks one page at a time
ALTER FOREIGN TABLE incidents OPTIONS (ADD parallel_pages '1');
SELECT emulator_fault('{"match": "/security/incidents", "skip": 2, "kind": "status", "status": 400, "code": "BadRequest", "message": "Invalid skip token."}');
SELECT show_error('INSERT INTO copied SELECT * FROM incidents');
SELECT count(*) AS rows_copied FROM copied;
SELECT mask(target) AS target, status FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%' ORDER BY seq DESC LIMIT 3;
ALTER FOREIGN TABLE incidents OPTIONS (DROP parallel_pages);

-- broken answers
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "html"}');
SELECT show_error('SELECT count(id) FROM incidents');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "html", "status": 502}');
SELECT show_error('SELECT count(id) FROM incidents');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "empty"}');
SELECT show_error('SELECT count(id) FROM incidents');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "loop"}');
SELECT show_error('SELECT count(id) FROM incidents');

-- a connection dropped in the middle of a body is retried (the GET is
-- idempotent) and the scan completes with exactly the right rows
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
-- (pages 2 and 3 are requested together: one is cut short, the other reset)
SELECT emulator_fault('[{"match": "/security/incidents", "query": "$skip=50", "kind": "truncate"},
                        {"match": "/security/incidents", "query": "$skip=100", "kind": "reset"}]');
SELECT count(*), count(DISTINCT id) FROM incidents;
SELECT seq, target, status, fault FROM emulator_requests();

-- a response over the size cap
ALTER SERVER defender OPTIONS (ADD max_response_mb '1');
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "huge", "bytes": 2000000}');
SELECT show_error('SELECT count(id) FROM incidents');
ALTER SERVER defender OPTIONS (DROP max_response_mb);

-- nothing listening: connection refused, retried, then a clear error
CREATE SERVER nowhere FOREIGN DATA WRAPPER defender_fdw
  OPTIONS (tenant_id '00000000-0000-0000-0000-000000000001', max_retries '1',
           login_url 'http://127.0.0.1:9', graph_url 'http://127.0.0.1:9');
CREATE USER MAPPING FOR CURRENT_USER SERVER nowhere
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
CREATE FOREIGN TABLE incidents_nowhere (id text) SERVER nowhere OPTIONS (resource 'incidents');
SELECT show_error('SELECT * FROM incidents_nowhere');
DROP SERVER nowhere CASCADE;

-- after all that, the same backend still scans cleanly
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(id) FROM incidents;
