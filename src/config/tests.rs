use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

const NONE: &[&str] = &[];

fn load(file: Option<&str>, sets: &[&str]) -> Result<RunSpec, SpecError> {
    RunSpec::from_sources(file.map(|t| (Path::new("lab.toml"), t)), sets)
}

fn err(file: Option<&str>, sets: &[&str]) -> String {
    load(file, sets).unwrap_err().to_string()
}

fn synthetic(spec: &RunSpec) -> &SyntheticSpec {
    match &spec.feed {
        FeedSpec::Synthetic(s) => s,
        other => panic!("not synthetic: {other:?}"),
    }
}

#[test]
fn the_default_spec_is_the_default_lab() {
    let spec = RunSpec::default();
    spec.validate().unwrap();
    assert_eq!(synthetic(&spec).seed, 1);
    assert_eq!(synthetic(&spec).messages, None);
    assert_eq!(spec.pace, Mode::Original);
    assert_eq!(spec.network.backend, Backend::Uring);
    // Port 0: the lab picks a free port when the run starts.
    assert_eq!(spec.network.feed_addr(), "239.198.0.1:0".parse().unwrap());
    assert_eq!(spec.network.feed_iface_addr, Ipv4Addr::LOCALHOST);
    assert_eq!(spec.network.gateway_listen, "127.0.0.1:0".parse().unwrap());
    assert_eq!(spec.network.timestamps, Timestamps::Auto);
    assert_eq!(spec.network.cores, Cores::default());
    assert_eq!(spec.gateway.ouch, OuchVersion::V50);
    assert_eq!(spec.gateway.answer, Answer::Accept);
    assert_eq!(spec.correlate.rule, CorrelationRule::Echo);
    assert_eq!(spec.correlate.field, CorrelationField::Ouch50Clordid);
    assert_eq!(spec.correlate.trigger_rule, TriggerRule::TopOfBook);
    assert_eq!(spec.run.stop(), Some(Stop::Messages(1_400_000)));
    assert_eq!(spec.run.warmup_messages, 10_000);
    assert_eq!(spec.results.dir, PathBuf::from("results"));
    assert_eq!(spec.dut.ready_timeout(), Duration::from_secs(10));
    // The session is as long as the run, so it closes with End of Session.
    let feed = spec.synthetic_config().unwrap();
    assert_eq!(feed.messages, Some(1_400_000));
    feed.validate().unwrap();
}

#[test]
fn the_default_synthetic_feed_is_the_generator_default() {
    let expected = SyntheticConfig {
        messages: Some(1_400_000),
        ..SyntheticConfig::default()
    };
    assert_eq!(RunSpec::default().synthetic_config(), Some(expected));
}

#[test]
fn the_default_command_gets_the_spec_through_its_placeholders() {
    let spec = RunSpec::from_sources(
        None,
        &[
            "correlate.symbols=[\"AAPL\", \"MSFT\"]",
            "correlate.trigger_rule=every-add",
            "network.feed_port=26400",
        ],
    )
    .unwrap();
    let argv = spec.dut_argv("127.0.0.1:40123".parse().unwrap()).unwrap();
    assert_eq!(
        argv,
        [
            "refcore",
            "--feed",
            "239.198.0.1:26400",
            "--iface-addr",
            "127.0.0.1",
            "--gateway",
            "127.0.0.1:40123",
            "--user",
            "TKLB",
            "--password",
            "TICKLAB",
            "--ouch",
            "5.0",
            "--rule",
            "every-add",
            "--symbols",
            "AAPL,MSFT",
        ]
    );
    let external = RunSpec::from_sources(None, &["dut.mode=external"]).unwrap();
    assert_eq!(external.dut_argv("127.0.0.1:1".parse().unwrap()), None);
    assert_eq!(
        external.dut,
        DutSpec::External(DutExternal {
            ready_timeout_s: 10.0
        })
    );
}

#[test]
fn placeholders_substitute_and_escape() {
    let value = |name: &str| (name == "feed").then(|| "239.1.1.1:5".to_owned());
    assert_eq!(
        validate::substitute("{{x}}-{feed}-{feed}", &value).unwrap(),
        "{x}-239.1.1.1:5-239.1.1.1:5"
    );
    assert_eq!(validate::substitute("plain", &value).unwrap(), "plain");
    assert_eq!(
        validate::substitute("a}b", &value).unwrap_err(),
        "unmatched '}' in \"a}b\" (write '}}' for a brace)"
    );
    assert_eq!(
        validate::substitute("{feed", &value).unwrap_err(),
        "unclosed '{' in \"{feed\""
    );
    assert_eq!(
        validate::substitute("{gateway}", &value).unwrap_err(),
        "unknown placeholder {gateway} in \"{gateway}\""
    );
}

