//! One active engine per namespace: leader election on the
//! `coordination.k8s.io` Lease `swarmdeck-engine`. The holder renews it; an
//! expired lease is taken over; every write carries the resourceVersion it
//! read, so two engines can never both believe they lead.

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

/// One election round at `now_ms`: acquire, renew or observe.
pub async fn elect(client: &kube::Client, cfg: &LeaseConfig, now_ms: i64) -> Result<Role, Error> {
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
    let renewed = spec.renew_time.as_ref().map(|t| t.0.as_millisecond());
    let lasts = i64::from(spec.lease_duration_seconds.unwrap_or(duration_s)) * 1000;
    let expired = renewed.is_none_or(|r| r + lasts < now_ms);
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
