#!/usr/bin/env bash
# Tests action/install.sh and action/run.sh without a network: release archives come from
# file:// URLs, `cargo` is a stub on PATH, and the binaries are small scripts.
# The checks run `bash -c` snippets with positional arguments: single quotes are meant.
# shellcheck disable=SC2016
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

passed=0
failed=0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

check() {
  local name="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $name"
  else
    failed=$((failed + 1))
    echo "FAILED: $name"
  fi
}

version="$(awk '/^\[/ { p = ($0 == "[package]") } p && /^version *= *"/ { gsub(/^version *= *"|".*$/, ""); print; exit }' Cargo.toml)"
target=x86_64-unknown-linux-musl
asset="sifbake-v$version-$target.tar.gz"

# An action checkout: this repository's action files and sources, plus a checksums file for
# an archive that holds a stub sifbake.
action="$work/action"
mkdir -p "$action"
cp -r action action.yml Cargo.toml Cargo.lock src emulator "$action/"
mkdir -p "$work/release/sifbake-v$version-$target"
printf '#!/bin/sh\necho "stub sifbake from the release: $*"\n' >"$work/release/sifbake-v$version-$target/sifbake"
chmod +x "$work/release/sifbake-v$version-$target/sifbake"
tar -czf "$work/release/$asset" -C "$work/release" "sifbake-v$version-$target"
(cd "$work/release" && sha256sum "$asset") >"$action/action/checksums/v$version.sha256"

