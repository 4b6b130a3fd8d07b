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

# --- For the start scripts. They set STATE_DIR, RUN_DIR, LOG_DIR, PACKAGES, MANAGED_MARK,
# BACKUP_TAG, DB_NAME and DB_USER (and SCRIPT_TAG) before calling these.

# Installs the missing Debian packages of PACKAGES (apt-get update once, only if needed).
ensure_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] \
            || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        say "installing missing packages: ${missing[*]}"
        apt-get update -q </dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null
    fi
}

# munged is shared by every cluster on this machine: started only when none answers. It runs
# as the munge user (it cannot write RUN_DIR, so it keeps its own pid file, copied here);
# --force reclaims a stale socket left by a dead daemon.
ensure_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "munged: already running"
        return
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        say "munged: creating /etc/munge/munge.key"
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    rm -f "$RUN_DIR/munged.pid" /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --force </dev/null 9>&-
    touch "$RUN_DIR/munged.ours"
    wait_for "munged" /var/log/munge/munged.log \
        bash -c 'munge -n </dev/null | unmunge >/dev/null 2>&1'
    cp /run/munge/munged.pid "$RUN_DIR/munged.pid"
    say "munged: started (pid $(cat "$RUN_DIR/munged.pid" 2>/dev/null || echo ?))"
}

# Debian's root@localhost authenticates over the socket as the unix root user; some images
# instead allow root over TCP with an empty password.
mariadb_root() {
    mysql --protocol=socket -uroot "$@" </dev/null 2>/dev/null \
        || mysql -h127.0.0.1 -uroot "$@" </dev/null
}

mariadb_answers() {
    mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 || mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1
}

