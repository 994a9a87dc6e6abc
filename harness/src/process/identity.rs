//! Who a process runs as: `user`, `group` and `caps` as a scenario writes them
//! ([`IdentitySpec`]), resolved against this machine's accounts into [`Creds`].
//!
//! The default — nothing given — is root with every capability, unchanged from `lab`. A
//! `user` other than root has no capabilities unless `caps: { keep: [...] }` gives some (as
//! ambient capabilities, so they survive `execve`); `caps: { drop: [...] }` removes some from
//! whatever the user would have, bounding set included, so a program cannot get them back.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::caps::{self, CapSet};

/// An account as written: a name (`nobody`) or a number (`65534`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Name(String),
    Id(u32),
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Name(n) => f.write_str(n),
            Account::Id(i) => write!(f, "{i}"),
        }
    }
}

impl<'de> Deserialize<'de> for Account {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Account;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an account name or a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Account, E> {
                u32::try_from(v).map(Account::Id).map_err(|_| E::custom(format_args!("{v} is not a uid/gid (at most {})", u32::MAX)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Account, E> {
                u32::try_from(v).map(Account::Id).map_err(|_| E::custom(format_args!("{v} is not a uid/gid")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Account, E> {
                Ok(match v.parse::<u32>() {
                    Ok(n) => Account::Id(n),
                    Err(_) => Account::Name(v.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `caps: { drop: [cap_sys_resource, cap_sys_admin] }` or `caps: { keep: [cap_net_admin] }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CapsSpec {
    /// Everything the account would have, minus these.
    Drop(Vec<String>),
    /// Exactly these (none: `keep: []`).
    Keep(Vec<String>),
}

/// The identity fields a step that starts a process accepts, gathered from its spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentitySpec {
    pub user: Option<Account>,
    pub group: Option<Account>,
    pub caps: Option<CapsSpec>,
}

/// Resolved credentials: what the child sets before `execve`. `None` fields stay as `lab`'s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The capabilities the process ends with (permitted, effective, inheritable, bounding;
    /// ambient too for a non-root uid). `None`: root keeps all, others have none.
    pub caps: Option<CapSet>,
}

/// Why an identity does not resolve on this machine, with the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("no user `{0}` on this machine (/etc/passwd); the guest sees the same accounts")]
    UnknownUser(String),
    #[error("no group `{0}` on this machine (/etc/group); the guest sees the same accounts")]
    UnknownGroup(String),
    #[error("`{name}` is not a Linux capability (like cap_sys_admin)")]
    UnknownCapability { list: &'static str, index: usize, name: String },
    #[error("`{name}` is listed twice")]
    DuplicateCapability { list: &'static str, index: usize, name: String },
}

impl IdentityError {
    /// The field, relative to the step's spec: `user`, `group`, `caps.drop[1]`.
    pub fn field(&self) -> String {
        match self {
            IdentityError::UnknownUser(_) => "user".into(),
            IdentityError::UnknownGroup(_) => "group".into(),
            IdentityError::UnknownCapability { list, index, .. } | IdentityError::DuplicateCapability { list, index, .. } => {
                format!("caps.{list}[{index}]")
            }
        }
    }
}

impl IdentitySpec {
    /// True when nothing is asked: the process runs as `lab` does.
    pub fn is_default(&self) -> bool {
        self.user.is_none() && self.group.is_none() && self.caps.is_none()
    }

    /// Every problem at once (for `lab check`); empty when [`IdentitySpec::resolve`] succeeds.
    pub fn problems(&self) -> Vec<IdentityError> {
        let mut out = Vec::new();
        if let Err(e) = self.uid_gid() {
            out.push(e);
        }
        if let Some(spec) = &self.caps {
            out.extend(cap_list(spec).err().unwrap_or_default());
        }
        out
    }

    /// The credentials on this machine: names looked up in its account database.
    pub fn resolve(&self) -> Result<Creds, IdentityError> {
        let (uid, gid) = self.uid_gid()?;
        let caps = match &self.caps {
            None => None,
            Some(spec) => {
                let listed = cap_list(spec).map_err(|mut e| e.remove(0))?;
                let all = CapSet::all(caps::last_cap());
                let base = if uid.unwrap_or(0) == 0 { all } else { CapSet(0) };
                Some(match spec {
                    CapsSpec::Drop(_) => CapSet(base.0 & !listed.0),
                    CapsSpec::Keep(_) => CapSet(listed.0 & all.0),
                })
            }
        };
        Ok(Creds { uid, gid, caps })
    }

    /// The uid and gid: a user's own group unless `group` says otherwise.
    fn uid_gid(&self) -> Result<(Option<u32>, Option<u32>), IdentityError> {
        use nix::unistd::{Group, Uid, User};
        let (uid, user_gid) = match &self.user {
            None => (None, None),
            Some(Account::Id(n)) => {
                let gid = User::from_uid(Uid::from_raw(*n)).ok().flatten().map(|u| u.gid.as_raw());
                (Some(*n), Some(gid.unwrap_or(*n)))
            }
            Some(Account::Name(name)) => match User::from_name(name).ok().flatten() {
                Some(u) => (Some(u.uid.as_raw()), Some(u.gid.as_raw())),
                None => return Err(IdentityError::UnknownUser(name.clone())),
            },
        };
        let gid = match &self.group {
            None => user_gid,
            Some(Account::Id(n)) => Some(*n),
            Some(Account::Name(name)) => match Group::from_name(name).ok().flatten() {
                Some(g) => Some(g.gid.as_raw()),
                None => return Err(IdentityError::UnknownGroup(name.clone())),
            },
        };
        Ok((uid, gid))
    }
}

/// The listed capabilities as a set, or every name that is wrong.
fn cap_list(spec: &CapsSpec) -> Result<CapSet, Vec<IdentityError>> {
    let (list, names) = match spec {
        CapsSpec::Drop(n) => ("drop", n),
        CapsSpec::Keep(n) => ("keep", n),
    };
    let (mut set, mut problems) = (CapSet(0), Vec::new());
    for (index, name) in names.iter().enumerate() {
        match caps::number(name) {
            None => problems.push(IdentityError::UnknownCapability { list, index, name: name.clone() }),
            Some(n) if set.has(n) => problems.push(IdentityError::DuplicateCapability { list, index, name: name.clone() }),
            Some(n) => set = set.with(n),
        }
    }
    if problems.is_empty() {
        Ok(set)
    } else {
        Err(problems)
    }
}

impl fmt::Display for Creds {
    /// `uid 0 gid 0, caps all but cap_sys_admin,cap_sys_resource` — for the timeline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uid = self.uid.map_or("lab's uid".to_string(), |u| format!("uid {u}"));
        let gid = self.gid.map_or(String::new(), |g| format!(" gid {g}"));
        let all = CapSet::all(caps::last_cap());
        let caps = match self.caps {
            None if self.uid.unwrap_or(0) == 0 => "all caps".to_string(),
            None => "no caps".to_string(),
            Some(c) if c == all => "all caps".to_string(),
            Some(c) if c.0.count_ones() * 2 > all.0.count_ones() => format!("all caps but {}", CapSet(all.0 & !c.0)),
            Some(c) => format!("caps {c}"),
        };
        write!(f, "{uid}{gid}, {caps}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> IdentitySpec {
        #[derive(Deserialize)]
        struct S {
            user: Option<Account>,
            group: Option<Account>,
            caps: Option<CapsSpec>,
        }
        let s: S = serde_saphyr::from_str(yaml).unwrap();
        IdentitySpec { user: s.user, group: s.group, caps: s.caps }
    }

    #[test]
    fn root_without_two_caps() {
        let c = spec("{ user: 0, caps: { drop: [cap_sys_resource, sys_admin] } }").resolve().unwrap();
        assert_eq!((c.uid, c.gid), (Some(0), Some(0)));
        let caps = c.caps.unwrap();
        assert!(!caps.has(21) && !caps.has(24) && caps.has(0));
        assert!(c.to_string().starts_with("uid 0 gid 0, all caps but cap_sys_admin,cap_sys_resource"), "{c}");
    }

    #[test]
    fn users_by_name_take_their_group() {
        let c = spec("{ user: nobody }").resolve().unwrap();
        assert_eq!(c.uid, Some(65534));
        assert!(c.gid.is_some());
        assert_eq!(c.caps, None);
        assert!(c.to_string().ends_with("no caps"), "{c}");
        let c = spec("{ user: nobody, caps: { keep: [cap_net_admin] } }").resolve().unwrap();
        assert_eq!(c.caps, Some(CapSet(1 << 12)));
        assert_eq!(spec("{ user: 65534, group: 0 }").resolve().unwrap().gid, Some(0));
        assert!(spec("{}").is_default());
    }

    #[test]
    fn problems_name_their_field() {
        let p = spec("{ user: no-such-user-here, caps: { drop: [cap_sys_admin, cap_bogus, sys_admin] } }").problems();
        let fields: Vec<String> = p.iter().map(IdentityError::field).collect();
        assert_eq!(fields, ["user", "caps.drop[1]", "caps.drop[2]"]);
        assert!(p[0].to_string().contains("no user `no-such-user-here`"));
        assert!(p[1].to_string().contains("`cap_bogus` is not a Linux capability"));
        assert!(p[2].to_string().contains("listed twice"));
        assert_eq!(spec("{ group: no-such-group-here }").problems()[0].field(), "group");
    }
}
