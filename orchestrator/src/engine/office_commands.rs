//! What an office may ask Nova about the fleet in plain language (the `command` skill):
//! "what is the writer doing?", "what tasks are open?", "make a task for the analyst:
//! …", "hand this to the writer: …". Read by the same reader as people's requests and
//! answered by the same code, but an office is an untrusted caller: one check, first,
//! lets it read the fleet's state and hand work on, never change or stop the fleet,
//! read approvals or the audit trail, or see another office's spend.

use super::*;

use crate::ask::{Action, Kind, Message};

/// Why an office's command was refused. Callers branch on it (HTTP statuses).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandRefusal {
    #[error("{0}")]
    BadKey(KeyError),
    #[error("run `{0}` is not running in this office")]
    UnknownRun(String),
    #[error(
        "Nova did not read that as a request about the fleet: ask for a status, the tasks, the schedules or your spend, make a task, or hand work to an office"
    )]
    NotUnderstood,
    #[error("an office may not {0}: ask a person in the thread")]
    NotForOffices(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// What an office may ask of Nova: the action to carry out (possibly narrowed to the
/// office itself), or what it may not do. The one permission check of office commands.
pub fn office_may(office: &str, action: Action) -> Result<Action, CommandRefusal> {
    use CommandRefusal::NotForOffices;
    match action {
        Action::Help {}
        | Action::Status { .. }
        | Action::Tasks { .. }
        | Action::Reviews {}
        | Action::Schedules { .. }
        | Action::MakeTask { .. }
        | Action::Handoff { .. } => Ok(action),
        Action::Spend { office: None, period } => Ok(Action::Spend { office: Some(office.to_owned()), period }),
        Action::Spend { office: Some(other), period } if other == office => {
            Ok(Action::Spend { office: Some(other), period })
        }
        Action::Spend { .. } => Err(NotForOffices("see another office's spend")),
        Action::Approvals {} => Err(NotForOffices("read the approvals")),
        Action::Audit { .. } => Err(NotForOffices("read the audit trail")),
        Action::Wake { .. } | Action::Sleep { .. } => Err(NotForOffices("wake or put offices to sleep")),
        Action::Stop { .. } => Err(NotForOffices("stop runs")),
        Action::Schedule { .. } | Action::ChangeSchedule { .. } => Err(NotForOffices("schedule work")),
        // An office ends the tasks it holds through the task API; taking work from
        // others or handing it out is for people.
        Action::CancelTask { .. } | Action::AssignTask { .. } => Err(NotForOffices("cancel or give out tasks")),
        Action::CreateOffice(_) | Action::UpdateOffice { .. } | Action::RetireOffice { .. } | Action::AddRepo(_) => {
            Err(NotForOffices("change the fleet"))
        }
    }
}

impl From<RunRefusal> for CommandRefusal {
    fn from(refusal: RunRefusal) -> Self {
        match refusal {
            RunRefusal::BadKey(error) => Self::BadKey(error),
            RunRefusal::UnknownRun(run) => Self::UnknownRun(run),
        }
    }
}

impl Engine {
    /// An office's plain-language request, for the run it is in: the answer, or why not.
    /// Every request is audited (`office_command`), refused ones too.
    pub async fn office_command(
        self: &Arc<Self>,
        token: &str,
        run_id: &str,
        text: &str,
    ) -> anyhow::Result<Result<String, CommandRefusal>> {
        let (office, prompt) = match self.office_run(token, run_id).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if text.trim().is_empty() || text.chars().count() > MAX_MESSAGE_CHARS {
            let message = format!("a request is 1–{MAX_MESSAGE_CHARS} characters");
            return Ok(Err(CommandRefusal::Invalid(message)));
        }
        // Offline only: an office's words never reach the reading model, and a guess is
        // not acted on.
        let understanding = self.live().reader.understand(&Message { channel: "", text, thread: &[] });
        let read = match (understanding.kind, understanding.action) {
            (Kind::Fleet, Some(action)) if understanding.confidence >= crate::ask::UNSURE => {
                office_may(&office.name, action)
            }
            _ => Err(CommandRefusal::NotUnderstood),
        };
        let outcome = match read {
            Ok(action) => self.carry_out_for_office(token, &office.name, run_id, &prompt, action).await?,
            Err(refusal) => Err(refusal),
        };
        let details = match &outcome {
            Ok(_) => serde_json::json!({"text": text, "rule": understanding.rule}),
            Err(refusal) => serde_json::json!({"text": text, "refused": refusal.to_string()}),
        };
        self.record(&office.name, &office.name, Some(run_id), "office_command", details).await;
        Ok(outcome)
    }

    async fn carry_out_for_office(
        self: &Arc<Self>,
        token: &str,
        office: &str,
        run_id: &str,
        prompt: &prompts::Model,
        action: Action,
    ) -> anyhow::Result<Result<String, CommandRefusal>> {
        Ok(match action {
            Action::MakeTask { office: owner, title: Some(title) } => {
                if self.store.tasks_created_by_run(run_id).await? >= MAX_TASKS_PER_RUN {
                    let message = format!("a run may create at most {MAX_TASKS_PER_RUN} tasks");
                    return Ok(Err(CommandRefusal::Invalid(message)));
                }
                let ask = TaskAsk { title, owner: Some(owner), ..TaskAsk::default() };
                match self.create_task(&prompt.thread_id, office, Some(run_id), ask).await? {
                    Ok(task) => {
                        Ok(format!("made task #{} for {}: {}", task.id, task.owner.unwrap_or_default(), task.title))
                    }
                    Err(refusal) => Err(CommandRefusal::Invalid(refusal.to_string())),
                }
            }
            Action::MakeTask { title: None, .. } => Err(CommandRefusal::Invalid("say what the task is".to_owned())),
            Action::Handoff { to, prompt: Some(work), .. } => {
                match self.hand_off(token, run_id, HandoffAsk { to, prompt: work }).await? {
                    Ok(to) => Ok(format!("handed to {to}; its outcome will come back to you as a new message")),
                    Err(refusal) => Err(CommandRefusal::Invalid(refusal.to_string())),
                }
            }
            Action::Handoff { prompt: None, .. } => {
                Err(CommandRefusal::Invalid("say what the other office should do".to_owned()))
            }
            reading => match self.answer(&reading).await? {
                Some(answer) => Ok(answer.replace("**", "")),
                None => Err(CommandRefusal::NotUnderstood),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_office_may_read_the_fleet_and_hand_work_on_but_never_change_or_stop_it() {
        let allowed = [
            Action::Status { office: Some("writer".into()) },
            Action::Tasks { office: None },
            Action::Schedules { office: None },
            Action::Help {},
            Action::MakeTask { office: "writer".into(), title: Some("Draft the notes".into()) },
            Action::Handoff { from: None, to: "writer".into(), prompt: Some("draft it".into()) },
        ];
        for action in allowed {
            assert_eq!(office_may("maker", action.clone()), Ok(action));
        }
        assert_eq!(
            office_may("maker", Action::Spend { office: None, period: None }),
            Ok(Action::Spend { office: Some("maker".into()), period: None }),
            "its own spend"
        );
        let refused = [
            (Action::Spend { office: Some("writer".into()), period: None }, "see another office's spend"),
            (Action::Approvals {}, "read the approvals"),
            (Action::Audit { office: None, since: None }, "read the audit trail"),
            (Action::Sleep { office: "writer".into() }, "wake or put offices to sleep"),
            (Action::Stop { office: None }, "stop runs"),
            (Action::RetireOffice { office: "writer".into() }, "change the fleet"),
            // A runtime cannot take another office's task away, or hand out its own.
            (Action::CancelTask { id: 1 }, "cancel or give out tasks"),
            (Action::AssignTask { id: 1, office: Some("maker".into()) }, "cancel or give out tasks"),
        ];
        for (action, what) in refused {
            assert_eq!(office_may("maker", action), Err(CommandRefusal::NotForOffices(what)));
        }
    }
}
