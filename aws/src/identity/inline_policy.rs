//! A permission set's inline policy and its re-provisioning, for ending live role sessions
//! (docs/reference.md §6, `RevokeSessions`). Provisioning is asynchronous on AWS: it is polled
//! with the same growing waits and timeout as assignment changes.

use std::time::Instant;

use aws_sdk_ssoadmin::types::{PermissionSetProvisioningStatus, ProvisionTargetType, StatusValues};
use liftgate_gateway::ports::{IdentityError, Provisioned};

use super::AwsIdentityCenter;
use super::errors::{classify, has_code};
use super::retry::{PollSchedule, retry_refused};

impl AwsIdentityCenter {
    pub(crate) async fn get_inline_policy(
        &self,
        permission_set_arn: &str,
    ) -> Result<Option<String>, IdentityError> {
        let output = self
            .clients
            .sso_admin
            .get_inline_policy_for_permission_set()
            .instance_arn(&self.config.instance_arn)
            .permission_set_arn(permission_set_arn)
            .send()
            .await
            .map_err(|error| classify("GetInlinePolicyForPermissionSet", error))?;
        Ok(output
            .inline_policy()
            .filter(|policy| !policy.trim().is_empty())
            .map(str::to_owned))
    }

    pub(crate) async fn put_policy_document(
        &self,
        permission_set_arn: &str,
        document: &str,
    ) -> Result<(), IdentityError> {
        retry_refused(&self.tuning, "PutInlinePolicyToPermissionSet", || async {
            self.clients
                .sso_admin
                .put_inline_policy_to_permission_set()
                .instance_arn(&self.config.instance_arn)
                .permission_set_arn(permission_set_arn)
                .inline_policy(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|error| classify("PutInlinePolicyToPermissionSet", error))
        })
        .await
    }

    pub(crate) async fn delete_policy_document(
        &self,
        permission_set_arn: &str,
    ) -> Result<(), IdentityError> {
        retry_refused(
            &self.tuning,
            "DeleteInlinePolicyFromPermissionSet",
            || async {
                match self
                    .clients
                    .sso_admin
                    .delete_inline_policy_from_permission_set()
                    .instance_arn(&self.config.instance_arn)
                    .permission_set_arn(permission_set_arn)
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    // No inline policy to delete: the outcome wanted.
                    Err(error) if has_code(&error, "ResourceNotFoundException") => Ok(()),
                    Err(error) => Err(classify("DeleteInlinePolicyFromPermissionSet", error)),
                }
            },
        )
        .await
    }

    /// Every account the permission set is provisioned to (paginated).
    async fn provisioned_accounts(
        &self,
        permission_set_arn: &str,
    ) -> Result<Vec<String>, IdentityError> {
        let mut accounts = Vec::new();
        let mut pages = self
            .clients
            .sso_admin
            .list_accounts_for_provisioned_permission_set()
            .instance_arn(&self.config.instance_arn)
            .permission_set_arn(permission_set_arn)
            .set_max_results(self.tuning.page_size)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|error| classify("ListAccountsForProvisionedPermissionSet", error))?;
            accounts.extend(page.account_ids().iter().cloned());
        }
        Ok(accounts)
    }

    /// Provisions the set again to those of `accounts` it is provisioned to, one account at a
    /// time (Identity Center updates one role of an account at a time, and only the accounts
    /// whose statements changed need the new document), each polled until done.
    pub(crate) async fn reprovision_accounts(
        &self,
        permission_set_arn: &str,
        accounts: &[String],
    ) -> Result<Provisioned, IdentityError> {
        let provisioned = self.provisioned_accounts(permission_set_arn).await?;
        let mut done = Provisioned::default();
        for account in accounts
            .iter()
            .filter(|account| provisioned.contains(*account))
        {
            let started = retry_refused(&self.tuning, "ProvisionPermissionSet", || async {
                self.clients
                    .sso_admin
                    .provision_permission_set()
                    .instance_arn(&self.config.instance_arn)
                    .permission_set_arn(permission_set_arn)
                    .target_type(ProvisionTargetType::AwsAccount)
                    .target_id(account)
                    .send()
                    .await
                    .map_err(|error| classify("ProvisionPermissionSet", error))?
                    .permission_set_provisioning_status
                    .ok_or_else(|| {
                        IdentityError::Unavailable(
                            "ProvisionPermissionSet returned no status".to_owned(),
                        )
                    })
            })
            .await?;
            let finished = self.await_provisioning(started).await?;
            match finished.status() {
                Some(StatusValues::Succeeded) => {
                    let request_id = finished.request_id().unwrap_or_default().to_owned();
                    tracing::info!(permission_set_arn, account_id = %account, sso_request_id = %request_id, "Permission set provisioned again.");
                    done.accounts.push(account.clone());
                    done.request_ids.push(request_id);
                }
                _ => {
                    let reason = finished
                        .failure_reason()
                        .filter(|reason| !reason.is_empty())
                        .unwrap_or("no reason given");
                    tracing::warn!(permission_set_arn, account_id = %account, reason, "Permission set provisioning failed.");
                    return Err(IdentityError::Failed(format!(
                        "Identity Center could not provision the permission set to {account}: \
                         {reason}"
                    )));
                }
            }
        }
        Ok(done)
    }

    /// Polls `DescribePermissionSetProvisioningStatus` until the operation succeeded or
    /// failed, or `provisioning_timeout` passed (`Unavailable`: the outcome is unknown).
    async fn await_provisioning(
        &self,
        mut status: PermissionSetProvisioningStatus,
    ) -> Result<PermissionSetProvisioningStatus, IdentityError> {
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
                IdentityError::Unavailable(
                    "Identity Center did not say which provisioning request to wait for".to_owned(),
                )
            })?;
            let wait = schedule.next_wait();
            if Instant::now() + wait > deadline {
                return Err(IdentityError::Unavailable(format!(
                    "the permission set provisioning request {request_id} was still in progress \
                     after {} s",
                    self.tuning.provisioning_timeout.as_secs_f32()
                )));
            }
            tokio::time::sleep(wait).await;
            let polled = self
                .clients
                .sso_admin
                .describe_permission_set_provisioning_status()
                .instance_arn(&self.config.instance_arn)
                .provision_permission_set_request_id(&request_id)
                .send()
                .await
                .map_err(|error| classify("DescribePermissionSetProvisioningStatus", error));
            match polled {
                Ok(output) => {
                    status = output.permission_set_provisioning_status.ok_or_else(|| {
                        IdentityError::Unavailable(
                            "DescribePermissionSetProvisioningStatus returned no status".to_owned(),
                        )
                    })?;
                }
                Err(error) if error.is_retryable() => {
                    tracing::info!(sso_request_id = %request_id, %error, "Provisioning status poll failed; polling again.");
                }
                Err(error) => return Err(error),
            }
        }
    }
}
