#!/usr/bin/env bash
# qcow2 helpers of the e2e suites (test_qcow2*.sh source it after lib.sh): data through a
# chain, the chain's shape, whole-disk captures in $CAP. Each defined here once.

# w DISK PATTERN OFFSET_MIB [FORMAT]: writes 1 MiB through the chain (a failure fails the suite)
w() { qemu-io -f "${4:-qcow2}" -c "write -P $2 $3M 1M" "$1" >/dev/null 2>&1 || fail "write $2 at $3M through $1"; }
# r DISK PATTERN OFFSET_MIB [FORMAT]: that 1 MiB reads back as PATTERN
r() { qemu-io -r -U -f "${4:-qcow2}" -c "read -P $2 $3M 1M" "$1" >/dev/null 2>&1; }
# host_reads HOST DISK PATTERN OFFSET_MIB [FORMAT]: the same, read on HOST
host_reads() { on "$1" qemu-io -r -U -f "${5:-qcow2}" -c "read -P $3 $4M 1M" "$2" >/dev/null; }
# capture NAME DISK [FORMAT]: the guest-visible content, as a raw file
capture() { qemu-img convert -U -f "${3:-qcow2}" -O raw "$2" "$CAP/$1" || fail "capture $1"; }
# same DISK NAME [FORMAT]: DISK reads exactly as capture NAME (beyond its end: zeros)
same() { qemu-img compare -q -U -f "${3:-qcow2}" -F raw "$1" "$CAP/$2"; }
json() { qemu-img info -U --output=json "$@"; }
key() { sed -n "s/^ *\"$1\": \"\(.*\)\",\{0,1\}$/\1/p"; }       # a string value
nkey() { sed -n "s/^ *\"$1\": \([0-9]*\),\{0,1\}$/\1/p"; }        # a number
backing() { json "$1" | key backing-filename; }
backing_fmt() { json "$1" | key backing-filename-format; }
vsize() { json "$1" | nkey virtual-size | head -1; }
link_is() { [ "$(readlink "$1")" = "$2" ] || { echo "$1 -> $(readlink "$1"), wanted $2"; return 1; }; }
# chain_is DISK FILE...: qemu-img walks DISK's chain through exactly these files (by realpath)
chain_is() {
    local d=$1; shift
    local got want f
    got=$(json --backing-chain "$d" | key filename | while read -r f; do readlink -f "$f"; done) || return 1
    want=$(for f in "$@"; do readlink -f "$f"; done)
    [ "$got" = "$want" ] || { echo "chain of $d:"; echo "$got"; echo "wanted:"; echo "$want"; return 1; }
}
# clean FILE...: qemu-img check passes on each qcow2 layer
clean() {
    local f
    for f; do qemu-img check -q -U -f qcow2 "$f" || { echo "check failed: $f"; return 1; }; done
}
# clean_dir DIR: the same for every qcow2 layer file in DIR (and there is one)
clean_dir() {
    local f n=0
    for f in "$1"/[0-9]*; do
        [ -L "$f" ] && continue
        clean "$f" || return 1
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}

# domain_xml NAME DISK FORMAT [MORE_DEVICES]: a QEMU/TCG domain (no guest OS) with DISK as vda
domain_xml() {
    cat <<XML
<domain type='qemu'><name>$1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='$3'/><source file='$2'/>
      <target dev='vda' bus='virtio'/></disk>${4:-}
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/></devices></domain>
XML
}
