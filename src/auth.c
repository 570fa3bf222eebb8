/*-------------------------------------------------------------------------
 *
 * auth.c
 *		  OAuth2 client-credentials tokens from Microsoft Entra ID.
 *
 * A token is requested from {login_url}/{tenant_id}/oauth2/v2.0/token for
 * one resource (scope "{resource}/.default": Graph and the Defender for
 * Endpoint API each need their own) and cached for the backend's life,
 * keyed by login URL, tenant, client, scope, the secret it was obtained
 * with and whether TLS was verified, so a mapping with a wrong secret never
 * rides on another mapping's token, nor a verifying server on a token
 * fetched without verification.  It is renewed shortly before it expires, after a 401 from the
 * API, and whenever any foreign server or user mapping changes.
 *
 * Entra's errors are branched on by their AADSTS code, never their text,
 * and become an ERROR that shows the code and the likely fix.
 *
 * src/auth.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "defender_fdw.h"

/* Renew this long before expiry, but never more than half the lifetime. */
#define TOKEN_RENEW_MARGIN_S 300

typedef struct CachedToken
{
	char	   *login_url;
	char	   *tenant_id;
	char	   *client_id;
	char	   *client_secret;
	char	   *resource;
	bool		verify_ssl;		/* a token fetched without verification stays apart */
	char	   *access_token;
	TimestampTz renew_at;
} CachedToken;

static List *token_cache = NIL;	/* of CachedToken, in TopMemoryContext */
static bool callbacks_registered = false;

static CachedToken *find_token(const DefenderOptions *opts, const char *resource);
static void drop_token(CachedToken *entry);
static void invalidate_tokens(Datum arg, int cacheid, uint32 hashvalue);
static char *request_token(const DefenderOptions *opts, const char *resource,
						   long *expires_in);
static void report_entra_error(const DefenderOptions *opts, const char *resource,
							   const char *display, const DefenderResponse *response);

/*
 * defender_get_token
 *		A valid access token for the resource, from the cache or Entra.
 *
 * The returned string belongs to the cache; use it before the next call.
 */
const char *
defender_get_token(const DefenderOptions *opts, const char *resource,
				   bool force_refresh)
{
	CachedToken *entry;
	char	   *token;
	long		expires_in = 0;
	long		margin;
	MemoryContext old;

	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, invalidate_tokens, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, invalidate_tokens, (Datum) 0);
		callbacks_registered = true;
	}

	entry = find_token(opts, resource);
	if (entry && !force_refresh && GetCurrentTimestamp() < entry->renew_at)
		return entry->access_token;
	if (entry)
		drop_token(entry);

	token = request_token(opts, resource, &expires_in);

	old = MemoryContextSwitchTo(TopMemoryContext);
	entry = palloc0(sizeof(CachedToken));
	entry->login_url = pstrdup(opts->login_url);
	entry->tenant_id = pstrdup(opts->tenant_id);
	entry->client_id = pstrdup(opts->client_id);
	entry->client_secret = pstrdup(opts->client_secret);
	entry->resource = pstrdup(resource);
	entry->verify_ssl = opts->verify_ssl;
	entry->access_token = token;
	margin = Min(TOKEN_RENEW_MARGIN_S, expires_in / 2);
	entry->renew_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  (expires_in - margin) * 1000);
	token_cache = lappend(token_cache, entry);
	MemoryContextSwitchTo(old);

	return entry->access_token;
}

/*
 * defender_forget_token
 *		Drop the cached token for the resource, after the API refused it.
 */
void
defender_forget_token(const DefenderOptions *opts, const char *resource)
{
	CachedToken *entry = find_token(opts, resource);

	if (entry)
		drop_token(entry);
}

static CachedToken *
find_token(const DefenderOptions *opts, const char *resource)
{
	ListCell   *lc;

	foreach(lc, token_cache)
	{
		CachedToken *entry = (CachedToken *) lfirst(lc);

		if (strcmp(entry->login_url, opts->login_url) == 0 &&
			strcmp(entry->tenant_id, opts->tenant_id) == 0 &&
			strcmp(entry->client_id, opts->client_id) == 0 &&
			strcmp(entry->client_secret, opts->client_secret) == 0 &&
			strcmp(entry->resource, resource) == 0 &&
			entry->verify_ssl == opts->verify_ssl)
			return entry;
	}
	return NULL;
}

/* Remove an entry, wiping its credentials before the memory is reused. */
static void
drop_token(CachedToken *entry)
{
	token_cache = list_delete_ptr(token_cache, entry);
	explicit_bzero(entry->access_token, strlen(entry->access_token));
	explicit_bzero(entry->client_secret, strlen(entry->client_secret));
	pfree(entry->login_url);
	pfree(entry->tenant_id);
	pfree(entry->client_id);
	pfree(entry->client_secret);
	pfree(entry->resource);
	pfree(entry->access_token);
	pfree(entry);
}

/*
 * invalidate_tokens
 *		Syscache callback: a server or user mapping changed.
 *
 * Any change may be a new secret, tenant or URL, and such changes are
 * rare, so every cached token is dropped rather than working out which
 * ones the change touched.
 */
static void
invalidate_tokens(Datum arg, int cacheid, uint32 hashvalue)
{
	while (token_cache != NIL)
		drop_token((CachedToken *) linitial(token_cache));
}

