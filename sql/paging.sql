--
-- paging: pages fetched in parallel ($count, then $skip pages several at a
-- time) and the opt-in response cache (cache_ttl).
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');

-- The first request asks for the count; the other pages follow by $skip,
-- up to parallel_pages (default 4) at a time.
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents;
CREATE TEMP TABLE parallel_order AS
  SELECT row_number() OVER () AS n, id FROM incidents;
SELECT seq, target, status FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';

-- The same rows in the same order as following nextLinks one by one.
ALTER FOREIGN TABLE incidents OPTIONS (ADD parallel_pages '1');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM incidents;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
CREATE TEMP TABLE sequential_order AS
  SELECT row_number() OVER () AS n, id FROM incidents;
SELECT regexp_replace(target, 'skiptoken=[^&]*', 'skiptoken=<opaque>') AS target
FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';
ALTER FOREIGN TABLE incidents OPTIONS (DROP parallel_pages);
SELECT (SELECT count(*) FROM parallel_order) AS parallel_rows,
       (SELECT count(*) FROM sequential_order) AS sequential_rows,
       NOT EXISTS (SELECT n, id FROM parallel_order EXCEPT SELECT n, id FROM sequential_order)
         AS same_order,
       (SELECT array_agg(id ORDER BY id) FROM parallel_order) =
       (SELECT array_agg(id ORDER BY id) FROM emulator_incidents()) AS every_incident;

-- 1,000 incidents: 20 requests, each page once; the rows are the emulator's.
SELECT emulator_reset('{"incidents": 1000, "seed": 2}');
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids,
       (SELECT array_agg(id ORDER BY id) FROM emulator_incidents()) = array_agg(id ORDER BY id) AS same
FROM incidents;
-- (at most parallel_pages connections: how many the window needs depends
-- on how fast pages come back)
SELECT count(*) AS requests, count(DISTINCT target) AS distinct_requests,
       count(DISTINCT conn) BETWEEN 1 AND 4 AS at_most_4_connections
FROM (SELECT r->>'raw_target' AS target, (r->>'conn')::int AS conn
      FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') r
      WHERE r->>'path' LIKE '/v1.0/security/incidents%') s;

-- Never more pages than the limit needs; the last page asks only for the rest.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM (SELECT id FROM incidents LIMIT 120) s;
SELECT target FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM emulator_incidents() OFFSET 30 LIMIT 75) e)
       AS same_as_local
FROM (SELECT id FROM incidents OFFSET 30 LIMIT 75) s;
SELECT target FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';
-- A limit within one page: no count, one request.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM (SELECT id FROM incidents LIMIT 50) s;
SELECT target FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';

-- EXISTS reads one row: the first page asks for one (not a limit: with a
-- condition left to PostgreSQL, pages of 50 as usual).
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT EXISTS (SELECT 1 FROM incidents WHERE status = 'active' AND severity = 'high');
SELECT EXISTS (SELECT 1 FROM incidents WHERE status = 'active' AND severity = 'high') AS pushed,
       EXISTS (SELECT 1 FROM emulator_incidents() WHERE status = 'active' AND severity = 'high') AS local,
       EXISTS (SELECT 1 FROM incidents WHERE status = 'active' AND severity = 'informational'
                                           AND display_name = 'no such name') AS none_pushed,
       EXISTS (SELECT 1 FROM emulator_incidents() WHERE status = 'active' AND severity = 'informational'
                                           AND display_name = 'no such name') AS none_local;
SELECT target FROM emulator_requests() WHERE target LIKE '/v1.0/%';

-- With a filter: the same rows as PostgreSQL's own filtering.
SELECT emulator_reset('{"incidents": 400, "seed": 5}');
SELECT * FROM check_pushdown($$status <> 'resolved'$$);
SELECT count(*) FILTER (WHERE target LIKE '%$skip=%') AS skip_pages
FROM emulator_requests();

-- Throttled in the middle of a batch: that page alone is retried.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "query": "$skip=50", "kind": "status", "status": 429, "retry_after": 1}');
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids FROM incidents;
SELECT target, status FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%' ORDER BY target, status;

-- A page that fails fails the statement: nothing is inserted.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "query": "$skip=100", "kind": "status", "status": 500}');
CREATE TEMP TABLE copied AS SELECT * FROM incidents WHERE false;
SELECT show_error('INSERT INTO copied SELECT * FROM incidents');
SELECT count(*) AS rows_copied FROM copied;

