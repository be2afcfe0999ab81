// markdown.js — turns a model's markdown into DOM nodes, safely.
//
// Promises:
//   - renderMarkdown(text) returns a DocumentFragment built only with createElement,
//     createTextNode and textContent: model text never becomes HTML, so "<script>" or
//     "<img onerror=...>" in an answer shows up as those characters;
//   - links ([text](url), <url> and bare URLs) become <a> only for absolute http: and https:
//     URLs; any other scheme (javascript:, data:, relative paths) leaves just the text;
//     images are never loaded (the page works offline and leaks nothing): ![alt](url) is a link;
//   - it renders: paragraphs (a single line break is kept), # headings, > quotes, --- rules,
//     - / * / + and 1. lists (nested by indentation), ``` and ~~~ fenced code blocks with a
//     language label and a Copy button, and inline **bold**, *italic*, ***both***, `code`,
//     backslash escapes. An unclosed fence (mid-stream) renders as code up to the end.
//   - codeBlock(code, lang, {label, copyLabel}) is one such block on its own (view.js shows
//     JSON answers and tool calls with it);
//   - installCopyHandler(root) makes every Copy button under root copy its block's text.
// It is deliberately small; anything it does not know is shown as plain text.

export function renderMarkdown(text) {
  const frag = document.createDocumentFragment();
  renderBlocks(String(text).replace(/\r\n?/g, '\n').replace(/\t/g, '    ').split('\n'), frag);
  return frag;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/; // "```js" opens; "```x```" is inline
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(\s+#+)?\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^ {0,3}> ?(.*)$/;

function renderBlocks(lines, out) {
  let para = null; // lines of the paragraph being collected
  let lists = []; // open lists, outermost first: {el, indent, ordered, item}
  const closeAll = () => {
    if (para) out.appendChild(inlineBlock('p', para));
    para = null;
    lists = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if ((m = FENCE.exec(line))) {
      closeAll();
      const [, indent, marker, lang] = m;
      const body = [];
      for (i++; i < lines.length && !closesFence(lines[i], marker); i++)
        body.push(lines[i].replace(new RegExp(`^ {0,${indent.length}}`), ''));
      out.appendChild(codeBlock(body.join('\n'), lang));
    } else if (/^\s*$/.test(line)) {
      closeAll();
    } else if ((m = HEADING.exec(line))) {
      closeAll();
      // Answers sit below the page's own headings: # is <h3>, ## <h4>, the rest <h5>/<h6>.
      out.appendChild(inlineBlock(`h${Math.min(m[1].length + 2, 6)}`, [m[2]]));
    } else if (RULE.test(line)) {
      closeAll();
      out.appendChild(document.createElement('hr'));
    } else if (QUOTE.test(line) && !lists.length) {
      closeAll();
      const quoted = [];
      for (; i < lines.length && (m = QUOTE.exec(lines[i])); i++) quoted.push(m[1]);
      i--;
      const quote = document.createElement('blockquote');
      renderBlocks(quoted, quote);
      out.appendChild(quote);
    } else if ((m = ITEM.exec(line))) {
      if (para) out.appendChild(inlineBlock('p', para));
      para = null;
      lists = addItem(lists, out, m[1].length, m[2], m[3]);
    } else if (lists.length && !para) {
      // A line under a list item continues it.
      const item = lists[lists.length - 1].item;
      item.appendChild(document.createElement('br'));
      appendInline(item, line.trim());
    } else {
      (para ||= []).push(line.trim());
    }
  }
  closeAll();
}

// Adds one list item, opening or closing (nested) lists as its indentation says.
function addItem(lists, out, indent, marker, text) {
  const ordered = /\d/.test(marker);
  while (lists.length && indent < lists[lists.length - 1].indent) lists.pop();
  let top = lists[lists.length - 1];
  const nested = top && indent >= top.indent + 2;
  if (!top || nested || top.ordered !== ordered) {
    if (top && !nested) lists.pop();
    const el = document.createElement(ordered ? 'ol' : 'ul');
    if (ordered && parseInt(marker, 10) !== 1) el.start = parseInt(marker, 10);
    const parent = lists.length ? lists[lists.length - 1].item : out;
    parent.appendChild(el);
    top = { el, indent, ordered, item: null };
    lists = [...lists, top];
  }
  top.item = document.createElement('li');
  appendInline(top.item, text);
  top.el.appendChild(top.item);
  return lists;
}

function closesFence(line, marker) {
  const m = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
  return m !== null && m[1][0] === marker[0] && m[1].length >= marker.length;
}

function inlineBlock(tag, lines) {
  const el = document.createElement(tag);
  lines.forEach((line, k) => {
    if (k > 0) el.appendChild(document.createElement('br'));
    appendInline(el, line);
  });
  return el;
}

// A code block (.code-block: .code-head with .code-lang and a .copy button, then pre > code).
// `label` (text or a node) replaces the language in the head; `copyLabel` names the button.
export function codeBlock(code, lang, { label: labelContent, copyLabel } = {}) {
  const block = document.createElement('div');
  block.className = 'code-block';
  const head = document.createElement('div');
  head.className = 'code-head';
  const label = document.createElement('span');
  label.className = 'code-lang';
  label.append(labelContent ?? (lang || 'text'));
  const copy = document.createElement('button');
  copy.type = 'button';
  copy.className = 'copy';
  copy.textContent = 'Copy';
  copy.setAttribute('aria-label', copyLabel || `Copy ${lang || 'code'} code`);
  head.append(label, copy);
  const pre = document.createElement('pre');
  const codeEl = document.createElement('code');
  if (lang) codeEl.dataset.lang = lang;
  codeEl.textContent = code;
  pre.appendChild(codeEl);
  block.append(head, pre);
  return block;
}

// --- inline ---------------------------------------------------------------------------------

const ESCAPABLE = /[!-/:-@[-`{-~]/;
const BARE_URL = /^https?:\/\/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]*_]/;

function appendInline(parent, s, inLink = false) {
  let text = '';
  const flush = () => {
    if (text) parent.appendChild(document.createTextNode(text));
    text = '';
  };
  const add = (node, end) => {
    flush();
    parent.appendChild(node);
    return end;
  };
  for (let i = 0; i < s.length; ) {
    const c = s[i];
    let m;
    if (c === '\\' && ESCAPABLE.test(s[i + 1] || '')) {
      text += s[i + 1];
      i += 2;
    } else if (c === '`' && (m = codeSpan(s, i))) {
      i = add(m.node, m.end);
    } else if ((c === '*' || c === '_') && (m = emphasis(s, i, inLink))) {
      i = add(m.node, m.end);
    } else if (!inLink && (c === '[' || (c === '!' && s[i + 1] === '[')) && (m = link(s, i))) {
      i = add(m.node, m.end);
    } else if (!inLink && c === '<' && (m = /^<(https?:\/\/[^\s<>]+)>/.exec(s.slice(i)))) {
      i = add(anchor(m[1], m[1]) || document.createTextNode(m[0]), i + m[0].length);
    } else if (!inLink && c === 'h' && !/\w/.test(s[i - 1] || '') &&
               (m = BARE_URL.exec(s.slice(i)))) {
      i = add(anchor(m[0], m[0]) || document.createTextNode(m[0]), i + m[0].length);
    } else {
      text += c;
      i++;
    }
  }
  flush();
}

function codeSpan(s, i) {
  const run = /^`+/.exec(s.slice(i))[0];
  for (let j = s.indexOf(run, i + run.length); j >= 0; j = s.indexOf(run, j + run.length)) {
    if (s[j + run.length] === '`') continue; // a longer run does not close it
    const node = document.createElement('code');
    let body = s.slice(i + run.length, j);
    if (/^ .*[^ ].* $/.test(body)) body = body.slice(1, -1);
    node.textContent = body;
    return { node, end: j + run.length };
  }
  return null;
}

