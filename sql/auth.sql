--
-- auth: OAuth2 client credentials against the emulator's token endpoint
--
SELECT emulator_reset('{"incidents": 130, "seed": 1}');

-- The first scan asks for a token, then reads; the log shows the grant
-- (with the secret redacted by the emulator) and the bearer request.
SELECT count(id) FROM incidents;
SELECT method, regexp_replace(target, '[0-9a-f-]{36}', '<tenant>') AS target, status,
       body->>'grant_type' AS grant_type, body->>'client_id' AS client_id,
       replace(body->>'scope', current_setting('defender_test.emulator_url'), '<emulator>') AS scope
FROM emulator_requests() WHERE seq = 1;

-- The token is cached: a second scan makes no token request.
SELECT count(id) FROM incidents;
SELECT count(*) FILTER (WHERE target LIKE '%/oauth2/v2.0/token') AS token_requests,
       count(*) FILTER (WHERE target LIKE '/v1.0/security/incidents%') AS graph_requests
FROM emulator_requests();

-- Every Graph request carries the user agent and a fresh client-request-id.
SELECT count(DISTINCT r->'headers'->>'client-request-id') AS distinct_request_ids,
       count(*) AS requests,
       min(r->'headers'->>'user-agent') AS user_agent,
       bool_and(r->>'token_ok' = 'true') AS all_tokens_accepted
FROM jsonb_array_elements(emulator('GET', '/_emulator/requests')->'requests') AS r
WHERE r->>'path' LIKE '/v1.0/%';

-- A token Graph no longer accepts (expired or revoked) is refreshed once
-- and the scan carries on: 401, a new token, then the pages.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
SELECT emulator('POST', '/_emulator/revoke_tokens');
SELECT count(id) FROM incidents;
SELECT seq, method, regexp_replace(regexp_replace(target, '[0-9a-f-]{36}', '<tenant>'),
                                  'skiptoken=[^&]*', 'skiptoken=<opaque>') AS target, status
FROM emulator_requests();

-- Changing the user mapping drops the cached token.
SELECT emulator_reset('{"incidents": 130, "seed": 1}');
ALTER USER MAPPING FOR CURRENT_USER SERVER defender OPTIONS (SET client_secret 'test-secret-value');
SELECT count(id) FROM incidents;
SELECT count(*) FILTER (WHERE target LIKE '%/oauth2/v2.0/token') AS token_requests
FROM emulator_requests();

-- A token is renewed before it expires, without waiting for a 401.
SELECT emulator_reset('{"incidents": 10, "seed": 1, "token_lifetime": 2}');
ALTER USER MAPPING FOR CURRENT_USER SERVER defender OPTIONS (SET client_secret 'test-secret-value');
SELECT count(id) FROM incidents;
SELECT pg_sleep(1.2);
SELECT count(id) FROM incidents;
SELECT method, status FROM emulator_requests() WHERE target LIKE '%/oauth2/v2.0/token';
SELECT count(*) AS unauthorized FROM emulator_requests() WHERE status = 401;

-- Entra's errors: the AADSTS code, Entra's own words, and what to do.
-- None of them shows the secret.
SELECT emulator_reset('{"incidents": 10, "seed": 1}');
ALTER USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (SET client_secret 'a-wrong-secret-value');
SELECT show_error('SELECT * FROM incidents');
SELECT count(*) AS secret_in_error
FROM show_error('SELECT * FROM incidents') AS e WHERE e LIKE '%a-wrong-secret-value%';
-- nothing was asked of Graph without a token
SELECT count(*) AS graph_requests FROM emulator_requests() WHERE target LIKE '/v1.0/%';

-- an expired secret
ALTER USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (SET client_id '22222222-2222-2222-2222-222222222222', SET client_secret 'expired-secret-value');
SELECT show_error('SELECT * FROM incidents');

-- an application the tenant does not know
ALTER USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (SET client_id '99999999-9999-9999-9999-999999999999', SET client_secret 'test-secret-value');
SELECT show_error('SELECT * FROM incidents');

-- a tenant Entra does not know
ALTER USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (SET client_id '11111111-1111-1111-1111-111111111111');
ALTER SERVER defender OPTIONS (SET tenant_id '00000000-0000-0000-0000-00000000dead');
SELECT show_error('SELECT * FROM incidents');
ALTER SERVER defender OPTIONS (SET tenant_id '00000000-0000-0000-0000-000000000001');

-- the token endpoint failing: retried, then a clear error
ALTER SERVER defender OPTIONS (ADD max_retries '1');
SELECT emulator_fault('{"match": "/oauth2/v2.0/token", "kind": "status", "status": 503, "retry_after": 0, "times": 2}');
SELECT show_error('SELECT * FROM incidents');
SELECT method, status FROM emulator_requests() WHERE target LIKE '%/oauth2/v2.0/token';
ALTER SERVER defender OPTIONS (DROP max_retries);

-- back to working credentials
SELECT count(id) FROM incidents;
