/*-------------------------------------------------------------------------
 *
 * request_function.c
 *		  defender_request(): any request to Graph or the Defender for
 *		  Endpoint API, its answer as a row.
 *
 *	SELECT status, body FROM defender_request('GET', 'security/alerts_v2/x');
 *
 * defender_request() returns HTTP error statuses as rows instead of
 * raising, so a PL/pgSQL playbook can branch on them: it sends through
 * defender_send_request() (request.c) like every other request, with
 * DEFENDER_ANY_STATUS, the caller's headers, and extra_fields' retry_count
 * and retry_wait given to the one retry rule (connection.c).
 * The bearer token only ever goes to the server's graph_url or mde_url:
 * an absolute URL elsewhere is refused before any network I/O.  EXECUTE
 * is revoked from PUBLIC by the extension script: it can do anything.
 *
 * src/functions/request_function.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "catalog/pg_foreign_server.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/jsonapi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "defender_remote.h"
#include "defender_scan.h"
#include "function_support.h"
#include "pg_jansson.h"

PG_FUNCTION_INFO_V1(defender_request);

#define MAX_RETRY_COUNT		10
#define MAX_RETRY_WAIT_S	120

/* defender_request()'s extra_fields */
typedef enum ResponseType
{
	RESPONSE_JSON,
	RESPONSE_TEXT,
	RESPONSE_BYTES
} ResponseType;

typedef struct RequestExtras
{
	List	   *header_lines;	/* "Name: value" (UTF-8) */
	int			retry_count;	/* -1: the server's max_retries */
	long		retry_wait_ms;	/* DEFENDER_BACKOFF: connection.c's backoff */
	ResponseType response_type;
} RequestExtras;

static const char *endpoint_url(const DefenderOptions *opts, const char *endpoint,
								const char *fname, StringInfo url);
static void response_row(const DfwHttpResponse *http, ResponseType response_type,
						 const char *display, Datum *values, bool *nulls);
static bool path_under(const char *rest, const char *base_rest);
static void append_url_text(StringInfo buf, const char *text);
static void append_query_name(StringInfo buf, const char *name);
static char *jsonb_scalar_text(const JsonbValue *v);
static const char *jsonb_kind_name(const JsonbValue *v);
static void read_query_params(Jsonb *params, StringInfo url);
static void read_extras(Jsonb *extras, RequestExtras *out);
static void read_extra_headers(JsonbValue *value, RequestExtras *out);
static Datum response_headers_jsonb(const DfwHttpResponse *http);

/* ----------------------------------------------------------------------
 * The generic request
 * ----------------------------------------------------------------------
 */

/*
 * defender_request
 *		defender_request(method, endpoint, payload, query_params,
 *		extra_fields, server)
 *		RETURNS TABLE (status int, headers jsonb, body jsonb, body_text text)
 *
 * One row, whatever the HTTP status: only failures without an HTTP answer
 * (connection, TLS, timeout, too large, token) raise.  Everything is
 * checked and written before anything is sent.
 */
