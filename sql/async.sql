--
-- async: scans of an Append run concurrently (async_capable), and the
-- managed-provider layout of one foreign partition per tenant: partition
-- pruning, pushdown per partition, a count per partition, cancel and
-- statement_timeout during the wait, one failing partition
--
-- Four tenants of the emulator, each its own data and latency; a reset
-- also clears the request log (the tokens stay valid).
CREATE FUNCTION reset_tenants(latency_ms int[]) RETURNS void LANGUAGE sql AS $$
  SELECT emulator('POST', '/_emulator/reset', jsonb_build_object('tenants',
    (SELECT jsonb_agg(jsonb_build_object(
              'id', '10000000-0000-4000-8000-00000000000' || k,
              'incidents', (ARRAY[60, 40, 30, 20])[k],
              'latency_ms', latency_ms[k]) ORDER BY k)
     FROM generate_series(1, 4) k)))
$$;
SELECT reset_tenants(ARRAY[400, 400, 400, 400]);

-- the tenants the provider watches, with their display names (a local table)
CREATE TABLE mssp_tenants (tenant_id text PRIMARY KEY, display_name text NOT NULL);
INSERT INTO mssp_tenants VALUES
  ('10000000-0000-4000-8000-000000000001', 'Contoso'),
  ('10000000-0000-4000-8000-000000000002', 'Fabrikam'),
  ('10000000-0000-4000-8000-000000000003', 'Northwind'),
  ('10000000-0000-4000-8000-000000000004', 'Tailspin');

-- one partitioned table, one foreign partition and server per tenant: one statement
CREATE TABLE all_incidents (
  id text,
  tenant_id text NOT NULL,
  display_name text,
  status text,
  severity text,
  created_date_time timestamptz
) PARTITION BY LIST (tenant_id);

DO $$
DECLARE
  t record;
  server text;
BEGIN
  FOR t IN SELECT * FROM mssp_tenants ORDER BY tenant_id LOOP
    server := 'tenant_' || lower(t.display_name);
    EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER defender_fdw
                      OPTIONS (tenant_id %L, login_url %L, graph_url %L, async_capable ''true'')',
                   server, t.tenant_id,
                   current_setting('defender_test.emulator_url'),
                   current_setting('defender_test.emulator_url'));
    EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I
                      OPTIONS (client_id %L, client_secret %L)',
                   server, '11111111-1111-1111-1111-111111111111', 'test-secret-value');
    EXECUTE format('CREATE FOREIGN TABLE %I PARTITION OF all_incidents
                      FOR VALUES IN (%L) SERVER %I OPTIONS (resource ''incidents'')',
                   'incidents_' || lower(t.display_name), t.tenant_id, server);
  END LOOP;
END
$$;

-- each tenant's display name next to its incidents
CREATE VIEW tenant_incidents AS
  SELECT t.display_name AS tenant, i.*
  FROM all_incidents i JOIN mssp_tenants t USING (tenant_id);

-- the option is checked like every boolean
SELECT show_error($$ALTER SERVER tenant_contoso OPTIONS (SET async_capable 'maybe')$$);
SELECT show_error($$ALTER FOREIGN TABLE incidents_contoso OPTIONS (ADD async_capable 'off')$$);
ALTER FOREIGN TABLE incidents_contoso OPTIONS (DROP async_capable);

-- plan shape: the partitions are Async Foreign Scans of one Append
EXPLAIN (COSTS OFF) SELECT id FROM all_incidents;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM all_incidents WHERE severity = 'high';

-- a table option overrides the server's: this partition runs synchronously
ALTER FOREIGN TABLE incidents_tailspin OPTIONS (ADD async_capable 'false');
EXPLAIN (COSTS OFF) SELECT id FROM all_incidents;
ALTER FOREIGN TABLE incidents_tailspin OPTIONS (DROP async_capable);

-- pruning: one tenant's condition reaches one partition, and one tenant
EXPLAIN (COSTS OFF) SELECT id FROM all_incidents
  WHERE tenant_id = '10000000-0000-4000-8000-000000000002';
SELECT count(*) FROM tenant_incidents;	-- the tokens, before the log is read
SELECT reset_tenants(ARRAY[400, 400, 400, 400]);
SELECT count(id) FROM all_incidents WHERE tenant_id = '10000000-0000-4000-8000-000000000002';
SELECT method, target FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';

