#!/usr/bin/env bash
# Release build of both flavours, from one source (Cargo features):
#   sessionguard        everything (default features)
#   sessionguard/lite   --no-default-features: the interceptor, refreshers, cross-tab, userInfo
# Each: cargo (wasm32) → wasm-bindgen --target web → closure shims no one calls out of the
# table (scripts/drop-dead-slots.mjs) → wasm-opt -Oz → functions ordered for gzip
# (scripts/order-functions.mjs, then wasm-opt --reorder-functions-by-name) → short import and
# export names (wasm-opt, then scripts/minify-names.mjs on wasm-bindgen's glue as written) →
# esbuild minifies the glue and bundles it with the error classes and the snippet → pkg/.
#   pkg/sessionguard.js           the browser entry (js/sessionguard.js: loads the module, exports)
#   pkg/sessionguard.node.js      the Node entry (the same source: reads the module from disk)
#   pkg/sessionguard_glue.js      wasm-bindgen's glue (the SessionManager class of src/web/), the
#                                 Error subclasses (js/errors.js) and the module's inline snippet
#                                 (web/js.rs), in one module
#   pkg/sessionguard_bg.wasm      the module
#   pkg/lite.js, pkg/lite.node.js, pkg/sessionguard_lite_glue.js, pkg/sessionguard_lite_bg.wasm
#                                 the same for the lite flavour
#   pkg/*.d.ts                    types: generated from the crate, plus the entries' own
# Prints the raw/gzip/brotli size of each flavour. Portable: bash, node and the tools installed
# by scripts/setup.sh (no GNU-only flags).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f target/toolchain.env ] || bash scripts/setup.sh
# shellcheck disable=SC1091
. target/toolchain.env

say() { printf 'build: %s\n' "$*"; }
WASM=target/wasm32-unknown-unknown/release/sessionguard.wasm
WASM_OPT=node_modules/.bin/wasm-opt
[ -x "$WASM_OPT" ] || WASM_OPT=$(command -v wasm-opt || true)
[ -n "$WASM_OPT" ] || { echo "build: wasm-opt not found: run scripts/setup.sh" >&2; exit 1; }
FEATURES="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"
ESBUILD=node_modules/.bin/esbuild
rm -rf pkg
mkdir -p pkg

