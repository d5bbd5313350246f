#!/usr/bin/env bash
# TM_MAD=qcow2 offline (layout shared): overlay clones, snapshot chains that never break,
# persistent images' snapshots beside the image, hostile images refused. After every change:
# qemu-img check is clean, the chain (qemu-img info --backing-chain) is the expected one, and
# the disk reads exactly what was written through it (whole-disk compares against raw
# captures taken when each snapshot was made).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/qcow2_lib.sh"
e2e_init "$@" shared
V=$DS/0/42
CAP=$T/cap
mkdir -p "$DS/1" "$CAP"
qemu-img create -q -f raw "$DS/1/base" 64M
qemu-io -f raw -c 'write -P 0x11 0 1M' "$DS/1/base" >/dev/null
BASESUM=$(sum "$DS/1/base")
qemu-img create -q -f raw "$DS/1/pers" 64M
vm_xml 42 host01 shared "0:YES:$DS/1/base:128:64:raw:qcow2" "1:NO:$DS/1/pers:64:64:raw:qcow2"

# ---- helpers: data through the chain, chain shape, whole-disk captures ----------------
# Every link under the datastores resolves; no image is its own backing file; every qcow2
# file's whole chain opens (no loop, nothing missing).
links_resolve() {
    local l
    while read -r l; do [ -e "$l" ] || { echo "dangling: $l"; return 1; }; done < <(find "$DS" -type l)
}
no_self_reference() {
    local f b n=0
    while read -r f; do
        [ "$(head -c 4 "$f" | od -An -tx1 | tr -d " ")" = 514649fb ] || continue
        n=$((n + 1))
        b=$(json "$f" | key full-backing-filename)
        if [ -n "$b" ] && [ "$(readlink -f "$b")" = "$(readlink -f "$f")" ]; then echo "self reference: $f"; return 1; fi
        json --backing-chain "$f" >/dev/null || { echo "broken chain: $f"; return 1; }
    done < <(find "$DS" -type f)
    [ "$n" -gt 0 ]
}
snap() { "$R/tm/qcow2/$1" "host01:$2" "$3" "${4:-42}" 1; }  # snap ACTION DISK ID [VMID]
# sane DISK: every qcow2 layer in DISK's snapshot directory passes qemu-img check; DISK's chain opens
sane() { clean_dir "$(dirname "$(readlink -f "$1")")" && json --backing-chain "$1" >/dev/null; }
# act DESCRIPTION ACTION DISK ID [VMID]: the snapshot action succeeds, and after it DISK is sane
act() {
    local d=$1; shift
    expect_ok "$d" snap "$@"
    [ "$RC" -ne 0 ] || check "  after it: every layer passes qemu-img check, the chain opens" sane "$2"
}

# ---- clone: an overlay on the image ---------------------------------------------------
expect_ok "clone: an overlay" "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
check "disk.0 -> disk.0.snap/0" link_is "$V/disk.0" disk.0.snap/0
check "self link disk.0.snap/disk.0.snap -> ." link_is "$V/disk.0.snap/disk.0.snap" .
check "layer 0 backs onto the image by absolute name" test "$(backing "$V/disk.0.snap/0")" = "$DS/1/base"
check "layer 0 names the image's format explicitly (raw)" test "$(backing_fmt "$V/disk.0.snap/0")" = raw
check "chain: layer 0 -> image" chain_is "$V/disk.0" "$V/disk.0.snap/0" "$DS/1/base"
check "SIZE > ORIGINAL_SIZE grew the overlay to 128 MiB" test "$(vsize "$V/disk.0")" = 134217728
check "the overlay is kilobytes" test "$(alloc_kib "$V/disk.0.snap/0")" -lt 1024
check "the host reads the image's data through the chain" host_reads host01 "$V/disk.0" 0x11 0
check "qemu-img check clean" clean_dir "$V/disk.0.snap"

