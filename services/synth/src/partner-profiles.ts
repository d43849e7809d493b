/**
 * What each partner observes: the route segments on its borders (segment codes as commonly reported, in
 * the direction of travel: TR-BG, TR-GR, GR-MK, GR-AL, AL-ME, ME-BA, MK-RS, BG-RS, XK-RS, RS-HU, RS-HR,
 * RS-RO, BA-HR, HR-SI — shared/data/wb-route-figures.md), its border sections with approximate
 * coordinates, its reception facilities, its readmission counterparts and its daily volume.
 * Facility totals are sourced (Serbia ~5,625 beds in 17 centres, AIDA 2023; Bosnia and Herzegovina
 * ~4,000 in 8 centres, 4 in Una-Sana canton, n1info.ba 2018); the split between centres, the other
 * partners' facilities, segment weights and volumes are assumptions.
 */
import { AGENCIES } from '@wbx/schema';

export interface BorderSection {
  readonly name: string;
  /** Approximate WGS 84 position [lat, lon]; unknown for the generic profile. */
  readonly at?: readonly [number, number];
}

export interface SegmentProfile {
  readonly segment: string;
  readonly weight: number;
  readonly sections: readonly BorderSection[];
}

export interface Facility {
  readonly id: string;
  readonly type: 'asylum-centre' | 'reception-transit-centre' | 'temporary-reception' | 'detention' | 'other';
  readonly capacity: number;
}

export interface PartnerProfile {
  readonly partner: string;
  readonly segments: readonly SegmentProfile[];
  readonly facilities: readonly Facility[];
  /** Alpha-3 codes of the countries through which persons first entered the region, weighted. */
  readonly entryCountries: readonly (readonly [string, number])[];
  /** Partner codes this partner sends readmission requests to. */
  readonly requestsTo: readonly string[];
  /** Partner codes that send readmission requests to this partner. */
  readonly requestsFrom: readonly string[];
  /** Source events a day at the 2022 peak. */
  readonly dailyEventsAtPeak: number;
  /** An EU agency or other non-state partner: it records no asylum, return or reception events. */
  readonly agency: boolean;
}

const s = (name: string, lat: number, lon: number): BorderSection => ({ name, at: [lat, lon] });
const f = (id: string, type: Facility['type'], capacity: number): Facility => ({ id, type, capacity });

/**
 * Serbia's daily volume: UNHCR Serbia (Aug 2022) reports ~4,200 new arrivals a week in governmental
 * centres, ~600 a day; at ~7 persons per crossing record and crossings ~52 % of records that is
 * ~170 records a day. The other partners are scaled from it. // assumption
 */
const RS_DAILY_AT_PEAK = 170;

