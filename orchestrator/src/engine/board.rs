//! The board: the fleet at a glance. Offices as their chain of command with what each is
//! doing (state, tasks held, runs, queue), what it has spent against its budget and what
//! waits on people; the tasks; and each office's week in figures.

use super::*;
use crate::store::{TaskState, approvals, tasks};

/// One office on the board.
#[derive(Debug, Clone, Serialize)]
pub struct BoardOffice {
    pub name: String,
    pub role: String,
    pub reports_to: Option<String>,
    pub state: OfficeState,
    pub failure: Option<String>,
    /// Tasks it holds now: `(id, title)`.
    pub tasks: Vec<(i64, String)>,
    pub running: u64,
    pub queued: u64,
    pub spent_month_usd: f64,
    pub budget_usd: Option<f64>,
    pub pending_approvals: usize,
}

/// One office's last seven days.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WeekStats {
    pub office: String,
    /// Threads it worked in.
    pub sessions: usize,
    /// People (not offices) who asked it for work.
    pub people: usize,
    pub results: usize,
    pub failed: usize,
    /// Median time from a prompt to the office starting on it.
    pub first_response_ms: Option<i64>,
    /// Median time from a prompt to its result.
    pub result_ms: Option<i64>,
    pub tasks_done: usize,
    pub cost_usd: f64,
    pub cost_per_result_usd: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub workspace: String,
    pub budget_usd: Option<f64>,
    pub spent_month_usd: f64,
    pub offices: Vec<BoardOffice>,
    /// Open and held tasks, then the latest closed ones.
    pub tasks: Vec<tasks::Model>,
    pub week: Vec<WeekStats>,
}

/// The middle value, if there is one.
fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

/// Each office's week from its prompts (`since` on), tasks and spend.
pub fn week_stats(
    offices: &[String],
    prompts: &[prompts::Model],
    tasks: &[tasks::Model],
    spend: &std::collections::BTreeMap<String, budgets::Spend>,
    since: i64,
) -> Vec<WeekStats> {
    offices
        .iter()
        .map(|office| {
            let mine: Vec<&prompts::Model> = prompts.iter().filter(|p| &p.office == office).collect();
            let sessions: HashSet<&str> = mine.iter().map(|p| p.thread_id.as_str()).collect();
            let people: HashSet<&str> =
                mine.iter().map(|p| p.author.as_str()).filter(|author| !offices.iter().any(|o| o == author)).collect();
            let done: Vec<&&prompts::Model> = mine.iter().filter(|p| p.state == PromptState::Done).collect();
            let cost = spend.get(office).map_or(0.0, budgets::Spend::total);
            WeekStats {
                office: office.clone(),
                sessions: sessions.len(),
                people: people.len(),
                results: done.len(),
                failed: mine.iter().filter(|p| p.state == PromptState::Failed).count(),
                first_response_ms: median(mine.iter().filter_map(|p| Some(p.dispatched_at? - p.created_at)).collect()),
                result_ms: median(done.iter().filter_map(|p| Some(p.finished_at? - p.created_at)).collect()),
                tasks_done: tasks
                    .iter()
                    .filter(|t| t.state == TaskState::Done && t.holder.as_deref() == Some(office.as_str()))
                    .filter(|t| t.updated_at >= since)
                    .count(),
                cost_usd: cost,
                cost_per_result_usd: (!done.is_empty()).then(|| cost / done.len() as f64),
            }
        })
        .collect()
}

impl Engine {
    pub async fn board(&self) -> anyhow::Result<Board> {
        let config = self.config();
        let now = now_ms();
        let month = self.spend_since(budgets::month_start(now, config.workspace.time_zone)).await?;
        let week_since = now - 7 * 86_400_000;
        let week_spend = self.spend_since(week_since).await?;
        let all_tasks = self.store.tasks(None).await?;
        let pending: Vec<approvals::Model> = self.store.approvals_in_state(ApprovalState::Pending).await?;
        let mut offices = Vec::with_capacity(config.offices.len());
        for office in &config.offices {
            let row = self.store.office(&office.name).await?;
            offices.push(BoardOffice {
                name: office.name.clone(),
                role: office.role.clone(),
                reports_to: office.reports_to.clone(),
                state: row.as_ref().map_or(OfficeState::Asleep, |r| r.state),
                failure: row.and_then(|r| r.failure),
                tasks: all_tasks
                    .iter()
                    .filter(|t| t.state == TaskState::Claimed && t.holder.as_deref() == Some(office.name.as_str()))
                    .map(|t| (t.id, t.title.clone()))
                    .collect(),
                running: self.store.count_prompts(&office.name, &[PromptState::Dispatched]).await?,
                queued: self.store.count_prompts(&office.name, &[PromptState::Held]).await?,
                spent_month_usd: month.get(&office.name).map_or(0.0, budgets::Spend::total),
                budget_usd: office.budget_usd,
                pending_approvals: pending.iter().filter(|a| a.office == office.name).count(),
            });
        }
        let names: Vec<String> = config.offices.iter().map(|o| o.name.clone()).collect();
        let prompts = self.store.prompts_since(week_since).await?;
        let week = week_stats(&names, &prompts, &all_tasks, &week_spend, week_since);
        let (open, closed): (Vec<_>, Vec<_>) = all_tasks.into_iter().partition(|t| !t.state.is_closed());
        let mut tasks = open;
        let mut closed = closed;
        closed.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
        tasks.extend(closed.into_iter().take(20));
        Ok(Board {
            workspace: config.workspace.name.clone(),
            budget_usd: config.workspace.budget,
            // Not `sum()`: an empty one is -0.0, which prints as "$-0.00".
            spent_month_usd: month.values().map(budgets::Spend::total).fold(0.0, |sum, usd| sum + usd),
            offices,
            tasks,
            week,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(office: &str, author: &str, thread: &str, state: PromptState, times: (i64, i64, i64)) -> prompts::Model {
        prompts::Model {
            id: 0,
            thread_id: thread.into(),
            office: office.into(),
            author: author.into(),
            text: String::new(),
            state,
            run_id: String::new(),
            inbound_id: 0,
            created_at: times.0,
            dispatched_at: Some(times.1),
            finished_at: Some(times.2),
            handoff_from: None,
        }
    }

    #[test]
    fn a_week_counts_sessions_people_and_medians_and_leaves_offices_out_of_people() {
        let offices = vec!["maker".to_owned(), "writer".to_owned()];
        let prompts = [
            prompt("maker", "alice", "t1", PromptState::Done, (0, 100, 1_000)),
            prompt("maker", "alice", "t1", PromptState::Done, (0, 300, 3_000)),
            prompt("maker", "bob", "t2", PromptState::Failed, (0, 200, 500)),
            prompt("maker", "writer", "t3", PromptState::Done, (0, 50, 2_000)),
        ];
        let mut spend = std::collections::BTreeMap::new();
        spend.insert("maker".to_owned(), budgets::Spend { model_usd: 3.0, ..Default::default() });
        let week = week_stats(&offices, &prompts, &[], &spend, 0);
        assert_eq!(
            week[0],
            WeekStats {
                office: "maker".into(),
                sessions: 3,
                people: 2,
                results: 3,
                failed: 1,
                first_response_ms: Some(200),
                result_ms: Some(2_000),
                tasks_done: 0,
                cost_usd: 3.0,
                cost_per_result_usd: Some(1.0),
            }
        );
        assert_eq!(week[1], WeekStats { office: "writer".into(), ..Default::default() });
    }
}
