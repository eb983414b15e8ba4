//! Budgets that stop spend before it happens. What an office costs this calendar month
//! (UTC) is its model use (the cost its runtime reports, else its tokens at the
//! `[prices]` of their model) plus its machine time (hours awake at its tier's price).
//! Held against the office's `budget` and the workspace's:
//! - at [`WARN_AT`] of either, only critical work starts (a prompt that says "urgent" or
//!   "critical"); the thread of anything held is told once why;
//! - at 100%, nothing starts: the office is not woken, warmed or sent a run. Nova posts an
//!   approval card to double the office's budget (a fleet change, approved like any);
//!   approving it, or any raise, lets the held work run.
//!
//! `nova spend`, the orchestrator's spend answers and the board read the same figures.

use std::collections::BTreeMap;

use chrono::Datelike as _;
use chrono_tz::Tz;

use super::*;
use crate::config::Config;

/// The share of a budget past which only critical work starts.
pub const WARN_AT: f64 = 0.8;
/// What a stored snapshot costs: object storage (GCS Standard, us-central1), USD per
/// GB-month of 730 hours.
pub const SNAPSHOT_USD_PER_GB_MONTH: f64 = 0.020;

/// What one office has cost over a span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spend {
    pub model_usd: f64,
    pub machine_usd: f64,
    /// Its latest snapshot, stored while it sleeps (and after).
    pub storage_usd: f64,
    pub awake_hours: f64,
    pub runs_reporting: u64,
    pub tokens: u64,
}

impl Spend {
    pub fn total(&self) -> f64 {
        self.model_usd + self.machine_usd + self.storage_usd
    }
}

/// Which budget binds, and how far along it is.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetState {
    Within,
    /// Past [`WARN_AT`]: critical work only.
    Warning {
        scope: BudgetScope,
        spent: f64,
        budget: f64,
    },
    /// Spent: nothing starts.
    Spent {
        scope: BudgetScope,
        spent: f64,
        budget: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum BudgetScope {
    Office(String),
    Workspace,
}

/// Midnight on `zone`'s clock on the first of `now`'s month there, in milliseconds.
pub fn month_start(now_ms: i64, zone: Tz) -> i64 {
    let today = local_date(now_ms, zone);
    midnight(today.with_day(1).unwrap_or(today), zone)
}

/// The date `zone`'s clock shows at `at_ms`.
fn local_date(at_ms: i64, zone: Tz) -> chrono::NaiveDate {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms).unwrap_or_default().with_timezone(&zone).date_naive()
}

/// The first moment of `day` on `zone`'s clock.
fn midnight(day: chrono::NaiveDate, zone: Tz) -> i64 {
    crate::schedule::in_zone(zone, day.and_time(chrono::NaiveTime::MIN)).timestamp_millis()
}

/// Whether a prompt asks for work that runs even near a budget's end.
pub fn is_critical(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("urgent") || word.eq_ignore_ascii_case("critical"))
}

