/*-------------------------------------------------------------------------
 *
 * options_read.c
 *		  The options of one scan or function call: a server's, its user
 *		  mapping's and a foreign table's merged, with defaults filled in.
 *
 * defender_get_options() is what every other layer calls to learn where
 * and how to send (the values were checked by the validator in option.c
 * when they were set); defender_function_server() checks the server a SQL
 * function names; defender_endpoints() shows where a server's requests go.
 *
 * src/options/options_read.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_foreign_server.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "defender_fdw.h"
#include "option_internal.h"

PG_FUNCTION_INFO_V1(defender_endpoints);

/* Copy a URL option without its trailing slashes. */
static char *
url_option(const char *value)
{
	char	   *url = pstrdup(value);
	size_t		len = strlen(url);

	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	return url;
}

/*
 * find_user_mapping
 *		The user mapping for userid (or PUBLIC) on the server, with a clear
 *		error when there is none.
 */
static UserMapping *
find_user_mapping(Oid userid, ForeignServer *server)
{
	HeapTuple	tp;

	tp = SearchSysCache2(USERMAPPINGUSERSERVER,
						 ObjectIdGetDatum(userid),
						 ObjectIdGetDatum(server->serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER,
							 ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(server->serverid));
	if (!HeapTupleIsValid(tp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("user mapping not found for user \"%s\" and server \"%s\"",
						MappingUserName(userid), server->servername),
				 errhint("Create one with the application's credentials: CREATE USER MAPPING FOR %s SERVER %s OPTIONS (client_id '...', client_secret '...').",
						 quote_identifier(MappingUserName(userid)),
						 quote_identifier(server->servername))));
	ReleaseSysCache(tp);
	return GetUserMapping(userid, server->serverid);
}

/* What defender_get_options decides only once every option is read. */
typedef struct OptionsRead
{
	const DefenderCloud *cloud;
	char	   *auth;
	bool		have_login_url;
	bool		have_graph_url;
	bool		have_mde_url;
} OptionsRead;

static void read_option(DefenderOptions *opts, DefElem *def, OptionsRead *read);
static void check_usable_credentials(const DefenderOptions *opts, Oid userid,
									 ForeignServer *server);

/*
 * defender_get_options
 *		Merge server, user mapping and (if given) foreign table options.
 *
 * foreigntableid may be InvalidOid (SQL functions); then serverid names
 * the server.  With need_credentials, raises an error when no user mapping
 * exists or it lacks credentials; the planner reads options without them,
 * so that plain EXPLAIN works for anyone who can see the table.
 */
DefenderOptions *
defender_get_options(Oid foreigntableid, Oid serverid, Oid userid,
					 bool need_credentials)
{
	DefenderOptions *opts = palloc0(sizeof(DefenderOptions));
	ForeignTable *table = NULL;
	ForeignServer *server;
	UserMapping *mapping;
	List	   *options = NIL;
	ListCell   *cell;
	OptionsRead read;

	if (OidIsValid(foreigntableid))
	{
		table = GetForeignTable(foreigntableid);
		serverid = table->serverid;
	}
	server = GetForeignServer(serverid);
	mapping = need_credentials ? find_user_mapping(userid, server) : NULL;

	opts->serverid = serverid;
	opts->servername = pstrdup(server->servername);
	opts->userid = userid;
	opts->login_url = DEFAULT_LOGIN_URL;
	opts->graph_url = DEFAULT_GRAPH_URL;
	opts->mde_url = DEFAULT_MDE_URL;
	opts->api_version = DEFAULT_API_VERSION;
	opts->timeout = DEFAULT_TIMEOUT;
	opts->verify_ssl = true;
	opts->max_retries = DEFAULT_MAX_RETRIES;
	opts->max_response_mb = DEFAULT_MAX_RESPONSE_MB;
	opts->pushdown = true;
	opts->parallel_pages = DEFAULT_PARALLEL_PAGES;
	opts->request_latency = DEFAULT_REQUEST_LATENCY;
	opts->cache_ttl = 0;
	opts->hunting_quota = DEFAULT_HUNTING_QUOTA;
	opts->graph_quota = DEFAULT_GRAPH_QUOTA;
	opts->quota_window = DEFAULT_QUOTA_WINDOW;
	opts->hunting_split = true;
	opts->hunting_max_windows = DEFAULT_HUNTING_MAX_WINDOWS;
	opts->hunting_max_rows = DEFAULT_HUNTING_MAX_ROWS;
	opts->time_column = DEFAULT_TIME_COLUMN;
	opts->managed_identity_url = DEFAULT_MANAGED_IDENTITY_URL;
	memset(&read, 0, sizeof(read));
	read.cloud = &defender_clouds[0];

	/* Later lists win: the user mapping's client_id over the server's. */
	options = list_copy(server->options);
	if (mapping)
		options = list_concat(options, mapping->options);
	if (table)
		options = list_concat(options, table->options);

	foreach(cell, options)
		read_option(opts, (DefElem *) lfirst(cell), &read);

	/* the cloud's hosts, where no URL option overrides them */
	opts->cloud = pstrdup(read.cloud->name);
	if (!read.have_login_url)
		opts->login_url = pstrdup(read.cloud->login_url);
	if (!read.have_graph_url)
		opts->graph_url = pstrdup(read.cloud->graph_url);
	if (!read.have_mde_url)
		opts->mde_url = pstrdup(read.cloud->mde_url);

	if (read.auth && strcmp(read.auth, "managed_identity") == 0)
	{
		/*
		 * A managed identity's client_id names a user-assigned identity; a
		 * server's client_id names an app registration and does not apply.
		 */
		opts->auth = DEFENDER_AUTH_MANAGED_IDENTITY;
		opts->client_id = NULL;
		foreach(cell, mapping ? mapping->options : NIL)
		{
			DefElem    *def = (DefElem *) lfirst(cell);

			if (strcmp(def->defname, "client_id") == 0)
				opts->client_id = pstrdup(defGetString(def));
		}
	}
	else if (opts->certificate_file)
		opts->auth = DEFENDER_AUTH_CERTIFICATE;
	else
		opts->auth = DEFENDER_AUTH_CLIENT_SECRET;

	if (need_credentials)
		check_usable_credentials(opts, userid, server);

	return opts;
}

/*
 * read_option
 *		Take one option of the merged list into opts; what is decided only
 *		once the whole list is read (the cloud, auth, which URLs were set)
 *		goes into *read.
 */
static void
read_option(DefenderOptions *opts, DefElem *def, OptionsRead *read)
{
	const char *name = def->defname;
	char	   *value = defGetString(def);

	if (strcmp(name, "tenant_id") == 0)
		opts->tenant_id = pstrdup(value);
	else if (strcmp(name, "login_url") == 0)
		opts->login_url = url_option(value), read->have_login_url = true;
	else if (strcmp(name, "graph_url") == 0)
		opts->graph_url = url_option(value), read->have_graph_url = true;
	else if (strcmp(name, "mde_url") == 0)
		opts->mde_url = url_option(value), read->have_mde_url = true;
	else if (strcmp(name, "cloud") == 0)
		read->cloud = defender_check_cloud(value);
	else if (strcmp(name, "managed_identity_url") == 0)
		opts->managed_identity_url = pstrdup(value);
	else if (strcmp(name, "proxy") == 0)
		opts->proxy = pstrdup(value);
	else if (strcmp(name, "auth") == 0)
		read->auth = value;
	else if (strcmp(name, "certificate_file") == 0)
		opts->certificate_file = pstrdup(value);
	else if (strcmp(name, "private_key_file") == 0)
		opts->private_key_file = pstrdup(value);
	else if (strcmp(name, "certificate_thumbprint") == 0)
		opts->certificate_thumbprint = pstrdup(value);
	else if (strcmp(name, "proxy_user") == 0)
		opts->proxy_user = pstrdup(value);
	else if (strcmp(name, "proxy_password") == 0)
		opts->proxy_password = pstrdup(value);
	else if (strcmp(name, "api_version") == 0)
		opts->api_version = pstrdup(value);
	else if (strcmp(name, "timeout") == 0)
		opts->timeout = atoi(value);
	else if (strcmp(name, "verify_ssl") == 0)
		opts->verify_ssl = defGetBoolean(def);
	else if (strcmp(name, "ca_file") == 0)
		opts->ca_file = pstrdup(value);
	else if (strcmp(name, "max_retries") == 0)
		opts->max_retries = atoi(value);
	else if (strcmp(name, "max_response_mb") == 0)
		opts->max_response_mb = atoi(value);
	else if (strcmp(name, "client_id") == 0)
		opts->client_id = pstrdup(value);
	else if (strcmp(name, "client_secret") == 0)
		opts->client_secret = pstrdup(value);
	else if (strcmp(name, "client_secret_file") == 0)
		opts->client_secret_file = pstrdup(value);
	else if (strcmp(name, "proxy_password_file") == 0)
		opts->proxy_password_file = pstrdup(value);
	else if (strcmp(name, "allow_managed_identity") == 0)
		opts->allow_managed_identity = defGetBoolean(def);
	else if (strcmp(name, "resource") == 0)
		opts->resource = pstrdup(value);
	else if (strcmp(name, "page_size") == 0)
		opts->page_size = atoi(value);
	else if (strcmp(name, "parallel_pages") == 0)
		opts->parallel_pages = atoi(value);
	else if (strcmp(name, "cache_ttl") == 0)
		opts->cache_ttl = atoi(value);
	else if (strcmp(name, "hunting_quota") == 0)
		opts->hunting_quota = atoi(value);
	else if (strcmp(name, "graph_quota") == 0)
		opts->graph_quota = atoi(value);
	else if (strcmp(name, "quota_window") == 0)
		opts->quota_window = atoi(value);
	else if (strcmp(name, "pushdown") == 0)
		opts->pushdown = defGetBoolean(def);
	else if (strcmp(name, "async_capable") == 0)
		opts->async_capable = defGetBoolean(def);
	else if (strcmp(name, "request_latency") == 0)
		opts->request_latency = atoi(value);
	else if (strcmp(name, "use_remote_estimate") == 0)
		opts->use_remote_estimate = defGetBoolean(def);
	else if (strcmp(name, "table") == 0)
		opts->hunting_table = pstrdup(value);
	else if (strcmp(name, "query") == 0)
		opts->hunting_query = pstrdup(value);
	else if (strcmp(name, "timespan") == 0)
		opts->timespan = pstrdup(value);
	else if (strcmp(name, "hunting_split") == 0)
		opts->hunting_split = defGetBoolean(def);
	else if (strcmp(name, "hunting_window") == 0)
		opts->hunting_window = defender_interval_ticks(name, value);
	else if (strcmp(name, "hunting_max_windows") == 0)
		opts->hunting_max_windows = atoi(value);
	else if (strcmp(name, "hunting_max_rows") == 0)
		opts->hunting_max_rows = atoi(value);
	else if (strcmp(name, "time_column") == 0)
		opts->time_column = pstrdup(value);
}

/*
 * check_usable_credentials
 *		ERROR unless the user mapping's credentials can get a token: the
 *		options each method needs, and a superuser's leave for a managed
 *		identity.
 */
static void
check_usable_credentials(const DefenderOptions *opts, Oid userid, ForeignServer *server)
{
	if (opts->auth == DEFENDER_AUTH_CERTIFICATE &&
		opts->client_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("the user mapping for user \"%s\" on server \"%s\" has no client_id",
						MappingUserName(userid), server->servername),
				 errhint("ALTER USER MAPPING FOR %s SERVER %s OPTIONS (ADD client_id '...').",
						 quote_identifier(MappingUserName(userid)),
						 quote_identifier(server->servername))));
	/*
	 * A managed-identity mapping made before only superusers could make one
	 * (or by a superuser for a role) acts as the host only where a
	 * superuser allowed it on the server, unless the user is a superuser.
	 */
	if (opts->auth == DEFENDER_AUTH_MANAGED_IDENTITY &&
		!opts->allow_managed_identity && !superuser_arg(userid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use the managed identity of server \"%s\"",
						server->servername),
				 errdetail("The user mapping for user \"%s\" has auth 'managed_identity', which acts as the database host's identity; for a non-superuser that needs the server option allow_managed_identity, which a superuser sets.",
						   MappingUserName(userid)),
				 errhint("A superuser may allow it: ALTER SERVER %s OPTIONS (ADD allow_managed_identity 'true').",
						 quote_identifier(server->servername))));
	if (opts->auth == DEFENDER_AUTH_CLIENT_SECRET &&
		(opts->client_id == NULL ||
		 (opts->client_secret == NULL && opts->client_secret_file == NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("the user mapping for user \"%s\" on server \"%s\" has no %s",
						MappingUserName(userid), server->servername,
						opts->client_id == NULL ? "client_id" : "client_secret"),
				 errhint("ALTER USER MAPPING FOR %s SERVER %s OPTIONS (ADD %s '...').",
						 quote_identifier(MappingUserName(userid)),
						 quote_identifier(server->servername),
						 opts->client_id == NULL ? "client_id" : "client_secret")));
}

