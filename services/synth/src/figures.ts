/**
 * The proportions behind the synthetic data. Each figure names its public source (see
 * shared/data/wb-route-figures.md); where no public figure exists the value is a plausible choice and is
 * marked `// assumption`. Per-partner geography (segments, border sections, facilities) is in
 * partner-profiles.ts.
 */
import type { Weighted } from './random.js';

/** Figure sources, cited by key in the comments below and in the package's report. */
export const SOURCES = {
  frontex2022: 'Frontex annual figures 2022, reported by voxnews.al, 2023-01-16',
  frontexMay2022: 'Frontex monthly figures, Reuters via whtc.com, 2022-06-13',
  frontex2023: 'Frontex data 2023, reported by zilnice.news and dtt-net.com, January 2024',
  frontexH1_2024: 'Frontex preliminary data H1 2024, europeannewsroom.com, July 2024',
  aidaSerbia: 'AIDA country report Serbia 2023 (asylumineurope.org)',
  unhcrSerbia2022: 'UNHCR Serbia update, August 2022 (reliefweb)',
  unhcrSerbia2017: 'UNHCR Serbia update, May 2017 (reliefweb)',
  n1Bih2018: 'n1info.ba, 2018 (Bosnia and Herzegovina reception)',
} as const;

/** Irregular crossings detected on the Western Balkans route per calendar year. */
export const ROUTE_DETECTIONS_BY_YEAR: Readonly<Record<number, number>> = {
  // Derived: 2022's 145,600 was +136 % on 2021 → 145,600 / 2.36 (frontex2022).
  2021: 61_700,
  // frontex2022: ~145,600, the highest since 2015.
  2022: 145_600,
  // frontex2023: 99,068 (−31 %).
  2023: 99_068,
  // frontexH1_2024 gives ~10,640 for January–June; the full year as twice that is an assumption.
  2024: 21_280,
};

/**
 * Detections in a year: the table's value, else the nearest year's (2015–2020 as 2021, 2025 onwards as
 * 2024). // assumption
 */
export function routeDetections(year: number): number {
  const years = Object.keys(ROUTE_DETECTIONS_BY_YEAR).map(Number);
  const first = Math.min(...years);
  const last = Math.max(...years);
  const clamped = Math.min(last, Math.max(first, year));
  return ROUTE_DETECTIONS_BY_YEAR[clamped] ?? ROUTE_DETECTIONS_BY_YEAR[2022] ?? 0;
}

/** The peak year's detections: the reference for scaling occupancy and risk. */
export const PEAK_DETECTIONS = 145_600; // frontex2022

/**
 * Relative detections per calendar month (January first). // assumption, calibrated to frontexMay2022:
 * May is 29 % of January–May (12,088 / 40,675) and January–May 31 % of the year (40,675 / 145,600 = 28 %).
 * Late summer and autumn are the route's usual peak.
 */
export const MONTHLY_SEASONALITY: readonly number[] = [
  0.6, 0.55, 0.7, 0.85, 1.1, 1.15, 1.25, 1.35, 1.45, 1.45, 1.0, 0.7,
];

/**
 * Citizenships of persons detected on the route. The ranking follows frontex2022 (Syria, Afghanistan,
 * Türkiye; newly frequent Tunisia, India, Burundi) and frontexMay2022 (main origins Syria, Afghanistan);
 * the weights themselves, and the other nationalities, are an assumption. XXX = unknown, XXA = stateless
 * (kept apart, as Eurostat's UNK and STLS).
 */
export const CITIZENSHIP_WEIGHTS: Weighted<string> = [
  ['SYR', 30],
  ['AFG', 22],
  ['TUR', 10],
  ['PAK', 6], // assumption
  ['TUN', 5],
  ['IND', 5],
  ['BDI', 4],
  ['MAR', 4], // assumption
  ['IRQ', 3], // assumption
  ['BGD', 3], // assumption
  ['IRN', 2], // assumption
  ['EGY', 1], // assumption
  ['CUB', 1], // assumption
  ['XXX', 3], // assumption
  ['XXA', 1], // assumption
];

/** The nationalities frontex2022 calls newly frequent in 2022. */
export const NEWLY_FREQUENT_2022: readonly string[] = ['TUN', 'IND', 'BDI'];

