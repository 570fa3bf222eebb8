/*-------------------------------------------------------------------------
 *
 * graph_response.c
 *		  What Graph, Defender for Endpoint and Entra say besides the rows:
 *		  error bodies, token answers and the Retry-After header.
 *
 * Small documents read whole with jansson into fixed-size fields (a
 * hunting or list page is read elsewhere, by the PostgreSQL side); a body
 * that is not the expected shape leaves its result's parsed flag at 0 and
 * the caller reports the raw HTTP status instead.
 *
 * Callers: the PostgreSQL side through defender_client.h (connection.c,
 * pager.c, auth.c, quota_governor.c, hunting_scan.c, actions.c).  jansson, libcurl (curl_getdate) and the C library
 * only; no PostgreSQL header.
 *
 * src/client/graph_response.c
 *
 *-------------------------------------------------------------------------
 */
#include "client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

/*
 * dfw_parse_retry_after
 *		Seconds from now that a Retry-After header asks for.
 *
 * RFC 9110 allows delta-seconds or an HTTP date; -1 means absent or
 * unusable (the caller then backs off on its own schedule).
 */
long
dfw_parse_retry_after(const char *value)
{
	char	   *end;
	long		seconds;
	time_t		when;

	if (value == NULL || value[0] == '\0')
		return -1;
	errno = 0;
	seconds = strtol(value, &end, 10);
	if (end != value && *end == '\0')
	{
		if (seconds < 0)
			return -1;
		/* "99999999999999999999" is ERANGE and LONG_MAX: capped alike */
		return (errno == ERANGE || seconds > DFW_RETRY_AFTER_CAP_S) ?
			DFW_RETRY_AFTER_CAP_S : seconds;
	}
	when = curl_getdate(value, NULL);
	if (when == -1)
		return -1;
	if (when <= time(NULL))
		return 0;
	return (when - time(NULL) > DFW_RETRY_AFTER_CAP_S) ?
		DFW_RETRY_AFTER_CAP_S : (long) (when - time(NULL));
}

/* A JSON string into a fixed-size field; anything else leaves it empty. */
static void
copy_json_string(char *dst, size_t dstsize, json_t *value)
{
	if (json_is_string(value))
		dfw_copy_string(dst, dstsize, json_string_value(value), json_string_length(value));
	else
		dst[0] = '\0';
}

/*
 * dfw_parse_graph_error
 *		Pick code, message and request ids out of a Graph error body.
 *
 * Anything that is not Graph's shape leaves err->parsed at 0, and the
 * caller reports the raw status instead.
 */
void
dfw_parse_graph_error(const char *body, size_t len, DfwGraphError *err)
{
	json_t	   *root;
	json_t	   *error;
	json_t	   *inner;

	memset(err, 0, sizeof(DfwGraphError));
	if (body == NULL || len == 0)
		return;
	root = json_loadb(body, len, 0, NULL);
	if (root == NULL)
		return;
	error = json_object_get(root, "error");
	if (json_is_object(error))
	{
		err->parsed = 1;
		copy_json_string(err->code, sizeof(err->code), json_object_get(error, "code"));
		copy_json_string(err->message, sizeof(err->message), json_object_get(error, "message"));
		inner = json_object_get(error, "innerError");
		if (!json_is_object(inner))
			inner = json_object_get(error, "innererror");
		if (json_is_object(inner))
		{
			copy_json_string(err->request_id, sizeof(err->request_id),
							 json_object_get(inner, "request-id"));
			copy_json_string(err->client_request_id, sizeof(err->client_request_id),
							 json_object_get(inner, "client-request-id"));
		}
		/* Defender for Endpoint puts its correlation id in "target". */
		if (err->request_id[0] == '\0')
			copy_json_string(err->request_id, sizeof(err->request_id),
							 json_object_get(error, "target"));
	}
	json_decref(root);
}

/*
 * dfw_parse_token_response
 *		Read a token endpoint answer: the token, or Entra's error fields.
 *
 * Only the first line of error_description is kept: the rest repeats the
 * trace and correlation ids, which are reported separately.
 */
void
dfw_parse_token_response(const char *body, size_t len, DfwTokenResponse *out)
{
	json_t	   *root;
	json_t	   *value;

	memset(out, 0, sizeof(DfwTokenResponse));
	if (body == NULL || len == 0)
		return;
	root = json_loadb(body, len, 0, NULL);
	if (root == NULL)
		return;
	if (!json_is_object(root))
	{
		json_decref(root);
		return;
	}
	out->parsed = 1;

	value = json_object_get(root, "access_token");
	if (json_is_string(value) && json_string_length(value) > 0)
	{
		out->access_token = strdup(json_string_value(value));
		value = json_object_get(root, "expires_in");
		if (json_is_integer(value))
			out->expires_in = json_integer_value(value) > DFW_TOKEN_LIFETIME_CAP_S ?
				DFW_TOKEN_LIFETIME_CAP_S : (long) json_integer_value(value);
		else if (json_is_string(value))
		{
			errno = 0;
			out->expires_in = strtol(json_string_value(value), NULL, 10);
			if (errno == ERANGE || out->expires_in > DFW_TOKEN_LIFETIME_CAP_S)
				out->expires_in = DFW_TOKEN_LIFETIME_CAP_S;
		}
		else
			out->expires_in = 3599;
		/* the caller multiplies it into milliseconds: keep it small */
		if (out->expires_in < 0)
			out->expires_in = 0;
	}

	copy_json_string(out->error, sizeof(out->error), json_object_get(root, "error"));
	value = json_object_get(root, "error_description");
	if (json_is_string(value))
	{
		const char *text = json_string_value(value);
		size_t		line = strcspn(text, "\r\n");

		dfw_copy_string(out->description, sizeof(out->description), text, line);
	}
	value = json_object_get(root, "error_codes");
	if (json_is_array(value) && json_array_size(value) > 0 &&
		json_is_integer(json_array_get(value, 0)))
		out->aadsts = (long) json_integer_value(json_array_get(value, 0));
	copy_json_string(out->trace_id, sizeof(out->trace_id), json_object_get(root, "trace_id"));
	copy_json_string(out->correlation_id, sizeof(out->correlation_id),
					 json_object_get(root, "correlation_id"));
	json_decref(root);
}

void
dfw_token_response_free(DfwTokenResponse *out)
{
	if (out->access_token)
	{
		/* It is a credential: do not leave it in freed memory. */
		memset(out->access_token, 0, strlen(out->access_token));
		free(out->access_token);
		out->access_token = NULL;
	}
}
