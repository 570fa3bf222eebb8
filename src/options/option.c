/*-------------------------------------------------------------------------
 *
 * option.c
 *		  Options of defender_fdw's servers, user mappings, tables and columns.
 *
 * One table lists every option and the catalog it belongs to.  Values are
 * checked here, in the validator, so that a bad value fails at CREATE or
 * ALTER time rather than at the first query; defender_get_options() then
 * merges the options of one scan or function call and fills in defaults.
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
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_language.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "funcapi.h"

#include "defender_catalog.h"
#include "defender_remote.h"

#define DEFAULT_LOGIN_URL	"https://login.microsoftonline.com"
#define DEFAULT_GRAPH_URL	"https://graph.microsoft.com"
#define DEFAULT_MDE_URL		"https://api.securitycenter.microsoft.com"
#define DEFAULT_MANAGED_IDENTITY_URL "http://169.254.169.254/metadata/identity/oauth2/token"
#define DEFAULT_API_VERSION "v1.0"
#define DEFAULT_TIMEOUT		15
#define MIN_TIMEOUT			15
#define MAX_TIMEOUT			120
#define DEFAULT_MAX_RETRIES 3
#define MAX_MAX_RETRIES		10
#define DEFAULT_MAX_RESPONSE_MB 256
#define MAX_MAX_RESPONSE_MB 1024
#define DEFAULT_PARALLEL_PAGES 4
#define MAX_PARALLEL_PAGES	8	/* of DFW_MAX_TRANSFERS, leaving some for other requests */
#define MAX_CACHE_TTL 86400
#define DEFAULT_HUNTING_QUOTA 45	/* runHuntingQuery: 45 calls a minute */
#define DEFAULT_GRAPH_QUOTA 50	/* the incidents API: 50 calls a minute */
#define DEFAULT_QUOTA_WINDOW 60
#define MAX_QUOTA_WINDOW	3600

/*
 * The national clouds defender_fdw can reach, with their hosts (see the
 * reference's "Hosts by cloud"): the server option cloud picks a row, and
 * explicit login_url, graph_url and mde_url options override its columns.
 */
typedef struct DefenderCloud
{
	const char *name;
	const char *login_url;
	const char *graph_url;
	const char *mde_url;
} DefenderCloud;

