--
-- hunting: advanced-hunting tables as foreign tables; SQL becomes one
-- small, exact KQL query
--
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');

-- IMPORT FOREIGN SCHEMA hunting: one table per documented table
CREATE SCHEMA hunting;
IMPORT FOREIGN SCHEMA hunting LIMIT TO (device_process_events, device_network_events, alert_evidence)
  FROM SERVER defender INTO hunting;
SELECT c.relname, t.ftoptions, count(a.attnum) AS columns
FROM pg_foreign_table t JOIN pg_class c ON c.oid = t.ftrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
WHERE n.nspname = 'hunting' GROUP BY 1, 2 ORDER BY 1;
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, array_to_string(a.attfdwoptions, ',') AS options
FROM pg_attribute a WHERE a.attrelid = 'hunting.device_process_events'::regclass AND a.attnum > 0
ORDER BY a.attnum LIMIT 12;
CREATE SCHEMA hunting_all;
IMPORT FOREIGN SCHEMA hunting FROM SERVER defender INTO hunting_all;
SELECT count(*) AS tables FROM pg_foreign_table t JOIN pg_class c ON c.oid = t.ftrelid
WHERE c.relnamespace = 'hunting_all'::regnamespace;
SET client_min_messages = warning;
DROP SCHEMA hunting_all CASCADE;
RESET client_min_messages;

-- live 'true': the columns as the tenant has them now, from "T | getschema"
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');
CREATE SCHEMA hunting_live;
IMPORT FOREIGN SCHEMA hunting LIMIT TO (device_logon_events) FROM SERVER defender INTO hunting_live
  OPTIONS (live 'true');
SELECT count(*) AS columns, count(*) FILTER (WHERE a.atttypid = 'timestamptz'::regtype) AS timestamps
FROM pg_attribute a WHERE a.attrelid = 'hunting_live.device_logon_events'::regclass AND a.attnum > 0;
SELECT body->>'Query' AS query FROM emulator_requests() WHERE target LIKE '%runHuntingQuery';
SELECT count(*) > 0 AS readable FROM hunting_live.device_logon_events;
IMPORT FOREIGN SCHEMA hunting FROM SERVER defender INTO hunting_live OPTIONS (live 'true');
IMPORT FOREIGN SCHEMA hunting LIMIT TO (device_logon_events) FROM SERVER defender INTO hunting_live
  OPTIONS (fresh 'true');
SET client_min_messages = warning;
DROP SCHEMA hunting_live CASCADE;
RESET client_min_messages;

-- check_kql(table, clause): rows with pushdown and without, and the KQL sent
CREATE FUNCTION check_kql(tbl text, clause text, OUT matching int, OUT same boolean, OUT kql text)
LANGUAGE plpgsql AS $fn$
DECLARE
  pushed text[];
  local text[];
  before int;
BEGIN
  SELECT coalesce(max((r->>'seq')::int), 0) INTO before
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') r;
  PERFORM set_config('defender_fdw.enable_pushdown', 'on', true);
  EXECUTE format('SELECT array_agg(report_id::text || device_id ORDER BY report_id, device_id) FROM %s WHERE %s', tbl, clause) INTO pushed;
  SELECT r->'body'->>'Query' INTO kql
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests?since=' || before)->'requests') r
  WHERE r->>'path' LIKE '%/runHuntingQuery' ORDER BY (r->>'seq')::int LIMIT 1;
  PERFORM set_config('defender_fdw.enable_pushdown', 'off', true);
  EXECUTE format('SELECT array_agg(report_id::text || device_id ORDER BY report_id, device_id) FROM %s WHERE %s', tbl, clause) INTO local;
  PERFORM set_config('defender_fdw.enable_pushdown', 'on', true);
  matching := coalesce(cardinality(local), 0);
  same := pushed IS NOT DISTINCT FROM local;
  kql := regexp_replace(coalesce(kql, '(no request)'), 'datetime\([^)]*\)', 'datetime(<t>)', 'g');
