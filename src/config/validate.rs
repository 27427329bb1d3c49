//! The rules a spec must keep beyond its types: ranges, consistency between
//! sections, the DUT command's placeholders, a capture file that exists. Each broken
//! rule names its dotted key, the value and what is valid; the first one found is
//! reported, section by section in document order.
//!
//! The only I/O here is looking at the capture file's and results directory's
//! metadata.

use std::net::SocketAddr;

use super::schema::{Problem, SECONDS};
use super::{Backend, CorrelationField, CorrelationRule, DutSpec, FeedSpec, RunSpec};
use crate::pace::Pacer;
use crate::refcore::order::OuchVersion;

/// The placeholders a DUT command may use, each `{name}`; `{{` and `}}` are literal
/// braces. `{feed}` and `{gateway}` are required.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("feed", "network.feed_group:network.feed_port, e.g. 239.198.0.1:26400"),
    ("iface_addr", "network.feed_iface_addr"),
    (
        "gateway",
        "the address the gateway listens on, its port chosen when network.gateway_listen has port 0",
    ),
    ("username", "gateway.username"),
    ("password", "gateway.password"),
    ("ouch", "gateway.ouch (5.0 or 4.2)"),
    ("trigger_rule", "correlate.trigger_rule (top-of-book or every-add)"),
    ("symbols", "correlate.symbols, comma separated (empty for all)"),
];

const REQUIRED_PLACEHOLDERS: [&str; 2] = ["feed", "gateway"];

/// The largest number of seconds a timeout or duration may be: well inside
/// `Duration`, far beyond any run.
const MAX_SECONDS: f64 = 1e9;

/// A placeholder's value for this spec, or `None` for an unknown name.
pub(super) fn placeholder_value(spec: &RunSpec, gateway: SocketAddr, name: &str) -> Option<String> {
    Some(match name {
        "feed" => spec.network.feed_addr().to_string(),
        "iface_addr" => spec.network.feed_iface_addr.to_string(),
        "gateway" => gateway.to_string(),
        "username" => spec.gateway.username.clone(),
        "password" => spec.gateway.password.clone(),
        "ouch" => spec.gateway.ouch.to_string(),
        "trigger_rule" => spec.correlate.trigger_rule.to_string(),
        "symbols" => spec.correlate.symbols.join(","),
        _ => return None,
    })
}

