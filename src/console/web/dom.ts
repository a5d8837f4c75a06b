// Small DOM helpers: every text is set with textContent, never parsed as HTML.

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

type Child = Node | string | null | undefined | false;

/** An element with attributes (data-* included) and children; text children become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A time with its date, in the browser's zone: 2026-12-02 14:05:09 (the exact UTC instant in the title). */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A <time> element showing formatTime, with the ISO instant as its datetime and title. */
export function timeEl(iso: string | null | undefined): HTMLElement {
  if (!iso) return el('span', { class: 'muted' }, '—');
  return el('time', { datetime: iso, title: iso }, formatTime(iso));
}

/** The status line in the header; `kind` colours it. */
export function setStatus(text: string, kind: 'ok' | 'busy' | 'error' = 'busy'): void {
  const status = byId('status');
  status.textContent = text;
  status.dataset.kind = kind;
}
