#!/usr/bin/env bash
# prepare.sh HOME_DIR
#
# Assembles a runnable OpenSearch install (with the k-NN and neural-search plugins) under HOME_DIR, offline except for
# Maven Central (see pom.xml). Idempotent: does nothing when HOME_DIR/.prepared matches the wanted
# version; writes that marker last.
#
# Environment (all optional):
#   NEURAL_SEARCH_OPENSEARCH_PLUGINS  extra plugin zips to install after k-NN, separated by spaces
#                                     or commas, as local paths or file:// URLs. Changing it
#                                     re-prepares HOME_DIR.
#   OPENSEARCH_JAVA_HOME              JDK (11..21) to use; otherwise one is picked (see find_java).
#   MAVEN                             Maven command (default: mvn).
set -euo pipefail

die() { echo "opensearch/prepare.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: prepare.sh HOME_DIR"
HOME_DIR=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM="$HERE/pom.xml"

OPENSEARCH_VERSION=2.19.1
KNN_VERSION=$OPENSEARCH_VERSION.0
# Bump LAYOUT when the way HOME_DIR is assembled changes, so old installs are rebuilt.
LAYOUT=3
EXTRA_PLUGINS=$(echo "${NEURAL_SEARCH_OPENSEARCH_PLUGINS:-}" | tr ',' ' ' | xargs -n1 2>/dev/null | xargs || true)
MARKER="opensearch=$OPENSEARCH_VERSION knn=$KNN_VERSION neural-search=$KNN_VERSION layout=$LAYOUT extra=[$EXTRA_PLUGINS]"

if [ -f "$HOME_DIR/.prepared" ] && [ "$(cat "$HOME_DIR/.prepared")" = "$MARKER" ]; then
    exit 0
fi

# A JDK that OpenSearch 2.19 runs on: 11..21 (it needs the security manager, which JDK 24+ removed;
# 22/23 work too but are untested). The same logic is in run.sh.
java_major() {  # JAVA_HOME -> major version, or nothing
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
JDK=$(find_java) || die "no JDK 11..21 found (set OPENSEARCH_JAVA_HOME); OpenSearch $OPENSEARCH_VERSION cannot run on JDK 24+"
export OPENSEARCH_JAVA_HOME=$JDK
unset JAVA_TOOL_OPTIONS

MAVEN=${MAVEN:-mvn}
command -v "${MAVEN%% *}" >/dev/null || die "Maven ($MAVEN) not found"
command -v unzip >/dev/null || die "unzip not found"

mkdir -p "$HOME_DIR"
HOME_DIR=$(cd "$HOME_DIR" && pwd)
WORK="$HOME_DIR.prepare.$$"
rm -rf "$WORK"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK"

echo "opensearch/prepare.sh: fetching artifacts with Maven (cached in the local Maven repository)" >&2
if ! $MAVEN -B -q -Dstyle.color=never -f "$POM" generate-resources -Dopensearch.stage="$WORK/stage" >"$WORK/mvn.log" 2>&1; then
    cat "$WORK/mvn.log" >&2
    die "Maven could not fetch the OpenSearch artifacts (see above)"
fi
DIST_ZIP="$WORK/stage/dist/opensearch-$OPENSEARCH_VERSION.zip"
KNN_ZIP="$WORK/stage/plugins/opensearch-knn-$KNN_VERSION.zip"
NEURAL_ZIP="$WORK/stage/plugins/neural-search-$KNN_VERSION.zip"
[ -f "$DIST_ZIP" ] || die "missing $DIST_ZIP after Maven"
[ -f "$KNN_ZIP" ] || die "missing $KNN_ZIP after Maven"
[ -f "$NEURAL_ZIP" ] || die "missing $NEURAL_ZIP after Maven"

echo "opensearch/prepare.sh: unpacking OpenSearch $OPENSEARCH_VERSION" >&2
unzip -q "$DIST_ZIP" -d "$WORK/unzip"
NEW="$WORK/unzip/opensearch-$OPENSEARCH_VERSION"
[ -x "$NEW/bin/opensearch" ] || die "unexpected distribution layout in $DIST_ZIP"

# --- standard modules -----------------------------------------------------------------------------
# The integ-test-zip only ships transport-netty4. The other modules come from Maven Central as plain
# jars; each needs the plugin-descriptor.properties (and maybe plugin-security.policy) that the
# full distribution would carry. name|classname|extended.plugins|description
MODULES='
lang-painless|org.opensearch.painless.PainlessPlugin||An easy, safe and fast scripting language for OpenSearch
analysis-common|org.opensearch.analysis.common.CommonAnalysisPlugin|lang-painless|Adds "built in" analyzers to OpenSearch.
mapper-extras|org.opensearch.index.mapper.MapperExtrasPlugin||Adds advanced field mappers
reindex|org.opensearch.index.reindex.ReindexPlugin||The Reindex module adds APIs to reindex from one index to another or update documents in place.
parent-join|org.opensearch.join.ParentJoinPlugin||This module adds the support parent-child queries and aggregations
percolator|org.opensearch.percolator.PercolatorPlugin||Percolator module adds capability to index queries and query these queries by specifying documents
aggs-matrix-stats|org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin||Adds aggregations whose input are a list of numeric fields and output includes a matrix.
rank-eval|org.opensearch.index.rankeval.RankEvalPlugin||The Rank Eval module adds APIs to evaluate ranking quality.
ingest-common|org.opensearch.ingest.common.IngestCommonPlugin|lang-painless|Module for ingest processors that do not require additional security permissions or have large dependencies and resources
ingest-user-agent|org.opensearch.ingest.useragent.IngestUserAgentPlugin||Ingest processor that extracts information from a user agent
lang-mustache|org.opensearch.script.mustache.MustachePlugin||Mustache scripting integration for OpenSearch
lang-expression|org.opensearch.script.expression.ExpressionPlugin||Lucene expressions integration for OpenSearch
geo|org.opensearch.geo.GeoModulePlugin||Plugin for geospatial features in OpenSearch. Registering the geo_shape and aggregations on GeoShape and GeoPoint
repository-url|org.opensearch.plugin.repository.url.URLRepositoryPlugin||Module for URL repository
'
policy_for() {
    case "$1" in
        lang-painless) cat <<'EOF'
grant {
  // needed to generate runtime classes
  permission java.lang.RuntimePermission "createClassLoader";
  // needed to find the classloader to load whitelisted classes from
  permission java.lang.RuntimePermission "getClassLoader";
};
EOF
        ;;
        lang-expression) cat <<'EOF'
grant {
  // needed to generate runtime classes
  permission java.lang.RuntimePermission "createClassLoader";
  // expression runtime
  permission org.opensearch.script.ClassPermission "java.lang.String";
  permission org.opensearch.script.ClassPermission "org.apache.lucene.expressions.Expression";
  permission org.opensearch.script.ClassPermission "org.apache.lucene.search.DoubleValues";
  // available functions
  permission org.opensearch.script.ClassPermission "java.lang.Math";
  permission org.opensearch.script.ClassPermission "org.apache.lucene.util.MathUtil";
  permission org.opensearch.script.ClassPermission "org.apache.lucene.util.SloppyMath";
};
EOF
        ;;
        lang-mustache) cat <<'EOF'
