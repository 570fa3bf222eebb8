/* defender_fdw--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION defender_fdw UPDATE TO '1.1'" to load this file. \quit

-- Version 1.1 keeps every object of 1.0 as it is (the library still works
-- through 1.0's definitions; see src/version.c) and adds:

-- Which library is loaded and which version of these SQL objects this
-- database has: after a package upgrade the library is new at once, the
-- objects only after ALTER EXTENSION defender_fdw UPDATE.
CREATE FUNCTION defender_fdw_version(OUT library_version text,
                                     OUT extension_version text)
AS 'MODULE_PATHNAME', 'defender_fdw_version'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION defender_fdw_version() IS
  'The loaded defender_fdw library''s version, and the version of the extension installed in this database';
