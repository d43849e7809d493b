import type { StoredRecord } from './store.js';

/** TLP 2.0 labels, as MISP's `tlp` taxonomy tags them. */
export type Tlp = 'clear' | 'green' | 'amber' | 'amber+strict' | 'red';
/** Admiralty scale (MISP taxonomy `admiralty-scale`): source reliability A–F, credibility 1–6. */
export type SourceReliability = 'a' | 'b' | 'c' | 'd' | 'e' | 'f';
export type InformationCredibility = '1' | '2' | '3' | '4' | '5' | '6';

export interface MispOptions {
  /** Default `amber`: for the recipients of the agreement, not beyond. */
  readonly tlp?: Tlp;
  /**
   * Default `b` (usually reliable): a ministry's own report, signed by it and verified; an analyst may
   * grade otherwise.
   */
  readonly reliability?: SourceReliability;
  /** Default `2` (probably true): not confirmed by another source. */
  readonly credibility?: InformationCredibility;
}

interface MispAttribute {
  readonly type: string;
  readonly category: string;
  readonly object_relation?: string;
  readonly value: string;
  readonly to_ids: false;
  readonly comment?: string;
}

/** The disclosed fields of a smuggling incident that become MISP attributes, with their MISP type. */
const FIELDS: readonly (readonly [string, string])[] = [
  ['routeSegment', 'text'],
  ['location', 'text'],
  ['migrantsCount', 'counter'],
  ['facilitatorsApprehended', 'counter'],
  ['modusOperandi', 'text'],
  ['vehicleType', 'text'],
  ['caseRef', 'text'],
];

function attribute(field: string, type: string, value: unknown): MispAttribute | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return { type, category: 'Other', object_relation: field, value: text, to_ids: false, comment: field };
}

/**
 * Smuggling incidents (records of `smuggling.incident` the agreements let this node hold) as MISP
 * events (MISP core format, `{ "response": [{ "Event": … }] }`): one per incident, its uuid the event
 * id, the origin as the creating organisation, the disclosed fields as attributes (nothing withheld is
 * made up), tagged with TLP and the Admiralty scale, and the provenance in the event's info and a
 * `wbx:` tag set.
 */
export function smugglingMispEvents(records: readonly StoredRecord[], options: MispOptions = {}): unknown {
  const tags = [
    { name: `tlp:${options.tlp ?? 'amber'}` },
    { name: `admiralty-scale:source-reliability="${options.reliability ?? 'b'}"` },
    { name: `admiralty-scale:information-credibility="${options.credibility ?? '2'}"` },
  ];
  const response = records
    .filter((r) => r.type === 'smuggling.incident')
    .map((r) => {
      const c = r.claims;
      const p = r.provenance;
      const occurred = typeof c.occurredAt === 'string' ? c.occurredAt : p.issuedAt;
      const attributes = FIELDS.map(([field, type]) => attribute(field, type, c[field])).filter(
        (a): a is MispAttribute => a !== undefined,
      );
      return {
        Event: {
          uuid: p.eventId,
          info: `Migrant smuggling incident reported by ${p.origin} (${typeof c.routeSegment === 'string' ? c.routeSegment : 'route withheld'})`,
          date: occurred.slice(0, 10),
          timestamp: String(Math.floor(Date.parse(p.issuedAt) / 1000)),
          threat_level_id: '3',
          analysis: '2',
          distribution: '0',
          published: false,
          Orgc: { name: p.origin },
          Tag: [
            ...tags,
            { name: `wbx:origin="${p.origin}"` },
            { name: `wbx:agreement="${p.agreementId}"` },
            { name: `wbx:kid="${p.kid}"` },
          ],
          Attribute: attributes,
        },
      };
    });
  return { response };
}
