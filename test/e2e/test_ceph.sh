#!/usr/bin/env bash
# DS_MAD=ceph and TM_MAD=ceph on a real single-host Ceph cluster (test/ceph/cluster.sh:
# mon, mgr, one BlueStore OSD on a sparse file, all on 127.0.0.1, started for this suite and
# stopped at exit, on failure too). host01 and host02 are the sshd test hosts, used as
# bridges and hypervisors: every rbd/ceph command runs there, as user client.oneadmin with
# the cluster's conf and key files (paths they see, as on real hosts).
# Checked after each step: which RBD volumes exist (`rbd ls`), their parents (`rbd info`),
# their content (sha256 of `rbd export`), and that nothing is left in the pool at the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ceph_lib.sh"
e2e_before_hosts() { ceph_start; }
ceph_cleanup() {
    ceph_stop
    if [ -n "${HW:-}" ]; then
        wait "$HPID" 2>/dev/null
        "$ONESTOR_SRC/test/e2e/httpsd.sh" stop "$HW" >/dev/null 2>&1
    fi
    e2e_cleanup
}
e2e_init "$@" shared
trap ceph_cleanup EXIT
exec </dev/null
ceph_env
# The HTTPS server of the URL imports (test/e2e/httpsd.sh, its own CA), started now, waited
# for before its section; ports as test_download.sh's.
WWW=$T/www HW=$T/httpsd
HPORT=${HTTPSD_PORT:-$((8443 + 4 * (${TESTHOSTS_PORT:-0} % 6)))}
mkdir -p "$WWW"
"$ONESTOR_SRC/test/e2e/httpsd.sh" start "$WWW" "$HW" "$HPORT" >"$T/httpsd.out" 2>&1 &
HPID=$!

scratch_dir SAFE /var/tmp/onestor-ceph.XXXX
mkdir -p "$DS/0" "$DS/1"

# A 64 MiB raw image with data at 0, 3, 32 and 63 MiB (holes elsewhere), a persistent one.
make_sparse "$SAFE/img.raw" 64
make_sparse "$SAFE/pers.raw" 32
IMGSUM=$(sum "$SAFE/img.raw") PERSSUM=$(sum "$SAFE/pers.raw")

echo "# DS: import, stat, monitor"
expect_ok "cp: import a 64 MiB sparse raw image" "$D/cp" "$(cdump PATH="$SAFE/img.raw")" 7
check "cp prints the SOURCE one/one-7 ('$OUT')" test "$OUT" = "one/one-7"
check "the volume holds the file's bytes (rbd export)" test "$(rsum one/one-7)" = "$IMGSUM"
check "its size is the file's" test "$(rsize one/one-7)" = $((64 << 20))
# Only the data was written (4 x 64 KiB; rbd du counts the 4 MiB objects they touch).
used=$("${RB[@]}" du --format json one/one-7 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])')
check "the volume holds only the data (used $used bytes, at most the 4 objects touched)" test "$used" -le $((16 << 20))
check "no temporary volume is left" test "$(pool_ls)" = "one-7 "
expect_ok "cp: the persistent image" "$D/cp" "$(cdump PATH="$SAFE/pers.raw")" 8
# export, for a marketplace: where to read it (as upstream: rbd://BRIDGE/SOURCE with the auth
# attributes), the MD5 of its bytes (rbd export on the bridge, or the template's), size, raw.
expect_ok "export" "$D/export" "$(cdump SOURCE=one/one-7 SIZE=64)" 7
RMD5=$("${RB[@]}" export --no-progress one/one-7 - 2>/dev/null | md5sum | cut -d' ' -f1)
WANT="<IMPORT_INFO><IMPORT_SOURCE><![CDATA[rbd://host01/one/one-7?CEPH_USER=oneadmin&CEPH_KEY=$KEY&CEPH_CONF=$CONF]]></IMPORT_SOURCE>"
WANT+="<MD5><![CDATA[$RMD5]]></MD5><SIZE><![CDATA[64]]></SIZE><FORMAT><![CDATA[raw]]></FORMAT><DISPOSE>NO</DISPOSE></IMPORT_INFO>"
check "export: IMPORT_INFO with the source, the volume's MD5, SIZE 64, raw, DISPOSE NO" test "$OUT" = "$WANT"
[ "$OUT" = "$WANT" ] || printf '#   got:  %s\n#   want: %s\n' "$OUT" "$WANT"
expect_ok "export of an image whose template has its MD5" "$D/export" "$(cdump SOURCE=one/one-7 SIZE=64 MD5=0123456789abcdef0123456789abcdef)" 7
check "export: the template's MD5 is given as it is" eval '[[ $OUT == *"<MD5><![CDATA[0123456789abcdef0123456789abcdef]]></MD5>"* ]]'
expect_error "export of a volume that does not exist" "does not exist" "$D/export" "$(cdump SOURCE=one/one-77 SIZE=64)" 77
expect_ok "stat" "$D/stat" "$(cdump PATH="$SAFE/img.raw")" 7
check "stat prints 64 ('$OUT')" test "$OUT" = 64
expect_ok "monitor" "$D/monitor" "$(cdump NO_IMAGE=1)" 1
check "monitor: USED_MB, TOTAL_MB, FREE_MB of the pool ('${OUT//$'\n'/ }')" eval '[[ $OUT =~ ^USED_MB=[0-9]+$'"'\n'"'TOTAL_MB=[1-9][0-9]*$'"'\n'"'FREE_MB=[1-9][0-9]*$ ]]'
expect_ok "mkfs: an empty 16 MiB image" "$D/mkfs" "$(cdump FSTYPE=raw SIZE=16)" 9
check "mkfs made one/one-9 of 16 MiB" test "$(rsize one/one-9)" = $((16 << 20))
expect_ok "clone: a full copy into a new image" "$D/clone" "$(cdump SOURCE=one/one-9 IMAGE_ID=10 | base64 -d | sed 's|<DATASTORE_ID>|<CLONING_ID>9</CLONING_ID><DATASTORE_ID>|' | base64 -w0)" 10
check "clone printed one/one-10, with no parent" test "$OUT" = one/one-10 -a -z "$(parent_of one/one-10)"
expect_ok "rm of the copy" "$D/rm" "$(cdump SOURCE=one/one-10 IMAGE_ID=10)" 10
expect_ok "rm of the empty image" "$D/rm" "$(cdump SOURCE=one/one-9 IMAGE_ID=9)" 9
check "both are gone" test "$(pool_ls)" = "one-7 one-8 "

