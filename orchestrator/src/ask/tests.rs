use super::*;

fn reader() -> Reader {
    Reader::new(&Config::demo())
}

fn read(text: &str) -> Value {
    reader().understand(&Message { channel: "general", text, thread: &[] }).to_json()
}

/// A reader of a workspace with these offices (and one repo): for office names the demo
/// has not got, like a line of business, a pronoun or a fleet word.
fn reader_of(offices: &[&str]) -> impl Fn(&str) -> Value {
    let mut toml = "[workspace]\nname = \"test\"\n[[repos]]\nname = \"app\"\ndescription = \"The app.\"\n".to_owned();
    for office in offices {
        toml.push_str(&format!("[[offices]]\nname = \"{office}\"\nrole = \"Works on the app.\"\nrepos = [\"app\"]\n"));
    }
    let reader = Reader::new(&Config::parse(&toml, "test").unwrap());
    move |text| reader.understand(&Message { channel: "general", text, thread: &[] }).to_json()
}

/// Asserts that `text` reads as the fleet `action` on `office` (none: no office).
fn fleet_action(text: &str, action: &str, office: Option<&str>) {
    let read = read(text);
    assert_eq!(read["action"], action, "{text}");
    assert_eq!(read["args"]["office"].as_str(), office, "{text}");
}

fn read_in(thread: &[(&str, &str)], text: &str) -> Value {
    let thread: Vec<Said> = thread
        .iter()
        .map(|(author, text)| Said { speaker: Speaker::parse(author), text: (*text).to_owned() })
        .collect();
    reader().understand(&Message { channel: "general", text, thread: &thread }).to_json()
}

#[test]
fn the_demo_fleet_has_the_offices_these_tests_name() {
    let config = Config::demo();
    for office in ["maker", "operator", "analyst", "writer"] {
        assert!(config.office(office).is_some(), "{office}");
    }
}

#[test]
fn sleep_and_wake_in_many_words() {
    for text in ["sleep analyst", "put the analyst to sleep", "shut analyst down", "turn off the analyst office"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "sleep", "args": {"office": "analyst"}}), "{text}");
    }
    for text in ["wake the analyst up", "pls wake up anlyst", "spin up analyst", "get analyst ready"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "wake", "args": {"office": "analyst"}}), "{text}");
    }
}

#[test]
fn an_office_that_can_go_is_retired_but_one_that_can_go_ahead_or_to_sleep_is_not() {
    for text in ["the analyst office can go, we moved reporting to the vendor", "writer can go"] {
        assert_eq!(read(text)["action"], "retire_office", "{text}");
    }
    assert_eq!(read("the analyst can go to sleep")["action"], "sleep");
    assert_ne!(read("maker can go ahead with the migration")["action"], "retire_office");
    assert_ne!(read("it can go")["action"], "retire_office", "a pronoun retires nothing");
}

#[test]
fn stop_means_this_thread_unless_an_office_is_named() {
    let progress = [("U1", "@maker migrate the cart"), ("office:maker", "Started: 3/14 done.")];
    for text in ["stop", "stop it", "cancel that", "abort, we changed our minds", "whoa, stop stop"] {
        assert_eq!(read_in(&progress, text), json!({"kind": "fleet", "action": "stop", "args": {}}), "{text}");
    }
    assert_eq!(
        read("kill whatever operator is running, it's hammering the database"),
        json!({"kind": "fleet", "action": "stop", "args": {"office": "operator"}})
    );
    assert_eq!(read("stop the cron job from sending duplicate emails")["kind"], "work");
    for text in ["Stop!", "<@U0NOVA> stop", "@Nova stop it", "please stop"] {
        assert_eq!(read_in(&progress, text)["action"], "stop", "{text}");
    }
    for text in ["stop the deploy of the old cart", "don't stop", "nonstop", "stopping criteria are wrong"] {
        assert_ne!(read_in(&progress, text)["action"], "stop", "{text}");
    }
}

#[test]
fn agreement_takes_what_was_offered() {
    let offer = [("nova", "analyst has been idle for 3h. Put it to sleep?")];
    assert_eq!(read_in(&offer, "do it"), json!({"kind": "fleet", "action": "sleep", "args": {"office": "analyst"}}));
    let office_offer = [("U1", "fix the coupons"), ("office:maker", "Found it. Shall I open a PR?")];
    assert_eq!(read_in(&office_offer, "yes go ahead")["kind"], "work");
    assert_eq!(read("yes go ahead")["kind"], "unknown");
}

#[test]
fn questions_about_the_business_are_work_and_about_the_fleet_are_not() {
    assert_eq!(read("how much revenue did gift cards bring in last month?")["kind"], "work");
    assert_eq!(
        read("how much has the whole fleet cost us so far this month?"),
        json!({"kind": "fleet", "action": "spend", "args": {"period": "month"}})
    );
    assert_eq!(
        read("what did the analyst burn through this week?"),
        json!({"kind": "fleet", "action": "spend", "args": {"office": "analyst", "period": "week"}})
    );
    assert_eq!(
        read("for the annual accounts, what have all the offices cost us this year?"),
        json!({"kind": "fleet", "action": "spend", "args": {"period": "year"}})
    );
    assert_eq!(read("what did the analyst cost us last month?")["args"]["period"], "last_month");
    assert_eq!(read("what happened to last night's refund batch?")["kind"], "work");
    assert_eq!(
        read("what happened in the last 30 minutes?"),
        json!({"kind": "fleet", "action": "audit", "args": {"since": "30m"}})
    );
}

#[test]
fn changes_to_the_fleet_carry_their_arguments() {
    assert_eq!(
        read("create an office called scout for market and competitor research, tier 1, $40 a month"),
        json!({"kind": "fleet", "action": "create_office", "args": {
            "name": "scout", "role": "market and competitor research", "tier": 1, "budget_usd": 40.0}})
    );
    assert_eq!(
        read("bump operator to tier 4, deploys are crawling"),
        json!({"kind": "fleet", "action": "update_office", "args": {"office": "operator", "changes": {"tier": 4}}})
    );
    assert_eq!(
        read("keep the writer up for an hour when it goes idle"),
        json!({"kind": "fleet", "action": "update_office", "args": {"office": "writer", "changes": {"idle_timeout": "1h"}}})
    );
    assert_eq!(
        read("add a repo named loyalty: the points and rewards service, https://github.com/acme/loyalty"),
        json!({"kind": "fleet", "action": "add_repo", "args": {
            "name": "loyalty", "description": "points and rewards service", "url": "https://github.com/acme/loyalty"}})
    );
    assert_eq!(
        read("every monday at 9 have the analyst post last week's signups in #data"),
        json!({"kind": "fleet", "action": "schedule", "args": {
            "office": "analyst", "every": "monday 09:00", "prompt": "post last week's signups in #data"}})
    );
}

#[test]
fn a_schedule_said_on_another_clock_keeps_it_and_the_clock_stays_out_of_the_prompt() {
    let schedule = |text: &str| {
        let read = read(text);
        assert_eq!(read["action"], "schedule", "{text}");
        let args = &read["args"];
        (args["every"].clone(), args["prompt"].clone(), args["time_zone"].clone())
    };
    assert_eq!(
        schedule("every weekday at 9am Pacific have the analyst post yesterday's signups"),
        (json!("weekday 09:00"), json!("post yesterday's signups"), json!("America/Los_Angeles"))
    );
    assert_eq!(
        schedule("every monday at 9 London time have the writer post the newsletter"),
        (json!("monday 09:00"), json!("post the newsletter"), json!("Europe/London"))
    );
    assert_eq!(
        schedule("every day at 6 PST have maker check the nightly build"),
        (json!("daily 06:00"), json!("check the nightly build"), json!("America/Los_Angeles"))
    );
    assert_eq!(
        schedule("every day at 14:00 UTC have maker check the nightly build"),
        (json!("daily 14:00"), json!("check the nightly build"), json!("UTC"))
    );
    // No clock named: the workspace's, and no `time_zone` at all.
    assert_eq!(
        schedule("every day at 6 have maker check the nightly build"),
        (json!("daily 06:00"), json!("check the nightly build"), Value::Null)
    );
}

#[test]
fn content_free_messages_are_unknown() {
    for text in ["hmm", "any thoughts?", "fix it", "can you take care of that?", "same as last time please", "ok"] {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
}

#[test]
fn schedules_are_listed_paused_resumed_and_removed() {
    for text in ["schedules", "what's scheduled?", "list the schedules", "which schedules are running?"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "schedules", "args": {}}), "{text}");
    }
    assert_eq!(
        read("what is scheduled for the analyst?"),
        json!({"kind": "fleet", "action": "schedules", "args": {"office": "analyst"}})
    );
    assert_eq!(
        read("pause schedule 3"),
        json!({"kind": "fleet", "action": "change_schedule", "args": {"id": 3, "change": "pause"}})
    );
    assert_eq!(
        read("resume schedule #3 please"),
        json!({"kind": "fleet", "action": "change_schedule", "args": {"id": 3, "change": "resume"}})
    );
    assert_eq!(
        read("remove the analyst's schedule"),
        json!({"kind": "fleet", "action": "change_schedule", "args": {"office": "analyst", "change": "remove"}})
    );
    assert_eq!(
        read("stop the writer's weekly schedule"),
        json!({"kind": "fleet", "action": "change_schedule", "args": {"office": "writer", "change": "pause"}})
    );
    // Work about schedules stays work.
    for text in [
        "delete the schedule endpoint from the public API",
        "fix the schedule page layout on mobile",
        "the shift schedule export drops the last row",
        // What has been happening, however regularly, is a report, not a schedule.
        "the analyst says the nightly job has failed every night this week, help me answer",
        "signups were dropped every monday since the release",
    ] {
        assert_ne!(read(text)["kind"], "fleet", "{text}");
    }
    // Making one is still `schedule`.
    assert_eq!(read("every monday at 9 have the analyst post last week's signups")["action"], "schedule");
    assert_eq!(read("every friday at 5 have the writer post what was merged this week")["action"], "schedule");
}

