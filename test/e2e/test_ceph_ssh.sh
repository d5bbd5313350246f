#!/usr/bin/env bash
# The `ceph` TM's .ssh variants: images in a real Ceph cluster (ceph_lib.sh), the VM's
# system datastore of TM_MAD=ssh on the sshd test hosts (ssh layout: each machine its own
# datastore tree), so each disk is a local file of its host. oned then calls
# tm/ceph/<action>.ssh: clone.ssh and ln.ssh export the image into the file, mvds.ssh and
# cpds.ssh import the file into the cluster, delete.ssh and resize.ssh work on the file.
# Checked: the files' bytes (sha256) against `rbd export` of the images, their allocation
# (sparse), the pool's volumes after each step (no .tmp/.old left), the refusals, and that
# nothing is left in the pool nor any temporary file on the hosts at the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ceph_lib.sh"
e2e_before_hosts() { ceph_start; }
ceph_cleanup() {
    ceph_stop
    e2e_cleanup
}
e2e_init "$@" ssh
trap ceph_cleanup EXIT
exec </dev/null
ceph_env
# onedatastore show -x 0: the system datastore is an ssh one (the VMs' disks are files of their hosts)
echo "<DATASTORE><ID>0</ID><NAME>system</NAME><TM_MAD>ssh</TM_MAD><BASE_PATH>$DS/0</BASE_PATH><TYPE>1</TYPE><TEMPLATE></TEMPLATE></DATASTORE>" > "$T/dss/0.xml"

scratch_dir SAFE /var/tmp/onestor-ceph-ssh.XXXX
mkdir -p "$DS/0" "$DS/1"
make_sparse "$SAFE/img.raw" 64
make_sparse "$SAFE/pers.raw" 32
IMGSUM=$(sum "$SAFE/img.raw") PERSSUM=$(sum "$SAFE/pers.raw")
expect_ok "DS cp: the image one/one-7 (64 MiB, sparse)" "$D/cp" "$(cdump PATH="$SAFE/img.raw")" 7
expect_ok "DS cp: the persistent image one/one-8 (32 MiB)" "$D/cp" "$(cdump PATH="$SAFE/pers.raw")" 8

V=$DS/0/42
F() { at host01 "$V/disk.$1"; }  # disk.N of VM 42 on host01, seen from here
size_of() { stat -c %s "$1"; }
alloc_of() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }
zero_after() { [ "$(tail -c +$(($2 + 1)) "$1" | tr -d '\0' | wc -c)" = 0 ]; }  # FILE OFFSET: only zeros from there
head_sum() { head -c "$2" "$1" | sha256sum | cut -d' ' -f1; }
# (as oned gives them for an ssh system datastore: DISK_TYPE FILE, the VMM reads the files)
VM_DISK_EXTRA="$VM_DISK_EXTRA<DISK_TYPE>FILE</DISK_TYPE>" vm_xml 42 host01 ssh "0:YES:one/one-7:64:64:raw:ceph" "1:NO:one/one-8:32:32:raw:ceph" "2:YES:one/one-7:96:64:raw:ceph"

echo "# clone.ssh: the image's snapshot exported into the host's local file"
expect_conns 1 0 "clone.ssh of one/one-7 to disk.0: one connection to host01" "$TM/clone.ssh" "frontend:one/one-7" "host01:$V/disk.0" 42 1
check "disk.0 is a file on host01 only" only_on "$V/disk.0" host01
check "its bytes are those of rbd export of one/one-7 (and the imported file)" test "$(sum "$(F 0)")" = "$(rsum one/one-7)" -a "$(sum "$(F 0)")" = "$IMGSUM"
# (rbd export skips the 4 MiB objects that hold no data: those of the 4 x 64 KiB of data, at most 4, are written)
check "it is 64 MiB, sparse (allocated $(alloc_of "$(F 0)") bytes, at most the 4 objects with data)" test "$(size_of "$(F 0)")" = $((64 << 20)) -a "$(alloc_of "$(F 0)")" -le $((16 << 20))
check "one/one-7@snap is made and protected, no volume is made" test "$(snaps_of one/one-7)" = snap -a "$(pool_ls)" = "one-7 one-8 "
check "the host's datastore is marked for local monitoring (.monitor: ssh)" test "$(cat "$(at host01 "$DS/0/.monitor")")" = ssh
expect_ok "clone.ssh again (a retry) is fine" "$TM/clone.ssh" "frontend:one/one-7" "host01:$V/disk.0" 42 1
check "... the same bytes" test "$(sum "$(F 0)")" = "$IMGSUM"
expect_ok "clone.ssh to disk.2, SIZE 96 > the image's 64 MiB" "$TM/clone.ssh" "frontend:one/one-7" "host01:$V/disk.2" 42 1
check "disk.2 is 96 MiB: the image's 64 MiB, then zeros" test "$(size_of "$(F 2)")" = $((96 << 20)) -a "$(head_sum "$(F 2)" $((64 << 20)))" = "$IMGSUM"
check "... zeros past 64 MiB, still sparse ($(alloc_of "$(F 2)") bytes)" eval 'zero_after "$(F 2)" $((64 << 20)) && [ "$(alloc_of "$(F 2)")" -le $((16 << 20)) ]'

