/*-------------------------------------------------------------------------
 *
 * url.c
 *		  URLs as libcurl reads them: origins, the origin check, encoding.
 *
 * Every URL handed to libcurl is read here with libcurl's own URL API
 * (curl_url), never split by hand, so that the host this file sees is the
 * host libcurl connects to.  dfw_url_origin() refuses whatever could make
 * two readers disagree; dfw_url_on_origin() is the check every transfer
 * passes before any I/O (defender_client.c).
 *
 * Callers: defender_client.c, and through defender_client.h the
 * PostgreSQL side (connection.c; option.c and request_function.c for
 * dfw_url_has_scheme).  libcurl and the C library
 * only; no PostgreSQL header, no jansson.
 *
 * src/client/url.c
 *
 *-------------------------------------------------------------------------
 */
#include "client_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/*
 * dfw_url_encode
 *		Percent-encode all but RFC 3986 unreserved characters.
 */
size_t
dfw_url_encode(const char *text, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char	   *p = out;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char) c;
		else
		{
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return (size_t) (p - out);
}

/*
 * dfw_url_has_scheme
 *		Does text start with "scheme:" (RFC 3986: a letter, then letters,
 *		digits, '+', '-', '.'), which makes it an absolute URL rather than a
 *		relative path?  Only a classifier: an absolute URL is then read by
 *		dfw_url_origin(), i.e. by libcurl.
 */
