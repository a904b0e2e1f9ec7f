/**
 * A small, strict XML parser for the tests of generated SVG: it throws on anything that is not
 * well-formed (unbalanced or mismatched tags, a duplicate or unquoted attribute, a raw `<` or an
 * unknown entity, text after the root) and returns the element tree with entities decoded.
 *
 * @module
 */

/** One element: its name, attributes and children (elements and decoded text). */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: (XmlElement | string)[];
}

const NAME = /[A-Za-z_:][\w.:-]*/y;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Parses `text` as one XML document; throws an `Error` naming the offset of the first fault. */
export function parseXml(text: string): XmlElement {
  let at = 0;
  const fault = (message: string): never => {
    throw new Error(
      `Not well-formed XML at offset ${at}: ${message} (near ${
        JSON.stringify(text.slice(at, at + 30))
      })`,
    );
  };
  const skipSpace = () => {
    while (at < text.length && /\s/.test(text[at]!)) at++;
  };
  const name = (): string => {
    NAME.lastIndex = at;
    const match = NAME.exec(text);
    if (match === null) return fault("expected a name");
    at += match[0].length;
    return match[0];
  };
  const decode = (raw: string): string =>
    raw.replace(/&([^;]*);?/g, (entity, body: string) => {
      if (!entity.endsWith(";")) fault(`"&" that starts no entity`);
      if (Object.hasOwn(ENTITIES, body)) return ENTITIES[body]!;
      const numeric = /^#(\d+)$|^#x([0-9a-fA-F]+)$/.exec(body);
      if (numeric === null) return fault(`unknown entity "&${body};"`);
      return String.fromCodePoint(parseInt(numeric[1] ?? numeric[2]!, numeric[1] ? 10 : 16));
    });
  const skipMisc = () => {
    for (;;) {
      skipSpace();
      if (text.startsWith("<!--", at)) {
        const end = text.indexOf("-->", at + 4);
        if (end === -1 || text.slice(at + 4, end).includes("--")) fault("bad comment");
        at = end + 3;
      } else if (text.startsWith("<?", at)) {
        const end = text.indexOf("?>", at);
        if (end === -1) fault("unterminated processing instruction");
        at = end + 2;
      } else return;
    }
  };
  const element = (): XmlElement => {
    if (text[at] !== "<") fault('expected "<"');
    at++;
    const node: XmlElement = { name: name(), attributes: {}, children: [] };
    for (;;) {
      const before = at;
      skipSpace();
      if (text.startsWith("/>", at)) {
        at += 2;
        return node;
      }
      if (text[at] === ">") {
        at++;
        break;
      }
      if (at === before) fault("expected white space before an attribute");
      const attribute = name();
      if (Object.hasOwn(node.attributes, attribute)) fault(`duplicate attribute "${attribute}"`);
      skipSpace();
      if (text[at] !== "=") fault(`expected "=" after "${attribute}"`);
      at++;
      skipSpace();
      const quote = text[at];
      if (quote !== '"' && quote !== "'") return fault("expected a quoted attribute value");
      const end = text.indexOf(quote, at + 1);
      if (end === -1) fault("unterminated attribute value");
      const raw = text.slice(at + 1, end);
      if (raw.includes("<")) fault('"<" in an attribute value');
      node.attributes[attribute] = decode(raw);
      at = end + 1;
    }
    for (;;) {
      if (at >= text.length) fault(`unclosed element "${node.name}"`);
      if (text.startsWith("</", at)) {
        at += 2;
        const closing = name();
        if (closing !== node.name) fault(`"</${closing}>" closes "<${node.name}>"`);
        skipSpace();
        if (text[at] !== ">") fault('expected ">"');
        at++;
        return node;
      }
      if (text.startsWith("<!--", at)) {
        skipMisc();
        continue;
      }
      if (text.startsWith("<![CDATA[", at)) {
        const end = text.indexOf("]]>", at);
        if (end === -1) fault("unterminated CDATA");
        node.children.push(text.slice(at + 9, end));
        at = end + 3;
        continue;
      }
      if (text[at] === "<") {
        node.children.push(element());
        continue;
      }
      const next = text.indexOf("<", at);
      const raw = text.slice(at, next === -1 ? text.length : next);
      if (raw.includes("]]>")) fault('"]]>" in text');
      node.children.push(decode(raw));
      at += raw.length;
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (at !== text.length) fault("content after the root element");
  return root;
}

/** Every element of the tree, depth first, the root included. */
export function elements(root: XmlElement): XmlElement[] {
  return [
    root,
    ...root.children.flatMap((child) => typeof child === "string" ? [] : elements(child)),
  ];
}

/** The decoded text of an element and its descendants. */
export function textOf(node: XmlElement): string {
  return node.children.map((child) => typeof child === "string" ? child : textOf(child)).join("");
}
