//! Which Connector service URLs the adapter trusts. An activity names its `serviceUrl`, and
//! replies carry the bot's access token there, so a URL outside the allow-list would leak the
//! token: inbound activities naming one are refused, and nothing is ever sent to one.

use std::net::IpAddr;

use url::Url;

#[derive(Debug, Clone)]
pub(crate) struct ServiceUrlPolicy {
    allowed_hosts: Vec<String>,
}

impl ServiceUrlPolicy {
    pub(crate) fn new(allowed_hosts: &[String]) -> ServiceUrlPolicy {
        ServiceUrlPolicy {
            allowed_hosts: allowed_hosts
                .iter()
                .map(|host| host.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
        }
    }

    /// The URL as a base for Connector paths (with a trailing slash), if it may be used:
    /// `https` (plain `http` only to a loopback address, for local fakes), no credentials in
    /// it, and its host on the allow-list (exact match, case-insensitive).
    pub(crate) fn check(&self, service_url: &str) -> Result<Url, String> {
        let mut url = Url::parse(service_url.trim())
            .map_err(|error| format!("service URL {service_url:?} is not a URL: {error}"))?;
        let host = url
            .host_str()
            .map(|host| host.trim_end_matches('.').to_ascii_lowercase())
            .ok_or_else(|| format!("service URL {service_url:?} has no host"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            other => return Err(format!("service URL scheme {other:?} is not allowed")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("service URL carries credentials".to_owned());
        }
        if !self.allowed_hosts.iter().any(|allowed| allowed == &host) {
            return Err(format!(
                "service URL host {host:?} is not in teams.allowed_service_url_hosts"
            ));
        }
        url.set_query(None);
        url.set_fragment(None);
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }
}

/// Whether a host is this machine, where plain `http` cannot leak anything (local fakes).
pub(crate) fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ServiceUrlPolicy {
        ServiceUrlPolicy::new(&["smba.trafficmanager.net".to_owned(), "127.0.0.1".to_owned()])
    }

    #[test]
    fn allowed_hosts_pass_with_a_trailing_slash() {
        let url = policy()
            .check("https://SMBA.trafficmanager.net/teams")
            .unwrap();
        assert_eq!(url.as_str(), "https://smba.trafficmanager.net/teams/");
        assert!(policy().check("http://127.0.0.1:8080/teams/").is_ok());
    }

    #[test]
    fn other_hosts_schemes_and_credentials_are_refused() {
        assert!(policy().check("https://evil.example.com/teams/").is_err());
        assert!(
            policy()
                .check("https://smba.trafficmanager.net.evil.com/")
                .is_err()
        );
        assert!(
            policy()
                .check("http://smba.trafficmanager.net/teams/")
                .is_err()
        );
        assert!(
            policy()
                .check("https://user:pw@smba.trafficmanager.net/")
                .is_err()
        );
        assert!(policy().check("not a url").is_err());
        assert!(
            ServiceUrlPolicy::new(&[])
                .check("https://smba.trafficmanager.net/")
                .is_err()
        );
    }
}
