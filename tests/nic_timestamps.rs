//! The io_uring UDP port against a plain std receiver over loopback: every datagram
//! arrives, every datagram gets exactly one TX timestamp carrying its id, and each
//! RX timestamp is not earlier than its TX timestamp (both kernel software stamps,
//! `CLOCK_REALTIME`). Needs io_uring but no privileges; a sandbox without io_uring
//! fails here, on purpose, with what to check.

#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use ticklab::nic::timestamp::{self, ClockDomain, CONTROL_BUFFER_LEN};
use ticklab::nic::uring::{UdpPort, UdpPortConfig};
use ticklab::nic::{Error, Port, PortControl, TxTimestamp};

/// Only a guard against hanging forever; nothing here measures time.
const GIVE_UP_AFTER: Duration = Duration::from_secs(20);

fn require_io_uring() {
    if let Err(error) = io_uring::IoUring::new(8) {
        panic!(
            "io_uring is unavailable here: io_uring_setup failed with {error}. Check the \
             kernel.io_uring_disabled sysctl (0 allows everyone; 1 only members of \
             kernel.io_uring_group) and the container's seccomp profile, which may block \
             io_uring_setup (EPERM) or the kernel may lack CONFIG_IO_URING (ENOSYS)."
        );
    }
}

fn open_port(config: UdpPortConfig) -> (UdpPort, impl PortControl) {
    match UdpPort::open(config) {
        Ok(opened) => opened,
        Err(error @ Error::UringUnavailable { .. }) => panic!("{error}"),
        Err(error) => panic!("opening the io_uring UDP port failed: {error}"),
    }
}

fn timestamped_receiver(bind: SocketAddrV4) -> UdpSocket {
    let receiver = UdpSocket::bind(bind).expect("bind the receiver");
    socket2::SockRef::from(&receiver)
        .set_recv_buffer_size(4 << 20)
        .expect("SO_RCVBUF");
    timestamp::enable(&receiver, timestamp::SOFTWARE_FLAGS)
        .expect("SO_TIMESTAMPING on the receiver");
    receiver
        .set_read_timeout(Some(GIVE_UP_AFTER))
        .expect("SO_RCVTIMEO");
    receiver
}

