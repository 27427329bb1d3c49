//! The unsafe edge of `nic`: thin wrappers over the socket syscalls the timestamping
//! glue needs, each turning its return code into an `io::Result` on the spot.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// `setsockopt(SOL_SOCKET, SO_TIMESTAMPING, flags)`.
pub fn set_timestamping(socket: &impl AsFd, flags: u32) -> io::Result<()> {
    let value = flags as libc::c_int;
    // SAFETY: the fd is open for the borrow; `value` is a live c_int and the length
    // passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What one `recvmsg` gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Payload bytes written into the data buffer.
    pub len: usize,
    /// The datagram was longer than the data buffer (`MSG_TRUNC`).
    pub truncated: bool,
    /// Bytes of control messages written into the control buffer.
    pub control_len: usize,
    /// The control buffer was too small and messages were lost (`MSG_CTRUNC`).
    pub control_truncated: bool,
}

/// `recvmsg(2)` into one data buffer and one control buffer, with `flags`
/// (`MSG_DONTWAIT`, `MSG_ERRQUEUE`).
pub fn recvmsg(
    socket: &impl AsFd,
    data: &mut [u8],
    control: &mut [u8],
    flags: libc::c_int,
) -> io::Result<Received> {
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len();
    // SAFETY: `msg` points at `iov`, `data` and `control`, all live and writable for
    // the call and of the lengths given; the fd is open for the borrow.
    let rc = unsafe { libc::recvmsg(socket.as_fd().as_raw_fd(), &mut msg, flags) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Received {
        len: (rc as usize).min(data.len()),
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        control_len: msg.msg_controllen.min(control.len()),
        control_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
    })
}

/// The name of the interface holding `addr` (`getifaddrs(3)`), if one does.
pub fn interface_with_ipv4(addr: std::net::Ipv4Addr) -> io::Result<Option<String>> {
    /// Frees the list on every path out.
    struct List(*mut libc::ifaddrs);
    impl Drop for List {
        fn drop(&mut self) {
            // SAFETY: the pointer came from a successful getifaddrs and is freed once.
            unsafe { libc::freeifaddrs(self.0) };
        }
    }
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`, which lives for the call.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let list = List(head);
    let mut entry = list.0;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list, alive until `list` drops.
        let node = unsafe { &*entry };
        entry = node.ifa_next;
        if node.ifa_addr.is_null() || node.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points at a sockaddr of at least its family's size.
        if i32::from(unsafe { (*node.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address is a sockaddr_in.
        let sin = unsafe { &*node.ifa_addr.cast::<libc::sockaddr_in>() };
        if u32::from_be(sin.sin_addr.s_addr) == u32::from(addr) {
            // SAFETY: ifa_name is a NUL-terminated string alive with the list.
            let name = unsafe { std::ffi::CStr::from_ptr(node.ifa_name) };
            return Ok(Some(name.to_string_lossy().into_owned()));
        }
    }
    Ok(None)
}

/// The Ethernet address of interface `name` (`SIOCGIFHWADDR`), in this thread's
/// network namespace; an error for an interface that is not Ethernet (or loopback,
/// whose frames are Ethernet too).
pub fn interface_mac(name: &str) -> io::Result<[u8; 6]> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not an interface name (1 to 15 bytes, no NUL)"),
        ));
    }
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own; OwnedFd closes it on every path.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid request.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the fd is open; `request` is a live ifreq with a NUL-terminated name
    // (zeroed past it) that the kernel fills in place.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &mut request) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled the ifru_hwaddr member of the union.
    let hwaddr = unsafe { request.ifr_ifru.ifru_hwaddr };
    if hwaddr.sa_family != libc::ARPHRD_ETHER && hwaddr.sa_family != libc::ARPHRD_LOOPBACK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{name} is not an Ethernet interface (hardware type {}; `ip link show {name}` shows it): the frame backends send Ethernet frames",
                hwaddr.sa_family
            ),
        ));
    }
    let data = hwaddr.sa_data;
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}
