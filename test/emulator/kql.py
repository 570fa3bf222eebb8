"""A KQL (Kusto Query Language) subset: tokenizer, parser to an AST, and an
evaluator over in-memory tables.  Standard library only.

Tables are kql.Table objects: `columns` is a list of (name, kusto_type) and
`rows` a list of tuples in column order (Table.from_dicts builds one from row
dicts).  Values inside the engine:

  string    str (never None; Kusto strings cannot be null)
  long/int  int or None
  real      float or None
  decimal   decimal.Decimal or None
  bool      bool or None
  datetime  int ticks (100 ns) since 1970-01-01T00:00:00Z, or None
  timespan  int ticks, or None
  guid      lower-case canonical str, or None
  dynamic   the JSON value (dict, list, str, int, float, bool) or None

Entry point: run(query_text, resolve_table, now_ticks) -> Table, where
resolve_table(name) returns a Table or None.  Errors are KqlError subclasses
whose .message imitates Kusto's wording (see test/emulator/README.md, "Advanced hunting").

Semantics follow the Kusto documentation, including where it differs from
SQL: `==` null vs value is false but `!=` null vs value is TRUE (null vs null
gives null for both); `<`-style comparisons with a null give null; `where`
drops rows whose predicate is null; `and`/`or` use three-valued logic; sort
defaults to desc, nulls first for asc and last for desc.
"""

import datetime as _dt
import decimal
import json
import math
import operator
import re
import uuid

TICKS_PER_SECOND = 10_000_000
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND
EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
MIN_TICKS = (_dt.date(1, 1, 1).toordinal() - EPOCH_ORDINAL) * TICKS_PER_DAY
MAX_TICKS = (_dt.date(9999, 12, 31).toordinal() - EPOCH_ORDINAL + 1) * TICKS_PER_DAY - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

TYPES = ("string", "long", "int", "real", "decimal", "bool", "datetime", "timespan", "guid", "dynamic")
NUMERIC = frozenset(("int", "long", "real", "decimal"))
# Graph's type names in huntingQueryResults.schema
GRAPH_TYPE_NAMES = {"string": "String", "datetime": "DateTime", "bool": "Boolean", "int": "Int32",
                    "long": "Int64", "real": "Double", "decimal": "Decimal", "timespan": "TimeSpan",
                    "guid": "Guid", "dynamic": "Object"}
# getschema's DataType column (what Kusto prints)
DOTNET_TYPE_NAMES = {"string": "System.String", "datetime": "System.DateTime", "bool": "System.SByte",
                     "int": "System.Int32", "long": "System.Int64", "real": "System.Double",
                     "decimal": "System.Data.SqlTypes.SqlDecimal", "timespan": "System.TimeSpan",
                     "guid": "System.Guid", "dynamic": "System.Object"}
TYPE_ALIASES = {"boolean": "bool", "double": "real", "date": "datetime", "time": "timespan",
                "uniqueid": "guid", "int32": "int", "int64": "long"}


# ==========================================================================
# Errors

class KqlError(Exception):
    """Any query error; .message is the text for the 400 body."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class KqlSyntaxError(KqlError):
    pass


class KqlSemanticError(KqlError):
    pass


def _syntax_error(text, pos, token_text):
    """Kusto's parse error: 1-based line, 0-based column within the line."""
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1)
    shown = token_text.split("\n", 1)[0]
    return KqlSyntaxError("Query could not be parsed at '%s' on line [%d,%d]" % (shown, line, col))


def _sem(opname, message):
    return KqlSemanticError("'%s' operator: %s" % (opname, message))


# ==========================================================================
# Tables

class Table:
    __slots__ = ("columns", "rows")

    def __init__(self, columns, rows):
        self.columns = [(n, normalize_type(t)) for n, t in columns]
        self.rows = rows

    @classmethod
    def from_dicts(cls, columns, dict_rows):
        """columns [(name, type)], rows as dicts (missing key = null / "")."""
        rows = []
        for d in dict_rows:
            rows.append(tuple(d.get(n, "" if normalize_type(t) == "string" else None)
                              for n, t in columns))
        return cls(columns, rows)

    def names(self):
        return [n for n, _ in self.columns]

    def as_dicts(self):
        names = self.names()
        return [dict(zip(names, r)) for r in self.rows]


def normalize_type(name):
    name = name.strip().lower()
    name = TYPE_ALIASES.get(name, name)
    if name not in TYPES:
        raise ValueError("unknown Kusto type %r" % name)
    return name


# ==========================================================================
# Scalar helpers: parsing and formatting of datetime / timespan / guid

_DT_RE = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}:?\d{2})?\s*$")


def parse_datetime(text):
    """ISO-8601-ish text -> ticks since the Unix epoch (UTC), or None."""
    m = _DT_RE.match(text)
    if not m:
        return None
    year, month, day, hour, minute, sec, frac, zone = m.groups()
    try:
        ordinal = _dt.date(int(year), int(month), int(day)).toordinal()
    except ValueError:
        return None
    hour, minute, sec = int(hour or 0), int(minute or 0), int(sec or 0)
    if hour > 23 or minute > 59 or sec > 59:
        return None
    ticks = (ordinal - EPOCH_ORDINAL) * TICKS_PER_DAY + (hour * 3600 + minute * 60 + sec) * TICKS_PER_SECOND
    if frac:
        ticks += int((frac + "000000")[:7])
    if zone and zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60 * TICKS_PER_SECOND
        ticks -= offset if zone[0] == "+" else -offset
    if ticks < MIN_TICKS or ticks > MAX_TICKS:
        return None
    return ticks


_DATE_CACHE = {}


def format_datetime(ticks):
    """Ticks -> 'YYYY-MM-DDTHH:MM:SS.fffffffZ' (always 7 fraction digits)."""
    days, rem = divmod(ticks, TICKS_PER_DAY)
    date = _DATE_CACHE.get(days)
    if date is None:
        date = _dt.date.fromordinal(days + EPOCH_ORDINAL).isoformat()
        if len(_DATE_CACHE) < 200_000:
            _DATE_CACHE[days] = date
    secs, frac = divmod(rem, TICKS_PER_SECOND)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    return "%sT%02d:%02d:%02d.%07dZ" % (date, hours, minutes, secs, frac)


def format_timespan(ticks):
    """Ticks -> .NET constant format '[-][d.]hh:mm:ss[.fffffff]' as Kusto prints it."""
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    days, rem = divmod(ticks, TICKS_PER_DAY)
    secs, frac = divmod(rem, TICKS_PER_SECOND)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    out = "%s%s%02d:%02d:%02d" % (sign, ("%d." % days) if days else "", hours, minutes, secs)
    if frac:
        out += ".%07d" % frac
    return out


