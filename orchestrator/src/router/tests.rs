use super::*;

fn demo() -> Router {
    Router::new(&Config::demo())
}

fn route_in(router: &Router, channel: &str, thread: &[&str], text: &str) -> String {
    let thread: Vec<String> = thread.iter().map(|s| s.to_string()).collect();
    let route = router.route(&RouteRequest { channel, thread: &thread, text, ..Default::default() });
    format!("{} / {}", route.repo.label(), route.office.as_deref().unwrap_or("unknown"))
}

fn route(channel: &str, text: &str) -> String {
    route_in(&demo(), channel, &[], text)
}

#[test]
fn the_demo_story_routes_to_maker_on_payments() {
    assert_eq!(route("payments", "the coupon field rejects valid codes, please fix"), "payments-api / maker");
}

#[test]
fn explicit_office_mention_wins_over_everything() {
    assert_eq!(route("support", "@operator restart the payment workers"), "payments-api / operator");
    assert_eq!(route("data", "@writer top 20 products by revenue"), "none / writer");
}

#[test]
fn repo_mentions_name_the_repo() {
    assert_eq!(route("eng", "repo:inventory bump the dependencies"), "inventory / maker");
    assert_eq!(route("eng", "bump the dependencies in storefront"), "storefront / maker");
}

#[test]
fn channels_are_priors_that_text_overrules() {
    assert_eq!(route("data", "top 20 products by revenue this quarter"), "none / analyst");
    assert_eq!(route("eng", "how many orders used a coupon in October?"), "none / analyst");
    assert_eq!(route("mobile", "refund emails show the wrong amount"), "payments-api / maker");
    assert_eq!(route("web", "how many visitors used the search box yesterday?"), "none / analyst");
    // A ranking asked where the engineers work, of what the engineers' repos record.
    assert_eq!(route("eng", "which products sold best in the storefront last week?"), "none / analyst");
    // A report of a fault there stays with them.
    assert_eq!(route("eng", "the storefront shows the wrong best sellers"), "storefront / maker");
}

#[test]
fn the_kind_of_work_picks_the_office() {
    assert_eq!(route("general", "roll back payments-api to the previous release"), "payments-api / operator");
    assert_eq!(route("general", "write a blog post about our winter collection"), "none / writer");
    assert_eq!(route("general", "customer says they were charged twice, draft a reply"), "none / support");
    assert_eq!(route("general", "build a dashboard of weekly returns by category"), "none / analyst");
    assert_eq!(route("general", "the product image carousel is broken on Safari"), "storefront / maker");
}

#[test]
fn content_free_messages_are_unknown() {
    for text in ["can someone look at this?", "it's broken", "any update?", "thanks!", "hello", "ok"] {
        assert_eq!(route("general", text), "unknown / unknown", "{text}");
    }
}

#[test]
fn repo_less_work_gets_none_and_code_work_gets_unknown() {
    assert_eq!(route("marketing", "draft release notes for the new mobile app version"), "none / writer");
    assert_eq!(route("eng", "fix the flaky test on main"), "unknown / maker");
    assert_eq!(route("ops", "deploy the fix"), "unknown / operator");
}

#[test]
fn the_thread_gives_short_follow_ups_their_subject() {
    let router = demo();
    assert_eq!(
        route_in(
            &router,
            "eng",
            &["The app freezes on the checkout screen on some Android phones"],
            "same problem on the Galaxy S22, can you fix it?"
        ),
        "mobile / maker"
    );
    assert_eq!(
        route_in(
            &router,
            "eng",
            &["Idea: reserve stock for 15 minutes when an item is added to the cart", "agreed"],
            "yes please implement it"
        ),
        "inventory / maker"
    );
}

#[test]
fn a_routed_thread_keeps_its_office() {
    let route = demo().route(&RouteRequest {
        channel: "general",
        text: "any update?",
        thread_office: Some("maker"),
        thread_repo: Some("mobile"),
        ..Default::default()
    });
    assert_eq!((route.repo.label(), route.office.as_deref(), route.stage), ("mobile", Some("maker"), Stage::Thread));
}

#[test]
fn picks_in_a_channel_lean_later_unclear_messages_their_way() {
    let router = demo();
    let before =
        router.route(&RouteRequest { channel: "general", text: "please handle the renewal", ..Default::default() });
    let picks = vec![("operator".to_owned(), 7)];
    let after = router.route(&RouteRequest {
        channel: "general",
        text: "please handle the renewal",
        channel_picks: &picks,
        ..Default::default()
    });
    assert!(after.confidence > before.confidence);
    assert_eq!(after.office.as_deref(), Some("operator"));
}

#[test]
fn an_unsure_route_offers_alternatives() {
    let route = demo().route(&RouteRequest { channel: "general", text: "the numbers look off", ..Default::default() });
    assert_eq!(route.office, None);
    assert!(route.confidence < 0.5);
}

#[test]
fn confidence_summary_of_the_demo_story() {
    let route = demo().route(&RouteRequest {
        channel: "payments",
        text: "the coupon field rejects valid codes, please fix",
        ..Default::default()
    });
    assert_eq!(
        (route.repo.label(), route.office.as_deref(), route.stage),
        ("payments-api", Some("maker"), Stage::Scorer)
    );
    assert!(route.confidence > 0.9, "{}", route.confidence);
    assert_eq!(route.alternatives[0], "maker");
}

