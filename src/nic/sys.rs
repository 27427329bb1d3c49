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