static bool uses_defender_fdw(ForeignServer *server);

/*
 * defender_function_server
 *		The server a SQL function names, checked: it exists, it is a
 *		defender_fdw server, and the caller has USAGE on it.
 */
ForeignServer *
defender_function_server(const char *servername)
{
	ForeignServer *server = GetForeignServerByName(servername, false);
	AclResult	aclresult;

	if (!uses_defender_fdw(server))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a defender_fdw server", servername),
				 errdetail("It uses the foreign-data wrapper \"%s\".",
						   GetForeignDataWrapper(server->fdwid)->fdwname)));

#if PG_VERSION_NUM >= 160000
	aclresult = object_aclcheck(ForeignServerRelationId, server->serverid,
								GetUserId(), ACL_USAGE);
#else
	aclresult = pg_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);
#endif
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
	return server;
}

/*
 * uses_defender_fdw
 *		Is the server's wrapper handled by this library's handler?
 *
 * The handler is compared by its C symbol, not by the wrapper's name, so a
 * wrapper created under another name with defender_fdw_handler counts, and
 * one named defender_fdw with some other handler does not.
 */
static bool
uses_defender_fdw(ForeignServer *server)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	HeapTuple	tuple;
	bool		ours = false;

	if (!OidIsValid(fdw->fdwhandler))
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fdw->fdwhandler));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);
		bool		isnull;
		Datum		prosrc;

		if (proc->prolang == ClanguageId)
		{
			prosrc = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull);
			ours = !isnull &&
				strcmp(TextDatumGetCString(prosrc), "defender_fdw_handler") == 0;
		}
		ReleaseSysCache(tuple);
	}
	return ours;
}

