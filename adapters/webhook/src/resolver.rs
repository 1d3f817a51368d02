//! The DNS resolver of subscriber deliveries: a subscriber's name may resolve to anything its
//! DNS owner chooses, including the instance metadata endpoint (the credentials of the role
//! Liftgate runs as). Addresses `forbidden_address` names are dropped; a name that resolves only
//! to them fails to connect. reqwest's `Resolve` hook is the one place every connection's
//! addresses pass through (redirects are off, so no other name is followed).

use std::net::SocketAddr;

use liftgate_gateway::http::forbidden_address;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoMetadataResolver;

/// The addresses a connection may use, or why none.
pub(crate) fn admissible(
    name: &str,
    addresses: impl IntoIterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, String> {
    let all: Vec<SocketAddr> = addresses.into_iter().collect();
    let allowed: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|address| !forbidden_address(address.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(if all.is_empty() {
            format!("{name} did not resolve")
        } else {
            format!(
                "{name} resolves only to link-local or metadata addresses, which Liftgate never calls"
            )
        });
    }
    Ok(allowed)
}

impl Resolve for NoMetadataResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = admissible(&host, found)?;
            let addresses: Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_addresses_are_dropped_and_a_name_with_only_those_fails() {
        let metadata: SocketAddr = "169.254.169.254:0".parse().unwrap();
        let metadata_v6: SocketAddr = "[fd00:ec2::254]:0".parse().unwrap();
        let public: SocketAddr = "203.0.113.7:0".parse().unwrap();
        assert_eq!(
            admissible("hooks.example.com", [metadata, public, metadata_v6]).unwrap(),
            vec![public]
        );
        let error = admissible("evil.example.com", [metadata, metadata_v6]).unwrap_err();
        assert!(error.contains("metadata"), "{error}");
    }

    #[tokio::test]
    async fn loopback_names_resolve() {
        let name: Name = "localhost".parse().unwrap();
        let addresses: Vec<SocketAddr> = NoMetadataResolver.resolve(name).await.unwrap().collect();
        assert!(addresses.iter().all(|address| address.ip().is_loopback()));
    }
}
