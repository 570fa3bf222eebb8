--
-- actions: defender_update_incident/alert, comments, defender_get_incident,
-- defender_list_incidents, defender_alert_domains, defender_request, and
-- who may call them
--
-- Every PATCH changes the emulator's data; emulator_reset() at the start
-- (and in every other test file) regenerates it.
SELECT emulator_reset();
SET timezone = 'UTC';

-- The request log's length, and what was sent after it had n entries.
CREATE FUNCTION log_size() RETURNS int LANGUAGE sql AS $$ SELECT count(*)::int FROM emulator_requests() $$;
CREATE FUNCTION sent(n int)
RETURNS TABLE (n int, method text, target text, status int, body jsonb) LANGUAGE sql AS $$
  SELECT seq - n, method, mask(target), status, mask(body::text)::jsonb
  FROM emulator_requests() WHERE seq > n ORDER BY seq
$$;

-- The rows the tests act on: the newest incident, the newest alert, and an
-- endpoint alert whose evidence has awkward URLs and DNS names.
SELECT set_config('actions.inc', i->>'id', false) AS inc
FROM jsonb_array_elements(emulator('GET', '/_emulator/incidents')->'value') WITH ORDINALITY AS t(i, n)
WHERE n = 1;
SELECT set_config('actions.alert', a->>'id', false) AS alert
FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') WITH ORDINALITY AS t(a, n)
WHERE n = 1;
SELECT set_config('actions.mde_alert', 'da638900878583184656_-1779498055', false) AS mde_alert;
CREATE FUNCTION inc() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('actions.inc') $$;
CREATE FUNCTION alert() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('actions.alert') $$;
CREATE FUNCTION mde_alert() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('actions.mde_alert') $$;

--
-- defender_update_incident
--
-- Bad values are refused before anything is sent (no token request either).
SELECT log_size() AS before \gset
SELECT show_error($$SELECT defender_update_incident(inc(), status => 'closed')$$);
SELECT show_error($$SELECT defender_update_incident(inc(), status => 'unknownFutureValue')$$);
SELECT show_error($$SELECT defender_update_incident(inc(), severity => 'critical')$$);
SELECT show_error($$SELECT defender_update_incident(inc(), classification => 'benign')$$);
SELECT show_error($$SELECT defender_update_incident(inc())$$);
SELECT show_error($$SELECT defender_update_incident(NULL, status => 'active')$$);
SELECT show_error($$SELECT defender_update_incident(inc(), custom_tags => ARRAY['a', NULL])$$);
SELECT show_error($$SELECT defender_update_incident(inc(), status => 'active', server => NULL)$$);
SELECT show_error($$SELECT defender_update_incident(inc(), status => 'active', server => 'nosuch')$$);
SELECT count(*) AS requests_sent FROM sent(:before);

-- Named arguments, any case in the enumerations: only the given properties
-- are sent, enumerations in camelCase, the determination alias mapped.
SELECT log_size() AS before \gset
SELECT r->>'id' = inc() AS same_id, r->>'status' AS status, r->>'classification' AS classification,
       r->>'determination' AS determination, r->>'assignedTo' AS assigned_to,
       r->'customTags' AS custom_tags, r->>'resolvingComment' AS resolving_comment,
       r->>'lastModifiedBy' AS last_modified_by
FROM defender_update_incident(inc(), status => 'Resolved', classification => 'TRUEPOSITIVE',
                              determination => 'compromisedUser', assigned_to => 'tier2@contoso.com',
                              custom_tags => ARRAY['phish', 'VIP'],
                              resolving_comment => 'Contained; "user" reset') AS r;
SELECT * FROM sent(:before);

-- Later reads see the change: the function, the foreign table, the emulator.
SELECT defender_get_incident(inc())->>'status' AS status;
SELECT status, classification, determination, assigned_to, custom_tags
FROM incidents WHERE id = inc();
SELECT status, classification FROM emulator_incidents() WHERE id = inc();

-- Positional arguments; assigned_to '' unassigns (sends null); '{}' clears the tags.
SELECT log_size() AS before \gset
SELECT r->'assignedTo' AS assigned_to, r->'customTags' AS custom_tags, r->>'severity' AS severity,
       r->>'displayName' AS display_name, r->>'summary' AS summary, r->>'description' AS description
FROM defender_update_incident(inc(), NULL, '', NULL, NULL, 'New description', NULL, 'LOW',
                              'Renamed: O''Brien & 日本', 'Summary', '{}') AS r;
SELECT * FROM sent(:before);

