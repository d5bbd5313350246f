#!/usr/bin/env bash
# Shared harness of the end-to-end suites. A suite sources this file, calls
#   e2e_init "$@" LAYOUT      (LAYOUT: shared | ssh | none)
# and then drives the installed symlink tree ($R/datastore/fs/cp, $R/tm/shared/clone, ...)
# exactly as oned does. Each suite runs in a private mount namespace where the front-end's
# /var/lib/one/datastores is $T/frontend (ssh layout) or the shared tree (shared layout);
# host01/host02 are real sshd's (test/hosts/testhosts.sh). Everything lives in $T and is
# stopped/removed on exit. The suite ends with e2e_finish, printing "N passed, N failed".
set -uo pipefail

E2E_PASS=0
E2E_FAIL=0
E2E_SCRATCH=()  # extra directories removed at exit (scratch_dir)
: "${ONESTOR_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${ONESTOR_BIN:=$ONESTOR_SRC/build/onestor}"
DS=/var/lib/one/datastores

e2e_init() {
    local layout=${!#}
    if [ -z "${E2E_IN_NS:-}" ]; then
        # Re-run this suite in a private mount namespace (its own view of $DS).
        # The lvm layout's hosts are UML kernels on a bridge: a network namespace of its own.
        local net=()
        [ "$layout" = lvm ] && net=(-n)
        E2E_IN_NS=1 exec unshare -m "${net[@]}" --propagation private bash "$0" "${@:1:$#-1}"
    fi
    [ -x "$ONESTOR_BIN" ] || { echo "no onestor binary at $ONESTOR_BIN" >&2; exit 1; }
    T=$(mktemp -d /tmp/onestor-e2e.XXXXXX)
    trap e2e_cleanup EXIT
    mkdir -p "$T/bin" "$T/vms" "$T/dss" "$T/lock" "$T/src" "$DS"
    case "$layout" in
        shared | lvm) mkdir -p "$T/hosts/shared"; mount --bind "$T/hosts/shared" "$DS" ;;
        *) mkdir -p "$T/frontend"; mount --bind "$T/frontend" "$DS" ;;
    esac
    # The hosts' shell would source root's ~/.bashrc for every remote command (on some
    # machines a pyenv init: ~0.2 s each); in this namespace only, it is an empty file.
    if [ -f /root/.bashrc ]; then : > "$T/bashrc"; mount --bind "$T/bashrc" /root/.bashrc; fi
    # A suite may define e2e_before_hosts: it runs here, inside the namespace and with $T
    # made, before the test hosts start (so they inherit the mounts it makes).
    if declare -F e2e_before_hosts >/dev/null; then e2e_before_hosts; fi
    case "$layout" in
        none) ;;
        lvm) "$ONESTOR_SRC/test/hosts/lvmhosts.sh" start "$T/hosts" || { echo "LVM test hosts failed" >&2; exit 1; } ;;
        *) "$ONESTOR_SRC/test/hosts/testhosts.sh" start "$T/hosts" "$layout" || { echo "test hosts failed" >&2; exit 1; } ;;
    esac
    R=$T/remotes
    "$ONESTOR_BIN" install-remotes "$R" >/dev/null
    # Tests provide oned's commands: `onevm show -x ID` prints $T/vms/ID.xml.
    cat > "$T/bin/onevm" <<SH
#!/bin/sh
[ "\$1" = show ] && [ "\$2" = -x ] && [ -f "$T/vms/\$3.xml" ] && exec cat "$T/vms/\$3.xml"
echo "onevm: no VM \$3" >&2; exit 1
SH
    cat > "$T/bin/onedatastore" <<SH
#!/bin/sh
[ "\$1" = show ] && [ "\$2" = -x ] && [ -f "$T/dss/\$3.xml" ] && exec cat "$T/dss/\$3.xml"
echo "onedatastore: no datastore \$3" >&2; exit 1
SH
    chmod +x "$T/bin/onevm" "$T/bin/onedatastore"
    cat > "$T/onestor.conf" <<CFG
