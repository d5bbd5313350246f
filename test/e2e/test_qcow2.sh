#!/usr/bin/env bash
# TM_MAD=qcow2 offline: overlay clones, snapshot chains that never break, persistent images'
# snapshots beside the image, hostile images refused. After every change: qemu-img check is
# clean, the chain is the expected one, and data written through the chain reads back.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" shared
V=$DS/0/42
mkdir -p "$DS/1"
qemu-img create -q -f raw "$DS/1/base" 64M
qemu-io -f raw -c 'write -P 0x11 0 1M' "$DS/1/base" >/dev/null
BASESUM=$(sum "$DS/1/base")
qemu-img create -q -f raw "$DS/1/pers" 64M
vm_xml 42 host01 shared "0:YES:$DS/1/base:128:64:raw:qcow2" "1:NO:$DS/1/pers:64:64:raw:qcow2"

writes() { on host01 qemu-io -f qcow2 -c "write -P $2 1M 1M" "$1" >/dev/null; }
reads() { on host01 qemu-io -f qcow2 -c "read -P $2 1M 1M" "$1" >/dev/null 2>&1; }
chain_ok() { on host01 qemu-img check -q "$1" && on host01 qemu-img info --backing-chain "$1" >/dev/null; }
links_resolve() {  # every link in the VM dir and snapshot dirs resolves
    local l
    for l in $(find "$V" "$DS/1" -type l); do [ -e "$l" ] || { echo "dangling: $l"; return 1; }; done
}
no_self_reference() {
    local f b
    for f in $(find "$V/" "$DS/1/" -type f); do
        b=$(qemu-img info -U --output=json "$f" 2>/dev/null | sed -n 's/.*"full-backing-filename": "\([^"]*\)".*/\1/p')
        [ -z "$b" ] || [ "$(readlink -f "$b")" != "$(readlink -f "$f")" ] || { echo "self reference: $f"; return 1; }
    done
}

expect_ok "clone: an overlay" "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
check "disk.0 -> disk.0.snap/0" test "$(readlink "$V/disk.0")" = disk.0.snap/0
check "self link disk.0.snap/disk.0.snap -> ." test "$(readlink "$V/disk.0.snap/disk.0.snap")" = .
check "layer 0 backs onto the image, format explicit" \
    test "$(qemu-img info --output=json "$V/disk.0.snap/0" | grep -c '"backing-filename-format": "raw"')" = 1
check "the overlay grew to SIZE" test "$(qemu-img info --output=json "$V/disk.0" | grep -o '"virtual-size": [0-9]*')" = '"virtual-size": 134217728'
check "the overlay is kilobytes" test "$(du -k "$V/disk.0.snap/0" | cut -f1)" -lt 1024
check "reads the image's data through the chain" on host01 sh -c "qemu-io -f qcow2 -c 'read -P 0x11 0 1M' $V/disk.0 >/dev/null"

