/** The targets of issue 11, each printed beside its measured value. */
export interface TargetCheck {
  /** The target as the issue states it. */
  readonly target: string;
  /** What this run measured, formatted. */
  readonly measured: string;
  /** Met, missed, or null when this run did not measure it. */
  readonly pass: boolean | null;
}

export function check(target: string, measured: string, pass: boolean): TargetCheck {
  return { target, measured, pass };
}

/** A target this run did not measure (another module, a later issue, or a smaller mode). */
export function notMeasured(target: string, why: string): TargetCheck {
  return { target, measured: why, pass: null };
}

export function verdict(check: TargetCheck): string {
  if (check.pass === null) return 'not measured';
  return check.pass ? 'pass' : '**FAIL**';
}
