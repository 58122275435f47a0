//! One active engine per namespace: leader election on the
//! `coordination.k8s.io` Lease `swarmdeck-engine`, fenced as client-go's
//! leader election is. The holder renews it, each renewal with a deadline
//! shorter than the lease; another holder's lease counts as expired only
//! once it has not changed for its duration *as this process saw it* (on its
//! own forward-only clock, never by the holder's timestamps); every Lease
//! write carries the resourceVersion it read. And an engine writes only
//! while its leadership is current: [`fenced`] checks, right before each
//! request leaves, that the last renewal is younger than the renew deadline,
//! so a renewal that hangs stops the writes before any rival may take over.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use serde::Serialize;

use super::Error;

pub const LEASE_NAME: &str = "swarmdeck-engine";

/// Who this engine is and how long a lease lasts.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
}

/// This engine's role after an election round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Role {
    Leader,
    /// Another engine leads (or none does, while the lease is unexpired).
    Observer {
        leader: Option<String>,
    },
}

fn micro(ms: i64) -> Option<MicroTime> {
    Timestamp::from_millisecond(ms).ok().map(MicroTime)
}

/// This process's election in one namespace, with what it last saw of the
/// Lease and when (on its own clock).
#[derive(Debug, Clone)]
pub struct Elector {
    pub cfg: LeaseConfig,
    seen: Seen,
}

impl Elector {
    pub fn new(cfg: LeaseConfig) -> Self {
        Self { cfg, seen: None }
    }

    /// One round: acquire, renew or observe. `wall_ms` is what is written
    /// into the Lease; `local_ms` (this process's forward-only clock) judges
    /// whether another holder's lease expired: it has when the Lease has
    /// not changed for its duration since this process first saw it so.
    pub async fn round(
        &mut self,
        client: &kube::Client,
        wall_ms: i64,
        local_ms: i64,
    ) -> Result<Role, Error> {
        elect(client, &self.cfg, wall_ms, local_ms, &mut self.seen).await
    }
}

/// The Lease as last seen — (holder, renewTime as written, resourceVersion)
/// — and when this process first saw it so.
type Seen = Option<(LeaseVersion, i64)>;
type LeaseVersion = (Option<String>, Option<String>, Option<String>);

async fn elect(
    client: &kube::Client,
    cfg: &LeaseConfig,
    now_ms: i64,
    local_ms: i64,
    seen: &mut Seen,
) -> Result<Role, Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let object = format!("Lease {}/{LEASE_NAME}", cfg.namespace);
    let duration_s = cfg.duration.as_secs().max(1) as i32;
    let current = api
        .get_opt(LEASE_NAME)
        .await
        .map_err(|e| Error::kube(&object, e))?;
    let Some(mut lease) = current else {
        let lease = Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(LEASE_NAME.into()),
                namespace: Some(cfg.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(duration_s),
                acquire_time: micro(now_ms),
                renew_time: micro(now_ms),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Role::Leader),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Role::Observer { leader: None }),
            Err(e) => Err(Error::kube(&object, e)),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    let lasts = i64::from(spec.lease_duration_seconds.unwrap_or(duration_s)) * 1000;
    // The holder's clock is not ours: a lease has expired when it has not
    // changed for its duration since this process first saw it as it is.
    let version = (
        holder.clone(),
        spec.renew_time.as_ref().map(|t| t.0.to_string()),
        lease.metadata.resource_version.clone(),
    );
    let since = match seen {
        Some((v, at)) if *v == version => *at,
        _ => {
            *seen = Some((version, local_ms));
            local_ms
        }
    };
    let expired = holder.is_none() || local_ms - since > lasts;
    let mine = holder.as_deref() == Some(cfg.identity.as_str());
    if !mine && holder.is_some() && !expired {
        return Ok(Role::Observer { leader: holder });
    }
    let mut next = spec;
    if !mine {
        next.holder_identity = Some(cfg.identity.clone());
        next.acquire_time = micro(now_ms);
        next.lease_transitions = Some(next.lease_transitions.unwrap_or(0) + 1);
    }
    next.renew_time = micro(now_ms);
    next.lease_duration_seconds = Some(duration_s);
    lease.spec = Some(next);
    // The resourceVersion read above is the precondition: a rival that
    // renewed or took over in between makes this a 409.
    match api
        .replace(LEASE_NAME, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(Role::Leader),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Role::Observer { leader: holder }),
        Err(e) => Err(Error::kube(&object, e)),
    }
}

