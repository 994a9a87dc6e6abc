//! What QEMU's stderr says about the accelerator. Pure: tested on recorded output of the
//! hosts where KVM was seen to fail.

/// A line of QEMU's stderr that means the accelerator failed, and how to say it: KVM can
/// abort at start (`failed to set MSR`), or accept the guest and die later (`KVM internal
/// error` ... `emulation failure`) while the QEMU process stays alive.
pub fn accel_failure(line: &str) -> Option<&'static str> {
    const SIGNS: &[(&str, &str)] = &[
        ("KVM internal error", "KVM internal error"),
        ("emulation failure", "KVM emulation failure"),
        ("failed to set MSR", "KVM refused the guest's MSRs"),
        ("kvm_buf_set_msrs", "KVM refused the guest's MSRs"),
        ("Could not access KVM kernel module", "no KVM kernel module"),
        ("failed to initialize kvm", "KVM failed to initialise"),
        ("failed to initialize KVM", "KVM failed to initialise"),
        ("KVM_RUN", "KVM_RUN failed"),
        ("kvm run failed", "KVM_RUN failed"),
    ];
    if let Some((_, what)) = SIGNS.iter().find(|(sign, _)| line.contains(sign)) {
        return Some(what);
    }
    (line.contains("Assertion `") && line.contains("failed")).then_some("QEMU assertion failed")
}

/// A failed accelerator, as read from QEMU's stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelFailure {
    /// One line for the timeline: what failed, and QEMU's own words.
    pub summary: String,
    /// QEMU's stderr from the first sign on (register dump included), for the report.
    pub lines: Vec<String>,
}

/// The first failure in `stderr`, if any, with the lines from it on (at most `max`).
pub fn first_failure(stderr: &[String], max: usize) -> Option<AccelFailure> {
    let (at, what) = stderr.iter().enumerate().find_map(|(i, l)| accel_failure(l).map(|w| (i, w)))?;
    Some(AccelFailure { summary: describe(what, &stderr[at]), lines: stderr[at..].iter().take(max).cloned().collect() })
}

/// `what` and QEMU's own words, without saying the same thing twice.
pub fn describe(what: &str, line: &str) -> String {
    let words = strip_program(line);
    if words.starts_with(what) {
        words.to_string()
    } else {
        format!("{what}: {words}")
    }
}

/// `qemu-system-x86_64: error: failed to set MSR ...` -> `failed to set MSR ...`.
pub fn strip_program(line: &str) -> &str {
    let l = line.trim();
    let l = l.split_once(": ").filter(|(p, _)| p.starts_with("qemu-system")).map_or(l, |(_, rest)| rest);
    l.strip_prefix("error: ").unwrap_or(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    /// The MSR-abort host: QEMU dies at once.
    const MSR_ABORT: &str = "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n\
qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n";

    /// The host whose KVM passed the SeaBIOS probe, then stopped the kernel (QEMU alive).
    const INTERNAL_ERROR: &str = "KVM internal error. Suberror: 1\n\
extra data[0]: 0x0000000000000001\n\
extra data[1]: 0x0000000000000031\n\
emulation failure\n\
RAX=ffff888000140040 RBX=0000000000000000 RCX=0000000000000001 RDX=0000000000000000\n\
Code=48 8b 4e 28 48 89 c8 <f0> 48 0f c7 4e 20 0f 94 c0 84 c0\n";

    #[test]
    fn the_msr_abort_is_named_with_qemus_words() {
        let f = first_failure(&lines(MSR_ABORT), 10).unwrap();
        assert_eq!(f.summary, "KVM refused the guest's MSRs: failed to set MSR 0x10a to 0x69");
        assert_eq!(f.lines.len(), 2);
    }

    #[test]
    fn the_internal_error_after_a_good_probe_is_caught_with_its_dump() {
        let f = first_failure(&lines(INTERNAL_ERROR), 10).unwrap();
        assert_eq!(f.summary, "KVM internal error. Suberror: 1");
        assert!(f.lines.iter().any(|l| l == "emulation failure"));
        assert!(f.lines.last().unwrap().starts_with("Code="));
        assert_eq!(first_failure(&lines(INTERNAL_ERROR), 2).unwrap().lines.len(), 2);
    }

    #[test]
    fn ordinary_qemu_chatter_is_not_a_failure() {
        let quiet = lines("qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.80000001H:ECX.svm [bit 2]\n\n");
        assert_eq!(first_failure(&quiet, 10), None);
        assert_eq!(accel_failure("qemu-system-x86_64: terminating on signal 15 from pid 42"), None);
    }

    #[test]
    fn the_program_name_and_error_prefix_are_dropped() {
        assert_eq!(strip_program("qemu-system-x86_64: error: boom"), "boom");
        assert_eq!(strip_program("Could not access KVM kernel module: No such file"), "Could not access KVM kernel module: No such file");
    }
}
