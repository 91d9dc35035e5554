# Sourced by prepare.sh and run.sh: find a Java 21+ installation for Elasticsearch 9.
#
# es_java_home [javac]  prints the chosen JAVA home; with "javac", only JDKs (with bin/javac) count.
# Order: $ES_JAVA_HOME if set (must qualify), else the newest Java >= 21 under /usr/lib/jvm,
# else the `java` on PATH if it is >= 21. Returns 1 (and prints nothing) when none qualifies.

_es_java_major() {  # feature version of the java binary $1, or nothing
  "$1" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n1
}

_es_java_ok() {  # _es_java_ok HOME [javac]: prints the major version if HOME qualifies
  local home="$1" need="${2:-}" v
  [ -x "$home/bin/java" ] || return 1
  [ "$need" != javac ] || [ -x "$home/bin/javac" ] || return 1
  v="$(_es_java_major "$home/bin/java")"
  [ "${v:-0}" -ge 21 ] || return 1
  echo "$v"
}

es_java_home() {
  local need="${1:-}" best="" best_v=0 home v
  if [ -n "${ES_JAVA_HOME:-}" ]; then
    _es_java_ok "$ES_JAVA_HOME" "$need" >/dev/null || return 1
    echo "$ES_JAVA_HOME"; return 0
  fi
  for home in /usr/lib/jvm/*/; do
    home="${home%/}"
    [ -L "$home" ] && continue  # Debian's alias links point at directories seen anyway
    v="$(_es_java_ok "$home" "$need")" || continue
    if [ "$v" -gt "$best_v" ]; then best="$home"; best_v="$v"; fi
  done
  if [ -z "$best" ] && command -v java >/dev/null 2>&1; then
    home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
    _es_java_ok "$home" "$need" >/dev/null && best="$home"
  fi
  [ -n "$best" ] || return 1
  echo "$best"
}
