#!/bin/sh
# A valid credential of the other apiVersion: refused, and the token is not quoted.
echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"SECRET-TOKEN-42"}}'
