"""emulator_control: what the check scripts run by scripts/test.sh share:
one call to the Graph emulator's control API (/_emulator/...), the SQL that
points a check's database at the emulator, and the verdict at the end of a
check."""

import json
import sys
import urllib.request


def emulator(url, method, path, body=None):
    """Send METHOD url+path with an optional JSON body; the parsed answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def server_sql(url):
    """SQL for a check's own database: the extension, a server whose URLs
    point at the emulator at url, and the test user mapping."""
    return """SET client_min_messages = warning;
CREATE EXTENSION defender_fdw;
CREATE SERVER defender FOREIGN DATA WRAPPER defender_fdw OPTIONS (
  tenant_id '00000000-0000-0000-0000-000000000001', login_url '{url}', graph_url '{url}');
CREATE USER MAPPING FOR CURRENT_USER SERVER defender
  OPTIONS (client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');
""".format(url=url)


def finish(problems, passed_message):
    """Print each problem as FAIL, or passed_message; exit 1 on problems."""
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print(passed_message)
    sys.exit(1 if problems else 0)