# ---- three snapshots, revert to the first, delete the second, export ------------------
w "$V/disk.0" 0xa0 1; w "$V/disk.0" 0xa0 2; capture s0 "$V/disk.0"
act "snap_create 0" snap_create "$V/disk.0" 0
w "$V/disk.0" 0xa1 1; w "$V/disk.0" 0xa1 3; capture s1 "$V/disk.0"
act "snap_create 1" snap_create "$V/disk.0" 1
w "$V/disk.0" 0xa2 1; w "$V/disk.0" 0xa2 4; capture s2 "$V/disk.0"
act "snap_create 2" snap_create "$V/disk.0" 2
w "$V/disk.0" 0xa3 1; w "$V/disk.0" 0xa3 5
check "disk.0 -> layer 3" link_is "$V/disk.0" disk.0.snap/3
check "every new layer has the disk's size (128 MiB, grown at clone)" \
    test "$(vsize "$V/disk.0.snap/3")|$(vsize "$V/disk.0.snap/2")|$(vsize "$V/disk.0.snap/1")" = "134217728|134217728|134217728"
check "the active layer backs onto the previous as disk.0.snap/2, frozen ones by bare number" \
    test "$(backing "$V/disk.0.snap/3")|$(backing "$V/disk.0.snap/2")|$(backing "$V/disk.0.snap/1")" = \
    "disk.0.snap/2|1|0"
check "chain 3 -> 2 -> 1 -> 0 -> image" chain_is "$V/disk.0" "$V/disk.0.snap/"{3,2,1,0} "$DS/1/base"
check "data written through the overlays reads back (latest write wins)" \
    bash -c "$(declare -f r); r '$V/disk.0' 0xa3 1 && r '$V/disk.0' 0xa0 2 && r '$V/disk.0' 0xa1 3 && r '$V/disk.0' 0x11 0"
check "qemu-img check clean after 3 snapshots" clean_dir "$V/disk.0.snap"
act "snap_revert 0" snap_revert "$V/disk.0" 0
check "after revert the disk reads exactly snapshot 0" same "$V/disk.0" s0
check "revert kept the link (disk.0 -> layer 3)" link_is "$V/disk.0" disk.0.snap/3
check "chain after revert: 3 -> 0 -> image" chain_is "$V/disk.0" "$V/disk.0.snap/3" "$V/disk.0.snap/0" "$DS/1/base"
check "snapshot 2 still reads its own content" same "$V/disk.0.snap/2" s2
expect_error "revert to the active layer is refused" "does not exist" snap snap_revert "$V/disk.0" 3
expect_error "revert to a snapshot that never was is refused" "does not exist" snap snap_revert "$V/disk.0" 7
act "snap_delete 1 (layer 2 is built on it)" snap_delete "$V/disk.0" 1
check "layer 1 is gone" test ! -e "$V/disk.0.snap/1"
check "layer 2 (frozen) now backs onto layer 0 (relative name)" test "$(backing "$V/disk.0.snap/2")" = 0
check "snapshot 2 kept its content (layer 1's data moved into it)" same "$V/disk.0.snap/2" s2
check "the disk still reads snapshot 0" same "$V/disk.0" s0
check "qemu-img check clean after the delete" clean_dir "$V/disk.0.snap"
BASESUM=$(sum "$DS/1/base")
expect_error "cpds onto the image below the clone's overlay is refused" "part of the disk's own backing chain (its image)" \
    "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/base" -1 42 1
check "the image is unchanged" test "$(sum "$DS/1/base")" = "$BASESUM"
expect_ok "cpds: a flattened export of the disk" "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/export" -1 42 1
check "the export has no backing file" test -z "$(backing "$DS/1/export")"
check "the export holds exactly the disk's content (snapshot 0)" same "$DS/1/export" s0
check "the export is a clean qcow2" qemu-img check -q "$DS/1/export"
expect_ok "cpds to a target deeper in its datastore" "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/deep/export" -1 42 1
check "... lands there, and nowhere else" eval '[ -s "$DS/1/deep/export" ] && [ ! -e "$DS/deep" ]'
rm -rf "$DS/1/deep"
expect_ok "cpds of snapshot 2" "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/export2" 2 42 1
check "the snapshot export holds snapshot 2 and stands alone" \
    bash -c "$(declare -f same json key backing); CAP='$CAP'; same '$DS/1/export2' s2 && test -z \"\$(backing '$DS/1/export2')\""
act "snap_revert 2 (its parent was deleted)" snap_revert "$V/disk.0" 2
check "the disk reads exactly snapshot 2" same "$V/disk.0" s2
check "no dangling link" links_resolve
check "no self reference, every chain opens" no_self_reference
check "the image was never written" test "$(sum "$DS/1/base")" = "$BASESUM"

