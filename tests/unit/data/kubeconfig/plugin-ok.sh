#!/bin/sh
# Echoes what it received into the token (quotes escaped), so the test can check it.
info=$(printf '%s' "$KUBERNETES_EXEC_INFO" | tr -d ' ' | sed 's/"/\\"/g')
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t|%s|%s|%s","expirationTimestamp":"2030-01-02T03:04:05Z"}}\n' "$PLUGIN_ENV" "$2" "$info"
