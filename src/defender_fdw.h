/*-------------------------------------------------------------------------
 *
 * defender_fdw.h
 *		  Declarations shared by defender_fdw's PostgreSQL-side modules.
 *
 * Who does what:
 *	defender_fdw.c		FDW callbacks: plan, scan, EXPLAIN
 *	src/option.c		option table, validator, options for a scan
 *	src/graph_catalog.c	the Graph resources and their properties
 *	src/connection.c	sends a request: handle, waits, retries, errors
 *	src/auth.c			OAuth2 tokens: request, cache, Entra errors
 *	src/pager.c			walks @odata.nextLink pages of a collection
 *	src/convert.c		JSON values to Datums by column type
 *	src/shippable.c		which conditions go remote, exact or rechecked
 *	src/deparse_filter.c, deparse_odata.c, deparse_kql.c	writing them
 *	src/hunting_*.c, hunt_function.c	advanced hunting
 *	src/actions.c, modify.c	write actions and UPDATE
 *	src/import.c		IMPORT FOREIGN SCHEMA
 *	src/defender_client.c	libcurl and jansson, no PostgreSQL headers
 *
 * src/defender_fdw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_FDW_H
#define DEFENDER_FDW_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "access/tupdesc.h"
#include "utils/tuplestore.h"
#include "datatype/timestamp.h"

#include "defender_client.h"

#define DEFENDER_FDW_VERSION "1.1"
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

	/* advanced hunting (resource 'hunting') */
	char	   *hunting_table;	/* table option "table", or NULL */
	char	   *hunting_query;	/* table option "query", or NULL */
	char	   *timespan;		/* ISO 8601 Timespan, or NULL for the API's 30 days */
} DefenderOptions;

/* defender_fdw.c */
extern bool defender_enable_pushdown;	/* GUC defender_fdw.enable_pushdown */

/* option.c */
extern DefenderOptions *defender_get_options(Oid foreigntableid, Oid serverid,
											 Oid userid, bool need_credentials);
extern char *defender_column_property(Oid relid, AttrNumber attnum);
struct ForeignServer;
extern struct ForeignServer *defender_function_server(const char *servername);

/* graph_catalog.c */

/* How a property compares in $filter, which decides what may be pushed. */
typedef enum GraphPropertyKind
{
	GRAPH_OTHER,				/* not filterable */
	GRAPH_STRING,				/* free text: Graph compares ignoring case */
	GRAPH_ENUM,					/* closed set of camelCase members */
	GRAPH_DATETIME				/* DateTimeOffset, 7 fraction digits */
} GraphPropertyKind;

typedef struct GraphProperty
{
	const char *name;			/* Graph's JSON name, e.g. createdDateTime */
	const char *pgtype;			/* column type IMPORT FOREIGN SCHEMA uses */
	GraphPropertyKind kind;		/* GRAPH_OTHER unless $filter supports it */
	bool		nullable;		/* may be null in a response */
	bool		sortable;		/* $orderby accepts it */
	const char *const *members; /* GRAPH_ENUM: NULL-terminated members */
} GraphProperty;

typedef struct GraphResource
{
	const char *name;			/* the resource option, e.g. incidents */
	const char *path;			/* below /{api_version}/ */
	int			max_page_size;	/* largest $top Graph accepts */
	int			default_page_size;	/* $top when page_size is not set */
	int			confirmed_page_size;	/* largest $top known to work */
	const GraphProperty *properties;	/* terminated by a NULL name */
} GraphResource;

extern const GraphResource *graph_find_resource(const char *name);
extern const GraphResource *graph_resource_at(int index);
extern const char *graph_resource_names(void);
extern int	graph_page_size(const GraphResource *resource, int page_size_option);
extern int	graph_page_limit_in_message(const char *message);
extern bool graph_learn_page_limit(const GraphResource *resource, int limit);
extern const GraphProperty *graph_find_property(const GraphResource *resource,
												const char *name);
