--
-- hunt: defender_hunt() and defender_hunt_jsonb(), the caller's own KQL
--
SELECT emulator_reset();
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';

-- The emulator's rows of a hunting table, as it stores them (no time window).
CREATE FUNCTION emulator_hunting(tbl text) RETURNS SETOF jsonb LANGUAGE sql AS $$
  SELECT r FROM jsonb_array_elements(emulator('GET', '/_emulator/hunting/' || tbl)->'results') AS r
$$;

-- The last runHuntingQuery request's body, as the emulator parsed it.
CREATE FUNCTION last_hunting_body() RETURNS jsonb LANGUAGE sql AS $$
  SELECT body FROM emulator_requests() WHERE target LIKE '%/runHuntingQuery'
  ORDER BY seq DESC LIMIT 1
$$;

--
-- A typed call returns exactly the emulator's rows.  Columns match result
-- columns ignoring case and underscores; "" (Kusto's "no value" for strings)
-- reads as NULL.
--
CREATE VIEW hunted_processes AS
SELECT * FROM defender_hunt('DeviceProcessEvents') AS t(
  timestamp timestamptz, device_id text, device_name text, action_type text, file_name text,
  file_size bigint, process_id bigint, process_command_line text, process_creation_time timestamptz,
  account_name text, logon_id bigint, report_id bigint, additional_fields text,
  is_process_remote_session boolean, initiating_process_file_name text);

CREATE VIEW emulator_processes AS
SELECT (r->>'Timestamp')::timestamptz AS timestamp, nullif(r->>'DeviceId', '') AS device_id,
       nullif(r->>'DeviceName', '') AS device_name, nullif(r->>'ActionType', '') AS action_type,
       nullif(r->>'FileName', '') AS file_name, (r->>'FileSize')::bigint AS file_size,
       (r->>'ProcessId')::bigint AS process_id,
       nullif(r->>'ProcessCommandLine', '') AS process_command_line,
       (r->>'ProcessCreationTime')::timestamptz AS process_creation_time,
       nullif(r->>'AccountName', '') AS account_name, (r->>'LogonId')::bigint AS logon_id,
       (r->>'ReportId')::bigint AS report_id, nullif(r->>'AdditionalFields', '') AS additional_fields,
       (r->>'IsProcessRemoteSession')::boolean AS is_process_remote_session,
       nullif(r->>'InitiatingProcessFileName', '') AS initiating_process_file_name
FROM emulator_hunting('DeviceProcessEvents') AS r;

SELECT count(*) AS missing FROM (SELECT * FROM emulator_processes EXCEPT ALL SELECT * FROM hunted_processes) m;
SELECT count(*) AS extra FROM (SELECT * FROM hunted_processes EXCEPT ALL SELECT * FROM emulator_processes) e;
SELECT count(*) AS rows, count(DISTINCT report_id) AS report_ids,
       count(*) FILTER (WHERE report_id > 9007199254740992) AS report_ids_above_2_53,
       count(*) FILTER (WHERE process_command_line ~ '[\n"]') AS command_lines_with_newline_or_quote,
       count(*) FILTER (WHERE device_name IS NULL OR account_name IS NULL) AS empty_strings_read_as_null
FROM hunted_processes;
SELECT DISTINCT body FROM emulator_requests() WHERE target LIKE '%/runHuntingQuery';

--
-- Every Graph type, from the fixed rows of the test table DefenderFdwTypes.
--
CREATE VIEW hunted_types AS
SELECT * FROM defender_hunt('DefenderFdwTypes | sort by Id asc') AS t(
  id bigint, string_value text, date_time_value timestamptz, boolean_value boolean,
  int32_value integer, int64_value bigint, double_value float8, decimal_value numeric,
  time_span_value interval, guid_value uuid, dynamic_value jsonb);

-- numbers: Int64 beyond 2^53 exact, doubles to the last digit (and -0),
-- decimals with all their digits
SELECT id, int32_value, int64_value, double_value, decimal_value FROM hunted_types ORDER BY id;
-- text, DateTime (7 fraction digits rounded to microseconds), Boolean, Guid
SELECT id, string_value, date_time_value, boolean_value, guid_value FROM hunted_types ORDER BY id;
-- TimeSpan to interval; dynamic (objects, arrays, strings, numbers) to jsonb
SELECT id, e->>'TimeSpanValue' AS kusto_timespan, time_span_value, dynamic_value
FROM hunted_types JOIN emulator_hunting('DefenderFdwTypes') AS e ON (e->>'Id')::bigint = id
ORDER BY id;

-- The same against the emulator's rows, every column.
SELECT count(*) AS differing FROM (
  SELECT id, string_value, date_time_value, boolean_value, int32_value, int64_value,
         double_value, decimal_value, guid_value, dynamic_value FROM hunted_types
  EXCEPT
  SELECT (e->>'Id')::bigint, nullif(e->>'StringValue', ''), (e->>'DateTimeValue')::timestamptz,
         (e->>'BooleanValue')::boolean, (e->>'Int32Value')::int, (e->>'Int64Value')::bigint,
         (e->>'DoubleValue')::float8, (e->>'DecimalValue')::numeric, (e->>'GuidValue')::uuid,
         CASE WHEN jsonb_typeof(e->'DynamicValue') <> 'null' THEN e->'DynamicValue' END
  FROM emulator_hunting('DefenderFdwTypes') AS e) d;

-- Every value also reads as text: literals exactly as Graph wrote them
-- (1e+300, -0.0, the 7 fraction digits, Kusto's TimeSpan text).
SELECT * FROM defender_hunt('DefenderFdwTypes | where Id in (2, 3, 6, 8) | sort by Id asc') AS t(
  id text, int64_value text, double_value text, decimal_value text, date_time_value text,
  time_span_value text, guid_value text);
SELECT * FROM defender_hunt('DefenderFdwTypes | where Id in (3, 4, 6) | sort by Id asc')
  AS t(id text, dynamic_value text, dynamic__value json);

-- "" is NULL in text columns, but "" in json/jsonb columns; two columns may
-- read the same result column.
SELECT id, string_value IS NULL AS is_null, stringvalue
FROM defender_hunt('DefenderFdwTypes | where Id in (1, 3) | sort by Id asc')
  AS t(id int, string_value text, stringvalue jsonb);

-- dynamic arrays into array columns, element by element
SELECT * FROM defender_hunt('DefenderFdwTypes | where Id in (2, 8) | project Id, DynamicValue | sort by Id asc')
  AS t(id int, dynamic_value text[]);
SELECT a, b FROM defender_hunt('print a = dynamic([9007199254740993, -1, null]), b = dynamic(["x", ""])')
  AS t(a bigint[], b text[]);

-- Kusto TimeSpan forms: the sign applies to the whole value
SELECT kusto, iv FROM defender_hunt($$datatable(kusto:string, iv:timespan) [
  '1.02:03:04.5', timespan(1.02:03:04.5), '-1.02:03:04.5', timespan(-1.02:03:04.5),
  '-00:00:01', timespan(-00:00:01), '00:00:00.1234567', timespan(00:00:00.1234567),
  '10675199.02:48:05.4775807', timespan(10675199.02:48:05.4775807)]$$)
  AS t(kusto text, iv interval);

-- A column that matches no result column reads NULL; result columns that no
-- column reads are skipped.
SELECT * FROM defender_hunt('DefenderFdwTypes | where Id == 1') AS t(id int, no_such_column text);

--
-- defender_hunt_jsonb(): one object per row, keys and values as Graph sent them.
--
SELECT * FROM defender_hunt_jsonb('DefenderFdwTypes | where Id in (1, 3) | sort by Id asc');
SELECT count(*) AS missing FROM (SELECT r FROM emulator_hunting('DefenderFdwTypes') AS r
                                 EXCEPT SELECT * FROM defender_hunt_jsonb('DefenderFdwTypes')) m;
SELECT count(*) AS extra FROM (SELECT * FROM defender_hunt_jsonb('DefenderFdwTypes')
                               EXCEPT SELECT r FROM emulator_hunting('DefenderFdwTypes') AS r) e;
SELECT h->'Int64Value' AS int64_value, h->>'StringValue' AS string_value
FROM defender_hunt_jsonb('DefenderFdwTypes | where Id in (1, 3) | project Id, Int64Value, StringValue | sort by Id asc') AS h;
-- it works in the select list too
SELECT defender_hunt_jsonb('print n = 1') AS row;

--
-- The request: POST /v1.0/security/runHuntingQuery {"Query", "Timespan"?}
--
SELECT count(*) FROM defender_hunt_jsonb('DefenderFdwTypes | take 1');
SELECT last_hunting_body();
SELECT count(*) FROM defender_hunt_jsonb('DefenderFdwTypes | take 1', 'P7D');
SELECT last_hunting_body();
-- the query travels as it is: quotes, backslashes, newlines, non-ASCII
SELECT count(*) FROM defender_hunt_jsonb($$DefenderFdwTypes
| where StringValue != "it's \"quoted\" \\ é日🔥" // a comment
| take 1$$, '2024-01-01T00:00:00Z/P1D');
SELECT last_hunting_body() = jsonb_build_object('Query', $$DefenderFdwTypes
| where StringValue != "it's \"quoted\" \\ é日🔥" // a comment
| take 1$$, 'Timespan', '2024-01-01T00:00:00Z/P1D') AS sent_as_written;
-- the server's timespan option, when the call gives none
ALTER SERVER defender OPTIONS (ADD timespan 'P1D');
SELECT count(*) FROM defender_hunt_jsonb('DefenderFdwTypes | take 1');
SELECT last_hunting_body();
SELECT count(*) FROM defender_hunt_jsonb('DefenderFdwTypes | take 1', 'PT12H');
SELECT last_hunting_body();
ALTER SERVER defender OPTIONS (DROP timespan);
SELECT method, target, status FROM emulator_requests()
WHERE target LIKE '%/runHuntingQuery' ORDER BY seq DESC LIMIT 1;

--
-- Errors
--
-- Graph's 400 with Kusto's message
SELECT show_error('SELECT * FROM defender_hunt(''DeviceProcessEvents | wher x'') AS t(a int)');
SELECT show_error('SELECT * FROM defender_hunt(''NoSuchTable'') AS t(a int)');
SELECT show_error('SELECT * FROM defender_hunt_jsonb(''DeviceProcessEvents'', ''not a timespan'')');
-- a 400 that is not Graph's JSON error (a gateway's page, a proxy's text):
-- what the body was, sanitized, never an empty error code
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "html", "status": 400}');
SELECT show_error('SELECT * FROM defender_hunt(''DeviceProcessEvents | take 1'') AS t(a int)');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "status", "status": 400,
                        "body": "upstream request rejected:\r\n\tinvalid header"}');
