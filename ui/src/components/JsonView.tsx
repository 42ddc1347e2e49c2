/**
 * JSON, pretty, with large values folded behind <details>: strings over 200 characters, objects and
 * arrays of more than 20 entries, and anything nested deeper than 4 levels.
 */
import type { ComponentChildren } from 'preact';

const LONG_STRING = 200;
const MANY = 20;
const DEEP = 4;

function Fold({ summary, children }: { summary: string; children: ComponentChildren }) {
  return (
    <details class="fold">
      <summary>{summary}</summary>
      {children}
    </details>
  );
}

function Value({ v, depth }: { v: unknown; depth: number }): preact.JSX.Element {
  if (v === null) return <span class="j-null">null</span>;
  if (typeof v === 'string') {
    const s = JSON.stringify(v);
    if (v.length > LONG_STRING) return <Fold summary={`${s.slice(0, 80)}… (${v.length} characters)`}><span class="j-str">{s}</span></Fold>;
    return <span class="j-str">{s}</span>;
  }
  if (typeof v === 'number') return <span class="j-num">{String(v)}</span>;
  if (typeof v === 'boolean') return <span class="j-bool">{String(v)}</span>;
  if (typeof v !== 'object') return <span>{String(v)}</span>;
  const isArray = Array.isArray(v);
  const entries: [string, unknown][] = isArray ? (v as unknown[]).map((x, i) => [String(i), x]) : Object.entries(v as object);
  const [open, close] = isArray ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return <span>{open}{close}</span>;
  const body = (
    <>
      {open}
      <ul class="j-list">
        {entries.map(([k, x], i) => (
          <li>
            {isArray ? null : <><span class="j-key">{JSON.stringify(k)}</span>: </>}
            <Value v={x} depth={depth + 1} />
            {i < entries.length - 1 ? ',' : ''}
          </li>
        ))}
      </ul>
      {close}
    </>
  );
  if (entries.length > MANY || depth >= DEEP) {
    return <Fold summary={`${open} ${entries.length} ${isArray ? 'items' : 'keys'} ${close}`}>{body}</Fold>;
  }
  return body;
}

export function JsonView({ value, label }: { value: unknown; label: string }) {
  return (
    <div class="json" role="group" aria-label={label}>
      <Value v={value} depth={0} />
    </div>
  );
}