extern bool graph_is_enum_member(const GraphProperty *prop, const char *value);
extern const char *graph_enum_member(const char *const *members, const char *value);
extern char *graph_enum_member_list(const char *const *members);
extern const char *graph_write_value(const GraphResource *resource, const char *property,
									 const char *value, const char *where);
extern bool graph_property_writable(const GraphResource *resource, const char *name);
extern const char *graph_writable_names(const GraphResource *resource);
extern const GraphProperty *graph_match_property(const GraphResource *resource,
												 const char *column_name);
extern void graph_normalize_name(const char *name, char *out, size_t outsize);
extern bool graph_name_matches(const char *want, const char *name);

/*
 * Planner state of a foreign table (baserel->fdw_private), and of the
 * upper relations (ordered, grouped) built on one.
 */
typedef struct DefenderRelInfo
{
	Oid			relid;			/* the foreign table */
	DefenderOptions *opts;		/* without credentials */
	const GraphResource *resource;
	bool		pushdown;		/* pushdown option and enable_pushdown */

	/* baserestrictinfo, split by shippable.c */
	List	   *remote_conds;	/* pushed, and exact: not rechecked */
	List	   *recheck_conds;	/* pushed as a pre-filter, and rechecked */
	List	   *local_conds;	/* evaluated locally only */
	List	   *lookup_conds;	/* id = value, id = ANY(array): GET by id */

	/* upper relations: which stage, over which base relation */
	int			stage;			/* UpperRelationKind, or -1 for the base */
	struct RelOptInfo *baserel;

	/* advanced hunting */
	bool		hunting;
	const struct HuntingTable *hunting_table;	/* documented table, or NULL */

	/* enumeration constants that are no member: (column, value) pairs */
	List	   *enum_notices;
} DefenderRelInfo;

/*
 * Comparison operators of a pushed-down leaf, in two-valued (OData) logic:
 * each one is true exactly when the SQL condition it stands for is TRUE,
 * so NOT can be pushed by swapping a leaf for its complement.
 */
typedef enum DefenderFilterOp
{
	DFOP_EQ,
	DFOP_NE,					/* not equal and not null */
	DFOP_LT,
	DFOP_LE,
	DFOP_GT,
	DFOP_GE,
	DFOP_IS_NULL,
	DFOP_NOT_NULL,
	DFOP_EQ_ANY,				/* = ANY(array) */
	DFOP_NE_ALL,				/* <> ALL(array) */
	DFOP_LIKE,					/* KQL only: LIKE 'abc%', '%abc', '%abc%' */
	DFOP_NOT_LIKE,
	DFOP_ILIKE,
	DFOP_NOT_ILIKE
} DefenderFilterOp;

/* What a KQL column holds, which decides its comparisons. */
typedef enum KqlKind
{
	KQL_STRING = 101,			/* never null: "" stands for null */
	KQL_NUMBER,
	KQL_DATETIME,
	KQL_BOOL
} KqlKind;

/* Node kinds of a filter tree (see defender_filter_tree) */
#define FT_AND	1
#define FT_OR	2
#define FT_LEAF 3

/* shippable.c */
extern const GraphProperty *defender_column_graph_property(Oid relid,
														   AttrNumber attnum,
														   const GraphResource *resource);
extern List *defender_enum_notices(RelOptInfo *baserel, DefenderRelInfo *fpinfo);
extern void defender_enum_notice(Oid relid, const GraphResource *resource, List *pair);
extern void defender_classify_conditions(PlannerInfo *root, RelOptInfo *baserel,
										 DefenderRelInfo *fpinfo);
extern bool defender_is_lookup_cond(PlannerInfo *root, RelOptInfo *baserel,
									DefenderRelInfo *fpinfo, Expr *expr,
									Expr **value, bool *is_array);
extern bool defender_is_value_expr(PlannerInfo *root, RelOptInfo *baserel, Expr *expr);
extern List *defender_filter_tree(PlannerInfo *root, RelOptInfo *baserel,
								  DefenderRelInfo *fpinfo, List *conds,
								  List **fdw_exprs);
extern const GraphProperty *defender_sort_property(PlannerInfo *root,
												   RelOptInfo *baserel,
												   DefenderRelInfo *fpinfo,
												   PathKey *pathkey);
