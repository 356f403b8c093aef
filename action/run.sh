#!/usr/bin/env bash
# Runs `sifbake <command>` for action.yml. Every input arrives as an environment variable
# (SIFBAKE_*, SYLABS_TOKEN); the binary reads them itself and writes the step outputs, the
# summary and the annotations. This script only picks the command and drops empty inputs.
set -euo pipefail

bin="${SIFBAKE_ACTION_BIN:-}"
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "::error title=sifbake::the sifbake binary was not installed (see the install step)"
  exit 2
fi

# The command is checked against a fixed list; the value itself is never echoed, so an
# input cannot smuggle a workflow command into the log.
command="${SIFBAKE_ACTION_COMMAND:-build}"
case "$command" in
  plan | build | tag) ;;
  *)
    echo "::error title=sifbake::the input \`command\` must be plan, build or tag"
    exit 2
    ;;
esac

# An input left empty means "the default": unset it, since sifbake reads an empty
# variable as an empty value (`SIFBAKE_JOBS=` is not a number).
for name in SIFBAKE_FILE SIFBAKE_DIRECTORY SYLABS_TOKEN SIFBAKE_REMOTE SIFBAKE_JOBS \
  SIFBAKE_FAIL_FAST SIFBAKE_TARGETS SIFBAKE_ARCH SIFBAKE_SINCE SIFBAKE_ALL SIFBAKE_EMULATE \
  SIFBAKE_DRY_RUN SIFBAKE_LOG_DIR SIFBAKE_SUMMARY SIFBAKE_GITHUB_TOKEN \
  SIFBAKE_GITHUB_STATUSES SIFBAKE_GITHUB_COMMENT; do
  if [ -z "${!name:-}" ]; then
    unset "$name"
  fi
done
# `--no-deps` requires `--targets`: only a `true` reaches sifbake.
if [ "${SIFBAKE_NO_DEPS:-}" != true ]; then
  unset SIFBAKE_NO_DEPS
fi
unset SIFBAKE_ACTION_BIN SIFBAKE_ACTION_COMMAND

exec "$bin" "$command"