echo "# TM: VM 42 on host01: a clone, a persistent disk"
V=$DS/0/42
vm_xml 42 host01 ceph "0:YES:one/one-7:96:64:raw:ceph" "1:NO:one/one-8:32:32:raw:ceph"
expect_ok "clone (96 MiB disk of the 64 MiB image)" "$TM/clone" "frontend:one/one-7" "host01:$V/disk.0" 42 1
check "one/one-42... named one-7-42-0 is an RBD clone of one/one-7@snap" test "$(parent_of one/one-7-42-0)" = "one/one-7@snap"
check "the clone is 96 MiB" test "$(rsize one/one-7-42-0)" = $((96 << 20))
check "the clone's first 64 MiB are the image's bytes" test "$("${RB[@]}" export --no-progress one/one-7-42-0 - 2>/dev/null | head -c $((64 << 20)) | sha256sum | cut -d' ' -f1)" = "$IMGSUM"
check "one/one-7@snap is protected" test "$("${RB[@]}" snap ls --format json one/one-7 | grep -c '"protected":"true"')" = 1
expect_ok "clone again (a retry) is fine" "$TM/clone" "frontend:one/one-7" "host01:$V/disk.0" 42 1
expect_ok "ln (persistent)" "$TM/ln" "frontend:one/one-8" "host01:$V/disk.1" 42 1
check "ln made nothing" test "$(pool_ls)" = "one-7 one-7-42-0 one-8 "
printf 'hello\n' > "$T/ctx.sh"
expect_ok "context (an ISO in the VM directory)" "$TM/context" "$T/ctx.sh" "host01:$V/disk.2" 42 0
check "the context ISO is a file" test -f "$V/disk.2"

echo "# TM: snapshots of the clone (create 3, revert, delete)"
A=$(rsum one/one-7-42-0)
expect_ok "snap_create 0" "$TM/snap_create" "host01:$V/disk.0" 0 42 1
write_at one/one-7-42-0 10 1 || fail "guest write 1"
B=$(rsum one/one-7-42-0)
expect_ok "snap_create 1" "$TM/snap_create" "host01:$V/disk.0" 1 42 1
write_at one/one-7-42-0 20 2 || fail "guest write 2"
C=$(rsum one/one-7-42-0)
expect_ok "snap_create 2" "$TM/snap_create" "host01:$V/disk.0" 2 42 1
write_at one/one-7-42-0 30 3 || fail "guest write 3"
check "three snapshots 0 1 2" test "$(snaps_of one/one-7-42-0)" = "0 1 2"
check "each snapshot holds its own content" test "$(rsum one/one-7-42-0@0)$(rsum one/one-7-42-0@1)$(rsum one/one-7-42-0@2)" = "$A$B$C"
expect_error "snap_create of an existing id is refused" "already exists" "$TM/snap_create" "host01:$V/disk.0" 1 42 1
expect_ok "snap_revert 1" "$TM/snap_revert" "host01:$V/disk.0" 1 42 1
check "the disk reads snapshot 1's content" test "$(rsum one/one-7-42-0)" = "$B"
check "the snapshots are all still there" test "$(snaps_of one/one-7-42-0)" = "0 1 2"
expect_ok "snap_delete 0" "$TM/snap_delete" "host01:$V/disk.0" 0 42 1
check "snapshots 1 2 remain, 2 still its own" test "$(snaps_of one/one-7-42-0)" = "1 2" -a "$(rsum one/one-7-42-0@2)" = "$C"
expect_error "snap_delete of a missing one" "does not exist" "$TM/snap_delete" "host01:$V/disk.0" 0 42 1
expect_error "snap_revert to a missing one" "does not exist" "$TM/snap_revert" "host01:$V/disk.0" 7 42 1

