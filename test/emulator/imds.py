"""Azure Instance Metadata Service (IMDS) emulation: managed identity tokens.

  GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=<uri>[&client_id=<id>]
  Metadata: true

Like IMDS it refuses a request without the Metadata header (a guard against
server-side request forgery), answers errors as {"error","error_description"}
with 400, and gives every number in a success as a string.  The VM has a
system-assigned identity and one user-assigned identity.
"""

import secrets
import time

from auth import TokenInfo, _audience_path
from common import Response, PLAIN_JSON

SYSTEM_ASSIGNED = "33333333-3333-3333-3333-333333333333"
USER_ASSIGNED = ("44444444-4444-4444-4444-444444444444",)
API_VERSIONS = ("2018-02-01", "2019-08-01", "2021-02-01")


def _error(status, error, description):
    return Response(status=status, obj={"error": error, "error_description": description},
                    content_type=PLAIN_JSON)


def token(req):
    if (req.header("metadata") or "").lower() != "true":
        return _error(400, "invalid_request", "Required metadata header not specified")
    query = req.query_dict()
    if not query.get("api-version"):
        return _error(400, "invalid_request", "Required query variable 'api-version' is missing")
    if query["api-version"] not in API_VERSIONS:
        return _error(400, "invalid_request", "Invalid version")
    resource = query.get("resource", "")
    if not resource:
        return _error(400, "invalid_request", "Required query variable 'resource' is missing")
    client_id = (query.get("client_id") or SYSTEM_ASSIGNED).lower()
    if client_id != SYSTEM_ASSIGNED and client_id not in USER_ASSIGNED:
        return _error(400, "invalid_request", "Identity not found")
    audience_path = _audience_path(resource.rstrip("/"))
    if audience_path is None:
        return _error(400, "invalid_resource",
                      "AADSTS500011: The resource principal named %s was not found in the tenant." % resource)
    lifetime = req.state.config["token_lifetime"]
    info = TokenInfo("emu_mi_" + secrets.token_hex(20), client_id, resource.rstrip("/"),
                     audience_path, lifetime)
    req.state.add_token(info)
    now = int(time.time())
    body = {"access_token": info.token, "client_id": client_id,
            "expires_in": str(int(lifetime)), "expires_on": str(now + int(lifetime)),
            "ext_expires_in": str(int(lifetime)), "not_before": str(now),
            "resource": resource, "token_type": "Bearer"}
    return Response(status=200, obj=body, content_type=PLAIN_JSON)
