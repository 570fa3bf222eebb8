/*-------------------------------------------------------------------------
 *
 * auth.c
 *		  OAuth2 client-credentials tokens from Microsoft Entra ID.
 *
 * A token is requested from {login_url}/{tenant_id}/oauth2/v2.0/token for
 * one resource (scope "{resource}/.default": Graph and the Defender for
 * Endpoint API each need their own) and cached for the backend's life,
 * keyed by login URL, tenant, client, scope, the credential it was
 * obtained with and whether TLS was verified, so a mapping with a wrong
 * secret never rides on another mapping's token, nor a certificate
 * mapping on a secret's, nor a verifying server on a token fetched without
 * verification.  It is renewed shortly before it expires, after a 401 from
 * the API, and whenever any foreign server or user mapping changes.
 * When the library is preloaded, the token comes from the cluster's
 * shared table (token_cache_shared.c) and the backend's cache only
 * mirrors it, so one token serves every backend.
 *
 * Three credential methods, one per user mapping:
 *	- client secret: client_secret in the token request;
 *	- certificate: a client assertion, a JWT signed with the certificate's
 *	  private key (built by client_assertion.c), instead of the secret;
 *	- managed identity: no credential at all; the Azure instance metadata
 *	  service (IMDS) on the VM hands out tokens for the VM's identity.
 *
 * Entra's errors are branched on by their AADSTS code, never their text,
 * and become an ERROR that shows the code and the likely fix.
 *
 * src/remote/auth.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "client_assertion.h"
#include "defender_remote.h"
#include "shared_state.h"

/* Renew this long before expiry, but never more than half the lifetime. */
#define TOKEN_RENEW_MARGIN_S 300
/* A client assertion is good for this long: long enough for clock skew. */
#define ASSERTION_LIFETIME_S 600
#define IMDS_API_VERSION "2018-02-01"

typedef struct CachedToken
{
	char	   *login_url;
	char	   *tenant_id;
	char	   *client_id;
	char	   *credential;		/* credential_identity(): method and secret/files */
	char	   *resource;
	bool		verify_ssl;		/* a token fetched without verification stays apart */
	char	   *access_token;
	TimestampTz renew_at;
	bool		shared;			/* a copy of the shared table's token */
	uint64		generation;		/* which one (for a 401) */
} CachedToken;

static List *token_cache = NIL;	/* of CachedToken, in TopMemoryContext */

static bool callbacks_registered = false;

static CachedToken *find_token(const DefenderOptions *opts, const char *resource);
static void drop_token(CachedToken *entry);
static void invalidate_tokens(Datum arg, int cacheid, uint32 hashvalue);
static void forget_all_tokens(void);
static char *credential_identity(const DefenderOptions *opts);
static void token_key(const DefenderOptions *opts, const char *resource, uint8 *key);
static char *shared_token(const DefenderOptions *opts, const char *resource,
						  long *valid_ms, uint64 *generation);
static char *request_token(const DefenderOptions *opts, const char *resource,
						   long *expires_in);
static char *client_assertion(const DefenderOptions *opts, const char *url);
static char *request_imds_token(const DefenderOptions *opts, const char *resource,
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
		/* a rotated secret file: no token fetched with the old one is reused */
		defender_on_secret_rotation(forget_all_tokens);
		callbacks_registered = true;
	}

	entry = find_token(opts, resource);
	if (entry && !force_refresh && GetCurrentTimestamp() < entry->renew_at)
		return entry->access_token;
	if (entry)
		drop_token(entry);

	if (defender_shared_enabled())
	{
		long		valid_ms;
		uint64		generation;

		/* force_refresh: the 401's defender_forget_token dropped the shared one */
		token = shared_token(opts, resource, &valid_ms, &generation);
		old = MemoryContextSwitchTo(TopMemoryContext);
		entry = palloc0(sizeof(CachedToken));
		entry->shared = true;
		entry->generation = generation;
		entry->renew_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), valid_ms);
	}
	else
	{
		token = request_token(opts, resource, &expires_in);
		old = MemoryContextSwitchTo(TopMemoryContext);
		entry = palloc0(sizeof(CachedToken));
		margin = Min(TOKEN_RENEW_MARGIN_S, expires_in / 2);
		entry->renew_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  (expires_in - margin) * 1000);
	}
	entry->login_url = pstrdup(opts->login_url);
	entry->tenant_id = pstrdup(opts->tenant_id);
	entry->client_id = pstrdup(opts->client_id ? opts->client_id : "");
	entry->credential = credential_identity(opts);
	entry->resource = pstrdup(resource);
	entry->verify_ssl = opts->verify_ssl;
	entry->access_token = token;
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

	if (entry && entry->shared)
	{
		uint8		key[DFW_KEY_LEN];

		token_key(opts, resource, key);
		defender_shared_token_invalidate(key, entry->generation);
	}
	if (entry)
		drop_token(entry);
}

