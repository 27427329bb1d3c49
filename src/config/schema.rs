//! The shape of a run spec as data: every table, every key, its type and what is
//! valid, written once so that an unknown key, a value of the wrong type, or a
//! `--set` on a path that does not exist is refused naming the key and listing the
//! keys that do exist, before serde sees the document.
//!
//! serde alone cannot do that: it reports `unknown field` without the table it was
//! in, and a type error without the key at all, and internally tagged tables
//! (`pace.mode`, `feed.source`, `dut.mode`) lose even that. The tests in `super`
//! hold this schema and the `RunSpec` structs to each other (every key one has, the
//! other has) and to `default.toml` (every key is shown there, commented).
//!
//! Nothing here knows about values beyond their type and range; the semantic rules
//! (a rate above 0, placeholders in the DUT command) are in `super::validate`.

use std::net::{Ipv4Addr, SocketAddr};

use toml::Value;

/// One key of a table.
#[derive(Debug)]
pub(crate) struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// Whether the merged document must have it (else serde's default applies).
    pub required: bool,
    /// What is valid, in words, for error messages.
    pub expected: &'static str,
}

/// The TOML type of a key, and for strings what they must parse as.
#[derive(Debug)]
pub(crate) enum Kind {
    Bool,
    /// An integer from 0 to `max`.
    UInt {
        max: u64,
    },
    Int,
    /// A float, or an integer taken as one.
    Float,
    Str,
    StrList,
    /// A string, one of these.
    Choice(&'static [&'static str]),
    /// A string holding an IPv4 address.
    Ipv4,
    /// A string holding `address:port` (IPv4 or `[IPv6]`).
    SocketAddr,
    /// A string holding a MAC address, `aa:bb:cc:dd:ee:ff`.
    Mac,
    Table(&'static Table),
}

impl Kind {
    /// Whether a `--set` value that parsed as some other TOML type should be taken
    /// as its raw text (`gateway.ouch=5.0` means the string "5.0").
    pub fn wants_string(&self) -> bool {
        matches!(
            self,
            Kind::Str | Kind::Choice(_) | Kind::Ipv4 | Kind::SocketAddr | Kind::Mac
        )
    }
}

/// A table: its keys, and for a tagged table the keys of each variant.
#[derive(Debug)]
pub(crate) struct Table {
    /// Dotted path, "" for the document.
    pub path: &'static str,
    /// Keys every variant has.
    pub keys: &'static [Key],
    pub tag: Option<Tag>,
    /// Keys of which at most one may be set; a later layer setting one removes the
    /// others from the layers below.
    pub exclusive: &'static [&'static str],
}

/// The key whose value selects the variant, and each variant's own keys.
#[derive(Debug)]
pub(crate) struct Tag {
    pub key: Key,
    pub variants: &'static [(&'static str, &'static [Key])],
}

impl Table {
    /// The keys valid when the tag has `variant` (all common keys if untagged or
    /// the variant is unknown), the tag key first.
    pub fn keys_for(&'static self, variant: Option<&str>) -> Vec<&'static Key> {
        let mut keys: Vec<&'static Key> = Vec::new();
        if let Some(tag) = &self.tag {
            keys.push(&tag.key);
            if let Some((_, own)) = tag.variants.iter().find(|(name, _)| Some(*name) == variant) {
                keys.extend(own.iter());
            }
        }
        keys.extend(self.keys.iter());
        keys
    }

    /// A key of any variant, by name: for `--set`, which may name a variant's key
    /// before the tag that selects it.
    pub fn any_key(&'static self, name: &str) -> Option<&'static Key> {
        let tag = self.tag.iter().flat_map(|t| {
            std::iter::once(&t.key).chain(t.variants.iter().flat_map(|(_, keys)| keys.iter()))
        });
        self.keys.iter().chain(tag).find(|k| k.name == name)
    }

    /// The variants that have a key called `name`.
    pub fn variants_with(&self, name: &str) -> Vec<&'static str> {
        self.tag
            .iter()
            .flat_map(|t| t.variants.iter())
            .filter(|(_, keys)| keys.iter().any(|k| k.name == name))
            .map(|(variant, _)| *variant)
            .collect()
    }

    /// The schema of the table at a dotted path below this one.
    pub fn table_at(&'static self, path: &[&str]) -> Option<&'static Table> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => match self.any_key(first)?.kind {
                Kind::Table(t) => t.table_at(rest),
                _ => None,
            },
        }
    }

