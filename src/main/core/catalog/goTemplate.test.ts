import { describe, expect, it } from 'vitest';
import { compileGoTemplate, TemplateError } from './goTemplate';

const render = (source: string, data: Record<string, unknown> = {}): string => compileGoTemplate(source).render(data);

type Case = [source: string, data: Record<string, unknown>, expected: string];

function table(cases: Case[]): void {
  for (const [source, data, expected] of cases) {
    expect(render(source, data), JSON.stringify(source)).toBe(expected);
  }
}

function compileError(source: string): TemplateError {
  try {
    compileGoTemplate(source);
  } catch (e) {
    expect(e).toBeInstanceOf(TemplateError);
    return e as TemplateError;
  }
  throw new Error(`expected ${JSON.stringify(source)} not to compile`);
}

function renderError(source: string, data: Record<string, unknown> = {}): TemplateError {
  const t = compileGoTemplate(source);
  try {
    t.render(data);
  } catch (e) {
    expect(e).toBeInstanceOf(TemplateError);
    return e as TemplateError;
  }
  throw new Error(`expected ${JSON.stringify(source)} to fail when rendered`);
}

describe('C3: Go template text, fields and printing', () => {
  it('C3: copies text and prints fields, nested fields, $ and dot', () => {
    table([
      ['plain text, no actions', {}, 'plain text, no actions'],
      ['', {}, ''],
      ['in: {{.Input}}!', { Input: 'hi' }, 'in: hi!'],
      ['{{ .RoleName }}/{{.Content}}/{{.SystemPrompt}}', { RoleName: 'user', Content: 'c', SystemPrompt: 's' }, 'user/c/s'],
      ['{{.A.B.C}}', { A: { B: { C: 'deep' } } }, 'deep'],
      ['{{$.A}}{{with .B}}{{.}}{{$.A}}{{end}}', { A: 'a', B: 'b' }, 'aba'],
      ['{{.}}', { k: 1 }, 'map[k:1]'],
      ['{{.lower_key}}', { lower_key: 'map keys are case-sensitive' }, 'map keys are case-sensitive'],
      ['{{.n}} {{.f}} {{.t}} {{.l}}', { n: 42, f: 1.5, t: true, l: ['a', 2] }, '42 1.5 true [a 2]'],
      ['{{ .small }} {{ .neg }}', { small: 0.00001, neg: -3 }, '1e-05 -3'],
    ]);
  });

  it('C3: a missing field, a field of a missing value and nil print nothing (not <no value>)', () => {
    table([
      ['[{{.Missing}}]', {}, '[]'],
      ['[{{.Missing.Deeper}}]', {}, '[]'],
      ['[{{.Nil}}]', { Nil: null }, '[]'],
      ['[{{.Functions}}]', { Functions: null }, '[]'],
    ]);
  });

  it('C3: comments are dropped, with or without trimming, and may span lines', () => {
    table([
      ['a{{/* a comment */}}b', {}, 'ab'],
      ['a {{- /* trims */ -}} \n b', {}, 'ab'],
      ['a{{/* multi\nline */}}b', {}, 'ab'],
    ]);
  });
});

describe('C3: whitespace trimming', () => {
  it('C3: {{- and -}} trim all adjacent spaces, tabs, CRs and newlines, and only those', () => {
    table([
      ['a \t\r\n\n {{- "b" }} c', {}, 'ab c'],
      ['a {{ "b" -}} \n\t\r\n c', {}, 'a bc'],
      ['a \n {{- "b" -}} \n c', {}, 'abc'],
      ['x.\n{{- .V -}}\n.y', { V: '  value keeps its spaces  ' }, 'x.  value keeps its spaces  .y'],
      // Only white space goes: the trim stops at the first other character.
      ['a.\n {{- "" }}', {}, 'a.'],
      ['{{ "" -}}\n\n  x  \n', {}, 'x  \n'],
      // Trimming reaches text only up to the next action.
      ['{{ "a" -}}{{ " " }}{{- "b" }}', {}, 'a b'],
      // The trim marker needs its space: {{-3}} is the number -3 and trims nothing.
      ['x {{-3}} y', {}, 'x -3 y'],
      ['x {{- 3 -}} y', {}, 'x3y'],
      // A text made empty by trimming on both sides disappears.
      ['{{if true -}}\n\n{{- end}}|', {}, '|'],
    ]);
  });

  it('C3: a trim marker without its space is a syntax error, as in Go', () => {
    expect(compileError('{{.X-}}').reason).toMatch(/bad number syntax|unexpected/);
  });
});

