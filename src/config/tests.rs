use super::*;

#[test]
fn default_spec_parses_and_validates() {
    let spec = RunSpec::from_sources(None, &[] as &[&str]).unwrap();
    println!("{}", spec.to_toml_string().unwrap());
}

#[test]
fn measure_default_span() {
    let cfg = RunSpec::default().synthetic_config().unwrap();
    let mut feed = crate::feed::synthetic::SyntheticFeed::new(cfg).unwrap();
    let mut buf = [0u8; 1500];
    let (mut first, mut last) = (None, 0);
    while let Some(p) = feed.next_packet(&mut buf) {
        first.get_or_insert(p.publish_ns);
        last = p.publish_ns;
    }
    println!("span {} s", (last - first.unwrap()) as f64 / 1e9);
}