echo "# ln.ssh, a guest's write, cpds.ssh, resize.ssh, mvds.ssh"
expect_ok "ln.ssh of the persistent one/one-8 to disk.1" "$TM/ln.ssh" "frontend:one/one-8" "host01:$V/disk.1" 42 1
check "disk.1 holds one/one-8's bytes" test "$(sum "$(F 1)")" = "$(rsum one/one-8)" -a "$(sum "$(F 1)")" = "$PERSSUM"
head -c 1048576 /dev/urandom | dd of="$(F 1)" bs=1M seek=5 conv=notrunc status=none  # the guest writes 1 MiB at 5 MiB
W=$(sum "$(F 1)")
check "the guest's write is in the file only (the image is as it was)" test "$W" != "$PERSSUM" -a "$(rsum one/one-8)" = "$PERSSUM"
expect_ok "cpds.ssh of disk.1 into one/one-11" "$TM/cpds.ssh" "host01:$V/disk.1" "one/one-11" -1 42 1
check "one/one-11 holds the file's bytes" test "$(rsum one/one-11)" = "$W"
expect_ok "cpds.ssh of disk.0 with EC_POOL_NAME (datastore 2) into one/one-12" "$TM/cpds.ssh" "host01:$V/disk.0" "one/one-12" -1 42 2
check "one/one-12 holds disk.0's bytes, its data in pool one_ec" test "$(rsum one/one-12)" = "$IMGSUM" -a "$("${RB[@]}" info --format json one/one-12 | grep -o '"data_pool":"[a-z_]*"')" = '"data_pool":"one_ec"'
used=$("${RB[@]}" du --format json one/one-11 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])')
check "the import wrote only the data (one/one-11 uses $used bytes, at most the 5 objects touched)" test "$used" -le $((20 << 20))
before=$(pool_ls)
expect_error "cpds.ssh of a snapshot is refused (as upstream)" "snapshot 0" "$TM/cpds.ssh" "host01:$V/disk.1" "one/one-13" 0 42 1
expect_error "cpds.ssh onto an existing image fails at the rename" "cannot rename" "$TM/cpds.ssh" "host01:$V/disk.1" "one/one-11" -1 42 1
check "... its temporary volume is removed, one/one-11 untouched" test "$(pool_ls)" = "$before" -a "$(rsum one/one-11)" = "$W"
expect_ok "resize.ssh disk.0 to 128 MiB" "$TM/resize.ssh" "host01:$V/disk.0" 128 42 1
check "disk.0 is 128 MiB, its first 64 MiB as they were, zeros after" eval '[ "$(size_of "$(F 0)")" = $((128 << 20)) ] && [ "$(head_sum "$(F 0)" $((64 << 20)))" = "$IMGSUM" ] && zero_after "$(F 0)" $((64 << 20))'
expect_error "resize.ssh cannot shrink" "cannot resize" "$TM/resize.ssh" "host01:$V/disk.0" 32 42 1
check "... disk.0 is still 128 MiB, one/one-7 still 64 MiB" test "$(size_of "$(F 0)")" = $((128 << 20)) -a "$(rsize one/one-7)" = $((64 << 20))
# (there is no $a.ssh: oned's TM driver then calls $a, the RBD action)
for a in snap_create snap_create_live snap_delete snap_revert; do
    expect_error "$a (oned's call for an ssh system datastore's disk) is refused for a disk in its host's file" "not supported" "$TM/$a" "host01:$V/disk.1" 0 42 1
