// The gradient corrections (`@ gradfix=`, docs/design.md#corrections): the one list of their names. The model's
// GradFix, option validation, completion and hover texts, the remedies that name a correction and the training
// gradients (solver/train/gradients.ts) derive from it. The corrections themselves are in solver/engine/corrections.ts.

interface CorrectionFacts {
  /** One sentence for completion and hover. */
  doc: string;
  /** Removes the period-2 oscillation of a weakly stable scheme (remedies accept it as a fix). */
  removesOscillation: boolean;
  /** Training (`odelens train --gradient`) can apply it to AD gradients. */
  training: boolean;
  /** The correction remedies propose when no check has measured a better one (exactly one entry). */
  recommended?: true;
}

/** The corrections, in the order messages and completion list them. */
export const CORRECTIONS = {
  none: { doc: 'No correction: the raw AD gradients.', removesOscillation: false, training: false },
  average: {
    doc: 'Averages each per-step copy with its neighbours (a moving mean).',
    removesOscillation: true,
    training: true,
  },
  filter121: {
    doc: 'The [1, 2, 1]/4 filter over neighbouring copies: removes the alternating (−1)^n component of leapfrog-type gradients.',
    removesOscillation: true,
    training: true,
    recommended: true,
  },
  adjoint121: {
    doc: 'Applies the [1, 2, 1] filter to the discrete adjoint before forming gradients.',
    removesOscillation: true,
    training: false,
  },
  stagesum: {
    doc: 'Sums the stage contributions of each step before forming gradients.',
    removesOscillation: false,
    training: false,
  },
} satisfies Record<string, CorrectionFacts>;

/** Post-processing of AD gradients (docs/design.md#corrections). */
export type GradFix = keyof typeof CORRECTIONS;
export const GRADFIX_NAMES = Object.keys(CORRECTIONS) as readonly GradFix[];

/** The corrections that remove the period-2 oscillation of a weakly stable scheme. */
export const OSCILLATION_CORRECTIONS: readonly GradFix[] = GRADFIX_NAMES.filter(
  (n) => CORRECTIONS[n].removesOscillation,
);

const isRecommended = (n: GradFix) => (CORRECTIONS[n] as CorrectionFacts).recommended === true;

/** The correction remedies propose when no check has measured a better one. */
export const RECOMMENDED_CORRECTION = GRADFIX_NAMES.find(isRecommended) as Exclude<GradFix, 'none'>;

/** The corrections training can apply (its other gradients are the gradient engines), the recommended one first. */
export type TrainingCorrection = {
  [K in GradFix]: (typeof CORRECTIONS)[K]['training'] extends true ? K : never;
}[GradFix];
export const TRAINING_CORRECTIONS = GRADFIX_NAMES.filter((n) => CORRECTIONS[n].training).sort(
  (a, b) => Number(isRecommended(b)) - Number(isRecommended(a)),
) as readonly TrainingCorrection[];
