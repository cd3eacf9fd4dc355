//! The one collection command run per poll: a POSIX `sh` script printing every source between
//! delimiter lines, and the splitting of its output back into sections.

/// Starts each section's header line; chosen so no /proc file or `df` line begins with it.
const MARKER: &str = "@@ispmonitor@@ ";
/// The last line of a complete output: without it the output was cut short.
const END: &str = "end";

/// The sources, in the order the script prints them: (section name, shell command).
/// `df` runs under `timeout` where it exists, so one hung network mount cannot stall the poll
/// (the poll deadline would end it anyway, but then every other value would be lost too).
const SOURCES: &[(&str, &str)] = &[
    ("stat", "cat /proc/stat"),
    ("meminfo", "cat /proc/meminfo"),
    ("loadavg", "cat /proc/loadavg"),
    ("uptime", "cat /proc/uptime"),
    ("netdev", "cat /proc/net/dev"),
    ("diskstats", "cat /proc/diskstats"),
    ("mounts", "cat /proc/self/mounts"),
    (
        "df",
        "if command -v timeout >/dev/null 2>&1; then timeout 5 df -P -k; else df -P -k; fi",
    ),
    ("kernel", "uname -r"),
    ("os", "cat /etc/os-release"),
];

/// The command sent in the SSH `exec` request. Wrapped in `sh -c` so the user's login shell
/// (bash, zsh, fish...) does not matter; `LC_ALL=C` keeps `df` headers and numbers unlocalised.
/// Errors of single sources go to /dev/null: a missing file shows as an empty section.
pub fn collection_command() -> String {
    let mut script = String::from("export LC_ALL=C; ");
    for (name, command) in SOURCES {
        script.push_str(&format!("echo '{MARKER}{name}'; {command} 2>/dev/null; "));
    }
    script.push_str(&format!("echo '{MARKER}{END}'"));
    format!("sh -c \"{script}\"")
}

/// The output split by section. Borrowed from the command's output.
#[derive(Debug, Default)]
pub struct Sections<'a> {
    sections: Vec<(&'a str, &'a str)>,
}

/// Why the output is not a complete set of sections.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    #[error("the output does not end with the end marker (cut short)")]
    Truncated,
}

impl<'a> Sections<'a> {
    /// Splits the output at the marker lines. Text before the first marker (a login banner
    /// printed by a shell profile) is ignored.
    pub fn split(output: &'a str) -> Result<Sections<'a>, SectionError> {
        let mut sections = Vec::new();
        let mut current: Option<(&'a str, usize)> = None;
        let mut complete = false;
        let mut offset = 0;
        for line in output.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            let Some(name) = line.trim_end().strip_prefix(MARKER) else {
                continue;
            };
            if let Some((previous, body_start)) = current.take() {
                sections.push((previous, &output[body_start..start]));
            }
            if name == END {
                complete = true;
                break;
            }
            current = Some((name, offset));
        }
        if !complete {
            return Err(SectionError::Truncated);
        }
        Ok(Sections { sections })
    }

    /// The text of one section, empty when the source printed nothing.
    pub fn get(&self, name: &str) -> &'a str {
        self.sections
            .iter()
            .find(|(section, _)| *section == name)
            .map_or("", |(_, text)| *text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_runs_in_a_real_sh_and_splits_back() {
        // Pure check of the script text through /bin/sh on this machine: every section
        // appears and the end marker is last.
        let output = std::process::Command::new("sh")
            .args(["-c", &collection_command()])
            .output()
            .expect("run sh");
        let text = String::from_utf8_lossy(&output.stdout);
        let sections = Sections::split(&text).expect("complete");
        for (name, _) in SOURCES {
            if *name != "os" {
                assert!(!sections.get(name).is_empty(), "{name} is empty");
            }
        }
        assert!(sections.get("stat").starts_with("cpu "));
        assert!(sections.get("df").starts_with("Filesystem"));
    }

    #[test]
    fn banner_is_ignored_and_truncation_detected() {
        let output = "Welcome!\n@@ispmonitor@@ stat\ncpu 1 2 3 4\n@@ispmonitor@@ meminfo\n@@ispmonitor@@ end\n";
        let sections = Sections::split(output).unwrap();
        assert_eq!(sections.get("stat"), "cpu 1 2 3 4\n");
        assert_eq!(sections.get("meminfo"), "");
        assert_eq!(sections.get("nothing"), "");
        assert_eq!(
            Sections::split("@@ispmonitor@@ stat\ncpu 1\n").unwrap_err(),
            SectionError::Truncated
        );
    }
}
