// documents.js — the Documents panel (#documents): the knowledge base's files and collections
// (OpenAI's vector stores), and which collections the open chat searches.
//
// Promises:
//   - installDocuments({getConn, getChat, saveChatStores}) wires the panel in index.html and
//     returns {chatChanged, refresh}; #documents-toggle opens and closes it (aria-expanded
//     follows) and shows, in .doc-count, how many collections the open chat uses;
//   - files are uploaded from the file input (#doc-input) or dropped on the panel, one after
//     another, each with a row in #doc-uploads: a <progress> of the bytes sent (XMLHttpRequest
//     upload events), then "Processing…" while the server extracts and embeds it, then "Added"
//     or the error in plain words; the lists are read again after each upload;
//   - #doc-files lists the files newest first (name, size, date) with Delete (confirmed), and
//     a checkbox to pick it for a new collection; #doc-new-store creates a collection of the
//     picked files; each collection in #doc-stores shows its files (each removable), a select
//     to add another one, Delete (confirmed), and a checkbox "use in this chat";
//   - the chat's choice is chat.stores, an array of vector store ids saved with the chat
//     (storage.js); saveChatStores(chat) is called after each change;
//   - chatToolFields(chat) is what app.js adds to a chat request: the file_search tool with the
//     chat's collections that still exist, or nothing;
//   - a server without a knowledge base (404) or an unreachable one is said in the panel, and
//     chats then send no file_search tool;
//   - #documents[data-state] is 'loading' while the lists are being read, then 'ready' or
//     'error' once they are drawn.
// The pure helpers below (formatBytes, formatDate, uploadStatusText, toggledStores,
// fileSearchFields, activeStores) are checked under node: tests/web/documents_test.mjs.

import * as kb from './knowledge_api.js';
import { el } from './dom.js';

export const MAX_NUM_RESULTS = 5;

// --- pure helpers -----------------------------------------------------------------------------

export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// A file's date from its created_at (Unix seconds), in local time: "14:05" today,
// "7 Dec 14:05" this year, "7 Dec 2025" before.
export function formatDate(seconds, now = new Date()) {
  if (!Number.isFinite(seconds)) return '';
  const d = new Date(seconds * 1000);
  const time = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  const day = `${d.getDate()} ${MONTHS[d.getMonth()]}`;
  if (d.getFullYear() !== now.getFullYear()) return `${day} ${d.getFullYear()}`;
  if (d.getMonth() === now.getMonth() && d.getDate() === now.getDate()) return time;
  return `${day} ${time}`;
}

// The text beside an upload's progress bar.
export function uploadStatusText(u) {
  switch (u.phase) {
    case 'queued':
      return 'Waiting…';
    case 'sending': {
      const pct = u.total > 0 ? Math.floor((100 * u.loaded) / u.total) : 0;
      return `Sending ${pct}% (${formatBytes(u.loaded)} of ${formatBytes(u.total)})`;
    }
    case 'processing':
      return 'Processing…';
    case 'done':
      return 'Added';
    default:
      return u.error || 'Failed';
  }
}

// The chat's store ids with `id` ticked (on) or not; order kept, no duplicates.
export function toggledStores(stores, id, on) {
  const list = (Array.isArray(stores) ? stores : []).filter((s) => typeof s === 'string' && s !== id);
  return on ? [...list, id] : list;
}

// The chat's stores that the server still has; `known` null (the list did not load) keeps all.
export function activeStores(stores, known) {
  const list = Array.isArray(stores) ? stores.filter((s) => typeof s === 'string' && s) : [];
  return known ? list.filter((s) => known.includes(s)) : list;
}

// What a chat request gets for these store ids: the file_search tool (at most 10 stores, the
// server's limit), or nothing.
export function fileSearchFields(storeIds, maxResults = MAX_NUM_RESULTS) {
  if (!Array.isArray(storeIds) || !storeIds.length) return {};
  return {
    tools: [{ type: 'file_search', vector_store_ids: storeIds.slice(0, 10), max_num_results: maxResults }],
  };
}

// --- the panel --------------------------------------------------------------------------------

