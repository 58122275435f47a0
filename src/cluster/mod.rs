//! Access to a cluster: building the `kube::Client` (kubeconfig, in-cluster
//! or the embedded cluster through the same code path), the read-only gate
//! every write passes, and the watch stores the views read.

pub mod discovery;
pub mod gate;
pub mod lite;
pub mod logs;
pub mod metrics;
pub mod stores;
pub mod tables;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Errors of connecting, written for the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot read kubeconfig {path}: {message}; pass --kubeconfig PATH, set KUBECONFIG, or use --embedded"
    )]
    Kubeconfig { path: String, message: String },
    #[error(
        "{} is not in the kubeconfig (read {}; contexts there: {}); pick one with --context NAME",
        if context.is_empty() { "no current context is set and it".to_owned() } else { format!("context `{context}`") },
        files.join(", "),
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    NoContext {
        context: String,
        files: Vec<String>,
        known: Vec<String>,
    },
    #[error("cannot configure a client for {context}: {message}")]
    Config { context: String, message: String },
    #[error("the embedded cluster did not start: {0}")]
    Embedded(String),
    #[error("--as `{user}`: the embedded cluster knows the users {known}; pick one of them")]
    UnknownUser { user: String, known: String },
}

/// A failed request as one line for the operator: the server's own message
/// (never the `Debug` of its `Status`) and, for the codes an operator can act
/// on, what to do. The caller prefixes the object.
pub fn explain(e: &kube::Error) -> String {
    if gate::is_refusal(e) {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = src {
            if let Some(r) = err.downcast_ref::<gate::ReadOnlyRefused>() {
                return r.to_string();
            }
            src = err.source();
        }
    }
    match e {
        kube::Error::Api(s) => {
            let message = if s.message.is_empty() {
                s.reason.clone()
            } else {
                s.message.clone()
            };
            match s.code {
                401 => format!(
                    "{message} (401): the server did not accept this context's credentials; check the token or certificate with `kubectl config view --minify`"
                ),
                403 => format!("{message} (403): {}", missing_permission(&message)),
                _ => message,
            }
        }
        kube::Error::Service(inner) => {
            if let Some(u) = inner.downcast_ref::<gate::Unreachable>() {
                u.to_string()
            } else if let Some(c) = inner.downcast_ref::<gate::Credentials>() {
                c.to_string()
            } else {
                format!(
                    "cannot reach the API server: {}",
                    gate::chain(inner.as_ref())
                )
            }
        }
        kube::Error::HyperError(inner) => format!("cannot reach the API server: {inner}"),
        other => other.to_string(),
    }
}

/// A failing watch as one line for the operator.
pub fn explain_watch(e: &kube::runtime::watcher::Error) -> String {
    use kube::runtime::watcher::Error as W;
    match e {
        W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => explain(e),
        W::WatchError(s) => explain(&kube::Error::Api(s.clone())),
        other => other.to_string(),
    }
}

/// What a 403 of kube-apiserver says is missing, as the permission to ask for.
fn missing_permission(message: &str) -> String {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r#"cannot (\S+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]+)"|at the cluster scope)"#,
        )
        .ok()
    });
    let Some(c) = re.as_ref().and_then(|re| re.captures(message)) else {
        return "the context's user lacks this permission; assets/deploy/operator.yaml holds the Role swarmdeck needs".to_owned();
    };
    let resource = match &c[3] {
        "" => c[2].to_owned(),
        group => format!("{}.{group}", &c[2]),
    };
    match c.get(4) {
        Some(ns) => format!(
            "needs `{} {resource}` in namespace `{}`; the Role in assets/deploy/operator.yaml grants what swarmdeck needs (bind it in that namespace)",
            &c[1],
            ns.as_str()
        ),
        None => format!(
            "needs `{} {resource}` cluster-wide; give -n NAMESPACE to work in one namespace, which a namespaced Role allows",
            &c[1]
        ),
    }
}

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub embedded: bool,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub read_only: bool,
    /// Scenario for the embedded cluster: `demo`, `none` or a file.
    pub scenario: String,
    /// Act as this user: impersonation on a real cluster (kubectl's `--as`),
    /// the user of that name on the embedded cluster.
    pub as_user: Option<String>,
    /// Credential plugins run without the terminal: their stderr is kept
    /// (shown in the failure's message), never written over the screen, and
    /// one that needs the user fails with its message (the console, once it
    /// owns the screen).
    pub quiet_credentials: bool,
}

