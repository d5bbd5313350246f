#!/usr/bin/env bash
# (Over 400 lines: the nine fs actions over one private datastore fixture, in two input forms.)
# End-to-end suite of the `fs` datastore driver: the nine DS actions (cp, mkfs, rm, stat,
# clone, monitor, snap_delete, snap_flatten, snap_revert) run through the installed symlink
# tree exactly as oned runs them ($R/datastore/fs/ACTION DUMP ID, and the 6.8+ form
# ACTION ID with the base64 dump on stdin), with real qemu-img / mkfs / mkswap. Needs no
# test hosts: the front-end's datastores ($DS) are a private bind mount.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" none
exec </dev/null  # no action may wait on the terminal; the stdin form gets a here-string

FSD=$R/datastore/fs
BASE=$DS/1  # BASE_PATH of datastore 1 (ds_dump's default)
scratch_dir SAFE /var/tmp/onestor-ds.XXXX  # the one SAFE_DIRS entry; RESTRICTED_DIRS=/
mkdir -p "$T/cwd" "$T/outside"
cd "$T/cwd" || exit 1

# dump KEY=VALUE...: an action document for datastore 1 with this run's path policy.
dump() { ds_dump SAFE_DIRS="$SAFE" RESTRICTED_DIRS=/ "$@"; }
# What the datastores and SAFE_DIRS hold (names, sizes, types): equal before and after a refusal.
listing() { find "$DS" "$SAFE" -printf '%p %s %y\n' | sort; }
no_tmp() { [ -z "$(find "$BASE" -name '.*onestor-tmp*' 2>/dev/null)" ]; }
same() { [ -f "$1" ] && [ -f "$2" ] && [ "$(sum "$1")" = "$(sum "$2")" ]; }
# one_source S: S is one line naming a new regular file directly under BASE_PATH.
one_source() { [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ] && [[ $1 == "$BASE"/* ]] && [[ ${1#"$BASE"/} != */* ]] && [ -f "$1" ]; }
# The qemu tools are time-limited: a broken chain (an image backed by itself) makes them loop.
qfield() { [ -e "$1" ] && timeout 20 qemu-img info -U "$1" | sed -n "s/^$2: //p"; }
vsize() { qfield "$1" 'virtual size' | sed -n 's/.*(\([0-9]*\) bytes)$/\1/p'; }
qio() { timeout 20 qemu-io "$@" >/dev/null 2>&1; }
qcheck() { timeout 20 qemu-img check -q "$1" >/dev/null 2>&1; }
fstype() { blkid -p -o value -s TYPE "$1" 2>/dev/null; }
# refused DESCRIPTION SUBSTRING CMD...: expect_error, and nothing was created or removed.
refused() {
    local d=$1 before after
    before=$(listing)
    expect_error "$@"
    after=$(listing)
    check "$d: nothing created or removed" [ "$before" = "$after" ]
}

echo "# cp"
make_sparse "$SAFE/sparse.raw" 256
expect_ok "cp: a 256 MiB sparse raw image (DUMP ID)" "$FSD/cp" "$(dump PATH="$SAFE/sparse.raw")" 7
S1=$OUT
check "cp: stdout is exactly one SOURCE directly under BASE_PATH ('$S1')" one_source "$S1"
check "cp: the copy has the source's sha256" same "$S1" "$SAFE/sparse.raw"
check "cp: holes kept ($(alloc_kib "$S1" 2>/dev/null) KiB allocated)" test "$(alloc_kib "$S1" 2>/dev/null || echo 999999)" -lt 2048
check "cp: the source is untouched" test -f "$SAFE/sparse.raw"
expect_ok "cp: 6.8+ form (ID only, the dump on stdin)" "$FSD/cp" 7 <<<"$(dump PATH="$SAFE/sparse.raw")"
S2=$OUT
check "cp (stdin form): one SOURCE line, same sha256" eval 'one_source "$S2" && same "$S2" "$SAFE/sparse.raw"'
check "cp: two copies get different SOURCEs" test -n "$S1" -a -n "$S2" -a "$S1" != "$S2"
expect_ok "cp: 6.x protocol" env ONESTOR_PROTOCOL=6 "$FSD/cp" "$(dump PATH="$SAFE/sparse.raw")" 7
check "cp, 6.x protocol: stdout is 'SOURCE raw' ('$OUT')" eval '[[ $OUT == *" raw" ]] && one_source "${OUT% raw}"'
expect_ok "cp: shell form 'onestor ds cp DUMP ID'" "$R/onestor" ds cp "$(dump PATH="$SAFE/sparse.raw")" 7
check "cp (shell form): one SOURCE line, same sha256" eval 'one_source "$OUT" && same "$OUT" "$SAFE/sparse.raw"'
expect_ok "cp into a datastore with SPARSE=NO (7.x)" "$FSD/cp" "$(dump PATH="$SAFE/sparse.raw" DS_XML='<SPARSE>NO</SPARSE>')" 7
check "cp, SPARSE=NO: same sha256, all 256 MiB allocated" eval 'one_source "$OUT" && same "$OUT" "$SAFE/sparse.raw" && thick "$OUT" $((256 << 20))'
rm -f "$OUT"

qemu-img create -q -f qcow2 "$SAFE/q.qcow2" 32M
qio -c 'write -P 0x5a 0 1M' "$SAFE/q.qcow2"
expect_ok "cp: a qcow2 image into a DRIVER=raw datastore" "$FSD/cp" "$(dump PATH="$SAFE/q.qcow2" DRIVER=raw)" 7
QR=$OUT
check "cp: converted to raw" test "$(qfield "$QR" 'file format')" = raw
check "cp: the converted image keeps size and data" eval '[ "$(stat -c %s "$QR")" = 33554432 ] && qio -f raw -r -c "read -P 0x5a 0 1M" "$QR"'
expect_ok "cp: qcow2 with DRIVER=raw CONVERT=no (6.x protocol)" env ONESTOR_PROTOCOL=6 "$FSD/cp" "$(dump PATH="$SAFE/q.qcow2" DRIVER=raw CONVERT=no)" 7
QN=$OUT
check "cp, CONVERT=no: stdout is 'SOURCE qcow2' ('$OUT')" eval '[[ $OUT == *" qcow2" ]] && one_source "${OUT% qcow2}"'
check "cp, CONVERT=no: not converted (same sha256, qcow2)" eval 'same "${OUT% qcow2}" "$SAFE/q.qcow2" && [ "$(qfield "${OUT% qcow2}" "file format")" = qcow2 ]'
expect_ok "cp: a CDROM (TYPE=1) qcow2 into a DRIVER=raw datastore" "$FSD/cp" "$(dump PATH="$SAFE/q.qcow2" DRIVER=raw TYPE=1)" 7
check "cp: CDROM images are never converted" same "$OUT" "$SAFE/q.qcow2"
check "cp: no temporary file left after the successful copies" no_tmp

