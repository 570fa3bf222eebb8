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
DROP FUNCTION emulator_hunting(text), last_hunting_body();
