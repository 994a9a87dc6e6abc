//! What step and expectation kinds see when they check themselves against the scenario.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Scenario, StepEntry};

/// One thing wrong with a scenario, at a path inside it (`topology.links[1].ends[0].netns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { field: field.into(), message: message.into() }
    }

    /// The same problem seen from the parent: `prefix.field`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = join_path(prefix, &self.field);
        self
    }
}

/// `a` + `b` as a YAML path: `steps[2]` + `mtus` = `steps[2].mtus`, `x` + `[1]` = `x[1]`.
pub fn join_path(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty(), field.starts_with('[')) {
        (true, _, _) => field.to_string(),
        (_, true, _) => prefix.to_string(),
        (_, _, true) => format!("{prefix}{field}"),
        _ => format!("{prefix}.{field}"),
    }
}

/// The names a step or expectation may refer to.
#[derive(Debug, Default)]
pub struct CheckScope<'a> {
    pub namespaces: BTreeSet<&'a str>,
    /// Interface name -> its namespace. Interface names are unique in a scenario.
    pub links: BTreeMap<&'a str, &'a str>,
    /// Ids of all steps, at any depth.
    pub step_ids: BTreeSet<&'a str>,
    /// Ids of steps that run in the background (what `stop` may name).
    pub background_ids: BTreeSet<&'a str>,
    pub expect_ids: BTreeSet<&'a str>,
}

impl<'a> CheckScope<'a> {
    pub fn of(scenario: &'a Scenario) -> Self {
        let mut scope = CheckScope::default();
        for ns in &scenario.topology.namespaces {
            scope.namespaces.insert(ns.name.as_str());
        }
        for link in &scenario.topology.links {
            for end in &link.ends {
                scope.links.insert(end.name.as_str(), end.netns.as_str());
            }
        }
        scope.add_steps(&scenario.steps);
        for e in &scenario.expect {
            scope.expect_ids.insert(e.id.as_str());
        }
        scope
    }

    fn add_steps(&mut self, steps: &'a [StepEntry]) {
        for step in steps {
            if let Some(id) = &step.id {
                self.step_ids.insert(id);
                if step.background {
                    self.background_ids.insert(id);
                }
            }
            self.add_steps(step.nested());
        }
    }

    /// A problem if `name` is not a namespace of the topology.
    pub fn need_namespace(&self, field: &str, name: &str) -> Option<Problem> {
        (!self.namespaces.contains(name))
            .then(|| Problem::new(field, format!("unknown namespace `{name}`; defined: {}", list(&self.namespaces))))
    }

    /// A problem if `id` is not the id of a step.
    pub fn need_step(&self, field: &str, id: &str) -> Option<Problem> {
        (!self.step_ids.contains(id)).then(|| Problem::new(field, format!("no step has id `{id}`; step ids: {}", list(&self.step_ids))))
    }

    /// A problem if `name` is not an interface of the topology.
    pub fn need_link(&self, field: &str, name: &str) -> Option<Problem> {
        (!self.links.contains_key(name))
            .then(|| Problem::new(field, format!("unknown link `{name}`; defined: {}", list(self.links.keys()))))
    }
}

impl CheckScope<'_> {
    /// Problems with a list of link names: empty, or naming links that do not exist.
    pub fn need_links(&self, field: &str, links: &[String]) -> Vec<Problem> {
        if links.is_empty() {
            return vec![Problem::new(field, "name at least one link")];
        }
        links.iter().enumerate().filter_map(|(i, l)| self.need_link(&format!("{field}[{i}]"), l)).collect()
    }
}

/// `a, b, c` or `(none)`.
pub fn list<'b>(names: impl IntoIterator<Item = &'b &'b str>) -> String {
    let v: Vec<&str> = names.into_iter().copied().collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
