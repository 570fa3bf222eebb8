"""OData system query options: parsing, validation, $filter evaluation,
ordering, shaping and paging links.

parse_options() walks the decoded query pairs and hands each `$option` to its
parser in OPTION_PARSERS; a route passes the set of options it allows and the
EntitySchema of the collection.  Names without `$` are custom query options
and are ignored, as OData allows.

$filter is tokenised, parsed by recursive descent into a typed tree (so type
errors are found the way OData's URI parser finds them), and compiled into a
Python predicate.  The grammar follows OData 4.01 precedence:

    or       := and ("or" and)*
    and      := equality ("and" equality)*
    equality := relation (("eq" | "ne") relation)*
    relation := unary (("gt" | "ge" | "lt" | "le") unary)*
    unary    := "not" unary | member
    member   := primary ["in" "(" literal ("," literal)* ")"]
    primary  := "(" or ")" | literal | property

so `in` binds tightest, then `not` (`not status eq 'x'` is `(not status) eq 'x'`,
a type error, as in OData), then comparisons, then and, then or.  Keywords
and property names match case-insensitively.  The tree is compiled into Python
source (see _Compiler) evaluated over one row or a whole list of slim rows.

Errors raise ODataError.  Option-level problems ($top, $orderby, $select,
$expand, repeated or unknown options) use Graph's observed shape for query
validation failures: HTTP 400, code "" and a message that starts with
"The query specified in the URI is not valid."  $filter problems use code
"BadRequest" and a message that starts with "Invalid filter clause: ".
"""

import base64
import binascii
import datetime
import functools
import hashlib
import json
import re
import urllib.parse

from common import EPOCH, TICKS_PER_SECOND, Response, dump_json

INVALID_QUERY = "The query specified in the URI is not valid. "
INVALID_FILTER = "Invalid filter clause: "


class ODataError(Exception):
    """A query option the service would reject with 400."""

    def __init__(self, message, code=""):
        super().__init__(message)
        self.message = message
        self.code = code


def _filter_error(text):
    return ODataError(INVALID_FILTER + text, code="BadRequest")


# --------------------------------------------------------------------------
# Schema: the CSDL facts the parsers need

NS = "microsoft.graph.security."
STRING = "Edm.String"
DATETIME = "Edm.DateTimeOffset"
DATE = "Edm.Date"
BOOLEAN = "Edm.Boolean"
INT32 = "Edm.Int32"
INT64 = "Edm.Int64"
DECIMAL = "Edm.Decimal"
NULL = "<null>"
NUMERIC = (INT32, INT64, DECIMAL)

# Enum members in CSDL order with their values (graph-security-csdl.xml).
ENUMS = {
    NS + "alertSeverity": [("unknown", 0), ("informational", 32), ("low", 64), ("medium", 128),
                           ("high", 256), ("unknownFutureValue", 511)],
    NS + "incidentStatus": [("active", 1), ("resolved", 2), ("inProgress", 4), ("redirected", 64),
                            ("unknownFutureValue", 127), ("awaitingAction", 128)],
    NS + "alertStatus": [("unknown", 0), ("new", 2), ("inProgress", 4), ("resolved", 8),
                         ("unknownFutureValue", 31)],
    NS + "alertClassification": [("unknown", 0), ("falsePositive", 10), ("truePositive", 20),
                                 ("informationalExpectedActivity", 30), ("unknownFutureValue", 39)],
    NS + "alertDetermination": [
        ("unknown", 0), ("apt", 10), ("malware", 20), ("securityPersonnel", 30), ("securityTesting", 40),
        ("unwantedSoftware", 50), ("other", 60), ("multiStagedAttack", 70), ("compromisedAccount", 80),
        ("phishing", 90), ("maliciousUserActivity", 100), ("notMalicious", 110),
        ("notEnoughDataToValidate", 120), ("confirmedActivity", 130), ("lineOfBusinessApplication", 140),
        ("unknownFutureValue", 149)],
    NS + "serviceSource": [
        ("unknown", 0), ("microsoftDefenderForEndpoint", 1), ("microsoftDefenderForIdentity", 2),
        ("microsoftDefenderForCloudApps", 4), ("microsoftDefenderForOffice365", 8),
        ("microsoft365Defender", 16), ("azureAdIdentityProtection", 32), ("microsoftAppGovernance", 64),
        ("dataLossPrevention", 128), ("unknownFutureValue", 255), ("microsoftDefenderForCloud", 256),
        ("microsoftSentinel", 512), ("microsoftInsiderRiskManagement", 1024),
        ("microsoftThreatIntelligence", 2048), ("microsoftSecurityForAI", 4096)],
}
# lower-cased member name -> (canonical name, value), per enum
_ENUM_LOOKUP = {name: {m.lower(): (m, v) for m, v in members} for name, members in ENUMS.items()}
# canonical member name -> value, per enum (None -> None, for null values)
_ENUM_RANK = {name: dict([(m, v) for m, v in members] + [(None, None)]) for name, members in ENUMS.items()}


def is_enum(type_name):
    return type_name in ENUMS


SLIM_ROW = " row"   # key of the full row in a slim row (no property name has a space)
ID_RANK = " id rank"   # key of the row's position in id order, in a slim row


