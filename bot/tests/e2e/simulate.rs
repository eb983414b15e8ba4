//! An operator tries a pool policy before spending a cent: `nova simulate` runs the
//! real GCE provisioner against the stand-in over a short Discord-like morning.

use bot::simulate::{Event, EventKind, Policy, generate, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_morning_answers_every_prompt_without_a_duplicate_vm() {
    let (header, events) = generate("discord", 20, 1.0, 4).unwrap();
    let prompts = events.iter().filter(|e| e.kind == bot::simulate::EventKind::Prompt).count();
    let report = run(header, events, 0.002, Policy::default()).await.unwrap();
    eprintln!("{report}");
    assert_eq!(report.prompts, prompts);
    assert_eq!(report.duplicates, 0, "never two VMs for one office");
    assert_eq!(report.wake_failures, 0);
    assert!(report.wakes > 0 && report.vm_hours > 0.0, "{report}");
    // Typing precedes every prompt: most people find their office up.
    assert!(report.ready_at_submit >= 0.5, "{report}");
    // Every prompt not ready at submit is explained, once.
    let explained = report.missed.total();
    let ready = (report.ready_at_submit * prompts as f64).round() as usize;
    assert_eq!(ready + explained, prompts, "{report}");
    assert!(report.calls_per_minute_max as u32 <= report.quota_per_minute, "{report}");
}

/// Days unlike the shipped ones have the shape asked for: a few offices busy and most
/// used once or twice, people in two regions, about the typing share asked for, and an
/// incident that reaches its offices within its window.
#[test]
fn a_shaped_day_is_skewed_spread_over_regions_partly_typed_and_has_its_incident() {
    use bot::simulate::{DayShape, generate_shape};
    let shape = DayShape::named("skewed", 7).unwrap();
    let (header, events) = generate_shape(&shape).unwrap();
    assert_eq!(header.offices.len(), 120);
    let prompts: Vec<&Event> = events.iter().filter(|e| e.kind == EventKind::Prompt).collect();
    let mut per_office: Vec<usize> =
        header.offices.iter().map(|o| prompts.iter().filter(|p| p.office == o.name).count()).collect();
    per_office.sort_unstable_by(|a, b| b.cmp(a));
    let median = per_office[per_office.len() / 2];
    assert!(per_office[0] >= 10 * median.max(1), "skewed: {per_office:?}");
    let typed = events.iter().filter(|e| e.kind == EventKind::Typing).count() as f64 / prompts.len() as f64;
    assert!((0.4..0.6).contains(&typed), "about half typed: {typed}");
    // The second region's working day ends six hours after the first's.
    let late = prompts.iter().filter(|p| p.t > 19.0 * 3600.0 && p.t < 24.0 * 3600.0).count();
    assert!(late > prompts.len() / 10, "the second region works later: {late} of {}", prompts.len());
    // The incident: some two minutes in which 20 offices get a prompt.
    let widest = prompts
        .iter()
        .map(|first| {
            let window = prompts.iter().filter(|p| p.t >= first.t && p.t < first.t + 120.0);
            window.map(|p| p.office.as_str()).collect::<std::collections::HashSet<_>>().len()
        })
        .max()
        .unwrap();
    assert!(widest >= 20, "the incident reaches 20 offices in two minutes: {widest}");
    // Unshaped, the same day is even: no office stands out.
    let even = DayShape { skew: 0.0, incident: None, ..shape.clone() };
    let (_, events) = generate_shape(&even).unwrap();
    let busiest = header.offices.iter().map(|o| events.iter().filter(|e| e.office == o.name).count()).max().unwrap();
    assert!(busiest < per_office[0] / 3, "{busiest} vs {}", per_office[0]);
    // Nonsense is refused with why.
    let wrong = DayShape { typing_share: 1.5, ..shape };
    assert_eq!(generate_shape(&wrong).unwrap_err().to_string(), "the typing share is between 0 and 1");
    assert!(DayShape::named("weekend", 1).unwrap_err().to_string().starts_with("unknown day `weekend`"));
}

/// A Slack-like day where people talk about a problem before they ask: no typing, chatter
/// before about half the prompts, and as much talk again that never becomes a request.
#[test]
fn a_chatty_day_talks_before_half_its_prompts_and_as_much_again_for_nothing() {
    use bot::simulate::{DayShape, generate_shape};
    let (_, events) = generate_shape(&DayShape::named("chatty", 5).unwrap()).unwrap();
    assert!(events.iter().all(|e| e.kind != EventKind::Typing), "no typing on this day");
    let prompts: Vec<&Event> = events.iter().filter(|e| e.kind == EventKind::Prompt).collect();
    // A prompt chatter announced: its person talked about that office's work since
    // their previous prompt there.
    let mut talked = std::collections::HashSet::new();
    let mut announced = 0;
    for event in &events {
        let key = (event.office.as_str(), event.user.as_str());
        match event.kind {
            EventKind::Chatter => drop(talked.insert(key)),
            _ => announced += usize::from(talked.remove(&key)),
        }
    }
    let talked_first = announced as f64 / prompts.len() as f64;
    assert!((0.4..0.6).contains(&talked_first), "about half announced by chatter: {talked_first}");
    let chatter = events.iter().filter(|e| e.kind == EventKind::Chatter).count();
    assert!(chatter as f64 > 1.5 * talked_first * prompts.len() as f64, "talk for nothing too: {chatter}");
    let wrong = DayShape { chatter_share: -0.1, ..DayShape::named("chatty", 5).unwrap() };
    assert_eq!(generate_shape(&wrong).unwrap_err().to_string(), "the chatter share is between 0 and 1");
}

/// The real provisioner on short days of every shape: whatever the shape, no office
/// gets two VMs, no wake fails, and every prompt not ready at submit is explained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_short_days_of_every_shape_the_mechanics_hold() {
    use bot::simulate::{DayShape, generate_shape};
    for name in ["skewed", "busy", "storm", "chatty"] {
        let shape = DayShape { offices: 24, hours: 1.0, ..DayShape::named(name, 3).unwrap() };
        let (header, events) = generate_shape(&shape).unwrap();
        let prompts = events.iter().filter(|e| e.kind == EventKind::Prompt).count();
        let report = run(header, events, 0.002, Policy::default()).await.unwrap();
        eprintln!("{name}: {report}");
        assert_eq!((report.prompts, report.duplicates, report.wake_failures), (prompts, 0, 0), "{name}: {report}");
        let explained = report.missed.total();
        let ready = (report.ready_at_submit * prompts as f64).round() as usize;
        assert_eq!(ready + explained, prompts, "{name}: {report}");
        assert!(report.storage_dollars > 0.0, "{name}: snapshots are priced");
    }
}

