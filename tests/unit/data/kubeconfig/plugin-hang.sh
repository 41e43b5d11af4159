#!/bin/sh
# Never answers; its child must be killed with it.
sleep 30 &
echo $! > "$PLUGIN_PIDFILE"
wait
