// json.js — JSON text made readable, as text (no DOM): the view shows it with textContent.
//
// Promises:
//   - prettyJson(text) returns `text` re-indented (two spaces, one member or element a line,
//     "key": value, empty {} and [] kept on one line) when the whole of it is valid JSON, else
//     null. It re-indents the text itself rather than re-serialising the parsed value, so
//     what the model wrote stays as written: big integers keep every digit (JSON.parse would
//     round them to a double), 1.0 stays 1.0, escapes and duplicate keys stay;
//   - jsonAnswer(text, asked) is the pretty text of an answer that is a JSON document, else
//     null: with `asked` (the request had a response_format) any valid JSON; without it, only
//     text that is, whole, a JSON object or array (an answer that merely mentions {} or [] in
//     prose is not one).

export function prettyJson(text) {
  const s = String(text ?? '').trim();
  if (!s) return null;
  try {
    JSON.parse(s);
  } catch {
    return null;
  }
  // Valid JSON from here on: every string is closed and every bracket matched.
  const pad = (depth) => `\n${'  '.repeat(depth)}`;
  let out = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      let j = i + 1;
      while (s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      out += s.slice(i, j + 1);
      i = j;
    } else if (c === '{' || c === '[') {
      let j = i + 1;
      while (isSpace(s[j])) j++;
      if (s[j] === (c === '{' ? '}' : ']')) {
        out += c + s[j];
        i = j;
      } else {
        out += c + pad(++depth);
      }
    } else if (c === '}' || c === ']') {
      out += pad(--depth) + c;
    } else if (c === ',') {
      out += `,${pad(depth)}`;
    } else if (c === ':') {
      out += ': ';
    } else if (!isSpace(c)) {
      out += c;
    }
  }
  return out;
}

export function jsonAnswer(text, asked) {
  const s = String(text ?? '').trim();
  if (!asked && !/^[[{]/.test(s)) return null;
  return prettyJson(s);
}

// JSON's own whitespace (JSON.parse accepts no other between tokens).
function isSpace(c) {
  return c === ' ' || c === '\n' || c === '\r' || c === '\t';
}
