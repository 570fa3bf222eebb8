/*-------------------------------------------------------------------------
 *
 * deparse.c
 *		  Writes the remote request of a scan.
 *
 * The request is written once, at plan time, as a path relative to the
 * server's graph_url ("/v1.0/security/incidents?$top=50"): that is what
 * EXPLAIN (VERBOSE) shows, and the executor prefixes graph_url to it.
 * Query option names keep their literal "$"; values are percent-encoded.
 *
 * src/deparse.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "defender_fdw.h"

/*
 * defender_deparse_list_request
 *		GET request for the first page of a resource's collection.
 */
char *
defender_deparse_list_request(const DefenderOptions *opts,
							  const GraphResource *resource)
{
	StringInfoData buf;
	int			top = opts->page_size > 0 ? opts->page_size : resource->max_page_size;

	initStringInfo(&buf);
	appendStringInfo(&buf, "/%s/%s?$top=%d", opts->api_version, resource->path, top);
	return buf.data;
}
