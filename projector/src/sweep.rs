//! The image sweep: the images of posters no movie shows are deleted once they are older than
//! the grace period (`MOVIEDB_IMAGES_SWEEP_GRACE_SECS`), so a CDN that fetches late still finds
//! them meanwhile. What a movie shows is read from the read models; an upload writes its images
//! again before its event, so a poster shown again is young whatever its first upload's age.
//! Several projectors may sweep at once: a delete of what another deleted is no error.

use chrono::Utc;
use moviedb_images::{ImageStore, Swept};
use moviedb_read_model::ReadModelWriter;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// One sweep of `images`: deletes the posters no movie in `read` shows, written more than
/// `grace` ago.
pub async fn sweep(
    read: &dyn ReadModelWriter,
    images: &ImageStore,
    grace: Duration,
) -> anyhow::Result<Swept> {
    let referenced = read.poster_hashes().await?;
    let older_than = Utc::now() - chrono::Duration::from_std(grace)?;
    Ok(images.sweep(&referenced, older_than).await?)
}

/// Sweeps every `every` until `cancel`, the first time after one `every`.
pub fn spawn(
    tasks: &mut JoinSet<()>,
    read: Arc<dyn ReadModelWriter>,
    images: ImageStore,
    grace: Duration,
    every: Duration,
    cancel: CancellationToken,
) {
    tasks.spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            match sweep(read.as_ref(), &images, grace).await {
                Ok(swept) if swept.deleted > 0 => {
                    tracing::info!(
                        deleted = swept.deleted,
                        waiting = swept.waiting,
                        "image sweep"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the image sweep failed; it runs again later"),
            }
        }
    });
}