done
check "... no snapshot was made of one/one-8" test -z "$(snaps_of one/one-8)"
"${RB[@]}" snap create one/one-8@keep >/dev/null 2>&1
expect_error "mvds.ssh into an image with snapshots is refused (the swap would lose them)" "snapshot 'keep'" "$TM/mvds.ssh" "host01:$V/disk.1" "one/one-8" 42 1
check "... nothing changed: the file, the image, its snapshot" test "$(sum "$(F 1)")" = "$W" -a "$(rsum one/one-8)" = "$PERSSUM" -a "$(snaps_of one/one-8)" = keep
"${RB[@]}" snap rm one/one-8@keep >/dev/null 2>&1
expect_error "mvds.ssh of a disk on another host than the VM's (undeployed) is refused" "undeployed" "$TM/mvds.ssh" "host02:$V/disk.1" "one/one-8" 42 1
# an @snap of earlier clones, none left (a clone made before the image became persistent)
"${RB[@]}" snap create one/one-8@snap >/dev/null 2>&1 && "${RB[@]}" snap protect one/one-8@snap >/dev/null 2>&1
expect_ok "mvds.ssh of disk.1 back into one/one-8 (it has a childless @snap)" "$TM/mvds.ssh" "host01:$V/disk.1" "one/one-8" 42 1
check "one/one-8 holds the written file's bytes" test "$(rsum one/one-8)" = "$W"
check "... and the childless @snap went first" test -z "$(snaps_of one/one-8)"
check "no .tmp or .old volume is left" test "$(pool_ls)" = "one-11 one-12 one-7 one-8 "
check "the local file is gone" test ! -e "$(F 1)"
expect_error "mvds.ssh again: the file is gone, the image stays" "does not exist" "$TM/mvds.ssh" "host01:$V/disk.1" "one/one-8" 42 1
check "... one/one-8 unchanged" test "$(rsum one/one-8)" = "$W"

echo "# delete.ssh: the local file goes, the image stays"
expect_ok "delete.ssh disk.0" "$TM/delete.ssh" "host01:$V/disk.0" 42 1
check "disk.0 is gone, one/one-7 stays" test ! -e "$(F 0)" -a "$(rsum one/one-7)" = "$IMGSUM"
expect_ok "delete.ssh disk.1 (already saved back: gone)" "$TM/delete.ssh" "host01:$V/disk.1" 42 1
expect_ok "delete.ssh disk.2" "$TM/delete.ssh" "host01:$V/disk.2" 42 1
expect_ok "the ssh system datastore's delete of the VM directory" "$R/tm/ssh/delete" "host01:$V" 42 0
check "VM 42's directory is gone, the images stay" test ! -e "$(at host01 "$V")" -a "$(pool_ls)" = "one-11 one-12 one-7 one-8 "

