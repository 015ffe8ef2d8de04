#!/usr/bin/env bash
# Installs what test/browser needs: Debian's Chromium at /usr/bin/chromium (driven by
# playwright-core, which cannot download a browser of its own here). Does nothing when it is
# already installed; otherwise runs apt-get update + install and fails loudly if that does not
# leave a working /usr/bin/chromium.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "install_browser: $CHROMIUM present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install_browser: ERROR: $CHROMIUM is missing and this script is not root (and there is no sudo) to run apt-get." >&2
    exit 1
  fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: ERROR: $CHROMIUM is missing and apt-get is not available: install Debian's 'chromium' package some other way." >&2
  exit 1
fi

echo "install_browser: $CHROMIUM missing; installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update; then
  echo "install_browser: ERROR: apt-get update failed (no network or no Debian mirror?)." >&2
  exit 1
fi
if ! $SUDO apt-get install -y --no-install-recommends chromium; then
  echo "install_browser: ERROR: apt-get install chromium failed." >&2
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "install_browser: ERROR: apt-get finished but $CHROMIUM does not exist." >&2
  exit 1
fi
if ! "$CHROMIUM" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; then
  echo "install_browser: ERROR: $CHROMIUM is installed but does not run." >&2
  exit 1
fi
echo "install_browser: installed $("$CHROMIUM" --version 2>/dev/null)"
