//! The SSRF guard. Deliveries go to URLs users configure (forward targets, push
//! agents, provider APIs, Slack `response_url`s), so without a guard anyone who can
//! write a webhook could make Switchyard call its own admin API, a database on the
//! private network or the cloud metadata service at 169.254.169.254.
//!
//! Two checks cover the two ways reqwest finds an address. A URL whose host is an IP
//! literal never reaches a resolver, so [`Guard::check_url`] must pass before every
//! send. A hostname goes through [`GuardedResolver`], which [`client`] installs: it
//! resolves once, drops every address the guard refuses and hands reqwest only the
//! rest, so the connection goes to an address that was checked and a second, hostile
//! DNS answer (rebinding) is never asked for. Redirects are not followed, because a
//! `Location` would be a URL nobody checked.
//!
//! Refused unless allow-listed: the special-purpose ranges of the IANA IPv4 and IPv6
//! registries (RFC 6890 and its updates) that are not reachable on the internet, and
//! on IPv6 everything outside global unicast `2000::/3`. IPv6 forms that carry an
//! IPv4 address (mapped, compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
//! judged by that IPv4 address, since that is where the packets end up.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The setting that lists allowed addresses, named in every refusal.
pub const ALLOW_VAR: &str = "SWITCHYARD_DELIVERY_ALLOW";

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("Switchyard/", env!("CARGO_PKG_VERSION"));

/// Why an address is not on the public internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918, unique local `fc00::/7`, site-local `fec0::/10`, local-use NAT64.
    Private,
    /// `169.254.0.0/16` (cloud metadata lives here), `fe80::/10`.
    LinkLocal,
    /// `100.64.0.0/10`, carrier-grade NAT.
    SharedAddressSpace,
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4`, the old 6to4 relay anycast, IPv6 discard-only and SRv6
    /// blocks, and IPv6 outside global unicast.
    Reserved,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`,
    /// `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// `192.0.0.0/24`, `2001::/23`.
    ProtocolAssignment,
}

impl Class {
    /// The class as it reads before "address", with its article.
    fn with_article(self) -> &'static str {
        match self {
            Class::Unspecified => "an unspecified",
            Class::Loopback => "a loopback",
            Class::Private => "a private",
            Class::LinkLocal => "a link-local",
            Class::SharedAddressSpace => "a shared (carrier-grade NAT)",
            Class::Multicast => "a multicast",
            Class::Broadcast => "a broadcast",
            Class::Reserved => "a reserved",
            Class::Documentation => "a documentation",
            Class::Benchmarking => "a benchmarking",
            Class::ProtocolAssignment => "an IETF protocol",
        }
    }
}

/// Why a delivery was not sent. Permanent: retrying cannot help until the
/// configuration changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}: URLs are not delivered; only http and https")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("{}; add it to {ALLOW_VAR} to permit it", describe(*ip, *class))]
    Address { ip: IpAddr, class: Class },
    #[error(
        "{host} resolves only to refused addresses ({}); add them to {ALLOW_VAR} to permit them",
        list(addrs)
    )]
    Resolved {
        host: String,
        addrs: Vec<(IpAddr, Class)>,
    },
}

fn describe(ip: IpAddr, class: Class) -> String {
    let inner = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(|v4| format!(" (it carries {v4})")),
        IpAddr::V4(_) => None,
    };
    format!(
        "{ip} is {} address{}",
        class.with_article(),
        inner.unwrap_or_default()
    )
}

fn list(addrs: &[(IpAddr, Class)]) -> String {
    let parts: Vec<String> = addrs.iter().map(|(ip, c)| describe(*ip, *c)).collect();
    parts.join(", ")
}