END
$fn$;

CREATE TABLE kql_cases (n serial, clause text, show_count boolean DEFAULT true);
INSERT INTO kql_cases (clause, show_count) VALUES
  ($$action_type = 'ProcessCreated'$$, true),
  ($$action_type <> 'ProcessCreated'$$, true),
  ($$action_type IN ('ProcessCreated', 'OpenProcess')$$, true),
  ($$action_type NOT IN ('ProcessCreated')$$, true),
  ($$file_name = 'powershell.exe'$$, true),
  ($$file_name = 'POWERSHELL.EXE'$$, true),
  ($$file_name LIKE 'power%'$$, true),
  ($$file_name LIKE '%.exe'$$, true),
  ($$process_command_line LIKE '%-enc%'$$, true),
  ($$file_name NOT LIKE '%.exe'$$, true),
  ($$file_name ILIKE 'POWER%'$$, true),
  ($$file_name LIKE 'p_wer%'$$, true),
  ($$account_upn IS NULL$$, true),
  ($$account_upn IS NOT NULL$$, true),
  ($$account_upn = ''$$, true),
  ($$account_upn <> ''$$, true),
  ($$process_id > 5000$$, true),
  ($$process_id <= 1000 OR process_id >= 9000$$, true),
  ($$process_id = 4242$$, true),
  ($$process_id <> 4242$$, true),
  ($$process_id IN (1, 2, 3, 4242)$$, true),
  ($$process_id NOT IN (4242)$$, true),
  ($$logon_id IS NULL$$, true),
  ($$logon_id IS NOT NULL AND logon_id < 100000$$, true),
  ($$file_size > 1000000$$, true),
  ($$NOT (action_type = 'ProcessCreated' AND process_id > 5000)$$, true),
  ($$NOT (file_name LIKE '%.exe' OR account_upn IS NULL)$$, true),
  ($$(action_type = 'ProcessCreated' OR file_name = 'cmd.exe') AND process_id < 5000$$, true),
  ($$timestamp > now() - interval '7 days'$$, false),
  ($$timestamp <= now() - interval '20 days'$$, false),
  ($$timestamp = (SELECT max(timestamp) FROM hunting.device_process_events)$$, false),
  ($$timestamp >= (SELECT min(timestamp) FROM hunting.device_process_events WHERE process_id > 9000)$$, false),
  ($$process_creation_time < timestamp$$, true),
  ($$lower(file_name) = 'cmd.exe'$$, true),
  ($$process_command_line ~ 'enc'$$, true),
  ($$action_type = NULL$$, true),
  ($$process_id = ANY (ARRAY[]::bigint[])$$, true),
  ($$file_name IN ('cmd.exe', NULL)$$, true),
  ($$file_name NOT IN ('cmd.exe', NULL)$$, true),
  ($$process_command_line = (SELECT process_command_line FROM hunting.device_process_events
                             WHERE process_command_line LIKE '%"%' LIMIT 1)$$, true),
  ($$process_command_line = (SELECT process_command_line FROM hunting.device_process_events
                             WHERE process_command_line ~ E'[\\\\|\\n\\t]' LIMIT 1)$$, true),
  ($$file_name = E'a"b\\c|d\ne'$$, true),
  -- the first instant KQL holds: its bounds must not reach year 0
  ($$process_creation_time >= '0001-01-01 00:00:00+00'$$, true),
  ($$process_creation_time = '0001-01-01 00:00:00+00'$$, true),
  ($$process_creation_time < '0001-01-01 00:00:01+00'$$, true);

SET defender_fdw.enable_pushdown = on;
SELECT n, clause, CASE WHEN show_count THEN c.matching END AS matching, c.same, c.kql
FROM kql_cases, LATERAL check_kql('hunting.device_process_events', clause) c ORDER BY n;
SELECT count(*) AS cases, count(*) FILTER (WHERE c.same) AS same
FROM kql_cases, LATERAL check_kql('hunting.device_process_events', clause) c;