Datum
defender_request(PG_FUNCTION_ARGS)
{
	const char *fname = "defender_request";
	char	   *method = defender_required_text(fcinfo, 0, fname, "method");
	char	   *endpoint = defender_required_text(fcinfo, 1, fname, "endpoint");
	Jsonb	   *payload = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Jsonb	   *query_params = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	Jsonb	   *extra_fields = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};
	RequestExtras extras;
	SetResult	set;
	DefenderOptions *opts;
	char	   *why;
	const char *audience;
	StringInfoData url;
	char	   *display;
	char	   *body = NULL;
	DefenderRequest request;
	int			i;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;
	DefenderResponse *response;
	Datum		values[4];
	bool		nulls[4];
	char	   *p;

	/* method */
	for (p = method; *p; p++)
		*p = pg_toupper((unsigned char) *p);
	for (i = 0; methods[i] && strcmp(methods[i], method) != 0; i++)
		;
	if (methods[i] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported method \"%s\" for %s()", method, fname),
				 errdetail("Valid methods: GET, POST, PUT, PATCH, DELETE.")));

	/* the options say where the token may go; reading them sends nothing */
	opts = defender_function_options(fcinfo, 5, fname);
	initStringInfo(&url);
	audience = endpoint_url(opts, endpoint, fname, &url);
	if (query_params)
		read_query_params(query_params, &url);

	/* the payload and the extras */
	if (payload)
	{
		if (strcmp(method, "GET") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a GET request of %s() takes no payload", fname)));
		body = defender_to_utf8(JsonbToCString(NULL, &payload->root, VARSIZE(payload)));
	}
	read_extras(extra_fields, &extras);

	/* how the request appears in messages: the path and query sent */
	{
		DfwOrigin	sent;
		char	   *rest;

		display = defender_url_origin(url.data, &sent, &rest, &why) ?
			psprintf("%s %s", method, rest) :
			psprintf("%s %s", method, defender_display_text(url.data));
	}

	defender_begin_set(fcinfo, &set, InvalidOid, fname);

	call_cxt = AllocSetContextCreate(caller, "defender_fdw action", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);
	memset(&request, 0, sizeof(request));
	request.audience = audience;
	request.method = method;
	request.url = url.data;
	request.display = display;
	request.body = body;
	request.flags = DEFENDER_ANY_STATUS;
	request.headers = extras.header_lines;
	request.max_retries = extras.retry_count;
	request.retry_wait_ms = extras.retry_wait_ms;
	response = defender_send_request(opts, &request);

	response_row(&response->http, extras.response_type, display, values, nulls);
	tuplestore_putvalues(set.store, set.desc, values, nulls);
	defender_response_release(response);

	MemoryContextSwitchTo(caller);
	MemoryContextDelete(call_cxt);
	defender_end_set(&set);
	return (Datum) 0;
}

/*
 * endpoint_url
 *		Write the URL of endpoint into url, and return the audience of its
 *		token (graph_url or mde_url).
 *
 * The URL: relative to /{api_version}/, or absolute on graph_url's or
 * mde_url's origin as libcurl reads it (curl_url), with no user
 * information, fragment or control character.  The URL is then rebuilt
 * from those parts, and the client checks it once more before sending.
 */
static const char *
endpoint_url(const DefenderOptions *opts, const char *endpoint, const char *fname,
			 StringInfo url)
{
	DfwOrigin	target;
	DfwOrigin	graph;
	DfwOrigin	mde;
	char	   *graph_rest;
	char	   *mde_rest;
	char	   *why;
	const char *audience;
	const char *path;

	if (!defender_url_origin(opts->graph_url, &graph, &graph_rest, &why) ||
		!defender_url_origin(opts->mde_url, &mde, &mde_rest, &why))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("cannot read graph_url or mde_url of server \"%s\"", opts->servername),
				 errdetail("%s.", why)));

	if (dfw_url_has_scheme(endpoint))
	{
		char	   *rest = NULL;
		bool		parsed = defender_url_origin(endpoint, &target, &rest, &why);
		bool		on_graph = parsed && defender_same_origin(&target, &graph);
		bool		on_mde = parsed && defender_same_origin(&target, &mde);

		if (!on_graph && !on_mde)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s() sends requests only to the server's graph_url or mde_url", fname),
					 errdetail("The endpoint %s is not on %s or %s (%s); the access token is sent nowhere else.",
					 /* an '@' may end a password: such an endpoint is not echoed */
							   strchr(endpoint, '@') ? "(not shown: it has an '@')" :
							   psprintf("\"%s\"", defender_display_text(endpoint)),
							   opts->graph_url, opts->mde_url,
							   parsed ? "scheme, host and port must be the same" : why),
					 errhint("Give a path relative to %s/%s/, such as security/incidents, or change the server's graph_url or mde_url.",
							 opts->graph_url, opts->api_version)));
		/* both on one origin (a test set-up): the longer matching base path wins */
		if (on_graph && on_mde)
			on_graph = !(path_under(rest, mde_rest) &&
						 strlen(mde_rest) > strlen(graph_rest));
		audience = on_graph ? opts->graph_url : opts->mde_url;
		appendStringInfoString(url, defender_origin_text(&target));
		path = rest;
	}
	else
	{
		const char *seg;

		path = endpoint;
		while (*path == '/')
			path++;
		/* stay below /{api_version}/: no "." or ".." segments */
		for (seg = path; *seg && *seg != '?' && *seg != '#';)
		{
			size_t		seglen = strcspn(seg, "/?#");

			if ((seglen == 1 && seg[0] == '.') || (seglen == 2 && strncmp(seg, "..", 2) == 0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the endpoint of %s() must not contain \".\" or \"..\" segments", fname),
						 errhint("A relative endpoint is below %s/%s/; give an absolute URL on that host for anything else.",
								 opts->graph_url, opts->api_version)));
			seg += seglen;
			if (*seg == '/')
				seg++;
		}
		audience = opts->graph_url;
		appendStringInfo(url, "%s/%s/", opts->graph_url, opts->api_version);
	}
	append_url_text(url, defender_to_utf8(path));
	return audience;
}

