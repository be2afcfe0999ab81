// app.js — the chat page's controller: wires index.html to the API, the history and the view.
//
// Promises:
//   - on load: the saved settings fill the panel, the chat open last time comes back, and the
//     model picker lists GET /v1/models (default: models.js);
//   - Send (or Enter; Shift+Enter is a new line) streams the answer into the page as it grows;
//     Stop aborts the request (the server frees the sequence when the client disconnects);
//   - every answer ends as data-state="done", "stopped" or "error" with .metrics under it:
//     time to first token, tokens/s and tokens (usage from stream_options.include_usage when
//     the server sent it, else one token per content chunk);
//   - with Answer format JSON (settings.js) the request carries response_format json_object
//     and the answer remembers it (msg.format = 'json'), so view.js shows it as formatted JSON;
//   - tool calls streamed in delta.tool_calls are gathered per index (toolcalls.js) into
//     msg.tool_calls and drawn as they grow; finish_reason "tool_calls" ends an answer as
//     "done" like "stop" (the metrics line says so);
//   - failures are shown in plain words (api.js) next to the answer or in #notice;
//   - chats are saved after each message and every second while an answer streams;
//   - the top bar shows the cluster's GPUs from /metrics when it reports any (cluster.js);
//   - the Chat and Cluster tabs switch the main area between the chat and the Cluster view
//     (clusterview.js: groups, load, KV cache, GPUs, live charts; it polls only while shown);
//     the URL's #cluster-view opens the Cluster view, and each switch sets the URL to match;
//   - Documents (documents.js): a chat that uses collections sends the file_search tool, and
//     the answer's citations (first delta) are kept on msg.citations and drawn under it.
// One answer streams at a time; it keeps writing into its own chat if another one is opened.

import { fetchCluster, fetchMetrics, listModels, streamChat } from './api.js';
import { citationsOf, installCitationHandler } from './citations.js';
import { watchCluster } from './cluster.js';
import { mountClusterView } from './clusterview.js';
import { chatToolFields, installDocuments } from './documents.js';
import { installCopyHandler } from './markdown.js';
import { pickDefaultModel } from './models.js';
import {
  answerFormat, answerFormatFields, bindSettings, closeSettings, connection, isOpen, openSettings, samplingFields,
} from './settings.js';
import * as store from './storage.js';
import { mergeToolCallDeltas, sendableToolCalls } from './toolcalls.js';
import { messageElement, renderHistory, renderMessages, updateMessage } from './view.js';

const $ = (id) => document.getElementById(id);
const ui = {
  model: $('model'), prompt: $('prompt'), send: $('send'), stop: $('stop'), composer: $('composer'),
  messages: $('messages'), scroller: $('chat'), history: $('history'), newChat: $('new-chat'),
  notice: $('notice'), empty: $('empty'), sidebar: $('sidebar'), menu: $('menu-toggle'),
  backdrop: $('backdrop'), announcer: $('announcer'), main: document.querySelector('.main'),
};
const settings = store.loadSettings();
let chats = store.loadChats();
let chat = chats.find((c) => c.id === store.currentChatId()) || chats[0] || store.createChat();
let streaming = null; // {chat, msg, controller} while an answer streams
const phone = window.matchMedia('(max-width: 720px)');

// --- models ---------------------------------------------------------------------------------

let modelsRequest = null;
async function loadModels() {
  if (modelsRequest) modelsRequest.abort();
  const request = (modelsRequest = new AbortController());
  ui.model.replaceChildren(new Option('Loading models…', ''));
  try {
    const ids = await listModels(connection(settings), request.signal);
    if (request !== modelsRequest) return; // a newer request (new URL or key) won
    ui.model.replaceChildren(...ids.map((id) => new Option(id, id)));
    if (!ids.length) ui.model.replaceChildren(new Option('No models served', ''));
    ui.model.value = pickDefaultModel(ids, settings.model);
    hideNotice();
  } catch (err) {
    if (err.kind === 'abort') return;
    // Keep the last model chosen, so that sending still works (and explains itself) once the
    // cause is fixed; with none, the picker says why it is empty.
    ui.model.replaceChildren(settings.model ? new Option(settings.model, settings.model) : new Option('No models (see above)', ''));
    if (err.status === 404 || err.status === 405 || err.status === 501)
      notice(`This page's server has no model list (${err.detail}). If the API runs elsewhere, set its URL in Settings.`, 'server-url');
    else notice(`Could not load the model list. ${err.message}`, err.status === 401 ? 'settings' : 'models');
  }
}

