#!/usr/bin/env bash
# Installs what evkit needs to build and test, if missing. As root it runs
# apt-get and npm; otherwise it prints the exact command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(build-essential clang pkg-config libmicrohttpd-dev libjansson-dev libyaml-dev libsqlite3-dev
      liblua5.4-dev libcurl4-openssl-dev libssl-dev libpcre2-dev libcmocka-dev valgrind wrk nodejs npm curl
      sqlite3 jq lua5.4 python3 chromium json-schema-test-suite bsdutils libclang-rt-14-dev libnats-dev
      nats-server libzstd-dev)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node may come from elsewhere than Debian; only ask for it when absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    echo "deps: missing packages; run as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
# npm peers for the end-to-end tests (independent official clients).
if [[ ${1:-} != --no-npm && -f tests/e2e/package.json ]]; then
  if [[ ! -d tests/e2e/node_modules ]] || [[ tests/e2e/package.json -nt tests/e2e/node_modules ]]; then
    (cd tests/e2e && npm install --no-audit --no-fund --silent >&2) && touch tests/e2e/node_modules
  fi
  # The starter kit's own packages (npm ci from its lock file, once, in build/starter-kit-npm/).
  node tests/e2e/lib/kit.mjs --install || echo "deps: the starter kit's npm ci failed; starter-kit.test.mjs will fail" >&2
fi
