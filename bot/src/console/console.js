// The Nova console: channels, threads, live office states. Plain JS, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const view = { channel: null, thread: null, messages: new Map() };


function clientId() {
  return (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

async function api(path, body) {
  const init = body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {};
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) $('signed-out').hidden = false;
  if (!response.ok) throw new Error(data.error || `request failed (${response.status})`);
  return data;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// Just enough Markdown for Nova's texts: code blocks, `code`, **bold**, checklists, quotes.
function markdown(text) {
  const parts = escapeHtml(text).split(/```(?:\w+)?\n?/);
  return parts.map((part, i) => {
    if (i % 2 === 1) return `<pre><code>${part}</code></pre>`;
    const inline = (s) => s.replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
    let html = '';
    let list = false;
    for (const line of part.split('\n')) {
      const item = line.match(/^- \[( |x)\] (.*)$/);
      if (item && !list) { html += '<ul class="checklist">'; list = true; }
      if (!item && list) { html += '</ul>'; list = false; }
      if (item) html += `<li>${item[1] === 'x' ? '☑' : '☐'} ${inline(item[2])}</li>`;
      else if (line.startsWith('&gt; ')) html += `<blockquote>${inline(line.slice(5))}</blockquote>`;
      else if (line.trim()) html += `<p>${inline(line)}</p>`;
    }
    return list ? html + '</ul>' : html;
  }).join('');
}

function renderOffice(office) {
  let li = document.querySelector(`#offices li[data-office="${office.name}"]`);
  if (!li) {
    li = document.createElement('li');
    li.className = 'office';
    li.dataset.office = office.name;
    li.innerHTML = '<span class="name"></span><span class="state"></span>';
    $('offices').appendChild(li);
  }
  li.title = office.failure ? `${office.role}\nFailed: ${office.failure}` : office.role;
  li.querySelector('.name').textContent = office.name;
  const state = li.querySelector('.state');
  state.textContent = office.state;
  state.dataset.state = office.state;
}

function renderMessage(message) {
  // A thread's first load may answer with a message older than a live update that came
  // meanwhile (a card decided while the page loaded): the newer one stays.
  const shown = view.messages.get(message.id);
  if (shown && shown.updated_at > message.updated_at) return;
  view.messages.set(message.id, message);
  let li = document.querySelector(`#messages li[data-id="${message.id}"]`);
  if (!li) {
    li = document.createElement('li');
    li.dataset.id = message.id;
    const after = [...$('messages').children].find((el) => Number(el.dataset.id) > message.id);
    $('messages').insertBefore(li, after || null);
  }
  li.className = `message ${message.from_nova ? 'nova' : 'person'} ${message.kind}`;
  li.dataset.kind = message.kind;
  const time = new Date(message.created_at).toLocaleTimeString();
  li.innerHTML = `<div class="who">${escapeHtml(message.from_nova ? 'Nova' : message.author)}<time>${time}</time></div>`
    + `<div class="body">${markdown(message.body)}</div>`;
  const card = message.card;
  if (card && card.type === 'approval' && card.state === 'pending') {
    li.classList.add('card');
    const actions = document.createElement('div');
    actions.className = 'actions';
    for (const [label, action] of [['Approve', 'approve'], ['Reject', 'reject']]) {
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.action = action;
      button.className = action;
      button.textContent = label;
      button.addEventListener('click', () => decide(message, card, action, actions));
      actions.appendChild(button);
    }
    li.appendChild(actions);
  }
  if (card && card.type === 'credential' && card.state === 'pending') {
    oneButton(li, 'provide', 'Provide', '', () => openCredentialForm(card));
  }
  if (card && card.type === 'progress' && (card.status === 'queued' || card.status === 'working')) {
    oneButton(li, 'stop', 'Stop', 'reject', (actions) => stop(message, actions));
  }
  if (card && card.type === 'picker' && !card.resolved) {
    li.classList.add('card');
    const actions = document.createElement('div');
    actions.className = 'actions';
    for (const option of card.options) {
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.office = option.office;
      button.innerHTML = `${escapeHtml(option.office)} <small>${escapeHtml(option.role.split(':')[0])}</small>`;
      button.addEventListener('click', () => pick(message, option.office, actions));
      actions.appendChild(button);
    }
    li.appendChild(actions);
  }
}

// A card's single button; `onClick` gets the button row, to disable while it works.
function oneButton(li, action, label, className, onClick) {
  li.classList.add('card');
  const actions = document.createElement('div');
  actions.className = 'actions';
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.action = action;
  button.className = className;
  button.textContent = label;
  button.addEventListener('click', () => onClick(actions));
  actions.appendChild(button);
  li.appendChild(actions);
}

async function pick(message, office, actions) {
  actions.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  try {
    await api('/api/console/actions', {
      thread_id: message.thread_id, message_id: message.id,
      action: 'pick', office, client_id: clientId(),
    });
  } catch (error) {
    showError('reply-error', error.message);
    actions.querySelectorAll('button').forEach((b) => { b.disabled = false; });
  }
}

async function stop(message, actions) {
  actions.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  try {
    await api('/api/console/actions', {
      thread_id: message.thread_id, message_id: message.id, action: 'stop', client_id: clientId(),
    });
    showError('reply-error', '');
  } catch (error) {
    showError('reply-error', error.message);
    actions.querySelectorAll('button').forEach((b) => { b.disabled = false; });
  }
}

async function decide(message, card, action, actions) {
  const verb = action === 'approve' ? 'Approve' : 'Reject';
  if (!confirm(`${verb}: ${card.action}?\nAsked by ${card.office}, risk: ${card.risk}.`)) return;
  actions.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  try {
    await api('/api/console/actions', {
      thread_id: message.thread_id, message_id: message.id, action, client_id: clientId(),
    });
    showError('reply-error', '');
  } catch (error) {
    showError('reply-error', error.message);
    actions.querySelectorAll('button').forEach((b) => { b.disabled = false; });
  }
  refreshApprovals();
}

// The private form behind "Provide": the value is posted once and cleared at once.
let credentialRequest = null;
function openCredentialForm(card) {
  credentialRequest = card.id;
  $('credential-name').textContent = card.name;
  $('credential-why').textContent = `${card.office} needs it ${card.why.startsWith('to ') ? '' : 'for: '}${card.why}`;
  $('credential-value').value = '';
  showError('credential-error', '');
  $('credential-dialog').showModal();
}
$('credential-cancel').addEventListener('click', () => { $('credential-value').value = ''; $('credential-dialog').close(); });
$('credential-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('credential-value');
  const value = input.value;
  input.value = '';
  try {
    const response = await fetch('/api/console/credentials', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: credentialRequest, value }),
    });
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `request failed (${response.status})`);
    $('credential-dialog').close();
  } catch (error) {
    showError('credential-error', error.message);
  }
});

