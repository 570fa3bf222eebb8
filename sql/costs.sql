--
-- costs: plans that cost requests truthfully.  A join on id looks up one
-- incident per outer row, up to a switch point past which the scan reads
-- the list once instead; use_remote_estimate asks Graph for the list's
-- size at plan time.
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(id) FROM incidents;	-- a token, so the counts below are Graph's

-- the Graph requests since the last reset, in order
CREATE FUNCTION cost_requests() RETURNS TABLE (target text)
LANGUAGE sql AS $$
  SELECT target FROM emulator_requests() WHERE target LIKE '/v1.0/%' ORDER BY seq
$$;

-- A local table of three rows, never ANALYZEd: PostgreSQL sizes it at ten
-- pages, thousands of rows.  Still one GET per local row.
CREATE TABLE watched (incident_id text, owner text);
INSERT INTO watched VALUES ('1142', 'sam'), ('1153', 'tia'), ('does-not-exist', 'kim');
SELECT reltuples < 0 AS never_analyzed FROM pg_class WHERE oid = 'watched'::regclass;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT w.owner, i.id, i.severity FROM watched w JOIN incidents i ON i.id = w.incident_id
  ORDER BY i.id;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT w.owner, i.id, i.severity FROM watched w JOIN incidents i ON i.id = w.incident_id
ORDER BY i.id;
SELECT * FROM cost_requests();
-- the same rows as local evaluation
SELECT w.owner, e.id, e.severity FROM watched w JOIN emulator_incidents() e ON e.id = w.incident_id
ORDER BY e.id;

-- 20,000 outer rows: left to the planner, the list is read once.
CREATE TABLE many AS SELECT g::text AS incident_id FROM generate_series(1, 20000) g;
ANALYZE many;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) AS joined, count(DISTINCT i.id) AS incidents
FROM many m JOIN incidents i ON i.id = m.incident_id;
SELECT count(*) FILTER (WHERE target ~ '^/v1.0/security/incidents/') AS gets,
       count(*) FILTER (WHERE target ~ '^/v1.0/security/incidents\?') AS list_pages
FROM cost_requests();

-- A nested loop forced over the same 20,000 rows: the lookups stop at the
-- switch point, and the list (three pages) answers the rest.
SET enable_hashjoin = off;
SET enable_mergejoin = off;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT i.id, i.status FROM many m JOIN incidents i ON i.id = m.incident_id;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT i.id, i.status FROM many m JOIN incidents i ON i.id = m.incident_id;
SELECT count(*) FILTER (WHERE target ~ '^/v1.0/security/incidents/') AS gets,
       count(*) FILTER (WHERE target ~ '^/v1.0/security/incidents\?') AS list_pages
FROM cost_requests();
-- the rows equal local evaluation's, the table's other conditions included
-- (sent with the list past the switch point, checked here before it)
-- (a LATERAL subquery: a lookup per outer row whatever the costs)
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
CREATE TEMP TABLE joined_remote AS
  SELECT i.id, i.status, i.severity FROM many m,
    LATERAL (SELECT id, status, severity FROM incidents i
             WHERE i.id = m.incident_id AND i.severity = 'high' OFFSET 0) i;
SELECT target FROM cost_requests() WHERE target ~ '\?';
SELECT count(*) AS gets FROM cost_requests() WHERE target ~ '^/v1.0/security/incidents/';
SELECT (SELECT count(*) FROM joined_remote) AS remote_rows,
       (SELECT count(*) FROM (
          SELECT id, status, severity FROM joined_remote
          EXCEPT
          SELECT e.id, e.status, e.severity FROM many m JOIN emulator_incidents() e
            ON e.id = m.incident_id WHERE e.severity = 'high') d) AS not_local,
       (SELECT count(*) FROM emulator_incidents() WHERE severity = 'high') AS local_rows;
RESET enable_hashjoin;
RESET enable_mergejoin;

-- A filter value that changes with the outer row (a LATERAL reference)
-- keeps a GET per id, however many: a list read with one outer row's value
-- would miss the rows another's matches.  EXPLAIN shows no switch point.
CREATE TABLE few AS
  SELECT id AS incident_id, CASE WHEN n % 2 = 0 THEN 'active' ELSE 'resolved' END AS wanted
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM emulator_incidents()) e
  WHERE n <= 10;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT f.incident_id, i.status FROM few f,
    LATERAL (SELECT status FROM incidents i
             WHERE i.id = f.incident_id AND i.status = f.wanted OFFSET 0) i;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