/// A lending library: one engineer for the catalogue, a librarian for the public.
const LIBRARY: &str = r#"
[workspace]
name = "library"

[[repos]]
name = "catalogue"
description = "Catalogue and loans: holds, renewals, overdue notices and fines."
hints = ["holds", "overdue notice", "fines"]

[[offices]]
name = "dev"
role = "Software engineer: features and bug fixes in the catalogue."
repos = ["catalogue"]

[[offices]]
name = "librarian"
role = "Librarian: answers readers' questions and recommends books."
repos = []
"#;

fn library() -> Router {
    Router::new(&Config::parse(LIBRARY, "library").unwrap())
}

fn reads_as_a_report(router: &Router, text: &str) -> bool {
    let tokens = Tokens::new(text);
    let repo_scores = router.repo_scores(&tokens, &[], "general", router.named_repo(text));
    router.reports_on_a_subject(&tokens, &repo_scores)
}

#[test]
fn a_statement_about_a_clear_subject_reads_as_a_bug_report() {
    let router = library();
    assert!(reads_as_a_report(&router, "overdue notices went out with the old fines"));
    assert_eq!(route_in(&router, "general", &[], "overdue notices went out with the old fines"), "catalogue / dev");
    // Not a report: a question, a request, a clear kind of work, or no clear subject.
    assert!(!reads_as_a_report(&router, "why did overdue notices go out with the old fines?"));
    assert!(!reads_as_a_report(&router, "raise the fines for overdue holds to 50p"));
    assert!(!reads_as_a_report(&router, "write a post about overdue fines"));
    assert!(!reads_as_a_report(&router, "the reading room is lovely this morning"));
}

#[test]
fn questions_are_told_from_statements() {
    assert!(Tokens::new("what was churn last quarter").asks);
    assert!(Tokens::new("is anyone on the refund bug").asks);
    assert!(Tokens::new("the export fails, any idea?").asks);
    assert!(!Tokens::new("the export fails for large files").asks);
}

#[test]
fn a_questions_opening_says_what_kind_of_answer_is_wanted() {
    // "support tickets" are the support assistant's words; "how many" asks the analyst.
    assert_eq!(route("general", "how many support tickets mention the coupon field?"), "none / analyst");
}

const TICKETS: &str = r#"
[workspace]
name = "tickets"

[[repos]]
name = "resale"
description = "Resale of tickets between fans: listings, transfers and payouts to sellers."
hints = ["resale", "payout", "transfer"]

[[repos]]
name = "infra"
description = "Clusters, the CDN and monitoring."
hints = ["cdn", "kubernetes"]

[[offices]]
name = "engineer"
role = "Software engineer: builds and fixes resale."
repos = ["resale"]

[[offices]]
name = "sre"
role = "Site reliability engineer: runs the clusters and the CDN, handles outages."
repos = ["infra"]

[[offices]]
name = "fan-support"
role = "Support assistant: answers fans about tickets and refunds, drafts replies."
repos = []
"#;

#[test]
fn a_subject_word_that_is_also_a_kind_of_work_does_not_stop_a_report() {
    let router = Router::new(&Config::parse(TICKETS, "tickets").unwrap());
    // "tickets" is support's word in general, and this company's subject.
    let report = "sellers haven't received payouts for resold tickets since the 3rd";
    assert!(reads_as_a_report(&router, report));
    assert_eq!(route_in(&router, "general", &[], report), "resale / engineer");
    // A subject word first is the subject, not a request for its kind of work; and in a
    // statement it says nothing of whose work this is.
    let vanished = "tickets transferred to a friend vanish from the seller's payouts";
    assert_eq!(route_in(&router, "general", &[], vanished), "resale / engineer");
    // Of the subject's words, those of engineering kinds still say whose it is.
    assert_eq!(
        route_in(&router, "general", &[], "the CDN and the clusters serve stale pages after every price change"),
        "infra / sre"
    );
    // Still work of their kind: a request, or a subject word taking an object.
    assert!(!reads_as_a_report(&router, "answer the fan whose resale tickets never arrived"));
    assert_eq!(
        route_in(&router, "general", &[], "a fan asks why her resale payout is late, draft a reply"),
        "none / fan-support"
    );
}

#[test]
fn a_fault_dated_in_a_statement_is_not_a_request_for_analysis() {
    // "yesterday" and "last month" say when it went wrong; the payments repo is the subject.
    assert_eq!(route("general", "customers were charged the coupon rate twice yesterday"), "payments-api / maker");
    assert_eq!(route("general", "refund emails went out with the wrong amount last month"), "payments-api / maker");
    // A question about a period still asks for analysis.
    assert_eq!(route("general", "how many refunds did we issue last month?"), "none / analyst");
}

/// Terse roles, as people write them: one engineer per subject, the platform kept by an
/// SRE office whose role says nothing of fixing, and a backend kept by two offices.
const KEEPERS: &str = r#"
[workspace]
name = "keepers"

[[repos]]
name = "shop"
description = "The web shop: basket, checkout and order history."
hints = ["basket", "checkout"]

