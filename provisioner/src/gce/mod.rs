//! Offices on Compute Engine VMs: create one per (office, generation) with a
//! deterministic name and request ids (so a retry, or another replica, never makes a
//! second), fall back to the next zone on a stockout, pace retries under the API
//! quota, delete a VM whose agent never comes up, and stop calling GCE for a while
//! after repeated failures instead of hammering it.

pub mod client;
pub mod images;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use client::{GceClient, GceError, InstanceSpec};

use crate::tiers::Tier;

/// A VM's daemon by its internal DNS name (GCE's zonal DNS) on the daemon's port.
pub const DEFAULT_AGENT_URL: &str = "http://{name}.{zone}.c.{project}.internal:7878";

/// What every VM runs at boot (its `startup-script` metadata): the office daemon in pool
/// mode, with the assignment token Nova put in the VM's metadata. The image needs only
/// the `nova` binary at /usr/local/bin/nova.
pub const STARTUP_SCRIPT: &str = r#"#!/bin/sh
metadata=http://metadata.google.internal/computeMetadata/v1/instance/attributes
NOVA_ASSIGN_TOKEN="$(curl -sf -H 'Metadata-Flavor: Google' "$metadata/nova-assign-token")"
export NOVA_ASSIGN_TOKEN
exec /usr/local/bin/nova office pool --listen 0.0.0.0:7878 --workspace /var/lib/nova/workspace
"#;

/// Where and how VMs are made.
#[derive(Debug, Clone)]
pub struct GceSettings {
    pub api_url: String,
    pub project: String,
    /// The first zone, then the fallbacks, in order.
    pub zones: Vec<String>,
    /// The image offices boot from (`projects/{p}/global/images/{name}`).
    pub image: String,
    /// Where a VM's office daemon answers (`/healthz`, `/assign`, …): `{name}`,
    /// `{zone}` and `{project}` are filled in. The default is the VM's internal DNS
    /// name, so Nova must run inside the VPC (or reach it through a VPN); a name, not
    /// an IP, so a pool VM's address needs no lookup when it is claimed.
    pub agent_url: String,
    /// Create → RUNNING, per zone tried.
    pub boot_timeout: Duration,
    /// RUNNING → the agent answers; past this the VM is deleted (the watchdog).
    pub health_timeout: Duration,
    /// A service account for VMs to run as (`GCE_VM_SERVICE_ACCOUNT`), with logging and
    /// monitoring scopes only. None by default: a VM needs no cloud credential (Nova
    /// reads and writes its snapshots), so an agent that reaches the metadata server
    /// finds no token there.
    pub vm_service_account: Option<String>,
    /// The first pause after a 403 `rateLimitExceeded` (doubling, up to 16×).
    pub rate_limit_pause: Duration,
    /// This many failed creates in a row open the circuit breaker …
    pub breaker_after: u32,
    /// … for this long.
    pub breaker_cooldown: Duration,
    /// How often Nova lists its VMs (one call per zone) to notice one that Compute
    /// Engine stopped or someone deleted under a running office.
    pub census_interval: Duration,
}

