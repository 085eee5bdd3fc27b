// KernelCI's KCIDB I/O schema v5.3, as far as kcidb.json uses it: the object
// types, the version and the schema's patterns for origins and test paths.
export const KCIDB_VERSION = { major: 5, minor: 3 } as const;
/** The schema's origin pattern: the name of the submitting CI system. */
export const KCIDB_ORIGIN_RE = /^[a-z0-9_]+$/;
/** The schema's test path pattern: dot-separated nodes of [a-zA-Z0-9_-]. */
export const KCIDB_PATH_RE = /^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$/;

export function isKcidbOrigin(s: string): boolean {
  return KCIDB_ORIGIN_RE.test(s);
}

export type KcidbStatus = 'FAIL' | 'ERROR' | 'MISS' | 'PASS' | 'DONE' | 'SKIP';

interface KcidbResource { name: string; url: string }

export interface KcidbCheckout {
  id: string;
  origin: string;
  comment?: string;
  valid?: boolean;
  misc?: Record<string, unknown>;
}

export interface KcidbBuild {
  id: string;
  origin: string;
  checkout_id: string;
  comment?: string;
  architecture?: string;
  status?: KcidbStatus;
  output_files?: KcidbResource[];
  misc?: Record<string, unknown>;
}

export interface KcidbTest {
  id: string;
  origin: string;
  build_id: string;
  path: string;
  status: KcidbStatus;
  comment?: string;
  log_excerpt?: string;
  start_time?: string;
  duration?: number;
  environment?: { comment?: string; misc?: Record<string, unknown> };
  misc?: Record<string, unknown>;
}

export interface KcidbData {
  version: { major: number; minor: number };
  checkouts: KcidbCheckout[];
  builds: KcidbBuild[];
  tests: KcidbTest[];
}