    /// The variant a document table selects, if it has a string tag.
    pub fn variant_of<'a>(&self, table: &'a toml::Table) -> Option<&'a str> {
        let tag = self.tag.as_ref()?;
        table.get(tag.key.name)?.as_str()
    }
}

/// What is wrong with one value in the document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub key: String,
    pub value: Option<String>,
    pub problem: Option<String>,
    pub expected: String,
}

/// Checks `doc` against `table`, depth first in document order; the first problem
/// found is returned.
pub(crate) fn check(doc: &toml::Table, table: &'static Table) -> Result<(), Problem> {
    let join = |name: &str| {
        if table.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", table.path)
        }
    };
    let variant = table.variant_of(doc);
    if let Some(tag) = &table.tag {
        match doc.get(tag.key.name) {
            None => {
                return Err(Problem {
                    key: join(tag.key.name),
                    value: None,
                    problem: Some("missing".into()),
                    expected: tag.key.expected.into(),
                })
            }
            Some(v) => check_value(&join(tag.key.name), v, &tag.key)?,
        }
    }
    let valid = table.keys_for(variant);
    for (name, value) in doc {
        let Some(key) = valid.iter().find(|k| k.name == name) else {
            return Err(unknown_key(table, variant, name, &join(name)));
        };
        check_value(&join(name), value, key)?;
    }
    let set: Vec<&&str> = table
        .exclusive
        .iter()
        .filter(|k| doc.contains_key(**k))
        .collect();
    if set.len() > 1 {
        return Err(Problem {
            key: join(set[1]),
            value: doc.get(*set[1]).map(ToString::to_string),
            problem: Some(format!("set together with {}", join(set[0]))),
            expected: format!("exactly one of {}", table.exclusive.join(", ")),
        });
    }
    for key in valid.iter().filter(|k| k.required) {
        if !doc.contains_key(key.name) {
            let needed_by = match (&table.tag, variant) {
                (Some(tag), Some(v)) if table.variants_with(key.name).contains(&v) => {
                    format!(" (needed with {} = {v:?})", join(tag.key.name))
                }
                _ => String::new(),
            };
            return Err(Problem {
                key: join(key.name),
                value: None,
                problem: Some(format!("missing{needed_by}")),
                expected: key.expected.into(),
            });
        }
    }
    if !table.exclusive.is_empty() && set.is_empty() {
        return Err(Problem {
            key: join(table.exclusive[0]),
            value: None,
            problem: Some("missing".into()),
            expected: format!("exactly one of {}", table.exclusive.join(", ")),
        });
    }
    Ok(())
}

