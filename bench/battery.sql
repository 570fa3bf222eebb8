-- bench/battery.sql: the request-economy battery of bench/run.sh (issue 7).
--
-- Each entry is a "-- name:" line, one or more "-- min:" lines and the SQL
-- statement (one line, ending with ';').  A "-- min:" line is ONE request the
-- API needs at least, written as the cheapest request Microsoft documents:
--   -- min: GET <path and query>       one request (a nextLink in the answer is not followed)
--   -- min: PAGES <path and query>     a list read to its end: the request, then every
--                                       @odata.nextLink, each one more request
--   -- min: HUNT <KQL>                 (POST runHuntingQuery {"Query": KQL}, the API's default Timespan)
--   -- min: none                       (the API needs no request at all)
-- The bench sends exactly these requests with curl and counts their requests
-- and response bytes: that is the minimum each query is compared with.
-- "(N)" after a name is the minimum number of requests on the bench's data
-- (emulator reset to {"incidents": 500, "seed": 1, "hunting_rows": 2000,
-- "hunting_seed": 1}); the bench computes it again from the min lines.
--
-- Placeholders, filled from the emulator's fixture before the run:
--   {id1} {id2} {id3}  the three newest incident ids;  {alert1}  the newest alert's id.
--
-- Incidents and alerts_v2 take $select (Graph's OpenAPI lists it for both
-- collections and both GETs by id), so the minimum is the projected response:
-- only the properties the query reads (the emulator always returns id, as
-- defender_fdw always asks for it), 50 (incidents) or 1000 (alerts) per page;
-- runHuntingQuery takes any KQL, so its minimum projects only the columns
-- read and aggregates remotely.

-- name: incident by id (1)
-- min: GET /v1.0/security/incidents/{id1}?$select=id,status,severity,displayName
SELECT id, status, severity, display_name FROM incidents WHERE id = '{id1}';

-- name: unknown incident id (1)
-- min: GET /v1.0/security/incidents/999999999?$select=id
SELECT id FROM incidents WHERE id = '999999999';

-- name: three incidents by id, IN list (3)
-- min: GET /v1.0/security/incidents/{id1}?$select=id,status
-- min: GET /v1.0/security/incidents/{id2}?$select=id,status
-- min: GET /v1.0/security/incidents/{id3}?$select=id,status
SELECT id, status FROM incidents WHERE id IN ('{id1}', '{id2}', '{id3}');

-- name: join with a local table of 3 ids (3)
-- min: GET /v1.0/security/incidents/{id1}?$select=id,status,severity
-- min: GET /v1.0/security/incidents/{id2}?$select=id,status,severity
-- min: GET /v1.0/security/incidents/{id3}?$select=id,status,severity
SELECT l.note, i.status, i.severity FROM bench_watchlist l JOIN incidents i ON i.id = l.incident_id;

-- name: incidents by status (5)
-- min: PAGES /v1.0/security/incidents?$filter=status eq 'active'&$select=id,displayName&$top=50
SELECT id, display_name FROM incidents WHERE status = 'active';

-- name: incidents by status and severity (1)
-- min: PAGES /v1.0/security/incidents?$filter=status eq 'active' and severity eq 'high'&$select=id,displayName&$top=50
SELECT id, display_name FROM incidents WHERE status = 'active' AND severity = 'high';

-- name: latest 10 incidents (1)
-- min: GET /v1.0/security/incidents?$orderby=createdDateTime desc&$select=id,displayName,createdDateTime&$top=10
SELECT id, display_name, created_date_time FROM incidents ORDER BY created_date_time DESC LIMIT 10;

-- name: oldest 5 updated incidents, ORDER BY + LIMIT (1)
-- min: GET /v1.0/security/incidents?$orderby=lastUpdateDateTime asc&$select=id,lastUpdateDateTime&$top=5
SELECT id, last_update_date_time FROM incidents ORDER BY last_update_date_time LIMIT 5;

-- name: LIMIT 3 OFFSET 4 (1)
-- min: GET /v1.0/security/incidents?$orderby=createdDateTime desc&$select=id&$skip=4&$top=3
SELECT id FROM incidents ORDER BY created_date_time DESC LIMIT 3 OFFSET 4;

-- name: count of all incidents (1)
-- min: GET /v1.0/security/incidents?$select=id&$count=true&$top=1
SELECT count(*) FROM incidents;

-- name: count of high-severity incidents (1)
-- min: GET /v1.0/security/incidents?$filter=severity eq 'high'&$select=id&$count=true&$top=1
SELECT count(*) FROM incidents WHERE severity = 'high';

-- name: EXISTS an active high incident (1)
-- min: GET /v1.0/security/incidents?$filter=status eq 'active' and severity eq 'high'&$select=id&$top=1
SELECT EXISTS (SELECT 1 FROM incidents WHERE status = 'active' AND severity = 'high');

-- name: incidents created in a window (1)
-- min: PAGES /v1.0/security/incidents?$filter=createdDateTime ge 2025-03-01T00:00:00Z and createdDateTime lt 2025-03-08T00:00:00Z&$select=id&$top=50
SELECT id FROM incidents WHERE created_date_time >= '2025-03-01Z' AND created_date_time < '2025-03-08Z';

-- name: a filter that matches nothing (0)
-- min: none
SELECT id FROM incidents WHERE status = 'Active';

-- name: GROUP BY status over incidents (10)
-- min: PAGES /v1.0/security/incidents?$select=status&$top=50
SELECT status, count(*) FROM incidents GROUP BY status;

-- name: alert by id (1)
-- min: GET /v1.0/security/alerts_v2/{alert1}?$select=id,title,severity
SELECT id, title, severity FROM alerts WHERE id = '{alert1}';

-- name: alerts by severity (1)
-- min: PAGES /v1.0/security/alerts_v2?$filter=severity eq 'high'&$select=id,title&$top=1000
SELECT id, title FROM alerts WHERE severity = 'high';

-- name: latest 10 alerts (1)
-- min: GET /v1.0/security/alerts_v2?$orderby=createdDateTime desc&$select=id,title&$top=10
SELECT id, title FROM alerts ORDER BY created_date_time DESC LIMIT 10;

-- name: hunting WHERE + LIMIT (1)
-- min: HUNT DeviceProcessEvents | where FileName startswith_cs "power" | project DeviceName, FileName | take 10
SELECT device_name, file_name FROM device_process_events WHERE file_name LIKE 'power%' LIMIT 10;

-- name: hunting WHERE on two columns (1)
-- min: HUNT DeviceProcessEvents | where ActionType == "ProcessCreated" and AccountName == "system" | project DeviceName, ProcessCommandLine
SELECT device_name, process_command_line FROM device_process_events WHERE action_type = 'ProcessCreated' AND account_name = 'system';

-- name: hunting count(*) (1)
-- min: HUNT DeviceProcessEvents | where ActionType == "ProcessCreated" | summarize count()
SELECT count(*) FROM device_process_events WHERE action_type = 'ProcessCreated';

-- name: hunting GROUP BY aggregate (1)
-- min: HUNT DeviceProcessEvents | summarize a1 = count(), a2 = max(FileSize) by DeviceName
SELECT device_name, count(*), max(file_size) FROM device_process_events GROUP BY device_name;

-- name: hunting ORDER BY + LIMIT (1)
-- min: HUNT DeviceProcessEvents | project Timestamp, DeviceName, FileName | sort by Timestamp desc nulls last | take 10
SELECT timestamp, device_name, file_name FROM device_process_events ORDER BY timestamp DESC LIMIT 10;

-- name: hunting EXISTS (1)
-- min: HUNT DeviceProcessEvents | where FileName == "powershell.exe" | project FileName | take 1
SELECT EXISTS (SELECT 1 FROM device_process_events WHERE file_name = 'powershell.exe');

-- name: hunting rows without a column read (1)
-- min: HUNT DeviceProcessEvents | take 100 | project ReportId
SELECT count(*) FROM (SELECT 1 FROM device_process_events LIMIT 100) s;