# Failures after the temporary file exists: it is removed again.
printf 'QFI\373\0\0\0\3' >"$SAFE/broken.qcow2"
truncate -s 1M "$SAFE/broken.qcow2"
refused "cp: a broken qcow2 into a DRIVER=raw datastore" "is not a valid qcow2 image" "$FSD/cp" "$(dump PATH="$SAFE/broken.qcow2" DRIVER=raw)" 7
# A qcow2 whose backing file (or external data file) is a front-end file would copy that
# file into the datastore when converted, or hand it to a VM later.
qemu-img create -q -f qcow2 -b /etc/passwd -F raw "$SAFE/backed.qcow2" 1M
refused "cp: a qcow2 backed by a front-end file" "backing file" "$FSD/cp" "$(dump PATH="$SAFE/backed.qcow2" DRIVER=raw)" 7
refused "cp: a qcow2 backed by a front-end file (no conversion)" "backing file" "$FSD/cp" "$(dump PATH="$SAFE/backed.qcow2")" 7
qemu-img create -q -f qcow2 -o data_file="$T/outside/data.raw" "$SAFE/datafile.qcow2" 1M 2>/dev/null
refused "cp: a qcow2 with an external data file" "data file" "$FSD/cp" "$(dump PATH="$SAFE/datafile.qcow2" DRIVER=raw)" 7
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "/etc/passwd" 0\nddb.adapterType = "ide"\n' >"$SAFE/extent.vmdk"
refused "cp: a vmdk descriptor naming a front-end file as its extent" "extent" "$FSD/cp" "$(dump PATH="$SAFE/extent.vmdk" DRIVER=raw)" 7
check "cp: no temporary file left after the failed copies" no_tmp

echo "# mkfs"
expect_ok "mkfs: FSTYPE=raw SIZE=64" "$FSD/mkfs" "$(dump FSTYPE=raw SIZE=64)" 9
check "mkfs raw: one SOURCE line under BASE_PATH" one_source "$OUT"
check "mkfs raw: raw, 64 MiB" eval '[ "$(qfield "$OUT" "file format")" = raw ] && [ "$(vsize "$OUT")" = $((64 << 20)) ]'
expect_ok "mkfs: FSTYPE=qcow2 SIZE=100" "$FSD/mkfs" "$(dump FSTYPE=qcow2 SIZE=100)" 9
check "mkfs qcow2: qcow2, virtual 100 MiB, clean" eval '[ "$(qfield "$OUT" "file format")" = qcow2 ] && [ "$(vsize "$OUT")" = $((100 << 20)) ] && qcheck "$OUT"'
expect_ok "mkfs: FSTYPE=swap SIZE=16" "$FSD/mkfs" "$(dump FSTYPE=swap SIZE=16)" 9
check "mkfs swap: swap signature SWAPSPACE2 at 4086, 16 MiB" eval '[ "$(dd if="$OUT" bs=1 skip=4086 count=10 status=none)" = SWAPSPACE2 ] && [ "$(stat -c %s "$OUT")" = $((16 << 20)) ]'
check "mkfs swap: blkid says swap" eval '[ "$(fstype "$OUT")" = swap ]'
expect_ok "mkfs: FSTYPE=ext4 SIZE=32" "$FSD/mkfs" "$(dump FSTYPE=ext4 SIZE=32)" 9
check "mkfs FSTYPE=ext4: raw file holding ext4" eval '[ "$(fstype "$OUT")" = ext4 ] && [ "$(qfield "$OUT" "file format")" = raw ]'
expect_ok "mkfs: FORMAT=raw FS=ext4 SIZE=32" "$FSD/mkfs" "$(dump FSTYPE=raw FORMAT=raw FS=ext4 SIZE=32)" 9
check "mkfs FS=ext4: ext4, 32 MiB" eval '[ "$(fstype "$OUT")" = ext4 ] && [ "$(stat -c %s "$OUT")" = $((32 << 20)) ]'
expect_ok "mkfs: FORMAT=raw FS=xfs SIZE=320" "$FSD/mkfs" "$(dump FSTYPE=raw FORMAT=raw FS=xfs SIZE=320)" 9
check "mkfs FS=xfs: xfs" eval '[ "$(fstype "$OUT")" = xfs ]'
expect_ok "mkfs: FORMAT=qcow2 FS=ext4 SIZE=32" "$FSD/mkfs" "$(dump FSTYPE=qcow2 FORMAT=qcow2 FS=ext4 SIZE=32)" 9
check "mkfs FORMAT=qcow2 FS=ext4: a qcow2 holding ext4" eval '[ "$(qfield "$OUT" "file format")" = qcow2 ] && qemu-img convert -f qcow2 -O raw "$OUT" "$T/fs.raw" && [ "$(fstype "$T/fs.raw")" = ext4 ]'
refused "mkfs: FS not in SUPPORTED_FS" "SUPPORTED_FS" "$FSD/mkfs" "$(dump FSTYPE=raw FORMAT=raw FS=vfat SIZE=32)" 9
refused "mkfs: an unknown FSTYPE" "SUPPORTED_FS" "$FSD/mkfs" "$(dump FSTYPE='../../bin/sh' SIZE=32)" 9
refused "mkfs: SIZE=0" "SIZE" "$FSD/mkfs" "$(dump FSTYPE=raw SIZE=0)" 9
before=$(listing)
expect_ok "mkfs: FSTYPE=save_as" "$FSD/mkfs" "$(dump FSTYPE=save_as SIZE=32)" 9
check "mkfs save_as: prints a new SOURCE under BASE_PATH and creates nothing" eval '[[ $OUT == "$BASE"/* ]] && [ ! -e "$OUT" ] && [ "$before" = "$(listing)" ]'
check "mkfs: no temporary file left" no_tmp

echo "# rm"
expect_ok "rm: (setup) cp an image" "$FSD/cp" "$(dump PATH="$SAFE/sparse.raw")" 7
RM1=$OUT
mkdir -p "$RM1.snap" && cp "$SAFE/sparse.raw" "$RM1.snap/0"
expect_ok "rm: an image with snapshots" "$FSD/rm" "$(dump SOURCE="$RM1")" 7
check "rm: SOURCE and SOURCE.snap are gone" eval '[ -n "$RM1" ] && [ ! -e "$RM1" ] && [ ! -e "$RM1.snap" ]'
check "rm: other images are kept" test -f "$S1"
echo "not an image" >"$T/outside/passwd"
ln -s "$T/outside" "$BASE/link"
echo "sibling" >"$DS/x"
mkdir -p "${BASE}2" && echo "sibling" >"${BASE}2/victim"
before_rm=$(sum "$T/outside/passwd")
refused "rm: SOURCE outside BASE_PATH" "is not inside the datastore" "$FSD/rm" "$(dump SOURCE="$T/outside/passwd")" 7
refused "rm: SOURCE 'BASE_PATH/../x'" "'..'" "$FSD/rm" "$(dump SOURCE="$BASE/../x")" 7
refused "rm: SOURCE in the sibling directory '${BASE}2'" "is not inside the datastore" "$FSD/rm" "$(dump SOURCE="${BASE}2/victim")" 7
refused "rm: SOURCE through a symlinked directory inside BASE_PATH" "outside the datastore" "$FSD/rm" "$(dump SOURCE="$BASE/link/passwd")" 7
refused "rm: SOURCE = BASE_PATH itself" "is not inside the datastore" "$FSD/rm" "$(dump SOURCE="$BASE")" 7
refused "rm: a relative SOURCE" "not absolute" "$FSD/rm" "$(dump SOURCE="1/x")" 7
refused "rm: no SOURCE" "no SOURCE" "$FSD/rm" "$(dump SOURCE=)" 7
check "rm: the files outside BASE_PATH are untouched" eval '[ "$(sum "$T/outside/passwd")" = "$before_rm" ] && [ -f "$DS/x" ] && [ -f "${BASE}2/victim" ]'
rm -f "$BASE/link"