/// An office its people keep coming back to stays up between their sessions, so the
/// person who comes back after two hours finds it ready; an office used once sleeps on
/// its idle timeout. With `return_interval = 0s`, both sleep and the person waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_people_keep_coming_back_to_stays_up_between_sessions() {
    use bot::simulate::Header;
    let header = Header {
        kind: "regulars".to_owned(),
        hours: 4.5,
        offices: ["regular", "once"].map(|name| bot::simulate::OfficeSpec { name: name.to_owned(), tier: 2 }).into(),
    };
    let prompt = |minutes: f64, office: &str| Event {
        t: minutes * 60.0,
        kind: EventKind::Prompt,
        office: office.to_owned(),
        user: "ana".to_owned(),
        work: 60.0,
    };
    // A session every 40 minutes for two hours, then two hours of nothing: longer than
    // either idle timeout (30 min, 90 min unannounced).
    let mut events: Vec<Event> = [0.0, 40.0, 80.0, 120.0].iter().map(|&m| prompt(m, "regular")).collect();
    events.push(prompt(5.0, "once"));
    events.push(prompt(240.0, "regular"));
    events.sort_by(|a, b| a.t.total_cmp(&b.t));

    let report = run(header.clone(), events.clone(), 0.0005, Policy::default()).await.unwrap();
    eprintln!("{report}");
    // Each office's first prompt woke it; the return after two hours found it up.
    assert_eq!(report.missed.asleep, 2, "{report}");
    assert_eq!(report.duplicates, 0);

    let off = Policy { return_interval: std::time::Duration::ZERO, ..Policy::default() };
    let report_off = run(header, events, 0.0005, off).await.unwrap();
    assert_eq!(report_off.missed.asleep, 3, "{report_off}");
    // The offices' own VM-hours: how many pool VMs boot and go unclaimed depends on when
    // a wake finds the pool empty, which varies with the machine's load.
    let offices_hours = |report: &bot::simulate::Report| report.vm_hours - report.pool_waste_hours;
    assert!(offices_hours(&report_off) < offices_hours(&report), "staying up costs VM-hours: {report_off}");
}

