//! Environment images: a builder VM boots from the base image, runs the workspace's
//! setup (its agent answers its health check once setup is done), is stopped, and its
//! disk becomes the new image that warm pools boot from. A build that fails leaves the
//! newest good image in place.

use std::time::{Duration, Instant};

use super::client::GceError;
use super::{CreateError, GceBackend, request_id};
use crate::tiers;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the builder VM did not finish setup: {0}")]
    Builder(#[from] CreateError),
    #[error("cannot turn the builder's disk into an image: {0}")]
    Image(#[from] GceError),
    #[error("the image {0} did not become READY")]
    NotReady(String),
}

/// The image family Nova's office images belong to.
pub const FAMILY: &str = "nova-office";

impl GceBackend {
    /// Builds image `nova-office-{version}` from `base` and returns its path. The
    /// builder VM is deleted whatever happens.
    pub async fn build_image(&self, base: &str, version: &str) -> Result<String, BuildError> {
        let name = format!("{FAMILY}-{version}");
        let builder = format!("nova-builder-{version}");
        let tier = tiers::tier(4).expect("tier 4 exists");
        let vm = match self.create_named(&builder, "builder", tier, base).await {
            Ok(vm) => vm,
            Err(error) => {
                // An unhealthy builder is deleted by the watchdog; one that failed otherwise may linger.
                for zone in self.zones() {
                    let _ = self.delete(zone, &builder).await;
                }
                return Err(error.into());
            }
        };
        let result = self.image_from(&vm.zone, &builder, &name).await;
        if let Err(error) = self.delete(&vm.zone, &builder).await {
            tracing::warn!(vm = %builder, "cannot delete the image builder: {error}");
        }
        result?;
        Ok(format!("projects/{}/global/images/{name}", self.project()))
    }

    async fn image_from(&self, zone: &str, builder: &str, name: &str) -> Result<(), BuildError> {
        let deadline = Instant::now() + self.boot_timeout() * 4;
        let stop = self.client().stop(zone, builder, &request_id(builder, zone, "stop")).await?;
        self.client().wait(&stop, deadline).await?;
        let insert =
            match self.client().insert_image(name, FAMILY, zone, builder, &request_id(name, zone, "image")).await {
                Ok(operation) => Some(operation),
                // A retry after the insert went through: the image is there.
                Err(GceError::AlreadyExists) => None,
                Err(error) => return Err(error.into()),
            };
        if let Some(insert) = insert {
            let done = self.client().wait(&insert, deadline).await?;
            if let Some((code, message)) = done.error {
                return Err(GceError::OperationFailed { code, message }.into());
            }
        }
        let mut pause = Duration::from_millis(5);
        loop {
            match self.client().image_status(name).await?.as_str() {
                "READY" => return Ok(()),
                "FAILED" => return Err(BuildError::NotReady(name.to_owned())),
                _ if Instant::now() + pause >= deadline => return Err(BuildError::NotReady(name.to_owned())),
                _ => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
