//! `riff new <template> <name>`: a working project from a template embedded in the binary, so an
//! author starts from something that builds and runs instead of from an empty directory.
//!
//! The templates live in `host/templates/` (see its README) and are compiled in with
//! `include_str!`: `riff new` needs no network and no template repository, and a project always
//! matches the riff that made it (the `music-service` template carries this riff's own
//! `wit/music` and `wit/platform/messaging.wit`). Building a project needs only crates.io.
//!
//! A name must be a Spin component id and a Cargo package name at once, so it is kebab-case:
//! lowercase ASCII letters and digits in `-`-separated words, starting with a letter. The
//! project directory is `./<name>` (or `--dir`); an existing one is refused, never overwritten.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One embedded template.
#[derive(Debug)]
pub struct Template {
    pub name: &'static str,
    pub description: &'static str,
    /// (path in the project, contents with `{{project-name}}` / `{{crate_name}}` placeholders)
    files: &'static [(&'static str, &'static str)],
}

macro_rules! template_files {
    ($dir:literal: $($path:literal => $file:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../templates/", $dir, "/", $file)))),*]
    };
}

/// Every template, in the order `riff new --list` shows them.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "http-rust",
        description: "HTTP component in Rust, spin-sdk 6 (a WASIp3 component)",
        files: template_files!("http-rust":
            "Cargo.toml" => "Cargo.toml.tmpl",
            "src/lib.rs" => "src/lib.rs",
            "spin.toml" => "spin.toml",
            ".gitignore" => "gitignore",
            "README.md" => "README.md",
        ),
    },
    Template {
        name: "http-rust-p2",
        description: "HTTP component in Rust, spin-sdk 5.2 (a WASIp2 component)",
        files: template_files!("http-rust-p2":
            "Cargo.toml" => "Cargo.toml.tmpl",
            "src/lib.rs" => "src/lib.rs",
            "spin.toml" => "spin.toml",
            ".gitignore" => "gitignore",
            "README.md" => "README.md",
        ),
    },
    Template {
        name: "music-service",
        description:
            "an implementation of riff:music/search, ready to swap into the music app with `riff deploy`",
        files: &[
            ("Cargo.toml", include_str!("../templates/music-service/Cargo.toml.tmpl")),
            ("src/lib.rs", include_str!("../templates/music-service/src/lib.rs")),
            ("spin.toml", include_str!("../templates/music-service/spin.toml")),
            (".gitignore", include_str!("../templates/music-service/gitignore")),
            ("README.md", include_str!("../templates/music-service/README.md")),
            ("wit/music/types.wit", include_str!("../../wit/music/types.wit")),
            ("wit/music/services.wit", include_str!("../../wit/music/services.wit")),
            ("wit/platform/messaging.wit", include_str!("../../wit/platform/messaging.wit")),
        ],
    },
];

/// The template called `name`.
pub fn template(name: &str) -> Result<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name).with_context(|| {
        let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
        format!("no template {name:?}: choose one of {} (riff new --list)", names.join(", "))
    })
}

/// `riff new --list`.
pub fn list() -> String {
    TEMPLATES.iter().map(|t| format!("{:<14} {}\n", t.name, t.description)).collect()
}

/// Names a project may have: a Spin component id that is also a Cargo package name.
pub fn check_name(name: &str) -> Result<()> {
    const RESERVED: &[&str] = &["test", "std", "core", "alloc", "proc-macro", "self", "super", "crate"];
    let words_ok = name
        .split('-')
        .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if name.is_empty() || name.len() > 64 || !name.starts_with(|c: char| c.is_ascii_lowercase()) || !words_ok
    {
        bail!(
            "bad project name {name:?}: use lowercase letters and digits in words joined by '-', starting with a letter, at most 64 characters (e.g. my-service)"
        );
    }
    if RESERVED.contains(&name) {
        bail!("bad project name {name:?}: Cargo reserves it; choose another");
    }
    Ok(())
}

/// A template's files with the placeholders filled in for `name`.
pub fn render(template: &Template, name: &str) -> Vec<(&'static str, String)> {
    let crate_name = name.replace('-', "_");
    template
        .files
        .iter()
        .map(|(path, text)| {
            (*path, text.replace("{{project-name}}", name).replace("{{crate_name}}", &crate_name))
        })
        .collect()
}

/// Create project `name` from `template` in `dir` (default `./<name>`); the directory made.
pub fn create(template_name: &str, name: &str, dir: Option<&Path>) -> Result<PathBuf> {
    let template = template(template_name)?;
    check_name(name)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() {
        bail!("{} already exists: riff new does not overwrite; choose another name or --dir", dir.display());
    }
    // Create the directory itself with create_dir, not create_dir_all, so that a directory made
    // meanwhile by someone else is refused too.
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (path, text) in render(template, name) {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["hello", "my-service", "a1", "search-v2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Hello", "1st", "my_service", "-a", "a-", "a--b", "a b", "../x", "a/b", "test", "é"]
        {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains("project name"), "{bad}: {e}");
        }
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn templates_fill_in_the_name() {
        for t in TEMPLATES {
            let files = render(t, "my-thing");
            let paths: Vec<&str> = files.iter().map(|f| f.0).collect();
            for needed in ["Cargo.toml", "src/lib.rs", "spin.toml", ".gitignore", "README.md"] {
                assert!(paths.contains(&needed), "{} lacks {needed}", t.name);
            }
            for (path, text) in &files {
                assert!(!text.contains("{{project-name}}") && !text.contains("{{crate_name}}"), "{path}");
            }
            let manifest = &files.iter().find(|f| f.0 == "spin.toml").unwrap().1;
            assert!(manifest.contains("[component.my-thing]"), "{manifest}");
            assert!(manifest.contains("release/my_thing.wasm"), "{manifest}");
            assert!(manifest.contains("[component.my-thing.build]"), "{manifest}");
            let cargo = &files.iter().find(|f| f.0 == "Cargo.toml").unwrap().1;
            assert!(cargo.contains("name = \"my-thing\"") && cargo.contains("[workspace]"), "{cargo}");
        }
        assert!(template("nope").unwrap_err().to_string().contains("http-rust-p2"));
        assert_eq!(list().lines().count(), TEMPLATES.len());
    }

    #[test]
    fn refuses_an_existing_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("taken");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let e = create("http-rust-p2", "taken", Some(&dir)).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("keep.txt")).unwrap(), "mine", "untouched");
        let made = create("music-service", "fresh", Some(&tmp.path().join("fresh"))).unwrap();
        assert!(made.join("wit/music/services.wit").is_file());
        assert!(made.join("wit/platform/messaging.wit").is_file());
    }
}
