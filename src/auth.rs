//! Staff accounts outside HTTP: the roles an account may have, how passwords are hashed
//! (Argon2id PHC strings), how sign-ins check them with bounded memory ([`PasswordChecker`]) and
//! how failed sign-ins are throttled ([`Throttle`]). Used by the staff console's sign-in and by
//! `madoguchi user`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::{Deserialize, Serialize};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Inquiry search, logs, the unanswered queue and figures.
    Staff,
    /// Everything staff may, plus accounts and FAQ management.
    Admin,
}

/// A stored or given role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}' (known: staff, admin)")]
pub struct UnknownRole(pub String);

impl Role {
    /// Every role.
    pub const ALL: [Role; 2] = [Role::Staff, Role::Admin];

    /// Its name, as in the database, the API and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Hashes a password (Argon2id, random salt) as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes = *uuid::Uuid::new_v4().as_bytes();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A disabled account's stored hash starts with this (it can never verify; `user enable`
/// removes it and the old password works again).
pub const DISABLED_PREFIX: &str = "!disabled!";

/// Largest Argon2 work area a stored hash may ask for (64 MiB): a hash written by hand or
/// damaged in the database cannot make a sign-in allocate more.
const MAX_BLOCKS: usize = 64 * 1024;

/// The sign-in was not checked: every slot was busy for the whole wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sign-ins at once")]
pub struct Busy;

/// Checks sign-in passwords with bounded memory: at most `slots` Argon2 computations at once,
/// each in a work area allocated once and reused, so a burst of sign-ins costs
/// `slots × 19 MiB` at most and gives nothing back to grow. Unknown names are checked against a
/// dummy hash in the same way (same time, same answer).
pub struct PasswordChecker {
    slots: tokio::sync::Semaphore,
    areas: Mutex<Vec<Vec<Block>>>,
    wait: Duration,
    dummy: String,
}

impl std::fmt::Debug for PasswordChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChecker")
            .field("free_slots", &self.slots.available_permits())
            .field("wait", &self.wait)
            .finish()
    }
}

impl PasswordChecker {
    /// `slots` checks at once (at least 1); a sign-in waits at most `wait` for one.
    pub fn new(slots: usize, wait: Duration) -> PasswordChecker {
        PasswordChecker {
            slots: tokio::sync::Semaphore::new(slots.max(1)),
            areas: Mutex::new(Vec::new()),
            wait,
            dummy: hash_password("madoguchi: a name that does not exist")
                .expect("hashing a constant"),
        }
    }

    /// Whether `password` matches `hash` (`None`: an unknown name, checked against the dummy
    /// and always false). [`Busy`] when no slot freed up within the wait.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let _slot = tokio::time::timeout(self.wait, self.slots.acquire())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.clone());
        let mut area = self
            .areas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let (ok, area) = tokio::task::spawn_blocking(move || {
            let ok = verify_in(&password, &hash, &mut area);
            (ok, area)
        })
        .await
        .map_err(|_| Busy)?;
        self.areas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(area);
        Ok(known && ok)
    }
}

/// [`verify_password`] in a caller's work area (grown to the hash's memory cost, at most
/// [`MAX_BLOCKS`]); false for a malformed or disabled hash.
fn verify_in(password: &str, phc: &str, area: &mut Vec<Block>) -> bool {
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h))
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    if area.len() < blocks {
        area.resize(blocks, Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut area[..blocks])
        .is_ok()
        && Output::new(&out).is_ok_and(|o| o == expected)
}

/// Failed sign-ins, counted in memory per (account, address), per address and per account, each
/// with its own allowance and exponential backoff. A stranger's failures slow only the
/// stranger's address: the account's owner, from another address, is never locked out; and one
/// attempt at a time per (account, address), so sending many at once buys no extra guesses.
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    pair: HashMap<(String, IpAddr), Record>,
    address: HashMap<IpAddr, Record>,
    account: HashMap<String, Record>,
}

#[derive(Debug, Default, Clone)]
struct Record {
    failures: u32,
    in_flight: u32,
    until: Option<Instant>,
    last: Option<Instant>,
}