async function refreshApprovals() {
  const list = $('approvals');
  const pending = await api('/api/approvals').catch(() => []);
  list.innerHTML = '';
  if (!pending.length) list.innerHTML = '<li class="empty">nothing</li>';
  for (const approval of pending) {
    const li = document.createElement('li');
    li.dataset.approval = approval.id;
    li.textContent = `${approval.office}: ${approval.action}`;
    li.addEventListener('click', () => openThread(approval.thread_id, approval.action));
    list.appendChild(li);
  }
}

function showError(id, text) {
  const el = $(id);
  el.textContent = text;
  el.hidden = !text;
}

function duration(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

function dollars(usd) { return `$${usd.toFixed(2)}`; }

// One office's card on the org chart: state, what it holds, its queue, spend against budget.
function officeCard(office) {
  const budget = office.budget_usd;
  const share = budget ? Math.min(1, office.spent_month_usd / budget) : 0;
  const bar = budget
    ? `<div class="bar" title="${dollars(office.spent_month_usd)} of ${dollars(budget)}"><span style="width:${(share * 100).toFixed(0)}%" class="${share >= 1 ? 'spent' : share >= 0.8 ? 'warn' : ''}"></span></div>`
    : '';
  const tasks = office.tasks.map(([id, title]) => `<div class="task">#${id} ${escapeHtml(title)}</div>`).join('');
  const waits = office.pending_approvals ? ` · <strong>${office.pending_approvals} approval(s) waiting</strong>` : '';
  return `<div class="office-card" data-office="${escapeHtml(office.name)}">`
    + `<div class="head"><strong>${escapeHtml(office.name)}</strong> <span class="state" data-state="${office.state}">${office.state}</span></div>`
    + `<div class="meta">${escapeHtml(office.role)}</div>${tasks}`
    + `<div class="meta">${office.running} running · ${office.queued} queued · ${dollars(office.spent_month_usd)}${budget ? ` of ${dollars(budget)}` : ''} this month${waits}</div>${bar}</div>`;
}

function orgTree(offices, boss) {
  const reports = offices.filter((o) => (o.reports_to || null) === boss
    || (boss === null && o.reports_to && !offices.some((b) => b.name === o.reports_to)));
  return reports.map((o) => {
    const below = orgTree(offices, o.name);
    return `<li>${officeCard(o)}${below ? `<ul>${below}</ul>` : ''}</li>`;
  }).join('');
}

async function refreshBoard() {
  if (!view.board) return;
  const board = await api('/api/board');
  $('board-spend').textContent = `· ${dollars(board.spent_month_usd)}${board.budget_usd != null ? ` of ${dollars(board.budget_usd)}` : ''} spent this month`;
  $('org').innerHTML = orgTree(board.offices, null);
  const offices = board.offices.map((o) => o.name);
  $('tasks').querySelector('tbody').innerHTML = board.tasks.map((t) => `<tr data-task="${t.id}" data-state="${t.state}">`
    + `<td>${t.id}</td><td>${escapeHtml(t.title)}</td><td>${escapeHtml(t.owner || 'any')}</td><td>${t.state}</td>`
    + `<td>${escapeHtml(t.holder || '')}</td><td>${t.attempts}</td><td>${taskControls(t, offices)}</td></tr>`).join('')
    || '<tr><td colspan="7" class="meta">No tasks yet.</td></tr>';
  const most = Math.max(1, ...board.week.map((w) => w.results));
  $('week').querySelector('tbody').innerHTML = board.week.map((w) => `<tr data-office="${escapeHtml(w.office)}">`
    + `<td>${escapeHtml(w.office)}</td><td>${w.sessions}</td><td>${w.people}</td>`
    + `<td><span class="spark" style="width:${(w.results / most * 4).toFixed(2)}rem"></span> ${w.results}</td>`
    + `<td>${duration(w.first_response_ms)}</td><td>${duration(w.result_ms)}</td><td>${w.tasks_done}</td>`
    + `<td>${dollars(w.cost_usd)}</td><td>${w.cost_per_result_usd == null ? '–' : dollars(w.cost_per_result_usd)}</td></tr>`).join('');
}

// What a person may do with a task that is not done: give it to an office (its own
// again is a retry) or cancel it. Nova checks who may; a refusal shows under the table.
function taskControls(task, offices) {
  if (task.state === 'done') return '';
  const options = offices.map((name) => `<option${name === task.owner ? ' selected' : ''}>${escapeHtml(name)}</option>`).join('');
  const cancel = task.state === 'cancelled' ? '' : ' <button type="button" data-change="cancel">Cancel</button>';
  return `<select aria-label="Give task ${task.id} to">${options}</select> <button type="button" data-change="assign">Give</button>${cancel}`;
}

$('tasks').addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-change]');
  if (!button) return;
  const row = button.closest('tr');
  showError('tasks-error', '');
  try {
    if (button.dataset.change === 'cancel') await api(`/api/tasks/${row.dataset.task}/cancel`, {});
    else await api(`/api/tasks/${row.dataset.task}/assign`, { office: row.querySelector('select').value });
    await refreshBoard();
  } catch (error) {
    showError('tasks-error', error.message);
  }
});

