#!/usr/bin/env bash
# Installs the upstream SLO tools the export tests validate with, into the
# folder given (default: $(go env GOPATH)/bin): sloth v0.16.0 and oslo
# v0.13.0. oslo has no installable main at a module version of its own, so
# it is built inside a throwaway module that requires it.
set -euo pipefail
bin="${1:-$(go env GOPATH)/bin}"
mkdir -p "$bin"
# go version -m reads the module versions a binary was built from.
if ! go version -m "$bin/sloth" 2>/dev/null | grep -q 'github.com/slok/sloth[[:space:]]*v0.16.0'; then
  GOBIN="$bin" go install github.com/slok/sloth/cmd/sloth@v0.16.0
fi
if ! go version -m "$bin/oslo" 2>/dev/null | grep -q 'github.com/OpenSLO/oslo[[:space:]]*v0.13.0'; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  cat >"$tmp/go.mod" <<'MOD'
module oslobuild

go 1.24

require github.com/OpenSLO/oslo v0.13.0
MOD
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/OpenSLO/oslo/cmd/oslo"\n' >"$tmp/tools.go"
  (cd "$tmp" && go mod tidy >/dev/null && go build -o "$bin/oslo" github.com/OpenSLO/oslo/cmd/oslo)
fi
