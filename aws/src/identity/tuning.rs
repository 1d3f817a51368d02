//! Timings and limits of the Identity Center executor. Production defaults; tests shrink them
//! so polling and retry paths run in milliseconds.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct IdentityCenterTuning {
    /// Upper bound on waiting for an assignment creation or deletion to finish
    /// (`aws.provisioning_timeout`).
    pub provisioning_timeout: Duration,
    /// First wait between status polls; doubles up to `poll_max_interval`.
    pub poll_initial_interval: Duration,
    pub poll_max_interval: Duration,
    /// Attempts, in all, for a change that AWS refuses with a conflict (another operation on
    /// the same assignment in progress) or throttling, on top of the SDK's own retries.
    pub change_attempts: u32,
    /// First wait before retrying such a change; doubles (with jitter) up to `retry_max_delay`.
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// How long found users and accounts are remembered.
    pub directory_cache_ttl: Duration,
    /// How long the permission-set catalog is used before it is reloaded.
    pub catalog_cache_ttl: Duration,
    /// A name missing from the catalog reloads it at most this often, so a flood of unknown
    /// names cannot hammer the API.
    pub catalog_min_refresh_interval: Duration,
    /// `MaxResults` for list calls; `None` uses the service's default page size.
    pub page_size: Option<i32>,
    /// How many `DescribePermissionSet` calls run at once while loading the catalog.
    pub describe_concurrency: usize,
}

impl Default for IdentityCenterTuning {
    fn default() -> Self {
        IdentityCenterTuning {
            provisioning_timeout: Duration::from_secs(120),
            poll_initial_interval: Duration::from_millis(500),
            poll_max_interval: Duration::from_secs(5),
            change_attempts: 5,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(8),
            directory_cache_ttl: Duration::from_secs(300),
            catalog_cache_ttl: Duration::from_secs(600),
            catalog_min_refresh_interval: Duration::from_secs(30),
            page_size: None,
            describe_concurrency: 8,
        }
    }
}

impl IdentityCenterTuning {
    /// Millisecond waits and a short provisioning timeout, for tests.
    pub fn fast() -> IdentityCenterTuning {
        IdentityCenterTuning {
            provisioning_timeout: Duration::from_secs(2),
            poll_initial_interval: Duration::from_millis(1),
            poll_max_interval: Duration::from_millis(5),
            change_attempts: 4,
            retry_base_delay: Duration::from_millis(1),
            retry_max_delay: Duration::from_millis(5),
            ..IdentityCenterTuning::default()
        }
    }
}
