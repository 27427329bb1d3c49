//! `nic::dpdk` on DPDK's virtual devices, without hugepages or a NIC: `net_null`
//! (a sink and an endless source), `net_ring` (TX loops back to RX) and `net_pcap`
//! (a capture in, a capture out), with frames copied per burst and with frames
//! staged into mbufs once and sent by reference count.
//!
//! DPDK initialises its EAL once per process, so every scenario runs inside the one
//! test function, each on its own vdev of the one EAL. Nothing is skipped: without
//! DPDK the crate does not build (dpdk-sys names the package), and without a PMD
//! `Eal::init` fails naming it and its package.

#![cfg(feature = "dpdk")]

use std::path::Path;
use std::time::{Duration, Instant};

use ticklab::capture::{CaptureReader, CaptureWriter, LinkType};
use ticklab::feed::frames::{default_endpoints, FrameSource};
use ticklab::feed::synthetic::{SyntheticConfig, SyntheticFeed};
use ticklab::nic::dpdk::{
    current_lcore, DpdkError, DpdkPort, DpdkPortConfig, Eal, EalConfig, Mempool, StagedRelease,
};
use ticklab::nic::{ClockDomain, Error, Port, PortControl, RxMeta, TxTimestamp};
use ticklab::replay::{
    self, DepartureSource, ReplayOptions, StagedCapture, StagedDpdkPort, Timing,
};

const NULL_FRAMES: usize = 100_000;
const RING_FRAMES: usize = 5_000;

#[test]
fn dpdk_on_virtual_devices() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    let output = dir.path().join("out.pcap");
    let captured = write_capture(&input, 2_000);

    let affinity_before = affinity();
    let config = EalConfig::virtual_devices([
        "net_null0".to_owned(),
        "net_ring0".to_owned(),
        format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            input.display(),
            output.display()
        ),
        "net_null1".to_owned(),
        "net_ring1".to_owned(),
    ]);
    let eal = Eal::init(&config).unwrap_or_else(|error| panic!("{error}"));

    // EAL made this thread its main lcore without pinning it.
    assert_eq!(current_lcore(), 0);
    assert_eq!(affinity(), affinity_before);
    assert_eq!(eal.args()[0], "-d");
    assert!(
        eal.args()[2].starts_with("--lcores=0@("),
        "{:?}",
        eal.args()
    );
    assert_eq!(
        eal.ports(),
        [
            (0, "net_null0".to_owned()),
            (1, "net_ring0".to_owned()),
            (2, "net_pcap0".to_owned()),
            (3, "net_null1".to_owned()),
            (4, "net_ring1".to_owned()),
        ]
    );

    a_second_eal_is_refused();
    unknown_ports_are_named_with_the_known_ones(&eal);
    other_threads_register_as_lcores(&eal);
    mbufs_come_from_and_go_back_to_their_pool(&eal);
    net_null_takes_every_frame(&eal);
    a_closed_port_is_released(&eal);
    net_ring_returns_what_was_sent_in_order(&eal);
    net_pcap_replays_a_capture_byte_for_byte(&eal, &captured, &output);
    staged_frames_go_out_again_and_again_and_all_come_back(&eal);
    staged_frames_held_by_the_device_outlive_their_release(&eal);
}

fn a_second_eal_is_refused() {
    let error = Eal::init(&EalConfig::virtual_devices(["net_null1"])).unwrap_err();
    assert!(matches!(error, DpdkError::AlreadyInitialised));
    assert_eq!(
        error.to_string(),
        "the DPDK EAL was already initialised in this process: DPDK allows one rte_eal_init per process, even after rte_eal_cleanup; clone the first Eal instead"
    );
}

fn unknown_ports_are_named_with_the_known_ones(eal: &Eal) {
    let error = DpdkPort::open(eal, &DpdkPortConfig::new("net_null7")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no DPDK port named \"net_null7\" (EAL probed: 0: net_null0, 1: net_ring0, 2: net_pcap0, 3: net_null1, 4: net_ring1); check the --vdev and -a (PCI allow-list) EAL arguments, and that the NIC is bound to a DPDK-capable driver (dpdk-devbind.py --status)"
    );
}

