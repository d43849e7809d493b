import { describe, expect, it } from 'vitest';

import { shownClaims } from '../src/tail.js';

describe('shownClaims', () => {
  it('shows a suppressed aggregate cell as "< k", never as 0', () => {
    const claims = {
      wbx_type: 'stats.aggregate',
      minCell: 5,
      cells: [
        { values: ['GR-MK'], count: 0, suppressed: true },
        { values: ['RS-HU'], count: 12, suppressed: false },
      ],
    };
    expect(shownClaims(claims).cells).toEqual([
      { values: ['GR-MK'], count: '< 5', suppressed: true },
      { values: ['RS-HU'], count: 12, suppressed: false },
    ]);
    expect(claims.cells[0]?.count).toBe(0); // the claims themselves are left as they are
  });

  it('shows a cell hidden by secondary suppression as "hidden", not as "< k"', () => {
    const claims = {
      wbx_type: 'stats.aggregate',
      minCell: 5,
      cells: [
        { values: ['GR-MK'], count: 0, suppressed: true },
        { values: ['MK-RS'], count: 0, suppressed: true, secondary: true },
        { values: ['RS-HU'], count: 12, suppressed: false },
      ],
    };
    expect(shownClaims(claims).cells).toEqual([
      { values: ['GR-MK'], count: '< 5', suppressed: true },
      { values: ['MK-RS'], count: 'hidden', suppressed: true, secondary: true },
      { values: ['RS-HU'], count: 12, suppressed: false },
    ]);
  });

  it('leaves the claims of other events as they are', () => {
    const claims = { wbx_type: 'crossing.irregular', routeSegment: 'GR-MK' };
    expect(shownClaims(claims)).toEqual(claims);
  });
});
