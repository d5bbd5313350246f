# Image formats (issue 9, items 1-3): images that name other files are refused from their
# first bytes, before anything is copied or opened (no qemu-img probe follows a vmdk
# descriptor's extent or a qcow2's data file, which could be FIFOs or devices); snapshot
# layers that would read a raw image as qcow2 are refused.
# Sourced by test_hostile.sh ($R, $DS, $CANARY, refuse, hostile_mark).
FSD=$R/datastore/fs
FMT=$CANARY/formats
mkdir -p "$FMT"
mkfifo "$FMT/extent"
printf '# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "%s" 0\n' "$FMT/extent" >"$FMT/desc.vmdk"
printf '\n# no header line\nversion=1\nRW 2048 FLAT "%s" 0\n' "$CANARY/one_auth" >"$FMT/bare.vmdk"
qemu-img create -q -f qcow2 -o data_file="$FMT/data" "$FMT/data-file.qcow2" 1M && rm "$FMT/data" && mkfifo "$FMT/data"
qemu-img create -q -f qcow2 -F raw -b "$CANARY/one_auth" "$FMT/backed.qcow2" 1M
qemu-img create -q -f vmdk "$FMT/mono.vmdk" 1M
# A vmdk delta: a monolithic sparse file whose embedded descriptor names a parent.
perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; my $d; sysseek($f, 512, 0); sysread($f, $d, 10240);
  $d =~ s/parentCID=ffffffff/parentFileNameHint="$ARGV[1]"/ or die "no parentCID\n"; $d = substr($d, 0, 10240); sysseek($f, 512, 0); syswrite($f, $d)' \
    "$FMT/mono.vmdk" "$CANARY/one_auth"
cp "$FMT/desc.vmdk" "$DS/1/desc.vmdk"
vm_xml 61 host01 shared "0:YES:$DS/1/desc.vmdk:1:1::qcow2"
# A persistent raw image beside its TM snapshots, one layer opening layer 0 as qcow2.
G=$DS/1/guestraw
truncate -s 4M "$G"
mkdir "$G.snap" && ln -s "$G" "$G.snap/0" && ln -s "$G.snap" "$G.snap/guestraw.snap"
qemu-img create -q -f qcow2 -F qcow2 -u -b "$G.snap/0" "$G.snap/1" 4M
touch "$T/lock/image-guestraw"  # (its lock file, as the snapshot actions that made the layers left it)
fdump() { ds_dump SAFE_DIRS="$FMT" RESTRICTED_DIRS=/ "$@"; }
hostile_mark

refuse "ds stat: a vmdk descriptor whose extent is a FIFO" "vmdk descriptor" timeout 30 "$FSD/stat" "$(fdump PATH="$FMT/desc.vmdk")" 0
refuse "ds cp: a vmdk descriptor whose extent is a FIFO" "vmdk descriptor" timeout 30 "$FSD/cp" "$(fdump PATH="$FMT/desc.vmdk")" 7
refuse "ds cp: a vmdk descriptor naming the secret (qemu's probe form)" "vmdk descriptor" \
    timeout 30 "$FSD/cp" "$(fdump PATH="$FMT/bare.vmdk")" 7
refuse "ds stat: a qcow2 whose external data file is a FIFO" "external data file" \
    timeout 30 "$FSD/stat" "$(fdump PATH="$FMT/data-file.qcow2")" 0
refuse "ds cp: a qcow2 whose external data file is a FIFO" "external data file" \
    timeout 30 "$FSD/cp" "$(fdump PATH="$FMT/data-file.qcow2")" 7
refuse "ds cp: a qcow2 backed by the secret" "has a backing file" timeout 30 "$FSD/cp" "$(fdump PATH="$FMT/backed.qcow2")" 7
refuse "ds cp: a vmdk delta naming the secret as its parent" "names a parent" \
    timeout 30 "$FSD/cp" "$(fdump PATH="$FMT/mono.vmdk" DRIVER=raw)" 7
refuse "tm qcow2 clone: a vmdk descriptor (no DISK/FORMAT)" "vmdk descriptor" \
    timeout 30 "$R/tm/qcow2/clone" "frontend:$DS/1/desc.vmdk" "host01:$DS/0/61/disk.0" 61 1
refuse "ds snap_flatten: a layer that opens a raw snapshot 0 as qcow2" "does not name a layer of its directory and its format" \
    timeout 30 "$FSD/snap_flatten" "$(ds_dump SOURCE="$G" FORMAT=raw TM_MAD=qcow2 TARGET_SNAPSHOT=1)" 7
refuse "ds snap_revert: the same" "does not name a layer of its directory and its format" \
    timeout 30 "$FSD/snap_revert" "$(ds_dump SOURCE="$G" FORMAT=raw TM_MAD=qcow2 TARGET_SNAPSHOT=0)" 7
exec 3<>"$FMT/extent" 4<>"$FMT/data"
exec 3>&- 4>&-  # (frees any reader an older build left blocked on them)
