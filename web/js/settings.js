// settings.js — the settings panel (#settings) and what its values mean for a request.
//
// Promises:
//   - bindSettings(settings, onConnectionChange) shows the saved values in the panel, saves
//     every edit to localStorage at once, and calls onConnectionChange() when the server URL or
//     the API key is committed (so the model list can be fetched again);
//   - #settings-toggle opens and closes the panel (aria-expanded follows); openSettings(id)
//     opens it and focuses the field with that id;
//   - connection(s) is the {base, key} api.js wants; samplingFields(s) holds only the sampling
//     fields the person filled in (an empty field leaves the server's default);
//   - answerFormat(s) is 'json' when "Answer format" (#answer-format) is JSON, else 'text';
//     answerFormatFields(s) is what that adds to a request: {response_format: {type:
//     "json_object"}} for JSON (the server then answers with one valid JSON object), nothing
//     for Text.

import { saveSettings } from './storage.js';

const FIELDS = {
  apiBase: 'api-base',
  apiKey: 'api-key',
  system: 'system',
  temperature: 'temperature',
  top_p: 'top-p',
  max_tokens: 'max-tokens',
  answer_format: 'answer-format',
};

export function bindSettings(settings, onConnectionChange) {
  for (const [key, id] of Object.entries(FIELDS)) {
    const input = document.getElementById(id);
    input.value = settings[key];
    const save = () => {
      settings[key] = input.value;
      saveSettings(settings);
    };
    input.addEventListener('input', save);
    input.addEventListener('change', save); // also catches edits that fire no 'input'
    if (key === 'apiBase' || key === 'apiKey') input.addEventListener('change', onConnectionChange);
  }
  const toggle = document.getElementById('settings-toggle');
  toggle.addEventListener('click', () => setOpen(!isOpen()));
  document.getElementById('settings-close').addEventListener('click', () => {
    setOpen(false);
    toggle.focus();
  });
}

export function openSettings(focusId) {
  setOpen(true);
  if (focusId) document.getElementById(focusId).focus();
}

export function closeSettings() {
  setOpen(false);
}

export function isOpen() {
  return !document.getElementById('settings').hidden;
}

function setOpen(open) {
  document.getElementById('settings').hidden = !open;
  document.getElementById('settings-toggle').setAttribute('aria-expanded', String(open));
}

export function connection(settings) {
  return { base: settings.apiBase.trim(), key: settings.apiKey.trim() };
}

export function samplingFields(settings) {
  const fields = {};
  const number = (text, parse) => {
    const value = parse(String(text).trim());
    return String(text).trim() !== '' && Number.isFinite(value) ? value : undefined;
  };
  const temperature = number(settings.temperature, Number);
  const topP = number(settings.top_p, Number);
  const maxTokens = number(settings.max_tokens, (t) => parseInt(t, 10));
  if (temperature !== undefined) fields.temperature = temperature;
  if (topP !== undefined) fields.top_p = topP;
  if (maxTokens !== undefined) fields.max_tokens = maxTokens;
  return fields;
}

export function answerFormat(settings) {
  return settings.answer_format === 'json' ? 'json' : 'text';
}

export function answerFormatFields(settings) {
  return answerFormat(settings) === 'json' ? { response_format: { type: 'json_object' } } : {};
}
