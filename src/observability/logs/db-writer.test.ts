import { describe, expect, it } from 'vitest';
import { statementSizes } from './db-writer.js';

describe('statementSizes', () => {
  it('covers every row with full statements of 200 and powers of two for the rest', () => {
    expect(statementSizes(0)).toEqual([]);
    expect(statementSizes(37)).toEqual([32, 4, 1]);
    expect(statementSizes(200)).toEqual([200]);
    expect(statementSizes(455)).toEqual([200, 200, 32, 16, 4, 2, 1]);
    const distinct = new Set<number>();
    for (let n = 0; n <= 1000; n++) {
      const sizes = statementSizes(n);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(n);
      for (const s of sizes) distinct.add(s);
    }
    // At most nine statements per table are ever prepared, whatever the batch sizes.
    expect(distinct.size).toBe(9);
  });
});
