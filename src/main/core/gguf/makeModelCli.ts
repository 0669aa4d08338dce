/**
 * `npm run make-model -- --out <file.gguf> [--seed N] [--preset tiny|small] [--name X]`
 * Writes a random-weights GGUF (see makeModel.ts) and prints its path and size.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeModel, type MakeModelOptions, type ModelPreset } from './makeModel';

export const USAGE = 'usage: npm run make-model -- --out <file.gguf> [--seed N] [--preset tiny|small] [--name X] [--context N]';

export interface CliArgs {
  out: string;
  options: MakeModelOptions;
}

/** Parses the arguments; throws an Error whose message says what is wrong. */
export function parseArgs(argv: string[]): CliArgs {
  let out: string | null = null;
  const options: MakeModelOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
      return v;
    };
    const wholeNumber = (min: number): number => {
      const raw = value();
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min) throw new Error(`${flag} must be a whole number >= ${min}, got "${raw}"`);
      return n;
    };
    switch (flag) {
      case '--out':
        out = value();
        break;
      case '--seed':
        options.seed = wholeNumber(0);
        break;
      case '--context':
        options.contextLength = wholeNumber(1);
        break;
      case '--preset': {
        const p = value();
        if (p !== 'tiny' && p !== 'small') throw new Error(`--preset must be tiny or small, got "${p}"`);
        options.preset = p as ModelPreset;
        break;
      }
      case '--name':
        options.name = value();
        break;
      default:
        throw new Error(`unknown argument "${flag}"`);
    }
  }
  if (!out) throw new Error('--out is required');
  return { out, options };
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`;
}

export async function main(argv: string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    console.error(`make-model: ${(err as Error).message}`);
    console.error(USAGE);
    return 1;
  }
  try {
    // Like `mkdir -p`: the README's first command writes into a models/ folder a clone lacks.
    mkdirSync(dirname(args.out), { recursive: true });
    const { path, sizeBytes } = await makeModel(args.out, args.options);
    console.log(`${path} ${sizeBytes} bytes (${formatSize(sizeBytes)})`);
    return 0;
  } catch (err) {
    console.error(`make-model: ${(err as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
