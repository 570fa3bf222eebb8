--
-- pushdown: WHERE into $filter gives exactly the rows local filtering gives
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');

CREATE TABLE where_cases (n serial, clause text);
INSERT INTO where_cases (clause) VALUES
  -- enumerations: exact
  ($$status = 'active'$$),
  ($$status <> 'resolved'$$),
  ($$severity = 'high'$$),
  ($$severity IN ('high', 'medium')$$),
  ($$severity = ANY (ARRAY['low', 'informational'])$$),
  ($$severity <> ALL (ARRAY['low', 'informational'])$$),
  ($$severity NOT IN ('high')$$),
  ($$classification IS NULL$$),
  ($$classification IS NOT NULL$$),
  ($$classification = 'truePositive'$$),
  ($$classification <> 'truePositive'$$),
  ($$NOT (classification = 'truePositive')$$),
  ($$determination IN ('malware', 'phishing', 'other')$$),
  ($$determination NOT IN ('other')$$),
  -- case and non-members: PostgreSQL compares text exactly
  ($$status = 'Active'$$),
  ($$status = 'bogus'$$),
  ($$status <> 'Active'$$),
  ($$classification <> 'TruePositive'$$),
  ($$status IN ('active', 'Active', 'bogus')$$),
  ($$status::text = 'inProgress'$$),
  -- free text: pushed as a pre-filter, rechecked
  ($$assigned_to = 'tier2@contoso.com'$$),
  ($$assigned_to = 'TIER2@contoso.com'$$),
  ($$assigned_to = 'o''brien@contoso.com'$$),
  ($$assigned_to IN ('100%admin@contoso.com', 'user#1@contoso.com', 'first+filter@contoso.com')$$),
  ($$assigned_to = 'SOC Tier 2 & Friends'$$),
  ($$assigned_to = 'quote"d@contoso.com' OR assigned_to = 'back\slash@contoso.com'$$),
  ($$assigned_to IN ('山田@contoso.jp', 'josé@contoso.com', 'renée@contoso.com')$$),
  ($$assigned_to IS NULL$$),
  ($$assigned_to IS NOT NULL AND severity = 'high'$$),
  ($$assigned_to <> 'tier2@contoso.com'$$),
  ($$NOT (assigned_to = 'tier2@contoso.com')$$),
  -- DateTimeOffset: exact, at 100 ns
  ($$created_date_time >= '2025-06-01'$$),
  ($$created_date_time < '2025-06-01 12:00:00+02'$$),
  ($$created_date_time > '2025-09-01'::timestamptz - interval '3 months'$$),
  ($$created_date_time BETWEEN '2025-04-01' AND '2025-05-01'$$),
  ($$last_update_date_time <= '2025-05-01T00:00:00.5Z'$$),
  ($$created_date_time = (SELECT min(created_date_time) FROM emulator_incidents())$$),
  ($$created_date_time > (SELECT min(created_date_time) FROM emulator_incidents())$$),
  ($$created_date_time <= (SELECT max(created_date_time) FROM emulator_incidents() WHERE severity = 'low')$$),
  ($$created_date_time <> (SELECT max(created_date_time) FROM emulator_incidents())$$),
  ($$created_date_time IN (SELECT created_date_time FROM emulator_incidents() WHERE priority_score > 95)$$),
  ($$created_date_time >= '-infinity'$$),
  ($$created_date_time < '-infinity'$$),
  ($$created_date_time < 'infinity'$$),
  -- AND, OR, NOT
  ($$status = 'active' OR severity = 'high'$$),
  ($$(status = 'active' AND severity = 'high') OR classification = 'falsePositive'$$),
  ($$NOT (status = 'active' OR severity = 'low')$$),
  ($$NOT (created_date_time >= '2025-06-01' AND status = 'resolved')$$),
  ($$NOT (classification IS NULL) AND NOT (determination <> 'other')$$),
  -- partly or not pushable
  ($$status = 'active' AND display_name LIKE '%PowerShell%'$$),
  ($$status = 'active' OR display_name LIKE '%a%'$$),
  ($$priority_score > 50$$),
  ($$custom_tags @> '{VIP}'$$),
  ($$lower(status) = 'active'$$),
  ($$coalesce(classification, 'none') = 'none'$$),
  -- NULLs and empty lists
  ($$classification <> ALL (ARRAY['truePositive', NULL])$$),
  ($$severity = ANY (ARRAY[]::text[])$$),
  ($$severity = NULL$$),
  -- the first instant Graph holds: its bounds must not reach year 0
  ($$created_date_time >= '0001-01-01 00:00:00+00'$$),
  ($$created_date_time = '0001-01-01 00:00:00+00'$$),
  ($$created_date_time < '0001-01-01 00:00:01+00'$$);

