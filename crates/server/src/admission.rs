//! Connection caps for the servers that face the internet (HTTP and the
//! inbound SMTP listener): at most so many connections at once, and at
//! most so many from one client address. A connection is admitted with a
//! ticket that gives its places back when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The caps of one listener.
pub struct Admission {
    total: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_per_ip: usize,
}

/// An admitted connection's places; given back when dropped.
pub struct Ticket {
    _total: OwnedSemaphorePermit,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Admission {
    pub fn new(max_connections: usize, max_per_ip: usize) -> Self {
        Self {
            total: Arc::new(Semaphore::new(
                max_connections.clamp(1, Semaphore::MAX_PERMITS),
            )),
            per_ip: Arc::default(),
            max_per_ip: max_per_ip.max(1),
        }
    }

    /// A ticket for a connection from `ip`, or `None` when a cap is reached.
    pub fn admit(&self, ip: IpAddr) -> Option<Ticket> {
        let total = self.total.clone().try_acquire_owned().ok()?;
        let mut map = self.per_ip.lock().ok()?;
        let n = map.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return None;
        }
        *n += 1;
        Some(Ticket {
            _total: total,
            per_ip: self.per_ip.clone(),
            ip,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut map) = self.per_ip.lock() {
            if let Some(n) = map.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_places_come_back() {
        let a = Admission::new(3, 2);
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        let two: IpAddr = "192.0.2.2".parse().expect("ip");
        let t1 = a.admit(one).expect("first");
        let _t2 = a.admit(one).expect("second");
        assert!(a.admit(one).is_none(), "two per address");
        let _t3 = a.admit(two).expect("another address");
        assert!(a.admit(two).is_none(), "three in all");
        drop(t1);
        assert!(a.admit(one).is_some(), "a place came back");
    }
}