# onestor settings for this sandbox
SSH="ssh -F $T/hosts/ssh_config"
ONEVM=$T/bin/onevm
ONEDATASTORE=$T/bin/onedatastore
FRONTEND=frontend
LOCK_DIR=$T/lock
LOCK_TIMEOUT=20
REMOTES_DIR=$R
LVM_SUDO=
# Hosts without onestor get tar (test_ssh_lifecycle.sh turns installing it on, under \$T).
REMOTE_ONESTOR_INSTALL=no
# One connection per action: the suites count handshakes (test_ssh_lifecycle.sh checks the default).
SSH_CONTROL_PERSIST=0
# The seed's 5.x forms (no remotes/VERSION here); test_profiles.sh detects per release.
PROTOCOL=5
CFG
    export ONESTOR_CONF=$T/onestor.conf
    SSHH=(ssh -F "$T/hosts/ssh_config")
}

e2e_cleanup() {
    [ -n "${T:-}" ] || return 0
    "$ONESTOR_SRC/test/hosts/testhosts.sh" stop "$T/hosts" >/dev/null 2>&1 || true
    [ -f "$T/hosts/lvm.conf" ] && { "$ONESTOR_SRC/test/hosts/lvmhosts.sh" stop "$T/hosts" >/dev/null 2>&1 || true; }
    umount "$DS" 2>/dev/null || true
    rm -rf "$T"
    local d
    for d in ${E2E_SCRATCH[@]+"${E2E_SCRATCH[@]}"}; do rm -rf -- "$d"; done
}

# scratch_dir VAR TEMPLATE: VAR=$(mktemp -d TEMPLATE), a directory outside $T (e.g. under
# /var/tmp, for SAFE_DIRS) that is removed at exit like $T.
scratch_dir() {
    local d
    d=$(mktemp -d "$2") || { echo "cannot create $2" >&2; exit 1; }
    E2E_SCRATCH+=("$d")
    printf -v "$1" '%s' "$d"
}

e2e_finish() {
    echo "$E2E_PASS passed, $E2E_FAIL failed"
    [ "$E2E_FAIL" -eq 0 ]
}

pass() { E2E_PASS=$((E2E_PASS + 1)); echo "ok - $*"; }
fail() { E2E_FAIL=$((E2E_FAIL + 1)); echo "FAIL - $*"; }

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }

# run_action COMMAND...: runs a driver; sets OUT, ERR, RC (never aborts the suite).
run_action() {
    OUT=$("$@" 2>"$T/stderr"); RC=$?
    ERR=$(cat "$T/stderr")
    return 0
}

# expect_ok DESCRIPTION COMMAND...: the action exits 0.
expect_ok() {
    local d=$1; shift
    run_action "$@"
    if [ "$RC" -eq 0 ]; then pass "$d"; else fail "$d (exit $RC): $ERR"; fi
}

# expect_error DESCRIPTION SUBSTRING COMMAND...: non-zero exit, nothing on stdout, and the
# error block holds one line containing SUBSTRING.
expect_error() {
    local d=$1 want=$2; shift 2
    run_action "$@"
    local msg
    msg=$(printf '%s\n' "$ERR" | sed -n '/^ERROR MESSAGE --8<------$/{n;p;}')
    if [ "$RC" -ne 0 ] && [ -z "$OUT" ] && [ -n "$msg" ] && [[ "$msg" == *"$want"* ]]; then
        pass "$d"
    else
        fail "$d (exit $RC, stdout '$OUT', message '$msg', wanted '$want')"
    fi
}

# connections HOST: the ssh connections made to a test host so far (its sshd logs one
# "Accepted" line per connection; commands multiplexed over a connection make none).
connections() { grep -c '^Accepted publickey' "$T/hosts/$1.log"; }

# expect_conns H1 H2 DESCRIPTION COMMAND...: expect_ok, and the action made exactly H1 new
# connections to host01 and H2 to host02 (front-end and host to host alike).
expect_conns() {
    local w1=$1 w2=$2 d=$3 c1 c2; shift 3
    c1=$(connections host01) c2=$(connections host02)
    expect_ok "$d" "$@"
    c1=$(($(connections host01) - c1)) c2=$(($(connections host02) - c2))
    check "$d: $w1 connection(s) to host01, $w2 to host02 (made $c1, $c2)" test "$c1" = "$w1" -a "$c2" = "$w2"
}