/// Ana starts with her office at about one o'clock every day, and nothing she does
/// announces it; Bo uses his at a different hour each day. With their week behind them
/// (the trace's history), Nova wakes Ana's office ahead of her and she finds it up; Bo
/// waits, as both do with habits turned off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_used_at_the_same_time_every_day_is_up_before_its_person_comes() {
    use bot::simulate::Header;
    let header = Header {
        kind: "habits".to_owned(),
        hours: 1.5,
        offices: ["ana", "bo"].map(|name| bot::simulate::OfficeSpec { name: name.to_owned(), tier: 2 }).into(),
    };
    let prompt = |t: f64, office: &str| Event {
        t,
        kind: EventKind::Prompt,
        office: office.to_owned(),
        user: office.to_owned(),
        work: 60.0,
    };
    const DAY: f64 = 24.0 * 3600.0;
    let mut events = Vec::new();
    for (day, (minutes, hour)) in
        (1..=7).zip([(-6.0, 9.0), (3.0, 14.0), (0.0, 4.0), (8.0, 20.0), (-2.0, 11.0), (5.0, 17.0), (1.0, 7.0)])
    {
        events.push(prompt(-day as f64 * DAY + 3600.0 + minutes * 60.0, "ana"));
        events.push(prompt(-day as f64 * DAY + hour * 3600.0, "bo"));
    }
    events.push(prompt(3600.0 + 4.0 * 60.0, "ana"));
    events.push(prompt(3600.0 + 4.0 * 60.0, "bo"));
    events.sort_by(|a, b| a.t.total_cmp(&b.t));

    let report = run(header.clone(), events.clone(), 0.0005, Policy::default()).await.unwrap();
    eprintln!("{report}");
    assert_eq!(report.prompts, 2, "the history is read, not played: {report}");
    assert_eq!((report.foreseen, report.foreseen_hits), (1, 1), "{report}");
    assert_eq!(report.missed.asleep, 1, "Bo's office slept: {report}");
    assert_eq!(report.duplicates, 0);

    let off = Policy { habit_share: 0.0, ..Policy::default() };
    let report_off = run(header, events, 0.0005, off).await.unwrap();
    assert_eq!((report_off.foreseen, report_off.missed.asleep), (0, 2), "{report_off}");
}

/// A shaped day with history: its past is prompts only, at negative times, two weeks of
/// them with quiet weekends; with habits, most offices' past shows one Nova foresees,
/// and without, few do.
#[test]
fn a_day_with_history_has_its_past_as_prompts_and_its_habits_show_in_it() {
    use bot::simulate::{DayShape, generate_shape};
    use orchestrator::demand::next_habitual_wake;
    let shape = DayShape::named("routine", 3).unwrap();
    let (header, events) = generate_shape(&shape).unwrap();
    let past: Vec<&Event> = events.iter().filter(|e| e.t < 0.0).collect();
    assert!(past.iter().all(|e| e.kind == EventKind::Prompt), "no signals in the past");
    assert!(past.first().unwrap().t >= -14.0 * 86400.0 && past.first().unwrap().t < -13.0 * 86400.0);
    // The day is a Wednesday: three and four days before are the weekend.
    let on = |day: f64| past.iter().filter(|e| e.t >= -day * 86400.0 && e.t < (1.0 - day) * 86400.0).count();
    assert!(
        on(3.0) + on(4.0) < (on(1.0) + on(2.0)) / 4,
        "quiet weekends: {} {} vs {} {}",
        on(3.0),
        on(4.0),
        on(1.0),
        on(2.0)
    );
    let foreseen = |events: &[Event]| {
        header
            .offices
            .iter()
            .filter(|office| {
                let times: Vec<i64> = events
                    .iter()
                    .filter(|e| e.t < 0.0 && e.office == office.name)
                    .map(|e| (e.t * 1000.0) as i64)
                    .collect();
                next_habitual_wake(&times, 0, 0.5).is_some()
            })
            .count()
    };
    let with_habits = foreseen(&events);
    let (_, random) = generate_shape(&DayShape { habit: 0.0, ..shape.clone() }).unwrap();
    let without = foreseen(&random);
    eprintln!("offices with a habit foreseen: {with_habits} with habits, {without} without");
    assert!(
        with_habits >= 30 && with_habits >= 3 * without.max(1),
        "foreseen with habits {with_habits}, without {without}"
    );
    let wrong = DayShape { history_days: 3, hours: 12.0, ..shape };
    assert_eq!(generate_shape(&wrong).unwrap_err().to_string(), "history needs 24-hour days");
}