#[test]
fn tasks_are_made_for_an_office_and_listed() {
    let thread = [("U1", "the invoice PDF shows the wrong VAT rate for Austria")];
    for text in
        ["make this a task for maker", "turn it into a task for @maker please", "can you make that a task for maker?"]
    {
        assert_eq!(
            read_in(&thread, text),
            json!({"kind": "fleet", "action": "make_task", "args": {"office": "maker"}}),
            "{text}"
        );
    }
    assert_eq!(
        read("create a task for the writer: update the pricing page for the new plans"),
        json!({"kind": "fleet", "action": "make_task", "args": {"office": "writer", "title": "update the pricing page for the new plans"}})
    );
    assert_eq!(
        read("open a task for analyst to rebuild the churn dashboard"),
        json!({"kind": "fleet", "action": "make_task", "args": {"office": "analyst", "title": "rebuild the churn dashboard"}})
    );
    for text in ["what tasks are open?", "tasks", "list the tasks", "show open tasks"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "tasks", "args": {}}), "{text}");
    }
    assert_eq!(
        read("what tasks does maker have?"),
        json!({"kind": "fleet", "action": "tasks", "args": {"office": "maker"}})
    );
    // Work that mentions tasks is work.
    for text in [
        "add a task runner to the CI pipeline",
        "the nightly export task for the warehouse fails",
        "make this a task for maker",
        "why do the cron tasks run twice on mondays when the clocks change?",
    ] {
        assert_ne!(read(text)["kind"], "fleet", "{text}");
    }
}

#[test]
fn tasks_are_cancelled_given_to_an_office_and_tried_again_by_number() {
    for text in [
        "cancel task 4",
        "please cancel task #4",
        "can you drop task 4? the client pulled out",
        "scrap task no 4.",
        "cancel task four, not needed any more",
        "cancel task 4, we dropped that market",
    ] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "cancel_task", "args": {"id": 4}}), "{text}");
    }
    for text in [
        "give task 4 to writer",
        "reassign task #4 to the writer please",
        "hand task 4 over to @writer",
        "move task 4 to writer, maker is swamped",
        "assign task number 4 to the writer office",
    ] {
        assert_eq!(
            read(text),
            json!({"kind": "fleet", "action": "assign_task", "args": {"id": 4, "office": "writer"}}),
            "{text}"
        );
    }
    for text in ["retry task 4", "reopen task #4 please", "restart task 4 again"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "assign_task", "args": {"id": 4}}), "{text}");
    }
    assert_eq!(
        read("cancel task 2"),
        json!({"kind": "fleet", "action": "cancel_task", "args": {"id": 2}}),
        "not text speak for “to”"
    );
    assert_eq!(
        read("rerun task 4 for analyst"),
        json!({"kind": "fleet", "action": "assign_task", "args": {"id": 4, "office": "analyst"}})
    );
    // Someone else's tasks, a task said without a number, a change not asked for, and a
    // give with no office are not read as changes to Nova's tasks.
    for text in [
        "close task 123 in the tracker once the fix ships",
        "remove task 9 from the sprint board",
        "kill the task runner on staging",
        "don't cancel task 4",
        "give task 4 to the new hire",
        "why was task 4 cancelled?",
    ] {
        let read = read(text);
        assert!(!matches!(read["action"].as_str(), Some("cancel_task" | "assign_task")), "{text}: {read}");
    }
}

#[test]
fn reviews_waiting_are_asked_about_and_reviewing_something_is_work() {
    for text in [
        "what's waiting for my review?",
        "reviews",
        "any reviews for me?",
        "pending reviews",
        "anything to review?",
        "what needs review",
    ] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "reviews", "args": {}}), "{text}");
    }
    for text in [
        "review the pricing PR",
        "@maker review my changes to the checkout",
        "can you review the migration plan and tell me what breaks?",
        "the code review bot posts twice on every pull request",
    ] {
        assert_ne!(read(text)["action"], "reviews", "{text}");
    }
}

#[test]
fn more_ways_to_ask_about_the_fleet() {
    for text in ["is maker tied up right now?", "is the analyst swamped?"] {
        assert_eq!(read(text)["action"], "status", "{text}");
    }
    assert_eq!(
        read("who did what on the operator office in the last 6 hours?"),
        json!({"kind": "fleet", "action": "audit", "args": {"office": "operator", "since": "6h"}})
    );
    for text in ["what can this bot do?", "what does the assistant understand?"] {
        assert_eq!(read(text)["action"], "help", "{text}");
    }
    for text in ["can we talk?", "got a sec?", "do you have a minute?"] {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    // Bugs that mention busy or the bot stay work.
    assert_eq!(read("the checkout page shows the cart as tied to the wrong account")["kind"], "work");
    assert_eq!(read("what can this bot do about the failing nightly export?")["kind"], "work");
}

#[test]
fn a_new_repo_named_later_in_the_message_is_found_by_its_slug() {
    assert_eq!(
        read("we have a new repo for the newsletter service, newsletter-api, please add it"),
        json!({"kind": "fleet", "action": "add_repo", "args": {"name": "newsletter-api", "description": "newsletter service"}})
    );
    // Without a slug-like word there is no name to take.
    assert_ne!(read("we have a new repo for the newsletter service, please add it")["action"], "add_repo");
}

#[test]
fn whether_anyone_is_up_or_an_office_has_finished_is_a_status_question() {
    for text in ["is anybody awake?", "is anyone still up", "are any agents running?", "which of our agents are up?"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "status", "args": {}}), "{text}");
    }
    for text in
        ["has the analyst finished the signup numbers yet?", "has anlyst done the export?", "did the analyst finish?"]
    {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "status", "args": {"office": "analyst"}}), "{text}");
    }
    assert_eq!(read("is anyone up for fixing the flaky checkout test?")["kind"], "work");
}

#[test]
fn praise_and_thanks_say_nothing_to_act_on() {
    for text in [
        "brilliant, thanks",
        "awesome!",
        "amazing work",
        "lovely, cheers",
        "noted",
        "good stuff",
        "got it",
        "so anyway",
    ] {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    assert_eq!(read("the refund page looks good but the totals are wrong")["kind"], "work");
}

#[test]
fn a_schedule_once_a_month_is_kept_as_cron() {
    assert_eq!(
        read("on the first of every month at 7am have the analyst send the revenue summary"),
        json!({"kind": "fleet", "action": "schedule", "args": {"office": "analyst", "every": "0 7 1 * *", "prompt": "send the revenue summary"}})
    );
}

#[test]
fn terse_status_questions_and_wake_calls_are_understood() {
    for text in ["status pls", "status update?", "what's the status?"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "status", "args": {}}), "{text}");
    }
    for text in
        ["analyst, you there?", "what's in the analyst's queue?", "is the analyst still crunching that funnel thing?"]
    {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "status", "args": {"office": "analyst"}}), "{text}");
    }
    assert_eq!(read("what's the status of the refund bug?")["kind"], "work");
    assert_eq!(
        read("need operator online asap, checkout is down"),
        json!({"kind": "fleet", "action": "wake", "args": {"office": "operator"}})
    );
    // Which offices? Nova asks.
    assert_eq!(read("wake everyone up, the launch is in an hour")["kind"], "unknown");
    assert_eq!(read("perfect, ty")["kind"], "unknown");
}

#[test]
fn polite_and_chatty_ways_of_asking_about_the_fleet() {
    let status = |args: Value| json!({"kind": "fleet", "action": "status", "args": args});
    assert_eq!(read("Could you tell me what maker is currently working on?"), status(json!({"office": "maker"})));
    assert_eq!(read("How is everyone getting on today?"), status(json!({})));
    assert_eq!(read("anybody idle rn?"), status(json!({})));
    for text in ["anyone free?", "anyone around?", "anyone free to look at the checkout bug?"] {
        assert_ne!(read(text)["kind"], "fleet", "people asking people: {text}");
    }
    assert_eq!(read("what's analyst been up to since yesterday")["action"], "audit");
    assert_eq!(read("what can u do")["action"], "help");
    assert_eq!(read("the analyst can take a nap, the report is out")["action"], "sleep");
    assert_eq!(read("can someone poke operator awake?")["action"], "wake");
    assert_eq!(read("Thanks very much, that's lovely.")["kind"], "unknown");
}

#[test]
fn stops_in_more_words() {
    let progress = [("U1", "@maker migrate the cart"), ("office:maker", "Started: 3/14 done.")];
    for text in ["Please hold off on that, the requirements have changed.", "nah scrap that, we use the other vendor"] {
        assert_eq!(read_in(&progress, text), json!({"kind": "fleet", "action": "stop", "args": {}}), "{text}");
    }
    assert_eq!(
        read("Tell writer to stop whatever it's doing, the launch is on hold."),
        json!({"kind": "fleet", "action": "stop", "args": {"office": "writer"}})
    );
    assert_eq!(read("tell writer to stop sending the newsletter to churned users")["kind"], "work");
    assert_eq!(read("hold off on deploying until friday")["kind"], "work");
}

#[test]
fn a_polite_schedule_and_a_handoff_to_them() {
    let understood = read("Every Monday at 8am, could analyst send round the weekend signups?");
    assert_eq!(
        (understood["action"].clone(), understood["args"]["every"].clone()),
        (json!("schedule"), json!("monday 08:00"))
    );
    assert_ne!(read("why does the export fail every monday?")["action"], "schedule");
    let thread = [("U1", "the spring banner still says March"), ("nova", "Routing to **maker**.")];
    assert_eq!(
        read_in(&thread, "Actually, this is more of a writer job. Can you pass it over to them?"),
        json!({"kind": "fleet", "action": "handoff", "args": {"from": "maker", "to": "writer"}})
    );
}

#[test]
fn an_office_named_after_a_line_of_business_is_still_an_office() {
    let read = reader_of(&["marketing"]);
    assert_eq!(
        read("What has marketing cost us so far this month?"),
        json!({"kind": "fleet", "action": "spend", "args": {"office": "marketing", "period": "month"}})
    );
    assert_eq!(read("what did the marketing campaign cost per signup?")["kind"], "work");
}