/*
 * response_row
 *		The row of an answer: status, headers, body as jsonb when it is
 *		JSON (response_type json), body_text as text or base64 (bytes).
 */
static void
response_row(const DfwHttpResponse *http, ResponseType response_type, const char *display,
			 Datum *values, bool *nulls)
{
	memset(nulls, 0, sizeof(bool) * 4);
	values[0] = Int32GetDatum((int32) http->status);
	values[1] = response_headers_jsonb(http);
	nulls[2] = true;
	if (http->body_len == 0)
		nulls[3] = true;
	else if (response_type == RESPONSE_BYTES)
	{
		int			enclen = pg_b64_enc_len((int) http->body_len);
		text	   *encoded;
		int			written;

		if ((Size) enclen + VARHDRSZ >= MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the response of %zu bytes is too large to return in base64", http->body_len),
					 errcontext("remote request: %s", display)));
		encoded = (text *) palloc(VARHDRSZ + enclen);
#if PG_VERSION_NUM >= 180000
		written = pg_b64_encode((const uint8 *) http->body, (int) http->body_len,
								VARDATA(encoded), enclen);
#else
		written = pg_b64_encode(http->body, (int) http->body_len, VARDATA(encoded), enclen);
#endif
		if (written < 0)
			elog(ERROR, "could not encode the response in base64");
		SET_VARSIZE(encoded, VARHDRSZ + written);
		values[3] = PointerGetDatum(encoded);
	}
	else
	{
		char	   *converted;

		if (!pg_verify_mbstr(PG_UTF8, http->body, (int) http->body_len, true))
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("the response body is not valid UTF-8 text"),
					 errdetail("HTTP %ld, %zu bytes of %s.", http->status, http->body_len,
							   http->content_type[0] ? http->content_type : "an untyped body"),
					 errhint("Ask for it in base64 with extra_fields => '{\"response_type\": \"bytes\"}'."),
					 errcontext("remote request: %s", display)));
		converted = pg_any_to_server(http->body, (int) http->body_len, PG_UTF8);
		values[3] = PointerGetDatum(cstring_to_text(converted));
		if (response_type == RESPONSE_JSON &&
			defender_is_json_text(converted, strlen(converted), NULL))
		{
			values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(converted));
			nulls[2] = false;
		}
	}
}

/*
 * response_headers_jsonb
 *		{"content-type", "request-id", "retry-after"}: those the response
 *		had (the client keeps only these).
 */