-- EXPLAIN shows the KQL and the Timespan; only the columns read are projected
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT device_name, file_name FROM hunting.device_process_events
  WHERE action_type = 'ProcessCreated' AND file_name LIKE '%.exe';
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT device_name FROM hunting.device_process_events WHERE timestamp > now() - interval '1 day';
-- ORDER BY with explicit direction and nulls, LIMIT as take
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT process_id, logon_id FROM hunting.device_process_events ORDER BY logon_id DESC, process_id LIMIT 5;
SELECT array_agg(process_id ORDER BY n) AS pushed FROM (
  SELECT process_id, row_number() OVER () AS n FROM (
    SELECT process_id FROM hunting.device_process_events ORDER BY logon_id DESC, process_id LIMIT 5) s) t;
SET defender_fdw.enable_pushdown = off;
SELECT array_agg(process_id ORDER BY n) AS local FROM (
  SELECT process_id, row_number() OVER () AS n FROM (
    SELECT process_id FROM hunting.device_process_events ORDER BY logon_id DESC, process_id LIMIT 5) s) t;
RESET defender_fdw.enable_pushdown;
-- OFFSET has no KQL counterpart: take limit + offset, skip locally
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT process_id FROM hunting.device_process_events ORDER BY process_id LIMIT 3 OFFSET 4;
SELECT array_agg(process_id) FROM (SELECT process_id FROM hunting.device_process_events ORDER BY process_id LIMIT 3 OFFSET 4) s;
SET defender_fdw.enable_pushdown = off;
SELECT array_agg(process_id) FROM (SELECT process_id FROM hunting.device_process_events ORDER BY process_id LIMIT 3 OFFSET 4) s;
RESET defender_fdw.enable_pushdown;
-- a local condition keeps LIMIT local
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT process_id FROM hunting.device_process_events WHERE lower(file_name) = 'cmd.exe' LIMIT 3;
-- strings are not sorted remotely (KQL orders them by code unit)
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT file_name FROM hunting.device_process_events ORDER BY file_name LIMIT 3;

-- count(*) as summarize count()
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM hunting.device_process_events WHERE action_type = 'ProcessCreated';
SELECT count(*) FROM hunting.device_process_events WHERE action_type = 'ProcessCreated';
SET defender_fdw.enable_pushdown = off;
SELECT count(*) FROM hunting.device_process_events WHERE action_type = 'ProcessCreated';
RESET defender_fdw.enable_pushdown;

-- GROUP BY with count, min and max as summarize: one row per group comes back
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT device_name, count(*), count(account_upn), max(process_id), min(logon_id), max(timestamp)
  FROM hunting.device_process_events WHERE process_id > 1000 GROUP BY device_name;
CREATE TEMP TABLE grouped_pushed AS
  SELECT device_name, count(*) AS n, count(account_upn) AS upns, max(process_id) AS max_pid,
         min(logon_id) AS min_logon, max(timestamp) AS latest
  FROM hunting.device_process_events WHERE process_id > 1000 GROUP BY device_name;
SET defender_fdw.enable_pushdown = off;
CREATE TEMP TABLE grouped_local AS
  SELECT device_name, count(*) AS n, count(account_upn) AS upns, max(process_id) AS max_pid,
         min(logon_id) AS min_logon, max(timestamp) AS latest
  FROM hunting.device_process_events WHERE process_id > 1000 GROUP BY device_name;
RESET defender_fdw.enable_pushdown;
SELECT (SELECT count(*) FROM grouped_pushed) AS groups,
       (SELECT count(*) FROM (SELECT * FROM grouped_pushed EXCEPT SELECT * FROM grouped_local) d) AS differing,
       (SELECT count(*) FROM (SELECT * FROM grouped_local EXCEPT SELECT * FROM grouped_pushed) d) AS missing;
