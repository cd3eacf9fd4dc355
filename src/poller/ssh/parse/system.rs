//! `uname -r` and `/etc/os-release`: the kernel release and the distribution's name.

/// The first line of `uname -r`, if it is a plausible release string.
pub fn parse_kernel(text: &str) -> Option<String> {
    let release = text.lines().next()?.trim();
    let plausible = !release.is_empty()
        && release.len() <= 128
        && release.chars().all(|c| c.is_ascii_graphic());
    plausible.then(|| release.to_string())
}

/// `PRETTY_NAME` (else `NAME`) of os-release, unquoted.
pub fn parse_os_release(text: &str) -> Option<String> {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .filter(|v| !v.is_empty() && v.len() <= 128 && !v.chars().any(char::is_control))
    };
    value("PRETTY_NAME").or_else(|| value("NAME"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_and_os_names() {
        assert_eq!(
            parse_kernel("6.1.0-18-amd64\n").as_deref(),
            Some("6.1.0-18-amd64")
        );
        assert_eq!(parse_kernel(""), None);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            parse_os_release("NAME=Alpine Linux\n").as_deref(),
            Some("Alpine Linux")
        );
        assert_eq!(parse_os_release(""), None);
    }
}
