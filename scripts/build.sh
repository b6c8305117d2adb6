#!/usr/bin/env bash
# Release build: cargo (wasm32) → wasm-bindgen --target web → closure shims no one calls out
# of the table (scripts/drop-dead-slots.mjs) → wasm-opt -Oz → functions ordered for gzip
# (scripts/order-functions.mjs, then wasm-opt --reorder-functions-by-name) → short import and
# export names (wasm-opt, then scripts/minify-names.mjs on wasm-bindgen's glue as written) →
# esbuild minifies the glue and bundles it with the error classes and the snippet → pkg/.
#   pkg/sessionguard.js        the package entry (js/sessionguard.js: loads the module, exports)
#   pkg/sessionguard_glue.js   wasm-bindgen's glue (the SessionManager class of src/web/), the
#                              Error subclasses (js/errors.js) and the module's inline snippet
#                              (web/js.rs), in one module
#   pkg/sessionguard_bg.wasm   the module
#   pkg/*.d.ts                 types: generated from the crate, plus the two files' own
# Prints the raw/gzip/brotli size of the shipped files. Portable: bash, node and the tools
# installed by scripts/setup.sh (no GNU-only flags).
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
"$WASM_BINDGEN" --target web --out-dir pkg --out-name sessionguard_glue "$WASM"
# The entry always hands the glue the module's URL; name the file as the package documents it
# (the glue is pointed at the new name by scripts/minify-names.mjs).
mv pkg/sessionguard_glue_bg.wasm pkg/sessionguard_bg.wasm
mv pkg/sessionguard_glue_bg.wasm.d.ts pkg/sessionguard_bg.wasm.d.ts
cp js/sessionguard.js pkg/sessionguard.js
cp js/sessionguard.d.ts pkg/sessionguard.d.ts
cp js/errors.js pkg/errors.js
cp js/errors.d.ts pkg/errors.d.ts

WASM_OPT=node_modules/.bin/wasm-opt
[ -x "$WASM_OPT" ] || WASM_OPT=$(command -v wasm-opt || true)
[ -n "$WASM_OPT" ] || { echo "build: wasm-opt not found: run scripts/setup.sh" >&2; exit 1; }
FEATURES="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"
say "closure shims no one calls out of the table"
node scripts/drop-dead-slots.mjs pkg/sessionguard_bg.wasm
say "wasm-opt -Oz"
# --low-memory-unused: Rust puts the stack at the bottom of memory, so its first KB is reached
# only by a stack about to overflow (which is fatal anyway); address arithmetic folds into offsets.
# shellcheck disable=SC2086
# --debuginfo keeps the names for the next step
"$WASM_OPT" -Oz --converge --low-memory-unused $FEATURES --debuginfo \
  pkg/sessionguard_bg.wasm -o pkg/sessionguard_bg.wasm.opt
say "functions ordered for gzip"
node scripts/order-functions.mjs pkg/sessionguard_bg.wasm.opt pkg/sessionguard_bg.wasm.named
# shellcheck disable=SC2086
"$WASM_OPT" $FEATURES --reorder-functions-by-name --strip-debug --strip-producers --strip-target-features \
  pkg/sessionguard_bg.wasm.named -o pkg/sessionguard_bg.wasm
rm pkg/sessionguard_bg.wasm.opt pkg/sessionguard_bg.wasm.named
say "short import and export names"
# the names map goes to stdout; scripts/minify-names.mjs applies it to the glue (the features
# are named: the module no longer says which it uses)
# shellcheck disable=SC2086
"$WASM_OPT" --minify-imports-and-exports-and-modules $FEATURES --enable-reference-types --enable-multivalue \
  pkg/sessionguard_bg.wasm -o pkg/sessionguard_bg.wasm.min > target/wasm-names.json
mv pkg/sessionguard_bg.wasm.min pkg/sessionguard_bg.wasm
node scripts/minify-names.mjs target/wasm-names.json pkg/sessionguard_bg.wasm pkg/sessionguard_glue.js pkg/sessionguard_bg.wasm.d.ts

# Minify the glue; then one module of the glue, the error classes and the snippet, which also
# exports the error classes (the entry re-exports them: one class each on both sides). One gzip
# stream instead of three. The error classes keep their names (`constructor.name` is public).
node_modules/.bin/esbuild pkg/sessionguard_glue.js --minify --format=esm --target=es2020 \
  --outfile=pkg/sessionguard_glue.js --allow-overwrite --log-level=warning
node -e 'const t = require("fs").readFileSync("pkg/sessionguard_glue.js", "utf8");
  const m = t.match(/wasm_bindgen_[0-9a-f]{16}|__wbg_\w+_[0-9a-f]{16}/);
  if (m) { console.error("build: a long name survived minifying: " + m[0]); process.exit(1); }'
printf '%s\n' 'export { default, initSync, SessionManager } from "./sessionguard_glue.js";' \
  'export * from "./errors.js";' > pkg/module.js
node_modules/.bin/esbuild pkg/module.js --bundle --minify-whitespace --minify-syntax --format=esm \
  --target=es2020 --outfile=pkg/module.bundle.js --log-level=warning
mv pkg/module.bundle.js pkg/sessionguard_glue.js
rm -rf pkg/module.js pkg/errors.js pkg/snippets
# The entry: comments and long local names go, but not the bundler hints inside its `import()`
# (/* webpackIgnore */, /* @vite-ignore */: esbuild drops them only when it drops whitespace).
node_modules/.bin/esbuild pkg/sessionguard.js --minify-syntax --minify-identifiers --format=esm --target=es2020 \
  --outfile=pkg/sessionguard.js --allow-overwrite --log-level=warning
grep -q "webpackIgnore: true" pkg/sessionguard.js || { echo "build: the entry lost its bundler hints" >&2; exit 1; }
node scripts/size.mjs