echo "# stat"
head -c $(((1 << 20) + 1)) /dev/urandom >"$SAFE/mib1"
expect_ok "stat: a 1 MiB + 1 byte file" "$FSD/stat" "$(dump PATH="$SAFE/mib1")" 0
check "stat: prints 2 (MiB rounded up), got '$OUT'" test "$OUT" = 2
qemu-img create -q -f qcow2 "$SAFE/v100.qcow2" 100M
expect_ok "stat: a qcow2 of virtual 100M (6.8+ form)" "$FSD/stat" 0 <<<"$(dump PATH="$SAFE/v100.qcow2")"
check "stat: prints 100 for the qcow2, got '$OUT'" test "$OUT" = 100
refused "stat: a restricted path" "Not allowed" "$FSD/stat" "$(dump PATH=/etc/hostname)" 0
mkfifo "$SAFE/fifo"
refused "stat: a FIFO" "not a regular file" "$FSD/stat" "$(dump PATH="$SAFE/fifo")" 0
refused "stat: a missing file" "$SAFE/nothing" "$FSD/stat" "$(dump PATH="$SAFE/nothing")" 0

echo "# clone"
before_clone=$(sum "$S1")
expect_ok "clone: an image" "$FSD/clone" "$(dump PATH="$S1")" 8
check "clone: one new SOURCE under BASE_PATH" eval 'one_source "$OUT" && [ "$OUT" != "$S1" ]'
check "clone: identical checksum" same "$OUT" "$S1"
check "clone: the original is untouched" test "$(sum "$S1")" = "$before_clone"
# Before 6.6 oned gives a clone the original's FORMAT: copied as it is, never converted.
expect_ok "clone: a qcow2 image in a DRIVER=raw datastore (6.4 caller)" env ONESTOR_PROTOCOL=6.4 "$FSD/clone" "$(dump PATH="${QN% qcow2}" FORMAT=qcow2 DRIVER=raw)" 8
check "clone (6.4): the qcow2 stays qcow2, identical ('$OUT')" eval '[[ $OUT == *" qcow2" ]] && one_source "${OUT% qcow2}" && same "${OUT% qcow2}" "$SAFE/q.qcow2"'
# From 6.6 oned records the format clone prints: the clone takes the datastore's DRIVER.
expect_ok "clone: a qcow2 image in a DRIVER=raw datastore (6.10 caller)" env ONESTOR_PROTOCOL=6 "$FSD/clone" "$(dump PATH="${QN% qcow2}" FORMAT=qcow2 DRIVER=raw)" 8
C=${OUT% raw}
check "clone (6.10): 'SOURCE raw', the raw bytes of the qcow2's content ('$OUT')" eval \
    '[[ $OUT == *" raw" ]] && one_source "$C" && [ "$(head -c 4 "$C")" != "$(printf "QFI\\373")" ] && qemu-img compare -q -f raw -F qcow2 "$C" "${QN% qcow2}"'
expect_ok "clone: a raw image in a DRIVER=qcow2 datastore (7.4 caller)" env ONESTOR_PROTOCOL=7 "$FSD/clone" "$(dump PATH="$C" FORMAT=raw DRIVER=qcow2)" 8
check "clone (7.4): 'SOURCE qcow2', a qcow2 of the same content ('$OUT')" eval \
    '[[ $OUT == *" qcow2" ]] && one_source "${OUT% qcow2}" && [ "$(head -c 4 "${OUT% qcow2}")" = "$(printf "QFI\\373")" ] && qemu-img compare -q -f qcow2 -F raw "${OUT% qcow2}" "$C"'
expect_ok "clone: the same in a datastore of the image's own DRIVER is a byte copy" env ONESTOR_PROTOCOL=7 "$FSD/clone" "$(dump PATH="$C" FORMAT=raw DRIVER=raw)" 8
check "clone (DRIVER = FORMAT): identical bytes ('$OUT')" eval '[[ $OUT == *" raw" ]] && same "${OUT% raw}" "$C"'
# A guest's raw disk holding a qcow2 header whose backing file is a front-end file: read as
# the raw image it is declared, so the clone holds those bytes, never the named file.
echo "front-end secret $$" >"$SAFE/secret"
qemu-img create -q -f qcow2 -b "$SAFE/secret" -F raw "$SAFE/hdr.qcow2" 1M
cp "$SAFE/hdr.qcow2" "$BASE/guestdisk" && truncate -s 4M "$BASE/guestdisk"
expect_ok "clone: a raw guest disk that looks like qcow2, into DRIVER=qcow2 (7.4 caller)" env ONESTOR_PROTOCOL=7 "$FSD/clone" "$(dump PATH="$BASE/guestdisk" FORMAT=raw DRIVER=qcow2)" 8
G=${OUT% qcow2}
check "clone (guest disk): its bytes as raw, nothing of the file its header names" eval \
    'one_source "$G" && qemu-img convert -f qcow2 -O raw "$G" "$SAFE/g.raw" && cmp -s "$SAFE/g.raw" "$BASE/guestdisk" && ! grep -q "front-end secret" "$SAFE/g.raw"'
before=$(listing)
run_action env ONESTOR_PROTOCOL=7 "$FSD/clone" "$(dump PATH="$BASE/guestdisk" FORMAT=qcow2 DRIVER=raw)" 8
check "clone: a declared qcow2 naming a backing file is refused (7.x: the plain reason)" eval \
    '[ "$RC" -ne 0 ] && [ -z "$OUT" ] && [ "$(grep -v "^INFO:" <<<"$ERR")" = "image '"'"'$BASE/guestdisk'"'"' has a backing file; import a standalone image" ]'
check "clone (refused): nothing created or removed" test "$before" = "$(listing)"
check "clone: nothing left by the refused conversions" no_tmp
rm -f "$BASE/guestdisk" "$G" "$SAFE/hdr.qcow2" "$SAFE/secret" "$SAFE/g.raw"
refused "clone: a missing image" "cannot" "$FSD/clone" "$(dump PATH="$BASE/nothing")" 8