/// Sends warm-up datagrams to `receiver` until one arrives stamped: the kernel
/// turns receive stamping on asynchronously (a deferred static key), so the first
/// datagrams after the first socket asks for it can come unstamped.
fn warm_up(receiver: &UdpSocket, destination: SocketAddrV4) {
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind the warm-up sender");
    socket2::SockRef::from(&sender)
        .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
        .expect("IP_MULTICAST_IF");
    let mut data = [0u8; 64];
    let mut control = [0u8; CONTROL_BUFFER_LEN];
    let started = Instant::now();
    loop {
        sender
            .send_to(b"warm-up", destination)
            .expect("send a warm-up datagram");
        let received = timestamp::recv_with_control(receiver, &mut data, &mut control, 0)
            .expect("warm-up datagram");
        assert_eq!(&data[..received.len], b"warm-up");
        let parsed =
            timestamp::parse_control(&control[..received.control_len]).expect("control messages");
        if parsed.stamp(ClockDomain::KernelSoftware).is_some() {
            return;
        }
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "RX software timestamps never switched on"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Receives `count` datagrams whose first 4 bytes are their id; returns the RX
/// software timestamp of each id.
fn receive_all(receiver: UdpSocket, count: usize) -> Vec<Option<u64>> {
    let mut rx_ns = vec![None; count];
    let mut data = [0u8; 2048];
    let mut control = [0u8; CONTROL_BUFFER_LEN];
    for _ in 0..count {
        let received = timestamp::recv_with_control(&receiver, &mut data, &mut control, 0)
            .unwrap_or_else(|error| panic!("receiver stopped before {count} datagrams: {error}"));
        assert!(!received.truncated && !received.control_truncated);
        let id = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
        assert_eq!(received.len, 100, "datagram {id} has the wrong length");
        let stamp = timestamp::parse_control(&control[..received.control_len])
            .expect("well-formed control messages")
            .stamp(ClockDomain::KernelSoftware)
            .unwrap_or_else(|| panic!("datagram {id} came without an RX software timestamp"));
        assert_eq!(stamp.tx_id, None);
        assert!(
            rx_ns[id].replace(stamp.ns).is_none(),
            "datagram {id} arrived twice"
        );
    }
    rx_ns
}

/// Sends `count` 100-byte datagrams in bursts of 32 and collects one TX timestamp
/// per datagram id.
fn send_all(port: &mut UdpPort, count: u32) -> Vec<Vec<TxTimestamp>> {
    let mut tx: Vec<Vec<TxTimestamp>> = vec![Vec::new(); count as usize];
    let mut stamps = [TxTimestamp::EMPTY; 256];
    let mut collect = |port: &mut UdpPort, tx: &mut Vec<Vec<TxTimestamp>>| -> usize {
        let n = port
            .poll_tx_timestamps(&mut stamps)
            .expect("poll TX timestamps");
        for stamp in &stamps[..n] {
            tx.get_mut(stamp.id as usize)
                .unwrap_or_else(|| panic!("TX timestamp for id {} that was never sent", stamp.id))
                .push(*stamp);
        }
        n
    };
    let started = Instant::now();
    let mut datagrams = vec![[0u8; 100]; count as usize];
    for (id, datagram) in datagrams.iter_mut().enumerate() {
        datagram[..4].copy_from_slice(&(id as u32).to_le_bytes());
        datagram[4..].fill(b'x');
    }
    let mut next = 0u32;
    while next < count {
        let end = (next + 32).min(count);
        let burst: Vec<&[u8]> = datagrams[next as usize..end as usize]
            .iter()
            .map(|d| d.as_slice())
            .collect();
        let sent = port.send_burst(&burst).expect("send a burst");
        if sent.count > 0 {
            assert_eq!(sent.first_id, next, "ids must follow the order of sending");
        }
        next += sent.count as u32;
        collect(port, &mut tx);
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "sending stalled at datagram {next}"
        );
    }
    let mut stamped: usize = tx.iter().map(Vec::len).sum();
    while stamped < count as usize {
        stamped += collect(port, &mut tx);
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "only {stamped} of {count} TX timestamps came back from the error queue"
        );
        std::thread::yield_now();
    }
    // Nothing more may come: one timestamp per datagram.
    collect(port, &mut tx);
    tx
}

fn check(count: u32, port_config: UdpPortConfig, receiver: UdpSocket) {
    warm_up(&receiver, port_config.destination);

    let (mut port, control) = open_port(port_config);
    let receiving = std::thread::spawn(move || receive_all(receiver, count as usize));
    let tx = send_all(&mut port, count);
    let rx = receiving.join().expect("receiver thread");

    for (id, (stamps, rx_ns)) in tx.iter().zip(&rx).enumerate() {
        assert_eq!(
            stamps.len(),
            1,
            "datagram {id}: {} TX timestamps",
            stamps.len()
        );
        let tx_stamp = stamps[0];
        assert_eq!(tx_stamp.id, id as u32);
        // No send failed, so the kernel's OPT_ID counter is the datagram's id.
        assert_eq!(tx_stamp.stamp.tx_id, Some(id as u32));
        assert_eq!(tx_stamp.stamp.clock, ClockDomain::KernelSoftware);
        let rx_ns = rx_ns.unwrap_or_else(|| panic!("datagram {id} never arrived"));
        assert!(
            rx_ns >= tx_stamp.stamp.ns,
            "datagram {id}: RX {rx_ns} is before TX {}",
            tx_stamp.stamp.ns
        );
    }
    let stats = control.stats();
    assert_eq!(stats.tx_packets, u64::from(count));
    assert_eq!(stats.tx_bytes, u64::from(count) * 100);
    assert_eq!(stats.tx_failed, 0);
    assert_eq!(stats.tx_timestamps, u64::from(count));
    assert_eq!(stats.tx_timestamps_unmatched, 0);
    assert_eq!(control.clock_domain(), ClockDomain::KernelSoftware);
    assert_eq!(port.in_flight(), 0);
}

