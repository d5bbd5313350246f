#!/usr/bin/env bash
# The example VM of the storage-driver guide on TM_MAD=shared, through the installed
# symlinks, against real sshd hosts sharing one datastore tree: CREATE, STOP, RESUME,
# MIGRATE host01 -> host02, SHUTDOWN, with one non-persistent and one persistent disk;
# then every other shared action, and bad input refused with nothing touched.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" shared

SRC=$(mktemp -d /var/tmp/onestor-shared.XXXXXX)
trap 'rm -rf "$SRC"; e2e_cleanup' EXIT
V=$DS/0/42
make_sparse "$SRC/os.img" 128
head -c 4M /dev/urandom > "$SRC/data.img"
IMG0=$("$R/datastore/fs/cp" "$(ds_dump PATH="$SRC/os.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 0 2>/dev/null)
IMG1=$("$R/datastore/fs/cp" "$(ds_dump PATH="$SRC/data.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 1 2>/dev/null)
check "two images registered" test -f "$IMG0" -a -f "$IMG1"
SUM0=$(sum "$IMG0") SUM1=$(sum "$IMG1")
vm_xml 42 host01 shared "0:YES:$IMG0:256:128:raw:shared" "1:NO:$IMG1:4:4:raw:shared"

# ---- CREATE -----------------------------------------------------------------------------
expect_ok "clone disk.0" "$R/tm/shared/clone" "frontend:$IMG0" "host01:$V/disk.0" 42 1
check "clone prints nothing" test -z "$OUT"
expect_ok "ln disk.1" "$R/tm/shared/ln" "frontend:$IMG1" "host01:$V/disk.1" 42 1
check "disk.0 holds the image's bytes (on host01)" test "$(on host01 head -c 128M "$V/disk.0" | sha256sum | cut -d' ' -f1)" = "$SUM0"
check "disk.0 grew to SIZE (256 MiB)" test "$(on host01 stat -c %s "$V/disk.0")" = $((256 << 20))
check "disk.0 stayed sparse" test "$(on host01 du -k "$V/disk.0" | cut -f1)" -lt 4096
check "disk.1 is a link to the persistent image" test "$(on host01 readlink "$V/disk.1")" = "$IMG1"
# A disk with SPARSE=NO (7.x) gets all its space at once: the copy and its growth, and a resize.
VM_DISK_EXTRA='<SPARSE>NO</SPARSE>' vm_xml 49 host01 shared "0:YES:$IMG0:160:128:raw:shared"
expect_ok "clone of a SPARSE=NO disk" "$R/tm/shared/clone" "frontend:$IMG0" "host01:$DS/0/49/disk.0" 49 1
check "SPARSE=NO: the disk has its 160 MiB, every byte allocated" thick "$DS/0/49/disk.0" $((160 << 20))
check "SPARSE=NO: and the image's bytes" test "$(head -c 128M "$DS/0/49/disk.0" | sha256sum | cut -d' ' -f1)" = "$SUM0"
expect_ok "resize of the SPARSE=NO disk to 192 MiB" "$R/tm/shared/resize" "host01:$DS/0/49/disk.0" 192 49 1
check "SPARSE=NO: resized, the new space allocated too" thick "$DS/0/49/disk.0" $((192 << 20))
check "the image itself stayed sparse" test "$(du -k "$IMG0" | cut -f1)" -lt 4096
"$R/tm/shared/delete" "host01:$DS/0/49" 49 0 2>/dev/null
check "no temporary files left" test -z "$(find "$DS" -name '*onestor-tmp*')"
echo "ctx" > "$SRC/context.sh"
echo "#!/bin/sh" > "$SRC/init.sh"
expect_ok "context disk.2" "$R/tm/shared/context" "$SRC/context.sh" "$SRC/init.sh:'start me.sh'" "host01:$V/disk.2" 42 0
check "the context ISO is labelled CONTEXT" sh -c "isoinfo -d -i '$V/disk.2' | grep -q 'Volume id: CONTEXT'"
check "context.sh is in the ISO with its bytes" test "$(isoinfo -R -i "$V/disk.2" -x /context.sh)" = ctx
check "a path:'name' file is in the ISO under its name" test "$(isoinfo -R -i "$V/disk.2" -x "/start me.sh")" = "#!/bin/sh"
# The ISO is staged beside its destination (not in /tmp, often a tmpfs, with full copies),
# under a temporary name that is gone afterwards; a FIFO named in FILES is refused at once.
printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"%s"\nexec genisoimage "$@"\n' "$SRC/mkiso.args" >"$SRC/mkiso"
chmod +x "$SRC/mkiso"
expect_ok "context disk.4 (the ISO tool's arguments recorded)" env ONESTOR_MKISOFS="$SRC/mkiso" \
    "$R/tm/shared/context" "$SRC/context.sh" "host01:$V/disk.4" 42 0
