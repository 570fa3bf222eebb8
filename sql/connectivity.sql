--
-- connectivity: a forward proxy for every request, and national clouds.
--
-- scripts/lib.sh starts two proxies on loopback (test/emulator/proxy.py): an
-- open one (defender_test.proxy_url) and one that demands credentials
-- (defender_test.auth_proxy_url: proxy-tester / proxy-pass-value).  Each
-- logs the requests it forwards.
--
SELECT emulator_reset();

-- proxy_api(setting, method, path): a proxy's control API
CREATE FUNCTION proxy_api(setting text, method text, path text)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  result text;
BEGIN
  IF to_regclass('pg_temp.proxy_output') IS NULL THEN
    CREATE TEMP TABLE proxy_output (line text);
  END IF;
  TRUNCATE proxy_output;
  EXECUTE format('COPY proxy_output FROM PROGRAM %L WITH (FORMAT csv, DELIMITER %L, QUOTE %L)',
                 'curl -sS --noproxy ''*'' -X ' || method || ' '
                 || sh_quote(current_setting(setting) || path),
                 E'\x1f', E'\x1e');
  SELECT string_agg(line, E'\n') INTO result FROM proxy_output;
  RETURN result::jsonb;
END
$fn$;

-- What a proxy forwarded since its last reset, with the emulators'
-- addresses and the tenant masked.
CREATE FUNCTION proxy_log(setting text)
RETURNS TABLE (seq int, method text, target text, authorized boolean, status int)
LANGUAGE sql AS $$
  SELECT (r->>'seq')::int, r->>'method',
         regexp_replace(replace(mask(r->>'target'),
                                regexp_replace(current_setting('defender_test.emulator_tls_url'), '^https://', ''),
                                '<tls emulator>'),
                        '/<guid>/oauth2', '/<tenant>/oauth2'),
         (r->>'authorized')::boolean, (r->>'status')::int
  FROM jsonb_array_elements(proxy_api(setting, 'GET', '/_proxy/log')->'requests') AS r
  ORDER BY 1
$$;

-- show_error() with the proxies' ports masked
CREATE FUNCTION show_proxy_error(query text) RETURNS SETOF text LANGUAGE sql
AS $$ SELECT replace(replace(l, current_setting('defender_test.auth_proxy_url'), '<auth proxy>'),
                     current_setting('defender_test.proxy_url'), '<proxy>')
      FROM show_error(query) AS l $$;

CREATE FUNCTION proxy_reset(setting text) RETURNS void LANGUAGE sql
AS $$ SELECT proxy_api(setting, 'POST', '/_proxy/reset') $$;

-- make_server(name, extra options): a server on the plain emulator
CREATE FUNCTION make_server(name text, extra text) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, mde_url %L, max_retries %L%s)',
                 name, '00000000-0000-0000-0000-000000000001',
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url') || '/mde', '0',
                 CASE WHEN extra = '' THEN '' ELSE ', ' || extra END);
END
$fn$;

--
-- Every request goes through the proxy: the token, the pages, the
-- Defender for Endpoint API and the actions.
--
SELECT make_server('via_proxy', format('proxy %L', current_setting('defender_test.proxy_url')));
CREATE USER MAPPING FOR CURRENT_USER SERVER via_proxy
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
CREATE FOREIGN TABLE proxy_incidents (id text, status text)
  SERVER via_proxy OPTIONS (resource 'incidents');
SELECT proxy_reset('defender_test.proxy_url');
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS all_rows FROM proxy_incidents;
SELECT id AS first_incident FROM emulator_incidents() ORDER BY id LIMIT 1 \gset
SELECT count(*) > 0 AS domains FROM defender_alert_domains('da638900878583184656_-1779498055', 'mde', 'via_proxy');
SELECT defender_add_incident_comment(:'first_incident', 'sent through the proxy', 'via_proxy') IS NOT NULL AS commented;
SELECT seq, method, regexp_replace(target, '/incidents/[^/]+/', '/incidents/<id>/') AS target, status
FROM proxy_log('defender_test.proxy_url');
-- the emulator saw exactly the requests the proxy forwarded
SELECT (SELECT count(*) FROM emulator_requests()) = (SELECT count(*) FROM proxy_log('defender_test.proxy_url'))
       AS all_through_proxy;

