import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { TemplateError } from './goTemplate';
import { checkTemplates, compiledCacheSize, renderChatPrompt, renderCompletionPrompt, usesConfigTemplate } from './prompt';
import type { TemplateConfig } from './types';

/**
 * The `template:` sections below are copied verbatim from LocalAI's model gallery
 * (gallery/*.yaml, `config_file`) and parsed with the YAML parser, so the block-scalar rules
 * (`|` keeps one trailing newline, `|-` none) are exactly what LocalAI reads. Each expected
 * prompt was worked out by hand from the template text and LocalAI's evaluator: messages joined
 * with "\n" (unless join_chat_messages_by_character), then `.Input` of the chat template.
 */
const fromYaml = (text: string): TemplateConfig => (parse(text) as { template: TemplateConfig }).template;

const chatml = fromYaml(`
template:
  chat_message: |
    <|im_start|>{{ .RoleName }}
    {{ if .FunctionCall -}}
    Function call:
    {{ else if eq .RoleName "tool" -}}
    Function response:
    {{ end -}}
    {{ if .Content -}}
    {{.Content }}
    {{ end -}}
    {{ if .FunctionCall -}}
    {{toJson .FunctionCall}}
    {{ end -}}<|im_end|>
  chat: |
    {{.Input -}}
    <|im_start|>assistant
  completion: |
    {{.Input}}
`);

const llama3Instruct = fromYaml(`
template:
  chat_message: |
    <|start_header_id|>{{if eq .RoleName "assistant"}}assistant{{else if eq .RoleName "system"}}system{{else if eq .RoleName "tool"}}tool{{else if eq .RoleName "user"}}user{{end}}<|end_header_id|>

    {{ if .FunctionCall -}}
    Function call:
    {{ else if eq .RoleName "tool" -}}
    Function response:
    {{ end -}}
    {{ if .Content -}}
    {{.Content -}}
    {{ else if .FunctionCall -}}
    {{ toJson .FunctionCall -}}
    {{ end -}}
    <|eot_id|>
  chat: |
    {{.Input }}
    <|start_header_id|>assistant<|end_header_id|>
  completion: |
    {{.Input}}
`);

const mistral03 = fromYaml(`
template:
  join_chat_messages_by_character: "" ## No newlines between messages
  chat: |
    {{.Input -}}
  chat_message: |-
    {{if eq .RoleName "user" -}}
    [INST] {{.Content }} [/INST]
    {{- else if .FunctionCall -}}
    [TOOL_CALLS] {{toJson .FunctionCall}} [/TOOL_CALLS]
    {{- else if eq .RoleName "tool" -}}
    [TOOL_RESULTS] {{.Content}} [/TOOL_RESULTS]
    {{- else -}}
    {{ .Content -}}
    {{ end -}}
  completion: |
    {{.Input}}
  function: |-
    [AVAILABLE_TOOLS] [{{range .Functions}}{"type": "function", "function": {"name": "{{.Name}}", "description": "{{.Description}}", "parameters": {{toJson .Parameters}} }}{{end}} ] [/AVAILABLE_TOOLS]{{.Input }}
`);

const gemma = fromYaml(`
template:
  chat_message: |-
    <start_of_turn>{{if eq .RoleName "assistant" }}model{{else}}{{ .RoleName }}{{end}}
    {{ if .Content -}}
    {{.Content -}}
    {{ end -}}<end_of_turn>
  chat: |
    {{.Input }}
    <start_of_turn>model
  completion: |
    {{.Input}}
`);

const hermes2ProMistral = fromYaml(`
template:
  chat: |
    {{.Input -}}
    <|im_start|>assistant
  chat_message: |
    <|im_start|>{{if eq .RoleName "assistant"}}assistant{{else if eq .RoleName "system"}}system{{else if eq .RoleName "tool"}}tool{{else if eq .RoleName "user"}}user{{end}}
    {{- if .FunctionCall }}
    <tool_call>
    {{- else if eq .RoleName "tool" }}
    <tool_response>
    {{- end }}
    {{- if .Content}}
    {{.Content }}
    {{- end }}
    {{- if .FunctionCall}}
    {{toJson .FunctionCall}}
    {{- end }}
    {{- if .FunctionCall }}
    </tool_call>
    {{- else if eq .RoleName "tool" }}
    </tool_response>
    {{- end }}<|im_end|>
  completion: |
    {{.Input}}
  function: |
    <|im_start|>system
    You are a function calling AI model.
    Here are the available tools:
    <tools>
    {{range .Functions}}
    {'type': 'function', 'function': {'name': '{{.Name}}', 'description': '{{.Description}}', 'parameters': {{toJson .Parameters}} }}
    {{end}}
    </tools>
    You should call the tools provided to you sequentially
    Please use <scratchpad> XML tags to record your reasoning and planning before you call the functions as follows:
    <scratchpad>
    {step-by-step reasoning and plan in bullet points}
    </scratchpad>
    For each function call return a json object with function name and arguments within <tool_call> XML tags as follows:
    <tool_call>
    {"arguments": <args-dict>, "name": <function-name>}
    </tool_call><|im_end|>
    {{.Input -}}
    <|im_start|>assistant
`);

