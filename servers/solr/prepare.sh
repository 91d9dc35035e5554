#!/usr/bin/env bash
# prepare.sh HOME_DIR
# Assembles a runnable standalone Apache Solr under HOME_DIR (see servers/CONTRACT.md):
#   HOME_DIR/lib/*.jar      Solr 9.10.1 + Jetty + deps (from Maven Central) + our launcher jar
#   HOME_DIR/solr.xml       node config, copied into the Solr home (DATA_DIR) by run.sh
#   HOME_DIR/log4j2.xml     console logging config
#   HOME_DIR/lib/neural-search-solr-*.jar   our hybrid-search plugin (plugins/solr, shaded with
#                           the fusion core), built here when missing or older than its sources
#   HOME_DIR/.prepared      marker, written last
# Idempotent: does nothing when HOME_DIR/.prepared matches. Needs java 17+ (JDK) and mvn.
set -euo pipefail

SOLR_VERSION=9.10.1
PLUGIN_VERSION=0.1.0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PLUGIN_JAR="$REPO/plugins/solr/target/neural-search-solr-$PLUGIN_VERSION.jar"

die() { echo "solr prepare: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: prepare.sh HOME_DIR"
HOME_DIR="$1"
mkdir -p "$HOME_DIR" || die "cannot create $HOME_DIR"
HOME_DIR="$(cd "$HOME_DIR" && pwd)"

command -v java >/dev/null 2>&1 || die "java not found (need a JDK 17+)"
command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"

# The plugin jar is rebuilt when missing or older than anything it is built from (CI runs its
# tests separately, hence -DskipTests).
plugin_stale() {
  [ -f "$PLUGIN_JAR" ] || return 0
  [ -n "$(find "$REPO/plugins/solr/src" "$REPO/plugins/fusion/src" "$REPO/plugins/pom.xml" \
      "$REPO/plugins/fusion/pom.xml" "$REPO/plugins/solr/pom.xml" -type f -newer "$PLUGIN_JAR" 2>/dev/null | head -n 1)" ]
}
if plugin_stale; then
  echo "solr prepare: building the neural-search-solr plugin (plugins/solr)" >&2
  mkdir -p "$HOME_DIR"
  if ! mvn -q -B -f "$REPO/plugins/pom.xml" -pl solr -am package -DskipTests >"$HOME_DIR/plugin-mvn.log" 2>&1; then
    tail -n 40 "$HOME_DIR/plugin-mvn.log" >&2
    die "plugin build failed (full log: $HOME_DIR/plugin-mvn.log)"
  fi
  [ -f "$PLUGIN_JAR" ] || die "plugin build gave no $PLUGIN_JAR"
fi
plugin_digest="$(sha256sum "$PLUGIN_JAR" | cut -c1-16)"

# The marker names the Solr version, a digest of what the Solr build depends on (edits to the
# pom or the launcher re-prepare) and a digest of the plugin jar (a changed plugin re-prepares).
digest="$(cat "$HERE/pom.xml" $(find "$HERE/src" -type f | sort) "$HERE/prepare.sh" | sha256sum | cut -c1-16)"
BASE="solr $SOLR_VERSION $digest"
MARKER="$BASE plugin $plugin_digest"
previous="$(cat "$HOME_DIR/.prepared" 2>/dev/null || true)"
if [ "$previous" = "$MARKER" ]; then
  exit 0
fi
rm -f "$HOME_DIR/.prepared"

install_plugin() {
  rm -f "$HOME_DIR/lib"/neural-search-solr-*.jar
  cp "$PLUGIN_JAR" "$HOME_DIR/lib/" || die "cannot copy $PLUGIN_JAR into $HOME_DIR/lib"
}

# Only the plugin changed: swap its jar, keep the Solr install.
if [ "${previous% plugin *}" = "$BASE" ] && ls "$HOME_DIR/lib"/solr-core-*.jar >/dev/null 2>&1; then
  install_plugin
  echo "$MARKER" >"$HOME_DIR/.prepared"
  echo "solr prepare: plugin updated ($MARKER)" >&2
  exit 0
fi

echo "solr prepare: building launcher and fetching Solr $SOLR_VERSION into $HOME_DIR" >&2
rm -rf "$HOME_DIR/lib.new" "$HOME_DIR/build"
if ! mvn -B -q -f "$HERE/pom.xml" \
    -Dneuralsearch.build.dir="$HOME_DIR/build" \
    -DoutputDirectory="$HOME_DIR/lib.new" -DincludeScope=runtime \
    package dependency:copy-dependencies >"$HOME_DIR/prepare-mvn.log" 2>&1; then
  tail -n 40 "$HOME_DIR/prepare-mvn.log" >&2
  die "maven build failed (full log: $HOME_DIR/prepare-mvn.log)"
fi
cp "$HOME_DIR/build/solr-launcher-$SOLR_VERSION.jar" "$HOME_DIR/lib.new/" \
  || die "launcher jar missing"
rm -rf "$HOME_DIR/lib" "$HOME_DIR/build"
mv "$HOME_DIR/lib.new" "$HOME_DIR/lib"
ls "$HOME_DIR/lib"/solr-core-*.jar >/dev/null 2>&1 || die "solr-core jar missing in $HOME_DIR/lib"
install_plugin

cat >"$HOME_DIR/solr.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8" ?>
<!-- neural-search standalone Solr node; this file is copied into the Solr home by run.sh -->
<solr>
  <!-- cores (one folder each, found again at start-up through core.properties) -->
  <str name="coreRootDirectory">cores</str>
  <!-- configsets/neural_search is refreshed from the repository's mappings/solr at each start -->
  <str name="configSetBaseDir">configsets</str>
  <!-- never share an IndexSchema between cores: the schema depends on core properties -->
  <bool name="shareSchema">false</bool>
  <int name="maxBooleanClauses">${solr.max.booleanClauses:1024}</int>
  <str name="allowPaths">${solr.allowPaths:}</str>
  <str name="hideStackTrace">${solr.hideStackTrace:false}</str>
  <shardHandlerFactory name="shardHandlerFactory" class="HttpShardHandlerFactory">
    <int name="socketTimeout">${socketTimeout:600000}</int>
    <int name="connTimeout">${connTimeout:60000}</int>
  </shardHandlerFactory>
</solr>
XML

cat >"$HOME_DIR/log4j2.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="%d{yyyy-MM-dd HH:mm:ss.SSS} %-5p (%t) [%X{core}] %c{1.} %m%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.solr.core.CoreContainer" level="INFO"/>
    <Logger name="org.apache.solr.core.SolrCore" level="INFO"/>
    <Logger name="org.apache.solr.handler.admin.CoreAdminOperation" level="INFO"/>
    <Logger name="org.apache.solr.embedded" level="INFO"/>
    <Logger name="org.eclipse.jetty" level="WARN"/>
    <Root level="WARN">
      <AppenderRef ref="STDOUT"/>
    </Root>
  </Loggers>
</Configuration>
XML

echo "$MARKER" >"$HOME_DIR/.prepared"
echo "solr prepare: done ($MARKER)" >&2
