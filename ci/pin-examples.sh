#!/usr/bin/env bash
# Pins the action in the example workflows and the README by the commit a release tag
# names, with the version in a comment, as zizmor's unpinned-uses wants actions pinned:
#
#   ci/pin-examples.sh VERSION COMMIT
#
#   uses: sifbake/sifbake@<COMMIT> # v<VERSION>
#
# .github/workflows/release.yml runs it after pushing the tag: the commit that carries the
# tag cannot name itself, so the pin is a commit of its own on the branch.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
  echo "usage: ci/pin-examples.sh VERSION COMMIT" >&2
  exit 2
fi
version="$1"
commit="$2"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]]; then
  echo "error: $version is not a version such as 0.2.0" >&2
  exit 2
fi
if ! [[ "$commit" =~ ^[0-9a-f]{40}$ ]]; then
  echo "error: $commit is not a full commit hash (40 hex)" >&2
  exit 2
fi

files=(examples/.github/workflows/*.yml README.md)
sed -i -E "s~(uses: sifbake/sifbake@)[^ ]+( # v[^ ]+)?\$~\1$commit # v$version~" "${files[@]}"
if grep -n 'uses: sifbake/sifbake@' "${files[@]}" | grep -v "@$commit # v$version\$"; then
  echo "error: the lines above are not pinned to $commit" >&2
  exit 1
fi
echo "pinned sifbake/sifbake@$commit # v$version in ${files[*]}"