echo "# TM: save-as, resize, migrate, back to the datastore, delete"
expect_ok "mkfs save_as makes nothing" "$D/mkfs" "$(cdump FSTYPE=save_as SIZE=96)" 11
check "... and prints one/one-11" test "$OUT" = one/one-11 -a "$(pool_ls)" = "one-7 one-7-42-0 one-8 "
expect_ok "cpds of snapshot 2 into one/one-11" "$TM/cpds" "host01:$V/disk.0" "one/one-11" 2 42 1
check "one/one-11 holds snapshot 2's bytes" test "$(rsum one/one-11)" = "$C"
check "one/one-11 has no parent ('$(parent_of one/one-11)')" test -z "$(parent_of one/one-11)"
expect_ok "cpds of the current disk with EC_POOL_NAME (datastore 2)" "$TM/cpds" "host01:$V/disk.0" "one/one-12" -1 42 2
check "one/one-12 has its data in pool one_ec" test "$("${RB[@]}" info --format json one/one-12 | grep -o '"data_pool":"[a-z_]*"')" = '"data_pool":"one_ec"'
expect_ok "resize disk.0 to 128 MiB" "$TM/resize" "host01:$V/disk.0" 128 42 1
check "it is 128 MiB" test "$(rsize one/one-7-42-0)" = $((128 << 20))
expect_error "resize cannot shrink" "cannot shrink" "$TM/resize" "host01:$V/disk.0" 64 42 1
expect_ok "mv disk.0 host01 -> host02 (nothing to move)" "$TM/mv" "host01:$V/disk.0" "host02:$V/disk.0" 42 0
check "the clone is untouched" test "$(parent_of one/one-7-42-0)" = "one/one-7@snap"
"${RB[@]}" import --no-progress <(head -c 1048576 /dev/urandom) one/tmpw >/dev/null 2>&1
PERS2=$(rsum one/one-8)
expect_ok "mvds (persistent: the disk is the image)" "$TM/mvds" "host01:$V/disk.1" "one/one-8" 42 1
check "one/one-8 is unchanged" test "$(rsum one/one-8)" = "$PERSSUM" -a "$PERS2" = "$PERSSUM"
"${RB[@]}" rm --no-progress one/tmpw >/dev/null 2>&1
expect_error "DS rm of an image with clones is refused" "clones depend on it" "$D/rm" "$(cdump SOURCE=one/one-7 IMAGE_ID=7)" 7
check "... and nothing was removed" test "$(pool_ls)" = "one-11 one-12 one-7 one-7-42-0 one-8 " -a "$(snaps_of one/one-7)" = snap
expect_ok "delete disk.0 (the clone and its snapshots)" "$TM/delete" "host01:$V/disk.0" 42 1
expect_ok "delete disk.1 (persistent: kept)" "$TM/delete" "host01:$V/disk.1" 42 1
expect_ok "delete the VM directory" "$TM/delete" "host01:$V" 42 0
check "the clone is gone, the images stay" test "$(pool_ls)" = "one-11 one-12 one-7 one-8 " -a ! -e "$V"

echo "# DS snapshots of a persistent image (revert, delete, flatten)"
vm_xml 43 host02 ceph "0:NO:one/one-8:32:32:raw:ceph"
V3=$DS/0/43
expect_ok "ln on host02" "$TM/ln" "frontend:one/one-8" "host02:$V3/disk.0" 43 1
S0=$(rsum one/one-8)
expect_ok "snap_create 0 on the persistent disk" "$TM/snap_create" "host02:$V3/disk.0" 0 43 1
write_at one/one-8 1 17 || fail "guest write"
S1=$(rsum one/one-8)
expect_ok "snap_create 1" "$TM/snap_create" "host02:$V3/disk.0" 1 43 1
write_at one/one-8 2 18 || fail "guest write"
expect_ok "DS snap_revert 0" "$D/snap_revert" "$(cdump SOURCE=one/one-8 IMAGE_ID=8 TARGET_SNAPSHOT=0)" 8
check "the image reads snapshot 0" test "$(rsum one/one-8)" = "$S0"
expect_ok "DS snap_delete 0" "$D/snap_delete" "$(cdump SOURCE=one/one-8 IMAGE_ID=8 TARGET_SNAPSHOT=0)" 8
check "snapshot 1 remains" test "$(snaps_of one/one-8)" = 1
expect_ok "DS snap_flatten 1" "$D/snap_flatten" "$(cdump SOURCE=one/one-8 IMAGE_ID=8 TARGET_SNAPSHOT=1)" 8
check "the image is snapshot 1's content, with no snapshots" test "$(rsum one/one-8)" = "$S1" -a -z "$(snaps_of one/one-8)"
expect_ok "delete the persistent disk (kept) and VM 43's directory" "$TM/delete" "host02:$V3" 43 0

echo "# failures"
expect_error "a missing key file: a one-line reason" "one-20" "$D/cp" "$(cdump PATH="$SAFE/img.raw" CKEY="$SAFE/wrong.key")" 20
echo "AQBkYWZhAAAAABAAHEmDhQGh5QZ/7Sr0X2Vq3ZpNoCQ+E0S1Tg==" > "$SAFE/wrong.key"
expect_error "a wrong key: refused by the cluster" "one-20" "$D/cp" "$(cdump PATH="$SAFE/img.raw" CKEY="$SAFE/wrong.key")" 20
before=$(pool_ls)
for bad in 'one;id' '-c' '.x' 'o ne' 'one/x' '$(id)'; do
    expect_error "hostile POOL_NAME '$bad' refused" "POOL_NAME" "$D/cp" "$(cdump PATH="$SAFE/img.raw" POOL="$bad")" 21
done
expect_error "hostile SOURCE refused (DS rm)" "RBD" "$D/rm" "$(cdump SOURCE='one/one-7;rm' IMAGE_ID=7)" 7
expect_error "hostile TM source refused" "RBD image name" "$TM/clone" "frontend:one/-rf" "host01:$DS/0/44/disk.0" 44 1
expect_error "hostile CEPH_USER refused" "CEPH_USER" "$D/cp" "$(cdump PATH="$SAFE/img.raw" CUSER='--id=admin')" 21
check "nothing was created by the refused actions" test "$(pool_ls)" = "$before"

