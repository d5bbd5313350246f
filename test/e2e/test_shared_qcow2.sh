#!/usr/bin/env bash
# From OpenNebula 6.2, tm/shared and tm/qcow2 are one driver (shared_qcow2.cpp): each disk
# by its FORMAT. Per caller release (remotes/VERSION 5.12.0, 6.10.0, 7.4.0), on the shared
# test hosts: a qcow2 image deployed through tm/shared, a raw one through tm/qcow2, a
# snapshot of each and its revert, the VM deleted. A 5.x caller gets each name's own driver
# (shared copies the qcow2 image, qcow2 overlays the raw one); a 6.2+ caller gets what its
# stock scripts make (shared overlays the qcow2 image in disk.0.snap, qcow2 copies the raw
# one). The guest sees the image's bytes either way.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/qcow2_lib.sh"
e2e_init "$@" shared

CAP=$T/cap
V=$DS/0/5
mkdir -p "$CAP" "$DS/0" "$DS/1"
grep -v '^PROTOCOL=' "$ONESTOR_CONF" > "$T/conf" && mv "$T/conf" "$ONESTOR_CONF"  # (the release from VERSION)
make_sparse "$DS/1/raw" 16
qemu-img convert -O qcow2 "$DS/1/raw" "$DS/1/qcow2"
capture image "$DS/1/raw" raw

for REL in 5.12.0 6.10.0 7.4.0; do
    echo "$REL" > "$R/VERSION"
    one=$([ "${REL%%.*}" -ge 6 ] && echo yes || echo no)
    echo "# caller $REL (one driver: $one)"
    vm_xml 5 host01 shared "0:YES:$DS/1/qcow2:16:16:qcow2:shared" "1:YES:$DS/1/raw:16:16:raw:qcow2"
    expect_ok "$REL: tm/shared clone of the qcow2 image" "$R/tm/shared/clone" "frontend:$DS/1/qcow2" "host01:$V/disk.0" 5 1
    expect_ok "$REL: tm/qcow2 clone of the raw image" "$R/tm/qcow2/clone" "frontend:$DS/1/raw" "host01:$V/disk.1" 5 1
    if [ "$one" = yes ]; then
        check "$REL: shared's qcow2 disk is an overlay on the image in disk.0.snap" eval \
            'link_is "$V/disk.0" disk.0.snap/0 && [ "$(backing "$V/disk.0.snap/0")" = "$DS/1/qcow2" ]'
        check "$REL: qcow2's raw disk is a plain copy" eval '[ -f "$V/disk.1" ] && [ ! -L "$V/disk.1" ] && [ ! -e "$V/disk.1.snap" ]'
    else
        check "$REL: shared's qcow2 disk is a plain copy" eval '[ -f "$V/disk.0" ] && [ ! -L "$V/disk.0" ] && [ -z "$(backing "$V/disk.0")" ]'
        check "$REL: qcow2's raw disk is an overlay on the image in disk.1.snap" eval \
            'link_is "$V/disk.1" disk.1.snap/0 && [ "$(backing "$V/disk.1.snap/0")" = "$DS/1/raw" ]'
    fi
    check "$REL: both disks read as the image" eval 'same "$V/disk.0" image qcow2 && same "$V/disk.1" image "$([ "$one" = yes ] && echo raw || echo qcow2)"'
    # A snapshot of shared's qcow2 disk, a write, the revert: the image's bytes again.
    expect_ok "$REL: snapshot 0 of shared's qcow2 disk" "$R/tm/shared/snap_create" "host01:$V/disk.0" 0 5 1
    if [ "$one" = yes ]; then
        check "$REL: the snapshot is a layer (disk.0 -> disk.0.snap/1, on 0)" eval \
            'link_is "$V/disk.0" disk.0.snap/1 && chain_is "$V/disk.0" "$V/disk.0.snap/1" "$V/disk.0.snap/0" "$DS/1/qcow2"'
    else
        check "$REL: the snapshot is a full copy (disk.0.snap/0)" eval '[ -f "$V/disk.0.snap/0" ] && [ ! -L "$V/disk.0" ]'
    fi
    w "$V/disk.0" 0x5c 2  # (a copy of the qcow2 image is a qcow2 file too)
    check "$REL: the write shows" r "$V/disk.0" 0x5c 2
    expect_ok "$REL: revert to snapshot 0" "$R/tm/shared/snap_revert" "host01:$V/disk.0" 0 5 1
    check "$REL: after the revert the disk reads as the image" same "$V/disk.0" image qcow2
    check "$REL: the image was never written" same "$DS/1/qcow2" image qcow2
    expect_ok "$REL: delete the VM directory" "$R/tm/shared/delete" "host01:$V" 5 0
    check "$REL: nothing left" test ! -e "$V"
done

e2e_finish