# Remote helpers: run a command on a test host (words quoted for its shell).
on() { local h=$1; shift; "${SSHH[@]}" "$h" -- "$(printf '%q ' "$@")"; }
sum_on() { on "$1" sha256sum "$2" | cut -d' ' -f1; }
sum() { sha256sum "$1" | cut -d' ' -f1; }
alloc_kib() { du -k "$1" | cut -f1; }

# A file with data at a few offsets and holes elsewhere: make_sparse PATH SIZE_MIB
make_sparse() {
    truncate -s "${2}M" "$1"
    local off
    for off in 0 3 $(( $2 / 2 )) $(( $2 - 1 )); do
        head -c 65536 /dev/urandom | dd of="$1" bs=64k seek=$(( off * 16 )) conv=notrunc status=none
    done
}

# ds_dump [KEY=VALUE...]: a base64 DS_DRIVER_ACTION_DATA document. Keys: IMAGE_ID SOURCE
# PATH FSTYPE FORMAT FS SIZE TYPE PERSISTENT TARGET_SNAPSHOT DS_ID BASE_PATH DS_MAD TM_MAD
# DS_TYPE SAFE_DIRS RESTRICTED_DIRS DRIVER CONVERT MD5 NO_IMAGE=1 DATASTORE_LOCATION
# MONITOR_VM_DISKS BRIDGE_LIST IMAGE_XML DS_XML
ds_dump() {
    local IMAGE_ID=7 SOURCE="" PATH_="" FSTYPE="" FORMAT="" FS="" SIZE=0 TYPE=0 PERSISTENT=0 TARGET_SNAPSHOT=-1
    local DS_ID=1 BASE_PATH="" DS_MAD=fs TM_MAD=shared DS_TYPE=0 SAFE_DIRS="" RESTRICTED_DIRS="" DRIVER="" CONVERT=""
    local MD5="" NO_IMAGE="" DATASTORE_LOCATION="" MONITOR_VM_DISKS="" BRIDGE_LIST=""
    local IMAGE_XML="" DS_XML=""  # extra elements, verbatim, for the image's / datastore's TEMPLATE
    local kv
    for kv in "$@"; do
        case "$kv" in
            PATH=*) PATH_=${kv#PATH=} ;;
            *=*) local "${kv%%=*}"="${kv#*=}" ;;
        esac
    done
    [ -n "$BASE_PATH" ] || BASE_PATH=$DS/$DS_ID
    x() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
    {
        echo "<DS_DRIVER_ACTION_DATA>"
        if [ -z "$NO_IMAGE" ]; then
            echo "<IMAGE><ID>$IMAGE_ID</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>"
            echo "<NAME>img$IMAGE_ID</NAME><TYPE>$TYPE</TYPE><DISK_TYPE>0</DISK_TYPE><PERSISTENT>$PERSISTENT</PERSISTENT>"
            echo "<SOURCE>$(x "$SOURCE")</SOURCE><PATH>$(x "$PATH_")</PATH><FSTYPE>$(x "$FSTYPE")</FSTYPE>"
            [ -n "$FORMAT" ] && echo "<FORMAT>$(x "$FORMAT")</FORMAT>"
            [ -n "$FS" ] && echo "<FS>$(x "$FS")</FS>"
            echo "<SIZE>$SIZE</SIZE><STATE>4</STATE><TARGET_SNAPSHOT>$TARGET_SNAPSHOT</TARGET_SNAPSHOT>"
            echo "<DATASTORE_ID>$DS_ID</DATASTORE_ID><DATASTORE>default</DATASTORE>"
            echo "<TEMPLATE><DEV_PREFIX><![CDATA[hd]]></DEV_PREFIX>"
            [ -n "$MD5" ] && echo "<MD5>$(x "$MD5")</MD5>"
            [ -n "$IMAGE_XML" ] && echo "$IMAGE_XML"
            echo "</TEMPLATE></IMAGE>"
        fi
        echo "<DATASTORE><ID>$DS_ID</ID><NAME>ds$DS_ID</NAME><DS_MAD>$DS_MAD</DS_MAD><TM_MAD>$TM_MAD</TM_MAD>"
        echo "<BASE_PATH>$(x "$BASE_PATH")</BASE_PATH><TYPE>$DS_TYPE</TYPE><DISK_TYPE>0</DISK_TYPE>"
        echo "<TEMPLATE><DS_MAD>$DS_MAD</DS_MAD><TM_MAD>$TM_MAD</TM_MAD>"
        echo "<SAFE_DIRS>$(x "$SAFE_DIRS")</SAFE_DIRS><RESTRICTED_DIRS>$(x "$RESTRICTED_DIRS")</RESTRICTED_DIRS>"
        [ -n "$DRIVER" ] && echo "<DRIVER>$DRIVER</DRIVER>"
        [ -n "$CONVERT" ] && echo "<CONVERT>$CONVERT</CONVERT>"
        [ -n "$BRIDGE_LIST" ] && echo "<BRIDGE_LIST>$(x "$BRIDGE_LIST")</BRIDGE_LIST>"
        [ -n "$DS_XML" ] && echo "$DS_XML"
        echo "</TEMPLATE></DATASTORE>"
        [ -n "$DATASTORE_LOCATION" ] && echo "<DATASTORE_LOCATION>$(x "$DATASTORE_LOCATION")</DATASTORE_LOCATION>"
        [ -n "$MONITOR_VM_DISKS" ] && echo "<MONITOR_VM_DISKS>$MONITOR_VM_DISKS</MONITOR_VM_DISKS>"
        echo "</DS_DRIVER_ACTION_DATA>"
    } | base64 -w0
}

