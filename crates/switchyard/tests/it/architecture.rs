//! ARCHITECTURE.md's structural invariants, checked on the source: which crate may
//! depend on which framework, and that `crate::` imports and paths between the
//! modules of the engine and the server form no cycle (a cycle means two modules can only be
//! understood, tested and changed together).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates/")
        .to_path_buf()
}

/// The names in a manifest's `[dependencies]` table.
fn dependencies(krate: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(crates_dir().join(krate).join("Cargo.toml"))
        .expect("read manifest");
    let mut out = BTreeSet::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once(['=', '.']) {
                if !name.trim().is_empty() && !name.starts_with('#') {
                    out.insert(name.trim().to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn frameworks_stay_at_the_edges() {
    let core = dependencies("switchyard-core");
    assert!(
        core.contains("serde"),
        "the parser read the manifest: {core:?}"
    );
    for banned in ["axum", "tokio", "sqlx", "hyper", "reqwest"] {
        assert!(
            !core.contains(banned),
            "switchyard-core depends on {banned}"
        );
    }
    let engine = dependencies("switchyard-engine");
    assert!(engine.contains("switchyard-store"), "{engine:?}");
    for banned in ["axum", "tower-http", "hyper", "anyhow", "sqlx"] {
        assert!(
            !engine.contains(banned),
            "switchyard-engine depends on {banned}"
        );
    }
    for krate in ["switchyard-store", "switchyard-server"] {
        assert!(
            !dependencies(krate).contains("anyhow"),
            "{krate} uses anyhow; only the binary may"
        );
    }
}

/// Every `.rs` file under `src`, as its module path (`delivery::engine`; `lib.rs`
/// and `mod.rs` name their folder).
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, src, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p.strip_prefix(src).expect("under src").with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                out.insert(parts.join("::"), p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let tree = tree.as_str();
    let Some(open) = tree.find('{') else {
        return vec![tree.trim_end_matches("::").to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            let p = if p == "self" { "" } else { p };
            expand(&format!("{prefix}{p}"))
        })
        .collect()
}

/// The modules each module imports with `use crate::...`.
fn import_graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = crates_dir().join(krate).join("src");
    let mods = modules(&src);
    let mut graph = BTreeMap::new();
    for (name, path) in &mods {
        let text = std::fs::read_to_string(path).expect("read source");
        // Test modules may import anything; they are not part of the shape.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        // Comments may name any module; code is what depends.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut used = Vec::new();
        for stmt in code.split(';') {
            let stmt: String = stmt.split_whitespace().collect();
            if let Some(at) = stmt.find("usecrate::") {
                used.extend(expand(&stmt[at + "usecrate::".len()..]));
            }
            // Paths in expressions (`crate::plan::plan(...)`) depend just as much.
            for (at, _) in stmt.match_indices("crate::") {
                if stmt[..at].ends_with("use") {
                    continue;
                }
                let path: String = stmt[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                used.push(path);
            }
        }
        let mut edges = BTreeSet::new();
        for used in used {
            // The longest prefix that is a module of this crate.
            let segs: Vec<&str> = used.split("::").filter(|s| !s.is_empty()).collect();
            let target = (1..=segs.len())
                .rev()
                .map(|n| segs[..n].join("::"))
                .find(|m| mods.contains_key(m));
            if let Some(t) = target {
                if &t != name && !name.starts_with(&format!("{t}::")) {
                    edges.insert(t);
                }
            }
        }
        graph.insert(name.clone(), edges);
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n) {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_checker_sees_imports_and_cycles() {
    assert_eq!(
        expand("a::{b, c::{d, e}, self}"),
        ["a::b", "a::c::d", "a::c::e", "a"]
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert!(find_cycle(&g).is_some());
    let engine = import_graph("switchyard-engine");
    assert!(
        engine["ingest"].contains("app") && engine["plan"].contains("outbox"),
        "the graph is read from the source: {engine:?}"
    );
}

#[test]
fn module_imports_form_no_cycles() {
    for krate in ["switchyard-engine", "switchyard-server"] {
        let graph = import_graph(krate);
        assert!(graph.len() > 5, "{krate}: {graph:?}");
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{krate}: `use crate::` imports form a cycle: {}",
                cycle.join(" -> ")
            );
        }
    }
}