SELECT show_error('SELECT * FROM defender_hunt_jsonb(''DeviceProcessEvents | take 1'')');
-- the answer is read as it arrives; one cut on the way (the emulator closes
-- the connection half-way through the body) is asked again whole, since no
-- row has been returned yet: the same rows as without the cut
SELECT emulator('DELETE', '/_emulator/faults');
SELECT count(*) AS n, sum(report_id) AS s
FROM defender_hunt('DeviceProcessEvents | project ReportId') AS t(report_id bigint) \gset
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "truncate", "times": 1}');
SELECT count(*) = :n AS same_count, sum(report_id) = :s AS same_sum
FROM defender_hunt('DeviceProcessEvents | project ReportId') AS t(report_id bigint);
SELECT status, fault FROM emulator_requests() WHERE target LIKE '%/runHuntingQuery' ORDER BY seq DESC LIMIT 2;
-- a value that does not fit the column: the column, the result column and the row
SELECT show_error('SELECT * FROM defender_hunt(''DefenderFdwTypes | sort by Id asc'') AS t(id int, int64_value integer)');
SELECT show_error('SELECT * FROM defender_hunt(''DefenderFdwTypes | where Id >= 3 | sort by Id asc'') AS t(id int, dynamic_value text)');
SELECT show_error('SELECT * FROM defender_hunt(''DefenderFdwTypes | sort by Id asc'') AS t(int64_value timestamptz)');
SELECT show_error('SELECT * FROM defender_hunt(''DefenderFdwTypes | sort by Id asc'') AS t(boolean_value integer)');
SELECT show_error('SELECT * FROM defender_hunt(''DefenderFdwTypes | sort by Id asc'') AS t(string_value text[])');
SELECT show_error('SELECT * FROM defender_hunt(''print a = dynamic([1, {"b": 2}])'') AS t(a int[])');
SELECT show_error('SELECT * FROM defender_hunt(''DefenderFdwTypes | sort by Id asc'') AS t(string_value varchar(5))');
-- no column definition list
SELECT show_error('SELECT defender_hunt(''DeviceProcessEvents | take 10'')');
SELECT * FROM defender_hunt('DeviceProcessEvents | take 10');
-- arguments, servers, permissions
SELECT show_error('SELECT * FROM defender_hunt(NULL) AS t(a int)');
SELECT show_error('SELECT * FROM defender_hunt(''print a = 1'', server => ''no_such_server'') AS t(a int)');
CREATE FOREIGN DATA WRAPPER hunt_other_fdw;
CREATE SERVER hunt_other FOREIGN DATA WRAPPER hunt_other_fdw;
SELECT show_error('SELECT * FROM defender_hunt(''print a = 1'', server => ''hunt_other'') AS t(a int)');
DROP SERVER hunt_other;
DROP FOREIGN DATA WRAPPER hunt_other_fdw;
CREATE ROLE hunt_no_usage;
SET ROLE hunt_no_usage;
SELECT show_error('SELECT * FROM defender_hunt_jsonb(''print a = 1'')');
RESET ROLE;
DROP ROLE hunt_no_usage;

