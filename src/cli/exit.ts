/**
 * Exit codes scripts can rely on, and the one place that decides them:
 *   0  done
 *   1  the API refused (its error kind and message are printed), or a `--wait` job ended
 *      failed_permanent or cancelled
 *   2  usage: an unknown command or option, a bad value, a payload that is not JSON
 *   3  the API could not be reached (no answer, or an answer that is not jobq's)
 *   4  `--wait` gave up (`--timeout`) while the job was still unfinished
 * Every message is one line on stderr (API error details follow, one per line); never a stack.
 */
import { type Command, CommanderError } from 'commander';
import { JobqClientError } from '../client.ts';
import type { CliIo } from './io.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, timeout: 4 } as const;

/** Ends the command with `code`, printing `message` (if any) as `jobq: <message>`. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
  }
}

export const usage = (message: string) => new CliExit(EXIT.usage, message);

/** A client failure as the CLI reports it; `url` is where the API was looked for. */
export function fromClientError(err: JobqClientError, url: string): CliExit {
  switch (err.kind) {
    case 'network_error':
      return new CliExit(EXIT.unreachable, `cannot reach the jobq API at ${url}: ${err.message}`);
    case 'invalid_response':
      return new CliExit(EXIT.unreachable, `${url} did not answer as a jobq API: ${err.message}`);
    case 'timeout':
      return new CliExit(EXIT.timeout, err.message);
    default: {
      const details = (err.details ?? []).map((d) => `\n  ${d.path}: ${d.message}`).join('');
      return new CliExit(EXIT.failed, `${err.kind}: ${err.message}${details}`);
    }
  }
}

/**
 * Parses `argv` (as process.argv: node, script, arguments) and runs the command; resolves to its
 * exit code. Commander's own errors (unknown option, missing argument, bad value) are usage errors;
 * help and version are 0. Any other error is a bug and is thrown.
 */
export async function runCommand(program: Command, argv: string[], io: CliIo): Promise<number> {
  const configure = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    cmd.commands.forEach(configure);
  };
  configure(program);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage; // commander printed the message
    if (err instanceof CliExit) {
      if (err.message) io.err(`jobq: ${err.message}\n`);
      return err.code;
    }
    throw err;
  }
}