// *em*, **strong**, ***both*** (and the same with _, which must not sit inside a word).
function emphasis(s, i, inLink) {
  const ch = s[i];
  if (ch === '_' && /\w/.test(s[i - 1] || '')) return null;
  const n = s.startsWith(ch.repeat(3), i) ? 3 : s.startsWith(ch.repeat(2), i) ? 2 : 1;
  const start = i + n;
  if (start >= s.length || /\s/.test(s[start])) return null;
  const delim = ch.repeat(n);
  for (let j = s.indexOf(delim, start + 1); j >= 0; j = s.indexOf(delim, j + 1)) {
    if (/\s/.test(s[j - 1])) continue;
    if (n === 1 && (s[j + 1] === ch || s[j - 1] === ch)) continue; // part of ** inside *...*
    if (ch === '_' && /\w/.test(s[j + n] || '')) continue;
    const inner = s.slice(start, j);
    let node;
    if (n === 3) {
      node = document.createElement('strong');
      const em = document.createElement('em');
      appendInline(em, inner, inLink);
      node.appendChild(em);
    } else {
      node = document.createElement(n === 2 ? 'strong' : 'em');
      appendInline(node, inner, inLink);
    }
    return { node, end: j + n };
  }
  return null;
}

// [text](url "title") and ![alt](url); the URL may hold balanced parentheses.
function link(s, i) {
  const image = s[i] === '!';
  const open = image ? i + 1 : i;
  const close = s.indexOf('](', open + 1);
  if (close < 0 || s.slice(open + 1, close).includes('\n')) return null;
  let depth = 0;
  let j = close + 2;
  for (; j < s.length; j++) {
    if (s[j] === '(') depth++;
    else if (s[j] === ')' && depth-- === 0) break;
  }
  if (j >= s.length) return null;
  const label = s.slice(open + 1, close);
  const href = s.slice(close + 2, j).trim().split(/\s+/)[0].replace(/^<|>$/g, '');
  const node = anchor(href, image ? `image: ${label || href}` : label);
  if (node) return { node, end: j + 1 };
  // Not an http(s) link: keep only its text.
  const span = document.createElement('span');
  appendInline(span, label, true);
  return { node: span, end: j + 1 };
}

// An <a> for an absolute http(s) URL, else null.
function anchor(href, label) {
  let url;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const a = document.createElement('a');
  a.href = url.href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer nofollow';
  appendInline(a, label, true);
  return a;
}

// --- copy buttons ---------------------------------------------------------------------------

export function installCopyHandler(root) {
  root.addEventListener('click', async (event) => {
    const button = event.target.closest('.code-block .copy');
    if (!button) return;
    const code = button.closest('.code-block').querySelector('code').textContent;
    const ok = await copyText(code);
    button.textContent = ok ? 'Copied' : 'Copy failed';
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  });
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No Clipboard API (a page served over plain http from another host): the old way.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}