[[repos]]
name = "sensors"
description = "Sensor gateways and the alerts they raise."
hints = ["gateway", "sensor"]

[[repos]]
name = "platform"
description = "CI runners, databases and single sign-on."
hints = ["ci", "runner", "sso"]

[[repos]]
name = "api"
description = "The orders API and its webhooks."
hints = ["orders api", "webhook"]

[[offices]]
name = "web"
role = "Web developer."
repos = ["shop"]

[[offices]]
name = "devices"
role = "Embedded engineer."
repos = ["sensors"]

[[offices]]
name = "ops"
role = "SRE: cloud, CI, databases, on-call."
repos = ["platform", "api"]

[[offices]]
name = "backend"
role = "Backend engineer."
repos = ["api"]

[[offices]]
name = "numbers"
role = "Analyst: sales and stock figures."
repos = []
"#;

#[test]
fn code_work_on_a_clear_subject_goes_to_whoever_keeps_it() {
    let router = Router::new(&Config::parse(KEEPERS, "keepers").unwrap());
    let route = |text: &str| route_in(&router, "general", &[], text);
    // An engineer who keeps the subject takes its faults, though "Web developer" says
    // nothing of fixing; an engineer elsewhere is no candidate.
    assert_eq!(route("the basket empties itself when people go back to checkout"), "shop / web");
    assert_eq!(route("sensor gateways drop their readings every night"), "sensors / devices");
    // The CI's only keeper fixes it, though its role speaks of operating.
    assert_eq!(route("CI runners fail every build since this morning"), "platform / ops");
    // Of two keepers, the one whose role changes code: a builder also fixes.
    assert_eq!(route("webhooks from the orders API arrive without the order id"), "api / backend");
    // Operating still goes by the role's words, whoever keeps the subject.
    assert_eq!(route("roll back the orders API to yesterday's release"), "api / ops");
    // No clear subject: nothing changes for code work.
    assert_eq!(route("how many baskets were abandoned last week?"), "none / numbers");
}

#[test]
fn a_question_passed_on_is_for_whoever_answers_people() {
    // The shop's words make it the engineer's subject; someone asking, in the channel
    // where people's questions come, makes it support's.
    for text in [
        "a shop wants to know why their refund email shows the wrong amount",
        "a shop is asking why their refund email shows the wrong amount",
    ] {
        assert_eq!(route("support", text), "none / support", "{text}");
    }
}

#[test]
fn a_follow_up_that_says_nothing_asks_for_what_the_thread_opened_with() {
    let router = Router::new(&Config::parse(KEEPERS, "keepers").unwrap());
    let opening = ["the basket empties itself when people go back to checkout"];
    for text in ["got this report again today, can you take it?", "seeing this too, can someone pick it up?"] {
        assert_eq!(route_in(&router, "general", &opening, text), "shop / web", "{text}");
    }
    // A follow-up with a subject of its own is read for itself.
    assert_eq!(route_in(&router, "general", &opening, "also the CI runners fail every build"), "platform / ops");
}

#[test]
fn a_pass_that_expires_is_the_apps_fault_and_a_certificate_that_expires_is_operations() {
    let router = Router::new(&Config::parse(KEEPERS, "keepers").unwrap());
    let route = |text: &str| route_in(&router, "general", &[], text);
    // "expired" and "renewed" said of the business's own things are no operations words.
    assert_eq!(route("the basket shows as expired for people who renewed yesterday at checkout"), "shop / web");
    // Said with a certificate they still are.
    assert_eq!(route("the TLS certificate for single sign-on expires on Friday, renew it"), "platform / ops");
}

#[test]
fn a_word_is_one_word_however_it_is_hyphenated() {
    assert_eq!(text::words("Wi-Fi and e-mail"), text::words("wifi and email"));
}

#[test]
fn a_fault_reported_to_an_office_that_keeps_one_repo_among_other_work_names_that_repo() {
    // The marketplace's ML office: its role reads as analysis and research as much as
    // code, so it names a repo only for work that changes it, and a fault reported is.
    let router = router_of("crafts");
    for text in [
        "search for 'ceramic mug' ranks sold-out listings first",
        "recommendations on the home page feed show the same five shops to everyone",
    ] {
        assert_eq!(route_in(&router, "general", &[], text), "discovery / ml", "{text}");
    }
    // A question for it is still answered without a repo.
    assert_eq!(
        route_in(&router, "discovery", &[], "which recommendations get the most clicks?").split(" / ").next(),
        Some("none")
    );
}

fn router_of(set: &str) -> Router {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../testdata/routing/{set}/workspace.toml"));
    Router::new(&Config::load(&path).unwrap())
}

#[test]
fn a_fault_of_an_operation_is_the_operators_and_a_fault_of_the_subject_its_makers() {
    let router = router_of("waste");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("the deploy of the route planner has been stuck at 50% for an hour"), "routes / platform");
    assert_eq!(route("last night's backups of the resident portal failed"), "portal / platform");
    // The same subject's own fault is its developer's.
    assert_eq!(route("the route planner gives two crews the same stop"), "routes / dev");
    // An outage stated with its symptoms is the operators' too.
    assert_eq!(route("the resident portal is down, residents get a blank page"), "portal / platform");
    // Moving a service between regions is operations, whoever builds it.
    assert_eq!(route("move the telematics ingestion to the new region"), "telematics / platform");
}

