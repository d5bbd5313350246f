#!/usr/bin/env bash
# `onestor doctor [HOST...]` against real sshd hosts (ssh layout: each host its own
# datastore tree): healthy, it exits 0 and says what it checked; each breakage (a tool
# missing on one host, the key refused, a datastore directory or the lock directory of
# another owner, a link of the remotes tree replaced, onestor missing on the hosts, no
# VERSION) makes it exit 1 with one line naming that problem and its fix.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" ssh

echo 6.10.0 > "$R/VERSION"
BASE=$(grep -v "^PROTOCOL=" "$ONESTOR_CONF")  # (the release comes from VERSION here)
printf '%s\nREMOTE_ONESTOR=%s\nHOST_SSH=ssh -F %s\n' "$BASE" "$R/onestor" "$T/hosts/ssh_config" > "$ONESTOR_CONF"
mkdir -p "$DS/0" "$DS/1"
for h in host01 host02; do on "$h" mkdir -p "$DS/0" "$DS/1"; done

doctor() { OUT=$("$R/onestor" doctor "$@" 2>&1); RC=$?; }
# healthy NAME: exit 0, no PROBLEM line
healthy() {
    doctor host01 host02
    check "$1: exit 0, no problem" eval '[ "$RC" -eq 0 ] && ! grep -q "^PROBLEM" <<<"$OUT"'
    [ "$RC" -eq 0 ] || echo "$OUT" | sed 's/^/#   /'
}
# sick NAME PATTERN [HOSTS...]: exit 1 and a PROBLEM line matching PATTERN (with a fix)
sick() {
    local name=$1 pat=$2; shift 2
    doctor "$@"
    check "$name: exit 1, named (with its fix): $pat" eval '[ "$RC" -eq 1 ] && grep -E "^PROBLEM .*$pat" <<<"$OUT" | grep -q " -- fix: ."'
    [ "$RC" -eq 1 ] && grep -qE "^PROBLEM .*$pat" <<<"$OUT" || echo "$OUT" | sed 's/^/#   /'
}

# The binary alone, as a newcomer first types it: the usage on stderr, exit 2 (not a crash).
OUT=$("$R/onestor" 2>&1 >/dev/null); RC=$?
check "bare 'onestor': exit 2, the usage on stderr" eval '[ "$RC" -eq 2 ] && grep -q "^Usage:" <<<"$OUT"'

healthy "healthy front-end and hosts"
check "healthy: tools and versions listed for every machine" eval \
    '(for m in frontend host01 host02; do grep -qE "^ok +$m: qemu-img: qemu-img version [0-9]" <<<"$OUT" && grep -qE "^ok +$m: mkswap: " <<<"$OUT" || exit 1; done)'
check "healthy: onestor on the hosts, host-to-host ssh both ways, the remotes tree, the lock directory" eval \
    'grep -q "^ok *host01: $R/onestor is onestor" <<<"$OUT" && grep -q "^ok *host01: reaches host02" <<<"$OUT" &&
     grep -q "^ok *host02: reaches host01" <<<"$OUT" && grep -q "^ok *frontend: $R: onestor .* links" <<<"$OUT" &&
     grep -q "^ok *frontend: lock directory" <<<"$OUT"'
before=$(connections host01)
doctor
check "front-end only (no HOST): exit 0, no ssh made" eval '[ "$RC" -eq 0 ] && [ "$(connections host01)" -eq "$before" ]'

# A tool only the front-end and host01 have: qemu-img through a link under each machine's own $DS.
mkdir -p "$DS/tools" && ln -s "$(command -v qemu-img)" "$DS/tools/qemu-img"
on host01 sh -c 'mkdir -p "$1/tools" && ln -s "$2" "$1/tools/qemu-img"' sh "$DS" "$(command -v qemu-img)"
export ONESTOR_QEMU_IMG=$DS/tools/qemu-img
sick "qemu-img missing on host02" "host02: $DS/tools/qemu-img not found in the PATH of root -- fix: apt-get install qemu-utils" host01 host02
check "qemu-img missing on host02: host01 and the front-end are not blamed" \
    eval '! grep -qE "^PROBLEM +(host01|frontend): .*qemu-img" <<<"$OUT"'
unset ONESTOR_QEMU_IMG
rm -rf "$DS/tools"; on host01 rm -rf "$DS/tools"

# The hosts refuse the front-end's key.
cp "$T/hosts/authorized_keys" "$T/ak.saved" && : > "$T/hosts/authorized_keys"
sick "key refused" "host01: cannot run commands over ssh: .*Permission denied" host01 host02
check "key refused: host02 named too, no host-to-host check attempted" eval \
    'grep -q "^PROBLEM *host02: cannot run commands over ssh" <<<"$OUT" && ! grep -q "reaches\|cannot ssh to" <<<"$OUT"'
cp "$T/ak.saved" "$T/hosts/authorized_keys"