iso_out=$(sed -n '/^-o$/{n;p;}' "$SRC/mkiso.args")
check "context: staged in the VM directory under a temporary name ('$iso_out')" eval '[[ $iso_out == "$V/.disk.4.onestor-tmp."*/context.iso ]]'
check "context: the ISO holds the file, the staging directory is gone" \
    eval '[ "$(isoinfo -R -i "$V/disk.4" -x /context.sh)" = ctx ] && [ -z "$(find "$DS" -name "*onestor-tmp*")" ]'
mkfifo "$SRC/fifo"
expect_error "context: a FIFO in FILES is refused, not waited on" "not a regular file" \
    timeout 20 "$R/tm/shared/context" "$SRC/context.sh" "$SRC/fifo" "host01:$V/disk.5" 42 0
check "context (FIFO): no disk.5, nothing left" eval '[ ! -e "$V/disk.5" ] && [ -z "$(find "$DS" -name "*onestor-tmp*")" ]'
rm -f "$V/disk.4" "$SRC/fifo"
# A clone first removes what dead writers of its target left (the host's onestor, in the
# clone's own round trip), never what a live writer holds (its flock).
DEADT=$V/.disk.6.onestor-tmp.4194000.0badcafe LIVET=$V/.disk.6.onestor-tmp.4194001.0badcafe
echo half >"$DEADT"
echo half >"$LIVET"
flock -x "$LIVET" sleep 60 &
HOLDER=$!
sleep 0.3
expect_ok "clone disk.6 beside a dead and a live writer's temporaries" env ONESTOR_REMOTE_ONESTOR="$R/onestor" "$R/tm/shared/clone" "frontend:$IMG1" "host01:$V/disk.6" 42 1
check "clone: the dead writer's temporary is removed" test ! -e "$DEADT"
check "clone: the live writer's temporary is kept" test -e "$LIVET"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
rm -f "$V/disk.6" "$LIVET" "$DEADT"
expect_ok "mkswap disk.3" "$R/tm/shared/mkswap" 16 "host01:$V/disk.3" 42 0

# ---- STOP, RESUME, MIGRATE: shared storage, nothing moves, everything stays ----------------
before=$(cd "$V" && sha256sum disk.0 disk.2 disk.3)
for step in "host01 frontend" "frontend host01" "host01 host02"; do
    set -- $step
    expect_ok "mv disk.0 $1->$2" "$R/tm/shared/mv" "$1:$V/disk.0" "$2:$V/disk.0" 42 1
    expect_ok "mv disk.1 $1->$2" "$R/tm/shared/mv" "$1:$V/disk.1" "$2:$V/disk.1" 42 1
    expect_ok "mv dir $1->$2" "$R/tm/shared/mv" "$1:$V" "$2:$V" 42 0
    check "after $1->$2 the disks are unchanged" test "$(cd "$V" && sha256sum disk.0 disk.2 disk.3)" = "$before"
    check "after $1->$2 $2 sees disk.0" on "${2/frontend/host01}" test -f "$V/disk.0"
done
TPL=$(base64 -w0 "$T/vms/42.xml")
expect_ok "premigrate host01->host02 (template in argv)" "$R/tm/shared/premigrate" host01 host02 "$V" 42 0 "$TPL"
OUT=$(printf '%s' "$TPL" | "$R/tm/shared/postmigrate" host01 host02 "$V" 42 0 2>&1); RC=$?
check "postmigrate (template on stdin)" test "$RC" -eq 0

