/*-------------------------------------------------------------------------
 *
 * defender_fdw.h
 *		  Declarations shared by defender_fdw's PostgreSQL-side modules.
 *
 * Who does what:
 *	defender_fdw.c		FDW callbacks: plan, scan, EXPLAIN
 *	src/option.c		option table, validator, options for a scan
 *	src/graph_catalog.c	the Graph resources and their properties
 *	src/deparse.c		writes the remote request for a scan
 *	src/connection.c	sends a request: handle, waits, retries, errors
 *	src/auth.c			OAuth2 tokens: request, cache, Entra errors
 *	src/pager.c			walks @odata.nextLink pages of a collection
 *	src/convert.c		JSON values to Datums by column type
 *	src/defender_client.c	libcurl and jansson, no PostgreSQL headers
 *
 * src/defender_fdw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_FDW_H
#define DEFENDER_FDW_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"
#include "utils/relcache.h"

#include "defender_client.h"

#define DEFENDER_FDW_VERSION "1.0"
#define DEFENDER_USER_AGENT "defender_fdw/" DEFENDER_FDW_VERSION

/*
 * Everything a scan or a function needs to talk to Graph, merged from the
 * server, the user mapping and (for scans) the foreign table.  Strings are
 * palloc'd in the memory context current when the options were read.
 */
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

	/* user mapping (client_id may come from the server) */
	char	   *client_id;
	char	   *client_secret;

	/* foreign table */
	char	   *resource;
	int			page_size;		/* 0: the resource's maximum */
} DefenderOptions;

/* option.c */
extern DefenderOptions *defender_get_options(Oid foreigntableid, Oid serverid,
											 Oid userid, bool need_credentials);
extern char *defender_column_property(Oid relid, AttrNumber attnum);

/* graph_catalog.c */
typedef struct GraphProperty
{
	const char *name;			/* Graph's JSON name, e.g. createdDateTime */
	const char *pgtype;			/* column type IMPORT FOREIGN SCHEMA uses */
	bool		filterable;		/* documented as supporting $filter */
} GraphProperty;

typedef struct GraphResource
{
	const char *name;			/* the resource option, e.g. incidents */
	const char *path;			/* below /{api_version}/ */
	int			max_page_size;	/* largest $top Graph accepts */
	const GraphProperty *properties;	/* terminated by a NULL name */
} GraphResource;

extern const GraphResource *graph_find_resource(const char *name);
extern const char *graph_resource_names(void);
extern const GraphProperty *graph_match_property(const GraphResource *resource,
												 const char *column_name);
extern void graph_normalize_name(const char *name, char *out, size_t outsize);

/* deparse.c */
extern char *defender_deparse_list_request(const DefenderOptions *opts,
										   const GraphResource *resource);

/* connection.c */
#define DEFENDER_ALLOW_NOT_FOUND	0x01	/* return a 404 instead of raising */

/*
 * One response handed back to a caller.  body is malloc'd by the client;
 * it is freed when the memory context the response was created in is
 * reset or deleted, including on error, or earlier by
 * defender_response_release().
 */
typedef struct DefenderResponse
{
	DfwHttpResponse http;
	MemoryContextCallback free_body;
} DefenderResponse;

extern DefenderResponse *defender_api_request(const DefenderOptions *opts,
											  const char *audience,
											  const char *method,
											  const char *url,
											  const char *display,
											  const char *body,
											  int flags);
extern DefenderResponse *defender_http_send(const DefenderOptions *opts,
											const char *method,
											const char *url,
											const char *display,
											const char *const *headers,
											const char *body, size_t body_len,
											bool idempotent);
extern void defender_response_release(DefenderResponse *response);
extern void defender_sleep_ms(long ms);
extern char *defender_redact(const DefenderOptions *opts, const char *text);
extern char *defender_url_encode(const char *text);
extern void defender_connection_init(void);

/* auth.c */
extern const char *defender_get_token(const DefenderOptions *opts,
									  const char *resource_url,
									  bool force_refresh);
extern void defender_forget_token(const DefenderOptions *opts,
								  const char *resource_url);
extern void defender_auth_init(void);

/* pager.c */
struct json_t;
typedef struct DefenderPager DefenderPager;

extern DefenderPager *defender_pager_begin(const DefenderOptions *opts,
										   const char *first_url,
										   const char *display,
										   MemoryContext page_cxt);
extern struct json_t *defender_pager_next(DefenderPager *pager);
extern void defender_pager_rewind(DefenderPager *pager);

/* convert.c */
typedef struct DefenderColumn
{
	AttrNumber	attnum;
	char	   *name;			/* column name, for error messages */
	char	   *property;		/* exact JSON key, or NULL to match loosely */
	char		match_key[NAMEDATALEN]; /* lower case, no underscores */
	Oid			typid;
	int32		typmod;
	bool		is_json;		/* json or jsonb: take the raw JSON */
	bool		is_array;
	char		category;		/* typcategory of the type or element */
	Oid			elemtype;		/* for arrays */
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	FmgrInfo	input;			/* input function of the type or element */
	Oid			ioparam;
} DefenderColumn;

extern void defender_column_init(DefenderColumn *col, Relation rel,
								 AttrNumber attnum,
								 const GraphResource *resource);
extern struct json_t *defender_column_lookup(DefenderColumn *col,
											 struct json_t *object);
extern Datum defender_json_to_datum(DefenderColumn *col, struct json_t *value,
									bool *isnull);

#endif							/* DEFENDER_FDW_H */
