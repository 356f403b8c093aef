#!/usr/bin/env bash
# Checks the CI wrappers with the real tools (installed by ci/install-wrapper-tools.sh):
#
#   ShellCheck         action/*.sh, ci/*.sh
#   scripts            ci/test-action-scripts.sh (install.sh, run.sh without a network)
#   consistency        the GitLab component and template run the same script and pin the
#                      version in Cargo.toml; ci/release-pin.sh pins them all
#   actionlint         action.yml's workflows and the example workflows with `uses: ./`
#   zizmor             action.yml and the same workflows; the example workflows as
#                      copied (every action pinned by commit); ci/pin-examples.sh
#   check-jsonschema   action.yml, the workflows, the GitLab templates and examples; the
#                      manifest schema over every example manifest
#   act                .github/workflows/test-action.yml: `uses: ./` on the examples, emulated;
#                      the examples' fan-out.yml (a job per image, level by level) against
#                      scs-emulator
#   gitlab-ci-local    the component (a merge request built ephemerally, with and without
#                      a token; a default-branch build and a downstream job reading the
#                      dotenv report; a tag promoted by `tag`, sifbake built from the
#                      component's commit) and the classic template (no release pinned:
#                      built from source), against scs-emulator; the child pipeline of
#                      `plan --format gitlab-pipeline`, each job installing the release
#                      with the component's script
#
# Needs the debug builds of sifbake and scs-emulator (`cargo build --workspace`). Prints
# "N passed, N failed" and exits non-zero when anything failed.
# Single quotes around `bash -c` snippets and sed replacements are meant:
# shellcheck disable=SC2016
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

tools="${SIFBAKE_CI_TOOLS:-$HOME/.cache/sifbake-ci-tools}"
export PATH="$tools/venv/bin:$tools/npm/node_modules/.bin:$PATH"
sifbake="$repo/target/debug/sifbake"
emulator="$repo/target/debug/scs-emulator"
for binary in "$sifbake" "$emulator"; do
  if [ ! -x "$binary" ]; then
    echo "error: $binary is missing; run cargo build --workspace first" >&2
    exit 2
  fi
done

work="$(mktemp -d)"
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then
    kill "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
failures=()
# Runs a check, its output indented; counts it.
check() {
  local name="$1"
  shift
  local start=$SECONDS
  echo "=== $name"
  # In the background, not in the `if`: errexit is ignored in a condition's commands and
  # functions, and each step of a check must stop it.
  ("$@") >"$work/check.log" 2>&1 &
  if wait $!; then
    passed=$((passed + 1))
    sed 's/^/    /' "$work/check.log" | tail -n 15
    echo "--- ok: $name ($((SECONDS - start))s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    sed 's/^/    /' "$work/check.log" | tail -n 80
    echo "--- FAILED: $name ($((SECONDS - start))s)"
  fi
}

# A copy of the repository as committed plus what is not ignored, as a fresh git repository.
snapshot() {
  local into="$1"
  mkdir -p "$into"
  git -C "$repo" ls-files -z --cached --others --exclude-standard |
    (cd "$repo" && xargs -0 tar -cf - --no-recursion 2>/dev/null) | tar -xf - -C "$into"
  git -C "$into" init -q -b main
  git -C "$into" -c user.name=ci -c user.email=ci@sifbake.invalid add -A
  git -C "$into" -c user.name=ci -c user.email=ci@sifbake.invalid commit -q -m snapshot
}

# --- static checks -------------------------------------------------------------------