// The fleet change form: the fields the chosen action takes, posted as the contract's
// `{"action", "args"}` to /api/fleet; the thread it opens shows the approval card.
function showFleetFields() {
  const action = $('fleet-action').value;
  document.querySelectorAll('#fleet-form label[data-for]').forEach((label) => {
    label.hidden = !label.dataset.for.split(' ').includes(action);
  });
}

function fleetChange() {
  const value = (id) => $(id).value.trim();
  const number = (id) => (value(id) === '' ? undefined : Number(value(id)));
  const action = $('fleet-action').value;
  const office = value('fleet-office');
  const details = { role: value('fleet-role') || undefined, reports_to: value('fleet-boss') || undefined,
    tier: number('fleet-tier'), budget_usd: number('fleet-budget') };
  switch (action) {
    case 'create_office': return { action, args: { name: office || undefined, ...details, role: value('fleet-role') } };
    case 'update_office': return { action, args: { office, changes: details } };
    case 'retire_office': return { action, args: { office } };
    default: return { action, args: { name: value('fleet-repo'), description: value('fleet-description') || undefined,
      url: value('fleet-url') || undefined } };
  }
}

$('fleet-action').addEventListener('change', showFleetFields);
$('fleet-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  showError('fleet-error', '');
  try {
    const accepted = await api('/api/fleet', { channel: 'general', change: fleetChange(), client_id: clientId() });
    view.channel = 'general';
    await openThread(accepted.thread_id, 'Fleet change');
  } catch (error) {
    showError('fleet-error', error.message);
  }
});
showFleetFields();

