//! The order session's receive side over io_uring: [`StampedStreamReceiver`] reads a
//! connected TCP socket with one `IORING_OP_RECVMSG` per read, optionally linked to
//! a timeout, and hands back the kernel's software RX stamp from the read's control
//! messages (`SO_TIMESTAMPING`, enabled by the caller), in `CLOCK_REALTIME`
//! ([`ClockDomain::KernelSoftware`]) like every stamp of the socket backend, or the
//! NIC's raw hardware stamp ([`StampedStreamReceiver::with_domain`]) when the lab
//! measures in the NIC's clock.
//!
//! io_uring does not honour `SO_RCVTIMEO` (a read that would block waits for
//! readiness inside the ring), so the wait bound is an `IORING_OP_LINK_TIMEOUT`
//! linked to the receive: when it fires first the receive completes with
//! `ECANCELED`, reported as [`io::ErrorKind::WouldBlock`] exactly as a blocking read
//! with a read timeout reports its timeout.
//!
//! Everything the kernel reads or writes during a call (the `msghdr`, its `iovec`,
//! the control buffer, the timeout) lives in boxes owned by the receiver, allocated
//! once in [`StampedStreamReceiver::new`]; a call waits for every completion it
//! submitted before it returns, so nothing is in flight between calls. Nothing
//! allocates per read.
//!
//! ```no_run
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use ticklab::nic::{timestamp, uring_tcp::StampedStreamReceiver};
//! let stream = TcpStream::connect("127.0.0.1:15000")?;
//! timestamp::enable(&stream, timestamp::SOFTWARE_FLAGS)?;
//! let mut receiver = StampedStreamReceiver::new(&stream)?;
//! let mut buf = [0u8; 4096];
//! let read = receiver.recv(&mut buf, Some(Duration::from_millis(20)))?;
//! println!("{} bytes, stamped {:?}", read.len, read.stamp);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::timestamp::{self, ClockDomain, KernelTimestamp, CONTROL_BUFFER_LEN};

const RECV: u64 = 1;
const TIMEOUT: u64 = 2;

/// What one read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampedRead {
    /// Bytes read; 0 means the peer closed its side.
    pub len: usize,
    /// The read's RX stamp in the receiver's domain, if the kernel gave one.
    pub stamp: Option<KernelTimestamp>,
}

/// See the module documentation.
pub struct StampedStreamReceiver {
    ring: IoUring,
    fd: RawFd,
    msg: Box<libc::msghdr>,
    iov: Box<libc::iovec>,
    control: Box<[u8; CONTROL_BUFFER_LEN]>,
    timeout: Box<types::Timespec>,
    domain: ClockDomain,
}

impl std::fmt::Debug for StampedStreamReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StampedStreamReceiver")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

// SAFETY: the raw pointers inside `msg` and `iov` point only at the receiver's own
// boxes (or, during a call, at the caller's buffer), and the receiver is used by one
// thread at a time (`&mut self`); moving it to another thread moves the boxes with it.
unsafe impl Send for StampedStreamReceiver {}