/// Spend per office from audit rows (`usage`; the lifecycle rows that bound awake time,
/// `wake` up to `snapshot`, `office_lost` or `wake_failed`; and each `snapshot`'s size,
/// stored until the next), between `since` and `until`.
pub fn spend_from_audit(
    config: &Config,
    rows: &[store::audit::Model],
    since: i64,
    until: i64,
) -> BTreeMap<String, Spend> {
    let mut spend: BTreeMap<String, Spend> = BTreeMap::new();
    let mut awake_since: HashMap<String, i64> = HashMap::new();
    let mut awake_ms: HashMap<String, i64> = HashMap::new();
    let span = |from: i64, to: i64| (to.min(until) - from.max(since)).max(0);
    let mut add_awake = |office: &str, from: i64, to: i64| {
        *awake_ms.entry(office.to_owned()).or_default() += span(from, to);
    };
    // office → (stored since, bytes), and the GB-hours stored so far.
    let mut stored: HashMap<String, (i64, f64)> = HashMap::new();
    let mut gb_hours: HashMap<String, f64> = HashMap::new();
    let mut add_stored = |office: &str, from: i64, to: i64, bytes: f64| {
        *gb_hours.entry(office.to_owned()).or_default() += bytes / 1e9 * span(from, to) as f64 / 3_600_000.0;
    };
    for row in rows {
        let Some(office) = row.office.as_deref() else { continue };
        match row.action.as_str() {
            "usage" if row.at >= since && row.at < until => {
                let details: serde_json::Value = serde_json::from_str(&row.details).unwrap_or_default();
                let (input, output) =
                    (details["input_tokens"].as_u64().unwrap_or(0), details["output_tokens"].as_u64().unwrap_or(0));
                let reported = details["cost_usd"].as_f64().filter(|cost| *cost > 0.0);
                let priced = details["model"]
                    .as_str()
                    .and_then(|model| config.prices.get(model))
                    .map(|price| (input as f64 * price.input + output as f64 * price.output) / 1_000_000.0);
                let entry = spend.entry(office.to_owned()).or_default();
                entry.model_usd += reported.or(priced).unwrap_or(0.0);
                entry.runs_reporting += 1;
                entry.tokens += input + output;
            }
            "wake" => {
                awake_since.entry(office.to_owned()).or_insert(row.at);
            }
            "snapshot" | "office_lost" | "wake_failed" => {
                if let Some(from) = awake_since.remove(office) {
                    add_awake(office, from, row.at);
                }
                if row.action == "snapshot" {
                    let details: serde_json::Value = serde_json::from_str(&row.details).unwrap_or_default();
                    let bytes = details["bytes"].as_f64().unwrap_or(0.0);
                    if let Some((from, before)) = stored.insert(office.to_owned(), (row.at, bytes)) {
                        add_stored(office, from, row.at, before);
                    }
                }
            }
            _ => {}
        }
    }
    for (office, from) in awake_since {
        add_awake(&office, from, until);
    }
    for (office, (from, bytes)) in stored {
        add_stored(&office, from, until, bytes);
    }
    for (office, gb_hours) in gb_hours {
        spend.entry(office).or_default().storage_usd = gb_hours * SNAPSHOT_USD_PER_GB_MONTH / 730.0;
    }
    for (office, ms) in awake_ms {
        let tier = config.office(&office).map_or(1, |o| o.tier);
        let price = provisioner::tiers::tier(tier).map_or(0.0, |t| t.usd_per_hour);
        let entry = spend.entry(office).or_default();
        entry.awake_hours = ms as f64 / 3_600_000.0;
        entry.machine_usd = entry.awake_hours * price;
    }
    spend
}

/// The span a spend period covers: a day or a week back to now, today or yesterday, the
/// calendar month or year so far, or the whole month or year before it (calendar ones
/// on `zone`'s clock).
pub fn period_span(period: crate::ask::when::Period, now: i64, zone: Tz) -> std::ops::Range<i64> {
    use crate::ask::when::Period;
    match period {
        Period::Day => now - 86_400_000..now,
        Period::Today => midnight(local_date(now, zone), zone)..now,
        Period::Yesterday => {
            let today = local_date(now, zone);
            midnight(today.pred_opt().unwrap_or(today), zone)..midnight(today, zone)
        }
        Period::Week => now - 7 * 86_400_000..now,
        Period::Month => month_start(now, zone)..now,
        Period::LastMonth => month_start(month_start(now, zone) - 1, zone)..month_start(now, zone),
        Period::Year => year_start(now, zone)..now,
        Period::LastYear => year_start(year_start(now, zone) - 1, zone)..year_start(now, zone),
    }
}

/// The first moment of `now_ms`'s calendar year on `zone`'s clock.
fn year_start(now_ms: i64, zone: Tz) -> i64 {
    let today = local_date(now_ms, zone);
    midnight(today.with_ordinal(1).unwrap_or(today), zone)
}

