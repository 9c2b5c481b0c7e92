#!/usr/bin/env bash
# Spark 4 needs Java 17 or newer from the system. The trimmed JREs on PyPI lack
# jdk.incubator.vector, which PySpark's launcher always asks for, so they cannot
# stand in. Installs openjdk-17-jre-headless with apt when it can (root on Debian).
set -euo pipefail

java_major() {
  local version
  version=$("$1" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  version=${version#1.}          # 1.8.0_x -> 8.0_x
  echo "${version%%[.+-]*}"
}

find_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java"; return; fi
  command -v java || true
}

java_bin=$(find_java)
if [[ -n "$java_bin" ]]; then
  major=$(java_major "$java_bin")
  if [[ "$major" =~ ^[0-9]+$ ]] && (( major >= 17 )); then
    exit 0
  fi
  echo "Java $major found at $java_bin; Spark 4 needs 17 or newer."
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing openjdk-17-jre-headless with apt-get ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
  exit 0
fi

echo "error: Java 17+ is required by Spark: install openjdk-17-jre-headless (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) and rerun." >&2
exit 1
