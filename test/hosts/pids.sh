# shellcheck shell=bash
# Pid files that survive PID reuse, for the test scripts that start and later stop daemons
# (sourced). pid_max is 32768 on many machines and a full test run (parallel suites, podman,
# thousands of short commands) wraps it in minutes: a PID read back from a file after its
# process died may name another suite's process (a container's init, a session leader whose
# group a `kill -- -PID` would end). So a pid file holds "PID STARTTIME" (field 22 of
# /proc/PID/stat, clock ticks since boot), and a process is signalled only while it is still
# the one recorded.

# pid_start PID: the start time of PID, or non-zero when there is no such process.
pid_start() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }  # past "PID (comm) ", which may hold spaces; field 3 (state) comes first
    # shellcheck disable=SC2086
    set -- $s
    echo "${20}"
}

# pid_record PID FILE
pid_record() { echo "$1 $(pid_start "$1" || true)" >"$2"; }

# pid_live FILE: prints the recorded PID while that process (same start time) is alive.
pid_live() {
    local pid start now
    [ -f "$1" ] || return 1
    read -r pid start <"$1" || [ -n "${pid:-}" ] || return 1
    [ -n "${start:-}" ] || return 1
    now=$(pid_start "$pid") || return 1
    [ "$now" = "$start" ] && echo "$pid"
}

# pid_members FILE: the PIDs in the recorded process's group or session (its own included),
# while it lives or after it died: a surviving member keeps the PID in use as a group or
# session id, so the kernel cannot give it to a new process. Once a new process holds the
# PID (the old group had emptied), nothing is printed.
pid_members() {
    local pid start p s now
    [ -f "$1" ] || return 0
    read -r pid start <"$1" || [ -n "${pid:-}" ] || return 0
    [ -n "${start:-}" ] || return 0
    if now=$(pid_start "$pid") && [ "$now" != "$start" ]; then return 0; fi
    for p in /proc/[0-9]*; do
        s=$(cat "$p/stat" 2>/dev/null) || continue
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        # $3 pgrp, $4 session, ${20} starttime
        if { [ "$3" = "$pid" ] || [ "$4" = "$pid" ]; } && [ "${20}" -ge "$start" ]; then echo "${p#/proc/}"; fi
    done
}