#[test]
fn an_operators_patching_is_no_code_work_but_patching_servers_is_operations() {
    // "IT operations: servers, branch networks, backups, patching, deploys" keeps every
    // repo: it applies vendors' patches, so the developers still take the faults.
    let router = router_of("libraries");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("renewals fail for borrowers with more than 10 loans"), "catalogue / web-dev");
    assert_eq!(route("the kiosk at Westgate branch freezes after scanning a DVD"), "selfcheck / devices");
    assert_eq!(route("patch the catalogue servers this weekend"), "catalogue / it-ops");
}

#[test]
fn a_branch_of_a_business_is_no_git_branch_and_copies_of_a_book_are_no_text() {
    let concepts = |text: &str| {
        let lexicon = &*LEXICON_TABLE;
        let scores = lexicon.concepts(&Tokens::new(text).all);
        lexicon.concepts.iter().cloned().zip(scores).filter(|(_, s)| *s > 0.0).map(|(c, _)| c).collect::<Vec<_>>()
    };
    assert!(concepts("visits at the Westgate branch").is_empty());
    assert_eq!(concepts("merge the feature branch"), ["build"]);
    assert!(concepts("we have 12 copies").is_empty());
    assert_eq!(concepts("update the copy on the banner"), ["write", "design"]);
}

#[test]
fn patch_notes_are_writing_and_a_button_is_the_interfaces() {
    let router = router_of("games");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("write patch notes for 1.14"), "none / community");
    assert_eq!(route("add a replay button to the end-of-match screen"), "client / gameplay");
}

#[test]
fn telling_someone_is_answering_people_and_to_summarise_is_to_write_a_summary() {
    assert_eq!(
        route("support", "a customer left a parcel at the wrong address, tell him what to do"),
        "none / support"
    );
    assert_eq!(text::stem("summarise"), text::stem("summaries"));
}

#[test]
fn an_operators_security_patches_are_no_code_work() {
    // "IT and infrastructure: servers, network, cloud, deploys, security patches" keeps
    // every repo; the app's own faults are still its developer's.
    let router = router_of("ski");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("webcam feeds in the app are frozen"), "snow-app / mobile");
    assert_eq!(route("the checkout times out when the basket has more than 6 passes"), "shop / web");
    assert_eq!(route("apply the security patches to the gate controllers"), "lift-access / it");
}

#[test]
fn a_follow_up_that_asks_for_work_on_the_threads_subject_is_read_with_its_opening() {
    let router = router_of("ski");
    let opening = ["lift status in the app says every lift is closed"];
    assert_eq!(route_in(&router, "general", &opening, "still showing today, can someone fix it?"), "snow-app / mobile");
}

#[test]
fn a_failing_ci_is_the_operators_and_a_leaflet_is_writing() {
    let router = router_of("vets");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("CI has been failing on the pms repo since the Azure change"), "pms / ops");
    assert_eq!(route("a leaflet on kennel cough for the waiting rooms"), "none / vet-writer");
}

#[test]
fn of_two_keepers_the_one_whose_role_is_mostly_changing_code_fixes_the_code() {
    // "Validation and QA engineer: writes and runs test scripts, checks audit trails,
    // prepares GxP release packages" says fixing as loudly as "Software engineer: builds
    // and fixes the EDC" ("engineer"), but it is a small part of what it says.
    let router = router_of("trials");
    let text = "the edit check on systolic pressure fires for values that are within range";
    assert_eq!(route_in(&router, "edc-dev", &[], text), "edc / dev");
    // The insurer's coder against on-call, both keeping the policy system.
    let router = router_of("insurer");
    assert_eq!(
        route_in(&router, "policy", &[], "renewal notices went out with last year's premium"),
        "policy-admin / coder"
    );
}

#[test]
fn the_people_a_fault_happens_to_are_no_request_to_answer_them() {
    let router = router_of("furniture");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("the basket empties itself when customers sign in"), "web-shop / ecommerce");
    // Passing on what someone said still asks for an answer.
    assert_eq!(
        route("a customer says her sofa arrived with a torn arm, reply and arrange a return"),
        "none / customer-service"
    );
    let all = Tokens::new("members are asking why customers are charged twice").all;
    assert!(!text::names_people_affected(&all, 0), "members are asking");
    assert!(text::names_people_affected(&all, 4), "customers are charged");
}

#[test]
fn more_reports_of_the_same_ask_for_what_the_thread_opened_with() {
    let router = router_of("payroll");
    let opening = ["pension contributions are calculated on gross pay instead of qualifying earnings"];
    let text = "third customer reporting this, can you take it?";
    assert_eq!(route_in(&router, "general", &opening, text), "payroll-engine / payroll-dev");
}

#[test]
fn an_engineers_title_fixes_and_one_word_written_as_two_is_that_word() {
    let router = router_of("lockers");
    let route = |text: &str| route_in(&router, "general", &[], text);
    // "Backend engineer" fixes what it builds, so a security engineer who keeps the same
    // repo does not take its faults.
    assert_eq!(route("DPD tracking events stopped arriving at 3am"), "hermes / integrations");
    assert_eq!(route("review who still has admin access to the production cluster"), "ground / security");
    assert_eq!(route("locker utilisation by city for November"), "none / ops-analyst");
    let pubsub = route("the Pub/Sub backlog keeps growing on the tracking topic");
    assert_eq!(pubsub.split(" / ").next(), Some("ground"));
}

