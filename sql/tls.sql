--
-- tls: HTTPS to the Graph emulator, and the URL rules that keep the bearer
-- token and the client secret where they belong.
--
-- scripts/lib.sh starts a second emulator that serves HTTPS with a freshly
-- generated self-signed certificate for 127.0.0.1/localhost, and sets
-- defender_test.emulator_tls_url and defender_test.emulator_tls_ca (the
-- certificate's path) in the cluster's configuration.
--

-- The TLS emulator's URL, its port written as plain http, and the
-- certificate's path change from run to run: mask them (then the usual
-- masks of setup's mask()).
CREATE FUNCTION tls_mask(s text) RETURNS text LANGUAGE sql AS $$
  SELECT mask(replace(replace(replace(s,
           current_setting('defender_test.emulator_tls_url'), '<tls_emulator>'),
           replace(current_setting('defender_test.emulator_tls_url'), 'https://', 'http://'),
           '<tls_emulator_as_http>'),
           current_setting('defender_test.emulator_tls_ca'), '<ca_file>'))
$$;

CREATE FUNCTION tls_error(query text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT tls_mask(line) FROM show_error(query) AS line
$$;

-- One server (with its user mapping and incidents table) per way of
-- reaching the TLS emulator.
CREATE FUNCTION tls_server(name text, url text, extra text DEFAULT '') RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, mde_url %L %s)',
                 name, '00000000-0000-0000-0000-000000000001', url, url, url || '/mde', extra);
  EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (
                    client_id %L, client_secret %L)',
                 name, '11111111-1111-1111-1111-111111111111', 'test-secret-value');
  EXECUTE format('CREATE FOREIGN TABLE %I (id text, status text) SERVER %I
                    OPTIONS (resource %L)', name || '_incidents', name, 'incidents');
END
$fn$;

SELECT tls_server('tls_default', current_setting('defender_test.emulator_tls_url'));
SELECT tls_server('tls_ca', current_setting('defender_test.emulator_tls_url'),
                  format(', ca_file %L', current_setting('defender_test.emulator_tls_ca')));
SELECT tls_server('tls_noverify', current_setting('defender_test.emulator_tls_url'),
                  ', verify_ssl ''false''');
SELECT tls_server('tls_as_http',
                  replace(current_setting('defender_test.emulator_tls_url'), 'https://', 'http://'),
                  ', max_retries ''0''');

-- (a) verify_ssl on (the default) against a self-signed certificate: a clear
-- TLS error with the ca_file hint, and neither the secret nor a token in it.
SELECT * FROM tls_error('SELECT count(*) FROM tls_default_incidents');
SELECT bool_or(line ~ 'test-secret-value|Bearer|eyJ') AS leaks_secret
FROM tls_error('SELECT count(*) FROM tls_default_incidents') AS line;

-- (b) ca_file pointing at the certificate: verification passes, the scan
-- reads every incident (the TLS emulator's default fixture).
SELECT count(*) AS incidents, count(DISTINCT id) AS distinct_ids FROM tls_ca_incidents;

-- (c) verify_ssl off, no ca_file: works too.
SELECT count(*) AS incidents FROM tls_noverify_incidents;

-- Trust settings are not shared through reused connections or handles:
-- after (b) and (c) succeeded in this backend, the verifying server without
-- ca_file still fails.
SELECT * FROM tls_error('SELECT count(*) FROM tls_default_incidents');

-- (d) plain http:// to the TLS port: a prompt transport error, not a hang.
SET statement_timeout = '20s';
SELECT * FROM tls_error('SELECT count(*) FROM tls_as_http_incidents');
RESET statement_timeout;

-- (e) redirects are never followed.  The emulator answers the incidents
-- request with a 302 to another emulator path; the user gets an error, not
-- rows, and the emulator never sees a request for the Location target.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator_fault(jsonb_build_object(
         'kind', 'redirect', 'match', '/security/incidents', 'times', -1,
         'location', current_setting('defender_test.emulator_url')
                     || '/v1.0/emulatorEcho/redirect-target'));
SELECT * FROM show_error('SELECT count(*) FROM incidents');
SELECT method, target, status, fault FROM emulator_requests();
SELECT count(*) AS requests_to_location FROM emulator_requests()
WHERE target LIKE '%redirect-target%';

-- The same for a 307 (which keeps the method and body) on the token
-- endpoint: following it would repost the client secret.  A new server, so
-- that no cached token skips the token request.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
DO $$
BEGIN
  EXECUTE format('CREATE SERVER redirect_login FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, max_retries %L)',
                 '00000000-0000-0000-0000-000000000001',
                 current_setting('defender_test.emulator_url') || '/',
                 current_setting('defender_test.emulator_url'), '0');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER redirect_login
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
CREATE FOREIGN TABLE redirect_login_incidents (id text) SERVER redirect_login
  OPTIONS (resource 'incidents');
SELECT emulator_fault(jsonb_build_object(
         'kind', 'redirect', 'status', 307, 'match', '/oauth2/v2.0/token', 'times', -1,
         'location', current_setting('defender_test.emulator_url')
                     || '/v1.0/emulatorEcho/token-redirect-target'));
SELECT * FROM show_error('SELECT count(*) FROM redirect_login_incidents');
SELECT method, target, status, fault FROM emulator_requests();
SELECT count(*) AS requests_to_location FROM emulator_requests()
WHERE target LIKE '%redirect-target%';

-- (f) only http:// and https:// URLs are accepted, when the option is set.
CREATE SERVER bad_scheme FOREIGN DATA WRAPPER defender_fdw
  OPTIONS (tenant_id '00000000-0000-0000-0000-000000000001', graph_url 'file:///etc/passwd');
CREATE SERVER bad_scheme FOREIGN DATA WRAPPER defender_fdw
  OPTIONS (tenant_id '00000000-0000-0000-0000-000000000001', login_url 'ftp://127.0.0.1/');
ALTER SERVER tls_ca OPTIONS (SET graph_url 'ftp://127.0.0.1/');
ALTER SERVER tls_ca OPTIONS (SET mde_url 'gopher://127.0.0.1/');

-- Leave the emulator and the catalog as setup left them.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SET client_min_messages = warning;
DROP SERVER tls_default, tls_ca, tls_noverify, tls_as_http, redirect_login CASCADE;
RESET client_min_messages;
DROP FUNCTION tls_server(text, text, text), tls_error(text), tls_mask(text);
