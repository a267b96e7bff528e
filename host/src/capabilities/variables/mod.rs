//! Variables: `fermyon:spin/variables@2.0.0` and `wasi:config/store`.
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

use super::bindings::fermyon::spin::variables as spin_variables;
use super::bindings::wasi::config::store as wasi_config;
use crate::manifest::{Manifest, VariableDecl};
use crate::state::RequestState;

pub mod template;

pub use template::template_references;
use template::{parse_template, Part};

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

impl spin_variables::Host for RequestState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_variables::Error>> {
        if !valid_name(&name) {
            return Ok(Err(spin_variables::Error::InvalidName(name)));
        }
        Ok(match self.component.variables.get(&name) {
            Some(v) => Ok(v.to_string()),
            None => Err(spin_variables::Error::Undefined(format!("no variable for {name:?}"))),
        })
    }
}

impl wasi_config::Host for RequestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, wasi_config::Error>> {
        Ok(Ok(self.component.variables.get(&key).map(str::to_string)))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config::Error>> {
        Ok(Ok(self.component.variables.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
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

    #[test]
    fn templates() {
        assert_eq!(template_references("a {{ x }} b {{y}}").unwrap(), vec!["x", "y"]);
        assert!(template_references("a {{ x").is_err());
        assert!(template_references("{{ }}").is_err());
        assert!(template_references("plain").unwrap().is_empty());
    }
}
