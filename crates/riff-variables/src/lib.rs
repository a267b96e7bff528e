//! # riff-variables
//!
//! Variables: `wasi:config/store`, with `fermyon:spin/variables@2.0.0` (WASIp2) and
//! `spin:variables/variables@3.0.0` (spin-sdk 6, WASIp3: the same `get`, as an `async func`)
//! delegating to it.
//!
//! Application variables are declared in `[variables]` and get their values, in order, from the
//! `RIFF_VARIABLE_<NAME>` or `SPIN_VARIABLE_<NAME>` environment variables, then the declared
//! default. A component sees only its own `variables` table, whose values are templates over the
//! application variables (`"Bearer {{ api_token }}"`). Everything is resolved once at load, so a
//! missing required value stops `riff up` instead of failing the first request that needs it.
//! Values of `secret` variables are never logged.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{bail, Result};

pub use riff_manifest::template::template_references;
use riff_manifest::template::{parse_template, Part};
use riff_manifest::{Manifest, VariableDecl};
use wasmtime::component::{HasData, Linker};

/// Host bindings for the variables interfaces (WIT vendored in `wit/deps`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: ["../../wit/deps/spin@2.0.0", "../../wit/deps/wasi-runtime-config-2024-09-27"],
        inline: "
            package riff:variables-host;
            world variables {
                import fermyon:spin/variables@2.0.0;
                import wasi:config/store@0.2.0-draft-2024-09-27;
            }
        ",
        world: "riff:variables-host/variables",
        imports: { default: async | trappable },
    });
}

/// Host bindings for spin-sdk 6's variables interface. Its `get` is an `async func`, which only
/// the concurrent (WASIp3) engine can link.
pub mod concurrent_bindings {
    wasmtime::component::bindgen!({
        path: ["../../wit/deps/spin-variables@3.0.0"],
        inline: "
            package riff:variables-concurrent-host;
            world variables {
                import spin:variables/variables@3.0.0;
            }
        ",
        world: "riff:variables-concurrent-host/variables",
        imports: { default: trappable },
    });
}

use bindings::fermyon::spin::variables as spin_variables;
use bindings::wasi::config::store as wasi_config;
use concurrent_bindings::spin::variables::variables as spin_variables_v3;

/// Application variable values, resolved from the environment and defaults.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolve every declared variable; a required one without a value is an error.
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (name, decl) in decls {
            let upper = name.to_ascii_uppercase();
            let value = env(&format!("RIFF_VARIABLE_{upper}"))
                .or_else(|| env(&format!("SPIN_VARIABLE_{upper}")))
                .or_else(|| decl.default.clone());
            match value {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None if decl.required => bail!(
                    "variable {name:?} is required but has no value: set RIFF_VARIABLE_{upper} \
                     (or SPIN_VARIABLE_{upper}) in the environment"
                ),
                None => {}
            }
        }
        Ok(Self { values })
    }

    pub fn from_manifest(manifest: &Manifest) -> Result<Self> {
        Self::resolve(&manifest.variables, |k| std::env::var(k).ok())
    }

    /// Expand one component template.
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        for part in parse_template(template).map_err(anyhow::Error::msg)? {
            match part {
                Part::Text(t) => out.push_str(&t),
                Part::Var(v) => match self.values.get(&v) {
                    Some(value) => out.push_str(value),
                    None => bail!(
                        "variable {v:?} has no value (give it a default or set RIFF_VARIABLE_{})",
                        v.to_ascii_uppercase()
                    ),
                },
            }
        }
        Ok(out)
    }

    /// Resolve a component's `variables` table.
    pub fn for_component(&self, templates: &BTreeMap<String, String>) -> Result<ComponentVariables> {
        let mut values = BTreeMap::new();
        for (name, template) in templates {
            let value = self.expand(template).map_err(|e| anyhow::anyhow!("variables.{name}: {e}"))?;
            values.insert(name.clone(), value);
        }
        Ok(ComponentVariables { values: Arc::new(values) })
    }
}

/// The variables one component may read.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    values: Arc<BTreeMap<String, String>>,
}

impl ComponentVariables {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// What a store's data lends this capability for one call: the component's variables.
pub struct VariablesCtxView<'a> {
    pub variables: &'a ComponentVariables,
}

/// Implemented by a store's data type to give the variables host its view.
pub trait VariablesView: Send {
    fn variables(&mut self) -> VariablesCtxView<'_>;
}

struct HasVariables;

impl HasData for HasVariables {
    type Data<'a> = VariablesCtxView<'a>;
}

/// Add `wasi:config/store` and `fermyon:spin/variables@2.0.0` to `linker`.
pub fn add_to_linker<T: VariablesView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wasi_config::add_to_linker::<T, HasVariables>(linker, T::variables)?;
    spin_variables::add_to_linker::<T, HasVariables>(linker, T::variables)?;
    Ok(())
}