fn other_threads_register_as_lcores(eal: &Eal) {
    let main = eal.register_thread().unwrap();
    assert_eq!(main.lcore(), 0);
    drop(main);
    assert_eq!(current_lcore(), 0, "the main lcore stays one");

    let eal = eal.clone();
    std::thread::spawn(move || {
        assert_eq!(current_lcore(), dpdk_sys::LCORE_ID_ANY);
        let registration = eal.register_thread().unwrap();
        let lcore = registration.lcore();
        assert_ne!(lcore, dpdk_sys::LCORE_ID_ANY);
        assert_ne!(lcore, 0);
        assert_eq!(current_lcore(), lcore);
        drop(registration);
        assert_eq!(current_lcore(), dpdk_sys::LCORE_ID_ANY);
    })
    .join()
    .unwrap();
}

fn mbufs_come_from_and_go_back_to_their_pool(eal: &Eal) {
    // No cache: the counts are exact at every step.
    let pool = Mempool::create(eal, "tl_test_pool", 255, 0, dpdk_sys::SOCKET_ID_ANY).unwrap();
    assert_eq!(pool.size(), 255);
    assert_eq!(pool.available(), 255);
    assert_eq!(pool.max_frame(), 2048);

    let mut mbuf = pool.alloc().unwrap();
    assert!(mbuf.is_empty());
    mbuf.append(b"hello ").unwrap();
    mbuf.append(b"dpdk").unwrap();
    assert_eq!(mbuf.data(), b"hello dpdk");
    assert_eq!(mbuf.len(), 10);
    assert_eq!(pool.in_use(), 1);
    let error = mbuf.append(&[0u8; 2039]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "appending 2039 bytes to an mbuf holding 10: its data room is 2048 bytes"
    );
    assert_eq!(
        mbuf.data(),
        b"hello dpdk",
        "a failed append changes nothing"
    );
    drop(mbuf);
    assert_eq!(pool.in_use(), 0);

    let all: Vec<_> = (0..255).map(|_| pool.alloc().unwrap()).collect();
    assert!(pool.alloc().is_none());
    assert_eq!(pool.available(), 0);
    drop(all);
    assert_eq!(pool.available(), 255);

    let duplicate =
        Mempool::create(eal, "tl_test_pool", 255, 0, dpdk_sys::SOCKET_ID_ANY).unwrap_err();
    assert!(
        duplicate.to_string().starts_with(
            "rte_pktmbuf_pool_create failed on pool tl_test_pool of 255 mbufs, cache 0: File exists (errno 17); "
        ),
        "{duplicate}"
    );
}

