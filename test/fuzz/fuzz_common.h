/*-------------------------------------------------------------------------
 *
 * fuzz_common.h
 *		  What every fuzz target's property check uses: stopping with the
 *		  property and the input that broke it, and reading hex digits.
 *
 * test/fuzz/fuzz_common.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

/* A property does not hold: say which, show the input, stop the fuzzer. */
static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "property violated: %s\n%s\n", what, detail);
	abort();
}

/* The value of one hexadecimal digit, -1 if c is not one. */
static inline int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#endif							/* FUZZ_COMMON_H */
