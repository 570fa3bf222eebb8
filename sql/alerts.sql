--
-- alerts: IMPORT FOREIGN SCHEMA graph, and alerts_v2 with the same paging,
-- pushdown and lookups as incidents
--
SELECT emulator_reset('{"incidents": 60, "seed": 3}');

-- Every property of both resources, snake_case, with the property option.
CREATE SCHEMA graph;
IMPORT FOREIGN SCHEMA graph FROM SERVER defender INTO graph;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       array_to_string(a.attfdwoptions, ',') AS options
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'graph' AND a.attnum > 0 ORDER BY c.relname, a.attnum;
SELECT c.relname, s.srvname, t.ftoptions
FROM pg_foreign_table t JOIN pg_class c ON c.oid = t.ftrelid
JOIN pg_foreign_server s ON s.oid = t.ftserver
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'graph' ORDER BY 1;
-- nothing of the user mapping reaches the generated tables
SELECT count(*) AS options_with_secrets
FROM pg_foreign_table t, unnest(t.ftoptions) o WHERE o LIKE '%secret%';

-- LIMIT TO and EXCEPT name the resources; other remote schemas do not exist
CREATE SCHEMA only_alerts;
IMPORT FOREIGN SCHEMA graph LIMIT TO (alerts) FROM SERVER defender INTO only_alerts;
CREATE SCHEMA no_alerts;
IMPORT FOREIGN SCHEMA graph EXCEPT (alerts) FROM SERVER defender INTO no_alerts;
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('only_alerts', 'no_alerts') ORDER BY 1, 2;
IMPORT FOREIGN SCHEMA security FROM SERVER defender INTO no_alerts;
DROP SCHEMA only_alerts CASCADE;
DROP SCHEMA no_alerts CASCADE;

-- The imported incidents read the same rows as the hand-written table.
SELECT count(*) AS differing FROM (
  (SELECT id, display_name, created_date_time, custom_tags FROM graph.incidents
   EXCEPT SELECT id, display_name, created_date_time, custom_tags FROM incidents)
  UNION ALL
  (SELECT id, display_name, created_date_time, custom_tags FROM incidents
   EXCEPT SELECT id, display_name, created_date_time, custom_tags FROM graph.incidents)) d;

-- Alerts: pages of 1000 (one page here), every alert of the emulator, typed.
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, title FROM graph.alerts;
SELECT emulator_reset('{"incidents": 60, "seed": 3}');
SELECT count(id) AS alerts, count(DISTINCT incident_id) AS incidents FROM graph.alerts;
SELECT count(*) AS emulator_alerts FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value');
SELECT count(*) FILTER (WHERE target = '/v1.0/security/alerts_v2?$select=id,incidentId&$count=true&$top=1000') AS first_pages,
       count(*) FILTER (WHERE target LIKE '/v1.0/security/alerts_v2%') AS pages
FROM emulator_requests();
SELECT count(*) AS differing FROM (
  SELECT a.id FROM graph.alerts a
  JOIN jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') e ON e->>'id' = a.id
  WHERE a.title IS DISTINCT FROM e->>'title'
     OR a.status IS DISTINCT FROM e->>'status'
     OR a.service_source IS DISTINCT FROM e->>'serviceSource'
     OR a.created_date_time IS DISTINCT FROM (e->>'createdDateTime')::timestamptz
     OR a.mitre_techniques IS DISTINCT FROM ARRAY(SELECT jsonb_array_elements_text(e->'mitreTechniques'))
     OR a.evidence IS DISTINCT FROM e->'evidence'
     OR a.incident_id IS DISTINCT FROM e->>'incidentId') d;
SELECT pg_typeof(evidence) AS evidence, pg_typeof(mitre_techniques) AS mitre,
       pg_typeof(resolved_date_time) AS resolved
FROM graph.alerts LIMIT 1;
SELECT jsonb_agg(DISTINCT e->>'@odata.type' ORDER BY e->>'@odata.type') AS evidence_types
FROM graph.alerts, jsonb_array_elements(evidence) e;