# three snapshots, revert to the first, delete the second, export: the sequence that broke upstream
writes "$V/disk.0" 0xa0
expect_ok "snap_create 0" "$R/tm/qcow2/snap_create" "host01:$V/disk.0" 0 42 1
writes "$V/disk.0" 0xa1
expect_ok "snap_create 1" "$R/tm/qcow2/snap_create" "host01:$V/disk.0" 1 42 1
writes "$V/disk.0" 0xa2
expect_ok "snap_create 2" "$R/tm/qcow2/snap_create" "host01:$V/disk.0" 2 42 1
writes "$V/disk.0" 0xa3
check "disk.0 -> layer 3" test "$(readlink "$V/disk.0")" = disk.0.snap/3
check "chain after 3 snapshots" chain_ok "$V/disk.0"
check "chain depth 5 (3 -> 2 -> 1 -> 0 -> image)" test "$(qemu-img info --backing-chain "$V/disk.0" | grep -c '^image:')" = 5
expect_ok "snap_revert 0" "$R/tm/qcow2/snap_revert" "host01:$V/disk.0" 0 42 1
check "after revert the disk reads snapshot 0" reads "$V/disk.0" 0xa0
check "revert kept the link" test "$(readlink "$V/disk.0")" = disk.0.snap/3
expect_error "revert to the active layer is refused" "does not exist" "$R/tm/qcow2/snap_revert" "host01:$V/disk.0" 3 42 1
expect_ok "snap_delete 1 (it has a child: layer 2)" "$R/tm/qcow2/snap_delete" "host01:$V/disk.0" 1 42 1
check "layer 1 is gone" test ! -e "$V/disk.0.snap/1"
check "chain still clean" chain_ok "$V/disk.0"
expect_ok "snap_revert 2 (its parent was deleted)" "$R/tm/qcow2/snap_revert" "host01:$V/disk.0" 2 42 1
check "snapshot 2 still reads its own content" reads "$V/disk.0" 0xa2
check "and what it inherited from the image" on host01 sh -c "qemu-io -f qcow2 -c 'read -P 0x11 0 1M' $V/disk.0 >/dev/null"
expect_ok "cpds: a flattened export" "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/export" -1 42 1
check "the export stands alone" test -z "$(qemu-img info --output=json "$DS/1/export" | grep backing-filename)"
check "the export holds the disk's bytes" sh -c "qemu-io -f qcow2 -c 'read -P 0xa2 1M 1M' $DS/1/export >/dev/null"
expect_ok "cpds of snapshot 0" "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/export0" 0 42 1
check "the snapshot export holds snapshot 0" sh -c "qemu-io -f qcow2 -c 'read -P 0xa0 1M 1M' $DS/1/export0 >/dev/null"
check "no dangling link" links_resolve
check "no self reference" no_self_reference
check "the image was never written" test "$(sum "$DS/1/base")" = "$BASESUM"

# snapshot ids >= 10
for i in $(seq 3 12); do "$R/tm/qcow2/snap_create" "host01:$V/disk.0" "$i" 42 1 2>/dev/null; done
check "layers up to 13 exist" test -e "$V/disk.0.snap/13"
writes "$V/disk.0" 0xbb
expect_ok "snap_create 13" "$R/tm/qcow2/snap_create" "host01:$V/disk.0" 13 42 1
expect_ok "snap_revert 10" "$R/tm/qcow2/snap_revert" "host01:$V/disk.0" 10 42 1
check "snapshot 10 reads snapshot 2's content" reads "$V/disk.0" 0xa2
expect_ok "snap_delete 11" "$R/tm/qcow2/snap_delete" "host01:$V/disk.0" 11 42 1
expect_ok "snap_revert 13" "$R/tm/qcow2/snap_revert" "host01:$V/disk.0" 13 42 1
check "snapshot 13 reads its own content" reads "$V/disk.0" 0xbb
check "chain clean at depth > 10" chain_ok "$V/disk.0"

# a broken chain is refused before anything changes
mv "$V/disk.0.snap/12" "$T/away"
expect_error "a missing layer is detected" "cannot read the backing chain" "$R/tm/qcow2/snap_create" "host01:$V/disk.0" 14 42 1
mv "$T/away" "$V/disk.0.snap/12"

# persistent image: snapshots beside the image, surviving the VM
expect_ok "ln: persistent" "$R/tm/qcow2/ln" "frontend:$DS/1/pers" "host01:$V/disk.1" 42 1
check "<SOURCE>.snap/0 -> SOURCE" test "$(readlink "$DS/1/pers.snap/0")" = "$DS/1/pers"
check "disk.1 -> <SOURCE>.snap/0" test "$(readlink "$V/disk.1")" = "$DS/1/pers.snap/0"
check "disk.1.snap -> <SOURCE>.snap" test "$(readlink "$V/disk.1.snap")" = "$DS/1/pers.snap"
on host01 qemu-io -f raw -c 'write -P 0xc0 1M 1M' "$V/disk.1" >/dev/null
expect_ok "persistent snap_create 0" "$R/tm/qcow2/snap_create" "host01:$V/disk.1" 0 42 1
on host01 qemu-io -f qcow2 -c 'write -P 0xc1 1M 1M' "$V/disk.1" >/dev/null
expect_ok "persistent snap_revert 0" "$R/tm/qcow2/snap_revert" "host01:$V/disk.1" 0 42 1
check "persistent revert reads the snapshot" reads "$V/disk.1" 0xc0
expect_error "snapshot 0 of a persistent disk is the image" "is the persistent image itself" \
    "$R/tm/qcow2/snap_delete" "host01:$V/disk.1" 0 42 1
