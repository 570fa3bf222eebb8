/*-------------------------------------------------------------------------
 *
 * option.c
 *		  Options of defender_fdw's servers, user mappings, tables and columns.
 *
 * One table lists every option and the catalog it belongs to.  Values are
 * checked here, in the validator, so that a bad value fails at CREATE or
 * ALTER time rather than at the first query; defender_get_options()
 * (options_read.c) then merges the options of one scan or function call
 * and fills in defaults.
 *
 * The client secret is accepted only in a user mapping: server options
 * are readable by every user (pg_foreign_server.srvoptions), user mapping
 * options only by the mapping's user and the server's owner.
 *
 * src/options/option.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "common/int.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_language.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "funcapi.h"

#include "defender_catalog.h"
#include "defender_remote.h"
#include "option_internal.h"

const DefenderCloud defender_clouds[] = {
	{"global", DEFAULT_LOGIN_URL, DEFAULT_GRAPH_URL, DEFAULT_MDE_URL},
	/* US Government L4, "GCC High" */
	{"usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us",
	"https://api-gov.securitycenter.microsoft.us"},
	/* US Government L5, "DoD" */
	{"dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
	"https://api-gov.securitycenter.microsoft.us"},
	{NULL, NULL, NULL, NULL}
};


/* An option and the catalog of the object it may be attached to. */
typedef struct DefenderOption
{
	const char *name;
	Oid			context;
} DefenderOption;

static const DefenderOption valid_options[] = {
	/* server */
	{"tenant_id", ForeignServerRelationId},
	{"login_url", ForeignServerRelationId},
	{"graph_url", ForeignServerRelationId},
	{"mde_url", ForeignServerRelationId},
	{"api_version", ForeignServerRelationId},
	{"timeout", ForeignServerRelationId},
	{"verify_ssl", ForeignServerRelationId},
	{"ca_file", ForeignServerRelationId},
	{"max_retries", ForeignServerRelationId},
	{"max_response_mb", ForeignServerRelationId},
	{"client_id", ForeignServerRelationId},
	{"pushdown", ForeignServerRelationId},
	{"timespan", ForeignServerRelationId},
	{"parallel_pages", ForeignServerRelationId},
	{"cache_ttl", ForeignServerRelationId},
	{"cloud", ForeignServerRelationId},
	{"proxy", ForeignServerRelationId},
	{"managed_identity_url", ForeignServerRelationId},
	{"allow_managed_identity", ForeignServerRelationId},
	{"hunting_quota", ForeignServerRelationId},
	{"graph_quota", ForeignServerRelationId},
	{"quota_window", ForeignServerRelationId},
	{"async_capable", ForeignServerRelationId},
	{"request_latency", ForeignServerRelationId},
	{"use_remote_estimate", ForeignServerRelationId},
	{"hunting_split", ForeignServerRelationId},
	{"hunting_window", ForeignServerRelationId},
	{"hunting_max_windows", ForeignServerRelationId},
	{"hunting_max_rows", ForeignServerRelationId},
	/* user mapping */
	{"auth", UserMappingRelationId},
	{"client_id", UserMappingRelationId},
	{"client_secret", UserMappingRelationId},
	{"client_secret_file", UserMappingRelationId},
	{"certificate_file", UserMappingRelationId},
	{"private_key_file", UserMappingRelationId},
	{"certificate_thumbprint", UserMappingRelationId},
	{"proxy_user", UserMappingRelationId},
	{"proxy_password", UserMappingRelationId},
	{"proxy_password_file", UserMappingRelationId},
	/* foreign table */
	{"resource", ForeignTableRelationId},
	{"page_size", ForeignTableRelationId},
	{"pushdown", ForeignTableRelationId},
	{"table", ForeignTableRelationId},
	{"query", ForeignTableRelationId},
	{"timespan", ForeignTableRelationId},
	{"parallel_pages", ForeignTableRelationId},
	{"cache_ttl", ForeignTableRelationId},
	{"async_capable", ForeignTableRelationId},
	{"request_latency", ForeignTableRelationId},
	{"use_remote_estimate", ForeignTableRelationId},
	{"hunting_split", ForeignTableRelationId},
	{"hunting_window", ForeignTableRelationId},
	{"hunting_max_windows", ForeignTableRelationId},
	{"hunting_max_rows", ForeignTableRelationId},
	{"time_column", ForeignTableRelationId},
	/* column */
	{"property", AttributeRelationId},
	{NULL, InvalidOid}
};

