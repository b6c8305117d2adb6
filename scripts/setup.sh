#!/usr/bin/env bash
# Installs what building and testing sessionguard needs, skipping what is already there, and
# writes target/toolchain.env, which the build and test scripts source.
#
# The Rust route for wasm32-unknown-unknown:
#   1. a rustup toolchain that has the target (or can add it quickly), else
#   2. Debian's rustc-web/cargo-web + rust-web-src + lld-22, building std for the target
#      (-Zbuild-std), for machines where `rustup target add` cannot download.
# Then wasm-bindgen-cli at exactly the version pinned in Cargo.toml, Chromium + ChromeDriver,
# and the npm dev dependencies (playwright-core, axios, binaryen's wasm-opt, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENV_FILE=target/toolchain.env
mkdir -p target

say() { printf 'setup: %s\n' "$*"; }
# `with_timeout SECONDS CMD...`: CMD, stopped after SECONDS (POSIX: no GNU `timeout` needed).
with_timeout() {
  local secs=$1 pid watcher rc
  shift
  "$@" & pid=$!
  ( sleep "$secs"; kill "$pid" 2>/dev/null ) & watcher=$!
  wait "$pid"; rc=$?
  kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null || true
  return $rc
}
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi
APT_UPDATED=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    die "missing: $* (no apt-get here). Install the Debian packages '$*' or their equivalents by hand."
  fi
  if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
    die "missing: $* and no root to install it. Run: sudo apt-get install -y $*"
  fi
  if [ $APT_UPDATED = 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

WB_VERSION=$(sed -n 's/^wasm-bindgen = .*"=\([0-9.]*\)".*/\1/p' Cargo.toml)
[ -n "$WB_VERSION" ] || die "could not read the pinned wasm-bindgen version from Cargo.toml"

# --- 0. the stamp: skip everything when nothing changed since the last full run -------------
STAMP_KEY="${SG_ROUTE:-auto}-$(cat scripts/setup.sh rust-toolchain.toml Cargo.toml package.json package-lock.json 2>/dev/null | cksum | awk '{print $1 "-" $2}')"
if [ -f "$ENV_FILE" ] && [ -f target/setup.stamp ] && [ "$(cat target/setup.stamp)" = "$STAMP_KEY" ] \
   && [ -d node_modules ]; then
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  if command -v "$WASM_BINDGEN" >/dev/null 2>&1 && [ -x "$CHROME" ]; then
    say "up to date ($SG_ROUTE route)"
    exit 0
  fi
fi

# --- 1. a Rust toolchain for wasm32-unknown-unknown -----------------------------------------
ROUTE=""
HOST_CARGO=$(command -v cargo || true)
# SG_ROUTE=debian forces the Debian route (to test it where rustup would work).
PIN=$(awk -F'"' '/^channel/ {print $2}' rust-toolchain.toml)
if [ "${SG_ROUTE:-}" != debian ] && command -v rustup >/dev/null; then
  # the pinned toolchain (rust-toolchain.toml) first; installed once if it can be
  if ! rustup run "$PIN" rustc --version >/dev/null 2>&1; then
    say "trying: rustup toolchain install $PIN (120 s at most)"
    with_timeout 120 rustup toolchain install "$PIN" --profile minimal >/dev/null 2>&1 || true
  fi
  if ! rustup run "$PIN" rustc --version >/dev/null 2>&1; then
    other=$(rustup toolchain list 2>/dev/null | awk 'NR==1 {print $1}')
    say "WARNING: the pinned toolchain $PIN cannot be had here; using $other (sizes may differ)"
    [ -n "$other" ] && export RUSTUP_TOOLCHAIN=$other
  fi
  for tc in "$PIN" $(rustup toolchain list 2>/dev/null | awk '{print $1}'); do
    if rustup +"$tc" target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
      ROUTE=rustup; RUST_TC=$tc; break
    fi
  done
  if [ -z "$ROUTE" ]; then
    say "trying: rustup target add wasm32-unknown-unknown (60 s at most)"
    if with_timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
      ROUTE=rustup; RUST_TC=$(rustup show active-toolchain | awk '{print $1}')
    else
      say "rustup cannot add the wasm32 target here; using Debian's rustc-web with -Zbuild-std"
    fi
  fi
fi
if [ -z "$ROUTE" ]; then
  ROUTE=debian
  need=()
  [ -x /usr/bin/rustc ] && /usr/bin/rustc --version 2>/dev/null | grep -q . || need+=(rustc-web)
  [ -x /usr/bin/cargo ] || need+=(cargo-web)
  [ -d /usr/lib/rustlib/src/rust/library ] || need+=(rust-web-src)
  [ -x /usr/lib/llvm-22/bin/wasm-ld ] || need+=(lld-22)
  [ -x /usr/bin/cargo-clippy ] || need+=(rust-web-clippy)
  if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; else say "Debian Rust (rustc-web, rust-web-src, lld-22, clippy) present"; fi
  [ -n "$HOST_CARGO" ] || HOST_CARGO=/usr/bin/cargo
fi
RUST_SRC=0
if [ "$ROUTE" = rustup ]; then
  # rust-src lets the release build rebuild std with immediate-abort panics (smaller wasm)
  if rustup +"$RUST_TC" component list --installed 2>/dev/null | grep -q '^rust-src' \
     || with_timeout 60 rustup +"$RUST_TC" component add rust-src >/dev/null 2>&1; then
    RUST_SRC=1
  else
    say "rust-src not available: building without -Zbuild-std (a larger wasm)"
  fi
fi
say "wasm route: $ROUTE"

# --- 2. Chromium + ChromeDriver --------------------------------------------------------------
CHROME=$(command -v chromium || true)
DRIVER=$(command -v chromedriver || true)
if [ -z "$CHROME" ] || [ -z "$DRIVER" ]; then
  apt_install chromium chromium-driver
  CHROME=$(command -v chromium); DRIVER=$(command -v chromedriver)
else
  say "chromium and chromedriver present"
fi

# --- 3. wasm-bindgen-cli at the pinned version ----------------------------------------------
WASM_BINDGEN=""
for cand in "$HOME/.cargo/bin/wasm-bindgen" "$(command -v wasm-bindgen || true)"; do
  if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" --version 2>/dev/null | grep -q " $WB_VERSION\$"; then
    WASM_BINDGEN=$cand; break
  fi
done
if [ -z "$WASM_BINDGEN" ]; then
  say "cargo install wasm-bindgen-cli --version $WB_VERSION (a few minutes, once)"
  "$HOST_CARGO" install -q wasm-bindgen-cli --version "$WB_VERSION" --root "$HOME/.cargo" \
    || die "cargo install wasm-bindgen-cli failed"
  WASM_BINDGEN="$HOME/.cargo/bin/wasm-bindgen"
else
  say "wasm-bindgen $WB_VERSION present"
fi
WB_RUNNER="$(dirname "$WASM_BINDGEN")/wasm-bindgen-test-runner"

# --- 4. npm dev dependencies (playwright-core, axios, binaryen, ...) -------------------------
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
else
  say "node_modules up to date"
fi

# The release build's size flags (unstable, hence RUSTC_BOOTSTRAP with the rebuilt std).
# Every function of every crate (std, js-sys, web-sys, wasm-bindgen, ours) made available for
# inlining in the crate that calls it, as if `#[inline]`: LLVM then sees their bodies with
# internal linkage and drops or folds what a call site does not need (measured: about 6.5 KB
# gzip less; MIR inlining on top of it changes nothing; CONTRIBUTING.md "Size").
SIZE_FLAGS="-Zunstable-options -Cpanic=immediate-abort -Zfmt-debug=none -Zlocation-detail=none -Zcross-crate-inline-threshold=always"
# Stable ones, on every route (CONTRIBUTING.md, "Size", says what each buys):
# - no reference types: wasm-bindgen keeps JS values in its JS-side slab instead of an externref
#   table, which takes about 1 KB of shims out of the module (the fast path measured 0.91 us
#   a call with them, 0.95 us without);
# - LLVM's inliner at 8 instead of opt-level z's 5 (measured: ~240 B less; 10 and above more).
LAYOUT_FLAGS="-Ctarget-feature=-reference-types -Cllvm-args=-inline-threshold=8"

# --- 5. write the environment ----------------------------------------------------------------
{
  echo "# written by scripts/setup.sh"
  echo "SG_ROUTE=$ROUTE"
  echo "HOST_CARGO=$HOST_CARGO"
  [ -z "${RUSTUP_TOOLCHAIN:-}" ] || echo "export RUSTUP_TOOLCHAIN=$RUSTUP_TOOLCHAIN"
  echo "WASM_BINDGEN=$WASM_BINDGEN"
  echo "WB_RUNNER=$WB_RUNNER"
  echo "CHROME=$CHROME"
  echo "CHROMEDRIVER=$DRIVER"
  if [ "$ROUTE" = rustup ]; then
    echo "WASM_CARGO=\"rustup run $RUST_TC cargo\""
    echo "WASM_CLIPPY=\"rustup run $RUST_TC cargo clippy\""
    echo "WASM_RUSTFLAGS=\"\""
    if [ "$RUST_SRC" = 1 ]; then
      # std rebuilt for size: panics abort without formatting a message; `{:?}` formats
      # nothing and panics carry no file/line (the module shows neither to anyone)
      echo "WASM_CARGO_FLAGS=\"-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size\""
      echo "WASM_RELEASE_RUSTFLAGS=\"$LAYOUT_FLAGS $SIZE_FLAGS\""
      echo "export RUSTC_BOOTSTRAP=1"
    else
      echo "WASM_CARGO_FLAGS=\"\""
      echo "WASM_RELEASE_RUSTFLAGS=\"$LAYOUT_FLAGS\""
    fi
    # the browser tests use the installed wasm32 std (debug, no size flags)
    echo "WASM_TEST_FLAGS=\"\""
  else
    # Debian's cargo, rustc and clippy, and nothing else. Where rustup is installed too (it
    # could not add the target), `cargo clippy` would find rustup's cargo-clippy in ~/.cargo/bin
    # (cargo looks there before PATH), and that one lints against rustup's std sources with
    # Debian's compiler: so clippy is called by its path. The host tiers keep HOST_CARGO's own
    # toolchain.
    echo "WASM_CARGO=\"env PATH=/usr/bin:/bin RUSTC=/usr/bin/rustc /usr/bin/cargo\""
    echo "WASM_CLIPPY=\"env PATH=/usr/bin:/bin RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo /usr/bin/cargo-clippy clippy\""
    echo "WASM_CARGO_FLAGS=\"-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size\""
    # immediate-abort panics, no Debug formatting, no panic locations (as above)
    echo "WASM_RUSTFLAGS=\"-Clinker=/usr/lib/llvm-22/bin/wasm-ld\""
    echo "WASM_RELEASE_RUSTFLAGS=\"$LAYOUT_FLAGS $SIZE_FLAGS\""
    # no wasm32 std is installed on this route: the browser tests build it too, with libtest
    echo "WASM_TEST_FLAGS=\"-Zbuild-std=std,panic_abort,test\""
    echo "export RUSTC_BOOTSTRAP=1"
  fi
} > "$ENV_FILE"
echo "$STAMP_KEY" > target/setup.stamp
say "done ($ROUTE route); environment in $ENV_FILE"
