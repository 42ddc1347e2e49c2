/** Where the CLI reads and writes: the process's streams, or (in tests) strings. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Is standard output a terminal? Then results are tables; otherwise JSON lines. */
  isTTY: boolean;
  /** All of standard input, as text. */
  readStdin(): Promise<string>;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  isTTY: process.stdout.isTTY === true,
  async readStdin() {
    let text = '';
    process.stdin.setEncoding('utf8');
    for await (const chunk of process.stdin) text += chunk;
    return text;
  },
};
