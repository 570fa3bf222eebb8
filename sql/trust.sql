--
-- trust: only a superuser decides where requests go (the URLs) and how
-- the service is verified (verify_ssl off, ca_file); PostgreSQL itself
-- lets only a server's owner alter it
--
CREATE ROLE defender_alice NOSUPERUSER;
GRANT USAGE ON FOREIGN DATA WRAPPER defender_fdw TO defender_alice;
SET ROLE defender_alice;

-- a server against Microsoft's endpoints, verified: any role with USAGE,
-- spelling out the defaults included
CREATE SERVER alice_srv FOREIGN DATA WRAPPER defender_fdw OPTIONS (
  tenant_id '00000000-0000-0000-0000-000000000001', verify_ssl 'true',
  graph_url 'https://graph.microsoft.com/', login_url 'https://login.microsoftonline.com');

-- but not verification off, a CA bundle of her choice or another endpoint
SELECT show_error($$ALTER SERVER alice_srv OPTIONS (SET verify_ssl 'false')$$);
SELECT show_error($$ALTER SERVER alice_srv OPTIONS (SET verify_ssl 'off')$$);
SELECT show_error($$ALTER SERVER alice_srv OPTIONS (ADD ca_file '/etc/ssl/private/ca.pem')$$);
SELECT show_error($$ALTER SERVER alice_srv OPTIONS (SET graph_url 'http://169.254.169.254')$$);
SELECT show_error($$ALTER SERVER alice_srv OPTIONS (SET login_url 'https://login.microsoftonline.com.example.net')$$);
SELECT show_error($$CREATE SERVER alice_other FOREIGN DATA WRAPPER defender_fdw OPTIONS (
  tenant_id '00000000-0000-0000-0000-000000000001', mde_url 'https://api-gov.securitycenter.microsoft.us')$$);
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname LIKE 'alice%';

-- on a server she does not own, not even a harmless option
SELECT show_error($$ALTER SERVER defender OPTIONS (ADD verify_ssl 'false')$$);
SELECT show_error($$ALTER SERVER defender OPTIONS (ADD timeout '30')$$);
RESET ROLE;

-- a superuser may set all of them
ALTER SERVER alice_srv OPTIONS (SET verify_ssl 'false', ADD ca_file '/nonexistent/ca.pem',
                                SET graph_url 'https://graph.microsoft.us');
SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'alice_srv';

-- a server a superuser configured so and then gave away: the new owner
-- cannot alter its options (the validator sees them all), only a
-- superuser can
ALTER SERVER alice_srv OWNER TO defender_alice;
SET ROLE defender_alice;
SELECT show_error($$ALTER SERVER alice_srv OPTIONS (ADD timeout '30')$$);
RESET ROLE;
ALTER SERVER alice_srv OPTIONS (ADD timeout '30');

DROP SERVER alice_srv;
REVOKE USAGE ON FOREIGN DATA WRAPPER defender_fdw FROM defender_alice;
DROP ROLE defender_alice;