fn net_null_takes_every_frame(eal: &Eal) {
    let (mut queues, control) = DpdkPort::open(eal, &DpdkPortConfig::new("net_null0")).unwrap();
    assert_eq!(queues.len(), 1);
    let port = &mut queues[0];
    assert_eq!(control.driver(), "net_null");
    assert_eq!(control.clock_domain(), ClockDomain::UserMonotonic);
    assert_eq!(
        control.clock().reason,
        "net_null offers no RX timestamp offload: CLOCK_MONOTONIC when each burst call returns"
    );

    // 60- to 123-byte frames, each unlike its neighbours.
    let frames: Vec<Vec<u8>> = (0..256).map(|i| numbered_frame(i, 60 + i % 64)).collect();
    let burst = port.burst();
    let mut offered: Vec<&[u8]> = Vec::with_capacity(burst);
    let (mut sent, mut bytes) = (0usize, 0u64);
    let mut stamps = vec![TxTimestamp::EMPTY; burst];
    let mut last_stamp = (None::<u32>, 0u64);
    let mut in_send_burst = Duration::ZERO;
    while sent < NULL_FRAMES {
        offered.clear();
        let take = burst.min(NULL_FRAMES - sent);
        offered.extend((sent..sent + take).map(|i| frames[i % frames.len()].as_slice()));
        let start = Instant::now();
        let burst_sent = port.send_burst(&offered).unwrap();
        in_send_burst += start.elapsed();
        assert_eq!(burst_sent.first_id, sent as u32);
        assert_eq!(burst_sent.count, take, "net_null takes every frame");
        bytes += offered.iter().map(|f| f.len() as u64).sum::<u64>();
        sent += take;
        let n = port.poll_tx_timestamps(&mut stamps).unwrap();
        assert_eq!(n, take);
        for stamp in &stamps[..n] {
            assert_eq!(stamp.id, last_stamp.0.map_or(0, |id| id + 1));
            assert_eq!(stamp.stamp.clock, ClockDomain::UserMonotonic);
            assert!(stamp.stamp.ns >= last_stamp.1);
            last_stamp = (Some(stamp.id), stamp.stamp.ns);
        }
    }
    let bursts = NULL_FRAMES.div_ceil(burst);
    eprintln!(
        "net_null: {NULL_FRAMES} frames of 60-123 bytes in {bursts} bursts: send_burst took {:.0} ns per burst of {burst}, {:.1} ns per frame (this build's profile)",
        in_send_burst.as_nanos() as f64 / bursts as f64,
        in_send_burst.as_nanos() as f64 / NULL_FRAMES as f64,
    );
    assert_eq!(last_stamp.0, Some(NULL_FRAMES as u32 - 1));

    let stats = control.stats();
    assert_eq!(stats.tx_packets, NULL_FRAMES as u64);
    assert_eq!(stats.tx_bytes, bytes);
    assert_eq!(stats.tx_failed, 0);
    assert_eq!(stats.tx_timestamps, NULL_FRAMES as u64);
    assert_eq!(control.tx_pool_empty(), 0);
    assert_eq!(control.tx_timestamps_dropped(), 0);
    // net_null frees what it takes: no mbuf is left out of the pool.
    assert_eq!(control.pool_usage(), [(8191, 0)]);

    let too_large = vec![0u8; port.max_frame() + 1];
    match port.send_burst(&[frames[0].as_slice(), too_large.as_slice()]) {
        Err(Error::PacketTooLarge {
            len: 2049,
            max: 2048,
        }) => {}
        other => panic!("expected PacketTooLarge, got {other:?}"),
    }
    assert_eq!(
        control.stats().tx_packets,
        NULL_FRAMES as u64,
        "nothing of a refused burst is sent"
    );

    // net_null's RX side makes 64-byte packets without end, a full burst each call.
    let mut storage = vec![[0u8; 2048]; burst];
    let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
    let mut meta = vec![RxMeta::default(); burst];
    let before = control.stats().rx_packets;
    assert_eq!(port.recv_burst(&mut buffers, &mut meta).unwrap(), burst);
    for m in &meta {
        assert_eq!((m.len, m.truncated), (64, false));
        assert_eq!(m.stamp.unwrap().clock, ClockDomain::UserMonotonic);
    }
    assert_eq!(control.stats().rx_packets, before + burst as u64);
    assert_eq!(
        control.pool_usage(),
        [(8191, 0)],
        "received mbufs go back to the pool"
    );
}

fn a_closed_port_is_released(eal: &Eal) {
    // net_null0 closed when its last handle dropped; DPDK releases a closed vdev.
    let error = DpdkPort::open(eal, &DpdkPortConfig::new("net_null0")).unwrap_err();
    assert!(matches!(error, DpdkError::NoSuchPort { .. }), "{error}");
    assert_eq!(eal.ports().len(), 4);
}