check "shellcheck" shellcheck action/*.sh ci/*.sh

check "action/install.sh and action/run.sh" bash ci/test-action-scripts.sh

consistency() {
  python3 - <<'EOF'
import re, sys
from ruamel.yaml import YAML  # check-jsonschema's YAML library, in the same venv
yaml = YAML(typ="safe")
component = list(yaml.load_all(open("templates/sifbake.yml")))
classic = yaml.load(open(".gitlab-ci-template.yml"))
action = yaml.load(open("action.yml"))
jobs = component[1]
assert list(jobs) == ["sifbake-build"], f"the component's jobs are {list(jobs)}"
script = jobs["sifbake-build"]["script"]
assert classic[".sifbake"]["script"] == script, "the template and the component run different scripts"
cargo = open("Cargo.toml").read()
version = re.search(r'^\[package\][^\[]*?^version = "([^"]+)"', cargo, re.M | re.S).group(1)
for name, variables in [
    ("sifbake-build", jobs["sifbake-build"]["variables"]),
    (".sifbake", classic[".sifbake"]["variables"]),
]:
    assert variables["SIFBAKE_RELEASE"] == version, f"{name} pins {variables['SIFBAKE_RELEASE']}, Cargo.toml says {version}"
    # The dotenv report's SIFBAKE_VERSION would override it in later jobs.
    assert "SIFBAKE_VERSION" not in variables, f"{name} installs by SIFBAKE_VERSION, which the dotenv report overrides"
inputs = component[0]["spec"]["inputs"]
body = open("templates/sifbake.yml").read().split("\n---\n", 1)[1]
used = set(re.findall(r"inputs\.([a-z-]+)", body))
assert used <= set(inputs), f"undeclared inputs used: {sorted(used - set(inputs))}"
assert used == set(inputs), f"inputs declared but unused: {sorted(set(inputs) - used)}"
# The component takes the action's inputs under the same names, but for GitHub's own and
# those GitLab names otherwise (manifest, directory, fail-fast). Registry credentials are
# masked CI/CD variables on GitLab (and CI_REGISTRY_* for its own registry), already in the
# job's environment: never component inputs, which would sit in the pipeline's YAML.
github_only = {"token", "keep-going", "summary", "github-token", "github-statuses", "github-comment",
               "release-url", "working-directory", "registry-username", "registry-password"}
missing = set(action["inputs"]) - github_only - set(inputs)
assert not missing, f"the component lacks the action's inputs {sorted(missing)}"
for name in ["SIFBAKE_COMMAND", "SIFBAKE_SINCE", "SIFBAKE_ALL", "SIFBAKE_DRY_RUN", "SIFBAKE_LOG_DIR"]:
    assert name in classic["variables"], f"the template does not set {name}"
print(f"one script in both files; version {version} pinned everywhere; {len(inputs)} inputs, the action's among them")
EOF
}
check "GitLab component and template agree" consistency

release_pin() {
  local copy="$work/release-pin"
  snapshot "$copy"
  local version
  version="$(awk '/^\[/ { p = ($0 == "[package]") } p && /^version *= *"/ { gsub(/^version *= *"|".*$/, ""); print; exit }' "$copy/Cargo.toml")"
  printf '%s  %s\n' \
    "$(printf a%.0s {1..64})" "sifbake-v$version-x86_64-unknown-linux-musl.tar.gz" \
    "$(printf b%.0s {1..64})" "sifbake-v$version-aarch64-unknown-linux-musl.tar.gz" >"$work/sums"
  bash "$copy/ci/release-pin.sh" "$version" "$work/sums"
  cmp "$work/sums" "$copy/action/checksums/v$version.sha256"
  grep -q "SIFBAKE_RELEASE_SHA256_X86_64: \"$(printf a%.0s {1..64})\"" "$copy/templates/sifbake.yml"
  grep -q "SIFBAKE_RELEASE_SHA256_AARCH64: \"$(printf b%.0s {1..64})\"" "$copy/.gitlab-ci-template.yml"
  test "$(git -C "$copy" diff --stat | tail -n 1 | grep -o '[0-9]* files\? changed')" = "2 files changed"
  if bash "$copy/ci/release-pin.sh" 9.9.9 "$work/sums"; then return 1; fi
}
check "ci/release-pin.sh pins a release in the action and the GitLab files" release_pin

# The workflows as actionlint and zizmor see them: this repository's, and the examples with
# `uses: sifbake/sifbake@…` pointed at this checkout (`uses: ./`), so actionlint checks
# every `with:` against action.yml.
lint="$work/lint"
mkdir -p "$lint/.github/workflows"
cp -r action.yml action "$lint/"
cp .github/zizmor.yml "$lint/.github/"
cp .github/workflows/*.yml "$lint/.github/workflows/"
for workflow in examples/.github/workflows/*.yml; do
  sed -E 's#uses: sifbake/sifbake@[^ ]+#uses: ./#' "$workflow" >"$lint/.github/workflows/example-$(basename "$workflow")"
done
git -C "$lint" init -q

check "actionlint (with shellcheck) on the workflows" \
  bash -c 'cd "$1" && actionlint -no-color -verbose' _ "$lint"

check "zizmor on action.yml and the workflows" \
  bash -c 'cd "$1" && zizmor --offline --no-progress .' _ "$lint"

# The examples as a user copies them: every action pinned by a full commit with its
# version in a comment, so zizmor has nothing to report (unpinned-uses above all).
examples_as_copied() {
  local unpinned
  unpinned="$(grep -nE '^ *(- )?uses:' examples/.github/workflows/*.yml | grep -Ev 'uses: [^ ]+@[0-9a-f]{40} # v[0-9][^ ]*$' || true)"
  if [ -n "$unpinned" ]; then
    printf 'not pinned by commit with the version in a comment:\n%s\n' "$unpinned"
    return 1
  fi
  zizmor --offline --no-progress examples
}
check "zizmor on the example workflows as copied (actions pinned by commit)" examples_as_copied

pin_examples() {
  local copy="$work/pin-examples" commit
  snapshot "$copy"
  commit="$(printf 'c%.0s' {1..40})"
  bash "$copy/ci/pin-examples.sh" 9.8.7 "$commit"
  test "$(grep -c "uses: sifbake/sifbake@$commit # v9.8.7\$" "$copy"/examples/.github/workflows/*.yml "$copy/README.md" | awk -F: '{ n += $2 } END { print n }')" \
    = "$(grep -c 'uses: sifbake/sifbake@' "$copy"/examples/.github/workflows/*.yml "$copy/README.md" | awk -F: '{ n += $2 } END { print n }')"
  git -C "$copy" diff --stat
  if bash "$copy/ci/pin-examples.sh" 9.8.7 v9.8.7; then return 1; fi
}
check "ci/pin-examples.sh pins the examples to a release's commit" pin_examples

jsonschema() {
  python3 - "$work" <<'EOF'
import sys
work = sys.argv[1]
head, body = open("templates/sifbake.yml").read().split("\n---\n", 1)
open(f"{work}/component-spec.yml", "w").write(head + "\n")
open(f"{work}/component-jobs.yml", "w").write(body)
EOF
  check-jsonschema --builtin-schema vendor.github-actions action.yml
  check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml examples/.github/workflows/*.yml
  check-jsonschema --builtin-schema vendor.gitlab-ci "$work/component-spec.yml" "$work/component-jobs.yml" \
    .gitlab-ci-template.yml examples/.gitlab-ci.yml examples/gitlab-ci-classic.yml
}
check "check-jsonschema (GitHub action and workflows, GitLab CI)" jsonschema

# The manifest schema (schema/sifbake.schema.json, generated from the types that parse the
# manifest): every example manifest names it and passes it; so does every manifest sifbake
# accepts among tests/cases/, and manifests with unknown keys fail it as they fail sifbake.
manifest_schema() {
  local schema_url="https://raw.githubusercontent.com/sifbake/sifbake/main/schema/sifbake.schema.json"
  local manifests=() valid=() invalid=() file
  while IFS= read -r -d '' file; do manifests+=("$file"); done < <(find examples -name 'sifbake*.yaml' -print0)
  test ${#manifests[@]} -gt 0
  for file in "${manifests[@]}"; do
    if ! grep -qxF "# yaml-language-server: \$schema=$schema_url" "$file"; then
      echo "$file does not name the schema ($schema_url)"
      return 1
    fi
  done
  check-jsonschema --schemafile schema/sifbake.schema.json "${manifests[@]}"
  for file in tests/cases/*/expect; do
    if grep -qx 'exit: 0' "$file"; then valid+=("${file%/expect}/sifbake.yaml"); fi
  done
  check-jsonschema --schemafile schema/sifbake.schema.json "${valid[@]}"
  for file in unknown-key unknown-top-level-key publish-unknown-key; do
    invalid+=("tests/cases/$file/sifbake.yaml")
  done
  for file in "${invalid[@]}"; do
    if check-jsonschema --schemafile schema/sifbake.schema.json "$file" >/dev/null; then
      echo "$file passes the schema, but sifbake refuses it"
      return 1
    fi
  done
  echo "${#manifests[@]} example and ${#valid[@]} test manifests pass the schema; ${#invalid[@]} with unknown keys fail it"
}
check "check-jsonschema: the manifest schema over the example manifests" manifest_schema