-- https through the proxy: a CONNECT tunnel to the TLS emulator
SELECT proxy_reset('defender_test.proxy_url');
DO $$
BEGIN
  EXECUTE format('CREATE SERVER via_proxy_tls FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, mde_url %L, ca_file %L, proxy %L)',
                 '00000000-0000-0000-0000-000000000001',
                 current_setting('defender_test.emulator_tls_url'),
                 current_setting('defender_test.emulator_tls_url'),
                 current_setting('defender_test.emulator_tls_url') || '/mde',
                 current_setting('defender_test.emulator_tls_ca'),
                 current_setting('defender_test.proxy_url'));
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER via_proxy_tls
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
CREATE FOREIGN TABLE proxy_tls_incidents (id text) SERVER via_proxy_tls OPTIONS (resource 'incidents');
SELECT count(*) > 0 AS rows FROM proxy_tls_incidents;
SELECT DISTINCT method, target, status FROM proxy_log('defender_test.proxy_url');

-- a proxy that cannot reach the service answers the CONNECT with 502:
-- reported as the proxy's refusal, not retried
DO $$
BEGIN
  EXECUTE format('CREATE SERVER proxy_no_route FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, proxy %L, max_retries %L)',
                 '00000000-0000-0000-0000-000000000001', 'https://127.0.0.1:1',
                 current_setting('defender_test.proxy_url'), '3');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER proxy_no_route
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
CREATE FOREIGN TABLE proxy_no_route_incidents (id text) SERVER proxy_no_route OPTIONS (resource 'incidents');
SELECT proxy_reset('defender_test.proxy_url');
SELECT show_proxy_error('SELECT count(*) FROM proxy_no_route_incidents');
SELECT method, target, status FROM proxy_log('defender_test.proxy_url');

--
-- A proxy that wants credentials
--
SELECT emulator_reset();
SELECT make_server('via_auth_proxy', format('proxy %L', current_setting('defender_test.auth_proxy_url')));
CREATE FOREIGN TABLE auth_proxy_incidents (id text) SERVER via_auth_proxy OPTIONS (resource 'incidents');
-- none given: 407, before even the token request reaches Entra
CREATE USER MAPPING FOR CURRENT_USER SERVER via_auth_proxy
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
SELECT proxy_reset('defender_test.auth_proxy_url');
SELECT show_proxy_error('SELECT count(*) FROM auth_proxy_incidents');
-- wrong ones: 407 again, naming the user but never the password
ALTER USER MAPPING FOR CURRENT_USER SERVER via_auth_proxy
  OPTIONS (ADD proxy_user 'proxy-tester', ADD proxy_password 'not-the-proxy-pass');
SELECT show_proxy_error('SELECT count(*) FROM auth_proxy_incidents');
SELECT method, target, authorized, status FROM proxy_log('defender_test.auth_proxy_url');
SELECT count(*) AS reached_emulator FROM emulator_requests();
-- the right ones
ALTER USER MAPPING FOR CURRENT_USER SERVER via_auth_proxy
  OPTIONS (SET proxy_password 'proxy-pass-value');
SELECT proxy_reset('defender_test.auth_proxy_url');
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS all_rows FROM auth_proxy_incidents;
SELECT seq, method, target, authorized, status FROM proxy_log('defender_test.auth_proxy_url');

-- A proxy that is down: a clear error naming it.
SELECT make_server('dead_proxy', $$proxy 'http://127.0.0.1:1'$$);
CREATE USER MAPPING FOR CURRENT_USER SERVER dead_proxy
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
CREATE FOREIGN TABLE dead_proxy_incidents (id text) SERVER dead_proxy OPTIONS (resource 'incidents');
SELECT show_error('SELECT count(*) FROM dead_proxy_incidents');