echo "# --progress: a live bar on a terminal, INFO lines elsewhere"
head -c 96M /dev/urandom >"$SAFE/big.bin"
# (script(1) gives the command a terminal; what it wrote there comes back on stdout)
TTY_OUT=$(script -qec "$(printf '%q ' "$ONESTOR_BIN" --progress ds fs cp "$(dump PATH="$SAFE/big.bin" IMAGE_ID=90)" 90)" /dev/null)
check "--progress on a terminal: the bar, full, rewritten in place, then its line ended" \
    eval '[[ $TTY_OUT == *$'"'"'\r[##############################] '"'"'*"96.0 MiB of 96.0 MiB"* ]] && grep -q "done, 96 MiB of data" <<<"$TTY_OUT"'
rm -f "$(grep -o "$BASE/[0-9a-f]\{32\}" <<<"$TTY_OUT" | head -1)"
run_action "$ONESTOR_BIN" --progress ds fs cp "$(dump PATH="$SAFE/big.bin" IMAGE_ID=91)" 91
check "--progress without a terminal: plain INFO lines, no carriage return" \
    eval '[ "$RC" = 0 ] && ! grep -q $'"'"'\r'"'"' <<<"$ERR" && grep -q "^INFO: cp: .*done, 96 MiB of data" <<<"$ERR"'
rm -f "$OUT" "$SAFE/big.bin"

echo "# image modes"
# Every new image gets one mode (upstream's 0644), whoever wrote the file (onestor, qemu-img
# create, qemu-img convert) and whatever the umask.
expect_ok "modes: (setup) mkfs raw" "$FSD/mkfs" "$(dump FSTYPE=raw SIZE=1)" 9
M_RAW=$OUT
expect_ok "modes: (setup) mkfs qcow2" "$FSD/mkfs" "$(dump FSTYPE=qcow2 SIZE=1)" 9
M_Q=$OUT
expect_ok "modes: (setup) clone" "$FSD/clone" "$(dump PATH="$S1")" 8
M_C=$OUT
expect_ok "modes: (setup) cp under umask 077" sh -c 'umask 077; exec "$@"' sh "$FSD/cp" "$(dump PATH="$SAFE/sparse.raw")" 7
M_U=$OUT
modes=$(stat -c %a "$S1" "$QR" "$M_RAW" "$M_Q" "$M_C" "$M_U" 2>&1 | sort | uniq -c | tr -s ' \n' ' ')
check "modes: cp, converted cp, mkfs raw, mkfs qcow2, clone, cp under umask 077 are all 0644 (${modes})" \
    test "$modes" = " 6 644 "

echo "# monitor"
expect_ok "monitor: datastore 1" "$FSD/monitor" "$(dump NO_IMAGE=1)" 1
check "monitor: three lines USED_MB=, TOTAL_MB=, FREE_MB= ('${OUT//$'\n'/ }')" eval '[[ $OUT =~ ^USED_MB=[0-9]+$'"'\n'"'TOTAL_MB=[0-9]+$'"'\n'"'FREE_MB=[0-9]+$ ]]'
read -r df_total df_used df_free < <(df -m -P "$BASE" | awk 'NR == 2 { print $2, $3, $4 }')
near() { local d=$(($1 - $2)); [ "${d#-}" -le "$3" ]; }
m_used=$(sed -n 's/^USED_MB=//p' <<<"$OUT") m_total=$(sed -n 's/^TOTAL_MB=//p' <<<"$OUT") m_free=$(sed -n 's/^FREE_MB=//p' <<<"$OUT")
check "monitor: consistent with df -m ($m_used/$m_total/$m_free vs $df_used/$df_total/$df_free)" \
    eval 'near "${m_total:-0}" "$df_total" 2 && near "${m_used:-0}" "$df_used" 16 && near "${m_free:-0}" "$df_free" 16'
expect_ok "monitor: a datastore whose BASE_PATH does not exist yet (6.8+ form)" "$FSD/monitor" 5 <<<"$(dump NO_IMAGE=1 DS_ID=5)"
check "monitor: BASE_PATH created, three lines" eval '[ -d "$DS/5" ] && [ "$(grep -c "^[A-Z]*_MB=[0-9]*$" <<<"$OUT")" = 3 ]'

echo "# snapshots (raw)"
head -c 1M /dev/urandom >"$SAFE/one.raw"
expect_ok "snap: (setup) cp an image" "$FSD/cp" "$(dump PATH="$SAFE/one.raw")" 7
P=$OUT
mkdir -p "$P.snap"
head -c 1M /dev/urandom >"$P.snap/0"
head -c 1M /dev/urandom >"$P.snap/1"
sum0=$(sum "$P.snap/0") sum1=$(sum "$P.snap/1")
expect_ok "snap_revert: to snapshot 1" "$FSD/snap_revert" "$(dump SOURCE="$P" TARGET_SNAPSHOT=1)" 7
check "snap_revert: SOURCE equals snapshot 1" test "$(sum "$P")" = "$sum1"
check "snap_revert: the snapshots are kept" eval '[ "$(sum "$P.snap/0")" = "$sum0" ] && [ "$(sum "$P.snap/1")" = "$sum1" ]'
expect_ok "snap_delete: snapshot 0" "$FSD/snap_delete" "$(dump SOURCE="$P" TARGET_SNAPSHOT=0)" 7
check "snap_delete: snapshot 0 gone, snapshot 1 and SOURCE kept" eval '[ ! -e "$P.snap/0" ] && [ "$(sum "$P.snap/1")" = "$sum1" ] && [ -f "$P" ]'
refused "snap_delete: a missing snapshot" "does not exist" "$FSD/snap_delete" "$(dump SOURCE="$P" TARGET_SNAPSHOT=0)" 7
refused "snap_revert: a missing snapshot" "does not exist" "$FSD/snap_revert" "$(dump SOURCE="$P" TARGET_SNAPSHOT=4)" 7
refused "snap_delete: no TARGET_SNAPSHOT" "TARGET_SNAPSHOT" "$FSD/snap_delete" "$(dump SOURCE="$P")" 7
refused "snap_delete: SOURCE outside BASE_PATH" "is not inside the datastore" "$FSD/snap_delete" "$(dump SOURCE="$T/outside/passwd" TARGET_SNAPSHOT=0)" 7
head -c 1M /dev/urandom >"$P"  # the image in use changed since
expect_ok "snap_flatten: to snapshot 1" "$FSD/snap_flatten" "$(dump SOURCE="$P" TARGET_SNAPSHOT=1)" 7
check "snap_flatten: SOURCE equals snapshot 1, SOURCE.snap gone" eval '[ "$(sum "$P")" = "$sum1" ] && [ ! -e "$P.snap" ]'

