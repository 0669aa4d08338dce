/** Where in a template source something is, and the error that says so. */
export interface TemplatePosition {
  /** Character offset into the source. */
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based, in characters. */
  column: number;
}

export class TemplateError extends Error implements TemplatePosition {
  readonly reason: string;
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  /** Which template this came from (e.g. `chat_message`), when the caller said so. */
  readonly templateName: string | undefined;

  constructor(reason: string, pos: TemplatePosition, templateName?: string) {
    const where = `line ${pos.line}, column ${pos.column}`;
    super(templateName ? `${templateName} template, ${where}: ${reason}` : `Template error at ${where}: ${reason}`);
    this.name = 'TemplateError';
    this.reason = reason;
    this.offset = pos.offset;
    this.line = pos.line;
    this.column = pos.column;
    this.templateName = templateName;
  }

  /** The same error, naming the template it came from. */
  inTemplate(templateName: string): TemplateError {
    return new TemplateError(this.reason, this, templateName);
  }
}

export function positionAt(source: string, offset: number): TemplatePosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}