/// Every key of the schema is in `default.toml`, set or commented out, under its
/// table, with a comment above it; every key written there is in the schema; and
/// every commented-out example is a valid value for its key.
#[test]
fn the_default_spec_shows_every_key_with_a_comment() {
    let lines: Vec<&str> = DEFAULT_SPEC.lines().collect();
    let is_key = |s: &str| {
        let s = s.trim_start_matches('#').trim_start();
        s.split_once(" = ").is_some_and(|(k, _)| {
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
    };
    let is_header = |s: &str| {
        let s = s.trim_start_matches('#').trim();
        s.starts_with('[') && s.ends_with(']') && !s.contains(' ')
    };
    let is_continuation = |s: &str| s.starts_with(' ') || s.starts_with(']');
    let mut section = String::new();
    let mut documented = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        if is_header(line) {
            let name = line.trim_start_matches('#').trim();
            section = name[1..name.len() - 1].to_owned();
            continue;
        }
        if !is_key(line) {
            continue;
        }
        let commented = line.starts_with('#');
        let text = line.trim_start_matches('#').trim_start();
        let (name, _) = text.split_once(" = ").unwrap();
        let dotted = format!("{section}.{name}");
        let segments: Vec<&str> = section.split('.').collect();
        let key = schema::SPEC
            .table_at(&segments)
            .and_then(|t| t.any_key(name))
            .unwrap_or_else(|| panic!("line {}: {dotted} is not a key of the schema", i + 1));
        if commented {
            let example: toml::Table =
                toml::from_str(text).unwrap_or_else(|e| panic!("line {}: {text:?}: {e}", i + 1));
            schema::check_value(&dotted, &example[name], key)
                .unwrap_or_else(|p| panic!("line {}: example {p:?}", i + 1));
        }
        let above = lines[..i]
            .iter()
            .rev()
            .find(|l| !(is_key(l) || is_continuation(l) || (l.starts_with('#') && is_header(l))))
            .copied()
            .unwrap_or("");
        assert!(
            above.starts_with('#'),
            "line {}: {dotted} has no comment above it (found {above:?})",
            i + 1
        );
        documented.insert(dotted);
    }
    let all: BTreeSet<String> = schema::all_keys().into_iter().collect();
    let missing: Vec<&String> = all.difference(&documented).collect();
    assert!(missing.is_empty(), "not in default.toml: {missing:?}");
    assert_eq!(all, documented);
}

/// Leaf keys of a document, dotted.
fn leaves(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (k, v) in table {
        let path = join(prefix, k);
        match v {
            Value::Table(t) => leaves(t, &path, out),
            _ => {
                out.insert(path);
            }
        }
    }
}

/// One spec per variant of every tagged table, with every optional key set.
fn every_variant(capture: &Path) -> Vec<RunSpec> {
    let base = RunSpec::default();
    let mut full = base.clone();
    if let FeedSpec::Synthetic(s) = &mut full.feed {
        s.messages = Some(2_000_000);
    }
    full.network.tap = true;
    full.network.cores = Cores {
        send: Some(2),
        receive: Some(3),
        control: Some(0),
    };
    let mut capture_spec = base.clone();
    capture_spec.feed = FeedSpec::Capture(CaptureSpec {
        path: capture.to_owned(),
        renumber: false,
        loops: 0,
        loop_gap_ns: Some(5_000),
        rewrite: Rewrite {
            dst_mac: Some(MacAddr([0x01, 0x00, 0x5e, 0x46, 0x00, 0x01])),
            dst_ip: Some(Ipv4Addr::new(239, 198, 0, 2)),
            dst_port: Some(30_001),
        },
    });
    capture_spec.pace = Mode::Scaled { factor: 2.0 };
    capture_spec.run = RunLength {
        duration_s: Some(2.5),
        messages: None,
        warmup_messages: 0,
    };
    capture_spec.dut = DutSpec::External(DutExternal {
        ready_timeout_s: 3.5,
    });
    capture_spec.gateway.ouch = OuchVersion::V42;
    capture_spec.gateway.answer = Answer::Fill;
    capture_spec.gateway.on_garbage = OnGarbage::EndRun;
    capture_spec.correlate.field = CorrelationField::OuchToken;
    capture_spec.correlate.rule = CorrelationRule::Trigger;
    capture_spec.correlate.symbols = vec!["IBM".into()];
    capture_spec.network.backend = Backend::AfPacket;
    capture_spec.network.timestamps = Timestamps::Hardware;
    capture_spec.clock.require_ptp = true;
    capture_spec.clock.max_offset_ns = Some(100_000);
    let mut specs = vec![full, capture_spec];
    for mode in [
        Mode::FixedRate { per_second: 1e5 },
        Mode::TopSpeed,
        Mode::Bursts {
            size: 8,
            interval_ns: 1_000,
        },
    ] {
        let mut s = base.clone();
        s.pace = mode;
        s.network.backend = Backend::Dpdk;
        s.network.timestamps = Timestamps::Tsc;
        s.network.interface = Some("net_af_packet0".into());
        s.network.dpdk_args = Some("--no-huge -m 512 --vdev=net_af_packet0,iface=veth0".into());
        s.network.feed_group = Ipv4Addr::new(198, 18, 0, 2);
        s.network.feed_dst_mac = Some(MacAddr([0x02, 0, 0, 0, 0, 2]));
        s.correlate.rule = CorrelationRule::Instrument;
        specs.push(s);
    }
    specs
}

#[test]
fn the_schema_and_the_structs_have_the_same_keys() {
    let capture = tempfile::NamedTempFile::new().unwrap();
    let mut seen = BTreeSet::new();
    for spec in every_variant(capture.path()) {
        spec.validate().unwrap();
        let doc = toml::Table::try_from(&spec).unwrap();
        schema::check(&doc, &schema::SPEC).unwrap_or_else(|p| panic!("{p:?} in {doc}"));
        leaves(&doc, "", &mut seen);
    }
    let all: BTreeSet<String> = schema::all_keys().into_iter().collect();
    assert_eq!(seen, all);
}

#[test]
fn specs_round_trip_through_toml() {
    let capture = tempfile::NamedTempFile::new().unwrap();
    for spec in every_variant(capture.path()) {
        let text = spec.to_toml_string().unwrap();
        let back = RunSpec::from_sources(Some((Path::new("spec.toml"), &text)), NONE)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, spec, "{text}");
    }
    // The written spec of the default is the default, with every key spelled out.
    let text = RunSpec::default().to_toml_string().unwrap();
    assert!(text.contains("[pace]\nmode = \"original\"\n"), "{text}");
    assert!(text.contains("messages = 1400000\n"), "{text}");
}

