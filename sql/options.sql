--
-- options: every option is checked when it is set, not at query time
--
\set VERBOSITY default

-- server: tenant_id is required, unknown options list the valid ones
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw;
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', tenant 'y');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'common');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'a b');
-- the secret is refused on a server, where every user could read it
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', client_secret 's3cr3t');
-- URLs: http(s) only, no credentials, no query
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', graph_url 'ftp://graph.microsoft.com');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', login_url 'https://user:pw@login.microsoftonline.com');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', mde_url 'https://api.securitycenter.microsoft.com?x=1');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', graph_url 'https://');
-- numbers and booleans
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', timeout '14');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', timeout '121');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', timeout '30s');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', max_retries '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', max_retries '11');
-- the quota governor's options (doc/scaling.md)
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', hunting_quota '601');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', graph_quota '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', quota_window '0');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', quota_window '1m');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', max_response_mb '0');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', verify_ssl 'maybe');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', api_version 'v2.0');
CREATE SERVER bad FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x', ca_file 'relative/ca.pem');

-- every valid server option at once, at the edges of its range
CREATE SERVER good FOREIGN DATA WRAPPER defender_fdw OPTIONS (
  tenant_id 'contoso.onmicrosoft.com', login_url 'https://login.microsoftonline.us/',
  graph_url 'https://graph.microsoft.us', mde_url 'https://api-gov.securitycenter.microsoft.us',
  api_version 'beta', timeout '120', verify_ssl 'true', ca_file '/etc/ssl/certs/ca-certificates.crt',
  max_retries '0', max_response_mb '1024', client_id '11111111-1111-1111-1111-111111111111');
ALTER SERVER good OPTIONS (SET timeout '15');
ALTER SERVER good OPTIONS (SET timeout '9');
-- removing the tenant is refused like never giving it
ALTER SERVER good OPTIONS (DROP tenant_id);

-- user mapping: client_id and client_secret only
CREATE USER MAPPING FOR CURRENT_USER SERVER good OPTIONS (client_secret 'x', tenant_id 'y');
CREATE USER MAPPING FOR CURRENT_USER SERVER good OPTIONS (client_secret '');
CREATE USER MAPPING FOR CURRENT_USER SERVER good OPTIONS (client_secret 'x');

-- foreign table: resource is required and checked
CREATE FOREIGN TABLE t_bad (id text) SERVER good;
CREATE FOREIGN TABLE t_bad (id text) SERVER good OPTIONS (resource 'incident');
CREATE FOREIGN TABLE t_bad (id text) SERVER good OPTIONS (resource 'incidents', page_size '51');
CREATE FOREIGN TABLE t_bad (id text) SERVER good OPTIONS (resource 'incidents', page_size '0');
CREATE FOREIGN TABLE t_bad (id text) SERVER good OPTIONS (resource 'incidents', timeout '20');
CREATE FOREIGN TABLE t_bad (id text OPTIONS (property '')) SERVER good OPTIONS (resource 'incidents');
CREATE FOREIGN TABLE t_bad (id text OPTIONS (name 'id')) SERVER good OPTIONS (resource 'incidents');
CREATE FOREIGN TABLE t_good (id text OPTIONS (property 'id')) SERVER good
  OPTIONS (resource 'incidents', page_size '50');
ALTER FOREIGN TABLE t_good OPTIONS (SET page_size '60');
ALTER FOREIGN TABLE t_good OPTIONS (DROP resource);

-- the wrapper itself takes no options
ALTER FOREIGN DATA WRAPPER defender_fdw OPTIONS (ADD timeout '20');

-- options are stored as given; the secret is visible only through the
-- user mapping, never the server
SELECT option FROM pg_foreign_server, unnest(srvoptions) AS option WHERE srvname = 'good';
SELECT count(*) AS secrets_in_server_options
FROM pg_foreign_server, unnest(srvoptions) AS o WHERE o LIKE 'client_secret%';

-- a user without a user mapping gets a clear error, with the fix
CREATE ROLE no_mapping_user;
GRANT SELECT ON incidents TO no_mapping_user;
SET ROLE no_mapping_user;
SELECT show_error('SELECT id FROM incidents');
-- plain EXPLAIN needs no credentials and sends nothing
EXPLAIN (COSTS OFF) SELECT id FROM incidents;
RESET ROLE;

-- a mapping without client_id (and none on the server)
CREATE SERVER no_client FOREIGN DATA WRAPPER defender_fdw OPTIONS (tenant_id 'x');
CREATE USER MAPPING FOR CURRENT_USER SERVER no_client OPTIONS (client_secret 'x');
CREATE FOREIGN TABLE t_no_client (id text) SERVER no_client OPTIONS (resource 'incidents');
SELECT show_error('SELECT * FROM t_no_client');

DROP SERVER good CASCADE;
DROP SERVER no_client CASCADE;
REVOKE SELECT ON incidents FROM no_mapping_user;
DROP ROLE no_mapping_user;