# --- act: the action, run as GitHub would -----------------------------------------------

# A release of this checkout's sifbake laid out as the release workflow makes it (the
# archive of this machine's build stands in for the static one): the wrappers download it
# from a file:// URL and check it against its sha256 as they would a real release.
version="$(awk '/^\[/ { p = ($0 == "[package]") } p && /^version *= *"/ { gsub(/^version *= *"|".*$/, ""); print; exit }' Cargo.toml)"
release_name="sifbake-v$version-x86_64-unknown-linux-musl"
mkdir -p "$work/release/$release_name"
strip -o "$work/release/$release_name/sifbake" "$sifbake"
tar -czf "$work/release/$release_name.tar.gz" -C "$work/release" "$release_name"
release_sha256="$(sha256sum "$work/release/$release_name.tar.gz" | cut -d' ' -f1)"

act_run() {
  local copy="$work/act-repo" name="$release_name"
  snapshot "$copy"
  # The release's sha256 committed in the action: install.sh downloads the archive
  # (file://), checks it and caches it.
  printf '%s  %s\n' "$release_sha256" "$name.tar.gz" >"$copy/action/checksums/v$version.sha256"
  git -C "$copy" -c user.name=ci -c user.email=ci@sifbake.invalid add -A
  git -C "$copy" -c user.name=ci -c user.email=ci@sifbake.invalid commit -q -m "pin the test release"
  # act's host mode keeps its work tree and the runner's tool cache under
  # $XDG_CACHE_HOME/act: a fresh one each time, so the first install really downloads.
  (
    cd "$copy"
    XDG_CACHE_HOME="$work/xdg-cache" act push --workflows .github/workflows/test-action.yml \
      -P ubuntu-latest=-self-hosted \
      --var SIFBAKE_RELEASE_URL="file://$work/release" \
      --action-offline-mode
  ) | tee "$work/act.log"
  grep -q "release $name.tar.gz, sha256 checked" "$work/act.log"
  grep -q "Job succeeded" "$work/act.log"
  echo "the action's steps:" && grep -E "sha256 checked|from the tool cache|(Success|Failure) - Main" "$work/act.log"
}
check "act: .github/workflows/test-action.yml (uses: ./, emulated build)" act_run

