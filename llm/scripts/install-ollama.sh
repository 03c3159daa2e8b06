#!/usr/bin/env bash
# Builds the ollama server the llm end-to-end test runs (github.com/ollama/ollama
# v0.17.4, from the Go module proxy) into ${1:-$HOME/go/bin}.
#
# The module zip lacks llama.cpp's vendored headers: Debian provides
# nlohmann/json and stb; miniaudio.h (compiled in by mtmd-helper.cpp, unused
# by text models) comes from the npm package llama.rn, which ships the same
# llama.cpp tree. Nothing is committed; the header is kept in the user's
# cache directory.
#
# Usage: llm/scripts/install-ollama.sh [GOBIN]
# Then:  export SRELLAMA_OLLAMA_BIN=<GOBIN>/ollama
set -euo pipefail

gobin="${1:-$HOME/go/bin}"
version="v0.17.4"
llamarn="llama.rn@0.12.9"

if [ -x "$gobin/ollama" ] && "$gobin/ollama" --version 2>&1 | grep -q "0.0.0\|${version#v}"; then
	echo "ollama already built at $gobin/ollama"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s nlohmann-json3-dev libstb-dev >/dev/null 2>&1; then
	apt-get update -qq
	apt-get install -y -qq nlohmann-json3-dev libstb-dev >/dev/null
fi

# A fixed include path keeps the cgo flags, and so Go's build cache, stable
# across runs: a rebuild with a warm cache takes seconds, a cold one minutes.
include="${XDG_CACHE_HOME:-$HOME/.cache}/srellama/ollama-include"
if [ ! -f "$include/miniaudio/miniaudio.h" ]; then
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	(cd "$work" && npm pack --silent "$llamarn" >/dev/null)
	tar -xzf "$work"/llama.rn-*.tgz -C "$work" package/cpp/tools/mtmd/miniaudio/miniaudio.h
	mkdir -p "$include"
	mv "$work/package/cpp/tools/mtmd/miniaudio" "$include/"
fi

mkdir -p "$gobin"
CGO_ENABLED=1 CGO_CPPFLAGS="-I$include" GOBIN="$gobin" GOFLAGS='' \
	go install "github.com/ollama/ollama@$version"
echo "built $gobin/ollama"