/// The refusal somewhere in an error's chain of sources, such as the
/// `reqwest::Error` of a send whose host resolved only to refused addresses.
pub fn refusal<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a Refused> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        current = e.source();
    }
    None
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// The IPv4 ranges refused; the first that contains an address names its class.
const V4_REFUSED: &[(Ipv4Net, Class)] = &[
    (v4(0, 0, 0, 0, 8), Class::Unspecified),
    (v4(10, 0, 0, 0, 8), Class::Private),
    (v4(100, 64, 0, 0, 10), Class::SharedAddressSpace),
    (v4(127, 0, 0, 0, 8), Class::Loopback),
    (v4(169, 254, 0, 0, 16), Class::LinkLocal),
    (v4(172, 16, 0, 0, 12), Class::Private),
    (v4(192, 0, 0, 0, 24), Class::ProtocolAssignment),
    (v4(192, 0, 2, 0, 24), Class::Documentation),
    (v4(192, 88, 99, 0, 24), Class::Reserved),
    (v4(192, 168, 0, 0, 16), Class::Private),
    (v4(198, 18, 0, 0, 15), Class::Benchmarking),
    (v4(198, 51, 100, 0, 24), Class::Documentation),
    (v4(203, 0, 113, 0, 24), Class::Documentation),
    (v4(224, 0, 0, 0, 4), Class::Multicast),
    // Before 240.0.0.0/4, which contains it.
    (v4(255, 255, 255, 255, 32), Class::Broadcast),
    (v4(240, 0, 0, 0, 4), Class::Reserved),
];

/// IPv6 forms whose last 32 bits are an IPv4 address.
const V6_MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
const V6_COMPATIBLE: Ipv6Net = v6([0; 8], 96);
const V6_NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
/// 6to4: the IPv4 address is bits 16 to 48.
const V6_6TO4: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);
/// Global unicast; everything outside it is refused.
const V6_GLOBAL: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// The IPv6 ranges refused by name, after the embedded forms above.
const V6_REFUSED: &[(Ipv6Net, Class)] = &[
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), Class::Private),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), Class::Reserved),
    // Before 2001::/23, which contains it.
    (v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), Class::Benchmarking),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        Class::ProtocolAssignment,
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        Class::Documentation,
    ),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), Class::Documentation),
    (v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), Class::Reserved),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), Class::Private),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), Class::Private),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), Class::LinkLocal),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), Class::Multicast),
];

/// The IPv4 address an IPv6 address carries and delivers to, if it is of a form
/// that does (`::` and `::1` are not IPv4-compatible addresses).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if V6_MAPPED.contains(&ip)
        || V6_NAT64.contains(&ip)
        || (V6_COMPATIBLE.contains(&ip) && bits > 1)
    {
        // The low 32 bits; the cast keeps exactly those.
        Some(Ipv4Addr::from(bits as u32))
    } else if V6_6TO4.contains(&ip) {
        Some(Ipv4Addr::from((bits >> 80) as u32))
    } else {
        None
    }
}

/// The class of an address that is not public, or `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    V4_REFUSED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    if ip.is_unspecified() {
        return Some(Class::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Class::Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    if let Some((_, class)) = V6_REFUSED.iter().find(|(net, _)| net.contains(&ip)) {
        return Some(*class);
    }
    if V6_GLOBAL.contains(&ip) {
        None
    } else {
        Some(Class::Reserved)
    }
}

/// Which addresses deliveries may connect to: public ones, and those in the
/// allow-list. The default guard has an empty allow-list.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow: Vec<IpNet>,
}