class EntitySchema:
    """What the query parsers need to know about one entity type.

    properties: name -> type name (Edm.*, an enum in ENUMS, or anything else
    for collections/complex values, which cannot be filtered or ordered).
    tick_keys: DateTimeOffset property -> private row key holding its ticks.
    navigation: navigation property name -> target entity type name."""

    def __init__(self, type_name, properties, filterable, orderable, tick_keys, navigation=None,
                 id_sort_key=None):
        self.type_name = type_name
        self.properties = dict(properties)
        self.navigation = dict(navigation or {})
        self.filterable = frozenset(filterable)
        self.orderable = frozenset(orderable)
        self.tick_keys = dict(tick_keys)
        self.id_sort_key = id_sort_key or (lambda value: value)
        self._lower = {name.lower(): name for name in list(self.properties) + list(self.navigation)}
        self._slim = None

    def slim(self, row):
        """The part of a row a $filter or $orderby reads: id, the filterable
        properties and the private ticks keys; SLIM_ROW points at the row."""
        if self._slim is None:
            keys = ["id"] + sorted(self.filterable) + sorted(self.tick_keys.values())
            source = "lambda row: {%r: row, %s}" % (SLIM_ROW, ", ".join("%r: row.get(%r)" % (k, k) for k in keys))
            self._slim = eval(source, {"__builtins__": {}})   # noqa: S307 - keys from the schema
        return self._slim(row)

    def resolve(self, name):
        """Canonical property name (case-insensitive match) or None."""
        return self._lower.get(name.lower())

    def not_found(self, name):
        return "Could not find a property named '%s' on type '%s'." % (name, self.type_name)


# --------------------------------------------------------------------------
# Literals

_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII)
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", re.ASCII)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
MAX_FRACTION_DIGITS = 7   # .NET DateTimeOffset precision (ticks)


def datetime_to_ticks(match):
    """Ticks since the Unix epoch (UTC) for a _DATETIME_RE match, or None
    when a field is out of range.  The offset is subtracted (instants)."""
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    fraction = match.group(7) or ""
    zone = match.group(8)
    if len(fraction) > MAX_FRACTION_DIGITS:
        return None
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    offset_seconds = 0
    if zone.upper() != "Z":
        off_h, off_m = int(zone[1:3]), int(zone[4:6])
        if off_m > 59 or off_h * 60 + off_m > 14 * 60:
            return None
        offset_seconds = (off_h * 3600 + off_m * 60) * (1 if zone[0] == "+" else -1)
    delta = moment - EPOCH
    seconds = delta.days * 86400 + delta.seconds - offset_seconds
    return seconds * TICKS_PER_SECOND + int(fraction.ljust(MAX_FRACTION_DIGITS, "0") or 0)


# --------------------------------------------------------------------------
# $filter: tokens

KEYWORD_OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "in")
UNSUPPORTED_OPERATORS = ("has", "add", "sub", "mul", "div", "divby", "mod")
KNOWN_FUNCTIONS = frozenset("""
    contains endswith startswith length indexof substring matchespattern tolower toupper trim concat
    year month day hour minute second fractionalseconds totalseconds date time totaloffsetminutes
    mindatetime maxdatetime now round floor ceiling isof cast any all case hassubset hassubsequence
    geo.distance geo.length geo.intersects""".split())
_COMPARISON_KIND = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual",
                    "lt": "LessThan", "le": "LessThanOrEqual"}


class _Token:
    __slots__ = ("kind", "value", "pos", "extra")

    def __init__(self, kind, value, pos, extra=None):
        self.kind = kind      # ( ) , string datetime date number ident enum end
        self.value = value
        self.pos = pos
        self.extra = extra

    def is_word(self, *words):
        """Keywords are case-insensitive, as in the OData ABNF ("eq" = "EQ")."""
        return self.kind == "ident" and self.value.lower() in words


_DIGITS = "0123456789"


def _tokenize(text):
    tokens = []
    i, n = 0, len(text)

    def ends_literal(at):
        return at >= n or text[at].isspace() or text[at] in "(),"

    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "(),":
            tokens.append(_Token(ch, ch, i))
            i += 1
            continue
        if ch == "'":
            start = i
            value, i = _read_string(text, i)
            tokens.append(_Token("string", value, start))
            continue
        if ch in _DIGITS or (ch == "-" and i + 1 < n and text[i + 1] in _DIGITS):
            start = i
            found = _DATETIME_RE.match(text, i) if ch != "-" else None
            if found:
                ticks = datetime_to_ticks(found) if found.group(8) else None
                if ticks is None or not ends_literal(found.end()):
                    end = found.end()
                    while end < n and not (text[end].isspace() or text[end] in "(),"):
                        end += 1
                    raise _filter_error("Unrecognized '%s' literal '%s' at '%d' in '%s'."
                                        % (DATETIME, text[start:end], start, text))
                tokens.append(_Token("datetime", ticks, start, found.group(0)))
                i = found.end()
                continue
            found = _DATE_RE.match(text, i) if ch != "-" else None
            if found and ends_literal(found.end()):
                tokens.append(_Token("date", found.group(0), start))
                i = found.end()
                continue
            found = _NUMBER_RE.match(text, i)
            if not ends_literal(found.end()):
                raise _filter_error("Syntax error at position %d in '%s'." % (found.end(), text))
            literal = found.group(0)
            kind = DECIMAL if (found.group(1) or found.group(2)) else INT64
            tokens.append(_Token("number", literal, start, kind))
            i = found.end()
            continue
        found = _IDENT_RE.match(text, i)
        if found:
            word = found.group(0)
            i = found.end()
            if i < n and text[i] == "'":
                # qualified enum literal: namespace.enumType'member'
                value, i = _read_string(text, i)
                tokens.append(_Token("enum", value, found.start(), word))
                continue
            tokens.append(_Token("ident", word, found.start()))
            continue
        if ch == "/":
            raise _filter_error("Property paths and lambda operators ('/' at position %d in '%s') are "
                                "not supported by this service emulator." % (i, text))
        raise _filter_error("Syntax error: character '%s' is not valid at position %d in '%s'."
                            % (ch, i, text))
    tokens.append(_Token("end", None, n))
    return tokens


def _read_string(text, start):
    """Read a single-quoted literal at text[start] ('' is one quote).
    Returns (value, index after the closing quote)."""
    i = start + 1
    parts = []
    while True:
        close = text.find("'", i)
        if close < 0:
            raise _filter_error("There is an unterminated string literal at position %d in '%s'."
                                % (start, text))
        parts.append(text[i:close])
        if close + 1 < len(text) and text[close + 1] == "'":
            parts.append("'")
            i = close + 2
            continue
        return "".join(parts), close + 1


# --------------------------------------------------------------------------
# $filter: typed tree