#[test]
fn a_file_need_only_hold_what_differs() {
    let file = "[pace]\nmode = \"scaled\"\nfactor = 3\n\n[gateway]\nanswer = \"reject\"\n";
    let spec = load(Some(file), NONE).unwrap();
    assert_eq!(spec.pace, Mode::Scaled { factor: 3.0 });
    assert_eq!(spec.gateway.answer, Answer::Reject);
    assert_eq!(spec.gateway.username, "TKLB");
    // --set comes after the file.
    let spec = load(Some(file), &["pace.factor=4"]).unwrap();
    assert_eq!(spec.pace, Mode::Scaled { factor: 4.0 });
    // A file that switches the feed to a capture drops the synthetic keys.
    let capture = tempfile::NamedTempFile::new().unwrap();
    let file = format!(
        "[feed]\nsource = \"capture\"\npath = {:?}\n",
        capture.path().display().to_string()
    );
    let spec = load(Some(&file), NONE).unwrap();
    assert_eq!(
        spec.feed,
        FeedSpec::Capture(CaptureSpec {
            path: capture.path().to_owned(),
            renumber: true,
            loops: 1,
            loop_gap_ns: None,
            rewrite: Rewrite::default(),
        })
    );
    assert_eq!(spec.synthetic_config(), None);
    // A file that asks for a duration drops the default's message count.
    let spec = load(Some("[run]\nduration_s = 30\n"), NONE).unwrap();
    assert_eq!(spec.run.stop(), Some(Stop::After(Duration::from_secs(30))));
    assert_eq!(spec.run.messages, None);
}

#[test]
fn load_reads_the_file_and_names_it() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, b"[pace]\nmode = \"top_speed\"\n").unwrap();
    let spec = RunSpec::load(Some(file.path()), &["run.messages=50000"]).unwrap();
    assert_eq!(spec.pace, Mode::TopSpeed);
    assert_eq!(spec.run.messages, Some(50_000));

    std::io::Write::write_all(&mut file, b"speed = 3\n").unwrap();
    let e = RunSpec::load(Some(file.path()), NONE).unwrap_err();
    assert_eq!(e.origin, Origin::File(file.path().to_owned()));
    assert_eq!(e.key, "pace.speed");

    let missing = Path::new("/nonexistent/lab.toml");
    let e = RunSpec::load(Some(missing), NONE).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/lab.toml: cannot read the spec: "),
        "{e}"
    );
}