impl GceSettings {
    /// Sensible timings for real GCE (see shared/NOTES.md: boots p95 30 s, agents p99 ~2 min).
    pub fn new(api_url: &str, project: &str, zones: Vec<String>, image: &str) -> Self {
        Self {
            api_url: api_url.to_owned(),
            project: project.to_owned(),
            zones,
            image: image.to_owned(),
            agent_url: DEFAULT_AGENT_URL.to_owned(),
            vm_service_account: None,
            boot_timeout: Duration::from_secs(120),
            health_timeout: Duration::from_secs(180),
            rate_limit_pause: Duration::from_secs(1),
            breaker_after: 5,
            breaker_cooldown: Duration::from_secs(60),
            census_interval: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is not set (see README, \"Offices on GCE\")")]
    Missing(&'static str),
    #[error("{0} must start with http:// or https://")]
    BadUrl(&'static str),
    #[error("GCE_IMAGE must look like projects/PROJECT/global/images/NAME")]
    BadImage,
}

impl GceSettings {
    /// Reads `GCE_PROJECT`, `GCE_ZONE`, `GCE_FALLBACK_ZONES` (comma-separated),
    /// `GCE_IMAGE`, `GCE_API_URL`, `GCE_AGENT_URL` and `GCE_VM_SERVICE_ACCOUNT` through `var`. `Ok(None)`: GCE is
    /// not configured.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SettingsError> {
        let var = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let Some(project) = var("GCE_PROJECT") else {
            return Ok(None);
        };
        let zone = var("GCE_ZONE").ok_or(SettingsError::Missing("GCE_ZONE"))?;
        let mut zones = vec![zone];
        for fallback in var("GCE_FALLBACK_ZONES").unwrap_or_default().split(',').map(str::trim) {
            if !fallback.is_empty() && !zones.iter().any(|z| z == fallback) {
                zones.push(fallback.to_owned());
            }
        }
        let image = var("GCE_IMAGE").ok_or(SettingsError::Missing("GCE_IMAGE"))?;
        if image_name(&image).is_none() {
            return Err(SettingsError::BadImage);
        }
        let api_url = var("GCE_API_URL").unwrap_or_else(|| client::DEFAULT_API_URL.to_owned());
        let agent_url = var("GCE_AGENT_URL").unwrap_or_else(|| DEFAULT_AGENT_URL.to_owned());
        for (name, url) in [("GCE_API_URL", &api_url), ("GCE_AGENT_URL", &agent_url)] {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(SettingsError::BadUrl(name));
            }
        }
        let mut settings = Self::new(&api_url, &project, zones, &image);
        settings.agent_url = agent_url;
        if let Some(account) = var("GCE_VM_SERVICE_ACCOUNT") {
            settings.vm_service_account = Some(account);
        }
        Ok(Some(settings))
    }
}

/// (project, name) of `projects/{project}/global/images/{name}`.
pub fn image_name(image: &str) -> Option<(&str, &str)> {
    match image.split('/').collect::<Vec<_>>().as_slice() {
        ["projects", project, "global", "images", name] if !project.is_empty() && !name.is_empty() => {
            Some((project, name))
        }
        _ => None,
    }
}

/// One line of `nova gce check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub outcome: Result<String, String>,
}

impl GceBackend {
    /// What `nova gce check` verifies before anyone relies on GCE: the credentials
    /// work, every zone can be listed, and the image is there and ready.
    pub async fn check(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        for zone in self.zones() {
            let outcome = match self.client.list_nova_instances(zone).await {
                Ok(vms) => Ok(format!("{} Nova VM(s) there now", vms.len())),
                Err(error) => Err(error.to_string()),
            };
            checks.push(Check { what: format!("list instances in {zone}"), outcome });
        }
        let image = self.image().to_owned();
        let outcome = match image_name(&image) {
            Some((project, name)) if project == self.project() => match self.client.image_status(name).await {
                Ok(status) if status == "READY" => Ok("READY".to_owned()),
                Ok(status) => Err(format!("the image is {status}, not READY")),
                Err(error) => Err(error.to_string()),
            },
            Some(_) => Ok("in another project; not checked".to_owned()),
            None => Err("not a projects/P/global/images/NAME path".to_owned()),
        };
        checks.push(Check { what: format!("image {image}"), outcome });
        checks
    }
}

/// A VM whose daemon answers its health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    pub name: String,
    pub zone: String,
    /// The daemon's base URL.
    pub agent_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("every configured zone is out of capacity ({})", .0.join(", "))]
    AllZonesOut(Vec<String>),
    #[error("VM {name} never passed its health check within {after:?}; it was deleted")]
    Unhealthy { name: String, after: Duration },
    #[error("GCE failed {failures} times in a row; Nova stops asking for {remaining:?} (last: {last})")]
    BreakerOpen { failures: u32, remaining: Duration, last: String },
    #[error(transparent)]
    Gce(#[from] GceError),
}

/// The VM name of an office's generation: a retry, or another replica, computes the
/// same one, and GCE refuses a second VM of that name.
pub fn instance_name(office: &str, generation: i64) -> String {
    format!("nova-{}-g{generation}", vm_label(office))
}

/// The (office label, generation) a VM name stands for, if it is an office's VM.
pub fn parse_instance_name(name: &str) -> Option<(&str, i64)> {
    let rest = name.strip_prefix("nova-")?;
    let (office, generation) = rest.rsplit_once("-g")?;
    Some((office, generation.parse().ok()?))
}