// --- chats ----------------------------------------------------------------------------------

function showChat(next) {
  // The streaming chat is one live object: show it, not a copy read back from storage.
  chat = streaming && streaming.chat.id === next.id ? streaming.chat : next;
  store.setCurrentChatId(chat.messages.length ? chat.id : '');
  documents.chatChanged();
  renderMessages(ui.messages, chat);
  ui.empty.hidden = chat.messages.length > 0;
  renderHistory(ui.history, chats, chat.id);
  scrollToEnd(true);
}

function persist(c) {
  c.updated = Date.now();
  if (!store.saveChat(c)) notice('This browser refused to save the chat (storage full?). Delete old chats to make room.');
  chats = store.loadChats();
  if (c === chat) store.setCurrentChatId(c.id);
  renderHistory(ui.history, chats, chat.id);
}

function newChat() {
  setView('chat');
  if (chat.messages.length) showChat(store.createChat());
  closeDrawer();
  ui.prompt.focus();
}

function openChat(id) {
  const next = chats.find((c) => c.id === id);
  if (!next) return;
  setView('chat');
  showChat(next);
  closeDrawer();
  ui.prompt.focus();
}

function removeChat(id) {
  const target = chats.find((c) => c.id === id);
  if (!target || !window.confirm(`Delete the chat “${target.title}”?`)) return;
  if (streaming && streaming.chat.id === id) {
    streaming.chat.deleted = true; // so the ending answer does not save it again
    streaming.controller.abort();
  }
  store.deleteChat(id);
  chats = store.loadChats();
  showChat(chat.id === id ? chats[0] || store.createChat() : chat);
}

// --- sending and streaming ------------------------------------------------------------------

function send() {
  const text = ui.prompt.value.trim();
  if (!text || streaming) return;
  if (!ui.model.value) {
    notice('Pick a model first: the model list is empty or did not load.', 'models');
    return;
  }
  hideNotice();
  if (settings.model !== ui.model.value) {
    settings.model = ui.model.value; // the model used last is the default next time
    store.saveSettings(settings);
  }
  if (!chat.messages.length) chat.title = text.replace(/\s+/g, ' ').slice(0, 60);
  chat.messages.push({ id: store.newId(), role: 'user', content: text });
  ui.prompt.value = '';
  fitPrompt();
  answer(chat);
}

// Streams a new assistant message at the end of chat `c`.
async function answer(c) {
  const msg = { id: store.newId(), role: 'assistant', content: '', model: ui.model.value, state: 'streaming' };
  if (answerFormat(settings) === 'json') msg.format = 'json';
  const body = {
    model: msg.model, messages: history(c), stream_options: { include_usage: true },
    ...samplingFields(settings), ...answerFormatFields(settings), ...chatToolFields(c),
  };
  c.messages.push(msg);
  persist(c);
  if (c === chat) {
    ui.messages.append(...c.messages.slice(-2).filter((m) => !findMessage(m.id)).map(messageElement));
    ui.empty.hidden = true;
    scrollToEnd(true);
  }
  streaming = { chat: c, msg, controller: new AbortController() };
  setBusy(true);
  const t0 = performance.now();
  let tFirst = 0, tLast = 0, chunks = 0, usage = null, lastSave = t0;
  try {
    for await (const chunk of streamChat(connection(settings), body, streaming.controller.signal)) {
      if (chunk.usage) usage = chunk.usage;
      const choice = (chunk.choices || [])[0];
      if (!choice) continue;
      if (choice.finish_reason) msg.finish = choice.finish_reason;
      const delta = choice.delta || {};
      const citations = citationsOf(delta.citations);
      if (citations) {
        msg.citations = citations;
        redraw(msg);
      }
      const text = typeof delta.content === 'string' ? delta.content : '';
      const calls = Array.isArray(delta.tool_calls) && delta.tool_calls.length ? delta.tool_calls : null;
      if (!text && !calls) continue;
      tLast = performance.now();
      tFirst ||= tLast;
      chunks++;
      msg.content += text;
      if (calls) msg.tool_calls = mergeToolCallDeltas(msg.tool_calls, calls);
      redraw(msg);
      if (tLast - lastSave > 1000 && !c.deleted) {
        lastSave = tLast;
        store.saveChat(c);
      }
    }
    msg.state = 'done';
  } catch (err) {
    msg.state = err.kind === 'abort' ? 'stopped' : 'error';
    if (msg.state === 'error') msg.error = { message: err.message, kind: err.kind, status: err.status };
  }
  msg.metrics = measure(t0, tFirst, tLast, chunks, usage);
  streaming = null;
  if (chat.id === c.id) chat = c;
  setBusy(false);
  if (!c.deleted) persist(c);
  redraw(msg, true);
  announce(msg.state === 'error' ? msg.error.message : msg.state === 'stopped' ? 'Stopped.' : completeText(msg));
}

