#!/usr/bin/env bash
# Release build: cargo (wasm32) → wasm-bindgen --target web → wasm-opt -Oz → pkg/.
# Prints the raw/gzip/brotli size of the shipped files.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f target/toolchain.env ] || bash scripts/setup.sh
# shellcheck disable=SC1091
. target/toolchain.env

say() { printf 'build: %s\n' "$*"; }
WASM=target/wasm32-unknown-unknown/release/sessionguard.wasm

say "cargo build --release --target wasm32-unknown-unknown ($SG_ROUTE route)"
RUSTFLAGS="${WASM_RUSTFLAGS:-} ${WASM_RELEASE_RUSTFLAGS:-}" $WASM_CARGO build --quiet --release \
  --target wasm32-unknown-unknown ${WASM_CARGO_FLAGS:-} --lib

say "wasm-bindgen --target web"
rm -rf pkg
"$WASM_BINDGEN" --target web --out-dir pkg --out-name sessionguard "$WASM"

# The shell (js/session-manager.js) goes into the same module as wasm-bindgen's glue, where
# SessionEngine is in scope; its dev-time import is dropped. The public types are hand-written.
sed '/@strip-start/,/@strip-end/d' js/session-manager.js >> pkg/sessionguard.js
# wasm-bindgen's own declarations: keep init/initSync, drop the internal engine
cat js/session-manager.d.ts >> pkg/sessionguard.d.ts
# `[Symbol.dispose]` needs TypeScript's esnext.disposable lib; most apps do not have it yet.
sed -i '/\[Symbol.dispose\]()/d' pkg/sessionguard.d.ts

# Minify the module (glue + shell). Private class fields need ES2022.
node_modules/.bin/esbuild pkg/sessionguard.js --minify --format=esm --target=es2022 \
  --outfile=pkg/sessionguard.js --allow-overwrite --log-level=warning

WASM_OPT=node_modules/.bin/wasm-opt
[ -x "$WASM_OPT" ] || WASM_OPT=$(command -v wasm-opt || true)
if [ -n "$WASM_OPT" ]; then
  say "wasm-opt -Oz"
  "$WASM_OPT" -Oz --strip-debug --strip-producers --strip-target-features \
    pkg/sessionguard_bg.wasm -o pkg/sessionguard_bg.wasm.opt
  mv pkg/sessionguard_bg.wasm.opt pkg/sessionguard_bg.wasm
else
  say "wasm-opt not found: skipping (run scripts/setup.sh)"
fi
node scripts/size.mjs
