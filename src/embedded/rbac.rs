//! Authorization as kube-apiserver's RBAC authorizer does it: RoleBindings
//! and ClusterRoleBindings whose subjects name the user, one of its groups or
//! its service account; rules matched by verb, API group, resource (with
//! `resource/subresource` and `*`), resource name; ClusterRoles aggregated by
//! label. Also the answers of SelfSubjectAccessReview and
//! SelfSubjectRulesReview, and the 403 wording of the real server.

use serde_json::{Value, json};

use super::cluster::{ApiError, Cluster};
pub use crate::domain::rbac::{Attributes, Rule};

/// A rule as SelfSubjectRulesReview writes it.
trait RuleJson {
    fn to_json(&self) -> Value;
}

const RBAC: &str = "rbac.authorization.k8s.io";

/// Who sends a request, after authentication (and impersonation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(name: &str, groups: &[String]) -> Self {
        let mut groups = groups.to_vec();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".to_owned());
        }
        Self {
            name: name.to_owned(),
            groups,
        }
    }

    fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

use crate::domain::json::strings;

fn rules_of(role: &Value) -> Vec<Rule> {
    role["rules"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .map(|r| Rule {
                    verbs: strings(&r["verbs"]),
                    api_groups: strings(&r["apiGroups"]),
                    resources: strings(&r["resources"]),
                    resource_names: strings(&r["resourceNames"]),
                    non_resource_urls: strings(&r["nonResourceURLs"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl RuleJson for Rule {
    fn to_json(&self) -> Value {
        let mut v = json!({"verbs": self.verbs});
        if !self.non_resource_urls.is_empty() {
            v["nonResourceURLs"] = json!(self.non_resource_urls);
            return v;
        }
        v["apiGroups"] = json!(self.api_groups);
        v["resources"] = json!(self.resources);
        if !self.resource_names.is_empty() {
            v["resourceNames"] = json!(self.resource_names);
        }
        v
    }
}

fn subject_matches(subject: &Value, who: &Identity) -> bool {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str().unwrap_or("") {
        "User" => name == who.name,
        "Group" => who.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = subject["namespace"].as_str().unwrap_or("");
            who.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn binds(binding: &Value, who: &Identity) -> bool {
    binding["subjects"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| subject_matches(s, who)))
}

/// The rules of a ClusterRole, with those of the ClusterRoles its
/// `aggregationRule` selects (recursively, as the aggregation controller
/// would have written them).
fn cluster_role_rules(
    roles: &[std::sync::Arc<Value>],
    name: &str,
    seen: &mut Vec<String>,
) -> Vec<Rule> {
    if seen.iter().any(|s| s == name) {
        return Vec::new();
    }
    seen.push(name.to_owned());
    let Some(role) = roles.iter().find(|r| r["metadata"]["name"] == name) else {
        return Vec::new();
    };
    let mut rules = rules_of(role);
    if let Some(selectors) = role["aggregationRule"]["clusterRoleSelectors"].as_array() {
        for sel in selectors {
            let Some(want) = sel["matchLabels"].as_object() else {
                continue;
            };
            for other in roles {
                let labels = &other["metadata"]["labels"];
                if want.iter().all(|(k, v)| labels[k] == *v)
                    && let Some(n) = other["metadata"]["name"].as_str()
                {
                    rules.extend(cluster_role_rules(roles, n, seen));
                }
            }
        }
    }
    rules
}

/// Every rule that applies to `who` in `namespace` (None: cluster scope only).
pub fn rules_for(cluster: &Cluster, who: &Identity, namespace: Option<&str>) -> Vec<Rule> {
    if who.is_master() {
        return vec![
            Rule {
                verbs: vec!["*".into()],
                api_groups: vec!["*".into()],
                resources: vec!["*".into()],
                ..Default::default()
            },
            Rule {
                verbs: vec!["*".into()],
                non_resource_urls: vec!["*".into()],
                ..Default::default()
            },
        ];
    }
    let cluster_roles = cluster.all(RBAC, "clusterroles");
    let mut rules = Vec::new();
    for b in cluster.all(RBAC, "clusterrolebindings") {
        if binds(&b, who)
            && let Some(name) = b["roleRef"]["name"].as_str()
        {
            rules.extend(cluster_role_rules(&cluster_roles, name, &mut Vec::new()));
        }
    }
    if let Some(ns) = namespace {
        let roles = cluster.all(RBAC, "roles");
        for b in cluster.all(RBAC, "rolebindings") {
            if b["metadata"]["namespace"] != ns || !binds(&b, who) {
                continue;
            }
            let name = b["roleRef"]["name"].as_str().unwrap_or("");
            match b["roleRef"]["kind"].as_str() {
                Some("ClusterRole") => {
                    // Only its resource rules, and only in this namespace.
                    rules.extend(
                        cluster_role_rules(&cluster_roles, name, &mut Vec::new())
                            .into_iter()
                            .filter(|r| r.non_resource_urls.is_empty()),
                    );
                }
                _ => {
                    if let Some(role) = roles
                        .iter()
                        .find(|r| r["metadata"]["namespace"] == ns && r["metadata"]["name"] == name)
                    {
                        rules.extend(rules_of(role));
                    }
                }
            }
        }
    }
    rules
}

/// May `who` do `a`?
pub fn allowed(cluster: &Cluster, who: &Identity, a: &Attributes) -> bool {
    if who.is_master() {
        return true;
    }
    // What system:basic-user grants every authenticated user.
    if a.group == "authorization.k8s.io"
        && matches!(
            a.resource.as_str(),
            "selfsubjectaccessreviews" | "selfsubjectrulesreviews"
        )
        && a.verb == "create"
    {
        return true;
    }
    rules_for(cluster, who, a.namespace.as_deref())
        .iter()
        .any(|r| r.allows(a))
}

/// The 403 of kube-apiserver, word for word.
pub fn forbidden(who: &Identity, a: &Attributes) -> ApiError {
    let qualified = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let object = match &a.name {
        Some(n) => format!("{qualified} \"{n}\""),
        None => qualified,
    };
    let resource = match &a.subresource {
        Some(s) => format!("{}/{s}", a.resource),
        None => a.resource.clone(),
    };
    let scope = match &a.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_owned(),
    };
    let mut e = ApiError::new(
        403,
        "Forbidden",
        format!(
            "{object} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            who.name, a.verb, a.group
        ),
    );
    e.details = json!({
        "name": a.name.clone().unwrap_or_default(),
        "group": a.group,
        "kind": a.resource,
    });
    e
}

/// The answer to a SelfSubjectAccessReview body.
pub fn access_review(cluster: &Cluster, who: &Identity, body: &Value) -> Value {
    let spec = &body["spec"];
    let ra = &spec["resourceAttributes"];
    let allowed_now = if ra.is_object() {
        let opt = |k: &str| ra[k].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let a = Attributes {
            verb: opt("verb").unwrap_or_default(),
            group: opt("group").unwrap_or_default(),
            resource: opt("resource").unwrap_or_default(),
            subresource: opt("subresource"),
            name: opt("name"),
            namespace: opt("namespace"),
        };
        allowed(cluster, who, &a)
    } else {
        // Non-resource URLs (discovery, version, health): every
        // authenticated user, as system:discovery grants.
        true
    };
    let mut out = json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": {"allowed": allowed_now},
    });
    if allowed_now && !who.is_master() {
        out["status"]["reason"] = json!("RBAC: allowed by a binding");
    }
    out
}

/// The answer to a SelfSubjectRulesReview body.
pub fn rules_review(cluster: &Cluster, who: &Identity, body: &Value) -> Value {
    let ns = body["spec"]["namespace"].as_str().filter(|s| !s.is_empty());
    let rules = rules_for(cluster, who, ns);
    let mut resource_rules: Vec<Value> = vec![json!({
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    })];
    let mut non_resource: Vec<Value> = vec![json!({
        "verbs": ["get"],
        "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
    })];
    for r in &rules {
        if r.non_resource_urls.is_empty() {
            resource_rules.push(r.to_json());
        } else {
            non_resource.push(r.to_json());
        }
    }
    json!({
        "kind": "SelfSubjectRulesReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": body["spec"],
        "status": {"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": false},
    })
}

/// The ClusterRoles every cluster starts with: `cluster-admin`, and the
/// user-facing `admin`, `edit` and `view`, aggregated by label as upstream.
pub fn default_cluster_roles() -> Vec<Value> {
    let read = ["get", "list", "watch"];
    let write = ["create", "delete", "deletecollection", "patch", "update"];
    let core = [
        "pods",
        "pods/log",
        "pods/status",
        "configmaps",
        "endpoints",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "services",
        "serviceaccounts",
        "events",
    ];
    let apps = [
        "deployments",
        "deployments/scale",
        "statefulsets",
        "statefulsets/scale",
        "replicasets",
        "daemonsets",
    ];
    let all: Vec<&str> = read.iter().chain(write.iter()).copied().collect();
    let aggregated = |name: &str, label: &str| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]},
            "rules": []})
    };
    let part = |name: &str, label: &str, rules: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {label: "true", "kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": rules})
    };
    let mut view = aggregated("view", "rbac.authorization.k8s.io/aggregate-to-view");
    view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] = json!("true");
    let mut edit = aggregated("edit", "rbac.authorization.k8s.io/aggregate-to-edit");
    edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] = json!("true");
    vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}]}),
        aggregated("admin", "rbac.authorization.k8s.io/aggregate-to-admin"),
        edit,
        view,
        part(
            "system:aggregate-to-view",
            "rbac.authorization.k8s.io/aggregate-to-view",
            json!([
                {"apiGroups": [""], "resources": core, "verbs": read},
                {"apiGroups": ["apps"], "resources": apps, "verbs": read},
                {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": read},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": read},
                {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": read},
            ]),
        ),
        part(
            "system:aggregate-to-edit",
            "rbac.authorization.k8s.io/aggregate-to-edit",
            json!([
                {"apiGroups": [""], "resources": core, "verbs": write},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": all},
                {"apiGroups": ["apps"], "resources": apps, "verbs": write},
                {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": write},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": write},
            ]),
        ),
        part(
            "system:aggregate-to-admin",
            "rbac.authorization.k8s.io/aggregate-to-admin",
            json!([
                {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": all},
                {"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]},
            ]),
        ),
    ]
}

/// The fields of a protobuf message: (field number, wire value), in order.
/// Only what kubectl's review bodies use: varints and length-delimited bytes.
/// A protobuf field: its number and its varint or bytes.
type Field<'a> = (u64, Result<u64, &'a [u8]>);

