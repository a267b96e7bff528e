//! Typed calls between components: a component's imported WIT interface is linked, at load time,
//! to the component that exports it, as `spin.toml` names it:
//!
//! ```toml
//! [component.profile.dependencies]
//! "riff:music/catalog" = { component = "catalog" }
//! ```
//!
//! The linking is generic — nothing here knows any service's interface. For every function of the
//! imported interface the caller gets a host function (`func_new_async`) that instantiates the
//! callee in its *own* fresh store, under its own grants and limits, and calls the callee's
//! export with the same dynamic [`Val`]s. Because values are copied between stores, service
//! interfaces carry plain values only (no resources, streams or futures).
//!
//! A callee trap must not take the caller down: when the function returns `result<_, E>` and `E`
//! is a variant with an `internal(string)` case, the trap becomes `err(internal(message))`.
//!
//! Load-time checks: the dependency names a component that exists and exports the interface, the
//! caller really imports it, every imported function exists on the callee with equal parameter
//! and result types, and the dependency graph has no cycle.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, Weak};

use anyhow::{anyhow, bail, Result};
use futures::future::BoxFuture;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Instance, Linker, Type, Val};
use wasmtime::{Engine, Store};

use crate::state::RequestState;
use riff_manifest::Manifest;

/// One dependency of a component: an imported interface and the component that provides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The interface as written in the manifest, e.g. `riff:music/catalog` (version optional).
    pub interface: String,
    pub component: String,
}

/// Components in load order (callees first) and each one's dependencies.
#[derive(Debug)]
pub struct Plan {
    pub order: Vec<String>,
    pub dependencies: HashMap<String, Vec<Dependency>>,
}

/// Read every component's `dependencies` and order components so callees load before callers.
/// Refuses unknown components, malformed entries and cycles.
pub fn plan(manifest: &Manifest) -> Result<Plan> {
    let mut deps: HashMap<String, Vec<Dependency>> = HashMap::new();
    for c in &manifest.components {
        let mut list = Vec::new();
        for (interface, spec) in &c.dependencies {
            let target = spec.get("component").and_then(|v| v.as_str()).ok_or_else(|| {
                anyhow!(
                    "[component.{}.dependencies] {interface:?}: riff links dependencies to components \
                     by id: {{ component = \"<id>\" }}",
                    c.id
                )
            })?;
            if manifest.component(target).is_none() {
                bail!("[component.{}.dependencies] {interface:?}: no component named {target:?}", c.id);
            }
            if target == c.id {
                bail!("[component.{}.dependencies] {interface:?}: a component cannot depend on itself", c.id);
            }
            list.push(Dependency { interface: interface.clone(), component: target.to_string() });
        }
        deps.insert(c.id.clone(), list);
    }
    // Depth-first topological order; a node met again while still on the path is a cycle.
    let mut order = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 = on the path, 2 = done
    fn visit<'a>(
        id: &'a str,
        deps: &'a HashMap<String, Vec<Dependency>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
        order: &mut Vec<String>,
    ) -> Result<()> {
        match state.get(id) {
            Some(2) => return Ok(()),
            Some(1) => {
                let start = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].to_vec();
                cycle.push(id);
                bail!("dependency cycle: {}", cycle.join(" -> "));
            }
            _ => {}
        }
        state.insert(id, 1);
        path.push(id);
        for d in deps.get(id).into_iter().flatten() {
            visit(&d.component, deps, state, path, order)?;
        }
        path.pop();
        state.insert(id, 2);
        order.push(id.to_string());
        Ok(())
    }
    for c in &manifest.components {
        visit(&c.id, &deps, &mut state, &mut Vec::new(), &mut order)?;
    }
    Ok(Plan { order, dependencies: deps })
}

/// Does an import/export name (`riff:music/catalog@0.1.0`) match a manifest key (with or
/// without version)?
fn names_match(name: &str, key: &str) -> bool {
    name == key || name.split('@').next() == Some(key)
}

/// Runs a typed call in the callee: implemented by the app, which sits above this module and
/// knows the running components (as [`riff_outbound_http::InProcessHandler`] does for HTTP).
pub trait Callees: Send + Sync {
    /// Call `function` of `interface` exported by component `callee`, `depth` calls deep.
    fn call<'a>(
        &'a self,
        callee: &'a str,
        interface: &'a str,
        function: &'a str,
        depth: u32,
        params: &'a [Val],
        results: &'a mut [Val],
    ) -> BoxFuture<'a, wasmtime::Result<()>>;
}

/// Where linked calls find the app (set once the app exists; weak so calls never keep it alive).
pub type AppCell = Arc<OnceLock<Weak<dyn Callees>>>;

/// One dependency, checked: the caller's import name and, per imported function, whether a
/// callee trap can be reported as `internal(string)`.
struct Resolved {
    import_name: String,
    functions: Vec<(String, bool)>,
}

