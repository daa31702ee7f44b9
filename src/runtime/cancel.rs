//! Cooperative cancellation of a running job (Ctrl-C, REPL cancel).

use tokio::sync::watch;

/// A cloneable cancellation flag.
#[derive(Clone, Debug)]
pub struct Cancel {
    rx: watch::Receiver<bool>,
    tx: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Cancel { rx, tx: std::sync::Arc::new(tx) }
    }

    /// Sets the flag; every clone sees it.
    pub fn cancel(&self) {
        let _ = self.tx.send(true);
    }

    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes once the flag is set.
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