/*
 * token_key
 *		The shared table's key of a token: everything that decides it,
 *		the credential only as part of a digest.
 */
static void
token_key(const DefenderOptions *opts, const char *resource, uint8 *key)
{
	char	   *credential = credential_identity(opts);
	const char *parts[6];

	parts[0] = opts->login_url;
	parts[1] = opts->tenant_id;
	parts[2] = opts->client_id ? opts->client_id : "";
	parts[3] = resource;
	parts[4] = opts->verify_ssl ? "verify" : "no-verify";
	parts[5] = credential;
	defender_shared_key(parts, lengthof(parts), key);
	explicit_bzero(credential, strlen(credential));
	pfree(credential);
}

/*
 * shared_token
 *		The token from the cluster's table, fetched from Entra by this
 *		backend only when the table says so; in TopMemoryContext.
 *
 * *valid_ms is how long this backend may use it before asking the table
 * again (the shared renewal time, or a second while another backend is
 * renewing it); *generation identifies it for a later 401.
 */
static char *
shared_token(const DefenderOptions *opts, const char *resource, long *valid_ms,
			 uint64 *generation)
{
	uint8		key[DFW_KEY_LEN];
	bool		claimed;
	char	   *token;
	long		expires_in = 0;
	long		margin;
	/* as long as this backend's own request could take, retries included */
	long		claim_ms = (long) opts->timeout * 1000L * (opts->max_retries + 1) + 1000L;

	token_key(opts, resource, key);
	token = defender_shared_token_get(key, claim_ms, valid_ms, generation, &claimed);
	if (token)
		return token;

	PG_TRY();
	{
		token = request_token(opts, resource, &expires_in);
	}
	PG_CATCH();
	{
		if (claimed)
			defender_shared_token_release(key);
		PG_RE_THROW();
	}
	PG_END_TRY();

	margin = Min(TOKEN_RENEW_MARGIN_S, expires_in / 2);
	*valid_ms = (expires_in - margin) * 1000L;
	*generation = claimed ?
		defender_shared_token_put(key, token, *valid_ms, expires_in * 1000L) : 0;
	return token;
}

static CachedToken *
find_token(const DefenderOptions *opts, const char *resource)
{
	ListCell   *lc;
	char	   *credential = credential_identity(opts);
	CachedToken *found = NULL;

	foreach(lc, token_cache)
	{
		CachedToken *entry = (CachedToken *) lfirst(lc);

		if (strcmp(entry->login_url, opts->login_url) == 0 &&
			strcmp(entry->tenant_id, opts->tenant_id) == 0 &&
			strcmp(entry->client_id, opts->client_id ? opts->client_id : "") == 0 &&
			strcmp(entry->credential, credential) == 0 &&
			strcmp(entry->resource, resource) == 0 &&
			entry->verify_ssl == opts->verify_ssl)
		{
			found = entry;
			break;
		}
	}
	explicit_bzero(credential, strlen(credential));
	pfree(credential);
	return found;
}

