#!/usr/bin/env bash
# `npm test`: set up if needed, build, then every tier:
#   1. lint      cargo fmt --check, cargo clippy -D warnings (host and wasm32)
#   2. core      cargo test on the host (unit, property and simulation tests)
#   3. web       the browser layer's own tests (wasm-bindgen-test) in headless Chromium
#   4. e2e       the built package in headless Chromium (Playwright) against the dev server:
#                every guarantee through fetch and axios, tabs, hardening, packaging,
#                Node, TypeScript (tsc) and the size budget
#   5. conformance  the same package against real identity servers on loopback: oidc-provider
#                (a real authorization-code + PKCE login) and cognito-local
#   6. ecosystem the packed tarball installed into throwaway apps, each run as the README says:
#                Vite 5-8 (dev and build), webpack, esbuild, Rollup, module workers, Next.js
#                (Turbopack and webpack), Vitest (jsdom, happy-dom; msw, vi.fn), tsc --strict
#   Tiers 4 and 5 run twice: against the full build, then (SG_FLAVOUR=lite) every test that
#   uses no sign-in and no DPoP against sessionguard/lite.
# Ends with one summary line and a non-zero exit on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "summary: setup failed"; exit 1; }
bash scripts/build.sh || { echo "summary: build failed"; exit 1; }
# shellcheck disable=SC1091
. target/toolchain.env

PASS=0; FAIL=0; BROKEN=()
LOG=target/test-logs; mkdir -p "$LOG"

# Adds up libtest's "test result: ... N passed; M failed" lines of a log.
count_cargo() {
  local p f
  p=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$6} END {print s+0}')
  echo "$p $f"
}
# A check that passes or fails as a whole.
check() {
  local name=$1; shift
  if "$@" >"$LOG/$name.log" 2>&1; then PASS=$((PASS + 1)); echo "ok: $name"
  else FAIL=$((FAIL + 1)); BROKEN+=("$name"); echo "FAILED: $name"; tail -30 "$LOG/$name.log"; fi
}

tier() { printf '\n==> %s\n' "$*"; }

tier "1/6 lint: rustfmt, clippy (host and wasm32)"
check fmt "$HOST_CARGO" fmt --check
check clippy-host "$HOST_CARGO" clippy --all-targets -- -D warnings
check clippy-wasm32 env RUSTFLAGS="${WASM_RUSTFLAGS:-}" $WASM_CLIPPY --target wasm32-unknown-unknown ${WASM_TEST_FLAGS:-} --lib --tests -- -D warnings

tier "2/6 core: cargo test (host)"
"$HOST_CARGO" test --lib 2>&1 | tee "$LOG/core.log" | grep -E '^test result|panicked|FAILED|^error'
rc=${PIPESTATUS[0]}
read -r p f < <(count_cargo "$LOG/core.log"); PASS=$((PASS + p)); FAIL=$((FAIL + f))
[ "$rc" = 0 ] || BROKEN+=(core)

tier "3/6 web: wasm-bindgen-test in headless Chromium"
# the runner drives Chromium through ChromeDriver; webdriver.json (repository root) makes it
# headless and sandbox-free (CI runs as root)
CHROMEDRIVER="$CHROMEDRIVER" WASM_BINDGEN_TEST_TIMEOUT=120 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$WB_RUNNER" \
  env RUSTFLAGS="${WASM_RUSTFLAGS:-}" $WASM_CARGO test --target wasm32-unknown-unknown ${WASM_TEST_FLAGS:-} --lib 2>&1 \
  | tee "$LOG/web.log" | grep -E '^test |^test result|panicked|^error'
rc=${PIPESTATUS[0]}
read -r p f < <(count_cargo "$LOG/web.log"); PASS=$((PASS + p)); FAIL=$((FAIL + f))
[ "$rc" = 0 ] && [ "$p" -gt 0 ] || BROKEN+=(web)

# A tier of node:test files in headless Chromium; adds its counts to the summary.
node_tier() {
  local name=$1 rc p f
  shift
  CHROME="$CHROME" node --test --test-concurrency=1 --test-reporter=spec "$@" 2>&1 | tee "$LOG/$name.log" \
    | grep -vE '^\s*$'
  rc=${PIPESTATUS[0]}
  p=$(grep -Eo '^ℹ pass [0-9]+' "$LOG/$name.log" | awk '{print $3}'); f=$(grep -Eo '^ℹ fail [0-9]+' "$LOG/$name.log" | awk '{print $3}')
  PASS=$((PASS + ${p:-0})); FAIL=$((FAIL + ${f:-0}))
  [ "$rc" = 0 ] || BROKEN+=("$name")
}

tier "4/6 end to end: Playwright + Chromium against the dev server"
# the build steps that rewrite generated output refuse what they must not rewrite
node_tier build-steps tests/build/
node_tier e2e tests/e2e/
# the lite flavour: the files whose tests use the session alone (sign-in's and the package's
# are the full build's; a test that needs sign-in or DPoP skips itself)
SG_FLAVOUR=lite node_tier e2e-lite tests/e2e/{axios,basics,crosstab,fetch,hardening,lifetime,newcomer}.test.mjs

tier "5/6 conformance: real identity servers (oidc-provider, cognito-local)"
node_tier conformance tests/conformance/
SG_FLAVOUR=lite node_tier conformance-lite tests/conformance/identity-servers.test.mjs

tier "6/6 ecosystem: the packed tarball in Vite 5-8, webpack, esbuild, Rollup, workers, Next.js, Vitest, tsc"
# installs the apps once into target/ecosystem/ (again only when their package.json files change)
node_tier ecosystem tests/ecosystem/

echo
if [ ${#BROKEN[@]} -gt 0 ] && [ "$FAIL" = 0 ]; then FAIL=1; fi
echo "summary: $PASS passed, $FAIL failed"
[ ${#BROKEN[@]} = 0 ] || { echo "failed tiers: ${BROKEN[*]}" >&2; exit 1; }