static bool is_valid_option(const char *name, Oid context);
static const char *context_name(Oid context);
static void check_url(const char *option, const char *value);
static bool is_default_url(const char *option, const char *value);
static void require_superuser(const char *option, const char *value, const char *why);
static int	check_int(const char *option, const char *value, int min, int max);
static void check_tenant(const char *value);
static void check_timespan(const char *value);
static void check_kql_column(const char *option, const char *value);
static void check_credentials(const char *auth, bool have_secret, bool have_certificate,
							  bool have_key_file, bool have_thumbprint,
							  bool have_proxy_password, bool have_proxy_user);

/*
 * What the validator has seen in one option list, for the checks that
 * look at several options together.
 */
typedef struct OptionsSeen
{
	bool		have_tenant;
	char	   *resource;
	int			page_size;
	char	   *hunting_table;
	char	   *hunting_query;
	bool		have_timespan;
	bool		have_hunting_option;	/* hunting_* or time_column on a table */
	char	   *auth;
	bool		have_certificate;
	bool		have_key_file;
	bool		have_thumbprint;
	bool		have_secret_file;
	bool		have_proxy_password_file;
} OptionsSeen;

static void report_invalid_option(const char *name, Oid catalog) pg_attribute_noreturn();
static void check_server_option(const char *name, char *value, OptionsSeen *seen);
static void check_user_mapping_option(const char *name, char *value, OptionsSeen *seen);
static void check_table_option(const char *name, char *value, OptionsSeen *seen);
static bool check_shared_option(const char *name, char *value, OptionsSeen *seen);
static bool check_bool_option(const char *name, const char *value);
static void check_not_empty(const char *name, const char *value);
static void check_user_mapping(List *options, const OptionsSeen *seen);
static void check_foreign_table(const OptionsSeen *seen);

PG_FUNCTION_INFO_V1(defender_fdw_validator);

/*
 * defender_fdw_validator
 *		Validate the options of a CREATE or ALTER of a server, user mapping,
 *		foreign table or column.
 *
 * Called with the complete resulting option list, so required options can
 * be checked here too.  Each option is checked by its object's kind (the
 * option table guarantees it belongs there), then the options of a user
 * mapping, server or foreign table are checked together.
 */
Datum
defender_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;
	OptionsSeen seen;

	memset(&seen, 0, sizeof(seen));
	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		const char *name = def->defname;
		char	   *value;

		if (!is_valid_option(name, catalog))
			report_invalid_option(name, catalog);
		value = defGetString(def);

		switch (catalog)
		{
			case ForeignServerRelationId:
				check_server_option(name, value, &seen);
				break;
			case UserMappingRelationId:
				check_user_mapping_option(name, value, &seen);
				break;
			case ForeignTableRelationId:
				check_table_option(name, value, &seen);
				break;
			default:
				/* a column's "property" */
				check_not_empty(name, value);
				break;
		}
	}

	if (catalog == UserMappingRelationId)
		check_user_mapping(options, &seen);

	if (catalog == ForeignServerRelationId && !seen.have_tenant)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"tenant_id\" is required for a defender_fdw server"),
				 errhint("Give the Microsoft Entra tenant's ID or verified domain, e.g. OPTIONS (tenant_id '00000000-0000-0000-0000-000000000001').")));

	if (catalog == ForeignTableRelationId)
		check_foreign_table(&seen);

	PG_RETURN_VOID();
}

