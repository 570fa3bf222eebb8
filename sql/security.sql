--
-- security: where tokens may go, who may choose a credential, and secrets
-- kept out of the catalog (issue 13).
--
-- scripts/test.sh starts a hostile listener (test/checks/hostile_listener.py)
-- at defender_test.hostile_url: it stands for the attacker's host, and every
-- connection it accepts is a line in defender_test.hostile_log.  The URLs
-- below name it; at the end it must have received nothing.
--
CREATE FUNCTION hostile_requests() RETURNS int LANGUAGE sql AS $$
  SELECT count(*)::int
  FROM regexp_split_to_table(pg_read_file(current_setting('defender_test.hostile_log')), E'\n') AS l
  WHERE l <> ''
$$;
SELECT hostile_requests() AS hostile_requests_before;

SELECT regexp_replace(current_setting('defender_test.emulator_url'), '^http://', '') AS e,
       regexp_replace(current_setting('defender_test.emulator_url'), '^.*:', '') AS e_port,
       regexp_replace(current_setting('defender_test.hostile_url'), '^http://', '') AS h,
       regexp_replace(current_setting('defender_test.hostile_url'), '^.*:', '') AS h_port \gset

-- CREATE SERVER for a server on the emulator, graph_url's and mde_url's
-- host spelt host, with more options (", name 'value'...").
CREATE FUNCTION emulator_server_sql(srv text, host text DEFAULT '127.0.0.1', more text DEFAULT '')
RETURNS text LANGUAGE sql AS $$
  SELECT format('CREATE SERVER %I FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                   tenant_id %L, login_url %L, graph_url %L, mde_url %L%s)',
                srv, '00000000-0000-0000-0000-000000000001', url,
                replace(url, '127.0.0.1', host), replace(url, '127.0.0.1', host) || '/mde', more)
  FROM (SELECT current_setting('defender_test.emulator_url') AS url) AS s
$$;
CREATE FUNCTION create_emulator_server(srv text, host text DEFAULT '127.0.0.1', more text DEFAULT '')
RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE emulator_server_sql(srv, host, more); END $$;

-- What defender_request() did with an endpoint: sent (and the HTTP status)
-- or refused (and the SQLSTATE), with no network I/O before a refusal.
CREATE FUNCTION try_endpoint(endpoint text, srv name DEFAULT 'defender') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE st int;
BEGIN
  SELECT status INTO st FROM defender_request('GET', endpoint, server => srv);
  RETURN 'sent, HTTP ' || st;
EXCEPTION WHEN OTHERS THEN
  RETURN 'refused, ' || SQLSTATE;
END
$$;

