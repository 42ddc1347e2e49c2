/**
 * Reading the Dockerfile (with dockerfile-ast) and .dockerignore, for test/deploy/: its stages, a
 * stage's environment, exec-form commands, and whether the build context holds a path.
 */
import { readFileSync } from 'node:fs';
import { DockerfileParser, type Env, type From, type Instruction } from 'dockerfile-ast';

export interface Stage {
  /** The `AS` name, if any. */
  name: string | undefined;
  from: From;
  /** The stage's instructions after its FROM, in order. */
  instructions: Instruction[];
}

export function readStages(text = readFileSync('Dockerfile', 'utf8')): Stage[] {
  const stages: Stage[] = [];
  for (const i of DockerfileParser.parse(text).getInstructions()) {
    if (i.getKeyword() === 'FROM') stages.push({ name: (i as From).getBuildStage() ?? undefined, from: i as From, instructions: [] });
    else stages.at(-1)?.instructions.push(i);
  }
  return stages;
}

export const instructionsOf = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.getKeyword() === keyword);

/** The arguments as one line (continuations joined, flags such as --from left out). */
export const argumentsOf = (i: Instruction): string => (i.getArgumentsContent() ?? '').replace(/\s+/g, ' ').trim();

/** The environment a stage's ENV instructions set (later ones win). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of instructionsOf(stage, 'ENV')) for (const p of (i as Env).getProperties()) env[p.getName()] = p.getUnescapedValue() ?? '';
  return env;
}

/** An exec-form command (a JSON array of strings), or undefined for the shell form. */
export function execForm(text: string): string[] | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** HEALTHCHECK's command in exec form, or undefined (shell form, NONE, or no HEALTHCHECK). */
export function healthcheckCommand(stage: Stage): string[] | undefined {
  const hc = instructionsOf(stage, 'HEALTHCHECK').at(-1);
  const m = hc && /^CMD\s+(.*)$/s.exec(argumentsOf(hc));
  return m ? execForm(m[1]!) : undefined;
}

/**
 * Docker's .dockerignore rules as `docker build` applies them (moby's patternmatcher): one pattern a
 * line, `#` comments, a leading `/` ignored, `*` and `?` within one path segment, `**` across any
 * number, `!` for exceptions, the last matching line wins, and a pattern that matches a folder
 * matches everything in it. Returns whether a context-relative path is left out of the context.
 * (Hand-written: no maintained npm package implements moby's matcher; this is its documented subset.)
 */
export function dockerignore(text: string): (file: string) => boolean {
  const patterns = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exception = l.startsWith('!');
      const p = (exception ? l.slice(1).trim() : l).replace(/^\/+/, '').replace(/\/+$/, '');
      return { exception, re: new RegExp(`^${toRegex(p)}$`) };
    });
  return (file) => {
    const parts = file.replace(/^\.\//, '').split('/');
    const paths = parts.map((_, i) => parts.slice(0, i + 1).join('/')); // every ancestor folder, then the file
    let excluded = false;
    for (const { exception, re } of patterns) if (paths.some((p) => re.test(p))) excluded = !exception;
    return excluded;
  };
}

function toRegex(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        out += '(?:.*/)?';
      } else out += '.*';
    } else if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) out += escape(pattern[++i]!);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${pattern.slice(i + 1, end).replace(/^!/, '^')}]`;
        i = end;
      }
    } else out += escape(ch);
  }
  return out;
}

const escape = (ch: string) => ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
