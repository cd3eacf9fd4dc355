//! Process lifecycle facts shared by the app and the HTTP endpoints: loaded, scheduling,
//! shutting down, and the outcome of the last reload.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Debug, Default)]
pub struct Lifecycle {
    config_loaded: AtomicBool,
    scheduling: AtomicBool,
    shutting_down: AtomicBool,
    last_reload_error: Mutex<Option<String>>,
    last_reload_at: Mutex<Option<SystemTime>>,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_config_loaded(&self) {
        self.config_loaded.store(true, Ordering::SeqCst);
    }

    pub fn set_scheduling(&self) {
        self.scheduling.store(true, Ordering::SeqCst);
    }

    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn config_loaded(&self) -> bool {
        self.config_loaded.load(Ordering::SeqCst)
    }

    pub fn scheduling(&self) -> bool {
        self.scheduling.load(Ordering::SeqCst)
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Ready: config loaded, first schedule running, not shutting down.
    pub fn ready(&self) -> bool {
        self.config_loaded() && self.scheduling() && !self.shutting_down()
    }

    /// Remembers how the last reload went (`None` = success).
    pub fn reload_finished(&self, error: Option<String>) {
        *self
            .last_reload_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = error;
        *self
            .last_reload_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
    }

    pub fn last_reload_error(&self) -> Option<String> {
        self.last_reload_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn last_reload_at(&self) -> Option<SystemTime> {
        *self
            .last_reload_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}