static const DefenderCloud clouds[] = {
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
static const DefenderCloud *check_cloud(const char *value);
static void check_credentials(const char *auth, bool have_secret, bool have_certificate,
							  bool have_key_file, bool have_thumbprint,
							  bool have_proxy_password, bool have_proxy_user);

PG_FUNCTION_INFO_V1(defender_fdw_validator);
PG_FUNCTION_INFO_V1(defender_endpoints);

/*
 * defender_fdw_validator
 *		Validate the options of a CREATE or ALTER of a server, user mapping,
 *		foreign table or column.
 *
 * Called with the complete resulting option list, so required options can
 * be checked here too.
 */
Datum
defender_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;
	bool		have_tenant = false;
	char	   *resource = NULL;
	int			page_size = 0;
	char	   *hunting_table = NULL;
	char	   *hunting_query = NULL;
	bool		have_timespan = false;
	char	   *auth = NULL;
	bool		have_secret = false;
	bool		have_certificate = false;
	bool		have_key_file = false;
	bool		have_thumbprint = false;
	bool		have_proxy_user = false;
	bool		have_proxy_password = false;
	bool		have_secret_file = false;
	bool		have_proxy_password_file = false;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		const char *name = def->defname;
		char	   *value;

		if (!is_valid_option(name, catalog))
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

		value = defGetString(def);

		if (strcmp(name, "tenant_id") == 0)
		{
			check_tenant(value);
			have_tenant = true;
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
			(void) check_cloud(value);
		else if (strcmp(name, "auth") == 0)
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
			auth = value;
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
				have_certificate = true;
			else if (strcmp(name, "private_key_file") == 0)
				have_key_file = true;
			else if (strcmp(name, "client_secret_file") == 0)
				have_secret_file = true;
			else
				have_proxy_password_file = true;
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
			have_thumbprint = true;
		}
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
		else if (strcmp(name, "page_size") == 0)
			page_size = check_int(name, value, 1, 1000);
		else if (strcmp(name, "parallel_pages") == 0)
			(void) check_int(name, value, 1, MAX_PARALLEL_PAGES);
		else if (strcmp(name, "cache_ttl") == 0)
			(void) check_int(name, value, 0, MAX_CACHE_TTL);
		else if (strcmp(name, "hunting_quota") == 0 || strcmp(name, "graph_quota") == 0)
			(void) check_int(name, value, 0, DFW_QUOTA_MAX_CALLS);
		else if (strcmp(name, "quota_window") == 0)
			(void) check_int(name, value, 1, MAX_QUOTA_WINDOW);
		else if (strcmp(name, "verify_ssl") == 0 || strcmp(name, "pushdown") == 0 ||
				 strcmp(name, "allow_managed_identity") == 0)
		{
			bool		b;

			if (!parse_bool(value, &b))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for boolean option \"%s\": \"%s\"", name, value)));
			if (b && strcmp(name, "allow_managed_identity") == 0)
				require_superuser(name, value,
								  "It lets the roles with a managed-identity user mapping on this server act as the database host's identity.");
			if (!b && strcmp(name, "verify_ssl") == 0)
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
		else if (strcmp(name, "table") == 0)
		{
			const char *p;

			for (p = value; *p; p++)
				if (!(isalnum((unsigned char) *p) || *p == '_'))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"table\": \"%s\"", value),
							 errhint("Give an advanced hunting table name such as DeviceProcessEvents; use the option \"query\" for any other KQL.")));
			hunting_table = value;
		}
		else if (strcmp(name, "query") == 0)
		{
			if (value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"query\" must not be empty")));
			hunting_query = value;
		}
		else if (strcmp(name, "timespan") == 0)
		{
			check_timespan(value);
			have_timespan = true;
		}
		else if (strcmp(name, "resource") == 0)
		{
			if (graph_find_resource(value) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"resource\": \"%s\"", value),
						 errhint("Valid values are: %s.", graph_resource_names())));
			resource = value;
		}
		else if (value[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"%s\" must not be empty", name)));
	}

	if (catalog == UserMappingRelationId)
	{
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
		if (have_secret && have_secret_file)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("options \"client_secret\" and \"client_secret_file\" cannot both be set"),
					 errhint("Keep the secret in one place: ALTER USER MAPPING ... OPTIONS (DROP client_secret).")));
		if (have_proxy_password && have_proxy_password_file)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("options \"proxy_password\" and \"proxy_password_file\" cannot both be set"),
					 errhint("Keep the password in one place: ALTER USER MAPPING ... OPTIONS (DROP proxy_password).")));
		check_credentials(auth, have_secret || have_secret_file, have_certificate, have_key_file,
						  have_thumbprint, have_proxy_password || have_proxy_password_file,
						  have_proxy_user);
	}

	if (catalog == ForeignServerRelationId && !have_tenant)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"tenant_id\" is required for a defender_fdw server"),
				 errhint("Give the Microsoft Entra tenant's ID or verified domain, e.g. OPTIONS (tenant_id '00000000-0000-0000-0000-000000000001').")));

	if (catalog == ForeignTableRelationId)
	{
		const GraphResource *res;

		if (resource == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("option \"resource\" is required for a defender_fdw foreign table"),
					 errhint("Valid values are: %s.", graph_resource_names())));
		res = graph_find_resource(resource);
		if (strcmp(res->name, "hunting") == 0)
		{
			if ((hunting_table == NULL) == (hunting_query == NULL))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
						 errmsg("a hunting foreign table needs exactly one of the options \"table\" and \"query\""),
						 errhint("OPTIONS (resource 'hunting', table 'DeviceProcessEvents') reads a table; OPTIONS (resource 'hunting', query '...') reads the result of any KQL.")));
			if (page_size > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("option \"page_size\" does not apply to advanced hunting"),
						 errdetail("A hunting query returns its whole result in one response.")));
		}
		else if (hunting_table || hunting_query || have_timespan)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("options \"table\", \"query\" and \"timespan\" apply only to resource 'hunting'")));
		else if (page_size > res->max_page_size)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"page_size\" must be at most %d for resource \"%s\"",
							res->max_page_size, res->name),
					 errdetail("Graph rejects $top above %d on this resource.",
							   res->max_page_size)));
	}

	PG_RETURN_VOID();
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
 * check_cloud
 *		One of the clouds defender_fdw knows; China is refused by name.
 */
