/* defender_fdw--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION defender_fdw UPDATE TO '1.2'" to load this file. \quit

-- Version 1.2 keeps every object of 1.1 as it is and adds:

-- An ad-hoc KQL query read in exact time windows on a datetime column of
-- its result when its answer is past runHuntingQuery's caps (100,000 rows,
-- about 50 MB), as a split hunting table is (see doc/hunting.md):
--   SELECT * FROM defender_hunt_split('DeviceNetworkEvents', 'Timestamp', interval '7 days')
--     AS t(timestamp timestamptz, report_id bigint);
CREATE FUNCTION defender_hunt_split(query text, time_column text,
                                    timespan interval DEFAULT NULL,
                                    server name DEFAULT 'defender')
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'defender_hunt_split'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_hunt_split(text, text, interval, name) IS
  'Run a KQL advanced-hunting query, in time windows on time_column past the service''s caps; columns match result columns by name, ignoring case and underscores';

CREATE FUNCTION defender_hunt_split_jsonb(query text, time_column text,
                                          timespan interval DEFAULT NULL,
                                          server name DEFAULT 'defender')
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'defender_hunt_split_jsonb'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION defender_hunt_split_jsonb(text, text, interval, name) IS
  'Run a KQL advanced-hunting query, in time windows on time_column past the service''s caps; one jsonb object per result row';
