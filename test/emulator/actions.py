"""Graph security write calls: PATCH of incidents and alerts_v2, comments,
and an echo endpoint for tests of the generic request.

  PATCH /{v}/security/incidents/{id}            writable incident properties
  PATCH /{v}/security/alerts_v2/{id}            status, classification, determination, assignedTo
  POST  /{v}/security/incidents/{id}/comments   {"@odata.type"?, "comment"} -> the whole comment list
  POST  /{v}/security/alerts_v2/{id}/comments   the same for an alert
  ANY   /{v}/emulatorEcho[/...]                 not Graph: describes the request it got

Validation follows what Graph (OData's JSON reader, then the security
service) does: the body must be a JSON object; a property the type does not
have, or one that is not writable, is a 400; a string that is no member of
the property's enumeration is a 400 "The string 'x' is not a valid
enumeration type constant."; an unknown id is a 404 NotFound.  Enum values
are matched ignoring case and stored in their camelCase spelling.  Members
from unknownFutureValue on (the evolvable ones) are refused like unknown
strings, as Graph does without `Prefer: include-unknown-enum-members`.

A change is applied to the stored row (state.modify_row), so later GETs,
lists and $filter see it; lastUpdateDateTime becomes the time of the call
and lastModifiedBy "API-App:<client id>".
"""

import time

import alerts
import incidents
from common import Response, dump_json, format_ticks, graph_error, json_response
from odata import ENUMS, NS, STRING, entity_body, parse_options

COMMENT_TYPE = NS + "alertComment"


def _now_ticks():
    """Ticks (100 ns) since the Unix epoch, now."""
    return time.time_ns() // 100


class BadBody(Exception):
    """A 400 to answer: (code, message)."""

    def __init__(self, message, code="BadRequest"):
        super().__init__(message)
        self.code = code
        self.message = message


# property -> kind: "string", "strings" (collection), or an enum type name;
# nullable properties accept JSON null.
INCIDENT_WRITABLE = {
    "assignedTo": ("string", True),
    "classification": (NS + "alertClassification", True),
    "customTags": ("strings", False),
    "description": ("string", True),
    "determination": (NS + "alertDetermination", True),
    "displayName": ("string", False),
    "resolvingComment": ("string", True),
    "severity": (NS + "alertSeverity", False),
    "status": (NS + "incidentStatus", False),
    "summary": ("string", True),
}
ALERT_WRITABLE = {
    "assignedTo": ("string", True),
    "classification": (NS + "alertClassification", True),
    "determination": (NS + "alertDetermination", True),
    "status": (NS + "alertStatus", False),
}


def _writable_member(enum_name, text):
    """The canonical member for text (ignoring case), or None when text is
    not a member Graph lets a client write (unknownFutureValue and later)."""
    for member, _ in ENUMS[enum_name]:
        if member == "unknownFutureValue":
            return None
        if member.lower() == text.lower():
            return member
    return None


def _type_label(kind):
    if kind == "string":
        return STRING
    if kind == "strings":
        return "Collection(Edm.String)"
    return kind


def _literal(value):
    return dump_json(value).decode("utf-8")


def _read_changes(req, schema, writable):
    """The validated changes of a PATCH body: {property: value}."""
    if not req.body:
        raise BadBody("Empty Payload. JSON content expected.")
    try:
        body = req.json()
    except ValueError as err:
        raise BadBody("Unable to read JSON request payload. Please ensure Content-Type header is set "
                      "and payload is of valid JSON format. (%s)" % err)
    if not isinstance(body, dict):
        raise BadBody("The request payload must be a JSON object describing a '%s'." % schema.type_name)
    changes = {}
    for name, value in body.items():
        if name == "@odata.type":
            if not isinstance(value, str) or value.lstrip("#") != schema.type_name:
                raise BadBody("A type named '%s' could not be resolved by the model." % value)
            continue
        if name not in schema.properties:
            raise BadBody("The property '%s' does not exist on type '%s'. Make sure to only use property "
                          "names that are defined by the type or mark the type as open type."
                          % (name, schema.type_name))
        if name not in writable:
            raise BadBody("The property '%s' is read-only and cannot be updated." % name)
        kind, nullable = writable[name]
        if value is None:
            if not nullable:
                raise BadBody("A null value was found for the property named '%s', which has the expected "
                              "type '%s[Nullable=False]'. The expected type '%s[Nullable=False]' does not "
                              "allow null values." % (name, _type_label(kind), _type_label(kind)))
            changes[name] = None
        elif kind == "string":
            if not isinstance(value, str):
                raise BadBody("Cannot convert the literal '%s' to the expected type 'Edm.String'."
                              % _literal(value))
            changes[name] = value
        elif kind == "strings":
            if not isinstance(value, list):
                raise BadBody("A node of type '%s' was read from the JSON reader when trying to read "
                              "the value of the property '%s'; however, a 'StartArray' node was expected."
                              % (type(value).__name__, name))
            for item in value:
                if not isinstance(item, str):
                    raise BadBody("Cannot convert the literal '%s' to the expected type 'Edm.String'."
                                  % _literal(item))
            changes[name] = list(value)
        else:
            if not isinstance(value, str):
                raise BadBody("Cannot convert the literal '%s' to the expected type '%s'."
                              % (_literal(value), kind))
            member = _writable_member(kind, value)
            if member is None:
                raise BadBody("The string '%s' is not a valid enumeration type constant." % value)
            changes[name] = member
    if not changes:
        raise BadBody("No writable property was given; nothing to update.")
    return changes