const state = {
  files: [], // file objects, newest first
  stores: [], // vector store objects
  storeFiles: new Map(), // store id -> [file id]
  loaded: false, // the lists came back at least once from this server
  problem: '', // why the lists could not be read ('' when they could)
  failed: '', // why the last change (create, add, remove, delete) failed
  uploads: [], // {name, size, phase, loaded, total, error, row}
  picked: new Set(), // file ids ticked for a new collection
};
let deps = null;
let ui = null;
let queue = Promise.resolve();
let generation = 0; // bumps on every refresh; an older answer is dropped

export function installDocuments(options) {
  deps = options;
  const $ = (id) => document.getElementById(id);
  ui = {
    panel: $('documents'), toggle: $('documents-toggle'), close: $('documents-close'),
    count: document.querySelector('#documents-toggle .doc-count'), problem: $('doc-problem'),
    body: $('doc-body'), drop: $('doc-drop'), input: $('doc-input'), uploads: $('doc-uploads'),
    files: $('doc-files'), filesEmpty: $('doc-files-empty'), stores: $('doc-stores'),
    storesEmpty: $('doc-stores-empty'), newStore: $('doc-new-store'), storeName: $('doc-store-name'),
    newStoreHint: $('doc-new-store-hint'),
  };
  ui.toggle.addEventListener('click', () => setOpen(ui.panel.hidden));
  ui.close.addEventListener('click', () => {
    setOpen(false);
    ui.toggle.focus();
  });
  ui.panel.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    e.stopPropagation();
    setOpen(false);
    ui.toggle.focus();
  });
  ui.input.addEventListener('change', () => {
    upload([...ui.input.files]);
    ui.input.value = ''; // the same file can be chosen again
  });
  // Files dropped anywhere on the open panel go up (the zone lights up while they hover).
  for (const type of ['dragenter', 'dragover'])
    ui.panel.addEventListener(type, (e) => {
      if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      ui.drop.classList.add('dragging');
    });
  ui.panel.addEventListener('dragleave', (e) => {
    if (!ui.panel.contains(e.relatedTarget)) ui.drop.classList.remove('dragging');
  });
  ui.panel.addEventListener('drop', (e) => {
    if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
    e.preventDefault();
    ui.drop.classList.remove('dragging');
    if (!ui.body.hidden) upload([...(e.dataTransfer?.files || [])]);
  });
  ui.newStore.addEventListener('submit', (e) => {
    e.preventDefault();
    createStore();
  });
  ui.files.addEventListener('click', onFilesClick);
  ui.files.addEventListener('change', (e) => {
    const box = e.target.closest('.doc-pick');
    if (!box) return;
    const id = box.closest('.doc-file').dataset.id;
    if (box.checked) state.picked.add(id);
    else state.picked.delete(id);
    showNewStoreHint();
  });
  ui.stores.addEventListener('click', onStoresClick);
  ui.stores.addEventListener('change', onStoresChange);
  refresh();
  return { chatChanged, refresh };
}

// What app.js adds to a chat request.
export function chatToolFields(chat) {
  const known = state.loaded ? state.stores.map((s) => s.id) : null;
  return fileSearchFields(activeStores(chat.stores, known));
}

function chatChanged() {
  if (!ui) return;
  drawStores();
  drawCount();
}

function setOpen(open) {
  ui.panel.hidden = !open;
  ui.toggle.setAttribute('aria-expanded', String(open));
  if (open) refresh();
}

// Reads the files, the stores and each store's files again, then draws them.
async function refresh() {
  const mine = ++generation;
  ui.panel.dataset.state = 'loading';
  const conn = deps.getConn();
  try {
    const [files, stores] = await Promise.all([kb.listFiles(conn), kb.listStores(conn)]);
    const members = await Promise.all(stores.map((s) => kb.listStoreFiles(conn, s.id)));
    if (mine !== generation) return;
    state.files = files;
    state.stores = stores;
    state.storeFiles = new Map(stores.map((s, k) => [s.id, members[k].map((f) => f.id)]));
    for (const id of [...state.picked]) if (!files.some((f) => f.id === id)) state.picked.delete(id);
    state.loaded = true;
    state.problem = '';
  } catch (err) {
    if (mine !== generation) return;
    if (err.kind === 'http' && err.status === 404) { // no knowledge base here
      state.loaded = true;
      state.files = [];
      state.stores = [];
    }
    state.problem = err.message;
  }
  draw();
  ui.panel.dataset.state = state.problem ? 'error' : 'ready';
}