#[test]
fn an_it_desks_software_upgrades_are_no_feature_work() {
    let router = router_of("dealers");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("add electric range to the search filters"), "stock-site / web-team");
    // The IT repo is named `it`: the pronoun names no repo, `repo:it` does.
    assert_eq!(route("it's broken"), "unknown / unknown");
    assert_eq!(route("repo:it the phones at the Leeds dealership are down"), "it / it-desk");
}

#[test]
fn a_role_that_names_whose_thing_it_keeps_does_not_answer_them_and_more_complaints_are_more_reports() {
    let router = router_of("water");
    // "Developer for the customer website" keeps the customers' site; it does not
    // answer customers.
    let opening = ["direct debit customers get a second bill every month"];
    let route = route_in(&router, "general", &opening, "more complaints today, can someone take it?");
    assert!(["customer-portal / digital", "billing / billing-dev"].contains(&route.as_str()), "{route}");
}

#[test]
fn a_statements_opening_words_say_what_it_is_about() {
    // The lesson engine's hints ("lesson", "exercise") outnumber the CMS's, but the
    // statement is about the course editor.
    let router = router_of("languages");
    let route = route_in(&router, "general", &[], "the course editor crashes when a lesson has more than 40 exercises");
    assert_eq!(route.split(" / ").next(), Some("content-cms"));
}

#[test]
fn what_a_support_office_answers_about_are_its_topics_not_its_work() {
    // "Harbour office assistant: answers boaters about berths, arrivals, invoices and lost
    // gate fobs" answers people (support), and neither keeps the invoices nor fixes them.
    let router = router_of("marina");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("berth fee invoices have the wrong VAT rate for liveaboards"), "berths / booking-dev");
    assert_eq!(
        route("a boater on B14 says he was invoiced twice for October, can you reply to him"),
        "none / harbour-office"
    );
    // A marketing office's regatta programme is no program to write.
    assert_eq!(
        route("add a way to join the waiting list for an annual contract from the website"),
        "berths / booking-dev"
    );
    assert_ne!(text::stem("programme"), text::stem("programmer"));
    // An analyst who "answers questions about clinic volume" is still an analyst.
    let (doing, about) = role_clauses("Analyst: answers questions about clinic volume and no-shows.")[0];
    assert_eq!((doing, about), ("Analyst: answers questions", true));
}

#[test]
fn someones_words_passed_on_ask_for_an_answer_whatever_they_are_about() {
    // "customer" is the customer website's own word; the message still asks for a reply.
    let router = router_of("water");
    let text = "a customer says her water has been brown for two days, reply to her";
    assert_eq!(route_in(&router, "general", &[], text), "none / contact-centre");
    let router = router_of("bakery");
    let text = "a customer says her son reacted to the almond croissant, we need to reply today";
    assert_eq!(route_in(&router, "general", &[], text), "none / customer-team");
    let said = |text: &str| text::relays_what_someone_said(&Tokens::new(text).all);
    let router = router_of("nursery");
    let occupancy = "what's occupancy in the toddler rooms across all sites this term?";
    assert_eq!(route_in(&router, "general", &[], occupancy), "none / ops-insight");
    assert!(said("a homeowner wants to know when the engineer will arrive"));
    assert!(said("a boater on B14 says he was invoiced twice"));
    // A popup is no person, and customers charged twice said nothing.
    assert!(!said("a popup says the session expired"));
    assert!(!said("customers are charged twice"));
}

#[test]
fn someone_passed_on_with_a_request_to_reply_is_for_the_desk_named_for_them() {
    // "Patient support: …" is a support desk, though the lexicon reads "support" alone as
    // support for a feature; "patient" is also the patient app's name. Passing on what a
    // patient said asks for an answer even when the message also asks for a reply.
    let router = router_of("pharmacy");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("a patient says his inhaler never arrived, can someone reply to him"), "none / patient-support");
    // The patients' own fault is still the app's.
    assert_eq!(
        route("repeat prescription reminders are sent for medicines that were stopped"),
        "patient-app / app-team"
    );
}

#[test]
fn a_lone_bump_is_chatter_and_bumping_a_version_is_code_work() {
    let router = router_of("laundry");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("bump"), "unknown / unknown");
    assert_eq!(route("bump the barcode library to version 5 in the plant system"), "plant-system / ops-eng");
}

#[test]
fn an_it_office_asks_which_repo_only_for_work_on_one() {
    // "IT: hosting, deploys, venue Wi-Fi, tills, staff accounts, backups." keeps every repo.
    let router = router_of("venues");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("the Wi-Fi in the Orangery drops out during speeches"), "none / it");
    assert_eq!(route("set up staff accounts for the three new coordinators"), "none / it");
    // A deploy is work on a repo: which one, if the message does not say.
    assert_eq!(route("deploy the fix tonight"), "unknown / it");
    assert_eq!(route("roll out the new website tonight"), "website / it");
}