# A stub cargo: `cargo install … --root DIR` leaves a stub binary, and logs its arguments.
mkdir -p "$work/bin"
cat >"$work/bin/cargo" <<'EOF'
#!/usr/bin/env bash
echo "$*" >>"$CARGO_LOG"
root=""
while [ $# -gt 0 ]; do
  if [ "$1" = --root ]; then root="$2"; fi
  shift
done
mkdir -p "$root/bin"
printf '#!/bin/sh\necho "stub sifbake from source: $*"\n' >"$root/bin/sifbake"
chmod +x "$root/bin/sifbake"
EOF
chmod +x "$work/bin/cargo"

# Runs install.sh like the runner does; sets $out (its output), $status and $path.
install() {
  local case_dir="$work/case-$1"
  shift
  mkdir -p "$case_dir"
  : >"$case_dir/output"
  : >"$case_dir/path"
  status=0
  out="$(env -i PATH="$work/bin:/usr/bin:/bin" HOME="$work" CARGO_LOG="$work/cargo.log" \
    GITHUB_ACTION_PATH="$action" RUNNER_OS=Linux RUNNER_ARCH=X64 \
    RUNNER_TOOL_CACHE="$work/toolcache" RUNNER_TEMP="$case_dir" \
    GITHUB_OUTPUT="$case_dir/output" GITHUB_PATH="$case_dir/path" "$@" \
    bash "$action/action/install.sh" 2>&1)" || status=$?
  path="$(sed -n 's/^path=//p' "$case_dir/output")"
}

release_url="file://$work/release"

install release SIFBAKE_ACTION_RELEASE_URL="$release_url"
check "the release archive is installed after its sha256 is checked" \
  test "$status" = 0 -a "$path" = "$work/toolcache/sifbake/$version/x64/sifbake"
check "the installed binary is the release's" \
  bash -c '[ "$("$1" build)" = "stub sifbake from the release: build" ]' _ "$path"
check "its directory is added to GITHUB_PATH" \
  grep -qx "$work/toolcache/sifbake/$version/x64" "$work/case-release/path"
check "the log says how" grep -q "release $asset, sha256 checked" <<<"$out"

install cached SIFBAKE_ACTION_RELEASE_URL="file://$work/nowhere"
check "a second run takes it from the tool cache, without downloading" \
  grep -q "from the tool cache" <<<"$out"

printf '#!/bin/sh\necho tampered\n' >"$work/toolcache/sifbake/$version/x64/sifbake"
install tampered SIFBAKE_ACTION_RELEASE_URL="$release_url"
check "a tampered cache is noticed and installed again" \
  grep -q "does not match what was recorded" <<<"$out"
check "… from the release" bash -c '[ "$("$1")" = "stub sifbake from the release: " ]' _ "$path"

rm -rf "$work/toolcache"
cp "$work/release/$asset" "$work/good.tar.gz"
printf 'garbage' >>"$work/release/$asset"
install mismatch SIFBAKE_ACTION_RELEASE_URL="$release_url"
check "an archive that does not match the committed sha256 fails the step" \
  test "$status" = 1
check "… and says why" grep -q "does not match the sha256 committed in action/checksums/v$version.sha256" <<<"$out"
check "… and nothing is cached or built" \
  test ! -e "$work/toolcache/sifbake/$version/x64/sifbake" -a ! -e "$work/cargo.log"
mv "$work/good.tar.gz" "$work/release/$asset"

install unreachable SIFBAKE_ACTION_RELEASE_URL="file://$work/nowhere"
check "a release that cannot be downloaded falls back to building from source" \
  test "$status" = 0
check "… with cargo install --locked from the action's path" \
  grep -qx "install --locked --path $action --root .* --bin sifbake" "$work/cargo.log"
check "… and the source build is used" \
  bash -c '[ "$("$1" plan)" = "stub sifbake from source: plan" ]' _ "$path"
check "… and cached by a hash of the source" \
  bash -c '[[ "$1" == */sifbake/'"$version"'-source-*/x64/sifbake ]]' _ "$path"

rm -f "$work/cargo.log"
install source-cached SIFBAKE_ACTION_RELEASE_URL="file://$work/nowhere"
check "the source build is reused from the tool cache" \
  test "$status" = 0 -a ! -e "$work/cargo.log"

install insecure SIFBAKE_ACTION_RELEASE_URL="http://example.invalid/release"
check "a plain-http mirror elsewhere is refused" \
  grep -q "refusing to download from a URL that is not https" <<<"$out"

rm -rf "$work/toolcache"
install macos RUNNER_OS=macOS RUNNER_ARCH=ARM64
check "a platform without a release archive is built from source" \
  bash -c '[[ "$1" == */sifbake/'"$version"'-source-*/arm64/sifbake ]]' _ "$path"

rm -rf "$work/toolcache"
mv "$work/bin/cargo" "$work/cargo.off"
install nocargo RUNNER_OS=Windows RUNNER_ARCH=X64
check "no release and no cargo is a clear error" \
  bash -c '[ "$1" = 1 ] && grep -q "no cargo to build it" <<<"$2"' _ "$status" "$out"
mv "$work/cargo.off" "$work/bin/cargo"

# run.sh: the command is checked, empty inputs are unset, the rest reach the binary.
printf '#!/bin/sh\necho "command=$1"\nenv | grep -E "^(SIFBAKE_|SYLABS_)" | sort\n' >"$work/printenv-sifbake"
chmod +x "$work/printenv-sifbake"
run_sh() {
  status=0
  out="$(env -i PATH=/usr/bin:/bin SIFBAKE_ACTION_BIN="$work/printenv-sifbake" "$@" \
    bash "$repo/action/run.sh" 2>&1)" || status=$?
}
run_sh SIFBAKE_ACTION_COMMAND=plan SIFBAKE_JOBS= SIFBAKE_TARGETS="a,b" SYLABS_TOKEN= SIFBAKE_EMULATE=true
check "run.sh runs the command with the inputs that were given" \
  test "$out" = "$(printf 'command=plan\nSIFBAKE_EMULATE=true\nSIFBAKE_TARGETS=a,b')"
run_sh SIFBAKE_ACTION_COMMAND=$'build\n::add-mask::x'
check "run.sh refuses another command without echoing it" \
  bash -c '[ "$1" = 2 ] && grep -q "must be plan, build or tag" <<<"$2" && ! grep -q add-mask <<<"$2"' _ "$status" "$out"
run_sh SIFBAKE_ACTION_BIN=
check "run.sh without a binary fails" test "$status" = 2

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
