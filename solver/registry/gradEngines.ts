// How parameter gradients are computed (`@ grad=`): the one list of the gradient engines. The model's GradEngine,
// option validation, completion and hover texts, and the training gradients (solver/train/gradients.ts) derive
// from it.

/** The gradient engines, in the order messages and completion list them. */
export const GRAD_ENGINES = {
  ad: { doc: 'Gradients by automatic differentiation through the unrolled solve.' },
  adjoint: { doc: 'Gradients from the continuous adjoint equation, solved backwards.' },
} satisfies Record<string, { doc: string }>;

/** How parameter gradients are computed: AD through the unrolled solve, or the continuous adjoint. */
export type GradEngine = keyof typeof GRAD_ENGINES;
export const GRAD_ENGINE_NAMES = Object.keys(GRAD_ENGINES) as readonly GradEngine[];