describe('C3: if / else if / else', () => {
  it('C3: uses Go truthiness: false, 0, nil and empty strings/lists/maps are false', () => {
    const src = '{{if .V}}T{{else}}F{{end}}';
    const cases: [unknown, string][] = [
      [false, 'F'],
      [0, 'F'],
      [null, 'F'],
      [undefined, 'F'],
      ['', 'F'],
      [[], 'F'],
      [{}, 'F'],
      [true, 'T'],
      [1, 'T'],
      [-1, 'T'],
      ['0', 'T'],
      ['false', 'T'],
      [[0], 'T'],
      [{ a: 0 }, 'T'],
    ];
    for (const [v, expected] of cases) expect(render(src, { V: v }), JSON.stringify(v)).toBe(expected);
    expect(render(src, {})).toBe('F');
  });

  it('C3: chains else if and picks the first true branch; else is optional', () => {
    const src = '{{if eq .R "a"}}A{{else if eq .R "b"}}B{{else if eq .R "c"}}C{{else}}?{{end}}';
    expect(['a', 'b', 'c', 'z'].map((R) => render(src, { R }))).toEqual(['A', 'B', 'C', '?']);
    expect(render('[{{if .X}}x{{end}}]', {})).toBe('[]');
    expect(render('{{if .X}}{{else}}empty then{{end}}', {})).toBe('empty then');
  });

  it('C3: a variable declared in the if pipeline is usable in both branches', () => {
    expect(render('{{if $v := .A}}{{$v}}{{else}}none:{{$v}}{{end}}', { A: 'x' })).toBe('x');
    expect(render('{{if $v := .A}}{{$v}}{{else}}none:{{$v}}{{end}}', { A: 0 })).toBe('none:0');
  });
});