expect_ok "mvds: nothing to move" "$R/tm/qcow2/mvds" "host01:$V/disk.1" "$DS/1/pers" 42 1
expect_ok "mv to another system datastore path" "$R/tm/qcow2/mv" "host01:$V" "host01:$DS/7/42" 42 7
check "chains whole after the move (relative names)" chain_ok "$DS/7/42/disk.0"
expect_ok "mv back" "$R/tm/qcow2/mv" "host01:$DS/7/42" "host01:$V" 42 0
expect_ok "resize" "$R/tm/qcow2/resize" "host01:$V/disk.0" 256 42 1
check "resize grew the virtual size" test "$(qemu-img info --output=json "$V/disk.0" | grep -o '"virtual-size": [0-9]*')" = '"virtual-size": 268435456'
expect_ok "delete the VM dir" "$R/tm/qcow2/delete" "host01:$V" 42 0
check "persistent snapshots survive the VM" test -e "$DS/1/pers.snap/1" -a -L "$DS/1/pers.snap/0"
check "the images are intact" test "$(sum "$DS/1/base")" = "$BASESUM"

# standalone clones
ONESTOR_QCOW2_STANDALONE=yes expect_ok "clone with QCOW2_STANDALONE" "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
check "a standalone layer has no backing file" test -z "$(qemu-img info --output=json "$V/disk.0.snap/0" | grep backing-filename)"
check "and holds the image" on host01 sh -c "qemu-io -f qcow2 -c 'read -P 0x11 0 1M' $V/disk.0 >/dev/null"
"$R/tm/qcow2/delete" "host01:$V" 42 0 2>/dev/null

# hostile images, refused with nothing created
qemu-img create -q -f qcow2 -F raw -b /etc/shadow "$DS/1/evil-backing" 1M
qemu-img create -q -f qcow2 -o data_file="$T/outside-data" "$DS/1/evil-data" 1M
qemu-img create -q -f raw "$DS/1/raw-as-qcow2" 1M
vm_xml 42 host01 shared "0:YES:$DS/1/evil-backing:1:1:qcow2:qcow2" "1:YES:$DS/1/evil-data:1:1:qcow2:qcow2" \
    "2:YES:$DS/1/raw-as-qcow2:1:1:qcow2:qcow2" "3:NO:$DS/1/evil-backing:1:1:qcow2:qcow2"
before=$(find "$DS" | sort)
expect_error "a backing file of /etc/shadow" "backing file outside" "$R/tm/qcow2/clone" "frontend:$DS/1/evil-backing" "host01:$V/disk.0" 42 1
expect_error "an external data file" "external data file outside" "$R/tm/qcow2/clone" "frontend:$DS/1/evil-data" "host01:$V/disk.1" 42 1
expect_error "a raw file declared qcow2" "is not a valid qcow2 image" "$R/tm/qcow2/clone" "frontend:$DS/1/raw-as-qcow2" "host01:$V/disk.2" 42 1
expect_error "ln of a hostile image" "backing file outside" "$R/tm/qcow2/ln" "frontend:$DS/1/evil-backing" "host01:$V/disk.3" 42 1
check "nothing was created for hostile images" test "$(find "$DS" | sort)" = "$before"
e2e_finish