/// Spend per office between `since` and now, as `nova spend`, the orchestrator and the
/// budgets all read it.
pub async fn spend_since(store: &Store, config: &Config, since: i64) -> anyhow::Result<BTreeMap<String, Spend>> {
    spend_between(store, config, since..now_ms()).await
}

/// Spend per office in `span` (a period that ended, as "last month", or one that runs).
pub async fn spend_between(
    store: &Store,
    config: &Config,
    span: std::ops::Range<i64>,
) -> anyhow::Result<BTreeMap<String, Spend>> {
    // An office awake when the span began woke before it: look back far enough to see that.
    let rows = store
        .audit_rows(&["usage", "wake", "snapshot", "office_lost", "wake_failed"], span.start - 7 * 86_400_000)
        .await?;
    Ok(spend_from_audit(config, &rows, span.start, span.end))
}

impl Engine {
    pub async fn spend_since(&self, since: i64) -> anyhow::Result<BTreeMap<String, Spend>> {
        spend_since(&self.store, &self.config(), since).await
    }

    pub async fn spend_in(&self, period: crate::ask::when::Period) -> anyhow::Result<BTreeMap<String, Spend>> {
        let config = self.config();
        spend_between(&self.store, &config, period_span(period, now_ms(), config.workspace.time_zone)).await
    }

    /// Where `office` stands against its budget and the workspace's this month.
    pub(super) async fn budget_state(&self, office: &str) -> anyhow::Result<BudgetState> {
        let config = self.config();
        let office_budget = config.office(office).and_then(|o| o.budget_usd);
        let workspace_budget = config.workspace.budget;
        if office_budget.is_none() && workspace_budget.is_none() {
            return Ok(BudgetState::Within);
        }
        let spend = self.spend_since(month_start(now_ms(), config.workspace.time_zone)).await?;
        let mut state = BudgetState::Within;
        let checks = [
            office_budget.map(|budget| {
                (BudgetScope::Office(office.to_owned()), spend.get(office).map_or(0.0, Spend::total), budget)
            }),
            workspace_budget.map(|budget| (BudgetScope::Workspace, spend.values().map(Spend::total).sum(), budget)),
        ];
        for (scope, spent, budget) in checks.into_iter().flatten() {
            if spent >= budget {
                return Ok(BudgetState::Spent { scope, spent, budget });
            }
            if spent >= budget * WARN_AT && state == BudgetState::Within {
                state = BudgetState::Warning { scope, spent, budget };
            }
        }
        Ok(state)
    }

    /// `(spent, budget)` when a budget `office` is held to is spent: nothing may start.
    pub(super) async fn over_budget(&self, office: &str) -> anyhow::Result<Option<(f64, f64)>> {
        Ok(match self.budget_state(office).await? {
            BudgetState::Spent { spent, budget, .. } => Some((spent, budget)),
            _ => None,
        })
    }

    /// Whether the budget lets `office` start work asked for in `text`.
    pub(super) async fn budget_would_start(&self, office: &str, text: &str) -> anyhow::Result<bool> {
        Ok(match self.budget_state(office).await? {
            BudgetState::Within => true,
            BudgetState::Warning { .. } => is_critical(text),
            BudgetState::Spent { .. } => false,
        })
    }

