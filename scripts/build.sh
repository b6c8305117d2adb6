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

# The error classes live in a JS snippet (they extend Error); export them from the entry too.
snippet=$(cd pkg && ls snippets/*/js/support.js)
printf '\nexport { SessionExpiredError, RefreshUnavailableError } from "./%s";\n' "$snippet" >> pkg/sessionguard.js
# `[Symbol.dispose]` needs TypeScript's esnext.disposable lib; most apps do not have it yet.
sed -i '/\[Symbol.dispose\]()/d' pkg/sessionguard.d.ts
cat >> pkg/sessionguard.d.ts <<'TS'

/** The session is over (or never started: reason "no-session"). */
export class SessionExpiredError extends Error {
  readonly name: "SessionExpiredError";
  readonly reason: SessionExpiredReason | "no-session";
}
/** A refresh failed only transiently; the session is kept. Retry after `retryAfterMs`. */
export class RefreshUnavailableError extends Error {
  readonly name: "RefreshUnavailableError";
  readonly retryAfterMs: number;
}
TS

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
