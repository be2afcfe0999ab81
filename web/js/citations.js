// citations.js — the sources of an answer grounded by file_search, and how the page shows them.
//
// The server sends them as an extension field `citations` (coordinator/serving/grounding.h):
// on the first delta of a streamed choice, on choices[i].message otherwise; each is
// {index, file_id, filename, chunk: {id, index, begin, end}, score, text}. That list is
// authoritative; the model may or may not write the markers [1], [2] into its text.
//
// Promises:
//   - citationsOf(value) is the list a delta or message carries, checked and sorted by index
//     (entries without an integer index, a file_id or text are dropped), or null when there is
//     none; what it returns is what app.js saves with the message;
//   - citationLabel(c) is the chip's text: "[1] report.pdf · chunk 3" (chunks counted from 1);
//   - splitMarkers(text, count) cuts text into plain strings and {n, text} markers for the
//     numbers 1..count written as [1], [1, 2] or [1][2]; other brackets stay text;
//   - citationsElement(citations) is the row of chips (.citations > button.cite-chip
//     [data-cite]) drawn under an answer; linkMarkers(root, citations) turns the markers in
//     root's text (not inside code or links) into button.cite-ref[data-cite], DOM nodes only;
//   - installCitationHandler(root, getConn) makes every chip and marker under root open a
//     dialog (#citation-dialog) with the passage's text and a link to the file's content
//     (downloaded with the API key when one is set).
// Model and file text go through textContent only.

import { el } from './dom.js';
import { fileBlob, fileContentUrl } from './knowledge_api.js';

export function citationsOf(value) {
  const list = value && typeof value === 'object' && !Array.isArray(value) ? value.citations : value;
  if (!Array.isArray(list)) return null;
  const out = list
    .filter((c) => c && Number.isInteger(c.index) && c.index > 0 && typeof c.file_id === 'string' &&
      c.file_id && typeof c.text === 'string')
    .map((c) => ({
      index: c.index,
      file_id: c.file_id,
      filename: typeof c.filename === 'string' && c.filename ? c.filename : c.file_id,
      chunk: c.chunk && typeof c.chunk === 'object' ? {
        id: c.chunk.id, index: Number.isInteger(c.chunk.index) ? c.chunk.index : null,
        begin: c.chunk.begin, end: c.chunk.end,
      } : { index: null },
      score: Number.isFinite(c.score) ? c.score : null,
      text: c.text,
    }))
    .sort((a, b) => a.index - b.index);
  return out.length ? out : null;
}

export function citationLabel(c) {
  const chunk = c.chunk && Number.isInteger(c.chunk.index) ? ` \u00b7 chunk ${c.chunk.index + 1}` : '';
  return `[${c.index}] ${c.filename}${chunk}`;
}

const MARKER = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;

export function splitMarkers(text, count) {
  const out = [];
  let last = 0;
  for (const m of String(text).matchAll(MARKER)) {
    const numbers = m[1].split(',').map((s) => parseInt(s, 10));
    if (!numbers.every((n) => n >= 1 && n <= count)) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    // "[1, 2]" becomes "[1", ", 2]": one clickable piece per source, the text unchanged.
    const pieces = m[0].split(',');
    pieces.forEach((piece, k) => {
      if (k > 0) out.push(',');
      const lead = /^\s*/.exec(piece)[0];
      if (lead) out.push(lead);
      out.push({ n: numbers[k], text: piece.slice(lead.length) });
    });
    last = m.index + m[0].length;
  }
  if (last < String(text).length) out.push(String(text).slice(last));
  return out;
}

// --- drawing --------------------------------------------------------------------------------

const drawn = new WeakMap(); // .citations element -> its citations (for the click handler)

export function citationsElement(citations) {
  const row = document.createElement('div');
  row.className = 'citations';
  row.setAttribute('role', 'group');
  row.setAttribute('aria-label', 'Sources');
  const head = document.createElement('span');
  head.className = 'citations-head';
  head.textContent = 'Sources';
  row.append(head);
  for (const c of citations) {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'cite-chip';
    chip.dataset.cite = String(c.index);
    chip.textContent = citationLabel(c);
    chip.title = `Show the passage from ${c.filename}`;
    row.append(chip);
  }
  drawn.set(row, citations);
  return row;
}

