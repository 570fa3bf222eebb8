--
-- credentials: certificate credentials (a signed client assertion) and
-- managed identity (the instance metadata service), against the emulator.
--
-- scripts/lib.sh makes fresh test certificates in defender_test.cert_dir
-- (see dfw_make_certificates there); the emulator checks each assertion's
-- signature against the certificates registered below.
--
SELECT emulator_reset();

CREATE FUNCTION cert_file(name text) RETURNS text LANGUAGE sql STABLE
AS $$ SELECT current_setting('defender_test.cert_dir') || '/' || name $$;

-- DER bytes of a PEM certificate, and base64url: to check x5t independently
-- of both the extension and the emulator.
CREATE FUNCTION pem_der(pem text) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT decode(regexp_replace(substring(pem FROM '-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----'),
                                   '\s', '', 'g'), 'base64') $$;
CREATE FUNCTION b64url(b bytea) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT translate(rtrim(replace(encode(b, 'base64'), E'\n', ''), '='), '+/', '-_') $$;

-- errors with what changes from run to run masked: the certificate
-- directory and thumbprints, and the emulator's URL-encoded address
CREATE FUNCTION show_cert_error(query text) RETURNS SETOF text LANGUAGE sql
AS $$ SELECT regexp_replace(replace(replace(l, current_setting('defender_test.cert_dir'), '<certs>'),
                                    replace(replace(current_setting('defender_test.emulator_url'), ':', '%3A'), '/', '%2F'),
                                    '<emulator>'),
                            '[0-9A-F]{40}', '<thumbprint>', 'g')
      FROM show_error(query) AS l WHERE l NOT LIKE 'CONTEXT: SQL function%' $$;

-- (re)create the current user's mapping on server certs; $CERTS in the
-- options stands for the certificate directory
CREATE FUNCTION cert_mapping(options text) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE 'DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER certs';
  EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER certs OPTIONS (%s)',
                 replace(options, '$CERTS', current_setting('defender_test.cert_dir')));
END
$fn$;

-- The token requests since the last reset, with the assertion the emulator
-- decoded (header and claims; it never logs the signature).
CREATE FUNCTION token_requests()
RETURNS TABLE (seq int, status int, form jsonb) LANGUAGE sql AS $$
  SELECT seq, status, body FROM emulator_requests() WHERE target LIKE '%/oauth2/v2.0/token'
$$;

-- Certificates A and B are uploaded to the application 1111...; the
-- emulator's thumbprint of A is the one openssl printed.
SELECT emulator('POST', '/_emulator/certificates',
                jsonb_build_object('client_id', '11111111-1111-1111-1111-111111111111',
                                   'pem', pg_read_file(cert_file('a.crt'))))->>'thumbprint'
       = replace(btrim(pg_read_file(cert_file('a.sha1')), E'\n '), ':', '') AS a_registered;
SELECT (emulator('POST', '/_emulator/certificates',
                 jsonb_build_object('client_id', '11111111-1111-1111-1111-111111111111',
                                    'pem', pg_read_file(cert_file('b.crt'))))->>'ok')::boolean AS b_registered;

DO $$
BEGIN
  EXECUTE format('CREATE SERVER certs FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, mde_url %L, max_retries %L)',
                 '00000000-0000-0000-0000-000000000001',
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url') || '/mde', '0');
END
$$;
CREATE FOREIGN TABLE cert_incidents (id text, status text)
  SERVER certs OPTIONS (resource 'incidents');

--
-- Certificate A, key in the same PEM file
--
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111', certificate_file '$CERTS/a.pem'$$);
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS all_rows FROM cert_incidents;

-- The token request carried an assertion and no secret; its header names A
-- by thumbprint, its claims are the ones Entra wants.
SELECT status,
       form->>'client_assertion_type' AS assertion_type,
       form ? 'client_secret' AS sent_secret,
       form->'client_assertion'->'header'->>'alg' AS alg,
       form->'client_assertion'->'header'->>'typ' AS typ,
       form->'client_assertion'->'header'->>'x5t' =
         b64url(decode(replace(btrim(pg_read_file(cert_file('a.sha1')), E'\n '), ':', ''), 'hex')) AS x5t_is_a,
       form->'client_assertion'->'header'->>'x5t#S256' =
         b64url(sha256(pem_der(pg_read_file(cert_file('a.crt'))))) AS x5t_s256_is_a,
       form->'client_assertion'->'claims'->>'aud' = current_setting('defender_test.emulator_url')
         || '/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token' AS aud_is_token_endpoint,
       form->'client_assertion'->'claims'->>'iss' AS iss,
       form->'client_assertion'->'claims'->>'sub' AS sub,
       (form->'client_assertion'->'claims'->>'exp')::bigint
         - (form->'client_assertion'->'claims'->>'nbf')::bigint AS lifetime_s,
       form->'client_assertion'->'claims'->>'iat' = form->'client_assertion'->'claims'->>'nbf' AS iat_is_nbf,
       abs((form->'client_assertion'->'claims'->>'nbf')::bigint - extract(epoch FROM now())) < 60 AS nbf_is_now,
       form->'client_assertion'->'claims'->>'jti' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS jti_is_guid
FROM token_requests();

-- With the right thumbprint (as the portal shows it, or with colons) it
-- works; the change drops the cached token, and the new assertion has a
-- new jti.
SELECT lower(btrim(pg_read_file(cert_file('a.sha1')), E'\n ')) AS a_thumbprint \gset
ALTER USER MAPPING FOR CURRENT_USER SERVER certs
  OPTIONS (ADD certificate_thumbprint :'a_thumbprint');
SELECT count(*) > 0 AS rows FROM cert_incidents;
SELECT count(*) AS token_requests,
       count(DISTINCT form->'client_assertion'->'claims'->>'jti') AS distinct_jti,
       bool_and(status = 200) AS all_accepted
FROM token_requests();

-- A thumbprint that names another certificate fails before any request.
SELECT emulator_reset();
ALTER USER MAPPING FOR CURRENT_USER SERVER certs
  OPTIONS (SET certificate_thumbprint '0000000000000000000000000000000000000000');
SELECT show_cert_error('SELECT count(*) FROM cert_incidents');
SELECT count(*) AS requests_sent FROM emulator_requests();

--
-- Certificate B, key in a separate file
--
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111',
                      certificate_file '$CERTS/b.crt', private_key_file '$CERTS/b.key'$$);