/*
 * report_invalid_option
 *		ERROR for an option that is not valid for catalog's kind of object:
 *		where it belongs instead, if anywhere, and the valid options here.
 */
static void
report_invalid_option(const char *name, Oid catalog)
{
	const DefenderOption *opt;
	StringInfoData buf;
	const char *home = NULL;

	initStringInfo(&buf);
	for (opt = valid_options; opt->name; opt++)
	{
		if (opt->context == catalog)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", opt->name);
		else if (strcmp(opt->name, name) == 0)
			home = context_name(opt->context);
	}
	if (home)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("option \"%s\" is not valid for a %s of defender_fdw",
						name, context_name(catalog)),
				 errdetail("\"%s\" belongs in a %s.", name, home),
				 strcmp(name, "client_secret") == 0 ?
				 errhint("Server options are readable by every user; keep the secret in CREATE USER MAPPING ... OPTIONS (client_secret '...').") :
				 (buf.len > 0 ? errhint("Valid options in this context are: %s.", buf.data) :
				  errhint("There are no valid options in this context."))));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", name),
			 buf.len > 0 ?
			 errhint("Valid options in this context are: %s.", buf.data) :
			 errhint("There are no valid options in this context.")));
}

/*
 * check_server_option
 *		The value of one server option: where requests go, how they are
 *		sent, and the tenant.
 */
static void
check_server_option(const char *name, char *value, OptionsSeen *seen)
{
	if (strcmp(name, "tenant_id") == 0)
	{
		check_tenant(value);
		seen->have_tenant = true;
	}
	else if (strcmp(name, "login_url") == 0 ||
			 strcmp(name, "graph_url") == 0 ||
			 strcmp(name, "mde_url") == 0)
	{
		check_url(name, value);
		if (!is_default_url(name, value))
			require_superuser(name, value,
							  "The URLs decide where the client secret and the access tokens are sent.");
	}
	else if (strcmp(name, "managed_identity_url") == 0)
	{
		check_url(name, value);
		if (strcmp(value, DEFAULT_MANAGED_IDENTITY_URL) != 0)
			require_superuser(name, value,
							  "The URL decides where the database server asks for managed-identity tokens.");
	}
	else if (strcmp(name, "proxy") == 0)
	{
		if (strchr(value, '@') != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"proxy\" must not contain credentials"),
					 errdetail("Server options are readable by every user."),
					 errhint("Put the proxy's credentials in the user mapping: OPTIONS (proxy_user '...', proxy_password '...').")));
		check_url(name, value);
		require_superuser(name, value,
						  "Every request, with its access token, goes through the proxy.");
	}
	else if (strcmp(name, "cloud") == 0)
		(void) defender_check_cloud(value);
	else if (strcmp(name, "api_version") == 0)
	{
		if (strcmp(value, "v1.0") != 0 && strcmp(value, "beta") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"api_version\": \"%s\"", value),
					 errhint("Valid values are \"v1.0\" and \"beta\".")));
	}
	else if (strcmp(name, "timeout") == 0)
		(void) check_int(name, value, MIN_TIMEOUT, MAX_TIMEOUT);
	else if (strcmp(name, "max_retries") == 0)
		(void) check_int(name, value, 0, MAX_MAX_RETRIES);
	else if (strcmp(name, "max_response_mb") == 0)
		(void) check_int(name, value, 1, MAX_MAX_RESPONSE_MB);
	else if (strcmp(name, "hunting_quota") == 0 || strcmp(name, "graph_quota") == 0)
		(void) check_int(name, value, 0, DFW_QUOTA_MAX_CALLS);
	else if (strcmp(name, "quota_window") == 0)
		(void) check_int(name, value, 1, MAX_QUOTA_WINDOW);
	else if (strcmp(name, "allow_managed_identity") == 0)
	{
		if (check_bool_option(name, value))
			require_superuser(name, value,
							  "It lets the roles with a managed-identity user mapping on this server act as the database host's identity.");
	}
	else if (strcmp(name, "verify_ssl") == 0)
	{
		if (!check_bool_option(name, value))
			require_superuser(name, value,
							  "Without verification anyone on the network path can read the client secret and the access tokens.");
	}
	else if (strcmp(name, "ca_file") == 0)
	{
		if (!is_absolute_path(value))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"ca_file\" must be an absolute path")));
		require_superuser(name, value,
						  "The certificates it names decide which hosts are trusted with the client secret and the access tokens, and the file is read with the server's operating system privileges.");
	}
	else if (!check_shared_option(name, value, seen))
		check_not_empty(name, value);
}

