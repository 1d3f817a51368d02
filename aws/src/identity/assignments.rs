//! USER account assignments: checking, creating and deleting them, and waiting for Identity
//! Center to finish (both changes are asynchronous on AWS).

use std::time::Instant;

use aws_sdk_ssoadmin::types::{
    AccountAssignmentOperationStatus, PrincipalType, StatusValues, TargetType,
};
use liftgate_gateway::ports::{IdentityError, ProvisionReceipt};

use super::AwsIdentityCenter;
use super::errors::{classify, has_code};
use super::retry::{PollSchedule, retry_refused};

/// Which asynchronous change is being waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Create,
    Delete,
}

impl Change {
    fn describe_operation(self) -> &'static str {
        match self {
            Change::Create => "DescribeAccountAssignmentCreationStatus",
            Change::Delete => "DescribeAccountAssignmentDeletionStatus",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Delete => "delete",
        }
    }
}

fn failure_reason(status: &AccountAssignmentOperationStatus) -> &str {
    status
        .failure_reason()
        .filter(|reason| !reason.is_empty())
        .unwrap_or("no reason given")
}

impl AwsIdentityCenter {
    /// Whether the user itself (not one of its groups) holds the assignment. Uses
    /// `ListAccountAssignments` for the account and permission set, which lists exactly the
    /// direct assignments on real AWS and on emulators alike.
    pub(crate) async fn user_assignment_exists(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<bool, IdentityError> {
        let mut pages = self
            .clients
            .sso_admin
            .list_account_assignments()
            .instance_arn(&self.config.instance_arn)
            .account_id(account_id)
            .permission_set_arn(permission_set_arn)
            .set_max_results(self.tuning.page_size)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| classify("ListAccountAssignments", error))?;
            let found = page.account_assignments().iter().any(|assignment| {
                assignment.principal_type() == Some(&PrincipalType::User)
                    && assignment.principal_id() == Some(user_id)
            });
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(crate) async fn create_user_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        let started = retry_refused(&self.tuning, "CreateAccountAssignment", || async {
            self.clients
                .sso_admin
                .create_account_assignment()
                .instance_arn(&self.config.instance_arn)
                .target_type(TargetType::AwsAccount)
                .target_id(account_id)
                .permission_set_arn(permission_set_arn)
                .principal_type(PrincipalType::User)
                .principal_id(user_id)
                .send()
                .await
                .map_err(|error| classify("CreateAccountAssignment", error))?
                .account_assignment_creation_status
                .ok_or_else(|| {
                    IdentityError::Unavailable(
                        "CreateAccountAssignment returned no status".to_owned(),
                    )
                })
        })
        .await?;
        let request_id = started.request_id().map(str::to_owned);
        let finished = self.await_outcome(Change::Create, started).await?;
        match finished.status() {
            Some(StatusValues::Succeeded) => {
                tracing::info!(
                    account_id,
                    permission_set_arn,
                    user_id,
                    sso_request_id = request_id.as_deref().unwrap_or(""),
                    "Account assignment created."
                );
                Ok(ProvisionReceipt { request_id })
            }
            _ => {
                let reason = failure_reason(&finished);
                tracing::warn!(
                    account_id,
                    permission_set_arn,
                    user_id,
                    reason,
                    "Account assignment creation failed."
                );
                Err(IdentityError::Failed(format!(
                    "Identity Center could not create the assignment: {reason}"
                )))
            }
        }
    }