export function linkMarkers(root, citations) {
  const count = citations.length;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement.closest('code, pre, a, button')
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode())
    if (node.data.includes('[')) nodes.push(node);
  for (const node of nodes) {
    const parts = splitMarkers(node.data, count);
    if (!parts.some((p) => typeof p === 'object')) continue;
    node.replaceWith(...parts.map((p) => {
      if (typeof p === 'string') return document.createTextNode(p);
      const ref = document.createElement('button');
      ref.type = 'button';
      ref.className = 'cite-ref';
      ref.dataset.cite = String(p.n);
      ref.textContent = p.text;
      ref.setAttribute('aria-label', `Source ${p.n}: ${citations[p.n - 1].filename}`);
      return ref;
    }));
  }
}

// --- the passage dialog ---------------------------------------------------------------------

export function installCitationHandler(root, getConn) {
  root.addEventListener('click', (e) => {
    const button = e.target.closest('.cite-chip, .cite-ref');
    if (!button) return;
    const row = button.closest('.message')?.querySelector('.citations');
    const citation = (drawn.get(row) || []).find((c) => String(c.index) === button.dataset.cite);
    if (citation) showPassage(citation, getConn(), button);
  });
}

let dialog = null;

function showPassage(c, conn, opener) {
  dialog ||= buildDialog();
  dialog.querySelector('.citation-title').textContent = citationLabel(c);
  const meta = [];
  if (c.score !== null) meta.push(`relevance ${c.score.toFixed(2)}`);
  if (Number.isInteger(c.chunk.begin) && Number.isInteger(c.chunk.end))
    meta.push(`characters ${c.chunk.begin}\u2013${c.chunk.end} of the file's text`);
  dialog.querySelector('.citation-meta').textContent = meta.join(' \u00b7 ');
  dialog.querySelector('.citation-text').textContent = c.text;
  const link = dialog.querySelector('.citation-file');
  link.href = fileContentUrl(conn, c.file_id);
  link.textContent = `Download ${c.filename}`;
  link.onclick = (e) => {
    e.preventDefault();
    download(conn, c, link);
  };
  dialog.querySelector('.citation-status').textContent = '';
  dialog.returnFocus = opener;
  dialog.showModal();
  dialog.querySelector('.citation-close').focus();
}

function buildDialog() {
  const d = document.createElement('dialog');
  d.id = 'citation-dialog';
  d.className = 'citation-dialog';
  d.setAttribute('aria-labelledby', 'citation-title');
  const head = el('div', 'citation-head');
  const title = el('h2', 'citation-title');
  title.id = 'citation-title';
  const close = el('button', 'button small citation-close', 'Close');
  close.type = 'button';
  close.addEventListener('click', () => d.close());
  head.append(title, close);
  const meta = el('p', 'citation-meta hint');
  const text = el('blockquote', 'citation-text');
  const foot = el('p', 'citation-foot');
  const link = el('a', 'citation-file');
  const status = el('span', 'citation-status hint');
  status.setAttribute('role', 'status');
  foot.append(link, ' ', status);
  d.append(head, meta, text, foot);
  // A click on the backdrop (outside the box) closes it; Escape is the dialog's own.
  d.addEventListener('click', (e) => {
    if (e.target === d) d.close();
  });
  d.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') e.stopPropagation(); // closes this, not the panels behind it
  });
  d.addEventListener('close', () => d.returnFocus?.focus());
  document.body.append(d);
  return d;
}

async function download(conn, c, link) {
  const status = link.parentElement.querySelector('.citation-status');
  status.textContent = 'Downloading…';
  try {
    const blob = await fileBlob(conn, c.file_id);
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = c.filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status.textContent = '';
  } catch (err) {
    status.textContent = err.message;
  }
}
