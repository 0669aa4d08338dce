/** D35: the `cluster:` block a model edit may write is checked before anything is written. */
import { describe, expect, it } from 'vitest';
import { validatePatch } from './edit';

describe('validatePatch: the cluster block (D35)', () => {
  it('D35: keeps whole non-negative replica counts and k=v labels; drops what is empty', () => {
    expect(validatePatch({ cluster: { min_replicas: 0, max_replicas: 3, node_selector: { gpu: 'cuda', 'example.com/zone': '' } } })).toEqual({ cluster: { min_replicas: 0, max_replicas: 3, node_selector: { gpu: 'cuda', 'example.com/zone': '' } } });
    expect(validatePatch({ cluster: { min_replicas: 2 } })).toEqual({ cluster: { min_replicas: 2 } });
    expect(validatePatch({ cluster: { min_replicas: null, max_replicas: null, node_selector: {} } })).toEqual({ cluster: null });
    expect(validatePatch({ cluster: null })).toEqual({ cluster: null });
  });

  it.each([
    ['min above max', { min_replicas: 3, max_replicas: 2 }, /min_replicas \(3\) cannot be more than max_replicas \(2\)/],
    ['a negative count', { min_replicas: -1 }, /min_replicas must be a whole number from 0/],
    ['a fraction', { max_replicas: 1.5 }, /max_replicas must be a whole number/],
    ['a count as text', { max_replicas: '2' }, /max_replicas must be a whole number/],
    ['a label with a space', { node_selector: { 'g pu': 'x' } }, /"g pu"="x" is not a label/],
    ['a label value that is not text', { node_selector: { gpu: 1 } }, /"gpu"=1 is not a label/],
    ['a list as selector', { node_selector: ['gpu=cuda'] }, /node_selector must be an object/],
    ['an unknown key', { replicas: 2 }, /cannot have replicas/],
  ])('D35: refuses %s', (_what, cluster, message) => {
    expect(() => validatePatch({ cluster })).toThrow(message);
  });
});