grant {
  // needed to do crazy reflection
  permission java.lang.RuntimePermission "accessDeclaredMembers";
};
EOF
        ;;
        reindex) cat <<'EOF'
grant {
  // reindex opens socket connections using the rest client
  permission java.net.SocketPermission "*", "connect";
};
grant codeBase "${codebase.opensearch-rest-client}" {
  // rest client uses system properties which gets the default proxy
  permission java.net.NetPermission "getProxySelector";
};
grant codeBase "${codebase.httpasyncclient}" {
  // rest client uses system properties which gets the default proxy
  permission java.net.NetPermission "getProxySelector";
};
EOF
        ;;
        repository-url) cat <<'EOF'
grant {
  permission java.net.SocketPermission "*", "connect";
};
EOF
        ;;
    esac
}
while IFS='|' read -r name classname extended description; do
    [ -n "$name" ] || continue
    src="$WORK/stage/modules/$name"
    ls "$src"/*.jar >/dev/null 2>&1 || die "no jars for module $name after Maven"
    dst="$NEW/modules/$name"
    mkdir -p "$dst"
    cp "$src"/*.jar "$dst/"
    cat >"$dst/plugin-descriptor.properties" <<EOF
description=$description
version=$OPENSEARCH_VERSION
name=$name
classname=$classname
java.version=11
opensearch.version=$OPENSEARCH_VERSION
extended.plugins=$extended
has.native.controller=false
EOF
    policy=$(policy_for "$name")
    if [ -n "$policy" ]; then printf '%s\n' "$policy" >"$dst/plugin-security.policy"; fi
done <<<"$MODULES"

# --- configuration --------------------------------------------------------------------------------
# Static settings live in opensearch.yml; run.sh passes the per-run ones (http.port, path.data,
# path.logs) with -E. jvm.options: drop the 1g heap and the paths relative to the working directory
# (heap dumps, error files, GC logs); run.sh sets the heap and points those at the log directory.
cat >"$NEW/config/opensearch.yml" <<'EOF'
# Written by servers/opensearch/prepare.sh (neural-search). Per-run settings are passed by run.sh.
cluster.name: neural-search
node.name: neural-search-opensearch
discovery.type: single-node
network.host: 127.0.0.1
http.host: 127.0.0.1
transport.host: 127.0.0.1
bootstrap.memory_lock: false
cluster.routing.allocation.disk.threshold_enabled: false
EOF
sed -i \
    -e 's|^-Xm\([sx]\)1g$|# -Xm\1: set by run.sh (HEAP)|' \
    -e 's|^-XX:HeapDumpPath=.*|# HeapDumpPath: set by run.sh|' \
    -e 's|^-XX:ErrorFile=.*|# ErrorFile: set by run.sh|' \
    -e 's|^\(9-:-Xlog:gc.*\)|# \1 (GC log: set by run.sh)|' \
    "$NEW/config/jvm.options"

# --- plugins --------------------------------------------------------------------------------------
install_plugin() {  # zip path or file:// URL
    local src=$1
    case "$src" in
        file://*) ;;
        /*) src="file://$src" ;;
        *) src="file://$(cd "$(dirname "$src")" && pwd)/$(basename "$src")" ;;
    esac
    [ -f "${src#file://}" ] || die "plugin zip not found: ${src#file://}"
    echo "opensearch/prepare.sh: installing plugin $src" >&2
    if ! "$NEW/bin/opensearch-plugin" install --batch "$src" >"$WORK/plugin.log" 2>&1; then
        cat "$WORK/plugin.log" >&2
        die "could not install plugin $src"
    fi
}
export OPENSEARCH_PATH_CONF="$NEW/config"
install_plugin "$KNN_ZIP"
# neural-search extends opensearch-knn, so it comes second.
install_plugin "$NEURAL_ZIP"
for p in $EXTRA_PLUGINS; do install_plugin "$p"; done

# A keystore, so that the node does not try to create one at start-up.
"$NEW/bin/opensearch-keystore" create >/dev/null 2>&1 || die "could not create the keystore"

# --- swap into place ------------------------------------------------------------------------------
# Keep HOME_DIR itself (it may be owned by the runtime user); replace its content.
find "$HOME_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
find "$NEW" -mindepth 1 -maxdepth 1 -exec mv -t "$HOME_DIR" {} +
echo "$MARKER" >"$HOME_DIR/.prepared"
echo "opensearch/prepare.sh: OpenSearch $OPENSEARCH_VERSION with k-NN and neural-search $KNN_VERSION ready in $HOME_DIR" >&2