-- the other determination aliases, and members in any case
SELECT log_size() AS before \gset
SELECT defender_update_incident(inc(), determination => d)->>'determination' AS sent_as, d AS given
FROM unnest(ARRAY['clean', 'insufficientData', 'confirmedUserActivity', 'MULTISTAGEDATTACK']) AS d;
SELECT body FROM emulator_requests() WHERE seq > :before;
-- a determination that is no member is passed through, and Graph refuses it
SELECT show_error($$SELECT defender_update_incident(inc(), determination => 'bogus')$$);

-- inProgress and redirected are writable too
SELECT defender_update_incident(inc(), status => 'inprogress')->>'status' AS status;

-- an unknown id is an error (no_data_found, which PL/pgSQL can catch)
SELECT show_error($$SELECT defender_update_incident('1', status => 'active')$$);
-- the id is one path segment, percent-encoded
SELECT log_size() AS before \gset
SELECT show_error($$SELECT defender_update_incident('a/b c?d', status => 'active')$$);
SELECT * FROM sent(:before);

-- 403: the hint names the permission a write needs
SELECT emulator_fault('{"match": "/security/incidents/", "method": "PATCH", "kind": "status", "status": 403,
  "message": "Missing application roles. API required roles: SecurityIncident.ReadWrite.All."}');
SELECT show_error($$SELECT defender_update_incident(inc(), status => 'active')$$);

--
-- defender_update_alert
--
SELECT log_size() AS before \gset
SELECT show_error($$SELECT defender_update_alert(alert(), status => 'active')$$);
SELECT show_error($$SELECT defender_update_alert(alert())$$);
SELECT count(*) AS requests_sent FROM sent(:before);
SELECT log_size() AS before \gset
SELECT r->>'status' AS status, r->>'assignedTo' AS assigned_to, r->>'classification' AS classification,
       r->>'determination' AS determination, r->>'resolvedDateTime' IS NOT NULL AS resolved_time_set
FROM defender_update_alert(alert(), status => 'RESOLVED', classification => 'falsePositive',
                           determination => 'clean', assigned_to => 'soc@contoso.com') AS r;
SELECT * FROM sent(:before);
SELECT show_error($$SELECT defender_update_alert('nosuch', status => 'new')$$);
SELECT emulator_fault('{"match": "/security/alerts_v2/", "method": "PATCH", "kind": "status", "status": 403,
  "message": "Missing application roles. API required roles: SecurityAlert.ReadWrite.All."}');
SELECT show_error($$SELECT defender_update_alert(alert(), status => 'new')$$);

--
-- comments
--
SELECT log_size() AS before \gset
SELECT jsonb_array_length(c) AS comments, c->-1->>'comment' AS last_comment,
       c->-1->>'createdByDisplayName' AS by
FROM defender_add_incident_comment(inc(), 'Escalated to tier 2: "urgent" 🔥') AS c;
SELECT c->-1->>'comment' AS last_comment
FROM defender_add_alert_comment(alert(), 'false positive, see ticket #42') AS c;
SELECT * FROM sent(:before);
SELECT comments->-1->>'comment' AS last_comment FROM incidents WHERE id = inc();
SELECT log_size() AS before \gset
SELECT show_error($$SELECT defender_add_incident_comment(inc(), '  ')$$);
SELECT show_error($$SELECT defender_add_incident_comment(inc(), NULL)$$);
SELECT count(*) AS requests_sent FROM sent(:before);
SELECT show_error($$SELECT defender_add_incident_comment('1', 'x')$$);
SELECT show_error($$SELECT defender_add_alert_comment('nosuch', 'x')$$);

--
-- defender_get_incident, defender_list_incidents
--
SELECT g->>'id' = inc() AS found, g->>'@odata.context' LIKE '%$metadata#security/incidents/$entity' AS entity
FROM defender_get_incident(inc()) AS g;
SELECT defender_get_incident('1') IS NULL AS unknown_is_null;
SELECT defender_get_incident(NULL) IS NULL AS null_is_null;

-- 120 rows: three pages of at most 50
SELECT log_size() AS before \gset
SELECT count(*) AS rows, count(DISTINCT r->>'id') AS ids FROM defender_list_incidents(max_results => 120) AS r;
SELECT n, method, target, status FROM sent(:before);
-- the same rows as a scan, in Graph's order (newest first)
SELECT array_agg(r->>'id') = (SELECT array_agg(id) FROM (SELECT id FROM emulator_incidents() LIMIT 120) e) AS same
FROM defender_list_incidents(max_results => 120) AS r;