-- every tenant's rows, with its name, and the tenantId Graph returned
SELECT tenant, count(*), bool_and(tenant_id = (SELECT tenant_id FROM mssp_tenants m
                                            WHERE m.display_name = tenant)) AS own_rows
FROM tenant_incidents GROUP BY tenant ORDER BY tenant;

-- concurrency: the four tenants' requests overlap (each arrived before any
-- was answered), and the scan takes about one tenant's latency, not four
SELECT reset_tenants(ARRAY[400, 400, 400, 400]);
SELECT clock_timestamp() AS t0 \gset
SELECT count(id) FROM all_incidents WHERE status = 'active' OR status <> 'active';
SELECT clock_timestamp() - :'t0'::timestamptz < interval '1800 ms' AS faster_than_sequential;
-- the Graph requests since the last reset: how many, how many were a
-- tenant's first (later pages follow a tenant's first), and whether the
-- first ones overlapped: each arrived before any of them was answered
CREATE FUNCTION tenant_requests(OUT requests int, OUT first_requests int,
                                OUT overlapping bool, OUT all_counts bool)
LANGUAGE sql AS $$
  WITH r AS (
    SELECT (e->>'arrived')::float8 AS arrived,
           (e->>'arrived')::float8 + (e->>'ms')::float8 / 1000 AS done,
           e->>'raw_target' LIKE '%$count=true%' AS first,
           e->>'path' LIKE '%/incidents' AND e->>'raw_target' LIKE '%$top=1' AS is_count
    FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') e
    WHERE e->>'path' LIKE '%/security/%')
  SELECT count(*)::int, (count(*) FILTER (WHERE first))::int,
         max(arrived) FILTER (WHERE first) < min(done) FILTER (WHERE first),
         bool_and(is_count)
  FROM r
$$;
SELECT requests, first_requests, overlapping FROM tenant_requests();

-- the later pages overlap too: with 120 incidents each (pages of 50, 50
-- and 20), every tenant's later pages were all sent before any of them
-- was answered, so N tenants cost one tenant's round trips, not N times
-- the later ones (read from the emulator's log: the token's tenant, when
-- a request arrived and how long it took)
CREATE FUNCTION reset_big_tenants() RETURNS void LANGUAGE sql AS $$
  SELECT emulator('POST', '/_emulator/reset', jsonb_build_object('tenants',
    (SELECT jsonb_agg(jsonb_build_object(
              'id', '10000000-0000-4000-8000-00000000000' || k,
              'incidents', 120, 'latency_ms', 400) ORDER BY k)
     FROM generate_series(1, 4) k)))
$$;
CREATE FUNCTION later_pages(OUT tenants int, OUT requests int, OUT overlapping bool)
LANGUAGE sql AS $$
  WITH r AS (
    SELECT e->>'tenant' AS tenant, (e->>'arrived')::float8 AS arrived,
           (e->>'arrived')::float8 + (e->>'ms')::float8 / 1000 AS done
    FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') e
    WHERE e->>'path' LIKE '%/security/incidents' AND e->>'raw_target' LIKE '%$skip=%')
  SELECT count(DISTINCT tenant)::int, count(*)::int, max(arrived) < min(done) FROM r
$$;
SELECT reset_big_tenants();
SELECT count(id) FROM all_incidents WHERE status = 'active' OR status <> 'active';
SELECT * FROM later_pages();

-- the same with async_capable off: one tenant after the other
ALTER SERVER tenant_contoso OPTIONS (SET async_capable 'false');
ALTER SERVER tenant_fabrikam OPTIONS (SET async_capable 'false');
ALTER SERVER tenant_northwind OPTIONS (SET async_capable 'false');
ALTER SERVER tenant_tailspin OPTIONS (SET async_capable 'false');
EXPLAIN (COSTS OFF) SELECT id FROM all_incidents;
SELECT reset_tenants(ARRAY[400, 400, 400, 400]);
SELECT count(id) FROM all_incidents WHERE status = 'active' OR status <> 'active';
SELECT requests, first_requests, overlapping FROM tenant_requests();
SELECT reset_big_tenants();
SELECT count(id) FROM all_incidents WHERE status = 'active' OR status <> 'active';
SELECT * FROM later_pages();
ALTER SERVER tenant_contoso OPTIONS (SET async_capable 'true');
ALTER SERVER tenant_fabrikam OPTIONS (SET async_capable 'true');
ALTER SERVER tenant_northwind OPTIONS (SET async_capable 'true');
ALTER SERVER tenant_tailspin OPTIONS (SET async_capable 'true');