fn proto_fields(mut b: &[u8]) -> Option<Vec<Field<'_>>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        match key & 7 {
            0 => out.push((key >> 3, Ok(varint(&mut b)?))),
            2 => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                let (data, rest) = (b.get(..len)?, b.get(len..)?);
                b = rest;
                out.push((key >> 3, Err(data)));
            }
            _ => return None,
        }
    }
    Some(out)
}

fn proto_bytes<'a>(fields: &[Field<'a>], n: u64) -> Option<&'a [u8]> {
    fields.iter().find_map(|(f, v)| match v {
        Err(b) if *f == n => Some(*b),
        _ => None,
    })
}

fn proto_string(fields: &[Field<'_>], n: u64) -> Option<String> {
    proto_bytes(fields, n).and_then(|b| String::from_utf8(b.to_vec()).ok())
}

/// A SelfSubjectAccessReview or SelfSubjectRulesReview sent as protobuf (as
/// `kubectl auth can-i` does), as its JSON body. The envelope is the
/// Kubernetes `k8s\0` + `runtime.Unknown` whose `raw` holds the message.
pub fn review_from_protobuf(body: &[u8]) -> Option<Value> {
    let unknown = proto_fields(body.strip_prefix(b"k8s\0")?)?;
    let type_meta = proto_fields(proto_bytes(&unknown, 1)?)?;
    let kind = proto_string(&type_meta, 2)?;
    let review = proto_fields(proto_bytes(&unknown, 2)?)?;
    let spec = proto_fields(proto_bytes(&review, 2).unwrap_or_default())?;
    match kind.as_str() {
        "SelfSubjectAccessReview" => {
            let mut out = json!({});
            if let Some(ra) = proto_bytes(&spec, 1) {
                let ra = proto_fields(ra)?;
                let mut attrs = serde_json::Map::new();
                for (n, key) in [
                    (1, "namespace"),
                    (2, "verb"),
                    (3, "group"),
                    (4, "version"),
                    (5, "resource"),
                    (6, "subresource"),
                    (7, "name"),
                ] {
                    if let Some(v) = proto_string(&ra, n) {
                        attrs.insert(key.into(), json!(v));
                    }
                }
                out["resourceAttributes"] = Value::Object(attrs);
            }
            if let Some(nra) = proto_bytes(&spec, 2) {
                let nra = proto_fields(nra)?;
                out["nonResourceAttributes"] =
                    json!({"path": proto_string(&nra, 1), "verb": proto_string(&nra, 2)});
            }
            Some(json!({"kind": kind, "apiVersion": "authorization.k8s.io/v1", "spec": out}))
        }
        "SelfSubjectRulesReview" => Some(json!({
            "kind": kind, "apiVersion": "authorization.k8s.io/v1",
            "spec": {"namespace": proto_string(&spec, 1).unwrap_or_default()},
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, group: &str, resource: &str, sub: Option<&str>) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.map(str::to_owned),
            name: Some("x".into()),
            namespace: Some("swarm".into()),
        }
    }

    #[test]
    fn rules_match_as_kubernetes_matches_them() {
        let r = Rule {
            verbs: vec!["get".into(), "patch".into()],
            api_groups: vec!["apps".into()],
            resources: vec!["statefulsets/scale".into()],
            ..Default::default()
        };
        assert!(r.allows(&attrs("patch", "apps", "statefulsets", Some("scale"))));
        assert!(!r.allows(&attrs("patch", "apps", "statefulsets", None)));
        assert!(!r.allows(&attrs("delete", "apps", "statefulsets", Some("scale"))));
        assert!(!r.allows(&attrs("patch", "", "statefulsets", Some("scale"))));
        let star = Rule {
            verbs: vec!["*".into()],
            api_groups: vec!["*".into()],
            resources: vec!["*/scale".into()],
            resource_names: vec!["x".into()],
            ..Default::default()
        };
        assert!(star.allows(&attrs("update", "apps", "deployments", Some("scale"))));
        let mut other = attrs("update", "apps", "deployments", Some("scale"));
        other.name = Some("y".into());
        assert!(!star.allows(&other));
        other.name = None;
        assert!(!star.allows(&other), "resourceNames never match a list");
    }

    #[test]
    fn the_403_reads_as_the_real_one() {
        let who = Identity::new("viewer", &[]);
        let e = forbidden(&who, &attrs("patch", "apps", "statefulsets", Some("scale")));
        assert_eq!(
            e.message,
            "statefulsets.apps \"x\" is forbidden: User \"viewer\" cannot patch resource \"statefulsets/scale\" in API group \"apps\" in the namespace \"swarm\""
        );
        let mut list = attrs("list", "", "pods", None);
        list.name = None;
        list.namespace = None;
        assert_eq!(
            forbidden(&who, &list).message,
            "pods is forbidden: User \"viewer\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
        );
    }
}