echo "# a full pool (its quota reached): a bounded, clear failure, nothing left; the retry succeeds once it has room"
pool_full() { "${CA[@]}" health detail 2>/dev/null | grep -q "pool 'one' is full"; }
wait_for() { local i; for i in $(seq 1 60); do "$@" && return 0; sleep 1; done; return 1; }
before=$(pool_ls)
"${CA[@]}" osd pool set-quota one max_objects 1 >/dev/null 2>&1
check "the cluster marks the pool full (quota: 1 object)" wait_for pool_full
t0=$SECONDS
expect_error "cp into the full pool fails with a reason" "one-33" env ONESTOR_CEPH_TIMEOUT=5 "$D/cp" "$(cdump PATH="$SAFE/pers.raw")" 33
check "... within 60 s ($((SECONDS - t0)) s), leaving the pool as it was" test $((SECONDS - t0)) -lt 60 -a "$(pool_ls)" = "$before"
"${CA[@]}" osd pool set-quota one max_objects 0 >/dev/null 2>&1
not_full() { ! pool_full; }
check "the quota lifted, the pool is no longer full" wait_for not_full
expect_ok "the retry of cp succeeds" "$D/cp" "$(cdump PATH="$SAFE/pers.raw")" 33
check "it holds the file's bytes" test "$(rsum one/one-33)" = "$PERSSUM"
expect_ok "rm one/one-33" "$D/rm" "$(cdump SOURCE=one/one-33 IMAGE_ID=33)" 33

echo "# connections: one per host and action"
vm_xml 44 host02 ceph "0:YES:one/one-7:64:64:raw:ceph"
expect_conns 0 1 "TM clone on host02: one connection to it" "$TM/clone" "frontend:one/one-7" "host02:$DS/0/44/disk.0" 44 1
expect_conns 0 1 "TM snap_create: one connection" "$TM/snap_create" "host02:$DS/0/44/disk.0" 0 44 1
expect_conns 1 0 "DS cp through bridge host01: one connection to it" "$D/cp" "$(cdump PATH="$SAFE/pers.raw")" 30
expect_ok "delete VM 44's clone" "$TM/delete" "host02:$DS/0/44/disk.0" 44 1
expect_ok "rm one/one-30" "$D/rm" "$(cdump SOURCE=one/one-30 IMAGE_ID=30)" 30

echo "# a failed clone removes the volume it made"
# 2 PiB: more objects than an object map holds, so the grow after the clone fails.
vm_xml 45 host01 ceph "0:YES:one/one-7:2147483648:64:raw:ceph"
before=$(pool_ls)
expect_error "clone grown to 2 PiB fails at the resize" "cannot grow" "$TM/clone" "frontend:one/one-7" "host01:$DS/0/45/disk.0" 45 1
check "the clone it made is removed (pool as before: '$(pool_ls)')" test "$(pool_ls)" = "$before"

echo "# the OSD stopped: a bounded, clear failure; the retry succeeds once it is back"
"$ONESTOR_SRC/test/ceph/cluster.sh" osd-stop "$CL"
t0=$SECONDS
expect_error "cp with the OSD down fails with a reason" "one-31" env ONESTOR_CEPH_TIMEOUT=5 "$D/cp" "$(cdump PATH="$SAFE/img.raw")" 31
check "... within 60 s ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 60
if "$ONESTOR_SRC/test/ceph/cluster.sh" osd-start "$CL"; then pass "the OSD is back"; else fail "the OSD is back"; fi
expect_ok "the retry of cp succeeds" "$D/cp" "$(cdump PATH="$SAFE/img.raw")" 31
check "it holds the file's bytes, and no temporary volume is left" test "$(rsum one/one-31)" = "$IMGSUM" -a "$(pool_ls | grep -c tmp)" = 0
expect_ok "rm one/one-31" "$D/rm" "$(cdump SOURCE=one/one-31 IMAGE_ID=31)" 31

