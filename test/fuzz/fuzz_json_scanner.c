/*-------------------------------------------------------------------------
 *
 * fuzz_json_scanner.c
 *		libFuzzer target: the incremental JSON scanner against
 *		PostgreSQL's parser, whole and in pieces.
 *
 * The input's first byte seeds the random splits; the rest is the body.
 * test/checks/json_scanner_check.c's comparison (unchanged, included) runs
 * on it: pg_parse_json's events and verdict must be the scanner's, fed as
 * one piece, byte by byte, in random pieces and (for short bodies) split at
 * every offset.  Bodies that are not valid UTF-8 are skipped: the hunting
 * parser verifies the encoding before scanning.  The comparison also holds
 * the scanner's escape flag of every string value to its bytes, and (any
 * input, valid or not, up to 160 bytes) the fast skip over plain string
 * bytes to the byte loop at every start and end.
 *
 * fuzz/fuzz_json_scanner.c
 *
 *-------------------------------------------------------------------------
 */
#define JSON_SCANNER_CHECK_NO_MAIN
#include "../checks/json_scanner_check.c"

#include <stdint.h>

#include "fuzz_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	check_body((const char *) data + 1, size - 1, 4, data[0], size <= 512);
	if (size <= 160 && check_skip_plain((const char *) data + 1, size - 1) > 0)
		fail("skip_plain differs from the byte loop", "(the input is above)");
	if (check_failures > 0)
		fail("the scanner's events or verdict differ from pg_parse_json's",
			 "(the body and both logs are above)");
	return 0;
}
