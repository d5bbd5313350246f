#!/usr/bin/env bash
# Installs what building and testing onestor needs, from Debian's archive. Idempotent:
# does nothing when every package is already installed.
set -euo pipefail
PKGS=(cmake g++ make pkg-config libtinyxml2-dev libboost-dev libspdlog-dev libfmt-dev doctest-dev
      nlohmann-json3-dev libxxhash-dev qemu-utils genisoimage xorriso openssh-server openssh-client
      e2fsprogs xfsprogs util-linux coreutils procps bc
      libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-block-extra
      user-mode-linux kmod lvm2 thin-provisioning-tools iproute2
      libcurl4-openssl-dev libssl-dev libarchive-dev nginx openssl python3 curl time
      gzip bzip2 xz-utils zstd tar zip
      clang libclang-rt-dev clang-format
      ceph-mon ceph-mgr ceph-osd ceph-common radosgw
      mmdebstrap podman runc lintian)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
