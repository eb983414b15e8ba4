//! Kinds of work, and the words and phrases that signal them, for any workspace.
//!
//! The router reads both a message and each office's role through this table, so an
//! office described as "deploys, rollbacks, incidents" and a message saying "roll back
//! payments to the last release" meet on the concept `operate`, in any industry. It is
//! general knowledge of how people describe work, not a fit to one workspace.
//!
//! Format: one concept a line, `concept: trigger, trigger phrase, trigger:weight, …`.
//! Weights default to 1; weak signals carry less. Phrases are matched before words,
//! longest first, and consume their words ("site reliability engineer" is `operate`,
//! not the `build` of "engineer"). A `*` stands for one to four words in between
//! ("roll the portal back", "roll out the new till build"); either side of it may be
//! several words ("how did * change", "get * fix out").

pub const LEXICON: &str = r#"
build: implement, implementation, implements, add:0.8, build:0.5, create:0.6, develop, developer, feature, features, support:0.3, allow:0.6, enable:0.6, integrate, integration, refactor, upgrade, bump:0.3, bump * to, bump * version, bump * versions, dependency, dependencies, helm chart:0.5, pull request, pull requests, pr, code, coding, compile:0.4, compiler:0.4, write code, writes code, writing code, writes and fixes code, writes and reviews code, endpoint, field:0.8, filter:0.7, button:0.7, option:0.5, setting:0.5, should:0.4, should be:0.5, need:0.3, needs:0.3, want:0.3, make it, rename:0.7, remove:0.4, change:0.3, unit test, test:0.5, tests:0.5, flaky:0.6, merge:0.6, feature branch, release branch, main branch, master branch, git branch, the branch:0.4, commit:0.5, library:0.5, sdk:0.6, component:0.6, screen:0.3, page:0.3, validation:0.6, verification:0.5, webhook:0.3, schema:0.5, parser:0.6, import:0.4, export:0.3, software engineer, software engineers, engineer:0.5, engineering:0.5, programmer, backend engineer, frontend engineer, mobile engineer, full stack, fullstack
fix: fix, fixes, fixed, fixing, bug:0.6, bugs:0.6, reported bug:0.4, reported bugs:0.4, bug report:0.4, bug reports:0.4, reported issue:0.4, reported issues:0.4, users report:0.8, customers report:0.8, players report:0.8, people report:0.8, was not:0.4, were not:0.4, did not:0.4, has not:0.4, have not:0.4, doubled:0.3, broken, break, breaks, crash, crashes, error:0.8, errors:0.8, exception, fail:0.8, fails:0.8, failing:0.8, failure:0.6, wrong:0.8, incorrect, regression, freeze, freezes, frozen, hang, hangs, stuck:0.7, stop working, stop updating, stop arriving, stop loading, stop syncing, stop showing, stop responding, stop reporting, stop sending, take * load:0.8, takes forever, takes ages, no longer:0.8, is not:0.4, are not:0.4, even when:0.6, even though:0.4, still shows:0.8, still show:0.8, shows no:0.7, instead of:0.5, since the * upgrade:0.8, after the * upgrade:0.6, disappeared, disappears, vanished, glitch, issue:0.4, problem:0.4, choke, chokes, greyed out:0.8, grayed out:0.8, lose:0.4, loses:0.6, twice:0.6, duplicate:0.5, duplicated:0.6, negative:0.5, missing:0.5, unreadable, not work, not working, does not, do not work, can not, cannot:0.6, will not, not update, not load, typo:0.3, invalid:0.5, reject:0.6, rejects:0.6, rejected:0.6, ignore:0.6, ignores:0.6, ignored:0.6, off by:0.8, blank:0.5, misaligned, overlap:0.4, debug, patch:0.6, writes and fixes code, engineer:0.5, software engineer, developer:0.5, programmer:0.5, backend engineer:0.5, frontend engineer:0.5, mobile engineer:0.5, full stack:0.5, fullstack:0.5
operate: deploy, deploys, deployed, deployment, deployments, hosting:0.5, network:0.4, networks:0.4, wifi:0.5, ship:0.4, ship * fix, ship * fixes, deploy * fix, deploy * fixes, deploy * build, roll * build, roll * fix, roll * fixes, release * build:0.8, push * build:0.6, ship it:0.8, release * fix:0.8, release * fixes:0.8, push * fix:0.6, push * fixes:0.6, get * fix out, get * fixes out, get * release out, fix live:0.8, fixes live:0.8, go live:0.6, goes live:0.6, rollout, roll out, roll back, rolls back, rollback, rollbacks, revert:0.5, restart, release:0.5, releases:0.4, release the:0.9, release it:0.9, release to:0.9, to release:0.6, reboot, redeploy, scale:0.7, autoscale, autoscaling, incident, incidents, outage, outages, down:0.6, is down:1.2, are down:1.2, went down:1.2, goes down:1.2, been down:1.2, was down:1.2, were down:1.2, gone down:1.2, degraded, latency, slow:0.5, alert, alerts, alerting, firing:0.6, pager, pagerduty, on call, oncall, roll:0.5, roll * back, rolled * back, spin * up, scale * up, scale * down, monitor, monitoring, observability, uptime, prod:0.8, staging:0.4, server:0.5, servers:0.5, cluster:0.6, pod:0.6, pods:0.6, queue:0.5, queued:0.6, still running:0.8, backlog:0.3, backing up, behind:0.6, lag:0.6, certificate:0.8, certificates:0.8, cert:0.8, renew:0.3, expire:0.3, expires:0.3, expiring:0.3, dns:0.7, cdn:0.7, ssl:0.7, tls:0.7, disk:0.6, cpu:0.6, memory:0.4, capacity:0.6, infrastructure:0.8, infra:0.6, ci:0.6, cloud bill, cloud costs, cloud cost, cloud spend, aws bill, aws costs, gcp bill, azure bill, hosting bill, hosting costs, infrastructure costs, 500s, 500 error, 500 errors, http 500, 502s, 502 error, bad gateway, 503s, 503 error, 504s, gateway timeout, 5xx, full:0.3, timeout:0.4, timeouts:0.5, right now:0.6, for all users:0.6, investigate:0.4, root cause, postmortem, worker:0.5, workers:0.5, cron:0.5, backup:0.6, backups:0.6, restore:0.5, patching:0.8, patch management, software upgrades:0.8, os upgrades:0.8, security patch:0.8, security patches:0.8, patch * server, patch * servers, patch * hosts, patch * machines, region:0.3, regions:0.3, new region, another region, other region, second region, multi region, failover, provision, spin up, firewall, vpn, mailbox:0.6, mailboxes:0.6, laptop:0.5, laptops:0.5, printer:0.5, printers:0.5, headset:0.5, headsets:0.5, card reader:0.6, card readers:0.6, card machine:0.6, card machines:0.6, card terminal:0.6, card terminals:0.6, reset * password:0.8, reset * passwords:0.8, reset password:0.8, password reset:0.5, locked out:0.6, unlock * account:0.8, tablet:0.3, tablets:0.3, rotate:0.5, quota:0.5, site reliability, site reliability engineer, reliability engineer, sre, devops, operator:0.6, operations:0.6, ops:0.7, platform engineer, infrastructure engineer, devops engineer, devops engineers
analyze: how many:1.5, how much:1.5, which * most:1.5, which * best:1.5, which * worst:1.5, which * least:1.5, which * fewest:1.5, which * fewer:1.2, which * less:1.2, which * longest:1.5, which * shortest:1.5, which * biggest:1.5, which * smallest:1.5, the longest:0.8, the shortest:0.8, the biggest:0.8, the smallest:0.8, than last:0.8, how did * change:1.2, how has * changed:1.2, how have * changed:1.2, how big:1.2, how large:1.2, how often:1.2, most often:1.2, how full:1.2, how busy:1.2, the most:0.8, the highest:0.8, the lowest:0.8, the fewest:0.8, the least:0.6, most common:0.8, what was:1.2, what were:1.2, what is our:1.2, what are our:1.2, what share:1.2, what percentage:1.2, what percent:1.2, what proportion:1.2, what fraction:1.2, proportion of:0.8, spike:0.6, spiked:0.6, jumped:0.6, surge:0.6, surged:0.6, number of:1.5, vs:0.4, versus:0.4, compared to:0.5, january:0.3, february:0.3, march:0.3, april:0.3, may:0.2, june:0.3, july:0.3, august:0.3, september:0.3, october:0.3, november:0.3, december:0.3, q1:0.5, q2:0.5, q3:0.5, q4:0.5, per:0.3, count:0.6, metric, metrics, kpi, kpis, dashboard, dashboards, report:0.5, reports:0.6, reporting:0.8, weekly report, monthly report, daily report, kpi report, kpi reports, chart, charts, graph:0.6, trend, trends, rate:0.6, ratio, percent:0.5, percentage:0.5, average, median, total:0.4, revenue, utilisation, occupancy, utilization, uptake:0.6, mrr, arr:0.8, arpu, ltv, cac:0.8, gmv, conversion, conversions, retention, churn, cohort, cohorts, funnel, top:0.5, ranking, breakdown, compare:0.3, comparison:0.4, forecast:0.5, visitors, traffic:0.7, sessions:0.5, sales:0.4, last month, last week, last quarter, last year, last spring, last summer, last autumn, last fall, last winter, this quarter, this month, this week, this year, per day, per week, per month, yesterday:0.6, daily:0.3, weekly:0.4, monthly:0.4, quarterly:0.6, year over year, yoy, sql, query:0.6, queries:0.6, warehouse:0.3, data:0.5, dataset, analysis, analyze, analyse, analytics, statistics, stats, insight, insights, segment:0.5, spreadsheet:0.5, a b test, experiment:0.4, analyst, data scientist, business intelligence
write: write, writes, writing, draft:0.7, drafts:0.7, rewrite, edit:0.5, proofread, blog, blog post, post:0.4, article, articles, help article, documentation, document:0.4, document the:0.8, description:0.5, descriptions:0.5, app store:0.4, listing:0.3, docs:0.8, doc:0.6, release notes, patch notes, changelog, copy:0.6, copywriting, newsletter, leaflet:0.8, leaflets:0.8, flyer:0.8, flyers:0.8, brochure:0.8, brochures:0.8, announcement, announce, press release, faq, guide:0.6, tutorial, wording, still says, says:0.3, content:0.7, translate, translation, email:0.3, campaign:0.3, social media, social post, social posts, instagram, linkedin, facebook post, tiktok, tweet, caption, headline, tagline, readme:0.6, explain:0.3, summary:0.3, summarise:0.8, summarize:0.8, sum up:0.6, writer, editor:0.7, copywriter, technical writer
support: customer, customers, user says, says they, says she:0.6, says he:0.6, client says:0.8, customer says:0.8, asked:0.3, want to know:0.8, wants to know:0.8, would like to know:0.8, ask why:0.6, asks why:0.6, asking why:0.6, is asking:0.6, are asking:0.6, ticket, tickets, triage:0.8, reply:0.8, replies:0.8, respond:0.7, response:0.4, answer:0.4, complaint, complaints, complain, inquiry, enquiry, escalate, escalation, help desk, helpdesk, how do i tell, how do we tell, what do i tell, what do we tell, what should i tell, what should we tell, account:0.3, satisfaction, csat, nps, get back to, tell him:0.8, tell her:0.8, tell them:0.6, let him know:0.8, let her know:0.8, let them know:0.6, let * know:0.6, tell mr:0.8, tell mrs:0.8, tell ms:0.8, tell miss:0.8, tell dr:0.8, tell the customer:0.8, tell the client:0.8, tell the caller:0.8, refund request, customer support, support agent, customer success
research: research, investigate:0.3, evaluate, evaluation, compare:0.4, find out, competitor, competitors, competitive, market:0.5, benchmark:0.4, survey:0.4, options:0.4, alternatives:0.6, pros and cons, recommend:0.6, recommendation:0.6, look into:0.5, study, paper:0.5, literature, vendor:0.4, vendors:0.4, researcher
design: design, designs, designer, mockup, mockups, mock up, figma, ux, ui:0.5, wireframe, wireframes, prototype, logo, icon, icons, illustration, color:0.4, colors:0.4, colour:0.4, palette, font:0.5, typography, layout:0.5, visual, branding, style guide, banner:0.6
security: security, secure, vulnerability, vulnerabilities, cve, exploit, audit:0.7, pentest, penetration test, access:0.4, permission:0.6, permissions:0.6, rbac, iam, least privilege, phishing, malware, breach, leak:0.4, leaked, compliance:0.4, soc2, soc 2, encrypt, encryption, mfa, 2fa, sso:0.5, secret:0.4, secrets:0.4, threat, security engineer
qa: qa, release candidate:0.5, test script, test scripts, writes tests, write tests, writing tests, writes test scripts, write test scripts, writes and runs tests, writes and runs test scripts, writes and maintains tests, test plan, test case, test cases, regression test, regression tests, verify:0.5, reproduce, repro, smoke test, end to end, e2e, acceptance test, tester, testing:0.6, exploratory, quality assurance
finance: invoice, invoices, invoicing, billing:0.6, expense, expenses, budget:0.6, payroll, accounting, accountant, bookkeeping, reconcile, reconciliation, ledger, tax, taxes, vat, accounts payable, accounts receivable, cost:0.4, costs:0.4, spend:0.5, reimbursement, cash flow, financial, finance, purchase order:0.5, purchase orders:0.5, raise a purchase order, supplier contract:0.5, vendor invoice, disbursement, disbursements, payout, payouts, pay out, paid out, payment plan, payment plans, instalment:0.6, instalments:0.6, installment:0.6, installments:0.6
legal: contract, contracts, nda, baa, msa, sow:0.5, business associate agreement, terms of service, terms and conditions, tos, policy:0.5, privacy policy, legal, lawyer, counsel, compliance:0.4, license:0.7, licence:0.7, licensing, trademark, copyright, gdpr:0.5, dpa, clause, agreement, liability, regulation, regulatory, legislation, legislative, data protection, data retention, retention policy, retention policies, privacy request, privacy requests, personal data, delete their data, delete his data, delete her data, delete my data, subject access request, subject access requests, dsar, right to be forgotten, ccpa, hipaa, sop, sops, standard operating procedure, standard operating procedures, right to rent, obligation:0.6, obligations:0.6, required by law, legally
hr: hire, hiring, candidate, candidates, interview, interviews, recruit, recruiting, recruiter, job description, job posting, job opening, job openings, open position, open role, onboarding, offboarding, offer letter, resume, cv, benefits, time off, pto, vacation, performance review, employee, employees, headcount, people team
sales: leads:0.6, sales leads, prospect, prospects, outreach, crm, deals:0.6, close the deal, quote:0.5, proposal, pitch, demo:0.4, cold email, seo, sem, ads:0.7, ad campaign, paid ads, marketing, growth:0.4, webinar, partnership, upsell, renewal:0.3, sales:0.5, trade sales, sales team, sales rep, sales reps, salesperson, account executive, marketer
planning: roadmap, spec, specification, prd, requirements, prioritize, prioritise, prioritization, sprint, planning, plan:0.5, meeting notes, standup, retro, okr, okrs, milestone, milestones, timeline, estimate:0.6, estimation, scope, stakeholder, stakeholders, user story, user stories, epic, product manager, project manager
"#;

