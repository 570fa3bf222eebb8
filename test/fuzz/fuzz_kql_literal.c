/*-------------------------------------------------------------------------
 *
 * fuzz_kql_literal.c
 *		libFuzzer target: the KQL string literal writer cannot be broken.
 *
 * Property: for any string s (the input up to its first NUL),
 * defender_append_kql_string() writes one KQL string literal that decodes
 * to exactly s by Kusto's rules for a regular (not verbatim) string
 * literal:
 *		"..." ending at the first unescaped ", which must be the last byte;
 *		no raw CR or LF inside (a KQL string cannot span lines);
 *		escapes \\ \" \' \n \r \t, \uXXXX (four hex digits) and
 *		\UXXXXXXXX (eight), any other escape being a syntax error.
 * Invalid UTF-8 in s must pass through byte for byte (PostgreSQL refuses
 * it before it gets here in a UTF-8 database; the writer must still never
 * break the literal).  A \u escape below 0x80 is a single byte here; the
 * writer uses it only for control characters.  Also checked: the literal
 * holds no control character at all, so nothing in a log line or the
 * request body can be spoofed by a value.  The decoder is written from
 * the rules above, not from the writer.
 *
 * test/fuzz/fuzz_kql_literal.c
 *
 *-------------------------------------------------------------------------
 */
#include "../../src/plan/deparse_kql.c"

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
	const unsigned char *lit;
	size_t		len,
				i,
				k = 0;
	char	   *value;

	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);

	initStringInfo(&buf);
	defender_append_kql_string(&buf, s);
	lit = (const unsigned char *) buf.data;
	len = (size_t) buf.len;
	value = malloc(len + 1);

	if (len < 2 || lit[0] != '"')
		fail("does not open with a double quote", buf.data);
	for (i = 0; i < len; i++)
		if (lit[i] < 0x20 || lit[i] == 0x7f)
			fail("a control character in the literal", buf.data);
	for (i = 1;; i++)
	{
		if (i >= len)
			fail("no closing quote", buf.data);
		if (lit[i] == '"')
			break;
		if (lit[i] == '\r' || lit[i] == '\n')
			fail("a raw line break", buf.data);
		if (lit[i] != '\\')
		{
			value[k++] = (char) lit[i];
			continue;
		}
		if (i + 1 >= len)
			fail("a backslash at the end", buf.data);
		switch (lit[++i])
		{
			case '\\':
				value[k++] = '\\';
				break;
			case '"':
				value[k++] = '"';
				break;
			case '\'':
				value[k++] = '\'';
				break;
			case 'n':
				value[k++] = '\n';
				break;
			case 'r':
				value[k++] = '\r';
				break;
			case 't':
				value[k++] = '\t';
				break;
			case 'u':
			case 'U':
				{
					int			width = lit[i] == 'u' ? 4 : 8;
					long		code = 0;
					int			d;

					for (d = 1; d <= width; d++)
					{
						if (i + d >= len || hexval(lit[i + d]) < 0)
							fail("a bad \\u escape", buf.data);
						code = code * 16 + hexval(lit[i + d]);
					}
					if (code == 0 || code >= 0x80)
						fail("a \\u escape for other than an ASCII control character", buf.data);
					value[k++] = (char) code;
					i += width;
					break;
				}
			default:
				fail("an escape KQL does not have", buf.data);
		}
	}
	if (i != len - 1)
		fail("text after the closing quote", buf.data);
	if (k != n || memcmp(value, s, n) != 0)
		fail("the literal does not decode to the original string", buf.data);

	free(value);
	pfree(buf.data);
	free(s);
	return 0;
}
