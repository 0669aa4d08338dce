/** Comparison: eq, ne, lt... with Go's rules on basic kinds. */
import { FuncError, goType } from './values';

type Basic = 'string' | 'number' | 'bool' | 'nil';

function basicKind(v: unknown): Basic | null {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  return null;
}

export function equal(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === null || kb === null) throw new FuncError(`non-comparable type ${goType(ka === null ? a : b)}`);
  // A missing value equals only nil (Go would fail to compare it with anything).
  if (ka === 'nil' || kb === 'nil') return ka === kb;
  if (ka !== kb) throw new FuncError(`incompatible types for comparison: ${goType(a)} and ${goType(b)}`);
  return a === b;
}

export function less(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka !== 'string' && ka !== 'number') throw new FuncError(`invalid type for comparison: ${goType(a)}`);
  if (ka !== kb) throw new FuncError(`incompatible types for comparison: ${goType(a)} and ${goType(b)}`);
  return (a as string | number) < (b as string | number);
}
