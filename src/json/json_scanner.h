/*-------------------------------------------------------------------------
 *
 * json_scanner.h
 *		  An incremental JSON scanner: bytes in, chunk by chunk, events out.
 *
 * The scanner accepts exactly what PostgreSQL's JSON parser (common/jsonapi.h,
 * with de-escaping) accepts, rejects the rest with the same error code at the
 * same token, and calls the same events in the same order, each at the same
 * point of the input: an event that PostgreSQL's parser runs after consuming a
 * token (a scalar, the end of a field, object or array) runs here, as there,
 * once the following token has been read.  Unlike PostgreSQL's parser (before
 * 17) it takes the input in pieces of any size, split anywhere, and it does
 * not build strings: events see the raw bytes of names and values, which
 * stay addressable while the scanner or the caller holds them.
 *
 * No backend dependency beyond palloc and StringInfo, so test/checks and
 * fuzz/ drive it outside a server.
 *
 * src/json/json_scanner.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef JSON_SCANNER_H
#define JSON_SCANNER_H

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

/*
 * The events.  depth is PostgreSQL's lex_level: the outermost value is at
 * 0, the members of an object or elements of an array at 0 are at 1, and so
 * on.  Offsets count bytes from the start of the input.  Any pointer member
 * may be NULL.
 */
typedef struct DfwJsonEvents
{
	/* a '{' or '[' (offset: its position) */
	void		(*object_start) (void *state, int depth, uint64 offset);
	void		(*array_start) (void *state, int depth, uint64 offset);
	/* after the matching '}' or ']' (end: just past it) */
	void		(*object_end) (void *state, int depth, uint64 end);
	void		(*array_end) (void *state, int depth, uint64 end);
	/* an array element begins with token first (not yet checked) */
	void		(*element_start) (void *state, int depth, JsonTokenType first);

	/*
	 * An object member: its name's raw bytes between the quotes (escaped:
	 * they hold a backslash), and its value's first token and offset.
	 */
	void		(*field_start) (void *state, int depth, const char *name,
								size_t namelen, bool escaped,
								JsonTokenType first, uint64 value_offset);
	/* the member's value ended just before value_end */
	void		(*field_end) (void *state, int depth, uint64 value_end);
	/* a scalar: its raw token (a string with its quotes) */
	void		(*scalar) (void *state, int depth, JsonTokenType type,
						   const char *text, size_t len);

	/*
	 * Every code point a \u escape stands for (surrogate pairs combined,
	 * never 0), as the de-escaping lexer sees it: where the database
	 * encoding is not UTF-8, PostgreSQL's lexer converts each one and fails
	 * on one it cannot convert, and this is where the caller does the same
	 * (an error code other than JSON_SUCCESS fails the token).
	 */
	JsonParseErrorType (*code_point) (void *state, pg_wchar code_point);

	/*
	 * Input bytes before they are scanned, in pieces that never end inside
	 * a UTF-8 sequence unless the input does: the caller verifies (or
	 * converts) them and returns the bytes to scan, and their length.
	 */
	const char *(*prepare) (void *state, const char *bytes, size_t len,
							size_t *outlen);
} DfwJsonEvents;

typedef struct DfwJsonScanner
{
	const DfwJsonEvents *events;
	void	   *state;
	int			encoding;		/* of the scanned bytes, for error tokens */

	/* grammar: what the next token may be, and the open containers */
	int			expect;
	char	   *stack;			/* 'o' or 'a' per open container */
	int			depth;
	int			stack_size;

	/* what completes when the next token has been read */
	int			pending;
	JsonTokenType pending_type;
	uint64		pending_start;
	uint64		value_end;

	/*
	 * Whether the last string token read held a backslash (tok_escaped) and
	 * whether the string scalar that began the current value did
	 * (value_escaped: valid in the scalar and field_end events of a string
	 * value), so that a caller decodes only strings with an escape.
	 */
	bool		tok_escaped;
	bool		value_escaped;

	/* the member name read before its ':' */
	uint64		name_start;
	size_t		name_len;
	bool		name_escaped;
	bool		name_pending;

	/* the bytes being scanned: buf[0] is input offset buf_base */
	const char *buf;
	uint64		buf_base;
	uint64		pos;			/* the next byte to read */
	uint64		fed;			/* bytes of input fed so far */
	uint64		hold;			/* the caller keeps bytes from here; or
								 * PG_UINT64_MAX */
	StringInfoData carry;		/* bytes kept from earlier pieces */
	uint64		carry_base;		/* the input offset of carry.data[0] */
	char		utf8_tail[4];	/* an incomplete UTF-8 sequence */
	int			utf8_tail_len;
	bool		done;

	/* the error, when a call returned one */
	JsonParseErrorType error;
	uint64		error_offset;	/* PostgreSQL's "token_start" */
	const char *error_token;	/* and the token, for json_errdetail() */
	const char *error_token_end;
} DfwJsonScanner;

extern void dfw_json_scanner_init(DfwJsonScanner *scanner,
								  const DfwJsonEvents *events, void *state,
								  int encoding);
extern JsonParseErrorType dfw_json_scanner_feed(DfwJsonScanner *scanner,
												const char *data, size_t len,
												bool last);
extern JsonParseErrorType dfw_json_scanner_finish(DfwJsonScanner *scanner);
extern void dfw_json_scanner_free(DfwJsonScanner *scanner);

/* The byte at input offset offset: only while held (see json_scanner.c). */
static inline const char *
dfw_json_scanner_at(const DfwJsonScanner *scanner, uint64 offset)
{
	return scanner->buf + (offset - scanner->buf_base);
}

/* Keep the input from offset on addressable (PG_UINT64_MAX: no longer). */
static inline void
dfw_json_scanner_hold(DfwJsonScanner *scanner, uint64 offset)
{
	scanner->hold = offset;
}

/*
 * The value of a string the scanner accepted, from its bytes between the
 * quotes, as PostgreSQL's de-escaping lexer makes it: in UTF-8 when utf8,
 * else in the server encoding.
 */
extern void defender_json_decode_string(const char *s, size_t n, bool utf8,
										StringInfo out);

#endif							/* JSON_SCANNER_H */
