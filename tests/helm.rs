//! The Helm chart (helm/ispmonitor) checked with the real helm 3 binary and kubernetes-validate:
//! `helm lint --strict` and `helm template` for every ci/*-values.yaml scenario, every rendered
//! manifest validated against the Kubernetes 1.30 schemas (strict), and unit tests of the
//! rendered objects (selectors, probes, secrets, shards, security context, schema, copies).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

const CHART: &str = "helm/ispmonitor";
const KUBE_VERSION: &str = "1.30.0";
/// Where scripts/install-peers.sh puts helm (npm) and kubernetes-validate (a venv).
const DEFAULT_PEERS_DIR: &str = "/opt/ispmonitor-peers";
/// The scenarios the issue asks for; each is a `ci/<name>-values.yaml` of the chart.
const SCENARIOS: [&str; 4] = [
    "default",
    "sharded",
    "kube-prometheus-stack",
    "external-secrets",
];
/// prometheus-operator kinds: kubernetes-validate ships only the core API schemas (no CRDs), so
/// these skip it and are checked field by field below against the operator's v1 field names
/// (`operator_objects_use_only_fields_the_operator_knows`).
const OPERATOR_KINDS: [&str; 2] = ["ServiceMonitor", "PrometheusRule"];
/// Fields of monitoring.coreos.com/v1 the chart may use, by object path; a typo is unknown.
const SERVICE_MONITOR_SPEC: &[&str] = &[
    "endpoints",
    "jobLabel",
    "namespaceSelector",
    "podTargetLabels",
    "sampleLimit",
    "selector",
    "targetLabels",
];
const SERVICE_MONITOR_ENDPOINT: &[&str] = &[
    "authorization",
    "basicAuth",
    "bearerTokenSecret",
    "enableHttp2",
    "followRedirects",
    "honorLabels",
    "honorTimestamps",
    "interval",
    "metricRelabelings",
    "params",
    "path",
    "port",
    "proxyUrl",
    "relabelings",
    "scheme",
    "scrapeTimeout",
    "targetPort",
    "tlsConfig",
];
const RULE_GROUP: &[&str] = &[
    "name",
    "interval",
    "limit",
    "partial_response_strategy",
    "rules",
];
const RULE: &[&str] = &[
    "alert",
    "annotations",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "record",
];

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn peers_dir() -> PathBuf {
    std::env::var_os("ISPMONITOR_PEERS_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_PEERS_DIR), PathBuf::from)
}

/// A peer program from scripts/install-peers.sh. A missing one fails the test (never a skip):
/// a skipped check would pass for the wrong reason.
fn peer(relative: &str) -> PathBuf {
    let path = peers_dir().join(relative);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-peers.sh",
        path.display()
    );
    path
}

fn helm(args: &[&str]) -> Output {
    Command::new(peer("npm/node_modules/.bin/helm"))
        .args(args)
        .current_dir(repo_path("."))
        .output()
        .expect("helm runs")
}