impl wasi_config::Host for VariablesCtxView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, wasi_config::Error>> {
        Ok(Ok(self.variables.get(&key).map(str::to_string)))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config::Error>> {
        Ok(Ok(self.variables.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
    }
}

/// Add spin-sdk 6's `spin:variables/variables@3.0.0` to the concurrent engine's `linker`.
pub fn add_to_concurrent_linker<T: VariablesView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    spin_variables_v3::add_to_linker::<T, HasVariables>(linker, T::variables)?;
    Ok(())
}

impl spin_variables_v3::Host for VariablesCtxView<'_> {}

impl<U> spin_variables_v3::HostWithStore<U> for HasVariables {
    async fn get(
        store: &wasmtime::component::Accessor<U, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, spin_variables_v3::Error>> {
        use spin_variables_v3::Error;
        let found = store.with(|mut view| {
            let view = view.get();
            valid_name(&name).then(|| view.variables.get(&name).map(str::to_string))
        });
        Ok(match found {
            None => Err(Error::InvalidName(name)),
            Some(None) => Err(Error::Undefined(format!("no variable for {name:?}"))),
            Some(Some(value)) => Ok(value),
        })
    }
}

/// Spin's interface: `wasi:config`'s `get`, with Spin's name rules and errors.
impl spin_variables::Host for VariablesCtxView<'_> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_variables::Error>> {
        if !valid_name(&name) {
            return Ok(Err(spin_variables::Error::InvalidName(name)));
        }
        Ok(match wasi_config::Host::get(self, name.clone()).await? {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(spin_variables::Error::Undefined(format!("no variable for {name:?}"))),
            Err(wasi_config::Error::Upstream(e) | wasi_config::Error::Io(e)) => {
                Err(spin_variables::Error::Provider(e))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, VariableDecl> {
        let mut d = BTreeMap::new();
        d.insert("greeting".into(), VariableDecl { default: Some("hello".into()), ..Default::default() });
        d.insert("token".into(), VariableDecl { required: true, secret: true, ..Default::default() });
        d
    }

    #[test]
    fn environment_overrides_default_and_riff_beats_spin() {
        let vars = AppVariables::resolve(&decls(), |k| match k {
            "RIFF_VARIABLE_TOKEN" => Some("riff".into()),
            "SPIN_VARIABLE_TOKEN" => Some("spin".into()),
            "SPIN_VARIABLE_GREETING" => Some("hi".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(vars.expand("{{ greeting }}, {{token}}!").unwrap(), "hi, riff!");
    }

    #[test]
    fn missing_required_is_an_error_naming_the_env_var() {
        let e = AppVariables::resolve(&decls(), |_| None).unwrap_err().to_string();
        assert!(e.contains("RIFF_VARIABLE_TOKEN"), "{e}");
    }

    #[tokio::test]
    async fn components_read_only_their_own_variables_through_either_interface() {
        let vars = AppVariables::resolve(&decls(), |k| (k == "RIFF_VARIABLE_TOKEN").then(|| "s3cret".into()))
            .unwrap();
        let templates = BTreeMap::from([("auth".to_string(), "Bearer {{ token }}".to_string())]);
        let own = vars.for_component(&templates).unwrap();
        let mut view = VariablesCtxView { variables: &own };
        let spin = spin_variables::Host::get(&mut view, "auth".into()).await.unwrap();
        assert_eq!(spin.unwrap(), "Bearer s3cret");
        let wasi = wasi_config::Host::get(&mut view, "auth".into()).await.unwrap();
        assert_eq!(wasi.unwrap().as_deref(), Some("Bearer s3cret"));
        // Application variables are not a component's own unless its table names them.
        let undefined = spin_variables::Host::get(&mut view, "token".into()).await.unwrap();
        assert!(matches!(undefined, Err(spin_variables::Error::Undefined(_))));
        assert_eq!(wasi_config::Host::get(&mut view, "token".into()).await.unwrap().unwrap(), None);
        let invalid = spin_variables::Host::get(&mut view, "Bad-Name".into()).await.unwrap();
        assert!(matches!(invalid, Err(spin_variables::Error::InvalidName(_))));
        let all = wasi_config::Host::get_all(&mut view).await.unwrap().unwrap();
        assert_eq!(all, [("auth".to_string(), "Bearer s3cret".to_string())]);
    }

    #[test]
    fn templates() {
        assert_eq!(template_references("a {{ x }} b {{y}}").unwrap(), vec!["x", "y"]);
        assert!(template_references("a {{ x").is_err());
        assert!(template_references("{{ }}").is_err());
        assert!(template_references("plain").unwrap().is_empty());
    }
}