/// Someone types to an office and never sends anything, three times: each prewarm
/// expires, and the office sleeps on the snapshot it was restored from. However slow a
/// snapshot is, those sleeps cost nothing more: nothing ran, nothing new is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prewarm_no_prompt_followed_sleeps_without_a_snapshot() {
    use bot::simulate::Header;
    use std::time::Duration;
    let header = Header {
        kind: "watched".to_owned(),
        hours: 1.0,
        offices: vec![bot::simulate::OfficeSpec { name: "watched".to_owned(), tier: 2 }],
    };
    let events: Vec<Event> = [5.0, 25.0, 45.0]
        .iter()
        .map(|&minutes| Event {
            t: minutes * 60.0,
            kind: EventKind::Typing,
            office: "watched".to_owned(),
            user: "ana".to_owned(),
            work: 0.0,
        })
        .collect();
    let quick = run(header.clone(), events.clone(), 0.0005, Policy::default()).await.unwrap();
    let slow_snapshots =
        Policy { snapshot: (Duration::from_secs(1200), Duration::from_secs(2400)), ..Policy::default() };
    let slow = run(header, events, 0.0005, slow_snapshots).await.unwrap();
    assert_eq!((quick.prewarms, quick.prewarm_expired), (3, 3), "{quick}");
    assert_eq!(slow.prewarm_expired, 3, "{slow}");
    // Three 20-minute snapshots would be an hour of the office's VM time more. The warm
    // pool's unclaimed VMs are left out: how many the pool boots in an hour depends on
    // when its refills land against the scaled clock, which a loaded machine shifts.
    let office_hours = |report: &bot::simulate::Report| report.vm_hours - report.pool_waste_hours;
    assert!((office_hours(&slow) - office_hours(&quick)).abs() < 0.1, "{quick}\n{slow}");
}

/// An operator asks the simulator for the cheapest policy that meets their targets on
/// their own trace: every candidate runs the full simulation, the answer is the best of
/// them by the rules it states, and it comes as `[provisioner]` lines Nova reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuning_finds_the_best_policy_it_tried_and_says_it_as_config() {
    use bot::simulate::{DayShape, Knob, Targets, generate_shape, provisioner_toml, tune};
    let shape = DayShape { offices: 16, hours: 0.5, ..DayShape::named("untyped", 4).unwrap() };
    let (header, events) = generate_shape(&shape).unwrap();
    // A loose target the trace can meet, so that cost decides among those that meet it.
    let targets = Targets { typed: 0.0, untyped: 0.3, vm_share: 1.0 };
    let knobs = [(Knob::IdleTimeoutWithoutSignals, vec![60.0, 300.0]), (Knob::PoolFloor, vec![0.0, 2.0])];
    let mut tried = Vec::new();
    let best = tune(&header, &events, 0.002, Policy::default(), targets, &knobs, |report| tried.push(report.clone()))
        .await
        .unwrap();
    assert_eq!(tried.len(), 1 + 2 + 2, "the start, then each other setting of each knob");
    assert!(tried.iter().all(|r| r.duplicates == 0));
    let meeting: Vec<_> = tried.iter().filter(|r| targets.shortfall(r) == 0.0).collect();
    assert!(!meeting.is_empty(), "{tried:#?}");
    // The answer meets the targets and no policy tried that meets them is cheaper.
    assert_eq!(targets.shortfall(&best), 0.0);
    for report in &meeting {
        assert!(
            best.total_dollars() <= report.total_dollars() + 1e-9,
            "{} vs {}",
            best.total_dollars(),
            report.total_dollars()
        );
    }
    // A few minutes' wait for unannounced offices is cheaper than an hour and a half.
    assert!(best.policy.idle_timeout_without_signals < std::time::Duration::from_secs(5400), "{best}");

    // The answer as config: Nova reads it back as the same policy.
    let lines = provisioner_toml(&best.policy);
    let text = orchestrator::config::DEMO_TOML.replace(
        "idle_timeout = \"30s\"\nidle_timeout_without_signals = \"30s\"\n",
        lines.strip_prefix("[provisioner]\n").unwrap(),
    );
    let config = orchestrator::config::Config::parse(&text, "tuned").unwrap();
    let read = &config.provisioner;
    assert_eq!(
        (
            read.idle_timeout,
            read.idle_timeout_without_signals,
            read.return_interval,
            read.habit_share,
            read.prewarm_ttl,
            read.pool_floor,
            read.pool_ttl
        ),
        (
            best.policy.idle_timeout,
            best.policy.idle_timeout_without_signals,
            best.policy.return_interval,
            best.policy.habit_share,
            best.policy.prewarm_ttl,
            best.policy.pool.floor,
            best.policy.pool.ttl
        )
    );
}