/**
 * How much more or less frequent the 2022 newcomers are in another year: rare before 2022 (they were "new"
 * in 2022, frontex2022), fewer from 2023 after visa-policy alignment. // assumption
 */
export function newcomerFactor(year: number): number {
  if (year < 2022) return 0.2;
  if (year === 2022) return 1;
  return 0.4;
}

/**
 * Demography of persons detected crossing. Targets: women < 10 % and minors ~9 % of detections
 * (frontex2022, EU-wide irregular crossings). The generator composes groups (families and others) so
 * that these totals come out; the parameters below are tuned to do that.
 */
export const DEMOGRAPHY = {
  /** Share of adult women among persons detected, target (frontex2022: < 10 %). */
  womenTarget: 0.08,
  /** Share of minors among persons detected, target (frontex2022: ~9 %). */
  minorsTarget: 0.09,
  /** Share of crossing groups that include a family with children. // assumption */
  familyGroupShare: 0.1,
  /** In a non-family group: chance a person is an adult woman. // assumption, tuned to womenTarget */
  womanInGroup: 0.07,
  /** In a non-family group: chance a person is a minor (mostly 14-17). // assumption, tuned to minorsTarget */
  minorInGroup: 0.06,
  /** A minor outside a family group is unaccompanied with this chance. // assumption */
  unaccompaniedIfNoFamily: 0.85,
  /** Minors outside families: share aged 14-17 rather than 0-13. // assumption */
  teenShareOfLoneMinors: 0.9,
  /** Chance that a member of a non-family group shares the group's main citizenship. // assumption */
  sharedCitizenship: 0.75,
  /** Share of persons whose sex is not recorded (U), and recorded as X. // assumption */
  sexUnknown: 0.01,
  sexX: 0.001,
  /** Share of persons with a pseudonymous subjectRef (registered, fingerprinted). // assumption */
  withSubjectRef: 0.9,
} as const;

/** Age bands of adults outside families. // assumption (young adult men dominate the route) */
export const ADULT_AGE_WEIGHTS: Weighted<string> = [
  ['18-34', 72],
  ['35-64', 24],
  ['65+', 0.5],
  ['unknown', 3.5],
];

/**
 * Size of a non-family crossing group: [min, max] ranges and weights. // assumption, mean ≈ 7
 * Capped at 50 because a crossing report carries at most 60 persons (schema LIMITS.personsPerCrossing,
 * so that a sealed event stays under the verifier's 64 KiB cap); larger groups are reported as several.
 */
export const GROUP_SIZE_WEIGHTS: Weighted<readonly [number, number]> = [
  [[1, 1], 30],
  [[2, 4], 35],
  [[5, 12], 22],
  [[13, 30], 10],
  [[31, 50], 3],
];

/**
 * Event type mix per 1,000 source events for a Western Balkans partner, kept overall although the mix
 * varies by hour of the week; reception snapshots come on top (internal/type-mix.ts: one per facility
 * per day).
 * Crossings and smuggling dominate (the route's detections, frontex2022; "facilitation is reported in
 * most detected groups"). Asylum applications ≈ 5 % of persons detected (n1Bih2018: ~5 % of arrivals
 * apply): with ~7 persons per crossing record and ~1.5 persons per application, 520 × 7 × 5 % / 1.5 ≈ 120.
 * Decisions are far fewer and rarely positive (unhcrSerbia2022: 17 positive decisions January–August
 * 2022; AIDA: a few dozen a year). Everything else is an assumption.
 */
export const TYPE_WEIGHTS = {
  'crossing.irregular': 520,
  'smuggling.incident': 150,
  'trafficking.victim': 5, // assumption: rare
  'asylum.application': 120,
  'asylum.decision': 35, // assumption: most applicants leave before a decision
  'residence.humanitarian': 8, // assumption
  'return.decision': 45, // assumption
  'return.executed': 22, // assumption: about half of return decisions are carried out
  'readmission.request': 35, // assumption
  'readmission.response': 30, // assumption
  'assessment.route': 3, // assumption: a few per week per partner
  // The other WB-RAN indicators (refusals of entry, illegal stay, false documents) have no figure in
  // wb-route-figures.md: assumption, one refusal per ~6 crossing records, one illegal stay per ~9, and
  // false documents rare (a few per thousand records), each event one person. They follow the route's
  // monthly shape like every other type (internal/timeline.ts).
  'entry.refusal': 90, // assumption
  'stay.illegal': 60, // assumption
  'document.fraud': 8, // assumption
} as const;

