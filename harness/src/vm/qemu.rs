//! The QEMU command line, built by small pure functions: nothing here spawns a process.
//!
//! A guest boots the host's own root filesystem read-only over 9p, with the host's `lab`
//! binary as its init (see [`crate::vm::guest`] for the contract), and talks back over a
//! virtio-serial port named [`AGENT_PORT`].

use std::fmt;
use std::path::{Path, PathBuf};

/// Name of the virtio-serial port the guest agent writes its events to.
pub const AGENT_PORT: &str = "lab.agent";

/// Name of the virtio-serial port the guest agent copies every `/dev/kmsg` record to.
pub const KMSG_PORT: &str = "lab.kmsg";

/// The first init argument that makes `lab`, running as PID 1, act as the guest agent.
pub const GUEST_ARG: &str = "__lab_guest";

/// Kernel command-line keys the guest reads from `/proc/cmdline`. They contain a dot, so
/// the kernel neither interprets them nor hands them to init as environment.
pub mod keys {
    /// `run` or `shell`.
    pub const MODE: &str = "lab.mode";
    /// Absolute path of the scenario file, read by the guest over 9p.
    pub const SCENARIO: &str = "lab.scenario";
    /// Variant name.
    pub const VARIANT: &str = "lab.variant";
    /// The kernel version the variant runs on (`5.10`), one of the scenario's `kernel.base`.
    pub const KERNEL: &str = "lab.kernel";
    /// `TERM` for the interactive shell.
    pub const TERM: &str = "lab.term";
    /// `<columns>x<rows>` of the user's terminal, for the interactive shell.
    pub const WINSIZE: &str = "lab.winsize";
}

/// How QEMU runs guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware virtualisation through `/dev/kvm`.
    Kvm,
    /// QEMU's own translator: slow but always there.
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

/// An accelerator name `lab` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown accelerator `{0}`: expected kvm or tcg")]
pub struct UnknownAccel(pub String);

impl std::str::FromStr for Accel {
    type Err = UnknownAccel;
    fn from_str(s: &str) -> Result<Self, UnknownAccel> {
        match s {
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            other => Err(UnknownAccel(other.to_string())),
        }
    }
}

/// What the guest agent does once booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestMode {
    /// Run the scenario with the engine and report its events.
    Run,
    /// Build the topology and hand the console to an interactive shell.
    Shell,
}

impl GuestMode {
    pub fn as_str(self) -> &'static str {
        match self {
            GuestMode::Run => "run",
            GuestMode::Shell => "shell",
        }
    }
}

/// The machine QEMU emulates: it decides the firmware, the kernel image and the bus of the
/// virtio devices. Chosen per run by [`super::machine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Machine {
    /// The default `pc`: SeaBIOS, a bzImage that decompresses itself, PCI virtio devices.
    /// Boots any kernel.
    Pc,
    /// `microvm`: qboot, the uncompressed vmlinux entered through PVH, virtio-mmio devices
    /// (described to the kernel by ACPI), no PCI bus to probe. Needs `CONFIG_PVH` and
    /// `CONFIG_VIRTIO_MMIO`, and under TCG the TSC frequency on the command line and the TSC
    /// declared reliable (there is no PIT gate, HPET or PM timer to calibrate or check it
    /// against).
    Microvm,
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Machine::Pc => "pc",
            Machine::Microvm => "microvm",
        })
    }
}

impl Machine {
    /// The suffix of a virtio device's QEMU name on this machine's bus.
    fn virtio_bus(self) -> &'static str {
        match self {
            Machine::Pc => "pci",
            Machine::Microvm => "device",
        }
    }
}

/// Where the guest's console goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Console {
    /// QEMU's stdout, read and watched by `lab` (stdin is not connected).
    Captured,
    /// The user's terminal, with QEMU's monitor multiplexed on it (Ctrl-A C).
    Interactive,
}