extern char *defender_kql_column(DefenderRelInfo *fpinfo, AttrNumber attnum);
extern char *defender_kql_sort(PlannerInfo *root, RelOptInfo *baserel,
							   DefenderRelInfo *fpinfo, List *pathkeys);


/* deparse_odata.c */

/*
 * Values of the non-constant expressions (fdw_exprs) a request refers to.
 * At execution values/nulls/types are set; for EXPLAIN, placeholders holds
 * each expression's text instead, and it is written in place of the value.
 */
typedef struct DefenderParamValues
{
	int			count;
	Datum	   *values;
	bool	   *nulls;
	Oid		   *types;
	char	  **placeholders;
} DefenderParamValues;

/* What a list request asks for, beyond the resource. */
typedef struct DefenderListRequest
{
	List	   *filter;			/* filter tree, or NIL */
	char	   *orderby;		/* e.g. "createdDateTime desc", or NULL */
	bool		expand_alerts;
	bool		count_only;		/* $count=true&$top=1 */
	bool		count_pages;	/* $count=true, so that pages can go in parallel */
	bool		omit_paging;	/* stop before $count/$skip/$top (a page prefix) */
	bool		select_id;		/* $select=id: only the rows' ids are wanted */
	int64		top;			/* rows per page, 0 for the resource's page size */
	int64		skip;
	const char *top_text;		/* for EXPLAIN: a placeholder instead of top */
	const char *skip_text;		/* likewise for skip */
} DefenderListRequest;

typedef enum DefenderRender
{
	RENDER_FALSE,				/* no row can match: send nothing */
	RENDER_TRUE,				/* every row matches: no $filter */
	RENDER_FILTER				/* a $filter was written */
} DefenderRender;

/* deparse_filter.c: the language-independent part of writing a filter */
typedef enum DefenderPrecedence
{
	PREC_ATOM,					/* needs no parentheses */
	PREC_AND,					/* a and b */
	PREC_OR						/* a or b */
} DefenderPrecedence;

typedef struct DefenderWritten
{
	DefenderRender render;
	DefenderPrecedence prec;
} DefenderWritten;

extern const DefenderWritten WRITTEN_TRUE;
extern const DefenderWritten WRITTEN_FALSE;
extern const DefenderWritten WRITTEN_ATOM;
extern const DefenderWritten WRITTEN_AND;
extern const DefenderWritten WRITTEN_OR;

/* A leaf's value, resolved (see defender_leaf_value). */
typedef struct DefenderLeafValue
{
	bool		placeholder;	/* EXPLAIN of a non-constant: text shows it */
	const char *text;
	bool		isnull;
	Datum		datum;
	Oid			type;
} DefenderLeafValue;

typedef DefenderWritten (*DefenderLeafWriter) (StringInfo buf, List *leaf,
											   const DefenderParamValues *params,
											   void *arg);
typedef DefenderWritten (*DefenderElementWriter) (StringInfo buf, DefenderFilterOp op,
												  Datum value, Oid type, void *arg);

extern DefenderWritten defender_write_tree(StringInfo buf, List *node,
										   DefenderLeafWriter write_leaf,
										   const DefenderParamValues *params, void *arg);
extern DefenderWritten defender_write_array(StringInfo buf, Datum array, bool is_and,
											DefenderElementWriter write_element, void *arg);
extern DefenderWritten defender_join_parts(StringInfo buf, List *parts, bool is_and);
extern void defender_leaf_value(Node *valnode, const DefenderParamValues *params,
								DefenderLeafValue *v);

extern DefenderRender defender_render_filter(StringInfo buf, List *tree,
											 const DefenderParamValues *params,
											 const GraphResource *resource);
extern DefenderRender defender_deparse_list(StringInfo buf, bool encode,
											const DefenderOptions *opts,
											const GraphResource *resource,
											const DefenderListRequest *req,
											const DefenderParamValues *params);
extern void defender_append_ticks(StringInfo buf, int64 ticks);