#[test]
fn terse_second_language_phrasings_and_assistants_for_offices() {
    assert_eq!(read("maker is working on what now?")["args"]["office"], "maker");
    assert_eq!(
        read("Which assistants are active at this moment?"),
        json!({"kind": "fleet", "action": "status", "args": {}})
    );
    assert_eq!(read("What is the status of all assistants?")["action"], "status");
    assert_eq!(read("Please switch off the writer assistant until Monday.")["action"], "sleep");
    assert_eq!(read("Please make analyst ready, board meeting in one hour.")["action"], "wake");
    assert_eq!(read("How to use this bot?")["action"], "help");
    assert_eq!(read("Good afternoon.")["kind"], "unknown");
    assert_eq!(
        read("Change tier of maker to 5."),
        json!({"kind": "fleet", "action": "update_office", "args": {"office": "maker", "changes": {"tier": 5}}})
    );
    let created = read("Create new assistant with name translator, for translate notices to Spanish, under writer.");
    assert_eq!(
        (created["action"].clone(), created["args"]["name"].clone()),
        (json!("create_office"), json!("translator"))
    );
    assert_eq!(created["args"]["reports_to"], "writer");
    let scheduled = read("Every first day of month at 9:00, analyst make the churn report.");
    assert_eq!(scheduled["args"]["every"], "0 9 1 * *");
}

#[test]
fn work_that_is_not_the_thread_offices_is_handed_on() {
    let thread = [("U1", "we need text for the new recycling page"), ("nova", "Routing to **maker**.")];
    assert_eq!(
        read_in(&thread, "This is for writer, not maker. Please transfer."),
        json!({"kind": "fleet", "action": "handoff", "args": {"from": "maker", "to": "writer"}})
    );
    assert_eq!(read_in(&thread, "this is for writer to review later")["kind"], "work", "no word moves it");
}

#[test]
fn an_office_spoken_to_by_name_first() {
    assert_eq!(read("analyst: can you pull chargeback rates by merchant for Q3?")["kind"], "work");
    assert_eq!(
        read("operator, stop what you're doing"),
        json!({"kind": "fleet", "action": "stop", "args": {"office": "operator"}})
    );
    assert_eq!(read("operator awake?"), json!({"kind": "fleet", "action": "status", "args": {"office": "operator"}}));
    assert_eq!(read("operator awake and the deploy done? then ship the fix")["kind"], "work");
    assert_eq!(read("quick check – what's everybody busy with?")["action"], "status");
}

#[test]
fn an_office_asked_to_take_over_a_thread() {
    let thread = [("U1", "customer 4412 is furious, draft a response"), ("office:writer", "Drafting a reply now.")];
    assert_eq!(
        read_in(&thread, "can maker take this one instead? it's turning into a bug"),
        json!({"kind": "fleet", "action": "handoff", "args": {"from": "writer", "to": "maker"}})
    );
    assert_eq!(read("can maker take a look at the flaky checkout test?")["kind"], "work");
}

#[test]
fn amounts_with_thousands_separators() {
    assert_eq!(
        read("raise maker's budget to $1,500/month"),
        json!({"kind": "fleet", "action": "update_office", "args": {"office": "maker", "changes": {"budget_usd": 1500.0}}})
    );
}

#[test]
fn typed_on_a_phone() {
    assert_eq!(
        read("whats operator doing"),
        json!({"kind": "fleet", "action": "status", "args": {"office": "operator"}})
    );
    assert_eq!(read("who all is working rn")["action"], "status");
    assert_eq!(
        read("maker still on the billing bug?"),
        json!({"kind": "fleet", "action": "status", "args": {"office": "maker"}})
    );
    assert_eq!(read("maker still on the billing bug, add a test for it")["kind"], "work");
    assert_eq!(read("operator stop whatever your doing")["args"]["office"], "operator");
    assert_eq!(read("total spend across everything this week")["action"], "spend");
    let progress = [("U1", "@maker migrate the cart"), ("office:maker", "Started: 3/14 done.")];
    assert_eq!(read_in(&progress, "stop stop wrong ticket"), json!({"kind": "fleet", "action": "stop", "args": {}}));
    assert_ne!(read_in(&progress, "stop the deploy of the old cart")["action"], "stop");
    let scheduled = read("daily at 0600 operator posts overnight alarm summary");
    assert_eq!(
        (scheduled["action"].clone(), scheduled["args"]["every"].clone()),
        (json!("schedule"), json!("daily 06:00"))
    );
    assert_eq!(
        read("give operator more budget 800 a month"),
        json!({"kind": "fleet", "action": "update_office", "args": {"office": "operator", "changes": {"budget_usd": 800.0}}})
    );
}

#[test]
fn another_agent_is_new_even_where_an_office_is_named_agent() {
    let read = reader_of(&["dev", "agent"]);
    let created = read("set up another agent called porting for number transfers, under dev");
    assert_eq!(
        (created["action"].clone(), created["args"]["name"].clone()),
        (json!("create_office"), json!("porting"))
    );
    assert_eq!(read("is the agent busy"), json!({"kind": "fleet", "action": "status", "args": {"office": "agent"}}));
}

#[test]
fn engineers_shorthand() {
    assert_eq!(read("operator -> sleep"), json!({"kind": "fleet", "action": "sleep", "args": {"office": "operator"}}));
    assert_eq!(read("cost breakdown per office for this month")["action"], "spend");
    assert_eq!(read("decom writer, docs moved to the agency")["action"], "retire_office");
    assert_eq!(read("maker tier 6 pls")["args"]["changes"]["tier"], 6);
    assert_eq!(read("ack")["kind"], "unknown");
    assert_eq!(read("ETA on analyst's churn report?")["args"]["office"], "analyst");
    let created = read("new office: warranty-bot, handles warranty claims from dealers, reports to maker");
    assert_eq!(
        (created["action"].clone(), created["args"]["name"].clone()),
        (json!("create_office"), json!("warranty-bot"))
    );
    let thread = [("U1", "the datasheet has the wrong flow curve"), ("nova", "Routing to **maker**.")];
    assert_eq!(
        read_in(&thread, "-> writer, this is a datasheet fix not code"),
        json!({"kind": "fleet", "action": "handoff", "args": {"from": "maker", "to": "writer"}})
    );
    assert_eq!(read("maker sleep schedule for the night shift is wrong in the rota app")["kind"], "work");
}

#[test]
fn context_first_then_the_ask() {
    assert_eq!(
        read("Before the standup: could somebody tell me whether analyst finished the churn tables overnight?")["args"]
            ["office"],
        "analyst"
    );
    assert_eq!(read("Quick one — are any of the offices still running jobs from yesterday?")["action"], "status");
    assert_eq!(read("The sprint is over. writer can be put to sleep until further notice.")["action"], "sleep");
    assert_eq!(read("We have an audit tomorrow, so I'd like operator awake and ready first thing.")["action"], "wake");
    assert_eq!(read("I'm new to the team. Is there a list of what I can ask Nova?")["action"], "help");
    assert_eq!(read("Sorry, wrong channel.")["kind"], "unknown");
    assert_eq!(read("What's the state of the fleet this morning?")["action"], "status");
    assert_eq!(read("Are we on track with the AI budget this month?")["action"], "spend");
    let progress = [("U1", "@maker migrate the cart"), ("office:maker", "Started: 3/14 done.")];
    assert_eq!(
        read_in(&progress, "Hang on. Please don't continue with that, the sponsor changed the spec."),
        json!({"kind": "fleet", "action": "stop", "args": {}})
    );
    assert_eq!(read("don't continue the export past row 10,000")["kind"], "work");
    let thread = [("U1", "the patient sheet has a typo"), ("nova", "Routing to **maker**.")];
    assert_eq!(
        read_in(&thread, "Thanks, but this is really a writer task. Could you hand it over?")["args"]["to"],
        "writer"
    );
}

#[test]
fn replies_in_a_thread_an_office_works_in() {
    let running = [("U1", "@operator rotate the staging certificates"), ("office:operator", "Rotating certificates…")];
    assert_eq!(read_in(&running, "thanks!")["kind"], "unknown", "nothing was offered, nothing to run");
    assert_eq!(read_in(&running, "pause that for now"), json!({"kind": "fleet", "action": "stop", "args": {}}));
    let offer = [("U1", "@maker fix the rounding"), ("office:maker", "Found it. Shall I open a PR?")];
    assert_eq!(read_in(&offer, "thanks, go ahead")["kind"], "work");
    assert_eq!(read_in(&offer, "yes please")["kind"], "work");
    assert_eq!(read("add a pause button to the audio player")["kind"], "work");
}

#[test]
fn a_week_of_one_workspace() {
    assert_eq!(read("is everybody asleep?")["action"], "status");
    assert_eq!(read("operator wake up!! checkout is down")["action"], "wake");
    assert_eq!(
        read("analyst should stay awake for 3h after its last job"),
        json!({"kind": "fleet", "action": "update_office", "args": {"office": "analyst", "changes": {"idle_timeout": "3h"}}})
    );
    assert_eq!(read("hi! what can I do with nova?")["action"], "help");
    assert_eq!(read("brb")["kind"], "unknown");
    let offer = [("nova", "**writer** has been idle for 90 minutes. Put it to sleep?")];
    assert_eq!(read_in(&offer, "nope, leave it running, the spring copy is coming")["kind"], "unknown");
    assert_eq!(read_in(&offer, "yep")["action"], "sleep");
}