#[test]
fn unicast_loopback_every_datagram_stamped_once_and_rx_not_before_tx() {
    require_io_uring();
    let receiver = timestamped_receiver(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let destination = match receiver.local_addr().unwrap() {
        std::net::SocketAddr::V4(address) => address,
        other => panic!("IPv4 receiver bound to {other}"),
    };
    check(1000, UdpPortConfig::unicast(destination), receiver);
}

#[test]
fn multicast_via_loopback_every_datagram_stamped_once_and_rx_not_before_tx() {
    require_io_uring();
    let group = Ipv4Addr::new(239, 198, 0, 1);
    let receiver = timestamped_receiver(SocketAddrV4::new(group, 0));
    receiver
        .join_multicast_v4(&group, &Ipv4Addr::LOCALHOST)
        .expect("join 239.198.0.1 on 127.0.0.1");
    let port = receiver.local_addr().unwrap().port();
    check(
        1000,
        UdpPortConfig::multicast(SocketAddrV4::new(group, port), Ipv4Addr::LOCALHOST),
        receiver,
    );
}

#[test]
fn receives_replies_with_rx_timestamps() {
    require_io_uring();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let destination = match peer.local_addr().unwrap() {
        std::net::SocketAddr::V4(address) => address,
        other => panic!("IPv4 peer bound to {other}"),
    };
    let config = UdpPortConfig {
        bind: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        ..UdpPortConfig::unicast(destination)
    };
    let (mut port, control) = open_port(config);
    let local = port.local_addr().unwrap();
    // Until the kernel's receive stamping is on (see `warm_up`).
    let started = Instant::now();
    loop {
        peer.send_to(b"warm-up", local).unwrap();
        let mut buffer = [0u8; 16];
        let mut meta = [ticklab::nic::RxMeta::default()];
        if port.recv_burst(&mut [&mut buffer], &mut meta).unwrap() == 1 && meta[0].stamp.is_some() {
            break;
        }
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "RX software timestamps never switched on"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    while port
        .recv_burst(
            &mut [&mut [0u8; 16]],
            &mut [ticklab::nic::RxMeta::default()],
        )
        .unwrap()
        > 0
    {}
    let warm_up_stats = control.stats();
    peer.send_to(b"order 1", local).unwrap();
    peer.send_to(b"order 22", local).unwrap();

    let mut first = [0u8; 64];
    let mut second = [0u8; 4];
    let mut meta = [ticklab::nic::RxMeta::default(); 2];
    let started = Instant::now();
    let mut got = 0;
    while got < 2 {
        let mut buffers: [&mut [u8]; 2] = [&mut first, &mut second];
        let (buffers, meta) = (&mut buffers[got..], &mut meta[got..]);
        got += port.recv_burst(buffers, meta).expect("recv_burst");
        assert!(started.elapsed() < GIVE_UP_AFTER, "replies never arrived");
    }
    assert_eq!(&first[..meta[0].len], b"order 1");
    assert!(!meta[0].truncated);
    assert_eq!(meta[1].len, 4);
    assert!(meta[1].truncated);
    assert_eq!(&second, b"orde");
    for m in &meta {
        let stamp = m.stamp.expect("RX software timestamp");
        assert_eq!(stamp.clock, ClockDomain::KernelSoftware);
        assert!(stamp.ns > 0);
    }
    assert!(meta[1].stamp.unwrap().ns >= meta[0].stamp.unwrap().ns);
    let stats = control.stats();
    assert_eq!(
        (
            stats.rx_packets - warm_up_stats.rx_packets,
            stats.rx_bytes - warm_up_stats.rx_bytes
        ),
        (2, 11)
    );
}