-- NULL max_results: everything; a $filter; $count on each row; $skip; $expand
SELECT count(*) AS all_rows FROM defender_list_incidents(max_results => NULL);
SELECT log_size() AS before \gset
SELECT count(*) AS rows, min((r->>'@odata.count')::int) AS odata_count,
       array_agg(r->>'id') = (SELECT array_agg(id) FROM (SELECT id FROM emulator_incidents()
                              WHERE status = 'active' AND severity <> 'low' OFFSET 2 LIMIT 5) e) AS same_rows,
       (SELECT count(*) FROM emulator_incidents() WHERE status = 'active' AND severity <> 'low') AS matching
FROM defender_list_incidents('status eq ''active'' and severity ne ''low''', 5, 2, true) AS r;
SELECT n, method, target FROM sent(:before);
SELECT count(*) AS with_alerts FROM defender_list_incidents(max_results => 3, expand => 'alerts') AS r
WHERE jsonb_array_length(r->'alerts') > 0;
SELECT log_size() AS before \gset
SELECT count(*) AS none FROM defender_list_incidents(max_results => 0);
SELECT count(*) AS requests_sent FROM sent(:before);
SELECT show_error($$SELECT * FROM defender_list_incidents(max_results => -1)$$);
SELECT show_error($$SELECT * FROM defender_list_incidents('displayName eq ''x''')$$);

--
-- defender_alert_domains
--
-- an endpoint alert whose evidence has awkward URLs and DNS names
SELECT log_size() AS before \gset
SELECT * FROM defender_alert_domains(mde_alert());
SELECT * FROM defender_alert_domains(mde_alert(), 'graph');
SELECT n, method, target, status FROM sent(:before);
-- The MDE call got its own token, with the scope {mde_url}/.default; these
-- are all the token requests since the reset.
SELECT method, mask(target) AS target, mask(body->>'scope') AS scope FROM emulator_requests()
WHERE target LIKE '%/token' ORDER BY seq;

-- For every endpoint alert, the API's list and the one derived from the
-- evidence agree.
SELECT count(*) AS endpoint_alerts,
       count(*) FILTER (WHERE mde IS DISTINCT FROM graph) AS differing
FROM (SELECT a->>'id' AS id FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') AS a
      WHERE a->>'serviceSource' = 'microsoftDefenderForEndpoint') AS m,
     LATERAL (SELECT array_agg(d ORDER BY d) AS mde FROM defender_alert_domains(m.id, 'mde') AS d) x,
     LATERAL (SELECT array_agg(d ORDER BY d) AS graph FROM defender_alert_domains(m.id, 'graph') AS d) y;

-- An alert the endpoint API does not know: no rows from it, the evidence still has them.
SELECT a->>'id' AS office_alert FROM jsonb_array_elements(emulator('GET', '/_emulator/alerts')->'value') AS a
WHERE a->>'serviceSource' = 'microsoftDefenderForOffice365'
  AND a->'evidence' @> '[{"@odata.type": "#microsoft.graph.security.urlEvidence"}]'
ORDER BY a->>'id' LIMIT 1 \gset
SELECT count(*) AS from_mde FROM defender_alert_domains(:'office_alert');
SELECT count(*) > 0 AS from_graph FROM defender_alert_domains(:'office_alert', 'graph');
SELECT count(*) AS unknown FROM defender_alert_domains('nosuch', 'Graph');
SELECT show_error($$SELECT * FROM defender_alert_domains(mde_alert(), 'hunting')$$);
SELECT emulator_fault('{"match": "/domains", "kind": "status", "status": 403, "code": "Forbidden",
  "message": "The application does not have any of the required application permissions (URL.Read.All)"}');
SELECT show_error($$SELECT * FROM defender_alert_domains(mde_alert())$$);