--
-- Answers of other shapes (canned bodies): keys in any case, results before
-- the schema, JSON escapes; and answers that are not usable.
--
SELECT emulator_fault(jsonb_build_object('match', 'runHuntingQuery', 'kind', 'malformed', 'body',
  '{"Results":[{"Name":"caf\u00e9 \ud83d\ude00","N":9007199254740993,"Tab":"a\tb"},{"Name":"","N":null}],'
  '"Schema":[{"Name":"Name","Type":"String"},{"Name":"N","Type":"Int64"}],"@odata.context":"x"}'));
SELECT * FROM defender_hunt('canned') AS t(name text, n bigint, tab text);
-- whitespace around every token, escapes in names and values: the names
-- and values read from the body are what a JSON parser makes of them
SELECT emulator_fault(jsonb_build_object('match', 'runHuntingQuery', 'kind', 'malformed', 'times', 2, 'body',
  E' {\n "results" : [ { "Na\\u006de" : "q\\"b\\\\s\\/ \\b\\f\\n\\r\\t \\u00e9\\ud83d\\ude00 \\u001f" ,\t"N" : -5 ,'
  || ' "D" : "2025-03-01T12:34:56.1234567Z" } ,{"Name":"","N":null,"D":"2025-03-01T12:34:56Z"}] ,'
  || E'\n "schema" : [ { "name" : "N" , "type" : "Int64" } ] } '));