echo "# snapshots (qcow2, TM_MAD=qcow2)"
# The TM's layout beside a persistent qcow2 image: 0 -> SOURCE, overlays with absolute names.
Q=$BASE/qcow2image
qemu-img create -q -f qcow2 "$Q" 16M && qio -c 'write -P 0x11 0 64k' "$Q" && qio -c 'write -P 0x22 128k 64k' "$Q"
mkdir -p "$Q.snap" && ln -s "$Q" "$Q.snap/0" && ln -s "$Q.snap" "$Q.snap/qcow2image.snap"
qemu-img create -q -f qcow2 -b "$Q.snap/0" -F qcow2 "$Q.snap/1" && qio -c 'write -P 0xaa 0 64k' "$Q.snap/1"
qemu-img create -q -f qcow2 -b "$Q.snap/1" -F qcow2 "$Q.snap/2" && qio -c 'write -P 0xbb 0 64k' "$Q.snap/2"
QD=(FORMAT=qcow2 TM_MAD=qcow2)
check "qcow2 setup: the active layer reads its own data" qio -r -c 'read -P 0xbb 0 64k' "$Q.snap/2"
expect_ok "snap_revert (qcow2): to snapshot 1" timeout 60 "$FSD/snap_revert" "$(dump SOURCE="$Q" "${QD[@]}" TARGET_SNAPSHOT=1)" 7
check "snap_revert (qcow2): the active layer reads snapshot 1's data" qio -r -c 'read -P 0xaa 0 64k' "$Q.snap/2"
check "snap_revert (qcow2): the active layer backs on snapshot 1" test "$(qfield "$Q.snap/2" 'backing file')" = "$Q.snap/1"
check "snap_revert (qcow2): qemu-img check is clean" qcheck "$Q.snap/2"
check "snap_revert (qcow2): snapshot 1 and the base are kept" eval 'qio -r -c "read -P 0xaa 0 64k" "$Q.snap/1" && qio -r -c "read -P 0x11 0 64k" "$Q"'
refused "snap_revert (qcow2): to the active layer itself" "active layer" timeout 60 "$FSD/snap_revert" "$(dump SOURCE="$Q" "${QD[@]}" TARGET_SNAPSHOT=2)" 7
check "snap_revert (qcow2): the active layer is intact after that" eval 'qcheck "$Q.snap/2" && qio -r -c "read -P 0xaa 0 64k" "$Q.snap/2"'
qio -c 'write -P 0xcc 64k 64k' "$Q.snap/1"
expect_ok "snap_flatten (qcow2): to snapshot 1" timeout 60 "$FSD/snap_flatten" "$(dump SOURCE="$Q" "${QD[@]}" TARGET_SNAPSHOT=1)" 7
check "snap_flatten (qcow2): SOURCE is a qcow2 with no backing file" eval '[ "$(qfield "$Q" "file format")" = qcow2 ] && [ -z "$(qfield "$Q" "backing file")" ]'
check "snap_flatten (qcow2): SOURCE holds snapshot 1's data" eval 'qio -r -c "read -P 0xaa 0 64k" "$Q" && qio -r -c "read -P 0xcc 64k 64k" "$Q" && qio -r -c "read -P 0x22 128k 64k" "$Q"'
check "snap_flatten (qcow2): qemu-img check is clean, SOURCE.snap gone" eval 'qcheck "$Q" && [ ! -e "$Q.snap" ]'

echo "# a raw persistent image whose guest wrote a qcow2 header naming /etc/passwd (issue 9, item 1)"
# Snapshot 0 is the image itself: opened as declared (raw), its header is the guest's data.
qemu-img create -q -f qcow2 -b /etc/passwd -F raw "$T/hdr" 1M
E=$BASE/guest
truncate -s 16M "$E"
head -c 1M /dev/urandom | dd of="$E" bs=64k seek=16 conv=notrunc status=none
dd if="$T/hdr" of="$E" conv=notrunc status=none
ESUM=$(sum "$E")
evil_snap() {
    rm -rf "$E.snap" && mkdir "$E.snap" && ln -s "$E" "$E.snap/0" && ln -s "$E.snap" "$E.snap/guest.snap" &&
        qemu-img create -q -f qcow2 -F raw -b "$E.snap/0" "$E.snap/1"
}
no_passwd() { ! grep -aq "^root:" "$1"; }
check "(/etc/passwd has a root: line, which the checks below look for)" grep -q "^root:" /etc/passwd
evil_snap
expect_ok "snap_flatten of snapshot 0 (FORMAT=raw)" timeout 60 "$FSD/snap_flatten" "$(dump SOURCE="$E" FORMAT=raw TM_MAD=qcow2 TARGET_SNAPSHOT=0)" 7
check "snap_flatten 0: the image keeps its bytes (no /etc/passwd in it), SOURCE.snap gone" \
    eval '[ "$(sum "$E")" = "$ESUM" ] && no_passwd "$E" && [ ! -e "$E.snap" ]'
evil_snap
expect_ok "snap_revert to snapshot 0 (FORMAT=raw)" timeout 60 "$FSD/snap_revert" "$(dump SOURCE="$E" FORMAT=raw TM_MAD=qcow2 TARGET_SNAPSHOT=0)" 7
check "snap_revert 0: the new active layer names its backing format raw" test "$(qfield "$E.snap/1" 'backing file format')" = raw
check "snap_revert 0: the active layer reads the guest's bytes, no /etc/passwd" eval \
    'timeout 20 qemu-img convert -U -f qcow2 -O raw "$E.snap/1" "$T/e1.raw" && cmp -s "$T/e1.raw" "$E" && no_passwd "$T/e1.raw"'
check "snap_revert 0: the image is unchanged" test "$(sum "$E")" = "$ESUM"
qemu-img create -q -f qcow2 -F qcow2 -b "$E.snap/0" "$E.snap/1"
refused "snap_flatten: a layer that opens snapshot 0 (raw) as qcow2" "does not name a layer of its directory and its format" \
    timeout 60 "$FSD/snap_flatten" "$(dump SOURCE="$E" FORMAT=raw TM_MAD=qcow2 TARGET_SNAPSHOT=1)" 7
# A layer named "01" beside "1": checked as one file, it would be opened as the other.
evil_snap
qemu-img create -q -f qcow2 -F raw -b /etc/passwd "$E.snap/01"
refused "snap_revert: a layer under a name we never write ('01')" "not a layer name" \
    timeout 60 "$FSD/snap_revert" "$(dump SOURCE="$E" FORMAT=raw TM_MAD=qcow2 TARGET_SNAPSHOT=0)" 7
rm -rf "$E.snap"

echo "# every snapshot of a raw persistent image round-trips (snapshots made by the qcow2 TM)"
RT=$BASE/roundtrip
V50=$DS/0/50
qemu-img create -q -f raw "$RT" 16M
vm_xml 50 frontend shared "0:NO:$RT:16:16:raw:qcow2"
expect_ok "(setup) tm/qcow2/ln of the persistent raw image" "$R/tm/qcow2/ln" "frontend:$RT" "frontend:$V50/disk.0" 50 1
fmt=raw
for k in 0 1 2 3; do
    qemu-io -f $fmt -c "write -P $((0x40 + k)) ${k}M 1M" "$V50/disk.0" >/dev/null
    qemu-img convert -U -f $fmt -O raw "$V50/disk.0" "$T/rt$k"
    expect_ok "(setup) tm/qcow2/snap_create $k" "$R/tm/qcow2/snap_create" "frontend:$V50/disk.0" $k 50 1
    fmt=qcow2
