//! `wavecrest daemon`: signals and the HTTP listener around the library's supervisor.

use std::sync::Arc;

use tokio::sync::Notify;
use wavecrest::daemon::{http, supervisor, DaemonConfig, Registry};
use wavecrest::runtime::Cancel;
use wavecrest::Error;

/// Runs the daemon until SIGTERM or Ctrl-C; SIGHUP rescans the folder.
pub async fn run(config: DaemonConfig, http_addr: Option<std::net::SocketAddr>) -> Result<(), Error> {
    if !config.dir.is_dir() {
        return Err(Error::external(format!("'{}' is not a folder", config.dir.display())));
    }
    let registry = Arc::new(Registry::new());
    let shutdown = Cancel::new();
    let rescan = Arc::new(Notify::new());
    let mut server = None;
    if let Some(addr) = http_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::external(format!("--http {addr}: cannot listen: {e}")))?;
        let bound = listener.local_addr().map_err(|e| Error::external(format!("--http {addr}: {e}")))?;
        tracing::info!("listening on http://{bound} (/metrics, /pipelines, /healthz)");
        server = Some(tokio::spawn(http::serve(listener, Arc::clone(&registry), shutdown.clone())));
    }
    watch_signals(shutdown.clone(), Arc::clone(&rescan));
    supervisor::run(config, registry, shutdown.clone(), rescan).await;
    shutdown.cancel();
    if let Some(s) = server {
        let _ = s.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM and Ctrl-C set `shutdown` (a second Ctrl-C exits at once); SIGHUP notifies `rescan`.
fn watch_signals(shutdown: Cancel, rescan: Arc<Notify>) {
    crate::cancel_on_signals(shutdown, |signal| {
        tracing::info!("{signal}: stopping every pipeline (final checkpoints)")
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            while hup.recv().await.is_some() {
                rescan.notify_one();
            }
        }
    });
}
