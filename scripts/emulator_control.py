"""emulator_control: one call to the Graph emulator's control API
(/_emulator/...), for the check scripts run by scripts/test.sh."""

import json
import urllib.request


def emulator(url, method, path, body=None):
    """Send METHOD url+path with an optional JSON body; the parsed answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")
