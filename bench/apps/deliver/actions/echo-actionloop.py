#!/usr/bin/env python3
# bench/echo-actionloop: the ActionLoop protocol. One JSON line per
# activation on stdin ({"value": params, ...}); one JSON result line on fd 3.
import json
import sys

out = open(3, "w", buffering=1)
for line in sys.stdin:
    if not line.strip():
        continue
    msg = json.loads(line)
    out.write(json.dumps({"statusCode": 200, "body": {"echo": msg.get("value", {})}}) + "\n")
    out.flush()