# ---- snapshot ids >= 10 ---------------------------------------------------------------
ok=1
for i in $(seq 3 12); do
    w "$V/disk.0" "0x$((40 + i))" $((8 + i))
    [ "$i" -ge 10 ] && capture "s$i" "$V/disk.0"
    snap snap_create "$V/disk.0" "$i" 2>"$T/err" || { ok=""; cat "$T/err"; }
    sane "$V/disk.0" || { ok=""; echo "not sane after snapshot $i"; }
done
check "snap_create 3 .. 12 all succeed, each leaving every layer clean" test -n "$ok"
check "disk.0 -> layer 13 (not sorted as text)" link_is "$V/disk.0" disk.0.snap/13
check "layers 0, 2 .. 13 exist, 1 does not" \
    test "$(cd "$V/disk.0.snap" && ls | grep -v snap | sort -n | tr '\n' ' ')" = "0 2 3 4 5 6 7 8 9 10 11 12 13 "
check "chain 13 -> 12 -> ... -> 2 -> 0 -> image" chain_is "$V/disk.0" "$V/disk.0.snap/"{13,12,11,10,9,8,7,6,5,4,3,2,0} "$DS/1/base"
w "$V/disk.0" 0x77 30
act "snap_revert 10" snap_revert "$V/disk.0" 10
check "the disk reads exactly snapshot 10" same "$V/disk.0" s10
act "snap_delete 11 (layer 12 is built on it)" snap_delete "$V/disk.0" 11
check "layer 12 now backs onto layer 10" test "$(backing "$V/disk.0.snap/12")" = 10
check "snapshot 12 kept its content" same "$V/disk.0.snap/12" s12
act "snap_delete 10 (two layers are built on it: 12 and the active 13)" snap_delete "$V/disk.0" 10
check "layers 12 (frozen) and 13 (active) now back onto layer 9" \
    test "$(backing "$V/disk.0.snap/12")|$(backing "$V/disk.0.snap/13")" = "9|disk.0.snap/9"
check "the disk still reads snapshot 10" same "$V/disk.0" s10
check "snapshot 12 still reads its content" same "$V/disk.0.snap/12" s12
expect_ok "cpds of snapshot 12" "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/export12" 12 42 1
check "the export holds exactly snapshot 12" same "$DS/1/export12" s12
act "snap_revert 12" snap_revert "$V/disk.0" 12
check "the disk reads exactly snapshot 12" same "$V/disk.0" s12
check "qemu-img check clean at ids >= 10" clean_dir "$V/disk.0.snap"
act "snap_create 13" snap_create "$V/disk.0" 13
# oned does not reuse the id of a failed snapshot: the next id may be past the active layer
w "$V/disk.0" 0x99 31; capture s15 "$V/disk.0"
act "snap_create 15 while the active layer is 14 (id 14 failed in oned)" snap_create "$V/disk.0" 15
check "the frozen layer is file 15, the old name 14 is gone" test -f "$V/disk.0.snap/15" -a ! -e "$V/disk.0.snap/14"
check "disk.0 -> layer 16, on layer 15" \
    bash -c "$(declare -f link_is json key backing); link_is '$V/disk.0' disk.0.snap/16 && test \"\$(backing '$V/disk.0.snap/16')\" = disk.0.snap/15"
w "$V/disk.0" 0x9a 31
act "snap_revert 15" snap_revert "$V/disk.0" 15
check "the disk reads exactly snapshot 15" same "$V/disk.0" s15

# ---- broken chains are refused, and nothing changes -----------------------------------
before=$(ls "$V/disk.0.snap")
mv "$V/disk.0.snap/12" "$T/away"
expect_error "a missing middle layer is refused" "cannot read the backing chain" snap snap_create "$V/disk.0" 16
check "nothing was created, the link did not move" \
    bash -c "$(declare -f link_is); link_is '$V/disk.0' disk.0.snap/16 && test ! -e '$V/disk.0.snap/17'"