# vm_xml VMID HOSTNAME SYSTEM_TM DISK_SPEC...: writes $T/vms/VMID.xml (what `onevm show -x`
# prints). DISK_SPEC: "ID:CLONE:SOURCE:SIZE:ORIGINAL_SIZE:FORMAT:TM_MAD[:TARGET]" (TARGET
# defaults to vd<ID>). VM_LCM_STATE in the environment sets LCM_STATE (default 3, RUNNING);
# VM_DISK_EXTRA is XML added to every DISK (e.g. <LVM_THIN_ENABLE>YES</LVM_THIN_ENABLE>).
# VM_DS is the system datastore of the last history record (default 0); VM_PREV_DS adds a
# record before it, on that datastore (where a storage live migration comes from).
vm_xml() {
    local vmid=$1 host=$2 systm=$3; shift 3
    {
        echo "<VM><ID>$vmid</ID><NAME>vm$vmid</NAME><STATE>3</STATE><LCM_STATE>${VM_LCM_STATE:-3}</LCM_STATE><DEPLOY_ID>one-$vmid</DEPLOY_ID><TEMPLATE>"
        local d
        for d in "$@"; do
            IFS=: read -r id clone src size osize fmt tm target <<<"$d"
            echo "<DISK><DISK_ID>$id</DISK_ID><CLONE>$clone</CLONE><SOURCE>$src</SOURCE><SIZE>$size</SIZE>"
            echo "<ORIGINAL_SIZE>$osize</ORIGINAL_SIZE><FORMAT>$fmt</FORMAT><DRIVER>$fmt</DRIVER><TM_MAD>$tm</TM_MAD><TARGET>${target:-vd$id}</TARGET>${VM_DISK_EXTRA:-}</DISK>"
        done
        echo "</TEMPLATE><HISTORY_RECORDS>"
        [ -z "${VM_PREV_DS:-}" ] || echo "<HISTORY><OID>$vmid</OID><SEQ>0</SEQ><HOSTNAME>$host</HOSTNAME><TM_MAD>$systm</TM_MAD><DS_ID>$VM_PREV_DS</DS_ID></HISTORY>"
        echo "<HISTORY><OID>$vmid</OID><SEQ>$([ -n "${VM_PREV_DS:-}" ] && echo 1 || echo 0)</SEQ><HOSTNAME>$host</HOSTNAME>"
        echo "<TM_MAD>$systm</TM_MAD><DS_ID>${VM_DS:-0}</DS_ID></HISTORY></HISTORY_RECORDS></VM>"
    } > "$T/vms/$vmid.xml"
}

