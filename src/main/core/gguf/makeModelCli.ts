/**
 * `npm run make-model -- [--out <file.gguf> | --models <dir> | --data <dir>] [--seed N] [--preset tiny|small|small-h64|medium] [--name X]`
 * Writes a random-weights GGUF (see makeModel.ts) and prints its path and size. Without --out
 * the file goes into the models folder Loadout watches, so it shows up in the app at once.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultDataDir } from '../paths';
import { SettingsStore } from '../settingsStore';
import { makeModel, MODEL_PRESETS, type MakeModelOptions, type ModelPreset } from './makeModel';

export const USAGE = 'usage: npm run make-model -- [--out <file.gguf>] [--seed N] [--preset tiny|small|small-h64|medium] [--name X] [--context N] [--models <dir>] [--data <dir>]';

export function help(dataDir = defaultDataDir()): string {
  return [
    USAGE,
    '',
    'Writes a GGUF model with deterministic random weights (its answers are gibberish), for trying and testing Loadout.',
    '',
    '  --out <file.gguf>  where to write it (replaces an existing file)',
    `  (no --out)         <models folder>/<preset>.gguf, in the folder Loadout watches: the models_dir setting`,
    `                     of the data folder, by default ${join(dataDir, 'models')}; never replaces a file`,
    '  --models <dir>     that models folder instead',
    `  --data <dir>       the data folder whose models folder to use (default ${dataDir})`,
    '  --preset tiny|small|small-h64|medium  tiny (default; about 0.7 MB), small (99 MB, stories15M-shaped), small-h64 (small with 64-wide attention heads) or medium (536 MB, 134M parameters); all but tiny for benchmarks',
    '  --seed N           the weights\' seed (same seed, same file)',
    '  --name X           the model\'s general.name',
    '  --context N        its context length',
    '  --help, -h         this help',
  ].join('\n');
}

export type CliArgs =
  | { help: true }
  | { help?: false; out: string | null; modelsDir: string | null; dataDir: string | null; options: MakeModelOptions };

/** Parses the arguments; throws an Error whose message says what is wrong. */
export function parseArgs(argv: string[]): CliArgs {
  let out: string | null = null;
  let modelsDir: string | null = null;
  let dataDir: string | null = null;
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
      case '--help':
      case '-h':
        return { help: true };
      case '--out':
        out = value();
        break;
      case '--models':
        modelsDir = value();
        break;
      case '--data':
        dataDir = value();
        break;
      case '--seed':
        options.seed = wholeNumber(0);
        break;
      case '--context':
        options.contextLength = wholeNumber(1);
        break;
      case '--preset': {
        const p = value();
        if (!Object.hasOwn(MODEL_PRESETS, p)) throw new Error(`--preset must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got "${p}"`);
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
  if (out && (modelsDir || dataDir)) throw new Error('--out names the file itself: leave out --models and --data');
  return { out, modelsDir, dataDir, options };
}

/** The file to write: --out, or the preset's name in the models folder Loadout watches. */
export function targetOf(args: Extract<CliArgs, { out: string | null }>): { path: string; inWatchedFolder: boolean } {
  if (args.out) return { path: args.out, inWatchedFolder: false };
  const folder = args.modelsDir ?? new SettingsStore(args.dataDir ?? defaultDataDir()).get().models_dir;
  return { path: join(folder, `${args.options.preset ?? 'tiny'}.gguf`), inWatchedFolder: true };
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
  if (args.help) {
    console.log(help());
    return 0;
  }
  try {
    const target = targetOf(args);
    if (target.inWatchedFolder && existsSync(target.path)) {
      console.error(`make-model: ${target.path} already exists; pass --out <file.gguf> to write another file (or to replace it)`);
      return 1;
    }
    // Like `mkdir -p`: on a first run the models folder may not exist yet.
    mkdirSync(dirname(target.path), { recursive: true });
    const { path, sizeBytes } = await makeModel(target.path, args.options);
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
