/*-------------------------------------------------------------------------
 *
 * defender_json.h
 *		  The JSON layer: the incremental scanner (json_scanner.h) and what
 *		  is built on it for the layers above.
 *
 * src/json/ sits below src/remote/ and src/scan/ and calls only libraries
 * (libpgcommon's JSON error texts, jansson): the hunting path reads its
 * answers with the scanner's events, and list pages and entities become
 * jansson trees through defender_json_load(), which reads them with the
 * same scanner instead of jansson's own parser (about ten times fewer
 * instructions a byte; bench/README.md, "List scans").
 *
 * src/json/defender_json.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_JSON_H
#define DEFENDER_JSON_H

#include "json_scanner.h"

struct json_t;

/* Why a body is not a JSON document that defender_json_load accepts. */
typedef struct DefenderJsonError
{
	char	   *detail;			/* a sentence or two, palloc'd */
	uint64		offset;			/* the byte where it was found */
} DefenderJsonError;

extern struct json_t *defender_json_load(const char *body, size_t len,
										 DefenderJsonError *error);
extern char *defender_json_error_detail(const DfwJsonScanner *scanner,
										JsonParseErrorType error);

#endif							/* DEFENDER_JSON_H */
