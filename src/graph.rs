//! Targets as a dependency graph: which target's image another builds on, the levels the
//! executor runs in, and cycles reported with the whole loop named.
//!
//! An edge `a → b` (a depends on b) comes from a stage of `a` that bootstraps from `b`'s
//! image (`Bootstrap: library` naming `b`'s ref, or `Bootstrap: localimage` naming `b`'s
//! output), or from `depends_on`.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Location};
use crate::libref::LibraryRef;
use crate::manifest::{Manifest, Target};

/// Why one target depends on another.
#[derive(Clone, Debug)]
pub enum EdgeReason {
    /// A `Bootstrap: library` stage's `From:` names the dependency's ref.
    LibraryFrom { from: String, at: Location },
    /// A `Bootstrap: localimage` stage's `From:` names the dependency's output.
    LocalImage { from: String, at: Location },
    /// `depends_on` names it.
    DependsOn { at: Location },
}

impl EdgeReason {
    /// Returns where the dependency is declared.
    pub fn location(&self) -> &Location {
        match self {
            EdgeReason::LibraryFrom { at, .. }
            | EdgeReason::LocalImage { at, .. }
            | EdgeReason::DependsOn { at } => at,
        }
    }

    /// Returns a short description: `From: acme/tools/base:latest` or `depends_on`.
    pub fn describe(&self) -> String {
        match self {
            EdgeReason::LibraryFrom { from, .. } | EdgeReason::LocalImage { from, .. } => {
                format!("From: {from}")
            }
            EdgeReason::DependsOn { .. } => "depends_on".to_owned(),
        }
    }
}

/// A dependency of a target: the index of the target it builds on, and why.
#[derive(Clone, Debug)]
pub struct Edge {
    pub dependency: usize,
    pub reason: EdgeReason,
}

/// The targets of a manifest as a directed acyclic graph.
#[derive(Clone, Debug)]
pub struct Graph {
    names: Vec<String>,
    /// Per target, its dependencies (one edge per dependency: the first reason found).
    edges: Vec<Vec<Edge>>,
    /// Targets by level: level 0 depends on nothing; level n only on levels below n.
    levels: Vec<Vec<usize>>,
    /// Per target, its level.
    level: Vec<usize>,
    lookup: TargetIndex,
}

/// Finds targets by name, by the container their ref names, and by their definition
/// file's stem, in constant time: thousands of targets each looking up their bases made a
/// linear search quadratic.
#[derive(Clone, Debug, Default)]
pub struct TargetIndex {
    by_name: HashMap<String, usize>,
    by_container: HashMap<(String, String, String), usize>,
    by_def_stem: HashMap<String, usize>,
}

impl TargetIndex {
    /// Indexes targets; where two share a key, the first wins, as a scan from the top would.
    pub fn new(targets: &[Target]) -> TargetIndex {
        let mut index = TargetIndex::default();
        for (position, target) in targets.iter().enumerate() {
            index.by_name.entry(target.name.clone()).or_insert(position);
            let reference = &target.reference;
            index
                .by_container
                .entry((
                    reference.entity.clone(),
                    reference.collection.clone(),
                    reference.container.clone(),
                ))
                .or_insert(position);
            let def_file = target.def_path.rsplit('/').next().unwrap_or_default();
            let stem = def_file.rsplit_once('.').map_or(def_file, |(s, _)| s);
            index.by_def_stem.entry(stem.to_owned()).or_insert(position);
        }
        index
    }