CREATE TEMP TABLE lateral_remote AS
  SELECT f.incident_id, i.status FROM few f,
    LATERAL (SELECT status FROM incidents i
             WHERE i.id = f.incident_id AND i.status = f.wanted OFFSET 0) i;
SELECT count(*) AS gets FROM cost_requests() WHERE target ~ '^/v1.0/security/incidents/';
SELECT count(*) AS list_pages FROM cost_requests() WHERE target ~ '^/v1.0/security/incidents\?';
SELECT (SELECT count(*) FROM lateral_remote) AS remote_rows,
       (SELECT count(*) FROM (
          SELECT incident_id, status FROM lateral_remote
          EXCEPT
          SELECT f.incident_id, e.status FROM few f JOIN emulator_incidents() e
            ON e.id = f.incident_id AND e.status = f.wanted) d) AS not_local,
       (SELECT count(*) FROM few f JOIN emulator_incidents() e
          ON e.id = f.incident_id AND e.status = f.wanted) AS local_rows;

-- Without use_remote_estimate, planning sends nothing.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
EXPLAIN (COSTS OFF) SELECT id FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests FROM cost_requests();

-- With it, EXPLAIN asks Graph for $count of the pushed filter (once: the
-- answer is kept for the backend), and the estimate is Graph's count.
CREATE FOREIGN TABLE incidents_counted (
  id text,
  status text,
  severity text,
  created_date_time timestamptz
) SERVER defender OPTIONS (resource 'incidents', use_remote_estimate 'true');
CREATE FUNCTION estimated_rows(query text) RETURNS numeric LANGUAGE plpgsql AS $fn$
DECLARE
  plan json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
  RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric;
END
$fn$;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT estimated_rows('SELECT id FROM incidents_counted WHERE severity = ''high''') AS estimate,
       (SELECT count(*) FROM emulator_incidents() WHERE severity = 'high') AS truth;
SELECT * FROM cost_requests();
SELECT estimated_rows('SELECT id FROM incidents_counted WHERE severity = ''high''') AS estimate_again;
SELECT count(*) AS requests FROM cost_requests();
-- within 10x of the truth, for a few filters (the default is 1000 x selectivity)
SELECT q.filter,
       estimated_rows('SELECT id FROM incidents_counted WHERE ' || q.filter) AS estimate,
       estimated_rows('SELECT id FROM incidents WHERE ' || q.filter) AS default_estimate,
       q.truth,
       estimated_rows('SELECT id FROM incidents_counted WHERE ' || q.filter)
         BETWEEN q.truth / 10.0 AND q.truth * 10.0 AS within_10x
FROM (VALUES
  ('true', (SELECT count(*) FROM emulator_incidents())),
  ('status = ''active''', (SELECT count(*) FROM emulator_incidents() WHERE status = 'active')),
  ('severity IN (''high'', ''medium'')',
   (SELECT count(*) FROM emulator_incidents() WHERE severity IN ('high', 'medium'))),
  ('created_date_time < ''2026-01-01''',
   (SELECT count(*) FROM emulator_incidents() WHERE created_date_time < '2026-01-01'))
) AS q(filter, truth);
-- a 400 to the estimate's filter is no error: the default estimate
SELECT emulator_fault('{"match": "/security/incidents", "query": "$count=true&$top=1", "kind": "status", "status": 400, "times": 1}');
SELECT estimated_rows('SELECT id FROM incidents_counted WHERE status = ''resolved''') AS estimate;
-- options: the validator's checks
ALTER FOREIGN TABLE incidents_counted OPTIONS (ADD request_latency '-1');
ALTER FOREIGN TABLE incidents_counted OPTIONS (SET use_remote_estimate 'maybe');
ALTER SERVER defender OPTIONS (ADD request_latency '250');
ALTER SERVER defender OPTIONS (DROP request_latency);

DROP FOREIGN TABLE incidents_counted;
DROP FUNCTION estimated_rows(text);
DROP TABLE watched, many, few;
DROP FUNCTION cost_requests();