describe('C3: range', () => {
  it('C3: ranges over lists with and without variables, and runs else for empty or nil', () => {
    table([
      ['{{range .L}}<{{.}}>{{end}}', { L: ['a', 'b'] }, '<a><b>'],
      ['{{range $e := .L}}{{$e}};{{end}}', { L: ['a', 'b'] }, 'a;b;'],
      ['{{range $i, $e := .L}}{{$i}}={{$e}} {{end}}', { L: ['a', 'b'] }, '0=a 1=b '],
      ['{{range .L}}x{{else}}empty{{end}}', { L: [] }, 'empty'],
      ['{{range .L}}x{{else}}nil{{end}}', { L: null }, 'nil'],
      ['{{range .Missing}}x{{else}}missing{{end}}', {}, 'missing'],
      ['{{range .L}}{{.N}}{{$.Sep}}{{end}}', { L: [{ N: 1 }, { N: 2 }], Sep: ',' }, '1,2,'],
      ['{{range .L}}{{range .}}{{.}}{{end}}|{{end}}', { L: [[1, 2], [3]] }, '12|3|'],
    ]);
  });

  it('C3: ranges over maps in sorted key order and over integers', () => {
    table([
      ['{{range $k, $v := .M}}{{$k}}:{{$v}} {{end}}', { M: { b: 2, a: 1, c: 3 } }, 'a:1 b:2 c:3 '],
      ['{{range .M}}{{.}}{{end}}', { M: { b: 2, a: 1 } }, '12'],
      ['{{range 3}}{{.}}{{end}}', {}, '012'],
    ]);
  });

  it('C3: break and continue', () => {
    const src = '{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}';
    expect(render(src, { L: [1, 2, 3, 4, 5] })).toBe('13');
    expect(compileError('{{break}}').reason).toMatch(/outside \{\{range\}\}/);
  });

  it('C3: ranging over a string, a number that is not whole or a bool is a runtime error with a position', () => {
    const e = renderError('line one\n{{range .S}}x{{end}}', { S: 'text' });
    expect(e.line).toBe(2);
    expect(e.column).toBe(9);
    expect(e.reason).toMatch(/range can't iterate over string/);
    expect(renderError('{{range .B}}{{end}}', { B: true }).reason).toMatch(/range can't iterate over bool/);
  });
});

describe('C3: with and variables', () => {
  it('C3: with sets dot when the value is non-empty, else runs the else branch', () => {
    table([
      ['{{with .A}}[{{.}}]{{end}}', { A: 'x' }, '[x]'],
      ['{{with .A}}[{{.}}]{{else}}none{{end}}', { A: '' }, 'none'],
      ['{{with .A}}a{{else with .B}}b:{{.}}{{else}}none{{end}}', { B: 'y' }, 'b:y'],
      ['{{with $x := .A}}{{$x}}{{.}}{{end}}', { A: 'z' }, 'zz'],
    ]);
  });

  it('C3: declares, reassigns and scopes variables', () => {
    table([
      ['{{$x := "a"}}{{$x}}{{$x = "b"}}{{$x}}', {}, 'ab'],
      ['{{$x := 1}}{{if true}}{{$x = 2}}{{$y := 3}}{{end}}{{$x}}', {}, '2'],
      ['{{$n := len .L}}{{$n}} items', { L: [1, 2, 3] }, '3 items'],
      ['{{$first := ""}}{{range $i, $e := .L}}{{if eq $i 0}}{{$first = $e}}{{end}}{{end}}{{$first}}', { L: ['p', 'q'] }, 'p'],
    ]);
    // A variable declared inside an if ends at its {{end}}.
    const e = compileError('{{if true}}{{$y := 3}}{{end}}\n{{$y}}');
    expect(e.reason).toBe('undefined variable "$y"');
    expect([e.line, e.column]).toEqual([2, 3]);
  });
});

describe('C3: functions', () => {
  it('C3: eq is n-ary; ne, lt, le, gt, ge compare basic values', () => {
    table([
      ['{{eq .R "user"}}', { R: 'user' }, 'true'],
      ['{{eq .R "user" "system" "tool"}}', { R: 'tool' }, 'true'],
      ['{{eq .R "user" "system"}}', { R: 'assistant' }, 'false'],
      ['{{eq .I 0}} {{ne .I 0}}', { I: 0 }, 'true false'],
      ['{{eq .Missing nil}} {{eq .B true}}', { B: true }, 'true true'],
      ['{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 3 2}} {{lt "a" "b"}}', {}, 'true true false true true'],
    ]);
    expect(renderError('{{eq "a" 1}}').reason).toMatch(/incompatible types for comparison/);
    expect(renderError('{{eq .L .L}}', { L: [] }).reason).toMatch(/non-comparable/);
  });

  it('C3: and/or return an operand and stop early; not negates truth', () => {
    table([
      ['{{and 1 "x"}}|{{and 0 "x"}}|{{or "" "fallback"}}|{{or "first" .Missing}}', {}, 'x|0|fallback|first'],
      ['{{if and .A .B}}both{{else}}no{{end}}', { A: 1, B: '' }, 'no'],
      ['{{if or .A .B}}one{{end}}', { A: 0, B: [1] }, 'one'],
      ['{{not 0}} {{not "x"}}', {}, 'true false'],
      // Short-circuit: the failing index is never evaluated.
      ['{{and .Missing (index .L 10)}}', { L: [] }, ''],
    ]);
  });

  it('C3: len counts bytes of strings (as Go does), items of lists and keys of maps; index and slice', () => {
    table([
      ['{{len "abc"}} {{len "é"}} {{len .L}} {{len .M}}', { L: [1, 2], M: { a: 1 } }, '3 2 2 1'],
      ['{{index .L 1}} {{index .M "k"}} {{index .N 0 "x"}} [{{index .M "nope"}}]', { L: ['a', 'b'], M: { k: 'v' }, N: [{ x: 'deep' }] }, 'b v deep []'],
      ['{{slice .L 1 2}} {{slice "hello" 1 3}}', { L: [1, 2, 3] }, '[2] el'],
    ]);
    expect(renderError('{{index .L 5}}', { L: [1] }).reason).toMatch(/index out of range: 5/);
    expect(renderError('{{len 3}}').reason).toMatch(/len of type int/);
  });

  it('C3: print, println and printf (%s %d %v %q, widths and precision)', () => {
    table([
      ['{{print "a" "b" 1 2 "c"}}', {}, 'ab1 2c'],
      ['{{println "a" 1}}', {}, 'a 1\n'],
      ['{{printf "%s=%d (%v) %q" "n" 42 .L "q"}}', { L: ['x', 1] }, 'n=42 ([x 1]) "q"'],
      ['{{printf "[%5s|%-5s|%05d|%.2f|%t|%x|%%]" "ab" "cd" 42 3.14159 true 255}}', {}, '[   ab|cd   |00042|3.14|true|ff|%]'],
      ['{{printf "%d %s" "str"}}', {}, '%!d(string=str) %!s(MISSING)'],
      ['{{printf "%s" "a" "extra"}}', {}, 'a%!(EXTRA string=extra)'],
    ]);
  });

  it('C3: toJson writes Go JSON: sorted map keys, struct field order, <>& escaped', () => {
    const struct = { Name: 'f', Parameters: { b: 1, a: 2 } };
    Object.defineProperty(struct, 'toJSON', { value: () => ({ name: 'f', parameters: { b: 1, a: 2 } }), enumerable: false });
    table([
      ['{{toJson .}}', { z: 1, a: 'x', m: { y: [true, null], b: 1.5 } }, '{"a":"x","m":{"b":1.5,"y":[true,null]},"z":1}'],
      ['{{toJson .S}}', { S: 'a<b>&"c"\n' }, '"a\\u003cb\\u003e\\u0026\\"c\\"\\n"'],
      ['{{toJson .F}}', { F: struct }, '{"name":"f","parameters":{"a":2,"b":1}}'],
      ['{{toJson .Missing}} {{toJson .E}} {{toJson .O}}', { E: [], O: {} }, 'null [] {}'],
      ['{{toPrettyJson .}}', { b: [1], a: {} }, '{\n  "a": {},\n  "b": [\n    1\n  ]\n}'],
    ]);
  });

  it('C3: sprig string functions take the piped value last', () => {
    table([
      ['[{{trim .S}}]', { S: ' \n padded\t ' }, '[padded]'],
      ['{{contains "ell" .S}} {{.S | contains "xyz"}}', { S: 'hello' }, 'true false'],
      ['{{hasPrefix "he" .S}} {{hasSuffix "lo" .S}} {{.S | hasPrefix "lo"}}', { S: 'hello' }, 'true true false'],
      ['{{lower .S}} {{upper .S}}', { S: 'MiXeD' }, 'mixed MIXED'],
      ['{{replace "a" "o" .S}}', { S: 'banana' }, 'bonono'],
      ['{{.S | trimSuffix "</s>" | trimPrefix "<s>"}}', { S: '<s>x</s>' }, 'x'],
      ['{{join ", " .L}} {{default "dflt" .Missing}} {{.Set | default "dflt"}}', { L: ['a', 'b'], Set: 'set' }, 'a, b dflt set'],
      ['{{repeat 3 "ab"}} {{add 1 2 3}} {{sub 5 2}} {{quote "x"}}', {}, 'ababab 6 3 "x"'],
    ]);
  });

  it('C3: now and date format with a Go layout, using the render clock', () => {
    const t = compileGoTemplate('{{ now | date "Mon Jan 2 15:04:05 2006" }}|{{ date "2006-01-02T15:04" now }}|{{ now | date "3:04PM" }}');
    const at = new Date(2026, 0, 2, 15, 4, 5);
    expect(t.render({}, { now: () => at })).toBe('Fri Jan 2 15:04:05 2026|2026-01-02T15:04|3:04PM');
  });
});

describe('C3: literals and pipelines', () => {
  it('C3: strings with escapes, raw strings, numbers, characters, booleans and nil', () => {
    table([
      ['{{"tab\\there \\"q\\" back\\\\slash \\x41\\u00e9\\n"}}', {}, 'tab\there "q" back\\slash Aé\n'],
      ['{{`raw {{ not parsed }} \\n`}}', {}, 'raw {{ not parsed }} \\n'],
      ['{{`multi\nline`}}', {}, 'multi\nline'],
      ['{{1}} {{-2}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}} {{2.5}} {{1e3}} {{.5}}', {}, '1 -2 31 15 15 5 1000 2.5 1000 0.5'],
      ["{{'a'}} {{'\\n'}}", {}, '97 10'],
      ['{{true}} {{false}} {{if eq .X nil}}nil{{end}}', {}, 'true false nil'],
    ]);
  });

  it('C3: pipes pass the value as the last argument; parentheses group; fields chain on results', () => {
    table([
      ['{{.S | printf "%s!"}}', { S: 'hi' }, 'hi!'],
      ['{{"b" | printf "%s%s" "a" | printf "<%s>"}}', {}, '<ab>'],
      ['{{printf "%d-%d" (len .L) (index .L 0)}}', { L: [7, 8] }, '2-7'],
      ['{{(index .L 1).Name}} {{$x := index .L 0}}{{$x.Name}}', { L: [{ Name: 'a' }, { Name: 'b' }] }, 'b a'],
      ['{{if not (eq .R "user")}}other{{end}}', { R: 'tool' }, 'other'],
    ]);
  });
});

describe('C3: define, template and block', () => {
  it('C3: invokes named templates with their own dot and $', () => {
    table([
      ['{{define "T"}}[{{.}}|{{$}}]{{end}}{{template "T" .A}}{{template "T"}}', { A: 'x' }, '[x|x][|]'],
      ['{{block "B" .A}}<{{.}}>{{end}}', { A: 'y' }, '<y>'],
    ]);
    expect(renderError('{{template "nope"}}').reason).toMatch(/no template named "nope"/);
  });
});

describe('C3: parse once, render many', () => {
  it('C3: one compiled template renders different data without leaking state', () => {
    const t = compileGoTemplate('{{$n := .N}}{{range .L}}{{$n}}{{.}}{{end}}');
    expect(t.render({ N: 'a', L: [1, 2] })).toBe('a1a2');
    expect(t.render({ N: 'b', L: [3] })).toBe('b3');
    expect(t.render({})).toBe('');
    expect(t.source).toBe('{{$n := .N}}{{range .L}}{{$n}}{{.}}{{end}}');
  });
});

describe('C3: errors carry a position and a clear message', () => {
  it('C3: syntax errors throw TemplateError at compile time with line and column', () => {
    const cases: [string, number, number, RegExp][] = [
      ['{{ foo .X }}', 1, 4, /function "foo" is not defined/],
      ['a\nb {{ if .X }}\nc', 2, 6, /missing \{\{end\}\} for this \{\{if\}\}/],
      ['{{end}}', 1, 3, /unexpected \{\{end\}\}/],
      ['x\n  {{else}}', 2, 5, /unexpected \{\{else\}\}/],
      ['{{ .X', 1, 1, /unclosed action/],
      ['{{ "abc }}', 1, 4, /unterminated quoted string/],
      ['{{ `abc }}', 1, 4, /unterminated raw string/],
      ['{{ $nope }}', 1, 4, /undefined variable "\$nope"/],
      ['{{ printf"%s" .X }}', 1, 10, /missing space/],
      ['{{}}', 1, 3, /missing value for command/],
      ['{{ if }}{{end}}', 1, 7, /missing value for if/],
      ['{{ nil }}', 1, 4, /nil is not a command/],
      ['{{ "a" | "b" }}', 1, 10, /non executable command/],
      ['{{/* open', 1, 1, /unclosed comment/],
      ['{{ 1x }}', 1, 4, /bad number syntax/],
      ['{{ .X # }}', 1, 7, /unexpected character "#"/],
      ['{{range .L}}{{else if .X}}{{end}}', 1, 20, /unexpected "if" in \{\{else\}\}|unexpected keyword/],
      ['{{if .A}}{{else}}{{else}}{{end}}', 1, 20, /second \{\{else\}\}/],
      ['{{ $x := 0 }}{{ print ($x := 1) }}', 1, 27, /unexpected ":=" in operand/],
    ];
    for (const [source, line, column, reason] of cases) {
      const e = compileError(source);
      expect([e.line, e.column], JSON.stringify(source)).toEqual([line, column]);
      expect(e.reason, JSON.stringify(source)).toMatch(reason);
      expect(e.message).toContain(`line ${line}, column ${column}`);
    }
  });

  it('C3: runtime errors throw TemplateError with the position of the failing action', () => {
    const cases: [string, Record<string, unknown>, number, number, RegExp][] = [
      ['ok\n  {{ .X 1 }}', { X: 'a' }, 2, 6, /can't give an argument to \.X/],
      ['{{ .S.Field }}', { S: 'str' }, 1, 4, /can't evaluate field Field in type string/],
      ['{{ index .M 1 }}', { M: { a: 1 } }, 1, 4, /cannot index a map with int/],
      ['{{ eq }}', {}, 1, 4, /wrong number of arguments for eq/],
      ['{{ len 1 2 }}', {}, 1, 4, /wrong number of arguments for len: want 1, got 2/],
      ['{{ div 1 0 }}', {}, 1, 4, /divide by zero/],
    ];
    for (const [source, data, line, column, reason] of cases) {
      const e = renderError(source, data);
      expect([e.line, e.column], JSON.stringify(source)).toEqual([line, column]);
      expect(e.reason, JSON.stringify(source)).toMatch(reason);
    }
  });

  it('C3: inTemplate names the template in the message', () => {
    const e = compileError('{{ foo }}').inTemplate('chat_message');
    expect(e).toBeInstanceOf(TemplateError);
    expect(e.templateName).toBe('chat_message');
    expect(e.message).toMatch(/^chat_message template, line 1, column 4: function "foo" is not defined/);
  });
});
