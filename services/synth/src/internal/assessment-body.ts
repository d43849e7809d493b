import type { AssessmentRoute } from '@wbx/proto';
import { RISK_INDICATORS } from '@wbx/schema';

import { PEAK_DETECTIONS, RISK_WEIGHTS_HIGH, RISK_WEIGHTS_LOW, routeDetections } from '../figures.js';
import { previousPeriod } from './calendar.js';
import type { SynthContext } from './context.js';

/** One sentence of the summary per indicator. */
const SENTENCES: Readonly<Record<string, string>> = {
  'increased-detections': 'Detections rose compared with the previous period.',
  'decreased-detections': 'Detections fell compared with the previous period.',
  'new-modus-operandi': 'Facilitators were seen using a new modus operandi.',
  'route-shift': 'Movements are shifting towards neighbouring border sections.',
  'violence-against-migrants': 'Reports of violence against migrants were received.',
  'document-fraud': 'Forged or borrowed documents were detected at crossing points.',
  'vulnerable-groups': 'More families and unaccompanied minors were among those detected.',
  'facilitator-network': 'An organised facilitator network is active on the segment.',
  other: 'Further indicators are described in the restricted annex.',
};

function label(period: string): string {
  if (period.includes('W')) return 'Weekly';
  return period.length === 10 ? 'Daily' : 'Monthly';
}

/**
 * A route assessment of the last complete period. Risk follows the year's detections relative to the
 * 2022 peak (Frontex); the trend indicator follows the change on the year before. // assumption
 */
export function assessmentRoute(ctx: SynthContext, year: number, at: number): AssessmentRoute {
  const { rng } = ctx;
  const kind = rng.weighted([
    ['month', 45],
    ['week', 45],
    ['day', 10],
  ] as const);
  const period = previousPeriod(kind, at);
  const seg = rng.weighted(ctx.segments);
  const load = Math.min(1, routeDetections(year) / PEAK_DETECTIONS);
  const risks = RISK_WEIGHTS_HIGH.map(
    ([level, w], i) => [level, load * w + (1 - load) * (RISK_WEIGHTS_LOW[i]?.[1] ?? 0)] as const,
  );
  const riskLevel = rng.weighted(risks);
  const rising = routeDetections(year) >= routeDetections(year - 1);
  const excluded = rising ? 'decreased-detections' : 'increased-detections';
  const candidates = RISK_INDICATORS.filter((i) => i !== excluded);
  const indicators = rng.sample(candidates, rng.int(0, 4));
  const sentences = indicators.map((i) => SENTENCES[i] ?? '').filter((t) => t !== '');
  const summary = [
    `${label(period)} assessment of ${seg.segment} for ${period}: risk ${riskLevel}.`,
    ...sentences,
  ];
  return { period, routeSegment: seg.segment, riskLevel, indicators, summary: summary.join(' ') };
}
