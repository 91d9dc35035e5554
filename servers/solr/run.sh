#!/usr/bin/env bash
# run.sh HOME_DIR DATA_DIR PORT HEAP [zkRun] [zkHost=HOST:PORT[,HOST:PORT...]]
# Runs standalone Apache Solr in the foreground (exec), HTTP on 127.0.0.1:PORT, context /solr.
# The Solr home is DATA_DIR: solr.xml is copied there from HOME_DIR, cores live in
# DATA_DIR/cores (found again through core.properties), and the configset
# DATA_DIR/configsets/neural_search is refreshed from the repository's mappings/solr/neural_search
# at every start so edits there take effect (for existing cores after a restart or RELOAD).
#
# SolrCloud (servers/cluster.py): with `zkRun` the node runs an embedded ZooKeeper on 127.0.0.1 at
# PORT+1000 (zoo.cfg written into DATA_DIR); with `zkHost=...` it joins that ZooKeeper. Either one
# switches DATA_DIR/solr.xml to a <solrcloud> variant of HOME_DIR/solr.xml (no configSetBaseDir:
# configsets live in ZooKeeper) and leaves DATA_DIR/configsets alone. Without them nothing changes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
CONFIGSET_SRC="$REPO_ROOT/mappings/solr/neural_search"

die() { echo "solr run: $*" >&2; exit 1; }

[ $# -ge 4 ] || die "usage: run.sh HOME_DIR DATA_DIR PORT HEAP [zkRun] [zkHost=HOST:PORT]"
HOME_DIR="$1"; DATA_DIR="$2"; PORT="$3"; HEAP="$4"
shift 4
CLOUD=() ZK_HOST=""
for arg in "$@"; do
  case "$arg" in
    zkRun) CLOUD+=(-DzkRun) ;;
    zkHost=?*) ZK_HOST="${arg#zkHost=}"; CLOUD+=("-DzkHost=$ZK_HOST") ;;
    *) die "unknown extra argument '$arg' (expected zkRun or zkHost=HOST:PORT)" ;;
  esac
done
[ -f "$HOME_DIR/.prepared" ] || die "$HOME_DIR is not prepared (run prepare.sh first)"
[ -d "$HOME_DIR/lib" ] || die "$HOME_DIR/lib missing (run prepare.sh again)"
[ -f "$CONFIGSET_SRC/conf/solrconfig.xml" ] || die "configset not found at $CONFIGSET_SRC"
case "$PORT" in ''|*[!0-9]*) die "bad PORT '$PORT'";; esac
HOME_DIR="$(cd "$HOME_DIR" && pwd)"

if [ ${#CLOUD[@]} -eq 0 ]; then
  mkdir -p "$DATA_DIR/cores" "$DATA_DIR/configsets"
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
  cp "$HOME_DIR/solr.xml" "$DATA_DIR/solr.xml"
  rm -rf "$DATA_DIR/configsets/neural_search.new"
  cp -R "$CONFIGSET_SRC" "$DATA_DIR/configsets/neural_search.new"
  rm -rf "$DATA_DIR/configsets/neural_search"
  mv "$DATA_DIR/configsets/neural_search.new" "$DATA_DIR/configsets/neural_search"
else
  # Solr halts with NoSuchFileException when the (empty) core root is missing.
  mkdir -p "$DATA_DIR/cores"
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
  # Derived from HOME_DIR/solr.xml so both modes share every other node setting. The host, port and
  # context are fixed here: they are how the node registers itself in live_nodes. No zkHost at all
  # for the node that runs ZooKeeper (an empty one makes ZooKeeper's set-up fail on "").
  base_xml="$(grep -v -e 'configSetBaseDir' -e 'configsets/neural_search is refreshed' "$HOME_DIR/solr.xml")"
  [[ "$base_xml" == *"</solr>"* ]] || die "$HOME_DIR/solr.xml has no </solr> (run prepare.sh again)"
  cat >"$DATA_DIR/solr.xml.new" <<XML
${base_xml%</solr>*}  <!-- SolrCloud node (servers/solr/run.sh, cloud mode) -->
  <solrcloud>
    <str name="host">127.0.0.1</str>
    <int name="hostPort">$PORT</int>
    <str name="hostContext">solr</str>
    <bool name="genericCoreNodeNames">true</bool>
$([ -z "$ZK_HOST" ] || echo "    <str name=\"zkHost\">$ZK_HOST</str>")
    <int name="zkClientTimeout">\${zkClientTimeout:30000}</int>
    <int name="distribUpdateSoTimeout">\${distribUpdateSoTimeout:600000}</int>
    <int name="distribUpdateConnTimeout">\${distribUpdateConnTimeout:60000}</int>
  </solrcloud>
</solr>
XML
  mv "$DATA_DIR/solr.xml.new" "$DATA_DIR/solr.xml"
  if [[ " ${CLOUD[*]} " == *" -DzkRun "* ]]; then
    # admin.enableServer=false: ZooKeeper's admin server would otherwise take port 8080.
    cat >"$DATA_DIR/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
clientPortAddress=127.0.0.1
4lw.commands.whitelist=mntr,conf,ruok
admin.enableServer=false
CFG
  fi
fi

exec java \
  -Xms"$HEAP" -Xmx"$HEAP" \
  -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true \
  -Dfile.encoding=UTF-8 -Duser.timezone=UTC \
  -Dlog4j2.configurationFile="$HOME_DIR/log4j2.xml" \
  -Dhost=127.0.0.1 \
  -Dsolr.log.dir="$DATA_DIR/logs" \
  ${CLOUD[@]+"${CLOUD[@]}"} \
  -cp "$HOME_DIR/lib/*" \
  neuralsearch.solr.Main "$DATA_DIR" "$PORT"