/// An office name as GCE allows it in names and labels: lowercase letters, digits,
/// dashes; short enough that `nova-{office}-g{any i64}` fits GCE's 63 characters.
/// Lossy (`data_team` and `data-team` are one): the config refuses offices that
/// collide, and a VM's owner is read from its metadata, which keeps the name as is.
pub fn vm_label(office: &str) -> String {
    let value: String =
        office.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(36).collect();
    value.trim_matches('-').to_owned()
}

/// The `requestId` of one call: the same call retried gets the same id, which GCE
/// ignores the second time.
pub fn request_id(name: &str, zone: &str, verb: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("nova:{verb}:{zone}:{name}").as_bytes()).to_string()
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    last: String,
}

pub struct GceBackend {
    client: GceClient,
    settings: GceSettings,
    http: reqwest::Client,
    breaker: Mutex<Breaker>,
    /// Sign each VM's assignment token (see [`GceBackend::assign_token`]), newest first.
    assign_keys: Vec<[u8; 32]>,
}

impl GceBackend {
    pub fn new(settings: GceSettings, tokens: std::sync::Arc<dyn gcp_auth::TokenProvider>) -> anyhow::Result<Self> {
        let client = GceClient::new(&settings.api_url, &settings.project, tokens)?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        Ok(Self { client, settings, http, breaker: Mutex::new(Breaker::default()), assign_keys: Vec::new() })
    }

    /// VMs made from now on carry an assignment token derived from the first of `keys`
    /// in their metadata, so only whoever holds the keys (Nova's replicas) can assign
    /// them; the others (older keys, after a rotation) still reach the VMs made before.
    pub fn with_assign_keys(mut self, keys: Vec<[u8; 32]>) -> Self {
        self.assign_keys = keys;
        self
    }

    /// The token that assigns VM `name` to an office: an HMAC of the name, so no VM's
    /// token opens another and nothing needs storing. `None` without an assign key.
    pub fn assign_token(&self, name: &str) -> Option<String> {
        self.assign_tokens(name).into_iter().next()
    }

