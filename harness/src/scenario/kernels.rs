//! The kernels a scenario can name: the ones Debian ships as `linux-source-<version>`, each
//! with the release it comes from. `kernel.base` takes one (`"6.1"`) or a list (`["6.1",
//! "5.10", "6.12"]`); the first is the one a run uses when `--kernel` does not say.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A kernel series Debian packages as `linux-source-<version>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KernelVersion {
    /// bullseye's LTS kernel, the one nearest the incidents' 5.4.
    #[serde(rename = "5.10")]
    V5_10,
    /// bookworm's, the host's own release: installed by `ci/deps.sh`.
    #[serde(rename = "6.1")]
    V6_1,
    /// trixie's.
    #[serde(rename = "6.12")]
    V6_12,
}

impl KernelVersion {
    pub const ALL: [KernelVersion; 3] = [KernelVersion::V5_10, KernelVersion::V6_1, KernelVersion::V6_12];

    /// As written in YAML and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            KernelVersion::V5_10 => "5.10",
            KernelVersion::V6_1 => "6.1",
            KernelVersion::V6_12 => "6.12",
        }
    }

    /// Debian's source package: it installs `/usr/src/linux-source-<version>.tar.xz`.
    pub fn package(self) -> String {
        format!("linux-source-{}", self.name())
    }

    /// The Debian release it is fetched from, or `None` for the host's own (installed with
    /// apt-get by `ci/deps.sh`; the others are fetched into the lab cache, never installed).
    pub fn fetched_from(self) -> Option<&'static str> {
        match self {
            KernelVersion::V5_10 => Some("bullseye"),
            KernelVersion::V6_1 => None,
            KernelVersion::V6_12 => Some("trixie"),
        }
    }

    fn known() -> String {
        KernelVersion::ALL.map(|k| k.name()).join(", ")
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kernel `{0}`; known: {known}", known = KernelVersion::known())]
pub struct UnknownKernel(pub String);

impl std::str::FromStr for KernelVersion {
    type Err = UnknownKernel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KernelVersion::ALL.into_iter().find(|k| k.name() == s.trim()).ok_or_else(|| UnknownKernel(s.to_string()))
    }
}

/// `kernel.base`: the kernels a scenario is meant for, the default first; never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kernels(Vec<KernelVersion>);

impl Kernels {
    pub fn one(k: KernelVersion) -> Kernels {
        Kernels(vec![k])
    }

    /// The kernel a run uses when none is asked for.
    pub fn default_kernel(&self) -> KernelVersion {
        self.0[0]
    }

    pub fn all(&self) -> &[KernelVersion] {
        &self.0
    }

    pub fn contains(&self, k: KernelVersion) -> bool {
        self.0.contains(&k)
    }
}

impl Default for Kernels {
    fn default() -> Self {
        Kernels::one(KernelVersion::V6_1)
    }
}

impl fmt::Display for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "))
    }
}

impl<'de> Deserialize<'de> for Kernels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KernelsVisitor)
    }
}

struct KernelsVisitor;

impl<'de> Visitor<'de> for KernelsVisitor {
    type Value = Kernels;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a kernel version or a list of them ({})", KernelVersion::known())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Kernels, E> {
        s.parse().map(Kernels::one).map_err(E::custom)
    }

    /// An unquoted `6.1` reads as a number, and `5.10` as `5.1`: refused, asking for quotes.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kernels, E> {
        Err(E::custom(format!("write the kernel version `{v}` in quotes (\"{v}\"): unquoted, 5.10 and 5.1 are the same number")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kernels, A::Error> {
        let mut all = Vec::new();
        while let Some(k) = seq.next_element::<KernelVersion>()? {
            if all.contains(&k) {
                return Err(de::Error::custom(format!("kernel `{k}` is listed twice")));
            }
            all.push(k);
        }
        if all.is_empty() {
            return Err(de::Error::custom(format!("name at least one kernel ({})", KernelVersion::known())));
        }
        Ok(Kernels(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct K {
        base: Kernels,
    }

    fn parse(yaml: &str) -> Result<Kernels, String> {
        serde_saphyr::from_str::<K>(yaml).map(|k| k.base).map_err(|e| e.to_string())
    }

    #[test]
    fn one_or_a_list_the_first_is_the_default() {
        assert_eq!(parse("base: \"6.1\"\n").unwrap(), Kernels::one(KernelVersion::V6_1));
        let k = parse("base: [\"6.12\", \"5.10\"]\n").unwrap();
        assert_eq!(k.all(), [KernelVersion::V6_12, KernelVersion::V5_10]);
        assert_eq!(k.default_kernel(), KernelVersion::V6_12);
    }

    #[test]
    fn unknown_twice_empty_and_unquoted_are_refused_with_the_known_ones() {
        let e = parse("base: \"5.4\"\n").unwrap_err();
        assert!(e.contains("unknown kernel `5.4`; known: 5.10, 6.1, 6.12"), "{e}");
        let e = parse("base: [\"6.1\", \"4.19\"]\n").unwrap_err();
        assert!(e.contains("4.19") && e.contains("5.10"), "{e}");
        assert!(parse("base: [\"6.1\", \"6.1\"]\n").unwrap_err().contains("twice"));
        assert!(parse("base: []\n").unwrap_err().contains("at least one"));
        assert!(parse("base: 5.10\n").unwrap_err().contains("quotes"));
    }

    #[test]
    fn command_line_names_parse() {
        assert_eq!("6.12".parse::<KernelVersion>().unwrap(), KernelVersion::V6_12);
        assert_eq!("7.0".parse::<KernelVersion>().unwrap_err().to_string(), "unknown kernel `7.0`; known: 5.10, 6.1, 6.12");
    }
}
