/**
 * JSON Schema -> GBNF: every grammar is parsed by llama.cpp itself (node-llama-cpp) and checked
 * against texts that must and must not fit; unusable schemas are refused naming the part.
 */
import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchemaError, jsonObjectGrammar, jsonSchemaGrammar, uintRange } from './jsonGrammar';

let llama: Llama;

beforeAll(async () => {
  const mod = await import('node-llama-cpp');
  llama = await mod.getLlama({ build: 'never', skipDownload: true, gpu: false, progressLogs: false, logLevel: mod.LlamaLogLevel.error });
});

afterAll(async () => {
  await llama?.dispose();
});

/** llama.cpp's own check of a text against a grammar (what sampling enforces token by token). */
async function fits(grammarText: string): Promise<(text: string) => boolean> {
  const grammar = await llama.createGrammar({ grammar: grammarText });
  const test = (grammar as unknown as { _testText?: (t: string) => boolean })._testText;
  if (typeof test !== 'function') throw new Error('node-llama-cpp no longer has LlamaGrammar._testText; check the grammar another way');
  return (text) => test.call(grammar, text);
}

async function expectFits(grammarText: string, good: string[], bad: string[]): Promise<void> {
  const ok = await fits(grammarText);
  for (const text of good) expect(ok(text), `should fit: ${text}\n${grammarText}`).toBe(true);
  for (const text of bad) expect(ok(text), `should not fit: ${text}\n${grammarText}`).toBe(false);
}

function refused(schema: unknown): SchemaError {
  try {
    jsonSchemaGrammar(schema);
  } catch (e) {
    expect(e).toBeInstanceOf(SchemaError);
    return e as SchemaError;
  }
  throw new Error('expected the schema to be refused');
}

