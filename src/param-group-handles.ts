// The live optimizer's `paramGroups`: read-only views of each group's live values, where `lr` is the one thing a
// caller may assign, validated like `optimizer.lr`.
import { validateLearningRate } from './option-checks';
import type { GroupHyperParameters } from './step-scalars';
import { readOnlyView } from './views';

/**
 * A param group of a live optimizer, as a read-only view of its live values. Assigning `lr` here or in
 * `hyperParameters` is validated like `optimizer.lr`; every other write, delete, redefinition or freeze of the
 * handle, `tensors` or `hyperParameters` throws an OptimizerConfigError and changes nothing. Spread them to get
 * a plain copy (`{ ...group.hyperParameters }`, `[...group.tensors]`); structuredClone() cannot copy views.
 */
export interface ParamGroupHandle {
  /** Base learning rate (before the schedule): a finite f32 >= 0. Changing it rebuilds nothing. */
  lr: number;
  /** Global indices of this group's tensors (the order of state dicts). */
  readonly tensors: readonly number[];
  readonly hyperParameters: Readonly<GroupHyperParameters>;
}

/** One view per group; each writes through to `groups[i].hp.lr`, which the next step reads. */
export function paramGroupHandles(
  groups: readonly { hp: GroupHyperParameters; tensors: readonly number[] }[],
): readonly ParamGroupHandle[] {
  return readOnlyView(
    groups.map((group, index): ParamGroupHandle => {
      const where = `paramGroups[${index}]`;
      const hp = group.hp;
      const lrSetter = (field: string) => (value: unknown) => {
        hp.lr = validateLearningRate(value, field, hp);
      };
      const handle = {
        get lr() {
          return hp.lr;
        },
        tensors: readOnlyView([...group.tensors], `${where}.tensors`),
        hyperParameters: readOnlyView(hp, `${where}.hyperParameters`, {
          lr: lrSetter(`${where}.hyperParameters.lr`),
        }),
      };
      return readOnlyView(handle, where, { lr: lrSetter(`${where}.lr`) });
    }),
    'paramGroups',
  );
}
