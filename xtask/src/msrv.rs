//! `cargo xtask msrv`: fails when a package in `Cargo.lock` needs a newer Rust than the
//! workspace's `rust-version`, so the minimum the README and `Cargo.toml` name stays true when
//! dependencies are updated. Cargo's metadata gives each package's own `rust-version`.
//!
//! Every package of the lock file counts, whatever the platform it is for. Our own code is held
//! to `rust-version` by clippy's `incompatible_msrv` lint (standard library items newer than it),
//! which CI runs with warnings denied.

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::connector::Result;

/// Runs `cargo metadata` and compares.
pub fn run() -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version=1",
            "--locked",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let metadata: Value = serde_json::from_slice(&out.stdout)?;
    let found = compare(&metadata)?;
    let newest = found
        .newest
        .as_ref()
        .map_or("none declares one".to_string(), |(v, _)| v.to_string());
    if found.too_new.is_empty() {
        println!(
            "rust-version {} holds: the newest Rust a locked dependency needs is {newest} ({})",
            found.declared,
            found
                .newest
                .as_ref()
                .map_or(String::new(), |(_, who)| who.join(", "))
        );
        return Ok(());
    }
    Err(format!(
        "rust-version is {} but Cargo.lock holds packages that need a newer Rust: {}. Raise \
         rust-version in Cargo.toml (and the README's Requirements) to {newest}, or pin an older \
         release with `cargo update -p NAME --precise VERSION`",
        found.declared,
        found.too_new.join(", ")
    )
    .into())
}

/// A Rust version as manifests write it: `1.88` or `1.88.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RustVersion(u64, u64, u64);

impl RustVersion {
    fn parse(text: &str) -> Option<RustVersion> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        parts
            .next()
            .is_none()
            .then_some(RustVersion(major, minor, patch))
    }
}

impl fmt::Display for RustVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.2 {
            0 => write!(f, "{}.{}", self.0, self.1),
            patch => write!(f, "{}.{}.{patch}", self.0, self.1),
        }
    }
}

/// The outcome of a comparison.
#[derive(Debug)]
struct Found {
    /// The workspace's `rust-version` (the highest, should members differ).
    declared: RustVersion,
    /// The newest `rust-version` among dependencies, with the packages that declare it.
    newest: Option<(RustVersion, Vec<String>)>,
    /// `name version needs X` for every dependency newer than `declared`.
    too_new: Vec<String>,
}

/// Compares the dependencies' `rust_version` in `cargo metadata` output with the workspace's.
fn compare(metadata: &Value) -> Result<Found> {
    let members: Vec<&Value> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata lists no workspace_members")?
        .iter()
        .collect();
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata lists no packages")?;
    let version_of = |p: &Value| p["rust_version"].as_str().and_then(RustVersion::parse);
    let label = |p: &Value| {
        format!(
            "{} {}",
            p["name"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?")
        )
    };
    let declared = packages
        .iter()
        .filter(|p| members.contains(&&p["id"]))
        .filter_map(version_of)
        .max()
        .ok_or("no workspace member declares rust-version")?;
    let mut newest: Option<(RustVersion, Vec<String>)> = None;
    let mut too_new = Vec::new();
    for package in packages.iter().filter(|p| !members.contains(&&p["id"])) {
        let Some(needs) = version_of(package) else {
            continue;
        };
        if needs > declared {
            too_new.push(format!("{} needs {needs}", label(package)));
        }
        match newest.as_mut().map(|(v, who)| (needs.cmp(v), who)) {
            Some((Ordering::Less, _)) => {}
            Some((Ordering::Equal, who)) => who.push(label(package)),
            _ => newest = Some((needs, vec![label(package)])),
        }
    }
    too_new.sort();
    Ok(Found {
        declared,
        newest,
        too_new,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata(declared: &str, deps: &[(&str, Option<&str>)]) -> Value {
        let mut packages = vec![json!({
            "id": "path+file:///ws#source-harvest@0.1.0",
            "name": "source-harvest", "version": "0.1.0", "rust_version": declared,
        })];
        for (name, needs) in deps {
            packages.push(json!({
                "id": format!("registry+https://x#{name}@1.0.0"),
                "name": name, "version": "1.0.0", "rust_version": needs,
            }));
        }
        json!({ "workspace_members": ["path+file:///ws#source-harvest@0.1.0"], "packages": packages })
    }

    #[test]
    fn versions_compare_numerically_not_as_text() {
        let v = |s| RustVersion::parse(s).unwrap();
        assert!(v("1.100") > v("1.88"));
        assert!(v("1.88.1") > v("1.88"));
        assert_eq!(v("1.88"), v("1.88.0"));
        assert_eq!(v("1.88").to_string(), "1.88");
        assert_eq!(v("1.88.1").to_string(), "1.88.1");
        assert_eq!(RustVersion::parse("1.x"), None);
        assert_eq!(RustVersion::parse("1.2.3.4"), None);
    }

    #[test]
    fn a_dependency_needing_a_newer_rust_is_named() {
        let found = compare(&metadata(
            "1.85",
            &[
                ("icu_normalizer", Some("1.88")),
                ("idna_adapter", Some("1.86")),
                ("libc", None),
            ],
        ))
        .unwrap();
        assert_eq!(found.declared.to_string(), "1.85");
        assert_eq!(
            found.too_new,
            [
                "icu_normalizer 1.0.0 needs 1.88",
                "idna_adapter 1.0.0 needs 1.86"
            ]
        );
        let (newest, who) = found.newest.unwrap();
        assert_eq!(
            (newest.to_string(), who),
            ("1.88".to_string(), vec!["icu_normalizer 1.0.0".to_string()])
        );
    }

    #[test]
    fn a_declared_version_at_the_newest_requirement_holds() {
        let found = compare(&metadata(
            "1.88",
            &[
                ("proptest", Some("1.88")),
                ("icu_provider", Some("1.88")),
                ("serde", Some("1.61")),
            ],
        ))
        .unwrap();
        assert!(found.too_new.is_empty());
        assert_eq!(
            found.newest.unwrap().1,
            ["proptest 1.0.0", "icu_provider 1.0.0"]
        );
    }

    #[test]
    fn metadata_without_a_declared_version_is_an_error() {
        let mut bare = metadata("1.88", &[]);
        bare["packages"][0]["rust_version"] = Value::Null;
        assert!(compare(&bare).is_err());
    }
}