/// Free failures, then the backoff doubles from one second, up to `cap`.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    free: u32,
    in_flight: u32,
    cap: Duration,
}

/// (account, address): a person mistyping gets 5 tries, then 1 s, 2 s, 4 s … up to 15 min.
const PAIR: Allowance = Allowance {
    free: 5,
    in_flight: 1,
    cap: Duration::from_secs(15 * 60),
};
/// One address against any accounts (password spraying); an office behind one NAT address
/// still gets several sign-ins at once.
const ADDRESS: Allowance = Allowance {
    free: 20,
    in_flight: 4,
    cap: Duration::from_secs(15 * 60),
};
/// One account from any addresses (many addresses guessing): slows guessing to a crawl while
/// the owner waits at most a minute.
const ACCOUNT: Allowance = Allowance {
    free: 50,
    in_flight: 4,
    cap: Duration::from_secs(60),
};
/// When the throttle holds over 100,000 records, those idle this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// An attempt the [`Throttle`] let through; give it back with [`Throttle::finish`].
#[derive(Debug)]
#[must_use = "give the attempt back with Throttle::finish"]
pub struct Attempt {
    account: String,
    address: IpAddr,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

impl Throttle {
    /// No failures yet.
    pub fn new() -> Throttle {
        Throttle {
            state: Mutex::new(ThrottleState::default()),
        }
    }

    /// Lets an attempt at `account` from `address` through, or says how long to wait.
    pub fn begin(&self, account: &str, address: IpAddr) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.pair.len() + st.address.len() + st.account.len() > 100_000 {
            st.forget(now);
        }
        let key = (account.to_owned(), address);
        let checks = [
            (st.pair.get(&key).cloned(), PAIR),
            (st.address.get(&address).cloned(), ADDRESS),
            (st.account.get(account).cloned(), ACCOUNT),
        ];
        let wait = checks
            .iter()
            .filter_map(|(r, a)| r.as_ref().and_then(|r| r.wait(a, now)))
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        st.pair.entry(key).or_default().in_flight += 1;
        st.address.entry(address).or_default().in_flight += 1;
        st.account.entry(account.to_owned()).or_default().in_flight += 1;
        Ok(Attempt {
            account: account.to_owned(),
            address,
        })
    }

    /// Gives an attempt back uncounted (it could not be checked: storage or capacity).
    pub fn cancel(&self, attempt: Attempt) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Attempt { account, address } = attempt;
        if let Some(r) = st.pair.get_mut(&(account.clone(), address)) {
            r.in_flight = r.in_flight.saturating_sub(1);
        }
        if let Some(r) = st.account.get_mut(&account) {
            r.in_flight = r.in_flight.saturating_sub(1);
        }
        if let Some(r) = st.address.get_mut(&address) {
            r.in_flight = r.in_flight.saturating_sub(1);
        }
    }

    /// Ends an attempt: a success clears the failures of its (account, address) and of the
    /// account; a failure counts for all three and may start a backoff.
    pub fn finish(&self, attempt: Attempt, succeeded: bool) {
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Attempt { account, address } = attempt;
        let update = |r: &mut Record, a: &Allowance| {
            r.in_flight = r.in_flight.saturating_sub(1);
            r.last = Some(now);
            if succeeded {
                r.failures = 0;
                r.until = None;
            } else {
                r.failures = r.failures.saturating_add(1);
                if r.failures >= a.free {
                    let doublings = (r.failures - a.free).min(20);
                    let backoff = Duration::from_secs(1u64 << doublings).min(a.cap);
                    r.until = Some(now + backoff);
                }
            }
        };
        if let Some(r) = st.pair.get_mut(&(account.clone(), address)) {
            update(r, &PAIR);
        }
        if let Some(r) = st.account.get_mut(&account) {
            update(r, &ACCOUNT);
        }
        if let Some(r) = st.address.get_mut(&address) {
            // A success from an address does not forgive its failures on other accounts.
            let failures = r.failures;
            let until = r.until;
            update(r, &ADDRESS);
            if succeeded {
                r.failures = failures;
                r.until = until;
            }
        }
    }
}