-- Finding 1: the token goes only to graph_url's or mde_url's scheme, host
-- and effective port, as libcurl reads the URL.
SELECT emulator_reset();
SELECT label, try_endpoint(format(tmpl, :'e', :'h', :'e_port', :'h_port')) AS outcome
FROM (VALUES
  ('#@ (the audit''s URL)',    'http://%1$s#@%2$s/v1.0/security/incidents'),
  ('%23@',                     'http://%1$s%%23@%2$s/v1.0/security/incidents'),
  ('\@',                       'http://%1$s\@%2$s/v1.0/security/incidents'),
  ('?@',                       'http://%1$s?@%2$s/v1.0/security/incidents'),
  ('user:pass@',               'http://user:pass@%1$s/v1.0/security/incidents'),
  ('graph as user info',       'http://%1$s@%2$s/v1.0/security/incidents'),
  ('the hostile host',         'http://%2$s/v1.0/security/incidents'),
  ('trailing dot',             'http://127.0.0.1.:%3$s/v1.0/security/incidents'),
  ('IPv6 literal',             'http://[::1]:%3$s/v1.0/security/incidents'),
  ('IPv4-mapped IPv6',         'http://[::ffff:127.0.0.1]:%4$s/v1.0/security/incidents'),
  ('Unicode host',             'http://gräph.example:%4$s/v1.0/security/incidents'),
  ('percent-encoded host',     'http://127.0.0.%%31:%4$s/v1.0/security/incidents'),
  ('another port',             'http://127.0.0.1:%4$s/v1.0/security/incidents'),
  ('https on an http origin',  'https://%1$s/v1.0/security/incidents'),
  ('MDE #@',                   'http://%1$s/mde#@%2$s/api/alerts'),
  ('@ in the path',            'http://%1$s/v1.0/security/incidents/@%2$s'),
  ('upper-case scheme',        'HTTP://%1$s/v1.0/security/incidents?$top=1'),
  ('dot segments on the host', 'http://%1$s/v1.0/security/../security/incidents?$top=1')
) AS c(label, tmpl);
SELECT try_endpoint(format(E'http://%s/v1.0/security/incidents\r\nHost: %s', :'e', :'h')) AS "CR/LF";
SELECT try_endpoint(format(E'http://%s/v1.0/security/incidents\tx', :'e')) AS "tab";
-- only the four endpoints sent reached the emulator (a token request
-- aside): the others were refused before any I/O
SELECT method, replace(target, :'h', '<hostile>') AS target, status
FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%';
-- the error names the reason libcurl's reading gave, and no empty HINT
SELECT replace(replace(l, :'h', '<hostile>'), :'e_port', '<port>') AS l
FROM show_error(format('SELECT * FROM defender_request(%L, %L)', 'GET',
                       format('http://%s#@%s/v1.0/security/incidents', :'e', :'h'))) AS l;
SELECT replace(l, :'e_port', '<port>') AS l
FROM show_error(format('SELECT * FROM defender_request(%L, %L)', 'GET',
                       format('http://user:pass@%s/v1.0/security/incidents', :'e'))) AS l;

-- Finding 8: the refused-endpoint errors as psql prints them (no empty
-- HINT line).  A server on Microsoft's default URLs: a refusal sends
-- nothing, so this needs no network.
CREATE SERVER offline FOREIGN DATA WRAPPER defender_fdw
  OPTIONS (tenant_id '00000000-0000-0000-0000-000000000001');
CREATE USER MAPPING FOR CURRENT_USER SERVER offline
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'offline-secret-value');
\set VERBOSITY default
SELECT * FROM defender_request('GET', 'https://graph.microsoft.com#@attacker.example/x', server => 'offline');
SELECT * FROM defender_request('GET', 'https://graph.microsoft.com:8443/v1.0/x', server => 'offline');
SELECT * FROM defender_request('GET', 'security/../x', server => 'offline');
SELECT * FROM defender_request('GET', 'ftp://graph.microsoft.com/x', server => 'offline');
SELECT * FROM defender_request('GET', 'https://GRAPH.microsoft.com./v1.0/x', server => 'offline');
DROP SERVER offline CASCADE;

-- A host compared without regard to ASCII case: a server on "localhost".
SELECT create_emulator_server('on_localhost', host => 'localhost');
CREATE USER MAPPING FOR CURRENT_USER SERVER on_localhost
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
SELECT try_endpoint(format('http://LocalHost:%s/v1.0/security/incidents?$top=1', :'e_port'), 'on_localhost') AS upper_case_host,
       try_endpoint(format('http://localhost.:%s/v1.0/security/incidents?$top=1', :'e_port'), 'on_localhost') AS trailing_dot,
       try_endpoint(format('http://localhost:%s#@%s/v1.0/security/incidents', :'e_port', :'h'), 'on_localhost') AS fragment;

-- URL options are read the same way.
SELECT show_error(format('ALTER SERVER on_localhost OPTIONS (SET graph_url %L)', 'http://localhost.:1'));
SELECT replace(l, :'h', '<hostile>') AS l
FROM show_error(format('ALTER SERVER on_localhost OPTIONS (SET mde_url %L)',
                       format('http://localhost#@%s', :'h'))) AS l;
