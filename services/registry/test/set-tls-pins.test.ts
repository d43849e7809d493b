import { describe, expect, it } from 'vitest';

import { decodeManifest, parseManifestBody, setTlsPins } from '../src/index.js';
import { body, registryError, testMember } from './fixtures.js';

const v1 = parseManifestBody(body([testMember('MK'), testMember('RS')]));
const T = '2026-01-11T00:00:00Z';
const PIN = 'ab'.repeat(32);

describe('setTlsPins', () => {
  it("proposes the next version, unsigned, with the member's pins replaced and the others' kept", () => {
    const proposal = setTlsPins(v1, 'RS', [PIN], T);
    expect(proposal.signatures).toEqual([]);
    const next = decodeManifest(proposal);
    expect(next.version).toBe(2);
    expect(next.members.find((m) => m.id === 'RS')?.tlsCertSha256).toEqual([PIN]);
    expect(next.members.find((m) => m.id === 'MK')).toEqual(v1.members.find((m) => m.id === 'MK'));
    expect(decodeManifest(setTlsPins(next, 'RS', [], T)).members[1]?.tlsCertSha256).toEqual([]);
  });

  it('refuses a non-member (NOT_A_MEMBER), a malformed pin and a pin given twice (MALFORMED_MANIFEST)', () => {
    expect(registryError(() => setTlsPins(v1, 'AL', [PIN], T)).code).toBe('NOT_A_MEMBER');
    expect(registryError(() => setTlsPins(v1, 'RS', [PIN.toUpperCase()], T)).code).toBe('MALFORMED_MANIFEST');
    expect(registryError(() => setTlsPins(v1, 'RS', [PIN, PIN], T)).code).toBe('MALFORMED_MANIFEST');
  });
});
