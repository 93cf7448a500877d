import { OptimizerConfigError } from './errors';

/**
 * A view of an internal object that only reads: every write, delete or redefinition throws an
 * OptimizerConfigError, except assignments to the keys in `setters`, which go through them (validated).
 * Without it, `paramGroups[0].hyperParameters.lr = NaN` or `paramGroups[0].tensors.push(7)` would change the
 * optimizer behind its checks. Reads pass through, so the view always shows the live values.
 */
export function readOnlyView<T extends object>(
  target: T,
  field: string,
  setters: Readonly<Record<string, (value: unknown) => void>> = {},
): T {
  const settable = Object.keys(setters);
  const refuse = (key: string | symbol, action: string): never => {
    const name = typeof key === 'string' ? `${field}.${key}` : field;
    throw new OptimizerConfigError(
      name,
      `${name} cannot be ${action}: ${field} is a read-only view of the optimizer` +
        (settable.length > 0 ? ` (only ${settable.join(', ')} can be assigned, and is validated)` : ''),
    );
  };
  return new Proxy(target, {
    set(_, key, value) {
      if (typeof key !== 'string' || !Object.hasOwn(setters, key)) return refuse(key, 'assigned');
      setters[key]!(value);
      return true;
    },
    defineProperty: (_, key) => refuse(key, 'redefined'),
    deleteProperty: (_, key) => refuse(key, 'deleted'),
    setPrototypeOf: () => refuse(Symbol.for('prototype'), 'given another prototype'),
    preventExtensions: () => refuse(Symbol.for('extensions'), 'frozen or sealed'),
  });
}

/**
 * Turns `readonly` fields into accessors whose setter throws an OptimizerConfigError: TypeScript's `readonly`
 * does not exist at run time, and `optimizer.paramGroups = []` would otherwise change what stateDict() saves.
 */
export function lockReadOnlyFields<T extends object>(object: T, keys: readonly (keyof T & string)[]): void {
  for (const key of keys) {
    const value = object[key];
    Object.defineProperty(object, key, {
      get: () => value,
      set: () => {
        throw new OptimizerConfigError(key, `${key} is read-only`);
      },
      enumerable: true,
      configurable: false,
    });
  }
}