impl Guard {
    /// Parses a comma- or space-separated allow-list of IP addresses and CIDR
    /// networks, such as `"127.0.0.1, ::1, 10.0.0.0/8"`. An empty list allows only
    /// public addresses. The error names the entry that is neither.
    pub fn from_allow_list(s: &str) -> Result<Guard, String> {
        let mut allow = Vec::new();
        for entry in s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let net = if entry.contains('/') {
                entry.parse::<IpNet>().ok()
            } else {
                entry.parse::<IpAddr>().ok().map(IpNet::from)
            };
            let net = net.ok_or_else(|| {
                format!(
                    "{entry:?} in the delivery allow-list is neither an IP address (127.0.0.1, ::1) \
                     nor a CIDR network (10.0.0.0/8)"
                )
            })?;
            allow.push(net.trunc());
        }
        Ok(Guard { allow })
    }

    /// A guard that permits every address, for tests and benchmarks.
    pub fn allow_all() -> Guard {
        Guard {
            allow: vec![IpNet::V4(v4(0, 0, 0, 0, 0)), IpNet::V6(v6([0; 8], 0))],
        }
    }

    /// The allow-list, as parsed.
    pub fn allow_list(&self) -> &[IpNet] {
        &self.allow
    }

    /// Whether an address may be connected to: public, or in the allow-list.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.check(ip).is_ok()
    }

    /// [`Guard::permits`], with the reason for a refusal.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        // `::ffff:a.b.c.d` is the same socket as `a.b.c.d`, so either spelling in
        // the allow-list permits both.
        let canonical = ip.to_canonical();
        let mapped = match ip {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            IpAddr::V6(_) => ip,
        };
        if self
            .allow
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical) || net.contains(&mapped))
        {
            return Ok(());
        }
        match classify(ip) {
            None => Ok(()),
            Some(class) => Err(Refused::Address { ip, class }),
        }
    }

    /// Checks a URL before it is sent: http or https, a host, and, when the host is
    /// an IP literal, a permitted one (reqwest connects to literals without asking
    /// the resolver). Hostnames pass here; [`GuardedResolver`] checks what they
    /// resolve to.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Refused> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(Refused::Scheme(other.to_owned())),
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(Refused::NoHost)?;
        // The url crate has already turned `2130706433`, `0x7f.1` and the like into
        // dotted IPv4; IPv6 literals keep their brackets.
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.check(ip),
            Err(_) => Ok(()),
        }
    }

    /// The permitted addresses among those `host` resolved to, in their order; a
    /// refusal naming them all if none is.
    fn filter(&self, host: &str, resolved: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
        let mut refused = Vec::new();
        let mut permitted = Vec::new();
        for addr in resolved {
            match self.check(addr.ip()) {
                Ok(()) => permitted.push(addr),
                Err(Refused::Address { ip, class }) => refused.push((ip, class)),
                Err(other) => return Err(other),
            }
        }
        if permitted.is_empty() && !refused.is_empty() {
            return Err(Refused::Resolved {
                host: host.to_owned(),
                addrs: refused,
            });
        }
        Ok(permitted)
    }
}

/// A reqwest resolver that resolves with the system resolver and returns only the
/// addresses its guard permits, or an error holding a [`Refused`] when there are
/// none, so that reqwest connects only to checked addresses.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: Arc<Guard>,
}

impl GuardedResolver {
    pub fn new(guard: Arc<Guard>) -> Self {
        Self { guard }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.guard);
        Box::pin(async move {
            let host = name.as_str();
            // Port 0: reqwest puts the URL's port on every address it gets back.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            if resolved.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host} resolves to no address"),
                )
                .into());
            }
            let permitted = guard.filter(host, resolved)?;
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