# set_lcm VMID STATE: the LCM_STATE `onevm show` reports for the VM from now on
set_lcm() { sed -i "s|<LCM_STATE>[0-9]*</LCM_STATE>|<LCM_STATE>$2</LCM_STATE>|" "$T/vms/$1.xml"; }

# sparse_sum PATH / sparse_sum_on HOST PATH: MD5 of a file's size and contents that never
# reads holes (SEEK_DATA/SEEK_HOLE) and skips all-zero 64 KiB blocks, so a 1 GiB sparse image
# sums in milliseconds. Equal for equal contents however the file is allocated (holes,
# allocated zeros); any differing byte changes it. Perl only, so it runs on the hosts too.
SPARSE_SUM_PL='use Digest::MD5; my $p = shift; open(my $f, "<:raw", $p) or die "$p: $!\n";
my $size = -s $f; my $d = Digest::MD5->new; $d->add("$size\n"); my ($B, $pos, $next) = (65536, 0, 0);
while ($pos < $size) { my ($s, $h) = (sysseek($f, $pos, 3), undef);
  if (!defined $s) { last if $!{ENXIO}; ($s, $h) = ($pos, $size) } else { $h = sysseek($f, $s, 4); $h = $size if !defined $h || $h > $size }
  my $o = $s - $s % $B; $o = $next if $o < $next;
  while ($o < $h) { sysseek($f, $o, 0) or die "$p: $!\n"; my $n = sysread($f, my $buf, $B); die "$p: $!\n" unless defined $n; last unless $n;
    $d->add(pack("Q<", $o), $buf) if $buf =~ /[^\0]/; $o += $B }
  $next = $o; $pos = $h > $pos ? $h : $size }
print $d->hexdigest, "\n";'
sparse_sum() { perl -e "$SPARSE_SUM_PL" -- "$1"; }
sparse_sum_on() { on "$1" perl -e "$SPARSE_SUM_PL" -- "$2"; }

# thick PATH SIZE: PATH is SIZE bytes long and every one of them is allocated (SPARSE=NO)
thick() { [ "$(stat -c %s "$1")" = "$2" ] && [ $(($(stat -c %b "$1") * $(stat -c %B "$1"))) -ge "$2" ]; }

# The ssh layout (every machine its own datastore tree):
# at MACHINE PATH: PATH (under $DS) as it lies on MACHINE, seen from here
at() {
    case $1 in frontend) printf '%s' "$2" ;; *) printf '%s' "$T/hosts/$1${2#"$DS"}" ;; esac
}
# only_on PATH MACHINE...: PATH exists on exactly these machines
only_on() {
    local p=$1 m want=" ${*:2} "
    for m in frontend host01 host02; do
        if [[ "$want" == *" $m "* ]]; then [ -e "$(at "$m" "$p")" ] || { echo "# $p missing on $m"; return 1; }
        else [ ! -e "$(at "$m" "$p")" ] && [ ! -L "$(at "$m" "$p")" ] || { echo "# $p present on $m"; return 1; }; fi
    done
}
# no_temps: no temporary name is left on any machine
no_temps() { [ -z "$(find "$T/frontend" "$T/hosts/host01" "$T/hosts/host02" -name '*onestor-tmp*' 2>/dev/null)" ]; }

# ssh_mux: from now on `on` shares one ssh connection per host (a ControlMaster socket in
# $T), so many small remote checks stay fast. The masters end when the hosts stop.
ssh_mux() { SSHH=(ssh -F "$T/hosts/ssh_config" -o ControlMaster=auto -o "ControlPath=$T/mux-%h" -o ControlPersist=600); }