def _modifier(req):
    client = req.token.client_id if req.token is not None else "unknown"
    return "API-App:" + client


def _patch(req, collection, schema, writable, entity_set, what):
    try:
        changes = _read_changes(req, schema, writable)
    except BadBody as err:
        return graph_error(req, 400, err.code, err.message)
    modifier = _modifier(req)

    def apply(row):
        now = _now_ticks()
        for name, value in changes.items():
            row[name] = value
        if collection == "alerts_v2" and "status" in changes:
            row["resolvedDateTime"] = format_ticks(now) if changes["status"] == "resolved" else None
        row["lastUpdateDateTime"] = format_ticks(now)
        row["_updated_ticks"] = now
        if collection == "incidents":      # alerts_v2 has no lastModifiedBy
            row["lastModifiedBy"] = modifier

    row = req.state.modify_row(collection, req.params["id"], apply)
    if row is None:
        return graph_error(req, 404, "NotFound", "%s with id '%s' was not found." % (what, req.params["id"]))
    return json_response(entity_body(req, entity_set, row, parse_options([], set(), schema=schema), {}))


def patch_incident(req):
    """PATCH .../security/incidents/{id}"""
    return _patch(req, "incidents", incidents.SCHEMA, INCIDENT_WRITABLE, incidents.ENTITY_SET, "Incident")


def patch_alert(req):
    """PATCH .../security/alerts_v2/{id}"""
    return _patch(req, "alerts_v2", alerts.SCHEMA, ALERT_WRITABLE, alerts.ENTITY_SET, "Alert")


def _read_comment(req):
    if not req.body:
        raise BadBody("Empty Payload. JSON content expected.")
    try:
        body = req.json()
    except ValueError as err:
        raise BadBody("Unable to read JSON request payload. (%s)" % err)
    if not isinstance(body, dict):
        raise BadBody("The request payload must be a JSON object describing a '%s'." % COMMENT_TYPE)
    for name, value in body.items():
        if name == "@odata.type":
            if not isinstance(value, str) or value.lstrip("#") != COMMENT_TYPE:
                raise BadBody("A type named '%s' could not be resolved by the model." % value)
        elif name != "comment":
            raise BadBody("The property '%s' does not exist on type '%s'. Make sure to only use property "
                          "names that are defined by the type or mark the type as open type."
                          % (name, COMMENT_TYPE))
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        raise BadBody("The 'comment' property is required and must be a non-empty string.")
    return comment


def _post_comment(req, collection, what):
    try:
        text = _read_comment(req)
    except BadBody as err:
        return graph_error(req, 400, err.code, err.message)
    modifier = _modifier(req)
    result = {}

    def apply(row):
        now = _now_ticks()
        comment = {"comment": text, "createdByDisplayName": modifier,
                   "createdDateTime": format_ticks(now)}
        # replace the list: nested values may be shared between rows
        row["comments"] = list(row.get("comments") or []) + [comment]
        row["lastUpdateDateTime"] = format_ticks(now)
        row["_updated_ticks"] = now
        result["comments"] = [dict(c) for c in row["comments"]]

    row = req.state.modify_row(collection, req.params["id"], apply)
    if row is None:
        return graph_error(req, 404, "NotFound", "%s with id '%s' was not found." % (what, req.params["id"]))
    context = "%s/%s/$metadata#Collection(%s)" % (req.base_url, req.params["version"], COMMENT_TYPE)
    return json_response({"@odata.context": context, "value": result["comments"]})


def post_incident_comment(req):
    """POST .../security/incidents/{id}/comments"""
    return _post_comment(req, "incidents", "Incident")


def post_alert_comment(req):
    """POST .../security/alerts_v2/{id}/comments"""
    return _post_comment(req, "alerts_v2", "Alert")


def echo(req):
    """ANY .../emulatorEcho[/...]: what the request looked like.

    Not a Graph endpoint: a target for tests of a generic request.  Query
    parameters echoStatus (the status to answer, e.g. 204) and echoText (a
    text/plain body to answer instead of the JSON description) shape the
    answer; every pair is reported in "query" all the same."""
    query = req.query_dict()
    try:
        status = int(query.get("echoStatus", "200"))
    except ValueError:
        return graph_error(req, 400, "BadRequest", "echoStatus must be an integer")
    if status == 204:
        return Response(status=204, body=b"")
    if "echoText" in query:
        return Response(status=status, body=str(query["echoText"]),
                        content_type="text/plain; charset=utf-8")
    body = req.body_text() if req.body else None
    if body is not None and "json" in (req.header("content-type") or "").lower():
        try:
            body = req.json()
        except ValueError:
            pass
    headers = {name: value for name, value in req.headers.items() if name != "authorization"}
    return json_response({"method": req.method, "path": req.path,
                          "query": [[name, value] for name, value in req.query_pairs],
                          "headers": headers, "body": body}, status=status)