fn net_ring_returns_what_was_sent_in_order(eal: &Eal) {
    let mut config = DpdkPortConfig::new("net_ring0");
    config.burst = 32;
    let (mut queues, control) = DpdkPort::open(eal, &config).unwrap();
    let port = &mut queues[0];
    assert_eq!(control.driver(), "net_ring");

    // Every length from 60 to 1514 bytes comes up, each frame numbered.
    let frames: Vec<Vec<u8>> = (0..RING_FRAMES)
        .map(|i| numbered_frame(i, 60 + (i * 7) % 1455))
        .collect();
    let mut storage = vec![[0u8; 2048]; 32];
    let mut meta = [RxMeta::default(); 32];
    let mut tx_stamps = vec![TxTimestamp::EMPTY; RING_FRAMES];
    let mut tx_polled = 0;
    let mut received: Vec<(Vec<u8>, u64)> = Vec::with_capacity(RING_FRAMES);
    let mut sent = 0;
    while received.len() < RING_FRAMES {
        if sent < RING_FRAMES {
            let offered: Vec<&[u8]> = frames[sent..RING_FRAMES.min(sent + 32)]
                .iter()
                .map(Vec::as_slice)
                .collect();
            let burst = port.send_burst(&offered).unwrap();
            assert_eq!(burst.first_id, sent as u32);
            sent += burst.count;
            tx_polled += port
                .poll_tx_timestamps(&mut tx_stamps[tx_polled..])
                .unwrap();
        }
        let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
        let n = port.recv_burst(&mut buffers, &mut meta).unwrap();
        for (buffer, meta) in buffers.iter().zip(&meta).take(n) {
            assert!(!meta.truncated);
            let stamp = meta.stamp.expect("every packet is stamped");
            assert_eq!(stamp.clock, ClockDomain::UserMonotonic);
            received.push((buffer[..meta.len].to_vec(), stamp.ns));
        }
        assert!(
            sent < RING_FRAMES || n > 0 || received.len() == RING_FRAMES,
            "the ring lost frames: sent {sent}, received {}",
            received.len()
        );
    }
    assert_eq!(tx_polled, RING_FRAMES);
    for (i, ((bytes, rx_ns), tx)) in received.iter().zip(&tx_stamps).enumerate() {
        assert_eq!(
            bytes, &frames[i],
            "frame {i} came back changed or out of order"
        );
        assert_eq!(tx.id, i as u32);
        assert!(
            *rx_ns >= tx.stamp.ns,
            "frame {i} was received before it was sent"
        );
    }
    let stats = control.stats();
    assert_eq!(stats.tx_packets, RING_FRAMES as u64);
    assert_eq!(stats.rx_packets, RING_FRAMES as u64);
    assert_eq!(control.rx_truncated(), 0);
    assert_eq!(control.pool_usage(), [(8191, 0)]);

    // A buffer shorter than the packet gets its first bytes, marked truncated.
    port.send_burst(&[frames[100].as_slice()]).unwrap();
    let mut short = [0u8; 40];
    let mut buffers: Vec<&mut [u8]> = vec![&mut short];
    let n = port.recv_burst(&mut buffers, &mut meta[..1]).unwrap();
    assert_eq!(n, 1);
    assert_eq!(meta[0].len, 40);
    assert!(meta[0].truncated);
    assert_eq!(short, frames[100][..40]);
    assert_eq!(control.rx_truncated(), 1);
}

