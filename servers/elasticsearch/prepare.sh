#!/usr/bin/env bash
# prepare.sh HOME_DIR
#
# Assembles a runnable Elasticsearch install under HOME_DIR (see servers/CONTRACT.md):
#   1. Maven (pom.xml next to this script) fetches the distribution zip from Maven Central into the
#      local Maven repository (~/.m2, cached after the first run), unpacks it into a staging dir and
#      builds the small GET / + HEAD / module and the `english` analyzer module (src/main/java,
#      stand-ins for rest-root and analysis-common, local engines only) against the same version;
#   2. the modules are added under modules/, config/elasticsearch.yml is written, our plugin
#      (plugins/elasticsearch: the neural_hybrid retriever) is installed with elasticsearch-plugin,
#      the tree is moved to HOME_DIR;
#   3. HOME_DIR/.prepared is written last.
# The plugin zip (plugins/elasticsearch/target/neural-search-elasticsearch-<v>.zip) is built first
# when it is missing or older than its sources or poms (tests are skipped here: CI runs them).
# Idempotent: does nothing when HOME_DIR/.prepared matches the version, layout and plugin digest.
# Needs: mvn, and a JDK 21+ (ES_JAVA_HOME, or found under /usr/lib/jvm) to compile the module.
set -euo pipefail