#[test]
fn every_form_of_set() {
    let spec = load(
        None,
        &[
            "feed.seed=42",
            "feed.mean_rate=2.5e5",
            "feed.symbols=[\"AAPL\", \"IBM\"]",
            "feed.session=\"S1\"",
            " feed.burst_probability = 0 ",
            "network.cores.send=3",
            "network.cores={ receive = 4 }",
            "network.gateway_listen=127.0.0.1:15000",
            "network.backend=af_packet",
            "gateway.username=123",
            "gateway.password=",
            "correlate.symbols=[\"IBM\"]",
            "pace.factor=2",
            "pace.mode=scaled",
        ],
    )
    .unwrap();
    let feed = synthetic(&spec);
    assert_eq!(feed.seed, 42);
    assert_eq!(feed.mean_rate, 250_000.0);
    assert_eq!(feed.symbols, ["AAPL", "IBM"]);
    assert_eq!(feed.session, "S1");
    assert_eq!(feed.burst_probability, 0.0);
    assert_eq!(
        spec.network.cores,
        Cores {
            send: Some(3),
            receive: Some(4),
            control: None
        }
    );
    assert_eq!(
        spec.network.gateway_listen,
        "127.0.0.1:15000".parse().unwrap()
    );
    assert_eq!(spec.network.backend, Backend::AfPacket);
    // A string key takes the text as it is: digits, or nothing at all.
    assert_eq!(spec.gateway.username, "123");
    assert_eq!(spec.gateway.password, "");
    assert_eq!(spec.correlate.symbols, ["IBM"]);
    // The variant's key may come before the tag that selects it.
    assert_eq!(spec.pace, Mode::Scaled { factor: 2.0 });

    // `5.0`/`4.2` are floats in TOML but the key wants the text.
    let spec = load(None, &["gateway.ouch=4.2", "correlate.field=ouch_token"]).unwrap();
    assert_eq!(spec.gateway.ouch, OuchVersion::V42);
    let spec = load(
        None,
        &["gateway.ouch=\"4.2\"", "correlate.field=ouch_token"],
    )
    .unwrap();
    assert_eq!(spec.gateway.ouch, OuchVersion::V42);
    // The later --set wins; a new tag drops the old variant's keys.
    let spec = load(None, &["feed.seed=1", "feed.seed=2"]).unwrap();
    assert_eq!(synthetic(&spec).seed, 2);
    let spec = load(
        None,
        &["pace.mode=scaled", "pace.factor=2", "pace.mode=top_speed"],
    )
    .unwrap();
    assert_eq!(spec.pace, Mode::TopSpeed);
    let spec = load(None, &["dut.mode=external", "dut.ready_timeout_s=0.5"]).unwrap();
    assert_eq!(spec.dut.ready_timeout(), Duration::from_millis(500));
    // Nested keys of a variant, booleans, a duration instead of a count.
    let capture = tempfile::NamedTempFile::new().unwrap();
    let path = format!("feed.path={}", capture.path().display());
    let spec = load(
        None,
        &[
            "feed.source=capture",
            &path,
            "feed.renumber=false",
            "feed.loops=0",
            "feed.rewrite.dst_port=30001",
            "feed.rewrite.dst_mac=01-00-5E-46-00-01",
            "run.duration_s=2.5",
        ],
    )
    .unwrap();
    assert_eq!(
        spec.feed,
        FeedSpec::Capture(CaptureSpec {
            path: capture.path().to_owned(),
            renumber: false,
            loops: 0,
            loop_gap_ns: None,
            rewrite: Rewrite {
                dst_mac: Some(MacAddr([1, 0, 0x5e, 0x46, 0, 1])),
                dst_ip: None,
                dst_port: Some(30_001),
            },
        })
    );
    assert_eq!(
        spec.run,
        RunLength {
            duration_s: Some(2.5),
            messages: None,
            warmup_messages: 10_000
        }
    );
    // An array for the DUT command; placeholders inside an argument are replaced.
    let spec = load(
        None,
        &[
            "dut.command=[\"/bin/sh\", \"-c\", \"exec core -f {feed} -g {gateway} {{}}\"]",
            "network.feed_port=26400",
        ],
    )
    .unwrap();
    assert_eq!(
        spec.dut_argv("127.0.0.1:9".parse().unwrap()).unwrap(),
        [
            "/bin/sh",
            "-c",
            "exec core -f 239.198.0.1:26400 -g 127.0.0.1:9 {}"
        ]
    );
}

