//! What the server serves: every kind its discovery lists (plural, singular,
//! short names, scope, verbs), found by the names an operator types — the
//! plural, a short name, the kind, `plural.group` — with the nearest names
//! offered when nothing matches.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;

/// One kind the server serves, at its preferred version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl ApiKind {
    /// A kind known without asking (the console's own views, tests).
    pub fn known(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
    ) -> ApiKind {
        ApiKind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            short_names: Vec::new(),
            namespaced,
            verbs: ["get", "list", "watch", "delete", "patch", "update"]
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
        }
    }

    /// `deployments.apps`, `pods` (the core group has no suffix).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `apps/v1`, `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// The path of the collection, in `namespace` when the kind is namespaced
    /// and one is given (all namespaces otherwise).
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced && !ns.is_empty() => {
                format!("{base}/namespaces/{ns}/{}", self.plural)
            }
            _ => format!("{base}/{}", self.plural),
        }
    }

    /// kube's view of the same kind, for typed calls on one object.
    pub fn api_resource(&self) -> kube::discovery::ApiResource {
        kube::discovery::ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }

    /// Every name that opens this kind, lower case.
    fn names(&self) -> impl Iterator<Item = String> + '_ {
        let q = |n: &str| {
            if self.group.is_empty() {
                None
            } else {
                Some(format!("{n}.{}", self.group))
            }
        };
        [
            Some(self.plural.clone()),
            Some(self.singular.clone()),
            Some(self.kind.to_ascii_lowercase()),
            q(&self.plural),
            q(&self.kind.to_ascii_lowercase()),
            q(&self.singular),
        ]
        .into_iter()
        .flatten()
        .chain(self.short_names.iter().cloned())
    }
}

/// The kinds a server serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub kinds: Vec<ApiKind>,
}

/// How a name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Found(ApiKind),
    /// No kind of that name: the nearest names the server has.
    Unknown {
        suggestions: Vec<String>,
    },
}

impl Catalog {
    pub fn from_lists(lists: &[APIResourceList]) -> Catalog {
        let mut kinds = Vec::new();
        for list in lists {
            let (group, version) = match list.group_version.split_once('/') {
                Some((g, v)) => (g.to_owned(), v.to_owned()),
                None => (String::new(), list.group_version.clone()),
            };
            for r in &list.resources {
                // Subresources (pods/log, deployments/scale) are not kinds.
                if r.name.contains('/') {
                    continue;
                }
                kinds.push(ApiKind {
                    group: group.clone(),
                    version: version.clone(),
                    kind: r.kind.clone(),
                    plural: r.name.clone(),
                    singular: if r.singular_name.is_empty() {
                        r.kind.to_ascii_lowercase()
                    } else {
                        r.singular_name.clone()
                    },
                    short_names: r.short_names.clone().unwrap_or_default(),
                    namespaced: r.namespaced,
                    verbs: r.verbs.clone(),
                });
            }
        }
        Catalog { kinds }
    }

    /// Ask the server: `/api/v1` and the preferred version of every group
    /// of `/apis`. A group that fails to answer (an aggregated API that is
    /// down) is left out, as kubectl does; the core group must answer.
    pub async fn discover(client: &kube::Client) -> Result<Catalog, kube::Error> {
        let mut lists = vec![client.list_core_api_resources("v1").await?];
        let groups = client.list_api_groups().await?;
        let wanted: Vec<String> = groups
            .groups
            .iter()
            .filter_map(|g| {
                g.preferred_version
                    .as_ref()
                    .map(|v| v.group_version.clone())
                    .or_else(|| g.versions.first().map(|v| v.group_version.clone()))
            })
            .collect();
        let fetched = futures::future::join_all(
            wanted
                .iter()
                .map(|gv| async move { client.list_api_group_resources(gv).await }),
        )
        .await;
        for (gv, result) in wanted.iter().zip(fetched) {
            match result {
                Ok(list) => lists.push(list),
                Err(e) => tracing::warn!(group_version = %gv, error = %e, "discovery left out"),
            }
        }
        Ok(Catalog::from_lists(&lists))
    }

