//! Where Liftgate may send requests: https only (plain http is allowed to loopback, where
//! tests run their doubles), never to link-local or cloud metadata addresses, which would let
//! whoever writes the config (or a DNS record it names) reach the instance's credentials.

use std::net::IpAddr;

/// An outbound URL Liftgate refuses to call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundUrlError {
    #[error("is not a URL with a host")]
    NotAUrl,
    #[error("must use https (plain http is allowed only to a loopback address)")]
    Cleartext,
    #[error("points at a link-local or metadata address ({0}), which Liftgate never calls")]
    Forbidden(IpAddr),
}

/// Whether an address is link-local (169.254.0.0/16, fe80::/10: the EC2 and ECS metadata
/// endpoints live there) or EC2's IPv6 metadata endpoint `fd00:ec2::254`.
pub fn forbidden_address(address: IpAddr) -> bool {
    const EC2_METADATA_V6: [u16; 8] = [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254];
    match address {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => v6.is_unicast_link_local() || v6.segments() == EC2_METADATA_V6,
        },
    }
}

fn loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(v4) => v4.is_loopback(),
        url::Host::Ipv6(v6) => v6.is_loopback(),
    }
}

/// Checks an outbound URL from the config: https, or http to loopback; no literal link-local
/// or metadata address. Names are checked again when they resolve (the webhook adapter's
/// resolver), since a DNS record can point anywhere.
///
/// # Errors
/// See [`OutboundUrlError`].
pub fn check_outbound_url(raw: &str) -> Result<url::Url, OutboundUrlError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| OutboundUrlError::NotAUrl)?;
    let host = url.host().ok_or(OutboundUrlError::NotAUrl)?;
    let literal = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    };
    if let Some(address) = literal.filter(|address| forbidden_address(*address)) {
        return Err(OutboundUrlError::Forbidden(address));
    }
    match url.scheme() {
        "https" => {}
        "http" if loopback(&host) => {}
        _ => return Err(OutboundUrlError::Cleartext),
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        for good in [
            "https://slack.com/api/",
            "https://hooks.example.com:8443/x?y=1",
            "http://127.0.0.1:9000/api/",
            "http://localhost/api/",
            "http://[::1]:80/",
        ] {
            assert!(check_outbound_url(good).is_ok(), "{good}");
        }
        for (bad, error) in [
            ("http://slack.com/api/", OutboundUrlError::Cleartext),
            ("http://10.0.0.5/", OutboundUrlError::Cleartext),
            ("ftp://example.com/", OutboundUrlError::Cleartext),
            ("not a url", OutboundUrlError::NotAUrl),
            ("mailto:a@b.c", OutboundUrlError::NotAUrl),
        ] {
            assert_eq!(check_outbound_url(bad).unwrap_err(), error, "{bad}");
        }
    }

    #[test]
    fn metadata_and_link_local_addresses_are_refused_even_over_https() {
        for bad in [
            "https://169.254.169.254/latest/meta-data/",
            "https://169.254.170.2/v2/credentials",
            "https://[fd00:ec2::254]/latest/",
            "https://[fe80::1]/",
            "https://[::ffff:169.254.169.254]/",
        ] {
            assert!(
                matches!(check_outbound_url(bad), Err(OutboundUrlError::Forbidden(_))),
                "{bad}"
            );
        }
    }
}

/// The wait before retry `attempt` (1-based) of a platform API call: exponential from `base`
/// (capped at 64×) plus up to 25 % jitter, so replicas throttled together do not retry in
/// step. Every chat adapter uses this one policy.
pub fn retry_backoff(base: std::time::Duration, attempt: u32) -> std::time::Duration {
    let exponential = base.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    exponential + exponential.mul_f64(rand::random::<f64>() * 0.25)
}

#[cfg(test)]
mod backoff_tests {
    use std::time::Duration;

    use super::retry_backoff;

    #[test]
    fn backoff_doubles_and_jitters_within_a_quarter() {
        let base = Duration::from_millis(100);
        for attempt in 1..=9 {
            let exponential = base * (1 << (attempt - 1).min(6));
            let wait = retry_backoff(base, attempt);
            assert!(
                wait >= exponential && wait <= exponential.mul_f64(1.25),
                "{wait:?}"
            );
        }
        let waits: std::collections::BTreeSet<Duration> =
            (0..32).map(|_| retry_backoff(base, 3)).collect();
        assert!(waits.len() > 1, "jittered");
    }
}