const PROFILES: Readonly<Record<string, Omit<PartnerProfile, 'partner' | 'agency'>>> = {
  RS: {
    segments: [
      {
        segment: 'MK-RS',
        weight: 35,
        sections: [s('RS-MK/Presevo', 42.31, 21.65), s('RS-MK/Miratovac', 42.26, 21.66)],
      },
      {
        segment: 'BG-RS',
        weight: 20,
        sections: [s('RS-BG/Dimitrovgrad', 43.01, 22.78), s('RS-BG/Zajecar', 43.9, 22.29)],
      },
      {
        segment: 'RS-HU',
        weight: 25,
        sections: [s('RS-HU/Horgos', 46.15, 19.97), s('RS-HU/Kelebija', 46.17, 19.61)],
      },
      {
        segment: 'RS-HR',
        weight: 8,
        sections: [s('RS-HR/Batrovci', 45.05, 19.1), s('RS-HR/Sid', 45.12, 19.23)],
      },
      {
        segment: 'RS-RO',
        weight: 6,
        sections: [s('RS-RO/Vatin', 45.27, 21.27), s('RS-RO/Kikinda', 45.83, 20.46)],
      },
      {
        segment: 'RS-BA',
        weight: 4,
        sections: [s('RS-BA/Mali Zvornik', 44.37, 19.11), s('RS-BA/Sremska Raca', 44.9, 19.33)],
      },
      { segment: 'XK-RS', weight: 2, sections: [s('RS-XK/Jarinje', 43.0, 20.56)] },
    ],
    // AIDA 2023: 17 centres, ~5,625 beds; the split between centres is an assumption.
    facilities: [
      f('RS-AC-KRNJACA', 'asylum-centre', 875),
      f('RS-AC-BANJA-KOVILJACA', 'asylum-centre', 120),
      f('RS-AC-BOGOVADJA', 'asylum-centre', 200),
      f('RS-AC-SJENICA', 'asylum-centre', 250),
      f('RS-AC-TUTIN', 'asylum-centre', 200),
      f('RS-RC-OBRENOVAC', 'reception-transit-centre', 700),
      f('RS-RC-ADASEVCI', 'reception-transit-centre', 700),
      f('RS-RC-SID', 'reception-transit-centre', 250),
      f('RS-RC-PRINCIPOVAC', 'reception-transit-centre', 250),
      f('RS-RC-PRESEVO', 'reception-transit-centre', 600),
      f('RS-RC-BUJANOVAC', 'reception-transit-centre', 250),
      f('RS-RC-VRANJE', 'reception-transit-centre', 200),
      f('RS-RC-PIROT', 'reception-transit-centre', 200),
      f('RS-RC-DIMITROVGRAD', 'reception-transit-centre', 90),
      f('RS-RC-SUBOTICA', 'reception-transit-centre', 200),
      f('RS-RC-SOMBOR', 'reception-transit-centre', 300),
      f('RS-RC-KIKINDA', 'reception-transit-centre', 240),
    ],
    entryCountries: [
      ['MKD', 50],
      ['BGR', 42],
      ['ALB', 3],
      ['GRC', 5],
    ],
    requestsTo: ['MK', 'BG', 'ME'],
    requestsFrom: ['HU', 'HR', 'RO', 'BA'],
    dailyEventsAtPeak: RS_DAILY_AT_PEAK,
  },
  MK: {
    segments: [
      {
        segment: 'GR-MK',
        weight: 60,
        sections: [
          s('MK-GR/Gevgelija', 41.14, 22.5),
          s('MK-GR/Bogorodica', 41.13, 22.57),
          s('MK-GR/Dojran', 41.18, 22.72),
        ],
      },
      {
        segment: 'MK-RS',
        weight: 32,
        sections: [s('MK-RS/Tabanovce', 42.21, 21.7), s('MK-RS/Lojane', 42.23, 21.66)],
      },
      { segment: 'AL-MK', weight: 4, sections: [s('MK-AL/Kafasan', 41.14, 20.59)] },
      { segment: 'BG-MK', weight: 2, sections: [s('MK-BG/Deve Bair', 42.18, 22.35)] },
      { segment: 'MK-XK', weight: 2, sections: [s('MK-XK/Blace', 42.27, 21.43)] },
    ],
    facilities: [
      f('MK-RC-VINOJUG', 'reception-transit-centre', 500),
      f('MK-RC-TABANOVCE', 'reception-transit-centre', 300),
      f('MK-AC-VIZBEGOVO', 'asylum-centre', 150),
      f('MK-DC-GAZI-BABA', 'detention', 100),
    ],
    entryCountries: [
      ['GRC', 90],
      ['BGR', 5],
      ['ALB', 5],
    ],
    requestsTo: ['GR'],
    requestsFrom: ['RS', 'XK'],
    dailyEventsAtPeak: RS_DAILY_AT_PEAK * 0.6,
  },
  BA: {
    segments: [
      {
        segment: 'ME-BA',
        weight: 30,
        sections: [s('BA-ME/Klobuk', 42.71, 18.5), s('BA-ME/Hum', 43.33, 18.85)],
      },
      {
        segment: 'RS-BA',
        weight: 25,
        sections: [s('BA-RS/Zvornik', 44.38, 19.1), s('BA-RS/Raca', 44.89, 19.33)],
      },
      {
        segment: 'BA-HR',
        weight: 45,
        sections: [
          s('BA-HR/Velika Kladusa', 45.18, 15.8),
          s('BA-HR/Izacic', 44.88, 15.78),
          s('BA-HR/Maljevac', 45.19, 15.78),
        ],
      },
    ],
    // n1info.ba 2018: ~4,000 places in 8 centres, 4 in Una-Sana canton; the split is an assumption.
    facilities: [
      f('BA-RC-LIPA', 'reception-transit-centre', 900),
      f('BA-RC-MIRAL', 'reception-transit-centre', 700),
      f('BA-RC-BORICI', 'reception-transit-centre', 450),
      f('BA-RC-SEDRA', 'reception-transit-centre', 400),
      f('BA-RC-BLAZUJ', 'reception-transit-centre', 800),
      f('BA-RC-USIVAK', 'reception-transit-centre', 500),
      f('BA-AC-DELIJAS', 'asylum-centre', 150),
      f('BA-AC-SALAKOVAC', 'asylum-centre', 100),
    ],
    entryCountries: [
      ['SRB', 45],
      ['MNE', 35],
      ['GRC', 10],
      ['ALB', 10],
    ],
    requestsTo: ['RS', 'ME'],
    requestsFrom: ['HR', 'SI'],
    dailyEventsAtPeak: RS_DAILY_AT_PEAK * 0.5,
  },
  AL: {
    segments: [
      {
        segment: 'GR-AL',
        weight: 60,
        sections: [s('AL-GR/Kakavije', 39.92, 20.32), s('AL-GR/Kapshtice', 40.61, 20.98)],
      },
      {
        segment: 'AL-ME',
        weight: 30,
        sections: [s('AL-ME/Hani i Hotit', 42.35, 19.44), s('AL-ME/Muriqan', 41.94, 19.4)],
      },
      { segment: 'AL-XK', weight: 5, sections: [s('AL-XK/Morine', 42.1, 20.58)] },
      { segment: 'AL-MK', weight: 5, sections: [s('AL-MK/Qafe Thane', 41.14, 20.58)] },
    ],
    facilities: [
      f('AL-AC-BABRRU', 'asylum-centre', 200),
      f('AL-RC-KAPSHTICE', 'reception-transit-centre', 60),
      f('AL-DC-KARREC', 'detention', 100),
    ],
    entryCountries: [
      ['GRC', 95],
      ['MKD', 5],
    ],
    requestsTo: ['GR'],
    requestsFrom: ['ME', 'XK'],
    dailyEventsAtPeak: RS_DAILY_AT_PEAK * 0.3,
  },
  ME: {
    segments: [
      {
        segment: 'AL-ME',
        weight: 55,
        sections: [s('ME-AL/Bozaj', 42.35, 19.44), s('ME-AL/Sukobin', 41.94, 19.4)],
      },
      {
        segment: 'ME-BA',
        weight: 35,
        sections: [s('ME-BA/Vracenovici', 42.93, 18.57), s('ME-BA/Scepan Polje', 43.33, 18.85)],
      },
      { segment: 'ME-HR', weight: 5, sections: [s('ME-HR/Debeli Brijeg', 42.47, 18.48)] },
      { segment: 'XK-ME', weight: 5, sections: [s('ME-XK/Kula', 42.74, 20.13)] },
    ],
    facilities: [f('ME-AC-SPUZ', 'asylum-centre', 100), f('ME-RC-BOZAJ', 'reception-transit-centre', 60)],
    entryCountries: [
      ['ALB', 85],
      ['XKX', 5],
      ['GRC', 10],
    ],
    requestsTo: ['AL'],
    requestsFrom: ['BA', 'HR', 'RS'],
    dailyEventsAtPeak: RS_DAILY_AT_PEAK * 0.25,
  },
  XK: {
    segments: [
      {
        segment: 'XK-RS',
        weight: 40,
        sections: [s('XK-RS/Jarinje', 43.0, 20.56), s('XK-RS/Merdare', 42.96, 21.21)],
      },
      { segment: 'AL-XK', weight: 35, sections: [s('XK-AL/Vermica', 42.1, 20.58)] },
      { segment: 'MK-XK', weight: 15, sections: [s('XK-MK/Hani i Elezit', 42.15, 21.3)] },
      { segment: 'XK-ME', weight: 10, sections: [s('XK-ME/Kulla', 42.74, 20.13)] },
    ],
    facilities: [f('XK-AC-MAGURE', 'asylum-centre', 150), f('XK-DC-VRANIDOLL', 'detention', 40)],
    entryCountries: [
      ['ALB', 50],
      ['MKD', 45],
      ['GRC', 5],
    ],
    requestsTo: ['AL', 'MK'],
    requestsFrom: ['ME'],
    dailyEventsAtPeak: RS_DAILY_AT_PEAK * 0.08,
  },
};

