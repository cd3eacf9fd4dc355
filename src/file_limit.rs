//! The open-file limit: read it, and raise the soft limit to the hard one (each SNMP target and
//! each simulated device holds a socket, and 1,024 is still a common soft default).

/// The soft and hard RLIMIT_NOFILE of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    pub soft: u64,
    pub hard: u64,
}

/// Reads RLIMIT_NOFILE.
pub fn current() -> std::io::Result<FileLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(FileLimit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

/// Raises the soft limit to the hard limit (what Go programs such as snmp_exporter get from
/// their runtime). Returns the limit before and after.
pub fn raise_to_hard() -> std::io::Result<(FileLimit, FileLimit)> {
    let before = current()?;
    if before.soft >= before.hard {
        return Ok((before, before));
    }
    let raised = libc::rlimit {
        rlim_cur: before.hard,
        rlim_max: before.hard,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let after = FileLimit {
        soft: before.hard,
        hard: before.hard,
    };
    Ok((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() {
        let (before, after) = raise_to_hard().expect("raise");
        assert_eq!(after.soft, before.hard);
        assert_eq!(current().expect("read"), after);
    }
}