# ---- the VM writes to its persistent disk on host02 ----------------------------------------
printf 'written by the VM on host02' | on host02 dd of="$V/disk.1" bs=1k seek=1000 conv=notrunc status=none

# ---- SHUTDOWN -------------------------------------------------------------------------------
expect_ok "delete disk.0" "$R/tm/shared/delete" "host02:$V/disk.0" 42 1
expect_ok "mvds disk.1" "$R/tm/shared/mvds" "host02:$V/disk.1" "$IMG1" 42 1
expect_ok "delete the VM dir" "$R/tm/shared/delete" "host02:$V" 42 0
check "the VM dir is gone" test ! -e "$V"
check "the persistent image holds the VM's write" \
    test "$(dd if="$IMG1" bs=1k skip=1000 count=1 status=none | head -c 27)" = "written by the VM on host02"
check "the persistent image is otherwise intact" \
    test "$(head -c 1024000 "$IMG1" | sha256sum | cut -d' ' -f1)" = "$(head -c 1024000 "$SRC/data.img" | sha256sum | cut -d' ' -f1)"
check "the non-persistent image is unchanged" test "$(sum "$IMG0")" = "$SUM0"

# ---- snapshots (full copies) ----------------------------------------------------------------
vm_xml 43 host01 shared "0:YES:$IMG0:128:128:raw:shared" "1:NO:$IMG1:4:4:raw:shared"
W=$DS/0/43
expect_ok "clone for snapshots" "$R/tm/shared/clone" "frontend:$IMG0" "host01:$W/disk.0" 43 1
expect_ok "ln for snapshots" "$R/tm/shared/ln" "frontend:$IMG1" "host01:$W/disk.1" 43 1
A=$(on host01 sha256sum "$W/disk.0" | cut -d' ' -f1)
expect_ok "snap_create 0" "$R/tm/shared/snap_create" "host01:$W/disk.0" 0 43 1
check "snapshot 0 is a full copy" test "$(sum "$W/disk.0.snap/0")" = "$A"
expect_error "snap_create of an existing id" "already exists" "$R/tm/shared/snap_create" "host01:$W/disk.0" 0 43 1
printf 'changed' | on host01 dd of="$W/disk.0" conv=notrunc status=none
check "disk changed after the snapshot" test "$(sum "$W/disk.0")" != "$A"
expect_ok "snap_revert 0" "$R/tm/shared/snap_revert" "host01:$W/disk.0" 0 43 1
check "revert restored the snapshot's bytes" test "$(sum "$W/disk.0")" = "$A"
expect_ok "cpds of snapshot 0" "$R/tm/shared/cpds" "host01:$W/disk.0" "$DS/1/saved0" 0 43 1
check "cpds of a snapshot copies its bytes" test "$(sum "$DS/1/saved0")" = "$A"
expect_ok "cpds of the current state" "$R/tm/shared/cpds" "host01:$W/disk.0" "$DS/1/saved" -1 43 1
check "cpds copies the disk" test "$(sum "$DS/1/saved")" = "$A"
expect_ok "snap_delete 0" "$R/tm/shared/snap_delete" "host01:$W/disk.0" 0 43 1
check "snapshot 0 is gone" test ! -e "$W/disk.0.snap/0"
expect_error "snap_delete of a missing snapshot" "does not exist" "$R/tm/shared/snap_delete" "host01:$W/disk.0" 0 43 1
expect_ok "snap_create on the persistent disk" "$R/tm/shared/snap_create" "host01:$W/disk.1" 0 43 1
check "persistent snapshots live beside the image" test "$(sum "$IMG1.snap/0")" = "$(sum "$IMG1")"
expect_error "snap_create_live" "shared: snap_create_live is not supported" \
    "$R/tm/shared/snap_create_live" "host01:$W/disk.0" 1 43 1