/** The route segments commonly used in reporting (shared/data/wb-route-figures.md). */
export const REPORTED_SEGMENTS: readonly string[] = [
  'TR-BG',
  'TR-GR',
  'GR-MK',
  'GR-AL',
  'AL-ME',
  'ME-BA',
  'MK-RS',
  'BG-RS',
  'XK-RS',
  'RS-HU',
  'RS-HR',
  'RS-RO',
  'BA-HR',
  'HR-SI',
];

const WB_CODES = ['AL', 'BA', 'XK', 'ME', 'MK', 'RS'];

/** The generic profile of any other partner: the reported segments on its borders (or all of them). */
function genericProfile(partner: string): PartnerProfile {
  const own = REPORTED_SEGMENTS.filter((seg) => seg.startsWith(`${partner}-`) || seg.endsWith(`-${partner}`));
  const segments = (own.length > 0 ? own : REPORTED_SEGMENTS).map((segment) => ({
    segment,
    weight: 1,
    sections: [{ name: `${segment}/sector 1` }, { name: `${segment}/sector 2` }],
  }));
  const agency = (AGENCIES as readonly string[]).includes(partner);
  const others = WB_CODES.filter((c) => c !== partner);
  return {
    partner,
    segments,
    facilities: agency ? [] : [1, 2, 3].map((n) => f(`${partner}-RC-${n}`, 'reception-transit-centre', 300)),
    entryCountries: [
      ['GRC', 50],
      ['BGR', 30],
      ['TUR', 20],
    ],
    requestsTo: others,
    requestsFrom: others,
    dailyEventsAtPeak: RS_DAILY_AT_PEAK * 0.3,
    agency,
  };
}

/** The profile of a partner: its own for the six Western Balkans partners, a generic one otherwise. */
export function partnerProfile(partner: string): PartnerProfile {
  const own = PROFILES[partner];
  return own === undefined ? genericProfile(partner) : { partner, agency: false, ...own };
}

/** The route segments each Western Balkans partner observes. */
export const ROUTE_SEGMENTS_BY_PARTNER: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(PROFILES).map(([partner, p]) => [partner, p.segments.map((seg) => seg.segment)]),
);

/** The reception facilities of each Western Balkans partner (id, type, beds). */
export const FACILITIES_BY_PARTNER: Readonly<Record<string, readonly Facility[]>> = Object.fromEntries(
  Object.entries(PROFILES).map(([partner, p]) => [partner, p.facilities]),
);
