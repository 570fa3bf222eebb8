/*-------------------------------------------------------------------------
 *
 * json_tree.c
 *		  A JSON body as a jansson tree, read by the incremental scanner.
 *
 * Graph's list pages and entities are used as jansson trees (pager.c,
 * entity.c, convert.c), but jansson's own parser reads a byte at a time
 * through a stream with a UTF-8 check per character: about 160
 * instructions a byte, two thirds of a list scan's instructions.  Here the
 * scanner (json_scanner.c, ~10 a byte) reads the body and its events build
 * the same tree with jansson's constructors.
 *
 * The tree is the one json_loadb(body, len, 0) builds, and a body is
 * refused where json_loadb refuses it (test/checks/json_tree_check.c
 * compares both on generated and mutated bodies):
 *	- the grammar is JSON's in both (the scanner's is PostgreSQL's, which
 *	  is JSON's), and so are the strings: a control character, a \u0000 or
 *	  an unpaired surrogate is refused by both;
 *	- the body must be UTF-8 (checked first, with libpgcommon's verifier);
 *	  one difference: a NUL byte is refused wherever it is, where jansson
 *	  takes it for the end of the body and reads what comes before it,
 *	  ignoring the rest: that would be a silently cut answer;
 *	- the outermost value must be an object or an array, as jansson wants
 *	  without JSON_DECODE_ANY;
 *	- a number without '.', 'e' or 'E' is an integer and must fit in 64
 *	  bits; any other is a double, refused when it overflows (jansson's
 *	  "too big integer" and "real number overflow");
 *	- a value lies inside at most 2,047 objects and arrays (jansson's
 *	  JSON_PARSER_MAX_DEPTH of 2,048 values, the value counted, which also
 *	  keeps json_decref's recursion bounded);
 *	- a member name seen twice keeps its first place and its last value.
 * The error's text is PostgreSQL's, as for a hunting answer, with the
 * byte it was found at.
 *
 * Nothing here raises an ERROR but palloc's out of memory, which frees the
 * tree built so far; the caller frees a tree it gets (json_decref) and
 * arranges for that on its error paths.
 *
 * src/json/json_tree.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <math.h>

#include <jansson.h>

#include "defender_json.h"

/* jansson's JSON_PARSER_MAX_DEPTH */
#define TREE_MAX_DEPTH 2048

typedef struct TreeBuilder
{
	const char *body;
	DfwJsonScanner *scanner;
	json_t	   *root;
	json_t	  **open;			/* the containers being filled, outermost
								 * first */
	int			depth;
	int			size;
	StringInfoData key;			/* the member name whose value comes next */
	StringInfoData text;		/* a decoded string or a number's text */
	char	   *failure;		/* why the tree cannot be built */
	uint64		failure_offset;
} TreeBuilder;

static void tree_object_start(void *state, int depth, uint64 offset);
static void tree_array_start(void *state, int depth, uint64 offset);
static void tree_container_end(void *state, int depth, uint64 end);
static void tree_field_start(void *state, int depth, const char *name,
							 size_t namelen, bool escaped,
							 JsonTokenType first, uint64 value_offset);
static void tree_scalar(void *state, int depth, JsonTokenType type,
						const char *text, size_t len);
static void open_container(TreeBuilder *b, json_t *container, uint64 offset);
static bool attach(TreeBuilder *b, json_t *value, uint64 offset);
static json_t *number_value(TreeBuilder *b, const char *text, size_t len,
							uint64 offset);
static void fail(TreeBuilder *b, uint64 offset, const char *fmt,...) pg_attribute_printf(3, 4);

static const DfwJsonEvents tree_events = {
	.object_start = tree_object_start,
	.array_start = tree_array_start,
	.object_end = tree_container_end,
	.array_end = tree_container_end,
	.field_start = tree_field_start,
	.scalar = tree_scalar,
};

/*
 * defender_json_load
 *		The JSON document body holds, as a new jansson tree; NULL with
 *		*error filled in when json_loadb would refuse it.
 */
