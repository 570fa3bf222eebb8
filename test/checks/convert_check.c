/*-------------------------------------------------------------------------
 *
 * convert_check.c
 *		  convert.c's number shortcuts against the C library's parsers.
 *
 * src/scan/convert.c reads a timestamp's fraction of a second without
 * strtod (iso_fraction_usecs) and integers from bytes with no terminator
 * (parse_int_digits).  Both must give exactly what PostgreSQL's own
 * parsers give, so here, on the real file compiled in unchanged:
 *	- every fraction of 1 to 7 digits (Graph writes 7) and a million random
 *	  ones of 8 and 9 digits: rint(strtod(".ddd") * 1000000), the
 *	  expression of PostgreSQL's ParseFractionalSecond, bit for bit;
 *	- integers of every length around the shortcut's limits, signs and
 *	  stray bytes included, read from a buffer whose next byte is not a
 *	  terminator: accepted exactly when plain, and then strtoll's value.
 * sql/hunt.sql compares the whole shortcuts with the input functions in a
 * server.  Built like test/fuzz's targets; run by scripts/test.sh.
 *
 * test/checks/convert_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "../../src/scan/convert.c"

#include <stdio.h>
#include <stdlib.h>

static int	failures = 0;

static void
check_fraction(const char *digits, int n)
{
	char		buf[16];
	int64		want;
	int64		got;

	buf[0] = '.';
	memcpy(buf + 1, digits, n);
	buf[n + 1] = '\0';
	want = (int64) rint(strtod(buf, NULL) * 1000000);
	got = iso_fraction_usecs(digits, n);
	if (want != got && failures++ < 10)
		fprintf(stderr, "convert_check: fraction %s: strtod gives %lld, the shortcut %lld\n",
				buf, (long long) want, (long long) got);
}

static void
check_int(const char *text, size_t len, int maxdigits)
{
	char		copy[64];
	char	   *end;
	int64		got;
	bool		ok;
	bool		plain = len > 0;
	size_t		i;
	size_t		ndigits = 0;

	/* plain: [-]digits, 1 to maxdigits of them */
	for (i = 0; i < len; i++)
	{
		if (text[i] >= '0' && text[i] <= '9')
			ndigits++;
		else if (!(i == 0 && text[i] == '-'))
			plain = false;
	}
	if (ndigits == 0 || ndigits > (size_t) maxdigits)
		plain = false;
	ok = parse_int_digits(text, len, maxdigits, &got);
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (ok != plain)
	{
		if (failures++ < 10)
			fprintf(stderr, "convert_check: integer <%s>: shortcut says %d, expected %d\n",
					copy, (int) ok, (int) plain);
		return;
	}
	if (ok && got != strtoll(copy, &end, 10) && failures++ < 10)
		fprintf(stderr, "convert_check: integer <%s>: shortcut reads %lld\n", copy, (long long) got);
}

int
main(void)
{
	char		digits[10];
	int			n;
	long		v;
	long		limit;
	unsigned	seed = 1;
	int			i;
	static const char *const ints[] = {
		"0", "-0", "7", "-7", "123456789", "-123456789", "1234567890", "999999999",
		"123456789012345678", "-123456789012345678", "1234567890123456789", "-",
		"", "+1", " 1", "1 ", "1e5", "1.0", "--1", "1-", "0x10", "00012",
	};

	for (n = 1; n <= 7; n++)
	{
		for (limit = 1, i = 0; i < n; i++)
			limit *= 10;
		for (v = 0; v < limit; v++)
		{
			long		x = v;

			for (i = n - 1; i >= 0; i--)
			{
				digits[i] = (char) ('0' + x % 10);
				x /= 10;
			}
			check_fraction(digits, n);
		}
	}
	for (i = 0; i < 1000000; i++)
	{
		int			k;

		n = 8 + i % 2;
		for (k = 0; k < n; k++)
		{
			seed = seed * 1103515245 + 12345;
			digits[k] = (char) ('0' + (seed >> 16) % 10);
		}
		/* ties and near-ties: a 5 after the sixth digit, then zeros */
		if (i % 3 == 0)
		{
			digits[6] = '5';
			for (k = 7; k < n; k++)
				digits[k] = '0';
		}
		check_fraction(digits, n);
	}

	for (i = 0; i < (int) lengthof(ints); i++)
	{
		/* each from a buffer that goes on with a digit: no terminator */
		char		buf[64];
		size_t		len = strlen(ints[i]);

		memcpy(buf, ints[i], len);
		buf[len] = '9';
		check_int(buf, len, 18);
		check_int(buf, len, 9);
	}
	printf("convert_check: %d differences\n", failures);
	return failures == 0 ? 0 : 1;
}