#[test]
fn an_outage_war_room_and_newcomers() {
    let deploying =
        [("U1", "@maker deploy the storefront 4.12"), ("office:maker", "Deploying storefront 4.12: 3 of 12 pods…")];
    assert_eq!(read_in(&deploying, "STOP THE DEPLOY"), json!({"kind": "fleet", "action": "stop", "args": {}}));
    assert_ne!(read_in(&deploying, "stop the deploy of the old cart")["action"], "stop");
    assert_eq!(read("who's looking at this?")["action"], "status");
    assert_eq!(read("anyone from the fleet on the checkout outage?")["action"], "status");
    assert_eq!(read("incident's over, operator can stand down")["action"], "sleep");
    assert_eq!(read("sorry, new here — how do I get one of the bots to do something?")["action"], "help");
    assert_eq!(read("what offices do we have?")["action"], "status");
    assert_eq!(read("ugh")["kind"], "unknown");
    assert_eq!(read("are we over budget this month?")["action"], "spend");
    assert_eq!(read("are we over budget on the kitchen refit?")["kind"], "work");
    assert_eq!(read("who restarted the checkout pods?")["action"], "audit");
    let offer = [("nova", "**analyst** has been idle for 2 hours. Put it to sleep?")];
    assert_eq!(read_in(&offer, "not now")["kind"], "unknown");
}

#[test]
fn a_museums_staff() {
    assert_eq!(read("is anything running overnight?")["action"], "status");
    assert_eq!(read("is anything running on port 8080?")["kind"], "work");
    let offer = [("nova", "**writer** has been idle for 4 hours. Put it to sleep?")];
    assert_eq!(
        read_in(&offer, "yes, the launch is over"),
        json!({"kind": "fleet", "action": "sleep", "args": {"office": "writer"}})
    );
    assert_eq!(read("Hello! I've just joined. What is Nova for?")["action"], "help");
    assert_eq!(
        read("analyst can stop that report, we have the numbers"),
        json!({"kind": "fleet", "action": "stop", "args": {"office": "analyst"}})
    );
    let thread = [("U1", "a visitor wants a refund"), ("nova", "Routing to **writer**.")];
    assert_eq!(
        read_in(&thread, "actually maker should look at this, the booking let them book a closed day")["args"]["to"],
        "maker"
    );
}

#[test]
fn an_office_named_it_and_the_pronoun_it() {
    let read = reader_of(&["it", "fundraising"]);
    assert_eq!(
        read("fundraising isn't needed any more, please remove it"),
        json!({"kind": "fleet", "action": "retire_office", "args": {"office": "fundraising"}})
    );
    assert_eq!(read("please get it up, the Wi-Fi is out")["args"]["office"], "it");
}

#[test]
fn in_another_offices_thread_it_is_that_work_and_it_is_the_office() {
    let config = Config::parse(
        "[workspace]\nname = \"test\"\n[[repos]]\nname = \"app\"\ndescription = \"The app.\"\n\
         [[offices]]\nname = \"it\"\nrole = \"IT.\"\nrepos = [\"app\"]\n\
         [[offices]]\nname = \"shop\"\nrole = \"Works on the shop.\"\nrepos = [\"app\"]\n",
        "test",
    )
    .unwrap();
    let reader = Reader::new(&config);
    let thread = [
        Said { speaker: Speaker::parse("U1"), text: "the shop is slow since this morning".into() },
        Said { speaker: Speaker::parse("office:shop"), text: "Profiling the listing queries.".into() },
    ];
    let read = |text: &str| reader.understand(&Message { channel: "general", text, thread: &thread }).to_json();
    assert_eq!(read("actually don't, kill it"), json!({"kind": "fleet", "action": "stop", "args": {}}));
    assert_eq!(read("it's probably the server, let IT have a look instead")["args"]["to"], "it");
    assert_eq!(read("maybe IT should look into it")["action"], "handoff");
    // The thread's own office taking a look is more work for it.
    assert_eq!(read("let shop have a look at the images too")["kind"], "work");
    // A stop shouted first, with its reason after.
    assert_eq!(read("STOP the line is running"), json!({"kind": "fleet", "action": "stop", "args": {}}));
    assert_eq!(read("stop the line is running")["kind"], "work");
}

#[test]
fn slang_emoji_and_site_shorthand() {
    fleet_action("yo whats maker cooking rn", "status", Some("maker"));
    assert_eq!(read("who's online")["action"], "status");
    assert_eq!(read("who's online in the app right now?")["kind"], "work");
    fleet_action("writer off pls", "sleep", Some("writer"));
    fleet_action("rise and shine analyst ☀️ inbox is full", "wake", Some("analyst"));
    fleet_action("who's been poking at operator since last night? 🕵️", "audit", Some("operator"));
    assert_eq!(read("what are all the things I can ask nova? 🙋")["action"], "help");
    let thread = [("U1", "@maker rebuild the checkout"), ("office:maker", "Rebuilding: 2 of 6 steps done.")];
    assert_eq!(read_in(&thread, "nvm cancel that, they want the old one")["action"], "stop");
    // A fault that recurs, described, with a request to look at it once.
    let in_ops = |text: &str| reader().understand(&Message { channel: "ops", text, thread: &[] }).to_json();
    assert_eq!(in_ops("ping to the EU servers spikes every night around 9, look into it")["kind"], "work");
    assert_eq!(in_ops("check ping to the EU servers every night at 9")["action"], "schedule");
}

#[test]
fn an_offer_accepted_in_its_own_words() {
    let thread = [
        ("U1", "analyst still going?"),
        ("nova", "analyst is running \"weekly cohorts\" (started 48 min ago). Want me to stop it?"),
    ];
    assert_eq!(
        read_in(&thread, "yeah kill it"),
        json!({"kind": "fleet", "action": "stop", "args": {"office": "analyst"}})
    );
    assert_eq!(read_in(&thread, "yes")["args"]["office"], "analyst");
}

#[test]
fn channels_added_by_name() {
    assert_eq!(
        read("can writer also look after the social channel? add social to its channels"),
        json!({"kind": "fleet", "action": "update_office", "args": {"office": "writer", "changes": {"channels": ["social"]}}})
    );
}

#[test]
fn polite_and_second_language_phrasings_of_the_third_round() {
    fleet_action("delete office analyst, we use excel now", "retire_office", Some("analyst"));
    fleet_action("writer isn't needed any more, the agency writes everything now", "retire_office", Some("writer"));
    assert_eq!(read("As per my earlier message.")["kind"], "unknown");
    let read = read("Could the analyst post the previous day's orders every morning at half past seven?");
    assert_eq!(read["args"]["every"], "daily 07:30");
    assert_eq!(read["args"]["prompt"], "post the previous day's orders");
}

#[test]
fn an_office_that_need_not_be_awake_and_what_nova_helps_with() {
    fleet_action("writer doesn't need to be awake, the campaign is over", "sleep", Some("writer"));
    assert_eq!(read("what can you help with?")["action"], "help");
    assert_eq!(read("what can you help with on the checkout page?")["kind"], "work");
    assert_eq!(read("what are the things we can use to clean the vats?")["kind"], "work");
    assert_eq!(read("what are all the things I can ask?")["action"], "help");
    assert_eq!(read("ask writer to add the release notes to the channel")["action"], serde_json::Value::Null);
}

#[test]
fn an_office_at_something_and_a_stop() {
    fleet_action("operator is deleting old backups, stop it now", "stop", Some("operator"));
    fleet_action("wkae maker", "wake", Some("maker"));
    fleet_action(
        "analyst has been on all weekend doing nothing, that's money down the drain",
        "sleep",
        Some("analyst"),
    );
    assert_eq!(read("analyst has been running a lot lately, what's that costing this month?")["action"], "spend");
    assert_eq!(read("maker has been on the refund bug all day and found nothing")["kind"], "work");
}

#[test]
fn lawyers_and_legal_work_in_fleet_words() {
    assert_eq!(read("are all the assistants idle this afternoon?")["action"], "status");
    assert_eq!(read("Apologies, disregard my last message.")["kind"], "unknown");
    assert_eq!(read("ignore the failing checkout test and ship the fix")["kind"], "work");
    for text in [
        "please approve the engagement letter for Pemberton before it goes out",
        "audit our precedent bank for clauses that still refer to LIBOR",
        "retire the old engagement letter template and use the 2026 one",
        "please stop the engagement letter from being sent to the client",
    ] {
        assert_eq!(read(text)["kind"], "work", "{text}");
    }
}

#[test]
fn compliance_words_that_are_fleet_words() {
    assert_eq!(read("show analyst's activity for the past week")["action"], "audit");
    assert_eq!(read("how does this nova thing work?")["action"], "help");
    assert_eq!(read("how does the checkout work?")["kind"], "work");
    assert_eq!(read("never mind")["kind"], "unknown");
    for text in
        ["collect audit evidence for the SOC 2 access controls", "review who has admin access to the AWS account"]
    {
        assert_eq!(read(text)["kind"], "work", "{text}");
    }
}

#[test]
fn words_beside_one_office_vote_when_no_rule_reads_them() {
    let cases = [
        ("analyst's been quiet all morning, anything?", "status", json!({"office": "analyst"})),
        ("maker stuck?", "status", json!({"office": "maker"})),
        ("which offices are sleeping now?", "status", json!({})),
        ("everyone asleep?", "status", json!({})),
        ("writer still replying to the refund emails?", "status", json!({"office": "writer"})),
        ("how much money has the analyst used this month?", "spend", json!({"office": "analyst", "period": "month"})),
        ("what got done across the offices yesterday?", "audit", json!({"since": "1d"})),
        ("writer → sleep pls", "sleep", json!({"office": "writer"})),
        ("writer can knock off for the day", "sleep", json!({"office": "writer"})),
        ("I need maker available now, the checkout page is down", "wake", json!({"office": "maker"})),
        ("analyst flat out?", "status", json!({"office": "analyst"})),
        ("how much has the writer racked up this week?", "spend", json!({"office": "writer", "period": "week"})),
        ("writer can clock off now", "sleep", json!({"office": "writer"})),
        ("operator should pull the plug right now", "stop", json!({"office": "operator"})),
    ];
    for (text, action, args) in cases {
        let read = read(text);
        assert_eq!((read["kind"].as_str(), read["action"].as_str()), (Some("fleet"), Some(action)), "{text}");
        for (key, value) in args.as_object().unwrap() {
            assert_eq!(&read["args"][key], value, "{text}: {key}");
        }
        let understood = reader().understand(&Message { channel: "general", text, thread: &[] });
        assert!(understood.confidence < UNSURE, "{text}: a vote is for the model to check");
    }
}

