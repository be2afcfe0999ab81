// sse.js — reads Server-Sent Events from a fetch() response body.
//
// Promise: sseEvents(body) yields one {event, data, id} object per event in the order the
// server sent them, following the HTML standard's event-stream rules:
//   - lines end in \n, \r\n or \r (also when the two bytes of \r\n arrive in different reads);
//   - a blank line ends an event; an event with no data line is not yielded;
//   - a line starting with ':' is a comment (": keep-alive") and is passed to onComment;
//   - "field: value" loses one space after the colon; several data lines join with "\n";
//   - text is decoded as UTF-8 across read boundaries (a character split between reads is kept
//     whole);
//   - an event left unfinished when the body ends is dropped, as the standard says.
// It knows nothing about OpenAI or [DONE]: api.js gives the data its meaning. Errors of the
// body's reader (a dropped connection, an abort) are thrown to the caller unchanged.

export async function* sseEvents(body, { onComment } = {}) {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let event = newEvent();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // Take every complete line; keep a trailing '\r' back, its '\n' may still come.
      let start = 0;
      for (;;) {
        const end = lineEnd(buffer, start, done);
        if (end < 0) break;
        const line = buffer.slice(start, end);
        start = end + (buffer.startsWith('\r\n', end) ? 2 : 1);
        if (line === '') {
          if (event.data.length > 0) yield finish(event);
          event = newEvent();
        } else if (line.startsWith(':')) {
          if (onComment) onComment(line.slice(1).trimStart());
        } else {
          addField(event, line);
        }
      }
      buffer = buffer.slice(start);
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

function newEvent() {
  return { event: 'message', data: [], id: undefined };
}

function finish(event) {
  return { event: event.event, data: event.data.join('\n'), id: event.id };
}

// Index of the end of the line that starts at `start`, or -1 when it has not fully arrived.
function lineEnd(buffer, start, done) {
  for (let i = start; i < buffer.length; i++) {
    const c = buffer[i];
    if (c === '\n') return i;
    if (c === '\r') return i + 1 < buffer.length || done ? i : -1;
  }
  return -1;
}

function addField(event, line) {
  const colon = line.indexOf(':');
  const name = colon < 0 ? line : line.slice(0, colon);
  let value = colon < 0 ? '' : line.slice(colon + 1);
  if (value.startsWith(' ')) value = value.slice(1);
  if (name === 'data') event.data.push(value);
  else if (name === 'event') event.event = value;
  else if (name === 'id' && !value.includes('\0')) event.id = value;
  // "retry" and unknown fields mean nothing to a fetch() reader: ignored.
}
