#!/usr/bin/env bash
# run.sh HOME_DIR DATA_DIR PORT HEAP
# Runs standalone Apache Solr in the foreground (exec), HTTP on 127.0.0.1:PORT, context /solr.
# The Solr home is DATA_DIR: solr.xml is copied there from HOME_DIR, cores live in
# DATA_DIR/cores (found again through core.properties), and the configset
# DATA_DIR/configsets/neural_search is refreshed from the repository's mappings/solr/neural_search
# at every start so edits there take effect (for existing cores after a restart or RELOAD).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
CONFIGSET_SRC="$REPO_ROOT/mappings/solr/neural_search"

die() { echo "solr run: $*" >&2; exit 1; }

[ $# -eq 4 ] || die "usage: run.sh HOME_DIR DATA_DIR PORT HEAP"
HOME_DIR="$1"; DATA_DIR="$2"; PORT="$3"; HEAP="$4"
[ -f "$HOME_DIR/.prepared" ] || die "$HOME_DIR is not prepared (run prepare.sh first)"
[ -d "$HOME_DIR/lib" ] || die "$HOME_DIR/lib missing (run prepare.sh again)"
[ -f "$CONFIGSET_SRC/conf/solrconfig.xml" ] || die "configset not found at $CONFIGSET_SRC"
case "$PORT" in ''|*[!0-9]*) die "bad PORT '$PORT'";; esac
HOME_DIR="$(cd "$HOME_DIR" && pwd)"

mkdir -p "$DATA_DIR/cores" "$DATA_DIR/configsets"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
cp "$HOME_DIR/solr.xml" "$DATA_DIR/solr.xml"
rm -rf "$DATA_DIR/configsets/neural_search.new"
cp -R "$CONFIGSET_SRC" "$DATA_DIR/configsets/neural_search.new"
rm -rf "$DATA_DIR/configsets/neural_search"
mv "$DATA_DIR/configsets/neural_search.new" "$DATA_DIR/configsets/neural_search"

exec java \
  -Xms"$HEAP" -Xmx"$HEAP" \
  -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true \
  -Dfile.encoding=UTF-8 -Duser.timezone=UTC \
  -Dlog4j2.configurationFile="$HOME_DIR/log4j2.xml" \
  -Dhost=127.0.0.1 \
  -Dsolr.log.dir="$DATA_DIR/logs" \
  -cp "$HOME_DIR/lib/*" \
  neuralsearch.solr.Main "$DATA_DIR" "$PORT"
