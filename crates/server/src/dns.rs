//! The real DNS behind the address checks: MX, then A/AAAA, with TTLs, from
//! the system's resolver configuration.

use hickory_resolver::TokioResolver;
use sendwell_screen::dns::{
    DomainMail, MailDomainResolver, ResolveFuture, Resolved, TxtAnswer, TxtFuture,
};
use std::time::{Duration, Instant};

pub struct SystemResolver {
    resolver: TokioResolver,
}

impl SystemResolver {
    /// `None` when the system has no usable resolver configuration.
    pub fn new() -> Option<Self> {
        match TokioResolver::builder_tokio() {
            Ok(builder) => Some(Self {
                resolver: builder.build(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no system DNS configuration; DNS checks will report dns_unavailable");
                None
            }
        }
    }
}

fn ttl_until(valid_until: Instant) -> Duration {
    valid_until.saturating_duration_since(Instant::now())
}

impl MailDomainResolver for SystemResolver {
    fn resolve<'a>(&'a self, domain: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            let fqdn = format!("{domain}.");
            match self.resolver.mx_lookup(fqdn.as_str()).await {
                Ok(mx) => {
                    let ttl = ttl_until(mx.valid_until());
                    let mut records: Vec<(u16, String)> = mx
                        .iter()
                        .map(|r| {
                            (
                                r.preference(),
                                r.exchange().to_utf8().trim_end_matches('.').to_owned(),
                            )
                        })
                        .collect();
                    records.sort();
                    let answer = if records.len() == 1 && records[0].1.is_empty() {
                        DomainMail::NullMx
                    } else {
                        DomainMail::Mx(records.into_iter().map(|(_, h)| h).collect())
                    };
                    Resolved { answer, ttl }
                }
                Err(e) if e.is_nx_domain() => Resolved {
                    answer: DomainMail::NoMail,
                    ttl: Duration::from_secs(300),
                },
                Err(e) if e.is_no_records_found() => {
                    match self.resolver.lookup_ip(fqdn.as_str()).await {
                        Ok(ips) if ips.iter().next().is_some() => Resolved {
                            answer: DomainMail::AddressFallback,
                            ttl: ttl_until(ips.valid_until()),
                        },
                        Ok(_) => Resolved {
                            answer: DomainMail::NoMail,
                            ttl: Duration::from_secs(300),
                        },
                        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Resolved {
                            answer: DomainMail::NoMail,
                            ttl: Duration::from_secs(300),
                        },
                        Err(e) => Resolved {
                            answer: DomainMail::TempFail(e.to_string()),
                            ttl: Duration::ZERO,
                        },
                    }
                }
                Err(e) => Resolved {
                    answer: DomainMail::TempFail(e.to_string()),
                    ttl: Duration::ZERO,
                },
            }
        })
    }

    fn txt<'a>(&'a self, name: &'a str) -> TxtFuture<'a> {
        Box::pin(async move {
            let fqdn = format!("{}.", name.trim_end_matches('.'));
            match self.resolver.txt_lookup(fqdn.as_str()).await {
                Ok(found) => TxtAnswer::Records(
                    found
                        .iter()
                        .map(|txt| {
                            txt.txt_data()
                                .iter()
                                .map(|part| String::from_utf8_lossy(part).into_owned())
                                .collect::<String>()
                        })
                        .collect(),
                ),
                Err(e) if e.is_nx_domain() || e.is_no_records_found() => TxtAnswer::NotFound,
                Err(e) => TxtAnswer::TempFail(e.to_string()),
            }
        })
    }
}

/// Stands in when the system has no resolver: every answer is "unavailable".
pub struct NoResolver;

impl MailDomainResolver for NoResolver {
    fn resolve<'a>(&'a self, _domain: &'a str) -> ResolveFuture<'a> {
        Box::pin(async {
            Resolved {
                answer: DomainMail::TempFail("no DNS resolver is configured".to_owned()),
                ttl: Duration::ZERO,
            }
        })
    }
}