    /// Returns the target with this name.
    pub fn named(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Returns the target whose ref names the same container as a `Bootstrap: library`
    /// source.
    pub fn library_source(&self, from: &str) -> Option<usize> {
        let source = LibraryRef::parse_source(from).ok()?;
        self.by_container
            .get(&(source.entity, source.collection, source.container))
            .copied()
    }

    /// Returns the target a `Bootstrap: localimage` path names: one whose name, or whose
    /// definition file's name, is the image file's name without its extension
    /// (`base.sif`, `images/base.sif` and `base` all name target `base` or `defs/base.def`).
    pub fn local_image(&self, from: &str) -> Option<usize> {
        let file = from.trim().rsplit('/').next().unwrap_or_default();
        let stem = [".sif", ".simg", ".img"]
            .iter()
            .find_map(|ext| file.strip_suffix(ext))
            .unwrap_or(file);
        if stem.is_empty() {
            return None;
        }
        self.named(stem)
            .or_else(|| self.by_def_stem.get(stem).copied())
    }
}

/// A summary of the graph for JSON output.
#[derive(Clone, Debug, Serialize)]
pub struct GraphSummary {
    pub edges: usize,
    pub levels: Vec<Vec<String>>,
}

impl Graph {
    /// Builds the graph of a manifest's targets, or reports every cycle.
    pub fn build(manifest: &Manifest) -> Result<Graph, Vec<Diagnostic>> {
        let targets = &manifest.targets;
        let lookup = TargetIndex::new(targets);
        let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        let mut edges: Vec<Vec<Edge>> = Vec::with_capacity(targets.len());
        for (index, target) in targets.iter().enumerate() {
            let mut own: Vec<Edge> = Vec::new();
            for edge in inferred_edges(&lookup, target) {
                if edge.dependency != index && !own.iter().any(|e| e.dependency == edge.dependency)
                {
                    own.push(edge);
                }
            }
            edges.push(own);
        }
        let cycles = find_cycles(&edges);
        if !cycles.is_empty() {
            return Err(cycles
                .iter()
                .map(|cycle| cycle_diagnostic(&names, &edges, cycle))
                .collect());
        }
        let level = levels(&edges);
        let depth = level.iter().max().map_or(0, |l| l + 1);
        let mut levels = vec![Vec::new(); depth];
        for (node, &l) in level.iter().enumerate() {
            levels[l].push(node);
        }
        Ok(Graph {
            names,
            edges,
            levels,
            level,
            lookup,
        })
    }

    /// Returns the index of the targets by name, container and definition file.
    pub fn lookup(&self) -> &TargetIndex {
        &self.lookup
    }

    /// Returns the target names, indexed as the graph indexes them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Returns the index of a target.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.lookup.named(name)
    }

    /// Returns the direct dependencies of a target.
    pub fn dependencies(&self, index: usize) -> &[Edge] {
        self.edges.get(index).map_or(&[], Vec::as_slice)
    }

    /// Returns the targets that depend directly on a target.
    pub fn dependents(&self, index: usize) -> Vec<usize> {
        (0..self.edges.len())
            .filter(|&i| self.edges[i].iter().any(|e| e.dependency == index))
            .collect()
    }

    /// Returns the number of edges.
    pub fn edge_count(&self) -> usize {
        self.edges.iter().map(Vec::len).sum()
    }

    /// Returns the targets by level (see [`Graph`]).
    pub fn levels(&self) -> &[Vec<usize>] {
        &self.levels
    }

    /// Returns the level a target is in.
    pub fn level_of(&self, index: usize) -> usize {
        self.level.get(index).copied().unwrap_or_default()
    }

    /// Returns the levels by name, for reports.
    pub fn summary(&self) -> GraphSummary {
        GraphSummary {
            edges: self.edge_count(),
            levels: self
                .levels
                .iter()
                .map(|level| level.iter().map(|&i| self.names[i].clone()).collect())
                .collect(),
        }
    }
}

fn inferred_edges(lookup: &TargetIndex, target: &Target) -> Vec<Edge> {
    let mut edges = Vec::new();
    for stage in &target.rendered_definition.stages {
        let (Some(bootstrap), Some(field)) = (stage.bootstrap(), stage.header_field("from")) else {
            continue;
        };
        let from = field.value.clone();
        let at = Location::of_line(&target.def_source, field.span.line);
        match bootstrap.as_str() {
            "library" => {
                if let Some(dependency) = lookup.library_source(&from) {
                    edges.push(Edge {
                        dependency,
                        reason: EdgeReason::LibraryFrom { from, at },
                    });
                }
            }
            "localimage" => {
                if let Some(dependency) = lookup.local_image(&from) {
                    edges.push(Edge {
                        dependency,
                        reason: EdgeReason::LocalImage { from, at },
                    });
                }
            }
            _ => {}
        }
    }
    for (name, at) in &target.depends_on {
        if let Some(dependency) = lookup.named(name) {
            edges.push(Edge {
                dependency,
                reason: EdgeReason::DependsOn { at: at.clone() },
            });
        }
    }
    edges
}