function completeText(msg) {
  const names = (msg.tool_calls || []).map((call) => call.function.name).filter(Boolean);
  return names.length ? `Answer complete: it calls ${names.join(', ')}.` : 'Answer complete.';
}

// The request's messages: the system prompt, then the chat so far (answers that failed before
// saying anything are left out). An answer that called tools goes back as OpenAI's assistant
// message {role, content: its text or null, tool_calls}, so the model sees what it called;
// only whole calls are sent (toolcalls.js: sendableToolCalls; one cut by Stop would be refused
// as arguments that are not a JSON object). This page runs no tools, so no "tool" result
// message follows: shardserve does not check that order ("The order of calls and answers in
// the history is not checked", api/openai_request.h); OpenAI's own API would ask for results.
function history(c) {
  const messages = settings.system.trim() ? [{ role: 'system', content: settings.system }] : [];
  for (const m of c.messages) {
    const calls = m.role === 'assistant' ? sendableToolCalls(m.tool_calls, `call_${m.id}`) : [];
    if (calls.length) messages.push({ role: 'assistant', content: m.content || null, tool_calls: calls });
    else if (m.role === 'user' || m.content) messages.push({ role: m.role, content: m.content });
  }
  return messages;
}

// Time to first token: from sending the request to the first text. Tokens: the server's count
// when it sent usage, else one per content chunk. Speed: tokens after the first over the time
// from the first text to the last (the decode rate, as llama.cpp and vLLM report it).
function measure(t0, tFirst, tLast, chunks, usage) {
  if (!tFirst) return null;
  const tokens = usage && Number.isFinite(usage.completion_tokens) ? usage.completion_tokens : chunks;
  const span = (tLast - tFirst) / 1000;
  return {
    ttft_s: (tFirst - t0) / 1000,
    tokens,
    tok_s: tokens > 1 && span > 0 ? (tokens - 1) / span : null,
    counted: usage ? 'usage' : 'chunks',
  };
}

function retry(id) {
  const last = chat.messages[chat.messages.length - 1];
  if (streaming || !last || last.id !== id) return;
  chat.messages.pop();
  findMessage(id)?.remove();
  answer(chat);
}

function stop() {
  if (streaming) streaming.controller.abort();
  ui.prompt.focus();
}

// --- drawing --------------------------------------------------------------------------------

const pending = new Set();
function redraw(msg, now = false) {
  pending.add(msg);
  if (now) return flushRedraw();
  if (pending.size === 1) requestAnimationFrame(flushRedraw);
}

function flushRedraw() {
  const stick = nearEnd();
  for (const msg of pending) {
    const el = findMessage(msg.id);
    if (el) updateMessage(el, msg);
  }
  pending.clear();
  if (stick) scrollToEnd(true);
}

function findMessage(id) {
  return [...ui.messages.children].find((el) => el.dataset.id === id);
}

