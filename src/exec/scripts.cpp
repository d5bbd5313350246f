// Every shell text onestor runs, locally or on a host, in one file: each a constant
// script whose inputs arrive as positional arguments ($1, $2, ...), never inside the text.
// (A host's batch of commands is not here: it is argv vectors joined by shell_quote.)
#include "onestor/scripts.hpp"

#include "onestor/protocol.hpp"

namespace onestor::scripts {

// A remote command must not outlive the action that started it: a copy still writing
// after the driver was killed (SIGTERM, SIGKILL, a timeout) would race the clean-up, e.g.
// lvremove of the volume it writes. sshd keeps a command running when its client goes, so
// each one runs under this fixed wrapper, in a session of its own (setsid), while a
// watchdog reads the channel's stdin; our end of that pipe is held open by this process
// until the command is done, so EOF there means the driver is gone (or ssh is), and the
// whole session is ended. Exit code, stdout and stderr are the command's.
const char* const kTiedToDriver =
    "exec 3<&0 </dev/null; setsid \"$@\" & p=$!; "
    "{ cat <&3 >/dev/null 2>&1; kill -TERM -$p 2>/dev/null; } >/dev/null 2>&1 & w=$!; "
    "exec 3<&-; wait $p; s=$?; kill $w 2>/dev/null; exit $s";

// $1 onestor on the host, $2 a path: `onestor sweep` of it where onestor is installed.
const char* const kSweep = "test -x \"$1\" || exit 0; \"$1\" sweep \"$2\" >/dev/null 2>&1; exit 0";

// $1 a file: every byte of its size allocated (the data kept; holes become allocated zeros),
// so the disk cannot run out of space later. posix_fallocate (-x): where the filesystem has
// no fallocate (NFSv3), the C library writes the holes instead. (An empty file has nothing.)
const char* const kPreallocate = "n=$(stat -L -c %s -- \"$1\") || exit 1; [ \"$n\" -eq 0 ] || fallocate -x -l \"$n\" -- \"$1\"";

// "$@" a `find` of the directory $2: nothing, and no failure, when that is missing.
const char* const kListIfThere = "[ -e \"$2\" ] || [ -L \"$2\" ] || exit 0; exec \"$@\"";

// $1 a path: "y" when it exists (a dangling symlink counts), nothing otherwise; never fails.
const char* const kExists = "if [ -e \"$1\" ] || [ -L \"$1\" ]; then echo y; fi";

// $1 a path: its canonical form on a line, nothing when it does not resolve; never fails.
const char* const kRealpath = "readlink -e -- \"$1\" || true";

// $1 a file, $2 the size it must have: fails ("incomplete") otherwise (put_file's copy, whose
// writer ends at the end of its input however the sender ended).
const char* const kSizeIs = "[ \"$(stat -c %s -- \"$1\")\" = \"$2\" ] || { echo \"$1: incomplete\" >&2; exit 1; }";

// $1 a path: its bytes on stdout, only when it is a regular file (a FIFO would block cat).
const char* const kCatRegular = "test -f \"$1\" || { echo \"$1: not a regular file\" >&2; exit 1; }; exec cat -- \"$1\"";

// "$@" a command (doctor's host-to-host ssh): nothing when it succeeds, else "exit N" on
// stdout, so that ssh's own 255 is not read as the front-end's connection failing.
const char* const kExitStatus = "\"$@\" </dev/null 2>&1 >/dev/null || echo \"exit $?\"";

// "$@" a question that may fail without ending its batch (`rbd info` of a volume that may
// not exist): its stdout; when it fails, then a line "exit N" (after a newline) and its
// stderr, the complaint the caller reads. Its stderr on success (warnings) is dropped.
const char* const kAnswer = "exec 3>&1; e=$(\"$@\" 2>&1 >&3 3>&-) && exit 0; s=$?; printf '\\nexit %s\\n%s\\n' \"$s\" \"$e\"";

// $1 n, then n words: virsh (VIRSH, -c LIBVIRT_URI); then a domain; then "$@" a command,
// run with the domain's file systems frozen through its guest agent, or with the domain
// suspended when no agent answers the freeze; then thawed (and resumed) on every path, the
// driver's end included (kTiedToDriver's TERM; --foreground keeps each virsh in the session's
// group, so the TERM reaches it). Once a suspend was tried, a resume follows (a resume of a
// running domain fails harmlessly). Each virsh call is limited to 30 s. Prints
// "frozen" or "suspended"; the command's stdout is dropped. Exit status: the command's, or
// 1 when the domain could be neither frozen nor suspended (virsh's complaint on stderr).
// (The virsh words are copied into w1..wn, and the command's words referenced as "${i}", so
// that eval only ever sees names made of digits, never a word's text.)
const char* const kQuiesced = R"sh(n=$1; i=2; j=1; v=
while [ "$j" -le "$n" ]; do eval "w$j=\${$i}"; v="$v \"\$w$j\""; i=$((i + 1)); j=$((j + 1)); done
eval "d=\${$i}"; i=$((i + 1)); c=
while [ "$i" -le $# ]; do c="$c \"\${$i}\""; i=$((i + 1)); done
q() { eval "timeout --foreground 30 $v \"\$1\" --domain \"\$d\"" >/dev/null; }
m=frozen
end() { q domfsthaw 2>/dev/null; [ "$m" = frozen ] || q resume 2>/dev/null; }
trap 'end; exit 143' TERM HUP INT
if ! q domfsfreeze 2>/dev/null; then
  m=suspended
  q suspend || { end; echo "cannot suspend domain '$d' (no guest agent froze it)" >&2; exit 1; }
fi
eval "$c" >/dev/null; s=$?
end; echo "$m"; exit $s)sh";

// $1 a snapshot directory, $2 a path, then other paths: "DEV:INO NAME" for each numbered
// entry of $1 (links followed; one that does not resolve is left out; a name is digits
// alone, so it holds no line break), "file DEV:INO" for each other path ("file " alone when
// it does not resolve), then
// "target DEV:INO" of $2 ("target " alone when it does not resolve).
const char* const kLayerIds =
    "d=$1 t=$2; shift 2; for f in \"$@\"; do echo \"file $(stat -L -c %d:%i -- \"$f\" 2>/dev/null)\"; done; "
    "cd -- \"$d\" || exit 1; for f in *; do case $f in *[!0-9]*) continue;; esac; "
    "i=$(stat -L -c %d:%i -- \"$f\" 2>/dev/null) && printf '%s %s\\n' \"$i\" \"$f\"; done; "
    "echo \"target $(stat -L -c %d:%i -- \"$t\" 2>/dev/null)\"";

// $1 seconds, then "$@" the removal of an RBD volume, answered as kAnswer answers. While the
// cluster refuses it for a watcher, it is tried again every 2 s until $1 s have passed: a killed
// writer's watch (an interrupted `rbd import`) holds until the OSDs time it out (30 s by
// default), and only then can its temporary volume go.
const char* const kAnswerUnwatched =
    "t=$(($(date +%s) + $1)); shift; exec 3>&1; while :; do e=$(\"$@\" 2>&1 >&3 3>&-) && exit 0; s=$?; "
    "case $e in *watchers*) if [ \"$(date +%s)\" -lt \"$t\" ]; then sleep 2; continue; fi;; esac; "
    "printf '\\nexit %s\\n%s\\n' \"$s\" \"$e\"; exit 0; done";

// "$@" a command: the MD5 of its output (md5sum's line), failing when the command fails (a
// pipeline's status would be md5sum's alone).
const char* const kMd5Of =
    "exec 4>&1; s=$( { { \"$@\"; echo $? >&3; } | md5sum >&4; } 3>&1 ); [ \"$s\" = 0 ] || "
    "{ echo \"the command whose output is summed failed (exit $s)\" >&2; exit 1; }";

// Runs "$@" under rlimits: $1 ulimit -v (KiB), $2 ulimit -t (s); two malloc arenas, as
// exec.cpp gives a local child under an address-space limit.
// $1 a snapshot directory, $2 the format of its layer 0, then the words of `qemu-img info
// ... -f`: for each layer (a name of 1 to 9 digits, no leading zero; hidden temporaries and
// links by other names left out), its name on a line, its header (read as qcow2, layer 0 as $2: never probed),
// then a line of one RS (0x1e); the first that cannot be read fails it.
const char* const kLayerHeaders =
    "d=$1; f0=$2; shift 2; for p in \"$d\"/*; do n=${p##*/}; case $n in ''|*[!0-9]*|0?*|??????????*) continue;; esac; "
    "f=qcow2; [ \"$n\" = 0 ] && f=$f0; printf '%s\\n' \"$n\"; \"$@\" \"$f\" \"$p\" || exit; printf '\\036\\n'; done";

const char* const kLimited =
    "ulimit -v \"$1\" && ulimit -t \"$2\" && shift 2 && MALLOC_ARENA_MAX=2 && export MALLOC_ARENA_MAX && exec \"$@\"";

// $1 a path: its size (stat -L) on a line, then its first 64 KiB; only a regular file is
// read (a FIFO would block head).
const char* const kSizeAndHead =
    "test -f \"$1\" || { echo \"$1: not a regular file\" >&2; exit 1; }; "
    "stat -L -c %s -- \"$1\" && exec head -c 65536 -- \"$1\"";

// $1 a line, $2 a file: the file holds that line, replaced by rename.
// The host probes' .monitor marker: $1 marker file, $2 value, then the command to run. Written
// (temp name, synced, renamed, directory synced) only when it does not say $2 already; a
// failure to write it is reported as INFO and does not stop the command.
const char* const kMonitorMark =
    "m=$1; v=$2; shift 2; if [ \"$(cat -- \"$m\" 2>/dev/null)\" != \"$v\" ]; then t=\"$m.onestor-tmp.$$\"; "
    "if mkdir -p -- \"${m%/*}\" && printf '%s\\n' \"$v\" > \"$t\" && sync -- \"$t\" && mv -f -- \"$t\" \"$m\"; then sync -- "
    "\"${m%/*}\"; "
    "else rm -f -- \"$t\"; echo \"INFO: cannot write $m\" >&2; fi; fi; exec \"$@\"";

// (a temporary of its own writer's name, synced, renamed, the directory synced: a crash leaves
// the old line or the new one, and a concurrent writer never shares the temporary)
const char* const kWriteLine =
    "t=\"$2.onestor-tmp.$$\"; if printf '%s\\n' \"$1\" > \"$t\" && sync -- \"$t\" && mv -f -- \"$t\" \"$2\"; then "
    "sync -- \"${2%/*}\"; else rm -f -- \"$t\"; exit 1; fi";

// After a live migration with local disks (the VMM copied them: libvirt's copy-storage), one
// of two VM directories is a copy no longer used; CommonTm::drop_copy removes it with these.
// Keeper: $1 the directory kept, $2 a token name made in it (so the other side can tell
// whether it is this same directory, seen through shared storage); prints "present/" and its
// disk.N entries, each followed by '/' (which no name holds), or "absent/".
const char* const kCopyKeeper =
    "[ -d \"$1\" ] || { printf absent/; exit 0; }; : > \"$1/$2\" || exit 1; printf present/; "
    "for f in \"$1\"/disk.[0-9]*; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then printf '%s/' \"${f##*/}\"; fi; done";

// Drop: $1 the directory to remove, $2 the keeper's token, $3 "all" (every disk.N entry of $1
// must be among the keeper's, named in $4...) or "any". Prints "absent", "same" (the token is
// visible here: one directory, nothing removed), "missing disk.N" (not removed), or
// "removed" once it is gone and its parent synced.
const char* const kCopyDrop =
    "d=$1 t=$2 need=$3; shift 3; [ -d \"$d\" ] || { echo absent; exit 0; }; "
    "if [ -e \"$d/$t\" ]; then echo same; exit 0; fi; "
    "if [ \"$need\" = all ]; then for f in \"$d\"/disk.[0-9]*; do "
    "{ [ -e \"$f\" ] || [ -L \"$f\" ]; } || continue; n=${f##*/}; k=; "
    "for g; do if [ \"$g\" = \"$n\" ]; then k=1; break; fi; done; "
    "[ -n \"$k\" ] || { printf 'missing %s\\n' \"$n\"; exit 0; }; done; fi; "
    "rm -rf -- \"$d\" || exit 1; sync -- \"${d%/*}\" 2>/dev/null; echo removed";

// The tar fallback is two-phase, because a tar archive that ends between two members is a
// valid archive: tar -x exits 0 on a stream cut at a member boundary, and a producer's
// failure (an unreadable file, a dying source host) may not reach the receiver at all. So
// the receiver only extracts into a temporary directory beside the target and syncs it; the
// driver then compares what arrived with the source (names, types, sizes) and only then
// renames it onto the target (kTarCommit). Both are constant scripts: every input arrives as
// a positional argument, never inside the script text.
//
// Receive: $1 temp dir, $2 target. Removes the temp dir itself when extraction fails, and
// names tar's first real complaint (a full disk) in an error block, which the driver reports
// before any echo of the failure (a broken pipe on the sending side). As the stream receiver
// does, it leaves nothing setuid, setgid, sticky or writable by others.
const std::string& tar_receive() {
    static const std::string s =
        std::string() +
        "set -e; t=$1; d=$2; mkdir -p -- \"${d%/*}\"; mkdir -m 700 -- \"$t\"; trap 'rm -rf -- \"$t\"' EXIT; "
        "if ! e=$(tar -C \"$t\" -xSf - 2>&1); then "
        "r=$(printf '%s\\n' \"$e\" | grep -v -m1 -e 'Exiting with failure' -e '^$' || true); "
        "printf '%s\\n' \"$e\" >&2; "
        "printf " +
        protocol::shell_error_printf() +
        " \"${r:-tar failed}\" >&2; exit 1; fi; "
        "find \"$t\" \\( -type f -o -type d \\) -perm /7002 -exec chmod ug-s,o-tw -- {} +; "
        "find \"$t\" \\( -type f -o -type d \\) -exec sync -- {} +; trap - EXIT";
    return s;
}

// Commit: $1 temp dir, $2 the name inside it, $3 target. A directory target is moved aside
// into the temp dir (and back should the second rename fail), then removed with it.
const char* const kTarCommit =
    "set -e; t=$1; n=$2; d=$3; test -e \"$t/$n\" || test -L \"$t/$n\"; "
    "if [ -d \"$d\" ] && [ ! -L \"$d\" ]; then mv -T -- \"$d\" \"$t/$n.old\"; "
    "mv -T -- \"$t/$n\" \"$d\" || { mv -T -- \"$t/$n.old\" \"$d\"; exit 1; }; "
    "else mv -fT -- \"$t/$n\" \"$d\"; fi; rm -rf -- \"$t\"; sync -- \"${d%/*}\"";

// The source of a completed move: $1 renamed to $2 (a hidden temporary name beside it) in
// one step, then removed. So the source's path never names a partly removed tree, which a
// retry would take for the source and copy over the complete destination; should the
// removal fail, what is left is a leftover that sends skip and a move back removes (said on
// stdout, which the caller logs: the step itself succeeded).
const char* const kRetire =
    "mv -T -- \"$1\" \"$2\" || exit 1; e=$(rm -rf -- \"$2\" 2>&1) || echo \"$(uname -n):$2 could not be removed: $e\"; exit 0";

// Host to host (HOST_TO_HOST=direct): runs on the source host as the right-hand side of
// `producer | ...`: $1 the destination's name, $2 SSH_CONTROL_PERSIST, $3 the command for
// the destination (already quoted), then the ssh command. With $2 > 0 the source host keeps
// its own connection to the destination that long (a master in a directory only its user
// can enter, started under a lock on that directory so that concurrent moves make one, a
// stale socket of a killed master removed first), so the next move between the two needs
// no handshake (without flock(1) it makes a connection of its own each time). The socket's
// name is a checksum of the destination and the ssh command (other settings, another master;
// and a length that fits a socket's path whatever the host's name).
// ssh's own failure (255: the destination unreachable or gone) is named as such; otherwise
// ssh's status (the receiver's) passes on.
const std::string& push() {
    static const std::string s =
        std::string() +
        "h=$1; p=$2; c=$3; shift 3; "
        "fail() { printf " +
        protocol::shell_error_printf() +
        " "
        "\"the connection from $(uname -n) to host $h failed (HOST_TO_HOST=direct)\" >&2; exit 1; }; "
        "d=/tmp/onestor-ssh-$(id -u); "
        "if [ \"$p\" -gt 0 ] && command -v flock >/dev/null && { mkdir -m 700 -- \"$d\" 2>/dev/null; [ -d \"$d\" ] && "
        "[ ! -L \"$d\" ] && [ -O \"$d\" ] && [ \"$(stat -c %a -- \"$d\")\" = 700 ]; }; then "
        "s=$d/host-$(printf '%s\\0' \"$h\" \"$@\" | cksum | cut -d' ' -f1); set -- \"$@\" -o \"ControlPath=$s\"; "
        "{ flock 9 && { \"$@\" -O check \"$h\" 2>/dev/null || { rm -f -- \"$s\"; "
        "\"$@\" -o ControlMaster=yes -o \"ControlPersist=$p\" -f -N \"$h\" </dev/null >/dev/null 2>&1 9>&-; }; }; "
        "} 9<\"$d\" || fail; set -- \"$@\" -o ControlMaster=no; fi; "
        "\"$@\" \"$h\" -- \"$c\"; r=$?; [ \"$r\" -ne 255 ] && exit \"$r\"; fail";
    return s;
}

// `onestor doctor`'s probe of a machine: $1 the datastore location, $2 REMOTE_ONESTOR ("" on
// the front-end), $3 how many tool names follow; the remaining words are the LVM_SUDO prefix.
// One tab-separated record a line. Only numeric datastore directories are listed (oned's ids), so no name it prints can
// hold a tab or a newline.
const char* const kDoctorProbe = R"SH(
ds=$1 remote=$2 n=$3
shift 3
export LVM_SUPPRESS_FD_WARNINGS=1
i=0
while [ "$i" -lt "$n" ]; do
    t=$1; shift; i=$((i + 1))
    p=$(command -v "$t" 2>/dev/null)
    if [ -n "$p" ]; then
        printf 'tool\t%s\t%s\t%s\n' "$t" "$p" "$("$t" --version </dev/null 2>&1 | sed -n '/[0-9]/{s/^ *//;p;q;}')"
    else
        printf 'notool\t%s\n' "$t"
    fi
done
printf 'user\t%s\t%s\n' "$(id -u)" "$(id -un)"
if [ -n "$remote" ]; then
    if [ -x "$remote" ]; then printf 'onestor\t%s\n' "$("$remote" --version 2>&1 | head -n 1)"; else printf 'noonestor\n'; fi
fi
if [ -d "$ds" ]; then
    for d in "$ds" "$ds"/*; do
        case ${d#"$ds"} in "") ;; /*[!0-9]* | /) continue ;; esac
        [ -d "$d" ] || continue
        w=no; [ -w "$d" ] && w=yes
        printf 'ds\t%s\t%s\t%s\t%s\t%s\n' "${d#"$ds"}" "$(stat -c %u "$d")" "$(stat -c %U "$d")" "$w" \
            "$(df -Pk "$d" | awk 'NR == 2 {print $4}')"
    done
else
    printf 'nods\n'
fi
PATH=$PATH:/usr/sbin:/sbin
if command -v vgs >/dev/null 2>&1; then
    if out=$("$@" vgs --noheadings -o vg_name 2>&1); then
        for vg in $out; do printf 'vg\t%s\n' "$vg"; done
        "$@" lvs --noheadings -o vg_name,lv_name,lv_attr 2>/dev/null | while read -r vg lv attr; do
            case $attr in t*) printf 'pool\t%s\t%s\n' "$vg" "$lv" ;; esac
        done
    else
        printf 'vgfail\t%s\n' "$(printf '%s\n' "$out" | tail -n 1)"
    fi
fi
)SH";

}  // namespace onestor::scripts