/// Check one dependency: the caller imports the interface, the callee exports it, and every
/// imported function exists on the callee with equal parameter and result types.
fn resolve(
    engine: &Engine,
    caller_id: &str,
    caller: &Component,
    dep: &Dependency,
    callee: &Component,
) -> Result<Resolved> {
    let caller_ty = caller.component_type();
    let (import_name, import) =
        caller_ty.imports(engine).find(|(name, _)| names_match(name, &dep.interface)).ok_or_else(|| {
            anyhow!(
                "dependencies: {caller_id:?} does not import {:?} (remove the dependency from spin.toml, \
                 or import the interface)",
                dep.interface
            )
        })?;
    let ComponentItem::ComponentInstance(import) = import.ty else {
        bail!("dependencies: {import_name} is not an interface");
    };
    let callee_ty = callee.component_type();
    let export = callee_ty
        .exports(engine)
        .find(|(name, _)| *name == import_name)
        .and_then(|(_, item)| match item.ty {
            ComponentItem::ComponentInstance(i) => Some(i),
            _ => None,
        })
        .ok_or_else(|| {
            anyhow!(
                "dependencies: component {:?} does not export {import_name}, which {caller_id:?} imports",
                dep.component
            )
        })?;
    let mut functions = Vec::new();
    for (func_name, item) in import.exports(engine) {
        let wanted = match item.ty {
            ComponentItem::ComponentFunc(f) => f,
            // Named types are checked through the functions that use them.
            ComponentItem::Type(_) => continue,
            ComponentItem::Resource(_) => bail!(
                "dependencies: {import_name} defines resource {func_name}; service interfaces \
                 carry plain values only, since values are copied between stores"
            ),
            _ => bail!("dependencies: {import_name} exports {func_name}, which is not a function"),
        };
        let offered = match export.get_export(engine, func_name).map(|e| e.ty) {
            Some(ComponentItem::ComponentFunc(f)) => f,
            _ => bail!("dependencies: {:?} has no function {import_name}#{func_name}", dep.component),
        };
        check_same_signature(&wanted, &offered)
            .map_err(|e| anyhow!("dependencies: {import_name}#{func_name}: {e}"))?;
        functions.push((func_name.to_string(), internal_error_case(&wanted)));
    }
    Ok(Resolved { import_name: import_name.to_string(), functions })
}

/// Check that `callee` still offers everything `caller_id` imports from it through `dep`: run
/// before a new version of a callee replaces the running one.
pub fn check(
    engine: &Engine,
    caller_id: &str,
    caller: &Component,
    dep: &Dependency,
    callee: &Component,
) -> Result<()> {
    resolve(engine, caller_id, caller, dep, callee).map(|_| ())
}

/// Link `caller`'s imports named in `deps` to the callees' exports, on a copy of `linker`.
///
/// The linked functions find the callee by id in the app's current snapshot at call time, so a
/// callee replaced while the app runs is called at its new version without relinking.
pub fn link(
    engine: &Engine,
    linker: &mut Linker<RequestState>,
    caller_id: &str,
    caller: &Component,
    deps: &[Dependency],
    callee_of: impl Fn(&str) -> Option<Component>,
    app: &AppCell,
) -> Result<()> {
    for dep in deps {
        let callee = callee_of(&dep.component)
            .ok_or_else(|| anyhow!("dependencies: component {:?} is not loaded", dep.component))?;
        let resolved = resolve(engine, caller_id, caller, dep, &callee)?;
        let mut instance = linker.instance(&resolved.import_name)?;
        for (func_name, internal_error) in resolved.functions {
            let target = Arc::new(CallTarget {
                component: dep.component.clone(),
                interface: resolved.import_name.clone(),
                function: func_name.clone(),
                internal_error,
                app: app.clone(),
            });
            instance.func_new_async(&func_name, move |store, _ty, params, results| {
                let target = target.clone();
                let depth = store.data().hooks.depth;
                Box::new(async move { target.call(depth, params, results).await })
            })?;
        }
    }
    Ok(())
}

fn check_same_signature(wanted: &ComponentFunc, offered: &ComponentFunc) -> Result<()> {
    let wanted_params: Vec<(&str, Type)> = wanted.params().collect();
    let offered_params: Vec<(&str, Type)> = offered.params().collect();
    if wanted_params.len() != offered_params.len() {
        bail!(
            "the caller passes {} parameters, the callee takes {}",
            wanted_params.len(),
            offered_params.len()
        );
    }
    for ((name, a), (_, b)) in wanted_params.iter().zip(&offered_params) {
        if a != b {
            bail!("parameter {name:?} has a different type in the caller and the callee");
        }
    }
    let wanted_results: Vec<Type> = wanted.results().collect();
    let offered_results: Vec<Type> = offered.results().collect();
    if wanted_results != offered_results {
        bail!("the result types differ between the caller and the callee");
    }
    Ok(())
}

