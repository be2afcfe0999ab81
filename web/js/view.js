// view.js — draws chats into the page; holds no state of its own.
//
// Promises:
//   - renderHistory(list, chats, currentId) fills #history with one <li> per chat: a button
//     that opens it (aria-current on the open one) and a delete button (data-action="delete");
//   - renderMessages(container, chat) draws every message of `chat`; messageElement(msg) and
//     updateMessage(el, msg) draw one, so a streaming answer redraws only itself;
//   - a message is <article class="message user|assistant" data-id data-state> with
//     .content (user text as typed, assistant text as markdown), then the answer's tool calls
//     (.tool-calls), for an answer that failed .error and buttons with data-action="retry" /
//     "settings", a .note when it was stopped or its JSON is incomplete, and .metrics once it
//     ended;
//   - an answer that is a JSON document (json.js: jsonAnswer; the request asked for JSON, i.e.
//     msg.format === 'json', or the whole text is a JSON object or array) is shown, once it
//     ended, as one pretty-printed code block (.code-block.json-answer, with Copy); while it
//     streams it is markdown like any answer;
//   - each tool call is a .code-block.tool-call (role="group") headed "Tool call: <name>"
//     (the name in .tool-name) with its arguments as pretty JSON once the answer ended (the
//     raw text while it streams, or when it does not parse), with Copy;
//   - an answer with msg.citations (citations.js) has them as chips under its text, and its
//     [1] markers are buttons that show the passage.
// Every string from the model or the person goes through textContent or markdown.js.

import { jsonAnswer, prettyJson } from './json.js';
import { citationsElement, linkMarkers } from './citations.js';
import { codeBlock, renderMarkdown } from './markdown.js';
import { el } from './dom.js';

export function renderHistory(list, chats, currentId) {
  list.replaceChildren(...chats.map((chat) => historyItem(chat, chat.id === currentId)));
}

function historyItem(chat, current) {
  const li = document.createElement('li');
  li.className = 'history-item';
  li.dataset.id = chat.id;
  const open = el('button', 'chat-link', chat.title || 'New chat');
  open.type = 'button';
  open.dataset.action = 'open';
  open.title = chat.title || 'New chat';
  if (current) open.setAttribute('aria-current', 'true');
  const del = el('button', 'delete-chat', '\u00d7');
  del.type = 'button';
  del.dataset.action = 'delete';
  del.setAttribute('aria-label', `Delete chat: ${chat.title || 'New chat'}`);
  del.title = 'Delete chat';
  li.append(open, del);
  return li;
}

export function renderMessages(container, chat) {
  container.replaceChildren(...chat.messages.map(messageElement));
}

export function messageElement(msg) {
  const article = document.createElement('article');
  article.className = `message ${msg.role}`;
  article.dataset.id = msg.id;
  const who = el('h2', 'role', msg.role === 'user' ? 'You' : `Answer${msg.model ? ` · ${msg.model}` : ''}`);
  article.append(who, el('div', 'content'));
  updateMessage(article, msg);
  return article;
}

export function updateMessage(article, msg) {
  const state = msg.state || 'done';
  article.dataset.state = state;
  const content = article.querySelector('.content');
  const text = typeof msg.content === 'string' ? msg.content : '';
  article.querySelectorAll('.citations, .tool-calls, .error, .actions, .note, .metrics').forEach((n) => n.remove());
  if (msg.role === 'user') {
    content.textContent = text;
    return;
  }
  const asked = msg.format === 'json';
  const pretty = state === 'streaming' ? null : jsonAnswer(text, asked);
  if (pretty !== null) {
    const block = codeBlock(pretty, 'json', { copyLabel: 'Copy the JSON answer' });
    block.classList.add('json-answer');
    content.replaceChildren(block);
  } else {
    content.replaceChildren(renderMarkdown(text));
  }
  const citations = Array.isArray(msg.citations) ? msg.citations : [];
  if (citations.length) {
    if (pretty === null) linkMarkers(content, citations);
    article.append(citationsElement(citations));
  }
  const calls = Array.isArray(msg.tool_calls) ? msg.tool_calls.filter(Boolean) : [];
  if (calls.length) {
    const list = el('div', 'tool-calls');
    list.append(...calls.map((call) => toolCallElement(call, state === 'streaming')));
    article.append(list);
  }
  if (state === 'error' && msg.error) {
    article.append(el('p', 'error', msg.error.message));
    const actions = el('div', 'actions');
    actions.append(actionButton('retry', 'Retry'));
    if (msg.error.status === 401) actions.append(actionButton('settings', 'Open settings'));
    article.append(actions);
  }
  if (state === 'stopped') article.append(el('p', 'note', 'Stopped.'));
  else if (state === 'done' && asked && text.trim() && pretty === null)
    article.append(el('p', 'note', msg.finish === 'length'
      ? 'The JSON was cut at max_tokens, so it is shown as text.'
      : 'This answer is not valid JSON, so it is shown as text.'));
  const metrics = metricsText(msg);
  if (metrics) article.append(el('p', 'metrics', metrics));
}

// One tool call: "Tool call: get_weather" over its arguments. While the answer streams the
// arguments are shown as they arrive; after, pretty-printed when they are valid JSON.
function toolCallElement(call, streaming) {
  const f = call.function || {};
  const name = typeof f.name === 'string' && f.name ? f.name : '(unnamed)';
  const args = typeof f.arguments === 'string' ? f.arguments : '';
  const pretty = streaming ? null : prettyJson(args);
  const label = el('span', 'tool-label', 'Tool call: ');
  label.append(el('span', 'tool-name', name));
  const block = codeBlock(pretty ?? args, pretty !== null ? 'json' : '', {
    label, copyLabel: `Copy the arguments of the tool call ${name}`,
  });
  block.classList.add('tool-call');
  block.setAttribute('role', 'group');
  block.setAttribute('aria-label', `Tool call: ${name}`);
  if (call.id) block.dataset.callId = call.id;
  return block;
}

// "0.42 s to first token · 18.3 tokens/s · 57 tokens" (+ why it ended when not a plain stop).
export function metricsText(msg) {
  const m = msg.metrics;
  if (!m || msg.state === 'streaming') return '';
  const parts = [];
  if (m.ttft_s != null) parts.push(`${m.ttft_s.toFixed(2)} s to first token`);
  if (m.tok_s != null) parts.push(`${m.tok_s.toFixed(1)} tokens/s`);
  // '~' when counted as one token per chunk because the server sent no usage (a stopped answer).
  if (m.tokens != null)
    parts.push(`${m.counted === 'chunks' ? '~' : ''}${m.tokens} token${m.tokens === 1 ? '' : 's'}`);
  if (msg.finish === 'length') parts.push('cut at max_tokens');
  if (msg.finish === 'tool_calls') {
    const n = Array.isArray(msg.tool_calls) ? msg.tool_calls.length : 0;
    parts.push(n === 1 ? 'ended with a tool call' : n ? `ended with ${n} tool calls` : 'ended with tool calls');
  }
  return parts.join(' \u00b7 ');
}

function actionButton(action, label) {
  const b = el('button', 'button small', label);
  b.type = 'button';
  b.dataset.action = action;
  return b;
}