int
dfw_url_has_scheme(const char *text)
{
	const char *p = text;

	if (!isalpha((unsigned char) *p))
		return 0;
	while (isalnum((unsigned char) *p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':';
}

/* Is one URL part present?  (curl_url_get answers CURLUE_NO_xxx when not.) */
static int
url_part_present(CURLU *handle, CURLUPart part)
{
	char	   *value = NULL;
	CURLUcode	rc = curl_url_get(handle, part, &value, 0);

	curl_free(value);
	return rc == CURLUE_OK;
}

/*
 * dfw_url_origin
 *		Scheme, host and effective port of an http(s) URL, read by libcurl's
 *		URL API, with everything that could make two readers disagree about
 *		the host refused.
 *
 * The URL is parsed with the flags libcurl's own transfer uses (minus
 * guessing a scheme), so the host seen here is the host libcurl connects
 * to.  Refused on top of what curl_url() refuses: a space or control
 * character anywhere (CR/LF would split a request line or a log line);
 * user information or login options ("graph.microsoft.com%23@attacker" is
 * a user name); a fragment (never sent, so never meant); an IPv6 zone id;
 * a host with anything but ASCII letters, digits, '-' and '.' (no
 * percent-encoding, no Unicode: an IDN must be given in its punycode
 * form), or an IPv6 literal of hex digits, ':' and '.'; a host ending in a
 * dot ("graph.microsoft.com." is the same DNS name, but refusing it means
 * one spelling per origin, and TLS names carry no dot).
 */
int
dfw_url_origin(const char *url, DfwOrigin *origin, char **rest, char *why, size_t whysize)
{
	CURLU	   *handle;
	CURLUcode	rc;
	char	   *part = NULL;
	const unsigned char *p;
	size_t		len;
	int			ok = 0;

	memset(origin, 0, sizeof(DfwOrigin));
	if (rest)
		*rest = NULL;
	for (p = (const unsigned char *) url; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
		{
			snprintf(why, whysize, "the URL contains a space or a control character");
			return 0;
		}

	handle = curl_url();
	if (handle == NULL)
	{
		snprintf(why, whysize, "out of memory parsing a URL");
		return 0;
	}
	rc = curl_url_set(handle, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK)
	{
#if CURL_AT_LEAST_VERSION(7, 80, 0)
		snprintf(why, whysize, "not a URL libcurl can read (%s)", curl_url_strerror(rc));
#else
		snprintf(why, whysize, "not a URL libcurl can read (error %d)", (int) rc);
#endif
		goto done;
	}

	if (curl_url_get(handle, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
		(strcmp(part, "http") != 0 && strcmp(part, "https") != 0))
	{
		snprintf(why, whysize, "only http and https URLs are allowed");
		goto done;
	}
	dfw_copy_string(origin->scheme, sizeof(origin->scheme), part, (size_t) -1);
	curl_free(part);
	part = NULL;

	if (url_part_present(handle, CURLUPART_USER) ||
		url_part_present(handle, CURLUPART_PASSWORD) ||
		url_part_present(handle, CURLUPART_OPTIONS))
	{
		snprintf(why, whysize, "the URL has user information (a user name or password before '@')");
		goto done;
	}
	if (url_part_present(handle, CURLUPART_FRAGMENT) || strchr(url, '#') != NULL)
	{
		snprintf(why, whysize, "the URL has a fragment ('#')");
		goto done;
	}
#if CURL_AT_LEAST_VERSION(7, 65, 0)
	if (url_part_present(handle, CURLUPART_ZONEID))
	{
		snprintf(why, whysize, "the URL has an IPv6 zone id");
		goto done;
	}
#endif

	if (curl_url_get(handle, CURLUPART_HOST, &part, 0) != CURLUE_OK ||
		(len = strlen(part)) == 0 || len >= DFW_HOST_SIZE)
	{
		snprintf(why, whysize, "the URL has no usable host");
		goto done;
	}
	for (p = (const unsigned char *) part; *p; p++)
	{
		int			fine = part[0] == '[' ?
			(isxdigit(*p) || *p == ':' || *p == '.' ||
			 (p == (const unsigned char *) part) || (*p == ']' && p[1] == '\0')) :
			(*p < 0x80 && (isalnum(*p) || *p == '-' || *p == '.'));

		if (!fine)
		{
			snprintf(why, whysize, "the URL's host may hold only ASCII letters, digits, '-' and '.' (or be an IPv6 literal)");
			goto done;
		}
	}
	if (part[len - 1] == '.' || part[0] == '.')
	{
		snprintf(why, whysize, "the URL's host starts or ends with a dot");
		goto done;
	}
	for (len = 0; part[len]; len++)
		origin->host[len] = (char) tolower((unsigned char) part[len]);
	origin->host[len] = '\0';
	curl_free(part);
	part = NULL;

	if (curl_url_get(handle, CURLUPART_PORT, &part, CURLU_DEFAULT_PORT) != CURLUE_OK)
	{
		snprintf(why, whysize, "the URL has no usable port");
		goto done;
	}
	origin->port = strtol(part, NULL, 10);
	curl_free(part);
	part = NULL;
	if (origin->port <= 0 || origin->port > 65535)
	{
		snprintf(why, whysize, "the URL's port is out of range");
		goto done;
	}

	if (rest)
	{
		char	   *path = NULL;
		char	   *query = NULL;

		if (curl_url_get(handle, CURLUPART_PATH, &path, 0) != CURLUE_OK)
			path = NULL;
		if (curl_url_get(handle, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
			query = NULL;
		*rest = malloc((path ? strlen(path) : 1) + (query ? strlen(query) + 1 : 0) + 1);
		if (*rest)
			snprintf(*rest, (path ? strlen(path) : 1) + (query ? strlen(query) + 1 : 0) + 1,
					 "%s%s%s", path ? path : "/", query ? "?" : "", query ? query : "");
		curl_free(path);
		curl_free(query);
		if (*rest == NULL)
		{
			snprintf(why, whysize, "out of memory parsing a URL");
			goto done;
		}
	}
	ok = 1;

done:
	curl_free(part);
	curl_url_cleanup(handle);
	if (!ok)
		memset(origin, 0, sizeof(DfwOrigin));
	return ok;
}

/*
 * dfw_url_on_origin
 *		Is url on base's origin: the same scheme, host and effective port?
 */
int
dfw_url_on_origin(const char *url, const char *base, char *why, size_t whysize)
{
	DfwOrigin	target;
	DfwOrigin	allowed;

	if (!dfw_url_origin(base, &allowed, NULL, why, whysize))
		return 0;
	if (!dfw_url_origin(url, &target, NULL, why, whysize))
		return 0;
	if (strcmp(target.scheme, allowed.scheme) != 0 ||
		strcmp(target.host, allowed.host) != 0 ||
		target.port != allowed.port)
	{
		snprintf(why, whysize, "%s://%s:%ld is not %s://%s:%ld",
				 target.scheme, target.host, target.port,
				 allowed.scheme, allowed.host, allowed.port);
		return 0;
	}
	return 1;
}