SELECT count(*) > 0 AS rows FROM cert_incidents;
SELECT status, form->'client_assertion'->'header'->>'x5t#S256' =
         b64url(sha256(pem_der(pg_read_file(cert_file('b.crt'))))) AS x5t_s256_is_b
FROM token_requests();

--
-- What goes wrong
--
SELECT emulator_reset();
-- a key that does not belong to the certificate: found before any request
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111',
                      certificate_file '$CERTS/b.crt', private_key_file '$CERTS/a.pem'$$);
SELECT show_cert_error('SELECT count(*) FROM cert_incidents');
-- a key file others can read is refused, like PostgreSQL's own ssl_key_file
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111', certificate_file '$CERTS/loose.pem'$$);
SELECT show_cert_error('SELECT count(*) FROM cert_incidents');
-- a file that is not there
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111', certificate_file '$CERTS/none.pem'$$);
SELECT show_cert_error('SELECT count(*) FROM cert_incidents');
-- a file that is not a certificate
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111', certificate_file '$CERTS/b.key'$$);
SELECT show_cert_error('SELECT count(*) FROM cert_incidents');
SELECT count(*) AS requests_sent FROM emulator_requests();
-- a certificate the application does not know: Entra's AADSTS700027
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111', certificate_file '$CERTS/c.pem'$$);
SELECT show_cert_error('SELECT count(*) FROM cert_incidents');
SELECT status, form->>'client_assertion_type' IS NOT NULL AS sent_assertion FROM token_requests();
-- a registered certificate, but on behalf of another application
SELECT cert_mapping($$client_id '22222222-2222-2222-2222-222222222222', certificate_file '$CERTS/a.pem'$$);
SELECT show_cert_error('SELECT count(*) FROM cert_incidents');

--
-- Exactly one credential method per mapping, checked at CREATE/ALTER
--
SELECT show_cert_error($$SELECT cert_mapping('client_id ''x'', client_secret ''s'', certificate_file ''$CERTS/a.pem''')$$);
SELECT show_cert_error($$SELECT cert_mapping('auth ''managed_identity'', client_secret ''s''')$$);
SELECT show_cert_error($$SELECT cert_mapping('auth ''managed_identity'', certificate_file ''$CERTS/a.pem''')$$);
SELECT show_cert_error($$SELECT cert_mapping('auth ''certificate'', client_secret ''s''')$$);
SELECT show_cert_error($$SELECT cert_mapping('auth ''certificate'', client_id ''x''')$$);
SELECT show_cert_error($$SELECT cert_mapping('auth ''password''')$$);
SELECT show_cert_error($$SELECT cert_mapping('client_id ''x'', private_key_file ''$CERTS/b.key''')$$);
SELECT show_cert_error($$SELECT cert_mapping('client_id ''x'', certificate_file ''a.pem''')$$);
SELECT show_cert_error($$SELECT cert_mapping('client_id ''x'', certificate_file ''$CERTS/a.pem'', certificate_thumbprint ''abc''')$$);
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111', certificate_file '$CERTS/a.pem'$$);
SELECT show_cert_error($$ALTER USER MAPPING FOR CURRENT_USER SERVER certs OPTIONS (ADD client_secret 'test-secret-value')$$);
-- a certificate mapping without client_id is refused at use
SELECT cert_mapping($$certificate_file '$CERTS/a.pem'$$);
SELECT show_cert_error('SELECT count(*) FROM cert_incidents');