expect_ok "mkimage qcow2" "$R/tm/shared/mkimage" 64 qcow2 "host01:$W/disk.4" 43 0
check "mkimage made a 64 MiB qcow2" test "$(qemu-img info --output=json "$W/disk.4" | grep -c '"format": "qcow2"')" = 1
expect_ok "mkimage ext4" "$R/tm/shared/mkimage" 32 ext4 "host01:$W/disk.5" 43 0
check "mkimage made an ext4 filesystem" test "$(blkid -p -o value -s TYPE "$W/disk.5")" = ext4
expect_ok "mkswap" "$R/tm/shared/mkswap" 8 "host01:$W/disk.3" 43 0
check "mkswap left a swap signature" test "$(dd if="$W/disk.3" bs=1 skip=4086 count=10 status=none)" = SWAPSPACE2
expect_ok "mv to another system datastore" "$R/tm/shared/mv" "host01:$W" "host01:$DS/5/43" 43 5
check "the VM dir moved" test -f "$DS/5/43/disk.0" -a ! -e "$W"
M=$(ds_dump NO_IMAGE=1 DS_ID=5 DATASTORE_LOCATION="$DS" MONITOR_VM_DISKS=1)
expect_ok "monitor" "$R/tm/shared/monitor" "$M" 5
check "monitor prints usage" grep -qE '^USED_MB=[0-9]+$' <<<"$OUT"
check "monitor prints TOTAL_MB and FREE_MB" grep -qE '^TOTAL_MB=[0-9]+$' <<<"$OUT"
check "monitor reports VM 43's disks" grep -q 'VM=\[ID=43,POLL="DISK_SIZE=\[ID=0,SIZE=' <<<"$OUT"

# ---- a hypervisor named like the front-end's short host name is another machine --------------
# The front-end runs here in a UTS namespace named host01.frontend.example: "host01" is its
# short name, and still the test host (reached over ssh), not the front-end.
as_fe_named() { unshare -u sh -c 'hostname "$0" && exec "$@"' host01.frontend.example "$@"; }
vm_xml 48 host01 shared
c=$(connections host01)
expect_ok "mkimage on host01 from a front-end whose short name is host01" \
    as_fe_named "$R/tm/shared/mkimage" 8 raw "host01:$DS/0/48/disk.0" 48 0
check "host01 was reached over ssh, not taken for the front-end" test "$(connections host01)" -gt "$c"
expect_ok "delete it" "$R/tm/shared/delete" "host01:$DS/0/48" 48 0

# ---- bad input: refused, nothing touched -----------------------------------------------------
snapshot() { find "$DS" -printf '%p %s %T@\n' | sort | sha256sum; }
before=$(snapshot)
expect_error "wrong argument count" "expected 4 arguments" "$R/tm/shared/clone" "frontend:$IMG0" "host01:$V/disk.0" 42
expect_error "a host name with a command in it" "invalid host name" \
    "$R/tm/shared/clone" "frontend:$IMG0" "host01\$(touch /tmp/PWNED):$V/disk.0" 42 1
expect_error "a host name with a leading dash" "invalid host name" \
    "$R/tm/shared/delete" "-oProxyCommand=touch /tmp/PWNED:$V" 42 0
expect_error "a relative path" "not absolute" "$R/tm/shared/delete" "host01:var/lib/one" 42 0
expect_error "a path with .." "'..'" "$R/tm/shared/delete" "host01:$DS/0/42/../../1" 42 0
expect_error "a non-numeric vm id" "vmid must be an integer" "$R/tm/shared/delete" "host01:$V" 4x2 0
expect_error "delete of another VM's disk" "is not a disk of VM 42" "$R/tm/shared/delete" "host01:$DS/5/43/disk.0" 42 0
expect_error "delete of the datastore root" "is not a disk of VM 42" "$R/tm/shared/delete" "host01:$DS/5" 42 0
expect_error "delete of /" "is not a disk of VM 42" "$R/tm/shared/delete" "host01:/" 42 0
ln -s ../../onestor "$R/tm/shared/bogus"
expect_error "an unknown action" "unknown transfer action 'bogus'" "$R/tm/shared/bogus" a b c d
mkdir -p "$R/tm/nosuch" && ln -s ../../onestor "$R/tm/nosuch/clone"
expect_error "an unknown driver" "unknown transfer driver 'nosuch'" "$R/tm/nosuch/clone" a b c d
check "nothing was created or removed by bad input" test "$(snapshot)" = "$before"
check "no command ran from a host name" test ! -e /tmp/PWNED
rm -f "$R/tm/shared/bogus"; rm -rf "$R/tm/nosuch"
e2e_finish
