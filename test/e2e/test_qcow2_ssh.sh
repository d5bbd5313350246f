#!/usr/bin/env bash
# TM_MAD=qcow2 image datastore feeding hosts' own (ssh) system datastores: the .ssh actions.
# Layout ssh (each host its own datastore tree) with the image datastore 1 shared: the
# front-end's $DS/1 is bind-mounted into every host's tree, as an NFS image datastore is.
#   clone.ssh: a standalone qcow2 copy on the host; snapshots, revert, delete, cpds, resize
#   on it; the VM directory migrates host01 -> host02 (tm/ssh/mv) with its chains whole.
#   ln.ssh: a persistent image with snapshots made beside it (by the shared-mode driver)
#   becomes copies in the host's disk.N.snap/ with relative names; snapshots there; mvds.ssh
#   brings the chain back beside the image, where the shared-mode ln runs it again.
#   Broken or hostile chains are refused on either side, and nothing is touched.
# After each step: bytes through the chain (qemu-io patterns, whole-disk compares), qemu-img
# check, the chain's files and names, and where every file is (front-end, host01, host02).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/qcow2_lib.sh"
e2e_before_hosts() {
    local h
    mkdir -p "$T/frontend/1"
    for h in host01 host02; do
        mkdir -p "$T/hosts/$h/1" && mount --bind "$T/frontend/1" "$T/hosts/$h/1" || { fail "cannot share $DS/1 with $h"; exit 1; }
    done
}
e2e_init "$@" ssh
trap 'umount "$T/hosts/host01/1" "$T/hosts/host02/1" 2>/dev/null; e2e_cleanup' EXIT
ssh_mux
cat >> "$ONESTOR_CONF" <<CFG
REMOTE_ONESTOR=$R/onestor
HOST_SSH=ssh -F $T/hosts/ssh_config
CFG
V=$DS/0/42
CAP=$T/cap
mkdir -p "$CAP"

# ---- helpers ---------------------------------------------------------------------------
tree_sum() { (cd "$1" && find . -printf '%y %p %l\n' | sort && find . -type f -exec sha256sum {} + | sort) | sha256sum; }
tm() { local a=$1; shift; "$R/tm/qcow2/$a" "$@"; }

# ---- the images --------------------------------------------------------------------------
mkdir -p "$DS/1"
qemu-img create -q -f raw "$DS/1/base" 64M
qemu-io -f raw -c 'write -P 0x11 0 1M' "$DS/1/base" >/dev/null
BASESUM=$(sum "$DS/1/base")
check "the image datastore is shared: host01 and host02 see the image" \
    test "$(sum_on host01 "$DS/1/base")|$(sum_on host02 "$DS/1/base")" = "$BASESUM|$BASESUM"
on host01 mkdir -p "$DS/0" && on host01 touch "$DS/0/probe"
check "the system datastore is not: host01's $DS/0 is its own" only_on "$DS/0/probe" host01
on host01 rm "$DS/0/probe"
check "onestor actions lists the qcow2 .ssh variants" \
    sh -c "'$R/onestor' actions | grep -E '^  (clone|ln|mvds|cpds|mv|snap_create|snap_delete|snap_revert|resize) ' | awk '{print \$4}' | grep -c '^yes+ssh$' | grep -qx 9"

# ---- clone.ssh: a standalone copy on the host -------------------------------------------
vm_xml 42 host01 ssh "0:YES:$DS/1/base:128:64:raw:qcow2"
expect_ok "clone.ssh frontend -> host01" tm clone.ssh "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
D0=$(at host01 "$V/disk.0")
check "clone.ssh: host01's datastore 0 is marked for the host probes (.monitor = ssh)" test "$(cat "$(at host01 "$DS/0/.monitor")")" = ssh
check "... and the front-end's shared-mode datastore is not" test ! -e "$DS/0/.monitor"
check "disk.0 -> disk.0.snap/0, self link disk.0.snap -> ." \
    bash -c "$(declare -f link_is); link_is '$D0' disk.0.snap/0 && link_is '$D0.snap/disk.0.snap' ."
check "layer 0 is a standalone qcow2 (no backing file: the image datastore may go)" \
    test "$(json "$D0.snap/0" | key format)|$(backing "$D0.snap/0")" = "qcow2|"