/*
 * check_user_mapping_option
 *		The value of one user mapping option: the credentials.
 */
static void
check_user_mapping_option(const char *name, char *value, OptionsSeen *seen)
{
	if (strcmp(name, "auth") == 0)
	{
		if (strcmp(value, "client_secret") != 0 &&
			strcmp(value, "certificate") != 0 &&
			strcmp(value, "managed_identity") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"auth\": \"%s\"", value),
					 errhint("Valid values are \"client_secret\", \"certificate\" and \"managed_identity\".")));

		/*
		 * A managed identity is the database host's own identity: whoever
		 * uses the mapping acts as the host, with no credential of their
		 * own.  As postgres_fdw's password_required, only a superuser
		 * decides that; the validator sees the whole option list, so a
		 * non-superuser cannot ALTER such a mapping either.
		 */
		if (strcmp(value, "managed_identity") == 0 && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to set option \"auth\" to \"managed_identity\""),
					 errdetail("A managed identity is the database host's own identity: only a superuser may let a role act as it."),
					 errhint("Ask a superuser to create the user mapping, and to set allow_managed_identity on the server for non-superusers.")));
		seen->auth = value;
	}
	else if (strcmp(name, "certificate_file") == 0 ||
			 strcmp(name, "private_key_file") == 0 ||
			 strcmp(name, "client_secret_file") == 0 ||
			 strcmp(name, "proxy_password_file") == 0)
	{
		/*
		 * The file is read by the server's OS user: letting any user name
		 * one would let them use (and probe) files they cannot read.
		 */
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers can set option \"%s\"", name),
					 errdetail("The file is read with the database server's operating system privileges.")));
		if (!is_absolute_path(value))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"%s\" must be an absolute path", name)));
		if (strcmp(name, "certificate_file") == 0)
			seen->have_certificate = true;
		else if (strcmp(name, "private_key_file") == 0)
			seen->have_key_file = true;
		else if (strcmp(name, "client_secret_file") == 0)
			seen->have_secret_file = true;
		else
			seen->have_proxy_password_file = true;
	}
	else if (strcmp(name, "certificate_thumbprint") == 0)
	{
		const char *p;
		int			digits = 0;

		for (p = value; *p; p++)
		{
			if (isxdigit((unsigned char) *p))
				digits++;
			else if (*p != ':' && *p != ' ')
				digits = -1000;
		}
		if (digits != 40)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"certificate_thumbprint\": \"%s\"", value),
					 errhint("Give the certificate's SHA-1 thumbprint as 40 hexadecimal digits, as the Azure portal shows it.")));
		seen->have_thumbprint = true;
	}
	else
		check_not_empty(name, value);
}

/*
 * check_table_option
 *		The value of one foreign table option: what the table reads.
 */