/// If the function returns `result<_, E>` with `E` a variant having `internal(string)`, traps
/// can be reported as that case.
fn internal_error_case(func: &ComponentFunc) -> bool {
    let Some(Type::Result(result)) = func.results().next() else { return false };
    let Some(Type::Variant(variant)) = result.err() else { return false };
    let found = variant.cases().any(|case| case.name == "internal" && matches!(case.ty, Some(Type::String)));
    found
}

struct CallTarget {
    component: String,
    interface: String,
    function: String,
    internal_error: bool,
    app: AppCell,
}

impl CallTarget {
    async fn call(&self, depth: u32, params: &[Val], results: &mut [Val]) -> wasmtime::Result<()> {
        let outcome = self.try_call(depth, params, results).await;
        match outcome {
            Ok(()) => Ok(()),
            Err(e) if self.internal_error => {
                tracing::warn!(component = %self.component, "typed call {}#{} failed: {e:?}", self.interface, self.function);
                let message = format!("{} failed: {}", self.component, first_line(&e));
                results[0] = Val::Result(Err(Some(Box::new(Val::Variant(
                    "internal".into(),
                    Some(Box::new(Val::String(message))),
                )))));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn try_call(&self, depth: u32, params: &[Val], results: &mut [Val]) -> wasmtime::Result<()> {
        if depth >= riff_outbound_http::MAX_CHAIN_DEPTH {
            return Err(wasmtime::Error::msg("call chain too deep"));
        }
        let callees =
            self.app.get().and_then(Weak::upgrade).ok_or_else(|| wasmtime::Error::msg("app stopped"))?;
        callees.call(&self.component, &self.interface, &self.function, depth + 1, params, results).await
    }
}

/// Call `function` of `interface` on an instance of the callee.
pub async fn call_export(
    store: &mut Store<RequestState>,
    instance: Instance,
    (callee, interface, function): (&str, &str, &str),
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let index = instance
        .get_export_index(&mut *store, None, interface)
        .ok_or_else(|| wasmtime::Error::msg(format!("{callee} no longer exports {interface}")))?;
    let func_index = instance
        .get_export_index(&mut *store, Some(&index), function)
        .ok_or_else(|| wasmtime::Error::msg(format!("{callee} has no {function}")))?;
    let func = instance
        .get_func(&mut *store, func_index)
        .ok_or_else(|| wasmtime::Error::msg(format!("{function} is not a function")))?;
    func.call_async(&mut *store, params, results).await
}

/// The first line of a call's error: the lifecycle has already named a trap (`wasm trap: ...`).
fn first_line(e: &wasmtime::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest(deps: &str) -> Result<Manifest, riff_manifest::ManifestError> {
        let text = format!(
            r#"
spin_manifest_version = 2
[application]
name = "deps"
[component.a]
source = "a.wasm"
[component.b]
source = "b.wasm"
[component.c]
source = "c.wasm"
{deps}
"#
        );
        riff_manifest::parse(&text, Path::new("spin.toml"), Path::new("/app"))
    }

    #[test]
    fn callees_load_first() {
        let m = manifest(
            "[component.a.dependencies]\n\"riff:music/catalog\" = { component = \"b\" }\n\
             [component.b.dependencies]\n\"riff:music/auth\" = { component = \"c\" }\n",
        )
        .unwrap();
        let Plan { order, dependencies: deps } = plan(&m).unwrap();
        let pos = |id: &str| order.iter().position(|o| o == id).unwrap();
        assert!(pos("c") < pos("b") && pos("b") < pos("a"), "{order:?}");
        assert_eq!(
            deps["a"],
            vec![Dependency { interface: "riff:music/catalog".into(), component: "b".into() }]
        );
    }

    #[test]
    fn cycles_unknown_components_and_bad_entries_are_refused() {
        let cycle = manifest(
            "[component.a.dependencies]\n\"x:y/z\" = { component = \"b\" }\n\
             [component.b.dependencies]\n\"x:y/w\" = { component = \"a\" }\n",
        )
        .unwrap();
        let e = plan(&cycle).unwrap_err().to_string();
        assert!(e.contains("dependency cycle: a -> b -> a"), "{e}");
        let unknown = manifest("[component.a.dependencies]\n\"x:y/z\" = { component = \"nope\" }\n").unwrap();
        assert!(plan(&unknown).unwrap_err().to_string().contains("no component named \"nope\""));
        let bad = manifest("[component.a.dependencies]\n\"x:y/z\" = \"1.0\"\n").unwrap();
        assert!(plan(&bad).unwrap_err().to_string().contains("{ component = "));
    }

    #[test]
    fn interface_names_match_with_or_without_version() {
        assert!(names_match("riff:music/catalog@0.1.0", "riff:music/catalog"));
        assert!(names_match("riff:music/catalog@0.1.0", "riff:music/catalog@0.1.0"));
        assert!(!names_match("riff:music/catalog@0.1.0", "riff:music/auth"));
    }
}