#[test]
fn a_vote_leaves_work_that_names_an_office_to_the_router() {
    for text in [
        // Too many things to work on beside the office's name.
        "analyst, why are sleep tracker signups stuck below target in the spring campaign?",
        "is anyone else seeing the dashboard stuck?",
        "@writer how much money did the spring campaign raise this month?",
        "two offices on the third floor lost power, is the badge reader still working?",
    ] {
        assert_ne!(read(text)["kind"], "fleet", "{text}");
    }
}

#[test]
fn a_working_thread_stops_on_a_clause_that_forbids_or_stops_it() {
    let working = [("U1", "@maker export all customers to csv"), ("office:maker", "Exporting 48,000 records…")];
    for text in [
        "Wait, do not do this, GDPR!",
        "hold on, don't push anything, we're in a code freeze",
        "hang on, wrong plot, kill that",
    ] {
        assert_eq!(read_in(&working, text), json!({"kind": "fleet", "action": "stop", "args": {}}), "{text}");
    }
    // A correction names what to leave out; an answer to the office's question is work too.
    assert_eq!(read_in(&working, "don't include the VAT in the totals")["kind"], "work");
    let asking = [("U1", "@maker fix the rounding"), ("office:maker", "Found it. Shall I open a PR?")];
    assert_eq!(read_in(&asking, "actually no, don't open it yet")["kind"], "work");
}

#[test]
fn an_office_named_before_stop_is_the_one_stopped() {
    assert_eq!(read("writer stop"), json!({"kind": "fleet", "action": "stop", "args": {"office": "writer"}}));
    let working = [("U1", "@maker migrate the cart"), ("office:maker", "Started: 3/14 done.")];
    assert_eq!(read_in(&working, "maker stop"), json!({"kind": "fleet", "action": "stop", "args": {}}));
}

#[test]
fn a_new_office_is_named_by_quotes_or_by_its_one_word_job() {
    let read_name = |text: &str| read(text)["args"]["name"].clone();
    assert_eq!(read_name("new office 'nutrition' for meal plans, reports to writer"), "nutrition");
    assert_eq!(read_name("we need an office for procurement, reporting to analyst, tier 3"), "procurement");
    assert_eq!(read_name("we need an office for AML reviews"), Value::Null);
}

#[test]
fn another_office_that_can_do_it_takes_the_thread() {
    let working = [("U1", "@maker write an email about the outage"), ("office:maker", "On it.")];
    assert_eq!(
        read_in(&working, "actually writer can do the email, pass it on"),
        json!({"kind": "fleet", "action": "handoff", "args": {"from": "maker", "to": "writer"}})
    );
}

#[test]
fn keep_an_office_awake_for_a_while_sets_its_idle_timeout() {
    assert_eq!(
        read("keep analyst awake for 2 hours after it finishes, reports are due tomorrow"),
        json!({"kind": "fleet", "action": "update_office", "args": {"office": "analyst", "changes": {"idle_timeout": "2h"}}})
    );
}