static void
check_table_option(const char *name, char *value, OptionsSeen *seen)
{
	if (strcmp(name, "page_size") == 0)
		seen->page_size = check_int(name, value, 1, 1000);
	else if (strcmp(name, "table") == 0)
	{
		const char *p;

		for (p = value; *p; p++)
			if (!(isalnum((unsigned char) *p) || *p == '_'))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"table\": \"%s\"", value),
						 errhint("Give an advanced hunting table name such as DeviceProcessEvents; use the option \"query\" for any other KQL.")));
		seen->hunting_table = value;
	}
	else if (strcmp(name, "query") == 0)
	{
		if (value[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"query\" must not be empty")));
		seen->hunting_query = value;
	}
	else if (strcmp(name, "time_column") == 0)
	{
		check_kql_column(name, value);
		seen->have_hunting_option = true;
	}
	else if (strcmp(name, "resource") == 0)
	{
		if (graph_find_resource(value) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"resource\": \"%s\"", value),
					 errhint("Valid values are: %s.", graph_resource_names())));
		seen->resource = value;
	}
	else if (!check_shared_option(name, value, seen))
		check_not_empty(name, value);
}

/*
 * check_shared_option
 *		The options a server and a foreign table both take (the table's
 *		overrides the server's): false for any other option.
 */
static bool
check_shared_option(const char *name, char *value, OptionsSeen *seen)
{
	if (strcmp(name, "timespan") == 0)
	{
		check_timespan(value);
		seen->have_timespan = true;
	}
	else if (strcmp(name, "parallel_pages") == 0)
		(void) check_int(name, value, 1, MAX_PARALLEL_PAGES);
	else if (strcmp(name, "cache_ttl") == 0)
		(void) check_int(name, value, 0, MAX_CACHE_TTL);
	else if (strcmp(name, "pushdown") == 0 || strcmp(name, "async_capable") == 0 ||
			 strcmp(name, "use_remote_estimate") == 0)
		(void) check_bool_option(name, value);
	else if (strcmp(name, "request_latency") == 0)
		(void) check_int(name, value, 0, MAX_REQUEST_LATENCY);
	else if (strcmp(name, "hunting_split") == 0)
		(void) check_bool_option(name, value);
	else if (strcmp(name, "hunting_window") == 0)
		(void) defender_interval_ticks(name, value);
	else if (strcmp(name, "hunting_max_windows") == 0)
		(void) check_int(name, value, 2, MAX_HUNTING_WINDOWS);
	else if (strcmp(name, "hunting_max_rows") == 0)
		(void) check_int(name, value, 1, MAX_HUNTING_MAX_ROWS);
	else
		return false;
	if (strncmp(name, "hunting_", 8) == 0)
		seen->have_hunting_option = true;
	return true;
}

/* A boolean option's value, or an ERROR. */
static bool
check_bool_option(const char *name, const char *value)
{
	bool		b;

	if (!parse_bool(value, &b))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for boolean option \"%s\": \"%s\"", name, value)));
	return b;
}

/* Any other option: a value, not the empty string. */
static void
check_not_empty(const char *name, const char *value)
{
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"%s\" must not be empty", name)));
}

/*
 * check_user_mapping
 *		The options of a user mapping together: each secret in one place,
 *		and one credential method (check_credentials).
 */
static void
check_user_mapping(List *options, const OptionsSeen *seen)
{
	ListCell   *cell;
	bool		have_secret = false;
	bool		have_proxy_user = false;
	bool		have_proxy_password = false;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "client_secret") == 0)
			have_secret = true;
		else if (strcmp(def->defname, "proxy_user") == 0)
			have_proxy_user = true;
		else if (strcmp(def->defname, "proxy_password") == 0)
			have_proxy_password = true;
	}
	if (have_secret && seen->have_secret_file)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("options \"client_secret\" and \"client_secret_file\" cannot both be set"),
				 errhint("Keep the secret in one place: ALTER USER MAPPING ... OPTIONS (DROP client_secret).")));
	if (have_proxy_password && seen->have_proxy_password_file)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("options \"proxy_password\" and \"proxy_password_file\" cannot both be set"),
				 errhint("Keep the password in one place: ALTER USER MAPPING ... OPTIONS (DROP proxy_password).")));
	check_credentials(seen->auth, have_secret || seen->have_secret_file,
					  seen->have_certificate, seen->have_key_file, seen->have_thumbprint,
					  have_proxy_password || seen->have_proxy_password_file,
					  have_proxy_user);
}