#[test]
fn in_a_report_a_kind_of_work_no_office_mainly_does_is_what_the_report_is_about() {
    // No heating engineers' office is mainly finance's: VAT is what the fault is about.
    let router = router_of("hvac");
    assert_eq!(
        route_in(&router, "general", &[], "quotes on the website show prices without VAT"),
        "booking-site / web-dev"
    );
    // No car rental office is mainly legal's: the rental agreement is where photos go.
    let router = router_of("carhire");
    assert_eq!(
        route_in(&router, "branch-tech", &[], "damage photos taken at return don't attach to the rental agreement"),
        "counter / developer"
    );
}

#[test]
fn policies_procedures_and_data_protection_are_compliance_work() {
    let router = router_of("hvac");
    assert_eq!(
        route_in(&router, "general", &[], "update our data retention policy for job photos"),
        "none / compliance"
    );
    let router = router_of("lettings");
    assert_eq!(
        route_in(&router, "general", &[], "what right-to-rent checks are required for a tenant with a share code?"),
        "none / compliance"
    );
    let router = router_of("pharmacy");
    assert_eq!(
        route_in(&router, "general", &[], "update the SOP for handling returned medicines"),
        "none / regulatory"
    );
}

#[test]
fn who_the_people_a_desk_answers_are_is_not_its_work() {
    // "Customer support: answers people who can't collect or return parcels" fixes
    // nothing that "can't": a duplicate notification is the app's engineer's.
    let router = router_of("lockers");
    assert_eq!(
        route_in(&router, "general", &[], "notifications are sent twice when a parcel is delivered"),
        "pocket / app"
    );
}

#[test]
fn paying_out_is_finance_selling_is_sales_and_shipping_a_fix_is_a_deploy() {
    let router = router_of("funeral");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("how much did we pay out in disbursements last quarter?"), "none / accounts");
    // One more family complaining is one more report of the thread's fault.
    let opening = ["condolence messages are posted twice when someone presses back"];
    assert_eq!(
        route_in(&router, "general", &opening, "another family complained today, please sort it"),
        "tributes / web"
    );
    let router = router_of("winery");
    // "Trade sales: quotes and orders …" sells; the analyst answers the question.
    let churn = "how many members cancelled their club membership since the price rise?";
    assert_eq!(route_in(&router, "winery-dev", &[], churn), "none / analyst");
    assert_eq!(route_in(&router, "general", &[], "ship the cellar door fix before the weekend"), "cellar-door / ops");
}

#[test]
fn a_fault_in_a_device_no_repo_keeps_is_the_operators_and_in_no_repo() {
    let router = router_of("funeral");
    assert_eq!(
        route_in(&router, "general", &[], "the printer at the Hove branch won't print order of service sheets"),
        "none / it-desk"
    );
    let router = router_of("winery");
    assert_eq!(
        route_in(&router, "general", &[], "card readers in the tasting room keep dropping off the network"),
        "none / ops"
    );
    // A login that fails is a sign-in's fault, and a phone number is no phone.
    let router = router_of("harvest");
    assert_eq!(
        route_in(&router, "general", &[], "SSO login fails for everyone at the Lincoln office"),
        "platform / ops"
    );
    let router = router_of("freight");
    let field = "add a phone number field to the quote request form";
    assert_eq!(route_in(&router, "engineering", &[], field), "www / builder");
}

#[test]
fn a_fault_someone_reported_with_a_request_to_answer_them_is_for_the_desk() {
    let router = router_of("winery");
    let text = "a member in Bristol says her autumn case arrived with two broken bottles, please reply and arrange a replacement";
    assert_eq!(route_in(&router, "general", &[], text), "none / members");
    let router = router_of("telecom");
    let text = "a customer says her broadband has dropped every evening for a week and wants to cancel, help me answer";
    assert_eq!(route_in(&router, "support", &[], text), "none / agent");
    let asks = |text: &str| text::asks_for_a_reply(&Tokens::new(text).all);
    assert!(asks("please get back to him today") && asks("let them know it's sorted") && asks("tell her we're sorry"));
    assert!(!asks("the customer says the app crashes, can someone fix it"));
}

#[test]
fn a_laptop_or_a_login_someone_needs_is_set_up_by_it_in_no_repo() {
    let router = router_of("funeral");
    let text = "the new arranger in Brighton needs a laptop and an email account";
    assert_eq!(route_in(&router, "general", &[], text), "none / it-desk");
    let router = router_of("winery");
    assert_eq!(route_in(&router, "general", &[], "the harvest team's tablets need a new login each"), "none / ops");
    // Where a repo keeps the laptops, it is that repo's.
    let router = router_of("dealers");
    let text = "the new starter in Sheffield needs a laptop and an M365 account";
    assert_eq!(route_in(&router, "general", &[], text), "it / it-desk");
    let needed = |text: &str| !text::needed_estate(&Tokens::new(text).all).is_empty();
    assert!(needed("new starters need laptops and logins by Monday"));
    assert!(!needed("members want to reset their password in the app"));
}

#[test]
fn resetting_a_password_is_operations_work() {
    let router = router_of("nursery");
    let text = "reset the password for the Elm Road manager's account";
    assert_eq!(route_in(&router, "general", &[], text), "none / tech");
}

