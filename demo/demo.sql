-- defender_fdw demo: the main job, against the bundled Graph emulator.
-- scripts/demo.sh runs this with psql in a throwaway cluster.
\set ON_ERROR_STOP on
\pset footer off
\echo
\echo '== 1. Install the extension and describe the tenant (URLs point at the emulator)'
CREATE EXTENSION defender_fdw;
SELECT set_config('demo.url', current_setting('defender_test.emulator_url'), false) \gset
DO $$
BEGIN
  EXECUTE format('CREATE SERVER defender FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, mde_url %L)',
                 '00000000-0000-0000-0000-000000000001',
                 current_setting('demo.url'), current_setting('demo.url'),
                 current_setting('demo.url') || '/mde');
END $$;
CREATE USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
\echo '   the client secret lives only in the user mapping (its value masked here), not in the'
\echo '   server options every user can read; other users see no mapping options at all:'
SELECT 'server ' || srvname AS object, array_to_string(srvoptions, ', ') AS options
FROM pg_foreign_server WHERE srvname = 'defender'
UNION ALL
SELECT 'user mapping for ' || usename,
       array_to_string(ARRAY(SELECT regexp_replace(o, '^client_secret=.*$', 'client_secret=********')
                             FROM unnest(umoptions) AS o), ', ')
FROM pg_user_mappings WHERE srvname = 'defender';
CREATE ROLE demo_other_user;
SET ROLE demo_other_user;
SELECT usename, umoptions AS "options, as demo_other_user sees them" FROM pg_user_mappings
WHERE srvname = 'defender';
RESET ROLE;
DROP ROLE demo_other_user;

CREATE FOREIGN TABLE incidents (
  id text, display_name text, severity text, status text, classification text,
  assigned_to text, created_date_time timestamptz, last_update_date_time timestamptz,
  custom_tags text[], priority_score integer, comments jsonb
) SERVER defender OPTIONS (resource 'incidents');

\echo
\echo '== 2. The request a scan sends (plain EXPLAIN sends nothing)'
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, display_name, severity FROM incidents;

\echo
\echo '== 3. The latest high-severity incidents that are still open'
SELECT id, display_name, severity, status, created_date_time
FROM incidents
WHERE severity = 'high' AND status <> 'resolved'
ORDER BY created_date_time DESC
LIMIT 8;

\echo
\echo '== 4. Join Defender data with your own tables: who owns what is open'
CREATE TABLE analysts (upn text PRIMARY KEY, name text, team text);
INSERT INTO analysts VALUES
  ('soc.analyst@contoso.com', 'Sam Analyst', 'Tier 1'),
  ('tier2@contoso.com', 'Tia Responder', 'Tier 2'),
  ('jane.doe@contoso.com', 'Jane Doe', 'Threat hunting');
SELECT coalesce(a.team, '(unassigned or external)') AS team,
       count(*) AS open_incidents,
       count(*) FILTER (WHERE i.severity = 'high') AS high
FROM incidents i LEFT JOIN analysts a ON a.upn = i.assigned_to
WHERE i.status IN ('active', 'inProgress')
GROUP BY 1 ORDER BY 2 DESC;

\echo
\echo '== 5. Tags, priority and comments come typed: text[], integer, jsonb'
SELECT id, custom_tags, priority_score, jsonb_array_length(comments) AS comments
FROM incidents
WHERE cardinality(custom_tags) > 0
ORDER BY priority_score DESC NULLS LAST
LIMIT 5;

\echo
\echo '== 6. Advanced hunting: one small KQL query per SQL query, joined with local assets'
CREATE SCHEMA hunting;
IMPORT FOREIGN SCHEMA hunting LIMIT TO (device_process_events) FROM SERVER defender INTO hunting;
CREATE TABLE assets (device_name text PRIMARY KEY, owner text, criticality int);
INSERT INTO assets SELECT DISTINCT device_name, 'team-' || (ascii(device_name) % 3), ascii(device_name) % 5
FROM hunting.device_process_events;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT device_name, count(*) AS processes, max(process_id) AS last_pid
FROM hunting.device_process_events
WHERE file_name LIKE '%.exe' AND timestamp > now() - interval '7 days'
GROUP BY device_name;
SELECT a.owner, a.criticality, h.device_name, h.processes
FROM (SELECT device_name, count(*) AS processes
      FROM hunting.device_process_events
      WHERE file_name LIKE '%.exe' AND timestamp > now() - interval '7 days'
      GROUP BY device_name) h
JOIN assets a USING (device_name)
ORDER BY a.criticality DESC, h.processes DESC LIMIT 5;

\echo
\echo '== 7. Triage from SQL: resolve low-severity active incidents, one PATCH each'
UPDATE incidents SET status = 'resolved', classification = 'informationalExpectedActivity'
WHERE severity = 'low' AND status = 'active'
RETURNING id, status, classification;

\echo
\echo '== 8. Failures are clear errors, never empty results: a wrong secret'
ALTER USER MAPPING FOR CURRENT_USER SERVER defender OPTIONS (SET client_secret 'the-secret-id-by-mistake');
\set ON_ERROR_STOP off
\set VERBOSITY verbose
SELECT count(*) FROM incidents;
\set VERBOSITY default
\set ON_ERROR_STOP on
ALTER USER MAPPING FOR CURRENT_USER SERVER defender OPTIONS (SET client_secret 'test-secret-value');
SELECT count(*) AS incidents_after_fixing_the_secret FROM incidents;
