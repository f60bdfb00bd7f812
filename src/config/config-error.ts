/** One setting to fix: the variable(s) and what is wrong with it, never echoing a secret. */
export interface ConfigProblem {
  readonly variable: string;
  readonly detail: string;
}

/**
 * Settings that stop the process; the message names every variable at fault (one per line when
 * there are several) and never echoes a secret.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];
  /** The variable(s) at fault, comma-separated. */
  readonly variable: string;

  constructor(variable: string, detail: string);
  constructor(problems: readonly ConfigProblem[]);
  constructor(variableOrProblems: string | readonly ConfigProblem[], detail = '') {
    const problems = typeof variableOrProblems === 'string' ? [{ variable: variableOrProblems, detail }] : variableOrProblems;
    super(
      problems.length === 1
        ? `Invalid configuration: ${line(problems[0] as ConfigProblem)}`
        : `Invalid configuration (${problems.length} settings to fix):\n${problems.map((p) => `  - ${line(p)}`).join('\n')}`,
    );
    this.problems = problems;
    this.variable = problems.map((p) => p.variable).join(', ');
  }
}

function line(problem: ConfigProblem): string {
  return `${problem.variable} ${problem.detail}`;
}

/** Collects the problems of independent checks, so that every bad setting is reported at once. */
export class ConfigProblems {
  private readonly list: ConfigProblem[] = [];

  add(variable: string, detail: string): void {
    this.list.push({ variable, detail });
  }

  /** Whether a problem names one of `variables` already. */
  has(...variables: string[]): boolean {
    return this.list.some((problem) => variables.some((variable) => problem.variable.split(', ').includes(variable)));
  }

  /** `step`'s value, or `fallback` after keeping the ConfigError it threw. */
  attempt<T>(step: () => T, fallback: T): T {
    try {
      return step();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.list.push(...error.problems);
      return fallback;
    }
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new ConfigError(this.list);
  }
}