SELECT show_error($$ALTER SERVER on_localhost OPTIONS (SET login_url 'https://login.example/x#y')$$);

-- A redirect is never followed, to the hostile host or anywhere.
SELECT emulator_reset();
SELECT emulator_fault(jsonb_build_object('match', '/security/incidents', 'kind', 'redirect',
                      'location', current_setting('defender_test.hostile_url') || '/v1.0/security/incidents',
                      'times', 1));
SELECT show_error('SELECT count(*) FROM incidents');

-- A nextLink off graph_url is not followed, whatever its spelling.
SELECT emulator_reset();
SELECT emulator_fault(jsonb_build_object('match', '/security/incidents', 'kind', 'malformed',
                      'body', format('{"value": [], "@odata.nextLink": "http://%s#@%s/v1.0/security/incidents?$skip=1"}', :'e', :'h'),
                      'times', 1));
SELECT replace(l, :'h', '<hostile>') AS l
FROM show_error('SELECT count(*) FROM defender_list_incidents()') AS l;
SELECT emulator_fault(jsonb_build_object('match', '/security/incidents', 'kind', 'malformed',
                      'body', format('{"value": [], "@odata.nextLink": "http://%s.%s/v1.0/security/incidents?$skip=1"}', :'e', :'h'),
                      'times', 1));
SELECT replace(l, :'h', '<hostile>') AS l FROM show_error('SELECT count(*) FROM incidents') AS l;

-- Finding 2: a managed identity is the database host's own identity.
CREATE ROLE sec_alice LOGIN;
GRANT USAGE ON FOREIGN SERVER defender TO sec_alice;
GRANT USAGE ON FOREIGN DATA WRAPPER defender_fdw TO sec_alice;
SELECT create_emulator_server('sec_mi', more => format(', managed_identity_url %L',
  current_setting('defender_test.emulator_url') || '/metadata/identity/oauth2/token'));
GRANT USAGE ON FOREIGN SERVER sec_mi TO sec_alice;
SET ROLE sec_alice;
-- a non-superuser can set it neither on a server she may use ...
SELECT show_error($$CREATE USER MAPPING FOR sec_alice SERVER defender OPTIONS (auth 'managed_identity')$$);
-- ... nor on a server of her own
CREATE SERVER alices FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id '00000000-0000-0000-0000-000000000001');
SELECT show_error($$CREATE USER MAPPING FOR sec_alice SERVER alices OPTIONS (auth 'managed_identity')$$);
SELECT show_error($$ALTER SERVER alices OPTIONS (ADD allow_managed_identity 'true')$$);
ALTER SERVER alices OPTIONS (ADD allow_managed_identity 'false');
RESET ROLE;
-- a mapping a superuser made (or one made before this rule) ...
CREATE USER MAPPING FOR sec_alice SERVER sec_mi OPTIONS (auth 'managed_identity');
SET ROLE sec_alice;
-- ... cannot be changed by its user, since it would be re-validated ...
SELECT show_error($$ALTER USER MAPPING FOR sec_alice SERVER sec_mi OPTIONS (ADD client_id '44444444-4444-4444-4444-444444444444')$$);
-- ... and acts as the host for a non-superuser only where a superuser
-- allowed it (refused before any request)
RESET ROLE;
SELECT emulator_reset();
SELECT id AS some_incident FROM emulator_incidents() LIMIT 1 \gset
SET ROLE sec_alice;
SELECT show_error(format('SELECT defender_get_incident(%L, %L)', :'some_incident', 'sec_mi'));
RESET ROLE;
SELECT count(*) AS requests FROM emulator_requests();
ALTER SERVER sec_mi OPTIONS (ADD allow_managed_identity 'true');
SET ROLE sec_alice;
SELECT defender_get_incident(:'some_incident', 'sec_mi') IS NOT NULL AS allowed;
RESET ROLE;
-- a superuser uses the mapping whatever the server says
ALTER SERVER sec_mi OPTIONS (SET allow_managed_identity 'false');
CREATE USER MAPPING FOR CURRENT_USER SERVER sec_mi OPTIONS (auth 'managed_identity');
SELECT defender_get_incident(:'some_incident', 'sec_mi') IS NOT NULL AS superuser_allowed;
DROP USER MAPPING FOR CURRENT_USER SERVER sec_mi;
DROP USER MAPPING FOR sec_alice SERVER sec_mi;

