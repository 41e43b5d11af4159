#!/bin/sh
echo "error: you must be logged in to the server (aws sso login)" >&2
echo "second line" >&2
exit 3