/// Everything one QEMU invocation needs.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// `qemu-system-x86_64` or a full path.
    pub binary: PathBuf,
    pub accel: Accel,
    pub machine: Machine,
    pub cpus: u32,
    pub memory_mib: u32,
    /// bzImage on `pc`, vmlinux on `microvm`.
    pub kernel: PathBuf,
    /// The whole kernel command line (see [`kernel_cmdline`]).
    pub append: String,
    /// A unix socket `lab` listens on; QEMU connects to it as the agent port's backend.
    pub agent_socket: Option<PathBuf>,
    pub console: Console,
}

/// The full argument list (without the binary) for `cfg`.
pub fn args(cfg: &QemuConfig) -> Vec<String> {
    let mut a = vec!["-nodefaults".to_string(), "-no-reboot".into(), "-display".into(), "none".into()];
    a.extend(machine_type_args(cfg.machine));
    a.extend(accel_args(cfg.accel));
    a.extend(machine_args(cfg.cpus, cfg.memory_mib));
    a.extend(console_args(&cfg.console));
    a.extend(kernel_args(&cfg.kernel, &cfg.append));
    a.extend(root_9p_args(cfg.machine));
    if let Some(sock) = &cfg.agent_socket {
        a.extend(agent_args(sock, cfg.machine));
    }
    a
}

/// `-machine`: nothing for QEMU's default `pc`.
pub fn machine_type_args(machine: Machine) -> Vec<String> {
    match machine {
        Machine::Pc => Vec::new(),
        Machine::Microvm => strings(&["-machine", "microvm"]),
    }
}