WITH t AS MATERIALIZED (SELECT * FROM defender_hunt('canned') AS t(name text, n bigint, d timestamptz)),
     j AS MATERIALIZED (SELECT j->>'Name' AS name FROM defender_hunt_jsonb('canned') AS j)
SELECT to_jsonb(t.name) AS name, t.n, t.d, t.name IN (SELECT name FROM j) AS name_same FROM t;
-- escapes only the de-escaping parser rejects, even in a value no column
-- reads or inside a dynamic value: the same error as ever
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "{\"results\":[{\"a\":1,\"b\":\"\\ud800x\"}]}"}');
SELECT show_error('SELECT * FROM defender_hunt(''canned'') AS t(a int)');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "{\"results\":[{\"a\":1,\"b\":{\"c\":[\"\\udc00\"]}}]}"}');
SELECT show_error('SELECT * FROM defender_hunt(''canned'') AS t(a int)');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "{\"schema\":[],\"results\":[{\"a\":1},"}');
SELECT show_error('SELECT * FROM defender_hunt(''canned'') AS t(a int)');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "{\"schema\":[{\"name\":\"a\",\"type\":\"Int64\"}]}"}');
SELECT show_error('SELECT * FROM defender_hunt(''canned'') AS t(a int)');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "{\"results\":[{\"a\":tru}]}"}');
SELECT show_error('SELECT * FROM defender_hunt(''canned'') AS t(a int)');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "{\"results\":[{\"a\":\"x\\u0000y\"}]}"}');
SELECT show_error('SELECT * FROM defender_hunt(''canned'') AS t(a text)');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "{\"results\":[{\"a\":1}, 2]}"}');
SELECT show_error('SELECT * FROM defender_hunt(''canned'') AS t(a int)');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "malformed", "body": "[{\"a\":1}]"}');
SELECT show_error('SELECT * FROM defender_hunt_jsonb(''canned'')');
SELECT emulator_fault('{"match": "runHuntingQuery", "kind": "empty"}');
SELECT show_error('SELECT * FROM defender_hunt(''canned'') AS t(a int)');

