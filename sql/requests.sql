--
-- requests: ORDER BY, LIMIT/OFFSET, count(*), lookups by id and joins cost
-- the fewest requests Graph allows, and return what local evaluation would
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(id) FROM incidents;	-- a token, so the counts below are Graph's

-- graph_requests(): the Graph requests since the last reset, in order
CREATE FUNCTION graph_requests() RETURNS TABLE (target text, status int)
LANGUAGE sql AS $$
  SELECT regexp_replace(target, 'skiptoken=[^&]*', 'skiptoken=<opaque>'), status
  FROM emulator_requests() WHERE target LIKE '/v1.0/%' ORDER BY seq
$$;

-- LIMIT 5: one request for five rows
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, display_name FROM incidents LIMIT 5;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM (SELECT id FROM incidents LIMIT 5) s;
SELECT * FROM graph_requests();

-- LIMIT 120: three pages, and no fourth
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM (SELECT id FROM incidents LIMIT 120) s;
SELECT * FROM graph_requests();

-- the latest 10: $orderby with $top, the same rows as sorting locally
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT id, created_date_time FROM incidents ORDER BY created_date_time DESC LIMIT 10;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT array_agg(id) AS pushed FROM (SELECT id FROM incidents ORDER BY created_date_time DESC LIMIT 10) s;
SELECT array_agg(id) AS local FROM (SELECT id FROM emulator_incidents() ORDER BY created_date_time DESC LIMIT 10) s;
SELECT * FROM graph_requests();

-- with a filter, an offset, and ascending on the other date
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT id FROM incidents WHERE status = 'active' ORDER BY last_update_date_time LIMIT 3 OFFSET 4;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT array_agg(id) AS pushed FROM (SELECT id FROM incidents WHERE status = 'active' ORDER BY last_update_date_time LIMIT 3 OFFSET 4) s;
SELECT array_agg(id) AS local FROM (SELECT id FROM emulator_incidents() WHERE status = 'active' ORDER BY last_update_date_time LIMIT 3 OFFSET 4) s;
SELECT * FROM graph_requests();

-- ORDER BY alone is pushed when useful; a longer ORDER BY uses it as a prefix
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents ORDER BY created_date_time;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents ORDER BY created_date_time DESC, id;
-- others sort locally, and then LIMIT cannot go remote
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents ORDER BY priority_score DESC LIMIT 3;
-- a condition evaluated locally keeps LIMIT local too
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE assigned_to = 'tier2@contoso.com' LIMIT 3;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE display_name LIKE '%a%' LIMIT 3;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM incidents WHERE display_name LIKE '%Power%' LIMIT 3) s;
SELECT count(*) AS requests FROM graph_requests();

-- LIMIT as a parameter
SET plan_cache_mode = force_generic_plan;
PREPARE latest(bigint) AS SELECT id FROM incidents ORDER BY created_date_time DESC LIMIT $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE latest(2);
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
EXECUTE latest(2);
SELECT * FROM graph_requests();
DEALLOCATE latest;
RESET plan_cache_mode;

-- count(*) with pushable conditions: one request, $count=true&$top=1
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) FROM incidents WHERE status = 'Active';
SELECT count(*) FROM incidents;
SELECT * FROM graph_requests();
SELECT count(*) FILTER (WHERE severity = 'high') AS high, count(*) AS total FROM emulator_incidents();
-- with a local condition it reads the rows instead
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM incidents WHERE priority_score > 50;

-- Lookups by id: GET /security/incidents/{id}; an unknown id is no row
SELECT id AS some_id FROM emulator_incidents() ORDER BY id LIMIT 1 \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, display_name FROM incidents WHERE id = '1142';
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT id, severity FROM incidents WHERE id = :'some_id';
SELECT id FROM incidents WHERE id = 'no-such-incident';
SELECT id FROM incidents WHERE id = '../alerts_v2';
SELECT * FROM graph_requests();

-- id = ANY(...): one GET per distinct id; other conditions are local
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE id IN ('1142', '1150', '1152') AND status = 'active';
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT id, status FROM incidents WHERE id IN ('1142', '1150', '1152', '1150', 'nope') ORDER BY id;
SELECT id, status FROM emulator_incidents() WHERE id IN ('1142', '1150', '1152') ORDER BY id;
SELECT * FROM graph_requests();

