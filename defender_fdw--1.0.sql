/* defender_fdw--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION defender_fdw" to load this file. \quit

CREATE FUNCTION defender_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION defender_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER defender_fdw
  HANDLER defender_fdw_handler
  VALIDATOR defender_fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER defender_fdw IS
  'Microsoft Defender XDR (incidents, alerts, advanced hunting) through Microsoft Graph';

-- Advanced hunting with the caller's own KQL.  Each call is one
-- POST /security/runHuntingQuery with the caller's user mapping on the
-- server (USAGE on the server is required).  timespan is an ISO 8601
-- duration or interval ('P7D', '2024-01-01T00:00:00Z/P1D'); NULL means the
-- server's timespan option, else the API's default (30 days).  The
-- functions only read, so EXECUTE stays granted to PUBLIC.
--
--   SELECT * FROM defender_hunt('DeviceProcessEvents | take 10')
--     AS t(timestamp timestamptz, device_name text);
CREATE FUNCTION defender_hunt(query text, timespan text DEFAULT NULL,
                              server name DEFAULT 'defender')
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'defender_hunt'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_hunt(text, text, name) IS
  'Run a KQL advanced-hunting query; columns match result columns by name, ignoring case and underscores';

CREATE FUNCTION defender_hunt_jsonb(query text, timespan text DEFAULT NULL,
                                    server name DEFAULT 'defender')
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'defender_hunt_jsonb'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_hunt_jsonb(text, text, name) IS
  'Run a KQL advanced-hunting query; one jsonb object per result row';

-- The opt-in response cache (option cache_ttl, src/response_cache.c) is
-- per backend; this empties it and returns how many answers it held.
CREATE FUNCTION defender_cache_clear()
RETURNS bigint
AS 'MODULE_PATHNAME', 'defender_cache_clear'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_cache_clear() IS
  'Empty this session''s defender_fdw response cache (option cache_ttl); returns the number of cached answers dropped';

-- Actions: change incidents and alerts, comment, read incidents, list an
-- alert's domains, and send any request to Graph or the Defender for
-- Endpoint API (src/actions.c).  Each call uses the caller's user mapping
-- on the server (USAGE on the server is required).  Arguments are checked
-- before anything is sent; NULL property arguments mean "leave unchanged".
--
--   SELECT defender_update_incident('29', status => 'resolved',
--                                   classification => 'truePositive');
CREATE FUNCTION defender_update_incident(incident_id text,
                                         status text DEFAULT NULL,
                                         assigned_to text DEFAULT NULL,
                                         classification text DEFAULT NULL,
                                         determination text DEFAULT NULL,
                                         description text DEFAULT NULL,
                                         resolving_comment text DEFAULT NULL,
                                         severity text DEFAULT NULL,
                                         display_name text DEFAULT NULL,
                                         summary text DEFAULT NULL,
                                         custom_tags text[] DEFAULT NULL,
                                         server name DEFAULT 'defender')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'defender_update_incident'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name) IS
  'PATCH an incident with the non-NULL arguments; returns the updated incident';

CREATE FUNCTION defender_update_alert(alert_id text,
                                      status text DEFAULT NULL,
                                      classification text DEFAULT NULL,
                                      determination text DEFAULT NULL,
                                      assigned_to text DEFAULT NULL,
                                      server name DEFAULT 'defender')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'defender_update_alert'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_update_alert(text, text, text, text, text, name) IS
  'PATCH an alerts_v2 alert with the non-NULL arguments; returns the updated alert';

CREATE FUNCTION defender_add_incident_comment(incident_id text, comment text,
                                              server name DEFAULT 'defender')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'defender_add_incident_comment'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_add_incident_comment(text, text, name) IS
  'Add a comment to an incident; returns its comments';

CREATE FUNCTION defender_add_alert_comment(alert_id text, comment text,
                                           server name DEFAULT 'defender')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'defender_add_alert_comment'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_add_alert_comment(text, text, name) IS
  'Add a comment to an alerts_v2 alert; returns its comments';

CREATE FUNCTION defender_get_incident(incident_id text, server name DEFAULT 'defender')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'defender_get_incident'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_get_incident(text, name) IS
  'One incident as jsonb, or NULL when Graph does not know the id';

CREATE FUNCTION defender_list_incidents(filter text DEFAULT NULL,
                                        max_results int DEFAULT 50,
                                        skip int DEFAULT 0,
                                        count boolean DEFAULT false,
                                        expand text DEFAULT NULL,
                                        server name DEFAULT 'defender')
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'defender_list_incidents'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_list_incidents(text, int, int, boolean, text, name) IS
  'Incidents matching an OData $filter, up to max_results (NULL: all), paging transparently';

CREATE FUNCTION defender_alert_domains(alert_id text, source text DEFAULT 'mde',
                                       server name DEFAULT 'defender')
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'defender_alert_domains'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_alert_domains(text, text, name) IS
  'Domains of an alert: from the Defender for Endpoint API (source mde) or the alert''s URL and DNS evidence (source graph)';

CREATE FUNCTION defender_request(method text, endpoint text,
                                 payload jsonb DEFAULT NULL,
                                 query_params jsonb DEFAULT NULL,
                                 extra_fields jsonb DEFAULT NULL,
                                 server name DEFAULT 'defender')
RETURNS TABLE (status int, headers jsonb, body jsonb, body_text text)
AS 'MODULE_PATHNAME', 'defender_request'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_request(text, text, jsonb, jsonb, jsonb, name) IS
  'Send any request to Graph or the Defender for Endpoint API; HTTP errors are returned, not raised';

CREATE FUNCTION defender_endpoints(server name DEFAULT 'defender',
                                   OUT cloud text, OUT login_url text, OUT graph_url text,
                                   OUT mde_url text, OUT managed_identity_url text,
                                   OUT proxy text)
AS 'MODULE_PATHNAME', 'defender_endpoints'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION defender_endpoints(name) IS
  'Where a server''s requests go: its cloud and the URLs after options override it (sends nothing)';

-- The functions that change something in Defender are not for everyone:
-- GRANT EXECUTE to the roles that triage.  Reading stays open like SELECT
-- on a foreign table (every call still needs a user mapping).
REVOKE EXECUTE ON FUNCTION defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION defender_update_alert(text, text, text, text, text, name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION defender_add_incident_comment(text, text, name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION defender_add_alert_comment(text, text, name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION defender_request(text, text, jsonb, jsonb, jsonb, name) FROM PUBLIC;