done
qemu-io -f qcow2 -c "write -P 0x7f 0 1M" "$V50/disk.0" >/dev/null  # the active layer (4) is none of them
rm -rf "$V50"
tar -C "$BASE" -cf "$T/rt.tar" roundtrip roundtrip.snap
RTSUM=$(sum "$RT")
fresh() { rm -rf "$RT" "$RT.snap" && tar -C "$BASE" -xf "$T/rt.tar"; }
for k in 0 1 2 3; do
    fresh
    expect_ok "snap_revert to snapshot $k of a raw image" timeout 60 "$FSD/snap_revert" "$(dump SOURCE="$RT" FORMAT=raw TM_MAD=qcow2 TARGET_SNAPSHOT=$k)" 7
    check "snap_revert $k: the active layer reads exactly snapshot $k; the image is unchanged" eval \
        'timeout 20 qemu-img compare -q -U -f qcow2 -F raw "$RT.snap/4" "$T/rt$k" && [ "$(sum "$RT")" = "$RTSUM" ]'
    fresh
    expect_ok "snap_flatten to snapshot $k of a raw image" timeout 60 "$FSD/snap_flatten" "$(dump SOURCE="$RT" FORMAT=raw TM_MAD=qcow2 TARGET_SNAPSHOT=$k)" 7
    check "snap_flatten $k: SOURCE is raw, byte for byte snapshot $k; SOURCE.snap gone" eval 'cmp -s "$RT" "$T/rt$k" && [ ! -e "$RT.snap" ]'
done

echo "# snap_delete (qcow2) of a snapshot other layers are built on"
# The TM's layout beside a persistent image: 0 -> SOURCE, overlays with absolute names and
# explicit formats, the highest the active layer. Here 2 (a snapshot) and 3 (the active
# layer, after a revert to 1) are both built on 1.
C=$BASE/chain
qemu-img create -q -f raw "$C" 16M && qio -f raw -c 'write -P 0x11 0 64k' "$C"
mkdir -p "$C.snap" && ln -s "$C" "$C.snap/0" && ln -s "$C.snap" "$C.snap/chain.snap"
qemu-img create -q -f qcow2 -F raw -b "$C.snap/0" "$C.snap/1" && qio -c 'write -P 0xa1 64k 64k' "$C.snap/1"
qemu-img create -q -f qcow2 -F qcow2 -b "$C.snap/1" "$C.snap/2" && qio -c 'write -P 0xa2 128k 64k' "$C.snap/2"
qemu-img create -q -f qcow2 -F qcow2 -b "$C.snap/1" "$C.snap/3" && qio -c 'write -P 0xa3 192k 64k' "$C.snap/3"
for k in 1 2 3; do qemu-img convert -U -f qcow2 -O raw "$C.snap/$k" "$T/layer$k.raw"; done
CSUM=$(sum "$C")
reads_as() { timeout 20 qemu-img compare -q -U -f qcow2 -F raw "$1" "$2"; }  # reads_as LAYER RAW
refused "snap_delete (qcow2): the active layer" "active layer" "$FSD/snap_delete" "$(dump SOURCE="$C" TM_MAD=qcow2 TARGET_SNAPSHOT=3)" 7
refused "snap_delete (qcow2): snapshot 0, the image itself" "the image itself" "$FSD/snap_delete" "$(dump SOURCE="$C" TM_MAD=qcow2 TARGET_SNAPSHOT=0)" 7
qemu-img create -q -f qcow2 -F raw -b /etc/shadow "$C.snap/9"
refused "snap_delete (qcow2): with a layer that leads outside the directory" "backing file outside its snapshot directory: '/etc/shadow'" \
    "$FSD/snap_delete" "$(dump SOURCE="$C" TM_MAD=qcow2 TARGET_SNAPSHOT=1)" 7
rm "$C.snap/9"
# no_backing_format FILE: drops the backing-format header extension (the list ends there),
# as an image written by an older tool may lack it; qemu would then probe the backing file.
no_backing_format() {
    perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die "$!\n"; sysread($f, my $h, 104); my $o = unpack("N", substr($h, 100, 4));
      for (;;) { sysseek($f, $o, 0); sysread($f, my $e, 8); my ($t, $l) = unpack("NN", $e); die "no backing format\n" unless $t;
        if ($t == 0xE2792ACA) { sysseek($f, $o, 0); syswrite($f, pack("NN", 0, 0)); last } $o += 8 + (($l + 7) & ~7) }' "$1"
}
cp "$C.snap/2" "$T/layer2.qcow2"
no_backing_format "$C.snap/2"
check "snap_delete (qcow2): (layer 2 names its backing file but not its format)" \
    test "$(qfield "$C.snap/2" 'backing file')|$(qfield "$C.snap/2" 'backing file format')" = "$C.snap/1|"
refused "snap_delete (qcow2): with a layer that names no backing format" "and its format" \
    "$FSD/snap_delete" "$(dump SOURCE="$C" TM_MAD=qcow2 TARGET_SNAPSHOT=1)" 7
cp "$T/layer2.qcow2" "$C.snap/2"
check "snap_delete (qcow2): (the refusals changed no layer)" eval 'reads_as "$C.snap/2" "$T/layer2.raw" && reads_as "$C.snap/3" "$T/layer3.raw"'
expect_ok "snap_delete (qcow2): snapshot 1 (layers 2 and 3 are built on it)" timeout 60 "$FSD/snap_delete" "$(dump SOURCE="$C" TM_MAD=qcow2 TARGET_SNAPSHOT=1)" 7
check "snap_delete (qcow2): layer 1 is gone" test ! -e "$C.snap/1"
check "snap_delete (qcow2): layers 2 and 3 now back onto layer 0 (the image), format raw" \
    test "$(qfield "$C.snap/2" 'backing file')|$(qfield "$C.snap/3" 'backing file')|$(qfield "$C.snap/3" 'backing file format')" = "$C.snap/0|$C.snap/0|raw"
check "snap_delete (qcow2): snapshot 2 reads exactly what it read (layer 1's data moved into it)" reads_as "$C.snap/2" "$T/layer2.raw"
check "snap_delete (qcow2): the active layer reads exactly what it read" reads_as "$C.snap/3" "$T/layer3.raw"
check "snap_delete (qcow2): layer 1's data, read through layer 3" qio -r -U -f qcow2 -c 'read -P 0xa1 64k 64k' "$C.snap/3"
check "snap_delete (qcow2): qemu-img check is clean on both" eval 'qcheck "$C.snap/2" && qcheck "$C.snap/3"'
check "snap_delete (qcow2): the chain 3 -> 0 (the link to SOURCE), nothing else" \
    test "$(timeout 20 qemu-img info -U --backing-chain "$C.snap/3" | sed -n 's/^image: //p' | tr '\n' ' ')" = "$C.snap/3 $C.snap/0 "
