// view.js — draws chats into the page; holds no state of its own.
//
// Promises:
//   - renderHistory(list, chats, currentId) fills #history with one <li> per chat: a button
//     that opens it (aria-current on the open one) and a delete button (data-action="delete");
//   - renderMessages(container, chat) draws every message of `chat`; messageElement(msg) and
//     updateMessage(el, msg) draw one, so a streaming answer redraws only itself;
//   - a message is <article class="message user|assistant" data-id data-state> with
//     .content (user text as typed, assistant text as markdown), then for an answer that failed
//     .error and buttons with data-action="retry" / "settings", and .metrics once it ended.
// Every string from the model or the person goes through textContent or markdown.js.

import { renderMarkdown } from './markdown.js';

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
  article.dataset.state = msg.state || 'done';
  const content = article.querySelector('.content');
  if (msg.role === 'user') content.textContent = msg.content;
  else content.replaceChildren(renderMarkdown(msg.content));
  article.querySelectorAll('.error, .actions, .note, .metrics').forEach((n) => n.remove());
  if (msg.role !== 'assistant') return;
  if (msg.state === 'error' && msg.error) {
    article.append(el('p', 'error', msg.error.message));
    const actions = el('div', 'actions');
    actions.append(actionButton('retry', 'Retry'));
    if (msg.error.status === 401) actions.append(actionButton('settings', 'Open settings'));
    article.append(actions);
  }
  if (msg.state === 'stopped') article.append(el('p', 'note', 'Stopped.'));
  const text = metricsText(msg);
  if (text) article.append(el('p', 'metrics', text));
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
  return parts.join(' \u00b7 ');
}

function actionButton(action, label) {
  const b = el('button', 'button small', label);
  b.type = 'button';
  b.dataset.action = action;
  return b;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
