//! Listing what Identity Center holds in scope: USER account assignments per (account,
//! permission set) pair and user memberships per group, page by page, concurrently.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use futures_util::stream;

use super::calls::Calls;
use super::scope::{Pair, PruningStrategy, Scope};
use crate::domain::{AccessKey, GrantTarget};
use crate::ports::{AccessInventory, AssignedPrincipal, IdentityError, Page};

/// A listing that keeps answering with more pages is cut off here (a broken token loop).
const MAX_PAGES: usize = 10_000;

/// One thing to list: the assignments of a pair, or the members of a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Unit {
    Pair {
        account_id: String,
        permission_set: String,
        permission_set_arn: String,
    },
    Group {
        group_id: String,
    },
}

impl Unit {
    /// A stable name, also kept with remembered findings.
    pub(crate) fn id(&self) -> String {
        match self {
            Unit::Pair {
                account_id,
                permission_set,
                ..
            } => unit_of_pair(account_id, permission_set),
            Unit::Group { group_id } => unit_of_group(group_id),
        }
    }

    fn describe(&self) -> String {
        match self {
            Unit::Pair {
                account_id,
                permission_set,
                ..
            } => format!("account {account_id} / permission set {permission_set}"),
            Unit::Group { group_id } => format!("group {group_id}"),
        }
    }
}

pub(crate) fn unit_of_pair(account_id: &str, permission_set: &str) -> String {
    format!("pair:{account_id}:{permission_set}")
}

pub(crate) fn unit_of_group(group_id: &str) -> String {
    format!("group:{group_id}")
}

/// Access held by a user, as found in Identity Center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    /// The same key as [`crate::domain::Grant::access_key`] of a grant for this access.
    pub(crate) key: AccessKey,
    pub(crate) unit: String,
    pub(crate) user_id: String,
    pub(crate) target: ObservedTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ObservedTarget {
    Account {
        account_id: String,
        permission_set: String,
        permission_set_arn: String,
    },
    Group {
        group_id: String,
        /// Every membership of the user in the group (emulators may hold duplicates).
        membership_ids: Vec<String>,
    },
}

impl ObservedTarget {
    /// The grant target naming the same access, for audit records.
    pub(crate) fn grant_target(&self, group_name: Option<String>) -> GrantTarget {
        match self {
            ObservedTarget::Account {
                account_id,
                permission_set,
                permission_set_arn,
            } => GrantTarget::Account {
                account_id: account_id.clone(),
                permission_set: permission_set.clone(),
                permission_set_arn: Some(permission_set_arn.clone()),
            },
            ObservedTarget::Group {
                group_id,
                membership_ids,
            } => GrantTarget::Group {
                group_id: group_id.clone(),
                group_name,
                membership_id: membership_ids.first().cloned(),
            },
        }
    }
}

/// The access key of an account assignment, the same as a grant's for it.
pub(crate) fn account_key(account_id: &str, permission_set: &str, user_id: &str) -> AccessKey {
    AccessKey::account(account_id, permission_set, user_id)
}

/// The access key of a group membership, the same as a grant's for it.
pub(crate) fn group_key(group_id: &str, user_id: &str) -> AccessKey {
    AccessKey::group(group_id, user_id)
}

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct ScanResult {
    /// Access by key (duplicates merged).
    pub(crate) observed: BTreeMap<AccessKey, Observed>,
    /// Units listed completely (including pairs pruned as not provisioned).
    pub(crate) complete_units: BTreeSet<String>,
    /// Problems of single units or pruning queries, for the report.
    pub(crate) errors: Vec<String>,
    pub(crate) pairs_listed: usize,
}

/// Follows `next_token` until the last page.
async fn all_pages<T, F, Fut>(
    calls: &Calls,
    operation: &'static str,
    mut page: F,
) -> Result<Vec<T>, IdentityError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, IdentityError>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let current = token.clone();
        let answer = calls.call(operation, || page(current.clone())).await?;
        items.extend(answer.items);
        match answer.next_token.filter(|next| !next.is_empty()) {
            Some(next) if Some(&next) != token.as_ref() => token = Some(next),
            Some(_) => {
                return Err(IdentityError::Failed(format!(
                    "{operation} returned the same page token twice"
                )));
            }
            None => return Ok(items),
        }
    }
    Err(IdentityError::Failed(format!(
        "{operation} returned more than {MAX_PAGES} pages"
    )))
}

