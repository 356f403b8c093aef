#!/usr/bin/env bash
# Installs the sifbake of this action's version for action.yml, and prints its path as the
# step output `path`. In order:
#
# 1. the runner's tool cache, when it holds that version (checked against its recorded
#    sha256, so a cache that was tampered with is rebuilt, not run);
# 2. the static release archive for the runner (Linux x64 or ARM64), checked with
#    `sha256sum -c` against action/checksums/v<version>.sha256, which is committed in this
#    repository with the release: pinning the action pins the binary. A mismatch fails the
#    step; a download that fails falls back to 3;
# 3. built from the action's own source with `cargo install --locked` (other platforms,
#    versions without a release, a network without the release).
#
# Inputs (environment): GITHUB_ACTION_PATH, RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE,
# RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_PATH, and SIFBAKE_ACTION_RELEASE_URL (a mirror of the
# release archives; https, or http/file on this machine only).
set -euo pipefail

action_path="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
action_path="${action_path%/}"
repository="sifbake/sifbake"

# The version is the one in the action's own Cargo.toml: the [package] section's.
version="$(awk '
  /^\[/ { in_package = ($0 == "[package]") }
  in_package && /^version *= *"/ { gsub(/^version *= *"|".*$/, ""); print; exit }
' "$action_path/Cargo.toml")"
if [ -z "$version" ]; then
  echo "::error title=sifbake::cannot read the version from $action_path/Cargo.toml"
  exit 1
fi

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  *) target="" ;;
esac
arch="$(printf '%s' "${RUNNER_ARCH:-unknown}" | tr '[:upper:]' '[:lower:]')"
exe=""
if [ "${RUNNER_OS:-}" = Windows ]; then
  exe=".exe"
fi
tool_cache="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/sifbake-tool-cache}"
scratch="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/sifbake-install.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# Prints the sha256 of a file, or of standard input without an argument (macOS has
# `shasum`, not `sha256sum`).
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$@" | awk '{ print $1 }'
  else
    shasum -a 256 "$@" | awk '{ print $1 }'
  fi
}

# Announces the binary to later steps and ends the script.
use() {
  local bin="$1" how="$2"
  echo "sifbake $version: $how ($bin)"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "path=$bin" >>"$GITHUB_OUTPUT"
  fi
  if [ -n "${GITHUB_PATH:-}" ]; then
    dirname "$bin" >>"$GITHUB_PATH"
  fi
  exit 0
}

# Uses a cached binary when its marker records the expected key and the binary's hash.
from_cache() {
  local dir="$1" key="$2" marker="$1.complete"
  [ -x "$dir/sifbake$exe" ] && [ -f "$marker" ] || return 1
  local recorded_key recorded_hash
  recorded_key="$(sed -n 1p "$marker")"
  recorded_hash="$(sed -n 2p "$marker")"
  if [ "$recorded_key" != "$key" ] || [ "$(sha256 "$dir/sifbake$exe")" != "$recorded_hash" ]; then
    echo "::warning title=sifbake::the tool cache's sifbake $version does not match what was recorded; installing it again"
    rm -rf "$dir" "$marker"
    return 1
  fi
  use "$dir/sifbake$exe" "from the tool cache"
}

# Stores a binary in the tool cache under a key, as actions/tool-cache lays it out.
to_cache() {
  local binary="$1" dir="$2" key="$3"
  rm -rf "$dir" "$dir.complete"
  mkdir -p "$dir"
  cp "$binary" "$dir/sifbake$exe"
  chmod 0755 "$dir/sifbake$exe"
  printf '%s\n%s\n' "$key" "$(sha256 "$dir/sifbake$exe")" >"$dir.complete"
}

# Downloads a URL to a file, refusing plain http except to this machine.
download() {
  local url="$1" out="$2"
  case "$url" in
    https://* | http://127.0.0.1[:/]* | http://localhost[:/]* | file://*) ;;
    *)
      echo "::error title=sifbake::refusing to download from a URL that is not https"
      return 2
      ;;
  esac
  if command -v curl >/dev/null 2>&1; then
    curl --proto '=https,http,file' --proto-redir '=https' --fail --silent --show-error \
      --location --retry 3 --connect-timeout 30 --output "$out" "$url"
  else
    wget --quiet --tries=3 --timeout=30 --output-document="$out" "$url"
  fi
}

# 1 and 2: the release archive, pinned by the checksums committed with the action.
checksums="$action_path/action/checksums/v$version.sha256"
if [ -n "$target" ] && [ -f "$checksums" ]; then
  asset="sifbake-v$version-$target.tar.gz"
  expected="$(awk -v asset="$asset" '$2 == asset || $2 == "*" asset { print $1 }' "$checksums")"
  if [ -n "$expected" ]; then
    cache_dir="$tool_cache/sifbake/$version/$arch"
    from_cache "$cache_dir" "release $expected" || true
    base="${SIFBAKE_ACTION_RELEASE_URL:-https://github.com/$repository/releases/download/v$version}"
    if download "${base%/}/$asset" "$scratch/$asset"; then
      if ! (cd "$scratch" && printf '%s  %s\n' "$expected" "$asset" | sha256sum --check --strict --quiet -); then
        echo "::error title=sifbake::$asset does not match the sha256 committed in action/checksums/v$version.sha256; not installing it"
        exit 1
      fi
      tar -xzf "$scratch/$asset" -C "$scratch"
      binary="$scratch/sifbake-v$version-$target/sifbake"
      if [ ! -f "$binary" ]; then
        echo "::error title=sifbake::$asset holds no sifbake-v$version-$target/sifbake"
        exit 1
      fi
      to_cache "$binary" "$cache_dir" "release $expected"
      use "$cache_dir/sifbake" "release $asset, sha256 checked"
    fi
    echo "::warning title=sifbake::could not download $asset; building sifbake from source instead"
  fi
fi

# 3: from the action's source. The cache key hashes the source, so an action ref with the
# same version number but other code never reuses another build.
source_hash="$(
  cd "$action_path" &&
    find Cargo.toml Cargo.lock src emulator -type f ! -path '*/target/*' 2>/dev/null |
    LC_ALL=C sort | while IFS= read -r file; do printf '%s %s\n' "$(sha256 "$file")" "$file"; done |
    sha256 | cut -c1-16
)"
cache_dir="$tool_cache/sifbake/$version-source-$source_hash/$arch"
from_cache "$cache_dir" "source $source_hash" || true
if ! command -v cargo >/dev/null 2>&1; then
  echo "::error title=sifbake::no prebuilt sifbake $version for ${RUNNER_OS:-this OS}/${RUNNER_ARCH:-this architecture}, and no cargo to build it; install Rust first (rustup) or use a Linux x64/ARM64 runner"
  exit 1
fi
echo "Building sifbake $version from source (cargo install --locked); this takes a few minutes"
cargo install --locked --path "$action_path" --root "$scratch/root" --bin sifbake
to_cache "$scratch/root/bin/sifbake$exe" "$cache_dir" "source $source_hash"
use "$cache_dir/sifbake$exe" "built from source"
