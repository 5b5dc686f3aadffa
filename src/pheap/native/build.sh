#!/usr/bin/env bash
# Builds the pheap N-API addon (plain C, no node-addon-api) into build/Release/pheap_native.node.
# Offline-safe: uses node-gyp with the headers of the installed Node (no header download); if
# node-gyp is unavailable, compiles directly with cc (an N-API module needs no link against node).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
nodedir="$(dirname "$(dirname "$(command -v node)")")"
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
  echo "pheap native: node_api.h not found under $nodedir/include/node (install the nodejs headers)" >&2
  exit 1
fi
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
cd "$here"
if [ -f "$gyp" ] && node "$gyp" rebuild --nodedir="$nodedir" >build.log 2>&1; then
  :
else
  echo "pheap native: node-gyp failed or missing (see $here/build.log); compiling with cc" >&2
  mkdir -p build/Release
  cc -O2 -Wall -Wextra -std=gnu11 -fPIC -shared -DNODE_GYP_MODULE_NAME=pheap_native \
     -I"$nodedir/include/node" -o build/Release/pheap_native.node pheap_native.c
fi
echo "pheap native: built $here/build/Release/pheap_native.node"