check "snap_delete (qcow2): SOURCE and its link are untouched" eval '[ "$(sum "$C")" = "$CSUM" ] && [ "$(readlink "$C.snap/0")" = "$C" ]'
check "snapshots: no temporary file left" no_tmp

echo "# images that name other files (issue 9, item 3): refused at once, nothing they name opened"
mkfifo "$SAFE/extent.fifo"
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "%s" 0\n' \
    "$SAFE/extent.fifo" >"$SAFE/desc.vmdk"
cp "$SAFE/desc.vmdk" "$BASE/desc.vmdk"
qemu-img create -q -f qcow2 -o data_file="$SAFE/df.data" "$SAFE/df.qcow2" 1M
rm "$SAFE/df.data" && mkfifo "$SAFE/df.data"
vm_xml 51 frontend shared "0:YES:$BASE/desc.vmdk:16:16::qcow2"
t0=$SECONDS
refused "stat: a vmdk descriptor whose extent is a FIFO" "vmdk descriptor" timeout 30 "$FSD/stat" "$(dump PATH="$SAFE/desc.vmdk")" 0
refused "cp: a vmdk descriptor whose extent is a FIFO" "vmdk descriptor" timeout 30 "$FSD/cp" "$(dump PATH="$SAFE/desc.vmdk")" 7
refused "tm/qcow2/clone: a vmdk descriptor (no DISK/FORMAT)" "vmdk descriptor" \
    timeout 30 "$R/tm/qcow2/clone" "frontend:$BASE/desc.vmdk" "frontend:$DS/0/51/disk.0" 51 1
refused "stat: a qcow2 with an external data file (a FIFO)" "external data file" timeout 30 "$FSD/stat" "$(dump PATH="$SAFE/df.qcow2")" 0
refused "cp: a qcow2 with an external data file (a FIFO)" "external data file" timeout 30 "$FSD/cp" "$(dump PATH="$SAFE/df.qcow2")" 7
check "refused within seconds, no wait on a FIFO ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 10
exec 3<>"$SAFE/extent.fifo" 4<>"$SAFE/df.data"; exec 3>&- 4>&-  # frees any reader an old build left blocked
qemu-img create -q -f vmdk "$SAFE/mono.vmdk" 8M && qio -f vmdk -c 'write -P 0x5b 1M 1M' "$SAFE/mono.vmdk"
expect_ok "stat: a monolithic sparse vmdk (size from its header)" "$FSD/stat" "$(dump PATH="$SAFE/mono.vmdk")" 0
check "stat: 8 MiB, got '$OUT'" test "$OUT" = 8
expect_ok "cp: a monolithic vmdk into a DRIVER=qcow2 datastore (6.x protocol)" env ONESTOR_PROTOCOL=6 "$FSD/cp" "$(dump PATH="$SAFE/mono.vmdk" DRIVER=qcow2)" 7
check "cp: converted to qcow2 with the vmdk's data" eval '[[ $OUT == *" qcow2" ]] && qio -r -f qcow2 -c "read -P 0x5b 1M 1M" "${OUT% qcow2}"'
refused "cp: a vmdk where nothing converts it (CONVERT=no)" "only taken to be converted" "$FSD/cp" "$(dump PATH="$SAFE/mono.vmdk" DRIVER=qcow2 CONVERT=no)" 7