/*
 * request_token
 *		POST the client credentials grant; returns the token in
 *		TopMemoryContext and its lifetime in seconds.
 */
static char *
request_token(const DefenderOptions *opts, const char *resource, long *expires_in)
{
	char	   *url = psprintf("%s/%s/oauth2/v2.0/token", opts->login_url,
							   opts->tenant_id);
	char	   *display = psprintf("POST %s", url);
	char	   *scope = psprintf("%s/.default", resource);
	StringInfoData body;
	const char *headers[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json",
		NULL
	};
	DefenderResponse *response;
	DfwTokenResponse parsed;
	char	   *token;

	initStringInfo(&body);
	appendStringInfo(&body, "grant_type=client_credentials&client_id=%s&scope=%s&client_secret=%s",
					 defender_url_encode(opts->client_id),
					 defender_url_encode(scope),
					 defender_url_encode(opts->client_secret));

	response = defender_http_send(opts, "POST", url, display, headers,
								  body.data, body.len, true);
	explicit_bzero(body.data, body.len);

	if (response->http.status != 200)
		report_entra_error(opts, resource, display, response);

	dfw_parse_token_response(response->http.body, response->http.body_len, &parsed);
	defender_response_release(response);
	if (parsed.access_token == NULL)
	{
		dfw_token_response_free(&parsed);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("the token endpoint's answer holds no access token"),
				 errcontext("remote request: %s", display)));
	}
	token = MemoryContextStrdup(TopMemoryContext, parsed.access_token);
	*expires_in = parsed.expires_in > 0 ? parsed.expires_in : 60;
	dfw_token_response_free(&parsed);
	return token;
}

/*
 * report_entra_error
 *		ERROR for a failed token request, with Entra's AADSTS code and,
 *		for the codes users meet, what to do about it.
 */
static void
report_entra_error(const DefenderOptions *opts, const char *resource,
				   const char *display, const DefenderResponse *response)
{
	DfwTokenResponse parsed;
	char	   *hint = NULL;
	char	   *detail;

	dfw_parse_token_response(response->http.body, response->http.body_len, &parsed);
	dfw_token_response_free(&parsed);

	if (!parsed.parsed || parsed.error[0] == '\0')
	{
		const char *ct = response->http.content_type;

		ereport(ERROR,
				(errcode(response->http.status >= 500 || response->http.status == 429 ?
						 ERRCODE_FDW_UNABLE_TO_CREATE_REPLY :
						 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not obtain an access token from Microsoft Entra ID"),
				 errdetail("The token endpoint answered HTTP %ld with %s.",
						   response->http.status,
						   response->http.body_len == 0 ? "an empty body" :
						   (ct[0] ? psprintf("a %s body that is not an OAuth error", ct) :
							"a body that is not an OAuth error")),
				 errhint("Check the server option login_url."),
				 errcontext("remote request: %s", display)));
	}

	switch (parsed.aadsts)
	{
		case 7000215:
			hint = "The client secret is wrong. A common cause is pasting the secret's ID instead of its value: copy the Value shown when the secret was created into the user mapping's client_secret.";
			break;
		case 7000222:
			hint = "The client secret has expired. Create a new secret for the application and run ALTER USER MAPPING ... OPTIONS (SET client_secret '...').";
			break;
		case 700016:
			hint = psprintf("No application with client_id \"%s\" exists in tenant \"%s\": check client_id and tenant_id, and that the application is registered in or consented to by that tenant.",
							opts->client_id, opts->tenant_id);
			break;
		case 90002:
			hint = psprintf("Tenant \"%s\" was not found: check tenant_id, and for a national cloud the server's login_url.",
							opts->tenant_id);
			break;
		case 90038:
			hint = "The tenant belongs to another national cloud: set login_url, graph_url and mde_url for that cloud.";
			break;
		case 70011:
			hint = psprintf("The scope \"%s/.default\" was refused: check graph_url and mde_url.", resource);
			break;
		case 500011:
		case 65001:
			hint = "The application lacks consent for this API: have an administrator grant consent to its API permissions.";
			break;
		case 53003:
			hint = "A Conditional Access policy blocked the sign-in; ask the tenant's administrators to exempt this workload identity.";
			break;
		case 9001023:
			hint = "Client credentials need the tenant's own ID, not common or organizations.";
			break;
		default:
			if (response->http.status >= 500 || response->http.status == 429)
				hint = psprintf("Microsoft Entra ID is unavailable or throttling; the request was retried %d times. Try again later.",
								opts->max_retries);
			break;
	}

	detail = psprintf("HTTP %ld, %s: %s (trace ID %s, correlation ID %s).",
					  response->http.status, parsed.error,
					  defender_redact(opts, parsed.description),
					  parsed.trace_id[0] ? parsed.trace_id : "none",
					  parsed.correlation_id[0] ? parsed.correlation_id : "none");

	ereport(ERROR,
			(errcode(response->http.status >= 500 || response->http.status == 429 ?
					 ERRCODE_FDW_UNABLE_TO_CREATE_REPLY :
					 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 parsed.aadsts ?
			 errmsg("could not obtain an access token from Microsoft Entra ID: AADSTS%ld",
					parsed.aadsts) :
			 errmsg("could not obtain an access token from Microsoft Entra ID: %s",
					parsed.error),
			 errdetail_internal("%s", detail),
			 hint ? errhint("%s", hint) : 0,
			 errcontext("remote request: %s", display)));
}