/// A connected client and what the header says about it.
pub struct Connection {
    pub client: kube::Client,
    /// Who acts: the kubeconfig user (or `embedded`), for the audit log.
    pub user: String,
    pub context: String,
    pub server: String,
    pub namespace: String,
    pub embedded: bool,
    /// The embedded cluster was chosen because no kubeconfig was found.
    pub fallback: bool,
    pub read_only: bool,
    /// `--as` named the user (shown beside the context).
    pub acting_as: Option<String>,
    /// The context's exec credential plugin (its command), which may need
    /// the operator to sign in again (`:login`).
    pub credential_plugin: Option<String>,
    /// Keeps the embedded world ticking; stopping it on drop.
    world: Option<(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>)>,
    pub embedded_cluster: Option<crate::embedded::Cluster>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.world.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Some(h) = handle {
                let _ = h.join();
            }
        }
    }
}

pub use crate::files::state_dir;

/// The kubeconfig user of a context, for the audit log.
pub fn user_of(kc: Option<&kube::config::Kubeconfig>, context: &str) -> Option<String> {
    let kc = kc?.clone();
    kc.contexts
        .into_iter()
        .find(|c| c.name == context)?
        .context?
        .user
}

/// The kubeconfig files kubectl would read: `--kubeconfig FILE`, else every
/// existing file of `KUBECONFIG`, else `~/.kube/config` (none: not there).
pub fn kubeconfig_files(flag: Option<&std::path::Path>) -> Vec<PathBuf> {
    if let Some(f) = flag {
        return vec![f.to_owned()];
    }
    if let Some(k) = std::env::var_os("KUBECONFIG").filter(|k| !k.is_empty()) {
        return std::env::split_paths(&k)
            .filter(|p| !p.as_os_str().is_empty() && p.exists())
            .collect();
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".kube").join("config"))
        .filter(|p| p.exists())
        .into_iter()
        .collect()
}

/// The kubeconfig as kubectl reads it: the files of [`kubeconfig_files`]
/// merged by kubectl's rules (the first file to set `current-context` wins,
/// the first definition of a name wins, relative paths resolved against the
/// file that holds them). None when there is no file.
pub fn load_kubeconfig(files: &[PathBuf]) -> Result<Option<kube::config::Kubeconfig>, Error> {
    let mut merged: Option<kube::config::Kubeconfig> = None;
    for path in files {
        let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(|e| Error::Kubeconfig {
                path: path.display().to_string(),
                message: e.to_string(),
            })?,
        });
    }
    Ok(merged)
}