/*
 * defender_column_property
 *		The column's "property" option, or NULL.
 */
char *
defender_column_property(Oid relid, AttrNumber attnum)
{
	List	   *options = GetForeignColumnOptions(relid, attnum);
	ListCell   *cell;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "property") == 0)
			return pstrdup(defGetString(def));
	}
	return NULL;
}

/*
 * defender_endpoints
 *		SQL function: the endpoints a server's requests go to, after the
 *		cloud preset and the URL options that override it.
 *
 * Reads no user mapping and sends nothing, so it answers anywhere, and
 * shows what a national-cloud setting resolves to before any request.
 */
Datum
defender_endpoints(PG_FUNCTION_ARGS)
{
	ForeignServer *server = defender_function_server(NameStr(*PG_GETARG_NAME(0)));
	DefenderOptions *opts = defender_get_options(InvalidOid, server->serverid,
												 GetUserId(), false);
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(opts->cloud);
	values[1] = CStringGetTextDatum(opts->login_url);
	values[2] = CStringGetTextDatum(opts->graph_url);
	values[3] = CStringGetTextDatum(opts->mde_url);
	values[4] = CStringGetTextDatum(opts->managed_identity_url);
	if (opts->proxy)
		values[5] = CStringGetTextDatum(opts->proxy);
	else
		nulls[5] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