class _Node:
    """kind: prop | lit | cmp | in | not | and | or.  type: an Edm name, an enum
    name, NULL, or "string-literal" for a string literal not yet promoted."""

    __slots__ = ("kind", "type", "value", "args", "pos")

    def __init__(self, kind, type_, value=None, args=(), pos=0):
        self.kind = kind
        self.type = type_
        self.value = value
        self.args = args
        self.pos = pos


class _Parser:
    def __init__(self, text, schema):
        self.text = text
        self.schema = schema
        self.tokens = _tokenize(text)
        self.at = 0

    # -- token helpers --
    def peek(self):
        return self.tokens[self.at]

    def take(self):
        token = self.tokens[self.at]
        self.at += 1
        return token

    def syntax_error(self, pos=None):
        pos = self.peek().pos if pos is None else pos
        return _filter_error("Syntax error at position %d in '%s'." % (pos, self.text))

    def check_unsupported_operator(self):
        token = self.peek()
        if token.is_word(*UNSUPPORTED_OPERATORS):
            raise _filter_error("The operator '%s' is not supported (position %d in '%s')."
                                % (token.value, token.pos, self.text))

    # -- grammar --
    def parse(self):
        if self.peek().kind == "end":
            raise _filter_error("Expression expected at position %d in '%s'." % (self.peek().pos, self.text))
        node = self.parse_or()
        if self.peek().kind != "end":
            self.check_unsupported_operator()
            raise self.syntax_error()
        if node.type != BOOLEAN:
            raise _filter_error("The $filter expression must evaluate to a single boolean value.")
        return node

    def parse_or(self):
        left = self.parse_and()
        while self.peek().is_word("or"):
            self.take()
            left = self._logical("or", "Or", left, self.parse_and())
        return left

    def parse_and(self):
        left = self.parse_equality()
        while self.peek().is_word("and"):
            self.take()
            left = self._logical("and", "And", left, self.parse_equality())
        return left

    def parse_equality(self):
        left = self.parse_relation()
        while self.peek().is_word("eq", "ne"):
            token = self.take()
            left = self._compare(token, left, self.parse_relation())
        return left

    def parse_relation(self):
        left = self.parse_unary()
        while self.peek().is_word("gt", "ge", "lt", "le"):
            token = self.take()
            left = self._compare(token, left, self.parse_unary())
        return left

    def parse_unary(self):
        if self.peek().is_word("not"):
            token = self.take()
            operand = self.parse_unary()
            if operand.type != BOOLEAN:
                raise _filter_error("A unary operator with an incompatible type was detected. Found operand "
                                    "type '%s' for operator kind 'Not'." % _shown(operand.type))
            return _Node("not", BOOLEAN, args=(operand,), pos=token.pos)
        return self.parse_member()

    def parse_member(self):
        node = self.parse_primary()
        self.check_unsupported_operator()
        if self.peek().is_word("in"):
            token = self.take()
            node = self._in(token, node)
            self.check_unsupported_operator()
        return node

    def parse_primary(self):
        token = self.peek()
        if token.kind == "(":
            self.take()
            node = self.parse_or()
            if self.peek().kind != ")":
                raise _filter_error("')' or operator expected at position %d in '%s'."
                                    % (self.peek().pos, self.text))
            self.take()
            return node
        literal = self._literal()
        if literal is not None:
            return literal
        if token.kind == "ident":
            if token.is_word(*KEYWORD_OPERATORS) or token.is_word(*UNSUPPORTED_OPERATORS):
                raise self.syntax_error()
            self.take()
            if self.peek().kind == "(":
                return self._function(token)
            return self._property(token)
        if token.kind == "end":
            raise _filter_error("Expression expected at position %d in '%s'." % (token.pos, self.text))
        raise self.syntax_error()

    def _literal(self):
        """A literal node for the next token, or None when it is not one."""
        token = self.peek()
        if token.kind == "string":
            self.take()
            return _Node("lit", "string-literal", token.value, pos=token.pos)
        if token.kind == "datetime":
            self.take()
            return _Node("lit", DATETIME, token.value, pos=token.pos)
        if token.kind == "date":
            self.take()
            return _Node("lit", DATE, token.value, pos=token.pos)
        if token.kind == "number":
            self.take()
            value = int(token.value) if token.extra == INT64 else float(token.value)
            type_ = token.extra
            if type_ == INT64 and -2**31 <= value < 2**31:
                type_ = INT32
            return _Node("lit", type_, value, pos=token.pos)
        if token.kind == "enum":
            self.take()
            type_name = token.extra
            if type_name not in ENUMS:
                lowered = {name.lower(): name for name in ENUMS}
                type_name = lowered.get(type_name.lower())
            if type_name is None:
                raise _filter_error("The type '%s' is not an enumeration type known to this service "
                                    "(position %d in '%s')." % (token.extra, token.pos, self.text))
            member = _ENUM_LOOKUP[type_name].get(token.value.lower())
            if member is None:
                raise _filter_error("The string '%s' is not a valid enumeration type constant." % token.value)
            return _Node("lit", type_name, member[0], pos=token.pos)
        if token.is_word("null"):
            self.take()
            return _Node("lit", NULL, None, pos=token.pos)
        if token.is_word("true", "false"):
            self.take()
            return _Node("lit", BOOLEAN, token.value.lower() == "true", pos=token.pos)
        return None

    def _function(self, token):
        name = token.value
        if name.lower() in KNOWN_FUNCTIONS:
            raise _filter_error("The function '%s' is not supported (position %d in '%s')."
                                % (name, token.pos, self.text))
        raise _filter_error("An unknown function with name '%s' was found. This may also be a function "
                            "import or a key lookup on a navigation property, which is not allowed." % name)

    def _property(self, token):
        name = self.schema.resolve(token.value)
        if name is None:
            raise _filter_error(self.schema.not_found(token.value))
        if name not in self.schema.filterable:
            raise _filter_error("filtering on property '%s' is not supported." % name)
        return _Node("prop", self.schema.properties[name], name, pos=token.pos)

    # -- typing --
    def _logical(self, kind, label, left, right):
        if left.type != BOOLEAN or right.type != BOOLEAN:
            raise _filter_error("A binary operator with incompatible types was detected. Found operand types "
                                "'%s' and '%s' for operator kind '%s'." % (_shown(left.type), _shown(right.type),
                                                                            label))
        return _Node(kind, BOOLEAN, args=(left, right), pos=left.pos)

    def _unify(self, left, right, op_kind):
        """Check that left and right compare; promote string literals to an
        enum when the other side is one.  Returns (left, right)."""
        lt, rt = left.type, right.type
        if lt == NULL or rt == NULL:
            if lt == "string-literal":
                left = _Node("lit", STRING, left.value, pos=left.pos)
            if rt == "string-literal":
                right = _Node("lit", STRING, right.value, pos=right.pos)
            return left, right
        if is_enum(lt) and rt == "string-literal":
            return left, _enum_literal(lt, right)
        if is_enum(rt) and lt == "string-literal":
            return _enum_literal(rt, left), right
        if lt == "string-literal":
            lt = STRING
            left = _Node("lit", STRING, left.value, pos=left.pos)
        if rt == "string-literal":
            rt = STRING
            right = _Node("lit", STRING, right.value, pos=right.pos)
        if lt == rt or (lt in NUMERIC and rt in NUMERIC):
            return left, right
        raise _filter_error("A binary operator with incompatible types was detected. Found operand types "
                            "'%s' and '%s' for operator kind '%s'." % (_shown(lt), _shown(rt), op_kind))

    def _compare(self, token, left, right):
        op = token.value.lower()
        left, right = self._unify(left, right, _COMPARISON_KIND[op])
        return _Node("cmp", BOOLEAN, op, (left, right), pos=token.pos)

    def _in(self, token, left):
        if self.peek().kind != "(":
            raise self.syntax_error()
        self.take()
        items = []
        while True:
            if self.peek().kind == ")" and not items:
                raise _filter_error("Expression expected at position %d in '%s'." % (self.peek().pos, self.text))
            item = self._literal()
            if item is None:
                raise self.syntax_error()
            left, item = self._unify(left, item, "In")
            items.append(item)
            if self.peek().kind == ",":
                self.take()
                continue
            if self.peek().kind == ")":
                self.take()
                break
            raise _filter_error("')' or ',' expected at position %d in '%s'." % (self.peek().pos, self.text))
        if left.type == "string-literal":
            left = _Node("lit", STRING, left.value, pos=left.pos)
        return _Node("in", BOOLEAN, args=(left, tuple(items)), pos=token.pos)


