# Filesystem safety: a lock file planted as a symlink (LOCK_DIR is often world-writable
# /var/lock) is refused, never followed to create or truncate its target; a FIFO planted
# there does not hang the action.
# Sourced by test_hostile.sh ($R, $DS, $IMG, $CANARY, $LOCKD, refuse, hostile_mark).
FSD=$R/datastore/fs
mkdir -p "$LOCKD" "$IMG.snap"
head -c 4k /dev/urandom >"$IMG.snap/0"
echo "keep me" >"$CANARY/lock-target"
ln -sfn "$CANARY/lock-target" "$LOCKD/image-${IMG##*/}"
ln -sfn "$CANARY/lock-created" "$LOCKD/vm-42"
IMG2=$DS/1/fedcba9876543210fedcba9876543210
head -c 4k /dev/urandom >"$IMG2"
mkfifo "$LOCKD/image-${IMG2##*/}"
hostile_mark

refuse "ds snap_delete: a lock file planted as a symlink to an existing file" "is a symlink: refused" \
    "$FSD/snap_delete" "$(ds_dump SOURCE="$IMG" TARGET_SNAPSHOT=0)" 7
refuse "tm: a VM lock file planted as a symlink to a missing file" "is a symlink: refused" \
    "$R/tm/qcow2/snap_delete" "host01:$DS/0/42/disk.0" 0 42 0
refuse "ds snap_delete: a lock file planted as a FIFO" "not a regular file: refused" \
    timeout 20 "$FSD/snap_delete" "$(ds_dump SOURCE="$IMG2" TARGET_SNAPSHOT=0)" 7
check "the planted lock's target kept its content, nothing was created through the link" \
    eval '[ "$(cat "$CANARY/lock-target")" = "keep me" ] && [ ! -e "$CANARY/lock-created" ]'
rm -rf "$LOCKD/image-${IMG##*/}" "$LOCKD/vm-42" "$LOCKD/image-${IMG2##*/}" "$IMG.snap" "$IMG2"