# examples/.github/workflows/fan-out.yml as a repository of the examples would run it: a plan
# job, then a matrix job per level, each image built by its own `build --no-deps` job on
# the images of the level before, against scs-emulator. The action is this checkout's.
# Starts an emulator of the check's own (the shared one's library holds the examples' images
# already) and writes its URL to $work/NAME.url. `check` runs a check in a subshell: the
# subshell's EXIT trap stops the emulator.
own_emulator() {
  local name="$1" url=""
  mkfifo "$work/$name.fifo"
  "$emulator" --token ci-token >"$work/$name.fifo" 2>"$work/$name.log" &
  own_emulator_pid=$!
  trap 'kill "$own_emulator_pid" 2>/dev/null || true; wait "$own_emulator_pid" 2>/dev/null || true' EXIT
  read -r -t 30 url <"$work/$name.fifo"
  test -n "$url"
  printf '%s\n' "$url" >"$work/$name.url"
}

act_fan_out() {
  local copy="$work/act-fan-out"
  own_emulator fan-out-emulator
  mkdir -p "$copy/.github/workflows"
  cp -r examples/. action.yml action Cargo.toml "$copy/"
  printf '%s  %s\n' "$release_sha256" "$release_name.tar.gz" >"$copy/action/checksums/v$version.sha256"
  sed -E 's#uses: sifbake/sifbake@[^ ]+#uses: ./#' examples/.github/workflows/fan-out.yml \
    >"$copy/.github/workflows/fan-out.yml"
  git -C "$copy" init -q -b main
  git -C "$copy" -c user.name=ci -c user.email=ci@sifbake.invalid add -A
  git -C "$copy" -c user.name=ci -c user.email=ci@sifbake.invalid commit -q -m "the examples"
  (
    cd "$copy"
    XDG_CACHE_HOME="$work/xdg-cache-fan-out" act push --workflows .github/workflows/fan-out.yml \
      -P ubuntu-latest=-self-hosted \
      --var SIFBAKE_RELEASE_URL="file://$work/release" \
      --var SYLABS_REMOTE="$(cat "$work/fan-out-emulator.url")" \
      --secret SYLABS_TOKEN=ci-token \
      --action-offline-mode
  ) >"$work/act-fan-out.log" 2>&1 || { tail -n 120 "$work/act-fan-out.log"; return 1; }
  grep -q "Job succeeded" "$work/act-fan-out.log"
  # Seven images, each built once by its own job, in level order.
  local built
  built="$(grep -oE '[a-z]+ \((amd64|arm64)\): built sha256' "$work/act-fan-out.log" | sort)"
  printf '%s\n' "$built"
  test "$(printf '%s\n' "$built" | wc -l)" -eq 7
  test "$(printf '%s\n' "$built" | sort -u | wc -l)" -eq 7
  if grep -q "which is not built yet" "$work/act-fan-out.log"; then return 1; fi
  # A re-run: every level's jobs find their image by digest tag and only retag.
  (
    cd "$copy"
    XDG_CACHE_HOME="$work/xdg-cache-fan-out" act push --workflows .github/workflows/fan-out.yml \
      -P ubuntu-latest=-self-hosted \
      --var SIFBAKE_RELEASE_URL="file://$work/release" \
      --var SYLABS_REMOTE="$(cat "$work/fan-out-emulator.url")" \
      --secret SYLABS_TOKEN=ci-token \
      --action-offline-mode
  ) >"$work/act-fan-out-rerun.log" 2>&1 || { tail -n 80 "$work/act-fan-out-rerun.log"; return 1; }
  if grep -qE ': built sha256' "$work/act-fan-out-rerun.log"; then return 1; fi
  test "$(grep -c '0 built, 1 retagged' "$work/act-fan-out-rerun.log")" -ge 7
}
check "act: examples' fan-out.yml (a matrix job per level, build --no-deps, against scs-emulator)" act_fan_out

