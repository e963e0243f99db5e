#!/usr/bin/env bash
# Install the system packages that some tests need, from Debian's archive, when they are missing:
#   postgresql  the feedback, replay-cache and scale-out tests on a real PostgreSQL
#   chromium    the browser tests (/usr/bin/chromium)
# Works as root or through password-less sudo. Never fails the run: when a package cannot be
# installed (no apt, no root, no network) it says why and carries on, and the tests that need it
# skip with their own reason.
set -uo pipefail

say() { echo "ci-system-packages: $*" >&2; }

have_postgresql() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; }
have_chromium() { [ -x /usr/bin/chromium ]; }

missing=()
have_postgresql || missing+=(postgresql)
have_chromium || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  say "postgresql and chromium are already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  say "apt-get is not available: cannot install ${missing[*]}; the tests that need them will skip"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  say "not root and no password-less sudo: cannot install ${missing[*]}; their tests will skip"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
say "installing ${missing[*]} from the system's packages"
log=$(mktemp)
if ! "${as_root[@]}" apt-get update -qq >"$log" 2>&1; then
  say "apt-get update failed (continuing with the package lists there are):"
  tail -n 5 "$log" >&2
fi
# one package at a time, so that one that cannot be had does not keep the other out
for package in "${missing[@]}"; do
  if "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$package" >"$log" 2>&1; then
    say "installed $package"
  else
    say "could not install $package; the tests that need it will skip:"
    tail -n 5 "$log" >&2
  fi
done
rm -f "$log"
exit 0