/** Reception snapshots aim at one per facility per day, within these bounds of the event mix. // assumption */
export const RECEPTION_SHARE_BOUNDS = { min: 0.003, max: 0.12 } as const;

/** Asylum decision outcomes: very low recognition (unhcrSerbia2022, aidaSerbia); split // assumption */
export const DECISION_OUTCOME_WEIGHTS: Weighted<string> = [
  ['refugee', 2],
  ['subsidiary', 3],
  ['humanitarian', 1],
  ['rejected', 30],
  ['discontinued', 64],
];
/** Share of decisions taken on appeal. // assumption */
export const APPEAL_SHARE = 0.15;
/** Persons in an asylum application. // assumption (mostly single men, some families) */
export const FAMILY_SIZE_WEIGHTS: Weighted<number> = [
  [1, 68],
  [2, 8],
  [3, 8],
  [4, 8],
  [5, 5],
  [6, 3],
];

/** Return types. // assumption (assisted voluntary return through IOM is the most common in the WB6) */
export const RETURN_TYPE_WEIGHTS: Weighted<string> = [
  ['voluntary', 30],
  ['assisted-voluntary', 45],
  ['forced', 25],
];

/** Readmission answers. // assumption */
export const READMISSION_OUTCOME_WEIGHTS: Weighted<string> = [
  ['accepted', 65],
  ['rejected', 25],
  ['expired', 10],
];
export const READMISSION_REASON_WEIGHTS: Weighted<string> = [
  ['insufficient-evidence', 50],
  ['not-national', 25],
  ['already-returned', 10],
  ['other', 15],
];
/** Days to answer a readmission request: 14 standard, 2 in the accelerated procedure. // assumption */
export const READMISSION_DEADLINE_DAYS: Weighted<number> = [
  [14, 80],
  [2, 20],
];

/** Trafficking. // assumption: sexual and labour exploitation dominate identified cases */
export const EXPLOITATION_WEIGHTS: Weighted<string> = [
  ['sexual', 40],
  ['labour', 30],
  ['forced-criminality', 8],
  ['begging', 10],
  ['forced-marriage', 7],
  ['other', 5],
];
export const IDENTIFIED_BY_WEIGHTS: Weighted<string> = [
  ['police', 35],
  ['border-police', 15],
  ['ngo', 25],
  ['social-services', 15],
  ['labour-inspection', 5],
  ['other', 5],
];
/** Share of victims who are nationals of the reporting partner (domestic trafficking). // assumption */
export const DOMESTIC_VICTIM_SHARE = 0.4;

/** Humanitarian residence permits; temporary protection only from 2022 (people fleeing Ukraine). // assumption */
export const PERMIT_TYPE_WEIGHTS: Weighted<string> = [
  ['temporary-humanitarian', 50],
  ['temporary-protection', 15],
  ['stateless', 5],
  ['victim-of-trafficking', 20],
  ['other', 10],
];

/** Smuggling modi operandi. // assumption (guided walks across the green border dominate) */
export const MODUS_WEIGHTS: Weighted<string> = [
  ['on-foot-guided', 45],
  ['vehicle-concealment', 25],
  ['vehicle-open', 15],
  ['train', 5],
  ['boat', 2],
  ['document-fraud', 5],
  ['other', 3],
];
/** Facilitators arrested per incident. // assumption */
export const FACILITATORS_WEIGHTS: Weighted<readonly [number, number]> = [
  [[0, 0], 35],
  [[1, 1], 45],
  [[2, 2], 15],
  [[3, 5], 5],
];
/** Chance a detected group is suspected of being facilitated ("most detected groups"). */
export const FACILITATOR_SUSPECTED = { group: 0.75, single: 0.45 } as const;

/** Detection method by direction. // assumption */
export const DETECTION_WEIGHTS: Readonly<Record<'entry' | 'exit', Weighted<string>>> = {
  entry: [
    ['patrol', 40],
    ['surveillance', 25],
    ['checkpoint', 5],
    ['tip-off', 10],
    ['inland-check', 15],
    ['other', 5],
  ],
  exit: [
    ['patrol', 30],
    ['surveillance', 20],
    ['checkpoint', 25],
    ['tip-off', 10],
    ['inland-check', 10],
    ['other', 5],
  ],
};