-- a NULL group (KQL's "") and several grouping columns
SELECT count(*) AS differing FROM (
  (SELECT account_upn, action_type, count(*) FROM hunting.device_process_events GROUP BY 1, 2
   EXCEPT
   SELECT account_upn, action_type, count(*) FROM hunting.device_process_events WHERE lower(device_id) = lower(device_id) GROUP BY 1, 2)) d;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT account_upn, action_type, count(*) FROM hunting.device_process_events GROUP BY 1, 2;
-- sum and avg of integers: sum with a companion count (KQL's sum of nothing is
-- 0, SQL's NULL), avg as that sum over that count with numeric division
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT device_name, sum(process_id), avg(logon_id), sum(logon_id) FILTER (WHERE true)
  FROM hunting.device_process_events GROUP BY device_name;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT device_name, sum(process_id), avg(logon_id), sum(logon_id)
  FROM hunting.device_process_events GROUP BY device_name;
CREATE TEMP TABLE sums_pushed AS
  SELECT device_name, action_type, sum(process_id) AS s, avg(logon_id) AS a, sum(logon_id) AS sl,
         avg(process_id) AS ap
  FROM hunting.device_process_events GROUP BY 1, 2;
SET defender_fdw.enable_pushdown = off;
CREATE TEMP TABLE sums_local AS
  SELECT device_name, action_type, sum(process_id) AS s, avg(logon_id) AS a, sum(logon_id) AS sl,
         avg(process_id) AS ap
  FROM hunting.device_process_events GROUP BY 1, 2;
RESET defender_fdw.enable_pushdown;
SELECT (SELECT count(*) FROM sums_pushed) AS groups,
       (SELECT count(*) FROM (SELECT * FROM sums_pushed EXCEPT SELECT * FROM sums_local) d) AS differing,
       (SELECT count(*) FROM (SELECT * FROM sums_local EXCEPT SELECT * FROM sums_pushed) d) AS missing,
       (SELECT count(*) FROM sums_pushed WHERE sl IS NULL) AS all_null_groups;
-- the same digits as avg() computes
SELECT p.a::text = l.a::text AND p.ap::text = l.ap::text AS same_text
FROM sums_pushed p JOIN sums_local l USING (device_name, action_type)
ORDER BY device_name, action_type LIMIT 3;
-- groups whose values are all NULL: SQL's sum and avg are NULL, not 0
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT device_name, sum(logon_id), avg(logon_id), count(*) > 0 AS has_rows
  FROM hunting.device_process_events WHERE logon_id IS NULL GROUP BY device_name;
SELECT device_name, sum(logon_id), avg(logon_id), count(*) > 0 AS has_rows
FROM hunting.device_process_events WHERE logon_id IS NULL GROUP BY device_name ORDER BY 1 LIMIT 3;
-- count(DISTINCT col) alone: a two-level summarize (dcount is an estimate)
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT action_type, count(DISTINCT device_name) FROM hunting.device_process_events GROUP BY action_type;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT count(DISTINCT account_upn) FROM hunting.device_process_events;
SELECT count(DISTINCT account_upn) AS pushed, count(DISTINCT device_name) AS pushed_too
FROM hunting.device_process_events;
SELECT (SELECT count(DISTINCT account_upn) FROM hunting.device_process_events) AS pushed;
SET defender_fdw.enable_pushdown = off;
SELECT (SELECT count(DISTINCT account_upn) FROM hunting.device_process_events) AS local;
RESET defender_fdw.enable_pushdown;
-- not pushed: min/max of text (code-unit order), avg of a float
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT max(file_name) FROM hunting.device_process_events;

-- Each scan is exactly one request; the request body carries Query and Timespan
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');
ALTER FOREIGN TABLE hunting.device_network_events OPTIONS (ADD timespan 'P7D');
SELECT count(remote_port) FROM hunting.device_network_events WHERE remote_port IN (443, 80);
SELECT method, target, body->>'Query' AS query, body->>'Timespan' AS timespan
FROM emulator_requests() WHERE target LIKE '%runHuntingQuery';

-- Conditions on Timestamp also narrow the request's Timespan (the where
-- clause still filters exactly; the service just scans less)
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT device_name FROM hunting.device_process_events
  WHERE timestamp >= '2025-06-01' AND timestamp < '2025-06-08';
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT device_name FROM hunting.device_process_events WHERE timestamp > now() - interval '7 days';
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');
SELECT same, matching > 0 AS found_some
FROM check_kql('hunting.device_process_events',
               $$timestamp > now() - interval '7 days' AND timestamp <= now() - interval '1 day'$$);
SELECT body->>'Timespan' ~ '^\d{4}-\d\d-\d\dT[0-9:.]{16}Z/\d{4}-\d\d-\d\dT[0-9:.]{16}Z$' AS window_sent,
       body->>'Query' ~ 'Timestamp >= datetime' AS where_kept
FROM emulator_requests() WHERE target LIKE '%runHuntingQuery' ORDER BY seq LIMIT 1;
-- an explicit timespan option wins
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');
SELECT count(*) > 0 AS some FROM hunting.device_network_events WHERE timestamp > now() - interval '20 days';
SELECT body->>'Timespan' AS timespan FROM emulator_requests() WHERE target LIKE '%runHuntingQuery';

-- A saved query used as a table
CREATE FOREIGN TABLE creations (
  device_name text OPTIONS (property 'DeviceName'),
  file_name text OPTIONS (property 'FileName'),
  process_id bigint OPTIONS (property 'ProcessId')
) SERVER defender OPTIONS (resource 'hunting',
  query 'DeviceProcessEvents | where ActionType == "ProcessCreated"', timespan 'P30D');
EXPLAIN (VERBOSE, COSTS OFF) SELECT device_name FROM creations WHERE process_id > 100 LIMIT 10;
SELECT count(*) = (SELECT count(*) FROM hunting.device_process_events WHERE action_type = 'ProcessCreated') AS same
FROM creations;

-- Join a hunting table with a local table of assets
CREATE TEMP TABLE assets (device_name text PRIMARY KEY, owner text, criticality int);
INSERT INTO assets SELECT DISTINCT device_name, 'team-' || (ascii(device_name) % 3), ascii(device_name) % 5
FROM hunting.device_process_events;
SELECT a.criticality, count(*) AS processes
FROM hunting.device_process_events p JOIN assets a USING (device_name)
WHERE p.action_type = 'ProcessCreated' GROUP BY 1 ORDER BY 1;

-- KQL that Graph rejects: a NOTICE, then the rows filtered locally
CREATE FOREIGN TABLE mistyped (
  process_id text OPTIONS (property 'ProcessId'),
  device_id text OPTIONS (property 'DeviceId'),
  report_id bigint OPTIONS (property 'ReportId')
) SERVER defender OPTIONS (resource 'hunting', table 'DeviceProcessEvents');
SELECT process_id AS some_pid FROM hunting.device_process_events ORDER BY report_id LIMIT 1 \gset
SELECT count(*) FROM mistyped WHERE process_id = :'some_pid';
SELECT count(*) FROM hunting.device_process_events WHERE process_id = :some_pid;

-- options
CREATE FOREIGN TABLE bad_hunt (a text) SERVER defender OPTIONS (resource 'hunting');
CREATE FOREIGN TABLE bad_hunt (a text) SERVER defender OPTIONS (resource 'hunting', table 'T', query 'T');
CREATE FOREIGN TABLE bad_hunt (a text) SERVER defender OPTIONS (resource 'hunting', table 'Device Events');
CREATE FOREIGN TABLE bad_hunt (a text) SERVER defender OPTIONS (resource 'hunting', table 'T', timespan '30 days');
CREATE FOREIGN TABLE bad_hunt (a text) SERVER defender OPTIONS (resource 'incidents', timespan 'P1D');
CREATE FOREIGN TABLE bad_hunt (a text) SERVER defender OPTIONS (resource 'hunting', table 'T', page_size '10');

-- A result larger than work_mem spills to disk and is read back whole,
-- the same rows as when it fits in memory.
SELECT emulator_reset('{"hunting_rows": 20000, "hunting_seed": 7}');
SET work_mem = '64kB';
SELECT count(*) AS rows, count(DISTINCT report_id) AS distinct_reports,
       md5(string_agg(report_id::text || device_name || coalesce(process_command_line, ''), ',' ORDER BY report_id)) AS digest
FROM hunting.device_process_events \gset spilled_
RESET work_mem;
SELECT count(*) AS rows, count(DISTINCT report_id) AS distinct_reports,
       md5(string_agg(report_id::text || device_name || coalesce(process_command_line, ''), ',' ORDER BY report_id)) AS digest
FROM hunting.device_process_events \gset memory_
SELECT :spilled_rows AS rows, :spilled_rows = :memory_rows AND :'spilled_digest' = :'memory_digest' AS same;
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');

-- Only the columns read are projected: not those the pushed conditions
-- alone use.  When none is read at all and every condition went to KQL,
-- the scan asks only how many rows there are: "| count" after the where
-- and the take, and that many rows come back with every column null.
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT count(*) FROM (SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' LIMIT 100) s;
SELECT count(*) FROM (SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' LIMIT 100) s;

-- EXISTS reads one row: "| take 1", with the same answer as PostgreSQL's.
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT EXISTS (SELECT 1 FROM hunting.device_process_events WHERE file_name = 'powershell.exe');
SELECT EXISTS (SELECT 1 FROM hunting.device_process_events WHERE file_name = 'powershell.exe') AS pushed,
       EXISTS (SELECT 1 FROM hunting.device_process_events WHERE file_name || '' = 'powershell.exe') AS local,
       EXISTS (SELECT 1 FROM hunting.device_process_events WHERE file_name = 'no-such.exe') AS none_pushed,
       EXISTS (SELECT 1 FROM hunting.device_process_events WHERE file_name || '' = 'no-such.exe') AS none_local;
-- with a condition left to PostgreSQL there is no take
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT EXISTS (SELECT 1 FROM hunting.device_process_events WHERE file_name || '' = 'powershell.exe');

-- check_count(query): the rows a query that reads no column yields (each
-- one fetched, not counted by an aggregate that could be pushed down), with
-- pushdown (counted by the service) and without it (read, filtered and
-- counted here), and the KQL the pushed-down run sent (none: no request)
CREATE FUNCTION check_count(query text, OUT counted bigint, OUT local bigint, OUT kql text)
LANGUAGE plpgsql AS $fn$
DECLARE
  before int;
  r record;
BEGIN
  SELECT coalesce(max((e->>'seq')::int), 0) INTO before
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') e;
  counted := 0;
  local := 0;
  PERFORM set_config('defender_fdw.enable_pushdown', 'on', true);
  FOR r IN EXECUTE query LOOP
    counted := counted + 1;
  END LOOP;
  SELECT string_agg(e->'body'->>'Query', ' ;; ' ORDER BY (e->>'seq')::int) INTO kql
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests?since=' || before)->'requests') e
  WHERE e->>'path' LIKE '%/runHuntingQuery';
  PERFORM set_config('defender_fdw.enable_pushdown', 'off', true);
  FOR r IN EXECUTE query LOOP
    local := local + 1;
  END LOOP;
  PERFORM set_config('defender_fdw.enable_pushdown', 'on', true);
  kql := regexp_replace(coalesce(kql, '(no request)'), 'datetime\([^)]*\)', 'datetime(<t>)', 'g');
END
$fn$;

CREATE TABLE count_cases (n serial, query text);
INSERT INTO count_cases (query) VALUES
  ($$SELECT 1 FROM hunting.device_process_events$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated'$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' LIMIT 7$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' LIMIT 100000$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' LIMIT 5 OFFSET 3$$),
  ($$SELECT 1 FROM hunting.device_process_events OFFSET 290$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE process_id > 5000 AND account_upn IS NOT NULL$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE file_name LIKE 'power%' OR logon_id IS NULL$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE timestamp > now() - interval '7 days'$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE file_name = 'no-such.exe'$$),
  ($$SELECT FROM hunting.device_process_events WHERE action_type <> 'ProcessCreated'$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE action_type = NULL$$),
  ($$SELECT 1 FROM hunting.device_process_events LIMIT 0$$),
  -- a condition PostgreSQL evaluates needs the rows' values: no count
  ($$SELECT 1 FROM hunting.device_process_events WHERE lower(file_name) = 'cmd.exe'$$),
  ($$SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' AND random() >= 0$$);
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');
SELECT n, c.counted, c.counted = c.local AS same, c.kql
FROM count_cases, LATERAL check_count(query) c ORDER BY n;

-- the same number as a scan that reads a column, with the same pushdown
SELECT (SELECT count(*) FROM (SELECT 1 FROM hunting.device_process_events
                              WHERE action_type = 'ProcessCreated' LIMIT 100000) s) AS counted,
       (SELECT count(report_id) FROM (SELECT report_id FROM hunting.device_process_events
                                      WHERE action_type = 'ProcessCreated' LIMIT 100000) s) AS read;

-- the request log holds exactly the KQL EXPLAIN shows, one request each
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' LIMIT 5 OFFSET 3;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT count(*) FROM (SELECT 1 FROM hunting.device_process_events WHERE file_name = 'powershell.exe'
                        UNION ALL
                        SELECT 1 FROM hunting.device_process_events WHERE file_name = 'cmd.exe') s;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT NOT EXISTS (SELECT 1 FROM hunting.device_process_events WHERE process_id = 4242) AS absent;
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');
SELECT 1 AS one FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' LIMIT 5 OFFSET 3;
SELECT count(*) FROM (SELECT 1 FROM hunting.device_process_events WHERE file_name = 'powershell.exe'
                      UNION ALL
                      SELECT 1 FROM hunting.device_process_events WHERE file_name = 'cmd.exe') s;
SELECT NOT EXISTS (SELECT 1 FROM hunting.device_process_events WHERE process_id = 4242) AS absent,
       EXISTS (SELECT 1 FROM hunting.device_process_events WHERE file_name = 'powershell.exe') AS present;
SELECT seq, body->>'Query' AS query FROM emulator_requests() WHERE target LIKE '%runHuntingQuery' ORDER BY seq;

-- EXISTS against PostgreSQL's own answer, correlated with a local table
-- (by a comparison that cannot be hashed): one "| take 1 | count" per
-- outer row, with that row's value
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');
CREATE TEMP TABLE thresholds (pid bigint);
INSERT INTO thresholds VALUES (0), (9990), (100000000);
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT t.pid, EXISTS (SELECT 1 FROM hunting.device_process_events p WHERE p.process_id > t.pid)
  FROM thresholds t;
SELECT t.pid,
       EXISTS (SELECT 1 FROM hunting.device_process_events p WHERE p.process_id > t.pid) AS pushed,
       EXISTS (SELECT 1 FROM hunting.device_process_events p WHERE p.process_id + 0 > t.pid) AS local
FROM thresholds t ORDER BY 1;
SELECT body->>'Query' AS query FROM emulator_requests()
WHERE target LIKE '%runHuntingQuery' AND body->>'Query' LIKE '%| count' ORDER BY seq;

-- a rescan of the same scan reuses the count: no second request
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');
SELECT count(*) FROM (VALUES (1), (2), (3)) v(x),
  LATERAL (SELECT 1 FROM hunting.device_process_events WHERE action_type = 'ProcessCreated' LIMIT 4) s;
SELECT count(*) AS requests FROM emulator_requests() WHERE target LIKE '%runHuntingQuery';

-- The count stands for rows, and it is exact: past the row cap (100,000
-- rows) it is as many rows as time windows could read (hunting_max_windows
-- of them), even where the same query reading a column cannot be split
-- (this one has no Timestamp); with splitting off, as many as one answer
-- holds, and a count past that is refused, not truncated.
CREATE FOREIGN TABLE big_range (x bigint OPTIONS (property 'x'))
  SERVER defender OPTIONS (resource 'hunting', query 'range x from 1 to 150000 step 1');
EXPLAIN (VERBOSE, COSTS OFF) SELECT 1 FROM big_range;
SELECT count(*) FROM (SELECT 1 FROM big_range OFFSET 0) s;
SELECT * FROM show_error('SELECT x FROM big_range');
ALTER FOREIGN TABLE big_range OPTIONS (ADD hunting_split 'off');
SELECT * FROM show_error('SELECT 1 FROM big_range');
ALTER FOREIGN TABLE big_range OPTIONS (DROP hunting_split);
ALTER FOREIGN TABLE big_range OPTIONS (ADD hunting_max_windows '2', ADD hunting_max_rows '50000');
SELECT * FROM show_error('SELECT 1 FROM big_range');
ALTER FOREIGN TABLE big_range OPTIONS (DROP hunting_max_windows, DROP hunting_max_rows);
SELECT count(*) FROM (SELECT 1 FROM big_range LIMIT 100000) s;
SELECT count(*) FROM (SELECT 1 FROM big_range OFFSET 99990 LIMIT 10) s;
-- and an answer that is not a count is an error, never zero rows
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "times": 1,
  "body": "{\"schema\":[{\"name\":\"Count\",\"type\":\"Int64\"}],\"results\":[{\"Count\":9223372036854775807}]}"}');
SELECT * FROM show_error('SELECT 1 FROM hunting.device_process_events WHERE process_id > 1');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "times": 1,
  "body": "{\"schema\":[{\"name\":\"Count\",\"type\":\"Int64\"}],\"results\":[{\"Count\":\"12\"}]}"}');
SELECT * FROM show_error('SELECT 1 FROM hunting.device_process_events WHERE process_id > 2');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "times": 1,
  "body": "{\"schema\":[],\"results\":[]}"}');
