/**
 * A Server-Sent Events parser, per the WHATWG HTML standard's "event stream interpretation": lines
 * end with CRLF, LF or CR (a CR at the end of one chunk may meet its LF in the next); `:` starts a
 * comment; `data` lines accumulate; `event`, `id` (unless it holds NUL) and `retry` (digits only) set
 * their field; an empty line dispatches the event, unless its data is empty. Fed decoded text.
 *
 * Written here rather than taken from a package (eventsource-parser would do): the client entry loads
 * no package at all, so that it runs as it is in browsers and edge runtimes (test/layering.test.ts).
 */

export interface SseMessage {
  /** `event:`, or `message` when the frame named none. */
  event: string;
  data: string;
  /** This frame's own `id:` (undefined when it had none). */
  id: string | undefined;
  /** The last event id so far (what a reconnect sends as Last-Event-ID). */
  lastEventId: string;
}

export class SseParser {
  #buffer = '';
  /** The previous chunk ended with CR: an LF starting this one belongs to it. */
  #afterCr = false;
  #data = '';
  #hasData = false;
  #event = '';
  #id: string | undefined;
  #lastEventId = '';
  /** The last `retry:` the server sent, in ms. */
  retryMs: number | undefined;

  constructor(lastEventId = '') {
    this.#lastEventId = lastEventId;
  }

  /** The messages completed by this chunk, in order. */
  feed(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let text = chunk;
    if (this.#afterCr && text.startsWith('\n')) text = text.slice(1);
    this.#afterCr = false;
    this.#buffer += text;
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const c = this.#buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(this.#buffer.slice(start, i), out);
      if (c === 13) {
        if (i + 1 === this.#buffer.length) this.#afterCr = true;
        else if (this.#buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  #line(line: string, out: SseMessage[]): void {
    if (line === '') return this.#dispatch(out);
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data += `${value}\n`;
        this.#hasData = true;
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = this.#id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
    }
  }

  #dispatch(out: SseMessage[]): void {
    if (this.#hasData) out.push({ event: this.#event || 'message', data: this.#data.slice(0, -1), id: this.#id, lastEventId: this.#lastEventId });
    this.#data = '';
    this.#hasData = false;
    this.#event = '';
    this.#id = undefined;
  }
}