    /// Deletes the assignment; one that is already gone is success, with no request id.
    pub(crate) async fn delete_user_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        let started = retry_refused(&self.tuning, "DeleteAccountAssignment", || async {
            let result = self
                .clients
                .sso_admin
                .delete_account_assignment()
                .instance_arn(&self.config.instance_arn)
                .target_type(TargetType::AwsAccount)
                .target_id(account_id)
                .permission_set_arn(permission_set_arn)
                .principal_type(PrincipalType::User)
                .principal_id(user_id)
                .send()
                .await;
            match result {
                Ok(output) => output
                    .account_assignment_deletion_status
                    .map(Some)
                    .ok_or_else(|| {
                        IdentityError::Unavailable(
                            "DeleteAccountAssignment returned no status".to_owned(),
                        )
                    }),
                Err(error) if has_code(&error, "ResourceNotFoundException") => Ok(None),
                Err(error) => Err(classify("DeleteAccountAssignment", error)),
            }
        })
        .await?;
        let Some(started) = started else {
            tracing::info!(
                account_id,
                permission_set_arn,
                user_id,
                "Account assignment already gone."
            );
            return Ok(ProvisionReceipt { request_id: None });
        };
        let request_id = started.request_id().map(str::to_owned);
        let finished = self.await_outcome(Change::Delete, started).await?;
        match finished.status() {
            Some(StatusValues::Succeeded) => {
                tracing::info!(
                    account_id,
                    permission_set_arn,
                    user_id,
                    sso_request_id = request_id.as_deref().unwrap_or(""),
                    "Account assignment deleted."
                );
                Ok(ProvisionReceipt { request_id })
            }
            _ => {
                let reason = failure_reason(&finished).to_owned();
                // A deletion can fail because the assignment vanished meanwhile: that is the
                // outcome the caller wanted.
                if !self
                    .user_assignment_exists(account_id, permission_set_arn, user_id)
                    .await?
                {
                    tracing::info!(account_id, permission_set_arn, user_id, %reason, "Deletion failed, but the assignment is gone.");
                    return Ok(ProvisionReceipt { request_id });
                }
                tracing::warn!(account_id, permission_set_arn, user_id, %reason, "Account assignment deletion failed.");
                Err(IdentityError::Failed(format!(
                    "Identity Center could not delete the assignment: {reason}"
                )))
            }
        }
    }

    /// Polls the operation's status with growing waits until it succeeded or failed, or until
    /// `provisioning_timeout` passed (then the outcome is unknown: `Unavailable`, retry later).
    async fn await_outcome(
        &self,
        change: Change,
        mut status: AccountAssignmentOperationStatus,
    ) -> Result<AccountAssignmentOperationStatus, IdentityError> {
        let deadline = Instant::now() + self.tuning.provisioning_timeout;
        let mut schedule = PollSchedule::new(&self.tuning);
        loop {
            if matches!(
                status.status(),
                Some(StatusValues::Succeeded | StatusValues::Failed)
            ) {
                return Ok(status);
            }
            let request_id = status.request_id().map(str::to_owned).ok_or_else(|| {
                IdentityError::Unavailable(format!(
                    "Identity Center did not say which {} request to wait for",
                    change.verb()
                ))
            })?;
            let wait = schedule.next_wait();
            if Instant::now() + wait > deadline {
                tracing::warn!(sso_request_id = %request_id, change = change.verb(), "Gave up waiting for Identity Center.");
                return Err(IdentityError::Unavailable(format!(
                    "the assignment {} request {request_id} was still in progress after {} s",
                    change.verb(),
                    self.tuning.provisioning_timeout.as_secs_f32()
                )));
            }
            tokio::time::sleep(wait).await;
            match self.operation_status(change, &request_id).await {
                Ok(latest) => status = latest,
                // A throttled or failed poll says nothing about the operation: poll again.
                Err(error) if error.is_retryable() => {
                    tracing::info!(sso_request_id = %request_id, %error, "Status poll failed; polling again.");
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn operation_status(
        &self,
        change: Change,
        request_id: &str,
    ) -> Result<AccountAssignmentOperationStatus, IdentityError> {
        let sso_admin = &self.clients.sso_admin;
        let missing = || {
            IdentityError::Unavailable(format!(
                "{} returned no status",
                change.describe_operation()
            ))
        };
        match change {
            Change::Create => sso_admin
                .describe_account_assignment_creation_status()
                .instance_arn(&self.config.instance_arn)
                .account_assignment_creation_request_id(request_id)
                .send()
                .await
                .map_err(|error| classify("DescribeAccountAssignmentCreationStatus", error))?
                .account_assignment_creation_status
                .ok_or_else(missing),
            Change::Delete => sso_admin
                .describe_account_assignment_deletion_status()
                .instance_arn(&self.config.instance_arn)
                .account_assignment_deletion_request_id(request_id)
                .send()
                .await
                .map_err(|error| classify("DescribeAccountAssignmentDeletionStatus", error))?
                .account_assignment_deletion_status
                .ok_or_else(missing),
        }
    }
}
