//! WASIp3 components built against a release candidate of WASI 0.3 whose interfaces are the
//! final ones under another version.
//!
//! spin-sdk 6 (through the `wasip3` crate 0.6) imports `wasi:http/types@0.3.0-rc-2026-03-15`
//! and exports `wasi:http/handler@0.3.0-rc-2026-03-15`; wasmtime 48 implements
//! `wasi:*@0.3.0`. The linker matches versions exactly for pre-releases, so such a component
//! would not instantiate, although every interface of that candidate (http, cli, clocks,
//! filesystem, random, sockets) is, type for type, the final 0.3.0 one: only the `@since`
//! gates differ. Rather than keep a second copy of each interface, riff renames the
//! component's own top-level imports and exports to `@0.3.0` before compiling it. The type
//! check at instantiation still compares every function and type, so a candidate listed here
//! wrongly would be refused, not run.
//!
//! Only candidates checked against the final WIT are listed; others are left alone (and fail
//! to link with a message naming the interface).

use std::borrow::Cow;

use anyhow::{Context, Result};
use wasm_encoder::reencode::{Reencode, ReencodeComponent};

/// Release candidates whose interfaces are identical to `0.3.0`.
pub const SAME_AS_FINAL: &[&str] = &["0.3.0-rc-2026-03-15"];

/// The component with its `wasi:*@<candidate>` imports and exports named `@0.3.0`, or
/// `None` when it names no such candidate.
pub fn final_names(component: &[u8]) -> Result<Option<Vec<u8>>> {
    let mentions = |candidate: &str| {
        let needle = format!("@{candidate}");
        component.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    if !SAME_AS_FINAL.iter().any(|c| mentions(c)) {
        return Ok(None);
    }
    let mut renamer = Renamer { depth: 0 };
    let mut out = wasm_encoder::Component::new();
    renamer
        .parse_component(&mut out, wasmparser::Parser::new(0), component)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("renaming WASIp3 release-candidate imports")?;
    Ok(Some(out.finish()))
}

/// `wasi:http/types@0.3.0-rc-2026-03-15` → `wasi:http/types@0.3.0`; anything else unchanged.
pub fn final_name(name: &str) -> Cow<'_, str> {
    if name.starts_with("wasi:") {
        if let Some((interface, version)) = name.rsplit_once('@') {
            if SAME_AS_FINAL.contains(&version) {
                return Cow::Owned(format!("{interface}@0.3.0"));
            }
        }
    }
    Cow::Borrowed(name)
}

/// Renames at the outermost level only: a nested component's imports are matched by the
/// outer component's instantiation arguments, which keep their names.
struct Renamer {
    depth: u32,
}

impl Reencode for Renamer {
    type Error = std::convert::Infallible;
}

impl ReencodeComponent for Renamer {
    fn push_depth(&mut self) {
        self.depth += 1;
    }

    fn pop_depth(&mut self) {
        self.depth -= 1;
    }

    fn parse_component_import_section(
        &mut self,
        imports: &mut wasm_encoder::ComponentImportSection,
        section: wasmparser::ComponentImportSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        for import in section {
            let import = import?;
            let mut name = wasm_encoder::ComponentExternName::from(import.name);
            if self.depth == 0 {
                name.name = Cow::Owned(final_name(&name.name).into_owned());
            }
            imports.import(name, self.component_type_ref(import.ty)?);
        }
        Ok(())
    }

    fn parse_component_export(
        &mut self,
        exports: &mut wasm_encoder::ComponentExportSection,
        export: wasmparser::ComponentExport<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        let mut name = wasm_encoder::ComponentExternName::from(export.name);
        if self.depth == 0 {
            name.name = Cow::Owned(final_name(&name.name).into_owned());
        }
        let ty = export.ty.map(|t| self.component_type_ref(t)).transpose()?;
        exports.export(
            name,
            export.kind.into(),
            self.component_external_index(export.kind, export.index),
            ty,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_wasi_candidates_are_renamed() {
        assert_eq!(final_name("wasi:http/handler@0.3.0-rc-2026-03-15"), "wasi:http/handler@0.3.0");
        assert_eq!(final_name("wasi:cli/stdout@0.3.0-rc-2026-03-15"), "wasi:cli/stdout@0.3.0");
        assert_eq!(
            final_name("wasi:http/handler@0.3.0-rc-2025-09-16"),
            "wasi:http/handler@0.3.0-rc-2025-09-16"
        );
        assert_eq!(final_name("wasi:http/types@0.2.6"), "wasi:http/types@0.2.6");
        assert_eq!(final_name("spin:x/y@0.3.0-rc-2026-03-15"), "spin:x/y@0.3.0-rc-2026-03-15");
    }

    #[test]
    fn top_level_imports_and_exports_are_renamed_and_the_rest_kept() {
        let wat = r#"(component
            (import "wasi:random/random@0.3.0-rc-2026-03-15" (instance $r
                (export "get-random-u64" (func (result u64)))))
            (alias export $r "get-random-u64" (func $f))
            (component $inner
                (import "wasi:random/random@0.3.0-rc-2026-03-15" (instance))
            )
            (instance $i (instantiate $inner (with "wasi:random/random@0.3.0-rc-2026-03-15" (instance $r))))
            (export "wasi:random/random@0.3.0-rc-2026-03-15" (instance $r))
            (export "get" (func $f)))"#;
        let component = wat::parse_str(wat).unwrap();
        let renamed = final_names(&component).unwrap().expect("renamed");
        wasmparser::Validator::new().validate_all(&renamed).expect("still a valid component");
        let mut top = Vec::new();
        let mut depth = 0;
        for payload in wasmparser::Parser::new(0).parse_all(&renamed) {
            match payload.unwrap() {
                wasmparser::Payload::ComponentSection { .. } => depth += 1,
                wasmparser::Payload::End(_) if depth > 0 => depth -= 1,
                wasmparser::Payload::ComponentImportSection(s) => {
                    for i in s {
                        top.push((depth, i.unwrap().name.name.to_string()));
                    }
                }
                wasmparser::Payload::ComponentExportSection(s) if depth == 0 => {
                    for e in s {
                        top.push((depth, e.unwrap().name.name.to_string()));
                    }
                }
                _ => {}
            }
        }
        assert!(top.contains(&(0, "wasi:random/random@0.3.0".to_string())), "{top:?}");
        assert!(top.contains(&(1, "wasi:random/random@0.3.0-rc-2026-03-15".to_string())), "{top:?}");
        assert!(top.contains(&(0, "get".to_string())), "{top:?}");
        assert!(final_names(b"\0asm\x0d\0\x01\0").unwrap().is_none(), "nothing to rename");
    }
}