mv "$T/away" "$V/disk.0.snap/12"
qemu-img rebase -u -f qcow2 -F qcow2 -b disk.0.snap/16 "$V/disk.0.snap/9"
expect_error "a loop in the chain is refused" "cannot read the backing chain" snap snap_delete "$V/disk.0" 12
qemu-img rebase -u -f qcow2 -F qcow2 -b disk.0.snap/8 "$V/disk.0.snap/9"
check "the refused actions changed no layer" test "$(ls "$V/disk.0.snap")" = "$before"
mkdir -p "$T/elsewhere"; cp "$V/disk.0.snap/13" "$T/elsewhere/13"
ln -sfn "$T/elsewhere/13" "$V/disk.0"
expect_error "disk.N pointing out of its snapshot directory is refused" "not at layer 13" snap snap_create "$V/disk.0" 16
ln -sfn disk.0.snap/16 "$V/disk.0"
check "the chain is whole again" chain_is "$V/disk.0" "$V/disk.0.snap/"{16,15,13,12,9,8,7,6,5,4,3,2,0} "$DS/1/base"

# ---- a chain 60 snapshots deep (past the kernel's 40 links a path may pass) -----------
vm_xml 47 host01 shared "0:YES:$DS/1/base:64:64:raw:qcow2"
D=$DS/0/47/disk.0
expect_ok "clone for VM 47" "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$D" 47 1
snaps() {  # snaps FROM TO: snap_create FROM .. TO on VM 47, stopping at the first failure
    local i
    for i in $(seq "$1" "$2"); do snap snap_create "$D" "$i" 47 2>"$T/err" || { cat "$T/err"; return 1; }; done
}
# frozen_names_are FORM FROM TO: layers FROM..TO name their backing "k-1" (short) or "disk.0.snap/k-1" (long)
frozen_names_are() {
    local k want
    for k in $(seq "$2" "$3"); do
        want=$((k - 1)); [ "$1" = long ] && want=disk.0.snap/$want
        [ "$(backing "$DS/0/47/disk.0.snap/$k")" = "$want" ] || { echo "layer $k backs onto '$(backing "$DS/0/47/disk.0.snap/$k")'"; return 1; }
    done
}
check "snap_create 0 .. 19" snaps 0 19
w "$D" 0x5a 2
# as upstream's driver (or a live snapshot) leaves them: every layer says disk.0.snap/k
for k in $(seq 1 19); do qemu-img rebase -u -f qcow2 -F qcow2 -b "disk.0.snap/$((k - 1))" "$DS/0/47/disk.0.snap/$k"; done
check "(layers 1 .. 19 now carry long names)" frozen_names_are long 1 19
check "snap_create 20 .. 59" snaps 20 59
check "every frozen layer names its backing by bare number (the long ones shortened)" frozen_names_are short 1 59
check "the active layer names it through the self link" test "$(backing "$DS/0/47/disk.0.snap/60")" = disk.0.snap/59
check "disk.0 -> layer 60" link_is "$D" disk.0.snap/60
check "qemu-img walks all 62 files from disk.0 (layers 60 .. 0, the image)" \
    test "$(json --backing-chain "$D" | key filename | wc -l)" = 62
check "every layer passes qemu-img check" clean_dir "$DS/0/47/disk.0.snap"
check "host01 reads through all 61 layers: the write at depth 19" host_reads host01 "$D" 0x5a 2
check "and the image's own data at the bottom" host_reads host01 "$D" 0x11 0
expect_ok "snap_revert 30 at depth 60" snap snap_revert "$D" 30 47
expect_ok "snap_delete 10 at depth 60 (layer 11 is built on it)" snap snap_delete "$D" 10 47
check "layer 11 backs onto layer 9 by bare number" test "$(backing "$DS/0/47/disk.0.snap/11")" = 9
check "still reads the write at depth 19 and the image's data" bash -c "$(declare -f r); r '$D' 0x5a 2 && r '$D' 0x11 0"
"$R/tm/qcow2/delete" "host01:$DS/0/47" 47 0 2>/dev/null

# ---- persistent image: snapshots beside the image, surviving the VM --------------------
expect_ok "ln: persistent" "$R/tm/qcow2/ln" "frontend:$DS/1/pers" "host01:$V/disk.1" 42 1
check "<SOURCE>.snap/0 -> <SOURCE>" link_is "$DS/1/pers.snap/0" "$DS/1/pers"
check "<SOURCE>.snap/pers.snap -> <SOURCE>.snap" link_is "$DS/1/pers.snap/pers.snap" "$DS/1/pers.snap"
check "disk.1 -> <SOURCE>.snap/0" link_is "$V/disk.1" "$DS/1/pers.snap/0"
check "disk.1.snap -> <SOURCE>.snap" link_is "$V/disk.1.snap" "$DS/1/pers.snap"
check "disk.1's chain is the image alone" chain_is "$V/disk.1" "$DS/1/pers"
w "$V/disk.1" 0xc0 1 raw; capture p0 "$V/disk.1" raw
act "persistent snap_create 0" snap_create "$V/disk.1" 0
check "layer 1 backs onto <SOURCE>.snap/0 by absolute name, format raw" \
    test "$(backing "$DS/1/pers.snap/1")|$(backing_fmt "$DS/1/pers.snap/1")" = "$DS/1/pers.snap/0|raw"
