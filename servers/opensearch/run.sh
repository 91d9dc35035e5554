#!/usr/bin/env bash
# run.sh HOME_DIR DATA_DIR PORT HEAP [SETTING=VALUE ...]
#
# Execs OpenSearch (prepared by prepare.sh in HOME_DIR) in the foreground: single node, bound to
# 127.0.0.1, HTTP on PORT, transport on $NEURAL_SEARCH_OPENSEARCH_TRANSPORT_PORT (default 9311),
# no security plugin, heap HEAP (e.g. 512m). Data in DATA_DIR; OpenSearch's own log files and its
# temporary directory go next to DATA_DIR (DATA_DIR/../logs, DATA_DIR/../tmp).
#
# Optional SETTING=VALUE arguments (servers/cluster.py uses them for cluster nodes) are passed as
# -ESETTING=VALUE and win over the defaults here and in config/opensearch.yml, e.g.
# discovery.type=zen, node.name=..., cluster.initial_cluster_manager_nodes=... Without extra
# arguments nothing changes.
#
# OpenSearch refuses to run as root. When started as root, this script creates (once, race-safe)
# the system user "neuralsearch", hands HOME_DIR, DATA_DIR and the log/tmp directories to it, and
# execs the JVM as that user with setpriv, so the PID stays the one the manager recorded.
set -euo pipefail

die() { echo "opensearch/run.sh: $*" >&2; exit 1; }

[ $# -ge 4 ] || die "usage: run.sh HOME_DIR DATA_DIR PORT HEAP [SETTING=VALUE ...]"
HOME_DIR=$1 DATA_DIR=$2 PORT=$3 HEAP=$4
shift 4
EXTRA=("$@")
for kv in "${EXTRA[@]}"; do
    [[ "$kv" =~ ^[A-Za-z][A-Za-z0-9_.-]*=.+$ ]] || die "extra arguments must look like setting=value, got '$kv'"
done
RUN_USER=neuralsearch
TRANSPORT_PORT=${NEURAL_SEARCH_OPENSEARCH_TRANSPORT_PORT:-9311}

[ -x "$HOME_DIR/bin/opensearch" ] && [ -f "$HOME_DIR/.prepared" ] \
    || die "$HOME_DIR is not a prepared OpenSearch install (run prepare.sh first)"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$PORT'"
[[ "$HEAP" =~ ^[0-9]+[kKmMgG]?$ ]] || die "HEAP must look like 512m or 1g, got '$HEAP'"

mkdir -p "$DATA_DIR"
HOME_DIR=$(cd "$HOME_DIR" && pwd)
DATA_DIR=$(cd "$DATA_DIR" && pwd)
BASE_DIR=$(dirname "$DATA_DIR")
LOG_DIR="$BASE_DIR/logs"
TMP_DIR="$BASE_DIR/tmp"
mkdir -p "$LOG_DIR" "$TMP_DIR"

# A JDK that OpenSearch 2.19 runs on: 11..21 (it needs the security manager, which JDK 24+ removed).
# The same logic is in prepare.sh.
java_major() {
    local rel="$1/release" v
    [ -x "$1/bin/java" ] || return 0
    if [ -f "$rel" ]; then
        v=$(sed -n 's/^JAVA_VERSION="\([0-9.]*\).*/\1/p' "$rel")
    else
        v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9.]*\).*/\1/p' | head -1)
    fi
    v=${v#1.}
    echo "${v%%.*}"
}
find_java() {
    local c m
    for c in "${OPENSEARCH_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/java-21-openjdk-amd64 \
             /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 \
             /usr/lib/jvm/temurin-17-jdk-amd64 /usr/lib/jvm/*; do
        [ -n "$c" ] || continue
        m=$(java_major "$c")
        if [ -n "$m" ] && [ "$m" -ge 11 ] && [ "$m" -le 21 ]; then echo "$c"; return 0; fi
    done
    if command -v java >/dev/null; then
        c=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
        m=$(java_major "$c")
        if [ -n "$m" ] && [ "$m" -ge 11 ] && [ "$m" -le 21 ]; then echo "$c"; return 0; fi
    fi
    return 1
}
JDK=$(find_java) || die "no JDK 11..21 found (set OPENSEARCH_JAVA_HOME)"