impl Record {
    /// How long an attempt must wait under `a`, if at all.
    fn wait(&self, a: &Allowance, now: Instant) -> Option<Duration> {
        if self.in_flight >= a.in_flight {
            return Some(Duration::from_secs(1));
        }
        self.until
            .filter(|u| *u > now)
            .map(|u| (u - now).max(Duration::from_secs(1)))
    }

    fn idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self
                .last
                .is_none_or(|l| now.duration_since(l) > FORGET_AFTER)
    }
}

impl ThrottleState {
    /// Drops records idle for [`FORGET_AFTER`] (bounds memory under scanning).
    fn forget(&mut self, now: Instant) {
        self.pair.retain(|_, r| !r.idle(now));
        self.address.retain(|_, r| !r.idle(now));
        self.account.retain(|_, r| !r.idle(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(
            hash_password("same").unwrap(),
            hash_password("same").unwrap()
        );
    }

    #[test]
    fn the_reused_work_area_agrees_with_the_library_and_refuses_huge_costs() {
        let h = hash_password("correct horse").unwrap();
        let mut area = Vec::new();
        assert!(verify_in("correct horse", &h, &mut area));
        assert!(!verify_in("wrong", &h, &mut area));
        assert_eq!(
            area.len(),
            Params::DEFAULT_M_COST as usize,
            "allocated once"
        );
        assert!(!verify_in(
            "correct horse",
            &format!("{DISABLED_PREFIX}{h}"),
            &mut area
        ));
        // A stored hash asking for 4 GiB is refused before anything is allocated.
        let huge = h.replace("m=19456", "m=4194304");
        assert!(huge.contains("m=4194304"));
        assert!(!verify_in("correct horse", &huge, &mut area));
        assert_eq!(area.len(), Params::DEFAULT_M_COST as usize);
    }

    #[tokio::test]
    async fn the_checker_refuses_when_every_slot_stays_busy() {
        let checker = PasswordChecker::new(1, Duration::from_millis(1));
        let h = hash_password("correct horse").unwrap();
        assert_eq!(
            checker
                .verify("correct horse".into(), Some(h.clone()))
                .await,
            Ok(true)
        );
        assert_eq!(
            checker.verify("correct horse".into(), None).await,
            Ok(false)
        );
        let _held = checker.slots.acquire().await.unwrap();
        assert_eq!(
            checker.verify("correct horse".into(), Some(h)).await,
            Err(Busy)
        );
    }

    #[test]
    fn the_throttle_backs_off_per_pair_and_forgives_on_success() {
        let t = Throttle::new();
        let (stranger, owner): (IpAddr, IpAddr) = (
            "203.0.113.9".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        );
        let a = t.begin("sato", stranger).unwrap();
        assert!(t.begin("sato", stranger).is_err(), "one at a time per pair");
        t.finish(a, false);
        for _ in 0..4 {
            let a = t.begin("sato", stranger).unwrap();
            t.finish(a, false);
        }
        let wait = t.begin("sato", stranger).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2));
        let a = t
            .begin("sato", owner)
            .expect("the owner's address is not throttled");
        t.finish(a, true);
        // The account's failures were forgiven by the owner's success; the pair's were not.
        assert!(t.begin("sato", stranger).is_err());
        assert_eq!(t.state.lock().unwrap().account["sato"].failures, 0);
        // Cancelled attempts count nothing.
        let a = t.begin("suzuki", owner).unwrap();
        t.cancel(a);
        assert_eq!(
            t.state.lock().unwrap().pair[&("suzuki".to_owned(), owner)].failures,
            0
        );
        assert!(t.begin("suzuki", owner).is_ok());
    }

    #[test]
    fn roles_round_trip_by_name_and_refuse_unknown_ones() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(
            "Admin".parse::<Role>(),
            Err(UnknownRole("Admin".into())),
            "names are exact"
        );
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("'root'")
        );
    }
}