/*
 * "column op x" for a datetime column, as a test on Graph's (and Kusto's)
 * 100 ns ticks: see defender_datetime_comparison.
 */
typedef enum DefenderTickTest
{
	TICKS_NONE,					/* no value satisfies it */
	TICKS_ALL,					/* every value (not null) satisfies it */
	TICKS_LT,					/* ticks < hi */
	TICKS_GE,					/* ticks >= lo */
	TICKS_IN,					/* lo <= ticks < hi */
	TICKS_OUT					/* ticks < lo or ticks >= hi */
} DefenderTickTest;

typedef struct DefenderTickRange
{
	DefenderTickTest test;
	int64		lo;
	int64		hi;
} DefenderTickRange;

extern DefenderTickRange defender_datetime_comparison(TimestampTz x, DefenderFilterOp op,
													  int32 typmod);

/* writes "column >= ticks" (at_or_above) or "column < ticks" */
typedef void (*DefenderBoundWriter) (StringInfo buf, bool at_or_above, int64 ticks, void *arg);
/* writes "column has a value" (or nothing, returning WRITTEN_TRUE) */
typedef DefenderWritten (*DefenderAnyValueWriter) (StringInfo buf, void *arg);

extern DefenderWritten defender_write_tick_range(StringInfo buf, DefenderTickRange r,
												 DefenderBoundWriter write_bound,
												 DefenderAnyValueWriter write_any_value,
												 void *arg);
extern void defender_deparse_lookup(StringInfo buf, bool encode,
									const DefenderOptions *opts,
									const GraphResource *resource,
									const char *id, bool expand_alerts);

/* deparse_kql.c */
typedef struct DefenderKqlRequest
{
	const char *source;			/* table name, or a KQL query to wrap */
	bool		source_is_query;
	List	   *filter;			/* filter tree, or NIL */
	List	   *project;		/* KQL column names, or NIL for all */
	const char *sort;			/* "A asc nulls last, ...", or NULL */
	int64		take;			/* 0: none */
	const char *take_text;		/* for EXPLAIN: a placeholder */
	bool		count_only;		/* | summarize count() */
	const char *summarize;		/* | summarize <this>, or NULL */
	bool		count_rows;		/* | count: how many rows, none of their values */
} DefenderKqlRequest;

extern DefenderRender defender_deparse_kql(StringInfo buf, const DefenderKqlRequest *req,
										   const DefenderParamValues *params);
extern void defender_append_kql_string(StringInfo buf, const char *text);
extern void defender_append_kql_name(StringInfo buf, const char *name);

/* hunt_function.c */
extern char *defender_hunting_request_body(const char *query, const char *timespan);

/* hunting_catalog.c */
typedef struct HuntingColumn
{
	char	   *name;			/* KQL name, e.g. DeviceName */
	char	   *kql_type;		/* string, long, datetime, dynamic ... */
} HuntingColumn;

typedef struct HuntingTable
{
	char	   *name;			/* e.g. DeviceProcessEvents */
	int			ncolumns;
	HuntingColumn *columns;
} HuntingTable;

extern const HuntingTable *hunting_find_table(const char *name);
extern List *hunting_all_tables(void);
extern const HuntingColumn *hunting_find_column(const HuntingTable *table,
												const char *column_name);
extern const char *hunting_pg_type(const char *kql_type);

/* import.c */
struct ImportForeignSchemaStmt;
extern List *defender_import_schema(struct ImportForeignSchemaStmt *stmt, Oid serverOid);

/* connection.c */
#define DEFENDER_ALLOW_NOT_FOUND	0x01	/* return a 404 instead of raising */
#define DEFENDER_ALLOW_BAD_REQUEST	0x02	/* return a 400 instead of raising */
#define DEFENDER_CACHEABLE			0x04	/* a read whose answer cache_ttl may keep */

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
	bool		from_cache;		/* answered by response_cache.c, nothing sent */
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
											const char *origin,
											const char *display,
											const char *const *headers,
											const char *body, size_t body_len,
											bool idempotent);
