//! Which sessions exist: the live connection of each (device, client id), so a newer one takes
//! over, and which persistent sessions this process has seen, so `session_present` is honest.
//!
//! Client ids are scoped to the authenticated device: a device can take over only its own
//! sessions, never another tracker's by guessing its client id.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Persistent sessions remembered per device; the oldest is forgotten beyond this (a tracker
/// uses one client id; this only bounds a device that keeps inventing new ones).
const SESSIONS_PER_DEVICE: usize = 4;

type Key = (String, String);

#[derive(Default)]
pub(crate) struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The connection serving each (device, client id), and how to end it.
    live: HashMap<Key, (u64, oneshot::Sender<()>)>,
    /// Per device: client ids with a persistent session, and when each expires (`None`: while
    /// connected, or never for MQTT 3.1.1).
    persisted: HashMap<String, Vec<(String, Option<Instant>)>>,
}

/// A session opened by [`Sessions::open`].
pub(crate) struct Opened {
    pub session_present: bool,
    /// Fires when a newer connection takes the session over.
    pub taken_over: oneshot::Receiver<()>,
}

impl Sessions {
    /// Registers connection `conn` as the live one for (device, client id), ending the one
    /// before it. `session_present` is true when the client asked to resume (`clean_start`
    /// false) and this process holds a persistent, unexpired session for it.
    pub(crate) fn open(
        &self,
        device: &str,
        client_id: &str,
        clean_start: bool,
        conn: u64,
    ) -> Opened {
        let (kick, taken_over) = oneshot::channel();
        let key = (device.to_owned(), client_id.to_owned());
        let mut inner = self.lock();
        if let Some((_, older)) = inner.live.insert(key, (conn, kick)) {
            let _ = older.send(());
        }
        let now = Instant::now();
        let known = inner.persisted.entry(device.to_owned()).or_default();
        known.retain(|(_, expires)| expires.is_none_or(|at| at > now));
        let present = known.iter().any(|(id, _)| id == client_id);
        if clean_start {
            known.retain(|(id, _)| id != client_id);
        } else if !present {
            if known.len() >= SESSIONS_PER_DEVICE {
                known.remove(0);
            }
            known.push((client_id.to_owned(), None));
        } else if let Some(entry) = known.iter_mut().find(|(id, _)| id == client_id) {
            entry.1 = None;
        }
        if known.is_empty() {
            inner.persisted.remove(device);
        }
        Opened {
            session_present: present && !clean_start,
            taken_over,
        }
    }

    /// Connection `conn` ended. Its session lives on for `expiry` seconds (`u32::MAX`: forever,
    /// 0: ends now), unless a newer connection already owns it.
    pub(crate) fn close(&self, device: &str, client_id: &str, conn: u64, expiry: u32) {
        let key = (device.to_owned(), client_id.to_owned());
        let mut inner = self.lock();
        match inner.live.get(&key) {
            Some((live, _)) if *live == conn => {
                inner.live.remove(&key);
            }
            _ => return,
        }
        let Some(known) = inner.persisted.get_mut(device) else {
            return;
        };
        if expiry == 0 {
            known.retain(|(id, _)| id != client_id);
        } else if let Some(entry) = known.iter_mut().find(|(id, _)| id == client_id) {
            entry.1 = (expiry != u32::MAX)
                .then(|| Instant::now() + Duration::from_secs(u64::from(expiry)));
        }
        if known.is_empty() {
            inner.persisted.remove(device);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent even if a holder panicked (every update is one step).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_connection_takes_over_and_resumes() {
        let s = Sessions::default();
        let mut first = s.open("trk", "c", false, 1);
        assert!(!first.session_present);
        assert!(first.taken_over.try_recv().is_err());
        let mut second = s.open("trk", "c", false, 2);
        assert!(
            second.session_present,
            "the first left a persistent session"
        );
        assert!(
            first.taken_over.try_recv().is_ok(),
            "the first is told to go"
        );
        // The first one's late close does not end the second's session.
        s.close("trk", "c", 1, u32::MAX);
        assert!(second.taken_over.try_recv().is_err());
        s.close("trk", "c", 2, u32::MAX);
        assert!(s.open("trk", "c", false, 3).session_present);
    }

    #[test]
    fn clean_and_expired_sessions_are_not_present() {
        let s = Sessions::default();
        s.open("trk", "c", false, 1);
        s.close("trk", "c", 1, u32::MAX);
        assert!(!s.open("trk", "c", true, 2).session_present);
        s.close("trk", "c", 2, 0);
        assert!(!s.open("trk", "c", false, 3).session_present);
        s.close("trk", "c", 3, 0);
        assert!(
            !s.open("trk", "c", false, 4).session_present,
            "expiry 0 ended it"
        );
        // Client ids belong to their device.
        assert!(!s.open("other", "c", false, 5).session_present);
    }

    #[test]
    fn a_device_keeps_a_bounded_number_of_sessions() {
        let s = Sessions::default();
        for i in 0..10 {
            s.open("trk", &format!("c{i}"), false, i);
            s.close("trk", &format!("c{i}"), i, u32::MAX);
        }
        assert_eq!(s.lock().persisted["trk"].len(), SESSIONS_PER_DEVICE);
    }
}
