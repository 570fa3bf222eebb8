/*-------------------------------------------------------------------------
 *
 * fuzz_odata_literal.c
 *		libFuzzer target: the OData string literal writer cannot be broken.
 *
 * Property: for any string s (the input up to its first NUL: a PostgreSQL
 * text value cannot hold one), the literal append_quoted() writes, after
 * the percent-encoding the scan applies to a $filter value, decodes back
 * to exactly s by the rules Graph applies: percent-decoding, then OData's
 * ABNF for a string literal,
 *
 *		string           = SQUOTE *( SQUOTE-in-string / pchar-no-SQUOTE ) SQUOTE
 *		SQUOTE-in-string = SQUOTE SQUOTE
 *
 * and the encoded form holds nothing but unreserved characters and %XX,
 * so no byte of s can end the literal, the option or the query string.
 * The decoder below is written from the ABNF, not from the writer.
 *
 * src/plan/deparse_odata.c is compiled into this program as it is (it is
 * #included, to reach the static writer); see test/fuzz/Makefile for how the
 * backend functions it mentions but this path never calls are left
 * unresolved.
 *
 * test/fuzz/fuzz_odata_literal.c
 *
 *-------------------------------------------------------------------------
 */
#include "../../src/plan/deparse_odata.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	size_t		n;
	StringInfoData buf;
	char	   *encoded;
	char	   *decoded;
	size_t		len,
				i,
				j;

	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);

	initStringInfo(&buf);
	append_quoted(&buf, s);

	/* as sent: percent-encoded */
	encoded = malloc(buf.len * 3 + 1);
	len = dfw_url_encode(buf.data, buf.len, encoded);
	for (i = 0; i < len; i++)
	{
		char		c = encoded[i];

		if (c == '%')
		{
			if (i + 2 >= len)
				fail("truncated %XX", encoded);
			if (hexval(encoded[i + 1]) < 0 || hexval(encoded[i + 2]) < 0)
				fail("bad %XX", encoded);
			i += 2;
		}
		else if (!(isalnum((unsigned char) c) || c == '-' || c == '.' || c == '_' || c == '~'))
			fail("a reserved character on the wire", encoded);
	}

	/* percent-decode */
	decoded = malloc(len + 1);
	for (i = 0, j = 0; i < len; i++)
	{
		if (encoded[i] == '%')
		{
			decoded[j++] = (char) (hexval(encoded[i + 1]) * 16 + hexval(encoded[i + 2]));
			i += 2;
		}
		else
			decoded[j++] = encoded[i];
	}
	decoded[j] = '\0';
	if (j != (size_t) buf.len || memcmp(decoded, buf.data, j) != 0)
		fail("percent-encoding does not round-trip", buf.data);

	/* the ABNF: SQUOTE *( SQUOTE SQUOTE / other ) SQUOTE, nothing after */
	{
		char	   *value = malloc(j + 1);
		size_t		k = 0;

		if (j < 2 || decoded[0] != '\'')
			fail("does not open with a quote", decoded);
		for (i = 1;; i++)
		{
			if (i >= j)
				fail("no closing quote", decoded);
			if (decoded[i] == '\'')
			{
				if (i + 1 < j && decoded[i + 1] == '\'')
				{
					value[k++] = '\'';
					i++;
					continue;
				}
				break;			/* the closing quote */
			}
			value[k++] = decoded[i];
		}
		if (i != j - 1)
			fail("text after the closing quote", decoded);
		if (k != n || memcmp(value, s, n) != 0)
			fail("the literal does not decode to the original string", decoded);
		free(value);
	}

	free(decoded);
	free(encoded);
	pfree(buf.data);
	free(s);
	return 0;
}