fn net_pcap_replays_a_capture_byte_for_byte(eal: &Eal, captured: &[Vec<u8>], output: &Path) {
    let (mut queues, control) = DpdkPort::open(eal, &DpdkPortConfig::new("net_pcap0")).unwrap();
    let mut port = queues.pop().unwrap();
    assert_eq!(control.driver(), "net_pcap");

    // RX: rx_pcap hands the input capture over, once, as it is.
    let mut storage = vec![[0u8; 2048]; 64];
    let mut meta = [RxMeta::default(); 64];
    let mut received = Vec::with_capacity(captured.len());
    let mut idle = 0;
    while received.len() < captured.len() && idle < 1_000 {
        let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
        let n = port.recv_burst(&mut buffers, &mut meta).unwrap();
        idle = if n == 0 { idle + 1 } else { 0 };
        received.extend(
            buffers
                .iter()
                .zip(&meta)
                .take(n)
                .map(|(b, m)| b[..m.len].to_vec()),
        );
    }
    assert_eq!(received.len(), captured.len());
    assert!(
        received == captured,
        "net_pcap's RX differs from the capture"
    );

    // TX: the capture goes out into tx_pcap.
    let mut sent = 0;
    while sent < captured.len() {
        let offered: Vec<&[u8]> = captured[sent..captured.len().min(sent + 64)]
            .iter()
            .map(Vec::as_slice)
            .collect();
        sent += port.send_burst(&offered).unwrap().count;
    }
    let stats = control.stats();
    assert_eq!(stats.tx_packets, captured.len() as u64);
    assert_eq!(
        stats.tx_bytes,
        captured.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(stats.rx_packets, captured.len() as u64);

    // Closing the port (its last handle) flushes and closes the file.
    drop(port);
    drop(queues);
    drop(control);
    let written = read_capture(output);
    assert_eq!(written.len(), captured.len());
    for (i, (out, input)) in written.iter().zip(captured).enumerate() {
        assert_eq!(out, input, "packet {i} of out.pcap differs from the input");
    }
}

fn staged_frames_go_out_again_and_again_and_all_come_back(eal: &Eal) {
    let config = DpdkPortConfig {
        tx_fast_free: false,
        ..DpdkPortConfig::new("net_null1")
    };
    let (mut queues, control) = DpdkPort::open(eal, &config).unwrap();
    let port = &mut queues[0];
    let burst = port.burst();

    // 60- to 120-byte frames, as the benchmark sends.
    let frames: Vec<Vec<u8>> = (0..1000).map(|i| numbered_frame(i, 60 + i % 61)).collect();
    let pass_bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let staged = port.stage(frames.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(staged.len(), 1000);
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(staged.frame(i), frame.as_slice(), "staged frame {i}");
    }
    assert_eq!(staged.bytes(0..1000), pass_bytes);
    assert_eq!(
        staged.bytes(10..12),
        (frames[10].len() + frames[11].len()) as u64
    );
    assert_eq!((staged.pool_in_use(), staged.held_by_device()), (1000, 0));

    // Three passes in bursts: every frame taken, ids and stamps as send_burst's.
    let mut sent = 0usize;
    for _pass in 0..3 {
        let mut next = 0;
        while next < frames.len() {
            let taken = port.send_staged(&staged, next..frames.len()).unwrap();
            assert_eq!(taken.first_id, sent as u32);
            assert_eq!(
                taken.count,
                burst.min(frames.len() - next),
                "net_null takes every frame"
            );
            next += taken.count;
            sent += taken.count;
        }
    }
    assert_eq!(sent, 3000);
    let mut stamps = vec![TxTimestamp::EMPTY; 4000];
    assert_eq!(port.poll_tx_timestamps(&mut stamps).unwrap(), 3000);
    for (i, stamp) in stamps[..3000].iter().enumerate() {
        assert_eq!(stamp.id, i as u32);
        assert_eq!(stamp.stamp.clock, ClockDomain::UserMonotonic);
    }
    let stats = control.stats();
    assert_eq!(stats.tx_packets, 3000);
    assert_eq!(stats.tx_bytes, 3 * pass_bytes);
    assert_eq!(stats.tx_timestamps, 3000);
    // net_null dropped the reference each send added; ours is still there.
    assert_eq!((staged.pool_in_use(), staged.held_by_device()), (1000, 0));
    // The copy path goes on beside it, with the next ids, from the queue's pool.
    let copied = port.send_burst(&[frames[0].as_slice()]).unwrap();
    assert_eq!((copied.first_id, copied.count), (3000, 1));
    assert_eq!(control.pool_usage(), [(8191, 0)]);

    // The replay loop through a staged queue: five frames, seven passes, so bursts
    // span passes and wrap.
    let five = StagedCapture::from_frames(
        "five",
        frames[..5]
            .iter()
            .enumerate()
            .map(|(i, f)| (i as i64, f.as_slice())),
    );
    let mut five_staged = StagedDpdkPort::stage(port, &five).unwrap();
    let options = ReplayOptions {
        timing: Timing::TopSpeed,
        loops: 7,
        spin: false,
        stamp_clock: ClockDomain::UserMonotonic,
        interface: "net_null1".to_owned(),
    };
    let summary = replay::replay(&mut five_staged, &five, &options, |_| {}).unwrap();
    assert_eq!(summary.packets, 35);
    assert_eq!(summary.bytes, 7 * five.bytes());
    assert_eq!(summary.departure_source, DepartureSource::NotRecorded);
    assert_eq!(five_staged.frames().held_by_device(), 0);
    assert_eq!(
        five_staged.release(),
        StagedRelease {
            returned: 5,
            held_by_device: 0
        }
    );
    assert_eq!(control.stats().tx_packets, 3000 + 1 + 35);

    // Every mbuf comes back: the references balance.
    assert_eq!(
        staged.release(),
        StagedRelease {
            returned: 1000,
            held_by_device: 0
        }
    );

    // A capture that EAL's memory (-m 512) cannot hold is refused before anything
    // is sent, naming what it needs and the -m that would hold it.
    let large = vec![0u8; 2000];
    let error = port
        .stage(std::iter::repeat_n(large.as_slice(), 1_000_000))
        .unwrap_err();
    let text = error.to_string();
    match error {
        DpdkError::StagingMemory {
            frames: 1_000_000,
            frame_room: 2000,
            needed,
            heap_total,
            heap_free,
            suggested_mib,
        } => {
            // Each mbuf is 128 bytes of header and 2000 of data room, at least.
            assert!(needed >= 1_000_000 * 2128, "{text}");
            assert!(heap_free <= heap_total && heap_total <= 512 << 20, "{text}");
            assert!(
                suggested_mib << 20 >= needed + heap_total - heap_free,
                "{text}"
            );
            assert_eq!(suggested_mib % 64, 0, "{text}");
            assert!(
                text.starts_with(&format!(
                    "staging 1000000 frames of up to 2000 bytes needs about {needed} bytes of DPDK memory, and EAL's heaps have {heap_free} of {heap_total} bytes free; give EAL more memory: `-m {suggested_mib}` (MiB) with --no-huge"
                )),
                "{text}"
            );
        }
        other => panic!("expected StagingMemory, got {other}"),
    }
    assert_eq!(control.stats().tx_packets, 3036, "nothing was sent");
}

fn staged_frames_held_by_the_device_outlive_their_release(eal: &Eal) {
    let config = DpdkPortConfig {
        tx_fast_free: false,
        burst: 32,
        ..DpdkPortConfig::new("net_ring1")
    };
    let (mut queues, control) = DpdkPort::open(eal, &config).unwrap();
    let port = &mut queues[0];
    let frames: Vec<Vec<u8>> = (0..100)
        .map(|i| numbered_frame(i, 60 + (i * 13) % 1455))
        .collect();
    let staged = port.stage(frames.iter().map(Vec::as_slice)).unwrap();

    // net_ring hands the very mbufs sent to its RX side: until they are received,
    // the device holds a reference to each.
    let mut storage = vec![[0u8; 2048]; 32];
    let mut meta = [RxMeta::default(); 32];
    for pass in 0..2 {
        assert_eq!(port.send_staged(&staged, 0..32).unwrap().count, 32);
        assert_eq!(staged.held_by_device(), 32, "pass {pass}");
        let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
        assert_eq!(port.recv_burst(&mut buffers, &mut meta).unwrap(), 32);
        for (i, (buffer, meta)) in buffers.iter().zip(&meta).enumerate() {
            assert_eq!(
                &buffer[..meta.len],
                frames[i].as_slice(),
                "pass {pass} frame {i}"
            );
        }
        assert_eq!(staged.held_by_device(), 0, "pass {pass}");
    }

    // Released while the ring still holds ten: those keep their pool alive.
    assert_eq!(port.send_staged(&staged, 90..100).unwrap().count, 10);
    assert_eq!(
        staged.release(),
        StagedRelease {
            returned: 90,
            held_by_device: 10
        }
    );
    let mut buffers: Vec<&mut [u8]> = storage.iter_mut().map(|b| b.as_mut_slice()).collect();
    assert_eq!(port.recv_burst(&mut buffers, &mut meta).unwrap(), 10);
    for (i, (buffer, meta)) in buffers.iter().zip(&meta).take(10).enumerate() {
        assert_eq!(
            &buffer[..meta.len],
            frames[90 + i].as_slice(),
            "released frame {}",
            90 + i
        );
    }
    assert_eq!(control.stats().rx_packets, 74);
    assert_eq!(control.pool_usage(), [(8191, 0)]);
}

/// A frame of `len` bytes whose first 8 bytes are `number` and the rest a pattern
/// of it.
fn numbered_frame(number: usize, len: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..len).map(|i| (i * 31 + number * 17) as u8).collect();
    frame[..8].copy_from_slice(&(number as u64).to_be_bytes());
    frame
}

/// Writes `frames` frames of the synthetic ITCH feed (what `ticklab gen` writes)
/// into a pcap and returns them.
fn write_capture(path: &Path, frames: usize) -> Vec<Vec<u8>> {
    let config = SyntheticConfig {
        messages: Some(frames as u64 * 4),
        ..SyntheticConfig::default()
    };
    let mut source = FrameSource::new(SyntheticFeed::new(config).unwrap(), &default_endpoints());
    let mut writer = CaptureWriter::create(path, LinkType::ETHERNET, 65_535).unwrap();
    let mut buffer = vec![0u8; source.max_frame_len()];
    let mut written = Vec::with_capacity(frames);
    while written.len() < frames {
        let frame = source
            .next_frame(&mut buffer)
            .expect("the feed has enough messages");
        let bytes = &buffer[..frame.len];
        writer
            .write_packet(frame.timestamp_ns, bytes, frame.len as u32, None)
            .unwrap();
        written.push(bytes.to_vec());
    }
    writer.finish().unwrap();
    assert_eq!(read_capture(path), written);
    written
}

fn read_capture(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet().unwrap() {
        packets.push(packet.data.to_vec());
    }
    packets
}

/// The calling thread's CPU affinity.
fn affinity() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills the one passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}
