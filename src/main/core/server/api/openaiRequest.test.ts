/** OpenAI request bodies -> the core's requests: what is taken, what is refused and why. */
import { describe, expect, it } from 'vitest';
import { InvalidParam } from './errors';
import { parseChat, parseCompletion, parseEmbeddings } from './openaiRequest';

const user = [{ role: 'user', content: 'hi' }];

function refused(fn: () => unknown): InvalidParam {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidParam);
    return e as InvalidParam;
  }
  throw new Error('expected the body to be refused');
}

describe('OpenAI request parsing', () => {
  it('chat: sampling, stop, stream flags; max_completion_tokens wins over max_tokens', () => {
    const p = parseChat({
      model: 'm',
      messages: user,
      temperature: 0.2,
      top_p: 0.9,
      seed: 7,
      stop: 'END',
      max_tokens: 50,
      max_completion_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
      top_k: 5,
      min_p: 0.1,
      repeat_penalty: 1.2,
    });
    expect(p).toMatchObject({ model: 'm', stream: true, includeUsage: true, responseFormat: null });
    expect(p.request).toEqual({ messages: user, temperature: 0.2, top_p: 0.9, seed: 7, stop: ['END'], max_tokens: 12, top_k: 5, min_p: 0.1, repeat_penalty: 1.2 });
    expect(parseChat({ model: 'm', messages: user, max_tokens: 9, stop: ['a', 'b'] }).request).toMatchObject({ max_tokens: 9, stop: ['a', 'b'] });
    // include_usage only means something for a stream; nulls are "not given".
    expect(parseChat({ model: 'm', messages: user, stream_options: { include_usage: true }, temperature: null }).includeUsage).toBe(false);
  });

  it('chat: text parts are joined, developer becomes system, null content is empty', () => {
    const p = parseChat({
      model: 'm',
      messages: [
        { role: 'developer', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
        { role: 'assistant', content: null },
      ],
    });
    expect(p.request.messages).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'a\nb' },
      { role: 'assistant', content: '' },
    ]);
  });

  it('chat: bad fields are refused naming the field', () => {
    expect(refused(() => parseChat({ messages: user })).param).toBe('model');
    expect(refused(() => parseChat({ model: 'm', messages: [] })).param).toBe('messages');
    expect(refused(() => parseChat({ model: 'm', messages: [{ role: 'wizard', content: 'x' }] })).param).toBe('messages[0].role');
    expect(refused(() => parseChat({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] })).message).toContain('text only');
    expect(refused(() => parseChat({ model: 'm', messages: user, temperature: 3 })).param).toBe('temperature');
    expect(refused(() => parseChat({ model: 'm', messages: user, max_tokens: 0 })).param).toBe('max_tokens');
    expect(refused(() => parseChat({ model: 'm', messages: user, max_tokens: 1.5 })).param).toBe('max_tokens');
    expect(refused(() => parseChat({ model: 'm', messages: user, seed: 2 ** 40 })).param).toBe('seed');
    expect(refused(() => parseChat({ model: 'm', messages: user, stop: [1] })).param).toBe('stop');
    expect(refused(() => parseChat({ model: 'm', messages: user, n: 2 })).param).toBe('n');
    expect(refused(() => parseChat({ model: 'm', messages: user, stream: 'yes' })).param).toBe('stream');
    expect(refused(() => parseChat({ model: 'm', messages: user, logprobs: true })).param).toBe('logprobs');
    expect(refused(() => parseChat({ model: 'm', messages: user, functions: [] })).param).toBe('functions');
    expect(refused(() => parseChat({ model: 'm', messages: user, response_format: { type: 'yaml' } })).param).toBe('response_format');
  });

  it('chat: tools and tool_choice are kept (tool_choice "none" drops them); response_format becomes a grammar', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: {} } }];
    expect(parseChat({ model: 'm', messages: user, tools, tool_choice: 'auto' }).request).toMatchObject({ tools, tool_choice: 'auto' });
    expect(parseChat({ model: 'm', messages: user, tools, tool_choice: 'none' }).request.tools).toBeUndefined();
    expect(parseChat({ model: 'm', messages: user, tools: [] }).request.tools).toBeUndefined();
    expect(parseChat({ model: 'm', messages: user, response_format: { type: 'text' } }).responseFormat).toBeNull();
    expect(parseChat({ model: 'm', messages: user, response_format: { type: 'text' } }).request.grammar).toBeUndefined();
    const noSchema = parseChat({ model: 'm', messages: user, response_format: { type: 'json_schema', json_schema: {} } });
    expect(noSchema.responseFormat).toBe('json_schema');
    expect(noSchema.request.grammar).toMatch(/^root ::= object\n/);
    const withSchema = parseChat({ model: 'm', messages: user, response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'boolean' } } } });
    expect(withSchema.request.grammar).toMatch(/^root ::= boolean\n/);
    expect(parseChat({ model: 'm', messages: user, response_format: { type: 'json_object' } }).request.grammar).toMatch(/^root ::= object\n/);
    const bad = refused(() => parseChat({ model: 'm', messages: user, response_format: { type: 'json_schema', json_schema: { schema: { type: 'text' } } } }));
    expect(bad.param).toBe('response_format');
    expect(bad.message).toContain('response_format.json_schema.schema.type');
    expect(refused(() => parseChat({ model: 'm', messages: user, response_format: { type: 'json_schema' } })).param).toBe('response_format');
  });

  it('completions: one string prompt (or a list of one), echo; lists, token ids and suffix are refused', () => {
    expect(parseCompletion({ model: 'm', prompt: 'p', echo: true, max_tokens: 3 })).toMatchObject({ request: { prompt: 'p', max_tokens: 3 }, echo: true, stream: false });
    expect(parseCompletion({ model: 'm', prompt: ['p'] }).request.prompt).toBe('p');
    expect(refused(() => parseCompletion({ model: 'm', prompt: ['a', 'b'] })).param).toBe('prompt');
    expect(refused(() => parseCompletion({ model: 'm', prompt: [1, 2] })).param).toBe('prompt');
    expect(refused(() => parseCompletion({ model: 'm' })).param).toBe('prompt');
    expect(refused(() => parseCompletion({ model: 'm', prompt: 'p', suffix: 'x' })).param).toBe('suffix');
  });

  it('embeddings: a string or list of strings; float or base64', () => {
    expect(parseEmbeddings({ model: 'm', input: 'a' })).toEqual({ model: 'm', inputs: ['a'], encoding: 'float' });
    expect(parseEmbeddings({ model: 'm', input: ['a', 'b'], encoding_format: 'base64' })).toEqual({ model: 'm', inputs: ['a', 'b'], encoding: 'base64' });
    expect(refused(() => parseEmbeddings({ model: 'm', input: [] })).param).toBe('input');
    expect(refused(() => parseEmbeddings({ model: 'm', input: [[1, 2]] })).param).toBe('input');
    expect(refused(() => parseEmbeddings({ model: 'm', input: 'a', encoding_format: 'hex' })).param).toBe('encoding_format');
    expect(refused(() => parseEmbeddings({ model: 'm', input: 'a', dimensions: 3 })).param).toBe('dimensions');
  });
});