/// Asks where permission sets are provisioned and returns the pairs worth listing.
pub(crate) async fn prune_pairs(
    inventory: &dyn AccessInventory,
    calls: &Calls,
    scope: &Scope,
    strategy: PruningStrategy,
    concurrency: usize,
    errors: &mut Vec<String>,
) -> BTreeSet<Pair> {
    let name_by_arn: BTreeMap<&String, &String> =
        scope.arns.iter().map(|(name, arn)| (arn, name)).collect();
    let keys: BTreeSet<String> = match strategy {
        PruningStrategy::ByPermissionSet => scope.pairs.iter().map(|(_, s)| s.clone()).collect(),
        PruningStrategy::ByAccount => scope.pairs.iter().map(|(a, _)| a.clone()).collect(),
        PruningStrategy::Disabled | PruningStrategy::NotUseful => return scope.pairs.clone(),
    };
    let answers: Vec<(String, Result<BTreeSet<String>, IdentityError>)> = stream::iter(keys)
        .map(|key| async {
            let answer = match strategy {
                PruningStrategy::ByPermissionSet => {
                    let arn = scope.arns.get(&key).cloned().unwrap_or_default();
                    all_pages(calls, "ListAccountsForProvisionedPermissionSet", |token| {
                        inventory.accounts_for_provisioned_permission_set(&arn, token)
                    })
                    .await
                    .map(|accounts| accounts.into_iter().collect())
                }
                _ => all_pages(calls, "ListPermissionSetsProvisionedToAccount", |token| {
                    inventory.permission_sets_provisioned_to_account(&key, token)
                })
                .await
                .map(|arns| {
                    arns.iter()
                        .filter_map(|arn| name_by_arn.get(arn).map(|name| (*name).clone()))
                        .collect()
                }),
            };
            (key, answer)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut known = BTreeMap::new();
    for (key, answer) in answers {
        match answer {
            Ok(found) => {
                known.insert(key, Some(found));
            }
            Err(error) => {
                tracing::warn!(key = %key, %error, "Provisioning query failed; listing every pair it covers.");
                errors.push(format!(
                    "pruning query for {key} failed (its pairs were listed anyway): {error}"
                ));
                known.insert(key, None);
            }
        }
    }
    super::scope::prune(&scope.pairs, strategy, &known)
}

/// Lists every unit, `concurrency` at a time. A unit that fails is reported and left out; the
/// rest of the scan goes on.
pub(crate) async fn scan(
    inventory: &dyn AccessInventory,
    calls: &Calls,
    scope: &Scope,
    listed_pairs: &BTreeSet<Pair>,
    concurrency: usize,
) -> ScanResult {
    let mut result = ScanResult {
        pairs_listed: listed_pairs.len(),
        ..ScanResult::default()
    };
    // Pairs pruned away are known to hold nothing.
    for (account, set) in scope.pairs.difference(listed_pairs) {
        result.complete_units.insert(unit_of_pair(account, set));
    }
    let units: Vec<Unit> = listed_pairs
        .iter()
        .filter_map(|(account_id, permission_set)| {
            scope.arns.get(permission_set).map(|arn| Unit::Pair {
                account_id: account_id.clone(),
                permission_set: permission_set.clone(),
                permission_set_arn: arn.clone(),
            })
        })
        .chain(scope.groups.iter().map(|group_id| Unit::Group {
            group_id: group_id.clone(),
        }))
        .collect();
    let listed: Vec<(Unit, Result<Vec<Observed>, IdentityError>)> = stream::iter(units)
        .map(|unit| async {
            let found = list_unit(inventory, calls, &unit).await;
            (unit, found)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (unit, found) in listed {
        match found {
            Ok(found) => {
                result.complete_units.insert(unit.id());
                for observed in found {
                    merge(&mut result.observed, observed);
                }
            }
            Err(error) => {
                tracing::warn!(unit = %unit.id(), %error, "Could not list a unit of the reconciliation scope.");
                result
                    .errors
                    .push(format!("could not list {}: {error}", unit.describe()));
            }
        }
    }
    result
}

fn merge(observed: &mut BTreeMap<AccessKey, Observed>, found: Observed) {
    match observed.get_mut(&found.key) {
        Some(existing) => {
            if let (
                ObservedTarget::Group { membership_ids, .. },
                ObservedTarget::Group {
                    membership_ids: more,
                    ..
                },
            ) = (&mut existing.target, found.target)
            {
                for id in more {
                    if !membership_ids.contains(&id) {
                        membership_ids.push(id);
                    }
                }
            }
        }
        None => {
            observed.insert(found.key.clone(), found);
        }
    }
}

async fn list_unit(
    inventory: &dyn AccessInventory,
    calls: &Calls,
    unit: &Unit,
) -> Result<Vec<Observed>, IdentityError> {
    let unit_id = unit.id();
    match unit {
        Unit::Pair {
            account_id,
            permission_set,
            permission_set_arn,
        } => {
            let principals = all_pages(calls, "ListAccountAssignments", |token| {
                inventory.account_assignments(account_id, permission_set_arn, token)
            })
            .await?;
            Ok(principals
                .into_iter()
                .filter_map(|principal| match principal {
                    AssignedPrincipal::User(user_id) => Some(Observed {
                        key: account_key(account_id, permission_set, &user_id),
                        unit: unit_id.clone(),
                        user_id,
                        target: ObservedTarget::Account {
                            account_id: account_id.clone(),
                            permission_set: permission_set.clone(),
                            permission_set_arn: permission_set_arn.clone(),
                        },
                    }),
                    // Group assignments are permanent access managed outside Liftgate.
                    AssignedPrincipal::Group(_) => None,
                })
                .collect())
        }
        Unit::Group { group_id } => {
            let members = all_pages(calls, "ListGroupMemberships", |token| {
                inventory.group_members(group_id, token)
            })
            .await?;
            Ok(members
                .into_iter()
                .map(|member| Observed {
                    key: group_key(group_id, &member.user_id),
                    unit: unit_id.clone(),
                    user_id: member.user_id,
                    target: ObservedTarget::Group {
                        group_id: group_id.clone(),
                        membership_ids: vec![member.membership_id],
                    },
                })
                .collect())
        }
    }
}
