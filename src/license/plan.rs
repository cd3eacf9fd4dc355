//! Plans and their limits: what a license allows, and the starter limits without one.

use serde::{Deserialize, Serialize};

/// How many objects the API inventory may hold; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Limits {
    pub routers: Option<u64>,
    pub servers: Option<u64>,
    /// Users are live API tokens.
    pub users: Option<u64>,
}

/// The plans sold. A license names its plan and carries its own limits (which may differ from
/// the plan's defaults: a vendor can sell a starter plan with 20 routers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Starter,
    Professional,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Starter, Plan::Professional, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Professional => "professional",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(text: &str) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The plan's published limits. Servers are limited like routers: a plan sold for N
    /// routers monitors N servers too (the issue names only routers and users).
    pub fn default_limits(self) -> Limits {
        match self {
            Plan::Starter => Limits {
                routers: Some(10),
                servers: Some(10),
                users: Some(5),
            },
            Plan::Professional => Limits {
                routers: Some(100),
                servers: Some(100),
                users: Some(25),
            },
            Plan::Enterprise => Limits {
                routers: None,
                servers: None,
                users: None,
            },
        }
    }
}

/// The limits in force without a valid license: the starter plan's.
pub fn unlicensed_limits() -> Limits {
    Plan::Starter.default_limits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_round_trip_and_have_the_published_limits() {
        for plan in Plan::ALL {
            assert_eq!(Plan::parse(plan.as_str()), Some(plan));
        }
        assert_eq!(Plan::parse("Starter"), None);
        assert_eq!(Plan::Starter.default_limits().routers, Some(10));
        assert_eq!(Plan::Starter.default_limits().users, Some(5));
        assert_eq!(Plan::Professional.default_limits().routers, Some(100));
        assert_eq!(Plan::Professional.default_limits().users, Some(25));
        assert_eq!(Plan::Enterprise.default_limits().routers, None);
        assert_eq!(unlicensed_limits(), Plan::Starter.default_limits());
    }
}