# `plan --format gitlab-pipeline` on the examples, and the child pipeline it writes run by
# gitlab-ci-local: a job per image, each after the jobs of its bases (`needs:`), each
# `build --no-deps` on their images, against an emulator of its own.
gitlab_pipeline() {
  local project="$work/gitlab-pipeline"
  own_emulator pipeline-emulator
  gitlab_project "$project"
  (cd "$project" && "$sifbake" plan --default-branch main --format gitlab-pipeline >sifbake-pipeline.yml)
  grep -q '^"analysis amd64":$' "$project/sifbake-pipeline.yml"
  # No sifbake on PATH: each job installs the release (file://, its sha256 pinned as a
  # pipeline variable, as the parent passes settings down) with the component's script.
  (
    cd "$project"
    gitlab-ci-local --force-shell-executor --no-color \
      --file sifbake-pipeline.yml --variable GITLAB_CI=true --variable SYLABS_TOKEN=ci-token \
      --variable "SIFBAKE_REMOTE=$(cat "$work/pipeline-emulator.url")" \
      --variable SIFBAKE_RELEASE_URL="file://$work/release" \
      --variable SIFBAKE_RELEASE_SHA256_X86_64="$release_sha256"
  ) >"$work/pipeline.log" 2>&1 || { tail -n 120 "$work/pipeline.log"; return 1; }
  if command -v sifbake >/dev/null 2>&1; then
    echo "a sifbake on PATH would hide a missing install step"
    return 1
  fi
  local passed built
  passed="$(grep -cE '^ *PASS +[a-z]+ (amd64|arm64)' "$work/pipeline.log")"
  built="$(grep -oE '[a-z]+ \((amd64|arm64)\): built sha256' "$work/pipeline.log" | sort -u)"
  printf '%s jobs passed; built:\n%s\n' "$passed" "$built"
  test "$passed" -eq 7
  test "$(printf '%s\n' "$built" | wc -l)" -eq 7
  if grep -q "which is not built yet" "$work/pipeline.log"; then return 1; fi
}

# --- gitlab-ci-local: the component and the classic template ----------------------------

# The emulator prints its URL once it accepts connections: read it through a FIFO, which
# blocks until that line (or end of file, if the emulator dies first), with no polling.
start_emulator() {
  mkfifo "$work/emulator.fifo"
  "$emulator" --token ci-token >"$work/emulator.fifo" 2>"$work/emulator.log" &
  emulator_pid=$!
  local url=""
  if read -r -t 30 url <"$work/emulator.fifo" && [ -n "$url" ]; then
    printf '%s\n' "$url" >"$work/emulator.url"
    return 0
  fi
  echo "scs-emulator did not start:" >&2
  cat "$work/emulator.log" >&2
  return 1
}