/* Remove an entry, wiping its credentials before the memory is reused. */
static void
drop_token(CachedToken *entry)
{
	token_cache = list_delete_ptr(token_cache, entry);
	explicit_bzero(entry->access_token, strlen(entry->access_token));
	explicit_bzero(entry->credential, strlen(entry->credential));
	pfree(entry->login_url);
	pfree(entry->tenant_id);
	pfree(entry->client_id);
	pfree(entry->credential);
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

/* Drop every cached token (the secret of a secret file changed). */
static void
forget_all_tokens(void)
{
	invalidate_tokens((Datum) 0, 0, 0);
}

/*
 * credential_identity
 *		What tells one credential from another, for the token cache: the
 *		method and the secret, the certificate's files and thumbprint, or the
 *		metadata endpoint.  palloc'd; wipe it after use.
 */
static char *
credential_identity(const DefenderOptions *opts)
{
	switch (opts->auth)
	{
		case DEFENDER_AUTH_CERTIFICATE:
			return psprintf("certificate\n%s\n%s\n%s", opts->certificate_file,
							opts->private_key_file ? opts->private_key_file : "",
							opts->certificate_thumbprint ? opts->certificate_thumbprint : "");
		case DEFENDER_AUTH_MANAGED_IDENTITY:
			return psprintf("managed_identity\n%s", opts->managed_identity_url);
		default:
			{
				const char *secret = defender_client_secret(opts);

				return psprintf("client_secret\n%s", secret ? secret : "");
			}
	}
}

/*
 * request_token
 *		POST the client credentials grant (or ask IMDS); returns the token in
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

	if (opts->auth == DEFENDER_AUTH_MANAGED_IDENTITY)
		return request_imds_token(opts, resource, expires_in);

	initStringInfo(&body);
	appendStringInfo(&body, "grant_type=client_credentials&client_id=%s&scope=%s",
					 defender_url_encode(opts->client_id),
					 defender_url_encode(scope));
	if (opts->auth == DEFENDER_AUTH_CERTIFICATE)
	{
		char	   *assertion = client_assertion(opts, url);

		appendStringInfo(&body, "&client_assertion_type=%s&client_assertion=%s",
						 defender_url_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
						 assertion);
		explicit_bzero(assertion, strlen(assertion));
		pfree(assertion);
	}
	else
		appendStringInfo(&body, "&client_secret=%s",
						 defender_url_encode(defender_client_secret(opts)));

	response = defender_http_send(opts, "POST", url, opts->login_url, display, headers,
								  body.data, body.len, true, DEFENDER_BACKOFF);
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
 * client_assertion
 *		The signed JWT for a certificate credential, palloc'd.
 *
 * The key file is checked first: like PostgreSQL's own ssl_key_file, a
 * key that other OS users can read is refused rather than used.
 */
static char *
client_assertion(const DefenderOptions *opts, const char *url)
{
	DfwAssertionRequest request;
	DfwAssertionResult result;
	char	   *assertion;

	{
		const char *key_file = opts->private_key_file ? opts->private_key_file :
			opts->certificate_file;
		struct stat st;

		if (stat(key_file, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not access private key file \"%s\": %m", key_file)));
		defender_check_private_file(key_file, &st, "private key file");
	}

	memset(&request, 0, sizeof(request));
	request.certificate_file = opts->certificate_file;
	request.private_key_file = opts->private_key_file;
	request.expected_thumbprint = opts->certificate_thumbprint;
	request.audience = url;
	request.client_id = opts->client_id;
	request.now = (long) time(NULL);
	request.lifetime = ASSERTION_LIFETIME_S;

	if (dfw_build_client_assertion(&request, &result) != DFW_ASSERTION_OK)
	{
		const char *hint;

		switch (result.error)
		{
			case DFW_ASSERTION_OUT_OF_MEMORY:
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory building a client assertion")));
				break;
			case DFW_ASSERTION_BAD_CERTIFICATE:
				hint = "certificate_file must hold the certificate (and may hold its private key) in PEM format, readable by the database server's operating system user.";
				break;
			case DFW_ASSERTION_BAD_KEY:
				hint = "Give the certificate's unencrypted PEM private key, in certificate_file or in private_key_file (for example: openssl pkcs12 -in cert.pfx -nodes).";
				break;
			case DFW_ASSERTION_THUMBPRINT_MISMATCH:
				hint = "certificate_thumbprint names another certificate: correct the option or point certificate_file at that certificate.";
				break;
			case DFW_ASSERTION_KEY_MISMATCH:
				hint = "Point private_key_file at the key the certificate was issued for.";
				break;
			default:
				hint = NULL;
				break;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not build a client assertion from the certificate"),
				 errdetail("%s", result.message),
				 hint ? errhint("%s", hint) : 0));
	}
	elog(DEBUG1, "defender_fdw: client assertion signed with certificate %s",
		 result.thumbprint);
	assertion = pstrdup(result.assertion);
	dfw_assertion_free(&result);
	return assertion;
}

