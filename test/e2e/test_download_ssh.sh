#!/usr/bin/env bash
# DS cp and stat from files on hosts reached with ssh (issue 13): ssh://HOST:/PATH and
# HOST:/PATH, read with `cat` through the host layer (one argv quoted once, never a shell
# string from input), the datastore's path policy applied to the file's canonical path on
# its host. Real sshd test hosts (ssh layout); each refusal leaves the datastore unchanged.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" ssh
exec </dev/null

FSD=$R/datastore/fs
BASE=$DS/1
mkdir -p "$BASE"
scratch_dir SAFE /var/tmp/onestor-dlssh.XXXX
{ head -c 1M /dev/urandom; head -c 8M /dev/zero; head -c 2M /dev/urandom; } > "$SAFE/img"
gzip -k "$SAFE/img"
qemu-img create -q -f qcow2 "$SAFE/q.qcow2" 48M
H="$SAFE/a b 'q' \$(touch PWNED) ; touch PWNED"
cp "$SAFE/img" "$H"
ln -s /etc/passwd "$SAFE/passwd-link"
dump() { ds_dump SAFE_DIRS="$SAFE" RESTRICTED_DIRS=/ "$@"; }
listing() { find "$DS" "$SAFE" -printf '%p %s %y\n' | sort; }
one_source() { [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ] && [[ $1 == "$BASE"/* ]] && [[ ${1#"$BASE"/} != */* ]] && [ -f "$1" ]; }
ds_refused() {
    local before
    before=$(listing)
    expect_error "$1" "$2" "$FSD/${4:-cp}" "$3" 7
    check "$1: nothing created or removed" test "$before" = "$(listing)"
}
logins() { grep -c "Accepted publickey" "$T/hosts/$1.log"; }

n1=$(logins host01)
expect_ok "cp ssh://host01:/PATH" "$FSD/cp" "$(dump PATH="ssh://host01:$SAFE/img")" 7
check "cp ssh://: the image's bytes" eval 'one_source "$OUT" && cmp -s "$OUT" "$SAFE/img"'
check "cp ssh://: read over ssh from host01 ($n1 -> $(logins host01) logins)" test "$(logins host01)" -gt "$n1"
check "cp ssh://: the zero run is a hole" test "$(alloc_kib "$OUT")" -lt 5000
expect_ok "cp host02:/PATH (scp form), gzip decompressed" "$FSD/cp" "$(dump PATH="host02:$SAFE/img.gz")" 7
check "cp host02:/PATH: the image's bytes" cmp -s "$OUT" "$SAFE/img"
expect_ok "cp ssh:// with MD5 verified" "$FSD/cp" "$(dump PATH="ssh://host01:$SAFE/img.gz" MD5="$(md5sum < "$SAFE/img.gz" | cut -d' ' -f1)")" 7
ds_refused "cp ssh:// with an MD5 mismatch" "checksum mismatch: MD5" "$(dump PATH="ssh://host01:$SAFE/img" MD5=0123456789abcdef0123456789abcdef)"
expect_ok "cp ssh://: a file named with quotes, \$() and ;" "$FSD/cp" "$(dump PATH="ssh://host01:$H")" 7
check "cp ssh:// hostile name: the bytes, and nothing ran" eval 'cmp -s "$OUT" "$H" && [ ! -e PWNED ] && [ ! -e "$SAFE/PWNED" ] && [ ! -e /root/PWNED ]'
ds_refused "cp ssh://: a file outside SAFE_DIRS" "Not allowed to copy image from 'ssh://host01:/etc/passwd'" "$(dump PATH=ssh://host01:/etc/passwd)"
ds_refused "cp ssh://: a symlink in SAFE_DIRS leading out (resolved on the host)" "Not allowed to copy image from '$SAFE/passwd-link'" "$(dump PATH="ssh://host01:$SAFE/passwd-link")"
ds_refused "cp ssh://: a missing file, the same refusal" "Not allowed to copy image from '$SAFE/nothere'" "$(dump PATH="ssh://host01:$SAFE/nothere")"
ds_refused "cp ssh://: a directory" "not a regular file" "$(dump PATH="ssh://host01:$SAFE")"
ds_refused "cp ssh://: '..' in the path" "'..'" "$(dump PATH="ssh://host01:$SAFE/../${SAFE##*/}/img")"
ds_refused "cp ssh://: a relative path" "must be absolute" "$(dump PATH="ssh://host01:img")"
ds_refused "cp ssh://: a host name that is an ssh option" "host" "$(dump PATH="ssh://-oProxyCommand=touch\${IFS}PWNED:$SAFE/img")"
check "cp ssh://: the option host ran nothing" test ! -e PWNED
expect_ok "stat ssh://: a qcow2's virtual size from its header on the host" "$FSD/stat" "$(dump PATH="ssh://host01:$SAFE/q.qcow2")" 7
check "stat ssh://: 48 MiB ($OUT)" test "$OUT" = 48
ds_refused "stat ssh://: a file outside SAFE_DIRS" "Not allowed" "$(dump PATH=ssh://host01:/etc/passwd)" stat
"$ONESTOR_SRC/test/hosts/testhosts.sh" down "$T/hosts" host02 >/dev/null
ds_refused "cp ssh:// from a host that is down" "host02" "$(dump PATH="ssh://host02:$SAFE/img")"
check "no temporary file left in the datastore" test -z "$(find "$BASE" -name '.*onestor-tmp*')"

e2e_finish