#[test]
fn what_an_analysts_title_lists_is_what_it_analyses() {
    // "Performance analyst: repair times, arrears levels, complaint volumes,
    // satisfaction" answers no tenant.
    let router = router_of("housing");
    let text = "a tenant on Mill Lane says nobody turned up for her boiler repair yesterday, can you get back to her";
    assert_eq!(route_in(&router, "general", &[], text), "none / contact-centre");
    assert_eq!(
        route_in(&router, "general", &[], "which estates have the highest arrears compared with last year?"),
        "none / performance"
    );
}

#[test]
fn releasing_a_fix_is_a_deploy_and_how_full_is_a_measure() {
    let router = router_of("housing");
    let text = "release the rents fix tonight after the direct debit run";
    assert_eq!(route_in(&router, "general", &[], text), "rents / ict");
    let router = router_of("golf");
    let text = "how full was the tee sheet on weekday mornings in October?";
    assert_eq!(route_in(&router, "general", &[], text), "none / analytics");
}

#[test]
fn whose_devices_they_are_which_people_a_question_counts_and_whom_to_let_know() {
    let router = router_of("firesafety");
    let route = |text: &str| route_in(&router, "general", &[], text);
    // Opening on the engineers whose tablets they are is no request for engineering.
    assert_eq!(route("engineers' tablets in the south team won't connect to the van hotspots"), "none / it-support");
    assert_eq!(route("which engineers did the most visits in November?"), "none / ops-reporting");
    assert_eq!(
        route_in(&router, "service", &[], "let the care home know their engineer is running an hour late"),
        "none / service-desk"
    );
}

#[test]
fn a_subject_word_first_is_the_subject_unless_its_object_follows() {
    let router = router_of("insurer");
    let text = "cancellations are not refunding the unused premium pro rata";
    assert_eq!(route_in(&router, "general", &[], text), "policy-admin / coder");
}

#[test]
fn a_camera_or_a_pc_is_estate_a_login_someone_needs_is_in_no_repo_and_deploying_a_fix_is_a_deploy() {
    let router = router_of("opticians");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("the retinal camera in the York store won't connect to the PC"), "none / it");
    assert_eq!(route("the new optometrist in Exeter needs an account and a till login"), "none / it");
    assert_eq!(route("deploy the lab order fix tonight after the stores close"), "lab-orders / it");
    // What the camera takes is the records' own: a fault in it is still the developer's.
    assert_eq!(route("retinal images are saved against the wrong patient"), "patient-records / web");
}

#[test]
fn rolling_out_a_build_is_a_deploy_and_a_laptop_someone_needs_is_for_it() {
    let router = router_of("salon");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("roll out the new till build to all salons tonight"), "pos / tech");
    assert_eq!(route("the new junior at Camden needs a login for the booking system and the till"), "none / tech");
    // The IT role names no laptops: needing one is still operations' work, clearly.
    assert_eq!(route("the new junior at Camden needs a laptop"), "none / tech");
}

#[test]
fn a_service_that_has_been_down_is_an_outage_and_van_trackers_are_estate() {
    let router = router_of("removals");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("the quote tool has been down since 9"), "quote-tool / it-ops");
    assert_eq!(route("the van trackers stopped reporting their location this morning"), "none / it-ops");
    // A tracker a repo keeps is that repo's ("the workout tracker" of a gym's app).
    let gyms = router_of("gyms");
    assert_eq!(
        route_in(&gyms, "general", &[], "the workout tracker loses sets logged offline").split(" / ").next(),
        Some("member-app")
    );
}

#[test]
fn turnstiles_and_satellite_links_are_estate() {
    let router = router_of("themepark");
    let text = "the turnstiles at the north gate are rejecting valid tickets";
    assert_eq!(route_in(&router, "general", &[], text), "none / systems");
    let router = router_of("seafood");
    let text = "the satellite link on the Morning Star keeps dropping out";
    assert_eq!(route_in(&router, "general", &[], text), "none / ops");
}

#[test]
fn a_spreadsheet_something_came_from_is_no_request_for_figures() {
    let router = router_of("auctions");
    let thread = ["estimates show as zero on lots imported from the consignment spreadsheet"];
    let text = "seeing it on the watches sale too, can someone have a look";
    assert_eq!(route_in(&router, "general", &thread, text), "catalogue / platform");
}

#[test]
fn a_percentage_shown_is_a_feature_and_what_percentage_is_a_question() {
    let router = router_of("translation");
    let route = |text: &str| route_in(&router, "general", &[], text);
    assert_eq!(route("translation memory matches should be shown with their match percentage"), "tms / core-dev");
    assert_eq!(route("what percentage of Japanese jobs were delivered late in November?"), "none / analyst");
}

#[test]
fn telling_someone_by_their_title_is_a_reply() {
    let router = router_of("medtech");
    let text = "tell Mrs Alvarez her replacement monitor ships tomorrow";
    assert_eq!(route_in(&router, "support", &[], text), "none / support");
}

#[test]
fn a_hint_phrase_in_a_developers_role_names_a_thing_not_operations() {
    // The matching developer "builds and fixes … job alerts": alerting is not its work.
    let router = router_of("jobboard");
    let text = "deploy the screening fix to the employer portal after 6";
    assert_eq!(route_in(&router, "general", &[], text), "employer-portal / beacon");
}