    /// The held prompts of `office` the budget lets start now, oldest first: all of
    /// them within budget, only critical ones past [`WARN_AT`], none once spent. The
    /// thread of each prompt held back is told once why (and the audit trail).
    pub(super) async fn budget_allows(
        &self,
        office: &str,
        held: Vec<prompts::Model>,
    ) -> anyhow::Result<Vec<prompts::Model>> {
        let state = self.budget_state(office).await?;
        let (scope, spent, budget, critical_only) = match &state {
            BudgetState::Within => return Ok(held),
            BudgetState::Warning { scope, spent, budget } => (scope, *spent, *budget, true),
            BudgetState::Spent { scope, spent, budget } => (scope, *spent, *budget, false),
        };
        let mut allowed = Vec::new();
        for prompt in self.store.oldest_prompts(office, PromptState::Held, None).await? {
            let may_run = critical_only && is_critical(&prompt.text);
            if may_run {
                if held.iter().any(|h| h.id == prompt.id) {
                    allowed.push(prompt);
                }
                continue;
            }
            if !self.budget_told.lock().expect("budget lock").insert(prompt.run_id.clone()) {
                continue;
            }
            let whose = match scope {
                BudgetScope::Office(name) => name.clone(),
                BudgetScope::Workspace => "the workspace".to_owned(),
            };
            let details = serde_json::json!({
                "spent_usd": spent, "budget_usd": budget, "scope": whose, "critical_only": critical_only
            });
            let (action, text) = if critical_only {
                ("budget_warning", texts::budget_critical_only(office, &whose, spent, budget))
            } else {
                ("budget_stop", texts::over_budget(office, &whose, spent, budget))
            };
            self.record("nova", office, Some(&prompt.run_id), action, details).await;
            self.post(&prompt.thread_id, MessageKind::Text, &text, None, None).await?;
            if !critical_only && matches!(scope, BudgetScope::Office(_)) {
                self.offer_budget_raise(&prompt.thread_id, office, budget).await?;
            }
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_starts_at_midnight_utc_on_the_first() {
        // 2026-12-05T07:40:00Z
        assert_eq!(month_start(1_796_456_400_000, Tz::UTC), 1_796_083_200_000);
        assert_eq!(month_start(1_796_083_200_000, Tz::UTC), 1_796_083_200_000);
    }

    #[test]
    fn periods_span_calendar_months_and_years() {
        use crate::ask::when::Period;
        let ms = |text: &str| chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis();
        let now = ms("2026-01-05T07:40:00Z");
        let span = |period| period_span(period, now, Tz::UTC);
        assert_eq!(span(Period::Month), ms("2026-01-01T00:00:00Z")..now);
        assert_eq!(span(Period::LastMonth), ms("2025-12-01T00:00:00Z")..ms("2026-01-01T00:00:00Z"));
        assert_eq!(span(Period::Year), ms("2026-01-01T00:00:00Z")..now);
        assert_eq!(span(Period::LastYear), ms("2025-01-01T00:00:00Z")..ms("2026-01-01T00:00:00Z"));
        assert_eq!(span(Period::Week), now - 7 * 86_400_000..now);
    }

    #[test]
    fn calendar_months_and_years_are_the_workspace_s() {
        use crate::ask::when::Period;
        let ms = |text: &str| chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis();
        // 1 January 06:00 in Tokyo is still 31 December in UTC: Tokyo's team is in the new year.
        let tokyo = Tz::Asia__Tokyo;
        let now = ms("2026-01-01T06:00:00+09:00");
        assert_eq!(period_span(Period::Month, now, tokyo), ms("2026-01-01T00:00:00+09:00")..now);
        assert_eq!(period_span(Period::Year, now, tokyo), ms("2026-01-01T00:00:00+09:00")..now);
        assert_eq!(
            period_span(Period::LastMonth, now, tokyo),
            ms("2025-12-01T00:00:00+09:00")..ms("2026-01-01T00:00:00+09:00")
        );
        // The budget's month in Los Angeles starts eight hours after UTC's.
        let los_angeles = Tz::America__Los_Angeles;
        let now = ms("2026-12-01T05:00:00Z");
        assert_eq!(month_start(now, los_angeles), ms("2026-11-01T00:00:00-07:00"));
        assert_eq!(month_start(ms("2026-12-01T09:00:00Z"), los_angeles), ms("2026-12-01T00:00:00-08:00"));
        // Today and yesterday are the team's days: at 01:00 in Tokyo, today is an hour old.
        let now = ms("2026-12-08T01:00:00+09:00");
        assert_eq!(period_span(Period::Today, now, tokyo), ms("2026-12-08T00:00:00+09:00")..now);
        assert_eq!(
            period_span(Period::Yesterday, now, tokyo),
            ms("2026-12-07T00:00:00+09:00")..ms("2026-12-08T00:00:00+09:00")
        );
        assert_eq!(period_span(Period::Day, now, tokyo), now - 86_400_000..now);
        // A day whose midnight the clock skips (Santiago, 6 September 2026) starts at 01:00.
        let santiago = Tz::America__Santiago;
        let first = chrono::NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(midnight(first, santiago), ms("2026-09-06T01:00:00-03:00"));
    }

    #[test]
    fn critical_work_says_so() {
        assert!(is_critical("URGENT: checkout is down"));
        assert!(is_critical("this is critical, roll back now"));
        assert!(!is_critical("tidy the criticality matrix"));
        assert!(!is_critical("write the release notes"));
    }

    fn row(office: &str, action: &str, at: i64, details: serde_json::Value) -> store::audit::Model {
        store::audit::Model {
            id: 0,
            at,
            actor: "nova".into(),
            office: Some(office.into()),
            run_id: None,
            action: action.into(),
            details: details.to_string(),
        }
    }

    #[test]
    fn spend_is_priced_model_use_plus_machine_time() {
        let mut config = Config::demo();
        config.prices.insert("small".into(), crate::config::ModelPrice { input: 1.0, output: 4.0 });
        let hour = 3_600_000;
        let rows = [
            // Awake from before the span: only the part inside counts.
            row("maker", "wake", -hour, serde_json::json!({})),
            row(
                "maker",
                "usage",
                10,
                serde_json::json!({"model": "small", "input_tokens": 1_000_000, "output_tokens": 500_000}),
            ),
            row(
                "maker",
                "usage",
                20,
                serde_json::json!({"model": "unknown", "input_tokens": 9, "output_tokens": 9, "cost_usd": 0.25}),
            ),
            row("maker", "snapshot", 2 * hour, serde_json::json!({"bytes": 730_000_000_000u64})),
            // Still awake at the end of the span.
            row("writer", "wake", 3 * hour, serde_json::json!({})),
        ];
        let spend = spend_from_audit(&config, &rows, 0, 4 * hour);
        let maker = spend["maker"];
        assert!((maker.model_usd - 3.25).abs() < 1e-9, "{maker:?}");
        assert!((maker.awake_hours - 2.0).abs() < 1e-9, "{maker:?}");
        let tier_price = provisioner::tiers::tier(config.office("maker").unwrap().tier).unwrap().usd_per_hour;
        assert!((maker.machine_usd - 2.0 * tier_price).abs() < 1e-9);
        assert!((spend["writer"].awake_hours - 1.0).abs() < 1e-9);
        // 730 GB stored for the last 2 hours of the span: 1460 GB-hours, 2 GB-months.
        assert!((maker.storage_usd - 2.0 * SNAPSHOT_USD_PER_GB_MONTH).abs() < 1e-9, "{maker:?}");
        assert_eq!(spend["writer"].model_usd, 0.0);
    }

    #[test]
    fn a_period_that_ended_counts_nothing_after_its_end() {
        let config = Config::demo();
        let hour = 3_600_000;
        let usage = |at: i64| row("maker", "usage", at, serde_json::json!({"cost_usd": 1.0}));
        let rows = [
            row("maker", "wake", hour, serde_json::json!({})),
            usage(2 * hour),
            // After the span: what this month spent, not last month.
            usage(5 * hour),
            row("maker", "snapshot", 6 * hour, serde_json::json!({"bytes": 0})),
            row("writer", "wake", 7 * hour, serde_json::json!({})),
        ];
        let spend = spend_from_audit(&config, &rows, 0, 4 * hour);
        assert!((spend["maker"].model_usd - 1.0).abs() < 1e-9, "{:?}", spend["maker"]);
        assert!((spend["maker"].awake_hours - 3.0).abs() < 1e-9, "{:?}", spend["maker"]);
        assert!(spend.get("writer").is_none_or(|writer| writer.total() == 0.0), "{spend:?}");
    }
}