-- Managed identity never goes through the proxy: IMDS answers only on the
-- VM's own link-local address.
SELECT emulator_reset();
SELECT proxy_reset('defender_test.proxy_url');
SELECT make_server('mi_proxy', format('proxy %L, managed_identity_url %L',
                                      current_setting('defender_test.proxy_url'),
                                      current_setting('defender_test.emulator_url') || '/metadata/identity/oauth2/token'));
CREATE USER MAPPING FOR CURRENT_USER SERVER mi_proxy OPTIONS (auth 'managed_identity');
CREATE FOREIGN TABLE mi_proxy_incidents (id text) SERVER mi_proxy OPTIONS (resource 'incidents');
SELECT count(*) > 0 AS rows FROM mi_proxy_incidents;
SELECT count(*) FILTER (WHERE target LIKE '%/metadata/%') AS imds_via_proxy,
       count(*) FILTER (WHERE target LIKE '%/v1.0/security/incidents%') AS graph_via_proxy
FROM proxy_log('defender_test.proxy_url');
SELECT count(*) AS imds_requests FROM emulator_requests() WHERE target LIKE '/metadata/%';

-- Proxy options are checked when set.
SELECT show_error($$CREATE SERVER p1 FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', proxy 'http://user:pw@proxy.example:8080')$$);
SELECT show_error($$CREATE SERVER p1 FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', proxy 'socks5://proxy.example:1080')$$);
SELECT show_error($$ALTER USER MAPPING FOR CURRENT_USER SERVER via_proxy OPTIONS (ADD proxy_password 'only-a-password')$$);
SELECT show_error($$CREATE SERVER p1 FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', proxy_user 'u')$$);

--
-- National clouds: the cloud option picks the hosts, explicit URL options
-- override them.  defender_endpoints() shows the result and sends nothing.
--
CREATE SERVER cloud_default FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'contoso.onmicrosoft.com');
CREATE SERVER cloud_global FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'contoso.onmicrosoft.com', cloud 'global');
CREATE SERVER cloud_usgov FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'contoso.onmicrosoft.us', cloud 'usgov');
CREATE SERVER cloud_dod FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'contoso.onmicrosoft.us', cloud 'dod');
CREATE SERVER cloud_override FOREIGN DATA WRAPPER defender_fdw
  OPTIONS (tenant_id 'contoso.onmicrosoft.us', cloud 'usgov', mde_url 'https://api-gcc.securitycenter.microsoft.us/');
SELECT s AS server, e.* FROM unnest(ARRAY['cloud_default', 'cloud_global', 'cloud_usgov', 'cloud_dod', 'cloud_override']) AS s,
     LATERAL defender_endpoints(s::name) AS e;
-- A scan really asks the cloud's login host for its token: seen through a
-- proxy that is down, so that nothing leaves this machine.
ALTER SERVER cloud_usgov OPTIONS (ADD proxy 'http://127.0.0.1:1', ADD max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER cloud_usgov
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
CREATE FOREIGN TABLE gov_incidents (id text) SERVER cloud_usgov OPTIONS (resource 'incidents');
SELECT show_error('SELECT count(*) FROM gov_incidents');
SELECT show_error($$CREATE SERVER cloud_cn FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', cloud 'china')$$);
SELECT show_error($$CREATE SERVER cloud_x FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', cloud 'usgovhigh')$$);
SELECT show_error($$ALTER SERVER cloud_dod OPTIONS (SET cloud 'China')$$);

DROP SERVER via_proxy, via_proxy_tls, proxy_no_route, via_auth_proxy, dead_proxy, mi_proxy, cloud_default, cloud_global,
            cloud_usgov, cloud_dod, cloud_override CASCADE;
