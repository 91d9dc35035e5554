#!/usr/bin/env bash
# run.sh HOME_DIR DATA_DIR PORT HEAP [SETTING=VALUE ...]
#
# Execs Elasticsearch in the foreground (see servers/CONTRACT.md): 127.0.0.1 only, HTTP on PORT,
# single node, security off, heap HEAP (e.g. 512m). HOME_DIR must have been made by prepare.sh.
#
# Optional SETTING=VALUE arguments (servers/cluster.py uses them for cluster nodes) are passed as
# `-E SETTING=VALUE` and win over the defaults here and in config/elasticsearch.yml, e.g.
# discovery.type=multi-node, node.name=..., transport.port=..., path.logs=DIR (default
# HOME_DIR/logs). NEURAL_SEARCH_ELASTICSEARCH_TMPDIR moves ES_TMPDIR (default HOME_DIR/tmp): nodes
# sharing one HOME_DIR need their own. Without extra arguments nothing changes.
#
# Elasticsearch refuses to run as root: when started as root this script creates (once) the system
# user "neuralsearch", hands HOME_DIR and DATA_DIR to it and execs the JVM as that user with
# setpriv, which keeps the PID (no fork), so the PID the manager records is the engine's.
#
# Java: Elasticsearch 9 needs Java 21+ (java-home.sh): ES_JAVA_HOME if set, else the newest Java
# >= 21 under /usr/lib/jvm, else `java` on PATH if it is new enough.
set -euo pipefail

die() { echo "elasticsearch/run.sh: error: $*" >&2; exit 1; }

[ $# -ge 4 ] || die "usage: $0 HOME_DIR DATA_DIR PORT HEAP [SETTING=VALUE ...]"
HOME_DIR="$1"; DATA_DIR="$2"; PORT="$3"; HEAP="$4"
shift 4
EXTRA=("$@")
for kv in "${EXTRA[@]}"; do
  [[ "$kv" =~ ^[A-Za-z][A-Za-z0-9_.-]*=.+$ ]] || die "extra arguments must look like setting=value, got '$kv'"
done
RUN_USER=neuralsearch

[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "PORT must be a port number, got '$PORT'"
[[ "$HEAP" =~ ^[0-9]+[kKmMgG]?$ ]] || die "HEAP must look like 512m or 1g, got '$HEAP'"
[ -f "$HOME_DIR/.prepared" ] && [ -x "$HOME_DIR/bin/elasticsearch" ] \
  || die "$HOME_DIR is not a prepared Elasticsearch home; run servers/elasticsearch/prepare.sh $HOME_DIR first"

HOME_DIR="$(cd "$HOME_DIR" && pwd)"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"

# --- Java 21+ ---------------------------------------------------------------------------------
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=java-home.sh
. "$SCRIPT_DIR/java-home.sh"
WANTED_JAVA="${ES_JAVA_HOME:-}"
ES_JAVA_HOME="$(es_java_home)" \
  || die "Elasticsearch needs Java 21 or newer; none found${WANTED_JAVA:+ (ES_JAVA_HOME=$WANTED_JAVA does not qualify)}"
export ES_JAVA_HOME
unset JAVA_HOME JAVA_TOOL_OPTIONS _JAVA_OPTIONS JAVA_OPTS ES_PATH_CONF

# --- JVM and per-run settings -----------------------------------------------------------------
# -XX:-AlwaysPreTouch: do not fault in the whole heap up front (Elasticsearch turns it on), so the
# resident size follows what is used; the rest of the JVM options are Elasticsearch's defaults.
export ES_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP -XX:-AlwaysPreTouch"
export ES_TMPDIR="${NEURAL_SEARCH_ELASTICSEARCH_TMPDIR:-$HOME_DIR/tmp}"
mkdir -p "$ES_TMPDIR"
ES_TMPDIR="$(cd "$ES_TMPDIR" && pwd)"
# Elasticsearch refuses a setting given twice on the command line, so an extra argument replaces
# the default of the same name instead of being appended after it.
declare -A SETTINGS=([http.port]="$PORT" [path.data]="$DATA_DIR" [path.logs]="$HOME_DIR/logs")
ORDER=(http.port path.data path.logs)
for kv in "${EXTRA[@]}"; do
  key="${kv%%=*}"
  [ -n "${SETTINGS[$key]+x}" ] || ORDER+=("$key")
  SETTINGS[$key]="${kv#*=}"
done
LOG_DIR="${SETTINGS[path.logs]}"
mkdir -p "$LOG_DIR"
LOG_DIR="$(cd "$LOG_DIR" && pwd)"
SETTINGS[path.logs]="$LOG_DIR"
ES_ARGS=()
for key in "${ORDER[@]}"; do ES_ARGS+=(-E "$key=${SETTINGS[$key]}"); done

# --- drop root ----------------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
  if ! id -u "$RUN_USER" >/dev/null 2>&1; then
    if getent group "$RUN_USER" >/dev/null 2>&1; then grp_opt=(-g "$RUN_USER"); else grp_opt=(-U); fi
    # another engine's run.sh may create the same user at the same moment: re-check on failure
    useradd --system "${grp_opt[@]}" --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$RUN_USER" 2>/dev/null || id -u "$RUN_USER" >/dev/null 2>&1 \
      || die "could not create system user $RUN_USER"
  fi
  # (a per-node log or tmp directory outside HOME_DIR is handed over too)
  for d in "$HOME_DIR" "$DATA_DIR" "$LOG_DIR" "$ES_TMPDIR"; do
    if [ -n "$(find "$d" \( ! -user "$RUN_USER" -o ! -group "$RUN_USER" \) -print -quit)" ]; then
      chown -R "$RUN_USER:$RUN_USER" "$d"
    fi
  done
  command -v setpriv >/dev/null 2>&1 || die "setpriv (util-linux) is needed to drop root privileges"
  DROP=(setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups --)
  "${DROP[@]}" test -x "$HOME_DIR/bin/elasticsearch" -a -w "$DATA_DIR" -a -w "$LOG_DIR" -a -w "$ES_TMPDIR" \
    || die "user $RUN_USER cannot reach $HOME_DIR, $DATA_DIR, $LOG_DIR or $ES_TMPDIR (a parent directory is not world-searchable?)"
  exec "${DROP[@]}" env HOME="$HOME_DIR" USER="$RUN_USER" LOGNAME="$RUN_USER" \
    "$HOME_DIR/bin/elasticsearch" "${ES_ARGS[@]}"
fi

exec "$HOME_DIR/bin/elasticsearch" "${ES_ARGS[@]}"