describe('structured output grammars', () => {
  it('json_object: any JSON object, with bounded whitespace, nothing after it', async () => {
    await expectFits(jsonObjectGrammar(), ['{}', '{"a": [1, -2.5e3, "x\\n\\u00e9", null, true]}', '{\n  "a": {"b": {}}\n}'], ['[]', '"x"', '{"a":}', '{"a" 1}', `{${' '.repeat(30)}}`]);
  });

  it('objects: required properties in order, optional ones may be left out, no others unless additionalProperties says so', async () => {
    const person = {
      type: 'object',
      properties: { name: { type: 'string', maxLength: 5 }, age: { type: 'integer', minimum: 0, maximum: 150 }, tag: { enum: ['a', 'b', 3] } },
      required: ['name', 'age'],
    };
    await expectFits(
      jsonSchemaGrammar(person),
      ['{"name":"bob","age":42}', '{"name": "bob", "age": 150, "tag": 3}', '{"name":"","age":0,"tag":"a"}'],
      ['{"name":"bob"}', '{"name":"bobbyy","age":1}', '{"name":"b","age":151}', '{"name":"b","age":-1}', '{"name":"b","age":01}', '{"name":"b","age":1,"x":1}', '{"age":1}'],
    );
    const allOptional = { type: 'object', properties: { a: { type: 'boolean' }, b: { type: 'null' } } };
    await expectFits(jsonSchemaGrammar(allOptional), ['{}', '{"a":true}', '{"b":null}', '{"a":false,"b":null}'], ['{,"b":null}', '{"c":1}', '{"b":null,"a":true}']);
    const extra = { type: 'object', properties: { x: { type: 'number', minimum: 0 } }, required: ['x'], additionalProperties: { type: 'integer' } };
    await expectFits(jsonSchemaGrammar(extra), ['{"x":1.5}', '{"x":0,"y":3,"z":-4}'], ['{"x":-1}', '{"x":1,"y":"s"}']);
    // allOf of objects merges them.
    const merged = { allOf: [{ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] }, { properties: { b: { const: 'x' } }, required: ['b'] }] };
    await expectFits(jsonSchemaGrammar(merged), ['{"a":1,"b":"x"}'], ['{"a":1}', '{"b":"x"}']);
  });

  it('arrays, tuples, unions, nullable, $ref recursion and formats', async () => {
    await expectFits(jsonSchemaGrammar({ type: 'array', items: { type: 'integer', minimum: -20, maximum: -3 }, minItems: 1, maxItems: 3 }), ['[-3]', '[-20, -19, -4]'], ['[]', '[-2]', '[-21]', '[-3,-3,-3,-3]']);
    await expectFits(jsonSchemaGrammar({ type: 'array', prefixItems: [{ const: 'a' }, { type: 'integer' }], items: false }), ['["a", 5]'], ['["a"]', '["a",5,6]', '["b",5]']);
    await expectFits(jsonSchemaGrammar({ type: ['string', 'null'] }), ['"x"', 'null'], ['1']);
    await expectFits(jsonSchemaGrammar({ type: 'integer', nullable: true }), ['1', 'null'], ['"1"']);
    await expectFits(jsonSchemaGrammar({ anyOf: [{ type: 'boolean' }, { type: 'array', items: { type: 'boolean' } }] }), ['true', '[false, true]'], ['[1]']);
    const list = {
      $defs: { node: { type: 'object', properties: { v: { type: 'integer' }, next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }, required: ['v', 'next'] } },
      $ref: '#/$defs/node',
    };
    await expectFits(jsonSchemaGrammar(list), ['{"v":1,"next":{"v":2,"next":null}}'], ['{"v":1}', '{"v":1,"next":{"v":2}}']);
    await expectFits(jsonSchemaGrammar({ type: 'string', format: 'date-time' }), ['"2024-01-31T12:00:00Z"', '"2024-01-31T12:00:00.123+02:00"'], ['"2024-13-01T00:00:00Z"', '"yesterday"']);
    await expectFits(jsonSchemaGrammar({ type: 'string', format: 'uuid' }), ['"123e4567-e89b-12d3-a456-426614174000"'], ['"123e4567"']);
    await expectFits(jsonSchemaGrammar({ type: 'string', minLength: 2, maxLength: 3 }), ['"ab"', '"abc"', '"\\"x"'], ['"a"', '"abcd"']);
  });

  it('integer bounds: ranges of any width, one-sided and negative', async () => {
    await expectFits(jsonSchemaGrammar({ type: 'integer', minimum: 7 }), ['7', '8', '10', '999999'], ['6', '0', '-1']);
    await expectFits(jsonSchemaGrammar({ type: 'integer', minimum: 123, maximum: 4567 }), ['123', '130', '200', '999', '1000', '4567'], ['122', '99', '4568', '5000']);
    await expectFits(jsonSchemaGrammar({ type: 'integer', exclusiveMinimum: -3, exclusiveMaximum: 12 }), ['-2', '0', '11'], ['-3', '12', '-10']);
    await expectFits(jsonSchemaGrammar({ type: 'integer', maximum: -5 }), ['-5', '-100'], ['-4', '0', '5']);
    // Every number in a range and none outside it, checked one by one.
    const ok = await fits(`root ::= ${uintRange(17, 342)}\n`);
    for (let n = 0; n < 1000; n++) expect(ok(String(n)), String(n)).toBe(n >= 17 && n <= 342);
  });

  it('refused, naming the part: bad types, unsatisfiable bounds, keywords a grammar cannot enforce, outside refs', () => {
    expect(refused({ type: 'object', properties: { age: { type: 'integr' } } }).message).toBe('schema.properties.age.type: "integr" is not a JSON Schema type (string, number, integer, boolean, null, object, array)');
    expect(refused({ type: 'string', pattern: '^a' }).at).toBe('schema.pattern');
    expect(refused({ type: 'array', items: { type: 'string' }, uniqueItems: true }).at).toBe('schema.uniqueItems');
    expect(refused({ type: 'number', maximum: 1 }).at).toBe('schema.maximum');
    expect(refused({ type: 'integer', minimum: 5, maximum: 2 }).message).toMatch(/no integer/);
    expect(refused({ type: 'string', maxLength: 1_000_000 }).at).toBe('schema.maxLength');
    expect(refused({ $ref: 'https://example.com/s.json' }).message).toMatch(/only references inside the schema/);
    expect(refused({ $ref: '#/$defs/missing' }).message).toMatch(/points to nothing/);
    expect(refused(false).message).toMatch(/no value can match/);
    expect(refused({ enum: [] }).at).toBe('schema.enum');
    // Annotations and unknown formats are not assertions: accepted.
    expect(jsonSchemaGrammar({ type: 'string', format: 'email', title: 'Mail', description: 'x', examples: ['a@b'] })).toContain('root ::= string');
  });
});

describe('schemas that would never end (Trust 15)', () => {
  it('refuses a schema nested deeper than the limit by name, without overflowing the stack', () => {
    let s: unknown = { type: 'string' };
    for (let i = 0; i < 1000; i++) s = { type: 'object', properties: { a: s } };
    expect(() => jsonSchemaGrammar(s)).toThrow(SchemaError);
    expect(() => jsonSchemaGrammar(s)).toThrow(/is nested more than 64 levels deep; flatten the schema/);
  });

  it('refuses a reference back to itself with nothing in between ($ref "#", a cycle of $defs, anyOf)', () => {
    const cases = [
      { $ref: '#' },
      { anyOf: [{ $ref: '#' }, { type: 'string' }] },
      { $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' },
    ];
    for (const schema of cases) expect(() => jsonSchemaGrammar(schema), JSON.stringify(schema)).toThrow(/refers back to itself with no object or array in between/);
  });

  it('still takes recursion inside an object or an array (a tree)', () => {
    const tree = { type: 'object', properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#' } } }, required: ['name'] };
    expect(jsonSchemaGrammar(tree)).toMatch(/children/);
  });
});