-- Rows that left the collection after the count: an error, not a hole.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "query": "$skip=50", "kind": "drop_rows", "rows": 1}');
SELECT show_error('INSERT INTO copied SELECT * FROM incidents');
SELECT count(*) AS rows_copied FROM copied;

-- Pages requested ahead (a sliding window: up to parallel_pages in flight,
-- each page taken frees a place for the next request).
-- A scan that stops early (a LIMIT over a condition left to PostgreSQL, so
-- no limit is sent) leaves requests in flight; they are stopped, and the
-- next statement on the same connection pool gets every row.
SELECT emulator_reset('{"incidents": 400, "seed": 5, "latency_ms": 30}');
SELECT count(*) AS early_rows
FROM (SELECT id FROM incidents WHERE display_name LIKE '%' LIMIT 5) s;
-- rows read, how many distinct, and whether they are the emulator's incidents
CREATE FUNCTION check_incident_ids(ids text[])
RETURNS TABLE (rows int, distinct_ids bigint, every_incident boolean) LANGUAGE sql AS $$
  SELECT cardinality(ids), (SELECT count(DISTINCT i) FROM unnest(ids) i),
         (SELECT array_agg(i ORDER BY i) FROM unnest(ids) i) =
         (SELECT array_agg(id ORDER BY id) FROM emulator_incidents())
$$;
SELECT * FROM check_incident_ids(ARRAY(SELECT id FROM incidents));
-- the second scan: its count page, then 7 pages by $skip, each once
SELECT count(*) FILTER (WHERE target ~ 'skip=') AS skip_requests,
       count(DISTINCT target) FILTER (WHERE target ~ 'skip=') AS distinct_skip_requests
FROM emulator_requests() WHERE seq > (SELECT max(seq) FROM emulator_requests()
                                      WHERE target LIKE '%$count=true&$top=50');

-- Requests of an inner scan (lookups by id in a nested loop, then, past
-- its switch point, its own list) while the outer scan's pages are in
-- flight: neither disturbs the other.
SELECT emulator_reset('{"incidents": 200, "seed": 6}');
CREATE FUNCTION plan_outline(query text) RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
    IF line ~ 'Nested Loop|Foreign Scan|Remote request' THEN
      RETURN NEXT line;
    END IF;
  END LOOP;
END
$fn$;
SELECT plan_outline($$SELECT a.id FROM incidents a,
  LATERAL (SELECT status FROM incidents b WHERE b.id = a.id OFFSET 0) b$$);
SELECT count(*) AS joined, bool_and(a.status = b.status AND a.display_name = b.display_name) AS same
FROM incidents a,
     LATERAL (SELECT status, display_name FROM incidents b WHERE b.id = a.id OFFSET 0) b;
SELECT count(*) FILTER (WHERE target ~ '^/v1.0/security/incidents/') AS lookups,
       count(*) FILTER (WHERE target ~ 'skip=') AS skip_pages,
       count(DISTINCT target) FILTER (WHERE target ~ 'skip=') AS distinct_skip_pages
FROM emulator_requests();

-- A cursor keeps its pages in flight between fetches; a request that fails
-- in a subtransaction meanwhile does not disturb them.
SELECT emulator_reset('{"incidents": 200, "seed": 6}');
SELECT id AS failing_id FROM emulator_incidents() ORDER BY id LIMIT 1 \gset
SELECT emulator_fault(json_build_object('match', '/security/incidents/' || :'failing_id',
                                        'kind', 'status', 'status', 500)::jsonb);
CREATE TEMP TABLE cursor_rows (id text);
DO $$
DECLARE
  c refcursor;
  r record;
  failing text := (SELECT id FROM emulator_incidents() ORDER BY id LIMIT 1);
BEGIN
  OPEN c FOR SELECT id FROM incidents;
  FETCH c INTO r;
  INSERT INTO cursor_rows VALUES (r.id);
  BEGIN
    PERFORM 1 FROM incidents WHERE id = failing;
    RAISE NOTICE 'no error';
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'the lookup failed: %', SQLERRM;
  END;
  LOOP
    FETCH c INTO r;
    EXIT WHEN NOT FOUND;
    INSERT INTO cursor_rows VALUES (r.id);
  END LOOP;
  CLOSE c;
END
$$;
SELECT * FROM check_incident_ids(ARRAY(SELECT id FROM cursor_rows));
SELECT count(*) FILTER (WHERE target ~ 'skip=') AS skip_pages,
       count(DISTINCT target) FILTER (WHERE target ~ 'skip=') AS distinct_skip_pages
FROM emulator_requests();

