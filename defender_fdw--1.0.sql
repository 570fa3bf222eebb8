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
