#!/bin/sh
# Closes stdout and stderr, then hangs: the timeout must still apply.
exec >&- 2>&-
sleep 30
