//! An operator tries a pool policy before spending a cent: `nova simulate` runs the
//! real GCE provisioner against the stand-in over a short Discord-like morning.

use bot::simulate::{Policy, generate, run};

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
    let missed = report.missed;
    let explained = missed.prewarm_restoring + missed.asleep + missed.behind_another_wake + missed.going_to_sleep;
    let ready = (report.ready_at_submit * prompts as f64).round() as usize;
    assert_eq!(ready + explained, prompts, "{report}");
    assert!(report.calls_per_minute_max as u32 <= report.quota_per_minute, "{report}");
}