function draw() {
  const problem = state.problem || state.failed;
  ui.problem.hidden = !problem;
  ui.problem.textContent = problem;
  ui.body.hidden = Boolean(state.problem);
  drawFiles();
  drawStores();
  drawCount();
}

function drawFiles() {
  ui.filesEmpty.hidden = state.files.length > 0;
  ui.files.replaceChildren(...state.files.map((f) => {
    const li = el('li', 'doc-file');
    li.dataset.id = f.id;
    const pick = el('input', 'doc-pick');
    pick.type = 'checkbox';
    pick.checked = state.picked.has(f.id);
    pick.setAttribute('aria-label', `Pick ${f.filename} for a new collection`);
    pick.title = 'Pick for a new collection';
    const name = el('span', 'doc-name', f.filename);
    name.title = `${f.filename} (${f.id})`;
    const meta = el('span', 'doc-meta', [formatBytes(f.bytes), formatDate(f.created_at)].filter(Boolean).join(' \u00b7 '));
    const del = button('Delete', 'delete-file', `Delete the file ${f.filename}`);
    li.append(pick, el('span', 'doc-file-text'), del);
    li.querySelector('.doc-file-text').append(name, meta);
    return li;
  }));
  showNewStoreHint();
}

function drawStores() {
  const chosen = activeStores(deps.getChat().stores, null);
  ui.storesEmpty.hidden = state.stores.length > 0;
  ui.stores.replaceChildren(...state.stores.map((s) => {
    const li = el('li', 'doc-store');
    li.dataset.id = s.id;
    const head = el('div', 'doc-store-head');
    const use = el('label', 'doc-use');
    const box = el('input', 'doc-use-box');
    box.type = 'checkbox';
    box.checked = chosen.includes(s.id);
    use.append(box, el('span', 'doc-store-name', s.name || s.id));
    use.title = 'Search this collection when this chat answers';
    const members = state.storeFiles.get(s.id) || [];
    const count = members.length;
    const meta = el('span', 'doc-meta', `${count} file${count === 1 ? '' : 's'} \u00b7 ${formatBytes(s.usage_bytes || 0)}`);
    head.append(use, meta, button('Delete', 'delete-store', `Delete the collection ${s.name || s.id}`));
    const list = el('ul', 'doc-store-files');
    for (const id of members) {
      const file = state.files.find((f) => f.id === id);
      const name = file ? file.filename : id;
      const item = el('li', 'doc-member');
      item.dataset.fileId = id;
      item.append(el('span', 'doc-member-name', name),
        button('\u00d7', 'remove-member', `Remove ${name} from ${s.name || s.id}`));
      list.append(item);
    }
    li.append(head, list);
    const others = state.files.filter((f) => !members.includes(f.id));
    if (others.length) {
      const add = el('div', 'doc-store-add');
      const select = el('select', 'doc-add-select');
      select.setAttribute('aria-label', `A file to add to ${s.name || s.id}`);
      select.append(...others.map((f) => new Option(f.filename, f.id)));
      add.append(select, button('Add', 'add-member', `Add the chosen file to ${s.name || s.id}`));
      li.append(add);
    }
    return li;
  }));
}

function drawCount() {
  const known = state.loaded ? state.stores.map((s) => s.id) : null;
  const n = activeStores(deps.getChat().stores, known).length;
  ui.count.hidden = n === 0;
  ui.count.textContent = String(n);
  ui.toggle.title = n ? `This chat searches ${n} collection${n === 1 ? '' : 's'}` : 'Documents';
}

function showNewStoreHint() {
  const n = state.picked.size;
  ui.newStoreHint.textContent = n
    ? `The new collection will hold the ${n} picked file${n === 1 ? '' : 's'}.`
    : state.files.length ? 'Pick files above to put them in the new collection, or add them later.' : '';
}

// --- actions ------------------------------------------------------------------------------------