/*
 * check_foreign_table
 *		The options of a foreign table together: a resource, and the
 *		options that apply to it only.
 */
static void
check_foreign_table(const OptionsSeen *seen)
{
	const GraphResource *res;

	if (seen->resource == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"resource\" is required for a defender_fdw foreign table"),
				 errhint("Valid values are: %s.", graph_resource_names())));
	res = graph_find_resource(seen->resource);
	if (strcmp(res->name, "hunting") == 0)
	{
		if ((seen->hunting_table == NULL) == (seen->hunting_query == NULL))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("a hunting foreign table needs exactly one of the options \"table\" and \"query\""),
					 errhint("OPTIONS (resource 'hunting', table 'DeviceProcessEvents') reads a table; OPTIONS (resource 'hunting', query '...') reads the result of any KQL.")));
		if (seen->page_size > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"page_size\" does not apply to advanced hunting"),
					 errdetail("A hunting query returns its whole result in one response.")));
	}
	else if (seen->hunting_table || seen->hunting_query || seen->have_timespan)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("options \"table\", \"query\" and \"timespan\" apply only to resource 'hunting'")));
	else if (seen->have_hunting_option)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("options \"hunting_split\", \"hunting_window\", \"hunting_max_windows\", \"hunting_max_rows\" and \"time_column\" apply only to resource 'hunting'")));
	else if (seen->page_size > res->max_page_size)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"page_size\" must be at most %d for resource \"%s\"",
						res->max_page_size, res->name),
				 errdetail("Graph rejects $top above %d on this resource.",
						   res->max_page_size)));
}

static bool
is_valid_option(const char *name, Oid context)
{
	const DefenderOption *opt;

	for (opt = valid_options; opt->name; opt++)
		if (opt->context == context && strcmp(opt->name, name) == 0)
			return true;
	return false;
}

static const char *
context_name(Oid context)
{
	switch (context)
	{
		case ForeignServerRelationId:
			return "server";
		case UserMappingRelationId:
			return "user mapping";
		case ForeignTableRelationId:
			return "foreign table";
		case AttributeRelationId:
			return "column";
		default:
			return "foreign-data wrapper";
	}
}

/*
 * check_url
 *		An http(s) URL with a host and nothing after the path, as libcurl
 *		reads it (defender_url_origin): the same reading that decides where
 *		every request goes.
 *
 * User information ("user:password@host") is refused: it would be sent
 * along and shown wherever the URL is; so are a query, a fragment, a
 * control character and a host with a trailing dot.
 */
static void
check_url(const char *option, const char *value)
{
	DfwOrigin	origin;
	char	   *rest;
	char	   *why;

	if (!defender_url_origin(value, &origin, &rest, &why) ||
		(strchr(rest, '?') != NULL && (why = "the URL has a query") != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", option,
						defender_display_text(value)),
				 errdetail("%c%s%s.", pg_toupper((unsigned char) why[0]), why + 1,
						   dfw_url_has_scheme(value) ? "" :
						   " (only http:// and https:// URLs are allowed)"),
				 errhint("Give a scheme, a host and optionally a port and path, with no credentials, query or fragment.")));
}

/*
 * is_default_url
 *		Whether a URL option names its Microsoft default (a trailing slash
 *		ignored), which any server owner may spell out.
 */
static bool
is_default_url(const char *option, const char *value)
{
	const char *def = strcmp(option, "login_url") == 0 ? DEFAULT_LOGIN_URL :
		strcmp(option, "graph_url") == 0 ? DEFAULT_GRAPH_URL : DEFAULT_MDE_URL;
	size_t		len = strlen(def);

	return strncmp(value, def, len) == 0 &&
		(value[len] == '\0' || (value[len] == '/' && value[len + 1] == '\0'));
}