# A GitLab project: the examples (with their .gitlab-ci.yml), the component and the
# template, and an origin that names it sifbake/sifbake, so the component include at
# $CI_COMMIT_SHA resolves to this checkout (gitlab-ci-local's local components).
gitlab_project() {
  local into="$1"
  mkdir -p "$into/templates"
  cp -r examples/. "$into/"
  cp templates/sifbake.yml "$into/templates/"
  cp .gitlab-ci-template.yml "$into/"
  # The examples pin a released component and template; here they are this checkout's.
  sed -i 's#component: \$CI_SERVER_FQDN/sifbake/sifbake/sifbake@.*#component: $CI_SERVER_FQDN/sifbake/sifbake/sifbake@$CI_COMMIT_SHA#' "$into/.gitlab-ci.yml"
  sed -i 's#- remote: https://raw.githubusercontent.com/sifbake/sifbake/.*/.gitlab-ci-template.yml#- local: .gitlab-ci-template.yml#' "$into/gitlab-ci-classic.yml"
  # This job image would be alpine; the shell executor runs it here.
  git -C "$into" init -q -b main
  git -C "$into" remote add origin https://gitlab.com/sifbake/sifbake.git
  git -C "$into" -c user.name=ci -c user.email=ci@sifbake.invalid add -A
  git -C "$into" -c user.name=ci -c user.email=ci@sifbake.invalid commit -q -m "the examples"
}

