//! [`Engine`]: the validator a long-running front end (the server) serves from, with its
//! packages reloadable while in use.

use std::sync::{Arc, RwLock};

use crate::Validator;

/// Holds the current [`Validator`]. Each validation takes the current one
/// ([`Engine::validator`]) and keeps it to the end, so a [`Engine::reload`] in the middle
/// (new packages, new options) swaps in the new set atomically while validations in flight
/// finish on the set they started with; the old set is freed when the last of them ends.
pub struct Engine {
    current: RwLock<Arc<Validator>>,
}

impl Engine {
    pub fn new(validator: Validator) -> Engine {
        Engine {
            current: RwLock::new(Arc::new(validator)),
        }
    }

    /// The validator to use for one piece of work.
    pub fn validator(&self) -> Arc<Validator> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Make `validator` current; returns the one it replaces.
    pub fn reload(&self, validator: Validator) -> Arc<Validator> {
        let new = Arc::new(validator);
        std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            new,
        )
    }
}