-- very different latencies: the fast tenants' answers come in while the
-- slow one's Notify drives the shared handle, and are still handed out
SELECT reset_tenants(ARRAY[900, 0, 5, 300]);
SELECT tenant, count(*) FROM tenant_incidents GROUP BY tenant ORDER BY tenant;
SELECT id, tenant FROM tenant_incidents ORDER BY tenant, id LIMIT 3;

-- pushed down in every partition: WHERE, and with partitionwise
-- aggregation the count, one $count request per tenant
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM all_incidents WHERE status = 'resolved';
SET enable_partitionwise_aggregate = on;
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM all_incidents;
SELECT reset_tenants(ARRAY[400, 400, 400, 400]);
SELECT count(*) FROM all_incidents;
SELECT * FROM tenant_requests();	-- one $count per tenant, together
SELECT DISTINCT regexp_replace(target, '^.*\?', '?') AS query FROM emulator_requests()
WHERE target NOT LIKE '%/oauth2/%';
RESET enable_partitionwise_aggregate;

-- one failing partition fails the statement, with that tenant's error;
-- the others' transfers (hanging here) are stopped, not waited for
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 403,
                        "tenant": "10000000-0000-4000-8000-000000000003"}');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "hang", "seconds": 30, "times": 3}');
SELECT clock_timestamp() AS t0 \gset
SELECT show_error($$SELECT count(id) FROM all_incidents$$);
SELECT clock_timestamp() - :'t0'::timestamptz < interval '5 seconds' AS not_waited_for;
SELECT emulator('DELETE', '/_emulator/faults');
SELECT count(id) FROM all_incidents;

-- statement_timeout during the wait acts within a second
SELECT emulator_fault('{"match": "/security/incidents", "kind": "hang", "seconds": 30, "times": 4}');
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '1s';
SELECT count(id) FROM all_incidents;
RESET statement_timeout;
\echo :LAST_ERROR_SQLSTATE
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2500 ms' AS ended_promptly;

-- and so does a cancel from another session
SELECT emulator('DELETE', '/_emulator/faults');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "hang", "seconds": 30, "times": 4}');
\! (sleep 1; psql -X -q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS cancel_async%' AND pid <> pg_backend_pid()" >/dev/null 2>&1) &
SELECT clock_timestamp() AS t0 \gset
SELECT count(id) AS cancel_async FROM all_incidents;
\echo :LAST_ERROR_SQLSTATE
SELECT clock_timestamp() - :'t0'::timestamptz < interval '3 seconds' AS ended_promptly;
SELECT emulator('DELETE', '/_emulator/faults');
SELECT count(id) FROM all_incidents;

-- a tenant throttled by a 429 storm holds back its own pages only: its
-- pages wait for the Retry-After (with the quota governor on, the whole
-- tenant is blocked until then) without a sleep in the scan, and the Append
-- goes on with the other tenants' pages meanwhile.  Proved from the
-- emulator's log: every request of the other three tenants, later pages
-- included, was answered before the throttled tenant's first request that
-- succeeded arrived, and each of its requests after a 429 arrived at least
-- the Retry-After (1 s) after that 429 was answered
SET defender_fdw.quota_governor = on;
CREATE FUNCTION throttled_tenant(OUT throttled int, OUT others int,
                                 OUT others_answered_during_the_block bool,
                                 OUT retry_after_kept bool)
LANGUAGE sql AS $$
  WITH r AS (
    SELECT e->>'tenant' = '10000000-0000-4000-8000-000000000001' AS blocked,
           (e->>'status')::int AS status, (e->>'arrived')::float8 AS arrived,
           (e->>'arrived')::float8 + (e->>'ms')::float8 / 1000 AS done
    FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') e
    WHERE e->>'path' LIKE '%/security/incidents'),
  b AS (
    SELECT status, arrived,
           lag(status) OVER w AS prev_status, lag(done) OVER w AS prev_done
    FROM r WHERE blocked WINDOW w AS (ORDER BY arrived))
  SELECT (SELECT count(*) FROM b WHERE status = 429)::int,
         (SELECT count(*) FROM r WHERE NOT blocked)::int,
         (SELECT max(done) FROM r WHERE NOT blocked) <
           (SELECT min(arrived) FROM b WHERE status = 200),
         (SELECT bool_and(arrived - prev_done >= 0.95) FROM b WHERE prev_status = 429)
$$;
-- the scans' rows (each counted once: EXPLAIN ANALYZE showed an async
-- scan's rows twice), and the throttled one's held time as "Quota wait"
CREATE FUNCTION held_plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
    IF line ~ 'Foreign Scan|Quota wait' THEN
      line := regexp_replace(line, ' \(actual rows=(\d+) loops=\d+\)', ' (rows \1)');
      RETURN NEXT regexp_replace(line, '\d+ ms',
        CASE WHEN (regexp_match(line, '(\d+) ms'))[1]::int >= 1500
             THEN 'at least 1500 ms' ELSE 'less than 1500 ms' END);
    END IF;
  END LOOP;
END
$fn$;
SELECT reset_big_tenants();
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 429,
                        "retry_after": 1, "times": 2,
                        "tenant": "10000000-0000-4000-8000-000000000001"}');
