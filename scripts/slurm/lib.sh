# Shared by start-local-cluster.sh, stop-local-cluster.sh, status.sh and the two-node
# scripts (sourced, not run). Expects RUN_DIR and LOG_DIR to be set by the caller;
# SCRIPT_TAG names the caller in messages (default slurm-local).

say() { echo "[${SCRIPT_TAG:-slurm-local}] $*"; }
die() { echo "[${SCRIPT_TAG:-slurm-local}] ERROR: $*" >&2; exit 1; }

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
            echo "[${SCRIPT_TAG:-slurm-local}] ERROR: $name did not answer within ${TIMEOUT_S:-60}s" >&2
            show_log_tail "$log"
            exit 1
        fi
        sleep 0.3
    done
}

# Real path of a daemon's executable: Debian installs /usr/sbin/slurmctld and slurmd as
# alternatives links to slurmctld-wlm / slurmd-wlm, and /proc/<pid>/exe shows the target.
# A name may carry an instance after "@" (slurmd@node1: one of several slurmd).
daemon_exe() { readlink -f "/usr/sbin/${1%%@*}"; }

# The slurm.conf a running SLURM daemon reads: the file after its -f option, else the
# SLURM_CONF of its environment, else /etc/slurm/slurm.conf. slurmctld's slurmscriptd
# rewrites its command line and environment, so a daemon forked from another process of the
# same executable is judged by that parent.
daemon_conf() {
    local pid="$1" args=() i conf="" parent
    mapfile -d '' -t args <"/proc/$pid/cmdline" 2>/dev/null || true
    for ((i = 1; i < ${#args[@]}; i++)); do
        case "${args[i]}" in
            -f) conf="${args[i + 1]:-}" ;;
            -f?*) conf="${args[i]#-f}" ;;
        esac
    done
    if [[ -z "$conf" ]]; then
        parent="$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
        if [[ -n "$parent" && "$parent" != 1 && "$parent" != 0 ]] \
            && [[ "$(readlink "/proc/$parent/exe" 2>/dev/null)" == "$(readlink "/proc/$pid/exe" 2>/dev/null)" ]]; then
            daemon_conf "$parent"
            return
        fi
        conf="$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^SLURM_CONF=//p' | head -n1)"
    fi
    echo "${conf:-/etc/slurm/slurm.conf}"
}

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

# Any running process whose executable is /usr/sbin/<name> (started by us or not) and that
# (for SLURM daemons) reads $SLURM_CONF_FILE (default /etc/slurm/slurm.conf): the daemons of
# another cluster on this machine (start-two-node-cluster.sh's, started with -f) do not count.
pid_of_exe() {
    local name="$1" proc exe target
    target="$(daemon_exe "$name")"
    for proc in /proc/[0-9]*; do
        exe="$(readlink "$proc/exe" 2>/dev/null || true)"
        if [[ "${exe% (deleted)}" == "$target" ]] && { [[ "$name" != slurm* ]] \
            || [[ "$(daemon_conf "${proc#/proc/}")" == "${SLURM_CONF_FILE:-/etc/slurm/slurm.conf}" ]]; }; then
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