check "disk.1 -> <SOURCE>.snap/1" link_is "$V/disk.1" "$DS/1/pers.snap/1"
w "$V/disk.1" 0xc1 2; capture p1 "$V/disk.1"
act "persistent snap_create 1" snap_create "$V/disk.1" 1
w "$V/disk.1" 0xc2 1
check "persistent chain 2 -> 1 -> 0 = image" chain_is "$V/disk.1" "$DS/1/pers.snap/"{2,1} "$DS/1/pers"
PERSSUM=$(sum "$DS/1/pers")
expect_error "cpds onto the image under the disk's own snapshots is refused" "part of the disk's own backing chain" \
    "$R/tm/qcow2/cpds" "host01:$V/disk.1" "$DS/1/pers" -1 42 1
check "the image is unchanged" test "$(sum "$DS/1/pers")" = "$PERSSUM"
expect_error "snapshot 0 of a persistent disk is the image itself" "is the persistent image itself" \
    snap snap_delete "$V/disk.1" 0
check "and it is still there" link_is "$DS/1/pers.snap/0" "$DS/1/pers"
act "persistent snap_revert 1" snap_revert "$V/disk.1" 1
check "persistent revert reads exactly snapshot 1" same "$V/disk.1" p1
act "persistent snap_delete 1 (the active layer is built on it)" snap_delete "$V/disk.1" 1
check "the active layer now backs onto the image's layer 0" test "$(backing "$DS/1/pers.snap/2")" = "$DS/1/pers.snap/0"
check "and still reads snapshot 1" same "$V/disk.1" p1
act "persistent snap_revert 0" snap_revert "$V/disk.1" 0
check "persistent revert reads exactly snapshot 0" same "$V/disk.1" p0
check "qemu-img check clean (persistent)" clean_dir "$DS/1/pers.snap"
expect_ok "mvds: nothing to move" "$R/tm/qcow2/mvds" "host01:$V/disk.1" "$DS/1/pers" 42 1

# ---- mv to another system datastore path, resize, delete ------------------------------
expect_ok "mv the VM dir to another system datastore path" "$R/tm/qcow2/mv" "host01:$V" "host01:$DS/7/42" 42 7
check "no layer names the old directory" sh -c "! grep -rl --binary-files=text '/0/42/' '$DS/7/42/disk.0.snap/'"
check "chain whole after the move (relative names)" \
    chain_is "$DS/7/42/disk.0" "$DS/7/42/disk.0.snap/"{16,15,13,12,9,8,7,6,5,4,3,2,0} "$DS/1/base"
check "the moved disk reads snapshot 15" same "$DS/7/42/disk.0" s15
check "the persistent disk moved with it" same "$DS/7/42/disk.1" p0
check "qemu-img check clean after the move" clean_dir "$DS/7/42/disk.0.snap"
expect_ok "mv back" "$R/tm/qcow2/mv" "host01:$DS/7/42" "host01:$V" 42 0
expect_ok "resize disk.0 to 256 MiB" "$R/tm/qcow2/resize" "host01:$V/disk.0" 256 42 1
check "resize grew the virtual size" test "$(vsize "$V/disk.0")" = 268435456
check "every layer still passes qemu-img check" sane "$V/disk.0"
check "the resized disk keeps its content" same "$V/disk.0" s15
expect_ok "resize the persistent disk to 96 MiB" "$R/tm/qcow2/resize" "host01:$V/disk.1" 96 42 1
check "its active layer grew, the image did not" test "$(vsize "$V/disk.1")|$(stat -c %s "$DS/1/pers")" = "100663296|67108864"
check "no dangling link" links_resolve
check "no self reference, every chain opens" no_self_reference
expect_ok "delete the VM dir" "$R/tm/qcow2/delete" "host01:$V" 42 0
check "the VM dir is gone" test ! -e "$V"
check "the images are intact" test "$(sum "$DS/1/base")" = "$BASESUM"
check "persistent snapshots survive the VM" test -L "$DS/1/pers.snap/0" -a -f "$DS/1/pers.snap/2"
check "and their chain is whole" chain_is "$DS/1/pers.snap/2" "$DS/1/pers.snap/2" "$DS/1/pers"
expect_ok "ln of the persistent image for the next VM" "$R/tm/qcow2/ln" "frontend:$DS/1/pers" "host01:$V/disk.1" 42 1
check "disk.1 -> <SOURCE>.snap/2 (the highest)" link_is "$V/disk.1" "$DS/1/pers.snap/2"
check "it reads what the last VM left" same "$V/disk.1" p0
"$R/tm/qcow2/delete" "host01:$V" 42 0 2>/dev/null