--
-- The conversion shortcuts (text, bigint, integer, boolean, timestamptz and
-- timestamp skip their input functions for the forms Graph sends) give
-- bit-identical values: each value is read by defender_hunt() and compared
-- with the input function's reading of the same text.  The session time
-- zone is not UTC, so a value without "Z" read as UTC would show.
--
SELECT current_setting('TimeZone') AS tz_before \gset
SET timezone = 'America/New_York';
SELECT setseed(0.25);
CREATE TEMP TABLE ts_text AS
SELECT i, format('%s-%s-%sT%s:%s:%s%sZ', lpad(y::text, 4, '0'), lpad(m::text, 2, '0'),
                 lpad(d::text, 2, '0'), lpad(h::text, 2, '0'), lpad(mi::text, 2, '0'),
                 lpad(sec::text, 2, '0'),
                 CASE WHEN digits = 0 THEN '' ELSE '.' || substr(frac, 1, digits) END) AS v
FROM (SELECT i, 1 + floor(random() * 9999)::int AS y, 1 + floor(random() * 12)::int AS m,
             1 + floor(random() * 28)::int AS d, floor(random() * 24)::int AS h,
             floor(random() * 60)::int AS mi, floor(random() * 60)::int AS sec,
             i % 10 AS digits,
             lpad(floor(random() * 1000000000)::bigint::text, 9, '0') AS frac
      FROM generate_series(1, 3000) AS i) r;
-- ties and carries at 7 and more digits, the ends of the range, leap days
INSERT INTO ts_text VALUES
  (3001, '2025-03-01T12:34:56.1234567Z'), (3002, '2025-03-01T12:34:56.0000005Z'),
  (3003, '2025-03-01T12:34:56.0000015Z'), (3004, '2025-03-01T12:34:56.0000025Z'),
  (3005, '2025-03-01T12:34:56.1234565Z'), (3006, '2025-03-01T12:34:56.9999995Z'),
  (3007, '2025-03-01T12:34:56.99999949Z'), (3008, '2025-03-01T12:34:56.99999950Z'),
  (3009, '2025-12-31T23:59:59.999999999Z'), (3010, '9999-12-31T23:59:59.9999999Z'),
  (3011, '9999-12-31T23:59:59.9999995Z'), (3012, '0001-01-01T00:00:00Z'),
  (3013, '0001-01-01T00:00:00.0000004Z'), (3014, '2000-02-29T00:00:00Z'),
  (3015, '2024-02-29T23:59:59.5Z'), (3016, '1970-01-01T00:00:00Z'),
  (3017, '1969-12-31T23:59:59.9999999Z'), (3018, '0099-06-15T01:02:03.5Z'),
  (3019, '2025-03-01T12:34:56.1234567z');
-- the same text in four columns: timestamptz, timestamp, timestamptz(3)
-- (its typmod leaves it to the input function) and text
CREATE TEMP TABLE ts_read AS
SELECT * FROM defender_hunt(
  (SELECT 'datatable(i:long, v:string, w:string, x:string, y:string)['
          || string_agg(format('%s, "%s", "%s", "%s", "%s"', i, v, v, v, v), ', ' ORDER BY i) || ']'
   FROM ts_text)) AS t(i bigint, v timestamptz, w timestamp, x timestamptz(3), y text);