fn report(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scenario_file(name: &str) -> String {
    format!("{CHART}/ci/{name}-values.yaml")
}

/// `helm template` with extra arguments (values files, `--set`), returning the raw output.
fn template_raw(extra: &[&str]) -> Output {
    let mut args = vec![
        "template",
        "rel",
        CHART,
        "--namespace",
        "monitoring",
        "--kube-version",
        KUBE_VERSION,
    ];
    args.extend_from_slice(extra);
    helm(&args)
}

/// The rendered objects of a scenario plus `--set` overrides, each parsed to JSON.
fn render(scenario: &str, sets: &[&str]) -> Vec<Value> {
    let file = scenario_file(scenario);
    let mut extra = vec!["-f", file.as_str()];
    for set in sets {
        extra.extend_from_slice(&["--set", set]);
    }
    let out = template_raw(&extra);
    assert!(
        out.status.success(),
        "helm template {scenario} {sets:?}: {}",
        report(&out)
    );
    split_documents(&String::from_utf8_lossy(&out.stdout))
}

/// Splits a multi-document YAML stream and parses each non-empty document.
fn split_documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line == "---" {
            let doc: Value = serde_saphyr::from_str(&current)
                .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{current}"));
            if !doc.is_null() {
                docs.push(doc);
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

fn kind_of(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name_of(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind_of(d) == kind).collect()
}

fn one_of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The Deployment, StatefulSet and Job: everything with a pod template.
fn workloads(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| matches!(kind_of(d), "Deployment" | "StatefulSet" | "Job"))
        .collect()
}

fn containers(workload: &Value) -> &Vec<Value> {
    workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no containers", name_of(workload)))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn env_var<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

fn sorted_files(folder: &Path, extension: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(extension))
        .collect();
    names.sort();
    names
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_scenario_of_the_issue_exists() {
    for name in SCENARIOS {
        assert!(
            repo_path(&scenario_file(name)).is_file(),
            "{} is missing",
            scenario_file(name)
        );
    }
    let count = sorted_files(&repo_path(&format!("{CHART}/ci")), "-values.yaml").len();
    assert_eq!(
        count,
        SCENARIOS.len(),
        "a ci/*-values.yaml file this test does not know"
    );
}

#[test]
fn helm_lint_strict_is_clean_for_every_scenario() {
    for name in SCENARIOS {
        let file = scenario_file(name);
        let out = helm(&["lint", "--strict", CHART, "-f", &file]);
        let text = report(&out);
        assert!(out.status.success(), "helm lint --strict -f {file}: {text}");
        assert!(
            !text.contains("[WARNING]") && !text.contains("[ERROR]"),
            "{file}: {text}"
        );
    }
}

/// Writes the core-API objects to one file, runs kubernetes-validate on it and returns its
/// output; the operator kinds are left out (no schema ships with the validator).
fn kubernetes_validate(docs: &[&Value], dir: &Path) -> Output {
    let file = dir.join("manifests.yaml");
    let mut text = String::new();
    for doc in docs {
        text.push_str("---\n");
        text.push_str(&serde_json::to_string(doc).expect("JSON"));
        text.push('\n');
    }
    std::fs::write(&file, text).expect("write manifests");
    Command::new(peer("venv/bin/kubernetes-validate"))
        .args(["--strict", "-k", KUBE_VERSION])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs")
}

#[test]
fn every_rendered_manifest_is_valid_for_kubernetes_1_30() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in SCENARIOS {
        let docs = render(name, &[]);
        let core: Vec<&Value> = docs
            .iter()
            .filter(|d| !OPERATOR_KINDS.contains(&kind_of(d)))
            .collect();
        let out = kubernetes_validate(&core, dir.path());
        let text = report(&out);
        assert!(out.status.success(), "{name}: {text}");
        let passed = text.matches(" passed for resource ").count();
        assert_eq!(passed, core.len(), "{name}: every object must pass: {text}");
    }
}

#[test]
fn kubernetes_validate_rejects_an_unknown_field() {
    // The validation above can fail: the same Deployment with one misspelt field does not pass.
    let docs = render("default", &[]);
    let mut deployment = one_of_kind(&docs, "Deployment").clone();
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = json!("Always");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = kubernetes_validate(&[&deployment], dir.path());
    assert!(
        !out.status.success(),
        "a misspelt field passed: {}",
        report(&out)
    );
}

#[test]
fn missing_secrets_stop_the_render_with_a_clear_message() {
    let out = template_raw(&[]);
    let text = report(&out);
    assert!(!out.status.success(), "rendered without any Secret: {text}");
    assert!(
        text.contains("database.existingSecret is required"),
        "{text}"
    );
    let out = template_raw(&["--set", "database.existingSecret=db"]);
    let text = report(&out);
    assert!(
        !out.status.success(),
        "rendered without the secret key: {text}"
    );
    assert!(
        text.contains("secretKey.existingSecret is required"),
        "{text}"
    );
}

/// Every `matchLabels`/Service selector of the rendered objects, by kind and name.
fn selectors(docs: &[Value]) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    for doc in docs {
        let selector = match kind_of(doc) {
            "Deployment" | "StatefulSet" | "PodDisruptionBudget" => &doc["spec"]["selector"],
            "Service" => &doc["spec"]["selector"],
            _ => continue,
        };
        found.insert(
            format!("{}/{}", kind_of(doc), name_of(doc)),
            selector.clone(),
        );
    }
    found
}

#[test]
fn selectors_are_stable_across_values_changes() {
    let before = selectors(&render("sharded", &[]));
    let after = selectors(&render(
        "sharded",
        &[
            "image.tag=9.9.9",
            "commonLabels.team=noc",
            "api.podLabels.extra=yes",
            "poller.replicas=5",
            "api.replicas=4",
        ],
    ));
    assert_eq!(before.len(), 6, "{before:#?}");
    assert_eq!(before, after, "a values change moved a selector");
    for (object, selector) in &before {
        let text = selector.to_string();
        for volatile in ["helm.sh/chart", "app.kubernetes.io/version", "team"] {
            assert!(
                !text.contains(volatile),
                "{object} selects on {volatile}: {text}"
            );
        }
    }
}

#[test]
fn pod_templates_carry_their_selector_labels() {
    let docs = render("sharded", &[]);
    for kind in ["Deployment", "StatefulSet"] {
        let workload = one_of_kind(&docs, kind);
        let labels = &workload["spec"]["template"]["metadata"]["labels"];
        let wanted = workload["spec"]["selector"]["matchLabels"]
            .as_object()
            .expect("matchLabels");
        for (key, value) in wanted {
            assert_eq!(&labels[key], value, "{kind} pods lack selector label {key}");
        }
    }
}

/// The named ports of a container.
fn port_names(container: &Value) -> Vec<&str> {
    container["ports"]
        .as_array()
        .map(|ports| ports.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn probes_are_wired_to_live_and_ready_on_named_ports() {
    let docs = render("default", &[]);
    for kind in ["Deployment", "StatefulSet"] {
        let container = &containers(one_of_kind(&docs, kind))[0];
        let ports = port_names(container);
        for (probe, path) in [
            ("livenessProbe", "/live"),
            ("readinessProbe", "/ready"),
            ("startupProbe", "/live"),
        ] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"], path, "{kind} {probe}: {get}");
            let port = get["port"]
                .as_str()
                .unwrap_or_else(|| panic!("{kind} {probe} port by name"));
            assert!(
                ports.contains(&port),
                "{kind} {probe} port {port} not in {ports:?}"
            );
        }
        let startup = container["startupProbe"]["failureThreshold"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            startup >= 30,
            "{kind}: startupProbe gives too little time ({startup})"
        );
    }
    let api = &containers(one_of_kind(&docs, "Deployment"))[0];
    assert_eq!(
        api["readinessProbe"]["httpGet"]["port"], "http",
        "API readiness checks the API port"
    );
}

#[test]
fn no_secret_is_inlined() {
    for name in SCENARIOS {
        let docs = render(name, &[]);
        assert!(
            of_kind(&docs, "Secret").is_empty(),
            "{name}: the chart must not create Secrets"
        );
        for doc in &docs {
            let text = doc.to_string();
            for inlined in ["postgres://", "postgresql://", "stringData"] {
                assert!(
                    !text.contains(inlined),
                    "{name}: {} contains {inlined}",
                    name_of(doc)
                );
            }
        }
        let (secret, key) = match name {
            "external-secrets" => ("ispmonitor-postgres", "DATABASE_URL"),
            _ => ("ispmonitor-db", "url"),
        };
        for workload in workloads(&docs) {
            let container = &containers(workload)[0];
            let url = env_var(container, "ISPMONITOR_DATABASE_URL")
                .unwrap_or_else(|| panic!("{name}: {} has no database URL", name_of(workload)));
            assert!(
                url.get("value").is_none(),
                "{name}: URL inlined in {}",
                name_of(workload)
            );
            assert_eq!(
                url["valueFrom"]["secretKeyRef"],
                json!({"name": secret, "key": key})
            );
            assert!(
                env_var(container, "ISPMONITOR_SECRET_KEY").is_none(),
                "{name}: key inlined"
            );
        }
    }
}

#[test]
fn the_secret_key_is_a_mounted_file_from_the_existing_secret() {
    let docs = render("external-secrets", &[]);
    for kind in ["Deployment", "StatefulSet"] {
        let workload = one_of_kind(&docs, kind);
        let container = &containers(workload)[0];
        let file = env_var(container, "ISPMONITOR_SECRET_KEY_FILE").expect("key file env");
        let path = file["value"].as_str().expect("key file path");
        let volumes = workload["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .expect("volumes");
        let volume = volumes
            .iter()
            .find(|v| v["name"] == "secret-key")
            .expect("secret-key volume");
        assert_eq!(volume["secret"]["secretName"], "ispmonitor-sealing");
        assert_eq!(volume["secret"]["items"][0]["key"], "SEALING_KEY");
        let mounts = container["volumeMounts"].as_array().expect("mounts");
        let mount = mounts
            .iter()
            .find(|m| m["name"] == "secret-key")
            .expect("secret-key mount");
        let mount_path = mount["mountPath"].as_str().expect("mountPath");
        assert_eq!(
            path,
            format!(
                "{mount_path}/{}",
                volume["secret"]["items"][0]["path"].as_str().unwrap()
            )
        );
        assert!(
            mounts
                .iter()
                .any(|m| m["mountPath"] == "/etc/ispmonitor/snmp"),
            "{kind}: extra secret"
        );
    }
}

/// The config file a container reads, from its `--config=` argument and the ConfigMap.
fn config_of<'a>(docs: &'a [Value], container: &Value) -> (String, Value) {
    let args = strings(&container["args"]);
    let path = args
        .iter()
        .find_map(|a| a.strip_prefix("--config="))
        .unwrap_or_else(|| panic!("no --config in {args:?}"));
    let mounts = container["volumeMounts"].as_array().expect("mounts");
    let mount = mounts
        .iter()
        .find(|m| m["mountPath"] == path)
        .unwrap_or_else(|| panic!("{path} is not mounted: {mounts:?}"));
    let key = mount["subPath"].as_str().expect("a ConfigMap key");
    let map: &'a Value = one_of_kind(docs, "ConfigMap");
    let text = map["data"][key].as_str().expect("the ConfigMap key");
    let config: Value = serde_saphyr::from_str(text).expect("the config parses");
    (path.to_string(), config)
}

#[test]
fn the_poller_keeps_its_inventory_cache_on_an_emptydir() {
    let docs = render("default", &[]);
    let poller = one_of_kind(&docs, "StatefulSet");
    let container = &containers(poller)[0];
    let (_, config) = config_of(&docs, container);
    let file = config["database"]["inventory_cache_file"]
        .as_str()
        .expect("the poller's config names the cache file");
    let dir = Path::new(file).parent().unwrap();
    let mounts = container["volumeMounts"].as_array().expect("mounts");
    let mount = mounts
        .iter()
        .find(|m| Path::new(m["mountPath"].as_str().unwrap()) == dir)
        .unwrap_or_else(|| panic!("nothing mounted at {}", dir.display()));
    assert_ne!(mount["readOnly"], true, "the cache directory is writable");
    let volume = poller["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the cache volume");
    assert!(volume["emptyDir"].is_object(), "{volume}");
    // The API does not poll: its config has no cache file.
    let api = one_of_kind(&docs, "Deployment");
    let (_, api_config) = config_of(&docs, &containers(api)[0]);
    assert!(
        api_config["database"]["inventory_cache_file"].is_null(),
        "{api_config}"
    );

    let off = render("default", &["poller.inventoryCache.enabled=false"]);
    let poller = one_of_kind(&off, "StatefulSet");
    let (_, config) = config_of(&off, &containers(poller)[0]);
    assert!(
        config["database"]["inventory_cache_file"].is_null(),
        "{config}"
    );
    let volumes = poller["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(!volumes.contains("inventory-cache"), "{volumes}");
}

#[test]
fn a_database_url_in_the_config_value_is_refused() {
    let out = template_raw(&[
        "-f",
        &scenario_file("default"),
        "--set",
        "config.database.url=postgres://u:p@db/x",
    ]);
    let text = report(&out);
    assert!(!out.status.success(), "an inlined URL rendered: {text}");
    assert!(text.contains("database.existingSecret"), "{text}");
    assert!(
        !text.contains("u:p@db"),
        "the error repeats the secret: {text}"
    );
}

#[test]
fn the_sharded_statefulset_passes_the_shard_arguments() {
    let docs = render("sharded", &[]);
    let poller = one_of_kind(&docs, "StatefulSet");
    assert_eq!(poller["spec"]["replicas"], 3);
    let container = &containers(poller)[0];
    let args = strings(&container["args"]);
    assert_eq!(args.first(), Some(&"serve"), "{args:?}");
    let after = |flag: &str| args.iter().position(|a| *a == flag).map(|i| args[i + 1]);
    assert_eq!(after("--total-shards"), Some("3"), "{args:?}");
    assert_eq!(after("--api.listen-address"), Some("none"), "{args:?}");
    assert!(
        !args.iter().any(|a| a.starts_with("--shard")),
        "the ordinal comes from POD_NAME"
    );
    let pod_name = env_var(container, "POD_NAME").expect("POD_NAME");
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );

    let service_name = poller["spec"]["serviceName"].as_str().expect("serviceName");
    let headless = of_kind(&docs, "Service")
        .into_iter()
        .find(|s| name_of(s) == service_name)
        .unwrap_or_else(|| panic!("no Service {service_name}"));
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(
        headless["spec"]["selector"],
        poller["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn the_api_deployment_serves_without_polling() {
    let docs = render("default", &[]);
    let api = one_of_kind(&docs, "Deployment");
    let args = strings(&containers(api)[0]["args"]);
    assert_eq!(args.first(), Some(&"serve"), "{args:?}");
    assert!(args.contains(&"--no-poll"), "{args:?}");
    assert!(!args.iter().any(|a| a.contains("shards")), "{args:?}");
    let service = of_kind(&docs, "Service")
        .into_iter()
        .find(|s| name_of(s) == name_of(api))
        .expect("API Service");
    assert_eq!(
        service["spec"]["selector"],
        api["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn the_migration_job_is_a_pre_install_and_pre_upgrade_hook() {
    let docs = render("default", &[]);
    let job = one_of_kind(&docs, "Job");
    let annotations = &job["metadata"]["annotations"];
    assert_eq!(annotations["helm.sh/hook"], "pre-install,pre-upgrade");
    assert!(
        annotations["helm.sh/hook-delete-policy"].is_string(),
        "{annotations}"
    );
    assert_eq!(strings(&containers(job)[0]["args"]), ["migrate"]);
    let spec = &job["spec"]["template"]["spec"];
    assert_eq!(spec["restartPolicy"], "Never");
    // A hook runs before the release's own objects exist: it must not need them.
    assert!(
        spec["serviceAccountName"].is_null(),
        "the hook needs the chart's ServiceAccount"
    );
    assert!(
        spec["volumes"].is_null(),
        "the hook needs the chart's ConfigMap: {}",
        spec["volumes"]
    );
}

fn assert_restricted(kind: &str, workload: &Value) {
    let pod = &workload["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true, "{kind}: {pod}");
    assert_eq!(
        pod["seccompProfile"]["type"], "RuntimeDefault",
        "{kind}: {pod}"
    );
    for container in containers(workload) {
        let sc = &container["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{kind}: {sc}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{kind}: {sc}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{kind}: {sc}");
        assert!(
            sc["capabilities"]["add"].is_null(),
            "{kind} adds capabilities: {sc}"
        );
        assert!(
            container.get("resources").is_none(),
            "{kind}: resources must default to {{}}"
        );
    }
}

#[test]
fn security_context_defaults_are_restricted() {
    let docs = render("default", &[]);
    for workload in workloads(&docs) {
        assert_restricted(kind_of(workload), workload);
    }
    let poller = one_of_kind(&docs, "StatefulSet");
    let sysctls = &poller["spec"]["template"]["spec"]["securityContext"]["sysctls"];
    assert_eq!(
        sysctls,
        &json!([{"name": "net.ipv4.ping_group_range", "value": "0 2147483647"}])
    );
    let api = one_of_kind(&docs, "Deployment");
    assert!(api["spec"]["template"]["spec"]["securityContext"]["sysctls"].is_null());
}

#[test]
fn net_raw_is_added_only_behind_its_value() {
    let docs = render(
        "default",
        &[
            "poller.icmp.netRaw=true",
            "poller.icmp.pingGroupRange=false",
        ],
    );
    let poller = one_of_kind(&docs, "StatefulSet");
    let sc = &containers(poller)[0]["securityContext"];
    assert_eq!(sc["capabilities"]["add"], json!(["NET_RAW"]), "{sc}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{sc}");
    assert!(poller["spec"]["template"]["spec"]["securityContext"]["sysctls"].is_null());
    let api = one_of_kind(&docs, "Deployment");
    assert!(containers(api)[0]["securityContext"]["capabilities"]["add"].is_null());
}

/// Writes a values file and runs `helm template` with it on top of the default scenario.
fn template_with_values(dir: &Path, name: &str, yaml: &str) -> Output {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).expect("write values");
    let file = file.to_string_lossy().into_owned();
    template_raw(&["-f", &scenario_file("default"), "-f", &file])
}

#[test]
fn the_schema_rejects_unknown_keys_and_wrong_types() {
    let dir = tempfile::tempdir().expect("temp dir");
    let control = template_with_values(dir.path(), "control", "image:\n  tag: \"1.2.3\"\n");
    assert!(
        control.status.success(),
        "a good values file failed: {}",
        report(&control)
    );
    let bad = [
        ("unknown-top-level", "iamge:\n  tag: x\n", "iamge"),
        ("unknown-nested", "image:\n  tga: x\n", "tga"),
        (
            "unknown-deep",
            "api:\n  autoscaling:\n    enable: true\n",
            "enable",
        ),
        (
            "replicas-string",
            "poller:\n  replicas: three\n",
            "replicas",
        ),
        (
            "enabled-string",
            "serviceMonitor:\n  enabled: \"yes\"\n",
            "enabled",
        ),
        (
            "labels-list",
            "serviceMonitor:\n  labels: [release]\n",
            "labels",
        ),
        (
            "pull-policy",
            "image:\n  pullPolicy: Sometimes\n",
            "pullPolicy",
        ),
    ];
    for (name, yaml, key) in bad {
        let out = template_with_values(dir.path(), name, yaml);
        let text = report(&out);
        assert!(!out.status.success(), "{name} was accepted: {text}");
        assert!(
            text.contains("schema"),
            "{name}: not a schema error: {text}"
        );
        assert!(
            text.contains(key),
            "{name}: the error does not name {key}: {text}"
        );
    }
}

#[test]
fn optional_objects_are_off_by_default() {
    let docs = render("default", &[]);
    for kind in [
        "ServiceMonitor",
        "PrometheusRule",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Ingress",
    ] {
        assert!(
            of_kind(&docs, kind).is_empty(),
            "default render has a {kind}"
        );
    }
    let config_maps = of_kind(&docs, "ConfigMap");
    assert_eq!(config_maps.len(), 1, "only the config ConfigMap by default");
}

#[test]
fn kube_prometheus_stack_objects_carry_the_release_label() {
    let docs = render("kube-prometheus-stack", &[]);
    for kind in ["ServiceMonitor", "PrometheusRule"] {
        let object = one_of_kind(&docs, kind);
        assert_eq!(
            object["metadata"]["labels"]["release"], "kube-prometheus-stack",
            "{kind}"
        );
    }
    let dashboards: Vec<&Value> = of_kind(&docs, "ConfigMap")
        .into_iter()
        .filter(|c| !c["metadata"]["labels"]["grafana_dashboard"].is_null())
        .collect();
    let sources = sorted_files(&repo_path("grafana/dashboards"), ".json");
    assert_eq!(
        dashboards.len(),
        sources.len(),
        "one ConfigMap per dashboard"
    );
    for config_map in dashboards {
        let labels = &config_map["metadata"]["labels"];
        assert_eq!(labels["grafana_dashboard"], "1", "{}", name_of(config_map));
        assert_eq!(
            labels["release"],
            "kube-prometheus-stack",
            "{}",
            name_of(config_map)
        );
    }
    assert_eq!(of_kind(&docs, "NetworkPolicy").len(), 1);
}

#[test]
fn autoscaling_replaces_replicas_and_brings_a_disruption_budget() {
    let docs = render("default", &["api.autoscaling.enabled=true"]);
    let hpa = one_of_kind(&docs, "HorizontalPodAutoscaler");
    let api = one_of_kind(&docs, "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], name_of(api));
    assert!(
        api["spec"]["replicas"].is_null(),
        "the HPA owns the replica count"
    );
    let pdb = one_of_kind(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["selector"], api["spec"]["selector"]);
}

/// The keys of `object` that are not in `known`.
fn unknown_keys<'a>(object: &'a Value, known: &[&str]) -> Vec<&'a str> {
    object
        .as_object()
        .map(|map| {
            map.keys()
                .map(String::as_str)
                .filter(|k| !known.contains(k))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn operator_objects_use_only_fields_the_operator_knows() {
    let docs = render(
        "kube-prometheus-stack",
        &[
            "serviceMonitor.relabelings[0].targetLabel=site",
            "serviceMonitor.relabelings[0].replacement=ams1",
        ],
    );
    let monitor = one_of_kind(&docs, "ServiceMonitor");
    let spec = &monitor["spec"];
    assert_eq!(
        unknown_keys(spec, SERVICE_MONITOR_SPEC),
        Vec::<&str>::new(),
        "{spec}"
    );
    for endpoint in spec["endpoints"].as_array().expect("endpoints") {
        assert_eq!(
            unknown_keys(endpoint, SERVICE_MONITOR_ENDPOINT),
            Vec::<&str>::new()
        );
        assert!(
            endpoint["relabelings"].is_array(),
            "relabelings are passed on: {endpoint}"
        );
    }
    let rule = one_of_kind(&docs, "PrometheusRule");
    for group in rule["spec"]["groups"].as_array().expect("groups") {
        assert_eq!(
            unknown_keys(group, RULE_GROUP),
            Vec::<&str>::new(),
            "{}",
            group["name"]
        );
        for rule in group["rules"].as_array().expect("rules") {
            assert_eq!(unknown_keys(rule, RULE), Vec::<&str>::new(), "{rule}");
            assert!(rule["expr"].is_string(), "{rule}");
        }
    }
    // The check can fail: a misspelt endpoint field is caught.
    let typo = json!({"port": "metrics", "scrapeTimout": "10s"});
    assert_eq!(
        unknown_keys(&typo, SERVICE_MONITOR_ENDPOINT),
        ["scrapeTimout"]
    );
}

#[test]
fn operator_objects_have_the_fields_the_operator_reads() {
    let docs = render("kube-prometheus-stack", &[]);
    let monitor = one_of_kind(&docs, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let endpoints = monitor["spec"]["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["port"], "metrics");
    assert_eq!(endpoints[0]["path"], "/metrics");
    // The ServiceMonitor selects both Services (API and pollers), each on a port named metrics.
    let wanted = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    for service in of_kind(&docs, "Service") {
        let labels = &service["metadata"]["labels"];
        assert!(
            wanted.iter().all(|(k, v)| &labels[k] == v),
            "{} not selected",
            name_of(service)
        );
        assert!(
            port_names(&service["spec"]).contains(&"metrics"),
            "{}",
            name_of(service)
        );
    }
    let rule = one_of_kind(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert!(rule["spec"]["groups"]
        .as_array()
        .is_some_and(|g| !g.is_empty()));
}

/// Compares a folder of sources with the chart's copies: the same names, byte for byte.
fn assert_same_files(source: &str, copy: &str, extension: &str) {
    let (source, copy) = (repo_path(source), repo_path(copy));
    let names = sorted_files(&source, extension);
    assert!(!names.is_empty(), "no {extension} in {}", source.display());
    assert_eq!(
        names,
        sorted_files(&copy, extension),
        "run scripts/sync-chart.sh"
    );
    for name in names {
        assert!(
            read(&source.join(&name)) == read(&copy.join(&name)),
            "{} drifted from {}: run scripts/sync-chart.sh",
            copy.join(&name).display(),
            source.join(&name).display()
        );
    }
}

#[test]
fn chart_copies_of_rules_and_dashboards_match_their_sources() {
    assert_same_files("rules", &format!("{CHART}/files/rules"), ".yml");
    assert_same_files(
        "grafana/dashboards",
        &format!("{CHART}/files/dashboards"),
        ".json",
    );
}

#[test]
fn the_prometheus_rule_holds_every_rule_group_unchanged() {
    let mut expected = Vec::new();
    for name in sorted_files(&repo_path("rules"), ".yml") {
        let file: Value = serde_saphyr::from_str(&read(&repo_path("rules").join(&name)))
            .unwrap_or_else(|e| panic!("rules/{name}: {e}"));
        expected.extend(file["groups"].as_array().expect("groups").iter().cloned());
    }
    let docs = render("kube-prometheus-stack", &[]);
    let rule = one_of_kind(&docs, "PrometheusRule");
    assert_eq!(rule["spec"]["groups"], Value::Array(expected));
}

#[test]
fn dashboard_config_maps_hold_the_dashboards_unchanged() {
    let docs = render("kube-prometheus-stack", &[]);
    let mut rendered = BTreeMap::new();
    for config_map in of_kind(&docs, "ConfigMap") {
        for (key, value) in config_map["data"].as_object().expect("data") {
            if key.ends_with(".json") {
                let json: Value = serde_json::from_str(value.as_str().expect("text"))
                    .unwrap_or_else(|e| panic!("{key} in {}: {e}", name_of(config_map)));
                rendered.insert(key.clone(), json);
            }
        }
    }
    let dir = repo_path("grafana/dashboards");
    let names = sorted_files(&dir, ".json");
    assert_eq!(rendered.keys().cloned().collect::<Vec<_>>(), names);
    for name in names {
        let source: Value = serde_json::from_str(&read(&dir.join(&name))).expect("dashboard JSON");
        assert!(
            rendered[&name] == source,
            "{name} changed on its way into the ConfigMap"
        );
    }
}

/// The config.yaml of a render's ConfigMap.
fn rendered_config(docs: &[Value]) -> String {
    let config_map = of_kind(docs, "ConfigMap")
        .into_iter()
        .find(|c| !c["data"]["config.yaml"].is_null())
        .expect("config ConfigMap");
    config_map["data"]["config.yaml"]
        .as_str()
        .expect("text")
        .to_owned()
}

/// Runs the real `ispmonitor check-config` on a config text.
fn check_config(dir: &Path, name: &str, config: &str) -> Output {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, config).expect("write config");
    Command::new(env!("CARGO_BIN_EXE_ispmonitor"))
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .expect("ispmonitor runs")
}

#[test]
fn the_rendered_config_is_accepted_by_check_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["default", "sharded", "kube-prometheus-stack"] {
        let out = check_config(dir.path(), name, &rendered_config(&render(name, &[])));
        assert!(out.status.success(), "{name}: {}", report(&out));
    }
}

#[test]
fn the_external_secrets_config_reads_its_credentials_from_the_mounted_secret() {
    // The Secret mounted at /etc/ispmonitor/snmp in the pods is a folder of files here.
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = render("external-secrets", &[]);
    let mounts = &containers(one_of_kind(&docs, "StatefulSet"))[0]["volumeMounts"];
    let mount = mounts
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == "snmp-v3")
        .expect("snmp-v3 mount");
    let mount_path = mount["mountPath"].as_str().expect("mountPath");
    let secret_dir = dir.path().join("snmp");
    std::fs::create_dir(&secret_dir).expect("secret dir");
    let config = rendered_config(&docs).replace(mount_path, &secret_dir.to_string_lossy());
    let out = check_config(dir.path(), "missing-files", &config);
    assert!(
        !out.status.success(),
        "the credential files are not there yet: {}",
        report(&out)
    );
    for file in ["auth", "priv"] {
        std::fs::write(secret_dir.join(file), "a-long-enough-secret\n").expect("secret file");
    }
    let out = check_config(dir.path(), "external-secrets", &config);
    assert!(out.status.success(), "{}", report(&out));
    assert!(
        !report(&out).contains("a-long-enough-secret"),
        "check-config printed a secret"
    );
}

#[test]
fn web_config_secret_is_mounted_as_directories_and_turns_probes_and_scrapes_to_https() {
    let sets = [
        "webConfig.existingSecret=ispmonitor-web",
        "webConfig.tlsSecret=ispmonitor-tls",
        "webConfig.tls=true",
        "serviceMonitor.enabled=true",
        "serviceMonitor.tlsConfig.serverName=ispmonitor",
        "serviceMonitor.basicAuth.username.name=scrape-auth",
        "serviceMonitor.basicAuth.username.key=user",
    ];
    let docs = render("default", &sets);
    for workload in workloads(&docs) {
        if kind_of(workload) == "Job" {
            continue;
        }
        let name = name_of(workload);
        let container = &containers(workload)[0];
        assert!(
            strings(&container["args"])
                .contains(&"--web.config.file=/etc/ispmonitor/web/config/web-config.yml"),
            "{name}: {}",
            container["args"]
        );
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            assert_eq!(
                container[probe]["httpGet"]["scheme"], "HTTPS",
                "{name} {probe}"
            );
        }
        let mounts = container["volumeMounts"].as_array().unwrap();
        for (volume, path) in [
            ("web-config", "/etc/ispmonitor/web/config"),
            ("web-tls", "/etc/ispmonitor/web/tls"),
        ] {
            let mount = mounts
                .iter()
                .find(|m| m["name"] == volume)
                .unwrap_or_else(|| panic!("{name}: no {volume} mount"));
            assert_eq!(mount["mountPath"], path);
            // A subPath mount never sees a rotated Secret.
            assert!(mount.get("subPath").is_none(), "{name}: {mount}");
        }
        let volumes = workload["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap();
        let secret_of = |volume: &str| {
            volumes
                .iter()
                .find(|v| v["name"] == volume)
                .map(|v| v["secret"].clone())
        };
        assert_eq!(
            secret_of("web-config").unwrap()["secretName"],
            "ispmonitor-web"
        );
        assert_eq!(
            secret_of("web-tls").unwrap()["secretName"],
            "ispmonitor-tls"
        );
    }
    let monitor = one_of_kind(&docs, "ServiceMonitor");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["tlsConfig"]["serverName"], "ispmonitor");
    assert_eq!(endpoint["basicAuth"]["username"]["key"], "user");
    let dir = tempfile::tempdir().expect("temp dir");
    let core: Vec<&Value> = docs
        .iter()
        .filter(|d| !OPERATOR_KINDS.contains(&kind_of(d)))
        .collect();
    let out = kubernetes_validate(&core, dir.path());
    assert!(out.status.success(), "{}", report(&out));

    // Without the Secret nothing changes: plain HTTP probes, no flag.
    let plain = render("default", &["serviceMonitor.enabled=true"]);
    for workload in workloads(&plain) {
        let container = &containers(workload)[0];
        let args = container["args"].to_string();
        assert!(!args.contains("web.config.file"), "{args}");
        if let Some(get) = container.get("livenessProbe") {
            assert_eq!(get["httpGet"]["scheme"], "HTTP");
        }
    }
    let monitor = one_of_kind(&plain, "ServiceMonitor");
    assert!(monitor["spec"]["endpoints"][0].get("scheme").is_none());
}
