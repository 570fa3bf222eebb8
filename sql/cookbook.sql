--
-- cookbook: the recipes of doc/cookbook.md, run against the emulator exactly as
-- written there (objects in schema cookbook).
--
SELECT emulator_reset();
CREATE SCHEMA cookbook;
SET search_path = cookbook, public;

-- show_error() without the PL/pgSQL statement text in CONTEXT
CREATE FUNCTION show_short_error(query text) RETURNS SETOF text LANGUAGE sql
AS $$ SELECT l FROM show_error(query) AS l
      WHERE l NOT LIKE 'CONTEXT: %' OR l LIKE 'CONTEXT: remote request%' $$;

--
-- Recipe: incremental sync of incidents into a local table
--
CREATE TABLE incident_archive (
  id                    text PRIMARY KEY,
  display_name          text,
  status                text,
  severity              text,
  classification        text,
  assigned_to           text,
  created_date_time     timestamptz,
  last_update_date_time timestamptz NOT NULL,
  synced_at             timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sync_watermark (
  source      text PRIMARY KEY,
  last_update timestamptz NOT NULL
);
INSERT INTO sync_watermark VALUES ('incidents', '1970-01-01Z');

CREATE PROCEDURE sync_incidents()
LANGUAGE plpgsql
SET search_path FROM CURRENT    -- the same tables when pg_cron calls it
AS $$
DECLARE
  since  timestamptz;
  newest timestamptz;
BEGIN
  -- one sync at a time; an error anywhere rolls back rows and watermark together
  SELECT last_update INTO since FROM sync_watermark WHERE source = 'incidents' FOR UPDATE;

  WITH upserted AS (
    INSERT INTO incident_archive AS a
           (id, display_name, status, severity, classification, assigned_to,
            created_date_time, last_update_date_time)
    SELECT id, display_name, status, severity, classification, assigned_to,
           created_date_time, last_update_date_time
    FROM public.incidents
    WHERE last_update_date_time >= since      -- >=: a change in the watermark's tick is not lost
    ON CONFLICT (id) DO UPDATE
      SET display_name = EXCLUDED.display_name, status = EXCLUDED.status,
          severity = EXCLUDED.severity, classification = EXCLUDED.classification,
          assigned_to = EXCLUDED.assigned_to,
          last_update_date_time = EXCLUDED.last_update_date_time, synced_at = now()
    RETURNING last_update_date_time)
  SELECT max(last_update_date_time) INTO newest FROM upserted;

  IF newest IS NOT NULL THEN
    UPDATE sync_watermark SET last_update = newest WHERE source = 'incidents';
  END IF;
END
$$;

-- How many incident requests were sent, and the $filter of the first.
CREATE FUNCTION sync_requests(OUT pages bigint, OUT filter text) LANGUAGE sql AS $$
  SELECT count(*), min(mask(r->'query'->>'$filter'))
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
  WHERE r->>'path' = '/v1.0/security/incidents'
$$;

-- first run: everything
CALL sync_incidents();
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS all_archived,
       (SELECT last_update FROM sync_watermark) = (SELECT max(last_update_date_time) FROM emulator_incidents())
         AS watermark_is_newest
FROM incident_archive;
SELECT * FROM sync_requests();

-- second run with no change: no duplicates, and only the watermark's
-- incidents are asked for (the condition is pushed down as $filter)
SELECT emulator_reset();
CALL sync_incidents();
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS still_one_row_each FROM incident_archive;
SELECT * FROM sync_requests();

-- changes made in Defender between runs are picked up
SELECT id AS changed_id FROM incident_archive WHERE status = 'active' ORDER BY id LIMIT 1 \gset
SELECT defender_update_incident(:'changed_id', status => 'inProgress', assigned_to => 'soc@contoso.com')
       IS NOT NULL AS updated;
CALL sync_incidents();
SELECT status, assigned_to, last_update_date_time = (SELECT last_update FROM sync_watermark) AS is_watermark
FROM incident_archive WHERE id = :'changed_id';
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS still_one_row_each FROM incident_archive;
SELECT count(*) AS differing_from_defender
FROM incident_archive a JOIN emulator_incidents() e USING (id)
WHERE (a.status, a.assigned_to, a.last_update_date_time) IS DISTINCT FROM (e.status, e.assigned_to, e.last_update_date_time);

-- an interrupted run (page 2 fails) leaves rows and watermark as they
-- were, so the next run has no gap
TRUNCATE incident_archive;
UPDATE sync_watermark SET last_update = '1970-01-01Z';
SELECT emulator_reset();
SELECT emulator_fault('{"match": "/security/incidents", "query": "$skip=50", "kind": "status", "status": 500}');
SELECT show_short_error('CALL cookbook.sync_incidents()');
SELECT count(*) AS archived, (SELECT last_update FROM sync_watermark) = '1970-01-01Z' AS watermark_unchanged
FROM incident_archive;
CALL sync_incidents();
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS all_archived FROM incident_archive;

--
-- Recipe: a view joining incidents with a local assets table
--
CREATE TABLE assets (
  device_name text PRIMARY KEY,
  owner       text NOT NULL,
  criticality text NOT NULL CHECK (criticality IN ('crown-jewel', 'standard'))
);
-- two devices that the emulator's endpoint alerts name
INSERT INTO assets
SELECT d, 'team-' || row_number() OVER (ORDER BY d), CASE WHEN row_number() OVER (ORDER BY d) = 1 THEN 'crown-jewel' ELSE 'standard' END
FROM (SELECT DISTINCT ev->>'deviceDnsName' AS d
      FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') AS a,
           jsonb_array_elements(a->'evidence') AS ev
      WHERE ev->>'deviceDnsName' IS NOT NULL ORDER BY 1 LIMIT 2) AS s;

IMPORT FOREIGN SCHEMA graph LIMIT TO (alerts) FROM SERVER defender INTO cookbook;

CREATE VIEW incidents_on_assets AS
SELECT i.id AS incident_id, i.severity, i.status, s.device_name, s.owner, s.criticality
FROM public.incidents AS i
JOIN alerts AS a ON a.incident_id = i.id
CROSS JOIN LATERAL jsonb_array_elements(a.evidence) AS ev
JOIN assets AS s ON s.device_name = ev->>'deviceDnsName';

-- the view's rows, checked against the emulator's own data
SELECT count(*) > 0 AS some_rows,
       count(*) = (SELECT count(*)
                   FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') AS a,
                        jsonb_array_elements(a->'evidence') AS ev
                   WHERE ev->>'deviceDnsName' IN (SELECT device_name FROM assets)
                     AND a->>'incidentId' IS NOT NULL) AS matches_emulator
FROM incidents_on_assets;
SELECT criticality, count(DISTINCT incident_id) > 0 AS has_incidents
FROM incidents_on_assets GROUP BY 1 ORDER BY 1;

--
-- Recipe: LATERAL enrichment with the domains of each endpoint alert
--
SELECT emulator_reset();
CREATE TEMP TABLE enriched AS
SELECT a.id, a.severity, d.domain
FROM alerts AS a
CROSS JOIN LATERAL defender_alert_domains(a.id) AS d(domain)
WHERE a.service_source = 'microsoftDefenderForEndpoint';
-- one MDE request per endpoint alert, and the domains the alerts'
-- evidence names (derived separately, from Graph)
SELECT (SELECT count(*) FROM emulator_requests() WHERE target LIKE '/mde/api/alerts/%/domains')
       = (SELECT count(*) FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') AS a
          WHERE a->>'serviceSource' = 'microsoftDefenderForEndpoint') AS one_call_per_alert,
       count(*) > 0 AS some_domains,
       count(*) = (SELECT count(*) FROM alerts a2, defender_alert_domains(a2.id, 'graph')
                   WHERE a2.service_source = 'microsoftDefenderForEndpoint') AS same_as_evidence
FROM enriched;

-- The PL/pgSQL triage playbook recipe is exercised by sql/update.sql.

--
-- Recipe: schedule the sync with pg_cron
--
-- pg_cron lives in the database cron.database_name names (here postgres)
-- and runs jobs in others with cron.schedule_in_database.  pg_cron 1.4
-- (Debian 12) starts jobs at the top of a minute, so this waits up to a
-- minute for the run.
TRUNCATE incident_archive;
UPDATE sync_watermark SET last_update = '1970-01-01Z';
SELECT emulator_reset();
SELECT current_database() AS regress_db \gset
\c postgres
CREATE EXTENSION pg_cron;
SELECT cron.schedule_in_database('sync-incidents', '* * * * *', 'CALL cookbook.sync_incidents()',
                                 :'regress_db') > 0 AS scheduled;
SELECT jobname, schedule, command, database = :'regress_db' AS in_regress_db, active FROM cron.job;
DO $$
BEGIN
  FOR i IN 1..90 LOOP
    EXIT WHEN EXISTS (SELECT FROM cron.job_run_details WHERE status IN ('succeeded', 'failed'));
    PERFORM pg_sleep(1);
  END LOOP;
END
$$;
SELECT status, return_message FROM cron.job_run_details ORDER BY runid LIMIT 1;
SELECT cron.unschedule('sync-incidents');
DROP EXTENSION pg_cron;	-- the run history goes with it: the suite can run again
\c :regress_db
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS synced_by_cron,
       (SELECT last_update FROM cookbook.sync_watermark) > '1970-01-01Z' AS watermark_moved
FROM cookbook.incident_archive;

DROP SCHEMA cookbook CASCADE;