SELECT count(*) AS "values",
       count(*) FILTER (WHERE r.v IS NOT DISTINCT FROM s.v::timestamptz) AS timestamptz_same,
       count(*) FILTER (WHERE r.w IS NOT DISTINCT FROM s.v::timestamp) AS timestamp_same,
       count(*) FILTER (WHERE r.x IS NOT DISTINCT FROM s.v::timestamptz(3)) AS typmod_same,
       count(*) FILTER (WHERE r.y = s.v) AS text_same,
       count(*) FILTER (WHERE s.v ~ '\.\d{7,}Z$') AS beyond_microseconds
FROM ts_text s LEFT JOIN ts_read r USING (i);
-- what some of them became (shown in UTC)
SET timezone = 'UTC';
SELECT s.i, s.v, r.v AS read FROM ts_text s JOIN ts_read r USING (i) WHERE s.i > 3000 ORDER BY s.i;
SET timezone = 'America/New_York';

-- read_both(text, type): one value read by defender_hunt() and by a cast,
-- as text or as the error each raises
CREATE FUNCTION read_both(v text, typ text, kusto text DEFAULT 'string',
                          OUT shortcut text, OUT input_function text)
LANGUAGE plpgsql AS $fn$
BEGIN
  BEGIN
    EXECUTE format('SELECT v::text FROM defender_hunt(%L) AS t(v %s)',
                   format('datatable(v:%s)[%s]', kusto,
                          CASE WHEN kusto = 'string' THEN '"' || v || '"' ELSE v END), typ)
      INTO shortcut;
  EXCEPTION WHEN OTHERS THEN
    shortcut := 'ERROR: ' || SQLERRM;
  END;
  BEGIN
    EXECUTE format('SELECT %L::%s::text', v, typ) INTO input_function;
  EXCEPTION WHEN OTHERS THEN
    input_function := 'ERROR: ' || SQLERRM;
  END;
END
$fn$;
-- forms the shortcut leaves to the input function, and values both reject
SELECT v, r.shortcut, r.shortcut IS NOT DISTINCT FROM r.input_function AS same
FROM (VALUES ('2025-03-01T12:34:56.Z'), ('2025-03-01t12:34:56Z'), ('2025-03-01T12:34:56.1234567+00:00'),
             ('2025-03-01T12:34:56.1234567'), ('2025-03-01 12:34:56.1234567Z'), ('2025-03-01T24:00:00Z'),
             ('2016-12-31T23:59:60Z'), ('2025-03-01T12:34:56.1234567891Z'),
             ('2025-03-01T12:34:56.12345678901234567890Z'), ('2025-03-01T12:34Z'), ('2025-03-01'),
             (' 2025-03-01T12:34:56Z'), ('2025-03-01T12:34:56Z '), ('2025-03-01T07:34:56-05:00'),
             ('20250301T123456Z'), ('infinity'), ('-infinity'), ('epoch'),
             ('2023-02-29T00:00:00Z'), ('2025-13-01T00:00:00Z'), ('2025-04-31T00:00:00Z'),
             ('2025-03-01T25:00:00Z'), ('2025-03-01T12:60:00Z'), ('0000-01-01T00:00:00Z'),
             ('2025-03-01T12:34:56.1.2Z')) AS c(v),
     LATERAL read_both(v, 'timestamptz') r;

-- integers: JSON numbers and strings, into bigint, text and numeric
CREATE TEMP TABLE int_text (i int, n text);
INSERT INTO int_text VALUES (1, '0'), (2, '7'), (3, '-7'), (4, '2147483647'),
  (5, '-2147483648'), (6, '999999999'), (7, '-999999999'), (8, '1000000000'),
  (9, '123456789012345678'), (10, '-123456789012345678'), (11, '999999999999999999'),
  (12, '1000000000000000000'), (13, '9223372036854775807'), (14, '-9223372036854775808'),
  (15, '9007199254740993'), (16, '42');