/// Replaces each `{name}` in `arg` by `value(name)`; `{{`/`}}` are literal braces.
/// An unknown name or an unmatched brace is an error saying which.
pub(super) fn substitute(
    arg: &str,
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('{') {
            let Some(end) = after.find('}') else {
                return Err(format!("unclosed '{{' in {arg:?}"));
            };
            let name = &after[..end];
            match value(name) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("unknown placeholder {{{name}}} in {arg:?}")),
            }
            rest = &after[end + 1..];
        } else {
            return Err(format!(
                "unmatched '}}' in {arg:?} (write '}}}}' for a brace)"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn problem(key: &str, value: impl ToString, expected: impl Into<String>) -> Problem {
    Problem {
        key: key.to_owned(),
        value: Some(value.to_string()),
        problem: None,
        expected: expected.into(),
    }
}

fn seconds(key: &str, s: f64) -> Result<(), Problem> {
    if s.is_finite() && s > 0.0 && s <= MAX_SECONDS {
        Ok(())
    } else {
        Err(problem(key, s, SECONDS))
    }
}

/// A symbol as ITCH carries it (the synthetic feed's rule).
fn valid_symbol(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 8
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// TOML's rendering of a string, for error values.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

pub(super) fn check(spec: &RunSpec) -> Result<(), Problem> {
    feed(spec)?;
    if let Err(e) = Pacer::new(spec.pace) {
        return Err(problem(e.key, e.value, e.expected));
    }
    network(spec)?;
    dut(spec)?;
    gateway(spec)?;
    correlate(spec)?;
    run(spec)?;
    results(spec)?;
    clock(spec)
}

fn clock(spec: &RunSpec) -> Result<(), Problem> {
    let c = &spec.clock;
    if c.max_offset_ns == Some(0) {
        return Err(problem(
            "clock.max_offset_ns",
            0,
            "1 ns or more (MiFID II RTS 25 allows 100000 for high-frequency trading)",
        ));
    }
    if c.ptp_uds.as_os_str().is_empty() {
        return Err(problem(
            "clock.ptp_uds",
            quoted(""),
            "the path of ptp4l's management socket, like \"/var/run/ptp4l\"",
        ));
    }
    Ok(())
}

fn feed(spec: &RunSpec) -> Result<(), Problem> {
    match &spec.feed {
        FeedSpec::Synthetic(s) => {
            if s.messages == Some(0) {
                return Err(problem(
                    "feed.messages",
                    0,
                    "a number of ITCH messages in the session, 1 or more",
                ));
            }
            const DAY_NS: u64 = 86_400_000_000_000;
            if s.start_ns >= DAY_NS {
                return Err(problem(
                    "feed.start_ns",
                    s.start_ns,
                    "ns since midnight, below 86400e9",
                ));
            }
            let config = spec.synthetic_config().expect("a synthetic feed");
            config.validate().map_err(|e| {
                let value = match e.key {
                    // ConfigError describes these in words; show the value as set.
                    "symbols" => {
                        toml::Value::try_from(&s.symbols).map_or(e.value.clone(), |v| v.to_string())
                    }
                    "session" => quoted(&s.session),
                    _ => e.value.clone(),
                };
                let expected = match e.key {
                    "symbols" => format!("{} ({})", e.expected, e.value),
                    _ => e.expected.to_owned(),
                };
                problem(&format!("feed.{}", e.key), value, expected)
            })
        }
        FeedSpec::Capture(c) => {
            if c.path.as_os_str().is_empty() {
                return Err(problem(
                    "feed.path",
                    "\"\"",
                    "the path of a pcap or pcapng file that exists",
                ));
            }
            let shown = quoted(&c.path.display().to_string());
            match std::fs::metadata(&c.path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => {
                    return Err(problem(
                        "feed.path",
                        shown,
                        "a pcap or pcapng file, not a directory",
                    ))
                }
                Err(e) => {
                    return Err(problem(
                        "feed.path",
                        shown,
                        format!("the path of a pcap or pcapng file that exists ({e})"),
                    ))
                }
            }
            if c.rewrite.dst_port == Some(0) {
                return Err(problem(
                    "feed.rewrite.dst_port",
                    0,
                    "a UDP port from 1 to 65535",
                ));
            }
            Ok(())
        }
    }
}

fn network(spec: &RunSpec) -> Result<(), Problem> {
    let n = &spec.network;
    if n.feed_group.is_unspecified() || n.feed_group.is_broadcast() {
        return Err(problem(
            "network.feed_group",
            quoted(&n.feed_group.to_string()),
            "an IPv4 multicast group (224.0.0.0/4) or unicast address, not 0.0.0.0 or 255.255.255.255",
        ));
    }
    if n.feed_iface_addr.is_multicast() || n.feed_iface_addr.is_broadcast() {
        return Err(problem(
            "network.feed_iface_addr",
            quoted(&n.feed_iface_addr.to_string()),
            "the unicast IPv4 address of an interface, like \"127.0.0.1\"",
        ));
    }
    let frames = matches!(n.backend, Backend::AfPacket | Backend::Dpdk);
    if n.backend == Backend::Dpdk && n.interface.is_none() {
        // Named by the key that makes it necessary, so the error points at the
        // layer that chose DPDK.
        return Err(problem(
            "network.backend",
            quoted("dpdk"),
            "network.interface set with it: the EAL port to send on, like \"net_af_packet0\" (with network.dpdk_args = \"... --vdev=net_af_packet0,iface=veth0\") or a PCI address",
        ));
    }
    if let Some(name) = n.interface.as_deref().filter(|name| name.trim().is_empty()) {
        return Err(problem(
            "network.interface",
            quoted(name),
            "an interface or EAL port name, not empty",
        ));
    }
    // The frames' destination MAC: a multicast group has its own; a unicast
    // destination (the network's, or a capture's rewrite) needs one given.
    let rewrite = match &spec.feed {
        FeedSpec::Capture(c) => c.rewrite,
        FeedSpec::Synthetic(_) => super::Rewrite::default(),
    };
    let (key, destination) = match rewrite.dst_ip {
        Some(ip) => ("feed.rewrite.dst_ip", ip),
        None => ("network.feed_group", n.feed_group),
    };
    let has_mac = rewrite.dst_mac.is_some() || n.feed_dst_mac.is_some();
    if frames && !destination.is_multicast() && !has_mac {
        return Err(problem(
            key,
            quoted(&destination.to_string()),
            format!(
                "a multicast group, or a unicast address with network.feed_dst_mac (or feed.rewrite.dst_mac) set: the {} backend builds whole frames and needs the destination's MAC (`ip neigh` shows it)",
                n.backend.name()
            ),
        ));
    }
    Ok(())
}

fn dut(spec: &RunSpec) -> Result<(), Problem> {
    let timeout = |s| seconds("dut.ready_timeout_s", s);
    match &spec.dut {
        DutSpec::External(e) => timeout(e.ready_timeout_s),
        DutSpec::Command(c) => {
            let shown = || {
                toml::Value::try_from(&c.command).map_or_else(|_| String::new(), |v| v.to_string())
            };
            if c.command.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(problem(
                    "dut.command",
                    shown(),
                    "a program and its arguments, the program not empty",
                ));
            }
            let names: Vec<&str> = PLACEHOLDERS.iter().map(|(n, _)| *n).collect();
            // Substituting with a recorder checks the syntax and lists the names used.
            let used = std::cell::RefCell::new(Vec::new());
            let record = |name: &str| {
                names.contains(&name).then(|| {
                    used.borrow_mut().push(name.to_owned());
                    String::new()
                })
            };
            for arg in &c.command {
                if let Err(why) = substitute(arg, &record) {
                    let valid: Vec<String> = names.iter().map(|n| format!("{{{n}}}")).collect();
                    return Err(problem(
                        "dut.command",
                        shown(),
                        format!("placeholders among {} ({why})", valid.join(", ")),
                    ));
                }
            }
            let used = used.into_inner();
            for required in REQUIRED_PLACEHOLDERS {
                if !used.iter().any(|u| u == required) {
                    return Err(problem(
                        "dut.command",
                        shown(),
                        format!(
                            "a command that uses {{{required}}} (the lab substitutes {})",
                            PLACEHOLDERS
                                .iter()
                                .find(|(n, _)| *n == required)
                                .map_or("", |(_, what)| what)
                        ),
                    ));
                }
            }
            let program = std::path::Path::new(&c.command[0]);
            if program.components().count() > 1 && !program.is_file() {
                return Err(problem(
                    "dut.command",
                    shown(),
                    format!(
                        "a program that exists ({} is not a file; a bare name is looked up when the run starts)",
                        program.display()
                    ),
                ));
            }
            timeout(c.ready_timeout_s)?;
            seconds("dut.stop_timeout_s", c.stop_timeout_s)
        }
    }
}

fn gateway(spec: &RunSpec) -> Result<(), Problem> {
    let g = &spec.gateway;
    let alpha = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic());
    if !alpha(&g.username, 6) {
        return Err(problem(
            "gateway.username",
            quoted(&g.username),
            "0 to 6 printable ASCII characters without spaces (SoupBinTCP Alpha(6))",
        ));
    }
    if !alpha(&g.password, 10) {
        return Err(problem(
            "gateway.password",
            quoted(&g.password),
            "0 to 10 printable ASCII characters without spaces (SoupBinTCP Alpha(10))",
        ));
    }
    if !(1..=60_000).contains(&g.heartbeat_interval_ms) {
        return Err(problem(
            "gateway.heartbeat_interval_ms",
            g.heartbeat_interval_ms,
            "1 to 60000 ms (SoupBinTCP sends one a second)",
        ));
    }
    let heartbeat_s = g.heartbeat_interval_ms as f64 / 1e3;
    let t = g.client_timeout_s;
    if !(t.is_finite() && t > heartbeat_s && t <= MAX_SECONDS) {
        return Err(problem(
            "gateway.client_timeout_s",
            t,
            format!(
                "a finite number of seconds above the heartbeat interval ({heartbeat_s} s), at most 1e9 (SoupBinTCP suggests 15)"
            ),
        ));
    }
    Ok(())
}

fn correlate(spec: &RunSpec) -> Result<(), Problem> {
    let c = &spec.correlate;
    if c.timeout_ms == 0 {
        return Err(problem("correlate.timeout_ms", 0, "1 ms or more"));
    }
    if c.rule == CorrelationRule::Echo {
        let ouch = spec.gateway.ouch;
        let fits = match c.field {
            CorrelationField::Ouch50Clordid => ouch == OuchVersion::V50,
            CorrelationField::OuchToken => ouch == OuchVersion::V42,
            CorrelationField::FixClordid => false,
        };
        if !fits {
            let field = match ouch {
                OuchVersion::V50 => "ouch50_clordid",
                OuchVersion::V42 => "ouch_token",
            };
            let value =
                toml::Value::try_from(c.field).map_or_else(|_| String::new(), |v| v.to_string());
            return Err(problem(
                "correlate.field",
                value,
                format!(
                    "{field:?}, where OUCH {ouch} orders carry their token (gateway.ouch = \"{ouch}\"; the gateway speaks SoupBinTCP/OUCH, not FIX)"
                ),
            ));
        }
    }
    let shown =
        || toml::Value::try_from(&c.symbols).map_or_else(|_| String::new(), |v| v.to_string());
    if let Some(bad) = c.symbols.iter().find(|s| !valid_symbol(s)) {
        return Err(problem(
            "correlate.symbols",
            shown(),
            format!("symbols of 1 to 8 characters of A-Z, 0-9, '.', '-' (not {bad:?})"),
        ));
    }
    if let FeedSpec::Synthetic(feed) = &spec.feed {
        if let Some(missing) = c.symbols.iter().find(|s| !feed.symbols.contains(s)) {
            return Err(problem(
                "correlate.symbols",
                shown(),
                format!("symbols of the synthetic feed (feed.symbols), which has no {missing:?}"),
            ));
        }
    }
    Ok(())
}

fn run(spec: &RunSpec) -> Result<(), Problem> {
    let r = &spec.run;
    match (r.duration_s, r.messages) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Problem {
                key: "run.duration_s".into(),
                value: r.duration_s.map(|s| s.to_string()),
                problem: Some(if r.messages.is_some() {
                    "set together with run.messages".into()
                } else {
                    "missing".into()
                }),
                expected: "exactly one of duration_s, messages".into(),
            })
        }
        (Some(s), None) => seconds("run.duration_s", s)?,
        (None, Some(0)) => {
            return Err(problem(
                "run.messages",
                0,
                "a number of ITCH messages to send, 1 or more",
            ))
        }
        (None, Some(n)) => {
            if r.warmup_messages >= n {
                return Err(problem(
                    "run.warmup_messages",
                    r.warmup_messages,
                    format!("fewer messages than run.messages ({n})"),
                ));
            }
            if let FeedSpec::Synthetic(s) = &spec.feed {
                if let Some(session) = s.messages.filter(|&m| m < n) {
                    return Err(problem(
                        "run.messages",
                        n,
                        format!("at most the synthetic session's feed.messages ({session})"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn results(spec: &RunSpec) -> Result<(), Problem> {
    let dir = &spec.results.dir;
    let shown = quoted(&dir.display().to_string());
    if dir.as_os_str().is_empty() {
        return Err(problem("results.dir", shown, "a directory path, not empty"));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(problem(
            "results.dir",
            shown,
            "a directory (or a path to create one at), not a file",
        ));
    }
    Ok(())
}
