/*-------------------------------------------------------------------------
 *
 * fuzz_json_convert.c
 *		libFuzzer target: the JSON-to-Datum converter's own code.
 *
 * src/scan/convert.c turns a JSON scalar into text and hands that text to the
 * column type's input function.  The input functions are PostgreSQL's
 * (int4in, timestamptz_in, ...) and need a running backend (catalog, type
 * cache, error handling), so they are not fuzzed here; the SQL property
 * test (test/checks/quoting_check.py) and the regression suite drive them.
 * What convert.c itself does to a value is fuzzed, on the real file:
 *
 *	- jansson_scalar_text(): any JSON text jansson accepts; a string must
 *	  come out byte for byte (UTF-8 database), an integer must read back
 *	  (strtoll) as the same integer, a double as the same double (strtod,
 *	  exact: the "shortest exact" promise), true/false as themselves;
 *	  strings holding \u0000 are skipped (they are an ERROR by design);
 *	- kusto_timespan_to_interval(): the input as a string; it must accept
 *	  exactly the strings of Kusto's TimeSpan grammar
 *	  [-][d.]hh:mm:ss[.fffffff] (d up to 9 digits, hh < 24, mm and ss < 60,
 *	  1 to 7 fraction digits), checked by an independent matcher, and
 *	  write the same days, clock and fraction, with the sign on both
 *	  fields.
 *
 * test/fuzz/fuzz_json_convert.c
 *
 *-------------------------------------------------------------------------
 */
#include "../../src/scan/convert.c"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"

/* The one backend function the fuzzed paths call: a UTF-8 database. */
int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

static int
digits(const char *p, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char) p[i]))
			return 0;
	return 1;
}

/*
 * The TimeSpan grammar, independently: fills the parts and returns 1 when
 * text matches.
 */
static int
timespan_parts(const char *text, int *neg, char *days, char *clock, char *frac)
{
	const char *p = text;
	size_t		nd = 0;
	size_t		len;
	const char *dot;

	*neg = 0;
	strcpy(days, "0");
	frac[0] = '\0';
	if (*p == '-')
	{
		*neg = 1;
		p++;
	}
	len = strlen(p);
	/* optional days: digits followed by '.', before the clock */
	while (nd < len && isdigit((unsigned char) p[nd]))
		nd++;
	if (nd < len && p[nd] == '.')
	{
		if (nd == 0 || nd > 9)
			return 0;
		memcpy(days, p, nd);
		days[nd] = '\0';
		p += nd + 1;
	}
	else if (nd > 9 && nd < len && p[nd] == ':')
		return 0;
	len = strlen(p);
	if (len < 8 || !digits(p, 2) || p[2] != ':' || !digits(p + 3, 2) || p[5] != ':' || !digits(p + 6, 2))
		return 0;
	if ((p[0] - '0') * 10 + (p[1] - '0') > 23 || (p[3] - '0') * 10 + (p[4] - '0') > 59 ||
		(p[6] - '0') * 10 + (p[7] - '0') > 59)
		return 0;
	memcpy(clock, p, 8);
	clock[8] = '\0';
	p += 8;
	if (*p == '\0')
		return 1;
	if (*p != '.')
		return 0;
	dot = p + 1;
	len = strlen(dot);
	if (len == 0 || len > 7 || !digits(dot, (int) len))
		return 0;
	strcpy(frac, dot);
	return 1;
}

static void
check_timespan(const char *text)
{
	int			neg;
	char		days[16],
				clock[16],
				frac[16],
				want[80];
	char	   *got = kusto_timespan_to_interval(text);
	int			ok = timespan_parts(text, &neg, days, clock, frac);

	if (ok != (got != NULL))
		fail(ok ? "a TimeSpan was refused" : "not a TimeSpan, yet converted", text);
	if (!ok)
		return;
	snprintf(want, sizeof(want), "%s%s days %s%s%s%s", neg ? "-" : "", days, neg ? "-" : "",
			 clock, frac[0] ? "." : "", frac);
	if (strcmp(want, got) != 0)
		fail("wrong interval text", got);
	pfree(got);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	json_t	   *value;
	json_error_t error;

	memcpy(s, data, size);
	s[size] = '\0';
	check_timespan(s);

	value = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
	if (value != NULL)
	{
		char		numbuf[64];
		char	   *text;

		switch (json_typeof(value))
		{
			case JSON_STRING:
				if (strlen(json_string_value(value)) != json_string_length(value))
					break;		/* \u0000: an ERROR, by design */
				text = jansson_scalar_text(value, numbuf);
				if (strcmp(text, json_string_value(value)) != 0)
					fail("a string changed", text);
				check_timespan(text);
				break;
			case JSON_INTEGER:
				{
					char	   *end;
					long long	back;

					text = jansson_scalar_text(value, numbuf);
					errno = 0;
					back = strtoll(text, &end, 10);
					if (errno != 0 || *end != '\0' || back != (long long) json_integer_value(value))
						fail("an integer changed", text);
					break;
				}
			case JSON_REAL:
				{
					char	   *end;
					double		back;

					text = jansson_scalar_text(value, numbuf);
					back = strtod(text, &end);
					if (*end != '\0' || memcmp(&back, &(double) {json_real_value(value)}, sizeof(double)) != 0)
						fail("a double changed", text);
					break;
				}
			case JSON_TRUE:
			case JSON_FALSE:
				text = jansson_scalar_text(value, numbuf);
				if (strcmp(text, json_is_true(value) ? "true" : "false") != 0)
					fail("a boolean changed", text);
				break;
			default:
				break;
		}
		json_decref(value);
	}
	free(s);
	return 0;
}