    /// The kind `name` names: plural, singular, short name or kind, each
    /// optionally `.group` (case-insensitive). A name more than one group
    /// serves goes to the core group first, then to the first group in
    /// discovery's order (kubectl's priority).
    pub fn resolve(&self, name: &str) -> Resolved {
        let want = name.trim().to_ascii_lowercase();
        let hit = self
            .kinds
            .iter()
            .filter(|k| k.names().any(|n| n == want))
            .min_by_key(|k| !k.group.is_empty());
        match hit {
            Some(k) => Resolved::Found(k.clone()),
            None => Resolved::Unknown {
                suggestions: self.nearest(&want),
            },
        }
    }

    /// The names closest to `name` (edit distance), at most three.
    pub fn nearest(&self, name: &str) -> Vec<String> {
        let mut scored: Vec<(usize, String)> = self
            .completion_names()
            .into_iter()
            .map(|n| (strsim::levenshtein(name, &n), n))
            .filter(|(d, n)| *d <= 2.max(n.len() / 3) || n.starts_with(name))
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        scored.into_iter().take(3).map(|(_, n)| n).collect()
    }

    /// What the palette completes: plurals, short names and, for the kinds
    /// of a named group, `plural.group`; listable kinds only.
    pub fn completion_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for k in self.kinds.iter().filter(|k| k.allows("list")) {
            out.push(k.plural.clone());
            out.extend(k.short_names.iter().cloned());
            if !k.group.is_empty() {
                out.push(k.qualified());
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let list = |gv: &str, rs: serde_json::Value| -> APIResourceList {
            serde_json::from_value(serde_json::json!({"groupVersion": gv, "resources": rs}))
                .unwrap()
        };
        let r = |name: &str, kind: &str, short: &[&str], ns: bool| {
            serde_json::json!({"name": name, "singularName": "", "kind": kind, "namespaced": ns,
                "shortNames": short, "verbs": ["get", "list", "watch", "delete"]})
        };
        Catalog::from_lists(&[
            list(
                "v1",
                serde_json::json!([
                    r("pods", "Pod", &["po"], true),
                    r("pods/log", "Pod", &[], true),
                    r("events", "Event", &["ev"], true),
                    r("nodes", "Node", &["no"], false),
                    r("secrets", "Secret", &[], true),
                ]),
            ),
            list(
                "apps/v1",
                serde_json::json!([r("deployments", "Deployment", &["deploy"], true)]),
            ),
            list(
                "events.k8s.io/v1",
                serde_json::json!([r("events", "Event", &["ev"], true)]),
            ),
        ])
    }

    fn found(c: &Catalog, name: &str) -> String {
        match c.resolve(name) {
            Resolved::Found(k) => k.qualified(),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn a_kind_is_found_by_every_name_kubectl_takes() {
        let c = catalog();
        for name in [
            "deploy",
            "deployments",
            "deployment",
            "Deployment",
            "deployments.apps",
            "deployment.apps",
        ] {
            assert_eq!(found(&c, name), "deployments.apps", "{name}");
        }
        assert_eq!(found(&c, "no"), "nodes");
        assert_eq!(found(&c, "ev"), "events", "the core group first");
        assert_eq!(found(&c, "events.events.k8s.io"), "events.events.k8s.io");
        assert!(
            !c.kinds.iter().any(|k| k.plural.contains('/')),
            "subresources are not kinds"
        );
    }

    #[test]
    fn an_unknown_name_gets_the_nearest_names() {
        let c = catalog();
        assert_eq!(
            c.resolve("deploymnets"),
            Resolved::Unknown {
                suggestions: vec!["deployments".into()]
            }
        );
        let Resolved::Unknown { suggestions } = c.resolve("secret-s") else {
            panic!()
        };
        assert_eq!(suggestions.first().map(String::as_str), Some("secrets"));
        let Resolved::Unknown { suggestions } = c.resolve("zzzzzzzzzz") else {
            panic!()
        };
        assert!(suggestions.is_empty(), "{suggestions:?}");
    }

    #[test]
    fn paths_follow_the_scope() {
        let c = catalog();
        let Resolved::Found(d) = c.resolve("deploy") else {
            panic!()
        };
        assert_eq!(
            d.collection_path(Some("swarm")),
            "/apis/apps/v1/namespaces/swarm/deployments"
        );
        assert_eq!(d.collection_path(None), "/apis/apps/v1/deployments");
        let Resolved::Found(n) = c.resolve("nodes") else {
            panic!()
        };
        assert_eq!(n.collection_path(Some("swarm")), "/api/v1/nodes");
    }
}
