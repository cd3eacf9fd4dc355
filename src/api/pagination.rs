//! Query strings of list routes, checked parameter by parameter (repeatable ones included), and
//! the `limit`/`offset` page every list answers with.

use std::ops::Range;

use serde::Serialize;

use super::error::ApiError;

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// A query string as name/value pairs, every name checked against the route's parameters.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Parses `query`; a parameter not in `allowed` is a 422 naming it.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<QueryParams, ApiError> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        if let Some(name) = super::extract::parameter_with_nul(query) {
            return Err(ApiError::validation(name, super::extract::NUL_MESSAGE));
        }
        if let Some((name, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(ApiError::validation(
                name.clone(),
                format!(
                    "unknown query parameter {name:?} (expected one of: {})",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(QueryParams { pairs })
    }

    /// The value of a parameter given at most once.
    pub fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.all(name).into_iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::validation(
                name,
                format!("{name} is given more than once"),
            ));
        }
        Ok(first)
    }

    /// Every value of a repeatable parameter, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of `name`, which must be one of `choices`.
    pub fn choice<T: Copy>(
        &self,
        name: &str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, ApiError> {
        let Some(value) = self.one(name)? else {
            return Ok(None);
        };
        choices
            .iter()
            .find(|(text, _)| *text == value)
            .map(|(_, choice)| Some(*choice))
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(text, _)| *text).collect();
                ApiError::validation(
                    name,
                    format!("unknown {name} {value:?} (use {})", names.join(", ")),
                )
            })
    }
}

/// Which part of a list to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u64,
    pub offset: u64,
}

impl Page {
    /// `limit` (1 to 1000, default 100) and `offset` (default 0).
    pub fn from_params(params: &QueryParams) -> Result<Page, ApiError> {
        let limit = number(params, "limit")?.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::validation(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = number(params, "offset")?.unwrap_or(0);
        // Postgres takes the offset as a bigint.
        if offset > i64::MAX as u64 {
            return Err(ApiError::validation("offset", "is too large"));
        }
        Ok(Page { limit, offset })
    }
}

fn number(params: &QueryParams, name: &str) -> Result<Option<u64>, ApiError> {
    params
        .one(name)?
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                ApiError::validation(name, format!("{text:?} is not a non-negative integer"))
            })
        })
        .transpose()
}

/// Every list answer: one page of items and the total they are taken from.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Matching items in all, over every page.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

/// How one page spans the read-only file items (listed first) and the database ones after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The file items on this page.
    pub file: Range<usize>,
    /// Offset and limit of the database query.
    pub db_offset: u64,
    pub db_limit: u64,
}

pub fn split(page: Page, file_count: usize) -> Split {
    let file_count = file_count as u64;
    if page.offset >= file_count {
        return Split {
            file: 0..0,
            db_offset: page.offset - file_count,
            db_limit: page.limit,
        };
    }
    let file_end = (page.offset + page.limit).min(file_count);
    Split {
        // Invariant: both ends are at most `file_count`, which came from a usize.
        file: page.offset as usize..file_end as usize,
        db_offset: 0,
        db_limit: page.limit - (file_end - page.offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: u64, offset: u64) -> Page {
        Page { limit, offset }
    }

    #[test]
    fn pages_run_through_file_items_then_database_ones() {
        assert_eq!(
            split(page(10, 0), 3),
            Split {
                file: 0..3,
                db_offset: 0,
                db_limit: 7
            }
        );
        assert_eq!(
            split(page(2, 1), 3),
            Split {
                file: 1..3,
                db_offset: 0,
                db_limit: 0
            }
        );
        assert_eq!(
            split(page(5, 3), 3),
            Split {
                file: 0..0,
                db_offset: 0,
                db_limit: 5
            }
        );
        assert_eq!(
            split(page(5, 12), 3),
            Split {
                file: 0..0,
                db_offset: 9,
                db_limit: 5
            }
        );
    }

    #[test]
    fn parameters_are_checked_by_name() {
        let params = QueryParams::parse(
            Some("label=site%3Dams1&label=role=core&limit=5"),
            &["label", "limit", "offset"],
        )
        .unwrap();
        assert_eq!(params.all("label"), vec!["site=ams1", "role=core"]);
        assert_eq!(Page::from_params(&params).unwrap(), page(5, 0));
        let unknown = QueryParams::parse(Some("colour=red"), &["limit"]).unwrap_err();
        assert_eq!(unknown.field.as_deref(), Some("colour"));
        let twice = QueryParams::parse(Some("limit=1&limit=2"), &["limit"]).unwrap();
        assert_eq!(
            Page::from_params(&twice).unwrap_err().field.as_deref(),
            Some("limit")
        );
        for bad in ["limit=0", "limit=1001", "limit=-1", "offset=x"] {
            let params = QueryParams::parse(Some(bad), &["limit", "offset"]).unwrap();
            assert!(Page::from_params(&params).is_err(), "{bad}");
        }
        let params = QueryParams::parse(Some("source=disk"), &["source"]).unwrap();
        let err = params
            .choice("source", &[("file", 1), ("database", 2)])
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("source"));
    }
}