check "grown to SIZE (128 MiB)" test "$(vsize "$D0")" = 134217728
check "host01 reads the image's data through disk.0" host_reads host01 "$V/disk.0" 0x11 0
check "qemu-img check clean" clean "$D0.snap/0"
check "the disk is only on host01" only_on "$V/disk.0" host01
check "the image is untouched" test "$(sum "$DS/1/base")" = "$BASESUM"

w "$D0" 0xa0 1; capture c0 "$D0"
expect_ok "snap_create.ssh 0" tm snap_create.ssh "host01:$V/disk.0" 0 42 1
w "$D0" 0xa1 2; capture c1 "$D0"
expect_ok "snap_create.ssh 1" tm snap_create.ssh "host01:$V/disk.0" 1 42 1
w "$D0" 0xa2 3; capture c2 "$D0"
check "disk.0 -> layer 2; layer 2 names disk.0.snap/1, layer 1 names 0" \
    bash -c "$(declare -f link_is json key backing); link_is '$D0' disk.0.snap/2 && test \"\$(backing '$D0.snap/2')|\$(backing '$D0.snap/1')\" = 'disk.0.snap/1|0'"
check "chain 2 -> 1 -> 0, nothing outside host01's disk.0.snap/" chain_is "$D0" "$D0.snap/"{2,1,0}
check "qemu-img check clean on every layer" clean "$D0.snap/"{0,1,2}
expect_ok "cpds.ssh of snapshot 1 into the image datastore" tm cpds.ssh "host01:$V/disk.0" "$DS/1/export1" 1 42 1
check "the export holds snapshot 1, standalone, on the shared image datastore" \
    bash -c "$(declare -f same json key backing); CAP='$CAP'; same '$DS/1/export1' c1 && test -z \"\$(backing '$DS/1/export1')\""
expect_ok "snap_delete.ssh 0 (layer 1 is built on it)" tm snap_delete.ssh "host01:$V/disk.0" 0 42 1
check "layer 0 is gone, layer 1 stands alone and still reads snapshot 1" \
    bash -c "$(declare -f same json key backing); CAP='$CAP'; test ! -e '$D0.snap/0' -a -z \"\$(backing '$D0.snap/1')\" && same '$D0.snap/1' c1"
check "the disk still reads its current content" same "$D0" c2
expect_ok "snap_revert.ssh 1" tm snap_revert.ssh "host01:$V/disk.0" 1 42 1
check "the disk reads exactly snapshot 1" same "$D0" c1
expect_ok "resize.ssh to 192 MiB" tm resize.ssh "host01:$V/disk.0" 192 42 1
check "the active layer grew; the content is kept" bash -c "$(declare -f same json nkey vsize); CAP='$CAP'; test \"\$(vsize '$D0')\" = 201326592 && same '$D0' c1"

# ---- ln.ssh: a persistent image whose snapshots were made beside it ----------------------
qemu-img create -q -f raw "$DS/1/pers" 64M
vm_xml 50 frontend shared "0:NO:$DS/1/pers:64:64:raw:qcow2"
F=$DS/0/50/disk.0
expect_ok "(shared-mode ln of the persistent image on the front-end)" tm ln "frontend:$DS/1/pers" "frontend:$F" 50 1
w "$F" 0xc0 1 raw; capture p0 "$F" raw
expect_ok "(shared-mode snapshot 0 beside the image)" tm snap_create "frontend:$F" 0 50 1
w "$F" 0xc1 2; capture p1 "$F"
expect_ok "(shared-mode snapshot 1)" tm snap_create "frontend:$F" 1 50 1
w "$F" 0xc2 3; capture p2 "$F"
expect_ok "(the front-end VM goes)" tm delete "frontend:$DS/0/50" 50 0
check "(the image datastore: <SOURCE>.snap/0 -> <SOURCE>, layers 1 and 2 with absolute names)" \
    test "$(readlink "$DS/1/pers.snap/0")|$(backing "$DS/1/pers.snap/2")" = "$DS/1/pers|$DS/1/pers.snap/1"