function nearEnd() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToEnd(force) {
  if (force || nearEnd()) ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

function setBusy(busy) {
  const hadFocus = document.activeElement === (busy ? ui.send : ui.stop);
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  if (hadFocus) (busy ? ui.stop : ui.prompt).focus();
  document.body.dataset.streaming = String(busy);
}

// The message box grows with its text up to 40% of the window, then scrolls.
function fitPrompt() {
  const max = window.innerHeight * 0.4;
  ui.prompt.style.height = 'auto';
  const height = ui.prompt.scrollHeight + ui.prompt.offsetHeight - ui.prompt.clientHeight;
  ui.prompt.style.height = `${Math.min(height, max)}px`;
  ui.prompt.style.overflowY = height > max ? 'auto' : 'hidden';
}

function notice(text, action) {
  const button = action && document.createElement('button');
  if (button) {
    button.type = 'button';
    button.className = 'button small';
    button.dataset.action = action;
    button.textContent = action === 'models' ? 'Retry' : 'Open settings';
  }
  ui.notice.replaceChildren(document.createTextNode(text), ...(button ? [' ', button] : []));
  ui.notice.hidden = false;
}

function hideNotice() {
  ui.notice.hidden = true;
}

function announce(text) {
  ui.announcer.textContent = text;
}

// --- views: the chat or the cluster ---------------------------------------------------------

const tabs = [...document.querySelectorAll('.views [data-view]')];
const clusterView = mountClusterView($('cluster-view'), () => connection(settings), fetchCluster);

function setView(name, { focus = false, updateUrl = true } = {}) {
  const cluster = name === 'cluster';
  for (const tab of tabs) {
    const selected = tab.dataset.view === name;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  ui.scroller.hidden = cluster;
  ui.composer.hidden = cluster;
  $('cluster-view').hidden = !cluster;
  document.body.dataset.view = name;
  if (cluster) clusterView.show();
  else clusterView.hide();
  if (updateUrl && (location.hash === '#cluster-view') !== cluster)
    window.history.replaceState(null, '', cluster ? '#cluster-view' : location.pathname + location.search);
}

const viewFromUrl = () => (location.hash === '#cluster-view' ? 'cluster' : 'chat');

// --- the drawer (the history sidebar on phone-sized screens) --------------------------------

function setDrawer(open) {
  document.body.classList.toggle('drawer-open', open);
  ui.menu.setAttribute('aria-expanded', String(open));
  ui.backdrop.hidden = !open;
  ui.sidebar.inert = phone.matches && !open; // off-screen: out of the tab order too
  ui.main.inert = phone.matches && open; // behind the backdrop: out of reach while it is open
}

function closeDrawer() {
  if (document.body.classList.contains('drawer-open')) {
    setDrawer(false);
    ui.menu.focus();
  }
}

// --- events ---------------------------------------------------------------------------------

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
ui.prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
ui.prompt.addEventListener('input', fitPrompt);
ui.stop.addEventListener('click', stop);
ui.newChat.addEventListener('click', newChat);
ui.model.addEventListener('change', () => {
  settings.model = ui.model.value;
  store.saveSettings(settings);
});
ui.history.addEventListener('click', (e) => {
  const button = e.target.closest('button[data-action]');
  if (!button) return;
  const id = button.closest('.history-item').dataset.id;
  if (button.dataset.action === 'delete') removeChat(id);
  else openChat(id);
});
const onAction = (e) => {
  const button = e.target.closest('button[data-action]');
  if (!button) return;
  if (button.dataset.action === 'retry' && button.closest('.message')) retry(button.closest('.message').dataset.id);
  else if (button.dataset.action === 'settings') openSettings('api-key');
  else if (button.dataset.action === 'server-url') openSettings('api-base');
  else if (button.dataset.action === 'models') loadModels();
};
ui.messages.addEventListener('click', onAction);
ui.notice.addEventListener('click', onAction);
ui.menu.addEventListener('click', () => {
  setDrawer(!document.body.classList.contains('drawer-open'));
  if (document.body.classList.contains('drawer-open')) ui.newChat.focus();
});
ui.backdrop.addEventListener('click', closeDrawer);
for (const tab of tabs) {
  tab.addEventListener('click', () => setView(tab.dataset.view));
  tab.addEventListener('keydown', (e) => { // arrow keys move between tabs (WAI-ARIA tabs)
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    e.preventDefault();
    const next = tabs[(tabs.indexOf(tab) + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
    setView(next.dataset.view, { focus: true });
  });
}
window.addEventListener('hashchange', () => setView(viewFromUrl(), { updateUrl: false }));
$('close-drawer').addEventListener('click', closeDrawer);
phone.addEventListener('change', () => setDrawer(false));
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  if (document.body.classList.contains('drawer-open')) closeDrawer();
  else if (isOpen()) {
    closeSettings();
    $('settings-toggle').focus();
  }
});

installCopyHandler(ui.messages);
installCitationHandler(ui.messages, () => connection(settings));
// A new chat's choice of collections lives on the chat object until its first message saves it.
const documents = installDocuments({
  getConn: () => connection(settings),
  getChat: () => chat,
  saveChatStores: (c) => c.messages.length && !c.deleted && store.saveChat(c), // keeps its place in the list
});
bindSettings(settings, () => {
  loadModels();
  documents.refresh();
});
setDrawer(false);
setBusy(false);
fitPrompt();
showChat(chat);
loadModels();
watchCluster($('cluster'), () => connection(settings), fetchMetrics); // GPUs, when there are any
setView(viewFromUrl(), { updateUrl: false });
if (!phone.matches && viewFromUrl() === 'chat') ui.prompt.focus(); // a phone would pop its keyboard
