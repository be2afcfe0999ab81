// dom.js — the one DOM helper the page's views share.
//
// el(tag, className, text) makes an element with that class (when given) and text content
// (when given; set as text, never parsed as HTML).

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