typedef struct DefenderPendingGet DefenderPendingGet;
extern DefenderPendingGet *defender_api_get_start(const DefenderOptions *opts,
												  const char *audience,
												  const char *url,
												  const char *display);
extern DefenderResponse *defender_api_get_finish(DefenderPendingGet *get);
extern void defender_response_release(DefenderResponse *response);
extern void defender_sleep_ms(long ms);
extern char *defender_redact(const DefenderOptions *opts, const char *text);
extern char *defender_url_encode(const char *text);
extern bool defender_url_origin(const char *url, DfwOrigin *origin, char **rest, char **why);
extern bool defender_same_origin(const DfwOrigin *a, const DfwOrigin *b);
extern char *defender_origin_text(const DfwOrigin *origin);
extern char *defender_display_text(const char *text);
extern bool defender_id_is_segment(const char *id);
extern char *defender_id_segment(const char *id, const char *what);
extern char *defender_new_client_request_id(void);
extern void defender_connection_init(void);

/* response_cache.c */
extern bool defender_cache_lookup(const DefenderOptions *opts, const char *method,
								  const char *url, const char *body,
								  DefenderResponse *response);
extern void defender_cache_store(const DefenderOptions *opts, const char *method,
								 const char *url, const char *body,
								 const DefenderResponse *response);
extern void defender_cache_forget_all(void);

/* auth.c */
extern const char *defender_get_token(const DefenderOptions *opts,
									  const char *resource_url,
									  bool force_refresh);
extern void defender_forget_token(const DefenderOptions *opts,
								  const char *resource_url);
extern const char *defender_secret_file(const char *path, const char *option);
extern const char *defender_secret_file_cached(const char *path);
extern const char *defender_client_secret(const DefenderOptions *opts);
extern const char *defender_proxy_password(const DefenderOptions *opts);
extern void defender_auth_init(void);

/* pager.c */
struct json_t;
typedef struct DefenderPager DefenderPager;

/*
 * How a pager may fetch pages in parallel: the first request carries
 * $count=true, and once @odata.count is known the remaining pages are
 * asked for as prefix&$skip=N&$top=M, up to parallel at a time.
 */
typedef struct DefenderPaging
{
	int			parallel;		/* pages in flight at once (>= 2) */
	const char *prefix;			/* the request without $count/$skip/$top */
	const char *display_prefix; /* the same for messages */
	int64		page_size;		/* $top of every page */
	int64		first_skip;		/* $skip of the first request */
	int64		row_limit;		/* rows wanted, -1: all */
} DefenderPaging;

extern DefenderPager *defender_pager_begin(const DefenderOptions *opts,
										   const char *first_url,
										   const char *display,
										   MemoryContext page_cxt,
										   int rejections,
										   const DefenderPaging *paging);
/* defender_pager_begin's rejections: what a 400 to the first page may mean */
#define DEFENDER_PAGER_FILTER		0x01	/* the pushed-down filter is refused */
#define DEFENDER_PAGER_PAGE_SIZE	0x02	/* $top is above the service's cap */
extern int	defender_pager_page_limit(DefenderPager *pager);
extern void defender_pager_raise_rejection(DefenderPager *pager);
extern struct json_t *defender_pager_next(DefenderPager *pager);
extern void defender_pager_rewind(DefenderPager *pager);
extern bool defender_pager_rejected(DefenderPager *pager, DfwGraphError *err);
extern struct json_t *defender_pager_document(DefenderPager *pager);
extern int	defender_pager_requests(DefenderPager *pager);
extern struct json_t *defender_fetch_entity(const DefenderOptions *opts,
											const char *url, const char *display,
											MemoryContext page_cxt);
extern struct json_t *defender_patch_entity(const DefenderOptions *opts,
											const char *path, const char *body,
											MemoryContext cxt);

/* modify.c: UPDATE, one PATCH per row */
struct ModifyTableState;
struct ResultRelInfo;
struct ModifyTable;
struct ExplainState;
struct EState;
struct TupleTableSlot;
extern int	defender_is_updatable(Relation rel);
#if PG_VERSION_NUM >= 140000
extern void defender_add_update_targets(PlannerInfo *root, Index rtindex,
										RangeTblEntry *target_rte, Relation target_relation);
