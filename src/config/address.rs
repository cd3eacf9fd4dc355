//! Target addresses (`host`, `host:port`, `[v6]:port`, bare IPv6) split into host and port.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A target address split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// IP literal or DNS name, without brackets.
    pub host: String,
    pub port: Option<u16>,
}

/// Splits and checks a target address.
pub fn parse_target_address(text: &str) -> Result<HostPort, String> {
    if text.is_empty() {
        return Err("is empty".to_string());
    }
    if let Some(bracketed) = text.strip_prefix('[') {
        return parse_bracketed_ipv6(bracketed);
    }
    // A bare IPv6 literal has several colons and cannot carry a port (it would be ambiguous).
    if text.parse::<Ipv6Addr>().is_ok() {
        return Ok(HostPort {
            host: text.to_string(),
            port: None,
        });
    }
    match text.split_once(':') {
        Some((host, port)) => {
            check_host(host)?;
            Ok(HostPort {
                host: host.to_string(),
                port: Some(parse_port(port)?),
            })
        }
        None => {
            check_host(text)?;
            Ok(HostPort {
                host: text.to_string(),
                port: None,
            })
        }
    }
}

/// `v6]` or `v6]:port`, the opening bracket already removed.
fn parse_bracketed_ipv6(text: &str) -> Result<HostPort, String> {
    let Some((inside, after)) = text.split_once(']') else {
        return Err("has '[' without a closing ']'".to_string());
    };
    if inside.parse::<Ipv6Addr>().is_err() {
        return Err(format!("{inside:?} inside [] is not an IPv6 address"));
    }
    let port = match after {
        "" => None,
        _ => match after.strip_prefix(':') {
            Some(port) => Some(parse_port(port)?),
            None => return Err("expected ':port' after ']'".to_string()),
        },
    };
    Ok(HostPort {
        host: inside.to_string(),
        port,
    })
}

/// A port number 1..=65535, digits only.
pub fn parse_port(text: &str) -> Result<u16, String> {
    let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u16>() {
        Ok(port) if valid && port > 0 => Ok(port),
        _ => Err(format!("port {text:?} is not a number from 1 to 65535")),
    }
}

/// An IPv4 literal or a DNS name.
fn check_host(host: &str) -> Result<(), String> {
    if host.parse::<Ipv4Addr>().is_ok() || is_dns_name(host) {
        Ok(())
    } else {
        Err(format!(
            "host {host:?} is neither an IP address nor a valid DNS name"
        ))
    }
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 1 to 63
/// characters each, 253 in all, with an optional trailing dot. A name whose last label is all
/// digits is refused so that a mistyped IPv4 address (`10.0.0.256`) is not taken for a name.
pub fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let last_is_numeric = labels
        .last()
        .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()));
    !last_is_numeric && labels.iter().all(|label| is_dns_label(label))
}

fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_port(host: &str, port: Option<u16>) -> HostPort {
        HostPort {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(
            parse_target_address("10.0.0.1"),
            Ok(host_port("10.0.0.1", None))
        );
        assert_eq!(
            parse_target_address("10.0.0.1:161"),
            Ok(host_port("10.0.0.1", Some(161)))
        );
        assert_eq!(
            parse_target_address("core1.ams.example.net:1161"),
            Ok(host_port("core1.ams.example.net", Some(1161)))
        );
        assert_eq!(
            parse_target_address("router-7"),
            Ok(host_port("router-7", None))
        );
        assert_eq!(
            parse_target_address("[2001:db8::1]"),
            Ok(host_port("2001:db8::1", None))
        );
        assert_eq!(
            parse_target_address("[2001:db8::1]:161"),
            Ok(host_port("2001:db8::1", Some(161)))
        );
        assert_eq!(
            parse_target_address("2001:db8::1"),
            Ok(host_port("2001:db8::1", None))
        );
        assert_eq!(parse_target_address("::1"), Ok(host_port("::1", None)));
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "10.0.0.1:0",
            "10.0.0.1:65536",
            "10.0.0.1:",
            "10.0.0.1:abc",
            "10.0.0.1:+1",
            "10.0.0.256",
            "[2001:db8::1",
            "[10.0.0.1]:161",
            "[::1]161",
            "-bad.example",
            "bad_name.example",
            "a..b",
            "host:161:162",
            "http://10.0.0.1",
        ] {
            assert!(
                parse_target_address(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn dns_names_follow_rfc_1123() {
        assert!(is_dns_name("example.net."));
        assert!(is_dns_name("1host.example"));
        assert!(!is_dns_name(&"a".repeat(64)));
        assert!(!is_dns_name("ends-with-.example"));
    }
}