echo "# volatile disks: RBD volumes one-sys-<VM>-<DISK>, made with their file system"
# VM 47's volatile disks as oned gives them (the system datastore's POOL_NAME and auth copied in)
vol_vm() {  # USER: the CEPH_USER of its disks
    {
        echo "<VM><ID>47</ID><NAME>vm47</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE><DEPLOY_ID>one-47</DEPLOY_ID><TEMPLATE>"
        local spec id type fs
        for spec in 2:fs:ext4:RBD 3:swap::RBD 4:FS:: 5:fs:btrfs-not-allowed: 6:fs::FILE; do
            IFS=: read -r id type fs dtype <<<"$spec"
            echo "<DISK><DISK_ID>$id</DISK_ID><TYPE>$type</TYPE>${fs:+<FS>$fs</FS>}${dtype:+<DISK_TYPE>$dtype</DISK_TYPE>}<SIZE>64</SIZE><FORMAT>raw</FORMAT><TM_MAD>ceph</TM_MAD><POOL_NAME>one</POOL_NAME>${VM_DISK_EXTRA/oneadmin/$1}</DISK>"
        done
        echo "</TEMPLATE><HISTORY_RECORDS><HISTORY><OID>47</OID><SEQ>0</SEQ><HOSTNAME>host01</HOSTNAME><TM_MAD>ceph</TM_MAD><DS_ID>0</DS_ID></HISTORY></HISTORY_RECORDS></VM>"
    } >"$T/vms/47.xml"
}
V47=$DS/0/47
fs_of() { "${RB[@]}" export --no-progress "$1" "$T/vol.raw" >/dev/null 2>&1 && blkid -p -o value -s TYPE "$T/vol.raw"; rm -f "$T/vol.raw"; }
no_local_temp() { [ -z "$(on host01 find "$DS/0" -name '*onestor-tmp*')" ]; }
vol_vm oneadmin
before=$(pool_ls)
vol_vm nobody
expect_error "mkimage with a user the cluster refuses fails" "one/one-sys-47-2" env ONESTOR_CEPH_TIMEOUT=5 "$TM/mkimage" 64 raw "host01:$V47/disk.2" 47 0
check "... leaving no volume ('$(pool_ls)') and no temporary file on the host" test "$(pool_ls)" = "$before" -a -z "$(on host01 find "$DS/0" -name '*onestor-tmp*')"
vol_vm oneadmin
expect_error "a file system not in SUPPORTED_FS is refused" "btrfs-not-allowed" "$TM/mkimage" 64 raw "host01:$V47/disk.5" 47 0
check "nothing was made" test "$(pool_ls)" = "$before"
expect_ok "mkimage: 64 MiB with ext4 (6.x: FORMAT raw, FS ext4)" "$TM/mkimage" 64 raw "host01:$V47/disk.2" 47 0
check "it is the volume one/one-sys-47-2 of 64 MiB" test "$(rsize one/one-sys-47-2)" = $((64 << 20))
check "it holds an ext4 file system" test "$(fs_of one/one-sys-47-2)" = ext4
used=$("${RB[@]}" du --format json one/one-sys-47-2 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])')
check "only the file system's blocks were written (used $used of 64 MiB)" test "$used" -lt $((64 << 20))
check "no temporary file is left on the host" no_local_temp
expect_ok "mkswap: 64 MiB" "$TM/mkswap" 64 "host01:$V47/disk.3" 47 0
check "it holds a swap signature" test "$(fs_of one/one-sys-47-3)" = swap
expect_ok "mkimage: an empty raw disk (TYPE FS, upper case as users write it)" "$TM/mkimage" 64 raw "host01:$V47/disk.4" 47 0
check "it is 64 MiB of zeros" test "$(rsum one/one-sys-47-4)" = "$(head -c $((64 << 20)) /dev/zero | sha256sum | cut -d' ' -f1)"
write_at one/one-sys-47-4 1 66
expect_ok "mkimage again (a retry after a failure that left the volume): made anew" "$TM/mkimage" 64 raw "host01:$V47/disk.4" 47 0
check "... 64 MiB of zeros again" test "$(rsum one/one-sys-47-4)" = "$(head -c $((64 << 20)) /dev/zero | sha256sum | cut -d' ' -f1)"
expect_ok "mkimage of a volatile disk of DISK_TYPE FILE (a system datastore of files): a file" "$TM/mkimage" 64 raw "host01:$V47/disk.6" 47 0
check "... disk.6 is a 64 MiB file on the host, no volume made" test "$(stat -c %s "$V47/disk.6")" = $((64 << 20)) -a -z "$(pool_ls | grep -w one-sys-47-6)"
expect_ok "delete of it: the file goes" "$TM/delete" "host01:$V47/disk.6" 47 0
check "... gone" test ! -e "$V47/disk.6"
expect_ok "snap_create on a volatile disk" "$TM/snap_create" "host01:$V47/disk.4" 0 47 0
expect_ok "mv of a volatile disk: nothing moves, it is in the cluster" "$TM/mv" "host01:$V47/disk.4" "host02:$V47/disk.4" 47 0
expect_ok "monitor with MONITOR_VM_DISKS=1" "$D/monitor" "$(cdump NO_IMAGE=1 MONITOR_VM_DISKS=1)" 1
# VM 47's disks 2, 3, 4 and disk 4's snapshot 0, in MiB of data: base64 of DISK_SIZE/SNAPSHOT_SIZE
# (a 5.12+ caller's form, base64 in MONITOR; an older one's POLL text)
vm47=$(grep -o 'ID = 47, MONITOR = "[^"]*"' <<<"$OUT" | cut -d'"' -f2 | base64 -d 2>/dev/null)
[ -n "$vm47" ] || vm47=$(grep -o 'ID=47,POLL="[^"]*"' <<<"$OUT" | cut -d'"' -f2)
check "it reports VM 47's volatile disks ('${vm47//$'\n'/ }')" eval '[[ $vm47 == *"ID=2,"* && $vm47 == *"ID=3,"* && $vm47 == *"ID=4,"* ]]'
check "... disk 2's ext4 data as its size" eval '[[ $vm47 =~ DISK_SIZE=\[ID=2,SIZE=([0-9]+)\] ]] && [ "${BASH_REMATCH[1]}" -ge 1 ]'
check "... and disk 4's snapshot 0" eval '[[ $vm47 == *"SNAPSHOT_SIZE=[ID=0,DISK_ID=4,"* ]]'
for id in 2 3 4; do expect_ok "delete volatile disk $id" "$TM/delete" "host01:$V47/disk.$id" 47 0; done
check "they are gone, the snapshot too ('$(pool_ls)')" test "$(pool_ls)" = "$before"

