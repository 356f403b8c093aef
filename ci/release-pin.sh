#!/usr/bin/env bash
# Pins a release's binaries in the wrappers, for .github/workflows/release.yml:
#
#   ci/release-pin.sh VERSION SUMS
#
# SUMS is `sha256sum` output for sifbake-vVERSION-<target>.tar.gz of both Linux targets. It
# becomes action/checksums/vVERSION.sha256 (what action/install.sh checks downloads
# against), and the GitLab component and template get the version and the two sha256 in
# their `sifbake-release` variables. The commit that carries them is the one the tag names.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
  echo "usage: ci/release-pin.sh VERSION SUMS" >&2
  exit 2
fi
version="$1"
sums="$2"

cargo_version="$(awk '/^\[/ { p = ($0 == "[package]") } p && /^version *= *"/ { gsub(/^version *= *"|".*$/, ""); print; exit }' Cargo.toml)"
if [ "$version" != "$cargo_version" ]; then
  echo "error: releasing $version, but Cargo.toml says $cargo_version" >&2
  exit 1
fi

sha_of() {
  local asset="sifbake-v$version-$1.tar.gz" sha
  sha="$(awk -v asset="$asset" '$2 == asset || $2 == "*" asset { print $1 }' "$sums")"
  if ! [[ "$sha" =~ ^[0-9a-f]{64}$ ]]; then
    echo "error: $sums has no sha256 for $asset" >&2
    exit 1
  fi
  printf '%s' "$sha"
}
x86_64="$(sha_of x86_64-unknown-linux-musl)"
aarch64="$(sha_of aarch64-unknown-linux-musl)"

mkdir -p action/checksums
printf '%s  %s\n' \
  "$x86_64" "sifbake-v$version-x86_64-unknown-linux-musl.tar.gz" \
  "$aarch64" "sifbake-v$version-aarch64-unknown-linux-musl.tar.gz" \
  >"action/checksums/v$version.sha256"

for file in templates/sifbake.yml .gitlab-ci-template.yml; do
  sed -i \
    -e "s/^\( *SIFBAKE_RELEASE: \)\"[^\"]*\"$/\1\"$version\"/" \
    -e "s/^\( *SIFBAKE_RELEASE_SHA256_X86_64: \)\"[^\"]*\"$/\1\"$x86_64\"/" \
    -e "s/^\( *SIFBAKE_RELEASE_SHA256_AARCH64: \)\"[^\"]*\"$/\1\"$aarch64\"/" \
    "$file"
  if [ "$(grep -c "SIFBAKE_RELEASE_SHA256_X86_64: \"$x86_64\"" "$file")" = 0 ]; then
    echo "error: could not pin the sha256 in $file" >&2
    exit 1
  fi
done
echo "pinned sifbake $version: action/checksums/v$version.sha256, templates/sifbake.yml, .gitlab-ci-template.yml"