# ---- a persistent raw disk whose guest wrote a qcow2 header: it stays raw -------------
# (were its format probed, the next overlay would read the host's /etc/shadow through it)
qemu-img create -q -f raw "$DS/1/guestraw" 64M
qemu-img create -q -f qcow2 -F raw -b /etc/shadow "$T/evil-header" 64M
vm_xml 43 host01 shared "0:NO:$DS/1/guestraw:64:64:raw:qcow2"
expect_ok "ln: a persistent raw disk" "$R/tm/qcow2/ln" "frontend:$DS/1/guestraw" "host01:$DS/0/43/disk.0" 43 1
dd if="$T/evil-header" of="$DS/0/43/disk.0" conv=notrunc status=none  # what the guest writes
capture g0 "$DS/0/43/disk.0" raw
# no_shadow DISK: DISK's content holds no line of the host's /etc/shadow (which has a "root:" line)
no_shadow() { qemu-img convert -U -O raw "$1" "$T/ns.raw" && ! grep -aq "^root:" "$T/ns.raw"; }
check "(the probe below can see /etc/shadow: it has a root: line)" grep -q "^root:" /etc/shadow
expect_ok "cpds of it" "$R/tm/qcow2/cpds" "host01:$DS/0/43/disk.0" "$DS/1/g-export" -1 43 1
check "the export holds the guest's bytes, not the host's /etc/shadow" \
    bash -c "$(declare -f same no_shadow); CAP='$CAP'; same '$DS/1/g-export' g0 && no_shadow '$DS/1/g-export'"
act "snap_create on it" snap_create "$DS/0/43/disk.0" 0 43
check "the new layer names its backing format raw" test "$(backing_fmt "$DS/1/guestraw.snap/1")" = raw
check "the chain ends at the image, not at /etc/shadow" chain_is "$DS/0/43/disk.0" "$DS/1/guestraw.snap/1" "$DS/1/guestraw"
check "the disk reads the guest's bytes" same "$DS/0/43/disk.0" g0
"$R/tm/qcow2/delete" "host01:$DS/0/43" 43 0 2>/dev/null

# ---- standalone clones; a 5.x VM (no DISK/FORMAT, DRIVER=qcow2 from TM_MAD_CONF) -------
ONESTOR_QCOW2_STANDALONE=yes expect_ok "clone with QCOW2_STANDALONE=yes" \
    "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
check "disk.0.snap/0 has no backing file" test -z "$(backing "$V/disk.0.snap/0")"
check "and holds the image (grown to SIZE)" sh -c "qemu-img compare -q -f qcow2 -F raw '$V/disk.0' '$DS/1/base'"
w "$V/disk.0" 0xd0 1; capture t0 "$V/disk.0"
act "snap_create 0 on a standalone disk" snap_create "$V/disk.0" 0
w "$V/disk.0" 0xd1 2; capture t1 "$V/disk.0"
act "snap_delete 0: the base of the chain" snap_delete "$V/disk.0" 0
check "layer 1 is standalone now and reads the same" \
    bash -c "$(declare -f same json key backing); CAP='$CAP'; test -z \"\$(backing '$V/disk.0.snap/1')\" && same '$V/disk.0' t1"