echo "# CEPH_TRASH: a removed volume goes to the pool's trash, whole, and comes back"
trash_id() { "${RB[@]}" trash ls --format json one | /usr/bin/python3 -c 'import json,sys; print(" ".join(t["id"] for t in json.load(sys.stdin) if t["name"] == sys.argv[1]))' "$1"; }
VM_DISK_EXTRA="$VM_DISK_EXTRA<CEPH_TRASH>YES</CEPH_TRASH>" vm_xml 48 host01 ceph "0:YES:one/one-7:64:64:raw:ceph"
expect_ok "clone for VM 48 (its disk: CEPH_TRASH=YES)" "$TM/clone" "frontend:one/one-7" "host01:$DS/0/48/disk.0" 48 1
write_at one/one-7-48-0 5 238
expect_ok "snap_create 0 of it" "$TM/snap_create" "host01:$DS/0/48/disk.0" 0 48 1
sum48=$(rsum one/one-7-48-0)
expect_ok "delete it" "$TM/delete" "host01:$DS/0/48/disk.0" 48 1
absent() { ! exists "$1"; }
check "it is no longer in the pool" absent one/one-7-48-0
id48=$(trash_id one-7-48-0)
check "it is in the pool's trash ($id48)" test -n "$id48"
check "flattened first: one/one-7@snap has no clone left" test -z "$("${RB[@]}" children one/one-7@snap 2>/dev/null)"
check "... and, its last clone gone, the @snap went too (the next clone is of the image as it is then)" eval '! [[ " $(snaps_of one/one-7) " == *" snap "* ]]'
"${RB[@]}" trash restore one/"$id48" >/dev/null 2>&1
check "restored, it holds what it held, with its snapshot" test "$(rsum one/one-7-48-0)" = "$sum48" -a "$(snaps_of one/one-7-48-0)" = 0
vm_xml 48 host01 ceph "0:YES:one/one-7:64:64:raw:ceph"
expect_ok "delete it without CEPH_TRASH: gone with its snapshot" "$TM/delete" "host01:$DS/0/48/disk.0" 48 1
expect_ok "cp an image to remove into the trash" "$D/cp" "$(cdump PATH="$SAFE/pers.raw")" 32
expect_ok "DS rm with the datastore's CEPH_TRASH=yes" "$D/rm" "$(cdump SOURCE=one/one-32 IMAGE_ID=32 DS_XML='<CEPH_TRASH>yes</CEPH_TRASH>')" 32
id32=$(trash_id one-32)
check "the image is in the trash ($id32), not in the pool" test -n "$id32" -a -z "$(pool_ls | grep -w one-32)"
"${RB[@]}" trash restore one/"$id32" >/dev/null 2>&1
check "restored, it is the imported file" test "$(rsum one/one-32)" = "$PERSSUM"
expect_ok "rm it for good" "$D/rm" "$(cdump SOURCE=one/one-32 IMAGE_ID=32)" 32
check "the trash is empty" test "$("${RB[@]}" trash ls one | wc -l)" = 0