# A stand-in for cargo: records its arguments and "installs" this checkout's build where
# `cargo install --root ROOT` would, so the source install path runs in seconds.
stub_cargo() {
  mkdir -p "$work/stub-bin"
  cat >"$work/stub-bin/cargo" <<STUB
#!/bin/sh
printf '%s\\n' "\$*" >>"$work/cargo.log"
while [ \$# -gt 0 ]; do
  if [ "\$1" = --root ]; then mkdir -p "\$2/bin" && cp "$sifbake" "\$2/bin/sifbake"; fi
  shift
done
STUB
  chmod +x "$work/stub-bin/cargo"
}

# Runs gitlab-ci-local in a project with the shell executor (no Docker), sifbake and the
# stand-in cargo on PATH.
gitlab_ci_local() {
  local project="$1"
  shift
  (
    cd "$project"
    PATH="$work/stub-bin:$repo/target/debug:$PATH" gitlab-ci-local --force-shell-executor --no-color \
      --variable GITLAB_CI=true --variable SYLABS_TOKEN=ci-token \
      --variable "SIFBAKE_REMOTE=$(cat "$work/emulator.url")" "$@"
  )
}

gitlab_component() {
  local project="$work/gitlab-component"
  gitlab_project "$project"
  local base head
  base="$(git -C "$project" rev-parse HEAD)"
  # A merge request that changes one image: built ephemerally, nothing published.
  git -C "$project" checkout -q -b feature
  printf 'Bootstrap: docker\nFrom: alpine:3.21\n' >"$project/containers/bwa/Singularity.def"
  git -C "$project" -c user.name=ci -c user.email=ci@sifbake.invalid commit -q -am "a newer bwa"
  head="$(git -C "$project" rev-parse HEAD)"
  local mr=(--variable CI_PIPELINE_SOURCE=merge_request_event
    --variable CI_MERGE_REQUEST_IID=3 --variable CI_MERGE_REQUEST_DIFF_BASE_SHA="$base"
    --variable CI_MERGE_REQUEST_SOURCE_BRANCH_SHA="$head"
    --variable CI_MERGE_REQUEST_SOURCE_BRANCH_NAME=feature
    --variable CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main)
  gitlab_ci_local "$project" --variable SIFBAKE_INSTALL=preinstalled "${mr[@]}" | tee "$work/mr.log"
  grep -q "PASS  sifbake-build" "$work/mr.log"
  grep -qx "SIFBAKE_PUBLISH=ephemeral" "$project/sifbake.env"
  grep -qx "SIFBAKE_CHANGED_TARGETS=bwa" "$project/sifbake.env"
  grep -q '<testcase ' "$project/sifbake-junit.xml"
  echo "merge request: $(grep -E '^SIFBAKE_(PUBLISH|CHANGED_TARGETS)=' "$project/sifbake.env" | tr '\n' ' ')"
  # Without the token (a protected variable in an unprotected branch): emulated, not failed.
  rm -f "$project/sifbake.env"
  gitlab_ci_local "$project" --variable SIFBAKE_INSTALL=preinstalled "${mr[@]}" --variable SYLABS_TOKEN= |
    tee "$work/mr-no-token.log"
  grep -q "PASS  sifbake-build" "$work/mr-no-token.log"
  grep -q "no SYLABS_TOKEN in this merge request pipeline" "$work/mr-no-token.log"
  grep -qx "SIFBAKE_PUBLISH=ephemeral" "$project/sifbake.env"

  # The default branch: the build job publishes, the downstream job gets the refs.
  git -C "$project" checkout -q main
  rm -f "$project/sifbake.env"
  # The release path of the script: the archive checked against a pinned sha256.
  gitlab_ci_local "$project" --variable SIFBAKE_RELEASE_URL="file://$work/release" \
    --variable SIFBAKE_RELEASE_SHA256_X86_64="$release_sha256" | tee "$work/main.log"
  grep -q "PASS  sifbake-build" "$work/main.log"
  grep -q "PASS  announce-images" "$work/main.log"
  test "$(grep -c '^library://acme-lab/[a-z]*/[a-z]*:sha256\.[0-9a-f]\{64\}$' "$project/built-images.txt")" = 7
  test "$(grep -c '<testcase ' "$project/sifbake-junit.xml")" = 7
  if grep -q '<failure' "$project/sifbake-junit.xml"; then return 1; fi
  test -f "$project/sifbake-logs/base-amd64.log"
  echo "announce-images received:" && cat "$project/built-images.txt"

  # A release tag on that commit: `tag` by default, promoting without a build; sifbake built
  # from source at the component's own commit (install: source).
  git -C "$project" tag v1.2.3
  rm -f "$project/sifbake.env" "$work/cargo.log"
  gitlab_ci_local "$project" --variable SIFBAKE_INSTALL=source --variable CI_COMMIT_TAG=v1.2.3 \
    --variable CI_COMMIT_REF_NAME=v1.2.3 --variable CI_COMMIT_BRANCH= | tee "$work/tag.log"
  local commit
  commit="$(git -C "$project" rev-parse HEAD)"
  grep -q "PASS  sifbake-build" "$work/tag.log"
  grep -q "0 built, 7 retagged" "$work/tag.log"
  grep -q "building sifbake $version from .* at commit $commit .* this takes 5 to 15 minutes" "$work/tag.log"
  grep -q "built from source in [0-9]*s" "$work/tag.log"
  grep -q -- "--git https://github.com/sifbake/sifbake --rev $commit sifbake" "$work/cargo.log"
  echo "tag pipeline: $(grep -o '0 built, 7 retagged' "$work/tag.log" | head -n 1); cargo $(cat "$work/cargo.log")"
}

gitlab_classic() {
  local project="$work/gitlab-classic"
  gitlab_project "$project"
  # The same images again, through the classic template: found by digest, only retagged.
  # No release is pinned in the template as committed: it builds sifbake from source, from
  # the default branch when the version has no tag.
  rm -f "$work/cargo.log"
  git init -q --bare "$work/source.git"
  gitlab_ci_local "$project" --file gitlab-ci-classic.yml \
    --variable SIFBAKE_SOURCE_URL="file://$work/source.git" | tee "$work/classic.log"
  grep -q "PASS  sifbake-build" "$work/classic.log"
  grep -q "PASS  announce-images" "$work/classic.log"
  grep -q "0 built, 7 retagged" "$work/classic.log"
  grep -q "no release binary of sifbake $version is pinned" "$work/classic.log"
  grep -q "at the default branch" "$work/classic.log"
  grep -q -- "--git file://$work/source.git sifbake$" "$work/cargo.log"
  test "$(grep -c '^library://' "$project/built-images.txt")" = 7
}

stub_cargo
if start_emulator; then
  check "gitlab-ci-local: the component (merge request ephemeral, default-branch build, dotenv downstream, tag promoted, source install)" gitlab_component
  check "gitlab-ci-local: the classic template include (no release pinned: built from source)" gitlab_classic
  check "gitlab-ci-local: plan --format gitlab-pipeline's child pipeline (a job per image, needs: along the DAG)" gitlab_pipeline
else
  failed=$((failed + 1))
  failures+=("scs-emulator")
fi

echo
if [ "$failed" -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "wrappers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