fn unknown_key(table: &'static Table, variant: Option<&str>, name: &str, key: &str) -> Problem {
    let valid: Vec<&str> = table.keys_for(variant).iter().map(|k| k.name).collect();
    let section = if table.path.is_empty() {
        "the top level".to_owned()
    } else {
        format!("[{}]", table.path)
    };
    let with = match (&table.tag, variant) {
        (Some(tag), Some(v)) => format!(" with {} = {v:?}", tag.key.name),
        _ => String::new(),
    };
    let elsewhere = table.variants_with(name);
    let hint = match (&table.tag, elsewhere.is_empty()) {
        (Some(tag), false) => format!(
            " ({name} goes with {} = {})",
            tag.key.name,
            elsewhere
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        _ => String::new(),
    };
    Problem {
        key: key.to_owned(),
        value: None,
        problem: Some(format!("unknown key{hint}")),
        expected: format!("one of the keys of {section}{with}: {}", valid.join(", ")),
    }
}

pub(crate) fn check_value(path: &str, value: &Value, key: &Key) -> Result<(), Problem> {
    let bad = || Problem {
        key: path.to_owned(),
        value: Some(value.to_string()),
        problem: None,
        expected: key.expected.into(),
    };
    let parses = |ok: bool| if ok { Ok(()) } else { Err(bad()) };
    match (&key.kind, value) {
        (Kind::Bool, Value::Boolean(_)) => Ok(()),
        (Kind::UInt { max }, Value::Integer(i)) => {
            parses(u64::try_from(*i).is_ok_and(|u| u <= *max))
        }
        (Kind::Int, Value::Integer(_)) => Ok(()),
        (Kind::Float, Value::Float(_) | Value::Integer(_)) => Ok(()),
        (Kind::Str, Value::String(_)) => Ok(()),
        (Kind::StrList, Value::Array(items)) => parses(items.iter().all(Value::is_str)),
        (Kind::Choice(names), Value::String(s)) => parses(names.contains(&s.as_str())),
        (Kind::Ipv4, Value::String(s)) => parses(s.parse::<Ipv4Addr>().is_ok()),
        (Kind::SocketAddr, Value::String(s)) => parses(s.parse::<SocketAddr>().is_ok()),
        (Kind::Mac, Value::String(s)) => parses(s.parse::<super::MacAddr>().is_ok()),
        (Kind::Table(t), Value::Table(inner)) => check(inner, t),
        _ => Err(bad()),
    }
}

const fn key(name: &'static str, kind: Kind, expected: &'static str) -> Key {
    Key {
        name,
        kind,
        required: false,
        expected,
    }
}

const fn required(name: &'static str, kind: Kind, expected: &'static str) -> Key {
    Key {
        name,
        kind,
        required: true,
        expected,
    }
}

const U16: Kind = Kind::UInt {
    max: u16::MAX as u64,
};
const U32: Kind = Kind::UInt {
    max: u32::MAX as u64,
};
const U64: Kind = Kind::UInt {
    max: i64::MAX as u64,
};

pub(crate) const SECONDS: &str = "a finite number of seconds above 0 (at most 1e9)";

/// The document.
pub(crate) static SPEC: Table = Table {
    path: "",
    keys: &[
        required("feed", Kind::Table(&FEED), "a table"),
        required("pace", Kind::Table(&PACE), "a table"),
        required("network", Kind::Table(&NETWORK), "a table"),
        required("dut", Kind::Table(&DUT), "a table"),
        required("gateway", Kind::Table(&GATEWAY), "a table"),
        required("correlate", Kind::Table(&CORRELATE), "a table"),
        required("run", Kind::Table(&RUN), "a table"),
        required("results", Kind::Table(&RESULTS), "a table"),
        required("clock", Kind::Table(&CLOCK), "a table"),
    ],
    tag: None,
    exclusive: &[],
};

static FEED: Table = Table {
    path: "feed",
    keys: &[],
    tag: Some(Tag {
        key: key(
            "source",
            Kind::Choice(&["synthetic", "capture"]),
            "one of \"synthetic\", \"capture\"",
        ),
        variants: &[
            (
                "synthetic",
                &[
                    key("seed", U64, "an integer from 0 to 2^63-1"),
                    key(
                        "symbols",
                        Kind::StrList,
                        "an array of 1 to 65535 symbols of 1 to 8 characters of A-Z, 0-9, '.', '-'",
                    ),
                    key(
                        "messages",
                        U64,
                        "a number of ITCH messages in the session, 1 or more",
                    ),
                    key("session", Kind::Str, "1 to 10 printable ASCII characters"),
                    key(
                        "first_sequence",
                        U64,
                        "1 or more (MoldUDP64 sequence numbers start at 1)",
                    ),
                    key("start_ns", U64, "ns since midnight, below 86400e9"),
                    key("date_epoch_ns", Kind::Int, "the trading date's midnight in ns since the Unix epoch"),
                    key(
                        "mean_rate",
                        Kind::Float,
                        "a rate in messages per second, above 0 and at most 1e9",
                    ),
                    key("burst_probability", Kind::Float, "a probability from 0 to 1"),
                    key("mean_burst_len", Kind::Float, "a mean of at least 1 message"),
                    key("burst_spacing_ns", Kind::Float, "a spacing of 0 ns or more"),
                    key("packet_window_ns", U64, "a window of 0 ns or more"),
                    key(
                        "max_payload",
                        U16,
                        "86 to 65507 bytes (a MoldUDP64 header and one full message, at most one UDP datagram)",
                    ),
                ],
            ),
            (
                "capture",
                &[
                    required("path", Kind::Str, "the path of a pcap or pcapng file that exists"),
                    key(
                        "renumber",
                        Kind::Bool,
                        "true or false (renumber MoldUDP64 sequences so every pass continues the last)",
                    ),
                    key("loops", U64, "the number of passes over the capture, 0 for until the run ends"),
                    key("loop_gap_ns", U64, "ns of capture time between passes, 0 or more"),
                    key("rewrite", Kind::Table(&REWRITE), "a table"),
                ],
            ),
        ],
    }),
    exclusive: &[],
};

static REWRITE: Table = Table {
    path: "feed.rewrite",
    keys: &[
        key(
            "dst_mac",
            Kind::Mac,
            "a MAC address like \"01:00:5e:46:00:01\"",
        ),
        key("dst_ip", Kind::Ipv4, "an IPv4 address like \"239.198.0.1\""),
        key("dst_port", U16, "a UDP port from 1 to 65535"),
    ],
    tag: None,
    exclusive: &[],
};

static PACE: Table = Table {
    path: "pace",
    keys: &[],
    tag: Some(Tag {
        key: key(
            "mode",
            Kind::Choice(&["original", "scaled", "fixed_rate", "top_speed", "bursts"]),
            "one of \"original\", \"scaled\", \"fixed_rate\", \"top_speed\", \"bursts\"",
        ),
        variants: &[
            ("original", &[]),
            (
                "scaled",
                &[required(
                    "factor",
                    Kind::Float,
                    "a finite speed-up above 0 (2 replays twice as fast, 0.5 half as fast)",
                )],
            ),
            (
                "fixed_rate",
                &[required(
                    "per_second",
                    Kind::Float,
                    "a finite rate above 0 ticks per second",
                )],
            ),
            ("top_speed", &[]),
            (
                "bursts",
                &[
                    required("size", U32, "1 or more ticks per burst"),
                    required(
                        "interval_ns",
                        U64,
                        "1 ns or more between burst starts (top_speed sends everything at once)",
                    ),
                ],
            ),
        ],
    }),
    exclusive: &[],
};

static NETWORK: Table = Table {
    path: "network",
    keys: &[
        required(
            "backend",
            Kind::Choice(&["uring", "af_packet", "dpdk"]),
            "one of \"uring\", \"af_packet\", \"dpdk\"",
        ),
        required(
            "feed_group",
            Kind::Ipv4,
            "an IPv4 multicast group (224.0.0.0/4) or unicast address, like \"239.198.0.1\"",
        ),
        required(
            "feed_port",
            U16,
            "a UDP port from 1 to 65535, or 0 for a free port the lab picks",
        ),
        required(
            "feed_iface_addr",
            Kind::Ipv4,
            "the IPv4 address of the interface to send the feed on, like \"127.0.0.1\"",
        ),
        required(
            "gateway_listen",
            Kind::SocketAddr,
            "an address and port to listen on, like \"127.0.0.1:0\" (port 0: any free port)",
        ),
        key("cores", Kind::Table(&CORES), "a table"),
        required(
            "timestamps",
            Kind::Choice(&["auto", "hardware", "software", "tsc"]),
            "one of \"auto\", \"hardware\", \"software\", \"tsc\"",
        ),
        key(
            "interface",
            Kind::Str,
            "for af_packet an interface name like \"eth0\"; for dpdk an EAL port name like \"net_af_packet0\" or a PCI address",
        ),
        key(
            "dpdk_args",
            Kind::Str,
            "EAL arguments, like \"--no-huge -m 512 --no-pci --vdev=net_af_packet0,iface=veth0\"",
        ),
        key(
            "feed_dst_mac",
            Kind::Mac,
            "a MAC address like \"02:00:00:00:00:02\"",
        ),
        key("tap", Kind::Bool, "true or false"),
    ],
    tag: None,
    exclusive: &[],
};

const CORE: &str = "a CPU number from 0 to 1023";

static CORES: Table = Table {
    path: "network.cores",
    keys: &[
        key("send", Kind::UInt { max: 1023 }, CORE),
        key("receive", Kind::UInt { max: 1023 }, CORE),
        key("control", Kind::UInt { max: 1023 }, CORE),
    ],
    tag: None,
    exclusive: &[],
};

static DUT: Table = Table {
    path: "dut",
    keys: &[],
    tag: Some(Tag {
        key: key(
            "mode",
            Kind::Choice(&["command", "external"]),
            "one of \"command\", \"external\"",
        ),
        variants: &[
            (
                "command",
                &[
                    required(
                        "command",
                        Kind::StrList,
                        "a program and its arguments, like [\"refcore\", \"--feed\", \"{feed}\", \"--gateway\", \"{gateway}\"]",
                    ),
                    key("ready_timeout_s", Kind::Float, SECONDS),
                    key("stop_timeout_s", Kind::Float, SECONDS),
                ],
            ),
            ("external", &[key("ready_timeout_s", Kind::Float, SECONDS)]),
        ],
    }),
    exclusive: &[],
};

static GATEWAY: Table = Table {
    path: "gateway",
    keys: &[
        required(
            "username",
            Kind::Str,
            "0 to 6 printable ASCII characters without spaces (SoupBinTCP Alpha(6))",
        ),
        required(
            "password",
            Kind::Str,
            "0 to 10 printable ASCII characters without spaces (SoupBinTCP Alpha(10))",
        ),
        required(
            "heartbeat_interval_ms",
            U64,
            "1 to 60000 ms (SoupBinTCP sends one a second)",
        ),
        required(
            "client_timeout_s",
            Kind::Float,
            "a finite number of seconds above the heartbeat interval (SoupBinTCP suggests 15)",
        ),
        required(
            "ouch",
            Kind::Choice(&["5.0", "4.2"]),
            "one of \"5.0\", \"4.2\"",
        ),
        required(
            "answer",
            Kind::Choice(&["accept", "reject", "fill"]),
            "one of \"accept\", \"reject\", \"fill\"",
        ),
        required(
            "on_garbage",
            Kind::Choice(&["close_and_continue", "end_run"]),
            "one of \"close_and_continue\", \"end_run\"",
        ),
    ],
    tag: None,
    exclusive: &[],
};

static CORRELATE: Table = Table {
    path: "correlate",
    keys: &[
        required(
            "rule",
            Kind::Choice(&["echo", "instrument", "trigger"]),
            "one of \"echo\", \"instrument\", \"trigger\"",
        ),
        required(
            "field",
            Kind::Choice(&["ouch_token", "ouch50_clordid", "fix_clordid"]),
            "one of \"ouch_token\", \"ouch50_clordid\", \"fix_clordid\"",
        ),
        required("timeout_ms", U64, "1 ms or more"),
        required(
            "trigger_rule",
            Kind::Choice(&["top-of-book", "every-add"]),
            "one of \"top-of-book\", \"every-add\"",
        ),
        required(
            "symbols",
            Kind::StrList,
            "an array of the feed's symbols to expect orders on, [] for all",
        ),
    ],
    tag: None,
    exclusive: &[],
};

static RUN: Table = Table {
    path: "run",
    keys: &[
        key("duration_s", Kind::Float, SECONDS),
        key(
            "messages",
            U64,
            "a number of ITCH messages to send, 1 or more",
        ),
        key(
            "warmup_messages",
            U64,
            "a number of messages, fewer than run.messages, whose samples are not recorded",
        ),
    ],
    tag: None,
    exclusive: &["duration_s", "messages"],
};

static CLOCK: Table = Table {
    path: "clock",
    keys: &[
        required(
            "require_ptp",
            Kind::Bool,
            "true (refuse to start unless ptp4l is locked, end incomplete if sync is lost) or false",
        ),
        key(
            "max_offset_ns",
            U64,
            "the largest |offset from master| in ns a sample may have, 1 or more (MiFID II RTS 25 allows 100000)",
        ),
        required(
            "ptp_uds",
            Kind::Str,
            "the path of ptp4l's management socket (its uds_address), like \"/var/run/ptp4l\"",
        ),
    ],
    tag: None,
    exclusive: &[],
};

static RESULTS: Table = Table {
    path: "results",
    keys: &[required(
        "dir",
        Kind::Str,
        "a directory path (each run writes <dir>/<run-id>/)",
    )],
    tag: None,
    exclusive: &[],
};

/// Every key of the schema as a dotted path, across all variants, in order.
#[cfg(test)]
pub(crate) fn all_keys() -> Vec<String> {
    fn walk(table: &'static Table, out: &mut Vec<String>) {
        let mut keys: Vec<&'static Key> = Vec::new();
        if let Some(tag) = &table.tag {
            keys.push(&tag.key);
            for (_, own) in tag.variants {
                for k in own.iter() {
                    if !keys.iter().any(|seen| seen.name == k.name) {
                        keys.push(k);
                    }
                }
            }
        }
        keys.extend(table.keys.iter());
        for k in keys {
            let path = if table.path.is_empty() {
                k.name.to_owned()
            } else {
                format!("{}.{}", table.path, k.name)
            };
            match k.kind {
                Kind::Table(t) => walk(t, out),
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    walk(&SPEC, &mut out);
    out
}