SELECT * FROM show_error('SELECT 1 FROM hunting.device_process_events WHERE process_id > 3');
-- a 400 that is not Graph's JSON error (a gateway's page, a proxy's text)
-- did not come from Kusto reading the KQL: no fallback without the where,
-- an error that shows what the body was, never an empty error code
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "html", "status": 400, "times": 1}');
SELECT * FROM show_error('SELECT process_id FROM hunting.device_process_events WHERE process_id > 5');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 400, "times": 1,
                        "body": "upstream request rejected:\r\n\tinvalid header"}');
SELECT * FROM show_error('SELECT process_id FROM hunting.device_process_events');
-- keys are matched ignoring case, like the rows of any hunting result
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "times": 1,
  "body": "{\"Schema\":[{\"Name\":\"Count\",\"Type\":\"Int64\"}],\"Results\":[{\"count\":3}]}"}');
SELECT count(*) FROM (SELECT 1 FROM hunting.device_process_events WHERE process_id > 4 LIMIT 10) s;
SELECT emulator_reset('{"hunting_rows": 300, "hunting_seed": 5}');

-- A rejected query is sent again without its where and take: the sort
-- stays, and the conditions, OFFSET and LIMIT are applied here, as for a
-- list (one row-source loop), giving the rows PostgreSQL alone gives
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 400, "code": "BadRequest", "message": "Query could not be parsed."}');
SELECT array_agg(report_id::text || device_id) AS pushed FROM (
  SELECT report_id, device_id FROM hunting.device_process_events WHERE process_id > 1000
  ORDER BY report_id, device_id LIMIT 3 OFFSET 2) s;
SET defender_fdw.enable_pushdown = off;
SELECT array_agg(report_id::text || device_id) AS local FROM (
  SELECT report_id, device_id FROM hunting.device_process_events WHERE process_id > 1000
  ORDER BY report_id, device_id LIMIT 3 OFFSET 2) s;
RESET defender_fdw.enable_pushdown;
