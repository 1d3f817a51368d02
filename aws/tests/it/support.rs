//! Building the executor on a moto server.

use liftgate_aws::{
    AwsClients, AwsIdentityCenter, IdentityCenterConfig, IdentityCenterTuning, IdentityClients,
};
use liftgate_gateway::config::UserAttribute;
use liftgate_testkit::moto::{MotoServer, REGION, Seed};

/// The executor on `moto`'s default instance, with fast tuning, adjusted by `adjust`.
pub(crate) async fn identity_on(
    moto: &MotoServer,
    seed: &Seed,
    adjust: impl FnOnce(&mut IdentityCenterConfig, &mut IdentityCenterTuning),
) -> AwsIdentityCenter {
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    let mut config = IdentityCenterConfig {
        instance_arn: seed.instance_arn.clone(),
        identity_store_id: seed.identity_store_id.clone(),
        user_attribute: UserAttribute::Email,
        fallback_email_domains: Vec::new(),
    };
    let mut tuning = IdentityCenterTuning::fast();
    adjust(&mut config, &mut tuning);
    AwsIdentityCenter::from_parts(IdentityClients::from(&clients), config, tuning)
}

pub(crate) fn email(text: &str) -> liftgate_policy::Email {
    liftgate_policy::Email::parse(text).unwrap()
}
