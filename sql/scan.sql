--
-- scan: incidents page by page, every property with its type
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');

-- The request, as EXPLAIN (VERBOSE) shows it; plain EXPLAIN sends nothing.
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, display_name FROM incidents;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM incidents WHERE severity = 'high';
SELECT count(*) AS requests_after_explain FROM emulator_requests();

-- 130 incidents are three pages of at most 50, following @odata.nextLink.
SELECT count(id) FROM incidents;
SELECT seq, method, status,
       regexp_replace(target, 'skiptoken=[^&]*', 'skiptoken=<opaque>') AS target
FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';

-- Exactly the emulator's rows, every column, with the right types:
-- nothing missing, nothing extra, nothing different.
SELECT count(*) AS missing FROM (SELECT * FROM emulator_incidents() EXCEPT SELECT * FROM incidents) m;
SELECT count(*) AS extra FROM (SELECT * FROM incidents EXCEPT SELECT * FROM emulator_incidents()) e;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids FROM incidents;

-- a few rows in full
SELECT id, display_name, status, severity, classification, determination, assigned_to,
       created_date_time, custom_tags, system_tags, priority_score
FROM incidents ORDER BY id::int LIMIT 5;

SELECT pg_typeof(created_date_time) AS created, pg_typeof(custom_tags) AS tags,
       pg_typeof(comments) AS comments, pg_typeof(priority_score) AS score
FROM incidents LIMIT 1;

-- Graph's 7-digit fractions are rounded to PostgreSQL's microseconds,
-- and the values are UTC instants whatever the session's time zone.
SET timezone = 'America/New_York';
SELECT i.id, e->>'createdDateTime' AS graph_value, i.created_date_time
FROM incidents i
JOIN LATERAL (SELECT x FROM jsonb_array_elements(emulator('GET', '/_emulator/incidents')->'value') x
              WHERE x->>'id' = i.id) AS j(e) ON true
ORDER BY i.id::int LIMIT 2;
RESET timezone;

-- Awkward characters arrive intact.
SELECT id, display_name FROM incidents
WHERE display_name ~ '[''"&#%+\\]' OR display_name ~ '[^\x01-\x7f]'
ORDER BY id::int LIMIT 6;

-- comments are raw JSON
SELECT id, jsonb_array_length(comments) AS n, comments->0 ? 'comment' AS has_text
FROM incidents WHERE jsonb_array_length(comments) > 0 ORDER BY id::int LIMIT 3;

-- A whole-row reference reads every column.
SELECT count(*) AS whole_rows_equal FROM incidents i JOIN emulator_incidents() e ON i::text = e::text;

-- Columns match properties by the property option, or by name ignoring
-- case and underscores; an unknown property reads as NULL; any column
-- declared jsonb receives the raw JSON of any value.
CREATE FOREIGN TABLE incidents_custom (
  "ID" text,
  title text OPTIONS (property 'displayName'),
  "lastUpdateDateTime" timestamptz,
  severity_json jsonb OPTIONS (property 'severity'),
  tags_json json OPTIONS (property 'customTags'),
  priority numeric OPTIONS (property 'priorityScore'),
  not_in_graph text
) SERVER defender OPTIONS (resource 'incidents', page_size '20');
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM incidents_custom;
SELECT "ID", title, "lastUpdateDateTime", severity_json, tags_json, priority, not_in_graph
FROM incidents_custom ORDER BY "ID"::int LIMIT 3;
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT count(*) AS rows, count(*) FILTER (WHERE not_in_graph IS NULL) AS null_unknown,
       bool_and(title = i.display_name) AS titles_match
FROM incidents_custom c JOIN incidents i ON i.id = c."ID";
-- page_size 20: 130 rows are 7 pages of 20, against 3 pages of 50 (the
-- pages after the first go by $skip, up to 4 in flight, once $count is known;
-- the two scans' pages arrive interleaved as they go, so sorted here)
SELECT target FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%' ORDER BY target COLLATE "C";

-- A value that does not fit its column is an error naming the column,
-- the Graph property, the row and the value.
CREATE FOREIGN TABLE incidents_badtypes (
  id text,
  comments text,
  display_name integer,
  custom_tags integer[]
) SERVER defender OPTIONS (resource 'incidents');
SELECT show_error('SELECT id, comments FROM incidents_badtypes');
SELECT show_error('SELECT id, display_name FROM incidents_badtypes');
SELECT show_error('SELECT id, custom_tags FROM incidents_badtypes WHERE cardinality(custom_tags) > 0');

-- A value of the wrong JSON type from Graph itself.
SELECT emulator_fault('{"match": "/security/incidents", "kind": "wrong_type"}');
SELECT show_error('SELECT id, created_date_time, custom_tags FROM incidents');

-- A rescan (a correlated subquery per outer row) reads the collection
-- again from its first page.
SELECT emulator_reset('{"incidents": 30, "seed": 2}');
SELECT v.n, s.matching
FROM (VALUES (0), (1)) v(n),
     LATERAL (SELECT count(*) AS matching FROM incidents i WHERE i.id::int % 2 = v.n) s
ORDER BY v.n;
SELECT count(*) FILTER (WHERE id::int % 2 = 0) AS even, count(*) FILTER (WHERE id::int % 2 = 1) AS odd
FROM emulator_incidents();
SELECT count(*) FILTER (WHERE target LIKE '/v1.0/%') AS graph_requests FROM emulator_requests();

-- A column's set-up is kept from one scan to the next in a session and
-- read again when the table changes: a new property option, a new type.
SELECT count(*) AS rows, bool_and(c.title IS NOT DISTINCT FROM i.display_name) AS is_display_name
FROM incidents_custom c JOIN incidents i ON i.id = c."ID";
ALTER FOREIGN TABLE incidents_custom ALTER COLUMN title OPTIONS (SET property 'severity');
SELECT count(*) AS rows, bool_and(c.title IS NOT DISTINCT FROM i.severity) AS is_severity
FROM incidents_custom c JOIN incidents i ON i.id = c."ID";
ALTER FOREIGN TABLE incidents_custom ALTER COLUMN priority TYPE text;
SELECT DISTINCT pg_typeof(priority) FROM incidents_custom;
ALTER FOREIGN TABLE incidents_custom ALTER COLUMN priority TYPE boolean;
SELECT show_error('SELECT priority FROM incidents_custom');

DROP FOREIGN TABLE incidents_custom, incidents_badtypes;
