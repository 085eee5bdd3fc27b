// The one Kconfig parser, for a kernel's .config and for a config fragment
// alike: "CONFIG_X=value" and "# CONFIG_X is not set" lines (anything else
// is a comment), and the check that a fragment survived into a .config.

export interface KconfigLine {
  /** The symbol, without its CONFIG_ prefix. */
  symbol: string;
  /** The value given; null for "is not set". */
  value: string | null;
  /** The line as written, trimmed. */
  line: string;
}

export function parseKconfig(text: string): KconfigLine[] {
  const out: KconfigLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const set = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set) {
      out.push({ symbol: set[1]!, value: set[2]!, line });
      continue;
    }
    const unset = /^#\s*CONFIG_([A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) out.push({ symbol: unset[1]!, value: null, line });
  }
  return out;
}

/** Symbol -> value (null: "is not set"); an absent symbol is not in the map. The last line of a symbol wins. */
export function kconfigValues(text: string): Map<string, string | null> {
  return new Map(parseKconfig(text).map((l) => [l.symbol, l.value]));
}

/**
 * Options of the fragment that did not survive into the final .config, as
 * lines "CONFIG_X=y (got: ...)". An "is not set" line is satisfied when the
 * option is not set to anything in the config (absent or "is not set").
 */
export function checkFragment(fragmentText: string, configText: string): string[] {
  const actual = kconfigValues(configText);
  const lost: string[] = [];
  for (const want of parseKconfig(fragmentText)) {
    const got = actual.get(want.symbol);
    const option = `CONFIG_${want.symbol}`;
    if (want.value === null) {
      if (got !== undefined && got !== null && got !== 'n') lost.push(`${want.line} (got: ${option}=${got})`);
    } else if (got !== want.value) {
      const shown = got === undefined ? 'absent' : got === null ? 'is not set' : `${option}=${got}`;
      lost.push(`${want.line} (got: ${shown})`);
    }
  }
  return lost;
}