/// `-accel`: KVM with the host's CPU model, or multi-threaded TCG.
pub fn accel_args(accel: Accel) -> Vec<String> {
    match accel {
        Accel::Kvm => strings(&["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => strings(&["-accel", "tcg,thread=multi", "-cpu", "max"]),
    }
}

/// vCPUs and guest RAM. The q35-less default `pc` machine boots fastest with SeaBIOS.
pub fn machine_args(cpus: u32, memory_mib: u32) -> Vec<String> {
    vec!["-smp".into(), cpus.max(1).to_string(), "-m".into(), format!("{}M", memory_mib.max(64))]
}

/// The serial console (ttyS0): captured on stdout, or the user's terminal plus the monitor.
pub fn console_args(console: &Console) -> Vec<String> {
    match console {
        Console::Captured => strings(&["-serial", "stdio", "-monitor", "none"]),
        // As -nographic does: Ctrl-C goes to the guest, Ctrl-A X quits, Ctrl-A C the monitor.
        Console::Interactive => {
            strings(&["-chardev", "stdio,id=con,mux=on,signal=off", "-serial", "chardev:con", "-mon", "chardev=con,mode=readline"])
        }
    }
}

/// `-kernel` and `-append`.
pub fn kernel_args(kernel: &Path, append: &str) -> Vec<String> {
    vec!["-kernel".into(), kernel.display().to_string(), "-append".into(), append.to_string()]
}

/// The host's `/` as the guest's root, read-only over virtio-9p. `multidevs=remap` keeps
/// inode numbers of different host filesystems (`/`, `/proc`, `/sys`...) apart: without it
/// they collide and the guest's cached dentries alias, so that mounting sysfs on `/sys`
/// can land on `/proc`.
pub fn root_9p_args(machine: Machine) -> Vec<String> {
    vec![
        "-fsdev".into(),
        "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap".into(),
        "-device".into(),
        format!("virtio-9p-{},fsdev=root,mount_tag=root", machine.virtio_bus()),
    ]
}

/// The agent port: virtio-serial backed by `socket`, on which `lab` listens (QEMU is the
/// client, so there is no race between QEMU creating the socket and `lab` connecting).
pub fn agent_args(socket: &Path, machine: Machine) -> Vec<String> {
    vec![
        "-device".into(),
        format!("virtio-serial-{}", machine.virtio_bus()),
        "-chardev".into(),
        format!("socket,id=agent,path={}", qemu_opt_escape(&socket.display().to_string())),
        "-device".into(),
        format!("virtserialport,chardev=agent,name={AGENT_PORT}"),
    ]
}

/// The kernel-log port: a second port on the agent's virtio-serial bus (so it follows
/// [`agent_args`]), which QEMU writes to `file` as it comes: the guest's whole `/dev/kmsg`,
/// every level, where the console shows only what passes `loglevel`.
pub fn kmsg_args(file: &Path) -> Vec<String> {
    vec![
        "-chardev".into(),
        format!("file,id=kmsg,path={}", qemu_opt_escape(&file.display().to_string())),
        "-device".into(),
        format!("virtserialport,chardev=kmsg,name={KMSG_PORT}"),
    ]
}

/// What the guest is asked to do, for its kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRequest {
    pub mode: GuestMode,
    /// Absolute path of the `lab` binary on the host (= in the guest, over 9p).
    pub init: PathBuf,
    /// Absolute path of the scenario file.
    pub scenario: PathBuf,
    pub variant: String,
    /// The kernel series booted: the guest resolves the variant on it.
    pub kernel: crate::scenario::KernelVersion,
    /// `TERM` for the shell; `None` in run mode.
    pub term: Option<String>,
    /// Columns and rows of the user's terminal (shell mode).
    pub winsize: Option<(u16, u16)>,
    /// The scenario's own extra kernel arguments (`kernel.cmdline`).
    pub extra: Vec<String>,
}

/// Why a command line cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    #[error("{what} `{value}` cannot go on a kernel command line (it contains a double quote or a control character)")]
    Unquotable { what: &'static str, value: String },
    #[error("{what} `{}` must be an absolute path: the guest sees the host's / as its root", .path.display())]
    NotAbsolute { what: &'static str, path: PathBuf },
    #[error("the kernel command line would be {len} bytes; x86 allows at most {max}")]
    TooLong { len: usize, max: usize },
}

/// x86's `COMMAND_LINE_SIZE`, including the terminating NUL.
pub const CMDLINE_MAX: usize = 2048;

/// The guest kernel's command line: console, panic behaviour, 9p root, `lab` as init and
/// the `lab.*` keys. Init's own arguments follow `--`.
pub fn kernel_cmdline(req: &GuestRequest) -> Result<String, CmdlineError> {
    for (what, p) in [("the lab binary", &req.init), ("the scenario file", &req.scenario)] {
        if !p.is_absolute() {
            return Err(CmdlineError::NotAbsolute { what, path: p.clone() });
        }
    }
    let mut parts: Vec<String> = strings(&[
        "console=ttyS0",
        // Reboot at once on panic; QEMU runs with -no-reboot, so it exits.
        "panic=-1",
        // The 9p tag is the root "device" name: `root` (6.1 strips a `/dev/` prefix from
        // root= and later kernels do not, so a bare name works for both).
        "root=root",
        "rootfstype=9p",
        "rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose",
        "ro",
        // The console watcher wants warnings and traces, not the noise of a verbose boot.
        "loglevel=6",
        "printk.devkmsg=on",
        // Seed the RNG from RDRAND at once: getrandom() in the agent would otherwise block
        // ~1.5 s under TCG waiting for entropy.
        "random.trust_cpu=on",
        // No PS/2 mouse probe: it holds up the root mount by ~0.7 s under TCG.
        "i8042.noaux=1",
    ]);
    parts.push(param("init", "the lab binary", &req.init.display().to_string())?);
    parts.push(param(keys::MODE, "mode", req.mode.as_str())?);
    parts.push(param(keys::SCENARIO, "the scenario file", &req.scenario.display().to_string())?);
    parts.push(param(keys::VARIANT, "the variant name", &req.variant)?);
    parts.push(format!("{}={}", keys::KERNEL, req.kernel));
    if let Some(term) = &req.term {
        parts.push(param(keys::TERM, "TERM", term)?);
    }
    if let Some((cols, rows)) = req.winsize {
        parts.push(format!("{}={cols}x{rows}", keys::WINSIZE));
    }
    for e in &req.extra {
        check_quotable("a kernel.cmdline entry", e)?;
        parts.push(e.clone());
    }
    parts.push("--".into());
    parts.push(GUEST_ARG.into());
    let line = parts.join(" ");
    if line.len() + 1 > CMDLINE_MAX {
        return Err(CmdlineError::TooLong { len: line.len() + 1, max: CMDLINE_MAX });
    }
    Ok(line)
}

/// `key=value`, the value in double quotes when it has a space (the kernel strips them).
fn param(key: &str, what: &'static str, value: &str) -> Result<String, CmdlineError> {
    check_quotable(what, value)?;
    if value.is_empty() || value.contains(char::is_whitespace) {
        Ok(format!("{key}=\"{value}\""))
    } else {
        Ok(format!("{key}={value}"))
    }
}

fn check_quotable(what: &'static str, value: &str) -> Result<(), CmdlineError> {
    if value.contains('"') || value.chars().any(char::is_control) {
        return Err(CmdlineError::Unquotable { what, value: value.to_string() });
    }
    Ok(())
}

/// Splits a kernel command line the way the kernel does: on spaces outside double quotes,
/// each word `key` or `key=value` with the quotes removed. Stops at `--` (init's arguments).
pub fn parse_cmdline(line: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for word in split_words(line) {
        if word == "--" {
            break;
        }
        match word.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
            None => out.push((word, None)),
        }
    }
    out
}

fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.trim().chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// QEMU option values escape a comma by doubling it.
fn qemu_opt_escape(s: &str) -> String {
    s.replace(',', ",,")
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> GuestRequest {
        GuestRequest {
            mode: GuestMode::Run,
            init: "/usr/local/bin/lab".into(),
            scenario: "/work/main/scenarios/fnhe-leak.yaml".into(),
            variant: "buggy".into(),
            kernel: crate::scenario::KernelVersion::V6_1,
            term: None,
            winsize: None,
            extra: vec!["net.ifnames=0".into()],
        }
    }

    fn config() -> QemuConfig {
        QemuConfig {
            binary: "qemu-system-x86_64".into(),
            accel: Accel::Tcg,
            machine: Machine::Pc,
            cpus: 2,
            memory_mib: 512,
            kernel: "/cache/k/bzImage".into(),
            append: "console=ttyS0".into(),
            agent_socket: Some("/runs/r1/agent.sock".into()),
            console: Console::Captured,
        }
    }

    /// The value following `flag` in `args`, every time it occurs.
    fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2).filter(|w| w[0] == flag).map(|w| w[1].as_str()).collect()
    }

    #[test]
    fn accel_kvm_uses_the_host_cpu_and_tcg_is_multithreaded() {
        assert_eq!(accel_args(Accel::Kvm), ["-accel", "kvm", "-cpu", "host"]);
        assert_eq!(accel_args(Accel::Tcg), ["-accel", "tcg,thread=multi", "-cpu", "max"]);
        assert_eq!("kvm".parse::<Accel>(), Ok(Accel::Kvm));
        assert!("xen".parse::<Accel>().is_err());
    }

    #[test]
    fn memory_and_cpus_are_explicit_and_sane() {
        assert_eq!(machine_args(2, 512), ["-smp", "2", "-m", "512M"]);
        assert_eq!(machine_args(0, 1), ["-smp", "1", "-m", "64M"]);
    }

    #[test]
    fn full_command_line_has_every_part_once() {
        let a = args(&config());
        assert_eq!(a[0], "-nodefaults");
        assert!(a.contains(&"-no-reboot".to_string()));
        assert_eq!(values(&a, "-kernel"), ["/cache/k/bzImage"]);
        assert_eq!(values(&a, "-append"), ["console=ttyS0"]);
        assert_eq!(values(&a, "-serial"), ["stdio"]);
        assert_eq!(values(&a, "-monitor"), ["none"]);
        assert_eq!(values(&a, "-fsdev"), ["local,id=root,path=/,security_model=none,readonly=on,multidevs=remap"]);
        assert_eq!(values(&a, "-chardev"), ["socket,id=agent,path=/runs/r1/agent.sock"]);
        assert_eq!(
            values(&a, "-device"),
            ["virtio-9p-pci,fsdev=root,mount_tag=root", "virtio-serial-pci", "virtserialport,chardev=agent,name=lab.agent"]
        );
    }

    #[test]
    fn microvm_boots_vmlinux_with_mmio_devices() {
        let mut c = config();
        c.machine = Machine::Microvm;
        c.kernel = "/cache/k/vmlinux".into();
        let a = args(&c);
        assert_eq!(values(&a, "-machine"), ["microvm"]);
        assert_eq!(values(&a, "-kernel"), ["/cache/k/vmlinux"]);
        assert_eq!(
            values(&a, "-device"),
            ["virtio-9p-device,fsdev=root,mount_tag=root", "virtio-serial-device", "virtserialport,chardev=agent,name=lab.agent"]
        );
        assert!(values(&args(&config()), "-machine").is_empty(), "pc is QEMU's default");
    }

    #[test]
    fn interactive_console_muxes_the_monitor_and_has_no_agent() {
        let mut c = config();
        c.console = Console::Interactive;
        c.agent_socket = None;
        let a = args(&c);
        assert_eq!(values(&a, "-serial"), ["chardev:con"]);
        assert_eq!(values(&a, "-chardev"), ["stdio,id=con,mux=on,signal=off"]);
        assert!(values(&a, "-monitor").is_empty());
        assert!(!a.iter().any(|x| x.contains("agent")));
    }

    #[test]
    fn the_kmsg_port_writes_a_file_on_the_agent_bus() {
        let a = kmsg_args(Path::new("/runs/a,b/kmsg.log"));
        assert_eq!(values(&a, "-chardev"), ["file,id=kmsg,path=/runs/a,,b/kmsg.log"]);
        assert_eq!(values(&a, "-device"), ["virtserialport,chardev=kmsg,name=lab.kmsg"]);
    }

    #[test]
    fn socket_path_commas_are_escaped() {
        let a = agent_args(Path::new("/tmp/a,b/agent.sock"), Machine::Pc);
        assert_eq!(a[3], "socket,id=agent,path=/tmp/a,,b/agent.sock");
    }

    #[test]
    fn cmdline_boots_9p_root_with_lab_as_init() {
        let line = kernel_cmdline(&request()).unwrap();
        assert!(line.starts_with("console=ttyS0 panic=-1 root=root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000"));
        assert!(line.contains(" ro "));
        assert!(line.contains(" init=/usr/local/bin/lab "));
        assert!(line.contains(" lab.mode=run lab.scenario=/work/main/scenarios/fnhe-leak.yaml lab.variant=buggy lab.kernel=6.1 "));
        assert!(line.contains(" net.ifnames=0 "));
        assert!(line.ends_with(" -- __lab_guest"));
    }

    #[test]
    fn cmdline_round_trips_through_the_parser_with_spaces_quoted() {
        let mut r = request();
        r.scenario = "/home/me/my scenarios/x.yaml".into();
        r.mode = GuestMode::Shell;
        r.term = Some("xterm-256color".into());
        r.winsize = Some((120, 40));
        let line = kernel_cmdline(&r).unwrap();
        assert!(line.contains("lab.scenario=\"/home/me/my scenarios/x.yaml\""));
        let kv = parse_cmdline(&line);
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).and_then(|(_, v)| v.clone());
        assert_eq!(get(keys::SCENARIO).as_deref(), Some("/home/me/my scenarios/x.yaml"));
        assert_eq!(get(keys::MODE).as_deref(), Some("shell"));
        assert_eq!(get(keys::TERM).as_deref(), Some("xterm-256color"));
        assert_eq!(get(keys::WINSIZE).as_deref(), Some("120x40"));
        assert_eq!(get("rootflags").as_deref(), Some("trans=virtio,version=9p2000.L,msize=512000,cache=loose"));
        assert!(kv.iter().any(|(k, v)| k == "ro" && v.is_none()));
        assert!(!kv.iter().any(|(k, _)| k == GUEST_ARG), "parsing stops at --");
    }

    #[test]
    fn cmdline_refuses_what_it_cannot_carry() {
        let mut r = request();
        r.scenario = "scenarios/x.yaml".into();
        assert!(matches!(kernel_cmdline(&r), Err(CmdlineError::NotAbsolute { .. })));
        let mut r = request();
        r.variant = "a\"b".into();
        assert!(matches!(kernel_cmdline(&r), Err(CmdlineError::Unquotable { .. })));
        let mut r = request();
        r.extra = vec!["x".repeat(CMDLINE_MAX)];
        assert!(matches!(kernel_cmdline(&r), Err(CmdlineError::TooLong { .. })));
    }
}