-- certificate_file and private_key_file are for superusers: the server's
-- OS user reads the file.
CREATE ROLE cert_user;
GRANT USAGE ON FOREIGN SERVER certs TO cert_user;
GRANT SELECT ON cert_incidents TO cert_user;
SET ROLE cert_user;
SELECT show_cert_error($$CREATE USER MAPPING FOR cert_user SERVER certs OPTIONS (client_id 'x', certificate_file '/etc/ssl/private/key.pem')$$);
RESET ROLE;

-- The token cache never shares a token between credentials: the same
-- application with a certificate (this user) and a secret (cert_user)
-- makes two token requests, each with its own credential.
SELECT emulator_reset();
SELECT cert_mapping($$client_id '11111111-1111-1111-1111-111111111111', certificate_file '$CERTS/a.pem'$$);
CREATE USER MAPPING FOR cert_user SERVER certs
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
SELECT count(*) > 0 AS rows FROM cert_incidents;
SET ROLE cert_user;
SELECT count(*) > 0 AS rows FROM cert_incidents;
RESET ROLE;
SELECT count(*) > 0 AS rows FROM cert_incidents;
SELECT seq, status, form ? 'client_assertion' AS assertion, form ? 'client_secret' AS secret
FROM token_requests() ORDER BY seq;

--
-- Managed identity: tokens from the instance metadata service
--
SELECT emulator_reset();
DO $$
BEGIN
  EXECUTE format('CREATE SERVER mi FOREIGN DATA WRAPPER defender_fdw OPTIONS (
                    tenant_id %L, login_url %L, graph_url %L, mde_url %L,
                    managed_identity_url %L, max_retries %L, client_id %L)',
                 '00000000-0000-0000-0000-000000000001',
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url'),
                 current_setting('defender_test.emulator_url') || '/mde',
                 current_setting('defender_test.emulator_url') || '/metadata/identity/oauth2/token', '0',
                 '11111111-1111-1111-1111-111111111111');
END
$$;
CREATE FOREIGN TABLE mi_incidents (id text, status text) SERVER mi OPTIONS (resource 'incidents');

-- system-assigned identity: no client_id (the server's names an app
-- registration, not an identity), no secret, no Entra request
CREATE USER MAPPING FOR CURRENT_USER SERVER mi OPTIONS (auth 'managed_identity');
SELECT count(*) = (SELECT count(*) FROM emulator_incidents()) AS all_rows FROM mi_incidents;
SELECT r->>'method' AS method, r->>'path' AS path,
       (r->'query') - 'resource' AS query,
       r->'query'->>'resource' = current_setting('defender_test.emulator_url') AS resource_is_graph_url,
       r->'headers'->>'metadata' AS metadata_header, r->>'status' AS status
FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
WHERE r->>'path' NOT LIKE '/v1.0/%';
SELECT count(*) AS entra_requests FROM token_requests();
-- the MDE API gets its own token, for the resource mde_url
SELECT count(*) > 0 AS domains FROM defender_alert_domains('da638900878583184656_-1779498055', 'mde', 'mi');
SELECT r->'query'->>'resource' = current_setting('defender_test.emulator_url') || '/mde' AS resource_is_mde_url
FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
WHERE r->>'path' LIKE '/metadata/%' ORDER BY (r->>'seq')::int DESC LIMIT 1;

-- user-assigned identity: its client_id goes along
SELECT emulator_reset();
ALTER USER MAPPING FOR CURRENT_USER SERVER mi OPTIONS (ADD client_id '44444444-4444-4444-4444-444444444444');
SELECT count(*) > 0 AS rows FROM mi_incidents;
SELECT r->'query'->>'client_id' AS client_id, r->>'status' AS status
FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
WHERE r->>'path' LIKE '/metadata/%';

-- an identity the VM does not have
ALTER USER MAPPING FOR CURRENT_USER SERVER mi OPTIONS (SET client_id '99999999-9999-9999-9999-999999999999');
SELECT show_cert_error('SELECT count(*) FROM mi_incidents');

-- not on Azure: nothing answers at the metadata address
ALTER USER MAPPING FOR CURRENT_USER SERVER mi OPTIONS (DROP client_id);
ALTER SERVER mi OPTIONS (SET managed_identity_url 'http://127.0.0.1:1/metadata/identity/oauth2/token');
SELECT show_cert_error('SELECT count(*) FROM mi_incidents');

-- The default endpoint is IMDS's link-local address.
SELECT managed_identity_url FROM defender_endpoints('certs');

DROP USER MAPPING FOR cert_user SERVER certs;
DROP OWNED BY cert_user;
DROP ROLE cert_user;
DROP SERVER certs CASCADE;
DROP SERVER mi CASCADE;