-- Finding 3: ids that would rewrite the URL path are refused before any
-- request, everywhere an id becomes a path segment.
SELECT emulator_reset();
SELECT show_error($$SELECT defender_update_incident('..', status => 'active')$$);
SELECT show_error($$SELECT defender_update_alert('.', status => 'resolved')$$);
SELECT show_error($$SELECT defender_add_alert_comment('..', 'x')$$);
SELECT show_error($$SELECT defender_add_incident_comment('', 'x')$$);
SELECT show_error($$SELECT * FROM defender_alert_domains('..', 'mde')$$);
SELECT show_error($$SELECT * FROM defender_alert_domains('', 'graph')$$);
SELECT show_error($$SELECT defender_get_incident('')$$);
SELECT show_error($$SELECT defender_get_incident('..')$$);
-- a lookup by such an id matches no row, and asks nothing
SELECT count(*) FROM incidents WHERE id IN ('', '.', '..');
-- UPDATE of a row whose id Graph gave as "..": the PATCH is refused
SELECT emulator_fault('{"match": "/security/incidents", "method": "GET", "kind": "malformed",
                        "body": "{\"value\": [{\"id\": \"..\", \"status\": \"active\"}]}", "times": 1}');
SELECT show_error($$UPDATE incidents SET status = 'resolved' WHERE status = 'active'$$);
SELECT method, count(*) FROM emulator_requests() WHERE target NOT LIKE '%/oauth2/%' GROUP BY 1 ORDER BY 1;

-- Finding 4: a huge Retry-After is capped before any arithmetic: it is too
-- long to wait, so the 429 comes back at once, after one request.
SELECT emulator_reset();
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 429,
                        "headers": {"Retry-After": "99999999999999999999"}, "times": 1}');
SELECT status, headers->>'retry-after' AS retry_after
FROM defender_request('GET', 'security/incidents', query_params => '{"$top": 1}');
SELECT emulator_fault('{"match": "/security/incidents", "kind": "status", "status": 429,
                        "headers": {"Retry-After": "99999999999999999999"}, "times": 1}');
SELECT show_error('SELECT count(*) FROM incidents');
SELECT count(*) AS requests FROM emulator_requests() WHERE target LIKE '/v1.0/%';

-- Finding 5: control characters in caller-given ids are escaped in every
-- message and log line (no fake second line).
SELECT emulator_reset();
SELECT show_error($$SELECT defender_add_incident_comment(E'1\r\nX-Injected: 1', 'x')$$);
SELECT show_error($$SELECT defender_update_incident(E'\n', status => 'active')$$);

-- Finding 6: defender_list_incidents rejects rows that are not objects,
-- as a scan does.
SELECT emulator_fault('{"match": "/security/incidents", "kind": "malformed",
                        "body": "{\"value\": [5, null, \"s\"]}", "times": 2}');
SELECT show_error('SELECT * FROM defender_list_incidents()');
SELECT show_error('SELECT count(*) FROM incidents');

-- Finding 7: a saved hunting query ending in a // comment.
CREATE FOREIGN TABLE commented_hunt (device_name text OPTIONS (property 'DeviceName'))
  SERVER defender OPTIONS (resource 'hunting',
    query 'DeviceProcessEvents | take 3 // the three first');
SELECT count(*) FROM commented_hunt;
SELECT count(*) FROM commented_hunt WHERE device_name IS NOT NULL;

