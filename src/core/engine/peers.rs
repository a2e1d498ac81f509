//! What this tab knows of the other tabs of its origin and API key: whether it shares
//! storage with them, whether it holds the sender role, which tabs are open (the census),
//! its copy of their records, the session tokens their pages hold, and the flushes waiting
//! across tabs.
//!
//! Invariants kept here: the census lists each tab once and never this tab; the role is
//! taken only after the take-over wait; a follower waits for one peer flush at a time; each
//! other tab has at most one token (its page's customer's), dropped when it says goodbye.

use crate::core::relay::SessionToken;
use crate::core::sorted::{IdSet, TextMap};

/// How long a tab that waited for the sender role lets the old sender's last messages
/// arrive before it reads the queue: a record the old sender just delivered may still be in
/// this tab's view of storage (Chromium's storage is only eventually consistent across tabs).
pub const TAKEOVER_DELAY_MS: u64 = 250;
/// How long a follower's `flush()` waits for the sender's answer.
pub const PEER_FLUSH_TIMEOUT_MS: u64 = 12_000;

/// How this tab got the sender role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It holds the role; `waited`: another tab held it before (take over after
    /// [`TAKEOVER_DELAY_MS`]).
    Sender {
        /// Another tab held the role until now.
        waited: bool,
    },
    /// Another tab holds the role (a lease taken over, a lock lost).
    Follower,
}

/// See the module docs.
#[derive(Debug)]
pub struct Peers {
    tab_id: String,
    joined: bool,
    sender: bool,
    census: Vec<String>,
    /// A follower's copy of the other tabs' records, from storage events: if storage is
    /// cleared, or the sender dies before it heard of them, this tab still has them.
    pub shadow: TextMap,
    /// Ids of the records other tabs handed over as of unknown fate (a sender took them out
    /// of storage) while this tab followed: the flag must hold when this tab takes the
    /// queue over, whether the record then comes from `shadow` or from storage (its copy
    /// written back after a clear).
    pub unknown_fate: IdSet,
    promote_at: Option<u64>,
    /// (tab, customer, token): the session token each other tab's page holds, newest last.
    /// Memory only, like the page's own.
    tokens: Vec<(String, String, SessionToken)>,
    /// `flush()` calls of this page waiting to settle.
    pub page_flushes: u32,
    /// Other tabs' flushes this sender answers once nothing is in flight.
    pub peer_flushes: u32,
    peer_flush_until: Option<u64>,
}

impl Peers {
    /// A tab named `tab_id`, alone and sending until it joins the others.
    pub fn new(tab_id: String) -> Peers {
        Peers {
            tab_id,
            joined: false,
            sender: true,
            census: Vec::new(),
            shadow: TextMap::new(),
            unknown_fate: IdSet::new(),
            promote_at: None,
            tokens: Vec::new(),
            page_flushes: 0,
            peer_flushes: 0,
            peer_flush_until: None,
        }
    }

    /// This tab's name in the census.
    pub fn tab_id(&self) -> &str {
        &self.tab_id
    }

    /// Whether this tab shares storage and messages with the others.
    pub fn joined(&self) -> bool {
        self.joined
    }

    /// Whether this tab sends.
    pub fn sender(&self) -> bool {
        self.sender
    }

    /// Joins the others: follow until elected.
    pub fn join(&mut self) {
        self.joined = true;
        self.sender = false;
    }

    /// Leaves the others (the tracker was destroyed or replaced): the census is forgotten,
    /// and a tab that shared storage no longer sends until it is elected again.
    pub fn leave(&mut self) {
        if self.joined {
            self.sender = false;
        }
        self.joined = false;
        self.census.clear();
        self.tokens.clear();
        self.promote_at = None;
        self.peer_flush_until = None;
    }

    /// The election's word. The role is taken at [`Peers::due_promotion`].
    pub fn set_role(&mut self, now: u64, role: Role) {
        match role {
            Role::Follower => {
                self.sender = false;
                self.promote_at = None;
            }
            Role::Sender { waited } => {
                let delay = if waited { TAKEOVER_DELAY_MS } else { 0 };
                self.promote_at = Some(now + delay);
            }
        }
    }

    /// Whether the take-over wait ended by `now`: the caller reads the queue and promotes.
    pub fn due_promotion(&mut self, now: u64) -> bool {
        match self.promote_at {
            Some(at) if at <= now && self.joined => {
                self.promote_at = None;
                true
            }
            _ => false,
        }
    }

    /// Whether this tab was given the role and waits to take it.
    pub fn promoting(&self) -> bool {
        self.promote_at.is_some()
    }

    /// The role is taken.
    pub fn promote(&mut self) {
        self.sender = true;
        self.promote_at = None;
    }

    /// Tab `tab` said hello.
    pub fn hello(&mut self, tab: String) {
        if tab != self.tab_id && !self.census.contains(&tab) {
            self.census.push(tab);
        }
    }

    /// Tab `tab` left.
    pub fn bye(&mut self, tab: &str) {
        self.census.retain(|t| t != tab);
        self.forget_token(tab);
    }

    fn forget_token(&mut self, tab: &str) {
        if let Some(at) = self.tokens.iter().position(|(t, _, _)| t == tab) {
            self.tokens.remove(at);
        }
    }

    /// Tab `tab`'s page holds `token` for `customer` now, or none (`None`).
    pub fn hear_token(&mut self, tab: String, customer: String, token: Option<SessionToken>) {
        self.forget_token(&tab);
        if let Some(token) = token.filter(|_| tab != self.tab_id) {
            self.tokens.push((tab, customer, token));
        }
    }

    /// The newest token another tab's page holds for `customer`.
    pub fn token_for(&self, customer: &str) -> Option<&str> {
        self.tokens
            .iter()
            .rev()
            .find(|(_, c, _)| c == customer)
            .map(|(_, _, token)| token.0.as_str())
    }

    /// Whether no other tab is known to be open.
    pub fn last_tab(&self) -> bool {
        self.census.is_empty()
    }

    /// Starts waiting for the sender's answer to this follower's flush; false if a wait
    /// already runs.
    pub fn await_peer_flush(&mut self, now: u64) -> bool {
        if self.peer_flush_until.is_some() {
            return false;
        }
        self.peer_flush_until = Some(now + PEER_FLUSH_TIMEOUT_MS);
        true
    }

    /// The sender answered this follower's flush (or the wait ran out).
    pub fn end_peer_flush(&mut self) -> bool {
        self.peer_flush_until.take().is_some()
    }

    /// Ends a wait for the sender's flush answer that ran out by `now`.
    pub fn expire_peer_flush(&mut self, now: u64) {
        if self.peer_flush_until.is_some_and(|until| until <= now) {
            self.peer_flush_until = None;
        }
    }

    /// Whether this follower waits for the sender's flush answer.
    pub fn awaits_peer_flush(&self) -> bool {
        self.peer_flush_until.is_some()
    }

    /// The deadlines this part keeps: the take-over and the peer-flush wait.
    pub fn next_wakeup(&self) -> Option<u64> {
        [self.promote_at, self.peer_flush_until]
            .into_iter()
            .flatten()
            .min()
    }
}
