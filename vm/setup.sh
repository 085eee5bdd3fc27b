#!/usr/bin/env bash
# One-time host setup on Debian 12: QEMU, busybox for the guest, and the
# toolchain the reference kernel build needs. Idempotent. Runs as root;
# started by a user, it asks sudo (CI containers are root and often have no
# sudo at all, so the README's command says no sudo).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo bash "$0" "$@"; fi
  echo "setup: needs root, and sudo is not installed: run it as root" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
PACKAGES=(
  qemu-system-x86 busybox-static cpio          # boot: QEMU, guest userland, initramfs tools
  gcc libc6-dev binutils                       # static helpers (exec-probe, uselib32), strip
  make bc flex bison libelf-dev libssl-dev     # reference kernel build
  ccache patch xz-utils kmod dwarves
  chromium                                     # test/report-html.test.ts renders report.html headless
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
else
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