impl StampedStreamReceiver {
    /// A ring for reads of `stream`, which must stay open while the receiver is used.
    pub fn new(stream: &impl AsRawFd) -> io::Result<Self> {
        let ring = IoUring::new(4)?;
        let mut control = Box::new([0u8; CONTROL_BUFFER_LEN]);
        let mut iov = Box::new(libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        });
        // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
        let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msg.msg_iov = &mut *iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = CONTROL_BUFFER_LEN;
        Ok(StampedStreamReceiver {
            ring,
            fd: stream.as_raw_fd(),
            msg,
            iov,
            control,
            timeout: Box::new(types::Timespec::new()),
            domain: ClockDomain::KernelSoftware,
        })
    }

    /// Takes the stamps of `domain` from the control messages (the caller enabled
    /// its flags): [`ClockDomain::NicHardware`] for the NIC's raw stamp.
    pub fn with_domain(mut self, domain: ClockDomain) -> Self {
        self.domain = domain;
        self
    }

    /// Reads into `buf`, waiting at most `timeout` (`None`: until data or an error).
    /// A timeout is an error of kind [`io::ErrorKind::WouldBlock`].
    pub fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<StampedRead> {
        self.iov.iov_base = buf.as_mut_ptr().cast();
        self.iov.iov_len = buf.len();
        self.msg.msg_control = self.control.as_mut_ptr().cast();
        self.msg.msg_controllen = CONTROL_BUFFER_LEN;
        self.msg.msg_flags = 0;
        let recv = opcode::RecvMsg::new(types::Fd(self.fd), &mut *self.msg)
            .build()
            .user_data(RECV);
        let expected = match timeout {
            Some(t) => {
                *self.timeout = types::Timespec::from(t);
                let link = opcode::LinkTimeout::new(&*self.timeout)
                    .build()
                    .user_data(TIMEOUT);
                let mut queue = self.ring.submission();
                // SAFETY: the msghdr, its iovec (pointing at `buf`, borrowed for this
                // call), the control buffer and the timespec all outlive the call,
                // and the call waits below for both completions before returning.
                unsafe {
                    queue
                        .push(&recv.flags(squeue::Flags::IO_LINK))
                        .map_err(|_| io::Error::other("io_uring submission queue full"))?;
                    queue
                        .push(&link)
                        .map_err(|_| io::Error::other("io_uring submission queue full"))?;
                }
                2
            }
            None => {
                let mut queue = self.ring.submission();
                // SAFETY: as above; one completion, awaited below.
                unsafe { queue.push(&recv) }
                    .map_err(|_| io::Error::other("io_uring submission queue full"))?;
                1
            }
        };
        let mut recv_result = None;
        let mut seen = 0;
        while seen < expected {
            match self.ring.submit_and_wait(expected - seen) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for cqe in self.ring.completion() {
                seen += 1;
                if cqe.user_data() == RECV {
                    recv_result = Some(cqe.result());
                }
            }
        }
        let result =
            recv_result.ok_or_else(|| io::Error::other("io_uring: no receive completion"))?;
        if result == -libc::ECANCELED {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "no data within the read timeout",
            ));
        }
        if result < 0 {
            return Err(io::Error::from_raw_os_error(-result));
        }
        // The kernel wrote the control length back into our msghdr.
        let control_len = self.msg.msg_controllen.min(CONTROL_BUFFER_LEN);
        let stamp = timestamp::parse_control(&self.control[..control_len])
            .ok()
            .and_then(|parsed| parsed.stamp(self.domain));
        Ok(StampedRead {
            len: (result as usize).min(buf.len()),
            stamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    fn realtime_ns() -> u64 {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        since.as_nanos() as u64
    }

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn reads_carry_the_kernel_rx_stamp() {
        let (mut client, server) = pair();
        timestamp::enable(&server, timestamp::SOFTWARE_FLAGS).unwrap();
        let mut receiver = StampedStreamReceiver::new(&server).unwrap();
        let mut buf = [0u8; 64];
        // The kernel turns stamping on lazily (a deferred static key), so the first
        // segments after enabling may come unstamped: warm up until one is stamped.
        let mut warm = false;
        for _ in 0..200 {
            client.write_all(b"warm-up").unwrap();
            let read = receiver
                .recv(&mut buf, Some(Duration::from_secs(5)))
                .unwrap();
            assert_eq!(&buf[..read.len], b"warm-up");
            if read.stamp.is_some() {
                warm = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(warm, "no read was stamped in 200 tries (2 s)");

        let before = realtime_ns();
        client.write_all(b"order one").unwrap();
        let read = receiver
            .recv(&mut buf, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(&buf[..read.len], b"order one");
        let stamp = read.stamp.expect("stamped once stamping is on");
        assert_eq!(stamp.clock, ClockDomain::KernelSoftware);
        assert!(stamp.ns >= before, "{} < {before}", stamp.ns);
        assert!(stamp.ns <= realtime_ns());

        // A second read, without a timeout.
        client.write_all(b"two").unwrap();
        let read = receiver.recv(&mut buf, None).unwrap();
        assert_eq!(&buf[..read.len], b"two");
        assert!(read.stamp.is_some());
    }

    #[test]
    fn a_quiet_socket_times_out_as_a_read_timeout_does_and_eof_is_zero() {
        let (client, server) = pair();
        let mut receiver = StampedStreamReceiver::new(&server).unwrap();
        let mut buf = [0u8; 16];
        let err = receiver
            .recv(&mut buf, Some(Duration::from_millis(20)))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
        // Without stamping enabled a read has no stamp; a closed peer reads 0.
        drop(client);
        let read = receiver
            .recv(&mut buf, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(
            read,
            StampedRead {
                len: 0,
                stamp: None
            }
        );
    }
}