ensure_user() {  # idempotent and safe against a concurrent run doing the same
    local i lock=/var/lock/neural-search-useradd.lock
    [ -d /var/lock ] || lock=/tmp/neural-search-useradd.lock
    for i in 1 2 3 4 5; do
        id -u "$RUN_USER" >/dev/null 2>&1 && return 0
        if command -v flock >/dev/null; then
            flock "$lock" sh -c \
                "id -u $RUN_USER >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $RUN_USER" \
                >/dev/null 2>&1 || true
        else
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER" >/dev/null 2>&1 || true
        fi
        sleep 0.$((RANDOM % 9 + 1))
    done
    id -u "$RUN_USER" >/dev/null 2>&1 || die "could not create user $RUN_USER"
}

give_to_user() {  # chown -R only what is not owned by the user yet (cheap on later starts)
    local d uid gid
    uid=$(id -u "$RUN_USER") gid=$(id -g "$RUN_USER")
    for d in "$@"; do
        if [ -n "$(find "$d" \( ! -uid "$uid" -o ! -gid "$gid" \) -print -quit)" ]; then
            chown -R "$uid:$gid" "$d"
        fi
    done
}

# Settings for this run; static ones are in HOME_DIR/config/opensearch.yml (prepare.sh).
# OpenSearch refuses a setting given twice on the command line, so an extra argument replaces the
# default of the same name instead of being appended after it.
declare -A SETTINGS=([http.port]="$PORT" [transport.port]="$TRANSPORT_PORT" [path.data]="$DATA_DIR" [path.logs]="$LOG_DIR")
ORDER=(http.port transport.port path.data path.logs)
for kv in "${EXTRA[@]}"; do
    key=${kv%%=*}
    [ -n "${SETTINGS[$key]+x}" ] || ORDER+=("$key")
    SETTINGS[$key]=${kv#*=}
done
ARGS=()
for key in "${ORDER[@]}"; do ARGS+=("-E$key=${SETTINGS[$key]}"); done
export OPENSEARCH_JAVA_HOME="$JDK"
export OPENSEARCH_PATH_CONF="$HOME_DIR/config"
export OPENSEARCH_TMPDIR="$TMP_DIR"
# -XX:-AlwaysPreTouch: the launcher turns pre-touching on, which makes the whole heap resident at once
# (~+170 MB RSS at 512m); off, memory is only touched when used. NEURAL_SEARCH_OPENSEARCH_JAVA_OPTS
# comes last, so it can override any of these.
export OPENSEARCH_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP -XX:-AlwaysPreTouch -XX:HeapDumpPath=$LOG_DIR -XX:ErrorFile=$LOG_DIR/hs_err_pid%p.log -Xlog:gc*,gc+age=trace,safepoint:file=$LOG_DIR/gc.log:utctime,pid,tags:filecount=4,filesize=16m ${NEURAL_SEARCH_OPENSEARCH_JAVA_OPTS:-}"
unset JAVA_TOOL_OPTIONS JAVA_OPTS OPENSEARCH_HOME

if [ "$(id -u)" = 0 ]; then
    ensure_user
    give_to_user "$HOME_DIR" "$DATA_DIR" "$LOG_DIR" "$TMP_DIR"
    # (The user also needs to traverse the parents of these directories; they are usually 0755.)
    command -v setpriv >/dev/null || die "setpriv (util-linux) is needed to drop root"
    export HOME=/nonexistent USER="$RUN_USER" LOGNAME="$RUN_USER"
    exec setpriv --reuid="$(id -u "$RUN_USER")" --regid="$(id -g "$RUN_USER")" --init-groups -- \
        "$HOME_DIR/bin/opensearch" "${ARGS[@]}"
fi
exec "$HOME_DIR/bin/opensearch" "${ARGS[@]}"