#[test]
fn parse_set_splits_and_types() {
    let parsed = |s: &str| parse_set(s).unwrap();
    assert_eq!(
        parsed("pace.factor=2"),
        (vec!["pace".into(), "factor".into()], Value::Integer(2))
    );
    assert_eq!(parsed("a.b=true").1, Value::Boolean(true));
    assert_eq!(parsed("a.b=x=y").1, Value::String("x=y".into()));
    assert_eq!(
        parsed("a.b=[1,2]").1,
        Value::Array(vec![Value::Integer(1), Value::Integer(2)])
    );
    assert_eq!(parsed("a.b=\"2\"").1, Value::String("2".into()));
    assert_eq!(
        parsed("network.feed_group=239.1.1.1").1,
        Value::String("239.1.1.1".into())
    );
    assert_eq!(parsed("feed.session=123").1, Value::String("123".into()));
    assert_eq!(parsed("feed.seed=123").1, Value::Integer(123));
}

#[test]
fn errors_name_the_origin_the_key_and_what_is_valid() {
    let pace_expected = "a finite speed-up above 0 (2 replays twice as fast, 0.5 half as fast)";
    let cases: Vec<(Option<&str>, Vec<&str>, String)> = vec![
        // Unknown keys, and where they would belong.
        (
            Some("[pace]\nmode = \"scaled\"\nfactr = 2\n"),
            vec![],
            "lab.toml: pace.factr: unknown key; expected one of the keys of [pace] with mode = \"scaled\": mode, factor".into(),
        ),
        (
            None,
            vec!["pase.mode=x"],
            "--set: pase: unknown key; expected one of the keys of the top level: feed, pace, network, dut, gateway, correlate, run, results, clock".into(),
        ),
        (
            None,
            vec!["network.cores.sned=1"],
            "--set: network.cores.sned: unknown key; expected one of the keys of [network.cores]: send, receive, control".into(),
        ),
        (
            None,
            vec!["pace.factor=2"],
            "--set: pace.factor: unknown key (factor goes with mode = \"scaled\"); expected one of the keys of [pace] with mode = \"original\": mode".into(),
        ),
        (
            None,
            vec!["dut.mode=external", "dut.stop_timeout_s=1"],
            "--set: dut.stop_timeout_s: unknown key (stop_timeout_s goes with mode = \"command\"); expected one of the keys of [dut] with mode = \"external\": mode, ready_timeout_s".into(),
        ),
        // Types and choices.
        (
            None,
            vec!["pace.mode=scaled", "pace.factor=fast"],
            format!("--set: pace.factor = \"fast\": expected {pace_expected}"),
        ),
        (
            None,
            vec!["pace.mode=warp"],
            "--set: pace.mode = \"warp\": expected one of \"original\", \"scaled\", \"fixed_rate\", \"top_speed\", \"bursts\"".into(),
        ),
        (
            None,
            vec!["clock.max_offset_ns=0"],
            "--set: clock.max_offset_ns = 0: expected 1 ns or more (MiFID II RTS 25 allows 100000 for high-frequency trading)".into(),
        ),
        (
            None,
            vec!["clock.require_ptp=\"yes\""],
            "--set: clock.require_ptp = \"yes\": expected true (refuse to start unless ptp4l is locked, end incomplete if sync is lost) or false".into(),
        ),
        (None, vec!["network.feed_port=70000"], "--set: network.feed_port = 70000: expected a UDP port from 1 to 65535, or 0 for a free port the lab picks".into()),
        (None, vec!["feed.seed=-1"], "--set: feed.seed = -1: expected an integer from 0 to 2^63-1".into()),
        (None, vec!["network.cores=3"], "--set: network.cores = 3: expected a table".into()),
        (
            None,
            vec!["network.feed_group=239.1"],
            "--set: network.feed_group = \"239.1\": expected an IPv4 multicast group (224.0.0.0/4) or unicast address, like \"239.198.0.1\"".into(),
        ),
        (
            None,
            vec!["network.backend=xdp"],
            "--set: network.backend = \"xdp\": expected one of \"uring\", \"af_packet\", \"dpdk\"".into(),
        ),
        (
            None,
            vec!["feed.source=capture", "feed.path=Cargo.toml", "feed.rewrite.dst_mac=01:00:5e"],
            "--set: feed.rewrite.dst_mac = \"01:00:5e\": expected a MAC address like \"01:00:5e:46:00:01\"".into(),
        ),
        // Missing keys: blamed on the layer that chose the variant.
        (
            Some("[pace]\nmode = \"scaled\"\n"),
            vec![],
            format!("lab.toml: pace.factor: missing (needed with pace.mode = \"scaled\"); expected {pace_expected}"),
        ),
        (
            None,
            vec!["feed.source=capture"],
            "--set: feed.path: missing (needed with feed.source = \"capture\"); expected the path of a pcap or pcapng file that exists".into(),
        ),
        (
            Some("[run]\nduration_s = 5\nmessages = 10\n"),
            vec![],
            "lab.toml: run.messages = 10: set together with run.duration_s; expected exactly one of duration_s, messages".into(),
        ),
        // Malformed --set.
        (None, vec!["pace.mode"], "--set: pace.mode: expected KEY=VALUE with a dotted key, like pace.factor=2".into()),
        (None, vec!["pace..mode=1"], "--set: pace..mode: expected a dotted key of letters, digits, '_' and '-', like pace.factor".into()),
        (None, vec!["=1"], "--set: expected a dotted key of letters, digits, '_' and '-', like pace.factor".into()),
        // The semantic rules, one by one.
        (
            Some("[pace]\nmode = \"scaled\"\nfactor = -1\n"),
            vec![],
            format!("lab.toml: pace.factor = -1: expected {pace_expected}"),
        ),
        (
            None,
            vec!["pace.mode=bursts", "pace.size=0", "pace.interval_ns=5"],
            "--set: pace.size = 0: expected 1 or more ticks per burst".into(),
        ),
        (None, vec!["feed.mean_rate=0"], "--set: feed.mean_rate = 0: expected a rate in messages per second, above 0 and at most 1e9".into()),
        (
            None,
            vec!["feed.symbols=[\"aapl\"]"],
            "--set: feed.symbols = [\"aapl\"]: expected 1 to 8 characters of A-Z, 0-9, '.', '-' (\"aapl\")".into(),
        ),
        (None, vec!["feed.symbols=[]"], "--set: feed.symbols = []: expected 1 to 65535 symbols (0 symbols)".into()),
        (None, vec!["feed.session=\"\""], "--set: feed.session = \"\": expected 1 to 10 printable ASCII characters".into()),
        (None, vec!["feed.messages=0"], "--set: feed.messages = 0: expected a number of ITCH messages in the session, 1 or more".into()),
        (
            None,
            vec!["feed.start_ns=86400000000000"],
            "--set: feed.start_ns = 86400000000000: expected ns since midnight, below 86400e9".into(),
        ),
        (
            None,
            vec!["feed.source=capture", "feed.path=/nonexistent/x.pcap"],
            "--set: feed.path = \"/nonexistent/x.pcap\": expected the path of a pcap or pcapng file that exists (No such file or directory (os error 2))".into(),
        ),
        (
            None,
            vec!["feed.source=capture", "feed.path=src"],
            "--set: feed.path = \"src\": expected a pcap or pcapng file, not a directory".into(),
        ),
        (
            None,
            vec!["feed.source=capture", "feed.path=Cargo.toml", "feed.rewrite.dst_port=0"],
            "--set: feed.rewrite.dst_port = 0: expected a UDP port from 1 to 65535".into(),
        ),
        (
            None,
            vec!["network.feed_group=0.0.0.0"],
            "--set: network.feed_group = \"0.0.0.0\": expected an IPv4 multicast group (224.0.0.0/4) or unicast address, not 0.0.0.0 or 255.255.255.255".into(),
        ),
        (
            None,
            vec!["network.feed_iface_addr=239.1.1.1"],
            "--set: network.feed_iface_addr = \"239.1.1.1\": expected the unicast IPv4 address of an interface, like \"127.0.0.1\"".into(),
        ),
        (
            None,
            vec!["network.backend=dpdk"],
            "--set: network.backend = \"dpdk\": expected network.interface set with it: the EAL port to send on, like \"net_af_packet0\" (with network.dpdk_args = \"... --vdev=net_af_packet0,iface=veth0\") or a PCI address".into(),
        ),
        (
            None,
            vec!["network.backend=af_packet", "network.interface= "],
            "--set: network.interface = \"\": expected an interface or EAL port name, not empty".into(),
        ),
        (
            None,
            vec!["network.backend=af_packet", "network.feed_group=198.18.0.2"],
            "--set: network.feed_group = \"198.18.0.2\": expected a multicast group, or a unicast address with network.feed_dst_mac (or feed.rewrite.dst_mac) set: the af_packet backend builds whole frames and needs the destination's MAC (`ip neigh` shows it)".into(),
        ),
        (
            None,
            vec![
                "feed.source=capture",
                "feed.path=Cargo.toml",
                "network.backend=af_packet",
                "feed.rewrite.dst_ip=198.18.0.9",
            ],
            "--set: feed.rewrite.dst_ip = \"198.18.0.9\": expected a multicast group, or a unicast address with network.feed_dst_mac (or feed.rewrite.dst_mac) set: the af_packet backend builds whole frames and needs the destination's MAC (`ip neigh` shows it)".into(),
        ),
        (None, vec!["dut.command=[]"], "--set: dut.command = []: expected a program and its arguments, the program not empty".into()),
        (
            None,
            vec!["dut.command=[\"refcore\", \"{feed}\"]"],
            "--set: dut.command = [\"refcore\", \"{feed}\"]: expected a command that uses {gateway} (the lab substitutes the address the gateway listens on, its port chosen when network.gateway_listen has port 0)".into(),
        ),
        (
            None,
            vec!["dut.command=[\"refcore\", \"{gateway}\"]"],
            "--set: dut.command = [\"refcore\", \"{gateway}\"]: expected a command that uses {feed} (the lab substitutes network.feed_group:network.feed_port, e.g. 239.198.0.1:26400)".into(),
        ),
        (
            None,
            vec!["dut.command=[\"refcore\", \"{feed}\", \"{gateway}\", \"{nope}\"]"],
            "--set: dut.command = [\"refcore\", \"{feed}\", \"{gateway}\", \"{nope}\"]: expected placeholders among {feed}, {iface_addr}, {gateway}, {username}, {password}, {ouch}, {trigger_rule}, {symbols} (unknown placeholder {nope} in \"{nope}\")".into(),
        ),
        (
            None,
            vec!["dut.command=[\"/nonexistent/refcore\", \"{feed}\", \"{gateway}\"]"],
            "--set: dut.command = [\"/nonexistent/refcore\", \"{feed}\", \"{gateway}\"]: expected a program that exists (/nonexistent/refcore is not a file; a bare name is looked up when the run starts)".into(),
        ),
        (None, vec!["dut.ready_timeout_s=0"], "--set: dut.ready_timeout_s = 0: expected a finite number of seconds above 0 (at most 1e9)".into()),
        (None, vec!["dut.stop_timeout_s=nan"], "--set: dut.stop_timeout_s = NaN: expected a finite number of seconds above 0 (at most 1e9)".into()),
        (
            None,
            vec!["gateway.username=TOOLONG"],
            "--set: gateway.username = \"TOOLONG\": expected 0 to 6 printable ASCII characters without spaces (SoupBinTCP Alpha(6))".into(),
        ),
        (
            None,
            vec!["gateway.password=\"a b\""],
            "--set: gateway.password = \"a b\": expected 0 to 10 printable ASCII characters without spaces (SoupBinTCP Alpha(10))".into(),
        ),
        (
            None,
            vec!["gateway.heartbeat_interval_ms=0"],
            "--set: gateway.heartbeat_interval_ms = 0: expected 1 to 60000 ms (SoupBinTCP sends one a second)".into(),
        ),
        (
            None,
            vec!["gateway.client_timeout_s=1"],
            "--set: gateway.client_timeout_s = 1: expected a finite number of seconds above the heartbeat interval (1 s), at most 1e9 (SoupBinTCP suggests 15)".into(),
        ),
        (None, vec!["correlate.timeout_ms=0"], "--set: correlate.timeout_ms = 0: expected 1 ms or more".into()),
        // A rule across two keys blames the key to change, where it was set.
        (
            None,
            vec!["gateway.ouch=4.2"],
            "<default>: correlate.field = \"ouch50_clordid\": expected \"ouch_token\", where OUCH 4.2 orders carry their token (gateway.ouch = \"4.2\"; the gateway speaks SoupBinTCP/OUCH, not FIX)".into(),
        ),
        (
            None,
            vec!["correlate.field=fix_clordid"],
            "--set: correlate.field = \"fix_clordid\": expected \"ouch50_clordid\", where OUCH 5.0 orders carry their token (gateway.ouch = \"5.0\"; the gateway speaks SoupBinTCP/OUCH, not FIX)".into(),
        ),
        (
            None,
            vec!["correlate.symbols=[\"aapl\"]"],
            "--set: correlate.symbols = [\"aapl\"]: expected symbols of 1 to 8 characters of A-Z, 0-9, '.', '-' (not \"aapl\")".into(),
        ),
        (
            None,
            vec!["correlate.symbols=[\"IBM\"]"],
            "--set: correlate.symbols = [\"IBM\"]: expected symbols of the synthetic feed (feed.symbols), which has no \"IBM\"".into(),
        ),
        (None, vec!["run.messages=0"], "--set: run.messages = 0: expected a number of ITCH messages to send, 1 or more".into()),
        (
            None,
            vec!["run.warmup_messages=1400000"],
            "--set: run.warmup_messages = 1400000: expected fewer messages than run.messages (1400000)".into(),
        ),
        (
            None,
            vec!["feed.messages=1000"],
            "<default>: run.messages = 1400000: expected at most the synthetic session's feed.messages (1000)".into(),
        ),
        (None, vec!["run.duration_s=-1"], "--set: run.duration_s = -1: expected a finite number of seconds above 0 (at most 1e9)".into()),
        (None, vec!["results.dir=\"\""], "--set: results.dir = \"\": expected a directory path, not empty".into()),
        (
            None,
            vec!["results.dir=Cargo.toml"],
            "--set: results.dir = \"Cargo.toml\": expected a directory (or a path to create one at), not a file".into(),
        ),
    ];
    for (file, sets, expected) in cases {
        assert_eq!(err(file, &sets), expected, "{file:?} {sets:?}");
    }
}

