// A plugin's README or CHANGELOG as React elements: headings, paragraphs, lists, code
// blocks, inline code, emphasis and http(s) links (other links keep only their words). No HTML string is ever made from
// the text (a publisher's Markdown cannot put script or markup in the page).
import * as React from "react";

function inline(text: string, key: string): React.ReactNode[] {
  const out: React.ReactNode[] = [];
  const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\[([^\]]+)\]\(([^)\s]+)\))/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let i = 0;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const k = `${key}-${i++}`;
    if (m[1]) out.push(<code key={k} className="rounded bg-muted px-1 font-mono text-[0.9em]">{m[1].slice(1, -1)}</code>);
    else if (m[2]) out.push(<strong key={k}>{m[2].slice(2, -2)}</strong>);
    else if (/^https?:\/\//.test(m[5])) out.push(<a key={k} href={m[5]} rel="nofollow noopener noreferrer" className="underline underline-offset-4">{m[4]}</a>);
    else out.push(m[4]); // a link inside the author's repository: its words only
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function Markdown({ text, headingOffset = 2 }: { text: string; headingOffset?: number }) {
  const blocks: React.ReactNode[] = [];
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  let para: string[] = [];
  const flush = () => {
    if (para.length) blocks.push(<p key={`p${blocks.length}`} className="my-2">{inline(para.join(" "), `p${blocks.length}`)}</p>);
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^```/);
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*(?:[-*]|\d+\.)\s+(.*)$/);
    if (fence) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      blocks.push(<pre key={`c${blocks.length}`} className="my-2 overflow-x-auto rounded-md bg-muted p-3 font-mono text-xs">{code.join("\n")}</pre>);
      i++;
    } else if (heading) {
      flush();
      const level = Math.min(6, heading[1].length + headingOffset);
      const Tag = `h${level}` as "h3";
      blocks.push(<Tag key={`h${blocks.length}`} className="mt-4 mb-1 font-semibold">{inline(heading[2], `h${blocks.length}`)}</Tag>);
      i++;
    } else if (item) {
      flush();
      const items: string[] = [];
      for (; i < lines.length; i++) {
        const it = lines[i].match(/^\s*(?:[-*]|\d+\.)\s+(.*)$/);
        if (it) items.push(it[1]);
        else if (lines[i].match(/^\s{2,}\S/) && items.length) items[items.length - 1] += ` ${lines[i].trim()}`;
        else break;
      }
      blocks.push(<ul key={`l${blocks.length}`} className="my-2 list-disc pl-5">{items.map((t, j) => <li key={j}>{inline(t, `l${blocks.length}-${j}`)}</li>)}</ul>);
    } else if (!line.trim()) {
      flush();
      i++;
    } else {
      para.push(line.trim());
      i++;
    }
  }
  flush();
  return <>{blocks}</>;
}