/// Until when, on this process's forward-only clock, an engine may write
/// in each namespace: granted by a successful renewal (from the moment it
/// was sent, for the renew deadline), revoked when a renewal fails, times
/// out or finds another holder.
#[derive(Debug, Clone)]
pub struct Fences {
    clock: crate::time::Clock,
    until: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, i64>>>,
}

impl Fences {
    pub fn new(clock: crate::time::Clock) -> Self {
        Self {
            clock,
            until: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, i64>> {
        self.until.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn grant(&self, namespace: &str, until_local_ms: i64) {
        self.lock().insert(namespace.to_owned(), until_local_ms);
    }

    pub fn revoke(&self, namespace: &str) {
        self.lock().remove(namespace);
    }

    /// Does this engine lead `namespace` now?
    pub fn current(&self, namespace: &str) -> bool {
        let now = self.clock.local_ms();
        self.lock().get(namespace).is_some_and(|until| now < *until)
    }
}

/// A write refused because the engine's leadership of its namespace is not
/// current.
#[derive(Debug, thiserror::Error)]
#[error(
    "not sent: this engine's lease on namespace {namespace} is not current (the last renewal is older than the renew deadline, or another engine leads); {method} {path} was refused before it left"
)]
pub struct NotLeading {
    pub namespace: String,
    pub method: String,
    pub path: String,
}

/// `client`, fenced: a request that writes in a namespace (anything but
/// get, list and watch; the Lease's own requests and Events excepted) is
/// sent only while `fences` says this engine leads that namespace —
/// checked right before it leaves, not at the start of a round.
pub fn fenced(client: kube::Client, fences: Fences) -> kube::Client {
    let namespace = client.default_namespace().to_owned();
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let (client, fences) = (client.clone(), fences.clone());
        async move {
            let path = req.uri().path().to_owned();
            let writes = !matches!(*req.method(), http::Method::GET | http::Method::HEAD);
            let ns = path
                .split("/namespaces/")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .filter(|_| path.matches('/').count() > 4)
                .map(str::to_owned);
            let exempt =
                path.contains("/leases/") || path.ends_with("/leases") || path.contains("/events");
            if writes
                && !exempt
                && let Some(ns) = ns
                && !fences.current(&ns)
            {
                let refused = NotLeading {
                    namespace: ns,
                    method: req.method().to_string(),
                    path,
                };
                tracing::warn!("{refused}");
                return Err::<http::Response<kube::client::Body>, tower::BoxError>(Box::new(
                    refused,
                ));
            }
            client.send(req).await.map_err(tower::BoxError::from)
        }
    });
    kube::Client::new(service, namespace)
}

/// Give the lease up on a clean exit, so another engine need not wait for it to expire.
pub async fn release(client: &kube::Client, cfg: &LeaseConfig) -> Result<(), Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let object = format!("Lease {}/{LEASE_NAME}", cfg.namespace);
    let Some(mut lease) = api
        .get_opt(LEASE_NAME)
        .await
        .map_err(|e| Error::kube(&object, e))?
    else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    match api
        .replace(LEASE_NAME, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(Error::kube(&object, e)),
    }
}

/// The identity of the engine that holds an unexpired lease in `namespace`
/// at `now_ms`, if any.
pub async fn holder(
    client: &kube::Client,
    namespace: &str,
    now_ms: i64,
) -> Result<Option<String>, Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    // A list by name: no lease yet is an empty answer, not a failed request.
    let lease = api
        .list(&kube::api::ListParams::default().fields(&format!("metadata.name={LEASE_NAME}")))
        .await
        .map_err(|e| Error::kube(format!("Lease {namespace}/{LEASE_NAME}"), e))?
        .items
        .into_iter()
        .next();
    Ok(lease.and_then(|l| l.spec).and_then(|spec| {
        let holder = spec.holder_identity.filter(|h| !h.is_empty())?;
        let renewed = spec.renew_time?.0.as_millisecond();
        let lasts = i64::from(spec.lease_duration_seconds.unwrap_or(15)) * 1000;
        (renewed + lasts >= now_ms).then_some(holder)
    }))
}

/// A default identity: user, host and process, so that two consoles of one
/// operator are still two engines.
pub fn default_identity(user: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}/{}", std::process::id())
}
