#!/usr/bin/env bash
# `onestor --dry-run` and DRY_RUN=yes against real sshd hosts (shared layout): every TM
# action the golden argv tests cover for shared, ssh and qcow2, with the golden files' own
# arguments (VM 5, its disk.0, images under datastore 1), run dry on a real deployment.
# Each one changes nothing -- the datastore tree (names, types, modes, sizes, link targets,
# checksums) and the lock directory are the same before and after -- and lists the commands
# of its golden file: all of them, or the first ones up to where its plan says it ends. Then
# oned's form (DRY_RUN=yes through the remotes tree): the plan as INFO lines and a failure,
# so that oned never takes it for done; a refused argument fails as the real call does.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" shared
ssh_mux

G=$ONESTOR_SRC/test/golden
sed -i '/^SSH_CONTROL_PERSIST=/d' "$ONESTOR_CONF"  # (the default, as in the golden files)
V=$DS/0/5
mkdir -p "$DS/0" "$DS/1"

# Names, types, modes, sizes, link targets and checksums of everything the actions could touch.
state() {
    (cd "$DS" && find . -printf '%p %y %m %s %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    ls -A "$T/lock"
}
# The plan's commands as the golden files show them: our paths and temp names replaced.
shown() {
    grep -v -e '^# ' -e '^frontend, in-process: ' |
        sed -e "s|$T/bin/onevm|onevm|g" -e "s|$T/bin/onedatastore|onedatastore|g" -e "s|$R/onestor|onestor|g" |
        perl -pe 'BEGIN { our (%n, $c) } s{\.onestor-tmp\.[0-9]+\.[0-9a-f]{8}}{".onestor-tmp.T" . ($n{$&} //= ++$c)}ge'
}
golden_commands() { grep -v '^#' "$G/$1.argv"; }

# dry NAME GOLDEN ARGS...: `onestor --dry-run tm ARGS`: exit 0, nothing changed, and its plan is
# the golden file's commands (or their beginning, where the plan ends early).
dry() {
    local name=$1 golden=$2; shift 2
    local before after plan want n
    before=$(state)
    OUT=$("$R/onestor" --dry-run tm "$@" 2>"$T/err"); RC=$?
    after=$(state)
    check "$name: exit 0" test "$RC" = 0
    [ "$RC" = 0 ] || sed 's/^/#   /' "$T/err"
    check "$name: changed nothing" test "$before" = "$after"
    [ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | sed 's/^/#   /'
    check "$name: the plan starts with its header" test "$(head -1 <<<"$OUT")" = "# dry run: the questions were asked, the changes are only listed"
    plan=$(shown <<<"$OUT")
    want=$(golden_commands "$golden")
    if tail -1 <<<"$OUT" | grep -q '^# the plan ends here: '; then
        n=$(grep -c '' <<<"$plan")
        want=$(head -n "$n" <<<"$want")
        echo "# $name: $(tail -1 <<<"$OUT" | cut -c1-160)"
    else
        check "$name: the plan ends as the golden run does" test "$(tail -1 <<<"$OUT" | sed "s|$DS/1/[0-9a-f]\{32\}|$DS/1/NEW_SOURCE|")" = "$(tail -1 "$G/$golden.argv")"
    fi
    check "$name: the plan lists the commands of $golden.argv" test "$plan" = "$want"
    [ "$plan" = "$want" ] || diff <(echo "$want") <(echo "$plan") | sed 's/^/#   /' | head -20
}

for D in shared ssh qcow2; do
    echo "# TM $D"
    if [ "$D" = qcow2 ]; then IMG=$DS/1/qcow2 F=qcow2; qemu-img create -q -f qcow2 "$IMG" 1M; else IMG=$DS/1/raw F=raw; make_sparse "$IMG" 1; mkdir "$IMG.snap" && make_sparse "$IMG.snap/0" 1; fi
    vm_xml 5 host01 "$D" "0:YES:$IMG:1:1:$F:$D:vda"
    dry "$D clone" "tm/$D/clone" "$D" clone "frontend:$IMG" "host01:$V/disk.0" 5 1
    dry "$D mkimage" "tm/$D/mkimage" "$D" mkimage 16 raw "host01:$V/disk.2" 5 0
    dry "$D mkswap" "tm/$D/mkswap" "$D" mkswap 16 "host01:$V/disk.3" 5 0
    expect_ok "$D: a real clone" "$R/tm/$D/clone" "frontend:$IMG" "host01:$V/disk.0" 5 1
    dry "$D resize" "tm/$D/resize" "$D" resize "host01:$V/disk.0" 16 5 1
    dry "$D snap_create" "tm/$D/snap_create" "$D" snap_create "host01:$V/disk.0" 1 5 1
    dry "$D cpds" "tm/$D/cpds" "$D" cpds "host01:$V/disk.0" "frontend:$DS/1/saved" -1 5 1
    dry "$D mv" "tm/$D/mv" "$D" mv "host01:$V" "host02:$V" 5 0
    dry "$D delete" "tm/$D/delete" "$D" delete "host01:$V" 5 0
    expect_ok "$D: a real snapshot 1" "$R/tm/$D/snap_create" "host01:$V/disk.0" 1 5 1
    dry "$D snap_revert" "tm/$D/snap_revert" "$D" snap_revert "host01:$V/disk.0" 1 5 1
    dry "$D snap_delete" "tm/$D/snap_delete" "$D" snap_delete "host01:$V/disk.0" 1 5 1
    expect_ok "$D: the real delete" "$R/tm/$D/delete" "host01:$V" 5 0
    check "$D: the dry runs left the real actions working" test ! -e "$V"
    # A persistent disk saved back.
    vm_xml 5 host01 "$D" "0:NO:$IMG:1:1:$F:$D:vda"
    expect_ok "$D: a real ln" "$R/tm/$D/ln" "frontend:$IMG" "host01:$V/disk.0" 5 1
    dry "$D mvds" "tm/$D/mvds" "$D" mvds "host01:$V/disk.0" "frontend:$IMG" 5 1
    expect_ok "$D: the real delete of the VM directory" "$R/tm/$D/delete" "host01:$V" 5 0
    rm -rf "$IMG" "$IMG.snap"
done

# ---- oned's form: DRY_RUN=yes through the remotes tree ----------------------------------------
make_sparse "$DS/1/raw" 1
vm_xml 5 host01 shared "0:YES:$DS/1/raw:1:1:raw:shared:vda"
before=$(state)
OUT=$(ONESTOR_DRY_RUN=yes "$R/tm/shared/clone" "frontend:$DS/1/raw" "host01:$V/disk.0" 5 1 2>"$T/err"); RC=$?
check "DRY_RUN=yes: the action fails (oned must not take it for done)" test "$RC" = 1
check "DRY_RUN=yes: nothing on stdout" test -z "$OUT"
check "DRY_RUN=yes: the reason says so" grep -q 'dry run (DRY_RUN=yes): nothing was changed' "$T/err"
check "DRY_RUN=yes: the plan as INFO lines" grep -q "^INFO: clone: host01: batch\$" "$T/err"
check "DRY_RUN=yes: changed nothing" test "$before" = "$(state)"
expect_ok "after it, the real clone" "$R/tm/shared/clone" "frontend:$DS/1/raw" "host01:$V/disk.0" 5 1
check "the real clone made the disk" test -f "$V/disk.0"

# A DS action: the image stays, the plan names its removal (done in-process on the front-end).
before=$(state)
OUT=$("$R/onestor" --dry-run ds fs rm "$(ds_dump SOURCE="$DS/1/raw")" 7 2>"$T/err"); RC=$?
check "ds fs rm --dry-run: exit 0, changed nothing" test "$RC" = 0 -a "$before" = "$(state)"
check "ds fs rm --dry-run: lists the removal" grep -qx "frontend, in-process: rm -rf -- $DS/1/raw" <<<"$OUT"
# An import: its plan ends where the format of the copy would be read; nothing was written.
scratch_dir SRC /var/tmp/onestor-dry.XXXXXX
make_sparse "$SRC/up.img" 4
OUT=$("$R/onestor" --dry-run ds fs cp "$(ds_dump PATH="$SRC/up.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 8 2>"$T/err"); RC=$?
check "ds fs cp --dry-run: exit 0, changed nothing" test "$RC" = 0 -a "$before" = "$(state)"
[ "$RC" = 0 ] || sed 's/^/#   /' "$T/err"
check "ds fs cp --dry-run: lists the copy, then where its plan ends" eval \
    'grep -qx "frontend, in-process: write the image from .$SRC/up.img. into it" <<<"$OUT" && tail -1 <<<"$OUT" | grep -q "^# the plan ends here: "'

# Refused before anything: the same answer as the real call, dry or not.
dry_err=$("$R/onestor" --dry-run tm shared clone "frontend:$DS/1/raw" "host01:/etc/passwd" 5 1 2>&1 >/dev/null); dry_rc=$?
real_err=$("$R/onestor" tm shared clone "frontend:$DS/1/raw" "host01:/etc/passwd" 5 1 2>&1 >/dev/null); real_rc=$?
check "a refused path: the dry run fails as the real call ($dry_rc, $real_rc)" test "$dry_rc" = 1 -a "$real_rc" = 1
check "a refused path: with the same reason" test "$(grep -v '^INFO' <<<"$dry_err")" = "$(grep -v '^INFO' <<<"$real_err")"
OUT=$("$R/onestor" --dry-run tm shared clone "frontend:$DS/1/raw" "host01:/etc/passwd" 5 1 2>/dev/null)
check "a refused path: its plan says it fails" eval 'tail -1 <<<"$OUT" | grep -q "^# fails: "'
check "no temporary files anywhere" test -z "$(find "$DS" -name '*onestor-tmp*')"

e2e_finish
