// What both JavaScript clients check with: the tensor types' byte layout, the checks, the example data
// and the MSE maths done here, independently of the service. No dependencies.

export const TYPES = {
  FP64: { size: 8, get: (view, at) => view.getFloat64(at, true), set: (view, at, v) => view.setFloat64(at, v, true) },
  FP32: { size: 4, get: (view, at) => view.getFloat32(at, true), set: (view, at, v) => view.setFloat32(at, v, true) },
};

export class CheckFailed extends Error {}

export function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

export function close(actual, expected, rel, what) {
  const tolerance = rel * Math.max(1, Math.abs(expected));
  check(
    typeof actual === "number" && Math.abs(actual - expected) <= tolerance,
    `${what}: got ${actual}, expected ${expected} (tolerance ${tolerance})`,
  );
}

export function sameBits(actual, expected, what) {
  check(actual.length === expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  expected.forEach((e, i) => check(Object.is(actual[i], e), `${what}[${i}]: ${actual[i]} !== ${e}`));
}

// The maths, done here: mse = mean((p - t)^2), d mse / d p = 2 (p - t) / n. `round` gives float32 maths.
export function mse(yTrue, yPred, round = (x) => x) {
  const t = yTrue.flat();
  const p = yPred.flat();
  const n = p.length;
  let sum = 0;
  const grad = [];
  for (let i = 0; i < n; i++) {
    const d = round(round(p[i]) - round(t[i]));
    sum = round(sum + round(d * d));
    grad.push(round(round(2 * d) / n));
  }
  return { loss: round(sum / n), grad };
}

// The example every check sends.
export const Y_TRUE = [
  [0.0, 1.0, 2.0],
  [1.5, -0.5, 0.25],
];
export const Y_PRED = [
  [0.1, 0.8, 2.5],
  [1.0, 0.3, -0.75],
];
export const SHAPE = [2, 3];