echo "# failures leave no temporary file or volume; hostile input is refused before anything"
V3=$DS/0/43
vm_xml 43 host02 ssh "0:YES:one/one-7:64:64:raw:ceph" "1:NO:one/one-8:32:32:raw:ceph" "2:YES:one/one-7:64:64:qcow2:ceph"
"$ONESTOR_SRC/test/ceph/cluster.sh" osd-stop "$CL"
t0=$SECONDS
expect_error "clone.ssh with the OSD down fails with a reason" "one/one-7" env ONESTOR_CEPH_TIMEOUT=5 ONESTOR_COPY_TIMEOUT=20 "$TM/clone.ssh" "frontend:one/one-7" "host02:$V3/disk.0" 43 1
check "... within 90 s ($((SECONDS - t0)) s), no disk.0 and no temporary file on host02" eval '[ $((SECONDS - t0)) -lt 90 ] && [ ! -e "$(at host02 "$V3/disk.0")" ] && no_temps'
if "$ONESTOR_SRC/test/ceph/cluster.sh" osd-start "$CL"; then pass "the OSD is back"; else fail "the OSD is back"; fi
mkdir -p "$(at host02 "$V3/disk.0/in-the-way")"
expect_error "clone.ssh onto a directory fails at the rename, after the export" "disk.0" "$TM/clone.ssh" "frontend:one/one-7" "host02:$V3/disk.0" 43 1
check "... its temporary file is removed, the directory untouched" eval 'no_temps && [ -d "$(at host02 "$V3/disk.0/in-the-way")" ]'
rm -rf "$(at host02 "$V3/disk.0")"
expect_ok "ln.ssh on host02" "$TM/ln.ssh" "frontend:one/one-8" "host02:$V3/disk.1" 43 1
F3=$(at host02 "$V3/disk.1")
mv "$F3" "$F3.aside" && mkdir "$F3"
expect_error "mvds.ssh whose import fails (disk.1 is a directory)" "cannot import" "$TM/mvds.ssh" "host02:$V3/disk.1" "one/one-8" 43 1
check "... one/one-8 as it was, no .tmp or .old left" test "$(rsum one/one-8)" = "$W" -a "$(pool_ls)" = "one-11 one-12 one-7 one-8 "
rmdir "$F3" && mv "$F3.aside" "$F3"
echo "AQBkYWZhAAAAABAAHEmDhQGh5QZ/7Sr0X2Vq3ZpNoCQ+E0S1Tg==" > "$SAFE/wrong.key"
sed -i "s|<CEPH_KEY>$KEY</CEPH_KEY>|<CEPH_KEY>$SAFE/wrong.key</CEPH_KEY>|g" "$T/vms/43.xml"
expect_error "mvds.ssh with a wrong key: refused by the cluster" "one/one-8" env ONESTOR_CEPH_TIMEOUT=5 "$TM/mvds.ssh" "host02:$V3/disk.1" "one/one-8" 43 1
check "... the file and the image are as they were, nothing left in the pool" test "$(sum "$(at host02 "$V3/disk.1")")" = "$W" -a "$(rsum one/one-8)" = "$W" -a "$(pool_ls)" = "one-11 one-12 one-7 one-8 "
vm_xml 43 host02 ssh "0:YES:one/one-7:64:64:raw:ceph" "1:NO:one/one-8:32:32:raw:ceph" "2:YES:one/one-7:64:64:qcow2:ceph"
# SIGTERM while rbd import writes the file into one/one-8.tmp: the import on host02 stops
# with the driver, the temporary volume goes, the image and the file stay as they were.
head -c $((256 << 20)) /dev/urandom | dd of="$F3" bs=1M seek=32 conv=notrunc status=none
F3SUM=$(sum "$F3")
importing() { on host02 pgrep -f "import --no-progress $V3/disk.1" >/dev/null; }
"$TM/mvds.ssh" "host02:$V3/disk.1" "one/one-8" 43 1 >"$T/stop.out" 2>"$T/stop.err" &
pid=$!
seen=no
for _ in $(seq 1 300); do importing && { seen=yes; break; }; sleep 0.1; done
kill -TERM "$pid"; wait "$pid" 2>/dev/null; STOP_RC=$?
check "SIGTERM mid-import (rbd import seen running on host02: $seen): mvds.ssh fails, saying it was interrupted" eval '[ "$seen" = yes ] && [ "$STOP_RC" -ne 0 ] && grep -q "interrupted by signal 15" "$T/stop.err"'
sleep 1
check "... the import on host02 stopped too" eval '! importing'
check "... one/one-8 as it was, no .tmp or .old left, the file intact" test "$(rsum one/one-8)" = "$W" -a "$(pool_ls)" = "one-11 one-12 one-7 one-8 " -a "$(sum "$F3")" = "$F3SUM"
expect_error "clone.ssh of a disk declared qcow2 is refused (RBD disks are raw)" "RBD disks are raw" "$TM/clone.ssh" "frontend:one/one-7" "host02:$V3/disk.2" 43 1
expect_error "hostile source refused" "RBD image name" "$TM/clone.ssh" "frontend:one/-rf" "host02:$V3/disk.0" 43 1
expect_error "hostile save-as name refused" "RBD image name" "$TM/cpds.ssh" "host02:$V3/disk.1" 'one/x;id' -1 43 1
expect_error "hostile mvds target refused" "RBD image name" "$TM/mvds.ssh" "host02:$V3/disk.1" 'one/$(id)' 43 1
expect_error "a disk path outside VM 43's directory refused" "43" "$TM/clone.ssh" "frontend:one/one-7" "host02:/etc/disk.0" 43 1
expect_error "another image than the disk's SOURCE refused" "SOURCE" "$TM/ln.ssh" "frontend:one/one-7" "host02:$V3/disk.1" 43 1
check "nothing was made in the pool, no disk.0 or disk.2 on host02" test "$(pool_ls)" = "one-11 one-12 one-7 one-8 " -a ! -e "$(at host02 "$V3/disk.0")" -a ! -e "$(at host02 "$V3/disk.2")"
expect_ok "mvds.ssh of host02's disk.1 (grown to 288 MiB) back into one/one-8" "$TM/mvds.ssh" "host02:$V3/disk.1" "one/one-8" 43 1
check "one/one-8 holds its bytes (288 MiB), no .tmp or .old left" test "$(rsum one/one-8)" = "$F3SUM" -a "$(rsize one/one-8)" = $((288 << 20)) -a "$(pool_ls)" = "one-11 one-12 one-7 one-8 "
expect_ok "delete VM 43's directory" "$R/tm/ssh/delete" "host02:$V3" 43 0

remove_all 7 8 11 12
check "no temporary file on any machine" no_temps
e2e_finish