/*
 * request_imds_token
 *		A managed identity's token from the Azure instance metadata service.
 *
 * GET {managed_identity_url}?api-version=...&resource=...[&client_id=...]
 * with "Metadata: true", which IMDS requires (it refuses requests that a
 * browser or an SSRF could forge).  Never through a proxy: IMDS answers
 * only on the VM's own link-local address.
 */
static char *
request_imds_token(const DefenderOptions *opts, const char *resource,
				   long *expires_in)
{
	DefenderOptions direct = *opts;
	StringInfoData url;
	char	   *display;
	const char *headers[] = {"Metadata: true", "Accept: application/json", NULL};
	DefenderResponse *response;
	DfwTokenResponse parsed;
	char	   *token;

	direct.proxy = "";			/* "" = no proxy, not even from the environment */
	initStringInfo(&url);
	appendStringInfo(&url, "%s?api-version=%s&resource=%s", opts->managed_identity_url,
					 IMDS_API_VERSION, defender_url_encode(resource));
	if (opts->client_id)
		appendStringInfo(&url, "&client_id=%s", defender_url_encode(opts->client_id));
	display = psprintf("GET %s", url.data);

	response = defender_http_send(&direct, "GET", url.data, opts->managed_identity_url,
								  display, headers,
								  NULL, 0, true, DEFENDER_BACKOFF);
	dfw_parse_token_response(response->http.body, response->http.body_len, &parsed);
	defender_response_release(response);

	if (response->http.status != 200 || parsed.access_token == NULL)
	{
		long		status = response->http.status;
		const char *hint;

		dfw_token_response_free(&parsed);
		if (status == 400 && opts->client_id)
			hint = psprintf("Check that a user-assigned managed identity with client ID \"%s\" is assigned to this virtual machine.",
							opts->client_id);
		else if (status == 400)
			hint = "Check that this virtual machine has a system-assigned managed identity, or give the client_id of a user-assigned one in the user mapping.";
		else if (status == 404)
			hint = "The metadata service does not know this path: check the server option managed_identity_url.";
		else if (status == 429 || status >= 500)
			hint = psprintf("The metadata service is busy or unavailable; the request was retried %d times. Try again later.",
							opts->max_retries);
		else
			hint = NULL;
		ereport(ERROR,
				(errcode(status == 429 || status >= 500 ?
						 ERRCODE_FDW_UNABLE_TO_CREATE_REPLY :
						 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not obtain a managed identity token from the Azure instance metadata service"),
				 parsed.error[0] ?
				 errdetail("HTTP %ld, %s: %s", status, parsed.error, parsed.description) :
				 errdetail("HTTP %ld with no token in the answer.", status),
				 hint ? errhint("%s", hint) : 0,
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
		case 700027:
			hint = "Entra does not accept the certificate's signature: upload this certificate (its public part) to the application's \"Certificates & secrets\", or point certificate_file at one that is registered.";
			break;
		case 700024:
			hint = "The client assertion's validity did not cover Entra's clock: check that the database server's clock is correct.";
			break;
		case 50013:
		case 50027:
			hint = "Entra refused the client assertion itself; check the server's clock and login_url (the assertion's audience is the token endpoint).";
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
