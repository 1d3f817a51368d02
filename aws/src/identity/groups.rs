//! Groups and group memberships in the identity store.

use std::collections::BTreeSet;

use aws_sdk_identitystore::types::MemberId;
use liftgate_gateway::ports::{GroupInfo, IdentityError};

use super::AwsIdentityCenter;
use super::errors::{classify, has_code};
use super::retry::retry_refused;

/// `IsMemberInGroups` takes at most this many group ids per call.
const MEMBERSHIP_BATCH: usize = 100;

impl AwsIdentityCenter {
    pub(crate) async fn groups_of_user(
        &self,
        user_id: &str,
        candidates: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, IdentityError> {
        let candidates: Vec<String> = candidates.iter().cloned().collect();
        let mut member_of = BTreeSet::new();
        for batch in candidates.chunks(MEMBERSHIP_BATCH) {
            match self.memberships_in(user_id, batch).await {
                Ok(found) => member_of.extend(found),
                // One stale or malformed group id in the rules must not make every lookup
                // fail: ask about each group alone and treat the unknown ones as "not a member".
                Err(Refusal::UnknownGroup) => {
                    for group in batch {
                        match self
                            .memberships_in(user_id, std::slice::from_ref(group))
                            .await
                        {
                            Ok(found) => member_of.extend(found),
                            Err(Refusal::UnknownGroup) => {
                                tracing::warn!(group_id = %group, "A group named in the rules does not exist.");
                            }
                            Err(Refusal::Other(error)) => return Err(error),
                        }
                    }
                }
                Err(Refusal::Other(error)) => return Err(error),
            }
        }
        Ok(member_of)
    }

    async fn memberships_in(
        &self,
        user_id: &str,
        groups: &[String],
    ) -> Result<Vec<String>, Refusal> {
        let result = self
            .clients
            .identity_store
            .is_member_in_groups()
            .identity_store_id(&self.config.identity_store_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .set_group_ids(Some(groups.to_vec()))
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .results()
                .iter()
                .filter(|result| result.membership_exists())
                .filter_map(|result| result.group_id().map(str::to_owned))
                .filter(|group| groups.contains(group))
                .collect()),
            Err(error)
                if has_code(&error, "ResourceNotFoundException")
                    || has_code(&error, "ValidationException") =>
            {
                Err(Refusal::UnknownGroup)
            }
            Err(error) => Err(Refusal::Other(classify("IsMemberInGroups", error))),
        }
    }

    pub(crate) async fn group(&self, group_id: &str) -> Result<Option<GroupInfo>, IdentityError> {
        let result = self
            .clients
            .identity_store
            .describe_group()
            .identity_store_id(&self.config.identity_store_id)
            .group_id(group_id)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(GroupInfo {
                id: output.group_id().to_owned(),
                name: output
                    .display_name()
                    .unwrap_or(output.group_id())
                    .to_owned(),
            })),
            // A malformed id names no group either.
            Err(error)
                if has_code(&error, "ResourceNotFoundException")
                    || has_code(&error, "ValidationException") =>
            {
                Ok(None)
            }
            Err(error) => Err(classify("DescribeGroup", error)),
        }
    }

    pub(crate) async fn membership_of(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, IdentityError> {
        let result = self
            .clients
            .identity_store
            .get_group_membership_id()
            .identity_store_id(&self.config.identity_store_id)
            .group_id(group_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(output.membership_id().to_owned())),
            Err(error) if has_code(&error, "ResourceNotFoundException") => Ok(None),
            Err(error) => Err(classify("GetGroupMembershipId", error)),
        }
    }

    /// Adds the user to the group. When AWS answers that the membership already exists, its
    /// id is returned: the caller wanted the user in the group, and the user is.
    pub(crate) async fn add_user_to_group(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<String, IdentityError> {
        retry_refused(&self.tuning, "CreateGroupMembership", || async {
            let result = self
                .clients
                .identity_store
                .create_group_membership()
                .identity_store_id(&self.config.identity_store_id)
                .group_id(group_id)
                .member_id(MemberId::UserId(user_id.to_owned()))
                .send()
                .await;
            match result {
                Ok(output) => {
                    tracing::info!(group_id, user_id, membership_id = output.membership_id(), "Group membership created.");
                    Ok(output.membership_id().to_owned())
                }
                Err(error) if has_code(&error, "ConflictException") => {
                    if let Some(existing) = self.membership_of(group_id, user_id).await? {
                        tracing::info!(group_id, user_id, membership_id = %existing, "The user already is a member.");
                        return Ok(existing);
                    }
                    // A concurrent change, not an existing membership: retried.
                    Err(classify("CreateGroupMembership", error))
                }
                Err(error) => Err(classify("CreateGroupMembership", error)),
            }
        })
        .await
    }

    /// Removes a membership; one that is already gone is success.
    pub(crate) async fn remove_membership(&self, membership_id: &str) -> Result<(), IdentityError> {
        retry_refused(&self.tuning, "DeleteGroupMembership", || async {
            let result = self
                .clients
                .identity_store
                .delete_group_membership()
                .identity_store_id(&self.config.identity_store_id)
                .membership_id(membership_id)
                .send()
                .await;
            match result {
                Ok(_) => {
                    tracing::info!(membership_id, "Group membership deleted.");
                    Ok(())
                }
                Err(error) if has_code(&error, "ResourceNotFoundException") => {
                    tracing::info!(membership_id, "Group membership already gone.");
                    Ok(())
                }
                Err(error) => Err(classify("DeleteGroupMembership", error)),
            }
        })
        .await
    }
}

/// Why a membership question got no answer.
enum Refusal {
    /// The call named a group that does not exist (or is not a group id).
    UnknownGroup,
    Other(IdentityError),
}
