"""A bandwidth limit for response bodies: the body of every service
response (Graph, Entra, MDE; not the control API) is written at no more than
`bandwidth_bytes_per_s` bytes a second (config key, CLI --bandwidth; 0 = no
limit, the default), as a slow real link would deliver it.

The body goes out in chunks of 1/50 s worth of bytes (at least 16 KiB);
each chunk is written when the rate allows its last byte, so at any moment
the bytes sent are at most rate x elapsed time: a 50 MB/s limit takes about
1 s for a 50 MB body, and the first bytes arrive after one chunk's time.
"""

import time

import state as state_module

MIN_CHUNK = 16 * 1024
TICKS_PER_S = 50


def _validate(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("'bandwidth_bytes_per_s' must be a non-negative number")
    return value


state_module.register_config("bandwidth_bytes_per_s", _validate)


def rate(state):
    with state.lock:
        return state.config.get("bandwidth_bytes_per_s") or 0


def write(wfile, payload, bytes_per_s, shutdown=None):
    """Write payload to wfile at no more than bytes_per_s (0 = at once)."""
    if not bytes_per_s or len(payload) <= MIN_CHUNK and bytes_per_s >= MIN_CHUNK * TICKS_PER_S:
        wfile.write(payload)
        return
    chunk = max(1, min(max(MIN_CHUNK, int(bytes_per_s / TICKS_PER_S)), len(payload)))
    view = memoryview(payload)
    start = time.monotonic()
    sent = 0
    while sent < len(payload):
        part = view[sent:sent + chunk]
        due = start + (sent + len(part)) / bytes_per_s    # never ahead of the rate
        delay = due - time.monotonic()
        if delay > 0:
            if shutdown is not None:
                if shutdown.wait(delay):
                    return
            else:
                time.sleep(delay)
        wfile.write(part)
        wfile.flush()
        sent += len(part)