PERS_TREE=$(tree_sum "$DS/1/pers.snap"); PERS_SUM=$(sum "$DS/1/pers")
vm_xml 42 host01 ssh "0:YES:$DS/1/base:128:64:raw:qcow2" "1:NO:$DS/1/pers:64:64:raw:qcow2"
expect_ok "ln.ssh: the persistent image and its snapshots to host01" tm ln.ssh "frontend:$DS/1/pers" "host01:$V/disk.1" 42 1
D1=$(at host01 "$V/disk.1")
check "disk.1 -> disk.1.snap/2 (the active layer), disk.1.snap/ a directory of host01's own" \
    bash -c "$(declare -f link_is); link_is '$D1' disk.1.snap/2 && test -d '$D1.snap' -a ! -L '$D1.snap'"
check "layers 0 (raw, a file: no link to the image), 1, 2 and the self link, nothing else" \
    test "$(cd "$D1.snap" && find . -mindepth 1 -printf '%y %f %l\n' | sort | tr '\n' ,)" = "f 0 ,f 1 ,f 2 ,l disk.1.snap .,"
check "names relative: 2 -> disk.1.snap/1, 1 -> 0 (format raw)" \
    test "$(backing "$D1.snap/2")|$(backing "$D1.snap/1")|$(backing_fmt "$D1.snap/1")" = "disk.1.snap/1|0|raw"
check "chain 2 -> 1 -> 0 inside host01's disk.1.snap/, not the image datastore" chain_is "$D1" "$D1.snap/"{2,1,0}
check "every layer reads what it read beside the image" \
    bash -c "$(declare -f same); CAP='$CAP'; same '$D1' p2 && same '$D1.snap/1' p1 && same '$D1.snap/0' p0 raw"
check "host01 reads the persistent disk through its chain" host_reads host01 "$V/disk.1" 0xc1 2
check "qemu-img check clean" clean "$D1.snap/"{1,2}
check "the image and its snapshots were only read" \
    test "$(tree_sum "$DS/1/pers.snap")|$(sum "$DS/1/pers")" = "$PERS_TREE|$PERS_SUM"
expect_ok "snap_create.ssh 2 on the persistent disk (on the host's copy)" tm snap_create.ssh "host01:$V/disk.1" 2 42 1
check "layer 3 on host01; layer 2 now names 1" \
    test "$(backing "$D1.snap/3")|$(backing "$D1.snap/2")" = "disk.1.snap/2|1"
check "the image datastore did not change" test "$(tree_sum "$DS/1/pers.snap")|$(sum "$DS/1/pers")" = "$PERS_TREE|$PERS_SUM"
w "$D1" 0xc3 4; capture p3 "$D1"
expect_error "snap_delete.ssh 0: layer 0 is the persistent image" "is the persistent image itself" \
    tm snap_delete.ssh "host01:$V/disk.1" 0 42 1
expect_ok "snap_delete.ssh 1 (layer 2 is built on it)" tm snap_delete.ssh "host01:$V/disk.1" 1 42 1
check "layer 2 now names 0 (raw) and still reads snapshot 2" \
    bash -c "$(declare -f same json key backing backing_fmt); CAP='$CAP'; test \"\$(backing '$D1.snap/2')|\$(backing_fmt '$D1.snap/2')\" = '0|raw' && same '$D1.snap/2' p2"

# ---- the VM migrates host01 -> host02 (the ssh system datastore's own mv) -----------------
for d in 0 1; do expect_ok "mv.ssh disk.$d host01 -> host02 (the directory's mv moves it)" tm mv.ssh "host01:$V/disk.$d" "host02:$V/disk.$d" 42 1; done
check "per-disk mv.ssh moved nothing" only_on "$V/disk.1" host01
expect_ok "tm/ssh/mv of the VM directory host01 -> host02" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
E0=$(at host02 "$V/disk.0") E1=$(at host02 "$V/disk.1")
check "the VM directory is only on host02" only_on "$V" host02
check "both chains are whole on host02 (relative names)" \
    bash -c "$(declare -f chain_is json key); chain_is '$E0' '$E0.snap/'{2,1} && chain_is '$E1' '$E1.snap/'{3,2,0}"
