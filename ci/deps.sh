#!/usr/bin/env bash
# Installs the system packages lab needs, if any is missing: QEMU, busybox, Debian's kernel
# source and the kernel build tools, iproute2 (for `ip netns exec` while debugging and for
# the topology benchmark), and the tools scenarios' `exec` steps commonly call: the guest
# sees the host's root filesystem (read-only 9p), so a program a step runs in the VM must be
# installed here. Idempotent; quiet when everything is there.
set -euo pipefail
packages=(
  qemu-system-x86 busybox-static linux-source-6.1
  build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils kmod
  iproute2 git
  # Guest tools for `exec` steps: ping (IPv4 and IPv6), ip/ss/tc/bridge (iproute2), nft,
  # conntrack, ethtool, tcpdump, ps/sysctl (procps), killall/fuser (psmisc),
  # nsenter/unshare/mount (util-linux).
  iputils-ping nftables conntrack ethtool tcpdump procps psmisc util-linux
  # Container runtime for `container` steps (pipe-limit: Debian 12's runc 1.1.5); its
  # rootfs is busybox-static (above).
  runc
  # libseccomp's headers and link library for the `libseccomp` crate: lab builds and exports
  # seccomp filters with Debian's libseccomp 2.5 (pipe-limit's export pipe, `lab affected`).
  libseccomp-dev
  # FUSE daemons for `fuse_daemon` steps (fuse-restart): Debian's fuse2fs (libfuse2) and its
  # image tool mke2fs (e2fsprogs); fuse3 for fusermount3 when debugging by hand.
  fuse2fs e2fsprogs fuse3
  # Reports: the HTML page is opened in headless Chromium by the regression suite; the KTAP
  # report is read back by the kernel's own KUnit parser (python3); ci/check-ci validates
  # the CI files with check-jsonschema, installed with pip into a venv.
  chromium python3 python3-venv
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
