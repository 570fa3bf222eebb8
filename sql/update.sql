--
-- update: UPDATE on incidents and alerts, one PATCH per row, RETURNING
-- Graph's answer; what a rollback cannot undo is said
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');

-- Columns Graph does not let one write are refused when planning
UPDATE incidents SET created_date_time = now() WHERE id = '1142';
UPDATE incidents SET id = 'x' WHERE id = '1142';
UPDATE graph.alerts SET title = 'x' WHERE id = 'x';
-- neither INSERT nor DELETE, nor any change to hunting tables
DELETE FROM incidents WHERE id = '1142';
INSERT INTO incidents (id) VALUES ('1');
UPDATE hunting.device_process_events SET file_name = 'x';

-- The plan: the scan (with its pushdown) finds the rows, each one is a PATCH
EXPLAIN (VERBOSE, COSTS OFF)
  UPDATE incidents SET status = 'resolved', classification = 'falsePositive'
  WHERE severity = 'low' AND status = 'active' RETURNING id, status;

SELECT count(*) AS to_update FROM emulator_incidents() WHERE severity = 'low' AND status = 'active';
UPDATE incidents SET status = 'resolved', classification = 'falsePositive'
WHERE severity = 'low' AND status = 'active'
RETURNING id, status, classification, last_modified_by IS NOT NULL AS stamped;
-- exactly the assigned properties were sent, once per row
SELECT method, count(*) AS requests, count(DISTINCT target) AS entities, min(body::text) AS body
FROM emulator_requests() WHERE method = 'PATCH' GROUP BY 1;
-- Graph has them now
SELECT count(*) AS still_active_low FROM incidents WHERE severity = 'low' AND status = 'active';
SELECT count(*) AS resolved_false_positives FROM emulator_incidents()
WHERE severity = 'low' AND status = 'resolved' AND classification = 'falsePositive';

-- NULL unassigns; tags replace the list; RETURNING reads back Graph's values
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
UPDATE incidents SET assigned_to = NULL, custom_tags = '{triaged,"by sql"}', determination = 'malware'
WHERE id = '1142' RETURNING id, assigned_to, custom_tags, determination;
SELECT body FROM emulator_requests() WHERE method = 'PATCH';

-- A value no client may write is refused before any request: nothing changed
SELECT show_error($$UPDATE incidents SET status = 'closed' WHERE id = '1142'$$);
SELECT status FROM incidents WHERE id = '1142';

-- Rolled back: the change stays in Defender, and a WARNING says so
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
BEGIN;
UPDATE incidents SET status = 'inProgress' WHERE id IN ('1142', '1150');
ROLLBACK;
SELECT id, status FROM incidents WHERE id IN ('1142', '1150') ORDER BY id;

-- A failure on the second row: the first PATCH is reported as kept
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents/", "method": "PATCH", "skip": 1, "kind": "status", "status": 403, "code": "Forbidden", "message": "Insufficient privileges."}');
SELECT show_error($$UPDATE incidents SET severity = 'high' WHERE id IN ('1142', '1150')$$);
SELECT count(*) AS patched FROM emulator_requests() WHERE method = 'PATCH' AND status = 200;

-- Alerts: status, classification, determination, assigned_to
SELECT emulator_reset('{"incidents": 60, "seed": 3}');
SELECT id AS new_alert FROM graph.alerts WHERE status = 'new' ORDER BY id LIMIT 1 \gset
UPDATE graph.alerts SET status = 'resolved', classification = 'truePositive', assigned_to = 'tier2@contoso.com'
WHERE id = :'new_alert' RETURNING status, classification, assigned_to, resolved_date_time IS NOT NULL AS resolved;
SELECT method, regexp_replace(target, '/alerts_v2/.*', '/alerts_v2/<id>') AS target, body
FROM emulator_requests() WHERE method = 'PATCH';

-- A join drives updates too: resolve what a local list says
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
CREATE TEMP TABLE to_close (incident_id text);
INSERT INTO to_close VALUES ('1142'), ('1153');
UPDATE incidents i SET status = 'resolved' FROM to_close t WHERE i.id = t.incident_id
RETURNING i.id, i.status;

-- The triage playbook of doc/actions.md, as written there
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) AS stale_low_active FROM incidents
WHERE severity = 'low' AND status = 'active' AND last_update_date_time < now() - interval '30 days';
DO $$
DECLARE
  i record;
  r record;
BEGIN
  FOR i IN SELECT id FROM incidents
           WHERE severity = 'low' AND status = 'active'
             AND last_update_date_time < now() - interval '30 days'
  LOOP
    BEGIN
      PERFORM defender_update_incident(i.id, status => 'resolved',
                                       classification => 'informationalExpectedActivity',
                                       resolving_comment => 'Auto-closed: stale low severity');
      PERFORM defender_add_incident_comment(i.id, 'Closed by the nightly triage job');
    EXCEPTION
      WHEN no_data_found THEN RAISE NOTICE 'incident % is gone', i.id;
      WHEN insufficient_privilege THEN RAISE WARNING 'no permission to close %', i.id;
    END;
  END LOOP;

  -- branch on a status code, the way SOAR playbooks do
  SELECT * INTO r FROM defender_request('GET', 'security/incidents/' || '29');
  IF r.status = 404 THEN
    RAISE NOTICE 'incident 29 does not exist';
  ELSIF r.status = 200 THEN
    RAISE NOTICE 'incident 29 is %', r.body->>'status';
  END IF;
END
$$;
SELECT count(*) AS stale_low_active_after FROM incidents
WHERE severity = 'low' AND status = 'active' AND last_update_date_time < now() - interval '30 days';
SELECT count(*) FILTER (WHERE method = 'PATCH') AS patches,
       count(*) FILTER (WHERE method = 'POST' AND target LIKE '%/comments') AS comments
FROM emulator_requests();
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
