/**
 * Safe DOM building for the pages: text from the API, a scanned code or the user only ever reaches the
 * page as text nodes (never as markup), so it cannot run even where the Content-Security-Policy would
 * not already stop it.
 */

export type Child = Node | string | number | null | undefined | false | Child[];
export type Attrs = Record<string, string | number | boolean | null | undefined>;

function nodes(children: Child[]): Node[] {
  const out: Node[] = [];
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) out.push(...nodes(child));
    else out.push(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return out;
}

/** An element with attributes (`class`, `text`, anything else set as an attribute) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]):
  HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = String(value);
    else if (name === "text") node.textContent = String(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...nodes(children));
  return node;
}

/** Replace an element's children. */
export function fill<E extends Element>(element: E, ...children: Child[]): E {
  element.replaceChildren(...nodes(children));
  return element;
}

/** The element with this id, of the expected kind; a page whose markup lacks it is a bug, said plainly. */
export function byId<E extends HTMLElement = HTMLElement>(id: string): E {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no element #${id}`);
  return found as E;
}

/** Show or hide an element. */
export function show(element: HTMLElement, visible: boolean): void {
  element.hidden = !visible;
}
