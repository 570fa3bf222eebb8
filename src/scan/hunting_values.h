/*-------------------------------------------------------------------------
 *
 * hunting_values.h
 *		  hunting_values.c's function, for hunting_result.c.
 *
 * Nothing but hunting_result.c includes this header.
 *
 * src/scan/hunting_values.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_HUNTING_VALUES_H
#define DEFENDER_HUNTING_VALUES_H

#include "lib/stringinfo.h"

#include "defender_scan.h"

extern Datum defender_hunting_value(DefenderColumn *col, const char *raw, size_t rawlen,
									bool escaped, bool utf8, StringInfo scratch,
									bool *isnull);

#endif							/* DEFENDER_HUNTING_VALUES_H */