-- Secrets by reference: client_secret_file and proxy_password_file.
SELECT emulator('POST', '/_emulator/clients',
                '{"client_id": "33333333-3333-3333-3333-333333333333", "secret": "first-file-secret"}') AS registered;
SELECT current_setting('defender_test.cert_dir') || '/client_secret.txt' AS secret_file,
       current_setting('defender_test.cert_dir') || '/loose_secret.txt' AS loose_file,
       current_setting('defender_test.cert_dir') || '/missing_secret.txt' AS missing_file \gset
-- write_secret(path, secret): the server's OS user replaces the file the
-- way a vault agent does: a new file, mode 600, renamed over the old one
CREATE FUNCTION write_secret(path text, secret text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('COPY (SELECT %L) TO PROGRAM %L', secret,
                 format('umask 077 && cat > %s.new && mv %s.new %s',
                        sh_quote(path), sh_quote(path), sh_quote(path)));
END
$$;
SELECT write_secret(:'secret_file', 'first-file-secret');
CREATE USER MAPPING FOR sec_alice SERVER defender
  OPTIONS (client_id '33333333-3333-3333-3333-333333333333', client_secret_file :'secret_file');
-- only a superuser names a file, an absolute path, and one place per secret
SET ROLE sec_alice;
SELECT show_error(format('ALTER USER MAPPING FOR sec_alice SERVER defender OPTIONS (SET client_secret_file %L)', '/etc/passwd'));
SELECT show_error($$CREATE USER MAPPING FOR sec_alice SERVER alices OPTIONS (client_id 'x', proxy_password_file '/tmp/p')$$);
RESET ROLE;
SELECT show_error($$ALTER USER MAPPING FOR sec_alice SERVER defender OPTIONS (SET client_secret_file 'relative.txt')$$);
SELECT show_error($$ALTER USER MAPPING FOR sec_alice SERVER defender OPTIONS (ADD client_secret 'x')$$);
SELECT show_error($$ALTER USER MAPPING FOR sec_alice SERVER defender OPTIONS (ADD certificate_file '/tmp/c.pem')$$);
SELECT show_error($$ALTER USER MAPPING FOR sec_alice SERVER defender OPTIONS (ADD proxy_user 'u', ADD proxy_password 'p', ADD proxy_password_file '/tmp/p')$$);
-- the secret is read when a token is needed
SELECT emulator_reset();
GRANT SELECT ON incidents TO sec_alice;
SET ROLE sec_alice;
SELECT count(*) > 0 AS rows FROM incidents;
RESET ROLE;
SELECT count(*) AS token_requests, min(status) AS status
FROM emulator_requests() WHERE target LIKE '%/oauth2/v2.0/token';
-- rotation: the application gets a new secret, the file is replaced, and
-- the next request asks for a token with the new secret
SELECT emulator('POST', '/_emulator/clients',
                '{"client_id": "33333333-3333-3333-3333-333333333333", "secret": "second-file-secret"}') AS rotated;
SELECT count(*) AS tokens_before FROM emulator_requests() WHERE target LIKE '%/oauth2/v2.0/token' \gset
SELECT write_secret(:'secret_file', 'second-file-secret');
SET ROLE sec_alice;
SELECT count(*) > 0 AS rows FROM incidents;
RESET ROLE;
SELECT count(*) - :tokens_before AS new_token_requests,
       (array_agg(status ORDER BY seq DESC))[1] AS status
FROM emulator_requests() WHERE target LIKE '%/oauth2/v2.0/token';
-- a file with a wrong secret is read too: no cached token rides over it
SELECT write_secret(:'secret_file', 'not-the-secret');
SET ROLE sec_alice;
SELECT show_error('SELECT count(*) FROM incidents');
RESET ROLE;
-- a file others may read, or none at all, is refused, as a private key is
CREATE FUNCTION alice_reads_with_secret_file(path text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER USER MAPPING FOR sec_alice SERVER defender OPTIONS (SET client_secret_file %L)', path);
  SET LOCAL ROLE sec_alice;
  RETURN QUERY SELECT replace(l, current_setting('defender_test.cert_dir'), '<certs>')
               FROM show_error('SELECT count(*) FROM incidents') AS l WHERE l NOT LIKE 'CONTEXT:%';
  RESET ROLE;
END
$$;
SELECT alice_reads_with_secret_file(:'loose_file');
SELECT alice_reads_with_secret_file(:'missing_file');
ALTER USER MAPPING FOR sec_alice SERVER defender OPTIONS (SET client_secret_file :'secret_file');
SELECT write_secret(:'secret_file', 'second-file-secret');

-- proxy_password_file: the password of the proxy that wants credentials
SELECT current_setting('defender_test.cert_dir') || '/proxy_password.txt' AS proxy_file \gset
SELECT write_secret(:'proxy_file', 'proxy-pass-value');
SELECT create_emulator_server('sec_proxied', more => format(', proxy %L',
  current_setting('defender_test.auth_proxy_url')));
CREATE USER MAPPING FOR CURRENT_USER SERVER sec_proxied
  OPTIONS (client_id '33333333-3333-3333-3333-333333333333', client_secret_file :'secret_file',
           proxy_user 'proxy-tester', proxy_password_file :'proxy_file');
CREATE FOREIGN TABLE sec_proxied_incidents (id text) SERVER sec_proxied OPTIONS (resource 'incidents');
SELECT count(*) > 0 AS through_the_proxy FROM sec_proxied_incidents;
SELECT write_secret(:'proxy_file', 'not-the-proxy-pass');
SELECT regexp_replace(l, '127\.0\.0\.1:\d+', '<proxy>', 'g') AS l
FROM show_error('SELECT count(*) FROM sec_proxied_incidents') AS l
WHERE l NOT LIKE 'CONTEXT:%';

-- A dump of a database whose mappings name secret files holds no secret.
SELECT current_database() AS regress_db, emulator_server_sql('defender') AS create_server \gset
CREATE DATABASE sec_dump_check;
\c sec_dump_check
CREATE EXTENSION defender_fdw;
:create_server;
CREATE USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (client_id '33333333-3333-3333-3333-333333333333', client_secret_file :'secret_file');
SELECT (defender_request('GET', 'security/incidents', query_params => '{"$top": 1}')).status;
CREATE TEMP TABLE dump (line text);
SELECT format('COPY dump FROM PROGRAM %L WITH (FORMAT csv, DELIMITER %L, QUOTE %L)',
              format('%s/pg_dump --no-password -h %s -p %s -d sec_dump_check',
                     current_setting('defender_test.pg_bin'),
                     split_part(current_setting('unix_socket_directories'), ',', 1),
                     current_setting('port')),
              E'\x1f', E'\x1e') AS copy_dump \gset
:copy_dump;
SELECT count(*) FILTER (WHERE line LIKE '%CREATE USER MAPPING%') AS mappings,
       count(*) FILTER (WHERE line LIKE '%client_secret_file%') AS names_the_file,
       count(*) FILTER (WHERE line LIKE '%second-file-secret%' OR line LIKE '%client_secret ''%') AS secrets
FROM dump;
\c :regress_db
DROP DATABASE sec_dump_check;

-- Nothing ever reached the hostile listener, in particular no token.
SELECT hostile_requests() AS hostile_requests;

DROP FOREIGN TABLE commented_hunt, sec_proxied_incidents;
DROP SERVER sec_proxied, sec_mi, on_localhost CASCADE;
REVOKE SELECT ON incidents FROM sec_alice;
DROP USER MAPPING FOR sec_alice SERVER defender;
SET ROLE sec_alice;
DROP SERVER alices;
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER defender FROM sec_alice;
REVOKE USAGE ON FOREIGN DATA WRAPPER defender_fdw FROM sec_alice;
DROP ROLE sec_alice;