/*
 * require_superuser
 *		ERROR unless the current user is a superuser: for the options that
 *		weaken TLS or send requests elsewhere.
 *
 * PostgreSQL already lets only a server's owner change its options; this
 * narrows the few options that decide where the client secret and the
 * bearer tokens go (the URLs, verify_ssl off, ca_file) to superusers, so a
 * role granted USAGE on the wrapper can create its own servers against
 * Microsoft's endpoints, verified, and nothing else: no requests from the
 * database host to an internal address, no file of the server read as a
 * CA bundle.  The validator sees the whole resulting option list, so a
 * non-superuser who owns a server that a superuser gave such an option
 * cannot ALTER that server's options either.
 */
static void
require_superuser(const char *option, const char *value, const char *why)
{
	if (superuser())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to set option \"%s\" to \"%s\"", option, value),
			 errdetail("Only a superuser may set this option. %s", why),
			 errhint("Ask a superuser to create the server, then GRANT USAGE ON FOREIGN SERVER to the roles that use it.")));
}

static int
check_int(const char *option, const char *value, int min, int max)
{
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (end == value || *end != '\0' || errno != 0 || n < min || n > max)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", option, value),
				 errhint("Valid values are integers from %d to %d.", min, max)));
	return (int) n;
}

/*
 * check_tenant
 *		A tenant GUID or verified domain name, not a multi-tenant alias.
 */
static void
check_tenant(const char *value)
{
	const char *p;

	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"tenant_id\" must not be empty")));
	for (p = value; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '-' || *p == '.'))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"tenant_id\": \"%s\"", value),
					 errhint("Give the tenant's GUID or a verified domain such as contoso.onmicrosoft.com.")));
	if (pg_strcasecmp(value, "common") == 0 ||
		pg_strcasecmp(value, "organizations") == 0 ||
		pg_strcasecmp(value, "consumers") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("tenant \"%s\" cannot be used with client credentials", value),
				 errhint("Microsoft Entra refuses the client credentials grant on multi-tenant endpoints (AADSTS9001023); give the tenant's own ID.")));
}

/*
 * check_timespan
 *		An ISO 8601 duration or interval as runHuntingQuery takes it:
 *		"P30D", "PT12H", "2024-02-01T08:00:00Z/2024-02-15T08:00:00Z",
 *		"P7D/2024-02-15T08:00:00Z", "2024-02-01T08:00:00Z/P7D", or a start.
 *		The service checks the details; this catches typos early.
 */
static void
check_timespan(const char *value)
{
	const char *slash = strchr(value, '/');
	int			part;

	for (part = 0; part < (slash ? 2 : 1); part++)
	{
		const char *start = part == 0 ? value : slash + 1;
		size_t		len = part == 0 && slash ? (size_t) (slash - value) : strlen(start);
		bool		ok = len > 1;
		size_t		i;

		if (ok && start[0] == 'P')
		{
			for (i = 1; i < len; i++)
				if (!(isdigit((unsigned char) start[i]) || strchr("YMWDTHS.", start[i])))
					ok = false;
		}
		else if (ok)
		{
			ok = isdigit((unsigned char) start[0]);
			for (i = 0; ok && i < len; i++)
				if (!(isdigit((unsigned char) start[i]) || strchr("-:T.Z+", start[i])))
					ok = false;
		}
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"timespan\": \"%s\"", value),
					 errhint("Give an ISO 8601 duration or interval, e.g. 'P7D', 'PT12H' or '2025-01-01T00:00:00Z/2025-01-08T00:00:00Z'.")));
	}
}

/*
 * defender_check_cloud
 *		One of the clouds defender_fdw knows; China is refused by name.
 */
