# Path confinement (issue 9 items 4, 5, 6, 9), sourced by test_hostile.sh. TM path arguments
# lie in the datastores where oned puts them, for every driver and .ssh variant, checked
# before any backend runs; driver names from templates are plain installed names; refused
# paths are named as given, with one answer whether they exist or not.

# ---- fixtures (before the picture) ----------------------------------------------------------
mkdir -p "$CANARY/evil" "$DS/0/46"  # $CANARY/x/42: a VM-shaped tree outside the datastores
head -c 1M /dev/urandom > "$DS/0/46/disk.0"
# item 6: a "driver" outside the remotes tree, and one planted as a symlinked directory
printf '#!/bin/sh\ntouch %q\n' "$CANARY/pwned" > "$CANARY/evil/premigrate"
chmod +x "$CANARY/evil/premigrate"
ln -sfn "$CANARY/evil" "$R/tm/evil"
vm_xml 46 host01 shared "0:YES:$DS/1/img:8:8:raw:../../../../../../../../../../..$CANARY/evil"
TPL_UP=$(base64 -w0 "$T/vms/46.xml")
vm_xml 47 host01 shared "0:YES:$DS/1/img:8:8:raw:evil"
TPL_LINK=$(base64 -w0 "$T/vms/47.xml")
mkdir -p "$DS/0/47"
# a VM directory that is a symlink out of the system datastore
ln -sfn "$CANARY" "$DS/0/77"
vm_xml 77 host01 shared
# every driver's .ssh variant (oned runs <action>.<system tm> when TM_MAD_SYSTEM is set)
for tm in shared ssh qcow2 fs_lvm; do
    for a in clone delete mvds; do [ -e "$R/tm/$tm/$a.ssh" ] || ln -s ../../onestor "$R/tm/$tm/$a.ssh"; done
done

hostile_mark

# ---- item 4: delete of a <x>/<y>/<vmid> tree anywhere ---------------------------------------
for tm in shared ssh qcow2 fs_lvm; do
    for a in delete delete.ssh; do
        refuse "tm/$tm/$a of a VM-shaped tree outside the datastores" "is not a disk of VM 42 nor its directory" \
            "$R/tm/$tm/$a" "localhost:$CANARY/x/42" 42 0
    done
    refuse "tm/$tm/delete of a VM directory of another datastore than DSID" "is not a disk of VM 46" \
        "$R/tm/$tm/delete" "localhost:$DS/5/46" 46 0
done

# ---- item 5: images from and disks back to outside the datastores ---------------------------
for tm in shared ssh qcow2 fs_lvm; do
    for a in clone clone.ssh; do
        refuse "tm/$tm/$a of /etc/shadow" "'localhost:/etc/shadow' is not an image of a datastore" \
            "$R/tm/$tm/$a" localhost:/etc/shadow "localhost:$DS/0/46/disk.0" 46 0
        refuse "tm/$tm/$a of the canary" "is not an image of a datastore" \
            "$R/tm/$tm/$a" "localhost:$CANARY/one_auth" "localhost:$DS/0/46/disk.1" 46 1
    done
    for a in mvds mvds.ssh; do
        refuse "tm/$tm/$a into the canary tree" "is not an image of a datastore" \
            "$R/tm/$tm/$a" "localhost:$DS/0/46/disk.0" "$CANARY/written" 46 1
    done
    refuse "tm/$tm/cpds into the canary tree" "is not an image of a datastore" \
        "$R/tm/$tm/cpds" "localhost:$DS/0/46/disk.0" "$CANARY/written" -1 46 1
    refuse "tm/$tm/mv of a disk out of the datastores" "is not a disk of VM 46" \
        "$R/tm/$tm/mv" "localhost:$DS/0/46/disk.0" "localhost:$CANARY/x/46/disk.0" 46 1
    refuse "tm/$tm/mkimage through a symlinked VM directory" "leads outside its datastore" \
        "$R/tm/$tm/mkimage" 8 raw "localhost:$DS/0/77/disk.0" 77 0
done

refuse "tm/ssh/monitor_ds of a directory outside the datastores" "is not a datastore directory" \
    "$R/onestor" tm ssh monitor_ds "$CANARY"

# ---- item 6: DISK/TM_MAD names a path --------------------------------------------------------
refuse "premigrate with TM_MAD=../../..$CANARY/evil" "invalid transfer driver" \
    "$R/tm/shared/premigrate" host01 host02 "$DS/0/46" 46 0 "$TPL_UP"
refuse "premigrate with TM_MAD naming a symlinked directory in the remotes tree" "invalid transfer driver 'evil'" \
    "$R/tm/shared/premigrate" host01 host02 "$DS/0/47" 47 0 "$TPL_LINK"
refuse "premigrate of a VM directory outside the datastores" "is not the directory of VM 46" \
    "$R/tm/shared/premigrate" host01 host02 "$CANARY/x/46" 46 0 "$TPL_UP"

# ---- item 9: refused paths named as given, one answer whether they exist or not -------------
P9=(RESTRICTED_DIRS=/)
for p in /root/nonexistent /root/.bashrc "$CANARY/one_auth" "$CANARY/nothing-here"; do
    for a in stat cp; do
        refuse "fs/$a of $p" "Not allowed to copy image from '$p' (it is restricted or does not exist)" \
            "$R/datastore/fs/$a" "$(ds_dump PATH="$p" "${P9[@]}")" 7
    done
done
# /proc/self/fd/0 must not reveal what it points to (here: the canary's secret)
HOSTILE_STDIN=$CANARY/one_auth refuse "fs/stat of /proc/self/fd/0" "Not allowed to copy image from '/proc/self/fd/0'" \
    "$R/datastore/fs/stat" "$(ds_dump PATH=/proc/self/fd/0 "${P9[@]}")" 7
check "fs/stat of /proc/self/fd/0 does not name its target" test -n "$ERR" -a "${ERR/$CANARY/}" = "$ERR"
