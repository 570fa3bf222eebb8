/*-------------------------------------------------------------------------
 *
 * defender_fdw.h
 *		  Declarations shared by every PostgreSQL-side layer of defender_fdw.
 *
 * The layers of defender_fdw, one folder each under src/, from the top
 * (called by PostgreSQL) to the bottom (calls only libraries):
 *
 *	defender_fdw.c	the FDW handler and callbacks, each handing its work
 *					to src/plan/ or src/scan/
 *	src/import/		IMPORT FOREIGN SCHEMA (called by defender_fdw.c only)
 *	src/functions/	the SQL functions: write actions, read functions,
 *					defender_request(), defender_hunt(), the version
 *	src/scan/		the executor, where responses become rows: the scan
 *					callbacks' work, the list and hunting scans behind one
 *					row-source interface, JSON to Datums, UPDATE's PATCH
 *					per row
 *	src/plan/		the planner: which conditions go remote (shippable.c),
 *					the paths and their costs, the plan handed to the
 *					executor, and the writers of the request: OData and KQL
 *	src/options/	the options: validator, the options of a scan or a
 *					function, the server a function names
 *	src/remote/		the PostgreSQL side of talking to Graph and the MDE
 *					API: requests, retries, errors, tokens, paging, cache
 *	src/json/		JSON read by an incremental scanner: hunting answers'
 *					events, list pages and entities as jansson trees
 *	src/catalog/	the Graph resources and the hunting schema: data only
 *	src/client/		libcurl, OpenSSL and jansson; no PostgreSQL header
 *
 * A folder calls only the folders listed below it (no cycle, between
 * folders or between files; test/checks/no_call_cycles.py checks it).
 * Each folder that others call has one header, defender_<folder>.h,
 * included by name (src/functions/ is reached through fmgr only, and
 * src/client/ has defender_client.h); this one holds what every
 * PostgreSQL-side layer shares: the version, the options a scan or a
 * function talks to Graph with, and the entry points of src/options/ and
 * src/import/.
 *
 * src/defender_fdw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_FDW_H
#define DEFENDER_FDW_H

#include "access/attnum.h"
#include "nodes/pg_list.h"

#define DEFENDER_FDW_VERSION "1.2"
#define DEFENDER_USER_AGENT "defender_fdw/" DEFENDER_FDW_VERSION

/*
 * Everything a scan or a function needs to talk to Graph, merged from the
 * server, the user mapping and (for scans) the foreign table.  Strings are
 * palloc'd in the memory context current when the options were read.
 */
/* How a user mapping authenticates: exactly one method per mapping. */
typedef enum DefenderAuthMethod
{
	DEFENDER_AUTH_CLIENT_SECRET,	/* client_id + client_secret */
	DEFENDER_AUTH_CERTIFICATE,	/* client_id + certificate_file (+ private_key_file) */
	DEFENDER_AUTH_MANAGED_IDENTITY	/* auth 'managed_identity' (+ client_id) */
} DefenderAuthMethod;

typedef struct DefenderOptions
{
	Oid			serverid;
	char	   *servername;
	Oid			userid;			/* whose user mapping */

	/* server */
	char	   *tenant_id;
	char	   *login_url;		/* without trailing slash */
	char	   *graph_url;		/* without trailing slash */
	char	   *mde_url;		/* without trailing slash */
	char	   *api_version;
	int			timeout;		/* seconds */
	bool		verify_ssl;
	char	   *ca_file;
	int			max_retries;
	int			max_response_mb;
	int			parallel_pages; /* list pages in flight at once (server or table) */
	int			cache_ttl;		/* seconds a response is reused; 0: never */
	char	   *cloud;			/* global, usgov or dod: default URLs */
	char	   *managed_identity_url;	/* the IMDS token endpoint */
	bool		allow_managed_identity; /* non-superusers may use auth
										 * 'managed_identity' (superuser's choice) */
	char	   *proxy;			/* NULL: none set; "": never a proxy */
	int			hunting_quota;	/* hunting calls per quota_window; 0: no pacing */
	int			graph_quota;	/* other /security calls per quota_window; 0: none */
	int			quota_window;	/* seconds */

	/* user mapping (client_id may come from the server) */
	DefenderAuthMethod auth;
	char	   *client_id;
	char	   *client_secret;
	char	   *client_secret_file; /* the secret is this file's content */
	char	   *certificate_file;
	char	   *private_key_file;	/* NULL: the key is in certificate_file */
	char	   *certificate_thumbprint;
	char	   *proxy_user;
	char	   *proxy_password;
	char	   *proxy_password_file;	/* the password is this file's content */

	/* foreign table */
	char	   *resource;
	int			page_size;		/* 0: the resource's default */
	bool		pushdown;		/* server or table option "pushdown" */
	bool		async_capable;	/* server or table option: scans may run
								 * concurrently in an Append (PG 14+) */
	int			request_latency;	/* ms a round trip to Graph is costed at
									 * (server or table option) */
	bool		use_remote_estimate;	/* ask Graph for $count at plan time
										 * (server or table option) */

	/* advanced hunting (resource 'hunting') */
	char	   *hunting_table;	/* table option "table", or NULL */
	char	   *hunting_query;	/* table option "query", or NULL */
	char	   *timespan;		/* ISO 8601 Timespan, or NULL for the API's 30 days */
	bool		hunting_split;	/* split a result past the caps into windows */
	int64		hunting_window; /* window width in 100 ns ticks, 0: planned */
	int			hunting_max_windows;	/* most windows one scan sends */
	int			hunting_max_rows;	/* the service's row cap */
	char	   *time_column;	/* the column windows split on */
} DefenderOptions;

/* defender_fdw.c */
extern bool defender_enable_pushdown;	/* GUC defender_fdw.enable_pushdown */

/* option.c */
extern DefenderOptions *defender_get_options(Oid foreigntableid, Oid serverid,
											 Oid userid, bool need_credentials);
extern char *defender_column_property(Oid relid, AttrNumber attnum);
struct ForeignServer;
extern struct ForeignServer *defender_function_server(const char *servername);

/* import.c */
struct ImportForeignSchemaStmt;
extern List *defender_import_schema(struct ImportForeignSchemaStmt *stmt, Oid serverOid);

#endif							/* DEFENDER_FDW_H */