/// Finds one cycle per strongly connected component that has one (Tarjan's algorithm,
/// then a walk inside the component). Each cycle lists targets in dependency order.
fn find_cycles(edges: &[Vec<Edge>]) -> Vec<Vec<usize>> {
    let components = strongly_connected(edges);
    let mut cycles = Vec::new();
    for component in components {
        if component.len() < 2 {
            continue;
        }
        // Walk from the smallest index, always to the smallest next member, until a node
        // repeats: the repeat closes a cycle inside the component.
        let start = component.iter().copied().min().unwrap_or_default();
        let mut path = vec![start];
        loop {
            let current = path[path.len() - 1];
            let Some(next) = edges[current]
                .iter()
                .map(|e| e.dependency)
                .filter(|d| component.contains(d))
                .min()
            else {
                break;
            };
            if let Some(position) = path.iter().position(|&n| n == next) {
                cycles.push(path[position..].to_vec());
                break;
            }
            path.push(next);
        }
    }
    cycles
}

fn strongly_connected(edges: &[Vec<Edge>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [Vec<Edge>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<Vec<usize>>,
    }
    fn visit(state: &mut State<'_>, node: usize) {
        state.index[node] = Some(state.next);
        state.low[node] = state.next;
        state.next += 1;
        state.stack.push(node);
        state.on_stack[node] = true;
        for edge in &state.edges[node] {
            let next = edge.dependency;
            match state.index[next] {
                None => {
                    visit(state, next);
                    state.low[node] = state.low[node].min(state.low[next]);
                }
                Some(index) if state.on_stack[next] => {
                    state.low[node] = state.low[node].min(index);
                }
                Some(_) => {}
            }
        }
        if Some(state.low[node]) == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack[member] = false;
                component.push(member);
                if member == node {
                    break;
                }
            }
            state.components.push(component);
        }
    }
    let count = edges.len();
    let mut state = State {
        edges,
        index: vec![None; count],
        low: vec![0; count],
        on_stack: vec![false; count],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in 0..count {
        if state.index[node].is_none() {
            visit(&mut state, node);
        }
    }
    state.components
}

fn cycle_diagnostic(names: &[String], edges: &[Vec<Edge>], cycle: &[usize]) -> Diagnostic {
    let mut loop_names: Vec<String> = cycle.iter().map(|&i| format!("`{}`", names[i])).collect();
    loop_names.push(format!("`{}`", names[cycle[0]]));
    let steps: Vec<String> = cycle
        .iter()
        .enumerate()
        .map(|(position, &node)| {
            let next = cycle[(position + 1) % cycle.len()];
            let reason = edges[node]
                .iter()
                .find(|e| e.dependency == next)
                .map(|e| format!("{} ({})", e.reason.describe(), e.reason.location()))
                .unwrap_or_default();
            format!(
                "`{}` depends on `{}` through {reason}",
                names[node], names[next]
            )
        })
        .collect();
    let first = edges[cycle[0]]
        .iter()
        .find(|e| e.dependency == cycle[1 % cycle.len()])
        .map(|e| e.reason.location().clone());
    Diagnostic::error(
        "graph::cycle",
        format!("dependency cycle: {}", loop_names.join(" → ")),
    )
    .at_opt(first)
    .help(format!(
        "{}; remove one of these dependencies",
        steps.join("; ")
    ))
}

