//! The Prometheus rules as shipped: `promtool check rules` is clean, `promtool test rules` passes,
//! and every alert is well formed, documented in docs/runbooks.md and unit tested both ways.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The one base every `runbook_url` uses; the anchor is the alert name in lower case.
const RUNBOOK_BASE: &str = "https://github.com/ispmonitor/ispmonitor/blob/main/docs/runbooks.md#";
const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];
const ALERT_RULES: &str = "rules/ispmonitor-alerts.yml";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The `.yml` files of a repository folder, sorted.
fn yaml_files(folder: &str) -> Vec<PathBuf> {
    let dir = repo_path(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML file in {}", dir.display());
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs promtool from the repository root. A missing promtool fails the test: CI installs it
/// (scripts/install-peers.sh), and a skipped check would pass for the wrong reason.
fn promtool(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new("promtool")
        .args(args)
        .args(files)
        .current_dir(repo_path("."))
        .output()
        .expect("promtool is installed by scripts/install-peers.sh")
}

fn report(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One alerting rule of the rule file, with where it is (group, position) for messages.
struct AlertRule {
    place: String,
    name: String,
    rule: Value,
}

fn alert_rules() -> Vec<AlertRule> {
    let doc = parse_yaml(&repo_path(ALERT_RULES));
    let groups = doc["groups"].as_array().expect("groups: a list");
    let mut alerts = Vec::new();
    for group in groups {
        let group_name = group["name"].as_str().expect("group name");
        let rules = group["rules"].as_array().expect("rules: a list");
        for (i, rule) in rules.iter().enumerate() {
            if let Some(name) = rule["alert"].as_str() {
                let place = format!("{ALERT_RULES} group {group_name} rule {i} ({name})");
                let (name, rule) = (name.to_owned(), rule.clone());
                alerts.push(AlertRule { place, name, rule });
            }
        }
    }
    assert!(
        alerts.len() > 20,
        "only {} alerting rules found",
        alerts.len()
    );
    alerts
}

/// `TargetDown`, `IcmpHighRtt`, `ServerDiskWillFillIn24h`: an upper-case letter, then letters and
/// digits, with at least one lower-case letter (not SHOUTING).
fn is_camel_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && name.chars().any(|c| c.is_ascii_lowercase())
}

/// GitHub's anchor of a Markdown heading: lower case, spaces to dashes, punctuation dropped.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The `## ` headings of docs/runbooks.md, as anchors.
fn runbook_anchors() -> BTreeSet<String> {
    read(&repo_path("docs/runbooks.md"))
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(github_anchor)
        .collect()
}

/// Problems of one alerting rule's labels and annotations (empty when it is well formed).
fn rule_problems(alert: &AlertRule, anchors: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |what: String| problems.push(format!("{}: {what}", alert.place));
    if !is_camel_case(&alert.name) {
        problem("the name is not CamelCase".into());
    }
    let severity = alert.rule["labels"]["severity"].as_str().unwrap_or("");
    if !SEVERITIES.contains(&severity) {
        problem(format!(
            "severity {severity:?} is not one of {SEVERITIES:?}"
        ));
    }
    let annotations = &alert.rule["annotations"];
    for key in ["summary", "description", "runbook_url"] {
        if annotations[key]
            .as_str()
            .is_none_or(|text| text.trim().is_empty())
        {
            problem(format!("no {key} annotation"));
        }
    }
    let description = annotations["description"].as_str().unwrap_or("");
    if !description.contains("{{") {
        problem("the description is not templated".into());
    }
    let anchor = alert.name.to_lowercase();
    let url = annotations["runbook_url"].as_str().unwrap_or("");
    if url != format!("{RUNBOOK_BASE}{anchor}") {
        problem(format!("runbook_url {url:?} is not {RUNBOOK_BASE}{anchor}"));
    }
    if !anchors.contains(&anchor) {
        problem(format!(
            "docs/runbooks.md has no heading `## {}`",
            alert.name
        ));
    }
    problems
}

#[test]
fn promtool_check_rules_is_clean() {
    let out = promtool(
        &["check", "rules", "--lint=all", "--lint-fatal"],
        &yaml_files("rules"),
    );
    let text = report(&out);
    assert!(out.status.success(), "promtool check rules:\n{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("SUCCESS").count(),
        2,
        "both rule files checked:\n{text}"
    );
    assert!(
        !text.contains("WARNING") && out.stderr.is_empty(),
        "promtool check rules printed warnings:\n{text}"
    );
}

#[test]
fn promtool_unit_tests_pass() {
    let tests = yaml_files("rules/tests");
    let out = promtool(&["test", "rules"], &tests);
    let text = report(&out);
    assert!(out.status.success(), "promtool test rules:\n{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("SUCCESS").count(),
        tests.len(),
        "every test file passed:\n{text}"
    );
}

#[test]
fn every_alert_is_well_formed_and_has_a_runbook() {
    let anchors = runbook_anchors();
    let alerts = alert_rules();
    let problems: Vec<String> = alerts
        .iter()
        .flat_map(|alert| rule_problems(alert, &anchors))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // One runbook section per alert, and no section for an alert that does not exist.
    let names: BTreeSet<String> = alerts.iter().map(|a| a.name.to_lowercase()).collect();
    let orphans: Vec<&String> = anchors.difference(&names).collect();
    assert!(
        orphans.is_empty(),
        "runbook sections without an alert: {orphans:?}"
    );
}

#[test]
fn twins_share_a_name_and_differ_in_severity() {
    let mut severities: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for alert in alert_rules() {
        let severity = alert.rule["labels"]["severity"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        severities.entry(alert.name).or_default().push(severity);
    }
    for (name, list) in &severities {
        let distinct: BTreeSet<&String> = list.iter().collect();
        assert_eq!(
            distinct.len(),
            list.len(),
            "{name}: rules with the same name must differ in severity: {list:?}"
        );
    }
    // The pattern Alertmanager's "critical mutes its warning twin" inhibition relies on.
    assert!(
        severities["InterfaceHighUtilisation"] == ["warning", "critical"],
        "InterfaceHighUtilisation twins: {:?}",
        severities["InterfaceHighUtilisation"]
    );
}

/// What the unit tests say about one alert name: the severities they expect to fire, and
/// whether some evaluation expects it silent.
#[derive(Default)]
struct Coverage {
    fired_severities: BTreeSet<String>,
    silent: bool,
}

/// Folds one `alert_rule_test` entry into the coverage of its alert name.
fn record_case(coverage: &mut BTreeMap<String, Coverage>, case: &Value, file: &Path) {
    let name = case["alertname"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: alert_rule_test without alertname", file.display()));
    let entry = coverage.entry(name.to_owned()).or_default();
    let expected = case["exp_alerts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if expected.is_empty() {
        entry.silent = true;
    }
    for alert in expected {
        let annotations = &alert["exp_annotations"];
        assert!(
            ["summary", "description", "runbook_url"]
                .iter()
                .all(|key| annotations[key].is_string()),
            "{}: {name}: every expected alert states its annotations",
            file.display()
        );
        if let Some(severity) = alert["exp_labels"]["severity"].as_str() {
            entry.fired_severities.insert(severity.to_owned());
        }
    }
}

fn unit_test_coverage() -> BTreeMap<String, Coverage> {
    let mut coverage = BTreeMap::new();
    for file in yaml_files("rules/tests") {
        let doc = parse_yaml(&file);
        let rule_files: Vec<&str> = doc["rule_files"]
            .as_array()
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for needed in ["../ispmonitor-alerts.yml", "../ispmonitor-recording.yml"] {
            assert!(
                rule_files.contains(&needed),
                "{}: rule_files lacks {needed}",
                file.display()
            );
        }
        for test in doc["tests"].as_array().expect("tests: a list") {
            for case in test["alert_rule_test"].as_array().into_iter().flatten() {
                record_case(&mut coverage, case, &file);
            }
        }
    }
    coverage
}

#[test]
fn every_alert_is_unit_tested_firing_and_silent() {
    let coverage = unit_test_coverage();
    let mut problems = Vec::new();
    for alert in alert_rules() {
        let severity = alert.rule["labels"]["severity"].as_str().unwrap_or("");
        match coverage.get(&alert.name) {
            None => problems.push(format!("{}: no unit test in rules/tests", alert.name)),
            Some(c) => {
                if !c.fired_severities.contains(severity) {
                    problems.push(format!(
                        "{}: no test expects it firing as {severity}",
                        alert.name
                    ));
                }
                if !c.silent {
                    problems.push(format!("{}: no test expects it silent", alert.name));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn anchors_follow_github() {
    assert_eq!(github_anchor("TargetDown"), "targetdown");
    assert_eq!(
        github_anchor("Server disk: full in 24h"),
        "server-disk-full-in-24h"
    );
    assert!(is_camel_case("ServerDiskWillFillIn24h"));
    assert!(!is_camel_case("targetDown") && !is_camel_case("Target_Down"));
    assert!(!is_camel_case("BGP"));
}