-- A join from a local table on id: three local rows, three GETs
CREATE TEMP TABLE watchlist (incident_id text, owner text);
INSERT INTO watchlist VALUES ('1142', 'sam'), ('1153', 'tia'), ('does-not-exist', 'kim');
ANALYZE watchlist;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT w.owner, i.id, i.severity FROM watchlist w JOIN incidents i ON i.id = w.incident_id;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT w.owner, i.id, i.severity FROM watchlist w JOIN incidents i ON i.id = w.incident_id ORDER BY 1;
SELECT * FROM graph_requests();
-- the same with a LEFT JOIN keeps the unmatched row
SELECT w.owner, i.id FROM watchlist w LEFT JOIN incidents i ON i.id = w.incident_id ORDER BY 1;

-- $expand=alerts only when an alerts column is read
CREATE FOREIGN TABLE incidents_with_alerts (id text, alerts jsonb)
  SERVER defender OPTIONS (resource 'incidents');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents_with_alerts LIMIT 1;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, alerts FROM incidents_with_alerts LIMIT 1;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT i.id, jsonb_array_length(i.alerts) AS alerts,
       (SELECT count(*) FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') a
        WHERE a->>'incidentId' = i.id) AS emulator_alerts
FROM incidents_with_alerts i WHERE id = '1142';
DROP FOREIGN TABLE incidents_with_alerts;

-- EXPLAIN ANALYZE counts the requests a scan made
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM incidents;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM incidents LIMIT 60;

-- $select: only the properties of the columns read (and id), on lists,
-- counts and GETs by id; $expand=alerts adds the expanded alerts.
IMPORT FOREIGN SCHEMA graph LIMIT TO (alerts) FROM SERVER defender INTO public;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, title, severity FROM alerts;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM alerts WHERE id = 'x';
-- a condition checked locally needs its property back; a pushed one not
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents WHERE display_name LIKE '%a%' AND severity = 'high';
-- a local sort, grouping and aggregate need theirs
EXPLAIN (VERBOSE, COSTS OFF) SELECT severity, max(priority_score) FROM incidents GROUP BY severity ORDER BY 2;
-- count(*) reads no value of its one row
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM incidents WHERE status = 'active';
-- every property: no $select; a column the catalog does not know: none either
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM alerts;
CREATE FOREIGN TABLE incidents_new_property (id text, some_future_property text)
  SERVER defender OPTIONS (resource 'incidents');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, some_future_property FROM incidents_new_property;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents_new_property;
DROP FOREIGN TABLE incidents_new_property;
-- three columns of the alerts: the same rows, a fraction of the bytes
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
CREATE TEMP TABLE three_columns AS SELECT id, title, severity FROM alerts;
CREATE TEMP TABLE every_column AS SELECT * FROM alerts;
SELECT (SELECT count(*) FROM three_columns) AS rows,
       (SELECT count(*) FROM (SELECT id, title, severity FROM every_column
                              EXCEPT SELECT * FROM three_columns) d) AS differing;
WITH log AS (
  SELECT r->>'raw_target' AS target, (r->>'bytes')::bigint AS bytes
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
  WHERE r->>'raw_target' LIKE '%/alerts_v2%')
SELECT count(*) FILTER (WHERE target LIKE '%$select=id,title,severity&%') AS selected_requests,
       count(*) FILTER (WHERE target NOT LIKE '%$select=%') AS whole_requests,
       sum(bytes) FILTER (WHERE target LIKE '%$select=%') * 5 <
       sum(bytes) FILTER (WHERE target NOT LIKE '%$select=%') AS under_a_fifth_of_the_bytes
FROM log;
DROP TABLE three_columns, every_column;
DROP FOREIGN TABLE alerts;
-- a lookup's GET selects too; the expanded alerts come with it
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
CREATE FOREIGN TABLE incidents_with_alerts (id text, status text, alerts jsonb)
  SERVER defender OPTIONS (resource 'incidents');
SELECT id, status, jsonb_array_length(alerts) > 0 AS has_alerts
FROM incidents_with_alerts WHERE id = '1142';
SELECT method, target FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';
DROP FOREIGN TABLE incidents_with_alerts;
