/*-------------------------------------------------------------------------
 *
 * json_scanner.c
 *		  An incremental JSON scanner with PostgreSQL's grammar and errors.
 *
 * What it promises (json_scanner.h): PostgreSQL's JSON parser's verdict,
 * error code, error token and events, in the same order, for input fed in
 * pieces split anywhere.  test/checks/json_scanner_check.c and
 * fuzz/fuzz_json_scanner.c hold it to that against pg_parse_json itself,
 * one piece and every split.
 *
 * How: a token is read whole from a contiguous buffer.  A piece usually is
 * that buffer, scanned in place; when a token (or something the caller
 * holds: a member name until its value starts, a row until it ends) is cut
 * by the end of a piece, the bytes from its start are kept in a carry
 * buffer, and the next piece is appended to the carry a little at a time
 * (at least as much as it holds, so a long token is re-read a bounded number
 * of times) until nothing before it is held; the rest of that piece is then
 * scanned in place again.  PostgreSQL's parser reads one token ahead: the
 * events it runs after consuming a token run here when the next token has
 * been read ("pending"), so an error in that next token comes first, as
 * there.  Strings are validated as the de-escaping lexer validates them
 * (a \u0000 and an unpaired surrogate are errors) but never copied.
 *
 * src/json/json_scanner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#if defined(__SSE2__) && !defined(DFW_JSON_NO_SIMD)
#define DFW_JSON_SSE2
#include <emmintrin.h>
#endif

#include "port/pg_bitutils.h"

#include "json_scanner.h"

/* What the next token may be (PostgreSQL's JsonParseContext, unrolled). */
enum
{
	EX_TOP,						/* the outermost value */
	EX_FIELD_VALUE,				/* after "name": */
	EX_ELEMENT,					/* after ',' in an array */
	EX_ARRAY_FIRST,				/* after '[' */
	EX_ARRAY_NEXT,				/* after an element */
	EX_OBJECT_FIRST,			/* after '{' */
	EX_OBJECT_NAME,				/* after ',' in an object */
	EX_COLON,					/* after a member name */
	EX_OBJECT_NEXT,				/* after a member's value */
	EX_END						/* after the outermost value */
};

/* What completes once the next token has been read. */
enum
{
	PENDING_NONE,
	PENDING_SCALAR,
	PENDING_OBJECT,
	PENDING_ARRAY
};

/* A lexer's verdict on the bytes at hand. */
enum
{
	LEX_OK,
	LEX_MORE,					/* the token may go on past the buffer */
	LEX_ERROR					/* scanner->error is set */
};

