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
