#!/usr/bin/env bash
# Regenerates the seed corpora in test/fuzz/corpus/ from real sources: the e2e harness's
# ds_dump and vm_xml, a real qemu-img, and `onestor send` of small files. Existing seeds are
# overwritten by name; regression inputs (crash-*) and the lvs seeds are kept (those came
# from a real `lvs` on a volume group restored with vgcfgrestore: there is no
# device-mapper here). Usage: ONESTOR_BIN=build/onestor bash test/fuzz/make_corpus.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
C=$here/corpus
BIN=${ONESTOR_BIN:-$here/../../build/onestor}
source "$here/../e2e/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/vms" "$C"/{ds_dump,args,vm_template,qemu_info,stream_receive}

# ---- ds_dump: the dumps' XML (the target also feeds each one through base64)
dump() { local name=$1; shift; ds_dump "$@" | base64 -d > "$C/ds_dump/$name"; }
dump cp IMAGE_ID=0 PATH=/var/tmp/ttylinux.img SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/ MD5=abc
dump mkfs IMAGE_ID=1 FSTYPE=ext4 SIZE=64 PERSISTENT=1 FORMAT=raw
dump snap_flatten SOURCE=/var/lib/one/datastores/1/abc FORMAT=qcow2 TM_MAD=qcow2 TARGET_SNAPSHOT=1 DRIVER=qcow2
dump monitor NO_IMAGE=1 BRIDGE_LIST="host01 host02"
dump monitor_system NO_IMAGE=1 DS_TYPE=1 DATASTORE_LOCATION=/var/lib/one/datastores MONITOR_VM_DISKS=1
ds_dump IMAGE_ID=3 SOURCE=/var/lib/one/datastores/1/abc > "$C/ds_dump/rm.b64"

# ---- vm_template: `onevm show -x` as the suites write it, and a datastore document
vm_xml 42 host01 shared "0:YES:/var/lib/one/datastores/1/abc:512:512:raw:shared" "1:NO:/var/lib/one/datastores/1/def:64:64:qcow2:qcow2"
cp "$T/vms/42.xml" "$C/vm_template/vm-two-disks"
VM_DISK_EXTRA="<DISK_SNAPSHOT_TOTAL_SIZE>3</DISK_SNAPSHOT_TOTAL_SIZE>" vm_xml 43 host02 ssh "0:NO:/var/lib/one/datastores/1/x:1024:512:qcow2:qcow2:sda"
sed 's|</TEMPLATE>|<CONTEXT><DISK_ID>1</DISK_ID><TARGET>hda</TARGET></CONTEXT></TEMPLATE>|' "$T/vms/43.xml" > "$C/vm_template/vm-context"
ds_dump NO_IMAGE=1 | base64 -d | sed -n '/<DATASTORE>/,/<\/DATASTORE>/p' > "$C/vm_template/datastore"

# ---- args: argv one word a line (the program path first); after an empty line, stdin
b64=$(ds_dump IMAGE_ID=0 PATH=/var/tmp/a.img)
R=/var/lib/one/remotes
printf '%s\n' "$R/datastore/fs/cp" "$b64" 0 > "$C/args/ds-cp"
printf '%s\n' "$R/datastore/fs/cp" 0 "" "$b64" > "$C/args/ds-cp-stdin"
printf '%s\n' onestor ds cp "$b64" 0 > "$C/args/shell-ds"
printf '%s\n' onestor tm qcow2 clone.ssh frontend:/var/lib/one/datastores/1/abc host01:/var/lib/one/datastores/0/42/disk.0 42 1 > "$C/args/shell-tm-ssh"
printf '%s\n' "$R/tm/shared/clone" --help > "$C/args/help"
tmpl=$(base64 -w0 "$T/vms/42.xml")
"$BIN" actions | sed -n '/^transfer actions/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | while read -r action; do
    syn=$("$BIN" tm shared "$action" --help 2>/dev/null | head -1 || true)
    [ -n "$syn" ] || continue
    words=("$R/tm/shared/$action")
    for tok in ${syn#* }; do
        case "$tok" in
            src\(host:/path\)) words+=(frontend:/var/lib/one/datastores/1/abc) ;;
            *\(host:/path\)) words+=(host01:/var/lib/one/datastores/0/42/disk.0) ;;
            *\(\[host:\]/path\)) words+=(/var/lib/one/datastores/1/abc) ;;
            *\(host\)) words+=(host01) ;;
            *\(vmid\)) words+=(42) ;;
            *\(dsid\)) words+=(0) ;;
            *\(snapid\)) words+=(1) ;;
            *\(snapid\|-1\)) words+=(-1) ;;
            *\(size_mb\)) words+=(64) ;;
            *\(format\)) words+=(raw) ;;
            file*) words+=(/var/tmp/context.sh "/var/tmp/a.txt:'b.txt'") ;;
            \[template_b64\]) words+=("$tmpl") ;;
            \[caller_tm\]) words+=(shared) ;;
            *) words+=("$tok") ;;
        esac
    done
    printf '%s\n' "${words[@]}" > "$C/args/tm-$action"
done

# ---- qemu_info: real qemu-img output, one image and a backing chain
truncate -s 16M "$T/base.raw"
qemu-img create -q -f qcow2 -F raw -b "$T/base.raw" "$T/over.qcow2"
qemu-img create -q -f qcow2 -o data_file="$T/data.raw" "$T/df.qcow2" 1M
qemu-img info --output=json -f raw "$T/base.raw" > "$C/qemu_info/raw"
qemu-img info --output=json -f qcow2 "$T/over.qcow2" > "$C/qemu_info/qcow2-backing"
qemu-img info --output=json --backing-chain -f qcow2 "$T/over.qcow2" > "$C/qemu_info/chain"
qemu-img info --output=json -f qcow2 "$T/df.qcow2" > "$C/qemu_info/qcow2-data-file"

# ---- stream_receive: `onestor send` of a small sparse file, a tree, an empty file
truncate -s 1M "$T/sparse"
printf 'head' | dd of="$T/sparse" conv=notrunc status=none
printf 'middle' | dd of="$T/sparse" bs=1 seek=524288 conv=notrunc status=none
"$BIN" send "$T/sparse" > "$C/stream_receive/sparse-file"
mkdir -p "$T/tree/disk.0.snap"
printf 'x' > "$T/tree/disk.0.snap/0"
ln -s disk.0.snap/0 "$T/tree/disk.0"
: > "$T/tree/empty"
"$BIN" send "$T/tree" > "$C/stream_receive/tree"
"$BIN" send "$T/tree/empty" > "$C/stream_receive/empty-file"
sed -i "s|$T|/var/tmp/img|g" "$C"/qemu_info/*
ls "$C"/* | head -100 >/dev/null