let boardRefresh = null;
// Offices change state often: the board reads itself again at most every half second.
function boardChanged() {
  if (!view.board || boardRefresh) return;
  boardRefresh = setTimeout(() => { boardRefresh = null; refreshBoard().catch(() => {}); }, 500);
}

async function openBoard() {
  view.board = true;
  view.thread = null;
  history.replaceState(null, '', '#board');
  document.querySelectorAll('nav li.channel').forEach((li) => li.classList.toggle('active', li.id === 'board-link'));
  $('channel-view').hidden = true;
  $('thread-view').hidden = true;
  $('board-view').hidden = false;
  await refreshBoard();
}

async function openChannel(channel) {
  view.channel = channel;
  view.thread = null;
  view.board = false;
  $('board-view').hidden = true;
  history.replaceState(null, '', `#${channel}`);
  document.querySelectorAll('#channels li').forEach((li) => li.classList.toggle('active', li.dataset.channel === channel));
  $('channel-title').textContent = `#${channel}`;
  $('channel-view').hidden = false;
  $('thread-view').hidden = true;
  const threads = await api(`/api/channels/${encodeURIComponent(channel)}/threads`);
  const list = $('threads');
  list.innerHTML = '';
  for (const thread of threads) {
    const li = document.createElement('li');
    li.dataset.thread = thread.id;
    const route = thread.office ? `→ ${thread.office}${thread.repo ? ` · ${thread.repo}` : ''}` : 'not routed yet';
    li.innerHTML = `<div>${escapeHtml(thread.title)}</div><div class="meta">${escapeHtml(route)}</div>`;
    li.addEventListener('click', () => openThread(thread.id, thread.title));
    list.appendChild(li);
  }
}