#[test]
fn syntax_errors_name_line_and_column() {
    let e = load(Some("[pace]\nmode = \"scaled\nfactor = 2\n"), NONE).unwrap_err();
    assert_eq!(e.position, Some((2, 15)));
    assert_eq!(
        e.to_string(),
        "lab.toml:2:15: invalid TOML: invalid basic string, expected `\"`"
    );
    let e = load(
        Some("[pace]\nmode = \"original\"\nmode = \"top_speed\"\n"),
        NONE,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "lab.toml:3:1: invalid TOML: duplicate key");
    // Columns count characters, not bytes.
    assert_eq!(line_column("é\nab€c", 8), (2, 4));
    assert_eq!(line_column("é\nab€c", 7), (2, 3)); // inside the €: its start
    assert_eq!(line_column("abc", 99), (1, 4));
}

#[test]
fn validate_checks_specs_built_in_code() {
    let spec = RunSpec {
        pace: Mode::FixedRate { per_second: 0.0 },
        ..RunSpec::default()
    };
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "<spec>: pace.per_second = 0: expected a finite rate above 0 ticks per second"
    );
    let mut spec = RunSpec::default();
    spec.run.messages = None;
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "<spec>: run.duration_s: missing; expected exactly one of duration_s, messages"
    );
    assert_eq!(spec.run.stop(), None);
}