-- A token for the wrong audience is refused: this server's mde_url is a Graph path.
DO $$
BEGIN
  EXECUTE format('CREATE SERVER defender_wrong_mde FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, mde_url %L)',
                 '00000000-0000-0000-0000-000000000001',
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url') || '/v1.0');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER defender_wrong_mde
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
SELECT show_error($$SELECT * FROM defender_alert_domains(mde_alert(), server => 'defender_wrong_mde')$$);
DROP SERVER defender_wrong_mde CASCADE;

--
-- defender_request
--
-- query_params become a percent-encoded query ($ kept); the leading slash is optional
SELECT log_size() AS before \gset
SELECT status, jsonb_array_length(body->'value') AS rows, headers ? 'request-id' AS has_request_id,
       headers->>'content-type' AS content_type, body_text IS NOT NULL AS has_text
FROM defender_request('GET', '/security/incidents',
                      query_params => '{"$top": 2, "$filter": "status eq ''active''", "x y": "a&b=c/ü", "skipped": null}');
SELECT n, method, target, status FROM sent(:before);

-- HTTP errors are rows, not errors
SELECT status, body->'error'->>'code' AS code FROM defender_request('GET', 'security/incidents/1');
SELECT status, body->'error'->>'code' AS code FROM defender_request('DELETE', 'security/incidents');
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "status", "status": 500, "times": 1}');
SELECT status, body->'error'->>'code' AS code FROM defender_request('POST', 'emulatorEcho', '{}');
-- 429: retried like every request (Retry-After honoured), unless told otherwise
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "status", "status": 429, "retry_after": 7, "times": 1}');
SELECT log_size() AS before \gset
SELECT status, headers->>'retry-after' AS retry_after, body->'error'->>'code' AS code
FROM defender_request('GET', 'emulatorEcho', extra_fields => '{"retry_count": 0}');
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "status", "status": 429, "retry_after": 0, "times": 1}');
SELECT status FROM defender_request('GET', 'emulatorEcho');
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "status", "status": 429, "times": 2}');
SELECT status FROM defender_request('GET', 'emulatorEcho', extra_fields => '{"retry_count": 1, "retry_wait": 0}');
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "status", "status": 503, "times": 2}');
SELECT status FROM defender_request('GET', 'emulatorEcho', extra_fields => '{"retry_count": 2, "retry_wait": 0.01}');
SELECT n, method, target, status FROM sent(:before);

-- a transfer that fails without an answer raises (a GET is retried first)
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "truncate", "times": 1}');
SELECT status FROM defender_request('GET', 'emulatorEcho');
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "truncate", "times": 1}');
SELECT regexp_replace(l, '\d+ bytes', '<n> bytes') AS show_error
FROM show_error($$SELECT * FROM defender_request('GET', 'emulatorEcho', extra_fields => '{"retry_count": 0}')$$) AS l;
-- retry_wait changes only the wait: a broken GET is still retried (one retry rule)
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "truncate", "times": 1}');
SELECT status FROM defender_request('GET', 'emulatorEcho', extra_fields => '{"retry_count": 1, "retry_wait": 0}');

-- a POST broken on the way is not sent again (it may have taken effect):
-- the hint says so instead of counting retries that never happened
SELECT emulator_fault('{"match": "/emulatorEcho", "kind": "truncate", "times": 1}');
SELECT regexp_replace(l, '\d+ bytes', '<n> bytes') AS show_error
FROM show_error($$SELECT * FROM defender_request('POST', 'emulatorEcho', '{"a": 1}')$$) AS l;
SELECT emulator('DELETE', '/_emulator/faults');

-- writes: PATCH and POST with a payload, custom headers
SELECT log_size() AS before \gset
SELECT status, body->>'severity' AS severity
FROM defender_request('patch', 'security/incidents/' || inc(), '{"severity": "high"}');
SELECT status, body->>'method' AS method, body->'body' AS echoed,
       body->'headers'->>'content-type' AS content_type, body->'headers'->>'prefer' AS prefer,
       body->'headers'->'x-empty' AS x_empty, body->'headers'->>'accept' AS accept
FROM defender_request('PUT', 'emulatorEcho/x', '{"a": [1, "ü"]}',
                      extra_fields => '{"headers": {"Prefer": "include-unknown-enum-members", "X-Empty": "", "Accept": "text/plain"}}');
SELECT * FROM sent(:before);

-- response types; 204 has no body
SELECT status, body, body_text, headers->>'content-type' AS content_type
FROM defender_request('GET', 'emulatorEcho', query_params => '{"echoText": "plain ü", "echoStatus": 202}');
SELECT body IS NULL AS no_json, body_text
FROM defender_request('GET', 'emulatorEcho', query_params => '{"echoText": "[1,2]"}', extra_fields => '{"response_type": "text"}');
SELECT body, body_text, convert_from(decode(body_text, 'base64'), 'UTF8') AS decoded
FROM defender_request('GET', 'emulatorEcho', query_params => '{"echoText": "bytes ü"}', extra_fields => '{"response_type": "BYTES"}');
SELECT status, body, body_text FROM defender_request('DELETE', 'emulatorEcho', query_params => '{"echoStatus": 204}');

-- The token goes only to graph_url's or mde_url's scheme, host and port:
-- anything else is refused before any network I/O (no token request either).
SELECT log_size() AS before \gset
SELECT show_error($$SELECT * FROM defender_request('GET', 'https://evil.example/v1.0/security/incidents')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'http://127.0.0.1:1/v1.0/security/incidents')$$);
SELECT l FROM show_error(format('SELECT * FROM defender_request(%L, %L)', 'GET',
                regexp_replace(current_setting('defender_test.emulator_url'), '^http:', 'https:') || '/v1.0/security/incidents')) AS l