const DefenderCloud *
defender_check_cloud(const char *value)
{
	const DefenderCloud *cloud;

	for (cloud = defender_clouds; cloud->name; cloud++)
		if (strcmp(cloud->name, value) == 0)
			return cloud;
	if (pg_strcasecmp(value, "china") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cloud \"china\" is not supported"),
				 errdetail("The Microsoft Graph security API (incidents, alerts and advanced hunting) is not available in Microsoft Azure operated by 21Vianet.")));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"cloud\": \"%s\"", value),
			 errhint("Valid values are \"global\", \"usgov\" (GCC High) and \"dod\".")));
	return NULL;				/* keep compiler quiet */
}

/*
 * check_credentials
 *		A user mapping names one credential method, completely.
 *
 * The method is auth when given, else certificate_file or client_secret
 * decides it; mixing them is refused, so that it is never a guess which
 * credential a token came from.  A mapping with none at all is allowed
 * here (the credentials may be added later) and refused at first use.
 */
static void
check_credentials(const char *auth, bool have_secret, bool have_certificate,
				  bool have_key_file, bool have_thumbprint,
				  bool have_proxy_password, bool have_proxy_user)
{
	int			methods = (have_secret ? 1 : 0) + (have_certificate ? 1 : 0) +
		(auth && strcmp(auth, "managed_identity") == 0 ? 1 : 0);

	if (methods > 1 ||
		(auth && strcmp(auth, "client_secret") == 0 && have_certificate) ||
		(auth && strcmp(auth, "certificate") == 0 && have_secret))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("a user mapping of defender_fdw takes exactly one credential method"),
				 errdetail("It has %s.",
						   have_secret && have_certificate ? "both client_secret and certificate_file" :
						   have_secret ? psprintf("client_secret and auth '%s'", auth) :
						   psprintf("certificate_file and auth '%s'", auth)),
				 errhint("Keep one of client_secret, certificate_file or auth 'managed_identity': ALTER USER MAPPING ... OPTIONS (DROP ...).")));
	if ((have_key_file || have_thumbprint) && !have_certificate)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"%s\" needs option \"certificate_file\"",
						have_key_file ? "private_key_file" : "certificate_thumbprint")));
	if (auth && strcmp(auth, "certificate") == 0 && !have_certificate)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("auth 'certificate' needs option \"certificate_file\"")));
	if (have_proxy_password && !have_proxy_user)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"proxy_password\" needs option \"proxy_user\"")));
}

/*
 * check_kql_column
 *		A KQL column name: letters, digits and underscores, not starting
 *		with a digit (the names of the advanced hunting schema).
 */
static void
check_kql_column(const char *option, const char *value)
{
	const char *p;
	bool		ok = value[0] != '\0' && !isdigit((unsigned char) value[0]);

	for (p = value; ok && *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '_'))
			ok = false;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", option, value),
				 errhint("Give the name of a datetime column of the hunting result, such as Timestamp.")));
}

/*
 * defender_interval_ticks
 *		An interval option's value in 100 ns ticks, or an ERROR.
 *
 * The text is read by PostgreSQL's own interval input; months are
 * refused (a month has no fixed length, and a window must have one), as
 * is anything not positive.
 */
int64
defender_interval_ticks(const char *option, const char *value)
{
	Interval   *iv = DatumGetIntervalP(DirectFunctionCall3(interval_in,
														   CStringGetDatum(value),
														   ObjectIdGetDatum(InvalidOid),
														   Int32GetDatum(-1)));
	int64		usecs;

	if (iv->month != 0 ||
		pg_mul_s64_overflow((int64) iv->day, USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, iv->time, &usecs) ||
		usecs <= 0 || usecs > INT64CONST(3650) * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", option, value),
				 errhint("Give a positive interval of days, hours, minutes or seconds (no months), such as '1 day' or '6 hours'.")));
	return usecs * 10;
}