#[test]
fn mac_addresses_parse_and_print() {
    let mac: MacAddr = "01:00:5E:46:00:0a".parse().unwrap();
    assert_eq!(mac, MacAddr([1, 0, 0x5e, 0x46, 0, 0x0a]));
    assert_eq!(mac.to_string(), "01:00:5e:46:00:0a");
    for bad in [
        "",
        "01:00:5e:46:00",
        "01:00:5e:46:00:0a:00",
        "1:00:5e:46:00:0a",
        "zz:00:5e:46:00:0a",
    ] {
        assert!(bad.parse::<MacAddr>().is_err(), "{bad:?}");
    }
}

fn key_path() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(schema::all_keys()),
        "[a-z_.]{0,24}",
    ]
}

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-0-9a-z_.:\"\\[\\], {}=#\n]{0,24}",
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        Just("nan".to_owned()),
        Just("inf".to_owned()),
    ]
}

proptest! {
    /// Whatever the argument: no panic, and a refusal is an error, never a bug.
    #[test]
    fn any_set_string_is_answered(arg in any::<String>()) {
        if let Err(e) = RunSpec::from_sources(None, &[arg]) {
            prop_assert!(!e.to_string().contains("ticklab bug"), "{}", e);
        }
    }

    /// Sets on real keys with odd values: no panic, the schema admits only what the
    /// structs read, and whatever is accepted round-trips through TOML.
    #[test]
    fn sets_on_real_keys_are_answered_and_round_trip(
        sets in proptest::collection::vec((key_path(), value_text()), 1..4),
    ) {
        let sets: Vec<String> = sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
        match RunSpec::from_sources(None, &sets) {
            Err(e) => prop_assert!(!e.to_string().contains("ticklab bug"), "{}", e),
            Ok(spec) => {
                let text = spec.to_toml_string().unwrap();
                let back = RunSpec::from_sources(Some((Path::new("spec.toml"), &text)), NONE);
                prop_assert_eq!(back, Ok(spec));
            }
        }
    }
}
