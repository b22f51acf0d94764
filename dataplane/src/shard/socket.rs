//! The shards' UDP sockets: one SO_REUSEPORT group on the shared port, steered by the cBPF
//! program from [`crate::engine::steering`], plus batched, non-blocking receive and send
//! (`recvmmsg`/`sendmmsg` with `MSG_DONTWAIT`) on a socket glommio also owns.
//!
//! glommio's `UdpSocket` moves one datagram per call and has no batch API; the shard uses it
//! to wait for readiness (a 1-byte `MSG_PEEK` with a timeout) and for sends that must wait,
//! and these calls for the bulk of the traffic.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use switchyard_engine::steering::{reuseport_program, BpfInsn};
use switchyard_engine::Transmits;

/// Largest UDP payload the relay reads (QUIC packets are at most 1452 B here; a larger
/// datagram is truncated by the kernel and then rejected by quiche).
pub const MAX_DATAGRAM: usize = 2048;
/// Datagrams per `recvmmsg` / `sendmmsg` call.
pub const BATCH: usize = 32;
const SOCKET_BUFFER: usize = 8 << 20;

/// Binds `shards` sockets to `addr` in one reuseport group, in order, and attaches the
/// steering program. Returns the sockets (index = shard) and the bound address.
pub fn bind_group(addr: SocketAddr, shards: u16) -> io::Result<(Vec<Socket>, SocketAddr)> {
    let mut sockets = Vec::with_capacity(usize::from(shards));
    let mut bound = addr;
    for _ in 0..shards.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_port(true)?;
        set_buffer(&socket, libc::SO_RCVBUFFORCE, SOCKET_BUFFER, |s| {
            s.set_recv_buffer_size(SOCKET_BUFFER)
        });
        set_buffer(&socket, libc::SO_SNDBUFFORCE, SOCKET_BUFFER, |s| {
            s.set_send_buffer_size(SOCKET_BUFFER)
        });
        socket.bind(&SockAddr::from(bound))?;
        if bound.port() == 0 {
            bound = socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
        }
        sockets.push(socket);
    }
    if let Some(first) = sockets.first() {
        attach_steering(first.as_raw_fd(), shards)?;
    }
    Ok((sockets, bound))
}

/// Sizes a socket buffer: the FORCE option passes net.core.{r,w}mem_max when the process
/// has CAP_NET_ADMIN; otherwise the plain option, which the kernel caps. Best effort: a
/// small buffer loses datagrams under bursts (QUIC recovers), it does not stop the relay.
fn set_buffer(
    socket: &Socket,
    force: libc::c_int,
    bytes: usize,
    plain: impl Fn(&Socket) -> io::Result<()>,
) {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `value` is a live c_int for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            force,
            (&value as *const libc::c_int).cast(),
            u32::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(0),
        )
    };
    if rc != 0 {
        let _ = plain(socket);
    }
}

fn attach_steering(fd: RawFd, shards: u16) -> io::Result<()> {
    let program: Vec<libc::sock_filter> = reuseport_program(shards)
        .iter()
        .map(|BpfInsn { code, jt, jf, k }| libc::sock_filter {
            code: *code,
            jt: *jt,
            jf: *jf,
            k: *k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).unwrap_or(0),
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `program`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            u32::try_from(std::mem::size_of::<libc::sock_fprog>()).unwrap_or(0),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Receive buffers for one `recvmmsg` call.
#[derive(Debug)]
pub struct RecvBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    addrs: Box<[MaybeUninit<libc::sockaddr_storage>; BATCH]>,
    lens: [usize; BATCH],
    addr_lens: [libc::socklen_t; BATCH],
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self {
            bufs: Box::new([[0u8; MAX_DATAGRAM]; BATCH]),
            addrs: Box::new([MaybeUninit::zeroed(); BATCH]),
            lens: [0; BATCH],
            addr_lens: [0; BATCH],
            count: 0,
        }
    }
}