echo "# bad input (refused, nothing created or removed)"
IMG=$SAFE/sparse.raw
ln -s ../../onestor "$FSD/bogus"
ln -s /etc/passwd "$SAFE/passwd-link"
echo secret >"$DS/secret.raw"
refused "garbage base64" "not valid base64" "$FSD/cp" '!!garbage**' 7
refused "base64 of malformed XML" "not well-formed XML" "$FSD/cp" "$(printf '<DS_DRIVER_ACTION_DATA><IMAGE><PATH>x' | base64 -w0)" 7
refused "XML without DATASTORE" "no DATASTORE" "$FSD/cp" "$(printf '<DS_DRIVER_ACTION_DATA><IMAGE><PATH>%s</PATH></IMAGE></DS_DRIVER_ACTION_DATA>' "$IMG" | base64 -w0)" 7
refused "cp without IMAGE" "no IMAGE" "$FSD/cp" "$(dump NO_IMAGE=1)" 7
refused "cp without PATH" "no PATH" "$FSD/cp" "$(dump PATH=)" 7
refused "cp of /etc/hostname (not in SAFE_DIRS)" "Not allowed to copy image from '/etc/hostname'" "$FSD/cp" "$(dump PATH=/etc/hostname)" 7
refused "cp of a symlink in SAFE_DIRS to /etc/passwd, named as given" "Not allowed to copy image from '$SAFE/passwd-link'" "$FSD/cp" "$(dump PATH="$SAFE/passwd-link")" 7
check "cp of the symlink: the message does not name its target" test "${ERR/\/etc\/passwd/}" = "$ERR"
refused "cp of a path with '..'" "'..'" "$FSD/cp" "$(dump PATH="$SAFE/../${SAFE##*/}/sparse.raw")" 7
refused "cp of a relative path" "not absolute" "$FSD/cp" "$(dump PATH=sparse.raw)" 7
refused "cp from /var/lib/one even when in SAFE_DIRS" "Not allowed" "$FSD/cp" "$(dump PATH="$DS/secret.raw" SAFE_DIRS="$SAFE /var/lib/one")" 7
refused "cp of an ftp:// PATH" "unsupported source" "$FSD/cp" "$(dump PATH=ftp://127.0.0.1/img.raw)" 7
refused "cp with a wrong MD5" "checksum mismatch: MD5" "$FSD/cp" "$(dump PATH="$IMG" MD5=0123456789abcdef0123456789abcdef)" 7
refused "cp with a malformed SHA1" "bad SHA1" "$FSD/cp" "$(dump PATH="$IMG" IMAGE_XML='<SHA1>xyz</SHA1>')" 7
refused "cp of a FIFO" "not a regular file" "$FSD/cp" "$(dump PATH="$SAFE/fifo")" 7
refused "cp of a directory" "not a regular file" "$FSD/cp" "$(dump PATH="$SAFE")" 7
refused "cp with no arguments" "usage" "$FSD/cp"
refused "cp with three arguments" "usage" "$FSD/cp" "$(dump PATH="$IMG")" 7 extra
refused "cp with a non-numeric id" "id must be an integer" "$FSD/cp" "$(dump PATH="$IMG")" 7x
refused "cp, stdin form, with a non-numeric id" "id must be an integer" "$FSD/cp" abc <<<"$(dump PATH="$IMG")"
refused "cp, stdin form, with no dump on stdin" "empty" "$FSD/cp" 7
refused "an unknown action symlink" "unknown datastore action 'bogus'" "$FSD/bogus" "$(dump PATH="$IMG")" 7
check "bad input: no temporary file left" no_tmp

echo "# hostile file names"
H="$SAFE/a b 'q' \$(touch PWNED) \`touch PWNED\`; touch PWNED; & x.img"
head -c 300k /dev/urandom >"$H"
expect_ok "cp: a file named with spaces, quotes, \$(), backticks and ;" "$FSD/cp" "$(dump PATH="$H")" 7
check "cp (hostile name): identical checksum" eval 'one_source "$OUT" && same "$OUT" "$H"'
expect_ok "stat: the hostile name" "$FSD/stat" "$(dump PATH="$H")" 0
check "stat (hostile name): 1 MiB" test "$OUT" = 1
check "no file named PWNED appeared" eval '[ -z "$(find "$T" "$SAFE" "$DS" / -maxdepth 1 -name "PWNED*" 2>/dev/null; find "$T" "$SAFE" "$DS" -name "PWNED*")" ]'

echo "# concurrency"
head -c 3M /dev/urandom >"$SAFE/par.raw"
for i in $(seq 1 15); do
    ( "$FSD/cp" "$(dump PATH="$SAFE/par.raw" IMAGE_ID=$((100 + i)))" $((100 + i)) >"$T/par.$i.out" 2>"$T/par.$i.err"; echo $? >"$T/par.$i.rc" ) &
done
wait
check "concurrency: 15 parallel cps all succeed" eval '[ "$(cat "$T"/par.*.rc | grep -cx 0)" = 15 ]'
check "concurrency: 15 distinct SOURCEs" eval '[ "$(cat "$T"/par.*.out | sort -u | wc -l)" = 15 ]'
par_ok=1
for f in "$T"/par.*.out; do one_source "$(cat "$f")" && same "$(cat "$f")" "$SAFE/par.raw" || par_ok=0; done
check "concurrency: every SOURCE holds the image" test "$par_ok" = 1
check "concurrency: no temporary file left" no_tmp

echo "# dead writers' temporaries"
# A cp killed with SIGKILL mid-copy leaves its hidden temporary; the next action in that
# directory (monitor, cp) removes it, while a live writer's (a cp running) is never touched.
head -c 400M /dev/zero >"$SAFE/big.raw"
printf 'data' | dd of="$SAFE/big.raw" bs=1M seek=399 conv=notrunc status=none
# kill_mid_cp ID: starts a cp, SIGKILLs it once its temporary exists; prints that temporary.
kill_mid_cp() {
    local try pid t
    for try in 1 2 3 4 5; do
        "$FSD/cp" "$(dump PATH="$SAFE/big.raw" IMAGE_ID=$1)" "$1" >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 1 2000); do
            t=$(compgen -G "$BASE/.*.onestor-tmp.$pid.*" | head -1)
            [ -n "$t" ] && break
        done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        [ -n "$t" ] && [ -e "$t" ] && { echo "$t"; return 0; }
    done
    return 1
}
K1=$(kill_mid_cp 301)
check "cp killed mid-copy: its temporary is left (${K1##*/})" test -n "$K1" -a -f "$K1"
K2=$(kill_mid_cp 302)
# A live writer's: a cp of the big image, stopped (SIGSTOP) while it writes.
"$FSD/cp" "$(dump PATH="$SAFE/big.raw" IMAGE_ID=303)" 303 >"$T/live.out" 2>/dev/null &
LIVE=$!
for _ in $(seq 1 3000); do compgen -G "$BASE/.*.onestor-tmp.$LIVE.*" >/dev/null && break; sleep 0.01; done  # (up to 30 s: a sanitized build starts slowly)
kill -STOP "$LIVE"
LT=$(compgen -G "$BASE/.*.onestor-tmp.$LIVE.*" | head -1)
expect_ok "monitor with dead writers' temporaries in BASE_PATH" "$FSD/monitor" "$(dump NO_IMAGE=1)" 1
check "monitor: the killed cp's temporary is removed" test -n "$K1" -a ! -e "$K1"
check "monitor: the second killed cp's too" test -n "$K2" -a ! -e "$K2"
check "monitor: a live (stopped) cp's temporary is kept (${LT##*/})" test -n "$LT" -a -e "$LT"
kill -CONT "$LIVE"
wait "$LIVE"
check "the live cp completes afterwards" eval 'one_source "$(cat "$T/live.out")" && same "$(cat "$T/live.out")" "$SAFE/big.raw"'
K3=$(kill_mid_cp 304)
check "cp killed mid-copy again: its temporary is left" test -n "$K3" -a -f "$K3"
expect_ok "cp after a killed cp" "$FSD/cp" "$(dump PATH="$SAFE/par.raw" IMAGE_ID=305)" 305
check "cp: the killed cp's temporary is removed" test -n "$K3" -a ! -e "$K3"
check "no temporary file left" no_tmp
rm -f "$SAFE/big.raw" "$(cat "$T/live.out")"

echo "# onestor receive: modes, names and types a stream may not impose"
mkdir -p "$T/st/tree/sub"
printf 'suid' >"$T/st/tree/sub/tool"
chmod 6777 "$T/st/tree/sub/tool"
chmod 3777 "$T/st/tree/sub"
chmod 1777 "$T/st/tree"
expect_ok "receive: a tree with setuid, setgid, sticky and world-writable modes" \
    sh -c '"$1" send "$2" | "$1" receive "$3"' sh "$R/onestor" "$T/st/tree" "$T/st/got"
bad_modes=$(find "$T/st/got" -perm /7002 -printf '%m %P\n')
check "receive: nothing received is setuid, setgid, sticky or world-writable ('$bad_modes')" \
    eval '[ -f "$T/st/got/sub/tool" ] && [ -z "$bad_modes" ]'
check "receive: the data arrived" test "$(cat "$T/st/got/sub/tool" 2>/dev/null)" = suid
# Crafted streams (record: type byte, u16 name length, name, ...; little-endian).
M='ONESTOR-STREAM/1\n'
crafted() { printf "$M$1" >"$T/st/crafted"; }
recv_listing() { find "$T/st" / -maxdepth 1 -newer "$T/st/crafted" 2>/dev/null | sort; }
for c in 'escape|unsafe path|F\x07\x00../evil\xed\x01\x00\x00' \
         'absolute|absolute path|F\x0a\x00/tmp/evil\xed\x01\x00\x00' \
         'device node record|record type|D\x00\x00\xed\x01\x00\x00B\x03\x00dev' \
         'FIFO record|record type|D\x00\x00\xed\x01\x00\x00P\x04\x00fifo' \
         'through a symlink|no parent|D\x00\x00\xed\x01\x00\x00L\x01\x00l\x04\x00/tmpD\x05\x00l/sub\xed\x01\x00\x00'; do
    IFS='|' read -r what why bytes <<<"$c"
    crafted "$bytes"
    rm -rf "$T/st/out"
    expect_error "receive: a stream naming $what is refused" "$why" sh -c '"$1" receive "$2" <"$3"' sh "$R/onestor" "$T/st/out" "$T/st/crafted"
    check "receive ($what): nothing created" eval '[ ! -e "$T/st/out" ] && [ -z "$(compgen -G "$T/st/.out.onestor-tmp.*")" ] && [ ! -e /tmp/evil ] && [ ! -e "$T/evil" ] && [ ! -e /tmp/sub ]'
done

e2e_finish
