//! The organization's accounts, from Organizations, remembered for a few minutes.

use std::time::{Duration, Instant};

use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};
use liftgate_gateway::ports::{AccountInfo, IdentityError};

use super::AwsIdentityCenter;
use super::cache::TtlCache;
use super::errors::classify;

#[derive(Debug)]
pub(crate) struct AccountDirectory {
    ttl: Duration,
    by_id: TtlCache<AccountInfo>,
    /// Held while the list loads, so concurrent form renders share one load.
    list: tokio::sync::Mutex<Option<(Instant, Vec<AccountInfo>)>>,
}

impl AccountDirectory {
    pub(crate) fn new(ttl: Duration) -> AccountDirectory {
        AccountDirectory {
            ttl,
            by_id: TtlCache::new(ttl),
            list: tokio::sync::Mutex::new(None),
        }
    }
}

fn account_info(account: &Account) -> Option<AccountInfo> {
    let id = account.id()?.to_owned();
    let name = account
        .name()
        .filter(|name| !name.is_empty())
        .unwrap_or(&id)
        .to_owned();
    Some(AccountInfo {
        id: id.into(),
        name: name.into(),
    })
}

/// Suspended and closing accounts cannot be used; forms leave them out.
fn is_usable(account: &Account) -> bool {
    let state_ok = !matches!(
        account.state(),
        Some(AccountState::Suspended | AccountState::Closed | AccountState::PendingClosure)
    );
    let status_ok = !matches!(
        account.status(),
        Some(AccountStatus::Suspended | AccountStatus::PendingClosure)
    );
    state_ok && status_ok
}

impl AwsIdentityCenter {
    pub(crate) async fn account(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountInfo>, IdentityError> {
        if let Some(account) = self.accounts.by_id.get(account_id) {
            return Ok(Some(account));
        }
        let result = self
            .clients
            .organizations
            .describe_account()
            .account_id(account_id)
            .send()
            .await;
        match result {
            Ok(output) => {
                let account = output.account().and_then(account_info);
                if let Some(account) = &account {
                    self.accounts.by_id.put(account_id, account.clone());
                }
                Ok(account)
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_account_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify("DescribeAccount", error)),
        }
    }

    pub(crate) async fn all_accounts(&self) -> Result<Vec<AccountInfo>, IdentityError> {
        let mut list = self.accounts.list.lock().await;
        if let Some((loaded_at, accounts)) = list.as_ref()
            && loaded_at.elapsed() < self.accounts.ttl
        {
            return Ok(accounts.clone());
        }
        let mut accounts = Vec::new();
        let mut pages = self
            .clients
            .organizations
            .list_accounts()
            .set_max_results(self.tuning.page_size)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| classify("ListAccounts", error))?;
            accounts.extend(
                page.accounts()
                    .iter()
                    .filter(|account| is_usable(account))
                    .filter_map(account_info),
            );
        }
        accounts.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.id.cmp(&b.id))
        });
        for account in &accounts {
            self.accounts.by_id.put(&account.id, account.clone());
        }
        tracing::debug!(accounts = accounts.len(), "Organization accounts loaded.");
        if !self.accounts.ttl.is_zero() {
            *list = Some((Instant::now(), accounts.clone()));
        }
        Ok(accounts)
    }
}