static Datum
response_headers_jsonb(const DfwHttpResponse *http)
{
	const char *names[] = {"content-type", "request-id", "retry-after"};
	const char *values[] = {http->content_type, http->request_id, http->retry_after};
	StringInfoData buf;
	bool		first = true;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < lengthof(names); i++)
	{
		if (values[i][0] == '\0' ||
			!pg_verify_mbstr(PG_UTF8, values[i], (int) strlen(values[i]), true))
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, names[i]);
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, pg_any_to_server(values[i], (int) strlen(values[i]), PG_UTF8));
		first = false;
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* Is the path of rest at or below base_rest's path? */
static bool
path_under(const char *rest, const char *base_rest)
{
	size_t		len = strcspn(base_rest, "?#");

	if (len == 0 || strncmp(rest, base_rest, len) != 0)
		return false;
	return rest[len] == '\0' || rest[len] == '/' || rest[len] == '?' || rest[len] == '#';
}

/*
 * append_url_text
 *		Path and query text as given, with the bytes a URL cannot hold
 *		percent-encoded: spaces, controls, non-ASCII, "<>\"\\^`{|}[]", a '#'
 *		(a fragment is never sent) and a '%' that starts no escape.
 */
static void
append_url_text(StringInfo buf, const char *text)
{
	const unsigned char *p;

	for (p = (const unsigned char *) text; *p; p++)
	{
		if (*p == '%' && isxdigit(p[1]) && isxdigit(p[2]))
			appendStringInfoChar(buf, '%');
		else if (*p < 0x80 && (isalnum(*p) || strchr("-._~:/?@!$&'()*+,;=", *p) != NULL))
			appendStringInfoChar(buf, (char) *p);
		else
			appendStringInfo(buf, "%%%02X", *p);
	}
}

/* A query parameter name: percent-encoded, but '$' kept ($top, $filter). */
static void
append_query_name(StringInfo buf, const char *name)
{
	const unsigned char *p;

	for (p = (const unsigned char *) name; *p; p++)
	{
		if (*p < 0x80 && (isalnum(*p) || strchr("-._~$", *p) != NULL))
			appendStringInfoChar(buf, (char) *p);
		else
			appendStringInfo(buf, "%%%02X", *p);
	}
}

/*
 * read_query_params
 *		Append a jsonb object's pairs to the URL as name=value, both
 *		percent-encoded (UTF-8); null values are left out.
 */
static void
read_query_params(Jsonb *params, StringInfo url)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	char	   *name = NULL;
	bool		has_query = strchr(url->data, '?') != NULL;

	if (!JB_ROOT_IS_OBJECT(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query_params of defender_request() must be a JSON object"),
				 errhint("For example: '{\"$top\": 5, \"$filter\": \"status eq ''active''\"}'.")));
	it = JsonbIteratorInit(&params->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *value;

		if (token == WJB_KEY)
		{
			name = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (token != WJB_VALUE)
			continue;
		if (v.type == jbvNull)
			continue;
		value = jsonb_scalar_text(&v);
		if (value == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("query parameter \"%s\" of defender_request() is %s", name,
							jsonb_kind_name(&v)),
					 errdetail("Query parameter values are strings, numbers or booleans.")));
		appendStringInfoChar(url, has_query ? '&' : '?');
		has_query = true;
		append_query_name(url, defender_to_utf8(name));
		appendStringInfoChar(url, '=');
		appendStringInfoString(url, defender_url_encode(defender_to_utf8(value)));
	}
}

/* A jsonb scalar as text (server encoding); NULL for containers and null. */
static char *
jsonb_scalar_text(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

static const char *
jsonb_kind_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "not a scalar";
	}
}

/*
 * read_extras
 *		extra_fields: headers, retry_count, retry_wait, response_type.
 */
