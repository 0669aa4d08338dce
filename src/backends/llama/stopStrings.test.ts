import { describe, expect, it } from 'vitest';
import { StopStrings } from './stopStrings';

function run(stops: string[], pieces: string[]): { sent: string[]; stopped: boolean } {
  const filter = new StopStrings(stops);
  const sent: string[] = [];
  for (const piece of pieces) {
    const { text, stopped } = filter.push(piece);
    sent.push(text);
    if (stopped) return { sent, stopped };
  }
  sent.push(filter.flush());
  return { sent, stopped: false };
}

describe('StopStrings', () => {
  it('R5: cuts before a stop string that starts inside a piece, keeping the text before it', () => {
    expect(run(['hav'], ['bu', ' bu', ' hav', 'e more'])).toEqual({ sent: ['bu', ' bu', ' '], stopped: true });
  });

  it('R5: holds back what may be the start of a stop string and releases it when it is not', () => {
    const { sent, stopped } = run(['\nUser:'], ['one\n', 'Us', 'ually', ' two']);
    expect(stopped).toBe(false);
    expect(sent).toEqual(['one', '', '\nUsually', ' two', '']);
  });

  it('R5: a stop string split over many pieces is never sent', () => {
    expect(run(['<end>'], ['a<', 'e', 'n', 'd', '>b'])).toEqual({ sent: ['a', '', '', '', ''], stopped: true });
  });

  it('R5: the earliest of several stop strings wins; no stop strings pass everything', () => {
    expect(run(['bb', 'ab'], ['xabb'])).toEqual({ sent: ['x'], stopped: true });
    expect(run(['', ''], ['a', 'b'])).toEqual({ sent: ['a', 'b', ''], stopped: false });
  });
});
