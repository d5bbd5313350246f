#!/usr/bin/env bash
# fs datastores with BRIDGE_LIST (issue 13): the images live on the bridge hosts, never on
# the front-end; each DS action but stat runs on one of them (the image id modulo their
# number, as upstream), by its onestor, the next one taken when it does not answer. cp
# streams the image from the front-end (a file only the front-end has, a download from a
# real HTTPS server, an ssh source) and the bridge runs the pipeline on it. Real sshd test
# hosts in the ssh layout (each its own datastore tree), so where a file lands is seen.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" ssh
exec </dev/null

PORT=${HTTPSD_PORT:-$((8443 + 4 * (${TESTHOSTS_PORT:-0} % 6)))}
WWW=$T/www HW=$T/httpsd
mkdir -p "$WWW"
"$ONESTOR_SRC/test/e2e/httpsd.sh" start "$WWW" "$HW" "$PORT" &
HPID=$!
trap 'wait $HPID 2>/dev/null; "$ONESTOR_SRC/test/e2e/httpsd.sh" stop "$HW" >/dev/null 2>&1; e2e_cleanup' EXIT

echo "REMOTE_ONESTOR=$R/onestor" >> "$ONESTOR_CONF"
FSD=$R/datastore/fs
BASE=$DS/1
# The images to import lie on a tmpfs mounted in the front-end's namespace after the hosts
# started: the hosts see the empty directory beneath, so what arrives came through the stream.
scratch_dir SAFE /var/tmp/onestor-bridge.XXXX
mount -t tmpfs -o size=256m tmpfs "$SAFE"
E2E_SCRATCH=()  # unmounted below, before it is removed
trap 'wait $HPID 2>/dev/null; "$ONESTOR_SRC/test/e2e/httpsd.sh" stop "$HW" >/dev/null 2>&1; umount "$SAFE"; rmdir "$SAFE"; e2e_cleanup' EXIT
make_sparse "$SAFE/img" 64
{ head -c 1M /dev/urandom; head -c 8M /dev/zero; head -c 2M /dev/urandom; } > "$SAFE/data"
gzip -k "$SAFE/data"
cp "$SAFE/data.gz" "$WWW/data.gz"
cp "$SAFE/img" "$WWW/img"
ONFE=$(sparse_sum "$SAFE/img")
check "the hosts do not see the front-end's files" test -z "$(on host01 ls -A "$SAFE")$(on host02 ls -A "$SAFE")"
dump() { ds_dump SAFE_DIRS="$SAFE" RESTRICTED_DIRS=/ BRIDGE_LIST="host01 host02" "$@"; }
# lands FILE HOST: FILE (a SOURCE printed) is on HOST only, inside the datastore, named by cp
lands() { [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ] && [[ $1 == "$BASE"/* ]] && only_on "$1" "$2"; }
listing() { find "$T/frontend" "$T/hosts/host01" "$T/hosts/host02" -printf '%p %s %y\n' | sort; }
refused() {  # refused DESCRIPTION SUBSTRING ACTION DUMP: the error, and no file made or removed anywhere
    local before
    before=$(listing)
    expect_error "$1" "$2" "$FSD/$3" "$4" 7
    check "$1: nothing created or removed on any machine" test "$before" = "$(listing)"
}
logins() { grep -c "Accepted publickey" "$T/hosts/$1.log"; }

# ---- cp: the image id picks the bridge (7 % 2 -> host02, 8 % 2 -> host01) -------------------
expect_ok "cp a sparse file of the front-end through bridge host02" "$FSD/cp" "$(dump PATH="$SAFE/img")" 7
IMG=$OUT
check "cp: the image is on host02 only" lands "$IMG" host02
check "cp: its bytes" test "$(sparse_sum "$(at host02 "$IMG")")" = "$ONFE"
check "cp: holes kept on the bridge ($(du -k "$(at host02 "$IMG")" | cut -f1) KiB for 64 MiB)" \
    test "$(du -k "$(at host02 "$IMG")" | cut -f1)" -lt 1200
check "cp: the bridge's log lines reach oned, named after it" grep -q "INFO: .*host02: new image source" <<<"$ERR"
expect_ok "cp image 8 through bridge host01, gzip unpacked and MD5 checked there" "$FSD/cp" \
    "$(dump IMAGE_ID=8 PATH="$SAFE/data.gz" MD5="$(md5sum < "$SAFE/data.gz" | cut -d' ' -f1)")" 8
check "cp 8: on host01, the unpacked bytes" eval 'lands "$OUT" host01 && cmp -s "$(at host01 "$OUT")" "$SAFE/data"'
check "cp 8: the zero run is a hole on host01" test "$(du -k "$(at host01 "$OUT")" | cut -f1)" -lt 4000
IMG8=$OUT
refused "cp with an MD5 mismatch: refused by the bridge" "checksum mismatch: MD5" cp \
    "$(dump PATH="$SAFE/data.gz" MD5=0123456789abcdef0123456789abcdef)"
refused "cp of a file outside SAFE_DIRS: refused on the front-end" "Not allowed to copy image from" cp "$(dump PATH=/etc/passwd)"
refused "cp with a bridge named like an ssh option" "host" cp "$(ds_dump PATH="$SAFE/img" SAFE_DIRS="$SAFE" RESTRICTED_DIRS=/ \
    BRIDGE_LIST="host01 -oProxyCommand=touch\${IFS}PWNED")"
check "the option host ran nothing" test ! -e PWNED

wait $HPID || { echo "httpsd failed" >&2; exit 1; }
export ONESTOR_DOWNLOAD_CA_FILE=$HW/ca.pem ONESTOR_DOWNLOAD_RETRIES=2
expect_ok "cp from https:// through bridge host02 (downloaded here, unpacked there)" "$FSD/cp" \
    "$(dump PATH="https://127.0.0.1:$PORT/data.gz")" 7
check "cp https://: on host02, the unpacked bytes" eval 'lands "$OUT" host02 && cmp -s "$(at host02 "$OUT")" "$SAFE/data"'
expect_ok "cp from an https:// server that cuts the connection: resumed" "$FSD/cp" \
    "$(dump PATH="https://127.0.0.1:$((PORT + 1))/cut/img")" 7
check "cp cut: the whole image on host02" eval 'lands "$OUT" host02 && [ "$(sparse_sum "$(at host02 "$OUT")")" = "$ONFE" ]'
refused "cp from an https:// server that cuts and ignores Range: nothing kept on the bridge" "resume" cp \
    "$(dump PATH="https://127.0.0.1:$((PORT + 1))/alwayscut/img")"
ONESTOR_DOWNLOAD_CA_FILE=$HW/other-ca.pem refused "cp from https:// with a CA that signed nothing: refused" "certificate" \
    cp "$(dump PATH="https://127.0.0.1:$PORT/img")"
unset ONESTOR_DOWNLOAD_CA_FILE
expect_ok "cp from ssh://host01 (read here) through bridge host02" "$FSD/cp" "$(dump PATH="ssh://host01:$WWW/img" \
    SAFE_DIRS="$WWW")" 7
check "cp ssh://: on host02, its bytes" eval 'lands "$OUT" host02 && [ "$(sparse_sum "$(at host02 "$OUT")")" = "$ONFE" ]'

# ---- the other actions run where the image is ----------------------------------------------
expect_ok "mkfs of a 16 MiB qcow2 image on bridge host02" "$FSD/mkfs" "$(dump FSTYPE=qcow2 SIZE=16)" 7
check "mkfs: a qcow2 file on host02 only" eval 'lands "$OUT" host02 && qemu-img info "$(at host02 "$OUT")" | grep -q "file format: qcow2"'
MK=$OUT
expect_ok "clone image 7 on bridge host02" "$FSD/clone" "$(dump PATH="$IMG" FORMAT=raw)" 7
check "clone: a copy on host02 only" eval 'lands "$OUT" host02 && [ "$(sparse_sum "$(at host02 "$OUT")")" = "$ONFE" ]'
CL=$OUT
expect_ok "export of image 8" "$FSD/export" "$(dump IMAGE_ID=8 SOURCE="$IMG8" FORMAT=raw SIZE=11)" 8
check "export: IMPORT_SOURCE names the bridge, MD5 of its file" eval \
    '[[ $OUT == *"<IMPORT_SOURCE><![CDATA[ssh://host01:$IMG8]]>"* ]] && [[ $OUT == *"<MD5><![CDATA[$(md5sum < "$SAFE/data" | cut -d" " -f1)]]>"* ]]'
on host02 mkdir -p "$IMG.snap"
on host02 cp "$IMG" "$IMG.snap/1"
on host02 truncate -s 1M "$IMG.snap/2"
expect_ok "snap_delete of snapshot 2 on host02" "$FSD/snap_delete" "$(dump SOURCE="$IMG" TARGET_SNAPSHOT=2)" 7
check "snap_delete: gone from host02" eval '[ ! -e "$(at host02 "$IMG.snap/2")" ] && [ -e "$(at host02 "$IMG.snap/1")" ]'
on host02 truncate -s 0 "$IMG"
expect_ok "snap_revert to snapshot 1 on host02" "$FSD/snap_revert" "$(dump SOURCE="$IMG" TARGET_SNAPSHOT=1)" 7
check "snap_revert: the image holds snapshot 1 again" test "$(sparse_sum "$(at host02 "$IMG")")" = "$ONFE"
expect_ok "snap_flatten to snapshot 1 on host02" "$FSD/snap_flatten" "$(dump SOURCE="$IMG" TARGET_SNAPSHOT=1)" 7
check "snap_flatten: no snapshot directory left" eval '[ ! -e "$(at host02 "$IMG.snap")" ] && [ -f "$(at host02 "$IMG")" ]'
expect_ok "monitor answers from a bridge" "$FSD/monitor" "$(dump NO_IMAGE=1)" 1
check "monitor: USED_MB, TOTAL_MB, FREE_MB" eval '[ "$(grep -cE "^(USED|TOTAL|FREE)_MB=[0-9]+$" <<<"$OUT")" -eq 3 ]'
expect_ok "stat reads the front-end's file, as upstream" "$FSD/stat" "$(dump PATH="$SAFE/img")" 7
check "stat: 64 MiB" test "$OUT" = 64
for f in "$MK" "$CL"; do
    expect_ok "rm of ${f##*/} on host02" "$FSD/rm" "$(dump SOURCE="$f")" 7
    check "rm: gone from host02" only_on "$f" ""
done

# ---- a bridge that is down is passed over; none left is a clear error ----------------------
"$ONESTOR_SRC/test/hosts/testhosts.sh" down "$T/hosts" host02 >/dev/null
expect_ok "cp image 7 with host02 down: host01 takes it" "$FSD/cp" "$(dump PATH="$SAFE/img")" 7
check "cp host02 down: the image on host01" lands "$OUT" host01
check "cp host02 down: the INFO line says so" grep -q "bridge host 'host02' does not answer: trying the next" <<<"$ERR"
"$ONESTOR_SRC/test/hosts/testhosts.sh" down "$T/hosts" host01 >/dev/null
refused "cp with every bridge down" "no host of the datastore's BRIDGE_LIST answers (host02, host01)" cp "$(dump PATH="$SAFE/img")"
"$ONESTOR_SRC/test/hosts/testhosts.sh" up "$T/hosts" host01 >/dev/null
"$ONESTOR_SRC/test/hosts/testhosts.sh" up "$T/hosts" host02 >/dev/null
sed -i "s|^REMOTE_ONESTOR=.*|REMOTE_ONESTOR=/nonexistent/onestor|" "$ONESTOR_CONF"
refused "a bridge without onestor (installing it off)" "bridge host 'host02' has no onestor at '/nonexistent/onestor'" cp \
    "$(dump PATH="$SAFE/img")"
# With REMOTE_ONESTOR_INSTALL=yes, the first action finds none there (exit 127), installs it, runs again.
sed -i -e "s|^REMOTE_ONESTOR=.*|REMOTE_ONESTOR=$T/bridge-bin/onestor|" -e "s|^REMOTE_ONESTOR_INSTALL=.*|REMOTE_ONESTOR_INSTALL=yes|" \
    "$ONESTOR_CONF"
expect_ok "a bridge without onestor, installing on: installed, then the action" "$FSD/cp" "$(dump PATH="$SAFE/img")" 7
check "installed: onestor at REMOTE_ONESTOR, the image on host02" eval '[ -x "$T/bridge-bin/onestor" ] && lands "$OUT" host02'
sed -i -e "s|^REMOTE_ONESTOR=.*|REMOTE_ONESTOR=$R/onestor|" -e "s|^REMOTE_ONESTOR_INSTALL=.*|REMOTE_ONESTOR_INSTALL=no|" "$ONESTOR_CONF"

# ---- the bridge's side: what it keeps depends on the front-end's stream ---------------------
# One 4 KiB data record, with or without the end mark.
records() { perl -e 'print pack("Q<", 4096), "x" x 4096; print pack("Q<", 0) if $ARGV[0]' "$1"; }
SIDE=$(ds_dump PATH=/unused SAFE_DIRS="$SAFE" BASE_PATH="$T/side")
mkdir -p "$T/side"
{ printf '%s\n' "$SIDE"; records 0; } > "$T/stream.cut"
run_action "$R/onestor" bridge cp 7 5.10 < "$T/stream.cut"
check "bridge side, no end mark (the front-end died mid-image): an error, nothing kept" eval \
    '[ "$RC" -ne 0 ] && [[ $ERR == *"ended before its end mark"* ]] && [ -z "$(ls -A "$T/side")" ]'
{ printf '%s\n' "$SIDE"; records 1; } > "$T/stream.whole"
run_action "$R/onestor" bridge cp 7 5.10 < "$T/stream.whole"
check "bridge side, the end mark but then the front-end's end closed (it died): stopped, nothing kept" eval \
    '[ "$RC" -ne 0 ] && [[ $ERR == *"the front-end went away"* ]] && [ -z "$(ls -A "$T/side")" ]'
run_action "$R/onestor" bridge cp 7 5.10 < <(cat "$T/stream.whole"; sleep 3)
check "bridge side, the whole stream, the front-end still there: the image and its format" eval \
    '[ "$RC" -eq 0 ] && [ "$(sed -n 2p <<<"$OUT")" = raw ] && [ "$(head -c 4096 "$(sed -n 1p <<<"$OUT")" | tr -d x | wc -c)" -eq 0 ]'
check "no temporary file left on any machine" no_temps

e2e_finish
