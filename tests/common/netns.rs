//! Test hosts on a wire: two network namespaces joined by a veth pair, addressed in
//! RFC 2544's benchmark range (198.18.0.1/30 and 198.18.0.2/30), deleted when the
//! pair is dropped, also when a test panics. Shared by every test that needs one;
//! included with `#[path = "common/netns.rs"] mod netns;`.
#![allow(dead_code)]

use std::process::Command;

pub const A_ADDR: &str = "198.18.0.1";
pub const B_ADDR: &str = "198.18.0.2";

/// Runs `ip` with `args`; fails with its stderr.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip {}`: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Fails, naming what is missing, unless this process may build namespaces (root)
/// and has iproute2's `ip`. `who` names the test in the message.
pub fn require_root_and_ip(who: &str) {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "{who} needs root (network namespaces, a veth pair, packet sockets); it runs as uid {euid}"
    );
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "{who} needs iproute2's `ip`; `ip -V` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("{who} needs iproute2's `ip` on PATH: {e}"),
    }
}

/// Two namespaces joined by a veth pair (`a_veth` in `a` at [`A_ADDR`], `b_veth` in
/// `b` at [`B_ADDR`]), `lo` up in both; deleted on drop (deleting a namespace deletes
/// the veth end in it, and with it the peer).
pub struct VethPair {
    pub a: String,
    pub b: String,
    pub a_veth: String,
    pub b_veth: String,
}

impl VethPair {
    /// `name` (a few letters) and `short` (2 letters, for the 15-byte interface
    /// names) tell one test file's pairs from another's; `tag` tells apart the tests
    /// of one file, which run at the same time. `macs` sets the two ends' MACs.
    pub fn create(name: &str, short: &str, tag: char, macs: Option<(String, String)>) -> VethPair {
        let pid = std::process::id();
        let pair = VethPair {
            a: format!("ticklab-{name}-{pid}-{tag}a"),
            b: format!("ticklab-{name}-{pid}-{tag}b"),
            a_veth: format!("{short}{pid}{tag}a"),
            b_veth: format!("{short}{pid}{tag}b"),
        };
        // From here on a failure still deletes whatever was made (Drop).
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        let mut add: Vec<&str> = vec!["link", "add", &pair.a_veth];
        if let Some((a_mac, _)) = &macs {
            add.extend(["address", a_mac]);
        }
        add.extend(["type", "veth", "peer", "name", &pair.b_veth]);
        if let Some((_, b_mac)) = &macs {
            add.extend(["address", b_mac]);
        }
        ip(&add);
        for (ns, veth, addr) in [
            (&pair.a, &pair.a_veth, A_ADDR),
            (&pair.b, &pair.b_veth, B_ADDR),
        ] {
            ip(&["link", "set", veth, "netns", ns]);
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", veth]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", veth, "up"]);
        }
        pair
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Each step may find nothing to delete (a creation that failed half way).
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip").args(args).output();
        };
        quiet(&["netns", "del", &self.a]);
        quiet(&["netns", "del", &self.b]);
        quiet(&["link", "del", &self.a_veth]);
        let left: Vec<String> = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| *name == self.a || *name == self.b)
            .map(str::to_string)
            .collect();
        if !left.is_empty() && !std::thread::panicking() {
            panic!("network namespaces left behind: {left:?}");
        }
    }
}

/// Runs `f` on a thread that entered the namespace `netns` (what it opens there,
/// sockets included, stays in that namespace wherever it goes afterwards).
pub fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> T {
    use std::os::fd::AsRawFd;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let path = format!("/var/run/netns/{netns}");
                let file =
                    std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                // SAFETY: the fd is open for the call; setns changes only this
                // thread's network namespace.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(
                    rc,
                    0,
                    "setns into {netns}: {}",
                    std::io::Error::last_os_error()
                );
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