    /// The tokens VM `name` may hold, newest key first: one of them is its own.
    pub fn assign_tokens(&self, name: &str) -> Vec<String> {
        use hmac::Mac as _;
        let token = |key: &[u8; 32]| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(name.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        self.assign_keys.iter().map(token).collect()
    }

    /// The base URL of VM `name`'s daemon.
    pub fn agent_url(&self, zone: &str, name: &str) -> String {
        self.settings
            .agent_url
            .replace("{zone}", zone)
            .replace("{name}", name)
            .replace("{project}", &self.settings.project)
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn client(&self) -> &GceClient {
        &self.client
    }

    /// Creates (or adopts) the VM of an office's generation and waits for its agent.
    pub async fn create(&self, office: &str, generation: i64, tier: &Tier) -> Result<Vm, CreateError> {
        self.create_named(&instance_name(office, generation), office, tier, &self.settings.image).await
    }

    /// Creates (or adopts) a VM with this name from `image`, labelled for `owner` (an
    /// office, or a pool).
    pub async fn create_named(&self, name: &str, owner: &str, tier: &Tier, image: &str) -> Result<Vm, CreateError> {
        {
            let breaker = self.breaker.lock().expect("breaker lock");
            if let Some(until) = breaker.open_until.filter(|until| *until > Instant::now()) {
                return Err(CreateError::BreakerOpen {
                    failures: breaker.failures,
                    remaining: until - Instant::now(),
                    last: breaker.last.clone(),
                });
            }
        }
        let result = self.try_create(name, owner, tier, image).await;
        let mut breaker = self.breaker.lock().expect("breaker lock");
        match &result {
            Ok(_) => *breaker = Breaker::default(),
            Err(error) => {
                breaker.failures += 1;
                breaker.last = error.to_string();
                if breaker.failures >= self.settings.breaker_after {
                    breaker.open_until = Some(Instant::now() + self.settings.breaker_cooldown);
                    metrics::counter!("nova_gce_breaker_opened_total").increment(1);
                    tracing::error!(failures = breaker.failures, "GCE keeps failing; pausing VM creation: {error}");
                }
            }
        }
        result
    }

    async fn try_create(&self, name: &str, owner: &str, tier: &Tier, image: &str) -> Result<Vm, CreateError> {
        let name = name.to_owned();
        let spec = InstanceSpec {
            name: name.clone(),
            machine_type: tier.machine_type.to_owned(),
            image: image.to_owned(),
            labels: vec![("nova-owner".to_owned(), vm_label(owner))],
            metadata: [
                ("nova-owner".to_owned(), owner.to_owned()),
                ("startup-script".to_owned(), STARTUP_SCRIPT.to_owned()),
            ]
            .into_iter()
            .chain(self.assign_token(&name).map(|t| (crate::protocol::ASSIGN_TOKEN_METADATA.to_owned(), t)))
            .collect(),
            service_account: self.settings.vm_service_account.clone(),
        };
        for zone in &self.settings.zones {
            let deadline = Instant::now() + self.settings.boot_timeout;
            let operation = match self.insert_paced(zone, &spec, deadline).await {
                Ok(Some(operation)) => self.client.wait(&operation, deadline).await?,
                // Already there (an earlier attempt of ours, or another replica's): adopt it.
                Ok(None) => {
                    tracing::info!(vm = %name, zone, "adopting a VM that already exists");
                    self.wait_running(zone, &name, deadline).await?;
                    return self.wait_healthy(zone, &name).await;
                }
                Err(error) => return Err(error.into()),
            };
            match operation.error {
                Some((code, message)) if code.starts_with("ZONE_RESOURCE_POOL_EXHAUSTED") => {
                    metrics::counter!("nova_gce_stockouts_total", "zone" => zone.clone()).increment(1);
                    tracing::warn!(zone, vm = %name, "stockout: {message}; trying the next zone");
                    continue;
                }
                Some((code, message)) if code == "QUOTA_EXCEEDED" => {
                    return Err(GceError::QuotaExceeded(message).into());
                }
                Some((code, message)) => return Err(GceError::OperationFailed { code, message }.into()),
                None => {}
            }
            self.wait_running(zone, &name, deadline).await?;
            return self.wait_healthy(zone, &name).await;
        }
        Err(CreateError::AllZonesOut(self.settings.zones.clone()))
    }

    /// `insert`, waiting out 403 `rateLimitExceeded` at a growing pace. `None`: the VM exists.
    async fn insert_paced(
        &self,
        zone: &str,
        spec: &InstanceSpec,
        deadline: Instant,
    ) -> Result<Option<client::Operation>, GceError> {
        let id = request_id(&spec.name, zone, "insert");
        let mut pause = self.settings.rate_limit_pause;
        loop {
            match self.client.insert(zone, spec, &id).await {
                Ok(operation) => return Ok(Some(operation)),
                Err(GceError::AlreadyExists) => return Ok(None),
                Err(error) if error.is_transient() && Instant::now() + pause < deadline => {
                    metrics::counter!("nova_gce_retries_total").increment(1);
                    tracing::info!(zone, vm = %spec.name, ?pause, "GCE asked to slow down: {error}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.settings.rate_limit_pause * 16);
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn wait_running(&self, zone: &str, name: &str, deadline: Instant) -> Result<(), GceError> {
        let mut pause = Duration::from_millis(5);
        loop {
            let status = self.client.get(zone, name).await?.status;
            match status.as_str() {
                "RUNNING" => return Ok(()),
                "STOPPING" | "TERMINATED" | "SUSPENDED" => {
                    return Err(GceError::OperationFailed { code: status, message: format!("{name} is not running") });
                }
                _ if Instant::now() + pause >= deadline => return Err(GceError::Timeout(self.settings.boot_timeout)),
                _ => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    pub fn project(&self) -> &str {
        &self.settings.project
    }

    pub fn zones(&self) -> &[String] {
        &self.settings.zones
    }

    /// How long a create may take: younger VMs may be on their way to being recorded.
    pub fn census_interval(&self) -> Duration {
        self.settings.census_interval
    }

    pub fn boot_timeout(&self) -> Duration {
        self.settings.boot_timeout
    }

    /// The image offices' own VMs are created from.
    pub fn image(&self) -> &str {
        &self.settings.image
    }

    /// Polls the agent until it answers; one that never does is deleted (the watchdog).
    pub async fn wait_healthy(&self, zone: &str, name: &str) -> Result<Vm, CreateError> {
        let agent_url = self.agent_url(zone, name);
        let url = format!("{agent_url}/healthz");
        let deadline = Instant::now() + self.settings.health_timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Ok(response) = self.http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(Vm { name: name.to_owned(), zone: zone.to_owned(), agent_url });
            }
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        metrics::counter!("nova_gce_unhealthy_total").increment(1);
        tracing::error!(vm = name, zone, "the agent never answered; deleting the VM");
        if let Err(error) = self.delete(zone, name).await {
            tracing::error!(vm = name, zone, "cannot delete the unhealthy VM: {error}");
        }
        Err(CreateError::Unhealthy { name: name.to_owned(), after: self.settings.health_timeout })
    }

    /// Deletes a VM and waits (bounded) for GCE to finish; a VM already gone is fine.
    pub async fn delete(&self, zone: &str, name: &str) -> Result<(), GceError> {
        let deadline = Instant::now() + self.settings.boot_timeout;
        let operation = match self.client.delete(zone, name, &request_id(name, zone, "delete")).await {
            Ok(operation) => operation,
            Err(GceError::NotFound) => return Ok(()),
            Err(error) => return Err(error),
        };
        let done = self.client.wait(&operation, deadline).await?;
        match done.error {
            Some((code, message)) => Err(GceError::OperationFailed { code, message }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<GceSettings>, SettingsError> {
        let env: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        GceSettings::from_env(|k| env.get(k).cloned())
    }

    #[test]
    fn settings_come_from_the_environment_with_clear_errors() {
        assert_eq!(read(&[]).unwrap().map(|s| s.project), None);
        let image = "projects/acme/global/images/nova-office-1";
        let full = read(&[
            ("GCE_PROJECT", "acme"),
            ("GCE_ZONE", "europe-west1-b"),
            ("GCE_FALLBACK_ZONES", "europe-west1-c, europe-west1-b,,europe-west1-d"),
            ("GCE_IMAGE", image),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(full.zones, ["europe-west1-b", "europe-west1-c", "europe-west1-d"]);
        assert_eq!(full.api_url, client::DEFAULT_API_URL);
        assert_eq!(read(&[("GCE_PROJECT", "acme")]).unwrap_err(), SettingsError::Missing("GCE_ZONE"));
        let no_image = [("GCE_PROJECT", "acme"), ("GCE_ZONE", "z")];
        assert_eq!(read(&no_image).unwrap_err(), SettingsError::Missing("GCE_IMAGE"));
        let bad_image = [("GCE_PROJECT", "acme"), ("GCE_ZONE", "z"), ("GCE_IMAGE", "debian-12")];
        assert_eq!(read(&bad_image).unwrap_err(), SettingsError::BadImage);
        let bad_url = [("GCE_PROJECT", "a"), ("GCE_ZONE", "z"), ("GCE_IMAGE", image), ("GCE_API_URL", "compute.local")];
        assert_eq!(read(&bad_url).unwrap_err(), SettingsError::BadUrl("GCE_API_URL"));
        let bad_agent = [("GCE_PROJECT", "a"), ("GCE_ZONE", "z"), ("GCE_IMAGE", image), ("GCE_AGENT_URL", "vm:7878")];
        assert_eq!(read(&bad_agent).unwrap_err(), SettingsError::BadUrl("GCE_AGENT_URL"));
        assert_eq!(full.agent_url, DEFAULT_AGENT_URL);
    }

    #[test]
    fn names_are_deterministic_and_valid_for_gce() {
        assert_eq!(instance_name("maker", 3), "nova-maker-g3");
        assert_eq!(parse_instance_name("nova-maker-g3"), Some(("maker", 3)));
        assert_eq!(parse_instance_name("nova-big-gun-g12"), Some(("big-gun", 12)));
        assert_eq!(parse_instance_name("web-1"), None);
        assert_eq!(instance_name("Data_Team!", 12), "nova-data-team-g12");
        let long = instance_name(&"x".repeat(100), i64::MAX);
        assert!(long.len() <= 63, "{long}");
        assert_eq!(
            request_id("nova-maker-g3", "europe-west1-b", "insert"),
            request_id("nova-maker-g3", "europe-west1-b", "insert")
        );
        assert_ne!(
            request_id("nova-maker-g3", "europe-west1-b", "insert"),
            request_id("nova-maker-g3", "europe-west1-c", "insert")
        );
    }
}