/* PostgreSQL's JSON_ALPHANUMERIC_CHAR: what an unexpected word runs over */
#define WORD_CHAR(c) \
	(((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || \
	 ((c) >= '0' && (c) <= '9') || (c) == '_' || IS_HIGHBIT_SET(c))

static JsonParseErrorType scan_piece(DfwJsonScanner *s, const char *bytes,
									 size_t len);
static JsonParseErrorType scan_in_place(DfwJsonScanner *s, const char *data,
										size_t len, uint64 base);
static JsonParseErrorType run(DfwJsonScanner *s, const char *buf, size_t len,
							  uint64 base, bool at_eof);
static uint64 held_from(const DfwJsonScanner *s);
static void keep_from(DfwJsonScanner *s, const char *buf, uint64 base,
					  size_t len, uint64 from);
static int	lex_string(DfwJsonScanner *s, const char *start, const char *end,
					   bool at_eof, const char **tend, bool *escaped);
static int	lex_number(DfwJsonScanner *s, const char *start, const char *end,
					   bool at_eof, const char **tend);
static int	lex_word(DfwJsonScanner *s, const char *start, const char *end,
					 bool at_eof, const char **tend, JsonTokenType *tok);
static JsonTokenType punctuation_token(char c);
static int	lex_fail(DfwJsonScanner *s, JsonParseErrorType code,
					 const char *token, const char *token_end);
static const char *char_end(const DfwJsonScanner *s, const char *c,
							const char *end);
static JsonParseErrorType consume(DfwJsonScanner *s, JsonTokenType tok,
								  uint64 start, uint64 end);
static JsonParseErrorType begin_value(DfwJsonScanner *s, JsonTokenType tok,
									  uint64 start, uint64 end);
static JsonParseErrorType close_container(DfwJsonScanner *s, uint64 end);
static void complete(DfwJsonScanner *s);
static int	after_value(const DfwJsonScanner *s);

/*
 * dfw_json_scanner_init
 *		Ready a scanner; its memory comes from CurrentMemoryContext.
 *
 * encoding is that of the bytes scanned (after events->prepare); it only
 * says how long a character is in an error's token.
 */
void
dfw_json_scanner_init(DfwJsonScanner *s, const DfwJsonEvents *events,
					  void *state, int encoding)
{
	memset(s, 0, sizeof(*s));
	s->events = events;
	s->state = state;
	s->encoding = encoding;
	s->expect = EX_TOP;
	s->stack_size = 32;
	s->stack = palloc(s->stack_size);
	s->hold = PG_UINT64_MAX;
	initStringInfo(&s->carry);
}

void
dfw_json_scanner_free(DfwJsonScanner *s)
{
	pfree(s->stack);
	pfree(s->carry.data);
}

/*
 * dfw_json_scanner_feed
 *		Scan the next len bytes of the input.
 *
 * Returns JSON_SUCCESS, or the error (scanner->error_* say where) as soon
 * as the input read so far shows it.  last says that no more input follows
 * (dfw_json_scanner_finish must still be called): it gives the whole piece
 * to events->prepare at once, even one that ends inside a UTF-8 sequence.
 */
JsonParseErrorType
dfw_json_scanner_feed(DfwJsonScanner *s, const char *data, size_t len,
					  bool last)
{
	JsonParseErrorType result;
	size_t		tail = 0;

	if (s->utf8_tail_len > 0 && len > 0)
	{
		/* complete the UTF-8 sequence the previous piece ended in */
		int			need = pg_utf_mblen((const unsigned char *) s->utf8_tail);
		size_t		take = Min((size_t) (need - s->utf8_tail_len), len);

		memcpy(s->utf8_tail + s->utf8_tail_len, data, take);
		s->utf8_tail_len += (int) take;
		data += take;
		len -= take;
		if (s->utf8_tail_len < need && !last)
			return JSON_SUCCESS;
		result = scan_piece(s, s->utf8_tail, s->utf8_tail_len);
		s->utf8_tail_len = 0;
		if (result != JSON_SUCCESS)
			return result;
	}
	if (!last)
	{
		/* an incomplete sequence at the end waits for the next piece */
		size_t		i;

		for (i = 1; i <= 3 && i <= len; i++)
		{
			unsigned char c = (unsigned char) data[len - i];

			if ((c & 0xC0) == 0x80)
				continue;
			if (c >= 0xC0 && (size_t) pg_utf_mblen(&c) > i)
				tail = i;
			break;
		}
		memcpy(s->utf8_tail, data + len - tail, tail);
		s->utf8_tail_len = (int) tail;
	}
	if (len - tail == 0)
		return JSON_SUCCESS;
	return scan_piece(s, data, len - tail);
}

/*
 * dfw_json_scanner_finish
 *		The input ended: read what was left, and the end.
 */
JsonParseErrorType
dfw_json_scanner_finish(DfwJsonScanner *s)
{
	JsonParseErrorType result;

	if (s->utf8_tail_len > 0)
	{
		result = scan_piece(s, s->utf8_tail, s->utf8_tail_len);
		s->utf8_tail_len = 0;
		if (result != JSON_SUCCESS)
			return result;
	}
	if (s->carry.len == 0)
		s->carry_base = s->fed;
	return run(s, s->carry.data, s->carry.len, s->carry_base, true);
}

/*
 * scan_piece
 *		Prepare a piece (whole UTF-8 sequences) and scan it, through the
 *		carry while something before it is held.
 */
static JsonParseErrorType
scan_piece(DfwJsonScanner *s, const char *bytes, size_t len)
{
	uint64		base;
	size_t		off = 0;

	if (s->events->prepare)
		bytes = s->events->prepare(s->state, bytes, len, &len);
	base = s->fed;
	s->fed += len;
	if (s->carry.len == 0)
		return scan_in_place(s, bytes, len, base);

	while (off < len)
	{
		size_t		take = Min(len - off, (size_t) Max(s->carry.len, 256));
		JsonParseErrorType result;
		uint64		from;

		/*
		 * Whole UTF-8 sequences only: an error token ends after the whole
		 * character, as pg_parse_json's does, and is reported at once.  (The
		 * piece holds whole sequences, and take is at least 256 here.)
		 */
		while (off + take < len && ((unsigned char) bytes[off + take] & 0xC0) == 0x80)
			take--;
		appendBinaryStringInfo(&s->carry, bytes + off, (int) take);
		off += take;
		result = run(s, s->carry.data, s->carry.len, s->carry_base, false);
		if (result != JSON_SUCCESS)
			return result;
		from = held_from(s);
		if (from >= base)
		{
			/*
			 * Nothing from before this piece is needed any more: back to in
			 * place, on the whole piece (the scan goes on from s->pos, which
			 * is in it).  Waiting for the carry to empty instead would keep
			 * a piece fed as it arrives in the carry to its end, since a row
			 * is always under way there: every byte copied again.
			 */
			resetStringInfo(&s->carry);
			return scan_in_place(s, bytes, len, base);
		}
		if (from > s->carry_base)
		{
			size_t		drop = (size_t) (from - s->carry_base);

			memmove(s->carry.data, s->carry.data + drop, s->carry.len - drop);
			s->carry.len -= (int) drop;
			s->carry.data[s->carry.len] = '\0';
			s->carry_base = from;
		}
	}
	return JSON_SUCCESS;
}

/* Scan bytes (input offset base) where they are; keep what stays held. */
static JsonParseErrorType
scan_in_place(DfwJsonScanner *s, const char *data, size_t len, uint64 base)
{
	JsonParseErrorType result = run(s, data, len, base, false);

	if (result == JSON_SUCCESS)
		keep_from(s, data, base, len, held_from(s));
	return result;
}

/* Copy what is held of an in-place buffer into the (empty) carry. */
static void
keep_from(DfwJsonScanner *s, const char *buf, uint64 base, size_t len,
		  uint64 from)
{
	if (from >= base + len)
		return;
	Assert(from >= base);
	resetStringInfo(&s->carry);
	appendBinaryStringInfo(&s->carry, buf + (from - base),
						   (int) (base + len - from));
	s->carry_base = from;
	s->buf = s->carry.data;
	s->buf_base = from;
}

/* The first input byte still needed: by a token, a name, a scalar, the caller. */
static uint64
held_from(const DfwJsonScanner *s)
{
	uint64		from = s->pos;

	if (s->hold < from)
		from = s->hold;
	if (s->name_pending && s->name_start < from)
		from = s->name_start;
	if (s->pending == PENDING_SCALAR && s->events->scalar &&
		s->pending_start < from)
		from = s->pending_start;
	return from;
}

/*
 * run
 *		Read tokens from buf (len bytes, input offset base) from the current
 *		position, and act on each.  Stops at a token the buffer may cut
 *		short unless at_eof, where the buffer's end is the input's end.
 */
static JsonParseErrorType
run(DfwJsonScanner *s, const char *buf, size_t len, uint64 base, bool at_eof)
{
	const char *end = buf + len;
	const char *p = buf + (s->pos - base);

	s->buf = buf;
	s->buf_base = base;
	if (s->done)
		return JSON_SUCCESS;
	for (;;)
	{
		const char *tend;
		JsonTokenType tok;
		JsonParseErrorType result;
		int			lexed = LEX_OK;

		while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
			p++;
		if (p >= end)
		{
			if (!at_eof)
			{
				s->pos = base + len;
				return JSON_SUCCESS;
			}
			tok = JSON_TOKEN_END;
			tend = end;
		}
		else
		{
			switch (*p)
			{
				case '{':
				case '}':
				case '[':
				case ']':
				case ',':
				case ':':
					tok = punctuation_token(*p);
					tend = p + 1;
					break;
				case '"':
					tok = JSON_TOKEN_STRING;
					s->tok_escaped = false;
					lexed = lex_string(s, p, end, at_eof, &tend, &s->tok_escaped);
					break;
				case '-':
				case '0':
				case '1':
				case '2':
				case '3':
				case '4':
				case '5':
				case '6':
				case '7':
				case '8':
				case '9':
					tok = JSON_TOKEN_NUMBER;
					lexed = lex_number(s, p, end, at_eof, &tend);
					break;
				default:
					lexed = lex_word(s, p, end, at_eof, &tend, &tok);
					break;
			}
			if (lexed == LEX_MORE)
			{
				s->pos = base + (p - buf);
				return JSON_SUCCESS;
			}
			if (lexed == LEX_ERROR)
			{
				s->pos = base + (p - buf);
				return s->error;
			}
		}

		s->pos = base + (tend - buf);
		if (tok == JSON_TOKEN_STRING &&
			(s->expect == EX_OBJECT_FIRST || s->expect == EX_OBJECT_NAME))
			s->name_escaped = s->tok_escaped;
		result = consume(s, tok, base + (p - buf), s->pos);
		if (result != JSON_SUCCESS)
		{
			s->error = result;
			if (tok == JSON_TOKEN_END)
			{
				/* PostgreSQL's token_start is NULL at the end: its end */
				s->error_offset = base + len;
				s->error_token = s->error_token_end = end;
			}
			else
			{
				s->error_offset = base + (p - buf);
				s->error_token = p;
				s->error_token_end = tend;
			}
			return result;
		}
		if (tok == JSON_TOKEN_END)
		{
			s->done = true;
			return JSON_SUCCESS;
		}
		p = tend;
	}
}

/*
 * consume
 *		Act on a token read whole (input offsets start to end): first what
 *		the previous token left pending, then the grammar.
 */
static JsonParseErrorType
consume(DfwJsonScanner *s, JsonTokenType tok, uint64 start, uint64 end)
{
	if (s->pending != PENDING_NONE)
		complete(s);

	switch (s->expect)
	{
		case EX_OBJECT_NEXT:
			if (tok == JSON_TOKEN_COMMA)
			{
				s->expect = EX_OBJECT_NAME;
				return JSON_SUCCESS;
			}
			if (tok == JSON_TOKEN_OBJECT_END)
				return close_container(s, end);
			return tok == JSON_TOKEN_END ? JSON_EXPECTED_MORE : JSON_EXPECTED_OBJECT_NEXT;

		case EX_OBJECT_FIRST:
		case EX_OBJECT_NAME:
			if (tok == JSON_TOKEN_STRING)
			{
				s->name_start = start;
				s->name_len = (size_t) (end - start);
				s->name_pending = true;
				s->expect = EX_COLON;
				return JSON_SUCCESS;
			}
			if (s->expect == EX_OBJECT_FIRST && tok == JSON_TOKEN_OBJECT_END)
				return close_container(s, end);
			if (tok == JSON_TOKEN_END)
				return JSON_EXPECTED_MORE;
			return s->expect == EX_OBJECT_FIRST ? JSON_EXPECTED_OBJECT_FIRST :
				JSON_EXPECTED_STRING;

		case EX_COLON:
			if (tok == JSON_TOKEN_COLON)
			{
				s->expect = EX_FIELD_VALUE;
				return JSON_SUCCESS;
			}
			return tok == JSON_TOKEN_END ? JSON_EXPECTED_MORE : JSON_EXPECTED_COLON;

		case EX_FIELD_VALUE:
			s->name_pending = false;
			if (s->events->field_start)
				s->events->field_start(s->state, s->depth,
									   dfw_json_scanner_at(s, s->name_start) + 1,
									   s->name_len - 2, s->name_escaped,
									   tok, start);
			return begin_value(s, tok, start, end);

		case EX_ARRAY_FIRST:
			if (tok == JSON_TOKEN_ARRAY_END)
				return close_container(s, end);
			/* FALLTHROUGH */
		case EX_ELEMENT:
			if (s->events->element_start)
				s->events->element_start(s->state, s->depth, tok);
			return begin_value(s, tok, start, end);

		case EX_ARRAY_NEXT:
			if (tok == JSON_TOKEN_COMMA)
			{
				s->expect = EX_ELEMENT;
				return JSON_SUCCESS;
			}
			if (tok == JSON_TOKEN_ARRAY_END)
				return close_container(s, end);
			return tok == JSON_TOKEN_END ? JSON_EXPECTED_MORE : JSON_EXPECTED_ARRAY_NEXT;

		case EX_TOP:
			return begin_value(s, tok, start, end);

		case EX_END:
		default:
			return tok == JSON_TOKEN_END ? JSON_SUCCESS : JSON_EXPECTED_END;
	}
}

/* A value's first token: open a container, or leave a scalar pending. */
static JsonParseErrorType
begin_value(DfwJsonScanner *s, JsonTokenType tok, uint64 start, uint64 end)
{
	switch (tok)
	{
		case JSON_TOKEN_OBJECT_START:
		case JSON_TOKEN_ARRAY_START:
			if (tok == JSON_TOKEN_OBJECT_START && s->events->object_start)
				s->events->object_start(s->state, s->depth, start);
			else if (tok == JSON_TOKEN_ARRAY_START && s->events->array_start)
				s->events->array_start(s->state, s->depth, start);
			if (s->depth == s->stack_size)
			{
				s->stack_size *= 2;
				s->stack = repalloc(s->stack, s->stack_size);
			}
			s->stack[s->depth++] = tok == JSON_TOKEN_OBJECT_START ? 'o' : 'a';
			s->expect = tok == JSON_TOKEN_OBJECT_START ? EX_OBJECT_FIRST : EX_ARRAY_FIRST;
			return JSON_SUCCESS;
		case JSON_TOKEN_STRING:
		case JSON_TOKEN_NUMBER:
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
		case JSON_TOKEN_NULL:
			s->pending = PENDING_SCALAR;
			s->pending_type = tok;
			s->pending_start = start;
			s->value_escaped = tok == JSON_TOKEN_STRING && s->tok_escaped;
			s->value_end = end;
			s->expect = after_value(s);
			return JSON_SUCCESS;
		default:
			return tok == JSON_TOKEN_END ? JSON_EXPECTED_MORE : JSON_EXPECTED_JSON;
	}
}

/* A '}' or ']' that the grammar allows here. */
static JsonParseErrorType
close_container(DfwJsonScanner *s, uint64 end)
{
	s->depth--;
	s->pending = s->stack[s->depth] == 'o' ? PENDING_OBJECT : PENDING_ARRAY;
	s->value_end = end;
	s->expect = after_value(s);
	return JSON_SUCCESS;
}

static int
after_value(const DfwJsonScanner *s)
{
	if (s->depth == 0)
		return EX_END;
	return s->stack[s->depth - 1] == 'o' ? EX_OBJECT_NEXT : EX_ARRAY_NEXT;
}

/*
 * complete
 *		The events PostgreSQL's parser runs after consuming a value's last
 *		token: the scalar or the container's end, then the member's end.
 */
static void
complete(DfwJsonScanner *s)
{
	int			what = s->pending;

	s->pending = PENDING_NONE;
	if (what == PENDING_SCALAR)
	{
		if (s->events->scalar)
			s->events->scalar(s->state, s->depth, s->pending_type,
							  dfw_json_scanner_at(s, s->pending_start),
							  (size_t) (s->value_end - s->pending_start));
	}
	else if (what == PENDING_OBJECT)
	{
		if (s->events->object_end)
			s->events->object_end(s->state, s->depth, s->value_end);
	}
	else if (s->events->array_end)
		s->events->array_end(s->state, s->depth, s->value_end);

	if (s->depth > 0 && s->stack[s->depth - 1] == 'o' && s->events->field_end)
		s->events->field_end(s->state, s->depth, s->value_end);
}

/*
 * The lexers.  Each reads one token starting at start, no further than end;
 * LEX_MORE when the token may continue past end and at_eof is false.  The
 * errors and their tokens are the de-escaping lexer's (json_lex with
 * need_escapes), check by check in its order.
 */

/*
 * skip_plain
 *		Past the plain bytes of a string at p: the first '"', '\\' or byte
 *		below 0x20 at or after p, or end.
 *
 * Most of a hunting answer is string bytes, so this is the scanner's inner
 * loop: 16 bytes per step with SSE2 (every x86-64 has it), 8 with a
 * portable word trick otherwise, then byte by byte up to end (never a read
 * past end).  skip_plain_bytes is the plain definition; the check and the
 * fuzz target hold the fast one to it (DFW_JSON_NO_SIMD builds the word
 * trick on x86-64 too, for the check).
 */
static inline const char *
skip_plain_bytes(const char *p, const char *end)
{
	while (p < end && *p != '"' && *p != '\\' && (unsigned char) *p >= 0x20)
		p++;
	return p;
}

static inline const char *
skip_plain(const char *p, const char *end)
{
#ifdef DFW_JSON_SSE2
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i backslash = _mm_set1_epi8('\\');
	const __m128i below = _mm_set1_epi8(0x1F);

	while (end - p >= 16)
	{
		__m128i		v = _mm_loadu_si128((const __m128i *) p);

		/* max(v, 0x1F) == 0x1F exactly when v <= 0x1F, unsigned */
		__m128i		hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
													_mm_cmpeq_epi8(v, backslash)),
									   _mm_cmpeq_epi8(_mm_max_epu8(v, below), below));
		int			mask = _mm_movemask_epi8(hit);

		if (mask != 0)
			return p + pg_rightmost_one_pos32((uint32) mask);
		p += 16;
	}
#else
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 highs = UINT64CONST(0x8080808080808080);

	while (end - p >= 8)
	{
		uint64		v;
		uint64		q;
		uint64		b;

		memcpy(&v, p, 8);
		q = v ^ (ones * '"');
		b = v ^ (ones * '\\');
		if ((((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & highs)
			break;
		p += 8;
	}
#endif
	return skip_plain_bytes(p, end);
}

/* The characters of a one-character escape: " \ / b f n r t. */
static inline bool
simple_escape(char c)
{
	switch (c)
	{
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			return true;
		default:
			return false;
	}
}

static int
lex_string(DfwJsonScanner *s, const char *start, const char *end, bool at_eof,
		   const char **tend, bool *escaped)
{
	const char *p = start + 1;
	int			hi_surrogate = -1;

	for (;;)
	{
		if (hi_surrogate == -1)
			p = skip_plain(p, end);
		if (p >= end)
			return at_eof ? lex_fail(s, JSON_INVALID_TOKEN, start, end) : LEX_MORE;
		if (*p == '"')
			break;
		if ((unsigned char) *p < 0x20)
		{
			/* PostgreSQL's detail shows the byte at the token's terminator */
			lex_fail(s, JSON_ESCAPING_REQUIRED, start, p);
			return LEX_ERROR;
		}
		if (*p != '\\')
		{
			/* any other character after a high surrogate */
			return lex_fail(s, JSON_UNICODE_LOW_SURROGATE, start, char_end(s, p, end));
		}
		*escaped = true;
		p++;
		if (p >= end)
			return at_eof ? lex_fail(s, JSON_INVALID_TOKEN, start, end) : LEX_MORE;
		if (*p == 'u')
		{
			int			ch = 0;
			int			i;

			for (i = 1; i <= 4; i++)
			{
				p++;
				if (p >= end)
					return at_eof ? lex_fail(s, JSON_INVALID_TOKEN, start, end) : LEX_MORE;
				if (*p >= '0' && *p <= '9')
					ch = ch * 16 + (*p - '0');
				else if (*p >= 'a' && *p <= 'f')
					ch = ch * 16 + (*p - 'a') + 10;
				else if (*p >= 'A' && *p <= 'F')
					ch = ch * 16 + (*p - 'A') + 10;
				else
					return lex_fail(s, JSON_UNICODE_ESCAPE_FORMAT, start, char_end(s, p, end));
			}
			if (is_utf16_surrogate_first(ch))
			{
				if (hi_surrogate != -1)
					return lex_fail(s, JSON_UNICODE_HIGH_SURROGATE, start, p + 1);
				hi_surrogate = ch;
				p++;
				continue;
			}
			if (is_utf16_surrogate_second(ch))
			{
				if (hi_surrogate == -1)
					return lex_fail(s, JSON_UNICODE_LOW_SURROGATE, start, p + 1);
				ch = surrogate_pair_to_codepoint(hi_surrogate, ch);
				hi_surrogate = -1;
			}
			if (hi_surrogate != -1)
				return lex_fail(s, JSON_UNICODE_LOW_SURROGATE, start, p + 1);
			if (ch == 0)
				return lex_fail(s, JSON_UNICODE_CODE_POINT_ZERO, start, p + 1);
			if (s->events->code_point)
			{
				JsonParseErrorType code = s->events->code_point(s->state, (pg_wchar) ch);

				if (code != JSON_SUCCESS)
					return lex_fail(s, code, start, p + 1);
			}
			p++;
			continue;
		}
		if (hi_surrogate != -1)
			return lex_fail(s, JSON_UNICODE_LOW_SURROGATE, start, char_end(s, p, end));
		if (!simple_escape(*p))
		{
			/* the token is the escaped character alone */
			return lex_fail(s, JSON_ESCAPING_INVALID, p, char_end(s, p, end));
		}
		p++;
	}
	if (hi_surrogate != -1)
		return lex_fail(s, JSON_UNICODE_LOW_SURROGATE, start, p + 1);
	*tend = p + 1;
	return LEX_OK;
}

/* The token of a one-character punctuation mark. */
static JsonTokenType
punctuation_token(char c)
{
	switch (c)
	{
		case '{':
			return JSON_TOKEN_OBJECT_START;
		case '}':
			return JSON_TOKEN_OBJECT_END;
		case '[':
			return JSON_TOKEN_ARRAY_START;
		case ']':
			return JSON_TOKEN_ARRAY_END;
		case ',':
			return JSON_TOKEN_COMMA;
		default:
			return JSON_TOKEN_COLON;
	}
}

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

/* Past one or more digits at p; an error when there is none. */
static inline const char *
required_digits(const char *p, const char *end, bool *error)
{
	if (p >= end || !IS_DIGIT(*p))
		*error = true;
	while (p < end && IS_DIGIT(*p))
		p++;
	return p;
}

/* PostgreSQL's number grammar, trailing word characters included. */
static int
lex_number(DfwJsonScanner *s, const char *start, const char *end, bool at_eof,
		   const char **tend)
{
	const char *p = start;
	bool		error = false;

#define NEED_MORE_AT_END() \
	do { if (p >= end && !at_eof) return LEX_MORE; } while (0)

	if (*p == '-')
		p++;
	NEED_MORE_AT_END();
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
	{
		do
			p++;
		while (p < end && IS_DIGIT(*p));
	}
	else
		error = true;
	NEED_MORE_AT_END();
	if (p < end && *p == '.')
	{
		p++;
		NEED_MORE_AT_END();
		p = required_digits(p, end, &error);
	}
	NEED_MORE_AT_END();
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		p++;
		NEED_MORE_AT_END();
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		NEED_MORE_AT_END();
		p = required_digits(p, end, &error);
	}
	NEED_MORE_AT_END();
	while (p < end && WORD_CHAR(*p))
	{
		p++;
		error = true;
	}
	NEED_MORE_AT_END();
#undef NEED_MORE_AT_END

	if (error)
		return lex_fail(s, JSON_INVALID_TOKEN, start, p);
	*tend = p;
	return LEX_OK;
}

/* true, false, null; any other word or character is an invalid token. */
static int
lex_word(DfwJsonScanner *s, const char *start, const char *end, bool at_eof,
		 const char **tend, JsonTokenType *tok)
{
	const char *p = start;

	while (p < end && WORD_CHAR(*p))
		p++;
	if (p == start)
		return lex_fail(s, JSON_INVALID_TOKEN, start, start + 1);
	if (p >= end && !at_eof)
		return LEX_MORE;
	if (p - start == 4 && memcmp(start, "true", 4) == 0)
		*tok = JSON_TOKEN_TRUE;
	else if (p - start == 4 && memcmp(start, "null", 4) == 0)
		*tok = JSON_TOKEN_NULL;
	else if (p - start == 5 && memcmp(start, "false", 5) == 0)
		*tok = JSON_TOKEN_FALSE;
	else
		return lex_fail(s, JSON_INVALID_TOKEN, start, p);
	*tend = p;
	return LEX_OK;
}

static int
lex_fail(DfwJsonScanner *s, JsonParseErrorType code, const char *token,
		 const char *token_end)
{
	s->error = code;
	s->error_token = token;
	s->error_token_end = token_end;
	s->error_offset = s->buf_base + (token - s->buf);
	return LEX_ERROR;
}

/* The end of the character at c, not past end. */
static const char *
char_end(const DfwJsonScanner *s, const char *c, const char *end)
{
	int			n = pg_encoding_mblen(s->encoding, c);

	return Min(c + n, end);
}

/* Four hex digits' value, or -1. */
static int
hex4(const char *s)
{
	int			v = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
			v = v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (c - 'A' + 10);
		else
			return -1;
	}
	return v;
}

/*
 * defender_json_decode_string
 *		The value of the JSON string whose text between the quotes is s (n
 *		bytes), as the de-escaping lexer makes it, into out.  Only for a
 *		string the scanner accepted: every escape is well-formed and every
 *		surrogate paired.
 *
 * In UTF-8 the value is never longer than its text (an escape of 2, 6 or
 * 12 bytes stands for at most 1, 3 or 4 bytes); in another server encoding
 * a 6-byte \u escape stands for at most MAX_UNICODE_EQUIVALENT_STRING
 * bytes.  So out is enlarged once and written directly: Windows paths hold
 * an escape every few bytes.
 */
void
defender_json_decode_string(const char *s, size_t n, bool utf8, StringInfo out)
{
	const char *end = s + n;
	char	   *w;

	resetStringInfo(out);
	enlargeStringInfo(out, utf8 ? (int) n :
					  (int) (n + (n / 6 + 1) * MAX_UNICODE_EQUIVALENT_STRING));
	w = out->data;
	while (s < end)
	{
		const char *bs = memchr(s, '\\', end - s);

		if (bs == NULL)
		{
			memcpy(w, s, end - s);
			w += end - s;
			break;
		}
		memcpy(w, s, bs - s);
		w += bs - s;
		switch (bs[1])
		{
			case 'b':
				*w++ = '\b';
				break;
			case 'f':
				*w++ = '\f';
				break;
			case 'n':
				*w++ = '\n';
				break;
			case 'r':
				*w++ = '\r';
				break;
			case 't':
				*w++ = '\t';
				break;
			case 'u':
				{
					pg_wchar	ch = (pg_wchar) hex4(bs + 2);
					unsigned char buf[MAX_UNICODE_EQUIVALENT_STRING + 1];
					int			len;

					s = bs + 6;
					if (is_utf16_surrogate_first(ch))
					{
						ch = surrogate_pair_to_codepoint(ch, (pg_wchar) hex4(bs + 8));
						s = bs + 12;
					}
					if (utf8)
					{
						unicode_to_utf8(ch, buf);
						len = pg_utf_mblen(buf);
					}
					else
					{
						pg_unicode_to_server(ch, buf);
						len = (int) strlen((char *) buf);
					}
					memcpy(w, buf, len);
					w += len;
					continue;
				}
			default:			/* " \ / */
				*w++ = bs[1];
				break;
		}
		s = bs + 2;
	}
	out->len = (int) (w - out->data);
	out->data[out->len] = '\0';
}