def _shown(type_name):
    return STRING if type_name == "string-literal" else type_name


def _enum_literal(enum_type, node):
    member = _ENUM_LOOKUP[enum_type].get(node.value.lower())
    if member is None:
        raise _filter_error("The string '%s' is not a valid enumeration type constant." % node.value)
    return _Node("lit", enum_type, member[0], pos=node.pos)


# --------------------------------------------------------------------------
# $filter: compiling the tree into Python over stored rows
#
# Every operand becomes a normalised comparable value: strings lower-cased
# (case-insensitive comparisons), enum members their CSDL value (so ordering
# follows the enum), DateTimeOffset values ticks (instants), null None.
# eq/ne then follow OData's null rules directly (null eq null, null ne 'x'),
# and gt/ge/lt/le are false when either side is null.  The common shape
# "property op literal" gets a specialised expression (enum ordering becomes
# set membership, strings are lowered inline); anything else goes through the
# generic helpers below.  The expression is compiled twice: as a predicate
# over one row, and as a list comprehension over many (no call per row).

def _gt(a, b):
    return a is not None and b is not None and a > b


def _ge(a, b):
    return a is not None and b is not None and a >= b


def _lt(a, b):
    return a is not None and b is not None and a < b


def _le(a, b):
    return a is not None and b is not None and a <= b


def _low(value):
    return None if value is None else value.lower()


def _ticks_of(value):
    """Ticks of a wire DateTimeOffset string (for properties without a
    private ticks key)."""
    if value is None:
        return None
    found = _DATETIME_RE.fullmatch(value)
    return datetime_to_ticks(found) if found and found.group(8) else None