INSERT INTO int_text SELECT 100 + g, (floor((random() - 0.5) * 2 * 9e18))::bigint::text
FROM generate_series(1, 500) g;
INSERT INTO int_text SELECT 1000 + g, (floor((random() - 0.5) * 2 * 2e9))::bigint::text
FROM generate_series(1, 500) g;
CREATE TEMP TABLE int_read AS
SELECT * FROM defender_hunt(
  (SELECT 'datatable(i:long, n:long, s:string, t:long, u:string)['
          || string_agg(format('%s, %s, "%s", %s, "%s"', i, n, n, n, n), ', ' ORDER BY i) || ']'
   FROM int_text)) AS t(i int, n bigint, s bigint, t text, u numeric);
SELECT count(*) AS "values",
       count(*) FILTER (WHERE r.n = x.n::bigint AND r.s = x.n::bigint) AS bigint_same,
       count(*) FILTER (WHERE r.t = x.n) AS text_same,
       count(*) FILTER (WHERE r.u = x.n::numeric) AS numeric_same
FROM int_text x LEFT JOIN int_read r USING (i);
SELECT count(*) AS "values", count(*) FILTER (WHERE r.n = x.n::integer AND r.s = x.n::integer) AS integer_same
FROM int_text x JOIN defender_hunt(
  (SELECT 'datatable(i:long, n:long, s:string)[' || string_agg(format('%s, %s, "%s"', i, n, n), ', ' ORDER BY i) || ']'
   FROM int_text WHERE n::numeric BETWEEN -2147483648 AND 2147483647)) AS r(i int, n integer, s integer) USING (i);
-- forms left to the input functions, and values both reject
SELECT v, typ, r.shortcut, r.shortcut IS NOT DISTINCT FROM r.input_function AS same
FROM (VALUES ('-0', 'bigint'), ('+5', 'bigint'), (' 6', 'bigint'), ('0007', 'integer'),
             ('-0', 'integer'), ('00000000000000000000000001', 'bigint'),
             ('9223372036854775808', 'bigint'), ('-9223372036854775809', 'bigint'),
             ('99999999999999999999', 'bigint'), ('2147483648', 'integer'), ('-2147483649', 'integer'),
             ('12a', 'bigint'), ('1e3', 'bigint'), ('1.5', 'bigint'), ('-', 'integer'),
             ('true', 'boolean'), ('false', 'boolean'), ('f', 'boolean'), ('YES', 'boolean'),
             (' off ', 'boolean'), ('TRUE', 'boolean'), ('truex', 'boolean')) AS c(v, typ),
     LATERAL read_both(v, typ) r;
SELECT v, typ, kusto, r.shortcut, r.shortcut IS NOT DISTINCT FROM r.input_function AS same
FROM (VALUES ('2147483648', 'integer', 'long'), ('-2147483648', 'integer', 'long'),
             ('1.5', 'bigint', 'real'), ('true', 'boolean', 'bool'), ('false', 'boolean', 'bool'),
             ('true', 'text', 'bool'), ('-42', 'text', 'long')) AS c(v, typ, kusto),
     LATERAL read_both(v, typ, kusto) r;
SET timezone = :'tz_before';

--
-- A large answer streams into the tuplestore, which spills to disk past
-- work_mem: 20,000 rows with 64 kB of work_mem.
--
SELECT emulator_reset('{"hunting_rows": 20000}');
SET work_mem = '64kB';
SELECT count(*) AS rows, count(DISTINCT device_name) > 1 AS several_devices,
       count(*) FILTER (WHERE timestamp IS NULL OR process_id IS NULL) AS incomplete
FROM defender_hunt('DeviceProcessEvents | project Timestamp, DeviceName, ProcessId')
  AS t(timestamp timestamptz, device_name text, process_id bigint);
RESET work_mem;

SELECT emulator_reset();
RESET timezone;
RESET datestyle;
RESET intervalstyle;
DROP VIEW hunted_processes, emulator_processes, hunted_types;
DROP FUNCTION emulator_hunting(text), last_hunting_body(), read_both(text, text, text);
