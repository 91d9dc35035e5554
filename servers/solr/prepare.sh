#!/usr/bin/env bash
# prepare.sh HOME_DIR
# Assembles a runnable standalone Apache Solr under HOME_DIR (see servers/CONTRACT.md):
#   HOME_DIR/lib/*.jar      Solr 9.10.1 + Jetty + deps (from Maven Central) + our launcher jar
#   HOME_DIR/solr.xml       node config, copied into the Solr home (DATA_DIR) by run.sh
#   HOME_DIR/log4j2.xml     console logging config
#   HOME_DIR/.prepared      marker, written last
# Idempotent: does nothing when HOME_DIR/.prepared matches. Needs java 17+ (JDK) and mvn.
set -euo pipefail

SOLR_VERSION=9.10.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "solr prepare: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: prepare.sh HOME_DIR"
HOME_DIR="$1"
mkdir -p "$HOME_DIR" || die "cannot create $HOME_DIR"
HOME_DIR="$(cd "$HOME_DIR" && pwd)"

command -v java >/dev/null 2>&1 || die "java not found (need a JDK 17+)"
command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"

# The marker names the Solr version and a digest of what the build depends on, so edits to the
# pom or the launcher re-prepare.
digest="$(cat "$HERE/pom.xml" $(find "$HERE/src" -type f | sort) "$HERE/prepare.sh" | sha256sum | cut -c1-16)"
MARKER="solr $SOLR_VERSION $digest"
if [ -f "$HOME_DIR/.prepared" ] && [ "$(cat "$HOME_DIR/.prepared")" = "$MARKER" ]; then
  exit 0
fi
rm -f "$HOME_DIR/.prepared"

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