-- Pushdown on alerts: serviceSource joins the filterable set.
SELECT clause, c.matching, c.same, c.filter_sent
FROM (VALUES
  ($$service_source = 'microsoftDefenderForEndpoint'$$),
  ($$service_source IN ('microsoftDefenderForOffice365', 'microsoftDefenderForIdentity')$$),
  ($$status = 'new' AND severity = 'high'$$),
  ($$status <> 'resolved' AND classification IS NULL$$),
  ($$NOT (status = 'new' OR service_source = 'microsoftDefenderForEndpoint')$$),
  ($$created_date_time >= '2025-06-01' AND determination IS NOT NULL$$),
  ($$assigned_to = 'tier2@contoso.com'$$),
  ($$service_source = 'MicrosoftDefenderForEndpoint'$$),
  ($$detection_source = 'antivirus'$$),
  ($$title LIKE '%PowerShell%' AND status = 'new'$$)
) AS t(clause), LATERAL check_pushdown(clause, 'graph.alerts') c;

-- Lookups by id, and a join from incidents to their alerts' ids.
SELECT id AS alert_id FROM graph.alerts ORDER BY id LIMIT 1 \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, title FROM graph.alerts WHERE id = 'x';
SELECT emulator_reset('{"incidents": 60, "seed": 3}');
SELECT id = :'alert_id' AS found FROM graph.alerts WHERE id = :'alert_id';
SELECT count(*) FROM graph.alerts WHERE id = 'no-such-alert';
SELECT regexp_replace(target, '/alerts_v2/.*', '/alerts_v2/<id>') AS target, status
FROM emulator_requests() WHERE target LIKE '/v1.0/%';

-- the latest 5 new alerts: one request
SELECT emulator_reset('{"incidents": 60, "seed": 3}');
SELECT array_agg(id) = (SELECT array_agg(id) FROM (
         SELECT e->>'id' AS id FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') e
         WHERE e->>'status' = 'new' ORDER BY (e->>'createdDateTime')::timestamptz DESC LIMIT 5) x) AS same_as_local
FROM (SELECT id FROM graph.alerts WHERE status = 'new' ORDER BY created_date_time DESC LIMIT 5) s;
SELECT target FROM emulator_requests() WHERE target LIKE '/v1.0/%';
SELECT count(*) FROM graph.alerts WHERE service_source = 'microsoftDefenderForEndpoint';
SELECT target FROM emulator_requests() WHERE target LIKE '/v1.0/%$count%';

-- A service that caps alerts_v2 pages below 1000 says so in its 400 ("The
-- limit of '100' for Top query has been exceeded"); the scan asks again
-- with pages of that size, and the backend keeps to it from then on.
\c
SELECT emulator_reset('{"incidents": 60, "seed": 3, "alerts_max_top": 100}');
SELECT count(*) AS alerts, count(DISTINCT id) AS distinct_ids,
       count(*) = (SELECT count(*) FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value'))
         AS every_alert
FROM graph.alerts;
SELECT seq, target, status FROM emulator_requests() WHERE target LIKE '/v1.0/%';
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM graph.alerts;
SELECT emulator_reset('{"incidents": 60, "seed": 3, "alerts_max_top": 100}');
SELECT count(id) AS alerts FROM graph.alerts;
SELECT seq, target, status FROM emulator_requests() WHERE target LIKE '/v1.0/%';
-- With a filter too, in a new backend: the cap is what it learns (no
-- NOTICE, no local filtering), and the rows are the locally filtered ones.
\c
SELECT emulator_reset('{"incidents": 60, "seed": 3, "alerts_max_top": 100}');
SELECT count(id) AS high_or_medium,
       array_agg(id ORDER BY id) =
         (SELECT array_agg(e->>'id' ORDER BY e->>'id')
          FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') e
          WHERE e->>'severity' IN ('high', 'medium')) AS same_as_local
FROM graph.alerts WHERE severity IN ('high', 'medium');
SELECT seq, target, status FROM emulator_requests() WHERE target LIKE '/v1.0/%';
-- A page_size set by hand is not second-guessed: above the cap, an error.
\c
SELECT emulator_reset('{"incidents": 60, "seed": 3, "alerts_max_top": 100}');
ALTER FOREIGN TABLE graph.alerts OPTIONS (ADD page_size '500');
SELECT show_error('SELECT count(id) FROM graph.alerts');
ALTER FOREIGN TABLE graph.alerts OPTIONS (DROP page_size);
-- Any other 400 to a first page of 1000 is an error as usual.
\c
SELECT emulator_reset('{"incidents": 60, "seed": 3}');
SELECT emulator_fault('{"match": "/security/alerts_v2", "kind": "status", "status": 400}');
SELECT show_error('SELECT count(id) FROM graph.alerts');
SELECT seq, target, status FROM emulator_requests() WHERE target LIKE '/v1.0/%';
SELECT emulator_reset('{"incidents": 60, "seed": 3}');
