import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeModel } from '../gguf/makeModel';

export const DEMO_MODEL = 'demo';

/** A first run with an empty models folder gets a tiny model to try everything with (random weights). */
export async function writeDemoModel(dataDir: string, modelsDir: string, notices: string[]): Promise<void> {
  const marker = join(dataDir, '.demo-model-written');
  if (existsSync(marker)) return;
  const empty = !existsSync(modelsDir) || readdirSync(modelsDir).filter((f) => !f.startsWith('.')).length === 0;
  if (!empty) return;
  try {
    mkdirSync(modelsDir, { recursive: true });
    await makeModel(join(modelsDir, `${DEMO_MODEL}.gguf`), { preset: 'tiny', seed: 1, name: 'Loadout demo (random weights)' });
    writeFileSync(
      join(modelsDir, `${DEMO_MODEL}.yaml`),
      [
        '# A tiny model with RANDOM weights, written by Loadout on first run so you can try loading,',
        '# eviction and chat before adding real models. Its answers are gibberish by design.',
        '# Put real GGUF files (or LocalAI model YAMLs) in this folder; delete these two files any time.',
        `name: ${DEMO_MODEL}`,
        'description: Demo model with random weights (answers are gibberish)',
        'parameters:',
        `  model: ${DEMO_MODEL}.gguf`,
        '  temperature: 0.8',
        '  max_tokens: 64',
        'context_size: 512',
        'threads: 1',
        '',
      ].join('\n'),
    );
    writeFileSync(marker, `${new Date().toISOString()}\n`);
  } catch (e) {
    notices.push(`could not write the demo model: ${(e as Error).message}`);
  }
}