check "and read the same" bash -c "$(declare -f same); CAP='$CAP'; same '$E0' c1 && same '$E1' p3"
host02_reads_both() { host_reads host02 "$V/disk.0" 0xa1 2 && host_reads host02 "$V/disk.1" 0xc3 4; }
check "host02 reads them" host02_reads_both

# ---- mvds.ssh: the chain back beside the image -------------------------------------------
PERS_INO=$(stat -c %i "$DS/1/pers")
expect_ok "mvds.ssh host02 -> the image datastore" tm mvds.ssh "host02:$V/disk.1" "$DS/1/pers" 42 1
check "<SOURCE>.snap/: 0 -> <SOURCE>, self link, layers 2 and 3 (1 was deleted on the host)" \
    test "$(cd "$DS/1/pers.snap" && find . -mindepth 1 -printf '%y %f %l\n' | sort | tr '\n' ,)" = \
    "f 2 ,f 3 ,l 0 $DS/1/pers,l pers.snap $DS/1/pers.snap,"
check "absolute names, formats explicit: 3 -> pers.snap/2, 2 -> pers.snap/0 (raw)" \
    test "$(backing "$DS/1/pers.snap/3")|$(backing "$DS/1/pers.snap/2")|$(backing_fmt "$DS/1/pers.snap/2")" = \
    "$DS/1/pers.snap/2|$DS/1/pers.snap/0|raw"
check "chain 3 -> 2 -> <SOURCE>" chain_is "$DS/1/pers.snap/3" "$DS/1/pers.snap/"{3,2} "$DS/1/pers"
check "every layer reads what it read on the host" \
    bash -c "$(declare -f same); CAP='$CAP'; same '$DS/1/pers.snap/3' p3 && same '$DS/1/pers.snap/2' p2 && same '$DS/1/pers' p0 raw"
check "qemu-img check clean" clean "$DS/1/pers.snap/"{2,3}
check "<SOURCE> was replaced by rename (new inode), not written in place" test "$(stat -c %i "$DS/1/pers")" != "$PERS_INO"
check "the host's copy is gone (after, not before)" only_on "$V/disk.1"
check "disk.0 stays on host02" only_on "$V/disk.0" host02
vm_xml 51 frontend shared "0:NO:$DS/1/pers:64:64:raw:qcow2"
expect_ok "shared-mode ln runs the image on again" tm ln "frontend:$DS/1/pers" "frontend:$DS/0/51/disk.0" 51 1
check "disk.0 -> <SOURCE>.snap/3, reading what the ssh host left" \
    bash -c "$(declare -f link_is same); CAP='$CAP'; link_is '$DS/0/51/disk.0' '$DS/1/pers.snap/3' && same '$DS/0/51/disk.0' p3"
expect_ok "(and goes)" tm delete "frontend:$DS/0/51" 51 0

# ---- a persistent image without snapshots: the VM's writes come back as <SOURCE> ---------
# (both ways by the tar -S fallback: no onestor on the hosts)
export ONESTOR_REMOTE_ONESTOR=/nonexistent/onestor
qemu-img create -q -f raw "$DS/1/plain" 32M
vm_xml 43 host01 ssh "2:NO:$DS/1/plain:32:32:raw:qcow2"
expect_ok "ln.ssh of an image with no snapshots" tm ln.ssh "frontend:$DS/1/plain" "host01:$DS/0/43/disk.2" 43 1
check "it went by tar -S" grep -q 'falling back to tar -S' <<<"$ERR"
G=$(at host01 "$DS/0/43/disk.2")
check "disk.2 -> disk.2.snap/0, a raw copy" \
    bash -c "$(declare -f link_is json key); link_is '$G' disk.2.snap/0 && test \"\$(json -f raw '$G' | key format)\" = raw"
on host01 qemu-io -f raw -c 'write -P 0xe0 5M 1M' "$DS/0/43/disk.2" >/dev/null
check "(the VM wrote through it; the image did not change)" sh -c "! qemu-io -r -f raw -c 'read -P 0xe0 5M 1M' '$DS/1/plain' >/dev/null 2>&1"
expect_ok "mvds.ssh of it" tm mvds.ssh "host01:$DS/0/43/disk.2" "$DS/1/plain" 43 1
check "it went by tar -S" grep -q 'falling back to tar -S' <<<"$ERR"
unset ONESTOR_REMOTE_ONESTOR
check "<SOURCE> holds the VM's write" r "$DS/1/plain" 0xe0 5 raw
check "<SOURCE>.snap/0 -> <SOURCE>" link_is "$DS/1/plain.snap/0" "$DS/1/plain"
check "host01's copy is gone" only_on "$DS/0/43/disk.2"

