// storage.js — conversations and settings kept in this browser's localStorage.
//
// Promises:
//   - loadChats() returns every saved chat, most recently updated first; a chat is
//     {id, title, created, updated, messages: [{id, role, content, ...}]} (app.js adds the
//     assistant's state, error, metrics, finish, format ('json' when the request asked for
//     JSON), tool_calls (toolcalls.js's shape) and citations (citations.js's shape) to its
//     messages; documents.js adds `stores`, the vector store ids the chat searches); content
//     is always a string, '' for an answer that only called tools; tool_calls and citations,
//     when kept, are always arrays;
//   - saveChat(chat) stores or replaces it by id and returns false (storing nothing) when the
//     browser refuses (quota full, storage disabled); deleteChat(id) removes it;
//   - an answer still marked 'streaming' when the page was closed comes back as 'stopped';
//   - loadSettings()/saveSettings(s) keep the settings panel's values (DEFAULT_SETTINGS shape;
//     a setting with fixed choices that holds anything else reads as its default);
//   - corrupt or missing data reads as empty, never as an exception.
// The API key is stored here in clear text, like any browser-side client's: readable by
// scripts of this origin only, and this page loads no script from anywhere else (see the CSP
// in index.html).

const CHATS = 'shardserve.chats.v1';
const CURRENT = 'shardserve.current.v1';
const SETTINGS = 'shardserve.settings.v1';

export const DEFAULT_SETTINGS = Object.freeze({
  apiBase: '', // '' = this page's own origin
  apiKey: '',
  model: '',
  system: '',
  temperature: '', // '' = the server's default
  top_p: '',
  max_tokens: '',
  answer_format: 'text', // 'text' | 'json' (response_format json_object)
});

// Settings whose value must be one of a list (a <select> in the panel).
const CHOICES = { answer_format: ['text', 'json'] };

export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

export function createChat() {
  const now = Date.now();
  return { id: newId(), title: 'New chat', created: now, updated: now, messages: [] };
}

export function loadChats() {
  const chats = read(CHATS, []);
  if (!Array.isArray(chats)) return [];
  return chats
    .filter((c) => c && typeof c.id === 'string' && Array.isArray(c.messages))
    .map((c) => ({
      ...c,
      messages: c.messages.filter((m) => m && typeof m === 'object').map(loadMessage),
    }))
    .sort((a, b) => (b.updated || 0) - (a.updated || 0));
}

function loadMessage(m) {
  const out = { ...m, content: typeof m.content === 'string' ? m.content : '' };
  if (out.state === 'streaming') out.state = 'stopped';
  if ('tool_calls' in out && !Array.isArray(out.tool_calls)) delete out.tool_calls;
  if ('citations' in out && !Array.isArray(out.citations)) delete out.citations;
  return out;
}

export function saveChat(chat) {
  const others = loadChats().filter((c) => c.id !== chat.id);
  return write(CHATS, [chat, ...others]);
}

export function deleteChat(id) {
  write(CHATS, loadChats().filter((c) => c.id !== id));
  if (currentChatId() === id) setCurrentChatId('');
}

export function currentChatId() {
  const id = read(CURRENT, '');
  return typeof id === 'string' ? id : '';
}

export function setCurrentChatId(id) {
  write(CURRENT, id);
}

export function loadSettings() {
  const saved = read(SETTINGS, {});
  const settings = { ...DEFAULT_SETTINGS };
  for (const key of Object.keys(DEFAULT_SETTINGS))
    if (saved && typeof saved[key] === 'string' && (!CHOICES[key] || CHOICES[key].includes(saved[key])))
      settings[key] = saved[key];
  return settings;
}

export function saveSettings(settings) {
  return write(SETTINGS, settings);
}

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}
