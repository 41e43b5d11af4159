#!/bin/sh
# Prints an ExecCredential of the apiVersion it was asked for, with a token
# that echoes what it received so the test can check it: PLUGIN_ENV, the
# second argument, an inherited variable, stdin, how many times PLUGIN_ENV
# and KUBERNETES_EXEC_INFO occur in the raw environment (the shell itself
# would hide duplicates), whether SIGPIPE is ignored, and
# KUBERNETES_EXEC_INFO with its quotes escaped.
ver=$(printf '%s' "$KUBERNETES_EXEC_INFO" | sed 's/.*"apiVersion":"\([^"]*\)".*/\1/')
info=$(printf '%s' "$KUBERNETES_EXEC_INFO" | sed 's/\\/\\\\/g; s/"/\\"/g')
in=$(head -c 20)
n1=$(tr '\0' '\n' < /proc/$$/environ | grep -c '^PLUGIN_ENV=')
n2=$(tr '\0' '\n' < /proc/$$/environ | grep -c '^KUBERNETES_EXEC_INFO=')
ign=$(awk '/^SigIgn:/ {print $2}' /proc/$$/status)
pipe=$(( 0x$ign & 0x1000 ))
exp=${PLUGIN_EXPIRY:-2030-01-02T03:04:05Z}
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"t|%s|%s|%s|stdin=%s|n=%s,%s|pipe=%s|%s","expirationTimestamp":"%s"}}\n' \
	"${PLUGIN_APIVERSION:-$ver}" "$PLUGIN_ENV" "$2" "$KC_INHERITED" "$in" "$n1" "$n2" "$pipe" "$info" "$exp"
