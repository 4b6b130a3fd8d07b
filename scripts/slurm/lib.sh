# Shared by start-local-cluster.sh, stop-local-cluster.sh and status.sh (sourced, not run).
# Expects RUN_DIR and LOG_DIR to be set by the caller.

say() { echo "[slurm-local] $*"; }
die() { echo "[slurm-local] ERROR: $*" >&2; exit 1; }

show_log_tail() {
    local log="$1"
    if [[ -f "$log" ]]; then
        echo "--- last 20 lines of $log ---" >&2
        tail -n 20 "$log" >&2
    else
        echo "--- no log at $log ---" >&2
    fi
}

# Polls "$@" until it succeeds; after $TIMEOUT_S fails with the daemon's log tail.
wait_for() {
    local name="$1" log="$2"
    shift 2
    local deadline=$((SECONDS + ${TIMEOUT_S:-60}))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            echo "[slurm-local] ERROR: $name did not answer within ${TIMEOUT_S:-60}s" >&2
            show_log_tail "$log"
            exit 1
        fi
        sleep 0.3
    done
}

# Real path of a daemon's executable: Debian installs /usr/sbin/slurmctld and slurmd as
# alternatives links to slurmctld-wlm / slurmd-wlm, and /proc/<pid>/exe shows the target.
daemon_exe() { readlink -f "/usr/sbin/$1"; }

# Pid recorded in $RUN_DIR/<name>.pid, printed only when that process still runs the
# daemon's executable (a stale pid file may point at an unrelated process).
recorded_pid() {
    local name="$1" pid exe
    [[ -s "$RUN_DIR/$name.pid" ]] || return 1
    pid="$(tr -dc '0-9' <"$RUN_DIR/$name.pid")"
    [[ -n "$pid" && -e "/proc/$pid" ]] || return 1
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    [[ "${exe% (deleted)}" == "$(daemon_exe "$name")" ]] || return 1
    echo "$pid"
}

daemon_alive() { recorded_pid "$1" >/dev/null; }

# Any running process whose executable is /usr/sbin/<name> (started by us or not).
pid_of_exe() {
    local name="$1" proc exe target
    target="$(daemon_exe "$name")"
    for proc in /proc/[0-9]*; do
        exe="$(readlink "$proc/exe" 2>/dev/null || true)"
        if [[ "${exe% (deleted)}" == "$target" ]]; then
            echo "${proc#/proc/}"
            return 0
        fi
    done
    return 1
}

# True while the process runs; an exited one that its parent has not reaped yet (state Z,
# possible when no init process reaps daemons in a container) counts as stopped.
process_running() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$(awk '{print $1}' <<<"${stat##*) }")" != Z ]]
}

# Stops a daemon this script started (marker $RUN_DIR/<name>.ours); TERM, then KILL.
stop_daemon() {
    local name="$1" pid i
    if pid="$(recorded_pid "$name")"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            process_running "$pid" || break
            sleep 0.2
        done
        if process_running "$pid"; then
            say "$name: still running after 20s, sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "$name: stopped (pid $pid)"
    fi
    rm -f "$RUN_DIR/$name.ours" "$RUN_DIR/$name.pid"
}
