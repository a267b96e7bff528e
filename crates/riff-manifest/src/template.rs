//! `{{ name }}` templates in variable defaults and component settings. A leaf: the manifest checks
//! the references at load time with it, without the capability.

/// The names `{{ ... }}` references in a template.
pub fn template_references(template: &str) -> Result<Vec<String>, String> {
    Ok(parse_template(template)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Text(_) => None,
        })
        .collect())
}

/// One piece of a template: literal text, or the name of a variable to put in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Var(String),
}

/// Split `template` into text and `{{ variable }}` references; an unclosed or empty `{{` is an error.
pub fn parse_template(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unclosed '{{{{' in {template:?}"))?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(format!("empty '{{{{ }}}}' in {template:?}"));
        }
        parts.push(Part::Var(name.to_string()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}