TIMESPAN_UNITS = {}
for _names, _ticks in (
        (("d", "day", "days"), TICKS_PER_DAY),
        (("h", "hr", "hrs", "hour", "hours"), 3600 * TICKS_PER_SECOND),
        (("m", "min", "minute", "minutes"), 60 * TICKS_PER_SECOND),
        (("s", "sec", "second", "seconds"), TICKS_PER_SECOND),
        (("ms", "milli", "millis", "millisec", "millisecond", "milliseconds"), TICKS_PER_SECOND // 1000),
        (("micro", "micros", "microsec", "microsecond", "microseconds"), 10),
        (("tick", "ticks"), 1)):
    for _n in _names:
        TIMESPAN_UNITS[_n] = _ticks

_TS_CLOCK_RE = re.compile(r"^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?\s*$")
_TS_UNIT_RE = re.compile(r"^\s*(-)?(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")


def parse_timespan(text):
    """'1.02:03:04.5', '00:30:00', '1d', '2.5h', '100ms' -> ticks, or None."""
    m = _TS_CLOCK_RE.match(text)
    if m:
        neg, days, hours, minutes, secs, frac = m.groups()
        ticks = (((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(secs or 0)) * TICKS_PER_SECOND
        if frac:
            ticks += int((frac + "000000")[:7])
        return -ticks if neg else ticks
    m = _TS_UNIT_RE.match(text)
    if m and m.group(3).lower() in TIMESPAN_UNITS:
        ticks = int(decimal.Decimal(m.group(2)) * TIMESPAN_UNITS[m.group(3).lower()])
        return -ticks if m.group(1) else ticks
    return None


def parse_guid(text):
    try:
        return str(uuid.UUID(text.strip()))
    except (ValueError, AttributeError):
        return None


def format_real(value):
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def dynamic_text(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def to_string(value, typ):
    """Kusto tostring(): null -> ''."""
    if value is None:
        return ""
    if typ == "string":
        return value
    if typ == "bool":
        return "true" if value else "false"
    if typ in ("long", "int"):
        return str(value)
    if typ == "real":
        return format_real(value)
    if typ == "decimal":
        return format(value, "f")
    if typ == "datetime":
        return format_datetime(value)
    if typ == "timespan":
        return format_timespan(value)
    if typ == "guid":
        return value
    if isinstance(value, str):        # dynamic string
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return dynamic_text(value)


def ordinal_key(s):
    """Ordinal (UTF-16 code unit) ordering, as .NET compares strings."""
    return s.encode("utf-16-be", "surrogatepass")


# ==========================================================================
# Tokenizer

HYPHENATED = ("project-away", "project-rename", "project-keep", "project-reorder", "mv-expand",
              "mv-apply")
TYPED_LITERALS = frozenset(("bool", "boolean", "int", "long", "real", "double", "decimal", "datetime",
                            "date", "timespan", "time", "guid", "uniqueid", "dynamic"))
PUNCT2 = ("==", "!=", "=~", "!~", "<=", ">=", "<>", "..", "=>")
PUNCT1 = "|()[]{},;=<>.+-*/%:~"
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_NUM_RE = re.compile(r"0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_UNIT_RE = re.compile(r"[A-Za-z]+")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t", "0": "\0",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v", "/": "/"}


class Tok:
    __slots__ = ("kind", "value", "pos", "text")

    def __init__(self, kind, value, pos, text):
        self.kind = kind      # id str long real timespan typed punct eof
        self.value = value
        self.pos = pos
        self.text = text

    def is_id(self, *names):
        return self.kind == "id" and (not names or self.value in names)

    def is_punct(self, *values):
        return self.kind == "punct" and self.value in values

    def __repr__(self):
        return "Tok(%s,%r)" % (self.kind, self.value)


def _fix_surrogates(s):
    """Pair up surrogates written as \\uD83D\\uDE00; replace lone ones."""
    if any("\ud800" <= ch <= "\udfff" for ch in s):
        return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return s


def tokenize(text):
    toks = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n\f\v\ufeff":
            i += 1
        if i >= n:
            toks.append(Tok("eof", None, n, "<EOF>"))
            return toks
        c = text[i]
        start = i
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if text.startswith("```", i):
            j = text.find("```", i + 3)
            if j < 0:
                raise _syntax_error(text, start, text[start:])
            toks.append(Tok("str", text[i + 3:j], start, text[start:j + 3]))
            i = j + 3
            continue
        # string literals: "..", '..', @"..", @'..', h".." (obfuscated), h@".."
        j = i
        if c in "hH" and j + 1 < n and (text[j + 1] in "\"'" or (text[j + 1] == "@" and j + 2 < n
                                                                  and text[j + 2] in "\"'")):
            j += 1
        verbatim = False
        if text[j] == "@" and j + 1 < n and text[j + 1] in "\"'":
            verbatim = True
            j += 1
        if text[j] in "\"'":
            value, i = _read_string(text, j, verbatim, start)
            toks.append(Tok("str", value, start, text[start:i]))
            continue
        if c.isdigit():
            m = _NUM_RE.match(text, i)
            num = m.group(0)
            i = m.end()
            u = _UNIT_RE.match(text, i)
            if u:
                unit = u.group(0)
                if unit.lower() not in TIMESPAN_UNITS or num.lower().startswith("0x") or "e" in num.lower():
                    raise _syntax_error(text, start, num + unit)
                i = u.end()
                ticks = int(decimal.Decimal(num) * TIMESPAN_UNITS[unit.lower()])
                toks.append(Tok("timespan", ticks, start, text[start:i]))
            elif num.lower().startswith("0x"):
                toks.append(Tok("long", int(num, 16), start, num))
            elif "." in num or "e" in num.lower():
                toks.append(Tok("real", float(num), start, num))
            else:
                toks.append(Tok("long", int(num), start, num))
            continue
        if c == "!" and i + 1 < n and (text[i + 1].isalpha() or text[i + 1] == "_"):
            m = _IDENT_RE.match(text, i + 1)
            word = "!" + m.group(0)
            i = m.end()
            if word == "!in" and i < n and text[i] == "~":
                word, i = "!in~", i + 1
            toks.append(Tok("id", word, start, text[start:i]))
            continue
        if c.isalpha() or c == "_":
            m = _IDENT_RE.match(text, i)
            word = m.group(0)
            i = m.end()
            for hy in HYPHENATED:
                if text.startswith(hy, start) and (start + len(hy) >= n or not
                                                   (text[start + len(hy)].isalnum() or text[start + len(hy)] == "_")):
                    word = hy
                    i = start + len(hy)
                    break
            if word == "in" and i < n and text[i] == "~":
                word, i = "in~", i + 1
            if word in TYPED_LITERALS:
                k = i
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k < n and text[k] == "(":
                    raw, end = _read_parenthesized(text, k, start)
                    toks.append(Tok("typed", _typed_literal(text, start, word, raw), start, text[start:end]))
                    i = end
                    continue
            toks.append(Tok("id", word, start, word))
            continue
        two = text[i:i + 2]
        if two in PUNCT2:
            toks.append(Tok("punct", two, start, two))
            i += 2
            continue
        if c in PUNCT1 or c == "!":
            toks.append(Tok("punct", c, start, c))
            i += 1
            continue
        raise _syntax_error(text, start, c)


def _read_string(text, j, verbatim, start):
    """Read a string literal whose quote is at j; returns (value, end index)."""
    q = text[j]
    i = j + 1
    n = len(text)
    out = []
    while True:
        if i >= n:
            raise _syntax_error(text, start, text[start:])
        c = text[i]
        if c == q:
            if verbatim and i + 1 < n and text[i + 1] == q:
                out.append(q)
                i += 2
                continue
            return _fix_surrogates("".join(out)), i + 1
        if c in "\r\n":
            raise _syntax_error(text, start, text[start:i])
        if c == "\\" and not verbatim:
            if i + 1 >= n:
                raise _syntax_error(text, start, text[start:])
            e = text[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
                continue
            if e in "uU":
                width = 4 if e == "u" else 8
                hexpart = text[i + 2:i + 2 + width]
                if len(hexpart) == width and all(h in "0123456789abcdefABCDEF" for h in hexpart):
                    code = int(hexpart, 16)
                    if code > 0x10FFFF:
                        raise _syntax_error(text, start, text[start:i + 2 + width])
                    out.append(chr(code))
                    i += 2 + width
                    continue
            raise _syntax_error(text, start, text[start:i + 2])
        out.append(c)
        i += 1


def _read_parenthesized(text, k, start):
    """Raw text between '(' at k and its matching ')' (quotes respected)."""
    depth = 0
    i = k
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return text[k + 1:i], i + 1
        i += 1
    raise _syntax_error(text, start, text[start:])


def _typed_literal(text, start, word, raw):
    """Parse the content of long(5), datetime(2024-01-01), dynamic([1]) ...
    -> (type, value)."""
    typ = normalize_type(word)
    body = raw.strip()

    def bad():
        return _syntax_error(text, start, text[start:start + len(word)] + "(" + raw + ")")

    if body == "null":
        return (typ, "" if typ == "string" else None)
    if typ == "dynamic":
        try:
            return (typ, json.loads(body)) if body else (typ, None)
        except ValueError:
            raise bad()
    if typ in ("long", "int"):
        try:
            v = int(body, 0) if body.lower().lstrip("+-").startswith("0x") else int(body)
        except ValueError:
            raise bad()
        lo, hi = (INT32_MIN, INT32_MAX) if typ == "int" else (INT64_MIN, INT64_MAX)
        if not lo <= v <= hi:
            raise bad()
        return (typ, v)
    if typ == "real":
        low = body.lower()
        specials = {"nan": math.nan, "+inf": math.inf, "inf": math.inf, "-inf": -math.inf}
        if low in specials:
            return (typ, specials[low])
        try:
            return (typ, float(body))
        except ValueError:
            raise bad()
    if typ == "decimal":
        try:
            return (typ, decimal.Decimal(body))
        except decimal.InvalidOperation:
            raise bad()
    if typ == "bool":
        if body.lower() in ("true", "1"):
            return (typ, True)
        if body.lower() in ("false", "0"):
            return (typ, False)
        raise bad()
    if typ == "datetime":
        v = parse_datetime(body)
        if v is None:
            raise bad()
        return (typ, v)
    if typ == "timespan":
        v = parse_timespan(body)
        if v is None:
            raise bad()
        return (typ, v)
    if typ == "guid":
        v = parse_guid(body)
        if v is None:
            raise bad()
        return (typ, v)
    raise bad()


# ==========================================================================
# AST

class Node:
    """kind + fields; tok is the token for error positions."""

    def __init__(self, kind, tok, **fields):
        self.kind = kind
        self.tok = tok
        self.__dict__.update(fields)

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("kind", "tok")}
        return "%s%r" % (self.kind, fields)


STRING_OPS = frozenset((
    "contains", "!contains", "contains_cs", "!contains_cs",
    "startswith", "!startswith", "startswith_cs", "!startswith_cs",
    "endswith", "!endswith", "endswith_cs", "!endswith_cs",
    "has", "!has", "has_cs", "!has_cs", "hasprefix", "!hasprefix", "hasprefix_cs", "!hasprefix_cs",
    "hassuffix", "!hassuffix", "hassuffix_cs", "!hassuffix_cs"))
IN_OPS = frozenset(("in", "!in", "in~", "!in~"))
CMP_OPS = frozenset(("==", "!=", "<", "<=", ">", ">=", "=~", "!~", "<>"))
SOURCE_KEYWORDS = frozenset(("datatable", "print", "range"))


class Parser:
    def __init__(self, text):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.furthest = None      # (pos, tok) of the deepest failure, for backtracking

    # ---- token helpers ------------------------------------------------------
    def peek(self, k=0):
        j = min(self.i + k, len(self.toks) - 1)
        return self.toks[j]

    def next(self):
        tok = self.toks[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, tok=None):
        tok = tok or self.peek()
        return _syntax_error(self.text, tok.pos, tok.text)

    def accept_id(self, *names):
        if self.peek().is_id(*names):
            return self.next()
        return None

    def accept_punct(self, *values):
        if self.peek().is_punct(*values):
            return self.next()
        return None

    def expect_id(self, *names):
        tok = self.accept_id(*names)
        if tok is None:
            raise self.error()
        return tok

    def expect_punct(self, *values):
        tok = self.accept_punct(*values)
        if tok is None:
            raise self.error()
        return tok

    def name(self):
        """An identifier or ['quoted name'] / ["quoted name"]."""
        tok = self.peek()
        if tok.kind == "id" and not tok.value.startswith("!"):
            self.next()
            return tok.value, tok
        if tok.is_punct("[") and self.peek(1).kind == "str" and self.peek(2).is_punct("]"):
            self.next()
            s = self.next()
            self.next()
            return s.value, tok
        raise self.error()

    # ---- statements -----------------------------------------------------------
    def parse_query(self):
        lets = []
        while True:
            if self.peek().is_id("let"):
                let_tok = self.next()
                name, _ = self.name()
                self.expect_punct("=")
                value = self._let_value()
                lets.append((name, value, let_tok))
                self.expect_punct(";")
                continue
            break
        if self.peek().kind == "eof":
            raise self.error()
        body = self.parse_tabular()
        self.accept_punct(";")
        if self.peek().kind != "eof":
            raise self.error()
        return Node("query", None, lets=lets, body=body)

    def _let_value(self):
        """A let's right side: a tabular expression if it parses as one up to
        the ';', else a scalar expression."""
        save = self.i
        err_tab = None
        try:
            tab = self.parse_tabular()
            if self.peek().is_punct(";"):
                return Node("let_tabular", None, value=tab)
            err_tab = self.error()
        except KqlSyntaxError as err:
            err_tab = err
        tab_stop = self.i
        self.i = save
        try:
            expr = self.parse_expr()
            if self.peek().is_punct(";"):
                return Node("let_scalar", None, value=expr)
            raise self.error()
        except KqlSyntaxError as err:
            # report whichever reading got further
            if tab_stop > self.i:
                raise err_tab
            raise err

    # ---- tabular ------------------------------------------------------------
    def parse_tabular(self):
        source = self.parse_source()
        ops = []
        while self.accept_punct("|"):
            ops.append(self.parse_operator())
        return Node("pipe", None, source=source, ops=ops)

    def parse_source(self):
        tok = self.peek()
        if tok.is_punct("("):
            self.next()
            inner = self.parse_tabular()
            self.expect_punct(")")
            return Node("sub", tok, value=inner)
        if tok.is_id("datatable") and self.peek(1).is_punct("("):
            return self._datatable()
        if tok.is_id("print"):
            self.next()
            return Node("print", tok, items=self.named_list(allow_empty=False))
        if tok.is_id("range") and self.peek(1).kind == "id":
            self.next()
            col, _ = self.name()
            self.expect_id("from")
            lo = self.parse_expr()
            self.expect_id("to")
            hi = self.parse_expr()
            self.expect_id("step")
            step = self.parse_expr()
            return Node("range", tok, column=col, lo=lo, hi=hi, step=step)
        if tok.kind == "id" and not tok.value.startswith("!") and not self.peek(1).is_punct("("):
            self.next()
            return Node("table", tok, name=tok.value)
        if tok.is_punct("[") and self.peek(1).kind == "str" and self.peek(2).is_punct("]"):
            name, t = self.name()
            return Node("table", t, name=name)
        raise self.error()

    def _datatable(self):
        tok = self.next()
        self.expect_punct("(")
        columns = []
        while True:
            name, _ = self.name()
            self.expect_punct(":")
            type_tok = self.next()
            if type_tok.kind not in ("id", "typed"):
                raise self.error(type_tok)
            try:
                typ = normalize_type(type_tok.value if type_tok.kind == "id" else type_tok.text.split("(")[0])
            except ValueError:
                raise self.error(type_tok)
            columns.append((name, typ))
            if not self.accept_punct(","):
                break
        self.expect_punct(")")
        self.expect_punct("[")
        values = []
        if not self.peek().is_punct("]"):
            while True:
                values.append(self.parse_expr())
                if not self.accept_punct(","):
                    break
        self.expect_punct("]")
        return Node("datatable", tok, columns=columns, values=values)

    def parse_operator(self):
        tok = self.peek()
        if tok.kind != "id":
            raise self.error()
        word = tok.value
        self.next()
        if word in ("where", "filter"):
            return Node("where", tok, opname="where", pred=self.parse_expr())
        if word == "project":
            return Node("project", tok, opname="project", items=self.named_list(allow_empty=False))
        if word in ("project-away", "project-keep"):
            return Node(word, tok, opname=word, patterns=self.patterns())
        if word == "project-rename":
            pairs = []
            while True:
                new, ntok = self.name()
                self.expect_punct("=")
                old, otok = self.name()
                pairs.append((new, old, otok))
                if not self.accept_punct(","):
                    break
            return Node("project-rename", tok, opname=word, pairs=pairs)
        if word == "extend":
            return Node("extend", tok, opname="extend", items=self.named_list(allow_empty=False))
        if word in ("sort", "order"):
            self.expect_id("by")
            return Node("sort", tok, opname=word, keys=self.sort_keys())
        if word in ("take", "limit"):
            return Node("take", tok, opname=word, count=self.parse_expr())
        if word == "top":
            count = self.parse_expr()
            self.expect_id("by")
            return Node("top", tok, opname="top", count=count, keys=self.sort_keys())
        if word == "summarize":
            aggs = []
            if not self.peek().is_id("by"):
                aggs = self.named_list(allow_empty=False)
            bys = []
            if self.accept_id("by"):
                bys = self.named_list(allow_empty=False)
            if not aggs and not bys:
                raise self.error()
            return Node("summarize", tok, opname="summarize", aggs=aggs, bys=bys)
        if word == "count":
            return Node("count", tok, opname="count")
        if word == "distinct":
            if self.accept_punct("*"):
                return Node("distinct", tok, opname="distinct", items=None)
            return Node("distinct", tok, opname="distinct", items=self.named_list(allow_empty=False))
        if word == "getschema":
            return Node("getschema", tok, opname="getschema")
        if word == "serialize":
            return Node("serialize", tok, opname="serialize")
        raise self.error(tok)

    def patterns(self):
        """Column names or wildcards (Initiating*) for project-away/keep."""
        out = []
        while True:
            tok = self.peek()
            if tok.is_punct("*"):
                self.next()
                text = "*"
                pos_end = tok.pos + 1
            else:
                text, tok = self.name()
                pos_end = self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text)
            # glue adjacent pieces: Initiating*  *Name  a*b
            while True:
                nxt = self.peek()
                if nxt.pos != pos_end or nxt.kind == "eof":
                    break
                if nxt.is_punct("*"):
                    text += "*"
                elif nxt.kind == "id" and not nxt.value.startswith("!"):
                    text += nxt.value
                elif nxt.kind == "long":
                    text += nxt.text
                else:
                    break
                self.next()
                pos_end = nxt.pos + len(nxt.text)
            out.append((text, tok))
            if not self.accept_punct(","):
                return out

    def sort_keys(self):
        keys = []
        while True:
            expr = self.parse_expr()
            asc = False
            if self.accept_id("asc"):
                asc = True
            elif self.accept_id("desc"):
                asc = False
            nulls_first = asc
            if self.accept_id("nulls"):
                which = self.expect_id("first", "last")
                nulls_first = which.value == "first"
            keys.append((expr, asc, nulls_first))
            if not self.accept_punct(","):
                return keys

    def named_list(self, allow_empty):
        items = []
        if allow_empty and self.peek().kind == "eof":
            return items
        while True:
            tok = self.peek()
            name = None
            if tok.kind == "id" and not tok.value.startswith("!") and self.peek(1).is_punct("="):
                name = tok.value
                self.next()
                self.next()
            elif (tok.is_punct("[") and self.peek(1).kind == "str" and self.peek(2).is_punct("]")
                  and self.peek(3).is_punct("=")):
                self.next()
                name = self.next().value
                self.next()
                self.next()
            items.append((name, self.parse_expr()))
            if not self.accept_punct(","):
                return items

    # ---- expressions ----------------------------------------------------------
    def parse_expr(self):
        return self.parse_or()

    def parse_or(self):
        left = self.parse_and()
        while True:
            tok = self.accept_id("or")
            if not tok:
                return left
            left = Node("logic", tok, op="or", a=left, b=self.parse_and())

    def parse_and(self):
        left = self.parse_rel()
        while True:
            tok = self.accept_id("and")
            if not tok:
                return left
            left = Node("logic", tok, op="and", a=left, b=self.parse_rel())

    def parse_rel(self):
        left = self.parse_add()
        tok = self.peek()
        if tok.kind == "punct" and tok.value in CMP_OPS:
            self.next()
            op = "!=" if tok.value == "<>" else tok.value
            return Node("cmp", tok, op=op, a=left, b=self.parse_add())
        if tok.kind != "id":
            return left
        word = tok.value
        if word in STRING_OPS:
            self.next()
            return Node("strop", tok, op=word, a=left, b=self.parse_add())
        if word in ("matches", "!matches") and self.peek(1).is_id("regex"):
            self.next()
            self.next()
            return Node("regex", tok, negate=word.startswith("!"), a=left, b=self.parse_add())
        if word in IN_OPS:
            self.next()
            self.expect_punct("(")
            items = []
            if not self.peek().is_punct(")"):
                while True:
                    items.append(self.parse_expr())
                    if not self.accept_punct(","):
                        break
            self.expect_punct(")")
            return Node("in", tok, op=word, a=left, items=items)
        if word in ("between", "!between"):
            self.next()
            self.expect_punct("(")
            lo = self.parse_add()
            self.expect_punct("..")
            hi = self.parse_add()
            self.expect_punct(")")
            return Node("between", tok, negate=word.startswith("!"), a=left, lo=lo, hi=hi)
        return left

    def parse_add(self):
        left = self.parse_mul()
        while True:
            tok = self.accept_punct("+", "-")
            if not tok:
                return left
            left = Node("arith", tok, op=tok.value, a=left, b=self.parse_mul())

    def parse_mul(self):
        left = self.parse_unary()
        while True:
            tok = self.accept_punct("*", "/", "%")
            if not tok:
                return left
            left = Node("arith", tok, op=tok.value, a=left, b=self.parse_unary())

    def parse_unary(self):
        tok = self.accept_punct("-", "+")
        if tok:
            return Node("neg" if tok.value == "-" else "pos", tok, a=self.parse_unary())
        return self.parse_postfix()

    def parse_postfix(self):
        node = self.parse_primary()
        while True:
            tok = self.peek()
            if tok.is_punct(".") and self.peek(1).kind == "id":
                self.next()
                key = self.next()
                node = Node("member", tok, obj=node, key=Node("lit", key, type="string", value=key.value))
            elif tok.is_punct("[") and node.kind in ("col", "member", "index", "call"):
                self.next()
                key = self.parse_expr()
                self.expect_punct("]")
                node = Node("index", tok, obj=node, key=key)
            else:
                return node

    def parse_primary(self):
        tok = self.peek()
        k = tok.kind
        if k == "str":
            self.next()
            parts = [tok.value]
            while self.peek().kind == "str":      # adjacent literals concatenate
                parts.append(self.next().value)
            return Node("lit", tok, type="string", value="".join(parts))
        if k == "long":
            self.next()
            return Node("lit", tok, type="long", value=tok.value)
        if k == "real":
            self.next()
            return Node("lit", tok, type="real", value=tok.value)
        if k == "timespan":
            self.next()
            return Node("lit", tok, type="timespan", value=tok.value)
        if k == "typed":
            self.next()
            typ, value = tok.value
            return Node("lit", tok, type=typ, value=value)
        if tok.is_punct("("):
            self.next()
            inner = self.parse_expr()
            self.expect_punct(")")
            return inner
        if tok.is_punct("[") and self.peek(1).kind == "str" and self.peek(2).is_punct("]"):
            name, _ = self.name()
            return Node("col", tok, name=name)
        if k == "id" and not tok.value.startswith("!") and tok.value not in ("in~",):
            if tok.value in ("true", "false"):
                self.next()
                return Node("lit", tok, type="bool", value=tok.value == "true")
            self.next()
            if self.peek().is_punct("("):
                self.next()
                args = []
                if not self.peek().is_punct(")"):
                    while True:
                        if self.peek().is_punct("*") and self.peek(1).is_punct(")", ","):
                            star = self.next()
                            args.append(Node("star", star))
                        else:
                            args.append(self.parse_expr())
                        if not self.accept_punct(","):
                            break
                self.expect_punct(")")
                return Node("call", tok, name=tok.value, args=args)
            return Node("col", tok, name=tok.value)
        raise self.error()


def parse(text):
    """Query text -> AST (raises KqlSyntaxError)."""
    return Parser(text).parse_query()


# ==========================================================================
# Compiled scalar expressions

class CE:
    """A compiled expression: fn(row) -> value, its Kusto type, and whether
    it is a constant (then .value holds it)."""
    __slots__ = ("fn", "type", "const", "value", "name")

    def __init__(self, fn, typ, const=False, value=None, name=None):
        self.fn = fn
        self.type = typ
        self.const = const
        self.value = value
        self.name = name      # the column name when the expression is a bare column


def _const(value, typ):
    return CE(lambda r, v=value: v, typ, True, value)


def _fold(ce, *parts):
    """Turn ce into a constant when every part is constant."""
    if all(p.const for p in parts):
        value = ce.fn(None)
        return _const(value, ce.type)
    return ce


class Scope:
    """Columns visible to an operator, plus the query context."""

    def __init__(self, columns, ctx, opname):
        self.columns = columns
        self.index = {}
        for i, (name, _) in enumerate(columns):
            self.index.setdefault(name, i)
        self.ctx = ctx
        self.opname = opname

    def err(self, message):
        return _sem(self.opname, message)


def compile_expr(node, scope):
    kind = node.kind
    if kind == "lit":
        return _const(node.value, node.type)
    if kind == "col":
        i = scope.index.get(node.name)
        if i is not None:
            return CE(operator.itemgetter(i), scope.columns[i][1], name=node.name)
        let = scope.ctx.scalar_lets.get(node.name)
        if let is not None:
            return let
        raise scope.err("Failed to resolve scalar expression named '%s'" % node.name)
    if kind == "logic":
        return _compile_logic(node, scope)
    if kind == "cmp":
        return _compile_cmp(node.op, compile_expr(node.a, scope), compile_expr(node.b, scope), scope)
    if kind == "strop":
        return _compile_strop(node.op, compile_expr(node.a, scope), compile_expr(node.b, scope), scope)
    if kind == "regex":
        return _compile_regex(node, scope)
    if kind == "in":
        return _compile_in(node, scope)
    if kind == "between":
        return _compile_between(node, scope)
    if kind == "arith":
        return _compile_arith(node.op, compile_expr(node.a, scope), compile_expr(node.b, scope), scope)
    if kind == "neg":
        a = compile_expr(node.a, scope)
        if a.type not in NUMERIC and a.type != "timespan":
            raise scope.err("Unary minus is not defined for an argument of type '%s'" % a.type)
        fa = a.fn
        return _fold(CE(lambda r: None if (x := fa(r)) is None else -x, a.type), a)
    if kind == "pos":
        return compile_expr(node.a, scope)
    if kind == "member" or kind == "index":
        return _compile_member(node, scope)
    if kind == "call":
        fn = SCALAR_FUNCTIONS.get(node.name)
        if fn is None:
            if node.name in AGGREGATES:
                raise scope.err("Function '%s' can only be used in the context of summarize" % node.name)
            raise scope.err("Unknown function: '%s'." % node.name)
        return fn(node, scope)
    if kind == "star":
        raise scope.err("'*' is not allowed here")
    raise scope.err("Unsupported expression")


# ---- logic -------------------------------------------------------------------

def _require_bool(ce, scope, what):
    if ce.type not in ("bool", "dynamic"):
        raise scope.err("%s expects arguments of type 'bool', got '%s'" % (what, ce.type))


def _compile_logic(node, scope):
    a = compile_expr(node.a, scope)
    b = compile_expr(node.b, scope)
    _require_bool(a, scope, "'%s'" % node.op)
    _require_bool(b, scope, "'%s'" % node.op)
    fa, fb = a.fn, b.fn
    if node.op == "and":
        def fn(r):
            x = fa(r)
            if x is False:
                return False
            y = fb(r)
            if y is False:
                return False
            if x is None or y is None:
                return None
            return True
    else:
        def fn(r):
            x = fa(r)
            if x is True:
                return True
            y = fb(r)
            if y is True:
                return True
            if x is None or y is None:
                return None
            return False
    return _fold(CE(fn, "bool"), a, b)


# ---- comparison ----------------------------------------------------------------

def _comparable(ta, tb):
    if ta == tb:
        return True
    if ta in NUMERIC and tb in NUMERIC:
        return True
    return ta == "dynamic" or tb == "dynamic"


def _dyn_coerce(value, other_type):
    """A dynamic value seen from a typed operand; _NOMATCH when the kinds differ."""
    if value is None:
        return None
    if other_type == "string":
        return value if isinstance(value, str) else _NOMATCH
    if other_type in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _NOMATCH
        return value
    if other_type == "bool":
        return value if isinstance(value, bool) else _NOMATCH
    if other_type in ("datetime", "timespan", "guid"):
        if isinstance(value, str):
            parsed = {"datetime": parse_datetime, "timespan": parse_timespan, "guid": parse_guid}[other_type](value)
            return _NOMATCH if parsed is None else parsed
        return _NOMATCH
    return value


class _NoMatch:
    pass


_NOMATCH = _NoMatch()


def _cmp_fn(op, ordinal):
    """A null-aware comparison of two plain values."""
    if op == "==":
        def f(x, y):
            if x is None or y is None:
                return None if x is None and y is None else False
            if x is _NOMATCH or y is _NOMATCH:
                return False
            return x == y
        return f
    if op == "!=":
        def f(x, y):
            if x is None or y is None:
                return None if x is None and y is None else True
            if x is _NOMATCH or y is _NOMATCH:
                return True
            return x != y
        return f
    pyop = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
    if ordinal:
        def f(x, y):
            if x is None or y is None or x is _NOMATCH or y is _NOMATCH:
                return None
            if isinstance(x, str) and isinstance(y, str):
                return pyop(ordinal_key(x), ordinal_key(y))
            try:
                return pyop(x, y)
            except TypeError:
                return None
        return f

    def f(x, y):
        if x is None or y is None or x is _NOMATCH or y is _NOMATCH:
            return None
        try:
            return pyop(x, y)
        except TypeError:
            return None
    return f


def _compile_cmp(op, a, b, scope):
    if op in ("=~", "!~"):
        return _compile_strop("=~" if op == "=~" else "!~", a, b, scope)
    ta, tb = a.type, b.type
    if not _comparable(ta, tb):
        raise scope.err("Cannot compare values of types %s and %s. Try adding explicit casts" % (ta, tb))
    fa, fb = a.fn, b.fn
    if ta == "dynamic" and tb != "dynamic":
        fa = (lambda g, t: lambda r: _dyn_coerce(g(r), t))(fa, tb)
    elif tb == "dynamic" and ta != "dynamic":
        fb = (lambda g, t: lambda r: _dyn_coerce(g(r), t))(fb, ta)
    ordinal = "string" in (ta, tb) or "dynamic" in (ta, tb)
    f = _cmp_fn(op, ordinal)
    if b.const and op in ("==", "!=") and ta == tb and b.value is not None:
        c = b.value
        if op == "==":
            def fn(r):
                x = fa(r)
                return False if x is None else x == c
        else:
            def fn(r):
                x = fa(r)
                return True if x is None else x != c
        return _fold(CE(fn, "bool"), a, b)
    if b.const:
        c = fb(None)
        return _fold(CE(lambda r: f(fa(r), c), "bool"), a, b)
    return _fold(CE(lambda r: f(fa(r), fb(r)), "bool"), a, b)


# ---- string operators ------------------------------------------------------------

def _as_string_fn(ce):
    if ce.type == "string":
        return ce.fn
    g, t = ce.fn, ce.type
    return lambda r: to_string(g(r), t)


_ALNUM = "[A-Za-z0-9]"


def _has_regex(needle, kind, case_sensitive):
    """Term matching: a term is a maximal run of ASCII alphanumerics."""
    body = re.escape(needle)
    pre = "(?<!%s)" % _ALNUM if needle[:1].isascii() and needle[:1].isalnum() else ""
    post = "(?!%s)" % _ALNUM if needle[-1:].isascii() and needle[-1:].isalnum() else ""
    if kind == "has":
        pattern = pre + body + post
    elif kind == "hasprefix":
        pattern = pre + body
    else:
        pattern = body + post
    return re.compile(pattern, re.DOTALL if case_sensitive else (re.DOTALL | re.IGNORECASE))


def _string_predicate(base, cs):
    """(value, needle) -> bool for one string operator."""
    if base == "=~":
        return lambda x, y: x.lower() == y.lower()
    if base == "contains":
        return (lambda x, y: y in x) if cs else (lambda x, y: y.lower() in x.lower())
    if base == "startswith":
        return (lambda x, y: x.startswith(y)) if cs else (lambda x, y: x.lower().startswith(y.lower()))
    if base == "endswith":
        return (lambda x, y: x.endswith(y)) if cs else (lambda x, y: x.lower().endswith(y.lower()))
    kind = base

    def f(x, y):
        if y == "":
            return True
        return _has_regex(y, kind, cs).search(x) is not None
    return f


def _compile_strop(op, a, b, scope):
    negate = op.startswith("!")
    base = op.lstrip("!")
    if op == "!~":
        negate, base = True, "=~"
    cs = base.endswith("_cs")
    base = base[:-3] if cs else base
    fa, fb = _as_string_fn(a), _as_string_fn(b)
    if b.const:
        needle = to_string(b.value, b.type)
        if base == "=~":
            low = needle.lower()
            test = lambda x: x.lower() == low   # noqa: E731
        elif base == "contains":
            if cs:
                test = lambda x: needle in x   # noqa: E731
            else:
                low = needle.lower()
                test = lambda x: low in x.lower()   # noqa: E731
        elif base == "startswith":
            if cs:
                test = lambda x: x.startswith(needle)   # noqa: E731
            else:
                low = needle.lower()
                test = lambda x: x.lower().startswith(low)   # noqa: E731
        elif base == "endswith":
            if cs:
                test = lambda x: x.endswith(needle)   # noqa: E731
            else:
                low = needle.lower()
                test = lambda x: x.lower().endswith(low)   # noqa: E731
        elif needle == "":
            test = lambda x: True   # noqa: E731
        else:
            search = _has_regex(needle, base, cs).search
            test = lambda x: search(x) is not None   # noqa: E731
        if negate:
            fn = lambda r: not test(fa(r))   # noqa: E731
        else:
            fn = lambda r: test(fa(r))   # noqa: E731
        return _fold(CE(fn, "bool"), a, b)
    pred = _string_predicate(base, cs)
    if negate:
        fn = lambda r: not pred(fa(r), fb(r))   # noqa: E731
    else:
        fn = lambda r: pred(fa(r), fb(r))   # noqa: E731
    return _fold(CE(fn, "bool"), a, b)


def _compile_regex(node, scope):
    a = compile_expr(node.a, scope)
    b = compile_expr(node.b, scope)
    if not b.const:
        raise scope.err("The regular expression of 'matches regex' must be a constant string")
    try:
        rx = re.compile(to_string(b.value, b.type))
    except re.error as err:
        raise scope.err("Invalid regular expression: %s" % err)
    fa = _as_string_fn(a)
    neg = node.negate
    return _fold(CE(lambda r: (rx.search(fa(r)) is None) if neg else (rx.search(fa(r)) is not None),
                    "bool"), a, b)


# ---- in / between ---------------------------------------------------------------

def _hashable(value):
    if isinstance(value, (dict, list)):
        return ("\0dyn", dynamic_text(value))
    return value


def _compile_in(node, scope):
    a = compile_expr(node.a, scope)
    negate = node.op.startswith("!")
    ci = node.op.endswith("~")
    items = [compile_expr(item, scope) for item in node.items]
    for item in items:
        if item.type != "dynamic" and not _comparable(a.type, item.type) and not ci:
            raise scope.err("Cannot compare values of types %s and %s. Try adding explicit casts"
                            % (a.type, item.type))
    fa = a.fn
    if ci:
        fa = _as_string_fn(a)
    if all(item.const for item in items):
        values = set()
        for item in items:
            vals = item.value if (item.type == "dynamic" and isinstance(item.value, list)) else [item.value]
            for v in vals:
                if v is None:
                    continue
                if ci:
                    typ = item.type if item.type != "dynamic" else "dynamic"
                    values.add(to_string(v, typ).lower())
                else:
                    values.add(_hashable(v))
        if ci:
            fn = lambda r: fa(r).lower() in values   # noqa: E731
        elif a.type == "dynamic":
            fn = lambda r: (v := fa(r)) is not None and _hashable(v) in values   # noqa: E731
        else:
            fn = lambda r: (v := fa(r)) is not None and v in values   # noqa: E731
    else:
        fns = [(item.fn, item.type) for item in items]

        def fn(r):
            v = fa(r)
            if v is None:
                return False
            for g, t in fns:
                w = g(r)
                ws = w if (t == "dynamic" and isinstance(w, list)) else [w]
                for x in ws:
                    if x is None:
                        continue
                    if ci:
                        if v.lower() == to_string(x, t).lower():
                            return True
                    elif _hashable(v) == _hashable(x):
                        return True
            return False
    if negate:
        pos = fn
        fn = lambda r: not pos(r)   # noqa: E731
    return _fold(CE(fn, "bool"), a, *items)


def _compile_between(node, scope):
    a = compile_expr(node.a, scope)
    lo = compile_expr(node.lo, scope)
    hi = compile_expr(node.hi, scope)
    span_upper = a.type == "datetime" and hi.type == "timespan"
    if not _comparable(a.type, lo.type) or (not span_upper and not _comparable(a.type, hi.type)):
        raise scope.err("Cannot compare values of types %s and %s. Try adding explicit casts"
                        % (a.type, lo.type if not _comparable(a.type, lo.type) else hi.type))
    fa, flo, fhi = a.fn, lo.fn, hi.fn
    neg = node.negate
    ordinal = a.type == "string"

    def fn(r):
        x = fa(r)
        low = flo(r)
        high = fhi(r)
        if x is None or low is None or high is None:
            return None
        if span_upper:
            high = low + high
        if ordinal:
            x, low, high = ordinal_key(x), ordinal_key(low), ordinal_key(high)
        inside = low <= x <= high
        return (not inside) if neg else inside
    return _fold(CE(fn, "bool"), a, lo, hi)


# ---- arithmetic -----------------------------------------------------------------

def _num_result(ta, tb):
    if "decimal" in (ta, tb):
        return "decimal"
    if "real" in (ta, tb):
        return "real"
    if ta == "int" and tb == "int":
        return "int"
    return "long"


def _wrap_int(v, typ):
    if typ == "long":
        return ((v - INT64_MIN) % (1 << 64)) + INT64_MIN
    if typ == "int":
        return ((v - INT32_MIN) % (1 << 32)) + INT32_MIN
    return v


def _int_div(x, y):
    if y == 0:
        return None
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y >= 0) else -q


def _int_mod(x, y):
    if y == 0:
        return None
    return x - y * _int_div(x, y)


def _real_div(x, y):
    try:
        return x / y
    except ZeroDivisionError:
        if x == 0 or x != x:
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)


def _compile_arith(op, a, b, scope):
    ta, tb = a.type, b.type
    res = None
    impl = None
    if ta in NUMERIC and tb in NUMERIC:
        res = _num_result(ta, tb)
        if res in ("long", "int"):
            impl = {"+": lambda x, y: _wrap_int(x + y, res), "-": lambda x, y: _wrap_int(x - y, res),
                    "*": lambda x, y: _wrap_int(x * y, res), "/": _int_div, "%": _int_mod}[op]
        elif res == "real":
            impl = {"+": lambda x, y: float(x) + float(y), "-": lambda x, y: float(x) - float(y),
                    "*": lambda x, y: float(x) * float(y), "/": lambda x, y: _real_div(float(x), float(y)),
                    "%": lambda x, y: math.fmod(x, y) if y else math.nan}[op]
        else:
            D = decimal.Decimal
            impl = {"+": lambda x, y: D(x) + D(y), "-": lambda x, y: D(x) - D(y),
                    "*": lambda x, y: D(x) * D(y),
                    "/": lambda x, y: None if y == 0 else D(x) / D(y),
                    "%": lambda x, y: None if y == 0 else D(x) % D(y)}[op]
    elif op in "+-" and ta == "datetime" and tb == "timespan":
        res, impl = "datetime", (operator.add if op == "+" else operator.sub)
    elif op == "+" and ta == "timespan" and tb == "datetime":
        res, impl = "datetime", operator.add
    elif op == "-" and ta == "datetime" and tb == "datetime":
        res, impl = "timespan", operator.sub
    elif op in "+-" and ta == "timespan" and tb == "timespan":
        res, impl = "timespan", (operator.add if op == "+" else operator.sub)
    elif op == "*" and ((ta == "timespan" and tb in NUMERIC) or (tb == "timespan" and ta in NUMERIC)):
        res, impl = "timespan", lambda x, y: int(round(x * y))
    elif op == "/" and ta == "timespan" and tb in NUMERIC:
        res, impl = "timespan", lambda x, y: None if y == 0 else int(round(x / y))
    elif op == "/" and ta == "timespan" and tb == "timespan":
        res, impl = "real", lambda x, y: _real_div(float(x), float(y))
    if impl is None:
        raise scope.err("Operator '%s' is not defined for arguments of types '%s' and '%s'" % (op, ta, tb))
    fa, fb = a.fn, b.fn

    def fn(r):
        x = fa(r)
        if x is None:
            return None
        y = fb(r)
        if y is None:
            return None
        return impl(x, y)
    return _fold(CE(fn, res), a, b)


# ---- dynamic member access ----------------------------------------------------------

def _compile_member(node, scope):
    obj = compile_expr(node.obj, scope)
    key = compile_expr(node.key, scope)
    if obj.type != "dynamic":
        raise scope.err("The expression must be of type 'dynamic' to use '.' or '[]' (got '%s')" % obj.type)
    fo, fk = obj.fn, key.fn

    def fn(r):
        v = fo(r)
        k = fk(r)
        if isinstance(v, dict) and isinstance(k, str):
            return v.get(k)
        if isinstance(v, list) and isinstance(k, int) and not isinstance(k, bool):
            if -len(v) <= k < len(v):
                return v[k]
        return None
    ce = _fold(CE(fn, "dynamic"), obj, key)
    if node.kind == "member" and obj.name is not None:
        ce.name = "%s_%s" % (obj.name, node.key.value)
    return ce


# ==========================================================================
# Scalar functions

def _args(node, scope, lo, hi=None):
    hi = lo if hi is None else hi
    if not lo <= len(node.args) <= hi:
        expected = str(lo) if lo == hi else "%d to %d" % (lo, hi)
        raise scope.err("function '%s' expects %s argument(s), got %d" % (node.name, expected, len(node.args)))
    return [compile_expr(a, scope) for a in node.args]


def _unary(node, scope, typ, impl, null_result=None, accept=None):
    (a,) = _args(node, scope, 1)
    if accept is not None and a.type not in accept:
        raise scope.err("function '%s' does not accept an argument of type '%s'" % (node.name, a.type))
    f = a.fn
    t = a.type
    return _fold(CE(lambda r: impl(f(r), t), typ), a)


def _f_ago(node, scope):
    (a,) = _args(node, scope, 1)
    if a.type != "timespan":
        raise scope.err("function 'ago' expects an argument of type 'timespan', got '%s'" % a.type)
    now = scope.ctx.now
    f = a.fn
    return _fold(CE(lambda r: None if (x := f(r)) is None else now - x, "datetime"), a)


def _f_now(node, scope):
    args = _args(node, scope, 0, 1)
    now = scope.ctx.now
    if args:
        if args[0].type != "timespan":
            raise scope.err("function 'now' expects an argument of type 'timespan', got '%s'" % args[0].type)
        f = args[0].fn
        return _fold(CE(lambda r: None if (x := f(r)) is None else now + x, "datetime"), args[0])
    return _const(now, "datetime")


def _isempty(v, t):
    return v is None or v == "" if t in ("string", "dynamic") else v is None


def _to_long(v, t):
    if v is None:
        return None
    try:
        if t in ("long", "int"):
            return v
        if t == "bool":
            return int(v)
        if t in ("real", "decimal"):
            if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
                return None
            return int(v)
        if t in ("datetime", "timespan"):
            return v
        if t == "dynamic" and not isinstance(v, str):
            return None if isinstance(v, (dict, list)) else int(v)
        s = str(v).strip()
        if re.fullmatch(r"[+-]?\d+", s):
            n = int(s)
            return n if INT64_MIN <= n <= INT64_MAX else None
        f = float(s)
        return None if math.isnan(f) or math.isinf(f) else int(f)
    except (ValueError, TypeError, OverflowError):
        return None


def _to_int(v, t):
    n = _to_long(v, t)
    return n if n is None or INT32_MIN <= n <= INT32_MAX else None


def _to_real(v, t):
    if v is None:
        return None
    try:
        if t in ("datetime", "timespan"):
            return float(v)
        if isinstance(v, (dict, list)):
            return None
        return float(v)
    except (ValueError, TypeError):
        return None


def _to_decimal(v, t):
    if v is None:
        return None
    try:
        if isinstance(v, (dict, list, bool)):
            return None
        return decimal.Decimal(str(v).strip()) if isinstance(v, str) else decimal.Decimal(v)
    except (decimal.InvalidOperation, ValueError, TypeError):
        return None


def _to_bool(v, t):
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and t != "string":
        return v != 0
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
    return None


def _to_datetime(v, t):
    if v is None:
        return None
    if t == "datetime":
        return v
    if isinstance(v, str):
        return parse_datetime(v)
    return None


def _to_timespan(v, t):
    if v is None:
        return None
    if t == "timespan":
        return v
    if isinstance(v, str):
        return parse_timespan(v)
    if t in ("long", "int") or (isinstance(v, int) and not isinstance(v, bool)):
        return int(v)
    return None


def _to_guid(v, t):
    if v is None:
        return None
    if t == "guid":
        return v
    return parse_guid(v) if isinstance(v, str) else None


def _to_dynamic(v, t):
    if t == "dynamic":
        return v
    if t == "string":
        if v == "":
            return None
        try:
            return json.loads(v)
        except ValueError:
            return v
    if v is None:
        return None
    if t in ("datetime", "timespan", "guid", "decimal"):
        return to_string(v, t)
    return v


def _f_iff(node, scope):
    cond, a, b = _args(node, scope, 3)
    _require_bool(cond, scope, "function '%s'" % node.name)
    typ = a.type
    if a.type != b.type:
        if a.type in NUMERIC and b.type in NUMERIC:
            typ = _num_result(a.type, b.type)
        elif a.const and a.value is None:
            typ = b.type
        elif b.const and b.value is None:
            typ = a.type
        else:
            raise scope.err("function '%s': the 'then' and 'else' arguments must be of the same type "
                            "('%s' and '%s')" % (node.name, a.type, b.type))
    fc, fa, fb = cond.fn, a.fn, b.fn
    return _fold(CE(lambda r: fa(r) if fc(r) is True else fb(r), typ), cond, a, b)


def _f_coalesce(node, scope):
    args = _args(node, scope, 2, 64)
    typ = args[0].type
    fns = [a.fn for a in args]

    def fn(r):
        for f in fns:
            v = f(r)
            if v is not None and not (typ == "string" and v == ""):
                return v
        return "" if typ == "string" else None
    return _fold(CE(fn, typ), *args)


def _f_strcat(node, scope):
    args = _args(node, scope, 1, 64)
    fns = [_as_string_fn(a) for a in args]
    return _fold(CE(lambda r: "".join(f(r) for f in fns), "string"), *args)


def _f_substring(node, scope):
    args = _args(node, scope, 2, 3)
    fs = _as_string_fn(args[0])
    fstart = args[1].fn
    flen = args[2].fn if len(args) == 3 else None

    def fn(r):
        s = fs(r)
        start = fstart(r)
        if start is None:
            return ""
        start = max(0, int(start))
        if flen is None:
            return s[start:]
        length = flen(r)
        if length is None:
            return s[start:]
        return s[start:start + max(0, int(length))]
    return _fold(CE(fn, "string"), *args)


def _f_not(node, scope):
    (a,) = _args(node, scope, 1)
    _require_bool(a, scope, "function 'not'")
    f = a.fn
    return _fold(CE(lambda r: None if (x := f(r)) is None else not x, "bool"), a)


def _f_bin(node, scope):
    a, size = _args(node, scope, 2)
    f, fs = a.fn, size.fn
    if a.type == "datetime" and size.type == "timespan":
        def fn(r):
            x, s = f(r), fs(r)
            if x is None or not s:
                return None
            return (x // s) * s
        return _fold(CE(fn, "datetime"), a, size)
    if a.type == "timespan" and size.type == "timespan":
        def fn(r):
            x, s = f(r), fs(r)
            if x is None or not s:
                return None
            return (x // s) * s
        return _fold(CE(fn, "timespan"), a, size)
    if a.type in NUMERIC and size.type in NUMERIC:
        typ = a.type if a.type != "int" else "long"
        if typ in ("long",) and size.type in ("long", "int"):
            def fn(r):
                x, s = f(r), fs(r)
                if x is None or not s:
                    return None
                return (x // s) * s
        else:
            def fn(r):
                x, s = f(r), fs(r)
                if x is None or not s:
                    return None
                return math.floor(x / s) * s
            typ = "real" if typ != "decimal" else typ
        return _fold(CE(fn, typ), a, size)
    raise scope.err("function '%s' does not accept arguments of types '%s' and '%s'"
                    % (node.name, a.type, size.type))


def _f_array_length(node, scope):
    (a,) = _args(node, scope, 1)
    f = a.fn
    return _fold(CE(lambda r: len(v) if isinstance(v := f(r), list) else None, "long"), a)


def _f_abs(node, scope):
    (a,) = _args(node, scope, 1)
    if a.type not in NUMERIC and a.type != "timespan":
        raise scope.err("function 'abs' does not accept an argument of type '%s'" % a.type)
    f = a.fn
    return _fold(CE(lambda r: None if (x := f(r)) is None else abs(x), a.type), a)


def _simple(typ, impl, accept=None):
    return lambda node, scope: _unary(node, scope, typ, impl, accept=accept)


SCALAR_FUNCTIONS = {
    "ago": _f_ago,
    "now": _f_now,
    "isempty": _simple("bool", _isempty),
    "isnotempty": _simple("bool", lambda v, t: not _isempty(v, t)),
    "isnull": _simple("bool", lambda v, t: v is None),
    "isnotnull": _simple("bool", lambda v, t: v is not None),
    "tolower": _simple("string", lambda v, t: to_string(v, t).lower()),
    "toupper": _simple("string", lambda v, t: to_string(v, t).upper()),
    "strlen": _simple("long", lambda v, t: len(to_string(v, t))),
    "tostring": _simple("string", to_string),
    "tolong": _simple("long", _to_long),
    "toint": _simple("int", _to_int),
    "toreal": _simple("real", _to_real),
    "todouble": _simple("real", _to_real),
    "todecimal": _simple("decimal", _to_decimal),
    "tobool": _simple("bool", _to_bool),
    "toboolean": _simple("bool", _to_bool),
    "todatetime": _simple("datetime", _to_datetime),
    "totimespan": _simple("timespan", _to_timespan),
    "toguid": _simple("guid", _to_guid),
    "todynamic": _simple("dynamic", _to_dynamic),
    "parse_json": _simple("dynamic", _to_dynamic),
    "iff": _f_iff,
    "iif": _f_iff,
    "coalesce": _f_coalesce,
    "strcat": _f_strcat,
    "substring": _f_substring,
    "not": _f_not,
    "bin": _f_bin,
    "floor": _f_bin,
    "array_length": _f_array_length,
    "abs": _f_abs,
}

AGGREGATES = frozenset(("count", "countif", "sum", "sumif", "min", "max", "avg", "dcount", "make_set",
                        "make_list", "take_any", "any"))


# ==========================================================================
# Evaluation

class Context:
    def __init__(self, resolve_table, now_ticks):
        self.resolve_table = resolve_table
        self.now = now_ticks
        self.tabular_lets = {}
        self.scalar_lets = {}


def run(text, resolve_table, now_ticks):
    """Parse and evaluate a query; returns the result Table."""
    tree = parse(text)
    ctx = Context(resolve_table, now_ticks)
    for name, value, tok in tree.lets:
        if value.kind == "let_tabular":
            src = value.value.source
            if (not value.value.ops and src.kind == "table" and src.name not in ctx.tabular_lets
                    and resolve_table(src.name) is None):
                # `let x = y;` where y is no table: a scalar alias
                ce = compile_expr(Node("col", src.tok, name=src.name), Scope([], ctx, "let"))
                ctx.scalar_lets[name] = ce
                continue
            ctx.tabular_lets[name] = value.value
            ctx.scalar_lets.pop(name, None)
        else:
            ce = compile_expr(value.value, Scope([], ctx, "let"))
            if not ce.const:
                raise _sem("let", "the value of '%s' must be a constant scalar expression" % name)
            ctx.scalar_lets[name] = ce
            ctx.tabular_lets.pop(name, None)
    return evaluate(tree.body, ctx)


def evaluate(pipe, ctx):
    table = _source(pipe.source, ctx)
    for op in pipe.ops:
        table = OPERATORS[op.kind](op, table, ctx)
    return table


def _source(node, ctx):
    kind = node.kind
    if kind == "table":
        if node.name in ctx.tabular_lets:
            return evaluate(ctx.tabular_lets[node.name], ctx)
        table = ctx.resolve_table(node.name)
        if table is None:
            raise KqlSemanticError("Failed to resolve table or column expression named '%s'" % node.name)
        return table
    if kind == "sub":
        return evaluate(node.value, ctx)
    if kind == "print":
        scope = Scope([], ctx, "print")
        columns, values = [], []
        names = set()
        for i, (name, expr) in enumerate(node.items):
            ce = compile_expr(expr, scope)
            name = name or ce.name or "print_%d" % i
            if name in names:
                raise scope.err("column '%s' is defined more than once" % name)
            names.add(name)
            columns.append((name, ce.type))
            values.append(ce.fn(()))
        return Table(columns, [tuple(values)])
    if kind == "datatable":
        scope = Scope([], ctx, "datatable")
        width = len(node.columns)
        if len(node.values) % width:
            raise scope.err("the number of values (%d) is not a multiple of the number of columns (%d)"
                            % (len(node.values), width))
        rows = []
        current = []
        for i, expr in enumerate(node.values):
            ce = compile_expr(expr, scope)
            if not ce.const:
                raise scope.err("values must be constants")
            typ = node.columns[i % width][1]
            current.append(_coerce_literal(ce, typ, scope))
            if len(current) == width:
                rows.append(tuple(current))
                current = []
        return Table(node.columns, rows)
    if kind == "range":
        scope = Scope([], ctx, "range")
        lo, hi, step = (compile_expr(e, scope) for e in (node.lo, node.hi, node.step))
        if not (lo.const and hi.const and step.const):
            raise scope.err("arguments must be constants")
        if lo.value is None or hi.value is None or not step.value:
            return Table([(node.column, lo.type)], [])
        if lo.type in ("long", "int") and hi.type in ("long", "int") and step.type in ("long", "int"):
            typ = "long"
        elif lo.type in ("datetime", "timespan") and hi.type == lo.type and step.type == "timespan":
            typ = lo.type
        elif lo.type in NUMERIC and hi.type in NUMERIC and step.type in NUMERIC:
            typ = "real"
        else:
            raise scope.err("unsupported argument types")
        count = int((hi.value - lo.value) // step.value) + 1 if (hi.value - lo.value) * step.value >= 0 else 0
        if count > 10_000_000:
            raise scope.err("too many rows (%d)" % count)
        start, inc = lo.value, step.value
        return Table([(node.column, typ)], [(start + i * inc,) for i in range(max(0, count))])
    raise KqlSemanticError("unsupported source")


def _coerce_literal(ce, typ, scope):
    v = ce.value
    if v is None:
        return "" if typ == "string" else None
    if ce.type == typ or typ == "dynamic":
        return v
    if typ in NUMERIC and ce.type in NUMERIC:
        if typ == "real":
            return float(v)
        if typ == "decimal":
            return decimal.Decimal(v)
        if isinstance(v, int):
            return v
    raise scope.err("a value of type '%s' cannot be stored in a column of type '%s'" % (ce.type, typ))


# ---- operators -----------------------------------------------------------------

def _op_where(node, table, ctx):
    scope = Scope(table.columns, ctx, node.opname)
    ce = compile_expr(node.pred, scope)
    if ce.type not in ("bool", "dynamic"):
        raise scope.err("The predicate must be of type 'bool', but it is of type '%s'" % ce.type)
    if ce.const:
        return Table(table.columns, list(table.rows) if ce.value is True else [])
    f = ce.fn
    return Table(table.columns, [r for r in table.rows if f(r) is True])


def _auto_name(ce, counter, taken):
    if ce.name is not None:
        return ce.name
    while True:
        counter[0] += 1
        name = "Column%d" % counter[0]
        if name not in taken:
            return name


def _op_project(node, table, ctx):
    scope = Scope(table.columns, ctx, node.opname)
    columns, fns = [], []
    counter = [0]
    names = set()
    plain = []
    for name, expr in node.items:
        ce = compile_expr(expr, scope)
        out = name or _auto_name(ce, counter, names)
        if out in names:
            raise scope.err("column '%s' is specified more than once" % out)
        names.add(out)
        columns.append((out, ce.type))
        fns.append(ce.fn)
        plain.append(scope.index[ce.name] if (ce.name is not None and expr.kind == "col") else None)
    if all(p is not None for p in plain):
        if len(plain) == 1:
            i = plain[0]
            rows = [(r[i],) for r in table.rows]
        else:
            getter = operator.itemgetter(*plain)
            rows = list(map(getter, table.rows))
    else:
        rows = [tuple(f(r) for f in fns) for r in table.rows]
    return Table(columns, rows)


def _match_patterns(patterns, columns, scope, must_match):
    keep = set()
    for pattern, tok in patterns:
        if "*" in pattern:
            rx = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.DOTALL)
            for i, (name, _) in enumerate(columns):
                if rx.match(name):
                    keep.add(i)
        else:
            i = scope.index.get(pattern)
            if i is None:
                if must_match:
                    raise scope.err("Failed to resolve column or scalar expression named '%s'" % pattern)
                continue
            keep.add(i)
    return keep


def _op_project_away(node, table, ctx):
    scope = Scope(table.columns, ctx, node.opname)
    drop = _match_patterns(node.patterns, table.columns, scope, True)
    idx = [i for i in range(len(table.columns)) if i not in drop]
    return _select(table, idx)


def _op_project_keep(node, table, ctx):
    scope = Scope(table.columns, ctx, node.opname)
    keep = _match_patterns(node.patterns, table.columns, scope, True)
    return _select(table, sorted(keep))


def _select(table, idx):
    columns = [table.columns[i] for i in idx]
    if not idx:
        return Table(columns, [() for _ in table.rows])
    if len(idx) == 1:
        i = idx[0]
        return Table(columns, [(r[i],) for r in table.rows])
    getter = operator.itemgetter(*idx)
    return Table(columns, list(map(getter, table.rows)))


def _op_project_rename(node, table, ctx):
    scope = Scope(table.columns, ctx, node.opname)
    columns = list(table.columns)
    for new, old, tok in node.pairs:
        i = scope.index.get(old)
        if i is None:
            raise scope.err("Failed to resolve column or scalar expression named '%s'" % old)
        columns[i] = (new, columns[i][1])
    if len(set(n for n, _ in columns)) != len(columns):
        raise scope.err("the renamed columns are not unique")
    return Table(columns, table.rows)


def _op_extend(node, table, ctx):
    columns = list(table.columns)
    rows = table.rows
    counter = [0]
    for name, expr in node.items:
        scope = Scope(columns, ctx, node.opname)
        ce = compile_expr(expr, scope)
        out = name or (_auto_name(ce, counter, set(n for n, _ in columns)) if expr.kind != "col"
                       else _auto_name(CE(None, None), counter, set(n for n, _ in columns)))
        f = ce.fn
        i = scope.index.get(out)
        if i is None:
            columns.append((out, ce.type))
            rows = [r + (f(r),) for r in rows]
        else:
            columns[i] = (out, ce.type)
            rows = [r[:i] + (f(r),) + r[i + 1:] for r in rows]
    return Table(columns, rows)


def _sort_value_fn(ce):
    f = ce.fn
    t = ce.type
    if t == "string":
        return lambda r: ordinal_key(f(r))
    if t == "dynamic":
        return lambda r: None if (v := f(r)) is None else (v if isinstance(v, str) else dynamic_text(v))
    if t == "real":
        return lambda r: None if (v := f(r)) is None or v != v else v
    return f


def _sort_rows(rows, keys, scope):
    rows = list(rows)
    compiled = []
    for expr, asc, nulls_first in keys:
        ce = compile_expr(expr, scope)
        compiled.append((ce, asc, nulls_first))
    for ce, asc, nulls_first in reversed(compiled):
        vf = _sort_value_fn(ce)
        # rank for nulls vs values, chosen so that reverse=desc puts them where asked
        null_rank = 0 if (asc == nulls_first) else 1
        val_rank = 1 - null_rank

        def key(r, vf=vf, nr=null_rank, vr=val_rank):
            v = vf(r)
            return (nr, 0) if v is None else (vr, v)
        rows.sort(key=key, reverse=not asc)
    return rows


def _op_sort(node, table, ctx):
    scope = Scope(table.columns, ctx, node.opname)
    return Table(table.columns, _sort_rows(table.rows, node.keys, scope))


def _count_arg(node, ctx):
    scope = Scope([], ctx, node.opname)
    ce = compile_expr(node.count, scope)
    if not ce.const or ce.type not in ("long", "int") or ce.value is None:
        raise scope.err("the number of rows must be a constant of type 'long'")
    if ce.value < 0:
        raise scope.err("the number of rows must not be negative")
    return ce.value


def _op_take(node, table, ctx):
    n = _count_arg(node, ctx)
    return Table(table.columns, table.rows[:n])


def _op_top(node, table, ctx):
    n = _count_arg(node, ctx)
    scope = Scope(table.columns, ctx, node.opname)
    return Table(table.columns, _sort_rows(table.rows, node.keys, scope)[:n])


def _op_count(node, table, ctx):
    return Table([("Count", "long")], [(len(table.rows),)])


def _op_distinct(node, table, ctx):
    if node.items is None:
        idx = list(range(len(table.columns)))
        t = table
    else:
        t = _op_project(Node("project", node.tok, opname="distinct", items=node.items), table, ctx)
        idx = list(range(len(t.columns)))
    seen = set()
    rows = []
    dyn = [i for i in idx if t.columns[i][1] == "dynamic"]
    for r in t.rows:
        key = r if not dyn else tuple(_hashable(v) for v in r)
        if key not in seen:
            seen.add(key)
            rows.append(r)
    return Table(t.columns, rows)


def _op_getschema(node, table, ctx):
    rows = [(name, i, DOTNET_TYPE_NAMES[typ], typ) for i, (name, typ) in enumerate(table.columns)]
    return Table([("ColumnName", "string"), ("ColumnOrdinal", "int"), ("DataType", "string"),
                  ("ColumnType", "string")], rows)


def _op_serialize(node, table, ctx):
    return table


# ---- summarize ----------------------------------------------------------------------

class _Agg:
    def __init__(self, name, typ, fn, empty):
        self.name = name
        self.type = typ
        self.fn = fn          # list of rows -> value
        self.empty = empty    # value when there is no input and no grouping


def _sum_zero(typ):
    return {"long": 0, "int": 0, "real": 0.0, "decimal": decimal.Decimal(0), "timespan": 0}.get(typ)


def _compile_agg(name, expr, scope):
    if expr.kind != "call" or expr.name not in AGGREGATES:
        raise scope.err("expression must be an aggregation function (count(), sum(), ...)")
    fname = expr.name
    args = expr.args

    def arg_col_name():
        return args[0].name if args and args[0].kind == "col" else ""

    if fname == "count":
        if len(args) > 1:
            raise scope.err("function 'count' expects 0 or 1 argument(s)")
        if args and args[0].kind != "star":
            ce = compile_expr(args[0], scope)
            f = ce.fn
            return _Agg(name or "count_", "long", lambda rows: sum(1 for r in rows if f(r) is not None), 0)
        return _Agg(name or "count_", "long", len, 0)
    if fname in ("countif",):
        if len(args) != 1:
            raise scope.err("function 'countif' expects 1 argument(s)")
        ce = compile_expr(args[0], scope)
        _require_bool(ce, scope, "function 'countif'")
        f = ce.fn
        return _Agg(name or "countif_", "long", lambda rows: sum(1 for r in rows if f(r) is True), 0)
    if fname == "sumif":
        if len(args) != 2:
            raise scope.err("function 'sumif' expects 2 argument(s)")
        ce = compile_expr(args[0], scope)
        cond = compile_expr(args[1], scope)
        typ = _sum_type(ce, scope, "sumif")
        f, c = ce.fn, cond.fn
        zero = _sum_zero(typ)
        return _Agg(name or "sumif_" + arg_col_name(), typ,
                    lambda rows: _sum([f(r) for r in rows if c(r) is True], typ, zero), zero)
    if len(args) != 1 or args[0].kind == "star":
        raise scope.err("function '%s' expects 1 argument(s)" % fname)
    ce = compile_expr(args[0], scope)
    f = ce.fn
    col = arg_col_name()
    typ = ce.type
    if fname == "sum":
        typ = _sum_type(ce, scope, "sum")
        zero = _sum_zero(typ)
        return _Agg(name or "sum_" + col, typ, lambda rows: _sum([f(r) for r in rows], typ, zero), zero)
    if fname in ("min", "max"):
        if typ == "dynamic":
            raise scope.err("function '%s' does not accept an argument of type 'dynamic'" % fname)
        pick = min if fname == "min" else max
        keyf = ordinal_key if typ == "string" else None

        def agg(rows, f=f, pick=pick, keyf=keyf, typ=typ):
            vals = [v for v in map(f, rows) if v is not None and not (typ == "real" and v != v)]
            if not vals:
                return "" if typ == "string" else None
            return pick(vals, key=keyf) if keyf else pick(vals)
        return _Agg(name or "%s_%s" % (fname, col), typ, agg, "" if typ == "string" else None)
    if fname == "avg":
        if typ not in NUMERIC and typ not in ("timespan", "datetime"):
            raise scope.err("function 'avg' does not accept an argument of type '%s'" % typ)
        out = "real" if typ in NUMERIC else typ
        if typ == "decimal":
            out = "decimal"

        def agg(rows, f=f):
            vals = [v for v in map(f, rows) if v is not None]
            if not vals:
                return None
            if out == "real":
                return math.fsum(float(v) for v in vals) / len(vals)
            if out == "decimal":
                return sum(vals, decimal.Decimal(0)) / len(vals)
            return sum(vals) // len(vals)
        return _Agg(name or "avg_" + col, out, agg, None)
    if fname == "dcount":
        def agg(rows, f=f):
            return len(set(_hashable(v) for v in map(f, rows) if v is not None))
        return _Agg(name or "dcount_" + col, "long", agg, 0)
    if fname in ("make_set", "make_list"):
        t = typ

        def agg(rows, f=f, unique=fname == "make_set"):
            out, seen = [], set()
            for v in map(f, rows):
                if v is None:
                    continue
                j = _to_dynamic(v, t) if t not in ("string", "dynamic") else v
                if unique:
                    h = _hashable(j)
                    if h in seen:
                        continue
                    seen.add(h)
                out.append(j)
            return out
        prefix = "set_" if fname == "make_set" else "list_"
        return _Agg(name or prefix + col, "dynamic", agg, [])
    if fname in ("take_any", "any"):
        def agg(rows, f=f):
            return f(rows[0]) if rows else None
        return _Agg(name or ("any_" + col if fname == "any" else col or "any_"), typ, agg,
                    "" if typ == "string" else None)
    raise scope.err("Unknown function: '%s'." % fname)


def _sum_type(ce, scope, fname):
    if ce.type in ("int", "long"):
        return "long"
    if ce.type in ("real", "decimal", "timespan"):
        return ce.type
    raise scope.err("function '%s' does not accept an argument of type '%s'" % (fname, ce.type))


def _sum(values, typ, zero):
    vals = [v for v in values if v is not None]
    if not vals:
        return zero
    if typ == "long":
        return _wrap_int(sum(vals), "long")
    if typ == "real":
        return math.fsum(float(v) for v in vals)
    return sum(vals, zero)


def _op_summarize(node, table, ctx):
    scope = Scope(table.columns, ctx, node.opname)
    by_ces = []
    by_cols = []
    counter = [0]
    taken = set()
    for name, expr in node.bys:
        ce = compile_expr(expr, scope)
        out = name
        if out is None:
            if expr.kind == "call" and expr.name in ("bin", "floor") and expr.args and expr.args[0].kind == "col":
                out = expr.args[0].name
            else:
                out = _auto_name(ce, counter, taken)
        if out in taken:
            raise scope.err("column '%s' is specified more than once" % out)
        taken.add(out)
        by_ces.append(ce)
        by_cols.append((out, ce.type))
    aggs = []
    for name, expr in node.aggs:
        agg = _compile_agg(name, expr, scope)
        base = agg.name
        k = 0
        while agg.name in taken:
            k += 1
            agg.name = "%s%d" % (base, k)
        taken.add(agg.name)
        aggs.append(agg)
    columns = by_cols + [(a.name, a.type) for a in aggs]
    if not by_ces:
        if not table.rows:
            return Table(columns, [tuple(a.empty for a in aggs)])
        return Table(columns, [tuple(a.fn(table.rows) for a in aggs)])
    groups = {}
    order = []
    fns = [c.fn for c in by_ces]
    dyn = any(c.type == "dynamic" for c in by_ces)
    for r in table.rows:
        values = tuple(f(r) for f in fns)
        key = tuple(_hashable(v) for v in values) if dyn else values
        group = groups.get(key)
        if group is None:
            group = groups[key] = (values, [])
            order.append(key)
        group[1].append(r)
    rows = []
    for key in order:
        values, members = groups[key]
        rows.append(values + tuple(a.fn(members) for a in aggs))
    return Table(columns, rows)


OPERATORS = {
    "where": _op_where,
    "project": _op_project,
    "project-away": _op_project_away,
    "project-keep": _op_project_keep,
    "project-rename": _op_project_rename,
    "extend": _op_extend,
    "sort": _op_sort,
    "take": _op_take,
    "top": _op_top,
    "count": _op_count,
    "distinct": _op_distinct,
    "getschema": _op_getschema,
    "summarize": _op_summarize,
    "serialize": _op_serialize,
}


# ==========================================================================
# Literal writer (for tests and callers that build queries)

def quote_string(value):
    """A double-quoted KQL literal that round-trips any string."""
    out = ['"']
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