_PY_OPERATOR = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_MIRRORED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_ORDERING = {"gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
             "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}


class CompiledFilter:
    """A parsed $filter: text (as sent), predicate(row) -> bool,
    select(slims) -> the matching slim rows in order (see EntitySchema.slim),
    and the properties it reads."""

    def __init__(self, text, predicate, select, source, properties):
        self.text = text
        self.predicate = predicate
        self.select = select
        self.source = source          # the generated Python expression, for debugging
        self.properties = properties


class _Compiler:
    def __init__(self, schema):
        self.schema = schema
        self.consts = {}
        self.properties = set()
        self.temps = 0

    def const(self, value):
        name = "C%d" % len(self.consts)
        self.consts[name] = value
        return name

    def temp(self):
        self.temps += 1
        return "_t%d" % self.temps

    def access(self, name):
        """Python expression reading property `name` of row r."""
        self.properties.add(name)
        return "r[%r]" % name

    def value(self, node):
        """Python expression for a node's normalised value."""
        if node.kind == "prop":
            name = node.value
            access = self.access(name)
            if node.type == STRING:
                return "_low(%s)" % access
            if is_enum(node.type):
                return "%s.get(%s)" % (self.const(_ENUM_RANK[node.type]), access)
            if node.type == DATETIME:
                key = self.schema.tick_keys.get(name)
                return "r[%r]" % key if key else "_ticks_of(%s)" % access
            return access
        if node.kind == "lit":
            return self.const(self.normalise_literal(node))
        return "(%s)" % self.boolean(node)

    @staticmethod
    def normalise_literal(node):
        if node.type == NULL:
            return None
        if node.type == STRING:
            return node.value.lower()
        if is_enum(node.type):
            return _ENUM_RANK[node.type][node.value]
        return node.value

    def boolean(self, node):
        """Python expression for a Boolean node."""
        if node.kind == "and":
            return "(%s and %s)" % (self.boolean(node.args[0]), self.boolean(node.args[1]))
        if node.kind == "or":
            return "(%s or %s)" % (self.boolean(node.args[0]), self.boolean(node.args[1]))
        if node.kind == "not":
            return "(not %s)" % self.boolean(node.args[0])
        if node.kind == "cmp":
            fast = self.property_vs_literal(node)
            if fast is not None:
                return fast
            left, right = (self.value(arg) for arg in node.args)
            if node.value in ("eq", "ne"):
                return "(%s %s %s)" % (left, _PY_OPERATOR[node.value], right)
            return "_%s(%s, %s)" % (node.value, left, right)
        if node.kind == "in":
            return self.membership(node)
        if node.kind in ("prop", "lit"):
            return "(%s is True)" % self.value(node)
        raise AssertionError(node.kind)

    def property_vs_literal(self, node):
        """A specialised expression for `property op literal` (either way
        round), or None for other shapes."""
        op = node.value
        prop, lit = node.args
        if prop.kind == "lit" and lit.kind == "prop":
            prop, lit, op = lit, prop, _MIRRORED[op]
        if prop.kind != "prop" or lit.kind != "lit":
            return None
        name = prop.value
        if prop.type == DATETIME:
            key = self.schema.tick_keys.get(name)
            if key is None:
                return None
            self.properties.add(name)
            access = "r[%r]" % key
        elif prop.type == STRING or is_enum(prop.type):
            access = self.access(name)
        else:
            return None
        if lit.type == NULL:
            return {"eq": "(%s is None)" % access, "ne": "(%s is not None)" % access}.get(op, "False")
        if is_enum(prop.type):
            if op in ("eq", "ne"):      # stored values are canonical member names
                return "(%s %s %s)" % (access, _PY_OPERATOR[op], self.const(lit.value))
            rank = _ENUM_RANK[prop.type]
            wanted = frozenset(m for m, v in ENUMS[prop.type] if _ORDERING[op](v, rank[lit.value]))
            return "(%s in %s)" % (access, self.const(wanted))
        temp = self.temp()
        if prop.type == STRING:
            test = "((%s := %s) is not None and %s.lower() %s %s)" % (
                temp, access, temp, "==" if op == "ne" else _PY_OPERATOR[op], self.const(lit.value.lower()))
            return "(not %s)" % test if op == "ne" else test
        if op in ("eq", "ne"):
            return "(%s %s %s)" % (access, _PY_OPERATOR[op], self.const(lit.value))
        return "((%s := %s) is not None and %s %s %s)" % (temp, access, temp, _PY_OPERATOR[op],
                                                          self.const(lit.value))

    def membership(self, node):
        left, items = node.args
        if left.kind == "prop" and is_enum(left.type):
            names = frozenset(item.value for item in items)    # canonical names, None for null
            return "(%s in %s)" % (self.access(left.value), self.const(names))
        values = frozenset(self.normalise_literal(item) for item in items)
        if left.kind == "prop" and left.type == STRING:
            temp = self.temp()
            found = "%s.lower() in %s" % (temp, self.const(values - {None}))
            if None in values:
                return "((%s := %s) is None or %s)" % (temp, self.access(left.value), found)
            return "((%s := %s) is not None and %s)" % (temp, self.access(left.value), found)
        return "(%s in %s)" % (self.value(left), self.const(values))


@functools.lru_cache(maxsize=256)
def compile_filter(schema, text):
    """Parse, type-check and compile a $filter text; raises ODataError."""
    tree = _Parser(text, schema).parse()
    compiler = _Compiler(schema)
    source = compiler.boolean(tree)
    namespace = dict(compiler.consts, _gt=_gt, _ge=_ge, _lt=_lt, _le=_le, _low=_low, _ticks_of=_ticks_of,
                     __builtins__={})
    # generated from the typed tree: names come from the schema, values are constants
    predicate = eval("lambda r: " + source, namespace)                        # noqa: S307
    select = eval("lambda slims: [r for r in slims if %s]" % source, namespace)  # noqa: S307
    return CompiledFilter(text, predicate, select, source, frozenset(compiler.properties))


# --------------------------------------------------------------------------
# $orderby, $select, $expand

def parse_orderby(text, schema):
    """((property, descending), ...) from an $orderby text; raises ODataError."""
    items = []
    seen = set()
    position = 0
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            offset = position + (len(part) - len(part.lstrip()))
            if len(words) >= 2:
                offset = position + part.index(words[1], part.index(words[0]) + len(words[0]))
            raise ODataError(INVALID_QUERY + "Syntax error at position %d in '%s'." % (offset, text))
        if not _IDENT_RE.fullmatch(words[0]):
            raise ODataError(INVALID_QUERY + "Syntax error at position %d in '%s'."
                             % (position + part.index(words[0]), text))
        name = schema.resolve(words[0])
        if name is None:
            raise ODataError(INVALID_QUERY + schema.not_found(words[0]))
        if name not in schema.orderable:
            raise ODataError(INVALID_QUERY + "Order by '%s' is not allowed. To allow it, set the "
                             "'AllowedOrderByProperties' property on EnableQueryAttribute or "
                             "QueryValidationSettings." % name)
        if name in seen:
            raise ODataError(INVALID_QUERY + "Duplicate property named '%s' is not supported in '$orderby'."
                             % name)
        seen.add(name)
        items.append((name, len(words) == 2 and words[1].lower() == "desc"))
        position += len(part) + 1
    return tuple(items)


def _split_list(text, option):
    parts = [part.strip() for part in text.split(",")]
    if any(not part for part in parts):
        raise ODataError(INVALID_QUERY + "Syntax error in '%s': empty item in '%s'." % (option, text))
    return parts


def parse_select(text, schema):
    """Selected structural property names (canonical, in entity order), or
    None for '*'; raises ODataError."""
    chosen = set()
    for part in _split_list(text, "$select"):
        if part == "*":
            return None
        if "/" in part or "(" in part or not _IDENT_RE.fullmatch(part):
            raise ODataError(INVALID_QUERY + "The $select item '%s' is not supported by this service "
                             "emulator; select top-level properties only." % part)
        name = schema.resolve(part)
        if name is None:
            raise ODataError(INVALID_QUERY + schema.not_found(part))
        chosen.add(name)
    return tuple(name for name in list(schema.properties) + list(schema.navigation) if name in chosen)


def parse_expand(text, schema):
    """Expanded navigation property names; raises ODataError."""
    chosen = []
    for part in _split_list(text, "$expand"):
        if part == "*":
            names = list(schema.navigation)
        elif "(" in part or "/" in part or "$" in part:
            raise ODataError(INVALID_QUERY + "Nested query options and paths in $expand ('%s') are not "
                             "supported by this service emulator." % part)
        else:
            name = schema.resolve(part)
            if name is None:
                raise ODataError(INVALID_QUERY + schema.not_found(part))
            if name not in schema.navigation:
                raise ODataError(INVALID_QUERY + "Property '%s' on type '%s' is not a navigation property or "
                                 "complex property. Only navigation properties can be expanded."
                                 % (name, schema.type_name))
            names = [name]
        for name in names:
            if name not in chosen:
                chosen.append(name)
    return tuple(chosen)


# --------------------------------------------------------------------------
# Option parsing

class QueryOptions:
    """Parsed system query options; None means "not given"."""

    def __init__(self):
        self.top = None
        self.skip = None
        self.count = False
        self.skiptoken = None   # decoded offset
        self.skiptoken_fingerprint = None
        self.filter = None      # CompiledFilter
        self.orderby = None     # ((property, descending), ...)
        self.select = None      # property names, or None for all
        self.expand = ()        # navigation property names
        self.raw = {}           # canonical option name -> raw text, for nextLinks

    def offset(self):
        """Where the page starts: the skiptoken's offset wins over $skip."""
        if self.skiptoken is not None:
            return self.skiptoken
        return self.skip or 0

    def fingerprint(self):
        """Identifies the result set (filter and order) a skiptoken belongs to."""
        text = json.dumps([self.filter.text if self.filter else None, self.orderby])
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def _non_negative_int(name, text):
    try:
        if not text.strip().isdigit():
            raise ValueError
        return int(text)
    except ValueError:
        raise ODataError(INVALID_QUERY + "Invalid value '%s' for %s query option found. The %s "
                         "query option requires a non-negative integer value." % (text, name, name))


def _parse_top(opts, text, limits):
    value = _non_negative_int("$top", text)
    max_top = limits.get("max_top")
    if max_top is not None and value > max_top:
        raise ODataError(INVALID_QUERY + "The limit of '%d' for Top query has been exceeded. "
                         "The value from the incoming request is '%d'." % (max_top, value))
    opts.top = value


def _parse_skip(opts, text, limits):
    opts.skip = _non_negative_int("$skip", text)


def _parse_count(opts, text, limits):
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ODataError(INVALID_QUERY + "'%s' is not a valid count option." % text)
    opts.count = lowered == "true"


def _parse_skiptoken(opts, text, limits):
    opts.skiptoken, opts.skiptoken_fingerprint = decode_skiptoken(text)


def _parse_filter(opts, text, limits):
    opts.filter = compile_filter(limits["schema"], text)


def _parse_orderby(opts, text, limits):
    opts.orderby = parse_orderby(text, limits["schema"])


def _parse_select(opts, text, limits):
    opts.select = parse_select(text, limits["schema"])


def _parse_expand(opts, text, limits):
    opts.expand = parse_expand(text, limits["schema"])


# Canonical option name -> parser(opts, raw_text, limits).
OPTION_PARSERS = {
    "$top": _parse_top,
    "$skip": _parse_skip,
    "$count": _parse_count,
    "$skiptoken": _parse_skiptoken,
    "$filter": _parse_filter,
    "$orderby": _parse_orderby,
    "$select": _parse_select,
    "$expand": _parse_expand,
}


def parse_options(query_pairs, allowed, **limits):
    """Parse the system query options in query_pairs.

    allowed: canonical names this route accepts.  limits: max_top, and
    schema (an EntitySchema) for $filter/$orderby/$select/$expand.  Option
    names are matched case-insensitively; a repeated option, an unknown or
    unsupported option all raise ODataError.  A skiptoken minted for another
    $filter/$orderby is rejected."""
    opts = QueryOptions()
    for name, value in query_pairs:
        if not name.startswith("$"):
            continue
        canonical = name.lower()
        if canonical in opts.raw:
            raise ODataError(INVALID_QUERY + "Query option '%s' was specified more than once, but "
                             "it must be specified at most once." % canonical)
        if canonical not in OPTION_PARSERS:
            raise ODataError(INVALID_QUERY + "The query parameter '%s' is not supported." % name)
        if canonical not in allowed:
            raise ODataError(INVALID_QUERY + "Query option '%s' is not allowed. To allow it, set "
                             "the 'AllowedQueryOptions' property on EnableQueryAttribute or "
                             "QueryValidationSettings." % canonical)
        opts.raw[canonical] = value
        OPTION_PARSERS[canonical](opts, value, limits)
    if opts.skiptoken_fingerprint is not None and opts.skiptoken_fingerprint != opts.fingerprint():
        raise ODataError(INVALID_QUERY + "The skip token '%s' is not valid for this $filter and $orderby."
                         % opts.raw["$skiptoken"])
    return opts


# --------------------------------------------------------------------------
# Paging

_SKIPTOKEN_PREFIX = "emu1"


def encode_skiptoken(offset, fingerprint=None):
    """An opaque continuation token.  Clients must not parse it."""
    data = {"v": 1, "o": offset}
    if fingerprint:
        data["f"] = fingerprint
    raw = json.dumps(data, separators=(",", ":")).encode("ascii")
    return _SKIPTOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_skiptoken(token):
    """(offset, fingerprint or None) inside a token from encode_skiptoken,
    else ODataError."""
    try:
        if not token.startswith(_SKIPTOKEN_PREFIX):
            raise ValueError
        body = token[len(_SKIPTOKEN_PREFIX):]
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        offset = data["o"]
        fingerprint = data.get("f")
        if not isinstance(offset, int) or offset < 0 or not isinstance(fingerprint, (str, type(None))):
            raise ValueError
        return offset, fingerprint
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise ODataError(INVALID_QUERY + "The skip token '%s' is not valid." % token)


# Options a nextLink carries over from the request (besides $top/$skiptoken).
CARRIED_OPTIONS = ("$filter", "$orderby", "$expand", "$select", "$count")


def next_link(base_url, path, opts, top, next_offset):
    """Absolute nextLink: the same resource with $top and a fresh $skiptoken,
    plus the options listed in CARRIED_OPTIONS.  '$' stays literal."""
    pairs = [("$top", str(top))]
    for name in CARRIED_OPTIONS:
        if name in opts.raw:
            pairs.append((name, opts.raw[name]))
    pairs.append(("$skiptoken", encode_skiptoken(next_offset, opts.fingerprint())))
    query = "&".join("%s=%s" % (name, urllib.parse.quote(value, safe="-._~'()*,:@/"))
                     for name, value in pairs)
    return "%s%s?%s" % (base_url, urllib.parse.quote(path, safe="/$()'.,:@"), query)


# --------------------------------------------------------------------------
# Evaluating a query over stored rows

def _order_key(schema, orderby):
    """Sort key over slim rows for $orderby: ticks (nulls first ascending,
    last descending), then id ascending (its rank, see _rank_by_id)."""
    parts = []
    for name, desc in orderby:
        key = repr(schema.tick_keys[name])
        if desc:
            parts.append("(HIGH if s[%s] is None else -s[%s])" % (key, key))
        else:
            parts.append("(LOW if s[%s] is None else s[%s])" % (key, key))
    parts.append("s[%r]" % ID_RANK)
    source = "lambda s: (%s)" % ", ".join(parts)
    return eval(source, {"HIGH": float("inf"), "LOW": float("-inf"), "__builtins__": {}})   # noqa: S307


def _rank_by_id(slims, schema):
    """Number the slim rows in id order (ID_RANK), for tie-breaking."""
    id_key = schema.id_sort_key
    for rank, slim in enumerate(sorted(slims, key=lambda slim: id_key(slim["id"]))):
        slim[ID_RANK] = rank


def select_rows(state, name, schema, opts, snapshot):
    """The rows matching opts.filter in opts.orderby order (default: the
    snapshot's order), as a list of stored rows or of slim rows (see
    EntitySchema.slim; list_page unwraps them).  Results are cached per data
    version, so paging a filtered set costs one evaluation.

    Filtering and sorting read small slim copies of the rows (id, the
    filterable values and the ticks), built when the data is generated:
    scanning 15,000 large row dicts costs mostly cache misses.  The whole set
    is sorted once per $orderby; filtering keeps that order."""
    if opts.filter is None and not opts.orderby:
        return snapshot()

    def all_slims():
        def build():
            slims = [row.get("_slim") or schema.slim(row) for row in snapshot()]
            if any(ID_RANK not in slim for slim in slims):
                _rank_by_id(slims, schema)
            return slims
        return state.cached_query((name, "(slim rows)"), build)

    def ordered():
        if not opts.orderby:
            return all_slims()
        return state.cached_query((name, "(slim rows)", opts.orderby),
                                  lambda: sorted(all_slims(), key=_order_key(schema, opts.orderby)))

    def compute():
        return opts.filter.select(ordered()) if opts.filter is not None else ordered()
    return state.cached_query((name, opts.filter.text if opts.filter else None, opts.orderby), compute)


class WireRow(dict):
    """A copy of a stored row as it goes on the wire.  It remembers the
    stored row's cached JSON and forgets it as soon as anything (a damaging
    fault) changes the copy."""

    __slots__ = ("cached", "extra")   # cached JSON of the first keys; keys added after it

    def __setitem__(self, key, value):
        self.cached = None
        dict.__setitem__(self, key, value)

    def __delitem__(self, key):
        self.cached = None
        dict.__delitem__(self, key)

    def pop(self, *args):
        self.cached = None
        return dict.pop(self, *args)

    def update(self, *args, **kwargs):
        self.cached = None
        dict.update(self, *args, **kwargs)

    def setdefault(self, *args):
        self.cached = None
        return dict.setdefault(self, *args)

    def clear(self):
        self.cached = None
        dict.clear(self)

    def popitem(self):
        self.cached = None
        return dict.popitem(self)


def wire_row(row):
    """A WireRow copy of a stored row, private keys dropped, for output only:
    nested values are shared with the stored row, so change the copy only by
    replacing top-level keys.  Its JSON is cached in the stored row under
    '_json' (whoever changes a stored row must drop its '_json')."""
    out = WireRow({key: value for key, value in row.items() if key[0] != "_"})
    cached = row.get("_json")
    if cached is None:
        cached = dump_json(out)
        row["_json"] = cached
    out.cached = cached
    out.extra = ()
    return out


def prepare_rows(rows, schema=None):
    """Serialise freshly generated rows once (fills '_json') and, given their
    EntitySchema, build their slim rows ('_slim', numbered in id order), so
    the first requests over a large data set are as fast as the next ones."""
    for row in rows:
        if row.get("_json") is None:
            row["_json"] = dump_json({key: value for key, value in row.items() if key[0] != "_"})
    if schema is not None:
        for row in rows:
            row["_slim"] = schema.slim(row)
        _rank_by_id([row["_slim"] for row in rows], schema)


def shape(row, opts, expanders):
    """The wire form of one stored row under $select / $expand."""
    if opts.select is None and not opts.expand:
        return wire_row(row)
    if opts.select is not None:
        # straight from the stored row: no whole copy, no JSON cache to fill
        out = WireRow((k, v) for k, v in row.items()
                      if k[0] != "_" and (k == "id" or k in opts.select))
        out.cached = None
        out.extra = ()
    else:
        out = wire_row(row)
    for name in opts.expand:
        dict.__setitem__(out, name, expanders[name](row))
    out.extra = opts.expand
    return out


def _encode(value):
    """dump_json(value), reusing the cached JSON of unchanged WireRows found
    in the value, in lists, or in a WireRow's lists (expanded rows)."""
    if isinstance(value, WireRow):
        cached = getattr(value, "cached", None)
        if cached is not None:
            if not value.extra:
                return cached
            parts = [dump_json(key) + b":" + _encode(dict.__getitem__(value, key)) for key in value.extra]
            return cached[:-1] + (b"," if len(cached) > 2 else b"") + b",".join(parts) + b"}"
    elif not isinstance(value, dict):
        if isinstance(value, list) and value and isinstance(value[0], WireRow):
            return b"[" + b",".join(_encode(item) for item in value) + b"]"
        return dump_json(value)
    if not any(isinstance(item, (dict, list)) for item in value.values()):
        # a flat object (a row under $select): one call to json's C encoder,
        # not one per value (a Python call each, which made a page of 50
        # rows cost ~1.7 ms of CPU and serialised concurrent requests on the GIL)
        return dump_json(value)
    return b"{" + b",".join(dump_json(key) + b":" + _encode(item) for key, item in value.items()) + b"}"


class CollectionResponse(Response):
    """A JSON response whose rows' JSON is reused from the stored rows'
    cache when nothing changed them; the bytes equal dump_json(obj)."""

    def payload(self):
        if self.body is not None or not isinstance(self.obj, dict):
            return super().payload()
        return _encode(self.obj)


class CachedPageResponse(Response):
    """A list page answered from the page cache (cached_list_page): its
    encoded bytes, and the page object built again only when something
    asks for it (a POST fault that damages the page), in which case the
    damaged object is what is sent."""

    def __init__(self, encoded, build):
        self._obj = None
        self._build = build
        self._encoded = encoded
        super().__init__(status=200, obj=None)

    @property
    def obj(self):
        if self._obj is None and self._build is not None:
            self._obj = self._build().obj
            self._encoded = None      # whoever asked may change it
        return self._obj

    @obj.setter
    def obj(self, value):
        self._obj = value
        if value is not None:
            self._encoded = None

    def payload(self):
        if self.body is not None:
            return super().payload()
        if self._encoded is not None:
            return self._encoded
        return _encode(self.obj)


def cached_list_page(req, entity_set, build):
    """build() (the Response of one list page), its encoded body cached for
    the tenant's data version under everything that decides it: the entity
    set, graph's base URL, the path (API version included), every query
    option as sent, and the settings that change a page's form.  Encoding a
    page of 50 rows under $select is most of the emulator's CPU per page,
    which made it the bottleneck of many tenants' pages requested at once
    (bench section 7).  Only a 200 is cached; an error (a $filter Graph
    refuses) is built each time.  $expand is not cached: the expanded rows
    are another collection."""
    if any(name == "$expand" for name, _ in req.query_pairs):
        return build()
    key = (entity_set, req.base_url, req.path, tuple(req.query_pairs),
           bool(_config(req, "pascal_enums")), bool(_config(req, "omit_odata_count")),
           _config(req, "alerts_max_top"))
    encoded = req.state.cached_page(key)
    if encoded is not None:
        return CachedPageResponse(encoded, build)
    resp = build()
    if isinstance(resp, CollectionResponse) and resp.status == 200 and resp.body is None:
        encoded = resp.payload()
        req.state.store_page(key, encoded)
        return CachedPageResponse(encoded, build)
    return resp


def context_url(req, entity_set, select, suffix=""):
    """@odata.context, listing the selected properties as Graph does."""
    target = entity_set
    if select is not None:
        target += "(%s)" % ",".join(select)
    return "%s/%s/$metadata#%s%s" % (req.base_url, req.params["version"], target, suffix)


# The enumeration properties of incidents and alerts_v2 (pascal_enums).
ENUM_PROPERTIES = ("status", "severity", "classification", "determination", "serviceSource")


def pascal_case(out):
    """A wire row with its enumeration values in PascalCase ("inProgress" ->
    "InProgress"), the spelling of Microsoft's documented example responses."""
    changed = WireRow(out)
    for key in ENUM_PROPERTIES:
        value = changed.get(key)
        if isinstance(value, str) and value:
            dict.__setitem__(changed, key, value[0].upper() + value[1:])
    changed.cached = None
    changed.extra = getattr(out, "extra", ())
    return changed


def _config(req, key):
    config = getattr(req.state, "config", None) or {}
    return config.get(key)


def list_page(req, entity_set, schema, opts, rows, default_top, expanders):
    """Build the response for one page of `rows` (already filtered and ordered)."""
    total = len(rows)
    top = default_top if opts.top is None else opts.top
    offset = opts.offset()
    page = [row[SLIM_ROW] if SLIM_ROW in row else row for row in rows[offset:offset + top]]
    body = {"@odata.context": context_url(req, entity_set, opts.select)}
    if opts.count and not _config(req, "omit_odata_count"):
        body["@odata.count"] = total
    body["value"] = [shape(row, opts, expanders) for row in page]
    if _config(req, "pascal_enums"):
        body["value"] = [pascal_case(row) for row in body["value"]]
    if top > 0 and offset + top < total:
        body["@odata.nextLink"] = next_link(req.base_url, req.path, opts, top, offset + top)
    return CollectionResponse(status=200, obj=body)


def entity_body(req, entity_set, row, opts, expanders):
    """The body of GET {entity_set}/{id}."""
    body = {"@odata.context": context_url(req, entity_set, opts.select, "/$entity")}
    shaped = shape(row, opts, expanders)
    body.update(pascal_case(shaped) if _config(req, "pascal_enums") else shaped)
    return body
