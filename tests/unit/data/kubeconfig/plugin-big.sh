#!/bin/sh
# Prints 2 MB on stdout, then hangs.
head -c 2000000 /dev/zero | tr '\0' a
sleep 30
