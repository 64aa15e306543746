import { SEVERITIES, SEVERITY_LABELS, type Severity } from '../../domain/severity.ts';

/** Building the page: elements from data, never from HTML text, and the severity shapes. */

/** `class`, `text`, `on<event>` handlers, and other attributes (true: present; false, null, undefined: absent). */
export type Attributes = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;
export type Child = Node | string | number | null | undefined | false | readonly Child[];

/** The page shell's element with this id, of this type; throws naming the id when the shell has no such element. */
export function byId<T extends HTMLElement = HTMLElement>(
  id: string,
  type: abstract new () => T = HTMLElement as unknown as abstract new () => T,
): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`The page has no ${type.name} #${id}`);
  return el;
}

/**
 * An element: `h('p', { class: 'x', 'data-id': 1, onclick: fn }, 'text', child)`. Text is never parsed as
 * HTML.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes?: Attributes,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') {
      if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    } else if (key === 'class') el.className = String(value);
    else if (key === 'text') el.textContent = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append<E extends Element>(el: E, children: readonly Child[]): E {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Severity shapes, so severity never rests on colour alone: an octagon, a triangle, a circle.
const ICONS = {
  critical:
    '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M5.2 1h5.6L15 5.2v5.6L10.8 15H5.2L1 10.8V5.2z"/><path fill="#fff" d="M7.1 4h1.8l-.3 5.2H7.4zM8 10.4a1.1 1.1 0 1 1 0 2.2 1.1 1.1 0 0 1 0-2.2z"/></svg>',
  warning:
    '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M8 1.2 15.3 14H.7z"/><path fill="#fff" d="M7.2 5.6h1.6l-.3 4.3h-1zM8 10.8a1 1 0 1 1 0 2 1 1 0 0 1 0-2z"/></svg>',
  info: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle fill="currentColor" cx="8" cy="8" r="7"/><path fill="#fff" d="M7.2 7h1.6v5H7.2zM8 3.6a1 1 0 1 1 0 2 1 1 0 0 1 0-2z"/></svg>',
  on: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle fill="currentColor" cx="8" cy="8" r="7"/><path fill="none" stroke="#fff" stroke-width="1.8" d="m4.6 8.2 2.2 2.2 4.6-4.6"/></svg>',
  off: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle fill="none" stroke="currentColor" stroke-width="1.6" cx="8" cy="8" r="6.2"/></svg>',
  blocked:
    '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle fill="none" stroke="currentColor" stroke-width="1.8" cx="8" cy="8" r="6.1"/><path stroke="currentColor" stroke-width="1.8" d="m3.7 12.3 8.6-8.6"/></svg>',
};
export type IconName = keyof typeof ICONS;

export function icon(name: IconName): Element {
  const span = document.createElement('span');
  // Our own constant markup, not data.
  span.innerHTML = ICONS[name];
  return span.firstElementChild!;
}

/** Severities in the order a nurse reads them: critical first. */
export const WORST_FIRST: readonly Severity[] = [...SEVERITIES].reverse();

/** The severity's shape and word (or `text`): `[▲ Warning]`. */
export function severityBadge(severity: Severity, text?: string): HTMLSpanElement {
  return h('span', { class: `sev sev--${severity}` }, icon(severity), text || SEVERITY_LABELS[severity]);
}
