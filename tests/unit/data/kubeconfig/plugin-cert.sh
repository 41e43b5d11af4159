#!/bin/sh
# Returns a client certificate and key instead of a token.
d=$(dirname "$0")
cert=$(awk '{printf "%s\\n", $0}' "$d/client.crt")
key=$(awk '{printf "%s\\n", $0}' "$d/client.key")
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"%s","clientKeyData":"%s"}}\n' "$cert" "$key"
