--
-- setup: the extension, a server and user mapping pointing at the Graph
-- emulator, and the helpers the other test files use.
--
-- scripts/test.sh starts the emulator and sets defender_test.emulator_url in
-- the cluster's configuration.
--
CREATE EXTENSION defender_fdw;

-- emulator(method, path, body): talk to the emulator's control API (not
-- through defender_fdw, so that tests can arm faults and read the request
-- log independently of the code under test).
CREATE FUNCTION sh_quote(s text) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT '''' || replace(s, '''', '''\''''') || '''' $$;

CREATE FUNCTION emulator(method text, path text, body jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  cmd text := 'curl -sS --fail-with-body -X ' || method || ' '
              || sh_quote(current_setting('defender_test.emulator_url') || path);
  result text;
BEGIN
  IF body IS NOT NULL THEN
    cmd := cmd || ' -H ''Content-Type: application/json'' --data-binary ' || sh_quote(body::text);
  END IF;
  IF to_regclass('pg_temp.emulator_output') IS NULL THEN
    CREATE TEMP TABLE emulator_output (line text);
  END IF;
  TRUNCATE emulator_output;
  EXECUTE format('COPY emulator_output FROM PROGRAM %L WITH (FORMAT csv, DELIMITER %L, QUOTE %L)',
                 cmd, E'\x1f', E'\x1e');
  SELECT string_agg(line, E'\n') INTO result FROM emulator_output;
  RETURN result::jsonb;
END
$fn$;

CREATE FUNCTION emulator_reset(config jsonb DEFAULT '{}') RETURNS void
LANGUAGE sql AS $$ SELECT emulator('POST', '/_emulator/reset', config) $$;

CREATE FUNCTION emulator_fault(fault jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT emulator('POST', '/_emulator/faults', fault) $$;

-- The request log since the last reset, one row per request, numbered
-- from 1 in the order of arrival, except that the pages of a scan that
-- were requested together ("$skip=N&$top=M" after a "$count=true" request
-- for the same collection and filter) arrive in any order: they are
-- numbered right after that request, by $skip (then target, then arrival).
CREATE FUNCTION emulator_requests()
RETURNS TABLE (seq int, method text, target text, status int, fault text, body jsonb)
LANGUAGE sql AS $$
  WITH log AS (
    SELECT (r->>'seq')::int AS arrival, r->>'method' AS method,
           -- the emulator's port changes from run to run
           regexp_replace(r->>'raw_target', '^https?://[^/]*', '') AS target,
           (r->>'status')::int AS status, r->>'fault' AS fault, r->'body' AS body
    FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
  ), classified AS (
    SELECT *,
           CASE WHEN target ~ '[?&]\$count=true&(\$skip=\d+&)?\$top=\d+$'
                THEN regexp_replace(target, '[?&]\$count=true&.*$', '') END AS counted_prefix,
           CASE WHEN target !~ '\$count=true' AND target ~ '[?&]\$skip=\d+&\$top=\d+$'
                THEN regexp_replace(target, '[?&]\$skip=\d+&\$top=\d+$', '') END AS page_prefix,
           substring(target from '[?&]\$skip=(\d+)&\$top=\d+$')::bigint AS skip
    FROM log
  ), anchored AS (
    SELECT c.*,
           coalesce((SELECT max(a.arrival) FROM classified a
                     WHERE a.counted_prefix = c.page_prefix AND a.arrival < c.arrival),
                    c.arrival) AS anchor
    FROM classified c
  )
  SELECT (row_number() OVER (ORDER BY anchor, arrival <> anchor, skip, target, arrival))::int,
         method, target, status, fault, body
  FROM anchored
  ORDER BY 1
$$;

-- Run a statement and show the error it raises as stable text lines: the
-- SQLSTATE, message, detail, hint and context, with the emulator's address
-- and random GUIDs masked.  Catches everything but a cancel.
CREATE FUNCTION show_error(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
  st text; msg text; det text; hnt text; ctx text; line text;
BEGIN
  EXECUTE query;
  RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
    det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
  RETURN NEXT 'SQLSTATE ' || st;
  RETURN NEXT 'ERROR:   ' || mask(msg);
  IF det <> '' THEN RETURN NEXT 'DETAIL:  ' || mask(det); END IF;
  IF hnt <> '' THEN RETURN NEXT 'HINT:    ' || mask(hnt); END IF;
  FOR line IN SELECT l FROM regexp_split_to_table(ctx, E'\n') AS l
              WHERE l <> '' AND l NOT LIKE 'PL/pgSQL function %' AND l NOT LIKE 'SQL statement %'
  LOOP
    RETURN NEXT 'CONTEXT: ' || mask(line);
  END LOOP;
END
$fn$;

CREATE FUNCTION mask(s text) RETURNS text LANGUAGE sql AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(
           regexp_replace(
             replace(s, current_setting('defender_test.emulator_url'), '<emulator>'),
             '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<guid>', 'g'),
           '\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?', '<timestamp>', 'g'),
         '\d+ (ms|milliseconds)', '<n> \1', 'g'),
       'skiptoken=[^&\s]*', 'skiptoken=<opaque>', 'g')
$$;

-- check_pushdown(clause, table): the rows with pushdown and without it (then
-- PostgreSQL does all filtering), whether they are the same, and the
-- $filter Graph received for the pushed-down query, as the emulator parsed it.
CREATE FUNCTION check_pushdown(clause text, tbl text DEFAULT 'incidents',
                               OUT matching int, OUT same boolean, OUT filter_sent text)
LANGUAGE plpgsql AS $fn$
DECLARE
  pushed text[];
  local text[];
  before int;
  path text := CASE tbl WHEN 'incidents' THEN '/v1.0/security/incidents'
                        ELSE '/v1.0/security/alerts_v2' END;
BEGIN
  SELECT coalesce(max((r->>'seq')::int), 0) INTO before
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') r;
  PERFORM set_config('defender_fdw.enable_pushdown', 'on', true);
  EXECUTE format('SELECT array_agg(id ORDER BY id) FROM %s WHERE %s', tbl, clause) INTO pushed;
  -- the first request's; later pages repeat it
  SELECT coalesce(r->'query'->>'$filter', '(none)') INTO filter_sent
  FROM jsonb_array_elements(emulator('GET', '/_emulator/requests?since=' || before)->'requests') r
  WHERE r->>'path' LIKE path || '%'
  ORDER BY (r->>'seq')::int LIMIT 1;
  PERFORM set_config('defender_fdw.enable_pushdown', 'off', true);
  EXECUTE format('SELECT array_agg(id ORDER BY id) FROM %s WHERE %s', tbl, clause) INTO local;
  PERFORM set_config('defender_fdw.enable_pushdown', 'on', true);
  matching := coalesce(cardinality(local), 0);
  same := pushed IS NOT DISTINCT FROM local;
  filter_sent := coalesce(filter_sent, '(no request)');
END
$fn$;

-- The emulator's own incidents, typed like the foreign table: what a scan
-- must return.
CREATE FUNCTION emulator_incidents()
RETURNS TABLE (id text, tenant_id text, display_name text, description text, summary text,
               status text, severity text, classification text, determination text,
               assigned_to text, created_date_time timestamptz, last_update_date_time timestamptz,
               last_modified_by text, custom_tags text[], system_tags text[], comments jsonb,
               incident_web_url text, redirect_incident_id text, resolving_comment text,
               priority_score integer)
LANGUAGE sql AS $$
  SELECT i->>'id', i->>'tenantId', i->>'displayName', i->>'description', i->>'summary',
         i->>'status', i->>'severity', i->>'classification', i->>'determination',
         i->>'assignedTo', (i->>'createdDateTime')::timestamptz,
         (i->>'lastUpdateDateTime')::timestamptz, i->>'lastModifiedBy',
         ARRAY(SELECT jsonb_array_elements_text(i->'customTags')),
         ARRAY(SELECT jsonb_array_elements_text(i->'systemTags')),
         i->'comments', i->>'incidentWebUrl', i->>'redirectIncidentId',
         i->>'resolvingComment', (i->>'priorityScore')::int
  FROM jsonb_array_elements(emulator('GET', '/_emulator/incidents')->'value') AS i
$$;

-- A server whose three URLs all point at the emulator.
DO $$
BEGIN
  EXECUTE format('CREATE SERVER defender FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, mde_url %L)',
                 '00000000-0000-0000-0000-000000000001',
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url') || '/mde');
END
$$;

CREATE USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111',
           client_secret 'test-secret-value');

CREATE FOREIGN TABLE incidents (
  id text,
  tenant_id text,
  display_name text,
  description text,
  summary text,
  status text,
  severity text,
  classification text,
  determination text,
  assigned_to text,
  created_date_time timestamptz,
  last_update_date_time timestamptz,
  last_modified_by text,
  custom_tags text[],
  system_tags text[],
  comments jsonb,
  incident_web_url text,
  redirect_incident_id text,
  resolving_comment text,
  priority_score integer
) SERVER defender OPTIONS (resource 'incidents');

SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) AS fixture_incidents FROM emulator_incidents();