#else
extern void defender_add_update_targets(Query *parsetree, RangeTblEntry *target_rte,
										Relation target_relation);
#endif
extern List *defender_plan_modify(PlannerInfo *root, struct ModifyTable *plan,
								  Index resultRelation, int subplan_index);
extern void defender_begin_modify(struct ModifyTableState *mtstate,
								  struct ResultRelInfo *rinfo, List *fdw_private,
								  int subplan_index, int eflags);
extern struct TupleTableSlot *defender_exec_update(struct EState *estate,
												   struct ResultRelInfo *rinfo,
												   struct TupleTableSlot *slot,
												   struct TupleTableSlot *planSlot);
extern void defender_explain_modify(struct ModifyTableState *mtstate,
									struct ResultRelInfo *rinfo, List *fdw_private,
									int subplan_index, struct ExplainState *es);

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
	int			fast;			/* DefenderFastInput: a shortcut of input */
	const char *const *enum_members;	/* a Graph enumeration's, or NULL */
} DefenderColumn;

/*
 * Input functions convert.c can skip for the forms Graph sends, with
 * results bit-identical to the input function's (anything else still goes
 * through it).
 */
typedef enum DefenderFastInput
{
	DFW_FAST_NONE = 0,
	DFW_FAST_TEXT,				/* textin: the bytes as they are */
	DFW_FAST_INT8,				/* int8in: [-]digits */
	DFW_FAST_INT4,				/* int4in: [-]digits */
	DFW_FAST_BOOL,				/* boolin: true, false */
	DFW_FAST_TIMESTAMPTZ,		/* timestamptz_in: YYYY-MM-DDTHH:MM:SS[.f]Z */
	DFW_FAST_TIMESTAMP			/* timestamp_in: the same */
} DefenderFastInput;

extern void defender_column_init(DefenderColumn *col, Relation rel,
								 AttrNumber attnum,
								 const GraphResource *resource);
extern struct json_t *defender_column_lookup(DefenderColumn *col,
											 struct json_t *object);
extern Datum defender_json_to_datum(DefenderColumn *col, struct json_t *value,
									bool *isnull);
extern char *defender_dump_json(struct json_t *value, const char *what);

/* A JSON value's kind, for readers that see values as text (hunting_result.c) */
typedef enum DefenderJsonKind
{
	DFW_JSON_NULL,
	DFW_JSON_STRING,
	DFW_JSON_NUMBER,
	DFW_JSON_BOOLEAN,
	DFW_JSON_OBJECT,
	DFW_JSON_ARRAY
} DefenderJsonKind;

extern void defender_column_init_attr(DefenderColumn *col, TupleDesc desc,
									  AttrNumber attnum);
extern Datum defender_scalar_to_datum(DefenderColumn *col, DefenderJsonKind kind,
									  const char *text, bool element);
extern bool defender_parse_iso_utc(const char *text, int64 *result);
extern Datum defender_elements_to_datum(DefenderColumn *col, int n,
										const DefenderJsonKind *kinds,
										char *const *texts);
extern void defender_unconvertible(DefenderColumn *col, DefenderJsonKind kind,
								   DefenderJsonKind element, Oid typid,
								   const char *excerpt) pg_attribute_noreturn();
extern const char *defender_json_kind_name(DefenderJsonKind kind);
extern char *defender_json_excerpt(const char *json, size_t len);

/* hunting_result.c: a runHuntingQuery response, streamed into tuples */
extern void defender_hunting_result_to_tuplestore(const char *body, size_t len,
												  TupleDesc desc,
												  DefenderColumn *columns,
												  int ncolumns,
												  const AttrNumber *slot_attnos,
												  Tuplestorestate *store,
												  const char *display,
												  const char *relname);
extern void defender_hunting_rows_to_tuplestore(const char *body, size_t len,
												TupleDesc desc,
												Tuplestorestate *store,
												const char *display,
												const char *relname);

#endif							/* DEFENDER_FDW_H */