-- Options.
SELECT show_error($$ALTER FOREIGN TABLE incidents OPTIONS (ADD parallel_pages '0')$$);
SELECT show_error($$ALTER SERVER defender OPTIONS (ADD parallel_pages '9')$$);
SELECT show_error($$ALTER SERVER defender OPTIONS (ADD cache_ttl '-1')$$);
SELECT show_error($$ALTER SERVER defender OPTIONS (ADD cache_ttl 'soon')$$);

--
-- The response cache: off by default.
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests_without_cache FROM emulator_requests() WHERE target LIKE '/v1.0/%';

ALTER FOREIGN TABLE incidents OPTIONS (ADD cache_ttl '300');
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests_first FROM emulator_requests() WHERE target LIKE '/v1.0/%';
-- the same query again: no request at all
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests_total FROM emulator_requests() WHERE target LIKE '/v1.0/%';
-- another request (another filter) is not the same answer
SELECT count(*) FROM incidents WHERE severity = 'low';
SELECT count(*) AS requests_total FROM emulator_requests() WHERE target LIKE '/v1.0/%';
-- a lookup by id is cached too (a 404 is not)
SELECT id AS some_id FROM emulator_incidents() WHERE status = 'active' ORDER BY id LIMIT 1 \gset
SELECT id, status FROM incidents WHERE id = :'some_id';
SELECT id, status FROM incidents WHERE id = :'some_id';
SELECT id FROM incidents WHERE id = 'no-such-incident';
SELECT id FROM incidents WHERE id = 'no-such-incident';
SELECT target, count(*) AS requests FROM emulator_requests()
WHERE target LIKE '/v1.0/security/incidents/%' GROUP BY target ORDER BY target;

-- The extension's own writes empty the cache.
UPDATE incidents SET status = 'resolved' WHERE id = :'some_id' RETURNING id, status;
SELECT id, status FROM incidents WHERE id = :'some_id';
SELECT count(*) AS lookups FROM emulator_requests()
WHERE target = '/v1.0/security/incidents/' || :'some_id' || '?$select=id,status' AND method = 'GET';

-- defender_cache_clear() empties it and says how many answers it held.
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT defender_cache_clear() > 0 AS held_answers;
SELECT defender_cache_clear() AS now_empty;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests_after_clear FROM emulator_requests() WHERE target LIKE '/v1.0/%';

-- Another user with its own mapping never gets this user's answers.
CREATE ROLE paging_analyst;
GRANT USAGE ON FOREIGN SERVER defender TO paging_analyst;
GRANT SELECT ON incidents TO paging_analyst;
CREATE USER MAPPING FOR paging_analyst SERVER defender
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
SELECT defender_cache_clear() > 0 AS held_answers;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests_one_user FROM emulator_requests() WHERE target LIKE '/v1.0/%';
SET ROLE paging_analyst;
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) FROM incidents WHERE severity = 'high';
RESET ROLE;
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests_two_users FROM emulator_requests() WHERE target LIKE '/v1.0/%';

-- The TTL runs out.
ALTER FOREIGN TABLE incidents OPTIONS (SET cache_ttl '1');
SELECT defender_cache_clear() >= 0 AS cleared;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT pg_sleep(1.2);
SELECT count(*) FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests_after_expiry FROM emulator_requests() WHERE target LIKE '/v1.0/%';
ALTER FOREIGN TABLE incidents OPTIONS (DROP cache_ttl);

-- Hunting answers are cached the same way (the server's option).
ALTER SERVER defender OPTIONS (ADD cache_ttl '300');
CREATE FOREIGN TABLE paging_hunt (
  ts timestamptz OPTIONS (property 'Timestamp'),
  device_name text OPTIONS (property 'DeviceName'),
  action_type text OPTIONS (property 'ActionType')
) SERVER defender OPTIONS (resource 'hunting', table 'DeviceProcessEvents');
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) FROM (SELECT * FROM paging_hunt WHERE action_type IS NOT NULL LIMIT 5) s;
SELECT count(*) FROM (SELECT * FROM paging_hunt WHERE action_type IS NOT NULL LIMIT 5) s;
SELECT count(*) AS hunting_requests FROM emulator_requests() WHERE target LIKE '%runHuntingQuery%';
ALTER SERVER defender OPTIONS (DROP cache_ttl);
SELECT defender_cache_clear() > 0 AS held_answers;

DROP FOREIGN TABLE paging_hunt;
DROP USER MAPPING FOR paging_analyst SERVER defender;
REVOKE ALL ON incidents FROM paging_analyst;
REVOKE ALL ON FOREIGN SERVER defender FROM paging_analyst;
DROP ROLE paging_analyst;