static void
read_extras(Jsonb *extras, RequestExtras *out)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	char	   *key = NULL;

	memset(out, 0, sizeof(RequestExtras));
	out->retry_count = -1;
	out->retry_wait_ms = DEFENDER_BACKOFF;
	out->response_type = RESPONSE_JSON;
	if (extras == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(extras))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("extra_fields of defender_request() must be a JSON object"),
				 errdetail("Valid keys: headers, retry_count, retry_wait, response_type.")));

	it = JsonbIteratorInit(&extras->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (token == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (token != WJB_VALUE)
			continue;

		if (strcmp(key, "headers") == 0)
			read_extra_headers(&v, out);
		else if (strcmp(key, "retry_count") == 0 || strcmp(key, "retry_wait") == 0)
		{
			bool		is_count = strcmp(key, "retry_count") == 0;
			double		number = -1;
			char	   *end = NULL;
			char	   *text = v.type == jbvNumeric ? jsonb_scalar_text(&v) : NULL;

			if (text)
				number = strtod(text, &end);
			if (text == NULL || *end != '\0' || number < 0 ||
				number > (is_count ? MAX_RETRY_COUNT : MAX_RETRY_WAIT_S) ||
				(is_count && number != (double) (long) number))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s in extra_fields of defender_request() must be %s from 0 to %d",
								key, is_count ? "an integer" : "a number of seconds",
								is_count ? MAX_RETRY_COUNT : MAX_RETRY_WAIT_S)));
			if (is_count)
				out->retry_count = (int) number;
			else
				out->retry_wait_ms = (long) (number * 1000.0 + 0.5);
		}
		else if (strcmp(key, "response_type") == 0)
		{
			char	   *text = v.type == jbvString ? jsonb_scalar_text(&v) : NULL;

			if (text && pg_strcasecmp(text, "json") == 0)
				out->response_type = RESPONSE_JSON;
			else if (text && pg_strcasecmp(text, "text") == 0)
				out->response_type = RESPONSE_TEXT;
			else if (text && pg_strcasecmp(text, "bytes") == 0)
				out->response_type = RESPONSE_BYTES;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid response_type in extra_fields of defender_request()"),
						 errdetail("Valid values: json (body parsed, and body_text), text (body_text only), bytes (body_text in base64).")));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in extra_fields of defender_request()", key),
					 errdetail("Valid keys: headers, retry_count, retry_wait, response_type.")));
	}
}

/*
 * read_extra_headers
 *		extra_fields' "headers": an object of header names and string
 *		values.  Authorization comes from the user mapping, and Host,
 *		Content-Length and Transfer-Encoding from the URL and the payload;
 *		none of them can be set.
 */
static void
read_extra_headers(JsonbValue *value, RequestExtras *out)
{
	static const char *const refused[] = {"authorization", "proxy-authorization", "host",
	"content-length", "transfer-encoding", NULL};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	char	   *name = NULL;

	if (value->type != jbvBinary || !JsonContainerIsObject(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers in extra_fields of defender_request() must be a JSON object"),
				 errhint("For example: '{\"headers\": {\"Prefer\": \"include-unknown-enum-members\"}}'.")));

	it = JsonbIteratorInit(value->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *lower;
		char	   *text;
		const char *p;
		char	   *q;
		int			i;

		if (token == WJB_KEY)
		{
			name = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (token != WJB_VALUE)
			continue;

		for (p = name; *p; p++)
			if (!isalnum((unsigned char) *p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
				break;
		if (name[0] == '\0' || *p != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid header name \"%s\" in extra_fields of defender_request()", name)));
		lower = pstrdup(name);
		for (q = lower; *q; q++)
			*q = pg_tolower((unsigned char) *q);
		for (i = 0; refused[i]; i++)
			if (strcmp(lower, refused[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("header \"%s\" cannot be set through extra_fields of defender_request()", name),
						 errdetail("Authorization is always the user mapping's access token; Host, Content-Length and Transfer-Encoding follow from the URL and the payload.")));

		text = v.type == jbvString ? jsonb_scalar_text(&v) : NULL;
		if (text == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("header \"%s\" in extra_fields of defender_request() must be a string", name)));
		if (strpbrk(text, "\r\n") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("header \"%s\" in extra_fields of defender_request() must not contain a line break", name)));
		text = defender_to_utf8(text);
		/* libcurl drops a header written "Name:", and sends "Name;" as empty */
		out->header_lines = lappend(out->header_lines,
									text[0] ? psprintf("%s: %s", name, text) : psprintf("%s;", name));
	}
}
