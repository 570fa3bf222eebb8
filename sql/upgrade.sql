--
-- upgrade: a database created at version 1.0, with servers, user mappings,
-- foreign tables, grants and a view, keeps all of them through ALTER
-- EXTENSION defender_fdw UPDATE (1.0 to 1.1 to 1.2), and its extension
-- objects then equal a fresh install's; so do those of a database created
-- at 1.1.  Runs in three databases of its own.
--
\set regress_db :DBNAME

-- This database has the default version; the library is the same version.
SELECT v.library_version, v.extension_version,
       v.library_version = e.default_version AS library_is_default_version
FROM defender_fdw_version() AS v, pg_available_extensions AS e
WHERE e.name = 'defender_fdw';

-- The extension's objects, with everything an upgrade could change: the
-- definition, the comment, the privileges now and those the scripts set.
SELECT $q$
  SELECT pg_describe_object(d.classid, d.objid, 0) AS object,
         CASE d.classid
           WHEN 'pg_proc'::regclass THEN
             pg_get_functiondef(d.objid) || ' ACL ' || coalesce(p.proacl::text, 'default')
           WHEN 'pg_foreign_data_wrapper'::regclass THEN
             format('HANDLER %s VALIDATOR %s OPTIONS %s ACL %s', w.fdwhandler::regproc,
                    w.fdwvalidator::regproc, coalesce(w.fdwoptions::text, 'none'),
                    coalesce(w.fdwacl::text, 'default'))
           ELSE 'unexpected member'
         END AS definition,
         coalesce(obj_description(d.objid, d.classid::regclass::name), 'no comment') AS comment,
         coalesce(i.initprivs::text, 'none') AS initial_privileges
  FROM pg_depend AS d
  LEFT JOIN pg_proc AS p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
  LEFT JOIN pg_foreign_data_wrapper AS w
         ON d.classid = 'pg_foreign_data_wrapper'::regclass AND w.oid = d.objid
  LEFT JOIN pg_init_privs AS i ON i.classoid = d.classid AND i.objoid = d.objid AND i.objsubid = 0
  WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
    AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'defender_fdw')
  UNION ALL
  SELECT 'extension defender_fdw',
         format('version %s, schema %s, relocatable %s, configuration %s',
                extversion, extnamespace::regnamespace, extrelocatable,
                coalesce(extconfig::text, 'none')),
         'no comment', 'none'
  FROM pg_extension WHERE extname = 'defender_fdw'
$q$ AS members_query \gset

-- The user's objects that depend on the extension, with their options
-- (names only: a user mapping's values are secrets) and privileges.
SELECT $q$
  SELECT 'server ' || srvname || ' options ' || array_to_string(srvoptions, ',')
         || ' acl ' || coalesce(srvacl::text, 'default')
  FROM pg_foreign_server
  UNION ALL
  SELECT format('user mapping for %s on %s, options %s', usename, srvname,
                (SELECT string_agg(split_part(o, '=', 1), ',' ORDER BY o) FROM unnest(umoptions) AS o))
  FROM pg_user_mappings
  UNION ALL
  SELECT format('%s %s options %s acl %s', CASE c.relkind WHEN 'f' THEN 'foreign table' ELSE 'view' END,
                c.oid::regclass, coalesce(array_to_string(t.ftoptions, ','), 'none'),
                coalesce(c.relacl::text, 'default'))
  FROM pg_class AS c LEFT JOIN pg_foreign_table AS t ON t.ftrelid = c.oid
  WHERE c.relkind IN ('f', 'v') AND c.relnamespace::regnamespace::text IN ('public', 'graph')
  UNION ALL
  SELECT format('column %s.%s %s options %s acl %s', a.attrelid::regclass, a.attname,
                format_type(a.atttypid, a.atttypmod), coalesce(array_to_string(a.attfdwoptions, ','), 'none'),
                coalesce(a.attacl::text, 'default'))
  FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
  WHERE c.relkind = 'f' AND c.relnamespace::regnamespace::text = 'public' AND a.attnum > 0
  UNION ALL
  SELECT 'view ' || c.oid::regclass || ' as ' || pg_get_viewdef(c.oid)
  FROM pg_class AS c WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT format('function %s acl %s', p.oid::regprocedure, coalesce(p.proacl::text, 'default'))
  FROM pg_proc AS p WHERE p.proname LIKE 'defender\_%' AND p.proacl::text LIKE '%upgrade\_%'
$q$ AS user_objects_query \gset

CREATE ROLE upgrade_reader;
CREATE ROLE upgrade_triage;

-- A database created at 1.0.
CREATE DATABASE upgrade_from_1_0;
\c upgrade_from_1_0
CREATE EXTENSION defender_fdw VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'defender_fdw';

-- What 1.1 adds cannot be reached from a 1.0 database.
SELECT to_regprocedure('defender_fdw_version()') AS version_function;

SELECT current_setting('defender_test.emulator_url') AS url,
       current_setting('defender_test.emulator_url') || '/mde' AS mde_url \gset
CREATE SERVER defender FOREIGN DATA WRAPPER defender_fdw
  OPTIONS (tenant_id '00000000-0000-0000-0000-000000000001', login_url :'url',
           graph_url :'url', mde_url :'mde_url', parallel_pages '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111',
           client_secret 'test-secret-value');
CREATE USER MAPPING FOR upgrade_reader SERVER defender
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111',
           client_secret 'test-secret-value');