/**
 * Reception: children's share of residents by facility type. Asylum centres house families
 * (unhcrSerbia2017: 41 % children, 12 % adult women, 47 % adult men in 2017); the rest is an assumption.
 */
export const CHILDREN_SHARE_BY_FACILITY: Readonly<Record<string, number>> = {
  'asylum-centre': 0.35,
  'reception-transit-centre': 0.18, // assumption
  'temporary-reception': 0.12, // assumption
  detention: 0.02, // assumption
  other: 0.1, // assumption
};
/** Unaccompanied minors among children in reception. // assumption */
export const UNACCOMPANIED_SHARE_OF_CHILDREN = 0.25;

/** Risk levels of route assessments, at the peak (2022) and at a tenth of it. // assumption */
export const RISK_WEIGHTS_HIGH: Weighted<string> = [
  ['low', 5],
  ['medium', 30],
  ['high', 45],
  ['critical', 20],
];
export const RISK_WEIGHTS_LOW: Weighted<string> = [
  ['low', 40],
  ['medium', 40],
  ['high', 17],
  ['critical', 3],
];

/**
 * Refusals of entry: a share of the refused are migrants of the route's citizenship mix, the rest
 * travellers of neighbouring and visa-required countries (never the refusing partner's own nationals).
 * // assumption
 */
export const REFUSED_ROUTE_MIGRANT_SHARE = 0.4;
export const REFUSED_TRAVELLER_CITIZENSHIPS: Weighted<string> = [
  ['ALB', 15],
  ['TUR', 15],
  ['XKX', 10],
  ['SRB', 8],
  ['MKD', 6],
  ['BIH', 6],
  ['MNE', 3],
  ['UKR', 8],
  ['RUS', 6],
  ['CHN', 5],
  ['IND', 5],
  ['MAR', 4],
  ['XXA', 1],
  ['XXX', 2],
];
/** Main grounds of refusal (REFUSAL_GROUNDS). // assumption: no visa and no justification lead */
export const REFUSAL_GROUND_WEIGHTS: Weighted<string> = [
  ['no-valid-document', 10],
  ['false-document', 4],
  ['no-valid-visa', 25],
  ['false-visa', 2],
  ['no-purpose-justification', 25],
  ['overstay-90-180', 5],
  ['insufficient-means', 14],
  ['entry-ban-alert', 12],
  ['public-threat', 3],
];
/** Border types of refusals and false documents: WB6 borders are mostly land. // assumption */
export const BORDER_TYPE_WEIGHTS: Weighted<string> = [
  ['land', 78],
  ['air', 20],
  ['sea', 2],
];
/** Illegal stay: detected inland or on exit, and how the stay became illegal. // assumption */
export const STAY_EXIT_SHARE = 0.35;
export const STAY_BASIS_WEIGHTS: Weighted<string> = [
  ['irregular-entry', 75],
  ['overstay', 15],
  ['unknown', 10],
];
/** False documents. // assumption: EU documents forged for travel onwards, used mostly on exit */
export const FALSE_DOCUMENT_EXIT_SHARE = 0.6;
export const DOCUMENT_TYPE_WEIGHTS: Weighted<string> = [
  ['passport', 40],
  ['id-card', 25],
  ['visa', 10],
  ['residence-permit', 12],
  ['stamp', 8],
  ['other', 5],
];
export const FRAUD_TYPE_WEIGHTS: Weighted<string> = [
  ['counterfeit', 35],
  ['forged', 25],
  ['fraudulently-obtained', 8],
  ['impostor', 22],
  ['pseudo-document', 3],
  ['stolen-blank', 5],
  ['other', 2],
];
/** The states a false document claims to be issued by. // assumption */
export const DOCUMENT_COUNTRY_WEIGHTS: Weighted<string> = [
  ['GRC', 12],
  ['BGR', 12],
  ['ITA', 12],
  ['FRA', 8],
  ['DEU', 8],
  ['ESP', 6],
  ['HRV', 6],
  ['ROU', 6],
  ['SYR', 8],
  ['TUR', 8],
  ['AFG', 4],
];