# Wrong owners: a datastore directory on host02, then the front-end's lock directory.
on host02 chown 4242 "$DS/1"
sick "a datastore directory of another owner on host02" "host02: $DS/1 is owned by .*uid 4242" host01 host02
on host02 chown 0 "$DS/1"
mkdir -p "$T/lock" && chown 4242 "$T/lock"
sick "the lock directory of another owner" "frontend: lock directory $T/lock is owned by uid 4242"
chown 0 "$T/lock"
chmod 0777 "$T/lock"
sick "a lock directory others may write in" "frontend: lock directory $T/lock is writable by other users"
chmod 0700 "$T/lock"

# The remotes tree: a stock script in place of one link; no VERSION.
mv "$R/tm/ssh/clone" "$T/clone.link" && printf '#!/bin/sh\nexit 0\n' > "$R/tm/ssh/clone"
sick "a link of the remotes tree replaced" "1 of [0-9]+ driver links in $R do not point at onestor \(first: $R/tm/ssh/clone\)"
rm "$R/tm/ssh/clone" && mv "$T/clone.link" "$R/tm/ssh/clone"
# A release's own script of an action onestor does not implement (6.x backups) stays.
rm "$R/tm/ssh/prebackup" && printf '#!/bin/sh\necho stock prebackup\n' > "$R/tm/ssh/prebackup" && chmod +x "$R/tm/ssh/prebackup"
OUT=$("$R/onestor" install-remotes "$R" 2>&1)
check "install-remotes keeps a stock script of an action onestor does not implement, and says so" \
    eval 'grep -q "1 scripts of actions onestor does not implement kept" <<<"$OUT" && [ ! -L "$R/tm/ssh/prebackup" ] && [ "$("$R/tm/ssh/prebackup")" = "stock prebackup" ]'
check "install-remotes: the links of implemented actions all in place" eval 'grep -q " 0 links created" <<<"$OUT"'
healthy "a stock script of an action onestor does not implement"
doctor
check "release profile: a 6.10 remotes tree and no PROTOCOL, no warning" eval '[ "$RC" -eq 0 ] && grep -q "^ok *frontend: OpenNebula remotes VERSION 6.10.0: 6.x (6.10 forms)" <<<"$OUT"'
ONESTOR_PROTOCOL=5 doctor
check "release profile: PROTOCOL forcing other forms is warned, with the setting to remove" \
    grep -q "^warning *frontend: remotes VERSION 6.10.0 (6.x (6.10 forms)) with PROTOCOL=5 forcing the forms -- remove PROTOCOL" <<<"$OUT"
echo 9.1.0 > "$R/VERSION"
doctor
check "release profile: an unknown release is warned" grep -q "^warning *frontend: remotes VERSION 9.1.0 is a release onestor does not know" <<<"$OUT"
echo 6.10.0 > "$R/VERSION"
mv "$R/VERSION" "$T/VERSION"
sick "no VERSION in the remotes tree" "$R/VERSION is missing"
STDOUT=$("$R/onestor" doctor 2>/dev/null)
check "the report goes to stdout, problems too" grep -q "^PROBLEM .*VERSION is missing" <<<"$STDOUT"
mv "$T/VERSION" "$R/VERSION"

# onestor missing on the hosts (REMOTE_ONESTOR), and host-to-host ssh refused (HOST_SSH).
ONESTOR_REMOTE_ONESTOR=/nonexistent/onestor sick "onestor missing on the hosts" "host01: no onestor at REMOTE_ONESTOR /nonexistent/onestor" host01 host02
ONESTOR_REMOTE_ONESTOR=/nonexistent/onestor ONESTOR_REMOTE_ONESTOR_INSTALL=yes doctor host01 host02
check "onestor missing where transfers install it: exit 0, a warning saying so" eval \
    '[ "$RC" -eq 0 ] && grep -qE "^warning +host01: no onestor at REMOTE_ONESTOR /nonexistent/onestor \(the first ssh transfer to it installs this one\)" <<<"$OUT"'
ssh-keygen -q -t ed25519 -N '' -f "$T/otherkey"
sed "s|IdentityFile .*|IdentityFile $T/otherkey|" "$T/hosts/ssh_config" > "$T/h2h_config"
ONESTOR_HOST_SSH="ssh -F $T/h2h_config" sick "host-to-host ssh refused" "host01: cannot ssh to host02" host01 host02
ONESTOR_HOST_TO_HOST=relay ONESTOR_HOST_SSH="ssh -F /nonexistent" doctor host01 host02
check "relay mode: host-to-host ssh not needed" test "$RC" -eq 0

# A host name that is not one is refused before anything runs.
before=$(connections host01)
doctor host01 -oProxyCommand=touch\ $T/pwned
check "a bad host name is refused, nothing run" eval '[ "$RC" -eq 1 ] && [ ! -e "$T/pwned" ] && [ "$(connections host01)" -eq "$before" ]'

healthy "healthy again after the repairs"
e2e_finish
