//! The build fingerprint recorded by `build.rs`: which source, compiler, profile and
//! features produced this binary. Results carry it so a run can be traced to a build.

use serde::Serialize;

/// What built this binary.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub git_rev: &'static str,
    pub rustc: &'static str,
    pub profile: &'static str,
    pub target: &'static str,
    /// Enabled cargo features, comma-separated (empty for the default build).
    pub features: &'static str,
}

/// The fingerprint of the running binary.
pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    git_rev: env!("TICKLAB_GIT_REV"),
    rustc: env!("TICKLAB_RUSTC"),
    profile: env!("TICKLAB_PROFILE"),
    target: env!("TICKLAB_TARGET"),
    features: env!("TICKLAB_FEATURES"),
};

impl BuildInfo {
    /// One line for `--version` and report headers.
    pub fn one_line(&self) -> String {
        format!(
            "ticklab {} ({}, {}, {}{})",
            self.version,
            self.git_rev,
            self.profile,
            self.rustc,
            if self.features.is_empty() {
                String::new()
            } else {
                format!(", features: {}", self.features)
            }
        )
    }
}