/// Assigns each node the level 1 + the highest level of its dependencies, visiting nodes
/// in topological order (Kahn's algorithm), so a long chain costs no more than its edges.
/// The graph is acyclic here.
fn levels(edges: &[Vec<Edge>]) -> Vec<usize> {
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); edges.len()];
    let mut waiting: Vec<usize> = Vec::with_capacity(edges.len());
    for (node, own) in edges.iter().enumerate() {
        for edge in own {
            dependents[edge.dependency].push(node);
        }
        waiting.push(own.len());
    }
    let mut level = vec![0; edges.len()];
    let mut ready: Vec<usize> = (0..edges.len()).filter(|&n| waiting[n] == 0).collect();
    while let Some(node) = ready.pop() {
        for &dependent in &dependents[node] {
            level[dependent] = level[dependent].max(level[node] + 1);
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.push(dependent);
            }
        }
    }
    level
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{LoadRequest, load};

    /// Loads a manifest whose targets are `(name, definition text)`, plus extra YAML per
    /// target, from a temporary repository.
    fn manifest(targets: &[(&str, &str, &str)]) -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut yaml =
            String::from("version: 1\ndefaults:\n  library: library://acme/tools\ntargets:\n");
        for (name, text, extra) in targets {
            std::fs::write(dir.path().join(format!("{name}.def")), text).expect("write def");
            yaml.push_str(&format!("  {name}:\n    def: {name}.def\n"));
            for line in extra.lines() {
                yaml.push_str(&format!("    {line}\n"));
            }
        }
        let path = dir.path().join("sifbake.yaml");
        std::fs::write(&path, yaml).expect("write manifest");
        let manifest = load(&LoadRequest {
            manifest: path,
            root: None,
            display_base: dir.path().to_path_buf(),
        })
        .unwrap_or_else(|d| panic!("{d:?}"));
        (dir, manifest)
    }

    fn dependencies(graph: &Graph, name: &str) -> Vec<String> {
        let index = graph.index(name).expect("target");
        let mut names: Vec<String> = graph
            .dependencies(index)
            .iter()
            .map(|e| graph.names()[e.dependency].clone())
            .collect();
        names.sort();
        names
    }

    const BASE: &str = "Bootstrap: docker\nFrom: ubuntu:24.04\n";

    #[test]
    fn library_from_lines_name_targets_in_any_spelling() {
        let hash = format!("sha256.{}", "a".repeat(64));
        let spellings = [
            "acme/tools/base".to_owned(),
            "acme/tools/base:latest".to_owned(),
            "library://acme/tools/base:1.0".to_owned(),
            "library:acme/tools/base".to_owned(),
            "library://cloud.sylabs.io/acme/tools/base:v2".to_owned(),
            format!("acme/tools/base:{hash}"),
        ];
        for from in spellings {
            let app = format!("Bootstrap: library\nFrom: {from}\n");
            let (_dir, manifest) = manifest(&[("base", BASE, ""), ("app", &app, "")]);
            let graph = Graph::build(&manifest).expect("graph");
            assert_eq!(dependencies(&graph, "app"), vec!["base"], "From: {from}");
        }
    }

    #[test]
    fn other_containers_and_agents_are_not_edges() {
        let (_dir, manifest) = manifest(&[
            ("base", BASE, ""),
            ("a", "Bootstrap: library\nFrom: acme/other/base\n", ""),
            ("b", "Bootstrap: docker\nFrom: acme/tools/base\n", ""),
            ("c", "Bootstrap: library\nFrom: alpine:3.20\n", ""),
        ]);
        let graph = Graph::build(&manifest).expect("graph");
        for name in ["a", "b", "c"] {
            assert!(dependencies(&graph, name).is_empty(), "{name}");
        }
        assert_eq!(graph.edge_count(), 0);
    }

    #[test]
    fn localimage_names_a_target_by_name_or_def_file() {
        let (_dir, manifest) = manifest(&[
            ("base", BASE, ""),
            ("app", "Bootstrap: localimage\nFrom: images/base.sif\n", ""),
            ("tool", "Bootstrap: localimage\nFrom: base\n", ""),
        ]);
        let graph = Graph::build(&manifest).expect("graph");
        assert_eq!(dependencies(&graph, "app"), vec!["base"]);
        assert_eq!(dependencies(&graph, "tool"), vec!["base"]);
        assert_eq!(graph.lookup().local_image("/abs/elsewhere.sif"), None);
        assert_eq!(graph.lookup().local_image("base.simg"), graph.index("base"));
        assert_eq!(graph.lookup().local_image(".sif"), None);
    }

    #[test]
    fn a_chain_declared_backwards_gets_one_level_per_link() {
        // t0 builds on t1, t1 on t2, …: each target's base comes after it in the manifest.
        let count = 50;
        let defs: Vec<(String, String)> = (0..count)
            .map(|i| {
                let text = if i + 1 < count {
                    format!("Bootstrap: library\nFrom: acme/tools/t{}\n", i + 1)
                } else {
                    BASE.to_owned()
                };
                (format!("t{i}"), text)
            })
            .collect();
        let targets: Vec<(&str, &str, &str)> = defs
            .iter()
            .map(|(name, text)| (name.as_str(), text.as_str(), ""))
            .collect();
        let (_dir, manifest) = manifest(&targets);
        let graph = Graph::build(&manifest).expect("graph");
        assert_eq!(graph.levels().len(), count);
        for i in 0..count {
            let index = graph.index(&format!("t{i}")).expect("target");
            assert_eq!(graph.level_of(index), count - 1 - i);
            assert_eq!(graph.levels()[count - 1 - i], vec![index]);
        }
    }

    #[test]
    fn depends_on_and_from_lines_give_levels() {
        // A diamond: base ← (left, right) ← top, plus a free-standing target.
        let (_dir, manifest) = manifest(&[
            ("base", BASE, ""),
            ("left", "Bootstrap: library\nFrom: acme/tools/base\n", ""),
            ("right", BASE, "depends_on: [base]"),
            (
                "top",
                "Bootstrap: library\nFrom: acme/tools/left\n",
                "depends_on: [right]",
            ),
            ("alone", BASE, ""),
        ]);
        let graph = Graph::build(&manifest).expect("graph");
        assert_eq!(
            graph.summary().levels,
            vec![
                vec!["alone".to_owned(), "base".to_owned()],
                vec!["left".to_owned(), "right".to_owned()],
                vec!["top".to_owned()],
            ]
        );
        assert_eq!(dependencies(&graph, "top"), vec!["left", "right"]);
        let base = graph.index("base").expect("base");
        let mut dependents: Vec<&str> = graph
            .dependents(base)
            .iter()
            .map(|&i| graph.names()[i].as_str())
            .collect();
        dependents.sort_unstable();
        assert_eq!(dependents, vec!["left", "right"]);
        assert_eq!(graph.level_of(graph.index("top").expect("top")), 2);
    }

    #[test]
    fn a_target_built_on_its_own_ref_is_not_a_cycle() {
        let (_dir, manifest) = manifest(&[(
            "base",
            "Bootstrap: library\nFrom: acme/tools/base:previous\n",
            "",
        )]);
        let graph = Graph::build(&manifest).expect("graph");
        assert_eq!(graph.edge_count(), 0);
    }

    #[test]
    fn every_cycle_is_reported_with_its_whole_loop() {
        let (_dir, manifest) = manifest(&[
            ("a", "Bootstrap: library\nFrom: acme/tools/b\n", ""),
            ("b", BASE, "depends_on: [a]"),
            ("c", "Bootstrap: library\nFrom: acme/tools/d\n", ""),
            ("d", "Bootstrap: library\nFrom: acme/tools/e\n", ""),
            ("e", "Bootstrap: library\nFrom: acme/tools/c\n", ""),
            ("free", BASE, ""),
        ]);
        let errors = Graph::build(&manifest).expect_err("cycles");
        let messages: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(errors.len(), 2, "{messages:?}");
        assert!(
            messages.contains(&"dependency cycle: `a` → `b` → `a`"),
            "{messages:?}"
        );
        assert!(
            messages.contains(&"dependency cycle: `c` → `d` → `e` → `c`"),
            "{messages:?}"
        );
        assert!(errors.iter().all(|d| d.location.is_some()));
    }
}