const harmony = fromYaml(`
template:
  chat_message: |-
    <|start|>{{ if .FunctionCall -}}functions.{{ .FunctionCall.Name }} to=assistant{{ else if eq .RoleName "assistant"}}assistant<|channel|>final<|message|>{{else}}{{ .RoleName }}{{end}}<|message|>
    {{- if .Content -}}
    {{- .Content -}}
    {{- end -}}
    {{- if .FunctionCall -}}
    {{- toJson .FunctionCall -}}
    {{- end -}}<|end|>
  chat: |-
    <|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.
    Knowledge cutoff: 2024-06
    Current date: {{ now | date "Mon Jan 2 15:04:05 MST 2006" }}

    Reasoning: {{if eq .ReasoningEffort ""}}medium{{else}}{{.ReasoningEffort}}{{end}}

    # {{with .Metadata}}{{ if ne .system_prompt "" }}{{ .system_prompt }}{{ end }}{{else}}You are a friendly and helpful assistant.{{ end }}<|end|>{{- .Input -}}<|start|>assistant
  completion: |
    {{.Input}}
`);

const conversation = [
  { role: 'system', content: 'You are a pirate.' },
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: 'Ahoy!' },
];

describe('C3: real LocalAI gallery chat templates', () => {
  it('C3: chatml renders each message through chat_message and the joined messages through chat', () => {
    expect(renderChatPrompt(chatml, conversation)).toBe(
      '<|im_start|>system\nYou are a pirate.\n<|im_end|>\n' +
        '\n<|im_start|>user\nHello\n<|im_end|>\n' +
        '\n<|im_start|>assistant\nAhoy!\n<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it('C3: llama3-instruct picks the header by role with if/else if chains', () => {
    expect(renderChatPrompt(llama3Instruct, conversation)).toBe(
      '<|start_header_id|>system<|end_header_id|>\n\nYou are a pirate.<|eot_id|>\n' +
        '\n<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>\n' +
        '\n<|start_header_id|>assistant<|end_header_id|>\n\nAhoy!<|eot_id|>\n' +
        '\n<|start_header_id|>assistant<|end_header_id|>\n',
    );
  });

  it('C3: mistral-0.3 joins [INST] turns with join_chat_messages_by_character ""', () => {
    const messages = [
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Ahoy!' },
      { role: 'user', content: 'Bye' },
    ];
    expect(renderChatPrompt(mistral03, messages)).toBe('[INST] Hello [/INST]Ahoy![INST] Bye [/INST]');
  });

  it('C3: gemma maps assistant to model and ends each turn with <end_of_turn>', () => {
    expect(renderChatPrompt(gemma, conversation)).toBe(
      '<start_of_turn>system\nYou are a pirate.<end_of_turn>\n' +
        '<start_of_turn>user\nHello<end_of_turn>\n' +
        '<start_of_turn>model\nAhoy!<end_of_turn>\n' +
        '<start_of_turn>model\n',
    );
  });

  const weatherTool = {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Get the weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };
  const toolConversation = [
    { role: 'system', content: 'You are a weather bot.' },
    { role: 'user', content: "What's the weather in Paris?" },
    { role: 'tool', content: '{"temp": 21}' },
  ];
  const hermesMessages =
    '<|im_start|>system\nYou are a weather bot.<|im_end|>\n' +
    "\n<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n" +
    '\n<|im_start|>tool\n<tool_response>\n{"temp": 21}\n</tool_response><|im_end|>\n';

  it('C3: hermes-2-pro-mistral with tools uses the function template: range .Functions and toJson .Parameters', () => {
    expect(renderChatPrompt(hermes2ProMistral, toolConversation, { functions: [weatherTool] })).toBe(
      '<|im_start|>system\nYou are a function calling AI model.\nHere are the available tools:\n<tools>\n' +
        "\n{'type': 'function', 'function': {'name': 'get_weather', 'description': 'Get the weather', 'parameters': " +
        '{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"} }}\n' +
        '\n</tools>\n' +
        'You should call the tools provided to you sequentially\n' +
        'Please use <scratchpad> XML tags to record your reasoning and planning before you call the functions as follows:\n' +
        '<scratchpad>\n{step-by-step reasoning and plan in bullet points}\n</scratchpad>\n' +
        'For each function call return a json object with function name and arguments within <tool_call> XML tags as follows:\n' +
        '<tool_call>\n{"arguments": <args-dict>, "name": <function-name>}\n</tool_call><|im_end|>\n' +
        hermesMessages +
        '<|im_start|>assistant\n',
    );
  });

  it('C3: hermes-2-pro-mistral without tools uses the chat template', () => {
    expect(renderChatPrompt(hermes2ProMistral, toolConversation)).toBe(hermesMessages + '<|im_start|>assistant\n');
    expect(renderChatPrompt(hermes2ProMistral, toolConversation, { functions: [] })).toBe(hermesMessages + '<|im_start|>assistant\n');
  });

  it('C3: mistral-0.3 function template takes OpenAI functions (not only tools) and writes them in order', () => {
    const fns = [
      { name: 'a', description: 'first', parameters: { type: 'object' } },
      { name: 'b', description: 'second' },
    ];
    expect(renderChatPrompt(mistral03, [{ role: 'user', content: 'Hi' }], { functions: fns })).toBe(
      '[AVAILABLE_TOOLS] [{"type": "function", "function": {"name": "a", "description": "first", "parameters": {"type":"object"} }}' +
        '{"type": "function", "function": {"name": "b", "description": "second", "parameters": null }} ] [/AVAILABLE_TOOLS][INST] Hi [/INST]',
    );
  });

  it('C3: harmony (gpt-oss) uses now|date, with/else on .Metadata and the zero .ReasoningEffort', () => {
    const at = new Date(2026, 0, 2, 15, 4, 5);
    const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(at).find((p) => p.type === 'timeZoneName')!.value;
    const messages = [
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Ahoy!' },
      { role: 'user', content: 'Bye' },
    ];
    expect(renderChatPrompt(harmony, messages, { now: () => at })).toBe(
      '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n' +
        'Knowledge cutoff: 2024-06\n' +
        `Current date: Fri Jan 2 15:04:05 ${zone} 2026\n\n` +
        'Reasoning: medium\n\n' +
        '# You are a friendly and helpful assistant.<|end|>' +
        '<|start|>user<|message|>Hello<|end|>\n' +
        '<|start|>assistant<|channel|>final<|message|><|message|>Ahoy!<|end|>\n' +
        '<|start|>user<|message|>Bye<|end|>' +
        '<|start|>assistant',
    );
  });

  it('C3: the gallery completion templates put the prompt in .Input', () => {
    expect(renderCompletionPrompt(chatml, 'Once upon a time')).toBe('Once upon a time\n');
  });
});

describe('C3: LocalAI prompt assembly rules', () => {
  it('C3: without chat_message, messages are their content joined by "\\n" (LocalAI adds no "role:")', () => {
    const t: TemplateConfig = { chat: '{{.Input}}\nASSISTANT:' };
    expect(renderChatPrompt(t, conversation)).toBe('You are a pirate.\nHello\nAhoy!\nASSISTANT:');
  });

  it('C3: without chat_message, the config roles prefix each message and empty messages stay as empty lines', () => {
    const t: TemplateConfig = { chat: '{{.Input}}' };
    const roles = { user: 'USER: ', assistant: 'ASSISTANT: ' };
    const messages = [...conversation, { role: 'user', content: '' }, { role: 'user', content: 'Again' }];
    expect(renderChatPrompt(t, messages, { roles })).toBe('You are a pirate.\nUSER: Hello\nASSISTANT: Ahoy!\n\nUSER: Again');
  });

  it('C3: without chat_message, a system message sets .SuppressSystemPrompt for the chat template', () => {
    const t: TemplateConfig = { chat: '{{if not .SuppressSystemPrompt}}{{.SystemPrompt}}\n{{end}}{{.Input}}' };
    expect(renderChatPrompt(t, [{ role: 'user', content: 'Hi' }], { systemPrompt: 'Config system' })).toBe('Config system\nHi');
    expect(renderChatPrompt(t, conversation, { systemPrompt: 'Config system' })).toBe('You are a pirate.\nHello\nAhoy!');
  });

  it('C3: without a chat template, the joined messages are the prompt', () => {
    expect(renderChatPrompt({ chat_message: '<{{.RoleName}}>{{.Content}}' }, conversation)).toBe(
      '<system>You are a pirate.\n<user>Hello\n<assistant>Ahoy!',
    );
  });

  it('C3: chat_message sees .SystemPrompt, .Role, .MessageIndex and .LastMessage; an empty render drops the message', () => {
    const t: TemplateConfig = {
      chat_message: '{{if ne .RoleName "system"}}{{.MessageIndex}}{{.Role}}{{.Content}}{{if .LastMessage}} (last, sys={{.SystemPrompt}}){{end}}{{end}}',
      chat: '{{.Input}}',
    };
    expect(renderChatPrompt(t, conversation, { systemPrompt: 'S', roles: { user: 'U:' } })).toBe('1U:Hello\n2Ahoy! (last, sys=S)');
  });

  it('C3: completion uses the completion template, or the prompt itself', () => {
    expect(renderCompletionPrompt({ completion: '[{{.SystemPrompt}}] {{.Input}}' }, 'go', { systemPrompt: 'sys' })).toBe('[sys] go');
    expect(renderCompletionPrompt({ chat: '{{.Input}}!' }, 'as is')).toBe('as is');
    expect(renderCompletionPrompt(undefined, 'as is')).toBe('as is');
  });

  it('C3: usesConfigTemplate needs chat or chat_message and no use_tokenizer_template', () => {
    const cases: [TemplateConfig | undefined, boolean][] = [
      [undefined, false],
      [{}, false],
      [{ completion: '{{.Input}}' }, false],
      [{ chat: '{{.Input}}' }, true],
      [{ chat_message: '{{.Content}}' }, true],
      [{ chat: '{{.Input}}', use_tokenizer_template: true }, false],
      [{ chat: '{{.Input}}', use_tokenizer_template: false }, true],
    ];
    for (const [t, expected] of cases) expect(usesConfigTemplate(t), JSON.stringify(t)).toBe(expected);
  });
});

describe('C3: template failures', () => {
  it('C3: a syntax error in chat_message throws a TemplateError naming the template and position', () => {
    const t: TemplateConfig = { chat_message: '<|im_start|>{{ .RoleName }}\n{{ if .Content }}{{ .Content }}', chat: '{{.Input}}' };
    let err: unknown;
    try {
      renderChatPrompt(t, conversation);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateError);
    const te = err as TemplateError;
    expect(te.templateName).toBe('chat_message');
    expect([te.line, te.column]).toEqual([2, 4]);
    expect(te.message).toBe('chat_message template, line 2, column 4: missing {{end}} for this {{if}}');
  });

  it('C3: a runtime error in the chat template throws a TemplateError naming it', () => {
    const t: TemplateConfig = { chat: '{{range .Input}}{{.}}{{end}}' };
    expect(() => renderChatPrompt(t, conversation)).toThrow(/^chat template, line 1, column 9: range can't iterate over string/);
  });

  it('C3: checkTemplates reports the first template that does not compile', () => {
    expect(checkTemplates(chatml)).toBeNull();
    expect(checkTemplates(undefined)).toBeNull();
    const e = checkTemplates({ chat: '{{.Input}}', completion: '{{ bogus .Input }}' });
    expect(e?.templateName).toBe('completion');
    expect(e?.reason).toMatch(/function "bogus" is not defined/);
  });

  it('C3: compiled templates are cached by source, with a cap', () => {
    const before = compiledCacheSize();
    const t: TemplateConfig = { chat: '{{.Input}} cache-probe' };
    renderChatPrompt(t, conversation);
    const after = compiledCacheSize();
    renderChatPrompt(t, conversation);
    expect(compiledCacheSize()).toBe(after);
    expect(after).toBeLessThanOrEqual(before + 1);
    for (let i = 0; i < 100; i++) renderCompletionPrompt({ completion: `{{.Input}} ${i}` }, 'x');
    expect(compiledCacheSize()).toBe(64);
  });
});