impl RecvBatch {
    /// Receives up to [`BATCH`] datagrams without blocking; returns how many arrived.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut iovecs: [MaybeUninit<libc::iovec>; BATCH] = [MaybeUninit::uninit(); BATCH];
        let mut msgs: [MaybeUninit<libc::mmsghdr>; BATCH] = [MaybeUninit::zeroed(); BATCH];
        for ((buf, addr), (iov, msg)) in self
            .bufs
            .iter_mut()
            .zip(self.addrs.iter_mut())
            .zip(iovecs.iter_mut().zip(msgs.iter_mut()))
        {
            let iov = iov.write(libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            });
            // SAFETY: zeroed mmsghdr is a valid value; we fill the fields recvmmsg reads.
            let msg = unsafe { msg.assume_init_mut() };
            msg.msg_hdr.msg_name = addr.as_mut_ptr().cast();
            msg.msg_hdr.msg_namelen =
                u32::try_from(std::mem::size_of::<libc::sockaddr_storage>()).unwrap_or(0);
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at live buffers owned by `self` and the locals above.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr().cast(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.count = 0;
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(err)
            };
        }
        self.count = usize::try_from(n).unwrap_or(0).min(BATCH);
        for (i, msg) in msgs.iter().take(self.count).enumerate() {
            // SAFETY: the kernel filled the first `n` headers.
            let msg = unsafe { msg.assume_init_ref() };
            if let (Some(len), Some(alen)) = (self.lens.get_mut(i), self.addr_lens.get_mut(i)) {
                *len = usize::try_from(msg.msg_len).unwrap_or(0).min(MAX_DATAGRAM);
                *alen = msg.msg_hdr.msg_namelen;
            }
        }
        Ok(self.count)
    }

    /// Datagram `i` of the last call and its source address.
    pub fn get_mut(&mut self, i: usize) -> Option<(&mut [u8], SocketAddr)> {
        if i >= self.count {
            return None;
        }
        let alen = *self.addr_lens.get(i)?;
        let mut storage = socket2::SockAddrStorage::zeroed();
        // SAFETY: the kernel wrote a sockaddr of length `alen` into this slot (zeroed before
        // the call), and SockAddrStorage is a transparent sockaddr_storage.
        let addr = unsafe {
            *storage.view_as::<libc::sockaddr_storage>() = self.addrs.get(i)?.assume_init();
            SockAddr::new(storage, alen)
        }
        .as_socket()?;
        let len = *self.lens.get(i)?;
        let buf = self.bufs.get_mut(i)?.get_mut(..len)?;
        Some((buf, addr))
    }
}

/// How far one [`send_batch`] call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendProgress {
    pub next: usize,
    pub errors: u64,
}

/// Sends the batch's packets with `sendmmsg`, without blocking, starting at packet `from`.
/// Returns the index of the first packet not sent (the kernel would block on it) and how
/// many packets failed and were skipped.
pub fn send_batch(fd: RawFd, batch: &Transmits, from: usize) -> SendProgress {
    let mut progress = SendProgress {
        next: from,
        errors: 0,
    };
    while progress.next < batch.len() {
        let chunk = (progress.next..batch.len().min(progress.next + BATCH))
            .filter_map(|i| batch.get(i))
            .map(|(data, t)| (data, SockAddr::from(t.to)));
        let mut addrs: [Option<SockAddr>; BATCH] = std::array::from_fn(|_| None);
        let mut iovecs: [MaybeUninit<libc::iovec>; BATCH] = [MaybeUninit::uninit(); BATCH];
        let mut msgs: [MaybeUninit<libc::mmsghdr>; BATCH] = [MaybeUninit::zeroed(); BATCH];
        let mut count = 0;
        for (((data, addr), slot), (iov, msg)) in chunk
            .zip(addrs.iter_mut())
            .zip(iovecs.iter_mut().zip(msgs.iter_mut()))
        {
            let addr = slot.insert(addr);
            let iov = iov.write(libc::iovec {
                iov_base: data.as_ptr().cast_mut().cast(),
                iov_len: data.len(),
            });
            // SAFETY: zeroed mmsghdr is valid; sendmmsg only reads these fields.
            let msg = unsafe { msg.assume_init_mut() };
            msg.msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
            msg.msg_hdr.msg_namelen = addr.len();
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
            count += 1;
        }
        // SAFETY: headers point into `batch` and `addrs`, alive for the call.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                msgs.as_mut_ptr().cast(),
                u32::try_from(count).unwrap_or(0),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
                return progress;
            }
            // This datagram is refused for good (bad address, too large): skip it.
            progress.errors += 1;
            progress.next += 1;
            continue;
        }
        progress.next += usize::try_from(n).unwrap_or(0);
    }
    progress
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn batch_round_trip_over_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let mut out = Transmits::new();
        for i in 0..40u8 {
            out.push(&[i; 10], to);
        }
        out.push(b"abc", to);
        assert_eq!(
            send_batch(tx.as_raw_fd(), &out, 0),
            SendProgress {
                next: 41,
                errors: 0
            }
        );
        let mut batch = RecvBatch::default();
        let mut got = Vec::new();
        while got.len() < 41 {
            let n = batch.recv(rx.as_raw_fd()).unwrap();
            for i in 0..n {
                let (data, from) = batch.get_mut(i).unwrap();
                assert_eq!(from, tx.local_addr().unwrap());
                got.push(data.to_vec());
            }
        }
        assert_eq!(got[0], vec![0u8; 10]);
        assert_eq!(got[39], vec![39u8; 10]);
        assert_eq!(got[40], b"abc");
        assert_eq!(
            batch.recv(rx.as_raw_fd()).unwrap(),
            0,
            "empty socket does not block"
        );
    }

    #[test]
    fn socket_buffers_are_raised() {
        let (sockets, _) = bind_group("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        // The kernel reports double the requested size; without privileges it caps at rmem_max.
        assert!(sockets[0].recv_buffer_size().unwrap() >= 200 * 1024);
    }

    #[test]
    fn group_binds_one_port_for_every_shard() {
        let (sockets, addr) = bind_group("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_eq!(sockets.len(), 3);
        assert_ne!(addr.port(), 0);
        for s in &sockets {
            assert_eq!(s.local_addr().unwrap().as_socket().unwrap(), addr);
        }
    }
}
