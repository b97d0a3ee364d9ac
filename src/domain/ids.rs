//! Names that carry meaning: a release id is not a step id is not a role.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// One release of one service; a UUID v7, so ids sort by creation time.
    ReleaseId
);
string_id!(
    /// A step of a playbook, unique within it (`pre-flight`, `deploy-production`).
    StepId
);
string_id!(
    /// A checklist item, unique within its step.
    ItemId
);
string_id!(
    /// A failure path, unique within its step.
    FailurePathId
);
string_id!(
    /// A role as named in config (`release-manager`); platforms map their roles onto these.
    RoleName
);
/// The service a release ships (`api`); production is held per service. 1 to 100
/// letters, digits, `-`, `_` or `.`: it appears in chat thread names, URLs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceName(String);

impl ServiceName {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty()
            || value.len() > 100
            || !value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!("service {value:?} must be 1 to 100 letters, digits, '-', '_' or '.', e.g. api"));
        }
        Ok(Self(value.to_owned()))
    }

    /// A name known to be valid (a literal in code or tests).
    ///
    /// # Panics
    /// If `value` is not a valid service name.
    pub fn new(value: &str) -> Self {
        match Self::parse(value) {
            Ok(name) => name,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ServiceName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<ServiceName> for String {
    fn from(value: ServiceName) -> String {
        value.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_id!(
    /// A playbook's name (`ship-to-production`).
    PlaybookName
);
string_id!(
    /// The platform's id of an inbound request (interaction id, Slack `action_ts`+user,
    /// API idempotency key). A repeat returns the first answer.
    RequestId
);

impl ReleaseId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl RequestId {
    /// For requests that carry no id of their own: never deduplicated.
    pub fn generate() -> Self {
        Self(format!("gen:{}", uuid::Uuid::now_v7()))
    }
}

/// A digest as OCI registries print one, for error messages and help: copying it must
/// work, so it is a whole one, not an abbreviation.
pub const EXAMPLE_DIGEST: &str = "sha256:4f1c9a7e2b3d5f60718293a4b5c6d7e8f9012a3b4c5d6e7f8091a2b3c4d5e6f7";

/// An artifact's content digest (`sha256:...`): the identity production checks against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArtifactDigest(String);

impl ArtifactDigest {
    /// Accepts `algorithm:hex` as OCI digests are written, e.g. `sha256:3f9c...`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let Some((algorithm, hex)) = value.split_once(':') else {
            return Err(format!("artifact digest {value:?} must be written as algorithm:hex, e.g. {EXAMPLE_DIGEST}"));
        };
        let algorithm_ok = !algorithm.is_empty()
            && algorithm
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '+' || c == '.' || c == '_' || c == '-');
        let hex_ok = hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
        if !algorithm_ok || !hex_ok {
            return Err(format!(
                "artifact digest {value:?} must be algorithm:hex with at least 32 hex digits, e.g. {EXAMPLE_DIGEST}"
            ));
        }
        Ok(Self(format!("{algorithm}:{}", hex.to_ascii_lowercase())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first 12 hex digits, for people to read.
    pub fn short(&self) -> &str {
        let start = self.0.find(':').map_or(0, |i| i + 1);
        let end = (start + 12).min(self.0.len());
        &self.0[start..end]
    }
}

impl TryFrom<String> for ArtifactDigest {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<ArtifactDigest> for String {
    fn from(value: ArtifactDigest) -> String {
        value.0
    }
}

impl fmt::Display for ArtifactDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A git commit SHA, 7 to 40 hex digits, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GitSha(String);

impl GitSha {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if (7..=40).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(format!("git SHA {value:?} must be 7 to 40 hex digits, e.g. 3f9c2e1"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Two SHAs name the same commit when one is a prefix of the other (short and full forms).
    pub fn same_commit(&self, other: &GitSha) -> bool {
        self.0.starts_with(&other.0) || other.0.starts_with(&self.0)
    }
}

impl TryFrom<String> for GitSha {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<GitSha> for String {
    fn from(value: GitSha) -> String {
        value.0
    }
}

impl fmt::Display for GitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human-readable release version. Semantic versions order releases, so a leading `v`
/// and missing minor/patch parts are accepted (`v1.4` is `1.4.0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    text: String,
}

impl Version {
    pub fn parse(value: &str) -> Result<Self, String> {
        let text = value.trim();
        Self::semver_of(text).map(|_| Self { text: text.to_owned() })
    }

    fn semver_of(text: &str) -> Result<semver::Version, String> {
        let bare = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let (core, rest) = match bare.find(['-', '+']) {
            Some(i) => (&bare[..i], &bare[i..]),
            None => (bare, ""),
        };
        let parts = core.split('.').count();
        let padded = match parts {
            1 => format!("{core}.0.0{rest}"),
            2 => format!("{core}.0{rest}"),
            _ => bare.to_owned(),
        };
        semver::Version::parse(&padded)
            .map_err(|_| format!("version {text:?} is not a release version; write it like 1.4.0, v1.4 or 2.0.0-rc.1"))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn semver(&self) -> semver::Version {
        // Constructed only through `parse`, which checked exactly this.
        Self::semver_of(&self.text).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
    }

    pub fn is_older_than(&self, other: &Version) -> bool {
        self.semver() < other.semver()
    }
}

impl TryFrom<String> for Version {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<Version> for String {
    fn from(value: Version) -> String {
        value.text
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_semantically_and_accept_short_forms() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("1.9.0").is_older_than(&v("1.10.0")));
        assert!(v("v1.4").is_older_than(&v("1.4.1")));
        assert!(v("2.0.0-rc.1").is_older_than(&v("2.0.0")));
        assert!(!v("1.4.0").is_older_than(&v("v1.4")));
        assert!(Version::parse("banana").is_err());
        assert!(Version::parse("").is_err());
    }

    #[test]
    fn digests_must_be_algorithm_and_hex() {
        let d =
            ArtifactDigest::parse("sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789").unwrap();
        assert!(d.as_str().starts_with("sha256:abcdef"));
        assert_eq!(d.short(), "abcdef012345");
        assert!(ArtifactDigest::parse("abcdef").is_err());
        // The example every refusal offers is itself accepted: copying it works.
        for refused in ["abcdef", "sha256:4f1c..."] {
            let message = ArtifactDigest::parse(refused).unwrap_err();
            let example = message.rsplit("e.g. ").next().unwrap();
            assert_eq!(example, EXAMPLE_DIGEST, "{message}");
            assert_eq!(ArtifactDigest::parse(example).unwrap().as_str(), EXAMPLE_DIGEST);
        }
        assert!(ArtifactDigest::parse("sha256:xyz").is_err());
        assert!(ArtifactDigest::parse("sha256:1234").is_err());
    }

    #[test]
    fn git_shas_match_by_prefix() {
        let short = GitSha::parse("3F9C2E1").unwrap();
        let full = GitSha::parse("3f9c2e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5").unwrap();
        assert!(short.same_commit(&full));
        assert!(!GitSha::parse("3f9c2e2").unwrap().same_commit(&full));
        assert!(GitSha::parse("xyz1234").is_err());
        assert!(GitSha::parse("abc").is_err());
    }
}