SELECT held_plan('SELECT id FROM all_incidents');
SELECT * FROM throttled_tenant();
SELECT emulator('DELETE', '/_emulator/faults');
-- the rows EXPLAIN ANALYZE counted above, per partition
SELECT tableoid::regclass AS partition, count(*) FROM all_incidents GROUP BY 1 ORDER BY 1;

-- a hold longer than statement_timeout allows fails at once, saying how
-- long the tenant is blocked, as a synchronous wait does
SELECT reset_big_tenants();
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 429,
                        "retry_after": 30, "times": 1,
                        "tenant": "10000000-0000-4000-8000-000000000001"}');
-- (show_error's WHEN OTHERS does not catch query_canceled)
CREATE FUNCTION show_timeout(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
  st text; msg text; det text; hnt text;
BEGIN
  EXECUTE query;
  RETURN NEXT 'no error';
EXCEPTION WHEN query_canceled THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
    det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
  RETURN NEXT 'SQLSTATE ' || st;
  RETURN NEXT 'ERROR:   ' || mask(msg);
  RETURN NEXT 'DETAIL:  ' || mask(det);
  RETURN NEXT 'HINT:    ' || mask(hnt);
END
$fn$;
SET statement_timeout = '10s';
SELECT clock_timestamp() AS t0 \gset
SELECT show_timeout($$SELECT count(id) FROM all_incidents$$);
SELECT clock_timestamp() - :'t0'::timestamptz < interval '5 seconds' AS failed_at_once;
RESET statement_timeout;
SELECT emulator('DELETE', '/_emulator/faults');
-- (the governor keeps tenant 1 blocked for this backend: off again)
RESET defender_fdw.quota_governor;

-- a cancel during a hold (here a page held for a 429's Retry-After of 30 s,
-- without the governor) acts within a second
SELECT reset_big_tenants();
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 429,
                        "retry_after": 30, "times": 1,
                        "tenant": "10000000-0000-4000-8000-000000000001"}');
\! (sleep 2; psql -X -q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS cancel_hold%' AND pid <> pg_backend_pid()" >/dev/null 2>&1) &
SELECT clock_timestamp() AS t0 \gset
SELECT count(id) AS cancel_hold FROM all_incidents;
\echo :LAST_ERROR_SQLSTATE
SELECT clock_timestamp() - :'t0'::timestamptz < interval '4 seconds' AS ended_promptly;
-- the other tenants' pages all came in while the page was held
SELECT count(*) FILTER (WHERE e->>'tenant' <> '10000000-0000-4000-8000-000000000001'
                          AND (e->>'status')::int = 200) AS others_answered
FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') e
WHERE e->>'path' LIKE '%/security/incidents';
SELECT emulator('DELETE', '/_emulator/faults');
SELECT count(id) FROM all_incidents;

DROP VIEW tenant_incidents;
DROP TABLE all_incidents;
DROP TABLE mssp_tenants;
DROP FUNCTION tenant_requests();
DROP FUNCTION later_pages();
DROP FUNCTION throttled_tenant();
DROP FUNCTION held_plan(text);
DROP FUNCTION show_timeout(text);
DROP FUNCTION reset_big_tenants();
DROP FUNCTION reset_tenants(int[]);
DO $$
DECLARE s text;
BEGIN
  FOR s IN SELECT srvname FROM pg_foreign_server WHERE srvname LIKE 'tenant\_%' ORDER BY srvname LOOP
    EXECUTE format('DROP SERVER %I CASCADE', s);
  END LOOP;
END
$$;
SELECT emulator_reset();
