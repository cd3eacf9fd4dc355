#!/usr/bin/env bash
#! Copies the alerting/recording rules (rules/*.yml) and the Grafana dashboards
#! (grafana/dashboards/*.json) into the Helm chart (helm/ispmonitor/files/). The sources stay the
#! truth; tests/helm.rs fails when the copies drift. Run it after changing rules or dashboards.
set -euo pipefail
cd "$(dirname "$0")/.."

chart=helm/ispmonitor/files
sync_dir() {
  local from=$1 pattern=$2 to=$3
  mkdir -p "$to"
  # Copies of sources that no longer exist would keep shipping: remove them first.
  find "$to" -maxdepth 1 -type f -name "$pattern" -delete
  cp "$from"/$pattern "$to"/
}

sync_dir rules '*.yml' "$chart/rules"
sync_dir grafana/dashboards '*.json' "$chart/dashboards"
echo "sync-chart: $(ls "$chart/rules" | wc -l) rule file(s), $(ls "$chart/dashboards" | wc -l) dashboard(s) in $chart"
