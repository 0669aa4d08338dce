/** C3 through the core: Go templates from a LocalAI config become the backend's Prompt. */
import { afterEach, describe, expect, it } from 'vitest';
import { disposeAll, startTestCore } from './harness';

afterEach(disposeAll);

async function sent(t: Awaited<ReturnType<typeof startTestCore>>, name: string, messages: { role: string; content: string }[]) {
  let text = '';
  for await (const c of t.core.commands.chat(name, { messages })) text += c.text;
  return JSON.parse(text) as { Prompt: string; UseTokenizerTemplate: boolean; Messages: { role: string; content: string }[]; Temperature: number; StopPrompts: string[]; ModelIdentity: string };
}

const chatml = `name: chatml
backend: fault
options: ["fault_echo_request:1"]
stopwords: ["<|im_end|>"]
parameters:
  temperature: 0.2
template:
  chat_message: |-
    <|im_start|>{{if eq .RoleName "assistant"}}assistant{{else if eq .RoleName "system"}}system{{else}}user{{end}}
    {{- if .Content}}
    {{.Content}}
    {{- end}}<|im_end|>
  chat: |-
    {{.Input -}}
    <|im_start|>assistant
`;

describe('chat templates through the core', () => {
  it('C3: a config Go template renders the prompt (UseTokenizerTemplate false), with config sampling and stopwords', async () => {
    const t = await startTestCore({ configs: { 'chatml.yaml': chatml } });
    const req = await sent(t, 'chatml', [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(req.UseTokenizerTemplate).toBe(false);
    expect(req.Prompt).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|><|im_start|>assistant'); // `{{.Input -}}` trims the newline, as in Go
    expect(req.Temperature).toBeCloseTo(0.2);
    expect(req.StopPrompts).toEqual(['<|im_end|>']);
    expect(req.ModelIdentity).toBe('chatml');
  });

  it('C3: without a config template the GGUF template is used (Messages + UseTokenizerTemplate)', async () => {
    const t = await startTestCore({ configs: { 'plain.yaml': 'name: plain\nbackend: fault\noptions: ["fault_echo_request:1"]\n' } });
    const req = await sent(t, 'plain', [{ role: 'user', content: 'Hi' }]);
    expect(req.UseTokenizerTemplate).toBe(true);
    expect(req.Messages).toEqual([expect.objectContaining({ role: 'user', content: 'Hi' })]);
  });

  it('C3: a template that fails to render falls back to the GGUF template and the row says so', async () => {
    const broken = 'name: broken\nbackend: fault\noptions: ["fault_echo_request:1"]\ntemplate:\n  chat_message: "{{range .Content}}x{{end}}"\n';
    const t = await startTestCore({ configs: { 'broken.yaml': broken } });
    const req = await sent(t, 'broken', [{ role: 'user', content: 'Hi' }]);
    expect(req.UseTokenizerTemplate).toBe(true);
    expect(t.row('broken').templateWarning).toMatch(/chat template in its config failed/);
  });
});