# `flavour <entry> <glue> <wasm> <lite:true|false> [cargo feature flags]`: one flavour into pkg/.
flavour() {
  local entry=$1 glue=$2 wasm=$3 lite=$4 out
  shift 4
  out=target/pkg-$entry
  say "$entry: cargo build --release --target wasm32-unknown-unknown $* ($SG_ROUTE route)"
  RUSTFLAGS="${WASM_RUSTFLAGS:-} ${WASM_RELEASE_RUSTFLAGS:-}" $WASM_CARGO build --quiet --release \
    --target wasm32-unknown-unknown ${WASM_CARGO_FLAGS:-} --lib "$@"

  say "$entry: wasm-bindgen --target web"
  rm -rf "$out"
  "$WASM_BINDGEN" --target web --out-dir "$out" --out-name "$glue" "$WASM"
  # the entry always hands the glue the module; name the file as the package documents it
  mv "$out/${glue}_bg.wasm" "$out/$wasm"
  mv "$out/${glue}_bg.wasm.d.ts" "$out/${wasm}.d.ts"
  cp js/errors.js "$out/errors.js"

  say "$entry: closure shims no one calls out of the table"
  node scripts/drop-dead-slots.mjs "$out/$wasm"
  say "$entry: wasm-opt -Oz"
  # --low-memory-unused: Rust puts the stack at the bottom of memory, so its first KB is reached
  # only by a stack about to overflow (which is fatal anyway); address arithmetic folds into
  # offsets. --debuginfo keeps the names for the next step.
  # shellcheck disable=SC2086
  "$WASM_OPT" -Oz --converge --low-memory-unused $FEATURES --debuginfo "$out/$wasm" -o "$out/$wasm.opt"
  say "$entry: functions ordered for gzip"
  node scripts/order-functions.mjs "$out/$wasm.opt" "$out/$wasm.named"
  # shellcheck disable=SC2086
  "$WASM_OPT" $FEATURES --reorder-functions-by-name --debuginfo "$out/$wasm.named" -o "$out/$wasm.sorted"
  node scripts/order-functions.mjs --check "$out/$wasm.sorted" "$(cat "$out/$wasm.named.count")"
  # shellcheck disable=SC2086
  "$WASM_OPT" $FEATURES --strip-debug --strip-producers --strip-target-features "$out/$wasm.sorted" -o "$out/$wasm"
  rm "$out/$wasm.opt" "$out/$wasm.named" "$out/$wasm.named.count" "$out/$wasm.sorted"
  say "$entry: short import and export names"
  # the names map goes to stdout; scripts/minify-names.mjs applies it to the glue (the features
  # are named: the module no longer says which it uses)
  # shellcheck disable=SC2086
  "$WASM_OPT" --minify-imports-and-exports-and-modules $FEATURES --enable-reference-types --enable-multivalue \
    "$out/$wasm" -o "$out/$wasm.min" > "$out/names.json"
  mv "$out/$wasm.min" "$out/$wasm"
  node scripts/minify-names.mjs "$out/names.json" "$out/$wasm" "$out/$glue.js" "$out/${wasm}.d.ts" "$glue"

  # Minify the glue; then one module of the glue, the error classes and the snippet, which also
  # exports the error classes (the entry re-exports them: one class each on both sides). One
  # gzip stream instead of three. The error classes keep their names (`constructor.name` is
  # public).
  "$ESBUILD" "$out/$glue.js" --minify --format=esm --target=es2020 \
    --outfile="$out/$glue.js" --allow-overwrite --log-level=warning
  node -e 'const t = require("fs").readFileSync(process.argv[1], "utf8");
    const m = t.match(/wasm_bindgen_[0-9a-f]{16}|__wbg_\w+_[0-9a-f]{16}/);
    if (m) { console.error("build: a long name survived minifying: " + m[0]); process.exit(1); }' "$out/$glue.js"
  printf '%s\n' "export { default, initSync, SessionManager } from \"./$glue.js\";" \
    'export * from "./errors.js";' > "$out/module.js"
  cp "$out/$wasm" "pkg/$wasm"
  cp "$out/${wasm}.d.ts" "pkg/${wasm}.d.ts"
  cp "$out/$glue.d.ts" "pkg/$glue.d.ts"

  # The entries, from one source (js/sessionguard.js), each bundled with the glue, the error
  # classes and the snippet (one file, one gzip stream, one request): the browser one (no `node:`
  # import: the branch that reads a file is dropped) and the Node one.
  local src="$out/entry.js"
  sed -e "s#\./sessionguard_glue\.js#./module.js#g" js/sessionguard.js > "$src"
  [ "$(grep -c "\./module\.js" "$src")" -ge 2 ] || { echo "build: the entry does not import ./sessionguard_glue.js as expected" >&2; exit 1; }
  for node in false true; do
    local file="pkg/$entry.js"
    [ $node = true ] && file="pkg/$entry.node.js"
    # the entry's own code minified alone (identifiers too), then bundled with the rest, whose
    # class names stay (`constructor.name` of the error classes is public)
    "$ESBUILD" "$src" --minify --format=esm --target=es2020 --define:SG_NODE=$node --define:SG_LITE=$lite \
      --define:SG_FILE="\"$wasm\"" --outfile="$out/entry.min.js" --log-level=warning
    "$ESBUILD" "$out/entry.min.js" --bundle --external:node:* --minify-syntax --minify-whitespace \
      --format=esm --target=es2020 --outfile="$file" --log-level=warning
  done
  if grep -q "node:" "pkg/$entry.js"; then echo "build: the browser entry pkg/$entry.js names a node: module" >&2; exit 1; fi
  grep -q "node:fs" "pkg/$entry.node.js" || { echo "build: the Node entry pkg/$entry.node.js does not read the file" >&2; exit 1; }
  sed -e "s#\./sessionguard_glue\.js#./$glue.js#g" js/sessionguard.d.ts > "pkg/$entry.d.ts"
}

flavour sessionguard sessionguard_glue sessionguard_bg.wasm false
flavour lite sessionguard_lite_glue sessionguard_lite_bg.wasm true --no-default-features
cp js/errors.d.ts pkg/errors.d.ts
node scripts/size.mjs