/// The client every delivery uses: the guarded resolver, no redirects followed (a
/// 3xx is the answer), no proxy from the environment (a proxy would resolve the
/// name itself, unchecked), the given connect and total timeouts, the
/// [`USER_AGENT`], and rustls. Call [`Guard::check_url`] on every URL before sending
/// it with this client.
pub fn client(
    guard: Arc<Guard>,
    connect_timeout: Duration,
    timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .dns_resolver(Arc::new(GuardedResolver::new(guard)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .user_agent(USER_AGENT)
        .build()
}

/// A request error as one line: what failed (timed out, could not connect) and its
/// causes, without the URL (which may carry credentials in its user part).
pub fn describe_error(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rand::{Rng, SeedableRng};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).expect("test URL")
    }

    fn refused_as(s: &str, class: Class) {
        let guard = Guard::default();
        assert_eq!(classify(ip(s)), Some(class), "{s}");
        assert_eq!(
            guard.check(ip(s)),
            Err(Refused::Address { ip: ip(s), class }),
            "{s}"
        );
        assert!(!guard.permits(ip(s)), "{s}");
    }

    #[test]
    fn unspecified_is_refused() {
        for s in ["0.0.0.0", "0.1.2.3", "0.255.255.255", "::"] {
            refused_as(s, Class::Unspecified);
        }
    }

    #[test]
    fn loopback_is_refused() {
        for s in ["127.0.0.1", "127.255.255.254", "127.1.2.3", "::1"] {
            refused_as(s, Class::Loopback);
        }
    }

    #[test]
    fn private_is_refused() {
        for s in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "fc00::1",
            "fd12:3456:789a::1",
            "fec0::1",
            "64:ff9b:1::a00:1",
        ] {
            refused_as(s, Class::Private);
        }
        // Just outside 172.16.0.0/12 and 192.168.0.0/16.
        for s in [
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
        ] {
            assert_eq!(classify(ip(s)), None, "{s}");
        }
    }

    #[test]
    fn link_local_and_metadata_are_refused() {
        for s in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf:ffff::1",
            "fd00:ec2::254",
        ] {
            let class = classify(ip(s));
            assert!(
                class == Some(Class::LinkLocal) || class == Some(Class::Private),
                "{s}"
            );
            assert!(!Guard::default().permits(ip(s)), "{s}");
        }
        refused_as("169.254.169.254", Class::LinkLocal);
        refused_as("fe80::a9fe:a9fe", Class::LinkLocal);
    }

    #[test]
    fn shared_address_space_is_refused() {
        for s in ["100.64.0.1", "100.127.255.255"] {
            refused_as(s, Class::SharedAddressSpace);
        }
        assert_eq!(classify(ip("100.63.255.255")), None);
        assert_eq!(classify(ip("100.128.0.0")), None);
    }

    #[test]
    fn multicast_broadcast_and_reserved_are_refused() {
        for s in ["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"] {
            refused_as(s, Class::Multicast);
        }
        refused_as("255.255.255.255", Class::Broadcast);
        for s in [
            "240.0.0.1",
            "255.255.255.254",
            "192.88.99.1",
            "100::1",
            "5f00::1",
            // Outside global unicast 2000::/3.
            "4000::1",
            "1234::1",
            "e000::1",
        ] {
            refused_as(s, Class::Reserved);
        }
    }

    #[test]
    fn documentation_benchmarking_and_protocol_ranges_are_refused() {
        for s in [
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.255",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "3fff::1",
        ] {
            refused_as(s, Class::Documentation);
        }
        for s in ["198.18.0.1", "198.19.255.255", "2001:2::1"] {
            refused_as(s, Class::Benchmarking);
        }
        for s in ["192.0.0.1", "192.0.0.255", "2001::1", "2001:1ff::1"] {
            refused_as(s, Class::ProtocolAssignment);
        }
        assert_eq!(classify(ip("198.17.255.255")), None);
        assert_eq!(classify(ip("198.20.0.0")), None);
    }

    #[test]
    fn ipv6_forms_of_ipv4_are_judged_by_the_ipv4_address() {
        for (s, class) in [
            ("::ffff:127.0.0.1", Class::Loopback),
            ("::ffff:10.1.2.3", Class::Private),
            ("::ffff:169.254.169.254", Class::LinkLocal),
            ("::127.0.0.1", Class::Loopback),
            ("::0.0.0.2", Class::Unspecified),
            ("64:ff9b::7f00:1", Class::Loopback),
            ("64:ff9b::a9fe:a9fe", Class::LinkLocal),
            ("2002:7f00:1::1", Class::Loopback),
            ("2002:c0a8:101::", Class::Private),
        ] {
            refused_as(s, class);
        }
        for s in [
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::8.8.8.8",
        ] {
            assert!(Guard::default().permits(ip(s)), "{s}");
        }
    }

    #[test]
    fn public_addresses_are_permitted() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "140.82.112.3",
            "172.32.0.1",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001:80b::200e",
        ] {
            assert_eq!(classify(ip(s)), None, "{s}");
            assert!(Guard::default().permits(ip(s)), "{s}");
        }
    }

    #[test]
    fn the_allow_list_permits_what_it_names_and_nothing_more() {
        let guard = Guard::from_allow_list("127.0.0.1, ::1 10.0.0.0/8,,192.168.1.7/24").unwrap();
        for s in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "192.168.1.1",
            "192.168.1.255",
            "::ffff:127.0.0.1",
            "::ffff:10.9.9.9",
        ] {
            assert!(guard.permits(ip(s)), "{s}");
        }
        for s in ["127.0.0.2", "192.168.2.1", "169.254.169.254", "fe80::1"] {
            assert!(!guard.permits(ip(s)), "{s}");
        }
        // Host bits are dropped, as the network means.
        assert_eq!(guard.allow_list()[3].to_string(), "192.168.1.0/24");
        // The mapped spelling in the list permits the plain address too.
        let mapped = Guard::from_allow_list("::ffff:127.0.0.1").unwrap();
        assert!(mapped.permits(ip("127.0.0.1")));
        assert!(!mapped.permits(ip("127.0.0.2")));
        assert!(Guard::from_allow_list("").unwrap().allow_list().is_empty());
    }

    #[test]
    fn allow_all_permits_every_class() {
        let guard = Guard::allow_all();
        for s in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "169.254.169.254",
            "ff02::1",
            "0.0.0.0",
            "::",
        ] {
            assert!(guard.permits(ip(s)), "{s}");
        }
    }

    #[test]
    fn a_bad_allow_list_entry_is_named() {
        for (list, bad) in [
            ("127.0.0.1, localhost", "\"localhost\""),
            ("10.0.0.0/33", "\"10.0.0.0/33\""),
            ("::1/129", "\"::1/129\""),
            ("1.2.3", "\"1.2.3\""),
            ("fe80::1%eth0", "\"fe80::1%eth0\""),
            ("10.0.0.0/8;", "\"10.0.0.0/8;\""),
        ] {
            let err = Guard::from_allow_list(list).unwrap_err();
            assert!(err.starts_with(bad), "{list}: {err}");
        }
    }

    #[test]
    fn refusals_read_clearly() {
        let guard = Guard::default();
        assert_eq!(
            guard.check(ip("127.0.0.1")).unwrap_err().to_string(),
            "127.0.0.1 is a loopback address; add it to SWITCHYARD_DELIVERY_ALLOW to permit it"
        );
        assert_eq!(
            guard
                .check(ip("64:ff9b::a9fe:a9fe"))
                .unwrap_err()
                .to_string(),
            "64:ff9b::a9fe:a9fe is a link-local address (it carries 169.254.169.254); \
             add it to SWITCHYARD_DELIVERY_ALLOW to permit it"
        );
        assert_eq!(
            guard.check(ip("::")).unwrap_err().to_string(),
            ":: is an unspecified address; add it to SWITCHYARD_DELIVERY_ALLOW to permit it"
        );
        assert_eq!(
            guard
                .check_url(&url("ftp://example.com/"))
                .unwrap_err()
                .to_string(),
            "ftp: URLs are not delivered; only http and https"
        );
    }

    #[test]
    fn check_url_refuses_other_schemes() {
        let guard = Guard::allow_all();
        for s in [
            "ftp://example.com/file",
            "file:///etc/passwd",
            "gopher://example.com/",
            "ws://example.com/",
        ] {
            let scheme = s.split(':').next().unwrap_or_default();
            assert_eq!(
                guard.check_url(&url(s)),
                Err(Refused::Scheme(scheme.to_owned())),
                "{s}"
            );
        }
        assert_eq!(guard.check_url(&url("https://example.com/hook")), Ok(()));
        assert_eq!(guard.check_url(&url("http://example.com/hook")), Ok(()));
    }

    #[test]
    fn check_url_judges_ip_literals_in_every_spelling() {
        let guard = Guard::default();
        for s in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "https://[::1]:8443/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://0/",
        ] {
            assert!(
                matches!(guard.check_url(&url(s)), Err(Refused::Address { .. })),
                "{s}"
            );
        }
        for s in [
            "http://8.8.8.8/",
            "https://[2606:4700::1111]/",
            "http://134744072/",
        ] {
            assert_eq!(guard.check_url(&url(s)), Ok(()), "{s}");
        }
        // Hostnames are left to the resolver.
        assert_eq!(guard.check_url(&url("http://localhost/")), Ok(()));
    }

    #[test]
    fn resolved_addresses_are_filtered_in_order() {
        let guard = Guard::from_allow_list("127.0.0.1").unwrap();
        let sock = |s: &str| SocketAddr::new(ip(s), 0);
        let resolved = vec![
            sock("::1"),
            sock("127.0.0.1"),
            sock("10.0.0.1"),
            sock("8.8.8.8"),
        ];
        assert_eq!(
            guard.filter("mixed.example", resolved),
            Ok(vec![sock("127.0.0.1"), sock("8.8.8.8")])
        );
        let all_bad = vec![sock("::1"), sock("10.0.0.1")];
        let err = guard.filter("internal.example", all_bad).unwrap_err();
        assert_eq!(
            err,
            Refused::Resolved {
                host: "internal.example".into(),
                addrs: vec![
                    (ip("::1"), Class::Loopback),
                    (ip("10.0.0.1"), Class::Private)
                ],
            }
        );
        assert_eq!(
            err.to_string(),
            "internal.example resolves only to refused addresses (::1 is a loopback address, \
             10.0.0.1 is a private address); add them to SWITCHYARD_DELIVERY_ALLOW to permit them"
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_localhost_unless_allowed() {
        let refused = GuardedResolver::new(Arc::new(Guard::default()))
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost must be refused");
        assert!(
            matches!(refusal(refused.as_ref()), Some(Refused::Resolved { host, .. }) if host == "localhost"),
            "{refused}"
        );
        let allowed = GuardedResolver::new(Arc::new(Guard::from_allow_list("127.0.0.1").unwrap()))
            .resolve("localhost".parse().unwrap())
            .await
            .expect("localhost resolves to 127.0.0.1");
        let addrs: Vec<SocketAddr> = allowed.collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip() == ip("127.0.0.1")), "{addrs:?}");
    }

    /// A seeded generator; the seed is in every failure message so a failure can be
    /// replayed.
    fn rng() -> (rand::rngs::StdRng, u64) {
        let seed: u64 = rand::random();
        (rand::rngs::StdRng::seed_from_u64(seed), seed)
    }

    #[test]
    fn any_address_in_an_allowed_net_is_permitted() {
        let (mut rng, seed) = rng();
        for _ in 0..2000 {
            let net = if rng.gen() {
                IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(rng.gen::<u32>()), rng.gen_range(0..=32))
                        .expect("prefix in range"),
                )
            } else {
                IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::from(rng.gen::<u128>()), rng.gen_range(0..=128))
                        .expect("prefix in range"),
                )
            };
            let inside = match net.trunc() {
                IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(
                    u32::from(n.network()) | (rng.gen::<u32>() & u32::from(n.hostmask())),
                )),
                IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(
                    u128::from(n.network()) | (rng.gen::<u128>() & u128::from(n.hostmask())),
                )),
            };
            let guard = Guard::from_allow_list(&net.to_string()).expect("a net's own text parses");
            assert!(guard.permits(inside), "seed {seed}: {inside} in {net}");
        }
    }

    #[test]
    fn any_private_or_loopback_address_is_refused_by_default() {
        let (mut rng, seed) = rng();
        let guard = Guard::default();
        for _ in 0..2000 {
            let [a, b, c] = rng.gen::<[u8; 3]>();
            for v4 in [
                Ipv4Addr::new(10, a, b, c),
                Ipv4Addr::new(127, a, b, c),
                Ipv4Addr::new(192, 168, b, c),
            ] {
                for addr in [
                    IpAddr::V4(v4),
                    IpAddr::V6(v4.to_ipv6_mapped()),
                    IpAddr::V6(Ipv6Addr::from(
                        u128::from(V6_NAT64.network()) | u128::from(u32::from(v4)),
                    )),
                    IpAddr::V6(Ipv6Addr::from(
                        u128::from(V6_6TO4.network())
                            | (u128::from(u32::from(v4)) << 80)
                            | rng.gen::<u64>() as u128,
                    )),
                ] {
                    assert!(!guard.permits(addr), "seed {seed}: {addr}");
                    assert!(
                        guard
                            .check_url(&url(&format!("http://{}/", SocketAddr::new(addr, 80))))
                            .is_err(),
                        "seed {seed}: {addr}"
                    );
                }
            }
        }
    }

    #[test]
    fn from_allow_list_never_panics() {
        let (mut rng, seed) = rng();
        const ALPHABET: &[char] = &[
            '0', '1', '9', 'a', 'f', 'x', ':', '.', '/', ',', ' ', '\t', '%', '[', ']', '-', 'é',
            '\u{0}', '３',
        ];
        for _ in 0..5000 {
            let len = rng.gen_range(0..40);
            let s: String = (0..len)
                .map(|_| {
                    if rng.gen_ratio(1, 10) {
                        rng.gen::<char>()
                    } else {
                        ALPHABET[rng.gen_range(0..ALPHABET.len())]
                    }
                })
                .collect();
            // Whatever parses must round-trip through its own text.
            if let Ok(guard) = Guard::from_allow_list(&s) {
                let text: Vec<String> = guard.allow_list().iter().map(IpNet::to_string).collect();
                let again = Guard::from_allow_list(&text.join(","))
                    .unwrap_or_else(|e| panic!("seed {seed}: {s:?} reparses: {e}"));
                assert_eq!(again.allow_list(), guard.allow_list(), "seed {seed}: {s:?}");
            }
        }
    }

    /// A small HTTP server on 127.0.0.1 that counts the TCP connections it accepts.
    struct Target {
        port: u16,
        connections: Arc<AtomicUsize>,
        followed: Arc<AtomicUsize>,
    }

    async fn target() -> Target {
        // A hand-rolled HTTP/1.1 responder, one request per connection: enough for a
        // test that counts connections, without a web framework in this crate.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let followed = Arc::new(AtomicUsize::new(0));
        let (counter, hits) = (Arc::clone(&connections), Arc::clone(&followed));
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let hits = Arc::clone(&hits);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let agent = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("user-agent")
                                .then(|| v.trim().to_owned())
                        })
                        .unwrap_or_else(|| "none".to_owned());
                    let (status, extra, body) = match path.as_str() {
                        "/moved" => ("302 Found", "Location: /followed\r\n", String::new()),
                        "/followed" => {
                            hits.fetch_add(1, Ordering::SeqCst);
                            ("200 OK", "", "followed".to_owned())
                        }
                        "/slow" => {
                            tokio::time::sleep(Duration::from_secs(10)).await;
                            ("200 OK", "", "late".to_owned())
                        }
                        _ => ("200 OK", "", agent),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Target {
            port,
            connections,
            followed,
        }
    }

    /// A delivery as the engine makes one: the URL is checked, then sent with the
    /// guarded client.
    async fn deliver(
        guard: Guard,
        to: &str,
    ) -> Result<reqwest::Response, Box<dyn StdError + Send + Sync>> {
        let guard = Arc::new(guard);
        let to = url(to);
        guard.check_url(&to)?;
        let client = client(guard, Duration::from_secs(2), Duration::from_secs(5))?;
        Ok(client.get(to).send().await?)
    }

    #[tokio::test]
    async fn loopback_targets_are_refused_before_connecting() {
        let t = target().await;
        let port = t.port;
        for to in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
            format!("http://2130706433:{port}/"),
        ] {
            let err = deliver(Guard::default(), &to).await.expect_err(&to);
            assert!(refusal(err.as_ref()).is_some(), "{to}: {err}");
        }
        // A connection the guard let through would have been accepted before this
        // one, which the server answers.
        let ok = deliver(
            Guard::from_allow_list("127.0.0.1").unwrap(),
            &format!("http://127.0.0.1:{port}/"),
        )
        .await
        .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(t.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_resolved_refusal_is_found_in_the_reqwest_error() {
        let t = target().await;
        let err = deliver(Guard::default(), &format!("http://localhost:{}/", t.port))
            .await
            .expect_err("refused");
        assert!(err.downcast_ref::<reqwest::Error>().is_some(), "{err}");
        assert!(
            matches!(refusal(err.as_ref()), Some(Refused::Resolved { host, .. }) if host == "localhost"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn allow_listed_loopback_is_delivered() {
        let t = target().await;
        let port = t.port;
        for to in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
            format!("http://2130706433:{port}/"),
        ] {
            let res = deliver(Guard::from_allow_list("127.0.0.1, ::1").unwrap(), &to)
                .await
                .unwrap_or_else(|e| panic!("{to}: {e}"));
            assert_eq!(res.status(), 200, "{to}");
            assert_eq!(
                res.text().await.unwrap(),
                format!("Switchyard/{}", env!("CARGO_PKG_VERSION"))
            );
        }
        assert_eq!(t.connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_redirect_is_the_answer() {
        let t = target().await;
        let res = deliver(
            Guard::from_allow_list("127.0.0.1").unwrap(),
            &format!("http://127.0.0.1:{}/moved", t.port),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 302);
        assert_eq!(res.headers()[http::header::LOCATION], "/followed");
        assert_eq!(t.followed.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_total_timeout_applies() {
        let t = target().await;
        let guard = Arc::new(Guard::from_allow_list("127.0.0.1").unwrap());
        let client = client(guard, Duration::from_secs(2), Duration::from_millis(300)).unwrap();
        let started = std::time::Instant::now();
        let err = client
            .get(format!("http://127.0.0.1:{}/slow", t.port))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(refusal(&err).is_none());
    }
}