# The MariaDB server is shared (started only when none answers); the accounting database
# DB_NAME and its user DB_USER are the caller's own, with the password kept in
# STATE_DIR/dbpass (IF NOT EXISTS + ALTER keep the stored password authoritative).
ensure_mariadb() {
    if mariadb_answers; then
        say "mariadb: already running"
    else
        install -d -o mysql -g mysql -m 0755 /run/mysqld
        if [[ ! -d /var/lib/mysql/mysql ]]; then
            say "mariadb: initialising /var/lib/mysql"
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOG_DIR/mariadb-install.log" 2>&1
        fi
        start-stop-daemon --start --oknodo --background --make-pidfile \
            --pidfile "$RUN_DIR/mariadbd.pid" --output "$LOG_DIR/mariadbd.log" \
            --exec /usr/sbin/mariadbd -- --user=mysql </dev/null 9>&-
        touch "$RUN_DIR/mariadbd.ours"
        wait_for "mariadb" "$LOG_DIR/mariadbd.log" \
            mariadb_answers
        say "mariadb: started (pid $(cat "$RUN_DIR/mariadbd.pid"))"
    fi
    local pass_file="$STATE_DIR/dbpass"
    if [[ ! -s "$pass_file" ]]; then
        (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$pass_file")
    fi
    DB_PASS="$(cat "$pass_file")"
    mariadb_root -e "
        CREATE DATABASE IF NOT EXISTS $DB_NAME;
        CREATE USER IF NOT EXISTS '$DB_USER'@'localhost';
        CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1';
        ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
        ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
        GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
        FLUSH PRIVILEGES;" \
        || die "cannot create the accounting database $DB_NAME as the MariaDB root user"
}

# Writes $2 (content) to $1 atomically with mode $3; echoes "changed" when the content
# differs. A file without MANAGED_MARK is backed up first (suffix .before-BACKUP_TAG.<time>).
write_conf() {
    local path="$1" content="$2" mode="$3"
    if [[ -f "$path" ]] && cmp -s <(printf '%s\n' "$content") "$path"; then
        return 0
    fi
    if [[ -f "$path" ]] && ! grep -qF "$MANAGED_MARK" "$path"; then
        local backup="$path.before-${BACKUP_TAG:-cluster}.$(date +%Y%m%d%H%M%S)"
        cp -p "$path" "$backup"
        say "backed up existing $path to $backup" >&2
    fi
    local tmp
    tmp="$(mktemp "$path.XXXXXX")"
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    chown root:root "$tmp"
    sync "$tmp"
    mv -f "$tmp" "$path"
    echo changed
}

# Restarts a daemon started by the calling script (config change); leaves foreign ones alone.
restart_if_ours() {
    local name="$1"
    if [[ -f "$RUN_DIR/$name.ours" ]] && daemon_alive "$name"; then
        say "$name: configuration changed, restarting"
        stop_daemon "$name"
    fi
}

# Runs a forking SLURM daemon's launcher (fd 9, the start lock, closed) and returns once the
# daemon's pid file names it: the launcher's parent exits at the fork, before the child writes
# that file, and a caller that reads it (a stop, a restart, a test) must not find it missing or
# stale, so a stale one is removed first. If the launcher itself fails (a config it rejects),
# or no pid file comes, exits with the log tail instead of a bare set -e stop.
launch_daemon() {
    local name="$1" log="$2" i
    shift 2
    rm -f "$RUN_DIR/$name.pid"
    if ! "$@" </dev/null 9>&-; then
        echo "[$SCRIPT_TAG] ERROR: $name refused to start" >&2
        show_log_tail "$log"
        exit 1
    fi
    for ((i = 0; i < 150; i++)); do
        daemon_alive "$name" && return 0
        sleep 0.2
    done
    echo "[$SCRIPT_TAG] ERROR: $name started but wrote no pid file $RUN_DIR/$name.pid within 30s" >&2
    show_log_tail "$log"
    exit 1
}

# The scheduling, resource, accounting and preemption lines every cluster here shares.
scheduling_settings() {
    cat <<CONF
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5,batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default every job that omits --mem would take the whole node.
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
# Preemption that submitit can checkpoint: the preempted job gets SIGUSR2 (the
# --signal=USR2 submitit asks for) during GraceTime, checkpoints, and is requeued.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
CONF
}

# slurmdbd.conf: the accounting daemon of the calling cluster (DBD_PORT optional).
render_dbd_conf() {
    local port_line=""
    [[ -z "${DBD_PORT:-}" ]] || port_line=$'\n'"DbdPort=$DBD_PORT"
    cat <<CONF
$MANAGED_MARK -- regenerated on every start.
AuthType=auth/munge
DbdHost=localhost$port_line
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
CONF
}

ensure_slurmdbd() {
    if daemon_alive slurmdbd || pid_of_exe slurmdbd >/dev/null; then
        say "slurmdbd: already running"
    else
        # No -f option: slurmdbd reads slurmdbd.conf beside the slurm.conf it is given.
        launch_daemon slurmdbd "$LOG_DIR/slurmdbd.log" /usr/sbin/slurmdbd
        touch "$RUN_DIR/slurmdbd.ours"
        say "slurmdbd: started (database $DB_NAME${DBD_PORT:+, port $DBD_PORT})"
    fi
    wait_for "slurmdbd" "$LOG_DIR/slurmdbd.log" \
        bash -c 'sacctmgr -n list cluster format=cluster >/dev/null 2>&1'
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
        say "sacctmgr: registered cluster $CLUSTER"
    fi
}

# SLURMCTLD_ARGS: extra arguments (e.g. -f <conf> for a cluster with its own SLURM_CONF).
ensure_slurmctld() {
    if daemon_alive slurmctld || pid_of_exe slurmctld >/dev/null; then
        say "slurmctld: already running"
    else
        launch_daemon slurmctld "$LOG_DIR/slurmctld.log" /usr/sbin/slurmctld ${SLURMCTLD_ARGS[@]+"${SLURMCTLD_ARGS[@]}"}
        touch "$RUN_DIR/slurmctld.ours"
        say "slurmctld: started"
    fi
    wait_for "slurmctld" "$LOG_DIR/slurmctld.log" \
        bash -c 'scontrol ping 2>/dev/null | grep -q "is UP"'
}