"$R/tm/qcow2/delete" "host01:$V" 42 0 2>/dev/null
# SPARSE=NO (7.x): a standalone copy written whole (-S 0), its growth allocated too.
VM_DISK_EXTRA='<SPARSE>NO</SPARSE>' vm_xml 42 host01 shared "0:YES:$DS/1/base:96:64:raw:qcow2"
ONESTOR_QCOW2_STANDALONE=yes expect_ok "standalone clone of a SPARSE=NO disk" \
    "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
check "SPARSE=NO: layer 0 holds all 96 MiB (allocated), reads the image" eval \
    '[ $(($(stat -c %b "$V/disk.0.snap/0") * 512)) -ge $((96 << 20)) ] && qemu-img compare -q -f qcow2 -F raw "$V/disk.0" "$DS/1/base"'
"$R/tm/qcow2/delete" "host01:$V" 42 0 2>/dev/null
vm_xml 42 host01 shared "0:YES:$DS/1/base:64:64:qcow2:qcow2"
sed -i 's|<FORMAT>qcow2</FORMAT>||' "$T/vms/42.xml"
expect_ok "clone of a raw image for a 5.x VM (DRIVER=qcow2, no FORMAT)" \
    "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
check "the overlay names the image's real format (raw)" test "$(backing_fmt "$V/disk.0.snap/0")" = raw
check "and reads the image" r "$V/disk.0" 0x11 0
"$R/tm/qcow2/delete" "host01:$V" 42 0 2>/dev/null

# ---- hostile images: refused with a clear message, nothing created --------------------
qemu-img create -q -f qcow2 -F raw -b /etc/shadow "$DS/1/evil-backing" 1M
qemu-img create -q -f qcow2 -u -F raw -b ../../../../../../etc/shadow "$DS/1/evil-relative" 1M
qemu-img create -q -f qcow2 -u -F raw -b 'json:{"driver":"file","filename":"/etc/shadow"}' "$DS/1/evil-json" 1M
qemu-img create -q -f qcow2 -o data_file="$T/outside-data" "$DS/1/evil-data" 1M
qemu-img amend -q -f qcow2 -o data_file=/etc/hostname "$DS/1/evil-data"  # the header only
qemu-img create -q -f raw "$DS/1/raw-as-qcow2" 1M
HOSTNAME_SUM=$(sum /etc/hostname)
specs=() i=0
for img in evil-backing evil-relative evil-json evil-data raw-as-qcow2; do
    specs+=("$i:YES:$DS/1/$img:1:1:qcow2:qcow2" "$((i + 1)):NO:$DS/1/$img:1:1:qcow2:qcow2")
    i=$((i + 2))
done
vm_xml 42 host01 shared "${specs[@]}"
before=$(find "$DS" "$T/lock" | sort)
i=0
for case in "evil-backing:backing file outside its snapshot directory: '/etc/shadow'" \
            "evil-relative:backing file outside its snapshot directory" \
            "evil-json:backing file outside its snapshot directory: 'json:" \
            "evil-data:external data file outside its snapshot directory: '/etc/hostname'" \
            "raw-as-qcow2:is not a valid qcow2 image"; do
    img=${case%%:*} msg=${case#*:}
    expect_error "clone refuses $img" "$msg" "$R/tm/qcow2/clone" "frontend:$DS/1/$img" "host01:$V/disk.$i" 42 1
    expect_error "ln refuses $img" "$msg" "$R/tm/qcow2/ln" "frontend:$DS/1/$img" "host01:$V/disk.$((i + 1))" 42 1
    i=$((i + 2))
done
check "nothing was created for the hostile images" test "$(find "$DS" "$T/lock" | sort)" = "$before"
check "/etc/hostname was not touched" test "$(sum /etc/hostname)" = "$HOSTNAME_SUM"
# A qcow2 declared raw is used as raw: its backing file is never followed.
vm_xml 42 host01 shared "0:YES:$DS/1/evil-backing:1:1:raw:qcow2"
expect_ok "a qcow2 declared raw is cloned as raw" "$R/tm/qcow2/clone" "frontend:$DS/1/evil-backing" "host01:$V/disk.0" 42 1
check "its overlay's chain stops at the image" chain_is "$V/disk.0" "$V/disk.0.snap/0" "$DS/1/evil-backing"
check "and nothing of /etc/shadow shows through" no_shadow "$V/disk.0"
check "no temporary file was left anywhere" test -z "$(find "$DS" -name '*onestor-tmp*')"
e2e_finish