echo "# DS cp from URLs and ssh hosts: streamed into the volume through the download pipeline"
wait "$HPID" || { cat "$T/httpsd.out" >&2; fail "the HTTPS server started"; }
U=https://127.0.0.1:$HPORT
export ONESTOR_DOWNLOAD_CA_FILE=$HW/ca.pem ONESTOR_DOWNLOAD_RETRIES=2
cp "$SAFE/img.raw" "$WWW/img.raw"
gzip -k "$WWW/img.raw"
xz -k -T1 "$WWW/img.raw"
cp "$WWW/img.raw.gz" "$SAFE/img.raw.gz"
IMGMD5=$(md5sum < "$SAFE/img.raw" | cut -d' ' -f1)
used_of() { "${RB[@]}" du --format json "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])'; }
before=$(pool_ls)
expect_ok "cp https:// of a 64 MiB sparse raw image, with its MD5" "$D/cp" "$(cdump PATH="$U/img.raw" MD5="$IMGMD5")" 50
check "cp prints one/one-50 ('$OUT')" test "$OUT" = one/one-50
check "the volume holds the served bytes (rbd export)" test "$(rsum one/one-50)" = "$IMGSUM"
check "its size is the image's, exactly" test "$(rsize one/one-50)" = $((64 << 20))
used=$(used_of one/one-50)
check "only the data was written (used $used bytes, at most the 4 objects touched)" test "$used" -le $((16 << 20))
expect_ok "stat of the URL" "$D/stat" "$(cdump PATH="$U/img.raw")" 50
check "stat prints 64 ('$OUT')" test "$OUT" = 64
expect_ok "cp https:// of the gzip-compressed image" "$D/cp" "$(cdump PATH="$U/img.raw.gz")" 51
check "the volume holds the decompressed bytes" test "$(rsum one/one-51)" = "$IMGSUM" -a "$(rsize one/one-51)" = $((64 << 20))
expect_ok "cp https:// of the xz-compressed image" "$D/cp" "$(cdump PATH="$U/img.raw.xz")" 52
check "the volume holds the decompressed bytes" test "$(rsum one/one-52)" = "$IMGSUM" -a "$(rsize one/one-52)" = $((64 << 20))
expect_ok "cp host02:/PATH (an ssh host's file), gzip" "$D/cp" "$(cdump PATH="host02:$SAFE/img.raw.gz")" 53
check "the volume holds the decompressed bytes" test "$(rsum one/one-53)" = "$IMGSUM" -a "$(rsize one/one-53)" = $((64 << 20))
expect_ok "cp of a local gzip file (unpacked through the pipeline)" "$D/cp" "$(cdump PATH="$SAFE/img.raw.gz")" 54
check "the volume holds the decompressed bytes" test "$(rsum one/one-54)" = "$IMGSUM" -a "$(rsize one/one-54)" = $((64 << 20))
check "the five volumes are there, no temporary one" test "$(pool_ls | tr ' ' '\n' | grep -c '^one-5[0-4]$')" = 5 -a "$(pool_ls | grep -c tmp)" = 0
before=$(pool_ls)
expect_error "cp with a wrong MD5 fails" "checksum mismatch" "$D/cp" "$(cdump PATH="$U/img.raw" MD5=0123456789abcdef0123456789abcdef)" 55
check "... and leaves nothing in the pool" test "$(pool_ls)" = "$before"
expect_error "cp of a local file with a wrong MD5 fails" "checksum mismatch" "$D/cp" "$(cdump PATH="$SAFE/img.raw" MD5=0123456789abcdef0123456789abcdef)" 55
check "... and leaves nothing in the pool" test "$(pool_ls)" = "$before"
ONESTOR_MAX_DOWNLOAD_SIZE=16M expect_error "cp past MAX_DOWNLOAD_SIZE (16M) is refused" "MAX_DOWNLOAD_SIZE" "$D/cp" "$(cdump PATH="$U/img.raw.gz")" 55
check "... and leaves nothing in the pool" test "$(pool_ls)" = "$before"
expect_error "cp of a URL that is not there" "404" "$D/cp" "$(cdump PATH="$U/nothere")" 55
check "... and leaves nothing in the pool" test "$(pool_ls)" = "$before"
ONESTOR_DOWNLOAD_CA_FILE=$HW/other-ca.pem expect_error "cp of a URL whose certificate is not trusted" "not trusted" "$D/cp" "$(cdump PATH="$U/img.raw")" 55
check "... and leaves nothing in the pool" test "$(pool_ls)" = "$before"
expect_error "cp of an ssh host's file outside SAFE_DIRS" "Not allowed" "$D/cp" "$(cdump PATH="host02:/etc/passwd")" 55
check "... and leaves nothing in the pool" test "$(pool_ls)" = "$before"
STG=$T/staging
mkdir -p "$STG"
SDS="<STAGING_DIR>$STG</STAGING_DIR>"
qemu-img convert -q -f raw -O qcow2 "$SAFE/img.raw" "$WWW/img.qcow2"
cp "$WWW/img.qcow2" "$SAFE/img.qcow2"
qemu-img convert -q -f qcow2 -O raw "$SAFE/img.qcow2" "$T/img.qcow2.raw"
QSUM=$(sum "$T/img.qcow2.raw")
qemu-img create -q -f qcow2 -b "$SAFE/img.raw" -F raw "$SAFE/child.qcow2"
cp "$SAFE/child.qcow2" "$WWW/child.qcow2"
expect_error "cp https:// of a qcow2 not declared so is refused" "declare its FORMAT" "$D/cp" "$(cdump PATH="$U/img.qcow2")" 55
check "... and leaves nothing in the pool" test "$(pool_ls)" = "$before"
expect_error "cp of a local qcow2 with a backing file is refused" "backing file" "$D/cp" "$(cdump PATH="$SAFE/child.qcow2" DS_XML="$SDS")" 55
expect_error "cp https:// of a qcow2 (FORMAT qcow2) with a backing file is refused" "backing file" "$D/cp" "$(cdump PATH="$U/child.qcow2" FORMAT=qcow2 DS_XML="$SDS")" 55
check "... nothing left in the pool nor STAGING_DIR" test "$(pool_ls)" = "$before" -a -z "$(ls -A "$STG")"
expect_ok "cp of a local qcow2: converted to raw on the front-end" "$D/cp" "$(cdump PATH="$SAFE/img.qcow2" DS_XML="$SDS")" 60
check "the volume holds qemu-img convert's raw bytes, 64 MiB" test "$(rsum one/one-60)" = "$QSUM" -a "$(rsize one/one-60)" = $((64 << 20))
check "... which are the original image's" test "$QSUM" = "$IMGSUM"
used=$(used_of one/one-60)
check "only the data was written (used $used bytes)" test "$used" -le $((16 << 20))
expect_ok "cp https:// of a qcow2 declared FORMAT qcow2: converted" "$D/cp" "$(cdump PATH="$U/img.qcow2" FORMAT=qcow2 DS_XML="$SDS")" 61
check "the volume holds qemu-img convert's raw bytes, 64 MiB" test "$(rsum one/one-61)" = "$QSUM" -a "$(rsize one/one-61)" = $((64 << 20))
check "nothing is left in STAGING_DIR" test -z "$(ls -A "$STG")"
# Past the first GiB: the volume grows by GiB with the data (import-diff's size records)
# and ends at the image's size; only the data is written.
truncate -s 1100M "$T/big.raw"
head -c 1M /dev/urandom | dd of="$T/big.raw" bs=1M seek=0 conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$T/big.raw" bs=1M seek=1090 conv=notrunc status=none
gzip -1 -c "$T/big.raw" > "$WWW/big.raw.gz"
expect_ok "cp https:// of a 1100 MiB sparse image, gzip" "$D/cp" "$(cdump PATH="$U/big.raw.gz")" 62
check "its size is 1100 MiB, exactly" test "$(rsize one/one-62)" = $((1100 << 20))
check "it holds the image's bytes" test "$(rsum one/one-62)" = "$(sum "$T/big.raw")"
used=$(used_of one/one-62)
check "only the data was written (used $used bytes)" test "$used" -le $((8 << 20))
rm -f "$T/big.raw" "$WWW/big.raw.gz"
# SIGTERM mid-import: the volume being written is removed; mid-staging: the copy is.
stop_when() {  # stop_when CONDITION COMMAND...: runs COMMAND, sends SIGTERM once CONDITION holds
    local cond=$1; shift
    "$@" >"$T/stop.out" 2>"$T/stop.err" & local pid=$!
    for _ in $(seq 1 300); do eval "$cond" && break; sleep 0.1; done
    eval "$cond" || echo "(the condition never held)" >>"$T/stop.err"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null; STOP_RC=$?
}
before=$(pool_ls)
stop_when 'exists one/one-63.tmp' "$D/cp" "$(cdump PATH="$U/img.raw" DS_XML="<LIMIT_TRANSFER_BW>2M</LIMIT_TRANSFER_BW>")" 63
check "SIGTERM mid-import: cp fails" test "$STOP_RC" -ne 0
check "... saying it was interrupted" grep -q "interrupted by signal 15" "$T/stop.err"
check "... and the volume it was writing is removed" test "$(pool_ls)" = "$before"
stop_when '[ -n "$(ls -A "$STG")" ]' "$D/cp" "$(cdump PATH="$U/img.qcow2" FORMAT=qcow2 DS_XML="$SDS<LIMIT_TRANSFER_BW>1M</LIMIT_TRANSFER_BW>")" 63
check "SIGTERM mid-staging: cp fails" test "$STOP_RC" -ne 0
check "... saying it was interrupted" grep -q "interrupted by signal 15" "$T/stop.err"
check "... nothing left in STAGING_DIR nor the pool" test -z "$(ls -A "$STG")" -a "$(pool_ls)" = "$before"
for id in 60 61 62; do
    expect_ok "rm one/one-$id" "$D/rm" "$(cdump SOURCE=one/one-$id IMAGE_ID=$id)" "$id"
done
for id in 50 51 52 53 54; do
    expect_ok "rm one/one-$id" "$D/rm" "$(cdump SOURCE=one/one-$id IMAGE_ID=$id)" "$id"
done

echo "# DS mkfs with a file system or swap: made on the front-end in STAGING_DIR, streamed"
before=$(pool_ls)
expect_ok "mkfs: a 64 MiB ext4 image" "$D/mkfs" "$(cdump FS=ext4 SIZE=64 DS_XML="<STAGING_DIR>$STG</STAGING_DIR>")" 56
check "mkfs printed one/one-56" test "$OUT" = one/one-56
check "its size is 64 MiB" test "$(rsize one/one-56)" = $((64 << 20))
"${RB[@]}" export --no-progress one/one-56 "$T/fs.img" >/dev/null 2>&1
check "the volume holds an ext4 file system (blkid)" test "$(blkid -o value -s TYPE "$T/fs.img")" = ext4
check "... which e2fsck finds clean" eval 'e2fsck -fn "$T/fs.img" >/dev/null 2>&1'
check "... of 64 MiB (dumpe2fs: 65536 1 KiB or 16384 4 KiB blocks)" eval '[ $(( $(dumpe2fs -h "$T/fs.img" 2>/dev/null | sed -n "s/^Block count: *//p") * $(dumpe2fs -h "$T/fs.img" 2>/dev/null | sed -n "s/^Block size: *//p") )) = $((64 << 20)) ]'
used=$(used_of one/one-56)
check "only what mkfs wrote is allocated (used $used bytes of 64 MiB)" test "$used" -lt $((64 << 20))
expect_ok "mkfs: a 32 MiB swap image" "$D/mkfs" "$(cdump FSTYPE=swap SIZE=32 DS_XML="<STAGING_DIR>$STG</STAGING_DIR>")" 57
"${RB[@]}" export --no-progress one/one-57 "$T/swap.img" >/dev/null 2>&1
check "the volume holds a swap signature (blkid), 32 MiB" test "$(blkid -o value -s TYPE "$T/swap.img")" = swap -a "$(rsize one/one-57)" = $((32 << 20))
check "nothing is left in STAGING_DIR" test -z "$(ls -A "$STG")"
before=$(pool_ls)
expect_error "mkfs of a file system outside SUPPORTED_FS is refused" "SUPPORTED_FS" "$D/mkfs" "$(cdump FS=vfat SIZE=16)" 58
expect_error "mkfs with a wrong key fails after making the file system" "one-58" "$D/mkfs" "$(cdump FS=ext4 SIZE=16 CKEY="$SAFE/wrong.key" DS_XML="<STAGING_DIR>$STG</STAGING_DIR>")" 58
check "... nothing left in STAGING_DIR nor the pool" test -z "$(ls -A "$STG")" -a "$(pool_ls)" = "$before"
expect_error "mkfs with a STAGING_DIR that does not exist" "$T/nodir" "$D/mkfs" "$(cdump FS=ext4 SIZE=16 DS_XML="<STAGING_DIR>$T/nodir</STAGING_DIR>")" 58
check "... nothing left in the pool" test "$(pool_ls)" = "$before"
for id in 56 57; do
    expect_ok "rm one/one-$id" "$D/rm" "$(cdump SOURCE=one/one-$id IMAGE_ID=$id)" "$id"
done

remove_all 7 8 11 12
e2e_finish
