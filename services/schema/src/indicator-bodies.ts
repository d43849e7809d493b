/**
 * The bodies of the WB-RAN indicators that the first catalogue lacked: refusals of entry, illegal stay and
 * false documents (Frontex WB-RAN / FRAN indicators 4, 3 and 6; docs/eurostat-crosswalk.md).
 */
import * as z from 'zod';

import { borderSection, PersonSchema } from './bodies.js';
import { code, country, issue } from './internal/primitives.js';
import {
  BORDER_TYPES,
  DIRECTIONS,
  DOCUMENT_TYPES,
  FRAUD_TYPES,
  PERSONAL_DOCUMENT_TYPES,
  REFUSAL_GROUNDS,
  STAY_BASES,
  STAY_DETECTED_ON,
} from './vocabulary.js';

/** `entry.refusal`: a person refused entry at a border crossing point, with the main ground. */
export const EntryRefusalSchema = z.strictObject({
  borderSection,
  borderType: code(BORDER_TYPES),
  person: PersonSchema,
  ground: code(REFUSAL_GROUNDS),
});

/** `stay.illegal`: a person detected staying illegally, inland or on exit (then at a border section). */
export const StayIllegalSchema = z
  .strictObject({
    person: PersonSchema,
    detectedOn: code(STAY_DETECTED_ON),
    borderSection: borderSection.optional(),
    stayBasis: code(STAY_BASES),
  })
  .superRefine((s, ctx) => {
    if (s.detectedOn === 'exit' && s.borderSection === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['borderSection'],
        ...issue('REQUIRED', 'an illegal stay detected on exit names the border section'),
      });
    }
    if (s.detectedOn === 'inland' && s.borderSection !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['borderSection'],
        ...issue('INCONSISTENT', 'a border section is given only with detectedOn exit'),
      });
    }
  });

/** `document.fraud`: a person detected using a fraudulent document at a border. */
export const DocumentFraudSchema = z
  .strictObject({
    borderSection,
    borderType: code(BORDER_TYPES),
    direction: code(DIRECTIONS),
    person: PersonSchema,
    documentType: code(DOCUMENT_TYPES),
    fraudType: code(FRAUD_TYPES),
    documentCountry: country,
  })
  .superRefine((d, ctx) => {
    if (d.fraudType === 'impostor' && !PERSONAL_DOCUMENT_TYPES.includes(d.documentType)) {
      ctx.addIssue({
        code: 'custom',
        path: ['fraudType'],
        ...issue('INCONSISTENT', `an impostor uses a genuine personal document, not a ${d.documentType}`),
      });
    }
  });