/// Every context of the kubeconfig kubectl would read (`:ctx`).
pub fn context_names(flag: Option<&std::path::Path>) -> Vec<String> {
    load_kubeconfig(&kubeconfig_files(flag))
        .ok()
        .flatten()
        .map(|kc| kc.contexts.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

/// `--as USER`: every request impersonates USER (kubectl's `--as`),
/// whatever the credentials came from.
fn act_as(config: &mut kube::Config, user: Option<&str>) {
    if let Some(user) = user {
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups = None;
    }
}

/// Who a pod's service account token says it is (its `sub` claim, as
/// `system:serviceaccount:NS:NAME`), read without a request.
fn service_account_of(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["sub"].as_str().map(str::to_owned)
}

/// Connect as the options say: the embedded cluster when asked for or when
/// no kubeconfig exists (and not in a pod), otherwise the kubeconfig.
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, Error> {
    let files = kubeconfig_files(opts.kubeconfig.as_deref());
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    if opts.embedded || (files.is_empty() && !in_cluster) {
        return connect_embedded(opts, !opts.embedded);
    }
    let kubeconfig = load_kubeconfig(&files)?;
    let mut plugin = None;
    let (config, context) = match &kubeconfig {
        Some(kc) => {
            let kc = kc.clone();
            let context = opts
                .context
                .clone()
                .or_else(|| kc.current_context.clone())
                .unwrap_or_default();
            if !kc.contexts.iter().any(|c| c.name == context) {
                return Err(Error::NoContext {
                    context,
                    files: files.iter().map(|f| f.display().to_string()).collect(),
                    known: kc.contexts.iter().map(|c| c.name.clone()).collect(),
                });
            }
            let options = kube::config::KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| Error::Config {
                    context: context.clone(),
                    message: e.to_string(),
                })?;
            act_as(&mut config, opts.as_user.as_deref());
            plugin = config
                .auth_info
                .exec
                .as_ref()
                .map(|e| e.command.clone().unwrap_or_default());
            if opts.quiet_credentials
                && let Some(exec) = config.auth_info.exec.as_mut()
            {
                exec.interactive_mode = Some(kube::config::ExecInteractiveMode::Never);
            }
            (config, context)
        }
        None => {
            let mut config = kube::Config::incluster().map_err(|e| Error::Config {
                context: "in-cluster".into(),
                message: e.to_string(),
            })?;
            // In a pod as with a kubeconfig: `--as` is impersonation, so the
            // requests carry the identity the audit records.
            act_as(&mut config, opts.as_user.as_deref());
            (config, "in-cluster".to_owned())
        }
    };
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let server = config.cluster_url.to_string();
    let client = gate::client_from_config(config, opts.read_only).map_err(|e| Error::Config {
        context: context.clone(),
        message: e.to_string(),
    })?;
    let user = match &opts.as_user {
        Some(u) => u.clone(),
        None if kubeconfig.is_none() => {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/token")
                .ok()
                .and_then(|t| service_account_of(t.trim()))
                .unwrap_or_else(|| "in-cluster".into())
        }
        None => user_of(kubeconfig.as_ref(), &context).unwrap_or_else(|| "in-cluster".into()),
    };
    Ok(Connection {
        client,
        user,
        context,
        server,
        namespace,
        embedded: false,
        fallback: false,
        read_only: opts.read_only,
        acting_as: opts.as_user.clone(),
        credential_plugin: plugin,
        world: None,
        embedded_cluster: None,
    })
}

fn connect_embedded(opts: &ConnectOptions, fallback: bool) -> Result<Connection, Error> {
    let scenario = if opts.scenario.is_empty() {
        "demo"
    } else {
        opts.scenario.as_str()
    };
    let world = crate::embedded::runtime::embedded_world(scenario, 0).map_err(Error::Embedded)?;
    let cluster = world.cluster().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = crate::embedded::runtime::run_world(world, 0, stop.clone());
    let namespace = opts.namespace.clone().unwrap_or_else(|| "swarm".to_owned());
    let token = match &opts.as_user {
        Some(name) => {
            let users = cluster.users();
            match users.iter().find(|u| &u.name == name) {
                Some(u) => Some(u.token.clone()),
                None => {
                    return Err(Error::UnknownUser {
                        user: name.clone(),
                        known: users
                            .iter()
                            .map(|u| u.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        None => None,
    };
    let client = gate::in_process_as(&cluster, &namespace, opts.read_only, token.as_deref());
    Ok(Connection {
        client,
        user: match &opts.as_user {
            Some(u) => u.clone(),
            None => std::env::var("USER")
                .map_or_else(|_| "embedded".to_owned(), |u| format!("{u} (embedded)")),
        },
        context: crate::embedded::CONTEXT.to_owned(),
        server: "in-process".to_owned(),
        namespace,
        embedded: true,
        fallback,
        read_only: opts.read_only,
        acting_as: opts.as_user.clone(),
        credential_plugin: None,
        world: Some((stop, Some(handle))),
        embedded_cluster: Some(cluster),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_impersonates_whatever_the_credentials() {
        let mut config = kube::Config::new("https://10.0.0.1:443".parse().unwrap());
        config.auth_info.token = Some("sa-token".to_owned().into());
        act_as(&mut config, Some("alice"));
        assert_eq!(config.auth_info.impersonate.as_deref(), Some("alice"));
        let mut plain = kube::Config::new("https://10.0.0.1:443".parse().unwrap());
        act_as(&mut plain, None);
        assert_eq!(plain.auth_info.impersonate, None);
    }

    #[test]
    fn a_service_account_token_names_its_account() {
        use base64::Engine;
        let claims =
            serde_json::json!({"sub": "system:serviceaccount:swarm:swarmdeck", "iss": "x"});
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        assert_eq!(
            service_account_of(&token).as_deref(),
            Some("system:serviceaccount:swarm:swarmdeck")
        );
        assert_eq!(service_account_of("not a token"), None);
    }
}