#[test]
fn phrasings_from_the_solar_and_podcast_sets() {
    fleet_action("analyst can call it a day", "sleep", Some("analyst"));
    fleet_action("what's nova good for?", "help", None);
    fleet_action("maker, drop everything you're doing", "stop", Some("maker"));
    fleet_action("maker needs to stop right now, it's deploying during the live show", "stop", Some("maker"));
    fleet_action("did operator change anything since yesterday? the player is acting weird", "audit", Some("operator"));
    fleet_action("who's been giving the bots instructions today?", "audit", None);
    fleet_action("is anything blocked waiting for someone to say yes?", "approvals", None);
    fleet_action("we're sunsetting writer, marketing hired a copywriter", "retire_office", Some("writer"));
    assert_eq!(read("please hook up the repo monitoring-portal")["args"]["name"], "monitoring-portal");
    assert_eq!(read("let analyst stay up 30 min after its last job")["args"]["changes"]["idle_timeout"], "30m");
    for text in ["haha ok", "testing 1 2 3", "one sec, wrong window"] {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    let offer = [("nova", "**writer** has been idle for 90 minutes. Put it to sleep?")];
    assert_eq!(read_in(&offer, "sure thing")["action"], "sleep");
    let working = [("U1", "@writer write the permit FAQ page"), ("office:writer", "Drafting the permit FAQ…")];
    assert_eq!(read_in(&working, "scratch that, legal wants to write it")["action"], "stop");
    assert_eq!(
        read_in(&working, "wrong office - this should go to analyst"),
        json!({"kind": "fleet", "action": "handoff", "args": {"from": "writer", "to": "analyst"}})
    );
}

#[test]
fn formal_and_hurried_phrasings_from_the_accounting_and_schools_sets() {
    fleet_action("Would you let me know whether the analyst is occupied at present?", "status", Some("analyst"));
    fleet_action("I should like to know what the writer has cost us so far this month.", "spend", Some("writer"));
    fleet_action("Is there anything awaiting my authorisation?", "approvals", None);
    fleet_action("Which of the offices are presently engaged?", "status", None);
    fleet_action("Maker is to cease whatever it is working on at once.", "stop", Some("maker"));
    fleet_action("What is our total expenditure on the offices this week?", "spend", None);
    fleet_action("Who has been instructing the analyst since Monday?", "audit", Some("analyst"));
    fleet_action("who told writer to send that email last night?", "audit", Some("writer"));
    fleet_action("whats maker workin on atm", "status", Some("maker"));
    fleet_action("I do not understand how to instruct Nova. Is there a guide?", "help", None);
    fleet_action(
        "the operator office is surplus to requirements and may be closed down permanently",
        "retire_office",
        Some("operator"),
    );
    let created = read(
        "We require an additional office to handle payroll queries; please name it payroll and have it report to maker.",
    );
    assert_eq!(
        (created["action"].as_str(), created["args"]["name"].as_str()),
        (Some("create_office"), Some("payroll"))
    );
    assert_eq!(
        read("can analyst stay awake an extra hour after it's idle, reporting is due")["args"]["changes"]["idle_timeout"],
        "1h"
    );
    for text in ["happy friday everyone 🎉", "My apologies, I posted in the wrong place."] {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    let working = [("U1", "@writer email every parent about early dismissal friday"), ("office:writer", "Sending…")];
    assert_eq!(read_in(&working, "STOP its thursday not friday")["action"], "stop");
}

#[test]
fn phrasings_from_the_facilities_and_exchange_sets() {
    fleet_action("Please share the spend of analyst office for this month", "spend", Some("analyst"));
    fleet_action("writer office can be shut down for today, no more visits", "sleep", Some("writer"));
    fleet_action("writer can go nap, no listings till monday", "sleep", Some("writer"));
    fleet_action("Who gave instructions to analyst yesterday?", "audit", Some("analyst"));
    fleet_action("Maker has completed the chiller report or not?", "status", Some("maker"));
    assert_eq!(read("maker needs tier 7, it's slow af")["args"]["changes"]["tier"], 7);
    for text in ["gm", "mb wrong channel"] {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    let offer = [("nova", "**writer** has been idle for 2 hours. Put it to sleep?")];
    for text in ["bet", "Yes please do the needful"] {
        assert_eq!(read_in(&offer, text)["action"], "sleep", "{text}");
    }
    let working = [("U1", "@writer tweet the listing"), ("office:writer", "Posting the listing tweet…")];
    for text in ["nooo abort abort listing got delayed", "No no, hold it. Only for Block A"] {
        assert_eq!(read_in(&working, text)["action"], "stop", "{text}");
    }
    assert_eq!(read("Energy meter readings are coming double in the report")["kind"], "work");
}

#[test]
fn phrasings_from_the_warehouse_and_vets_sets() {
    fleet_action("What makes the analyst at the moment?", "status", Some("analyst"));
    fleet_action("What has made the operator in the last 24 hours?", "audit", Some("operator"));
    fleet_action("Who has given the maker the order to reset the counts?", "audit", Some("maker"));
    fleet_action("Where I can find what Nova understands?", "help", None);
    assert_eq!(read("Please take up the repository ups-rates in Nova")["args"]["name"], "ups-rates");
    assert_eq!(read("give analyst a budget of thirty dollars a month")["args"]["changes"]["budget_usd"], 30.0);
    assert_eq!(read("move maker up to tier four")["args"]["changes"]["tier"], 4);
    for text in
        ["Hello together", "Sorry, was for another chat", "okay thanks bye", "sorry that was meant for my husband"]
    {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    let working = [("U1", "@maker write the SOP for returns"), ("office:maker", "Writing the SOP…")];
    assert_eq!(read_in(&working, "This is better for writer, please give it further to writer.")["action"], "handoff");
}

#[test]
fn phrasings_from_the_ferries_and_gardens_sets() {
    fleet_action("maker?", "status", Some("maker"));
    fleet_action("analyst spend wk", "spend", Some("analyst"));
    fleet_action("writer up pls", "wake", Some("writer"));
    fleet_action("writer up?", "status", Some("writer"));
    fleet_action("maker log 6h", "audit", Some("maker"));
    fleet_action(
        "there is nothing else for writer this week, so it might as well go to sleep.",
        "sleep",
        Some("writer"),
    );
    fleet_action("Someone asked analyst to cancel the tulip order. Who was it?", "audit", Some("analyst"));
    fleet_action(
        "For the board pack I need the total we've spent on all the offices so far this month.",
        "spend",
        None,
    );
    assert_eq!(read("analyst: daily 0700 on-time report")["args"]["every"], "daily 07:00");
    assert_eq!(read("new office freight, cargo bookings, under maker, tier 2")["args"]["name"], "freight");
    assert_eq!(
        read("The repo is called plant-quiz; please add it so maker can work on it.")["args"]["name"],
        "plant-quiz"
    );
    let help = read("I'm new to the head office team and was told to use Nova. Where do I start, what can I ask it?");
    assert_eq!(help["action"], "help");
    for text in ["nvm", "Sorry everyone, please ignore my last message, it was meant for the Bristol team."] {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    let working = [("U1", "@maker give every member a voucher"), ("office:maker", "Issuing vouchers…")];
    assert_eq!(read_in(&working, "This was never signed off. Please stop what you're doing.")["args"], json!({}));
    assert_eq!(
        read_in(&working, "app bug -> writer"),
        json!({"kind": "fleet", "action": "handoff", "args": {"from": "maker", "to": "writer"}})
    );
}

#[test]
fn phrasings_from_the_festival_and_architects_sets() {
    fleet_action("am i blocking anything? anything need my thumbs up?", "approvals", None);
    fleet_action("am i blocking anyone?", "approvals", None);
    fleet_action("where do I start with nova?", "help", None);
    fleet_action("Is there anything awaiting a decision from me?", "approvals", None);
    fleet_action("can someone explain what nova actually does 🤔", "help", None);
    fleet_action("Is there somewhere I can read about what Nova is able to do?", "help", None);
    fleet_action("whats the damage on AI this month", "spend", None);
    fleet_action("I'd be interested to know what the offices have cost us in total this week.", "spend", None);
    fleet_action(
        "I don't think writer will be needed again today, so it can probably be put to bed.",
        "sleep",
        Some("writer"),
    );
    fleet_action("Would it be possible to have analyst up and running before the 9am review?", "wake", Some("analyst"));
    fleet_action("Has analyst had a chance to finish the heritage statement yet?", "status", Some("analyst"));
    fleet_action("has maker fixed the stand 14 thing yet?", "status", Some("maker"));
    assert_eq!(read("what did maker get done overnight?")["args"]["since"], "12h");
    assert_eq!(read("maker goes tier 6 for festival week")["args"]["changes"]["tier"], 6);
    assert_eq!(read("Perhaps maker could be moved onto tier 4?")["args"]["changes"]["tier"], 4);
    for text in [
        "LETS GOOOO 🎉🎉🎉",
        "lmaooo wrong chat",
        "Morning all, hope everyone had a restful weekend.",
        "Apologies, posted that in error.",
    ] {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    let working = [("U1", "@maker draft the statement for Mill Lane"), ("office:maker", "Starting the statement…")];
    assert_eq!(
        read_in(
            &working,
            "On reflection I think writer would be better placed to do this. Could it go to them instead?"
        )["action"],
        "handoff"
    );
}

#[test]
fn a_few_words_of_nothing_this_workspace_works_on_are_small_talk() {
    for text in ["congrats on the launch team!", "happy birthday Sam 🎂", "see you all tomorrow", "brb grabbing coffee"]
    {
        assert_eq!(read(text)["kind"], "unknown", "{text}");
    }
    // Words of the workspace's own work, a question for figures, or a thread keep it work.
    for text in ["the cart page is slow", "what's our best selling dessert this month?", "refunds are failing"] {
        assert_eq!(read(text)["kind"], "work", "{text}");
    }
    let thread = [("U1", "@maker fix the coupon rounding"), ("office:maker", "Done, see the PR.")];
    assert_eq!(read_in(&thread, "grabbing coffee, then review")["kind"], "work");
}

#[test]
fn days_said_in_passing_in_a_bound_channel_are_no_schedule() {
    let reader = Reader::new(&Config::demo());
    let read_in_channel =
        |channel: &str, text: &str| reader.understand(&Message { channel, text, thread: &[] }).to_json();
    let (channel, office) = Config::demo()
        .offices
        .iter()
        .find_map(|o| o.channels.first().map(|c| (c.clone(), o.name.clone())))
        .expect("a bound channel");
    assert_eq!(read_in_channel(&channel, "coupon codes on Saturdays don't apply at checkout")["kind"], "work");
    let scheduled = read_in_channel(&channel, "every saturday at 9 check the coupon codes");
    assert_eq!(
        (scheduled["action"].as_str(), scheduled["args"]["office"].as_str()),
        (Some("schedule"), Some(office.as_str()))
    );
}

#[test]
fn work_that_sounds_like_the_fleet_stays_work() {
    let reader = Reader::new(&Config::demo());
    let (channel, _) = Config::demo()
        .offices
        .iter()
        .find_map(|o| o.channels.first().map(|c| (c.clone(), o.name.clone())))
        .expect("a bound channel");
    for text in [
        "members who paused their membership are still being charged",
        "every Monday the spin class waitlist resets to empty",
        "the club network goes down every Sunday at 3am",
        "the analyst status page shows classes as cancelled when they aren't",
        "a member wants to know who is on the front desk at Camden tonight",
    ] {
        let read = reader.understand(&Message { channel: &channel, text, thread: &[] }).to_json();
        assert_eq!(read["kind"], "work", "{text}");
    }
    // Requests with their reason, or what to stop, still read as requests.
    fleet_action("writer you've earned a rest, go to sleep 😴", "sleep", Some("writer"));
    fleet_action("maker STOP pushing to the app, we're live", "stop", Some("maker"));
    fleet_action("analyst needs to be awake for the 2pm edit", "wake", Some("analyst"));
    // The questions they are near still read as the fleet's.
    fleet_action("so who paused the analyst?", "audit", Some("analyst"));
    fleet_action("analyst status?", "status", Some("analyst"));
    fleet_action("is anyone on the refund bug?", "status", None);
}

#[test]
fn an_office_named_like_a_word_of_the_business_is_not_the_office() {
    let museum = reader_of(&["it", "audience"]);
    // The reader_of workspace's vocabulary is the offices' roles: "Works on the app".
    assert_eq!(museum("how much did the audience app cost to run last year?")["kind"], "work");
    assert_eq!(museum("how much has audience cost us this month?")["action"], "spend");
    assert_eq!(museum("it keeps going down every night around 2am")["kind"], "work");
    assert_eq!(museum("every night at 2 have it check the backups")["action"], "schedule");
    assert_eq!(museum("a visitor wants to know who approved photography in the gallery")["kind"], "work");
}

#[test]
fn in_a_working_thread_asking_how_far_along_is_its_offices_status() {
    let progress = [("U1", "@maker migrate the cart"), ("office:maker", "Started: 3/14 done.")];
    for text in [
        "any eta?",
        "eta?",
        "progress?",
        "any updates?",
        "how much longer?",
        "how long will this take?",
        "how long has it been at it?",
        "nearly done?",
        "still going?",
        "when will it be done?",
    ] {
        assert_eq!(
            read_in(&progress, text),
            json!({"kind": "fleet", "action": "status", "args": {"office": "maker"}}),
            "{text}"
        );
    }
    // About something else, or outside a working thread: not the office's progress.
    for text in
        ["any eta on the refund export?", "how long does a cart migration take on prod?", "and how long does it take?"]
    {
        assert_ne!(read_in(&progress, text)["action"], "status", "{text}");
    }
    for text in ["any eta?", "how much longer?"] {
        assert_ne!(read(text)["action"], "status", "{text}");
    }
}

#[test]
fn who_works_a_shift_or_a_post_is_a_question_about_people() {
    for text in
        ["who's working the late shift at leeds tonight?", "who's on the door tonight?", "who is on call this weekend?"]
    {
        assert_ne!(read(text)["kind"], "fleet", "{text}");
    }
    for text in ["who's working?", "who is working on the coupon bug?", "who is busy right now?"] {
        assert_eq!(read(text)["action"], "status", "{text}");
    }
}

#[test]
fn please_is_no_part_of_a_new_repos_name_or_description() {
    for text in ["new repo pls: signage", "new repo please - signage", "add a repo called signage pls"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "add_repo", "args": {"name": "signage"}}), "{text}");
    }
    assert_eq!(
        read("new repo pls: signage, the foyer screens' content")["args"],
        json!({"name": "signage", "description": "foyer screens' content"})
    );
}

#[test]
fn sales_floor_wording_for_status_wake_and_reporting_lines() {
    fleet_action("can we get a status on maker? need the cart fix EOD", "status", Some("maker"));
    fleet_action("need operator spun up, the sale starts tonight", "wake", Some("operator"));
    assert_eq!(
        read("spin up a new office for client onboarding, reporting into writer")["args"]["reports_to"],
        "writer"
    );
    // A wake said that way with work after it is the work.
    assert_eq!(read("need maker started on the coupon bug")["kind"], "work");
}

#[test]
fn a_question_in_a_statements_order_is_still_asked() {
    assert_eq!(
        read("somebody is working on the blank displays problem?"),
        json!({"kind": "fleet", "action": "status", "args": {}})
    );
    assert_ne!(read("somebody is working on the blank displays problem, fyi")["kind"], "fleet");
}

#[test]
fn a_repo_named_after_a_verb_is_no_request_to_add_one() {
    for text in ["CI is failing on the tracking repo since the upgrade", "the tracking repo has no README"] {
        assert_eq!(read(text)["kind"], "work", "{text}");
    }
    assert_eq!(read("track the repo payroll-bridge too")["action"], "add_repo");
}

#[test]
fn a_thing_the_workspace_keeps_that_recurs_is_described_not_scheduled() {
    let toml = "[workspace]\nname = \"gym\"\n[[repos]]\nname = \"club-systems\"\ndescription = \"Doors and lockers.\"\nhints = [\"locker\", \"turnstile\"]\nchannels = [\"club-it\"]\n[[offices]]\nname = \"club-it\"\nrole = \"Club IT.\"\nrepos = [\"club-systems\"]\nchannels = [\"club-it\"]\n";
    let reader = Reader::new(&Config::parse(toml, "gym").unwrap());
    let read = |text: &str| reader.understand(&Message { channel: "club-it", text, thread: &[] }).to_json();
    assert_eq!(read("locker PIN pads in the women's changing room reset every night")["kind"], "work");
    // Asked for, in the office's channel, it is a schedule.
    assert_eq!(read("check the turnstiles every night at 11pm")["action"], "schedule");
}

#[test]
fn chat_shorthand_bills_and_what_an_office_pushed() {
    fleet_action("any1 on the refund bug?", "status", None);
    assert_eq!(read("what's the monthly bill looking like")["action"], "spend");
    assert_eq!(read("what's the monthly bill looking like")["args"]["period"], "month");
    // A bill of something named is the business's.
    assert_eq!(read("what's the monthly AWS bill for the storefront looking like")["kind"], "work");
    let pushed = read("what did maker push in the last 2 days");
    assert_eq!(pushed["action"], "audit");
    assert_eq!(pushed["args"]["since"], "2d");
}

#[test]
fn an_office_whose_work_has_gone_elsewhere_is_retired_not_stopped() {
    fleet_action("kill the writer office, the agency does that now", "retire_office", Some("writer"));
    // Killing what it runs is still a stop.
    fleet_action("kill whatever writer is running", "stop", Some("writer"));
}

#[test]
fn australian_casual_reads_like_any_other_wording() {
    fleet_action("reckon anyone's onto the refund bug?", "status", None);
    fleet_action("bin the writer office, the agency's doing all that now", "retire_office", Some("writer"));
    assert_eq!(read("what can ya do?")["action"], "help");
    let thread =
        [("U1", "@maker the refund email shows the wrong total"), ("office:maker", "Looking at the email template…")];
    let moved = read_in(&thread, "nah mate that's copy, flick it to writer");
    assert_eq!(moved["action"], "handoff");
    assert_eq!(moved["args"]["to"], "writer");
}

#[test]
fn text_speak_reads_like_any_other_wording() {
    fleet_action("wat is maker doin", "status", Some("maker"));
    fleet_action("pls put operator 2 sleep", "sleep", Some("operator"));
    assert_eq!(read("anythin waitin 4 my approval")["action"], "approvals");
    assert_eq!(read("how much has analyst cost 2day")["args"]["period"], "day");
    assert_eq!(read("help pls")["action"], "help");
    let tier = read("operator 2 tier 5 pls");
    assert_eq!(tier["args"]["changes"]["tier"], 5);
    // A 2 or a 4 that counts stays a number.
    assert_eq!(read("what did maker do in the last 2 days")["args"]["since"], "2d");
    assert_eq!(read("move analyst to tier 4")["args"]["changes"]["tier"], 4);
}

#[test]
fn irish_and_scottish_informal_english_reads_like_any_other_wording() {
    fleet_action("what's the craic with maker?", "status", Some("maker"));
    fleet_action("is anybody at the refund bug at all?", "status", None);
    let audit = read("what's operator been at since yesterday?");
    assert_eq!(audit["action"], "audit");
    assert_eq!(audit["args"]["since"], "1d");
    assert_eq!(read("bump maker's budget up to 700")["args"]["changes"]["budget_usd"], 700.0);
    // "half four" is half past four in the afternoon, not a "4" typed for "for".
    let schedule = read("every friday at half four have analyst send the weekly margin report");
    assert_eq!(schedule["args"]["every"], "friday 16:30");
}

#[test]
fn managers_jargon_reads_like_any_other_wording() {
    fleet_action("quick pulse check on maker, where are we at?", "status", Some("maker"));
    fleet_action("who's heads down on what right now?", "status", None);
    fleet_action("what's our run rate on operator this month?", "spend", Some("operator"));
    let audit = read("can I get a readout of everything analyst actioned in the last 48 hours?");
    assert_eq!(audit["action"], "audit");
    assert_eq!(audit["args"]["since"], "48h");
    assert_eq!(read("what's in scope for you? what can you take on?")["action"], "help");
    let working = [("UA", "@maker migrate every customer to the new pricing"), ("office:maker", "Updating 4,200…")];
    assert_eq!(read_in(&working, "hard stop on this, legal hasn't signed off")["action"], "stop");
    let moved = read_in(&working, "actually this is a copy thing, let's loop in writer and have them own it");
    assert_eq!(moved["action"], "handoff");
    assert_eq!(moved["args"]["to"], "writer");
    // Spend said as a run rate, with no office named, is the business's.
    assert_eq!(read("what's our run rate on subscriptions this quarter?")["kind"], "work");
    // An idiom is one clause: "heads, down" is none.
    assert_eq!(Words::new("heads, down").lower, ["heads", "down"]);
}

#[test]
fn a_fault_reported_before_asking_whether_anyone_is_on_it_is_work() {
    assert_eq!(read("is anyone on the refund bug?")["action"], "status");
    assert_eq!(read("the export is failing again, is anyone on it?")["kind"], "work");
    let reported = [("UA", "the coupon field rejects valid codes")];
    assert_eq!(read_in(&reported, "still wrong this morning, anyone on it?")["kind"], "work");
}

#[test]
fn cue_words_typed_in_a_hurry_read_as_the_words_meant() {
    let working = [("UA", "@maker refund every booking for the cancelled matinee"), ("office:maker", "Refunding 412…")];
    assert_eq!(read_in(&working, "stpo stop stop thats the wrong date")["action"], "stop");
    assert_eq!(read("whats the total spedn this week")["args"]["period"], "week");
    assert_eq!(read("add a repo calld touring-app")["args"]["name"], "touring-app");
    assert_eq!(read("evry monday at 10 have analyst post last weeks signups")["args"]["every"], "monday 10:00");
    // Only a slip from one cue, and never a word of its own: "sleep" is no slip of "asleep".
    assert_eq!(Words::new("sleep").lower, ["sleep"]);
    assert_eq!(Words::new("stop spedn wroking").lower, ["stop", "spend", "working"]);
    assert_eq!(Words::new("shop").lower, ["shop"]);
    // Nor a real word one letter from a cue ("pending", "sending" are no "spending").
    assert_eq!(Words::new("pending reviews, sending").lower, ["pending", "reviews", "sending"]);
}

#[test]
fn an_office_named_it_is_not_every_it_in_a_message_that_names_another() {
    let read = reader_of(&["it", "bi", "marketing"]);
    let office = |text: &str| read(text)["args"]["office"].clone();
    assert_eq!(office("Would it be possible for bi to post the bookings every Monday at 8am?"), "bi");
    assert_eq!(office("Would it be all right to move marketing up to tier 3? It's been slow"), "marketing");
    assert_eq!(office("how much has marketing cost us this month, if it's not too much trouble"), "marketing");
    // Named as a name, or with no other office named, it is the office.
    assert_eq!(office("Could you have it-office check the backups every night at 2?"), "it");
    assert_eq!(office("it awake?"), "it");
    assert_eq!(office("what has the it office done since yesterday?"), "it");
}

#[test]
fn a_polite_question_asked_as_a_statement_is_still_a_question() {
    assert_eq!(read("Just wondering how much the maker office has cost us so far this month")["action"], "spend");
    assert_eq!(read("I was wondering what the analyst is up to")["action"], "status");
}

#[test]
fn sending_work_over_to_an_office_outside_a_thread_is_work_for_it() {
    assert_eq!(read("could you send the release notes over to writer to tidy up?")["kind"], "work");
    let thread = [("U1", "@maker draft the launch email"), ("office:maker", "Drafting…")];
    assert_eq!(read_in(&thread, "could you send this over to writer?")["action"], "handoff");
}

#[test]
fn english_as_a_second_language_reads_like_any_other_wording() {
    assert_eq!(
        read("is sleeping the analyst or is working?"),
        json!({"kind": "fleet", "action": "status", "args": {"office": "analyst"}})
    );
    assert_eq!(read("stop please all what maker is doing, it makes wrong changes")["args"]["office"], "maker");
    assert_eq!(read("stop please all what maker is doing, it makes wrong changes")["action"], "stop");
    assert_eq!(read("what things I can ask to you?")["action"], "help");
    assert_eq!(
        read("add please the repository donations-site for the online donations")["args"]["name"],
        "donations-site"
    );
    // The order is still an order.
    assert_eq!(read("sleep the analyst")["action"], "sleep");
}

#[test]
fn a_short_office_name_with_a_letter_left_out_is_that_office() {
    let read = reader_of(&["press", "data", "apps"]);
    assert_eq!(read("how much has pres spent this month")["args"]["office"], "press");
    assert_eq!(read("retire the dta office")["args"]["office"], "data");
    // A word the workspace uses is itself ("app" is the repo's), and emoji are no slip.
    assert_ne!(read("sleep app")["action"], "sleep");
    assert_eq!(read("👀 wake dta")["args"]["office"], "data");
}

#[test]
fn someone_new_who_needs_things_is_no_new_office() {
    assert_eq!(read("the new assistant pro needs a laptop and an email address")["kind"], "work");
    assert_eq!(read("new assistant for warranty claims please")["action"], "create_office");
}

#[test]
fn the_background_before_so_is_why_not_when_or_what() {
    let read = reader_of(&["analytics", "it"]);
    let scheduled = read(
        "the committee wants to see bookings every week, so every friday at 4pm have analytics post the weekend's tee sheet",
    );
    assert_eq!(
        (scheduled["args"]["every"].clone(), scheduled["args"]["prompt"].clone()),
        (json!("friday 16:00"), json!("post the weekend's tee sheet"))
    );
    let scheduled = read("we lost a week of scores last year, so every night at 1 have it check that the backups ran");
    assert_eq!(scheduled["args"]["prompt"], "check that the backups ran");
    // "it is the …" says what something is; "it awake?" asks after the office.
    assert_eq!(
        read("it's the club's centenary next year, so could someone write a short history of the club")["kind"],
        "work"
    );
    assert_eq!(read("it awake?")["args"]["office"], "it");
}

#[test]
fn a_request_taken_back_is_never_carried_out() {
    let read = reader_of(&["editorial", "buying-insight", "web"]);
    assert_eq!(read("don't wake editorial")["kind"], "unknown");
    assert_eq!(
        read("don't wake editorial, wake buying-insight instead"),
        json!({"kind": "fleet", "action": "wake", "args": {"office": "buying-insight"}})
    );
    assert_eq!(read("put web on tier 3, no, tier 4")["args"]["changes"]["tier"], 4);
    assert_eq!(read("nobody's working on the click and collect bug, are they?")["action"], "status");
}

#[test]
fn work_asked_of_an_office_is_no_question_about_it() {
    // Session 25's leftover: "finish" beside an office read as asking how far it had got.
    assert_eq!(read("could you send the release notes over to writer to finish?")["kind"], "work");
    assert_eq!(read("could you ask writer to finish the release notes?")["kind"], "work");
    assert_eq!(read("writer finished?")["action"], "status");
}

#[test]
fn a_wake_asked_for_through_someone_and_help_asked_as_an_embedded_question() {
    fleet_action(
        "would it be possible to get the analyst woken up before the 10 o'clock call",
        "wake",
        Some("analyst"),
    );
    fleet_action("is it possible to have writer started before standup?", "wake", Some("writer"));
    assert_eq!(read("get maker started on the refund bug")["kind"], "work");
    for text in ["can you remind me what you can do?", "tell me what nova can handle"] {
        assert_eq!(read(text)["action"], "help", "{text}");
    }
    assert_eq!(read("tell me what you can do about the failing export")["kind"], "work");
}

#[test]
fn second_language_english() {
    let read = reader_of(&["tech", "numbers", "social"]);
    assert_eq!(
        read("please to add new repo loyalty-points"),
        json!({"kind": "fleet", "action": "add_repo", "args": {"name": "loyalty-points"}})
    );
    assert_eq!(read("how I can use this bot?")["action"], "help");
    let audit = read("what tech was doing from yesterday?");
    assert_eq!((audit["action"].as_str(), audit["args"]["since"].as_str()), (Some("audit"), Some("1d")));
    let schedule = read("each monday in 8 morning numbers must post the takings of last week");
    assert_eq!(schedule["args"]["every"], "monday 08:00");
    // An amount each month is a budget, not a schedule.
    let budget = read("put the budget of tech to 150 dollars each month");
    assert_eq!(budget["action"], "update_office");
    assert_eq!(budget["args"]["changes"]["budget_usd"], 150.0);
    assert_eq!(read("change the budget of tech to 150")["args"]["changes"]["budget_usd"], 150.0);
}

#[test]
fn whether_none_or_all_of_the_offices_are_up_asked_as_a_statement() {
    for text in ["none of the offices are awake, are they?", "all the agents are asleep?"] {
        assert_eq!(read(text), json!({"kind": "fleet", "action": "status", "args": {}}), "{text}");
    }
}

#[test]
fn in_an_offices_thread_leaving_it_stops_and_what_this_cost_is_its_spend() {
    let thread = [("U1", "write tasting notes for the Kenyan"), ("office:writer", "Drafting them now.")];
    let left = read_in(&thread, "actually leave it, we're dropping that coffee");
    assert_eq!(left, json!({"kind": "fleet", "action": "stop", "args": {}}));
    assert_eq!(read_in(&thread, "forget it")["action"], "stop");
    // Leaving something as it is, is work.
    assert_eq!(read_in(&thread, "leave the intro as it is and shorten the rest")["kind"], "work");
    let cost = read_in(&thread, "how much has this cost so far?");
    assert_eq!(cost, json!({"kind": "fleet", "action": "spend", "args": {"office": "writer"}}));
    // A price asked in the thread is work.
    assert_eq!(read_in(&thread, "how much does it cost to ship to Canada?")["kind"], "work");
}

#[test]
fn formal_wording() {
    fleet_action(
        "Dear Nova, please arrange for the analyst office to be put to sleep for the remainder of the day. Kind regards, Greg",
        "sleep",
        Some("analyst"),
    );
    fleet_action("Please terminate the work currently being carried out by the writer office.", "stop", Some("writer"));
    let audit = read("Please provide a summary of the actions taken by maker over the past 24 hours.");
    assert_eq!((audit["action"].as_str(), audit["args"]["since"].as_str()), (Some("audit"), Some("24h")));
    // Changes made by an office, to be worked on, are work.
    assert_eq!(read("review the changes made by maker to the checkout")["kind"], "work");
    assert_eq!(read("Could you please outline the requests you are able to handle?")["action"], "help");
    let thread = [("U1", "please update the fireworks page"), ("office:writer", "Updating the fireworks page.")];
    let stop = read_in(&thread, "Apologies, please disregard that request and stop the work; the dates have changed.");
    assert_eq!(stop, json!({"kind": "fleet", "action": "stop", "args": {}}));
}

#[test]
fn a_wake_and_a_handoff_asked_for_in_the_passive_or_as_a_preference() {
    fleet_action("Please arrange for the analyst office to be woken up.", "wake", Some("analyst"));
    let thread = [("U1", "please draft a reply to the school"), ("office:maker", "Drafting the reply now.")];
    for text in ["I would prefer writer to handle this", "Could this be passed to writer instead?"] {
        let read = read_in(&thread, text);
        assert_eq!((read["action"].as_str(), read["args"]["to"].as_str()), (Some("handoff"), Some("writer")), "{text}");
    }
}

#[test]
fn requests_passed_on_for_someone_else() {
    fleet_action("Sam asked me to check whether maker is still working on the increments", "status", Some("maker"));
    fleet_action("the head of sales wants whatever operator is doing stopped right now", "stop", Some("operator"));
    let created = read("the board has asked for a new office called valuations, reporting to writer");
    assert_eq!(created["action"], "create_office");
    assert_eq!(
        (created["args"]["name"].as_str(), created["args"]["reports_to"].as_str()),
        (Some("valuations"), Some("writer"))
    );
    assert_ne!(created["args"]["role"], "writer", "whom it reports to is no role");
    // What failed and stopped is no request to stop anything.
    assert_eq!(read("the nightly export stopped at 3am")["kind"], "work");
}

/// Work read from words where fleet requests hide is read unsurely, so that a configured
/// model has a look (these phrasings were all read as work, surely, on sets written blind).
#[test]
fn work_read_beside_words_of_the_fleet_is_unsure() {
    let reader = reader();
    let unsure = |text: &str, thread: &[Said]| {
        let read = reader.understand(&Message { channel: "general", text, thread });
        read.confidence < UNSURE
    };
    for text in [
        "writer, being woken up by then would help",
        "please see to a new repo for the loyalty points",
        "a list of what you are able to do, with examples, for the wiki page",
        "a summary of the actions of maker, please",
    ] {
        assert!(unsure(text, &[]), "{text}");
    }
    let thread = [
        Said { speaker: Speaker::parse("U1"), text: "write the newsletter".into() },
        Said { speaker: Speaker::parse("office:writer"), text: "Starting.".into() },
    ];
    assert!(unsure("we're dropping that coffee, leave the newsletter", &thread));
    assert!(!unsure("the checkout rejects cards from Canadian banks", &[]));
}

#[test]
fn a_quoted_line_is_what_the_message_answers_not_its_request() {
    assert_eq!(
        read("> analyst has been idle for 3 hours\nyep, put it to sleep"),
        json!({"kind": "fleet", "action": "sleep", "args": {"office": "analyst"}})
    );
    assert_eq!(read("&gt; maker is still running\nstop maker")["action"], "stop");
    // A quote of a fault with an ask about it is work.
    assert_eq!(read("> on-time delivery for Korean dropped to 71%\nwhy? can someone dig in")["kind"], "work");
}

#[test]
fn offices_called_bots_agents_and_ais() {
    let read = reader_of(&["firmware-dev", "cloud-dev", "it", "data"]);
    let office = |text: &str| read(text)["args"]["office"].as_str().map(str::to_owned);
    assert_eq!(read("fire up the firmware AI, we have field reports coming in")["action"], "wake");
    assert_eq!(office("fire up the firmware AI, we have field reports coming in").as_deref(), Some("firmware-dev"));
    assert_eq!(office("how much has the cloud agent burned through this week?").as_deref(), Some("cloud-dev"));
    assert_eq!(office("let the cloud agent idle for 45 minutes before it goes to sleep").as_deref(), Some("cloud-dev"));
    assert_eq!(office("kill whatever the IT worker is running").as_deref(), Some("it"));
    assert_eq!(read("what can you bots actually do?")["action"], "help");
    assert_eq!(read("which AIs are running at the moment?")["action"], "status");
    assert_eq!(read("good bot")["kind"], "unknown");
    // An agent asked to look into something is asked for work, not made.
    assert_eq!(read("can an agent look into why Android sync fails more than iOS?")["kind"], "work");
}

#[test]
fn offices_with_english_words_for_names() {
    let read = reader_of(&["atlas", "compass", "beacon", "echo", "sage", "quill"]);
    assert_eq!(
        read("atlas, compass, beacon - which of you are awake?"),
        json!({"kind": "fleet", "action": "status", "args": {}})
    );
    assert_eq!(read("nice work atlas")["kind"], "unknown");
    assert_eq!(read("good job quill!")["kind"], "unknown");
    assert_eq!(read("the compass icon on the map view is misaligned on mobile")["kind"], "work");
}

/// A change to the fleet said as a plan, a condition, a hypothesis or a prohibition is
/// not carried out; the same change asked for is.
#[test]
fn plans_conditions_and_prohibitions_change_nothing() {
    for text in [
        "we might retire writer next spring when the new CRM lands",
        "what happens if I stop maker halfway through a release?",
        "once the season ends we'll probably want a new office for the quota appeals",
        "nobody stop operator today, it's mid-migration",
        "when analyst wakes up it should look at the haddock prices first",
        "thinking of putting the analyst to sleep over christmas",
    ] {
        assert_ne!(read(text)["kind"], "fleet", "{text}");
    }
    fleet_action("stop maker, it's deploying to the wrong boat", "stop", Some("maker"));
    fleet_action("if you could wake the analyst before 10 that would be great", "wake", Some("analyst"));
    fleet_action("Thinking about it, put the analyst to sleep", "sleep", Some("analyst"));
    fleet_action(
        "I might need it late, so keep writer up for two hours after it goes idle",
        "update_office",
        Some("writer"),
    );
}

#[test]
fn a_listed_word_stands_alone_in_the_list() {
    assert!(listed("fix check look", "fix"));
    assert!(listed("fix check look", "look"));
    assert!(listed("fix\ncheck  look", "check"));
    assert!(!listed("fix check look", "ix"), "part of a listed word is not listed");
    assert!(!listed("fix check look", "fix check"), "nor are two of them");
    assert!(!listed("fixes check", "fix"));
    assert!(!listed("fix check", ""));
}
