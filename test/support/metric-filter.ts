/**
 * Evaluates a CloudWatch Logs JSON filter pattern against one log line, for the subset the Monitoring
 * construct writes: `{ ... }` around `$.field = "value"` / `!=` comparisons (string values, `*` as a
 * wildcard), joined by `&&` and `||` with parentheses. It lets a test show that the line a fault makes
 * would be counted by the deployed metric filter (syntax:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
 * Anything outside that subset throws, so a pattern change cannot silently match nothing.
 */

type Token = '(' | ')' | '&&' | '||' | { path: string; op: '=' | '!='; value: string };

function tokenize(pattern: string): Token[] {
  const body = pattern.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) throw new TypeError(`not a JSON filter pattern: ${pattern}`);
  const text = body.slice(1, -1);
  const tokens: Token[] = [];
  const comparison = /^\$\.([A-Za-z0-9_.]+)\s*(=|!=)\s*"((?:[^"\\]|\\.)*)"/;
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const space = /^\s+/.exec(rest);
    if (space) {
      i += space[0].length;
      continue;
    }
    if (rest.startsWith('&&') || rest.startsWith('||')) {
      tokens.push(rest.slice(0, 2) as '&&' | '||');
      i += 2;
    } else if (rest[0] === '(' || rest[0] === ')') {
      tokens.push(rest[0]);
      i += 1;
    } else {
      const match = comparison.exec(rest);
      if (!match) throw new TypeError(`unsupported filter pattern syntax at: ${rest.slice(0, 40)}`);
      tokens.push({ path: match[1] as string, op: match[2] as '=' | '!=', value: match[3] as string });
      i += match[0].length;
    }
  }
  return tokens;
}

function valueAt(event: unknown, path: string): unknown {
  let current = event;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function compare(event: unknown, token: Exclude<Token, string>): boolean {
  const actual = valueAt(event, token.path);
  const regex = new RegExp(`^${token.value.split('*').map(escapeRegExp).join('.*')}$`);
  const equal = typeof actual === 'string' && regex.test(actual);
  return token.op === '=' ? equal : actual !== undefined && !equal;
}

/** True when the JSON log line `line` matches the filter pattern `pattern`. */
export function matchesJsonFilterPattern(pattern: string, line: string): boolean {
  const tokens = tokenize(pattern);
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return false;
  }
  let position = 0;
  const next = () => tokens[position++];
  // or := and ('||' and)* ; and := atom ('&&' atom)* ; atom := '(' or ')' | comparison
  const atom = (): boolean => {
    const token = next();
    if (token === '(') {
      const value = or();
      if (next() !== ')') throw new TypeError('unbalanced parentheses in filter pattern');
      return value;
    }
    if (token === undefined || typeof token === 'string') throw new TypeError('comparison expected in filter pattern');
    return compare(event, token);
  };
  const and = (): boolean => {
    let value = atom();
    while (tokens[position] === '&&') {
      position++;
      value = atom() && value;
    }
    return value;
  };
  const or = (): boolean => {
    let value = and();
    while (tokens[position] === '||') {
      position++;
      value = and() || value;
    }
    return value;
  };
  const result = or();
  if (position !== tokens.length) throw new TypeError('trailing tokens in filter pattern');
  return result;
}
