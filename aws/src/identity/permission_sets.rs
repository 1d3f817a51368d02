//! Permission-set names to ARNs. Identity Center has no lookup by name, so the whole catalog
//! (`ListPermissionSets` + `DescribePermissionSet`) is loaded and kept; a name missing from
//! it reloads it, but not more often than `catalog_min_refresh_interval`.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream;
use liftgate_gateway::ports::IdentityError;

use super::AwsIdentityCenter;
use super::errors::{classify, has_code};

#[derive(Debug, Default)]
pub(crate) struct PermissionSetCatalog {
    /// Held during a reload, so concurrent lookups share one.
    state: tokio::sync::Mutex<CatalogState>,
}

#[derive(Debug, Default)]
struct CatalogState {
    arn_by_name: BTreeMap<String, String>,
    /// The last successful load.
    loaded_at: Option<Instant>,
    /// The last load attempt, successful or not.
    attempted_at: Option<Instant>,
}

impl PermissionSetCatalog {
    pub(crate) fn new() -> PermissionSetCatalog {
        PermissionSetCatalog::default()
    }
}

/// Whether to reload now.
enum Reload {
    /// The catalog is older than its time to live.
    Expired,
    /// A name was not found.
    Miss,
}

impl AwsIdentityCenter {
    pub(crate) async fn permission_set_arn_by_name(
        &self,
        name: &str,
    ) -> Result<Option<String>, IdentityError> {
        let mut state = self.catalog.state.lock().await;
        self.refresh(&mut state, Reload::Expired).await?;
        if let Some(arn) = state.arn_by_name.get(name) {
            return Ok(Some(arn.clone()));
        }
        self.refresh(&mut state, Reload::Miss).await?;
        Ok(state.arn_by_name.get(name).cloned())
    }

    pub(crate) async fn permission_set_names(&self) -> Result<Vec<String>, IdentityError> {
        let mut state = self.catalog.state.lock().await;
        self.refresh(&mut state, Reload::Expired).await?;
        Ok(state.arn_by_name.keys().cloned().collect())
    }

    async fn refresh(&self, state: &mut CatalogState, reason: Reload) -> Result<(), IdentityError> {
        let tuning = &self.tuning;
        let attempted_recently = state
            .attempted_at
            .is_some_and(|at| at.elapsed() < tuning.catalog_min_refresh_interval);
        let wanted = match reason {
            Reload::Expired => state
                .loaded_at
                .is_none_or(|at| at.elapsed() >= tuning.catalog_cache_ttl),
            Reload::Miss => true,
        };
        // Never loaded: always try. Otherwise at most once per minimum interval.
        if !wanted || (state.loaded_at.is_some() && attempted_recently) {
            return Ok(());
        }
        state.attempted_at = Some(Instant::now());
        match self.load_catalog().await {
            Ok(catalog) => {
                tracing::debug!(
                    permission_sets = catalog.len(),
                    "Permission-set catalog loaded."
                );
                state.arn_by_name = catalog;
                state.loaded_at = Some(Instant::now());
                Ok(())
            }
            Err(error) if state.loaded_at.is_some() => {
                tracing::warn!(%error, "Could not reload the permission-set catalog; using the previous one.");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn load_catalog(&self) -> Result<BTreeMap<String, String>, IdentityError> {
        let mut arns = Vec::new();
        let mut pages = self
            .clients
            .sso_admin
            .list_permission_sets()
            .instance_arn(&self.config.instance_arn)
            .set_max_results(self.tuning.page_size)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| classify("ListPermissionSets", error))?;
            arns.extend(page.permission_sets().iter().cloned());
        }
        let described: Vec<Result<Option<(String, String)>, IdentityError>> = stream::iter(arns)
            .map(|arn| self.describe_permission_set(arn))
            .buffer_unordered(self.tuning.describe_concurrency.max(1))
            .collect()
            .await;
        let mut catalog = BTreeMap::new();
        for entry in described {
            if let Some((name, arn)) = entry? {
                // Names are unique in an instance; keep the first if an emulator repeats one.
                catalog.entry(name).or_insert(arn);
            }
        }
        Ok(catalog)
    }

    async fn describe_permission_set(
        &self,
        arn: String,
    ) -> Result<Option<(String, String)>, IdentityError> {
        let result = self
            .clients
            .sso_admin
            .describe_permission_set()
            .instance_arn(&self.config.instance_arn)
            .permission_set_arn(&arn)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .permission_set()
                .and_then(|set| set.name())
                .map(|name| (name.to_owned(), arn))),
            // Deleted between the list and the describe.
            Err(error) if has_code(&error, "ResourceNotFoundException") => Ok(None),
            Err(error) => Err(classify("DescribePermissionSet", error)),
        }
    }
}

impl AwsIdentityCenter {
    /// `SessionDuration` of a permission set (`DescribePermissionSet`), for the activity
    /// summary's delay. `None` for a deleted permission set or an answer without one.
    pub(crate) async fn permission_set_session_duration(
        &self,
        arn: &str,
    ) -> Result<Option<std::time::Duration>, IdentityError> {
        let result = self
            .clients
            .sso_admin
            .describe_permission_set()
            .instance_arn(&self.config.instance_arn)
            .permission_set_arn(arn)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .permission_set()
                .and_then(|set| set.session_duration())
                .and_then(parse_session_duration)),
            Err(error) if has_code(&error, "ResourceNotFoundException") => Ok(None),
            Err(error) => Err(classify("DescribePermissionSet", error)),
        }
    }
}

/// An ISO-8601 duration as Identity Center writes `SessionDuration` (`PT1H`, `PT2H30M`,
/// `PT12H`); anything else is `None` (the caller falls back to its default).
pub(crate) fn parse_session_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.strip_prefix("PT")?;
    let mut seconds: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let (number, tail) = rest.split_at(digits);
        let value: u64 = number.parse().ok()?;
        let mut chars = tail.chars();
        let unit = match chars.next()? {
            'H' => 3600,
            'M' => 60,
            'S' => 1,
            _ => return None,
        };
        seconds = seconds.checked_add(value.checked_mul(unit)?)?;
        rest = chars.as_str();
    }
    (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::parse_session_duration;
    use std::time::Duration;

    #[test]
    fn session_durations_parse_as_identity_center_writes_them() {
        assert_eq!(
            parse_session_duration("PT1H"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_session_duration("PT2H30M"),
            Some(Duration::from_secs(9000))
        );
        assert_eq!(
            parse_session_duration("PT12H"),
            Some(Duration::from_secs(43200))
        );
        for bad in ["", "PT", "1H", "PT1D", "PTH", "PT0H", "P1D"] {
            assert_eq!(parse_session_duration(bad), None, "{bad}");
        }
    }
}
