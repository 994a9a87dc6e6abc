#!/usr/bin/env bash
# Installs the system packages lab needs, if any is missing: QEMU, busybox, Debian's kernel
# source and the kernel build tools, iproute2 (for `ip netns exec` while debugging and for
# the topology benchmark). Idempotent; quiet when everything is there.
set -euo pipefail
packages=(
  qemu-system-x86 busybox-static linux-source-6.1
  build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils kmod
  iproute2 git
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci/deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