# ---- refused: broken or hostile chains, on either side; nothing is touched ----------------
qemu-img create -q -f raw "$DS/1/p4" 32M
vm_xml 44 host01 ssh "1:NO:$DS/1/p4:32:32:raw:qcow2"
W=$DS/0/44
expect_ok "ln.ssh for VM 44" tm ln.ssh "frontend:$DS/1/p4" "host01:$W/disk.1" 44 1
expect_ok "a snapshot on the host" tm snap_create.ssh "host01:$W/disk.1" 0 44 1
H1=$(at host01 "$W/disk.1")
P4_SUM=$(sum "$DS/1/p4")
ln -s /etc/shadow "$H1.snap/5"  # a stray the host's directory should never hold
expect_error "mvds.ssh refuses a host directory holding a symlinked layer" "is a symlink" \
    tm mvds.ssh "host01:$W/disk.1" "$DS/1/p4" 44 1
check "the image is untouched, no snapshot directory made, the host's chain kept" \
    test "$(sum "$DS/1/p4")" = "$P4_SUM" -a ! -e "$DS/1/p4.snap" -a -L "$H1" -a -f "$H1.snap/1"
rm "$H1.snap/5"
mv "$H1.snap/0" "$T/away"
expect_error "mvds.ssh refuses a broken host chain (before copying anything)" "cannot read the backing chain" \
    tm mvds.ssh "host01:$W/disk.1" "$DS/1/p4" 44 1
check "the image is untouched" test "$(sum "$DS/1/p4")" = "$P4_SUM" -a ! -e "$DS/1/p4.snap"
mv "$T/away" "$H1.snap/0"
expect_ok "with the chain whole again, mvds.ssh brings it back" tm mvds.ssh "host01:$W/disk.1" "$DS/1/p4" 44 1
check "(its chain: 1 -> <SOURCE>)" chain_is "$DS/1/p4.snap/1" "$DS/1/p4.snap/1" "$DS/1/p4"

qemu-img create -q -f raw "$DS/1/p5" 32M
mkdir "$DS/1/p5.snap" && ln -s "$DS/1/p5" "$DS/1/p5.snap/0"
qemu-img create -q -f qcow2 -F raw -b /etc/shadow "$DS/1/p5.snap/1" 32M
vm_xml 45 host01 ssh "1:NO:$DS/1/p5:32:32:raw:qcow2"
expect_error "ln.ssh refuses a snapshot layer that leads outside" "backing file outside its snapshot directory: '/etc/shadow'" \
    tm ln.ssh "frontend:$DS/1/p5" "host01:$DS/0/45/disk.1" 45 1
check "nothing was made on host01" only_on "$DS/0/45"
qemu-img create -q -f qcow2 -F raw -b /etc/shadow "$DS/1/evil" 1M
vm_xml 46 host01 ssh "0:YES:$DS/1/evil:1:1:qcow2:qcow2"
expect_error "clone.ssh refuses an image that leads outside" "backing file outside its snapshot directory" \
    tm clone.ssh "frontend:$DS/1/evil" "host01:$DS/0/46/disk.0" 46 1
check "nothing was made on host01" only_on "$DS/0/46"
vm_xml 47 host01 ssh "0:YES:$DS/1/base:64:64:raw:qcow2"
expect_error "mvds.ssh of a non-persistent disk is refused" "not a persistent image" \
    tm mvds.ssh "host02:$V/disk.0" "$DS/1/base" 42 1
check "the image is untouched" test "$(sum "$DS/1/base")" = "$BASESUM"
check "no temporary files anywhere" no_temps
expect_ok "delete VM 42 on host02" tm delete "host02:$V" 42 0
expect_ok "delete VM 44 on host01" tm delete "host01:$W" 44 0
check "gone everywhere" only_on "$V"
e2e_finish