GRANT USAGE ON FOREIGN SERVER defender TO upgrade_reader;

CREATE FOREIGN TABLE incidents (
  id text,
  title text OPTIONS (property 'displayName'),
  status text,
  severity text,
  created_date_time timestamptz
) SERVER defender OPTIONS (resource 'incidents', cache_ttl '0');
CREATE SCHEMA graph;
IMPORT FOREIGN SCHEMA graph LIMIT TO (alerts) FROM SERVER defender INTO graph;

CREATE VIEW open_incidents AS
  SELECT id, title, severity FROM incidents WHERE status = 'active';

GRANT SELECT ON open_incidents TO upgrade_reader;
GRANT SELECT ON incidents, graph.alerts TO upgrade_reader;
GRANT USAGE ON SCHEMA graph TO upgrade_reader;
GRANT SELECT (id, status), UPDATE (status) ON incidents TO upgrade_triage;
GRANT EXECUTE ON FUNCTION
  defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name)
  TO upgrade_triage;

-- The 1.1 library works through 1.0's definitions: a scan through the
-- view as the reader, a function, and the validator.
SET ROLE upgrade_reader;
SELECT count(*) AS open_incidents_at_1_0 FROM open_incidents;
RESET ROLE;
SELECT cloud, graph_url = current_setting('defender_test.emulator_url') AS graph_is_emulator
FROM defender_endpoints('defender');
SELECT defender_get_incident(min(id))->>'id' = min(id) AS lookup_works FROM open_incidents;
ALTER FOREIGN TABLE incidents OPTIONS (SET cache_ttl '5');
ALTER FOREIGN TABLE incidents OPTIONS (SET cache_ttl '0');

SELECT array_agg(o ORDER BY o) AS user_objects_before FROM (:user_objects_query) AS l(o) \gset

ALTER EXTENSION defender_fdw UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'defender_fdw';
SELECT library_version, extension_version FROM defender_fdw_version();

-- Every object and privilege is still there, unchanged.
SELECT count(*) AS user_objects,
       array_agg(o ORDER BY o) = :'user_objects_before'::text[] AS unchanged
FROM (:user_objects_query) AS l(o);
SELECT o AS changed FROM (:user_objects_query) AS l(o)
EXCEPT SELECT unnest(:'user_objects_before'::text[]);

-- and they work: the view as the reader, the granted column privileges
SET ROLE upgrade_reader;
SELECT count(*) AS open_incidents_updated FROM open_incidents;
SELECT count(*) > 0 AS alerts_readable FROM graph.alerts WHERE severity = 'high';
RESET ROLE;
SET ROLE upgrade_triage;
SELECT has_function_privilege('defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name)',
                              'EXECUTE') AS triage_may_update,
       has_column_privilege('incidents', 'status', 'UPDATE') AS status_updatable,
       has_column_privilege('incidents', 'severity', 'UPDATE') AS severity_updatable;
RESET ROLE;

-- The extension's objects after the upgrade ...
SELECT object FROM (:members_query) AS m ORDER BY 1;
SELECT array_agg(format('%s | %s | %s | %s', object, definition, comment, initial_privileges)
                 ORDER BY object) AS upgraded_members
FROM (:members_query) AS m \gset

-- ... equal a fresh install's (with the same GRANT by the user).
CREATE DATABASE upgrade_fresh;
\c upgrade_fresh
CREATE EXTENSION defender_fdw;
GRANT EXECUTE ON FUNCTION
  defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name)
  TO upgrade_triage;
SELECT count(*) AS members,
       array_agg(format('%s | %s | %s | %s', object, definition, comment, initial_privileges)
                 ORDER BY object) = :'upgraded_members'::text[] AS same_as_upgraded
FROM (:members_query) AS m;
(SELECT 'fresh only' AS side, format('%s | %s | %s | %s', object, definition, comment, initial_privileges) AS member
 FROM (:members_query) AS m
 EXCEPT SELECT 'fresh only', unnest(:'upgraded_members'::text[]))
UNION ALL
(SELECT 'upgraded only', unnest(:'upgraded_members'::text[])
 EXCEPT SELECT 'upgraded only', format('%s | %s | %s | %s', object, definition, comment, initial_privileges)
 FROM (:members_query) AS m);

-- A database created at 1.1: 1.2 adds defender_hunt_split() and its
-- jsonb variant, and nothing else changes.
CREATE DATABASE upgrade_from_1_1;
\c upgrade_from_1_1
CREATE EXTENSION defender_fdw VERSION '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'defender_fdw';
SELECT to_regprocedure('defender_hunt_split(text, text, interval, name)') AS split_function;
GRANT EXECUTE ON FUNCTION
  defender_update_incident(text, text, text, text, text, text, text, text, text, text, text[], name)
  TO upgrade_triage;
ALTER EXTENSION defender_fdw UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'defender_fdw';
SELECT count(*) AS members,
       array_agg(format('%s | %s | %s | %s', object, definition, comment, initial_privileges)
                 ORDER BY object) = :'upgraded_members'::text[] AS same_as_fresh
FROM (:members_query) AS m;

\c :regress_db
DROP DATABASE upgrade_from_1_0;
DROP DATABASE upgrade_fresh;
DROP DATABASE upgrade_from_1_1;
DROP ROLE upgrade_reader;
DROP ROLE upgrade_triage;
