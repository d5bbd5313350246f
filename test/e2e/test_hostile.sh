#!/usr/bin/env bash
# Every hostile input in one place, each with the same three checks: refused with a
# one-line reason (and nothing on stdout), nothing created or changed (a checksummed
# listing of the datastores, a canary tree outside them holding a fake secret, and the lock
# directory, compared before and after), and no process left running (in this suite's
# mount namespace or the test hosts').
# The cases live in test/e2e/hostile/<area>.sh, sourced in name order; a case file makes
# its fixtures, calls hostile_mark, then calls refuse once per case.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" shared

CANARY=$(mktemp -d /var/tmp/onestor-canary.XXXXXX)
trap 'rm -rf "$CANARY"; e2e_cleanup' EXIT
mkdir -p "$DS/0" "$DS/1" "$CANARY/x/42"
echo "oneadmin:secret-token" > "$CANARY/one_auth"
chmod 600 "$CANARY/one_auth"
echo "keep me" > "$CANARY/x/42/disk.0"
IMG=$DS/1/0123456789abcdef0123456789abcdef
head -c 1M /dev/urandom > "$IMG"
V=$DS/0/42
mkdir -p "$V"
cp --sparse=always "$IMG" "$V/disk.0"
vm_xml 42 host01 shared "0:YES:$IMG:1:1:raw:shared"

# The processes of this suite's mount namespace and the test hosts' (one perl, no fork per
# process), "PID CMDLINE" a line, sorted; the lister and the shell that runs it left out.
PROCS_PL='my %ns = map { $_ => 1 } @ARGV; opendir(my $d, "/proc") or die; my @out;
for my $p (sort { $a <=> $b } grep { /^\d+$/ } readdir $d) { next if $p == $$ || $p == getppid();
  my $n = readlink("/proc/$p/ns/mnt") // next; next unless $ns{$n};
  open(my $c, "<", "/proc/$p/cmdline") or next; local $/; my $cmd = <$c> // ""; $cmd =~ s/\0/ /g;
  push @out, "$p $cmd\n" if length $cmd } print @out'
namespaces() {
    readlink /proc/self/ns/mnt
    local f
    for f in "$T"/hosts/*.pid; do readlink "/proc/$(cut -d' ' -f1 "$f")/ns/mnt" 2>/dev/null; done
}
procs() { perl -e "$PROCS_PL" -- $(namespaces); }

# What a refused action must not change: every path, type, mode, size and link target under
# the datastores, the canary and the lock directory, and every regular file's checksum.
LOCKD=$T/lock
picture() {
    find "$DS" "$CANARY" "$LOCKD" -printf '%p|%y|%m|%s|%l\n' 2>/dev/null | sort
    find "$DS" "$CANARY" "$LOCKD" -type f -exec sha256sum {} + 2>/dev/null | sort
    find /tmp -maxdepth 1 -name 'PWNED*' 2>/dev/null
}

# hostile_mark: takes the picture and the process list that later refusals compare with.
hostile_mark() {
    MARK_PICTURE=$(picture)
    procs | cut -d' ' -f1 | sed 's/^/^/; s/$/ /' > "$T/procs.mark"
}

# refuse DESCRIPTION SUBSTRING COMMAND...: the three checks. HOSTILE_STDIN names a file fed
# to the action's stdin (default: /dev/null).
refuse() {
    local d=$1 want=$2; shift 2
    OUT=$("$@" <"${HOSTILE_STDIN:-/dev/null}" 2>"$T/stderr"); RC=$?
    ERR=$(cat "$T/stderr")
    local block lines
    block=$(printf '%s\n' "$ERR" | sed -n '/^ERROR MESSAGE --8<------$/,/^ERROR MESSAGE ------>8--$/p' | sed '1d;$d')
    lines=$(printf '%s' "$block" | grep -c '^')
    if [ "$RC" -ne 0 ] && [ -z "$OUT" ] && [ "$lines" -eq 1 ] && [[ "$block" == *"$want"* ]]; then
        pass "$d: refused"
    else
        fail "$d: refused (exit $RC, stdout '${OUT:0:80}', reason '$block', wanted '$want')"
    fi
    if [ "$(picture)" = "$MARK_PICTURE" ]; then
        pass "$d: nothing touched"
    else
        fail "$d: nothing touched"
        diff <(printf '%s\n' "$MARK_PICTURE") <(picture) | head -10 | sed 's/^/    /'
        MARK_PICTURE=$(picture)  # report each change once
    fi
    local left="" i
    for i in $(seq 1 20); do  # a remote command may take a moment to see its connection close
        procs > "$T/procs.now"  # run by this shell itself: no subshell of ours is listed
        left=$(grep -v -f "$T/procs.mark" "$T/procs.now")
        [ -z "$left" ] && break
        sleep 0.1
    done
    if [ -z "$left" ]; then pass "$d: no process left"; else fail "$d: no process left: ${left:0:200}"; fi
}

for f in "$ONESTOR_SRC"/test/e2e/hostile/*.sh; do
    echo "# ${f##*/}"
    source "$f"
done
check "the canary's secret is intact" test "$(cat "$CANARY/one_auth")" = "oneadmin:secret-token"
e2e_finish
