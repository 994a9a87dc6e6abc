//! `lab affected` on the three shipped profiles (no VM): the small one is not affected
//! (exit 0), the large one is (exit 1), the invalid one is refused by libseccomp naming its
//! field (exit 2); a config.json's own `noNewPrivileges: false` clears the large profile.
//! And `lab check` naming a runtime version Debian's archive does not have.

use libtest_mimic::{Failed, Trial};

use crate::support::{ensure, lab, repo, root_trial, text};

pub fn tests() -> Vec<Trial> {
    vec![
        Trial::test("affected::small_profile_is_not_affected", small),
        Trial::test("affected::large_profile_is_affected", large),
        Trial::test("affected::invalid_profile_names_the_field_libseccomp_refused", invalid),
        Trial::test("affected::a_config_json_with_nnp_false_is_not_affected", config_nnp_false),
        root_trial("affected::lab_check_names_a_runtime_version_that_cannot_be_had", unavailable_version),
    ]
}

fn affected(profile: &str) -> Result<std::process::Output, Failed> {
    Ok(lab().args(["affected", &format!("scenarios/profiles/{profile}.json"), "--kernel", "6.1"]).output()?)
}

fn small() -> Result<(), Failed> {
    let out = affected("small")?;
    ensure(out.status.code() == Some(0), "exit 0: not affected", &out)?;
    let said = text(&out);
    ensure(said.contains("not affected: the exported program") && said.contains("fits in the 8192-byte pipe"), "the reason", &out)
}

fn large() -> Result<(), Failed> {
    let out = affected("large")?;
    ensure(out.status.code() == Some(1), "exit 1: affected", &out)?;
    let said = text(&out);
    ensure(said.contains("affected: the exported program") && said.contains("is larger than the 8192-byte pipe"), "the reason", &out)?;
    ensure(said.contains("Docker's default set") && said.contains("allowPrivilegeEscalation"), "the assumptions are said", &out)
}

fn invalid() -> Result<(), Failed> {
    let out = affected("invalid")?;
    ensure(out.status.code() == Some(2), "exit 2: bad input", &out)?;
    ensure(text(&out).contains("syscalls[1].args[0].index: libseccomp refused a rule for `personality`"), "names the field", &out)
}

fn config_nnp_false() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let profile: serde_json::Value = serde_json::from_slice(&std::fs::read(repo().join("scenarios/profiles/large.json"))?)?;
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": { "noNewPrivileges": false, "capabilities": { "effective": ["CAP_CHOWN", "CAP_KILL"] } },
        "linux": { "seccomp": profile },
    });
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string())?;
    let out = lab().arg("affected").arg(&path).output()?;
    ensure(out.status.code() == Some(0), "exit 0: NNP false exports before the caps drop", &out)?;
    ensure(text(&out).contains("noNewPrivileges is false (noNewPrivileges from config.json"), "the reason names the file", &out)
}

fn unavailable_version() -> Result<(), Failed> {
    // The archive's lists (fetched once, as `lab run` does before a run of another version).
    lab::archive::Archive::new(&lab::runtimes::cache_dir()).candidate("runc").map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir()?;
    let yaml = "name: v\ndescription: v\nsteps:\n  - container: { runtime: runc, version: \"1.0.0~rc94\" }\n";
    let path = dir.path().join("v.yaml");
    std::fs::write(&path, yaml)?;
    let out = lab().arg("check").arg(&path).output()?;
    ensure(out.status.code() == Some(2), "exit 2: a version that cannot be had", &out)?;
    let said = text(&out);
    ensure(said.contains(":4:") && said.contains("version"), "file:line and the field", &out)?;
    ensure(said.contains("runc 1.0.0~rc94 cannot be had") && said.contains("1.0.0~rc93+ds1-5+deb11u5"), "what the archive offers", &out)
}
