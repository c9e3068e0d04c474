//! Late binding, one abstraction for tracers and meters: a value resolved against the
//! global providers (and configuration) when it is used, bound again when they change.
//!
//! Every tracer and meter of this crate caches what it resolved together with the
//! *generation* of the providers it saw ([`crate::global`] advances it on every install),
//! so the hot path is one atomic load of the newest binding and a compare; only the first
//! use after a new provider is installed binds again.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};

use crate::config::Config;

/// What a tracer or meter binds with: what it is for (`K`: a tracer's `Scope`, a meter's
/// scope or `None` for the service's root meter) and the configuration it resolves
/// against: the one a service was made from, or, for what the macros declare, the one
/// installed with [`crate::set_config`] at the time of binding.
pub(crate) struct Binding<K, T> {
    key: K,
    config: Option<Arc<Config>>,
    bound: Bound<T>,
}

impl<K, T> Binding<K, T> {
    /// Resolved against the installed configuration at each binding (macro sites).
    pub(crate) const fn installed(key: K) -> Self {
        Binding {
            key,
            config: None,
            bound: Bound::new(),
        }
    }

    /// Resolved against `config` (services made from a configuration).
    pub(crate) fn fixed(key: K, config: Arc<Config>) -> Self {
        Binding {
            key,
            config: Some(config),
            bound: Bound::new(),
        }
    }

    /// Whether this resolves against the installed configuration (a macro site).
    pub(crate) fn is_installed(&self) -> bool {
        self.config.is_none()
    }

    pub(crate) fn key(&self) -> &K {
        &self.key
    }

    /// The configuration this resolves against now.
    pub(crate) fn config(&self) -> Arc<Config> {
        match &self.config {
            Some(config) => config.clone(),
            None => crate::global::installed_config(),
        }
    }

    /// The value bound at `generation` or later; `bind` makes one from the configuration
    /// and the key.
    #[inline]
    pub(crate) fn get(&self, generation: u64, bind: impl Fn(&Config, &K) -> T) -> &T {
        self.bound
            .get(generation, || bind(&self.config(), &self.key))
    }
}

impl<K: std::fmt::Debug, T> std::fmt::Debug for Binding<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("key", &self.key)
            .field("installed_config", &self.config.is_none())
            .finish_non_exhaustive()
    }
}

/// A value bound per provider generation.
///
/// Bindings form a chain, one link per generation seen, each boxed so it never moves; old
/// links stay alive until the `Bound` is dropped (they are few: one per provider installed
/// while this value was in use), which lets readers hold plain references without locks.
/// `newest` points at the newest link, so reading is one load and a compare however many
/// providers were installed before.
pub(crate) struct Bound<T> {
    newest: AtomicPtr<Slot<T>>,
    chain: OnceLock<Box<Slot<T>>>,
}

struct Slot<T> {
    generation: u64,
    value: T,
    next: OnceLock<Box<Slot<T>>>,
}

impl<T> Slot<T> {
    fn new(generation: u64, value: T) -> Box<Self> {
        Box::new(Slot {
            generation,
            value,
            next: OnceLock::new(),
        })
    }
}

impl<T> Bound<T> {
    pub(crate) const fn new() -> Self {
        Bound {
            newest: AtomicPtr::new(ptr::null_mut()),
            chain: OnceLock::new(),
        }
    }

    /// The value bound at `generation` or later, binding it with `bind` if there is none.
    #[inline]
    pub(crate) fn get(&self, generation: u64, bind: impl Fn() -> T) -> &T {
        let newest = self.newest.load(Ordering::Acquire);
        // SAFETY: `newest` is null or was stored by `rebind` from a `&Slot` of `self.chain`.
        // Links are boxed (their address never changes), only ever added, and dropped with
        // `self`, so the slot lives as long as the `&self` the reference borrows from. The
        // Acquire load pairs with the Release store, which follows the slot's
        // initialisation. `unsafe` is needed because a safe cell cannot be swapped and read
        // by reference: the safe chain walk it replaces costs a call and a loop on every use
        // after a reinstall (BENCHMARKS.md, "Late binding").
        let slot = unsafe { newest.as_ref() };
        match slot {
            Some(slot) if slot.generation >= generation => &slot.value,
            _ => self.rebind(generation, bind),
        }
    }

    #[cold]
    #[inline(never)]
    fn rebind(&self, generation: u64, bind: impl Fn() -> T) -> &T {
        #[cfg(test)]
        tests::REBINDS.with(|count| count.set(count.get() + 1));
        let mut slot: &Slot<T> = self.chain.get_or_init(|| Slot::new(generation, bind()));
        while slot.generation < generation {
            slot = slot.next.get_or_init(|| Slot::new(generation, bind()));
        }
        // another thread may have bound a newer generation meanwhile
        while let Some(next) = slot.next.get() {
            slot = next;
        }
        // Racing stores may leave an older link here; the next reader that needs a newer
        // one comes back here and stores the newest again.
        self.newest
            .store(ptr::from_ref(slot).cast_mut(), Ordering::Release);
        &slot.value
    }
}

impl<T> std::fmt::Debug for Bound<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Calls of the cold path on this thread.
        pub(super) static REBINDS: Cell<usize> = const { Cell::new(0) };
    }

    fn rebinds() -> usize {
        REBINDS.with(Cell::get)
    }

    #[test]
    fn binds_once_per_generation() {
        let bound = Bound::new();
        let binds = Cell::new(0);
        let bind = || {
            binds.set(binds.get() + 1);
            binds.get()
        };
        assert_eq!(*bound.get(0, bind), 1);
        assert_eq!(*bound.get(0, bind), 1);
        assert_eq!(*bound.get(3, bind), 2);
        assert_eq!(*bound.get(3, bind), 2);
        // a reader that saw an older generation still gets the newest binding
        assert_eq!(*bound.get(1, bind), 2);
        assert_eq!(*bound.get(4, bind), 3);
        assert_eq!(binds.get(), 3);
    }

    #[test]
    fn after_a_reinstall_every_use_is_the_fast_path() {
        let bound = Bound::new();
        let before = rebinds();
        for generation in 0..5 {
            // the first use at each new generation binds; the next thousand do not
            for _ in 0..1000 {
                assert_eq!(*bound.get(generation, || generation), generation);
            }
        }
        assert_eq!(rebinds() - before, 5);
    }

    #[test]
    fn old_references_stay_valid_while_newer_bindings_are_made() {
        let bound = Bound::new();
        let first: &String = bound.get(0, || "first".to_owned());
        let second: &String = bound.get(1, || "second".to_owned());
        assert_eq!((first.as_str(), second.as_str()), ("first", "second"));
    }

    #[test]
    fn threads_racing_to_bind_all_see_the_newest() {
        let bound = Bound::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for generation in 0..200u64 {
                        assert!(*bound.get(generation, || generation) >= generation);
                    }
                });
            }
        });
        assert_eq!(*bound.get(199, || u64::MAX), 199);
    }
}