json_t *
defender_json_load(const char *body, size_t len, DefenderJsonError *error)
{
	TreeBuilder b;
	DfwJsonScanner scanner;
	JsonParseErrorType result;
	int			valid;

	memset(error, 0, sizeof(*error));
	valid = pg_encoding_verifymbstr(PG_UTF8, body, (int) len);
	if ((size_t) valid < len)
	{
		error->detail = psprintf("Invalid UTF-8 byte 0x%02x.", (unsigned char) body[valid]);
		error->offset = valid;
		return NULL;
	}

	memset(&b, 0, sizeof(b));
	b.body = body;
	b.scanner = &scanner;
	b.size = 16;
	b.open = palloc(b.size * sizeof(json_t *));
	initStringInfo(&b.key);
	initStringInfo(&b.text);
	dfw_json_scanner_init(&scanner, &tree_events, &b, PG_UTF8);
	PG_TRY();
	{
		result = dfw_json_scanner_feed(&scanner, body, len, true);
		if (result == JSON_SUCCESS)
			result = dfw_json_scanner_finish(&scanner);
	}
	PG_CATCH();
	{
		/* out of memory: the tree so far is jansson's (malloc) memory */
		json_decref(b.root);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (result != JSON_SUCCESS)
	{
		/* the grammar's error comes first: it is at or before the tree's */
		error->detail = defender_json_error_detail(&scanner, result);
		error->offset = scanner.error_offset;
	}
	else if (b.failure)
	{
		error->detail = b.failure;
		error->offset = b.failure_offset;
	}
	dfw_json_scanner_free(&scanner);
	pfree(b.open);
	pfree(b.key.data);
	pfree(b.text.data);
	if (error->detail)
	{
		json_decref(b.root);
		return NULL;
	}
	return b.root;
}

/*
 * defender_json_error_detail
 *		PostgreSQL's json_errdetail() for the scanner's error, from a lexer
 *		context that shows it the failing token, so that it reads as
 *		PostgreSQL's parser's would.  The detail quotes the bad token, which
 *		may run to the end of the body: one past 200 bytes is cut to 97 and
 *		"...".
 */
char *
defender_json_error_detail(const DfwJsonScanner *scanner, JsonParseErrorType error)
{
	JsonLexContext lex;
	char	   *detail;
	size_t		len;
	int			keep = 0;

	memset(&lex, 0, sizeof(lex));
	lex.input = unconstify(char *, scanner->error_token);
	lex.input_length = (int) (scanner->error_token_end - scanner->error_token);
	lex.input_encoding = scanner->encoding;
	lex.token_start = unconstify(char *, scanner->error_token);
	lex.token_terminator = unconstify(char *, scanner->error_token_end);
	lex.line_number = 1;
	detail = json_errdetail(error, &lex);

	len = strlen(detail);
	if (len <= 200)
		return detail;
	for (;;)
	{
		int			next = keep + pg_encoding_mblen(scanner->encoding, detail + keep);

		if (next > 97)
			break;
		keep = next;
	}
	return psprintf("%.*s...", keep, detail);
}

/*
 * An object is made by json_pack, not json_object(): the backend exports a
 * function of that name (the SQL json_object), and a call from this
 * library would bind to it (test/checks/symbol_clash.sh).
 */
static void
tree_object_start(void *state, int depth, uint64 offset)
{
	open_container((TreeBuilder *) state, json_pack("{}"), offset);
}

static void
tree_array_start(void *state, int depth, uint64 offset)
{
	open_container((TreeBuilder *) state, json_array(), offset);
}

static void
tree_container_end(void *state, int depth, uint64 end)
{
	TreeBuilder *b = (TreeBuilder *) state;

	if (b->failure == NULL)
		b->depth--;
}

/* A member's name, copied: its value is attached under it. */
static void
tree_field_start(void *state, int depth, const char *name, size_t namelen,
				 bool escaped, JsonTokenType first, uint64 value_offset)
{
	TreeBuilder *b = (TreeBuilder *) state;

	if (b->failure)
		return;
	if (escaped)
		defender_json_decode_string(name, namelen, true, &b->key);
	else
	{
		resetStringInfo(&b->key);
		appendBinaryStringInfo(&b->key, name, (int) namelen);
	}
}

static void
tree_scalar(void *state, int depth, JsonTokenType type, const char *text,
			size_t len)
{
	TreeBuilder *b = (TreeBuilder *) state;
	uint64		offset = (uint64) (text - b->body);
	json_t	   *value;

	if (b->failure)
		return;
	switch (type)
	{
		case JSON_TOKEN_STRING:
			if (b->scanner->value_escaped)
			{
				defender_json_decode_string(text + 1, len - 2, true, &b->text);
				value = json_stringn_nocheck(b->text.data, b->text.len);
			}
			else
				value = json_stringn_nocheck(text + 1, len - 2);
			break;
		case JSON_TOKEN_NUMBER:
			value = number_value(b, text, len, offset);
			if (value == NULL && b->failure)
				return;
			break;
		case JSON_TOKEN_TRUE:
			value = json_true();
			break;
		case JSON_TOKEN_FALSE:
			value = json_false();
			break;
		default:
			value = json_null();
			break;
	}
	(void) attach(b, value, offset);
}

/* A new object or array: attached where it stands, then filled. */
static void
open_container(TreeBuilder *b, json_t *container, uint64 offset)
{
	if (b->failure)
	{
		json_decref(container);
		return;
	}
	if (!attach(b, container, offset))
		return;
	if (b->depth == b->size)
	{
		b->size *= 2;
		b->open = repalloc(b->open, b->size * sizeof(json_t *));
	}
	b->open[b->depth++] = container;
}

/*
 * attach
 *		Put a new value (whose reference it takes) into the container being
 *		filled, under the pending name in an object; or make it the root.
 */
static bool
attach(TreeBuilder *b, json_t *value, uint64 offset)
{
	json_t	   *parent;
	int			rc;

	if (value == NULL)
	{
		fail(b, offset, "Out of memory for the JSON document.");
		return false;
	}
	if (b->depth >= TREE_MAX_DEPTH)
	{
		json_decref(value);
		fail(b, offset, "A value is nested in more than %d objects and arrays.",
			 TREE_MAX_DEPTH - 1);
		return false;
	}
	if (b->depth == 0)
	{
		if (!json_is_object(value) && !json_is_array(value))
		{
			json_decref(value);
			fail(b, offset, "The document is not an object or an array.");
			return false;
		}
		b->root = value;
		return true;
	}
	parent = b->open[b->depth - 1];
	if (json_is_object(parent))
		rc = json_object_set_new_nocheck(parent, b->key.data, value);
	else
		rc = json_array_append_new(parent, value);
	if (rc != 0)
	{
		/* the _new functions release value when they fail */
		fail(b, offset, "Out of memory for the JSON document.");
		return false;
	}
	return true;
}

/* A number token as jansson reads it: an integer or a double. */
static json_t *
number_value(TreeBuilder *b, const char *text, size_t len, uint64 offset)
{
	bool		is_real = false;
	size_t		i;

	for (i = 0; i < len; i++)
		if (text[i] == '.' || text[i] == 'e' || text[i] == 'E')
			is_real = true;
	resetStringInfo(&b->text);
	appendBinaryStringInfo(&b->text, text, (int) len);
	errno = 0;
	if (is_real)
	{
		double		d = strtod(b->text.data, NULL);

		if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
		{
			fail(b, offset, "Number %s is out of range for a double.", b->text.data);
			return NULL;
		}
		return json_real(d);
	}
	else
	{
		long long	ll = strtoll(b->text.data, NULL, 10);

		if (errno == ERANGE)
		{
			fail(b, offset, "Number %s is out of range for a 64-bit integer.", b->text.data);
			return NULL;
		}
		return json_integer((json_int_t) ll);
	}
}

/* The first reason the tree cannot be built; later events are ignored. */
static void
fail(TreeBuilder *b, uint64 offset, const char *fmt,...)
{
	va_list		args;
	StringInfoData why;

	if (b->failure)
		return;
	initStringInfo(&why);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&why, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&why, needed);
	}
	b->failure = why.data;
	b->failure_offset = offset;
}