async function openThread(id, title) {
  view.thread = id;
  view.board = false;
  $('board-view').hidden = true;
  view.messages.clear();
  history.replaceState(null, '', `#${view.channel}/${id}`);
  $('channel-view').hidden = true;
  $('thread-view').hidden = false;
  $('thread-title').textContent = title || '';
  $('messages').innerHTML = '';
  for (const message of await api(`/api/threads/${encodeURIComponent(id)}/messages`)) renderMessage(message);
}

async function send(textarea, threadId, errorId) {
  const text = textarea.value;
  if (!text.trim()) return;
  showError(errorId, '');
  try {
    const accepted = await api('/api/console/messages', {
      channel: view.channel, thread_id: threadId, text, client_id: clientId(),
    });
    textarea.value = '';
    if (!threadId) await openThread(accepted.thread_id, text.slice(0, 120));
  } catch (error) {
    showError(errorId, error.message);
  }
}

function submitOnEnter(textarea, form) {
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
}

$('new-thread').addEventListener('submit', (e) => { e.preventDefault(); send($('new-text'), null, 'error'); });
$('reply').addEventListener('submit', (e) => { e.preventDefault(); send($('reply-text'), view.thread, 'reply-error'); });
submitOnEnter($('new-text'), $('new-thread'));
submitOnEnter($('reply-text'), $('reply'));
$('back').addEventListener('click', (e) => { e.preventDefault(); openChannel(view.channel); });

function connect() {
  const events = new EventSource('/api/stream');
  events.onopen = () => { $('connection').dataset.state = 'live'; $('connection').textContent = 'live'; };
  events.onerror = () => { $('connection').dataset.state = 'connecting'; $('connection').textContent = 'reconnecting…'; };
  events.addEventListener('lagged', () => { if (view.thread) openThread(view.thread, $('thread-title').textContent); });
  events.onmessage = (event) => {
    const update = JSON.parse(event.data);
    if (update.type === 'office') { renderOffice(update.office); boardChanged(); }
    if (update.type === 'message') {
      boardChanged();
      if (update.message.card && update.message.card.type === 'approval') refreshApprovals();
      if (update.message.thread_id === view.thread) renderMessage(update.message);
      else if (!view.thread && update.channel === view.channel) openChannel(view.channel);
    }
  };
}

async function start() {
  const me = await api('/api/me');
  $('me').textContent = me.person;
  const workspace = await api('/api/workspace');
  $('workspace-name').textContent = workspace.name;
  for (const channel of workspace.channels) {
    const li = document.createElement('li');
    li.className = 'channel';
    li.dataset.channel = channel;
    li.textContent = `#${channel}`;
    li.addEventListener('click', () => openChannel(channel));
    $('channels').appendChild(li);
  }
  workspace.offices.forEach(renderOffice);
  refreshApprovals();
  connect();
  $('board-link').addEventListener('click', () => openBoard());
  const [channel, thread] = location.hash.slice(1).split('/');
  if (channel === 'board') {
    view.channel = workspace.channels[0];
    await openBoard();
  } else {
    await openChannel(workspace.channels.includes(channel) ? channel : workspace.channels[0]);
    if (thread) await openThread(thread, '');
  }
  // Until here the page still moves to what the address said when it loaded: a test (or
  // a script) that navigates meanwhile would have its address replaced.
  document.body.dataset.ready = 'true';
  // A thread or channel link followed in this tab (pasted, or from chat) opens it here.
  window.addEventListener('hashchange', () => follow(workspace.channels));
}

async function follow(channels) {
  const [channel, thread] = location.hash.slice(1).split('/');
  if (channel === 'board') {
    if (!view.board) await openBoard();
    return;
  }
  if (!channels.includes(channel)) return;
  if (thread) {
    if (thread === view.thread) return;
    if (channel !== view.channel) await openChannel(channel);
    await openThread(thread, '');
  } else if (channel !== view.channel || view.thread || view.board) {
    await openChannel(channel);
  }
}

start().catch((error) => showError('error', error.message));
