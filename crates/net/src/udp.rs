//! The UDP side of a pool: the receive loop (every datagram to `handle_packet`) and the
//! sender task (the core's datagrams, in order, from the pool's socket).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::core::DriverCore;
use crate::pool::Shared;
use crate::stats::add;

/// Largest datagram there is (IPv4 payloads stop at 65,507 bytes; IPv6 jumbograms are not
/// used): nothing is ever truncated by the receive buffer.
const MAX_DATAGRAM: usize = 65_536;

/// Pause after a receive error, so a persistent one cannot spin the loop.
const ERROR_PAUSE: Duration = Duration::from_millis(5);

pub(crate) async fn receive_loop<C: DriverCore>(shared: Arc<Shared<C>>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            _ = shared.cancel.cancelled() => break,
            r = socket.recv_from(&mut buf) => r,
        };
        let (n, from) = match received {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "UDP receive error");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        tracing::trace!(local = %shared.local_addr, %from, len = n, "datagram in");
        add(&shared.counters.packets_in, 1);
        add(&shared.counters.bytes_in, n as u64);
        let data = &buf[..n];
        shared.drive(|core, now| core.handle_packet(now, from, data));
    }
}

/// Longest time shutdown spends sending datagrams still queued.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(200);

pub(crate) async fn send_loop<C: DriverCore>(
    shared: Arc<Shared<C>>,
    socket: Arc<UdpSocket>,
    mut queue: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
) {
    loop {
        let next = tokio::select! {
            _ = shared.cancel.cancelled() => {
                // What the core already handed over goes out before the socket closes: the
                // last gossip of a leave is queued just before the leave is reported done.
                let flush = async {
                    while let Ok((to, data)) = queue.try_recv() {
                        send(&shared, &socket, to, &data).await;
                    }
                };
                let _ = tokio::time::timeout(SHUTDOWN_FLUSH, flush).await;
                break;
            }
            next = queue.recv() => next,
        };
        let Some((to, data)) = next else { break };
        send(&shared, &socket, to, &data).await;
    }
}

async fn send<C: DriverCore>(shared: &Shared<C>, socket: &UdpSocket, to: SocketAddr, data: &[u8]) {
    match socket.send_to(data, to).await {
        Ok(n) => {
            tracing::trace!(local = %shared.local_addr, %to, len = n, "datagram out");
            add(&shared.counters.packets_out, 1);
            add(&shared.counters.bytes_out, n as u64);
        }
        Err(e) => {
            add(&shared.counters.packets_send_dropped, 1);
            tracing::debug!(%to, error = %e, "UDP send failed");
        }
    }
}
