//! The "one key names the kind" map shape shared by steps and expectations.
//!
//! A step is written `{ <kind>: <spec>, id: ..., background: ... }`: exactly one key names
//! the kind, the others are common fields. `kind_registry!` generates, from one line per
//! kind, the enum of kinds and the code that deserializes the kind's spec from a map value,
//! so adding a kind touches its own module and one registry line.

/// Generates `enum $name { Kind(spec), ... }`, `$name::NAMES`, `$name::name()`,
/// and `$name::from_map_value(key, map)`.
#[macro_export]
macro_rules! kind_registry {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($key:literal => $variant:ident($spec:ty)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis enum $name { $($variant($spec)),+ }

        impl $name {
            /// Every kind name accepted in YAML, in registry order.
            pub const NAMES: &'static [&'static str] = &[$($key),+];

            /// The YAML key that names this kind.
            pub fn name(&self) -> &'static str {
                match self { $(Self::$variant(_) => $key),+ }
            }

            /// Reads the kind's spec as the value of map key `key`; `Ok(None)` if `key`
            /// names no kind of this registry.
            pub fn from_map_value<'de, A: serde::de::MapAccess<'de>>(
                key: &str,
                map: &mut A,
            ) -> Result<Option<Self>, A::Error> {
                match key {
                    $($key => Ok(Some(Self::$variant(map.next_value()?))),)+
                    _ => Ok(None),
                }
            }
        }

        /// On its own (not inside an entry with common fields): a map with one key.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        write!(f, "a map with exactly one of the keys {}", $name::NAMES.join(", "))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        use serde::de::Error;
                        let key: String = map.next_key()?.ok_or_else(|| A::Error::custom(format_args!("empty: give one of {}", $name::NAMES.join(", "))))?;
                        let kind = $name::from_map_value(&key, &mut map)?.ok_or_else(|| A::Error::custom(format_args!("unknown kind `{key}`, expected one of {}", $name::NAMES.join(", "))))?;
                        if let Some(extra) = map.next_key::<String>()? {
                            return Err(A::Error::custom(format_args!("`{extra}`: only one kind may be given here")));
                        }
                        Ok(kind)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}