die() { echo "elasticsearch/prepare.sh: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 HOME_DIR"
[ -n "$1" ] || die "HOME_DIR must not be empty"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/pom.xml"
[ -f "$POM" ] || die "missing $POM"

# The version is pinned in exactly one place: the <elasticsearch.version> property of pom.xml.
VERSION="$(sed -n 's:.*<elasticsearch\.version>\([^<]*\)</elasticsearch\.version>.*:\1:p' "$POM" | head -n1)"
[ -n "$VERSION" ] || die "could not read <elasticsearch.version> from $POM"

# Bump LAYOUT whenever what this script puts into HOME_DIR changes, so old homes get rebuilt.
LAYOUT=3
MODULE=neural-search-root-endpoint
# The analyzer `english` (stock Elasticsearch has it from analysis-common, absent here).
ANALYSIS_MODULE=neural-search-analysis-english
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
PLUGIN_POM="$REPO/plugins/pom.xml"
PLUGIN_VERSION="$(sed -n 's:^  <version>\([^<]*\)</version>.*:\1:p' "$PLUGIN_POM" | head -n1)"
[ -n "$PLUGIN_VERSION" ] || die "could not read the project <version> from $PLUGIN_POM"
PLUGIN_ZIP="$REPO/plugins/elasticsearch/target/neural-search-elasticsearch-$PLUGIN_VERSION.zip"

mkdir -p "$(dirname "$1")"
HOME_DIR="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
MARKER="$HOME_DIR/.prepared"

# shellcheck source=java-home.sh
. "$SCRIPT_DIR/java-home.sh"

# The plugin is (re)built before the marker is checked: a changed plugin changes the digest in the
# marker, and that makes the home be assembled again.
plugin_is_stale() {
  [ -f "$PLUGIN_ZIP" ] || return 0
  [ -n "$(find "$REPO/plugins/elasticsearch/src" "$REPO/plugins/fusion/src" "$PLUGIN_POM" \
       "$REPO/plugins/elasticsearch/pom.xml" "$REPO/plugins/fusion/pom.xml" -newer "$PLUGIN_ZIP" -print -quit)" ]
}
if plugin_is_stale; then
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is not on PATH; it is needed to build $PLUGIN_ZIP"
  PLUGIN_JDK="$(es_java_home javac)" \
    || die "a JDK 21 or newer (with javac) is needed to build the neural-search plugin; set ES_JAVA_HOME"
  echo "elasticsearch/prepare.sh: building the neural-search plugin ($PLUGIN_ZIP)" >&2
  PLUGIN_LOG="$(mktemp)"
  if ! mvn -q -B -Dstyle.color=never -f "$PLUGIN_POM" -pl elasticsearch -am package -DskipTests \
       -Des.jdk="$PLUGIN_JDK" >"$PLUGIN_LOG" 2>&1; then
    cat "$PLUGIN_LOG" >&2; rm -f "$PLUGIN_LOG"
    die "Maven could not build the neural-search Elasticsearch plugin (plugins/elasticsearch)"
  fi
  rm -f "$PLUGIN_LOG"
  [ -f "$PLUGIN_ZIP" ] || die "Maven did not produce $PLUGIN_ZIP"
fi
PLUGIN_DIGEST="$(sha256sum "$PLUGIN_ZIP" | cut -d' ' -f1)"
MARKER_CONTENT="elasticsearch $VERSION layout $LAYOUT plugin neural-search $PLUGIN_VERSION sha256 $PLUGIN_DIGEST"

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$MARKER_CONTENT" ]; then
  exit 0
fi

# Refuse to wipe a directory that does not look like one of ours.
if [ -d "$HOME_DIR" ] && [ -n "$(ls -A "$HOME_DIR")" ] \
   && [ ! -f "$MARKER" ] && [ ! -f "$HOME_DIR/bin/elasticsearch" ]; then
  die "$HOME_DIR exists, is not empty and is not an Elasticsearch home made by this script; remove it first"
fi

command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is not on PATH; it is needed to fetch Elasticsearch $VERSION"
JDK="$(es_java_home javac)" \
  || die "a JDK 21 or newer (with javac) is needed to build the $MODULE module; set ES_JAVA_HOME"

STAGE="$HOME_DIR.staging.$$"
cleanup() { rm -rf "$STAGE"; }
trap cleanup EXIT
rm -rf "$STAGE"
mkdir -p "$STAGE"

echo "elasticsearch/prepare.sh: fetching Elasticsearch $VERSION (Maven Central, cached in the local Maven repository) and building $MODULE" >&2
# Maven's output is shown only when it fails (with -q it otherwise prints stray colour codes).
if ! mvn -q -B -Dstyle.color=never -f "$POM" package \
     -Des.build.dir="$STAGE/build" -Des.javac="$JDK/bin/javac" >"$STAGE/maven.log" 2>&1; then
  cat "$STAGE/maven.log" >&2
  die "Maven could not fetch org.elasticsearch.distribution.integ-test-zip:elasticsearch:$VERSION:zip or build $MODULE"
fi

UNPACKED="$STAGE/build/elasticsearch/elasticsearch-$VERSION"
[ -x "$UNPACKED/bin/elasticsearch" ] || die "unexpected archive layout: $UNPACKED/bin/elasticsearch missing"
[ -f "$STAGE/build/$MODULE.jar" ] || die "Maven did not produce $MODULE.jar"
[ -f "$STAGE/build/$MODULE-analysis-english.jar" ] || die "Maven did not produce $MODULE-analysis-english.jar"
LUCENE_VERSION="$(sed -n 's:.*<lucene\.version>\([^<]*\)</lucene\.version>.*:\1:p' "$POM" | head -n1)"
[ -f "$UNPACKED/lib/lucene-analysis-common-$LUCENE_VERSION.jar" ] \
  || die "Elasticsearch $VERSION does not ship lib/lucene-analysis-common-$LUCENE_VERSION.jar: set <lucene.version> in $POM to the Lucene of its lib/"
# Belt and braces: keep the launch scripts executable whatever the unpacker did with file modes.
find "$UNPACKED/bin" -type f ! -name '*.bat' ! -name '*.exe' -exec chmod 755 {} +

# The GET / and HEAD / endpoints (stock module rest-root is not in this distribution).
mkdir -p "$UNPACKED/modules/$MODULE"
cp "$STAGE/build/$MODULE.jar" "$UNPACKED/modules/$MODULE/"
cat > "$UNPACKED/modules/$MODULE/plugin-descriptor.properties" <<PROPS
description=GET / and HEAD / endpoints for neural-search (stand-in for the rest-root module)
version=$VERSION
name=$MODULE
classname=neuralsearch.elasticsearch.RootEndpointPlugin
java.version=21
elasticsearch.version=$VERSION
PROPS

# The analyzer `english` = Lucene's EnglishAnalyzer (lucene-analysis-common is in lib/ already).
mkdir -p "$UNPACKED/modules/$ANALYSIS_MODULE"
cp "$STAGE/build/$MODULE-analysis-english.jar" "$UNPACKED/modules/$ANALYSIS_MODULE/$ANALYSIS_MODULE.jar"
cat > "$UNPACKED/modules/$ANALYSIS_MODULE/plugin-descriptor.properties" <<PROPS
description=The analyzer english (Lucene EnglishAnalyzer) for the local neural-search engines only: stand-in for the english analyzer of the analysis-common module, which this distribution lacks; never install it next to analysis-common
version=$VERSION
name=$ANALYSIS_MODULE
classname=neuralsearch.elasticsearch.analysis.EnglishAnalysisPlugin
java.version=21
elasticsearch.version=$VERSION
PROPS

# Static settings. Per-run settings (http.port, path.data, path.logs, heap) are passed by run.sh.
# Only settings known to the modules present may appear here: unknown settings (xpack.ml.*,
# ingest.geoip.*, ...) make Elasticsearch refuse to start.
cat > "$UNPACKED/config/elasticsearch.yml" <<'YML'
# Written by servers/elasticsearch/prepare.sh; regenerated when the version/layout changes.
cluster.name: neural-search
node.name: neural-search-es
node.roles: [ master, data, ingest ]
discovery.type: single-node
network.host: 127.0.0.1
# keep away from the 9300-9301 transport ports OpenSearch takes by default
transport.port: 9310-9319
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
# allow DELETE /some-prefix-* like OpenSearch does
action.destructive_requires_name: false
YML

# Our hybrid retriever. The CLI runs as whoever runs this script (root is fine: run.sh hands the home
# to the engine's user); it does no I/O beyond the home, so it needs no entitlement policy.
echo "elasticsearch/prepare.sh: installing the neural-search plugin from $PLUGIN_ZIP" >&2
if ! env -u JAVA_HOME -u JAVA_TOOL_OPTIONS -u _JAVA_OPTIONS -u ES_JAVA_OPTS -u ES_PATH_CONF ES_JAVA_HOME="$JDK" \
     "$UNPACKED/bin/elasticsearch-plugin" install --batch "file://$PLUGIN_ZIP" >"$STAGE/plugin.log" 2>&1; then
  cat "$STAGE/plugin.log" >&2
  die "elasticsearch-plugin could not install $PLUGIN_ZIP"
fi
[ -f "$UNPACKED/plugins/neural-search/plugin-descriptor.properties" ] \
  || die "elasticsearch-plugin reported success but plugins/neural-search is missing"

rm -rf "$HOME_DIR"
mv "$UNPACKED" "$HOME_DIR"
echo "$MARKER_CONTENT" > "$MARKER"
echo "elasticsearch/prepare.sh: Elasticsearch $VERSION ready in $HOME_DIR" >&2
