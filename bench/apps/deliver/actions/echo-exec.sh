#!/bin/sh
# bench/echo-exec: OpenWhisk's native protocol, one process per activation.
# The params arrive as JSON in $1 (and on stdin); the last stdout line is
# the result.
printf '{"statusCode":200,"body":{"echo":%s}}\n' "$1"