SELECT n, clause, c.matching, c.same, c.filter_sent
FROM where_cases, LATERAL check_pushdown(clause) c ORDER BY n;
SELECT count(*) AS cases, count(*) FILTER (WHERE c.same) AS same
FROM where_cases, LATERAL check_pushdown(clause) c;
-- a value computed at execution from now(): the same rows
SELECT matching, same FROM check_pushdown($$created_date_time > now() - interval '10 years'$$);
SELECT matching, same FROM check_pushdown($$last_update_date_time <= now()$$);

-- The exact request for a few shapes, with the local filter shown apart.
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE status = 'active' AND severity IN ('high', 'medium');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE assigned_to = 'o''brien@contoso.com';
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE created_date_time >= '2025-06-01' AND created_date_time < '2025-07-01';
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE created_date_time > now() - interval '7 days';
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE NOT (classification = 'truePositive' OR status = 'resolved');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE status = 'Active';
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE status = 'active' AND display_name LIKE '%Power%';

-- What goes over the wire: every value percent-encoded.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(id) FROM incidents WHERE assigned_to IN ('100%admin@contoso.com', 'SOC Tier 2 & Friends', 'user#1@contoso.com', 'first+filter@contoso.com', '山田@contoso.jp');
SELECT r->>'raw_target' AS raw_target, r->'query'->>'$filter' AS decoded
FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') r
WHERE r->>'path' LIKE '/v1.0/security/incidents%';

-- Parameters: a prepared statement's values are filled in at execution.
SET plan_cache_mode = force_generic_plan;
PREPARE by_severity(text, timestamptz) AS
  SELECT count(id) FROM incidents WHERE severity = $1 AND created_date_time >= $2;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_severity('high', '2025-06-01');
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
EXECUTE by_severity('high', '2025-06-01');
EXECUTE by_severity('High', '2025-06-01');
EXECUTE by_severity('low', '2025-03-01');
SELECT r->'query'->>'$filter' AS filter_sent
FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') r
WHERE r->>'path' LIKE '/v1.0/security/incidents%';
SELECT count(*) FROM emulator_incidents() WHERE severity = 'high' AND created_date_time >= '2025-06-01';
SELECT count(*) FROM emulator_incidents() WHERE severity = 'low' AND created_date_time >= '2025-03-01';
DEALLOCATE by_severity;
RESET plan_cache_mode;

-- Turning pushdown off: the session setting and the table option.
SET defender_fdw.enable_pushdown = off;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE status = 'active' LIMIT 5;
RESET defender_fdw.enable_pushdown;
ALTER FOREIGN TABLE incidents OPTIONS (ADD pushdown 'false');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE status = 'active' LIMIT 5;
ALTER FOREIGN TABLE incidents OPTIONS (DROP pushdown);

-- A filter Graph rejects (400): a NOTICE, then the same rows read without it.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 400, "code": "BadRequest", "message": "Invalid filter clause: the query is not supported."}');
SELECT count(id), count(*) FILTER (WHERE severity = 'high') FROM incidents WHERE severity IN ('high', 'low') AND status <> 'resolved';
SELECT count(*), count(*) FILTER (WHERE severity = 'high') FROM emulator_incidents() WHERE severity IN ('high', 'low') AND status <> 'resolved';
SELECT seq, status, regexp_replace(target, 'skiptoken=[^&]*', 'skiptoken=<opaque>') AS target
FROM emulator_requests() WHERE target LIKE '/v1.0/%';
-- ... with the limit and offset applied locally too
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 400, "code": "BadRequest", "message": "Invalid filter clause."}');
SELECT array_agg(id) AS pushed FROM (
  SELECT id FROM incidents WHERE status = 'active' ORDER BY created_date_time DESC LIMIT 3 OFFSET 2) s;
SELECT array_agg(id) AS local FROM (
  SELECT id FROM emulator_incidents() WHERE status = 'active' ORDER BY created_date_time DESC LIMIT 3 OFFSET 2) s;
-- ... and count(*) counted locally
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 400, "code": "BadRequest", "message": "Invalid filter clause."}');
SELECT count(*) FROM incidents WHERE severity = 'high' AND created_date_time >= '2025-05-01';
SELECT count(*) FROM emulator_incidents() WHERE severity = 'high' AND created_date_time >= '2025-05-01';