function upload(files) {
  if (!files.length) return;
  ui.uploads.querySelectorAll('.doc-upload[data-phase="done"]').forEach((row) => row.remove());
  for (const file of files) {
    const u = { name: file.name, size: file.size, phase: 'queued', loaded: 0, total: file.size, error: '' };
    u.row = uploadRow(u);
    ui.uploads.append(u.row);
    queue = queue.then(() => sendOne(file, u));
  }
}

async function sendOne(file, u) {
  const update = (fields) => {
    Object.assign(u, fields);
    drawUpload(u);
  };
  update({ phase: 'sending', loaded: 0 });
  try {
    await kb.uploadFile(deps.getConn(), file, { onProgress: update });
    update({ phase: 'done' });
  } catch (err) {
    update({ phase: 'error', error: err.message });
  }
  await refresh();
}

function uploadRow(u) {
  const row = el('li', 'doc-upload');
  const name = el('span', 'doc-name', u.name);
  const bar = el('progress', 'doc-progress');
  bar.max = 1;
  bar.setAttribute('aria-label', `Upload of ${u.name}`);
  row.append(name, bar, el('span', 'doc-upload-status'));
  drawUpload(u, row);
  return row;
}

function drawUpload(u, row = u.row) {
  row.dataset.phase = u.phase;
  const bar = row.querySelector('progress');
  if (u.phase === 'processing') bar.removeAttribute('value'); // indeterminate: the server works
  else bar.value = u.phase === 'done' ? 1 : u.phase === 'sending' && u.total > 0 ? u.loaded / u.total : 0;
  bar.hidden = u.phase === 'error';
  const status = row.querySelector('.doc-upload-status');
  status.textContent = uploadStatusText(u);
  status.setAttribute('role', u.phase === 'error' ? 'alert' : 'status');
}

async function onFilesClick(e) {
  const b = e.target.closest('button[data-action="delete-file"]');
  if (!b) return;
  const id = b.closest('.doc-file').dataset.id;
  const file = state.files.find((f) => f.id === id);
  if (!file || !window.confirm(`Delete the file “${file.filename}”? Collections that hold it lose it too.`)) return;
  await act(() => kb.deleteFile(deps.getConn(), id));
}

async function onStoresClick(e) {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  const li = b.closest('.doc-store');
  const store = state.stores.find((s) => s.id === li.dataset.id);
  if (!store) return;
  const conn = deps.getConn();
  if (b.dataset.action === 'delete-store') {
    if (!window.confirm(`Delete the collection “${store.name || store.id}”? Its files stay.`)) return;
    await act(() => kb.deleteStore(conn, store.id));
  } else if (b.dataset.action === 'remove-member') {
    await act(() => kb.removeStoreFile(conn, store.id, b.closest('.doc-member').dataset.fileId));
  } else if (b.dataset.action === 'add-member') {
    const fileId = li.querySelector('.doc-add-select').value;
    if (fileId) await act(() => kb.addStoreFile(conn, store.id, fileId));
  }
}

function onStoresChange(e) {
  const box = e.target.closest('.doc-use-box');
  if (!box) return;
  const chat = deps.getChat();
  chat.stores = toggledStores(chat.stores, box.closest('.doc-store').dataset.id, box.checked);
  deps.saveChatStores(chat);
  drawCount();
}

async function createStore() {
  const name = ui.storeName.value.trim();
  if (!name) {
    ui.storeName.focus();
    return;
  }
  const ids = state.files.filter((f) => state.picked.has(f.id)).map((f) => f.id);
  const ok = await act(() => kb.createStore(deps.getConn(), name, ids));
  if (ok) {
    ui.storeName.value = '';
    state.picked.clear();
    drawFiles();
  }
}

// Runs one change on the server, then reads the lists again; a failure is said in the panel.
async function act(change) {
  state.failed = '';
  let ok = true;
  try {
    await change();
  } catch (err) {
    state.failed = err.message;
    ok = false;
  }
  await refresh();
  return ok;
}

function button(text, action, label) {
  const b = el('button', 'button small', text);
  b.type = 'button';
  b.dataset.action = action;
  b.setAttribute('aria-label', label);
  if (label !== text) b.title = label;
  return b;
}