WHERE l NOT LIKE 'DETAIL:%';
SELECT l FROM show_error(format('SELECT * FROM defender_request(%L, %L)', 'GET',
                replace(current_setting('defender_test.emulator_url'), '://', '://user@') || '/v1.0/security/incidents')) AS l
WHERE l NOT LIKE 'DETAIL:%';
SELECT show_error($$SELECT * FROM defender_request('GET', 'file:///etc/passwd')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'security/../../mde/api/alerts')$$);
SELECT show_error($$SELECT * FROM defender_request('FETCH', 'security/incidents')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'security/incidents', '{}')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', query_params => '[1]')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', query_params => '{"a": [1]}')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', extra_fields => '{"retries": 1}')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', extra_fields => '{"retry_count": 11}')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', extra_fields => '{"response_type": "xml"}')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', extra_fields => '{"headers": {"Authorization": "Bearer x"}}')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', extra_fields => '{"headers": {"host": "evil.example"}}')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', extra_fields => '{"headers": {"X-A": "a\r\nHost: b"}}')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'x', extra_fields => '{"headers": {"Bad Name": "a"}}')$$);
SELECT count(*) AS requests_sent FROM sent(:before);

-- Absolute URLs on the configured origins work, each with its own audience.
SELECT log_size() AS before \gset
SELECT status, jsonb_array_length(body->'value') AS rows
FROM defender_request('GET', current_setting('defender_test.emulator_url') || '/v1.0/security/incidents?$top=1');
SELECT status, body->'value' AS domains
FROM defender_request('GET', current_setting('defender_test.emulator_url') || '/mde/api/alerts/' || mde_alert() || '/domains');
SELECT n, method, target, status FROM sent(:before);

--
-- A playbook in PL/pgSQL: branch on the outcome.
--
DO $$
DECLARE
  r record;
BEGIN
  SELECT * INTO r FROM defender_request('GET', 'security/incidents/1');
  IF r.status = 404 THEN
    RAISE NOTICE 'incident 1: not found (%)', r.body->'error'->>'code';
  END IF;
  BEGIN
    PERFORM defender_update_incident('1', status => 'resolved');
  EXCEPTION WHEN no_data_found THEN
    RAISE NOTICE 'caught: %', SQLERRM;
  END;
END
$$;

--
-- Privileges: the writing functions need EXECUTE granted; reading ones do not.
--
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'defender_fdw'
WHERE p.proname NOT LIKE '%fdw%' ORDER BY 1;

CREATE ROLE actions_analyst;
GRANT USAGE ON FOREIGN SERVER defender TO actions_analyst;
CREATE USER MAPPING FOR actions_analyst SERVER defender
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
SET ROLE actions_analyst;
SELECT show_error($$SELECT defender_update_incident(inc(), status => 'active')$$);
SELECT show_error($$SELECT defender_add_incident_comment(inc(), 'x')$$);
SELECT show_error($$SELECT * FROM defender_request('GET', 'security/incidents')$$);
SELECT defender_get_incident(inc())->>'id' = inc() AS can_read;
RESET ROLE;
GRANT EXECUTE ON FUNCTION defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name)
  TO actions_analyst;
SET ROLE actions_analyst;
SELECT defender_update_incident(inc(), status => 'active')->>'status' AS status;
RESET ROLE;

-- without a user mapping, or without USAGE on the server: the usual errors
CREATE ROLE actions_no_mapping;
GRANT USAGE ON FOREIGN SERVER defender TO actions_no_mapping;
GRANT EXECUTE ON FUNCTION defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name)
  TO actions_no_mapping;
SET ROLE actions_no_mapping;
SELECT show_error($$SELECT defender_update_incident(inc(), status => 'active')$$);
SELECT show_error($$SELECT defender_get_incident(inc())$$);
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER defender FROM actions_no_mapping;
SET ROLE actions_no_mapping;
SELECT show_error($$SELECT defender_update_incident(inc(), status => 'active')$$);
RESET ROLE;

DROP USER MAPPING FOR actions_analyst SERVER defender;
REVOKE USAGE ON FOREIGN SERVER defender FROM actions_analyst;
REVOKE EXECUTE ON FUNCTION defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name)
  FROM actions_analyst, actions_no_mapping;
DROP ROLE actions_analyst;
DROP ROLE actions_no_mapping;

DROP FUNCTION log_size(), sent(int), inc(), alert(), mde_alert();
SELECT emulator_reset();