#[test]
fn two_words_of_a_repos_description_in_a_role_name_a_thing_not_operations() {
    // The firmware developer "builds and fixes the monitor firmware": a blood pressure
    // monitor, not monitoring.
    let router = router_of("medtech");
    let text = "ship the clinician sharing fix to production tonight";
    assert_eq!(route_in(&router, "general", &[], text), "device-cloud / it");
}

const SECURITY: &str = r#"
[workspace]
name = "security"

[[repos]]
name = "alert-console"
description = "Alert console for the security operations centre: alert triage queue, detection rules, escalations."
hints = ["alert", "triage", "detection rule"]

[[repos]]
name = "platform"
description = "Hosting: the cluster, the CDN, backups and monitoring."
hints = ["cluster", "cdn", "backup"]

[[offices]]
name = "console-dev"
role = "Developer for the alert console."
repos = ["alert-console"]

[[offices]]
name = "sre"
role = "Site reliability: hosting, deploys, backups, incidents."
repos = ["alert-console", "platform"]
"#;

#[test]
fn operations_words_that_name_what_an_app_is_about_are_its_subject() {
    let router = Router::new(&Config::parse(SECURITY, "security").unwrap());
    let route = |text: &str| route_in(&router, "general", &[], text);
    // The console's alerts are what its developers build, not alerts to operate.
    assert_eq!(route("the triage queue shows closed alerts again after a refresh"), "alert-console / console-dev");
    // Operations words of what is operated still point at its operators.
    assert_eq!(route("the CDN is serving stale pages after a deploy"), "platform / sre");
    assert_eq!(route("the alert console has been down for 20 minutes"), "alert-console / sre");
}

const REPORTS: &str = r#"
[workspace]
name = "reports"

[[repos]]
name = "dispatch"
description = "Truck dispatch: assignments, queues at the shovels, cycle times."

[[offices]]
name = "dev"
role = "Developer for dispatch."
repos = ["dispatch"]
channels = ["dev"]

[[offices]]
name = "hse-writer"
role = "Writer: safety alerts, incident summaries, the monthly HSE report."
repos = []

[[offices]]
name = "analysis"
role = "Analyst: throughput, truck productivity, cost per tonne."
repos = []

[[offices]]
name = "tester"
role = "QA engineer: writes and runs test scripts."
repos = ["dispatch"]
"#;

#[test]
fn a_writers_reports_are_written_and_a_testers_scripts_are_tests() {
    let router = Router::new(&Config::parse(REPORTS, "reports").unwrap());
    let route = |channel: &str, text: &str| route_in(&router, channel, &[], text);
    // The writer's "monthly report" is a document it writes, not figures it analyses.
    assert_eq!(route("dev", "which trucks had the longest queue times this month?"), "none / analysis");
    assert_eq!(route("general", "write up the incident summary for Tuesday's rollover"), "none / hse-writer");
    // "writes and runs test scripts" is testing, not writing.
    assert_eq!(route("general", "write the newsletter for the drivers"), "none / hse-writer");
}

const ESPORTS: &str = r#"
[workspace]
name = "esports"

[[repos]]
name = "team-site"
description = "Team site: rosters, merch drops and the store, fan accounts."
hints = ["merch", "drop", "store"]

[[offices]]
name = "webdev"
role = "Developer for the team site."
repos = ["team-site"]
channels = ["web"]

[[offices]]
name = "netops"
role = "Operations: hosting, deploys, the gaming house network and PCs, staff accounts."
repos = ["team-site"]

[[offices]]
name = "community"
role = "Community: answers fans about merch orders, giveaways and bans."
repos = []

[[offices]]
name = "stats"
role = "Analyst: viewership, merch sales."
repos = []
"#;

#[test]
fn requests_read_through_what_the_workspace_keeps() {
    let router = Router::new(&Config::parse(ESPORTS, "esports").unwrap());
    let route = |channel: &str, text: &str| route_in(&router, channel, &[], text);
    // Someone's words passed on for an answer, though they name the store's drop.
    assert_eq!(
        route("general", "some kid says his hoodie from the drop never showed up, can someone get back to him"),
        "none / community"
    );
    // A PC no repo keeps, beside the accounts the site also calls accounts.
    assert_eq!(route("general", "new coach starts monday, needs a pc and accounts"), "none / netops");
    // How often, in the developers' channel, is a figure.
    assert_eq!(route("web", "which items do fans return most often?"), "none / stats");
}

#[test]
fn a_device_opens_the_message_whatever_is_said_of_it() {
    let router = router_of("radio");
    // "studio 2": the number says which computer; the computer is in no repo.
    let text = "The studio 2 computer keeps restarting in the middle of the drive-time show.";
    assert_eq!(route_in(&router, "general", &[], text), "none / broadcast-eng");
    // A device no repo keeps, said to be in some state, is reported faulty in any words.
    let router = router_of("carwash");
    assert_eq!(route_in(&router, "general", &[], "the webcam at site 3 is offline"), "none / it-support");
    assert_eq!(route_in(&router, "general", &[], "the dashcam at site 5 is offline"), "none / it-support");
}