/// Concepts whose work happens in a repository: an office doing this kind of work
/// needs to know which repo, and says `unknown` rather than `none` when it cannot tell.
pub const CODE_CONCEPTS: &[&str] = &["build", "fix", "operate", "qa", "security"];

/// Kinds of work on a repository's own code, done by whoever keeps that repository.
pub const OWNED_CONCEPTS: &[&str] = &["build", "fix"];

/// Kinds of work that change what a repository holds (code, articles, designs). An
/// office that can work without a repo names one only for these: replying on a forum
/// changes nothing in the forum's repo.
pub const CHANGE_CONCEPTS: &[&str] = &["build", "fix", "write", "design"];

/// Words too common to tell one repo from another when they happen to appear in a
/// single repo's description ("order", "message"): they count for less there.
pub const GENERIC_WORDS: &[&str] = &[
    "order",
    "orders",
    "page",
    "pages",
    "screen",
    "screens",
    "data",
    "service",
    "services",
    "app",
    "application",
    "system",
    "systems",
    "user",
    "users",
    "account",
    "accounts",
    "item",
    "items",
    "list",
    "lists",
    "view",
    "views",
    "history",
    "status",
    "update",
    "updates",
    "time",
    "times",
    "date",
    "dates",
    "number",
    "numbers",
    "file",
    "files",
    "tool",
    "tools",
    "platform",
    "management",
    "manager",
    "info",
    "information",
    "detail",
    "details",
    "setting",
    "settings",
    "process",
    "flow",
    "flows",
    "module",
    "core",
    "main",
    "public",
    "internal",
    "feature",
    "features",
    "report",
    "reports",
    "message",
    "messages",
    "form",
    "forms",
    "request",
    "requests",
    "link",
    "links",
    "record",
    "records",
    "type",
    "types",
    "team",
    "teams",
    "line",
    "lines",
    "job",
    "jobs",
    "task",
    "tasks",
    "result",
    "results",
    "secure",
    "used",
    "online",
    "web",
    "site",
    "api",
    "backend",
    "frontend",
    "component",
    "components",
];

/// Words that point at the same subject: a message word on the left also counts, more
/// weakly, as the words on the right when matched against repo descriptions.
pub const SYNONYMS: &str = r#"
iphone: ios
ipad: ios
galaxy: android
pixel: android
samsung: android
app: mobile, application
apps: mobile, application
website: web, site, frontend
homepage: website, web, landing
site: web, website
frontend: web, ui
backend: api, server, service
k8s: kubernetes
cluster: kubernetes, gke, eks, aks
bucket: cloud, storage, s3, gcs
pc: laptop, desktop
pcs: laptop, desktop
kube: kubernetes
cert: certificate
certs: certificate
db: database
postgres: database
mysql: database
docs: documentation
doc: documentation
repo: repository
ci: pipeline
pipeline: ci
email: mail
emails: mail
payment: pay, charge, billing
checkout: cart, payment
button: ui
wifi: network, wireless
vpn: network
buttons: ui
login: auth, authentication
signin: auth, authentication
auth: authentication, login
sku: stock, product
"#;