static const DefenderCloud *
check_cloud(const char *value)
{
	const DefenderCloud *cloud;

	for (cloud = clouds; cloud->name; cloud++)
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
	const DefenderCloud *cloud = &clouds[0];
	char	   *auth = NULL;
	bool		have_login_url = false;
	bool		have_graph_url = false;
	bool		have_mde_url = false;

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
	opts->cache_ttl = 0;
	opts->hunting_quota = DEFAULT_HUNTING_QUOTA;
	opts->graph_quota = DEFAULT_GRAPH_QUOTA;
	opts->quota_window = DEFAULT_QUOTA_WINDOW;
	opts->managed_identity_url = DEFAULT_MANAGED_IDENTITY_URL;

	/* Later lists win: the user mapping's client_id over the server's. */
	options = list_copy(server->options);
	if (mapping)
		options = list_concat(options, mapping->options);
	if (table)
		options = list_concat(options, table->options);

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		const char *name = def->defname;
		char	   *value = defGetString(def);

		if (strcmp(name, "tenant_id") == 0)
			opts->tenant_id = pstrdup(value);
		else if (strcmp(name, "login_url") == 0)
			opts->login_url = url_option(value), have_login_url = true;
		else if (strcmp(name, "graph_url") == 0)
			opts->graph_url = url_option(value), have_graph_url = true;
		else if (strcmp(name, "mde_url") == 0)
			opts->mde_url = url_option(value), have_mde_url = true;
		else if (strcmp(name, "cloud") == 0)
			cloud = check_cloud(value);
		else if (strcmp(name, "managed_identity_url") == 0)
			opts->managed_identity_url = pstrdup(value);
		else if (strcmp(name, "proxy") == 0)
			opts->proxy = pstrdup(value);
		else if (strcmp(name, "auth") == 0)
			auth = value;
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
		else if (strcmp(name, "table") == 0)
			opts->hunting_table = pstrdup(value);
		else if (strcmp(name, "query") == 0)
			opts->hunting_query = pstrdup(value);
		else if (strcmp(name, "timespan") == 0)
			opts->timespan = pstrdup(value);
	}

	/* the cloud's hosts, where no URL option overrides them */
	opts->cloud = pstrdup(cloud->name);
	if (!have_login_url)
		opts->login_url = pstrdup(cloud->login_url);
	if (!have_graph_url)
		opts->graph_url = pstrdup(cloud->graph_url);
	if (!have_mde_url)
		opts->mde_url = pstrdup(cloud->mde_url);

	if (auth && strcmp(auth, "managed_identity") == 0)
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

	if (need_credentials && opts->auth == DEFENDER_AUTH_CERTIFICATE &&
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
	if (need_credentials && opts->auth == DEFENDER_AUTH_MANAGED_IDENTITY &&
		!opts->allow_managed_identity && !superuser_arg(userid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use the managed identity of server \"%s\"",
						server->servername),
				 errdetail("The user mapping for user \"%s\" has auth 'managed_identity', which acts as the database host's identity; for a non-superuser that needs the server option allow_managed_identity, which a superuser sets.",
						   MappingUserName(userid)),
				 errhint("A superuser may allow it: ALTER SERVER %s OPTIONS (ADD allow_managed_identity 'true').",
						 quote_identifier(server->servername))));
	if (need_credentials && opts->auth == DEFENDER_AUTH_CLIENT_SECRET &&
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

	return opts;
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
