//! RBAC rules and the request attributes they match, as Kubernetes' RBAC
//! authorizer matches them: verbs, API groups, resources (`resource/sub`,
//! `*`, `*/sub`) and resource names. The embedded cluster authorizes with
//! these; the console checks its keys against the rules a
//! SelfSubjectRulesReview returned.

/// What a resource request asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

impl Attributes {
    /// `verb` on `resource` (its `subresource`) of `group` in `namespace`,
    /// any name.
    pub fn new(verb: &str, group: &str, resource: &str, sub: Option<&str>, ns: &str) -> Self {
        Self {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            subresource: sub.map(str::to_owned),
            name: None,
            namespace: Some(ns.to_owned()),
        }
    }
}

/// One RBAC rule, as written in a Role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl Rule {
    pub fn allows(&self, a: &Attributes) -> bool {
        let any = |list: &[String], want: &str| list.iter().any(|x| x == "*" || x == want);
        if !any(&self.verbs, &a.verb) || !any(&self.api_groups, &a.group) {
            return false;
        }
        let resource_ok = match &a.subresource {
            None => any(&self.resources, &a.resource),
            Some(sub) => self.resources.iter().any(|r| {
                r == "*" || *r == format!("{}/{sub}", a.resource) || *r == format!("*/{sub}")
            }),
        };
        if !resource_ok {
            return false;
        }
        self.resource_names.is_empty()
            || a.name
                .as_ref()
                .is_some_and(|n| self.resource_names.contains(n))
    }

    /// The rule as a SelfSubjectRulesReview's `resourceRules` entry has it.
    pub fn from_review(v: &serde_json::Value) -> Rule {
        let strings = |k: &str| super::json::strings(&v[k]);
        Rule {
            verbs: strings("verbs"),
            api_groups: strings("apiGroups"),
            resources: strings("resources"),
            resource_names: strings("resourceNames"),
            non_resource_urls: strings("nonResourceURLs"),
        }
    }
}
